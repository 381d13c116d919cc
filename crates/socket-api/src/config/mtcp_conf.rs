//! `mtcp.conf`: `key = value` lines with `#` comments, mTCP's keys plus the port addresses that
//! mTCP would read from a kernel interface (which needs its `dpdk-iface-kmod` helper module).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

#[cfg(target_os = "linux")]
use mtcp_io::afpacket::AfPacketConfig;
use mtcp_io::fault::FaultConfig;
use mtcp_wire::EthernetAddress;

use super::ConfigError;

/// The packet-I/O backend, the `io` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoBackend {
    /// The in-memory switch (no privileges, no NIC).
    #[default]
    Mem,
    /// Linux TAP.
    Tap,
    /// AF_PACKET with TPACKET_V3 rings.
    AfPacket,
    /// AF_XDP.
    AfXdp,
    /// DPDK.
    Dpdk,
    /// netmap.
    Netmap,
}

/// The AF_XDP settings (`io = afxdp`): the `xdp_*` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpConf {
    /// Native or generic XDP (`xdp_mode = auto|native|generic`; default auto).
    pub mode: mtcp_io_xdp::XdpMode,
    /// Zero copy (`xdp_zero_copy = auto|on|off`; default auto).
    pub zero_copy: mtcp_io_xdp::ZeroCopy,
    /// UMEM frames per queue (`xdp_frames`, a power of two; default 32768 of 2 KiB at MTU 1500).
    pub frames: u32,
    /// Fill and completion ring entries (`xdp_fill_size`, a power of two; default 16384).
    pub fill_size: u32,
    /// RX and TX ring entries (`xdp_ring_size`, a power of two; default 16384).
    pub ring_size: u32,
    /// Share the port with the host (`xdp_pass_foreign = 1`): only IPv4 frames to the port's
    /// `ip` and ARP for it come to us, the rest goes to the kernel. Default off (every frame ours).
    pub pass_foreign: bool,
}

impl Default for XdpConf {
    fn default() -> Self {
        let c = mtcp_io_xdp::XdpConfig::new("");
        XdpConf {
            mode: c.mode,
            zero_copy: c.zero_copy,
            frames: c.frame_count,
            fill_size: c.fill_size,
            ring_size: c.ring_size,
            pass_foreign: c.pass_foreign,
        }
    }
}

impl XdpConf {
    /// The device configuration for `port` with `queues` queues.
    pub fn device(&self, port: &PortConf, queues: usize) -> mtcp_io_xdp::XdpConfig {
        mtcp_io_xdp::XdpConfig {
            pass_foreign: self.pass_foreign,
            local_addrs: port.ip.into_iter().collect(),
            queues,
            mode: self.mode,
            zero_copy: self.zero_copy,
            frame_count: self.frames,
            fill_size: self.fill_size,
            ring_size: self.ring_size,
            ..mtcp_io_xdp::XdpConfig::new(&port.name)
        }
    }
}

/// Who drives the stack, the `run_mode` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunMode {
    /// mTCP's: a stack thread per context, talking to the application through lock-free queues.
    #[default]
    Threaded,
    /// The application thread drives the stack inside `epoll_wait`, `read` and `write`.
    RunToCompletion,
}

/// One port: its name and the addresses mTCP would take from a kernel interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConf {
    /// Interface name as the backend knows it.
    pub name: String,
    /// IPv4 address (`<port>.ip`).
    pub ip: Option<Ipv4Addr>,
    /// Netmask (`<port>.netmask`, or a `/prefix` on the address).
    pub netmask: Option<Ipv4Addr>,
    /// MAC address (`<port>.mac`); the device's own when absent.
    pub mac: Option<EthernetAddress>,
    /// IPv6 addresses with their prefix lengths (`<port>.ip6`).
    pub ip6: Vec<(std::net::Ipv6Addr, u8)>,
    /// IPv6 routes through this port (`<port>.route6`).
    pub route6: Vec<super::Route6Conf>,
    /// Static neighbours (`<port>.nd6`): never solicited, never expire.
    pub nd6: Vec<(std::net::Ipv6Addr, EthernetAddress)>,
}

/// Which directions the `fault_*` keys impair, the `fault_direction` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FaultDirection {
    /// Frames we transmit and frames we receive.
    #[default]
    Both,
    /// Only frames we transmit.
    Tx,
    /// Only frames we receive.
    Rx,
}

