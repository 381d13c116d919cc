//! One rx/tx queue pair: bursts through the shim, mbufs from the queue's own pool.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;

use mtcp_io::{Burst, Queue, RxSink, TxBatch};

use crate::device::PortShared;
use crate::ffi::{self, MAX_BURST, RteMempool};
use crate::mbuf::{DpdkRxFrame, DpdkTxFrame};

/// Queue pair `index` of a DPDK port, for one core.
pub struct DpdkQueue {
    /// Keeps the port running (and claimed) while this queue exists.
    _port: Arc<PortShared>,
    port: u16,
    index: u16,
    pool: *mut RteMempool,
    rx_dropped: u64,
}

// SAFETY: the queue is owned by one thread at a time (no Sync); DPDK allows any single thread to
// poll a queue, and the pool is thread-safe.
unsafe impl Send for DpdkQueue {}

impl DpdkQueue {
    pub(crate) fn new(shared: Arc<PortShared>, index: u16) -> DpdkQueue {
        let pool = shared.pools[usize::from(index)];
        DpdkQueue {
            port: shared.port,
            _port: shared,
            index,
            pool,
            rx_dropped: 0,
        }
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

impl Queue for DpdkQueue {
    type Rx = DpdkRxFrame;
    type Tx = DpdkTxFrame;

    fn rx_into<S: RxSink<DpdkRxFrame>>(&mut self, out: &mut S) -> io::Result<usize> {
        let room = out.room().min(MAX_BURST);
        if room == 0 {
            return Ok(0);
        }
        let mut rx = [const { MaybeUninit::<ffi::ShimRx>::uninit() }; MAX_BURST];
        let mut dropped = 0u16;
        // SAFETY: rx has room for `room` <= MAX_BURST entries; the shim initialises the first `got`.
        let got = unsafe {
            ffi::mtcp_shim_rx_burst(
                self.port,
                self.index,
                rx.as_mut_ptr().cast(),
                room as u16,
                &mut dropped,
            )
        };
        self.rx_dropped += u64::from(dropped);
        for r in &rx[..usize::from(got)] {
            // SAFETY: initialised by the shim (see above).
            let r = unsafe { r.assume_init_ref() };
            // Fits: got <= room.
            out.put(DpdkRxFrame::from_shim(r));
        }
        Ok(usize::from(got))
    }

    fn tx_alloc(&mut self) -> Option<DpdkTxFrame> {
        let mut buf = MaybeUninit::<ffi::ShimBuf>::uninit();
        // SAFETY: room for one entry, filled on success.
        let ret = unsafe { ffi::mtcp_shim_alloc_bulk(self.pool, buf.as_mut_ptr(), 1) };
        // SAFETY: initialised by the shim when ret == 0.
        (ret == 0).then(|| DpdkTxFrame::from_shim(unsafe { buf.assume_init_ref() }))
    }

    fn tx_alloc_burst(&mut self, out: &mut Burst<DpdkTxFrame>, n: usize) -> usize {
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
        let mut tx = [const { MaybeUninit::<ffi::ShimTx>::uninit() }; MAX_BURST];
        let mut n = 0;
        while let (true, Some(frame)) = (n < MAX_BURST, pkts.get(n)) {
            tx[n].write(frame.to_shim());
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: the first n entries of tx are initialised and describe mbufs owned by pkts; the
        // driver takes ownership of the first `sent` of them.
        let sent =
            unsafe { ffi::mtcp_shim_tx_burst(self.port, self.index, tx.as_ptr().cast(), n as u16) };
        let sent = usize::from(sent);
        for i in 0..sent {
            if let Some(frame) = pkts.get_mut(i) {
                frame.forget_sent();
            }
        }
        // Unsent frames stay at the front of `pkts`, still owned by the caller, in order.
        pkts.consume(sent);
        Ok(sent)
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
