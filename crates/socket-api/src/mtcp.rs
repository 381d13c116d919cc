//! The process-wide instance (`mtcp_init`): configuration, ports, per-core statistics, and the
//! factory of contexts.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_io::{Device, DeviceInfo, Steering};
use mtcp_tcp::{Duration as TcpDuration, Engine};

use crate::backend::{AnyDevice, AnyQueue};
use crate::config::tables::{self, ArpEntry, RouteEntry};
use crate::config::{IoBackend, MtcpConf, PortConf};
use crate::context::Context;
use crate::error::InitError;
use crate::mesh::{CoreMesh, Mesh, MeshCounters};
use crate::netif::NetIf;
use crate::rss::RssSteer;
use crate::stack::Stack;
use crate::stats::{CoreSnapshot, CoreStats};

/// The smallest MTU a link carrying IPv6 may have (RFC 8200 §5).
const IPV6_MIN_MTU: usize = 1280;

/// `struct mtcp_conf`: seven `int`s, in this order (ABI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MtcpConfC {
    /// Cores.
    pub num_cores: i32,
    /// Flows per core.
    pub max_concurrency: i32,
    /// Buffers per core.
    pub max_num_buffers: i32,
    /// Receive buffer bytes.
    pub rcvbuf_size: i32,
    /// Send buffer bytes.
    pub sndbuf_size: i32,
    /// TIME-WAIT, seconds.
    pub tcp_timewait: i32,
    /// Idle timeout, seconds (-1 off).
    pub tcp_timeout: i32,
}

impl MtcpConfC {
    /// Applies the fields > 0 to `conf` (buffer sizes at least 64 bytes), as `mtcp_setconf`
    /// does; `num_cores` only `with_cores` (before init: later it is ignored).
    pub fn apply(&self, conf: &mut MtcpConf, with_cores: bool) {
        let pos = |v: i32| (v > 0).then_some(v as usize);
        if let Some(v) = pos(self.num_cores).filter(|_| with_cores) {
            conf.num_cores = v;
            conf.num_cores_set = true;
        }
        if let Some(v) = pos(self.max_concurrency) {
            conf.max_concurrency = v;
        }
        if let Some(v) = pos(self.max_num_buffers) {
            conf.max_num_buffers = v;
        }
        if let Some(v) = pos(self.rcvbuf_size) {
            conf.rcvbuf_size = v.max(64);
        }
        if let Some(v) = pos(self.sndbuf_size) {
            conf.sndbuf_size = v.max(64);
        }
        if let Some(v) = pos(self.tcp_timewait) {
            conf.tcp_timewait_secs = v as u32;
        }
        if let Some(v) = pos(self.tcp_timeout) {
            conf.tcp_timeout_secs = Some(v as u32);
        }
    }
}

impl From<&MtcpConf> for MtcpConfC {
    /// `mtcp_getconf`'s view of `c` (`tcp_timeout` -1: off).
    fn from(c: &MtcpConf) -> MtcpConfC {
        MtcpConfC {
            num_cores: c.num_cores as i32,
            max_concurrency: c.max_concurrency as i32,
            max_num_buffers: c.max_num_buffers as i32,
            rcvbuf_size: c.rcvbuf_size as i32,
            sndbuf_size: c.sndbuf_size as i32,
            tcp_timewait: c.tcp_timewait_secs as i32,
            tcp_timeout: c.tcp_timeout_secs.map_or(-1, |s| s as i32),
        }
    }
}

/// An mTCP instance: one per process with `mtcp_init`, or several sharing an in-memory switch.
pub struct Mtcp {
    conf: Mutex<MtcpConf>,
    devices: Mutex<Vec<AnyDevice>>,
    arp: Vec<ArpEntry>,
    routes: Vec<RouteEntry>,
    stats: Vec<Arc<CoreStats>>,
    created: Mutex<Vec<bool>>,
    /// Software steering between the cores (more than one core), see [`crate::mesh`].
    mesh: Option<Arc<Mesh>>,
}

impl Mtcp {
    /// `mtcp_init(conf_path)`: reads mtcp.conf, arp.conf and route.conf, opens the backend.
    pub fn init(conf_path: &Path) -> Result<Mtcp, InitError> {
        Mtcp::from_conf(MtcpConf::load(conf_path)?)
    }