/// Test-only link impairment of every port (`fault_*` keys): each port's device is wrapped in
/// [`mtcp_io::fault::Fault`] when [`FaultConf::config`] impairs anything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConf {
    /// Loss, duplication, reordering, delay and seed (`fault_loss`, `fault_duplicate`,
    /// `fault_reorder`, `fault_delay_ms`, `fault_seed`).
    pub config: FaultConfig,
    /// Directions impaired (`fault_direction`: `both`, `tx` or `rx`).
    pub direction: FaultDirection,
}

impl FaultConf {
    /// True if no impairment is configured (devices are used unwrapped).
    pub fn is_none(&self) -> bool {
        self.config.is_none()
    }

    /// The (transmit, receive) impairments to give [`mtcp_io::fault::Fault::new`].
    pub fn tx_rx(&self) -> (FaultConfig, FaultConfig) {
        let off = FaultConfig::seeded(self.config.seed);
        match self.direction {
            FaultDirection::Both => (self.config.clone(), self.config.clone()),
            FaultDirection::Tx => (self.config.clone(), off),
            FaultDirection::Rx => (off, self.config.clone()),
        }
    }
}

/// The default `drain_timeout_ms`: long enough for a send buffer to reach a slow peer and for
/// a lost FIN to be sent again a few times (the first retransmission timeout is 1 s), short
/// enough that a program whose peer is gone still exits promptly.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The parsed `mtcp.conf`. Defaults are mTCP's.
#[derive(Clone, Debug, PartialEq)]
pub struct MtcpConf {
    /// Backend (`io`).
    pub io: IoBackend,
    /// Number of cores, hence contexts (`num_cores`); defaults to the CPUs online, lowered at
    /// init to the fewest queues a port has (see [`MtcpConf::num_cores_set`]).
    pub num_cores: usize,
    /// Whether `num_cores` was given (by mtcp.conf or `mtcp_setconf`): then a port with fewer
    /// queues is an error instead of lowering the default.
    pub num_cores_set: bool,
    /// Cores to use (`core_mask`, hex).
    pub core_mask: Option<u64>,
    /// Memory channels, for DPDK (`num_mem_ch`).
    pub num_mem_ch: Option<u32>,
    /// Ports (`port`, space-separated), with their addresses.
    pub ports: Vec<PortConf>,
    /// Flows per core (`max_concurrency`).
    pub max_concurrency: usize,
    /// Buffers per core (`max_num_buffers`): as in mTCP, this many send and this many receive
    /// buffers, so a core's buffer memory is capped at `max_num_buffers x (sndbuf + rcvbuf)`
    /// bytes (taken as data flows, not per connection); past it writes fail with ENOMEM and
    /// arriving data is dropped until memory frees.
    pub max_num_buffers: usize,
    /// Receive buffer bytes per socket (`rcvbuf`).
    pub rcvbuf_size: usize,
    /// Send buffer bytes per socket (`sndbuf`).
    pub sndbuf_size: usize,
    /// Idle timeout in seconds (`tcp_timeout`); `None` is off (-1).
    pub tcp_timeout_secs: Option<u32>,
    /// TIME_WAIT length in seconds (`tcp_timewait`).
    pub tcp_timewait_secs: u32,
    /// Longest FIN-WAIT-2 after a close, in seconds (`tcp_fin_timeout`, at least 1; default 60 as
    /// Linux's `net.ipv4.tcp_fin_timeout`; not an mTCP key). mTCP bounds FIN-WAIT-2 by its idle
    /// timeout alone; with `tcp_timewait = 0` an end at the FIN's ACK would free a server's flow
    /// while the client still reads, and its next window update would draw a RST.
    pub tcp_fin_timeout_secs: u32,
    /// Ports whose statistics print each second (`stat_print`).
    pub stat_print: Vec<String>,
    /// Multi-process mode (`multiprocess`); accepted for compatibility.
    pub multiprocess: bool,
    /// Who drives the stack (`run_mode`: `threaded` or `rtc`).
    pub run_mode: RunMode,
    /// Extra EAL arguments for DPDK (`dpdk_eal_args`), split on whitespace.
    pub dpdk_eal_args: Vec<String>,
    /// The MTU of every DPDK port (`dpdk_mtu`, 68 to 16000); `None` keeps the driver's.
    pub dpdk_mtu: Option<u16>,
    /// `dpdk_trust_checksums = 1`: `net_memif` ports skip checksums (both sides must set it;
    /// see `mtcp_io_dpdk::DpdkConfig::trust_checksums`). Off by default.
    pub dpdk_trust_checksums: bool,
    /// `arp.conf` (`arp_conf`; default: beside mtcp.conf).
    pub arp_conf: Option<PathBuf>,
    /// `route.conf` (`route_conf`; default: beside mtcp.conf).
    pub route_conf: Option<PathBuf>,
    /// Link impairment for tests (`fault_*`); none by default.
    pub fault: FaultConf,
    /// AF_XDP settings (`xdp_*`), used with `io = afxdp`.
    pub xdp: XdpConf,
    /// Receive ring slots per AF_PACKET queue (`afpacket_rx_frames`, a power of two in
    /// 64..=262144), used with `io = afpacket`; `None` sizes it from `max_concurrency` (see
    /// [`MtcpConf::afpacket_device`]).
    pub afpacket_rx_frames: Option<usize>,
    /// How long destroying a context waits for its connections to finish
    /// (`drain_timeout_ms`; default 5000; 0 sends the FINs and RSTs once, then stops).
    pub drain_timeout: Duration,
    /// Congestion control of new connections (`tcp_cc`: `cubic`, `newreno`, `bbr`; default cubic).
    pub tcp_cc: mtcp_tcp::cc::CcAlgorithm,
    /// Lower bound of the retransmission timeout (`tcp_rto_min_ms`, 1..=60000; default 200 as
    /// Linux: above the peers' delayed-ACK timers, 40 ms here and up to 200 ms in Linux, so
    /// that a delayed ACK does not look like a loss).
    pub tcp_rto_min_ms: u64,
    /// The largest IP packet the TCP engine builds (`tcp_mtu`, 576..=65535; default `None`: the
    /// smallest MTU of the ports), for a port that carries larger frames than a peer or a path
    /// takes well.
    pub tcp_mtu: Option<u16>,
}

