//! Run-time choice of the packet-I/O backend (`io = ...`): [`AnyQueue`] is a [`Queue`] over the
//! backends this crate can open, so a context is `Context<AnyQueue>` whatever the config says.
//!
//! One dispatch mechanism: each backend's queue implements the small [`Member`] trait (how its
//! frames become [`AnyRx`] / [`AnyTx`] and back), and the `each_*!` macros below hold the one list
//! of variants every `match` uses. Received frames go straight into the caller's burst, wrapped on
//! the way in ([`mtcp_io::WrapInto`]), so a partly full burst takes exactly what fits and nothing
//! is dropped. Transmitted frames are read in place by the backend through a [`TxBatch`] view of
//! the caller's burst (`tx_via`): no second burst either way.
//!
//! Adding a backend (say AF_XDP) is one change in this file: a variant of [`AnyQueue`] and of
//! [`AnyDevice`], its arm in `each_queue!` and `each_device!`, an `impl Member` of three
//! one-line functions, and (only if its frames are their own types) a variant of [`AnyRx`] /
//! [`AnyTx`] with its arm in `each_rx!` / `each_tx!`. Then a branch in `Mtcp::init`'s device
//! opening (`open_devices` in `mtcp.rs`).
//!
//! DPDK (`io = dpdk`) is here behind the cargo feature `dpdk`: `open_dpdk` starts DPDK's EAL
//! from `mtcp.conf` (`core_mask` / `num_cores`, `num_mem_ch`, `dpdk_eal_args`) and opens the
//! ports listed in `port`, one rx/tx queue pair per core.

use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use mtcp_io::fault::{Fault, FaultQueue, FaultRx};
use mtcp_io::mem::{MemPort, MemQueue};
use mtcp_io::pool::PoolBuf;
use mtcp_io::{
    Burst, Device, DeviceInfo, Queue, RxFrame, RxMeta, RxSink, TxBatch, TxFrame, TxOffload,
    WrapInto,
};

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
    /// An AF_XDP UMEM frame (zero copy; back on its free list on drop).
    #[cfg(target_os = "linux")]
    Xdp(mtcp_io_xdp::XdpRxFrame),
}

/// `match` over the variants of [`AnyRx`], binding the frame to `$f`.
macro_rules! each_rx {
    ($v:expr, $f:ident => $e:expr) => {
        match $v {
            AnyRx::Pool($f) => $e,
            #[cfg(target_os = "linux")]
            AnyRx::AfPacket($f) => $e,
            #[cfg(feature = "dpdk")]
            AnyRx::Dpdk($f) => $e,
            #[cfg(target_os = "linux")]
            AnyRx::Netmap($f) => $e,
            #[cfg(target_os = "linux")]
            AnyRx::Xdp($f) => $e,
        }
    };
}

impl Deref for AnyRx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        each_rx!(self, b => b)
    }
}

impl RxFrame for AnyRx {
    fn meta(&self) -> RxMeta {
        each_rx!(self, b => b.meta())
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
    /// An AF_XDP UMEM frame (handed to the TX ring in place).
    #[cfg(target_os = "linux")]
    Xdp(mtcp_io_xdp::XdpTxFrame),
}

/// `match` over the variants of [`AnyTx`], binding the frame to `$f`.
macro_rules! each_tx {
    ($v:expr, $f:ident => $e:expr) => {
        match $v {
            AnyTx::Pool($f) => $e,
            #[cfg(feature = "dpdk")]
            AnyTx::Dpdk($f) => $e,
            #[cfg(target_os = "linux")]
            AnyTx::Netmap($f) => $e,
            #[cfg(target_os = "linux")]
            AnyTx::Xdp($f) => $e,
        }
    };
}

impl Deref for AnyTx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        each_tx!(self, b => b)
    }
}

impl DerefMut for AnyTx {
    fn deref_mut(&mut self) -> &mut [u8] {
        each_tx!(self, b => b)
    }
}

impl TxFrame for AnyTx {
    #[inline]
    fn capacity(&self) -> usize {
        each_tx!(self, b => b.capacity())
    }

    #[inline]
    fn set_len(&mut self, len: usize) {
        each_tx!(self, b => b.set_len(len))
    }

    fn set_offload(&mut self, offload: TxOffload) {
        each_tx!(self, b => b.set_offload(offload))
    }
}

