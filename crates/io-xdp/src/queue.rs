//! One AF_XDP socket as a [`Queue`]: the fill ring kept stocked from the free list, completions
//! reclaimed, RX and TX rings driven in bursts, `need_wakeup` honoured.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use mtcp_io::{MAX_BURST, Queue, RxSink, TxBatch};

use crate::ffi;
use crate::frame::{Umem, XdpRxFrame, XdpTxFrame};
use crate::sys;

/// Counters of one queue (plain integers, read with [`XdpQueue::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames handed to the TX ring.
    pub tx_frames: u64,
    /// Transmissions the kernel reported complete.
    pub tx_completed: u64,
    /// `sendto` kicks for the TX ring.
    pub tx_kicks: u64,
    /// `recvfrom` kicks for the fill ring.
    pub rx_kicks: u64,
}

/// One AF_XDP socket bound to one queue of the interface, owned by one core.
pub struct XdpQueue {
    umem: Arc<Umem>,
    fd: RawFd,
    /// Frames in the fill ring or the RX ring (lent to the kernel for receiving).
    in_fill: u32,
    /// How many frames the fill ring is kept stocked with.
    fill_target: u32,
    /// Frames in the TX ring or the completion ring.
    in_tx: u32,
    /// Descriptor scratch space for one burst (boxed once at open, so the queue stays small).
    scratch: Box<Scratch>,
    stats: XdpStats,
}

struct Scratch {
    addrs: [u64; MAX_BURST],
    lens: [u32; MAX_BURST],
}

impl XdpQueue {
    pub(crate) fn new(umem: Arc<Umem>, fill_target: u32) -> XdpQueue {
        // SAFETY: the socket is open for as long as `umem` lives.
        let fd = unsafe { ffi::mtcp_xsk_fd(umem.xsk) };
        let mut queue = XdpQueue {
            umem,
            fd,
            in_fill: 0,
            fill_target,
            in_tx: 0,
            scratch: Box::new(Scratch {
                addrs: [0; MAX_BURST],
                lens: [0; MAX_BURST],
            }),
            stats: XdpStats::default(),
        };
        while queue.in_fill < queue.fill_target && queue.refill() > 0 {}
        queue
    }

    /// This queue's counters.
    pub fn stats(&self) -> XdpStats {
        self.stats
    }

    /// Frames of this queue's UMEM that are neither in a kernel ring nor lent out.
    pub fn free_frames(&self) -> usize {
        self.umem.free.len()
    }

    /// Moves completed transmissions back to the free list.
    fn reclaim(&mut self) {
        while self.in_tx > 0 {
            // SAFETY: `addrs` has room for MAX_BURST entries; the socket is open.
            let n = unsafe {
                ffi::mtcp_xsk_complete(
                    self.umem.xsk,
                    self.scratch.addrs.as_mut_ptr(),
                    MAX_BURST as u32,
                )
            };
            for &addr in &self.scratch.addrs[..n as usize] {
                let _ = self.umem.free.push(self.umem.frame_of(addr));
            }
            self.in_tx -= n;
            self.stats.tx_completed += u64::from(n);
            if n < MAX_BURST as u32 {
                break;
            }
        }
    }

    /// Puts up to one burst of free frames on the fill ring; returns how many.
    fn refill(&mut self) -> u32 {
        let want = (self.fill_target - self.in_fill).min(MAX_BURST as u32) as usize;
        let mut n = 0;
        while n < want {
            match self.umem.free.pop() {
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

impl Queue for XdpQueue {
    type Rx = XdpRxFrame;
    type Tx = XdpTxFrame;

    fn rx_into<S: RxSink<XdpRxFrame>>(&mut self, out: &mut S) -> io::Result<usize> {
        self.reclaim();
        self.refill();
        let want = out.room().min(MAX_BURST);
        if want == 0 {
            return Ok(0);
        }
        // SAFETY: `addrs`/`lens` have room for MAX_BURST >= want entries; the socket is open.
        let n = unsafe {
            ffi::mtcp_xsk_rx(
                self.umem.xsk,
                self.scratch.addrs.as_mut_ptr(),
                self.scratch.lens.as_mut_ptr(),
                want as u32,
            )
        };
        self.in_fill -= n;
        for i in 0..n as usize {
            let frame = XdpRxFrame::new(
                Arc::clone(&self.umem),
                self.scratch.addrs[i],
                self.scratch.lens[i] as usize,
            );
            out.put(frame);
        }
        self.stats.rx_frames += u64::from(n);
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
        let addr = match self.umem.free.pop() {
            Some(addr) => addr,
            None => {
                self.reclaim();
                self.umem.free.pop()?
            }
        };
        Some(XdpTxFrame::new(Arc::clone(&self.umem), addr))
    }

    fn tx_from<B: TxBatch<XdpTxFrame>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        self.reclaim();
        let mut n = 0;
        while n < MAX_BURST {
            let Some(frame) = pkts.get(n) else { break };
            if !frame.is_of(&self.umem) {
                // A frame of another queue's UMEM: the kernel could not find it in ours.
                break;
            }
            self.scratch.addrs[n] = frame.addr;
            self.scratch.lens[n] = frame.len() as u32;
            n += 1;
        }
        if n == 0 && !pkts.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "afxdp: a frame allocated from another queue cannot be sent on this one",
            ));
        }
        // SAFETY: the first `n` entries of `addrs`/`lens` are initialised; the socket is open.
        let sent = unsafe {
            ffi::mtcp_xsk_tx(
                self.umem.xsk,
                self.scratch.addrs.as_ptr(),
                self.scratch.lens.as_ptr(),
                n as u32,
            )
        };
        for i in 0..sent as usize {
            if let Some(frame) = pkts.get_mut(i) {
                frame.mark_sent();
            }
        }
        pkts.consume(sent as usize);
        self.in_tx += sent;
        self.stats.tx_frames += u64::from(sent);
        self.kick_tx_if_needed()?;
        Ok(sent as usize)
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        sys::poll_in(self.fd, timeout)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
}