impl Default for MtcpConf {
    fn default() -> Self {
        MtcpConf {
            io: IoBackend::Mem,
            num_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            num_cores_set: false,
            core_mask: None,
            num_mem_ch: None,
            ports: Vec::new(),
            max_concurrency: 10_000,
            max_num_buffers: 10_000,
            rcvbuf_size: 8192,
            sndbuf_size: 8192,
            tcp_timeout_secs: Some(30),
            tcp_timewait_secs: 0,
            tcp_fin_timeout_secs: 60,
            stat_print: Vec::new(),
            multiprocess: false,
            run_mode: RunMode::Threaded,
            dpdk_eal_args: Vec::new(),
            dpdk_mtu: None,
            dpdk_trust_checksums: false,
            arp_conf: None,
            route_conf: None,
            fault: FaultConf::default(),
            xdp: XdpConf::default(),
            afpacket_rx_frames: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            tcp_cc: mtcp_tcp::cc::CcAlgorithm::Cubic,
            tcp_rto_min_ms: 200,
            tcp_mtu: None,
        }
    }
}

fn number<T: FromStr>(value: &str, what: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{what}: `{value}` is not a valid number"))
}

fn positive(value: &str, key: &str) -> Result<usize, String> {
    match number::<usize>(value, key)? {
        0 => Err(format!("{key} must be at least 1")),
        n => Ok(n),
    }
}

fn fraction(value: &str, key: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{key}: `{value}` is not a fraction between 0 and 1"
        )),
    }
}

pub(super) fn mac(value: &str) -> Result<EthernetAddress, String> {
    let bad = || format!("`{value}` is not a MAC address (aa:bb:cc:dd:ee:ff)");
    let mut out = [0u8; 6];
    let mut parts = value.split(':');
    for byte in &mut out {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(EthernetAddress(out))
}

fn prefix_to_netmask(prefix: &str) -> Result<Ipv4Addr, String> {
    match prefix.parse::<u32>() {
        Ok(p) if p <= 32 => Ok(Ipv4Addr::from(u32::MAX.checked_shl(32 - p).unwrap_or(0))),
        _ => Err(format!("`/{prefix}` is not a prefix length (0-32)")),
    }
}

fn netmask(value: &str) -> Result<Ipv4Addr, String> {
    let mask: Ipv4Addr = value
        .parse()
        .map_err(|_| format!("`{value}` is not a netmask"))?;
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(format!("`{value}` is not a contiguous netmask"));
    }
    Ok(mask)
}