    /// [`Mtcp::init`] with a configuration already loaded (and perhaps changed, as
    /// `mtcp_setconf` before `mtcp_init` changes `num_cores`): reads the arp.conf and
    /// route.conf it names and opens the backend with its core count, whatever the backend.
    pub fn from_conf(conf: MtcpConf) -> Result<Mtcp, InitError> {
        let arp = match &conf.arp_conf {
            Some(p) => tables::load(p, tables::parse_arp)?,
            None => Vec::new(),
        };
        let routes = match &conf.route_conf {
            Some(p) => tables::load(p, tables::parse_route)?,
            None => Vec::new(),
        };
        let devices = open_devices(&conf)?;
        Mtcp::build(conf, devices, arp, routes)
    }

    /// An instance whose ports are ports `first_port..` of `switch` (conf's `io` must be `mem`):
    /// several instances on one switch talk to each other in one process.
    pub fn with_switch(
        conf: MtcpConf,
        switch: &MemSwitch,
        first_port: usize,
    ) -> Result<Mtcp, InitError> {
        Mtcp::with_switch_tables(conf, switch, first_port, Vec::new(), Vec::new())
    }

    /// [`Mtcp::with_switch`] with ARP and route tables.
    pub fn with_switch_tables(
        conf: MtcpConf,
        switch: &MemSwitch,
        first_port: usize,
        arp: Vec<ArpEntry>,
        routes: Vec<RouteEntry>,
    ) -> Result<Mtcp, InitError> {
        if conf.io != IoBackend::Mem {
            return Err(InitError::Invalid("with_switch needs `io = mem`".into()));
        }
        let devices = (0..conf.ports.len())
            .map(|i| AnyDevice::Mem(switch.port(first_port + i)))
            .collect();
        Mtcp::build(conf, devices, arp, routes)
    }

    fn build(
        mut conf: MtcpConf,
        devices: Vec<AnyDevice>,
        arp: Vec<ArpEntry>,
        routes: Vec<RouteEntry>,
    ) -> Result<Mtcp, InitError> {
        if conf.ports.is_empty() {
            return Err(InitError::Invalid("no `port` configured".into()));
        }
        for p in &conf.ports {
            if p.ip.is_none() && p.ip6.is_empty() {
                return Err(InitError::Invalid(format!(
                    "port `{}` has no address (`{}.ip` or `.ip6`)",
                    p.name, p.name
                )));
            }
        }
        for r in &routes {
            if !conf.ports.iter().any(|p| p.name == r.ifname) {
                return Err(InitError::Invalid(format!(
                    "route.conf names `{}`, not a configured port",
                    r.ifname
                )));
            }
        }
        // The default core count (every online CPU) is lowered to what the ports allow; a
        // count that was asked for is not.
        let fewest = devices.iter().map(|d| d.info().num_queues).min();
        if let Some(q) = fewest.filter(|&q| q >= 1 && !conf.num_cores_set) {
            conf.num_cores = conf.num_cores.min(q);
        }
        for d in &devices {
            if d.info().num_queues < conf.num_cores {
                return Err(InitError::Invalid(format!(
                    "port {} has {} queues for {} cores: set `num_cores = {}` in mtcp.conf \
                     (or with mtcp_setconf), or give the port more queues",
                    d.info().name,
                    d.info().num_queues,
                    conf.num_cores,
                    d.info().num_queues
                )));
            }
        }
        for (d, p) in devices.iter().zip(&conf.ports) {
            // RFC 8200 §5: IPv6 needs 1280-byte packets; the engine never offers an IPv6 MSS
            // under 1220, so a smaller MTU would drop every full segment.
            if !p.ip6.is_empty() && d.info().mtu < IPV6_MIN_MTU {
                return Err(InitError::Invalid(format!(
                    "port `{}` has an IPv6 address but an MTU of {} (IPv6 needs {IPV6_MIN_MTU})",
                    p.name,
                    d.info().mtu
                )));
            }
        }
        let devices = with_faults(&conf, devices);
        let n = conf.num_cores;
        let frame_size = devices.iter().map(|d| d.info().mtu).max().unwrap_or(1500) + MESH_L2_ROOM;
        let mesh = (n > 1).then(|| Arc::new(Mesh::new(n, devices.len(), frame_size)));
        Ok(Mtcp {
            mesh,
            conf: Mutex::new(conf),
            devices: Mutex::new(devices),
            arp,
            routes,
            stats: (0..n).map(|_| Arc::new(CoreStats::default())).collect(),
            created: Mutex::new(vec![false; n]),
        })
    }

