//! The ring protocol: one rx/tx ring pair in a shared region, driven through a [`RingSync`].
//!
//! This module never makes a system call. The kernel side is behind [`RingSync`]: the real one
//! issues `NIOCTXSYNC`/`NIOCRXSYNC`/`poll` on the port's file descriptor, the simulated one
//! ([`crate::sim`]) plays the kernel's part on a region laid out the same way.
//!
//! # Ownership of slots
//! netmap hands the user the slots `[head, tail)` of each ring. On receive this backend walks a
//! private `cur` from `head` towards `tail`, handing each slot up as a [`NetmapRxFrame`] that
//! borrows the slot's buffer in place (zero copy). Frames may be dropped in any order; a drop only
//! sets the slot's flag in a per-ring release bitmap (an atomic store, so frames may move to and die
//! on other threads). The queue advances `head` over the *leading run* of released slots only, so
//! the kernel never gets back a slot whose frame is still alive, even when a later frame was
//! dropped first.
//!
//! # Transmit buffers and buffer swapping
//! [`NetmapTxFrame`]s are not tied to a slot: they own a buffer from the queue's pool, so frames can
//! be allocated, filled and sent in any order, or dropped unsent. Where the kernel granted the
//! *extra buffers* asked for at registration (`nr_extra_bufs`), the pool holds netmap buffers and
//! [`Queue::tx_burst`] sends without copying: it swaps the frame's buffer into the free slot at
//! `head`, sets `NS_BUF_CHANGED` and keeps the slot's previous (already transmitted) buffer in the
//! frame, which returns it to the pool on drop. The number of buffers the queue owns never changes,
//! and on close they are linked back into `ni_bufs_head` for the kernel to free. If the kernel
//! grants fewer than [`MAX_BURST`] extra buffers, the pool is plain memory allocated once and
//! `tx_burst` copies each frame into the slot's own buffer instead.

use crate::error::NetmapError;
use crate::layout::{self, PortLayout, RingRef, RingSel};
use crate::sys::{self, NetmapSlot};
use crossbeam_queue::ArrayQueue;
use mtcp_io::{MAX_BURST, Queue, RxFrame, RxSink, TxBatch, TxFrame};
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::RawFd;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Memory shared with the kernel (or its stand-in), kept alive while any queue or frame uses it.
pub trait Region: Send + Sync + 'static {
    /// The first byte of the region (at least 8-byte aligned).
    fn base(&self) -> *mut u8;
    /// The region's length in bytes.
    fn len(&self) -> usize;
    /// Whether the region is empty (never, for a registered port).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The kernel's side of the ring protocol, as seen from one queue.
pub trait RingSync: Send {
    /// Hands the slots `[old head, head)` of the tx ring to the kernel and updates its `tail`.
    fn txsync(&mut self) -> io::Result<()>;
    /// Returns the slots `[old head, head)` of the rx ring to the kernel and updates its `tail`.
    fn rxsync(&mut self) -> io::Result<()>;
    /// Blocks for at most `timeout` until the rx ring's `tail` moves past its `cur`.
    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()>;
    /// The descriptor that polls readable when frames arrive, if there is one.
    fn rx_fd(&self) -> Option<RawFd> {
        None
    }
}

/// Knobs of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// How many transmit buffers the queue's pool holds (extra buffers asked of the kernel).
    pub tx_pool: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { tx_pool: 512 }
    }
}

/// Counters of one queue (plain integers, read by the owning core).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Received frames handed up.
    pub rx_frames: u64,
    /// Received frames dropped because they spanned several slots (`NS_MOREFRAG`, larger than a buffer).
    pub rx_dropped_fragmented: u64,
    /// Received slots dropped because their buffer index or length was out of range.
    pub rx_dropped_bad: u64,
    /// Frames sent by swapping the frame's buffer into the slot.
    pub tx_swapped: u64,
    /// Frames sent by copying into the slot's buffer.
    pub tx_copied: u64,
}

