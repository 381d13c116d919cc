//! A wrapper that impairs any backend: seeded loss, duplication, reordering and delay, in both
//! directions.
//!
//! The test kernel has no `tc netem`, so this is how a test makes the link to a Linux peer lossy:
//! wrap the TAP or AF_PACKET device in [`Fault`] and give each direction a [`FaultConfig`].
//!
//! Frames travel through a fixed-capacity hold per queue and direction (no heap allocation per
//! frame). Duplicated received frames are copied into a small pool of the wrapper's own; duplicated
//! transmitted frames into a buffer of the wrapped queue. Delayed frames move when the queue is
//! polled: [`Queue::rx_burst`] also pushes out transmitted frames whose delay has passed, and
//! [`Queue::wait_rx`] wakes up in time for them.

mod engine;

use std::io;
use std::ops::Deref;
use std::time::{Duration, Instant};

pub use engine::{FaultConfig, FaultStats};
pub(crate) use engine::{Impairment, Rng};

use crate::pool::{Pool, PoolBuf};
use crate::{
    Burst, Device, DeviceInfo, MAX_BURST, Queue, RxFrame, RxMeta, RxSink, TxBatch, TxFrame,
};

/// Buffers each queue of the wrapper keeps for duplicated received frames.
const DUP_POOL: usize = 256;

/// Wraps device `D`, impairing transmitted frames by `tx` and received frames by `rx`.
#[derive(Debug)]
pub struct Fault<D> {
    inner: D,
    tx: FaultConfig,
    rx: FaultConfig,
}

impl<D: Device> Fault<D> {
    /// Wraps `inner`. Each queue draws from its own generator, seeded from the configured seed and
    /// the queue number, so runs repeat exactly.
    pub fn new(inner: D, tx: FaultConfig, rx: FaultConfig) -> Fault<D> {
        Fault { inner, tx, rx }
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

fn seed_for(cfg: &FaultConfig, index: usize) -> FaultConfig {
    let mut rng = Rng::new(cfg.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    FaultConfig {
        seed: rng.next_u64(),
        ..cfg.clone()
    }
}

impl<D: Device> Device for Fault<D> {
    type Queue = FaultQueue<D::Queue>;

    fn info(&self) -> &DeviceInfo {
        self.inner.info()
    }

    fn queue(&mut self, index: usize) -> io::Result<Self::Queue> {
        let inner = self.inner.queue(index)?;
        let buf_size = self.inner.info().mtu + 64;
        Ok(FaultQueue {
            inner,
            tx: Impairment::new(seed_for(&self.tx, index)),
            rx: Impairment::new(seed_for(&self.rx, 1000 + index)),
            dup_pool: Pool::new(DUP_POOL, buf_size),
            rx_scratch: Burst::new(),
            tx_scratch: Burst::new(),
        })
    }
}

/// A received frame after the wrapper: the backend's own, or a duplicate copied into the wrapper's pool.
pub enum FaultRx<R> {
    /// The frame as the backend delivered it.
    Inner(R),
    /// A duplicate.
    Copy(PoolBuf),
}

impl<R: RxFrame> Deref for FaultRx<R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FaultRx::Inner(r) => r,
            FaultRx::Copy(c) => c,
        }
    }
}

impl<R: RxFrame> RxFrame for FaultRx<R> {
    fn meta(&self) -> RxMeta {
        match self {
            FaultRx::Inner(r) => r.meta(),
            FaultRx::Copy(c) => c.meta(),
        }
    }
}

/// One queue of a [`Fault`] device.
pub struct FaultQueue<Q: Queue> {
    inner: Q,
    tx: Box<Impairment<Q::Tx>>,
    rx: Box<Impairment<FaultRx<Q::Rx>>>,
    dup_pool: Pool,
    rx_scratch: Burst<Q::Rx>,
    tx_scratch: Burst<Q::Tx>,
}

impl<Q: Queue> FaultQueue<Q> {
    /// What the impairment did to transmitted frames so far.
    pub fn tx_stats(&self) -> FaultStats {
        self.tx.stats
    }

    /// What the impairment did to received frames so far.
    pub fn rx_stats(&self) -> FaultStats {
        self.rx.stats
    }

    /// The wrapped queue.
    pub fn inner_mut(&mut self) -> &mut Q {
        &mut self.inner
    }

    /// Pushes transmitted frames whose delay has passed into the wrapped queue.
    fn pump_tx(&mut self, now: Instant) -> io::Result<()> {
        let scratch = &mut self.tx_scratch;
        self.tx.release(now, |f| scratch.push(f).err());
        if !self.tx_scratch.is_empty() {
            self.inner.tx_burst(&mut self.tx_scratch)?;
        }
        Ok(())
    }
}

impl<Q: Queue> Queue for FaultQueue<Q> {
    type Rx = FaultRx<Q::Rx>;
    type Tx = Q::Tx;

    fn rx_into<S: RxSink<Self::Rx>>(&mut self, out: &mut S) -> io::Result<usize> {
        let now = Instant::now();
        let _ = self.pump_tx(now);
        if self.rx.room() >= MAX_BURST {
            self.inner.rx_burst(&mut self.rx_scratch)?;
            let pool = &self.dup_pool;
            for frame in self.rx_scratch.drain(..) {
                self.rx.offer(FaultRx::Inner(frame), now, |f| {
                    let mut copy = pool.alloc_copy(f)?;
                    copy.set_meta(f.meta());
                    Some(FaultRx::Copy(copy))
                });
            }
        }
        let mut n = 0;
        self.rx.release(now, |f| {
            if out.room() == 0 {
                return Some(f);
            }
            out.put(f);
            n += 1;
            None
        });
        Ok(n)
    }

    fn tx_alloc(&mut self) -> Option<Self::Tx> {
        self.inner.tx_alloc()
    }

    fn tx_from<B: TxBatch<Self::Tx>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        let now = Instant::now();
        let backlog = self.pump_tx(now);
        let room = self.tx.room();
        let (inner, tx) = (&mut self.inner, &mut self.tx);
        let mut taken = 0;
        let accept = pkts.take_while(&mut |frame| {
            if taken == room {
                return Some(frame);
            }
            taken += 1;
            tx.offer(frame, now, |f| {
                let mut copy = inner.tx_alloc()?;
                if copy.capacity() < f.len() {
                    return None;
                }
                copy.set_len(f.len());
                copy.copy_from_slice(f);
                Some(copy)
            });
            None
        });
        let pumped = self.pump_tx(now);
        match (accept, backlog.and(pumped)) {
            (0, Err(e)) => Err(e),
            _ => Ok(accept),
        }
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        let now = Instant::now();
        let due = [self.rx.next_due(), self.tx.next_due()]
            .into_iter()
            .flatten()
            .min();
        let timeout = match due {
            Some(d) => timeout.min(d.saturating_duration_since(now)),
            None => timeout,
        };
        if !self.tx_scratch.is_empty() || !self.tx.is_empty() {
            let _ = self.pump_tx(now);
        }
        self.inner.wait_rx(timeout)
    }

    fn rx_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.rx_fd()
    }
}

impl<Q: Queue> Drop for FaultQueue<Q> {
    fn drop(&mut self) {
        self.tx.clear();
        self.rx.clear();
    }
}
