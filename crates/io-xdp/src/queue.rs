//! One AF_XDP socket as a [`Queue`]: the fill ring kept stocked from the free list, completions
//! reclaimed, RX and TX rings driven in bursts, `need_wakeup` honoured.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use mtcp_io::{MAX_BURST, Queue, RxSink, TxBatch};

use crate::ffi;
use crate::frame::{Umem, XdpRxFrame, XdpTxFrame};
use crate::stock::{FillStock, Step};
use crate::sys;

/// Counters of one queue (plain integers, read with [`XdpQueue::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames handed to the TX ring.
    pub tx_frames: u64,
    /// Transmitted frames the kernel reported complete.
    pub tx_completed: u64,
    /// `sendto` kicks for the TX ring.
    pub tx_kicks: u64,
    /// `recvfrom` kicks for the fill ring.
    pub rx_kicks: u64,
    /// Frames received in several chunks (multi-buffer) and copied into one slot.
    pub rx_gathered: u64,
    /// Frames dropped because no slot was free to gather them into.
    pub rx_dropped: u64,
    /// Frames the fill ring is kept stocked with now (small while bursts are small, see
    /// `stock.rs`).
    pub fill_stock: u64,
    /// The smallest stock from now on (the whole stock once the kernel dropped a frame).
    pub fill_floor: u64,
}

/// The kernel's counters of one socket (`struct xdp_statistics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpKernelStats {
    /// Frames dropped for reasons other than the ones below.
    pub rx_dropped: u64,
    /// Fill-ring descriptors the kernel found invalid.
    pub rx_invalid_descs: u64,
    /// TX descriptors the kernel found invalid (e.g. a multi-chunk frame without `XDP_USE_SG`).
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame came.
    pub rx_fill_ring_empty: u64,
    /// Times the TX ring was found empty on a kick.
    pub tx_ring_empty: u64,
}

/// One AF_XDP socket bound to one queue of the interface, owned by one core.
pub struct XdpQueue {
    umem: Arc<Umem>,
    fd: RawFd,
    /// Frames in the fill ring or the RX ring (lent to the kernel for receiving).
    in_fill: u32,
    /// How many frames the fill ring is kept stocked with.
    stock: FillStock,
    /// The kernel's drop counters at the last look (see `follow_backlog`).
    kernel_drops: u64,
    /// Free chunks set aside while the stock is small (allocated once at open, never grown).
    reserve: Vec<u64>,
    /// Descriptors in the TX ring or the completion ring.
    in_tx: u32,
    /// Per slot (multi-buffer transmit frames): its descriptors not completed yet.
    slot_pending: Box<[u8]>,
    /// Descriptor scratch space for one burst (allocated once at open).
    scratch: Scratch,
    stats: XdpStats,
    /// Print the counters at close (`MTCP_XDP_STATS` set in the environment at open).
    report_at_close: bool,
}

/// Descriptors of one burst: [`MAX_BURST`] frames of up to a slot's chunks each, so that a
/// burst of multi-buffer frames (3 descriptors each at MTU 9000) moves in one call and one kick
/// rather than in bursts of 21 frames, each a loop turn of the stack and a `sendto`.
struct Scratch {
    addrs: Box<[u64]>,
    lens: Box<[u32]>,
    opts: Box<[u32]>,
}

impl Scratch {
    fn new(descs: usize) -> Scratch {
        Scratch {
            addrs: vec![0; descs].into_boxed_slice(),
            lens: vec![0; descs].into_boxed_slice(),
            opts: vec![0; descs].into_boxed_slice(),
        }
    }

    /// How many descriptors it holds.
    fn descs(&self) -> usize {
        self.addrs.len()
    }
}

impl XdpQueue {
    pub(crate) fn new(umem: Arc<Umem>, fill_target: u32) -> XdpQueue {
        // SAFETY: the socket is open for as long as `umem` lives.
        let fd = unsafe { ffi::mtcp_xsk_fd(umem.xsk) };
        let mut queue = XdpQueue {
            slot_pending: vec![0; umem.slot_count()].into_boxed_slice(),
            scratch: Scratch::new(MAX_BURST * umem.slot_chunks()),
            reserve: Vec::with_capacity(umem.free.capacity()),
            umem,
            fd,
            in_fill: 0,
            stock: FillStock::new(fill_target),
            kernel_drops: 0,
            in_tx: 0,
            stats: XdpStats::default(),
            report_at_close: std::env::var_os("MTCP_XDP_STATS").is_some(),
        };
        queue.top_up();
        queue
    }