    /// The configuration in effect.
    pub fn conf(&self) -> MtcpConf {
        self.conf.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `mtcp_getconf`.
    pub fn getconf(&self) -> MtcpConfC {
        MtcpConfC::from(&self.conf())
    }

    /// `mtcp_setconf`: applies the fields > 0 (`num_cores` only before init, so it is ignored
    /// here); affects contexts created afterwards.
    pub fn setconf(&self, c: &MtcpConfC) -> crate::error::Result<()> {
        let mut conf = self.conf.lock().unwrap_or_else(|p| p.into_inner());
        c.apply(&mut conf, false);
        Ok(())
    }

    /// `mtcp_create_context(cpu)`: `EINVAL` if `cpu >= num_cores`, `EEXIST` if it exists.
    pub fn create_context(&self, cpu: usize) -> crate::error::Result<Context<AnyQueue>> {
        let conf = self.conf();
        self.claim(cpu)?;
        let (ports, rss, port_mtu) = self.open_ports(&conf, cpu)?;
        let routes = self.routes(&conf, &ports);
        // The engine's MSS follows the smallest port MTU (it does not know which port a
        // connection will use); 1500 only when there is no port. Starting from 1500, as this
        // did, held a 9000-byte link to 1500-byte segments: six times the per-segment work.
        let mut mtu = port_mtu.unwrap_or(1500);
        if let Some(cap) = conf.tcp_mtu {
            mtu = mtu.min(usize::from(cap));
        }
        let engine = Engine::new(engine_config(&conf, mtu), secret(cpu));
        let mut stack = Stack::new(
            cpu,
            engine,
            ports,
            routes,
            conf.max_concurrency,
            Arc::clone(&self.stats[cpu]),
            rss,
        );
        stack.ports.set_routes6(&routes6(&conf));
        stack.mesh = self.mesh.as_ref().map(|mesh| CoreMesh {
            mesh: Arc::clone(mesh),
            cpu,
            counters: MeshCounters::default(),
        });
        Context::new(cpu, stack, conf.run_mode, conf.drain_timeout)
    }

    /// Marks `cpu`'s context as made: `EINVAL` past `num_cores`, `EEXIST` the second time.
    fn claim(&self, cpu: usize) -> crate::error::Result<()> {
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        match created.get_mut(cpu) {
            None => Err(crate::error::Error::Inval),
            Some(true) => Err(crate::error::Error::Exist),
            Some(c) => {
                *c = true;
                Ok(())
            }
        }
    }

    /// Each port's queue for `cpu` as an interface, its RSS steering, and the smallest port MTU
    /// (`None` without ports).
    fn open_ports(&self, conf: &MtcpConf, cpu: usize) -> crate::error::Result<OpenPorts> {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        let mut ports = Vec::new();
        let mut rss = Vec::new();
        let mut mtu = None::<usize>;
        for (d, pc) in devices.iter_mut().zip(&conf.ports) {
            let info = d.info().clone();
            mtu = Some(mtu.map_or(info.mtu, |m| m.min(info.mtu)));
            let q = d.queue(cpu).map_err(|_| crate::error::Error::Inval)?;
            // A NIC's Toeplitz RSS keeps flows on their core: clients pick source ports by it.
            // Any other device, with several cores, is steered by the mesh in software.
            let port_rss = match &info.steering {
                Steering::Toeplitz { key, reta } if info.num_queues > 1 => Some(Arc::new(
                    RssSteer::new(key, reta.clone(), cpu as u16, false),
                )),
                _ if conf.num_cores > 1 => Some(Arc::new(RssSteer::software(conf.num_cores, cpu))),
                _ => None,
            };
            rss.push(port_rss);
            let iface = self.interface_config(pc, &info);
            ports.push(NetIf::new(
                pc.name.clone(),
                mtcp_net::Interface::new(iface),
                q,
            ));
        }
        Ok((ports, rss, mtu))
    }

    /// The network interface of port `pc` on a device described by `info`.
    fn interface_config(&self, pc: &PortConf, info: &DeviceInfo) -> mtcp_net::InterfaceConfig {
        let ip = pc.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        // The parser refuses netmasks with holes; for one built in code, its leading ones.
        let prefix_len = pc.netmask.map_or(24, |m| u32::from(m).leading_ones() as u8);
        let mut iface = mtcp_net::InterfaceConfig::new(pc.mac.unwrap_or(info.mac), ip, prefix_len);
        iface.mtu = info.mtu;
        iface.checksum = mtcp_net::capabilities_from_offload(info.checksum);
        iface.static_arp = self.arp.iter().map(net_arp_entry).collect();
        iface.max_waiting = MAX_WAITING_FOR_ARP;
        iface.ipv6 = pc.ip6.clone();
        iface.static_nd = pc.nd6.clone();
        iface
    }

    /// The IPv4 routes: route.conf's entries first (among equal prefixes they win over the
    /// ports' own subnets), then each addressed port's subnet.
    fn routes(&self, conf: &MtcpConf, ports: &[NetIf<AnyQueue>]) -> mtcp_net::RouteTable {
        let mut routes = mtcp_net::RouteTable::new();
        for r in &self.routes {
            if let Some(iface) = conf.ports.iter().position(|p| p.name == r.ifname) {
                routes.add(mtcp_net::Route {
                    addr: r.ip,
                    prefix_len: r.prefix,
                    iface,
                    gateway: None,
                });
            }
        }
        for (iface, p) in ports
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.ip().is_unspecified())
        {
            routes.add(mtcp_net::Route {
                addr: p.ip(),
                prefix_len: p.prefix_len(),
                iface,
                gateway: None,
            });
        }
        routes
    }