impl MtcpConf {
    /// Reads and parses `path`; relative `arp_conf`/`route_conf` paths are taken from its directory.
    pub fn load(path: &Path) -> Result<MtcpConf, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: 0,
            problem: format!("cannot read: {e}"),
        })?;
        let mut conf = MtcpConf::parse(&text).map_err(|(line, problem)| ConfigError {
            file: path.to_owned(),
            line,
            problem,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for (file, default) in [
            (&mut conf.arp_conf, "arp.conf"),
            (&mut conf.route_conf, "route.conf"),
        ] {
            *file = Some(dir.join(file.take().unwrap_or_else(|| PathBuf::from(default))));
        }
        Ok(conf)
    }

    /// Parses the text of an `mtcp.conf`; an error gives the 1-based line and the problem.
    pub fn parse(text: &str) -> Result<MtcpConf, (usize, String)> {
        let mut conf = MtcpConf::default();
        let mut seen = BTreeSet::new();
        let mut port_lines: Vec<(usize, String, String, String)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err((line_no, format!("expected `key = value`, found `{line}`")));
            };
            let (key, value) = (key.trim(), value.trim());
            if value.is_empty() {
                return Err((line_no, format!("`{key}` has no value")));
            }
            if !seen.insert(key.to_owned()) {
                return Err((line_no, format!("`{key}` is set twice")));
            }
            if let Some((port, field)) = key.split_once('.') {
                port_lines.push((line_no, port.to_owned(), field.to_owned(), value.to_owned()));
                continue;
            }
            conf.set(key, value).map_err(|problem| (line_no, problem))?;
        }
        for (line_no, port, field, value) in port_lines {
            let Some(p) = conf.ports.iter_mut().find(|p| p.name == port) else {
                return Err((
                    line_no,
                    format!("`{port}.{field}`: `{port}` is not in the `port` list"),
                ));
            };
            let result = match field.as_str() {
                "ip" => match value.split_once('/') {
                    Some((addr, prefix)) => addr
                        .parse()
                        .map_err(|_| format!("`{addr}` is not an IPv4 address"))
                        .and_then(|ip| Ok((ip, prefix_to_netmask(prefix)?)))
                        .map(|(ip, mask)| {
                            p.ip = Some(ip);
                            p.netmask = Some(mask);
                        }),
                    None => value
                        .parse()
                        .map(|ip| p.ip = Some(ip))
                        .map_err(|_| format!("`{value}` is not an IPv4 address")),
                },
                "netmask" => netmask(&value).map(|m| p.netmask = Some(m)),
                "mac" => mac(&value).map(|m| p.mac = Some(m)),
                "ip6" => super::parse_ip6(&value).map(|a| p.ip6 = a),
                "route6" => super::parse_route6(&value).map(|r| p.route6 = r),
                "nd6" => super::parse_nd6(&value).map(|n| p.nd6 = n),
                other => Err(format!(
                    "unknown port setting `{port}.{other}` (ip, netmask, mac, ip6, route6 or nd6)"
                )),
            };
            result.map_err(|problem| (line_no, problem))?;
        }
        if !seen.contains("sndbuf") && seen.contains("rcvbuf") {
            conf.sndbuf_size = conf.rcvbuf_size;
        }
        if !seen.contains("rcvbuf") && seen.contains("sndbuf") {
            conf.rcvbuf_size = conf.sndbuf_size;
        }
        for name in &conf.stat_print {
            if !conf.ports.iter().any(|p| &p.name == name) {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with("stat_print"))
                    .map_or(0, |i| i + 1);
                return Err((
                    line,
                    format!("stat_print names `{name}`, which is not in the `port` list"),
                ));
            }
        }
        Ok(conf)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "io" => self.io = io_backend(value)?,
            "num_cores" => {
                self.num_cores = positive(value, key)?;
                self.num_cores_set = true;
            }
            "core_mask" => self.core_mask = Some(core_mask(value)?),
            "num_mem_ch" => self.num_mem_ch = Some(number(value, key)?),
            "port" => {
                self.ports = value
                    .split_whitespace()
                    .map(|name| PortConf {
                        name: name.to_owned(),
                        ip: None,
                        netmask: None,
                        mac: None,
                        ip6: Vec::new(),
                        route6: Vec::new(),
                        nd6: Vec::new(),
                    })
                    .collect();
            }
            "max_concurrency" => self.max_concurrency = positive(value, key)?,
            "max_num_buffers" => self.max_num_buffers = positive(value, key)?,
            "rcvbuf" | "sndbuf" => {
                let bytes: usize = number(value, key)?;
                if bytes < 64 {
                    return Err(format!("{key} must be at least 64 bytes"));
                }
                if key == "rcvbuf" {
                    self.rcvbuf_size = bytes;
                } else {
                    self.sndbuf_size = bytes;
                }
            }
            "stat_print" => self.stat_print = value.split_whitespace().map(str::to_owned).collect(),
            "multiprocess" => self.multiprocess = !matches!(value, "0" | "no" | "false"),
            "run_mode" => self.run_mode = run_mode(value)?,
            "arp_conf" => self.arp_conf = Some(PathBuf::from(value)),
            "route_conf" => self.route_conf = Some(PathBuf::from(value)),
            "drain_timeout_ms" => self.drain_timeout = millis(value, key, 600_000)?,
            "afpacket_rx_frames" => match number::<usize>(value, key)? {
                n if n.is_power_of_two() && (64..=1 << 18).contains(&n) => {
                    self.afpacket_rx_frames = Some(n)
                }
                _ => return Err(format!("{key} must be a power of two in 64..=262144")),
            },
            k if k.starts_with("tcp_") => self.set_tcp(key, value)?,
            k if k.starts_with("dpdk_") => self.set_dpdk(key, value)?,
            k if k.starts_with("fault_") => self.set_fault(key, value)?,
            k if k.starts_with("xdp_") => self.set_xdp(key, value)?,
            other => return Err(format!("unknown key `{other}`")),
        }
        Ok(())
    }

    /// The `tcp_*` keys: the engine's timeouts and congestion control.
    fn set_tcp(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "tcp_timeout" => {
                self.tcp_timeout_secs = match number::<i64>(value, key)? {
                    -1 => None,
                    s if (0..=i64::from(u32::MAX)).contains(&s) => Some(s as u32),
                    _ => return Err("tcp_timeout must be -1 (off) or a number of seconds".into()),
                }
            }
            "tcp_timewait" => self.tcp_timewait_secs = number(value, key)?,
            "tcp_fin_timeout" => match number(value, key)? {
                0 => return Err("tcp_fin_timeout must be at least 1 second".into()),
                s => self.tcp_fin_timeout_secs = s,
            },
            "tcp_cc" => {
                self.tcp_cc = mtcp_tcp::cc::CcAlgorithm::from_name(value)
                    .ok_or_else(|| format!("unknown tcp_cc `{value}` (cubic, newreno or bbr)"))?
            }
            "tcp_rto_min_ms" => {
                let ms: u64 = number(value, key)?;
                if !(1..=60_000).contains(&ms) {
                    return Err(format!("{key}: 1 to 60000 ms"));
                }
                self.tcp_rto_min_ms = ms;
            }
            "tcp_mtu" => match number(value, key)? {
                m @ 576.. => self.tcp_mtu = Some(m),
                _ => return Err(format!("{key}: 576 to 65535 bytes")),
            },
            other => return Err(format!("unknown key `{other}`")),
        }
        Ok(())
    }

    /// The `dpdk_*` keys (used with `io = dpdk`).
    fn set_dpdk(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "dpdk_mtu" => self.dpdk_mtu = Some(number(value, key)?),
            "dpdk_trust_checksums" => {
                self.dpdk_trust_checksums = match value {
                    "0" | "no" | "off" => false,
                    "1" | "yes" | "on" => true,
                    _ => return Err(format!("{key}: 0 or 1, not `{value}`")),
                }
            }
            "dpdk_eal_args" => {
                self.dpdk_eal_args = value.split_whitespace().map(str::to_owned).collect()
            }
            other => return Err(format!("unknown key `{other}`")),
        }
        Ok(())
    }

    /// The `fault_*` keys: the impairment of every port (see [`FaultConf`]).
    fn set_fault(&mut self, key: &str, value: &str) -> Result<(), String> {
        let c = &mut self.fault.config;
        match key {
            "fault_loss" => c.loss = fraction(value, key)?,
            "fault_duplicate" => c.duplicate = fraction(value, key)?,
            "fault_reorder" => c.reorder = fraction(value, key)?,
            "fault_delay_ms" => c.delay = millis(value, key, 10_000)?,
            "fault_seed" => c.seed = number(value, key)?,
            "fault_direction" => {
                self.fault.direction = match value {
                    "both" => FaultDirection::Both,
                    "tx" => FaultDirection::Tx,
                    "rx" => FaultDirection::Rx,
                    other => {
                        return Err(format!(
                            "unknown fault_direction `{other}` (both, tx or rx)"
                        ));
                    }
                }
            }
            other => return Err(format!("unknown key `{other}`")),
        }
        Ok(())
    }
}