    /// This queue's counters.
    pub fn stats(&self) -> XdpStats {
        XdpStats {
            fill_stock: u64::from(self.stock.now()),
            fill_floor: u64::from(self.stock.floor()),
            ..self.stats
        }
    }

    /// The kernel's counters of this socket (`XDP_STATISTICS`): frames it dropped and why.
    pub fn kernel_stats(&self) -> io::Result<XdpKernelStats> {
        let mut v = [0u64; 6];
        // SAFETY: `v` has room for the six counters; the socket is open.
        let rc = unsafe { ffi::mtcp_xsk_kernel_stats(self.umem.xsk, v.as_mut_ptr()) };
        if rc < 0 {
            return Err(io::Error::from_raw_os_error(-rc));
        }
        Ok(XdpKernelStats {
            rx_dropped: v[0],
            rx_invalid_descs: v[1],
            tx_invalid_descs: v[2],
            rx_ring_full: v[3],
            rx_fill_ring_empty: v[4],
            tx_ring_empty: v[5],
        })
    }

    /// Frames of this queue's UMEM that are neither in a kernel ring nor lent out.
    pub fn free_frames(&self) -> usize {
        self.umem.free.len()
    }

    /// Moves completed transmissions back to the free list.
    fn reclaim(&mut self) {
        while self.in_tx > 0 {
            let room = self.scratch.descs() as u32;
            // SAFETY: `addrs` has room for `room` entries; the socket is open.
            let n = unsafe {
                ffi::mtcp_xsk_complete(self.umem.xsk, self.scratch.addrs.as_mut_ptr(), room)
            };
            for i in 0..n as usize {
                let addr = self.scratch.addrs[i];
                match self.umem.slot_index(addr) {
                    // A slot is free again when the last of its descriptors completed.
                    Some(slot) => {
                        let left = &mut self.slot_pending[slot];
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            self.umem.give_back(addr);
                            self.stats.tx_completed += 1;
                        }
                    }
                    None => {
                        self.umem.give_back(addr);
                        self.stats.tx_completed += 1;
                    }
                }
            }
            self.in_tx -= n;
            if n < room {
                break;
            }
        }
    }

    /// Tops the fill ring up to its stock ([`FillStock`]) from the free list, a burst at a
    /// time. The whole stock, not one burst: a peer that sent faster than one burst per turn
    /// while this core was busy (or descheduled) leaves the ring short, and a frame that finds
    /// it empty is dropped by the kernel (`rx_fill_ring_empty`) and costs the flow a
    /// retransmission timeout.
    fn top_up(&mut self) {
        while self.in_fill < self.stock.now() && self.refill() > 0 {}
    }

    /// Puts up to one burst of free frames on the fill ring; returns how many.
    fn refill(&mut self) -> u32 {
        let want = (self.stock.now().saturating_sub(self.in_fill)).min(self.scratch.descs() as u32)
            as usize;
        let mut n = 0;
        while n < want {
            match self.pop_free() {
                Some(addr) => {
                    self.scratch.addrs[n] = addr;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return 0;
        }
        // SAFETY: the first `n` entries of `addrs` are initialised; the socket is open.
        let put =
            unsafe { ffi::mtcp_xsk_fill(self.umem.xsk, self.scratch.addrs.as_ptr(), n as u32) };
        for &addr in &self.scratch.addrs[put as usize..n] {
            let _ = self.umem.free.push(addr);
        }
        self.in_fill += put;
        put
    }

    /// Kicks the kernel when the TX ring holds descriptors it has not taken and it asks for a
    /// wakeup. Frames it took but has not completed yet need no kick (in copy mode the TX ring
    /// asks for a wakeup all the time, and a kick per loop turn would be a syscall per turn).
    fn kick_tx_if_needed(&mut self) -> io::Result<()> {
        if self.in_tx == 0 {
            return Ok(());
        }
        // SAFETY: the socket is open (both calls only read the TX ring's pointers and flags).
        let wanted = unsafe {
            ffi::mtcp_xsk_tx_pending(self.umem.xsk) > 0
                && ffi::mtcp_xsk_tx_needs_wakeup(self.umem.xsk) != 0
        };
        if wanted {
            self.stats.tx_kicks += 1;
            sys::kick_tx(self.fd)?;
        }
        Ok(())
    }
}

impl XdpQueue {
    /// A free chunk: from the free list, else from the reserve (frames the stack holds
    /// outgrew the circulation a small stock left).
    fn pop_free(&mut self) -> Option<u64> {
        self.umem.free.pop().or_else(|| self.reserve.pop())
    }

    /// A transmit frame: a slot with multi-buffer, else a free chunk.
    fn alloc_tx(&mut self) -> Option<u64> {
        if self.umem.has_slots() {
            self.umem.alloc_slot()
        } else {
            self.pop_free()
        }
    }

    /// Lets the stock follow the receive backlog after a look that took `n` descriptors of
    /// the `want` frames asked for: a full burst may have left more behind, so the RX ring's
    /// backlog is read then (a load of the kernel's producer index, no syscall). When the stock
    /// changed, and once per window, the kernel's drop counters are read (one `getsockopt`): a
    /// frame dropped for want of a fill-ring frame makes the stock full for good.
    /// Returns whether the stock changed (the caller tops the ring up once the burst's
    /// descriptors are out of the scratch, which `refill` reuses).
    fn follow_backlog(&mut self, n: u32, want: u32) -> bool {
        let rest = if n as usize == self.scratch.descs() || n >= want {
            // SAFETY: the socket is open; the call only reads the RX ring's producer index.
            unsafe { ffi::mtcp_xsk_rx_backlog(self.umem.xsk) }
        } else {
            0
        };
        let step = self.stock.saw(n + rest, n);
        if step == Step::Same {
            return false;
        }
        let drops = self
            .kernel_stats()
            .map(|k| k.rx_fill_ring_empty + k.rx_ring_full)
            .unwrap_or(0);
        let dropped = drops > self.kernel_drops;
        self.kernel_drops = drops;
        let full_for_good = dropped && self.stock.dropped();
        let changed = step == Step::Changed || full_for_good;
        if changed {
            self.rebalance();
        }
        changed
    }

    /// After the stock changed: keeps about a stock's worth of chunks on the free list (the
    /// oldest, coldest ones go to the reserve), or puts the whole reserve back when it grew.
    fn rebalance(&mut self) {
        if self.stock.is_full() {
            while let Some(addr) = self.reserve.pop() {
                self.umem.give_back(addr);
            }
            return;
        }
        while self.umem.free.len() > self.stock.now() as usize
            && self.reserve.len() < self.reserve.capacity()
        {
            match self.umem.free.pop() {
                Some(addr) => self.reserve.push(addr),
                None => break,
            }
        }
    }

    /// A frame received in the chunks `descs` of the scratch (multi-buffer), copied into one
    /// slot so the stack sees it contiguous; the chunks go back to the free list. None (the
    /// frame dropped and counted) when no slot is free or the frame does not fit one.
    fn gather(&mut self, descs: std::ops::Range<usize>) -> Option<XdpRxFrame> {
        let total: usize = self.scratch.lens[descs.clone()]
            .iter()
            .map(|&l| l as usize)
            .sum();
        let slot = match self.umem.alloc_slot() {
            Some(slot) if total <= self.umem.tx_capacity() => Some(slot),
            Some(slot) => {
                self.umem.give_back(slot);
                None
            }
            None => None,
        };
        let mut at = 0;
        for d in descs {
            let (addr, len) = (self.scratch.addrs[d], self.scratch.lens[d] as usize);
            if let Some(slot) = slot {
                self.umem.copy_to_slot(addr, slot, at, len);
            }
            at += len;
            self.umem.give_back(addr);
        }
        match slot {
            Some(slot) => {
                self.stats.rx_gathered += 1;
                Some(XdpRxFrame::new(Arc::clone(&self.umem), slot, total))
            }
            None => {
                self.stats.rx_dropped += 1;
                None
            }
        }
    }
}

impl Drop for XdpQueue {
    fn drop(&mut self) {
        if self.report_at_close {
            eprintln!(
                "[mtcp] afxdp queue (fd {}): {:?}; kernel: {:?}",
                self.fd,
                self.stats(),
                self.kernel_stats()
            );
        }
    }
}

impl Queue for XdpQueue {
    type Rx = XdpRxFrame;
    type Tx = XdpTxFrame;

    fn rx_into<S: RxSink<XdpRxFrame>>(&mut self, out: &mut S) -> io::Result<usize> {
        self.reclaim();
        self.top_up();
        let want = out.room().min(MAX_BURST);
        if want == 0 {
            return Ok(0);
        }
        // SAFETY: `addrs`/`lens`/`opts` have room for `descs()` entries; the socket is open.
        let n = unsafe {
            ffi::mtcp_xsk_rx(
                self.umem.xsk,
                self.scratch.addrs.as_mut_ptr(),
                self.scratch.lens.as_mut_ptr(),
                self.scratch.opts.as_mut_ptr(),
                self.scratch.descs() as u32,
                want as u32,
            )
        };
        self.in_fill -= n;
        let restock = n > 0 && self.follow_backlog(n, want as u32);
        let mut frames: u32 = 0;
        let mut first = 0;
        for i in 0..n as usize {
            if self.scratch.opts[i] & ffi::XDP_PKT_CONTD != 0 {
                continue;
            }
            // Descriptors first..=i are one frame (the shim hands out whole frames only).
            if first == i {
                let (addr, len) = (self.scratch.addrs[i], self.scratch.lens[i] as usize);
                out.put(XdpRxFrame::new(Arc::clone(&self.umem), addr, len));
                frames += 1;
            } else if let Some(frame) = self.gather(first..i + 1) {
                out.put(frame);
                frames += 1;
            }
            first = i + 1;
        }
        let n = frames;
        self.stats.rx_frames += u64::from(n);
        if restock {
            self.top_up();
        }
        // SAFETY: the socket is open.
        if n == 0 && unsafe { ffi::mtcp_xsk_fill_needs_wakeup(self.umem.xsk) } != 0 {
            self.stats.rx_kicks += 1;
            sys::kick_rx(self.fd);
        }
        // Copy mode sends at most a batch per kick: keep the TX ring moving from the receive
        // loop too, so frames left in the ring go out even when nothing new is sent.
        self.kick_tx_if_needed()?;
        Ok(n as usize)
    }

    fn tx_alloc(&mut self) -> Option<XdpTxFrame> {
        let addr = match self.alloc_tx() {
            Some(addr) => addr,
            None => {
                self.reclaim();
                self.alloc_tx()?
            }
        };
        Some(XdpTxFrame::new(Arc::clone(&self.umem), addr))
    }

    fn tx_from<B: TxBatch<XdpTxFrame>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        self.reclaim();
        let chunk = self.umem.chunk_size();
        // Descriptors of whole frames, one per chunk (a slot's chunks are contiguous).
        let (mut n, mut frames) = (0, 0);
        while let Some(frame) = pkts.get(frames) {
            if !frame.is_of(&self.umem) {
                // A frame of another queue's UMEM: the kernel could not find it in ours.
                break;
            }
            let len = frame.len();
            let descs = len.div_ceil(chunk).max(1);
            if n + descs > self.scratch.descs() {
                break;
            }
            for d in 0..descs {
                self.scratch.addrs[n + d] = frame.addr + (d * chunk) as u64;
                self.scratch.lens[n + d] = (len - d * chunk).min(chunk) as u32;
                self.scratch.opts[n + d] = if d + 1 < descs { ffi::XDP_PKT_CONTD } else { 0 };
            }
            n += descs;
            frames += 1;
        }
        if frames == 0 && !pkts.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "afxdp: a frame allocated from another queue cannot be sent on this one",
            ));
        }
        // SAFETY: the first `n` entries of the scratch are initialised; the socket is open.
        let put = unsafe {
            ffi::mtcp_xsk_tx(
                self.umem.xsk,
                self.scratch.addrs.as_ptr(),
                self.scratch.lens.as_ptr(),
                self.scratch.opts.as_ptr(),
                n as u32,
            )
        };
        // The ring takes all `n` descriptors or none.
        let sent = if put as usize == n { frames } else { 0 };
        for i in 0..sent {
            if let Some(frame) = pkts.get_mut(i) {
                if let Some(slot) = self.umem.slot_index(frame.addr) {
                    self.slot_pending[slot] = frame.len().div_ceil(chunk).max(1) as u8;
                }
                frame.mark_sent();
            }
        }
        pkts.consume(sent);
        self.in_tx += put;
        self.stats.tx_frames += sent as u64;
        if self.stock.sent(sent as u32) == Step::Changed {
            self.rebalance();
            self.top_up();
        }
        self.kick_tx_if_needed()?;
        Ok(sent)
    }

    /// Returns at once when the RX ring holds descriptors, or when `timeout` is under a
    /// millisecond (a look: the ring was just looked at). Otherwise waits in `poll` on the
    /// socket and on the thread's doorbell ([`mtcp_io::doorbell::poll_fd`]), so a frame another
    /// core forwarded ends the wait as a frame of this queue does. A `poll` on an AF_XDP socket
    /// in copy mode also runs the kernel's transmit path, so a look through `poll(0)` cost a
    /// syscall and a pass over the TX ring each idle turn; the transmit side is kicked by
    /// `tx_from` and `rx_into` already.
    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        // SAFETY: the socket is open; the call only reads the RX ring's producer index.
        if timeout.as_millis() == 0 || unsafe { ffi::mtcp_xsk_rx_ready(self.umem.xsk) } > 0 {
            return Ok(());
        }
        mtcp_io::doorbell::poll_fd(self.fd, timeout)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
}