    /// The last published counters of every core (index = cpu).
    pub fn snapshots(&self) -> Vec<CoreSnapshot> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// mTCP's stats lines for the interval from `prev` to now (see [`crate::stats::format_lines`]).
    pub fn stats_lines(&self, prev: &[CoreSnapshot], secs: f64) -> String {
        let port = self
            .conf()
            .ports
            .first()
            .map_or(String::new(), |p| p.name.clone());
        crate::stats::format_lines(&port, &self.snapshots(), prev, secs)
    }
}

/// Room for the link-layer header (with a VLAN tag) beyond the MTU in a mesh buffer.
const MESH_L2_ROOM: usize = 18;

/// Datagrams each port of each context parks while their next hop resolves (the first SYNs of
/// many connections to one new peer); each holds a frame-sized slot allocated at start-up.
const MAX_WAITING_FOR_ARP: usize = 256;

/// What [`Mtcp::open_ports`] opens for a core: its interfaces, each port's RSS steering (if
/// any), and the smallest port MTU.
type OpenPorts = (
    Vec<NetIf<AnyQueue>>,
    Vec<Option<Arc<RssSteer>>>,
    Option<usize>,
);

/// The IPv6 routes of mtcp.conf's ports.
fn routes6(conf: &MtcpConf) -> Vec<mtcp_net::Route6> {
    (conf.ports.iter().enumerate())
        .flat_map(|(iface, p)| {
            p.route6.iter().map(move |r| mtcp_net::Route6 {
                addr: r.addr,
                prefix_len: r.prefix_len,
                iface,
                gateway: r.gateway,
            })
        })
        .collect()
}

fn net_arp_entry(e: &ArpEntry) -> mtcp_net::ArpEntry {
    mtcp_net::ArpEntry {
        addr: e.ip,
        prefix_len: e.prefix,
        mac: e.mac,
    }
}

fn engine_config(conf: &MtcpConf, mtu: usize) -> mtcp_tcp::Config {
    mtcp_tcp::Config {
        mtu: mtu.min(usize::from(u16::MAX)) as u16,
        send_buffer_bytes: conf.sndbuf_size,
        recv_buffer_bytes: conf.rcvbuf_size,
        time_wait: TcpDuration::from_secs(u64::from(conf.tcp_timewait_secs)),
        // Not TIME-WAIT's length (0 s by default): see `MtcpConf::tcp_fin_timeout_secs`. The
        // idle timeout (`tcp_timeout`) ends FIN-WAIT-2 sooner when set.
        fin_wait2_timeout: Some(TcpDuration::from_secs(u64::from(conf.tcp_fin_timeout_secs))),
        idle_timeout: conf
            .tcp_timeout_secs
            .map(|s| TcpDuration::from_secs(u64::from(s))),
        max_connections: conf.max_concurrency.max(1) * 2,
        congestion_control: conf.tcp_cc,
        min_rto: TcpDuration::from_millis(conf.tcp_rto_min_ms),
        // mTCP's pools: `max_num_buffers` send and as many receive buffers per core.
        max_buffer_bytes: conf
            .max_num_buffers
            .saturating_mul(conf.sndbuf_size.saturating_add(conf.rcvbuf_size)),
        ..mtcp_tcp::Config::default()
    }
}