struct RxShared {
    released: Box<[AtomicBool]>,
    _region: Arc<dyn Region>,
}

enum PoolMemory {
    /// Netmap extra buffers, given back through `ni_bufs_head` when the pool dies.
    Netmap {
        layout: PortLayout,
        region: Arc<dyn Region>,
    },
    /// Plain memory (copy mode), freed when the pool dies.
    Heap { mem: *mut [u8] },
}

struct TxPool {
    free: ArrayQueue<u32>,
    /// Address of buffer index 0.
    base: *mut u8,
    buf_size: usize,
    memory: PoolMemory,
}

// SAFETY: the raw pointers point into memory the pool owns (heap) or keeps mapped (region Arc);
// buffers are handed out exclusively through the lock-free `free` queue.
unsafe impl Send for TxPool {}
// SAFETY: as above; shared access only goes through `ArrayQueue`, which is thread-safe.
unsafe impl Sync for TxPool {}

impl TxPool {
    fn buf(&self, idx: u32) -> *mut u8 {
        // SAFETY: every index in the pool was checked to lie inside the pool's memory.
        unsafe { self.base.add(idx as usize * self.buf_size) }
    }
}

impl Drop for TxPool {
    fn drop(&mut self) {
        match &self.memory {
            PoolMemory::Netmap { layout, region } => {
                let free = &self.free;
                layout.give_back_extra_bufs(region.base(), std::iter::from_fn(|| free.pop()));
            }
            PoolMemory::Heap { mem } => {
                // SAFETY: `mem` came from `Box::into_raw` in `NetmapQueue::new` and is freed once.
                drop(unsafe { Box::from_raw(*mem) });
            }
        }
    }
}

/// A received frame: a netmap buffer lent in place. Dropping it releases its slot.
pub struct NetmapRxFrame {
    data: *const u8,
    len: usize,
    slot: u32,
    shared: Arc<RxShared>,
}

// SAFETY: the buffer stays mapped (region Arc) and untouched by the kernel until the slot is
// released, which only this frame's drop does; the release is an atomic store.
unsafe impl Send for NetmapRxFrame {}

impl Deref for NetmapRxFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `data..data+len` lies in a buffer of the mapped region that nobody writes while
        // the slot is held (see `Send`).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl RxFrame for NetmapRxFrame {}

impl Drop for NetmapRxFrame {
    fn drop(&mut self) {
        self.shared.released[self.slot as usize].store(true, Ordering::Release);
    }
}

/// A frame being built: a buffer owned from the queue's pool, returned there on drop.
pub struct NetmapTxFrame {
    data: *mut u8,
    idx: u32,
    len: usize,
    pool: Arc<TxPool>,
}

// SAFETY: the buffer is owned exclusively by this frame until it goes back to the pool.
unsafe impl Send for NetmapTxFrame {}

impl Deref for NetmapTxFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the frame owns `buf_size >= len` bytes at `data`.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl DerefMut for NetmapTxFrame {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }
}

impl TxFrame for NetmapTxFrame {
    fn capacity(&self) -> usize {
        self.pool.buf_size
    }
    fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.pool.buf_size,
            "frame length {len} beyond capacity {}",
            self.pool.buf_size
        );
        self.len = len;
    }
}

impl Drop for NetmapTxFrame {
    fn drop(&mut self) {
        // Cannot fail: the pool has room for every buffer it ever handed out.
        let _ = self.pool.free.push(self.idx);
    }
}

/// One rx/tx ring pair of a netmap port, driven through `S` (the kernel, or [`crate::sim`]).
pub struct NetmapQueue<S: RingSync> {
    sync: S,
    base: *mut u8,
    layout: PortLayout,
    rx_head: u32,
    rx_cur: u32,
    tx_head: u32,
    rx_shared: Arc<RxShared>,
    pool: Arc<TxPool>,
    swap: bool,
    stats: QueueStats,
}

