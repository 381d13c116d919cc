//! One rx/tx queue pair: bursts through the shim, mbufs from the queue's own pool.
//!
//! Idle strategy: busy polling, as mTCP and every DPDK application do. [`Queue::wait_rx`] polls
//! the receive ring until a frame comes, the thread's [`mtcp_io::doorbell`] rings (threaded mode:
//! an application call) or the wait is over; the frames it found wait in the queue for the next
//! `rx_into`. A timed sleep instead (the thread parked for 20 µs, which the kernel's timer slack
//! makes 60-80 µs) put 90 µs on every round trip of threaded mode over `net_memif`.
//!
//! Every operation first makes the calling thread an lcore (see [`crate::lcore`]): the mbuf
//! pools then serve it from a per-thread cache instead of their shared ring.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mtcp_io::{Burst, Queue, RxSink, TxBatch};

use crate::device::PortShared;
use crate::ffi::{self, MAX_BURST, RteMempool};
use crate::mbuf::{DpdkRxFrame, DpdkTxFrame};

/// Looks at the receive ring between two reads of the clock in [`Queue::wait_rx`].
const LOOKS_PER_CLOCK: u32 = 16;

/// Queue pair `index` of a DPDK port, for one core.
pub struct DpdkQueue {
    /// Keeps the port running (and claimed) while this queue exists.
    _port: Arc<PortShared>,
    port: u16,
    index: u16,
    pool: *mut RteMempool,
    rx_dropped: u64,
    /// Frames `wait_rx` received, handed out first by the next `rx_into`: `pending[next..len]`
    /// (boxed once per queue: the queue stays small inside the socket layer's queue enum).
    pending: Box<[MaybeUninit<ffi::ShimRx>; MAX_BURST]>,
    pending_next: usize,
    pending_len: usize,
    /// The last `tx_from` left frames unsent (the ring was full): `wait_rx` returns at once so
    /// that the caller retries them instead of waiting for a frame.
    tx_short: bool,
    /// Flags added to every received frame's (the port's `PortShared::rx_flags`).
    rx_flags: u64,
    /// Frames per driver transmit call (the port's `PortShared::tx_chunk`).
    tx_chunk: usize,
}

// SAFETY: the queue is owned by one thread at a time (no Sync); DPDK allows any single thread to
// poll a queue, and the pool is thread-safe.
unsafe impl Send for DpdkQueue {}

impl DpdkQueue {
    pub(crate) fn new(shared: Arc<PortShared>, index: u16) -> DpdkQueue {
        let pool = shared.pools[usize::from(index)];
        let rx_flags = shared.rx_flags;
        let tx_chunk = shared.tx_chunk.clamp(1, MAX_BURST);
        DpdkQueue {
            port: shared.port,
            _port: shared,
            index,
            pool,
            rx_dropped: 0,
            pending: Box::new([const { MaybeUninit::uninit() }; MAX_BURST]),
            pending_next: 0,
            pending_len: 0,
            tx_short: false,
            rx_flags,
            tx_chunk,
        }
    }

    /// Receives up to `room` frames into `rx`; how many.
    fn rx_raw(&mut self, rx: &mut [MaybeUninit<ffi::ShimRx>; MAX_BURST], room: usize) -> usize {
        rx_raw(self.port, self.index, rx, room, &mut self.rx_dropped)
    }

    /// Polls the receive ring into `pending` (handed out entirely before); whether a frame came.
    fn poll_pending(&mut self) -> bool {
        let got = rx_raw(
            self.port,
            self.index,
            &mut self.pending,
            MAX_BURST,
            &mut self.rx_dropped,
        );
        self.pending_next = 0;
        self.pending_len = got;
        got > 0
    }

    /// Queue number within the port.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Received frames dropped because they came in several segments (never with standard MTUs).
    pub fn rx_dropped(&self) -> u64 {
        self.rx_dropped
    }

    /// Free mbufs in this queue's pool (see [`crate::DpdkDevice::pool_available`]).
    pub fn pool_available(&self) -> u32 {
        // SAFETY: the pool lives as long as the process.
        unsafe { ffi::rte_mempool_avail_count(self.pool) }
    }

    fn alloc_into(&mut self, out: &mut Burst<DpdkTxFrame>, n: usize) -> bool {
        let mut bufs = [const { MaybeUninit::<ffi::ShimBuf>::uninit() }; MAX_BURST];
        // SAFETY: bufs has room for n <= MAX_BURST entries; the shim fills all n on success (0).
        let ret =
            unsafe { ffi::mtcp_shim_alloc_bulk(self.pool, bufs.as_mut_ptr().cast(), n as u16) };
        if ret != 0 {
            return false;
        }
        for buf in &bufs[..n] {
            // SAFETY: initialised by the shim (see above).
            let buf = unsafe { buf.assume_init_ref() };
            // Cannot fail: the caller left room for n.
            let _ = out.push(DpdkTxFrame::from_shim(buf));
        }
        true
    }
}

/// Receives up to `room` (at most MAX_BURST) frames of queue `index` of `port` into `rx`; how
/// many. Frames in several segments are dropped and counted in `dropped`.
fn rx_raw(
    port: u16,
    index: u16,
    rx: &mut [MaybeUninit<ffi::ShimRx>; MAX_BURST],
    room: usize,
    dropped: &mut u64,
) -> usize {
    let mut chained = 0u16;
    // SAFETY: rx has room for `room` <= MAX_BURST entries; the shim initialises the first `got`.
    let got = unsafe {
        ffi::mtcp_shim_rx_burst(
            port,
            index,
            rx.as_mut_ptr().cast(),
            room.min(MAX_BURST) as u16,
            &mut chained,
        )
    };
    *dropped += u64::from(chained);
    usize::from(got)
}

