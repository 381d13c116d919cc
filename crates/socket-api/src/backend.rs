//! Run-time choice of the packet-I/O backend (`io = ...`): [`AnyQueue`] is a [`Queue`] over the
//! backends this crate can open, so a context is `Context<AnyQueue>` whatever the config says.
//!
//! Extension point: the `dpdk` and `netmap` backends live in their own crates. To add one, add a
//! variant to [`AnyQueue`] (and [`AnyRx`] if its receive frame is its own type), to [`AnyDevice`],
//! and a branch in `Mtcp::init`'s device opening (`open_devices` in `mtcp.rs`).

use std::io;
use std::ops::Deref;
use std::time::Duration;

use mtcp_io::fault::{Fault, FaultQueue, FaultRx};
use mtcp_io::mem::{MemPort, MemQueue};
use mtcp_io::pool::PoolBuf;
use mtcp_io::{Burst, Device, DeviceInfo, Queue, RxFrame, RxMeta};

#[cfg(target_os = "linux")]
use mtcp_io::afpacket::{AfPacketDevice, AfPacketQueue, AfRx};
#[cfg(target_os = "linux")]
use mtcp_io::tap::{TapDevice, TapQueue};

/// A received frame of any backend.
pub enum AnyRx {
    /// Pool buffers (mem, TAP).
    Pool(PoolBuf),
    /// An AF_PACKET ring slot.
    #[cfg(target_os = "linux")]
    AfPacket(AfRx),
}

impl Deref for AnyRx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            AnyRx::Pool(b) => b,
            #[cfg(target_os = "linux")]
            AnyRx::AfPacket(b) => b,
        }
    }
}

impl RxFrame for AnyRx {
    fn meta(&self) -> RxMeta {
        match self {
            AnyRx::Pool(b) => b.meta(),
            #[cfg(target_os = "linux")]
            AnyRx::AfPacket(b) => b.meta(),
        }
    }
}

/// A queue of any backend (every backend here transmits [`PoolBuf`]s).
pub enum AnyQueue {
    /// The in-memory switch.
    Mem(MemQueue),
    /// TAP.
    #[cfg(target_os = "linux")]
    Tap(TapQueue),
    /// AF_PACKET.
    #[cfg(target_os = "linux")]
    AfPacket(AfPacketQueue),
    /// Any of the above behind the `fault_*` impairment (boxed: the type is recursive).
    Fault(Box<FaultQueue<AnyQueue>>),
}

/// A frame out of the impairment wrapper as an [`AnyRx`]: duplicates are pool buffers.
fn unfault(f: FaultRx<AnyRx>) -> AnyRx {
    match f {
        FaultRx::Inner(r) => r,
        FaultRx::Copy(c) => AnyRx::Pool(c),
    }
}

/// Moves the frames of an inner burst into `out`, wrapping each.
fn rx_into<R>(inner: &mut Burst<R>, out: &mut Burst<AnyRx>, wrap: fn(R) -> AnyRx) {
    for f in inner.drain(..) {
        // Cannot fail: the inner burst was sized to `out`'s free room.
        let _ = out.push(wrap(f));
    }
}

fn rx_via<Q: Queue>(
    q: &mut Q,
    out: &mut Burst<AnyRx>,
    wrap: fn(Q::Rx) -> AnyRx,
) -> io::Result<usize> {
    let mut inner: Burst<Q::Rx> = Burst::new();
    let room = out.capacity() - out.len();
    // Receive only what `out` can take: fill `inner` up to `room` by pre-sizing.
    let n = if room == out.capacity() {
        q.rx_burst(&mut inner)?
    } else {
        // Rare: a partly filled burst. Receive into a full-size burst, keep at most `room`.
        let n = q.rx_burst(&mut inner)?;
        inner.truncate(room);
        n.min(room)
    };
    rx_into(&mut inner, out, wrap);
    Ok(n)
}

impl Queue for AnyQueue {
    type Rx = AnyRx;
    type Tx = PoolBuf;

    fn rx_burst(&mut self, out: &mut Burst<AnyRx>) -> io::Result<usize> {
        match self {
            AnyQueue::Mem(q) => rx_via(q, out, AnyRx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => rx_via(q, out, AnyRx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => rx_via(q, out, AnyRx::AfPacket),
            AnyQueue::Fault(q) => rx_via(&mut **q, out, unfault),
        }
    }

    fn tx_alloc(&mut self) -> Option<PoolBuf> {
        match self {
            AnyQueue::Mem(q) => q.tx_alloc(),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => q.tx_alloc(),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => q.tx_alloc(),
            AnyQueue::Fault(q) => q.tx_alloc(),
        }
    }

    fn tx_burst(&mut self, pkts: &mut Burst<PoolBuf>) -> io::Result<usize> {
        match self {
            AnyQueue::Mem(q) => q.tx_burst(pkts),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => q.tx_burst(pkts),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => q.tx_burst(pkts),
            AnyQueue::Fault(q) => q.tx_burst(pkts),
        }
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        match self {
            AnyQueue::Mem(q) => q.wait_rx(timeout),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => q.wait_rx(timeout),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => q.wait_rx(timeout),
            AnyQueue::Fault(q) => q.wait_rx(timeout),
        }
    }
}

/// A port of any backend, from which contexts take their queues.
pub enum AnyDevice {
    /// A port of an in-memory switch.
    Mem(MemPort),
    /// A TAP device.
    #[cfg(target_os = "linux")]
    Tap(TapDevice),
    /// An AF_PACKET port.
    #[cfg(target_os = "linux")]
    AfPacket(AfPacketDevice),
    /// Any of the above behind the `fault_*` impairment.
    Fault(Box<Fault<AnyDevice>>),
}

impl Device for AnyDevice {
    type Queue = AnyQueue;

    fn info(&self) -> &DeviceInfo {
        match self {
            AnyDevice::Mem(d) => d.info(),
            #[cfg(target_os = "linux")]
            AnyDevice::Tap(d) => d.info(),
            #[cfg(target_os = "linux")]
            AnyDevice::AfPacket(d) => d.info(),
            AnyDevice::Fault(d) => d.info(),
        }
    }

    fn queue(&mut self, index: usize) -> io::Result<AnyQueue> {
        Ok(match self {
            AnyDevice::Mem(d) => AnyQueue::Mem(d.queue(index)?),
            #[cfg(target_os = "linux")]
            AnyDevice::Tap(d) => AnyQueue::Tap(d.queue(index)?),
            #[cfg(target_os = "linux")]
            AnyDevice::AfPacket(d) => AnyQueue::AfPacket(d.queue(index)?),
            AnyDevice::Fault(d) => AnyQueue::Fault(Box::new(d.queue(index)?)),
        })
    }
}
