//! One socket's UMEM and the frames lent from it: received frames are views into the UMEM (zero
//! copy), transmit frames are UMEM frames written in place and handed to the TX ring as they are.
//! Dropping a frame puts its UMEM address back on the socket's free list, from any thread.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use mtcp_io::{RxFrame, TxFrame};

use crate::ffi;

/// The attached XDP program; detached (its bpf_link closed) when the last socket is gone.
pub(crate) struct Program {
    pub(crate) raw: *mut ffi::XdpProg,
}

// SAFETY: the handle is only used to open sockets (under `&mut XdpDevice`) and to detach once, in
// `drop`, which runs on one thread.
unsafe impl Send for Program {}
// SAFETY: as above; no method mutates it through `&self`.
unsafe impl Sync for Program {}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `mtcp_xdp_prog_attach` and is detached exactly once.
        unsafe { ffi::mtcp_xdp_prog_detach(self.raw) };
    }
}

/// An AF_XDP socket with its UMEM: closed, and the UMEM unmapped, when the queue and every frame
/// lent from it are gone.
pub(crate) struct Umem {
    pub(crate) xsk: *mut ffi::Xsk,
    area: *mut u8,
    frame_size: u64,
    /// UMEM frame addresses neither in a kernel ring nor lent out.
    pub(crate) free: ArrayQueue<u64>,
    // Dropped after the socket is closed (`drop` runs before the fields).
    _program: Arc<Program>,
}

// SAFETY: the rings are only driven by the queue (one thread at a time, `&mut XdpQueue`); frames
// touch only their own UMEM frame, and the free list is a lock-free MPMC queue.
unsafe impl Send for Umem {}
// SAFETY: as above.
unsafe impl Sync for Umem {}

impl Umem {
    pub(crate) fn new(
        xsk: *mut ffi::Xsk,
        frame_count: u32,
        frame_size: u32,
        program: Arc<Program>,
    ) -> Umem {
        // SAFETY: `xsk` is a freshly opened socket.
        let area = unsafe { ffi::mtcp_xsk_area(xsk) };
        let free = ArrayQueue::new(frame_count as usize);
        for i in 0..u64::from(frame_count) {
            // Cannot fail: the queue holds every frame.
            let _ = free.push(i * u64::from(frame_size));
        }
        Umem {
            xsk,
            area,
            frame_size: u64::from(frame_size),
            free,
            _program: program,
        }
    }

    /// The start of the UMEM frame holding `addr`.
    pub(crate) fn frame_of(&self, addr: u64) -> u64 {
        addr & !(self.frame_size - 1)
    }

    pub(crate) fn frame_size(&self) -> usize {
        self.frame_size as usize
    }

    fn ptr(&self, addr: u64) -> *mut u8 {
        // SAFETY: every address handed out lies inside the UMEM area (frame_count * frame_size).
        unsafe { self.area.add(addr as usize) }
    }

    fn give_back(&self, addr: u64) {
        // Cannot fail: the queue holds every frame and each address is in one place at a time.
        let _ = self.free.push(self.frame_of(addr));
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: `xsk` came from `mtcp_xsk_open`; no frame refers to the area any more (they
        // hold an `Arc<Umem>`).
        unsafe { ffi::mtcp_xsk_close(self.xsk) };
    }
}

/// A received frame: a view into the UMEM (zero copy), back on the free list when dropped.
pub struct XdpRxFrame {
    umem: Arc<Umem>,
    addr: u64,
    len: usize,
}

impl XdpRxFrame {
    pub(crate) fn new(umem: Arc<Umem>, addr: u64, len: usize) -> XdpRxFrame {
        XdpRxFrame { umem, addr, len }
    }
}

impl Deref for XdpRxFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the kernel wrote `len` bytes at `addr` and does not touch the frame until it
        // is back on the fill ring, which happens only after this frame is dropped.
        unsafe { std::slice::from_raw_parts(self.umem.ptr(self.addr), self.len) }
    }
}

impl RxFrame for XdpRxFrame {}

impl Drop for XdpRxFrame {
    fn drop(&mut self) {
        self.umem.give_back(self.addr);
    }
}

/// Marks a transmit frame whose UMEM frame now belongs to the TX ring.
const SENT: u64 = u64::MAX;

/// A frame being built in a UMEM frame; handed to the TX ring in place by `tx_burst`.
pub struct XdpTxFrame {
    umem: Arc<Umem>,
    pub(crate) addr: u64,
    len: usize,
}

impl XdpTxFrame {
    pub(crate) fn new(umem: Arc<Umem>, addr: u64) -> XdpTxFrame {
        XdpTxFrame { umem, addr, len: 0 }
    }

    /// The frame now belongs to the TX ring: dropping it no longer frees the UMEM frame.
    pub(crate) fn mark_sent(&mut self) {
        self.addr = SENT;
    }

    /// Whether the frame was allocated from `umem` (a frame of another queue cannot be sent here).
    pub(crate) fn is_of(&self, umem: &Arc<Umem>) -> bool {
        Arc::ptr_eq(&self.umem, umem)
    }
}

impl Deref for XdpTxFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the frame owns its UMEM frame exclusively until sent or dropped.
        unsafe { std::slice::from_raw_parts(self.umem.ptr(self.addr), self.len) }
    }
}

impl DerefMut for XdpTxFrame {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.umem.ptr(self.addr), self.len) }
    }
}

impl TxFrame for XdpTxFrame {
    fn capacity(&self) -> usize {
        self.umem.frame_size()
    }

    fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "frame length {len} exceeds UMEM frame size {}",
            self.capacity()
        );
        self.len = len;
    }
}

impl Drop for XdpTxFrame {
    fn drop(&mut self) {
        if self.addr != SENT {
            self.umem.give_back(self.addr);
        }
    }
}