impl MtcpConf {
    /// How to open `port` with `io = afpacket`, `queues` queues. The receive ring holds
    /// `afpacket_rx_frames` slots when given; else the device's 4 MiB, or one slot per
    /// connection `max_concurrency` allows (rounded up to a power of two, at most 16384) if that
    /// is more, within the device's limit of 64 MiB (4096 slots at MTU 9000): each connection
    /// may have a segment in flight toward us, and the kernel drops what finds the ring full.
    /// With mTCP's default `max_concurrency` (10 000) that is 16384 slots, 32 MiB per queue at
    /// MTU 1500, which cost workloads of a few connections 2-17 % in `mtcp-bench` against the
    /// 4 MiB ring (io README): a deployment of few connections sets `max_concurrency` to match
    /// (or `afpacket_rx_frames`).
    #[cfg(target_os = "linux")]
    pub fn afpacket_device(&self, port: &PortConf, queues: usize) -> AfPacketConfig {
        let mut c = AfPacketConfig::new(&port.name);
        c.queues = queues;
        c.rx_frames = match self.afpacket_rx_frames {
            Some(n) => {
                (c.rx_ring_bytes, c.rx_ring_limit) = (0, usize::MAX);
                n
            }
            None => self.max_concurrency.min(16384).next_power_of_two(),
        };
        c
    }

