//! Run-time choice of the packet-I/O backend (`io = ...`): [`AnyQueue`] is a [`Queue`] over the
//! backends this crate can open, so a context is `Context<AnyQueue>` whatever the config says.
//!
//! Extension point: the `dpdk` and `netmap` backends live in their own crates. To add one, add a
//! variant to [`AnyQueue`] (and [`AnyRx`] / [`AnyTx`] if its frames are their own types), to
//! [`AnyDevice`], and a branch in `Mtcp::init`'s device opening (`open_devices` in `mtcp.rs`).
//!
//! DPDK (`io = dpdk`) is here behind the cargo feature `dpdk`: [`open_dpdk`] starts DPDK's EAL
//! from `mtcp.conf` (`core_mask` / `num_cores`, `num_mem_ch`, `dpdk_eal_args`) and opens the
//! ports listed in `port`, one rx/tx queue pair per core.

use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use mtcp_io::fault::{Fault, FaultQueue, FaultRx};
use mtcp_io::mem::{MemPort, MemQueue};
use mtcp_io::pool::PoolBuf;
use mtcp_io::{Burst, Device, DeviceInfo, Queue, RxFrame, RxMeta, TxFrame, TxOffload};

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
    /// A DPDK mbuf.
    #[cfg(feature = "dpdk")]
    Dpdk(mtcp_io_dpdk::DpdkRxFrame),
    /// A netmap ring slot (zero copy; released on drop).
    #[cfg(target_os = "linux")]
    Netmap(mtcp_io_netmap::NetmapRxFrame),
}

impl Deref for AnyRx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            AnyRx::Pool(b) => b,
            #[cfg(target_os = "linux")]
            AnyRx::AfPacket(b) => b,
            #[cfg(feature = "dpdk")]
            AnyRx::Dpdk(b) => b,
            #[cfg(target_os = "linux")]
            AnyRx::Netmap(b) => b,
        }
    }
}

impl RxFrame for AnyRx {
    fn meta(&self) -> RxMeta {
        match self {
            AnyRx::Pool(b) => b.meta(),
            #[cfg(target_os = "linux")]
            AnyRx::AfPacket(b) => b.meta(),
            #[cfg(feature = "dpdk")]
            AnyRx::Dpdk(b) => b.meta(),
            #[cfg(target_os = "linux")]
            AnyRx::Netmap(b) => b.meta(),
        }
    }
}

/// A frame to transmit, of any backend: pool buffers (mem, TAP, AF_PACKET) or a DPDK mbuf.
pub enum AnyTx {
    /// A pool buffer.
    Pool(PoolBuf),
    /// A DPDK mbuf.
    #[cfg(feature = "dpdk")]
    Dpdk(mtcp_io_dpdk::DpdkTxFrame),
    /// A netmap buffer (swapped into the TX ring).
    #[cfg(target_os = "linux")]
    Netmap(mtcp_io_netmap::NetmapTxFrame),
}

impl Deref for AnyTx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            AnyTx::Pool(b) => b,
            #[cfg(feature = "dpdk")]
            AnyTx::Dpdk(b) => b,
            #[cfg(target_os = "linux")]
            AnyTx::Netmap(b) => b,
        }
    }
}

impl DerefMut for AnyTx {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            AnyTx::Pool(b) => b,
            #[cfg(feature = "dpdk")]
            AnyTx::Dpdk(b) => b,
            #[cfg(target_os = "linux")]
            AnyTx::Netmap(b) => b,
        }
    }
}

impl TxFrame for AnyTx {
    fn capacity(&self) -> usize {
        match self {
            AnyTx::Pool(b) => b.capacity(),
            #[cfg(feature = "dpdk")]
            AnyTx::Dpdk(b) => b.capacity(),
            #[cfg(target_os = "linux")]
            AnyTx::Netmap(b) => b.capacity(),
        }
    }

