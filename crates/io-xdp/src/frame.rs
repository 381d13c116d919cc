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
///
/// The UMEM is cut into chunks of `frame_size` bytes. When a frame fits a chunk, every chunk is
/// on `free` and serves RX (through the fill ring) and TX alike. When the MTU needs more
/// (multi-buffer, `XDP_USE_SG`), the first half stays single chunks for the fill ring and the
/// second half is cut into *slots* of `slot_chunks` contiguous chunks: transmit frames are
/// slots (sent as one descriptor per chunk), and a frame received in several chunks is copied
/// into a slot so the stack sees it contiguous.
pub(crate) struct Umem {
    pub(crate) xsk: *mut ffi::Xsk,
    area: *mut u8,
    chunk: u64,
    /// Bytes of a slot (a chunk when there are no slots).
    slot_len: u64,
    /// Offset of the first slot; the UMEM's length when there are no slots.
    slots_at: u64,
    /// Single chunks neither in a kernel ring nor lent out.
    pub(crate) free: ArrayQueue<u64>,
    /// Slots neither in the TX ring nor lent out (empty without multi-buffer).
    slots: ArrayQueue<u64>,
    // Dropped after the socket is closed (`drop` runs before the fields).
    _program: Arc<Program>,
}

// SAFETY: the rings are only driven by the queue (one thread at a time, `&mut XdpQueue`); frames
// touch only their own UMEM frame, and the free lists are lock-free MPMC queues.
unsafe impl Send for Umem {}
// SAFETY: as above.
unsafe impl Sync for Umem {}

impl Umem {
    /// `slot_chunks` is how many chunks a frame of the port's MTU needs (1: no slots).
    pub(crate) fn new(
        xsk: *mut ffi::Xsk,
        frame_count: u32,
        frame_size: u32,
        slot_chunks: u32,
        program: Arc<Program>,
    ) -> Umem {
        // SAFETY: `xsk` is a freshly opened socket.
        let area = unsafe { ffi::mtcp_xsk_area(xsk) };
        let chunk = u64::from(frame_size);
        let singles = if slot_chunks > 1 {
            frame_count / 2
        } else {
            frame_count
        };
        let slot_len = chunk * u64::from(slot_chunks);
        let slots_at = u64::from(singles) * chunk;
        let n_slots = (frame_count - singles) / slot_chunks;
        let free = ArrayQueue::new(singles as usize);
        for i in 0..u64::from(singles) {
            // Cannot fail: the queue holds every chunk.
            let _ = free.push(i * chunk);
        }
        let slots = ArrayQueue::new(n_slots.max(1) as usize);
        for i in 0..u64::from(n_slots) {
            let _ = slots.push(slots_at + i * slot_len);
        }
        Umem {
            xsk,
            area,
            chunk,
            slot_len,
            slots_at,
            free,
            slots,
            _program: program,
        }
    }

    /// Bytes of a UMEM chunk (one descriptor's most).
    pub(crate) fn chunk_size(&self) -> usize {
        self.chunk as usize
    }

    /// Whether transmit frames are slots of several chunks (multi-buffer).
    pub(crate) fn has_slots(&self) -> bool {
        self.slot_len > self.chunk
    }

    /// Bytes a transmit frame (and a slot) holds.
    pub(crate) fn tx_capacity(&self) -> usize {
        self.slot_len as usize
    }

    /// The index of the slot holding `addr`, None for a single chunk.
    pub(crate) fn slot_index(&self, addr: u64) -> Option<usize> {
        (self.has_slots() && addr >= self.slots_at)
            .then(|| ((addr - self.slots_at) / self.slot_len) as usize)
    }

    /// How many chunks a transmit frame (a slot) spans: 1 without multi-buffer.
    pub(crate) fn slot_chunks(&self) -> usize {
        (self.slot_len / self.chunk) as usize
    }

    /// How many slots there are (0 without multi-buffer).
    pub(crate) fn slot_count(&self) -> usize {
        if self.has_slots() {
            self.slots.capacity()
        } else {
            0
        }
    }

    /// A free slot to copy a frame received in several chunks into.
    pub(crate) fn alloc_slot(&self) -> Option<u64> {
        self.slots.pop()
    }

    fn ptr(&self, addr: u64) -> *mut u8 {
        // SAFETY: every address handed out lies inside the UMEM area (frame_count * frame_size).
        unsafe { self.area.add(addr as usize) }
    }

    /// Copies `len` bytes of the received chunk at `from` to offset `at` of the slot `slot`.
    /// Both must be held by the caller (taken from the RX ring, popped from the slot list), and
    /// `at + len` must not pass the slot's end.
    pub(crate) fn copy_to_slot(&self, from: u64, slot: u64, at: usize, len: usize) {
        assert!(at + len <= self.slot_len as usize && len <= self.chunk as usize);
        // SAFETY: both ranges lie inside the UMEM area (checked above for the slot, the kernel
        // writes at most a chunk), they do not overlap (a chunk of the RX ring is never in a
        // slot that is not on a free list), and the caller holds both exclusively.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(from), self.ptr(slot + at as u64), len) };
    }

    /// Puts the chunk or slot holding `addr` back on its free list, from any thread.
    pub(crate) fn give_back(&self, addr: u64) {
        // Cannot fail: each list holds all of its kind and each address is in one place at a time.
        if self.has_slots() && addr >= self.slots_at {
            let _ = self
                .slots
                .push(self.slots_at + (addr - self.slots_at) / self.slot_len * self.slot_len);
        } else {
            let _ = self.free.push(addr & !(self.chunk - 1));
        }
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
        self.umem.tx_capacity()
    }

    fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "frame length {len} exceeds the transmit frame's {} bytes",
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