    /// The `xdp_*` keys: the AF_XDP settings (see [`XdpConf`]).
    fn set_xdp(&mut self, key: &str, value: &str) -> Result<(), String> {
        let x = &mut self.xdp;
        let pow2 = |value: &str, min: u32, max: u32| -> Result<u32, String> {
            match number::<u32>(value, key)? {
                n if n.is_power_of_two() && (min..=max).contains(&n) => Ok(n),
                _ => Err(format!("{key} must be a power of two in {min}..={max}")),
            }
        };
        match key {
            "xdp_mode" => x.mode = value.parse().map_err(|e| format!("{e}"))?,
            "xdp_zero_copy" => x.zero_copy = value.parse().map_err(|e| format!("{e}"))?,
            "xdp_frames" => x.frames = pow2(value, 64, 1 << 20)?,
            "xdp_fill_size" => x.fill_size = pow2(value, 64, 1 << 16)?,
            "xdp_ring_size" => x.ring_size = pow2(value, 64, 1 << 16)?,
            "xdp_pass_foreign" => {
                x.pass_foreign = match value {
                    "1" | "yes" | "on" | "true" => true,
                    "0" | "no" | "off" | "false" => false,
                    other => return Err(format!("xdp_pass_foreign: `{other}` is not 0 or 1")),
                }
            }
            other => return Err(format!("unknown key `{other}`")),
        }
        Ok(())
    }
}

/// `io = ...`.
fn io_backend(value: &str) -> Result<IoBackend, String> {
    Ok(match value {
        "mem" => IoBackend::Mem,
        "tap" => IoBackend::Tap,
        "afpacket" => IoBackend::AfPacket,
        "afxdp" => IoBackend::AfXdp,
        "dpdk" => IoBackend::Dpdk,
        "netmap" => IoBackend::Netmap,
        other => {
            return Err(format!(
                "unknown io backend `{other}` (mem, tap, afpacket, afxdp, dpdk, netmap)"
            ));
        }
    })
}

/// `core_mask = 0x...`: hexadecimal, at least one core.
fn core_mask(value: &str) -> Result<u64, String> {
    let hex = value.trim_start_matches("0x").trim_start_matches("0X");
    let mask = u64::from_str_radix(hex, 16)
        .map_err(|_| format!("core_mask: `{value}` is not hexadecimal"))?;
    if mask == 0 {
        return Err("core_mask selects no core".into());
    }
    Ok(mask)
}

/// `run_mode = threaded | rtc`.
fn run_mode(value: &str) -> Result<RunMode, String> {
    match value {
        "threaded" => Ok(RunMode::Threaded),
        "rtc" | "run-to-completion" => Ok(RunMode::RunToCompletion),
        other => Err(format!("unknown run_mode `{other}` (threaded or rtc)")),
    }
}

/// A number of milliseconds, at most `max`.
fn millis(value: &str, key: &str, max: u64) -> Result<Duration, String> {
    let ms: u64 = number(value, key)?;
    if ms > max {
        return Err(format!("{key}: at most {max} ms"));
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests;