/// A backend's queue as a member of [`AnyQueue`]: how its frames become [`AnyRx`] / [`AnyTx`] and
/// back. The only per-backend code the dispatch needs.
pub trait Member: Queue {
    /// A received frame as an [`AnyRx`].
    fn wrap_rx(frame: Self::Rx) -> AnyRx;
    /// A transmit frame as an [`AnyTx`].
    fn wrap_tx(frame: Self::Tx) -> AnyTx;
    /// An [`AnyTx`] as this backend's frame; `None` for another backend's frame (a caller bug).
    fn unwrap_tx(frame: AnyTx) -> Option<Self::Tx>;
    /// This backend's frame inside an [`AnyTx`], in place.
    fn tx_ref(frame: &AnyTx) -> Option<&Self::Tx>;
    /// The same, mutably.
    fn tx_mut(frame: &mut AnyTx) -> Option<&mut Self::Tx>;
}

/// [`Member`] for a queue whose received frames are the [`AnyRx`] variant `$rx` and whose
/// transmit frames are the [`AnyTx`] variant `$tx`.
macro_rules! member {
    ($q:ty, $rx:path, $tx:path) => {
        impl Member for $q {
            fn wrap_rx(frame: Self::Rx) -> AnyRx {
                $rx(frame)
            }
            fn wrap_tx(frame: Self::Tx) -> AnyTx {
                $tx(frame)
            }
            fn unwrap_tx(frame: AnyTx) -> Option<Self::Tx> {
                #[allow(irrefutable_let_patterns)]
                if let $tx(b) = frame { Some(b) } else { None }
            }
            fn tx_ref(frame: &AnyTx) -> Option<&Self::Tx> {
                #[allow(irrefutable_let_patterns)]
                if let $tx(b) = frame { Some(b) } else { None }
            }
            fn tx_mut(frame: &mut AnyTx) -> Option<&mut Self::Tx> {
                #[allow(irrefutable_let_patterns)]
                if let $tx(b) = frame { Some(b) } else { None }
            }
        }
    };
}

member!(MemQueue, AnyRx::Pool, AnyTx::Pool);
#[cfg(target_os = "linux")]
member!(TapQueue, AnyRx::Pool, AnyTx::Pool);
#[cfg(target_os = "linux")]
member!(AfPacketQueue, AnyRx::AfPacket, AnyTx::Pool);
#[cfg(feature = "dpdk")]
member!(mtcp_io_dpdk::DpdkQueue, AnyRx::Dpdk, AnyTx::Dpdk);
#[cfg(target_os = "linux")]
member!(
    mtcp_io_netmap::NetmapQueue<mtcp_io_netmap::KernelSync>,
    AnyRx::Netmap,
    AnyTx::Netmap
);
#[cfg(target_os = "linux")]
member!(mtcp_io_xdp::XdpQueue, AnyRx::Xdp, AnyTx::Xdp);

/// The impairment wrapper over any backend: its transmit frames already are [`AnyTx`]; duplicated
/// received frames are pool buffers.
impl Member for FaultQueue<AnyQueue> {
    fn wrap_rx(frame: FaultRx<AnyRx>) -> AnyRx {
        match frame {
            FaultRx::Inner(r) => r,
            FaultRx::Copy(c) => AnyRx::Pool(c),
        }
    }
    fn wrap_tx(frame: AnyTx) -> AnyTx {
        frame
    }
    fn unwrap_tx(frame: AnyTx) -> Option<AnyTx> {
        Some(frame)
    }
    fn tx_ref(frame: &AnyTx) -> Option<&AnyTx> {
        Some(frame)
    }
    fn tx_mut(frame: &mut AnyTx) -> Option<&mut AnyTx> {
        Some(frame)
    }
}

/// A batch of [`AnyTx`] seen by backend `Q` as a batch of its own frames, in place.
struct TxView<'a, B, Q>(&'a mut B, std::marker::PhantomData<Q>);