// SAFETY: the queue exclusively drives its ring pair; the region stays mapped through the Arcs it
// holds; everything it shares with frames is atomic.
unsafe impl<S: RingSync> Send for NetmapQueue<S> {}

#[inline]
fn next(i: u32, n: u32) -> u32 {
    if i + 1 == n { 0 } else { i + 1 }
}

fn ring_field(r: &RingRef, f: fn(*mut sys::NetmapRing) -> *mut u32) -> u32 {
    // SAFETY: `r.ring` was located inside the mapped region; the field is 4-aligned.
    unsafe { ptr::read_volatile(f(r.ring)) }
}

fn set_ring_field(r: &RingRef, f: fn(*mut sys::NetmapRing) -> *mut u32, v: u32) {
    // SAFETY: as in `ring_field`; head and cur belong to the user side.
    unsafe { ptr::write_volatile(f(r.ring), v) }
}

fn head_of(r: *mut sys::NetmapRing) -> *mut u32 {
    // SAFETY: only computes a field address of a ring located in the region.
    unsafe { ptr::addr_of_mut!((*r).head) }
}
fn cur_of(r: *mut sys::NetmapRing) -> *mut u32 {
    // SAFETY: as in `head_of`.
    unsafe { ptr::addr_of_mut!((*r).cur) }
}
fn tail_of(r: *mut sys::NetmapRing) -> *mut u32 {
    // SAFETY: as in `head_of`.
    unsafe { ptr::addr_of_mut!((*r).tail) }
}

fn slot(r: &RingRef, i: u32) -> *mut NetmapSlot {
    debug_assert!(i < r.num_slots);
    // SAFETY: `i < num_slots` and the slot array was checked to lie in the region.
    unsafe { r.slots.add(i as usize) }
}