    fn set_len(&mut self, len: usize) {
        match self {
            AnyTx::Pool(b) => b.set_len(len),
            #[cfg(feature = "dpdk")]
            AnyTx::Dpdk(b) => b.set_len(len),
            #[cfg(target_os = "linux")]
            AnyTx::Netmap(b) => b.set_len(len),
        }
    }

    fn set_offload(&mut self, offload: TxOffload) {
        match self {
            AnyTx::Pool(b) => b.set_offload(offload),
            #[cfg(feature = "dpdk")]
            AnyTx::Dpdk(b) => b.set_offload(offload),
            #[cfg(target_os = "linux")]
            AnyTx::Netmap(b) => b.set_offload(offload),
        }
    }
}

fn pool_tx(f: AnyTx) -> Option<PoolBuf> {
    match f {
        AnyTx::Pool(b) => Some(b),
        #[cfg(feature = "dpdk")]
        AnyTx::Dpdk(_) => None,
        #[cfg(target_os = "linux")]
        AnyTx::Netmap(_) => None,
    }
}

#[cfg(target_os = "linux")]
fn netmap_tx(f: AnyTx) -> Option<mtcp_io_netmap::NetmapTxFrame> {
    match f {
        AnyTx::Netmap(b) => Some(b),
        _ => None,
    }
}

#[cfg(feature = "dpdk")]
fn dpdk_tx(f: AnyTx) -> Option<mtcp_io_dpdk::DpdkTxFrame> {
    match f {
        AnyTx::Dpdk(b) => Some(b),
        _ => None,
    }
}

/// Transmits `pkts` on `q`: unwraps the frames into a burst of `q`'s own type (frames of another
/// backend — a caller bug — are dropped), sends, and puts the frames `q` did not take back.
fn tx_via<Q: Queue>(
    q: &mut Q,
    pkts: &mut Burst<AnyTx>,
    unwrap: fn(AnyTx) -> Option<Q::Tx>,
    wrap: fn(Q::Tx) -> AnyTx,
) -> io::Result<usize> {
    let mut inner: Burst<Q::Tx> = Burst::new();
    for f in pkts.drain(..) {
        if let Some(f) = unwrap(f) {
            // Cannot fail: `inner` has the same capacity as `pkts`.
            let _ = inner.push(f);
        }
    }
    let sent = q.tx_burst(&mut inner);
    for f in inner.drain(..) {
        // Cannot fail: `pkts` was emptied above and holds at most what it held before.
        let _ = pkts.push(wrap(f));
    }
    sent
}

/// A queue of any backend.
pub enum AnyQueue {
    /// The in-memory switch.
    Mem(MemQueue),
    /// TAP.
    #[cfg(target_os = "linux")]
    Tap(TapQueue),
    /// AF_PACKET.
    #[cfg(target_os = "linux")]
    AfPacket(AfPacketQueue),
    /// DPDK.
    #[cfg(feature = "dpdk")]
    Dpdk(mtcp_io_dpdk::DpdkQueue),
    /// netmap.
    #[cfg(target_os = "linux")]
    Netmap(mtcp_io_netmap::NetmapQueue<mtcp_io_netmap::KernelSync>),
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
    type Tx = AnyTx;