impl<B: TxBatch<AnyTx>, Q: Member> TxBatch<Q::Tx> for TxView<'_, B, Q> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> Option<&Q::Tx> {
        self.0.get(i).and_then(Q::tx_ref)
    }
    fn get_mut(&mut self, i: usize) -> Option<&mut Q::Tx> {
        self.0.get_mut(i).and_then(Q::tx_mut)
    }
    fn consume(&mut self, n: usize) {
        self.0.consume(n);
    }
    fn take_while(&mut self, take: &mut dyn FnMut(Q::Tx) -> Option<Q::Tx>) -> usize {
        // A frame of another backend (a caller bug) is dropped.
        self.0
            .take_while(&mut |any| Q::unwrap_tx(any).and_then(|f| take(f).map(Q::wrap_tx)))
    }
}

/// Transmits from `pkts` on `q`, the backend reading the frames in place (no second burst).
fn tx_via<Q: Member, B: TxBatch<AnyTx>>(q: &mut Q, pkts: &mut B) -> io::Result<usize> {
    q.tx_from(&mut TxView::<B, Q>(pkts, std::marker::PhantomData))
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
    /// AF_XDP.
    #[cfg(target_os = "linux")]
    Xdp(mtcp_io_xdp::XdpQueue),
    /// Any of the above behind the `fault_*` impairment (boxed: the type is recursive).
    Fault(Box<FaultQueue<AnyQueue>>),
}

/// `match` over the variants of [`AnyQueue`], binding the backend's queue (`&mut`) to `$q`.
macro_rules! each_queue {
    ($v:expr, $q:ident => $e:expr) => {
        match $v {
            AnyQueue::Mem($q) => $e,
            #[cfg(target_os = "linux")]
            AnyQueue::Tap($q) => $e,
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket($q) => $e,
            #[cfg(feature = "dpdk")]
            AnyQueue::Dpdk($q) => $e,
            #[cfg(target_os = "linux")]
            AnyQueue::Netmap($q) => $e,
            #[cfg(target_os = "linux")]
            AnyQueue::Xdp($q) => $e,
            AnyQueue::Fault(boxed) => {
                let $q = &mut **boxed;
                $e
            }
        }
    };
}

/// Receives from `q` straight into `out`, each frame wrapped as an [`AnyRx`]: no second burst,
/// and at most `out`'s free room (the rest stays queued in the backend).
fn rx_via<Q: Member, S: RxSink<AnyRx>>(q: &mut Q, out: &mut S) -> io::Result<usize> {
    q.rx_into(&mut WrapInto {
        out,
        wrap: Q::wrap_rx,
    })
}

impl Queue for AnyQueue {
    type Rx = AnyRx;
    type Tx = AnyTx;

    fn rx_burst(&mut self, out: &mut Burst<AnyRx>) -> io::Result<usize> {
        self.rx_into(out)
    }

    fn rx_into<S: RxSink<AnyRx>>(&mut self, out: &mut S) -> io::Result<usize> {
        each_queue!(self, q => rx_via(q, out))
    }

    fn tx_alloc(&mut self) -> Option<AnyTx> {
        each_queue!(self, q => tx_alloc_via(q))
    }

    /// AF_PACKET's (the kernel's GSO); the other backends cut nothing (a DPDK NIC's TSO is
    /// not asked for yet).
    fn tcp_segmentation(&self) -> usize {
        match self {
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => q.tcp_segmentation(),
            _ => 0,
        }
    }

    fn tx_alloc_large(&mut self) -> Option<AnyTx> {
        match self {
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => tx_alloc_large_via(q),
            _ => None,
        }
    }

    fn tx_burst(&mut self, pkts: &mut Burst<AnyTx>) -> io::Result<usize> {
        // Frames of another backend (a caller bug) would stop the burst: drop them first.
        each_queue!(self, q => {
            pkts.retain(|f| member_tx_ref(&*q, f));
            tx_via(q, pkts)
        })
    }