impl<S: RingSync> NetmapQueue<S> {
    /// Builds the queue for ring pair `sel` of the registration whose `netmap_if` is at
    /// `nifp_offset` in `region`; `extra_granted` is the kernel's `nr_extra_bufs` answer.
    pub(crate) fn new(
        region: Arc<dyn Region>,
        nifp_offset: usize,
        sel: RingSel,
        extra_granted: u32,
        sync: S,
        config: QueueConfig,
    ) -> Result<Self, NetmapError> {
        let base = region.base();
        // SAFETY: the region is mapped, 8-aligned and stays alive in the Arcs below.
        let layout = unsafe { layout::locate(base, region.len(), nifp_offset, sel)? };
        let extra = layout.take_extra_bufs(base, extra_granted)?;
        let buf_size = layout.tx.buf_size;
        let (swap, pool) = if extra.len() >= MAX_BURST {
            let free = ArrayQueue::new(extra.len());
            for idx in extra {
                let _ = free.push(idx);
            }
            // SAFETY: `buf_base_offset < len` was checked by `locate`.
            let pool_base = unsafe { base.add(layout.tx.buf_base_offset) };
            let memory = PoolMemory::Netmap {
                layout,
                region: region.clone(),
            };
            (
                true,
                TxPool {
                    free,
                    base: pool_base,
                    buf_size,
                    memory,
                },
            )
        } else {
            // Too few extra buffers for zero-copy transmit: hand back what we got, copy instead.
            layout.give_back_extra_bufs(base, extra.into_iter());
            let count = config.tx_pool.max(MAX_BURST as u32);
            let mem = Box::into_raw(vec![0u8; count as usize * buf_size].into_boxed_slice());
            let free = ArrayQueue::new(count as usize);
            for idx in 0..count {
                let _ = free.push(idx);
            }
            (
                false,
                TxPool {
                    free,
                    base: mem.cast::<u8>(),
                    buf_size,
                    memory: PoolMemory::Heap { mem },
                },
            )
        };
        let released = (0..layout.rx.num_slots)
            .map(|_| AtomicBool::new(false))
            .collect();
        let rx_head = ring_field(&layout.rx, head_of);
        let tx_head = ring_field(&layout.tx, head_of);
        if rx_head >= layout.rx.num_slots || tx_head >= layout.tx.num_slots {
            return Err(NetmapError::BadLayout("ring head beyond the ring"));
        }
        Ok(NetmapQueue {
            sync,
            base,
            layout,
            rx_head,
            rx_cur: rx_head,
            tx_head,
            rx_shared: Arc::new(RxShared {
                released,
                _region: region,
            }),
            pool: Arc::new(pool),
            swap,
            stats: QueueStats::default(),
        })
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Whether transmit swaps buffers (zero copy) rather than copying into slots.
    pub fn zero_copy_tx(&self) -> bool {
        self.swap
    }

    /// Slots per ring: (rx, tx).
    pub fn ring_sizes(&self) -> (u32, u32) {
        (self.layout.rx.num_slots, self.layout.tx.num_slots)
    }

    /// The largest frame a buffer holds.
    pub fn buf_size(&self) -> usize {
        self.layout.tx.buf_size
    }

    /// The driver of the kernel side (for the simulator's inspection).
    pub fn sync(&self) -> &S {
        &self.sync
    }

    /// Moves the rx `head` over the leading run of released slots and publishes it.
    fn reclaim_rx(&mut self) {
        let n = self.layout.rx.num_slots;
        let start = self.rx_head;
        while self.rx_head != self.rx_cur
            && self.rx_shared.released[self.rx_head as usize].load(Ordering::Acquire)
        {
            self.rx_shared.released[self.rx_head as usize].store(false, Ordering::Relaxed);
            self.rx_head = next(self.rx_head, n);
        }
        if self.rx_head != start {
            set_ring_field(&self.layout.rx, head_of, self.rx_head);
        }
    }

    /// Finds the last slot of the frame starting at `from`, if all its slots are before `tail`.
    fn frame_end(&self, from: u32, tail: u32) -> Option<u32> {
        let n = self.layout.rx.num_slots;
        let mut i = from;
        loop {
            // SAFETY: `i` is a slot index below `num_slots` in the user-owned part of the ring.
            let flags =
                unsafe { ptr::read_volatile(ptr::addr_of!((*slot(&self.layout.rx, i)).flags)) };
            if flags & sys::NS_MOREFRAG == 0 {
                return Some(i);
            }
            i = next(i, n);
            if i == tail {
                return None;
            }
        }
    }
}

impl<S: RingSync> Queue for NetmapQueue<S> {
    type Rx = NetmapRxFrame;
    type Tx = NetmapTxFrame;

    fn rx_into<K: RxSink<NetmapRxFrame>>(&mut self, out: &mut K) -> io::Result<usize> {
        self.reclaim_rx();
        let rx = self.layout.rx;
        let n = rx.num_slots;
        let mut tail = ring_field(&rx, tail_of);
        if tail == self.rx_cur {
            self.sync.rxsync()?;
            tail = ring_field(&rx, tail_of);
        }
        if tail >= n {
            return Err(NetmapError::BadLayout("rx tail beyond the ring").into());
        }
        let mut added = 0;
        while self.rx_cur != tail && out.room() > 0 {
            let i = self.rx_cur;
            let Some(last) = self.frame_end(i, tail) else {
                break;
            };
            self.rx_cur = next(last, n);
            if last != i {
                // A frame larger than one buffer: this backend hands up contiguous frames only.
                self.stats.rx_dropped_fragmented += 1;
                let mut j = i;
                loop {
                    self.rx_shared.released[j as usize].store(true, Ordering::Relaxed);
                    if j == last {
                        break;
                    }
                    j = next(j, n);
                }
                continue;
            }
            // SAFETY: slot `i` is user-owned (between head and tail).
            let s = unsafe { ptr::read_volatile(slot(&rx, i)) };
            let len = usize::from(s.len);
            match self.layout.buf(self.base, s.buf_idx) {
                Some(data) if len <= rx.buf_size && s.buf_idx >= sys::NETMAP_RESERVED_BUFS => {
                    let frame = NetmapRxFrame {
                        data,
                        len,
                        slot: i,
                        shared: self.rx_shared.clone(),
                    };
                    out.put(frame);
                    added += 1;
                }
                _ => {
                    self.stats.rx_dropped_bad += 1;
                    self.rx_shared.released[i as usize].store(true, Ordering::Relaxed);
                }
            }
        }
        self.stats.rx_frames += added as u64;
        set_ring_field(&rx, cur_of, self.rx_cur);
        // Slots dropped above (fragments, bad) may be at the front: give them back at once.
        self.reclaim_rx();
        Ok(added)
    }

