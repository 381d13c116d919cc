//! Fixed pools of packet buffers: allocated once, lent out as RAII handles, returned on drop.
//!
//! A [`Pool`] holds `count` buffers of `buf_size` bytes in a lock-free queue. [`Pool::alloc`] takes one
//! out as a [`PoolBuf`]; dropping the handle puts it back, from any thread. In steady state no heap
//! allocation happens: only the buffer's pointer moves through the queue. Every buffer starts on
//! a cache line ([`LINE`]), as a NIC's buffers do, so a frame's Ethernet, IP and TCP headers share
//! its first line (a receiving core fetches one line for them, not two).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::{RxFrame, RxMeta, TxFrame, TxOffload};

/// The alignment of a buffer's first byte: a cache line.
pub const LINE: usize = 64;

/// The largest buffer a pool hands out: a buffer's offsets and lengths are kept in 32 bits (see
/// [`PoolBuf`]).
pub const MAX_BUF_SIZE: usize = u32::MAX as usize;

/// Where the first `LINE`-aligned byte of `data` is.
fn aligned_start(data: &[u8]) -> usize {
    (data.as_ptr() as usize).wrapping_neg() % LINE
}

struct PoolInner {
    free: ArrayQueue<Box<[u8]>>,
    buf_size: usize,
}

/// A fixed set of equal-sized packet buffers shared by handles (cloning a `Pool` shares it).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .field("buf_size", &self.inner.buf_size)
            .finish()
    }
}

impl Pool {
    /// Allocates `count` buffers of `buf_size` bytes (at least one of each; at most
    /// [`MAX_BUF_SIZE`] bytes each).
    pub fn new(count: usize, buf_size: usize) -> Pool {
        let count = count.max(1);
        let buf_size = buf_size.clamp(1, MAX_BUF_SIZE);
        let free = ArrayQueue::new(count);
        for _ in 0..count {
            // Cannot fail: the queue has room for `count` buffers.
            let _ = free.push(vec![0u8; buf_size + LINE - 1].into_boxed_slice());
        }
        Pool {
            inner: Arc::new(PoolInner { free, buf_size }),
        }
    }

    /// Takes a buffer of length 0, or `None` if all are lent out.
    pub fn alloc(&self) -> Option<PoolBuf> {
        let data = self.inner.free.pop()?;
        Some(PoolBuf {
            // Below LINE, and buf_size is at most MAX_BUF_SIZE (see `new`).
            start: aligned_start(&data) as u32,
            cap: self.inner.buf_size as u32,
            data: Some(data),
            len: 0,
            meta: RxMeta::default(),
            offload: TxOffload::default(),
            pool: Arc::clone(&self.inner),
        })
    }

    /// Takes a buffer holding a copy of `bytes`, or `None` if the pool is empty or the bytes do not fit.
    pub fn alloc_copy(&self, bytes: &[u8]) -> Option<PoolBuf> {
        if bytes.len() > self.inner.buf_size {
            return None;
        }
        let mut buf = self.alloc()?;
        buf.set_len(bytes.len());
        buf.copy_from_slice(bytes);
        Some(buf)
    }

    /// How many buffers the pool owns in all.
    pub fn capacity(&self) -> usize {
        self.inner.free.capacity()
    }

    /// How many buffers are in the pool right now (not lent out).
    pub fn available(&self) -> usize {
        self.inner.free.len()
    }

    /// The size of every buffer in bytes.
    pub fn buf_size(&self) -> usize {
        self.inner.buf_size
    }
}

/// A buffer lent by a [`Pool`]; it goes back to the pool when dropped. Serves as both received and
/// transmitted frame for the backends that copy (TAP) or move buffers (the in-memory link).
///
/// Its offsets are 32-bit: at 64 bytes, the handle inside a backend's frame enum was moved in
/// differently sized pieces on its way to [`crate::Queue::recycle`], and the wide loads there
/// could not take those stores from the store buffer (55 % of the in-memory queue's `recycle`
/// samples in a 64 B echo profile).
pub struct PoolBuf {
    // Always `Some` until `drop` takes it.
    data: Option<Box<[u8]>>,
    /// The buffer is `data[start..start + cap]` (`start` puts it on a cache line).
    start: u32,
    cap: u32,
    len: u32,
    meta: RxMeta,
    offload: TxOffload,
    pool: Arc<PoolInner>,
}