    fn tx_from<B: TxBatch<AnyTx>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        each_queue!(self, q => tx_via(q, pkts))
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        each_queue!(self, q => q.wait_rx(timeout))
    }

    /// The backend's descriptor: without it the threaded stack thread's idle waits in
    /// `epoll_wait` were timed parks that no frame ended (20 us asked, ~70 us slept with the
    /// timer slack), the wait between an AF_XDP or AF_PACKET request and its reply.
    fn rx_fd(&self) -> Option<std::os::fd::RawFd> {
        match self {
            AnyQueue::Mem(q) => q.rx_fd(),
            #[cfg(target_os = "linux")]
            AnyQueue::Tap(q) => q.rx_fd(),
            #[cfg(target_os = "linux")]
            AnyQueue::AfPacket(q) => q.rx_fd(),
            #[cfg(feature = "dpdk")]
            AnyQueue::Dpdk(q) => q.rx_fd(),
            #[cfg(target_os = "linux")]
            AnyQueue::Netmap(q) => q.rx_fd(),
            #[cfg(target_os = "linux")]
            AnyQueue::Xdp(q) => q.rx_fd(),
            AnyQueue::Fault(boxed) => boxed.rx_fd(),
        }
    }

    fn recycle(&mut self, frame: AnyRx) {
        // The in-memory link reuses received buffers for its transmissions; the others free them.
        match (self, frame) {
            (AnyQueue::Mem(q), AnyRx::Pool(b)) => q.recycle(b),
            (_, frame) => drop(frame),
        }
    }
}

/// Whether `f` is a frame of `q`'s backend.
fn member_tx_ref<Q: Member>(_q: &Q, f: &AnyTx) -> bool {
    Q::tx_ref(f).is_some()
}

fn tx_alloc_via<Q: Member>(q: &mut Q) -> Option<AnyTx> {
    q.tx_alloc().map(Q::wrap_tx)
}

fn tx_alloc_large_via<Q: Member>(q: &mut Q) -> Option<AnyTx> {
    q.tx_alloc_large().map(Q::wrap_tx)
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
    /// An AF_XDP port.
    #[cfg(target_os = "linux")]
    Xdp(mtcp_io_xdp::XdpDevice),
    /// Any of the above behind the `fault_*` impairment.
    Fault(Box<Fault<AnyDevice>>),
}

/// `match` over the variants of [`AnyDevice`], binding the device to `$d` and naming the
/// matching [`AnyQueue`] variant `$wrap` (a function from the device's queue).
macro_rules! each_device {
    ($v:expr, $d:ident, $wrap:ident => $e:expr) => {
        match $v {
            AnyDevice::Mem($d) => {
                let $wrap = AnyQueue::Mem;
                $e
            }
            #[cfg(target_os = "linux")]
            AnyDevice::Tap($d) => {
                let $wrap = AnyQueue::Tap;
                $e
            }
            #[cfg(target_os = "linux")]
            AnyDevice::AfPacket($d) => {
                let $wrap = AnyQueue::AfPacket;
                $e
            }
            #[cfg(feature = "dpdk")]
            AnyDevice::Dpdk($d) => {
                let $wrap = AnyQueue::Dpdk;
                $e
            }
            #[cfg(target_os = "linux")]
            AnyDevice::Netmap($d) => {
                let $wrap = AnyQueue::Netmap;
                $e
            }
            #[cfg(target_os = "linux")]
            AnyDevice::Xdp($d) => {
                let $wrap = AnyQueue::Xdp;
                $e
            }
            AnyDevice::Fault($d) => {
                let $wrap = |q| AnyQueue::Fault(Box::new(q));
                $e
            }
        }
    };
}

impl Device for AnyDevice {
    type Queue = AnyQueue;

    fn info(&self) -> &DeviceInfo {
        each_device!(self, d, _wrap => d.info())
    }

    fn queue(&mut self, index: usize) -> io::Result<AnyQueue> {
        each_device!(self, d, wrap => d.queue(index).map(wrap))
    }
}