    fn tx_alloc(&mut self) -> Option<NetmapTxFrame> {
        let idx = self.pool.free.pop()?;
        Some(NetmapTxFrame {
            data: self.pool.buf(idx),
            idx,
            len: 0,
            pool: self.pool.clone(),
        })
    }

    fn tx_from<B: TxBatch<NetmapTxFrame>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        if pkts.is_empty() {
            return Ok(0);
        }
        let tx = self.layout.tx;
        let n = tx.num_slots;
        let space = |head: u32| -> io::Result<usize> {
            let tail = ring_field(&tx, tail_of);
            if tail >= n {
                return Err(io::Error::from(NetmapError::BadLayout(
                    "tx tail beyond the ring",
                )));
            }
            Ok(((tail + n - head) % n) as usize)
        };
        let mut free = space(self.tx_head)?;
        if free < pkts.len() {
            // Let the kernel reclaim completed slots first.
            self.sync.txsync()?;
            free = space(self.tx_head)?;
        }
        let count = free.min(pkts.len());
        let first_slot = self.tx_head;
        for i in 0..count {
            let Some(frame) = pkts.get_mut(i) else {
                break;
            };
            let s = slot(&tx, self.tx_head);
            // Swapping needs a netmap buffer of this very queue; a frame from another queue's pool
            // (whose index may mean nothing in this region) is copied instead.
            let swap = self.swap && Arc::ptr_eq(&frame.pool, &self.pool);
            // SAFETY: slot `tx_head` is free and user-owned (between head and tail).
            unsafe {
                if swap {
                    let old = ptr::read_volatile(ptr::addr_of!((*s).buf_idx));
                    // The slot's old buffer has been transmitted; it becomes the frame's and goes
                    // back to the pool when the frame is dropped below.
                    ptr::write_volatile(ptr::addr_of_mut!((*s).buf_idx), frame.idx);
                    ptr::write_volatile(ptr::addr_of_mut!((*s).flags), sys::NS_BUF_CHANGED);
                    frame.idx = old;
                    self.stats.tx_swapped += 1;
                } else {
                    let idx = ptr::read_volatile(ptr::addr_of!((*s).buf_idx));
                    let dst = self.layout.buf(self.base, idx);
                    let (Some(dst), true) = (dst, frame.len <= tx.buf_size) else {
                        // Nothing was published yet: forget the slots filled so far.
                        self.tx_head = first_slot;
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "frame longer than this queue's buffers, or a slot outside the region",
                        ));
                    };
                    ptr::copy_nonoverlapping(frame.data, dst, frame.len);
                    ptr::write_volatile(ptr::addr_of_mut!((*s).flags), 0);
                    self.stats.tx_copied += 1;
                }
                ptr::write_volatile(ptr::addr_of_mut!((*s).len), frame.len as u16);
            }
            self.tx_head = next(self.tx_head, n);
        }
        pkts.consume(count);
        if count > 0 {
            set_ring_field(&tx, cur_of, self.tx_head);
            set_ring_field(&tx, head_of, self.tx_head);
            self.sync.txsync()?;
        }
        Ok(count)
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        self.reclaim_rx();
        if ring_field(&self.layout.rx, tail_of) != self.rx_cur {
            return Ok(());
        }
        self.sync.wait_rx(timeout)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        self.sync.rx_fd()
    }
}