impl Queue for DpdkQueue {
    type Rx = DpdkRxFrame;
    type Tx = DpdkTxFrame;

    fn rx_into<S: RxSink<DpdkRxFrame>>(&mut self, out: &mut S) -> io::Result<usize> {
        crate::lcore::ensure();
        let mut room = out.room().min(MAX_BURST);
        let mut taken = 0;
        while room > 0 && self.pending_next < self.pending_len {
            // SAFETY: entries below pending_len were initialised by the shim; each is handed
            // out once (pending_next moves past it).
            let r = unsafe { self.pending[self.pending_next].assume_init_ref() };
            out.put(DpdkRxFrame::from_shim(r, self.rx_flags));
            self.pending_next += 1;
            room -= 1;
            taken += 1;
        }
        if room == 0 {
            return Ok(taken);
        }
        let mut rx = [const { MaybeUninit::<ffi::ShimRx>::uninit() }; MAX_BURST];
        let got = self.rx_raw(&mut rx, room);
        for r in &rx[..got] {
            // SAFETY: initialised by the shim (see rx_raw).
            let r = unsafe { r.assume_init_ref() };
            // Fits: got <= room.
            out.put(DpdkRxFrame::from_shim(r, self.rx_flags));
        }
        Ok(taken + got)
    }

    /// Busy-polls the receive ring for at most `timeout`: returns once frames wait (they are
    /// kept for the next `rx_into`) or this thread's doorbell rings; at once while this process
    /// runs more than one port. Each look is an rx burst,
    /// back to back as in DPDK's own poll loops (no `spin_loop` pause between them).
    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        crate::lcore::ensure();
        mtcp_io::doorbell::heed();
        // With several ports a frame may come on another one: return, and the caller polls
        // them all again (busy polling across ports, as before this wait existed).
        let alone = crate::device::PORTS_RUNNING.load(Ordering::Relaxed) <= 1;
        if self.pending_next < self.pending_len || self.tx_short || timeout.is_zero() || !alone {
            return Ok(());
        }
        let start = Instant::now();
        loop {
            // The clock is read once per LOOKS_PER_CLOCK looks (an rx burst on an empty ring
            // costs tens of ns, a clock read about as much: reading it each time took 4 % of a
            // threaded memif receiver's CPU in `perf`).
            for _ in 0..LOOKS_PER_CLOCK {
                if self.poll_pending() || mtcp_io::doorbell::rung() {
                    return Ok(());
                }
            }
            if start.elapsed() >= timeout {
                return Ok(());
            }
        }
    }

    fn tx_alloc(&mut self) -> Option<DpdkTxFrame> {
        crate::lcore::ensure();
        let mut buf = MaybeUninit::<ffi::ShimBuf>::uninit();
        // SAFETY: room for one entry, filled on success.
        let ret = unsafe { ffi::mtcp_shim_alloc_bulk(self.pool, buf.as_mut_ptr(), 1) };
        // SAFETY: initialised by the shim when ret == 0.
        (ret == 0).then(|| DpdkTxFrame::from_shim(unsafe { buf.assume_init_ref() }))
    }

    fn tx_alloc_burst(&mut self, out: &mut Burst<DpdkTxFrame>, n: usize) -> usize {
        crate::lcore::ensure();
        let want = n.min(out.capacity() - out.len());
        if want == 0 {
            return 0;
        }
        if self.alloc_into(out, want) {
            return want;
        }
        // The pool holds fewer than `want` (bulk allocation is all-or-nothing): take what is left.
        let mut added = 0;
        while added < want {
            match self.tx_alloc() {
                Some(f) => {
                    let _ = out.push(f);
                    added += 1;
                }
                None => break,
            }
        }
        added
    }

    fn tx_from<B: TxBatch<DpdkTxFrame>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        crate::lcore::ensure();
        let mut tx = [const { MaybeUninit::<ffi::ShimTx>::uninit() }; MAX_BURST];
        let mut n = 0;
        while let (true, Some(frame)) = (n < MAX_BURST, pkts.get(n)) {
            tx[n].write(frame.to_shim());
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        // In calls of at most `tx_chunk` frames (see `device::tx_chunk`), stopping at the first
        // the driver does not take whole.
        let mut sent = 0;
        while sent < n {
            let want = self.tx_chunk.min(n - sent);
            // SAFETY: entries sent..sent+want of tx are initialised and describe mbufs owned by
            // pkts; the driver takes ownership of the first `took` of them.
            let took = unsafe {
                ffi::mtcp_shim_tx_burst(
                    self.port,
                    self.index,
                    tx[sent..].as_ptr().cast(),
                    want as u16,
                )
            };
            sent += usize::from(took);
            if usize::from(took) < want {
                break;
            }
        }
        for i in 0..sent {
            if let Some(frame) = pkts.get_mut(i) {
                frame.forget_sent();
            }
        }
        // Unsent frames stay at the front of `pkts`, still owned by the caller, in order.
        pkts.consume(sent);
        self.tx_short = sent < n;
        Ok(sent)
    }
}

impl Drop for DpdkQueue {
    fn drop(&mut self) {
        // Frames `wait_rx` received that nobody took go back to their pool.
        while self.pending_next < self.pending_len {
            // SAFETY: initialised by the shim and not handed out (index >= pending_next).
            let r = unsafe { self.pending[self.pending_next].assume_init_ref() };
            drop(DpdkRxFrame::from_shim(r, 0));
            self.pending_next += 1;
        }
    }
}

impl std::fmt::Debug for DpdkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkQueue")
            .field("port", &self.port)
            .field("index", &self.index)
            .finish()
    }
}