impl PoolBuf {
    fn bytes(&self) -> &[u8] {
        let (start, cap) = (self.start as usize, self.cap as usize);
        self.data
            .as_deref()
            .and_then(|d| d.get(start..start + cap))
            .unwrap_or(&[])
    }

    /// Sets what a receiver learns from [`RxFrame::meta`].
    pub fn set_meta(&mut self, meta: RxMeta) {
        self.meta = meta;
    }

    /// The checksum work the sender asked for with [`TxFrame::set_offload`].
    pub fn offload(&self) -> TxOffload {
        self.offload
    }

    /// Makes the buffer an empty transmit buffer again (length 0, no metadata, no offload), for
    /// a backend that reuses a received buffer.
    pub fn reset(&mut self) {
        self.len = 0;
        self.meta = RxMeta::default();
        self.offload = TxOffload::default();
    }

    /// Whether this buffer came from `pool`'s set of buffers, or from one of the same buffer
    /// size (interchangeable with its own).
    pub fn fits(&self, pool: &Pool) -> bool {
        self.cap as usize == pool.inner.buf_size
    }

    /// The whole buffer, beyond the frame length (for backends that read into it).
    pub fn whole_mut(&mut self) -> &mut [u8] {
        let (start, cap) = (self.start as usize, self.cap as usize);
        self.data
            .as_deref_mut()
            .and_then(|d| d.get_mut(start..start + cap))
            .unwrap_or(&mut [])
    }
}

impl std::fmt::Debug for PoolBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuf").field("len", &self.len).finish()
    }
}

impl Deref for PoolBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes()[..self.len as usize]
    }
}

impl DerefMut for PoolBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len as usize;
        &mut self.whole_mut()[..len]
    }
}

impl RxFrame for PoolBuf {
    fn meta(&self) -> RxMeta {
        self.meta
    }
}

impl TxFrame for PoolBuf {
    #[inline]
    fn capacity(&self) -> usize {
        self.cap as usize
    }

    #[inline]
    fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "frame length {len} exceeds buffer capacity {}",
            self.capacity()
        );
        // At most the capacity, a u32.
        self.len = len as u32;
    }

    #[inline]
    fn set_offload(&mut self, offload: TxOffload) {
        self.offload = offload;
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            // Cannot fail: the queue was sized for every buffer of the pool.
            let _ = self.pool.free.push(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_on_drop() {
        let pool = Pool::new(3, 64);
        let a = pool.alloc().unwrap();
        let b = pool.alloc_copy(b"hello").unwrap();
        let c = pool.alloc().unwrap();
        assert!(pool.alloc().is_none());
        assert_eq!(&*b, b"hello");
        assert_eq!(a.len(), 0);
        drop((a, b));
        assert_eq!(pool.available(), 2);
        let moved = std::thread::spawn(move || drop(c));
        moved.join().unwrap();
        assert_eq!(pool.available(), 3);
        assert!(pool.alloc_copy(&[0; 65]).is_none());
    }

    #[test]
    fn handle_fits_a_line_with_a_wrapping_enum_tag() {
        // 64 bytes with usize offsets: an enum wrapping it put its tag in the handle's middle
        // and was moved in differently sized pieces.
        assert!(std::mem::size_of::<PoolBuf>() <= 56);
    }

    #[test]
    fn buffers_start_on_a_cache_line() {
        let pool = Pool::new(16, 1518);
        let bufs: Vec<PoolBuf> = (0..16).map(|_| pool.alloc().unwrap()).collect();
        for mut b in bufs {
            assert_eq!(b.capacity(), 1518);
            assert_eq!(b.whole_mut().len(), 1518);
            assert_eq!(b.whole_mut().as_ptr() as usize % LINE, 0);
        }
    }
}