/// The ISN/SYN-cookie key of one context (RFC 6528): 16 bytes from the OS's random source.
fn secret(cpu: usize) -> [u8; 16] {
    use std::io::Read;
    let mut out = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .is_err()
    {
        // No /dev/urandom (a chroot, say): std's hasher keys are drawn from the OS at start-up.
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut h = RandomState::new().build_hasher();
            h.write_usize(cpu ^ (i << 8));
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    out
}

/// Wraps every device in the `fault_*` impairment, if the configuration asks for any.
fn with_faults(conf: &MtcpConf, devices: Vec<AnyDevice>) -> Vec<AnyDevice> {
    if conf.fault.is_none() {
        return devices;
    }
    devices
        .into_iter()
        .enumerate()
        .map(|(port, d)| {
            let (mut tx, mut rx) = conf.fault.tx_rx();
            // Each port draws its own decisions (the wrapper further mixes in the queue).
            let salt = (port as u64).wrapping_mul(0xd6e8_feb8_6659_fd93);
            tx.seed ^= salt;
            rx.seed ^= salt;
            AnyDevice::Fault(Box::new(mtcp_io::fault::Fault::new(d, tx, rx)))
        })
        .collect()
}

fn open_devices(conf: &MtcpConf) -> Result<Vec<AnyDevice>, InitError> {
    match conf.io {
        IoBackend::Mem => {
            let switch = MemSwitch::new(MemConfig {
                ports: conf.ports.len().max(1),
                queues: conf.num_cores,
                ..MemConfig::default()
            })?;
            Ok((0..conf.ports.len())
                .map(|i| AnyDevice::Mem(switch.port(i)))
                .collect())
        }
        #[cfg(target_os = "linux")]
        IoBackend::Tap => conf
            .ports
            .iter()
            .map(|p| {
                let mut c = mtcp_io::tap::TapConfig::new(&p.name);
                c.queues = conf.num_cores;
                c.mac = p.mac;
                Ok(AnyDevice::Tap(mtcp_io::tap::TapDevice::open(&c)?))
            })
            .collect(),
        #[cfg(target_os = "linux")]
        IoBackend::AfPacket => conf
            .ports
            .iter()
            .map(|p| {
                Ok(AnyDevice::AfPacket(
                    mtcp_io::afpacket::AfPacketDevice::open(
                        &conf.afpacket_device(p, conf.num_cores),
                    )?,
                ))
            })
            .collect(),
        #[cfg(target_os = "linux")]
        IoBackend::AfXdp => conf
            .ports
            .iter()
            .map(|p| {
                let c = conf.xdp.device(p, conf.num_cores);
                let dev = mtcp_io_xdp::XdpDevice::open(&c)
                    .map_err(|e| InitError::Invalid(e.to_string()))?;
                let b = dev.binding();
                eprintln!(
                    "[mtcp] port {}: AF_XDP, {:?} XDP, {}, {} queue(s)",
                    p.name,
                    b.mode,
                    if b.zero_copy {
                        "zero copy"
                    } else {
                        "copy mode"
                    },
                    c.queues
                );
                Ok(AnyDevice::Xdp(dev))
            })
            .collect(),
        #[cfg(feature = "dpdk")]
        IoBackend::Dpdk => crate::backend::open_dpdk(conf),
        // netmap: each `port` is a netmap port name (`netmap:eth0`, `vale0:p`, ...); its rings are
        // the per-core queues. Needs the netmap kernel module (`/dev/netmap`).
        #[cfg(target_os = "linux")]
        IoBackend::Netmap => conf
            .ports
            .iter()
            .map(|p| {
                let dev = mtcp_io_netmap::NetmapDevice::open(&p.name)
                    .map_err(|e| InitError::Invalid(format!("netmap: port `{}`: {e}", p.name)))?;
                Ok(AnyDevice::Netmap(dev))
            })
            .collect(),
        // Reached without the `dpdk` feature or off Linux; with both, every backend has its arm.
        #[allow(unreachable_patterns)]
        other => Err(InitError::Invalid(format!(
            "io backend {other:?} is provided by its own crate and not linked into this build"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_reach_the_engine() {
        let conf =
            MtcpConf::parse("tcp_timewait = 0\ntcp_fin_timeout = 15\ntcp_timeout = 7").unwrap();
        let c = engine_config(&conf, 1500);
        assert_eq!(c.time_wait, TcpDuration::from_secs(0));
        assert_eq!(c.fin_wait2_timeout, Some(TcpDuration::from_secs(15)));
        assert_eq!(c.idle_timeout, Some(TcpDuration::from_secs(7)));
    }
}