/// The DPDK configuration `mtcp.conf` asks for: `core_mask` / `num_cores` (one queue pair per
/// core), `num_mem_ch`, the ports of `port`, `dpdk_mtu`, `dpdk_trust_checksums`, and `dpdk_eal_args` as extra EAL arguments (which may
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
        mtu: conf.dpdk_mtu,
        trust_checksums: conf.dpdk_trust_checksums,
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
) -> Result<Vec<AnyDevice>, crate::error::InitError> {
    use crate::error::InitError;
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
            // Virtual links come up at once; a real NIC takes a moment after start. A memif
            // server's link comes up when its client connects, after we serve: no wait.
            if !dev.link_waits_for_peer() {
                dev.wait_link_up(Duration::from_secs(5));
            }
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
                ip6: Vec::new(),
                route6: Vec::new(),
                nd6: Vec::new(),
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

    /// The threaded stack thread waits on the queue's descriptor only when `AnyQueue` hands it
    /// on; it answered `None` before, and those waits were timed parks no frame ended.
    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "needs root: network namespaces, veth, AF_PACKET"]
    fn a_descriptor_backed_queue_hands_its_descriptor_on() {
        use mtcp_io::afpacket::AfPacketConfig;
        use mtcp_testkit::{Netns, require_root, unique_name};
        require_root("a_descriptor_backed_queue_hands_its_descriptor_on");
        let ns = Netns::new(&unique_name("bfd")).unwrap();
        let (a, _b) = ns.veth_pair("bfa", "bfb").unwrap();
        ns.exec_ok(&["ip", "link", "set", &a, "up"]).unwrap();
        let (inner, outer) = ns
            .run(move || {
                let mut dev = AfPacketDevice::open(&AfPacketConfig::new(&a)).unwrap();
                let q = dev.queue(0).unwrap();
                let inner = q.rx_fd();
                (inner, AnyQueue::AfPacket(q).rx_fd())
            })
            .unwrap();
        assert!(inner.is_some());
        assert_eq!(outer, inner);
        let (mut pa, _pb) = mtcp_io::mem::MemSwitch::pair();
        assert_eq!(AnyQueue::Mem(pa.queue(0).unwrap()).rx_fd(), None);
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
        assert_eq!(
            b.rx_burst(&mut out).unwrap(),
            6,
            "the other 6 wait their turn"
        );
        let got: Vec<u8> = out.iter().map(|f| f[14]).collect();
        assert_eq!(got, [104, 105, 106, 107, 108, 109]);
    }

    /// Transmit reads the caller's burst in place: what the device refuses (a full ring) stays
    /// in the burst, in order, and goes out on a later call.
    #[test]
    fn tx_leaves_refused_frames_in_order() {
        let switch = mtcp_io::mem::MemSwitch::new(mtcp_io::mem::MemConfig {
            ring_size: 16,
            ..mtcp_io::mem::MemConfig::default()
        })
        .unwrap();
        let (mut pa, mut pb) = (switch.port(0), switch.port(1));
        let dst = pb.info().mac;
        let mut a = AnyQueue::Mem(pa.queue(0).unwrap());
        let mut b = AnyQueue::Mem(pb.queue(0).unwrap());
        let mut burst = Burst::new();
        for i in 0..40u8 {
            let mut f = a.tx_alloc().expect("pool has buffers");
            f.set_len(60);
            f[..14].fill(0x02);
            f[..6].copy_from_slice(&dst.0);
            f[14] = i;
            burst.push(f).ok().expect("burst has room");
        }
        let sent = a.tx_burst(&mut burst).unwrap();
        assert!(sent < 40, "the ring takes only part");
        assert_eq!(burst.len(), 40 - sent);
        assert_eq!(burst[0][14] as usize, sent, "the first refused frame leads");
        let mut got = Vec::new();
        while !burst.is_empty() || got.len() < 40 {
            let mut out = Burst::new();
            b.rx_burst(&mut out).unwrap();
            got.extend(out.iter().map(|f| f[14]));
            a.tx_burst(&mut burst).unwrap();
        }
        assert_eq!(
            got,
            (0..40).collect::<Vec<u8>>(),
            "every frame once, in order"
        );
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
        // `dpdk_mtu` becomes the ports' MTU; out of range it is refused.
        assert_eq!(dpdk_config(&conf(1, None, "")).unwrap().mtu, None);
        let mut jumbo = conf(1, None, "");
        jumbo.dpdk_mtu = Some(9000);
        assert_eq!(dpdk_config(&jumbo).unwrap().mtu, Some(9000));
        jumbo.dpdk_mtu = Some(30);
        assert!(dpdk_config(&jumbo).is_err());
        let parsed = crate::config::MtcpConf::parse("dpdk_mtu = 9000").unwrap();
        assert_eq!(parsed.dpdk_mtu, Some(9000));
        // `dpdk_trust_checksums` is off unless set, and passed on.
        assert!(!dpdk_config(&conf(1, None, "")).unwrap().trust_checksums);
        let parsed = crate::config::MtcpConf::parse("dpdk_trust_checksums = 1").unwrap();
        assert!(dpdk_config(&parsed).unwrap().trust_checksums);
        assert!(crate::config::MtcpConf::parse("dpdk_trust_checksums = 2").is_err());
    }
}