    fn rx_burst(&mut self, out: &mut Burst<AnyRx>) -> io::Result<usize> {
        match self {
            AnyQueue::Mem(q) => rx_via(q, out, AnyRx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => rx_via(q, out, AnyRx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => rx_via(q, out, AnyRx::AfPacket),
            #[cfg(feature = "dpdk")]
            AnyQueue::Dpdk(q) => rx_via(q, out, AnyRx::Dpdk),
            #[cfg(target_os = "linux")]
            AnyQueue::Netmap(q) => rx_via(q, out, AnyRx::Netmap),
            AnyQueue::Fault(q) => rx_via(&mut **q, out, unfault),
        }
    }

    fn tx_alloc(&mut self) -> Option<AnyTx> {
        match self {
            AnyQueue::Mem(q) => q.tx_alloc().map(AnyTx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => q.tx_alloc().map(AnyTx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => q.tx_alloc().map(AnyTx::Pool),
            #[cfg(feature = "dpdk")]
            AnyQueue::Dpdk(q) => q.tx_alloc().map(AnyTx::Dpdk),
            #[cfg(target_os = "linux")]
            AnyQueue::Netmap(q) => q.tx_alloc().map(AnyTx::Netmap),
            AnyQueue::Fault(q) => q.tx_alloc(),
        }
    }

    fn tx_burst(&mut self, pkts: &mut Burst<AnyTx>) -> io::Result<usize> {
        match self {
            AnyQueue::Mem(q) => tx_via(q, pkts, pool_tx, AnyTx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => tx_via(q, pkts, pool_tx, AnyTx::Pool),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => tx_via(q, pkts, pool_tx, AnyTx::Pool),
            #[cfg(feature = "dpdk")]
            AnyQueue::Dpdk(q) => tx_via(q, pkts, dpdk_tx, AnyTx::Dpdk),
            #[cfg(target_os = "linux")]
            AnyQueue::Netmap(q) => tx_via(q, pkts, netmap_tx, AnyTx::Netmap),
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
            #[cfg(feature = "dpdk")]
            AnyQueue::Dpdk(q) => q.wait_rx(timeout),
            #[cfg(target_os = "linux")]
            AnyQueue::Netmap(q) => q.wait_rx(timeout),
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
    /// A DPDK port.
    #[cfg(feature = "dpdk")]
    Dpdk(mtcp_io_dpdk::DpdkDevice),
    /// A netmap port.
    #[cfg(target_os = "linux")]
    Netmap(mtcp_io_netmap::NetmapDevice),
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
            #[cfg(feature = "dpdk")]
            AnyDevice::Dpdk(d) => d.info(),
            #[cfg(target_os = "linux")]
            AnyDevice::Netmap(d) => d.info(),
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
            #[cfg(feature = "dpdk")]
            AnyDevice::Dpdk(d) => AnyQueue::Dpdk(d.queue(index)?),
            #[cfg(target_os = "linux")]
            AnyDevice::Netmap(d) => AnyQueue::Netmap(d.queue(index)?),
            AnyDevice::Fault(d) => AnyQueue::Fault(Box::new(d.queue(index)?)),
        })
    }
}

/// The DPDK configuration `mtcp.conf` asks for: `core_mask` / `num_cores` (one queue pair per
/// core), `num_mem_ch`, the ports of `port`, and `dpdk_eal_args` as extra EAL arguments (which may
/// carry `--vdev ...`, `--file-prefix ...`, `--no-huge -m ...`; the EAL defaults fill in the rest).
pub fn dpdk_config(
    conf: &crate::config::MtcpConf,
) -> Result<mtcp_io_dpdk::DpdkConfig, mtcp_io_dpdk::Error> {
    let mut c = mtcp_io_dpdk::DpdkConfig {
        num_cores: Some(conf.num_cores),
        core_mask: conf.core_mask,
        num_mem_ch: conf.num_mem_ch,
        ports: conf.ports.iter().map(|p| p.name.clone()).collect(),
        eal_args: conf.dpdk_eal_args.clone(),
        ..mtcp_io_dpdk::DpdkConfig::default()
    };
    if let Some(mask) = c.core_mask
        && mask.count_ones() as usize != conf.num_cores
    {
        // `core_mask` decides the cores when both are given and disagree.
        c.num_cores = None;
    }
    c.validate()?;
    Ok(c)
}

/// Starts DPDK's EAL (once per process; the calling thread becomes its main lcore and its network
/// namespace is where virtual devices such as `net_tap` appear) and opens every port of `conf`.
#[cfg(feature = "dpdk")]
pub(crate) fn open_dpdk(
    conf: &crate::config::MtcpConf,
) -> Result<Vec<AnyDevice>, crate::mtcp::InitError> {
    use crate::mtcp::InitError;
    let dconf = dpdk_config(conf).map_err(|e| InitError::Invalid(format!("dpdk: {e}")))?;
    let eal =
        mtcp_io_dpdk::Eal::init(&dconf).map_err(|e| InitError::Invalid(format!("dpdk: {e}")))?;
    conf.ports
        .iter()
        .map(|p| {
            let mut dev = eal
                .open(&p.name, &dconf)
                .map_err(|e| InitError::Invalid(format!("dpdk: {e}")))?;
            // `<port>.mac` replaces the device's own address (kept when the key is absent).
            if let Some(mac) = p.mac {
                dev.set_mac(mac)
                    .map_err(|e| InitError::Invalid(format!("dpdk: port `{}`: {e}", p.name)))?;
            }
            // Virtual links come up at once; a real NIC takes a moment after start.
            dev.wait_link_up(Duration::from_secs(5));
            Ok(AnyDevice::Dpdk(dev))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MtcpConf, PortConf};

    fn conf(cores: usize, mask: Option<u64>, eal: &str) -> MtcpConf {
        MtcpConf {
            num_cores: cores,
            core_mask: mask,
            num_mem_ch: Some(4),
            ports: vec![PortConf {
                name: "net_tap0".into(),
                ip: None,
                netmask: None,
                mac: None,
            }],
            dpdk_eal_args: eal.split_whitespace().map(str::to_owned).collect(),
            ..MtcpConf::default()
        }
    }

    /// Sends `n` frames from `a` to `b`, frame `i` carrying `first + i` in byte 14.
    fn send_frames(a: &mut AnyQueue, n: u8, first: u8) {
        let mut burst = Burst::new();
        for i in 0..n {
            let mut f = a.tx_alloc().expect("pool has buffers");
            f.set_len(60);
            f[..14].fill(0xff);
            f[14] = first + i;
            burst.push(f).ok().expect("burst has room");
        }
        assert_eq!(a.tx_burst(&mut burst).unwrap(), usize::from(n));
    }

    /// A burst that is partly full when passed in takes what fits; the rest stays queued for the
    /// next call instead of being dropped.
    #[test]
    fn rx_into_a_partly_full_burst_loses_nothing() {
        let (mut pa, mut pb) = mtcp_io::mem::MemSwitch::pair();
        let mut a = AnyQueue::Mem(pa.queue(0).unwrap());
        let mut b = AnyQueue::Mem(pb.queue(0).unwrap());
        send_frames(&mut a, 60, 0);
        let mut out = Burst::new();
        assert_eq!(b.rx_burst(&mut out).unwrap(), 60);
        send_frames(&mut a, 10, 100);
        assert_eq!(b.rx_burst(&mut out).unwrap(), 4, "only 4 fit");
        assert!(out.is_full());
        let got: Vec<u8> = out[60..].iter().map(|f| f[14]).collect();
        assert_eq!(got, [100, 101, 102, 103]);
        out.clear();
        assert_eq!(b.rx_burst(&mut out).unwrap(), 6, "the other 6 wait their turn");
        let got: Vec<u8> = out.iter().map(|f| f[14]).collect();
        assert_eq!(got, [104, 105, 106, 107, 108, 109]);
    }

    #[test]
    fn dpdk_config_from_mtcp_conf() {
        let c = dpdk_config(&conf(
            2,
            None,
            "--vdev net_tap0,iface=x --no-huge -m 128 --file-prefix p",
        ))
        .unwrap();
        assert_eq!(c.num_queues(), 2);
        assert_eq!(c.ports, ["net_tap0"]);
        let argv = c
            .eal_argv(mtcp_io_dpdk::Hugepages::Absent)
            .unwrap()
            .join(" ");
        assert_eq!(
            argv,
            "-l 0-1 -n 4 --no-pci --vdev net_tap0,iface=x --no-huge -m 128 --file-prefix p"
        );
        // core_mask decides the cores when it disagrees with num_cores.
        let c = dpdk_config(&conf(2, Some(0b1110), "")).unwrap();
        assert_eq!(c.num_queues(), 3);
        assert!(c.eal_argv(mtcp_io_dpdk::Hugepages::Absent).unwrap()[..2] == ["-c", "0xe"]);
    }
}
