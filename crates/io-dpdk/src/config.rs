//! The DPDK part of `mtcp.conf` and the EAL command line built from it.
//!
//! Keys (as in mTCP's `mtcp.conf`, plus a few of our own):
//!
//! | key            | meaning                                                          | default        |
//! |----------------|------------------------------------------------------------------|----------------|
//! | `num_cores`    | cores = rx/tx queue pairs per port; EAL gets `-l 0-(n-1)`        | 1              |
//! | `core_mask`    | hexadecimal core mask (`-c`); its popcount is the core count     | —              |
//! | `num_mem_ch`   | memory channels (`-n`)                                           | EAL's          |
//! | `port`         | space-separated port names: `dpdkN`, a PCI address, a vdev name  | —              |
//! | `eal_args`     | extra EAL arguments, e.g. `--vdev=net_tap0,iface=t0 --no-huge`   | —              |
//! | `file_prefix`  | `--file-prefix` (two DPDK processes need different ones)         | `mtcp-rs-PID`  |
//! | `memory_mb`    | `-m` when running without hugepages                              | 256            |
//! | `num_mbufs`    | mbufs per queue's pool                                           | 8191           |
//! | `rx_desc`, `tx_desc` | ring sizes per queue (adjusted to the driver's limits)     | 1024           |
//! | `mtu`          | port MTU (`rte_eth_dev_set_mtu`); mbufs grow to hold such a frame, and so do `net_memif`'s buffers (see [`memif_bsize`], [`memif_rsize`]) | the driver's  |
//! | `trust_checksums` | `1`: a `net_memif` port offers every checksum offload and computes none (see [`DpdkConfig::trust_checksums`]) | 0 |
//!
//! Other keys of `mtcp.conf` (TCP buffers, concurrency, ...) are ignored here.

use crate::Error;

/// The smallest `mtu` (IPv4's minimum datagram).
pub const MIN_MTU: u16 = 68;
/// The largest `mtu`: a jumbo frame in one mbuf of at most 16 KiB.
pub const MAX_MTU: u16 = 16_000;

/// Bytes in each of `net_memif`'s shared buffers when its `bsize` argument is absent (DPDK's
/// default).
pub const MEMIF_DEFAULT_BSIZE: u32 = 2048;

/// What a frame holds beyond its IP datagram: the Ethernet header and a VLAN tag (memif keeps
/// no CRC).
const FRAME_OVERHEAD: u32 = 14 + 4;

/// The `net_memif` buffer size (`bsize`) that holds a whole frame of `mtu` in one buffer: DPDK's
/// 2048 where that is enough, else the frame rounded up to 64 bytes (9024 for MTU 9000).
///
/// A frame larger than one buffer crosses several, and DPDK 22.11's memif transmit then leaves
/// a trap: it sets the "more buffers follow" flag on a frame's first descriptor but never
/// clears it there, so a one-buffer frame later written into a slot that once began a
/// multi-buffer frame keeps the flag. The receiver then joins it to the next frame, or, when
/// it was the last one published, reads on past the ring's head into stale slots and moves its
/// tail beyond the sender's head: wrong frames, and a wedged ring (`tests/memif_jumbo.rs` shows
/// it). With `dpdk_trust_checksums` nothing catches such a frame. A buffer that holds every
/// frame means no frame ever crosses buffers, so the flag is never set.
pub fn memif_bsize(mtu: u16) -> u32 {
    (u32::from(mtu) + FRAME_OVERHEAD)
        .next_multiple_of(64)
        .max(MEMIF_DEFAULT_BSIZE)
}

/// Slots in a `net_memif` ring (`rsize`) whose buffers of [`memif_bsize`]`(mtu)` hold about
/// what DPDK's default ring holds (1024 of 2048 bytes, 2 MiB): 256 for MTU 9000. A 1024-slot
/// ring of 9 KiB buffers spans 9 MiB per direction, far past the caches, and memif copies every
/// frame into and out of it: with 256 slots memif bulk9000 moved 54.4/55.1 Gbit/s instead of
/// 46.7/47.6 (`mtcp-bench --quick --links mem,memif --workloads bulk9000 --run-mode rtc`,
/// alternating runs; 512 slots: 53.7/48.8). Returned as log2, memif's `rsize` unit.
pub fn memif_rsize(mtu: u16) -> u32 {
    const DEFAULT_RING_BYTES: u32 = 1024 * MEMIF_DEFAULT_BSIZE;
    (DEFAULT_RING_BYTES / memif_bsize(mtu))
        .next_power_of_two()
        .trailing_zeros()
}

/// The driver of virtual device `name`: its name without the trailing number (`net_memif0`
/// gives `net_memif`).
fn vdev_driver(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// The DPDK configuration: EAL start-up and port set-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkConfig {
    /// Number of cores, i.e. rx/tx queue pairs per port (`num_cores`).
    pub num_cores: Option<usize>,
    /// Core mask (`core_mask`); overrides `num_cores` for the EAL's `-c`.
    pub core_mask: Option<u64>,
    /// Memory channels (`num_mem_ch`, EAL `-n`).
    pub num_mem_ch: Option<u32>,
    /// Port names (`port`).
    pub ports: Vec<String>,
    /// Extra EAL arguments (`eal_args`).
    pub eal_args: Vec<String>,
    /// `--file-prefix` (`file_prefix`); `None` picks one from the process id.
    pub file_prefix: Option<String>,
    /// Memory for the EAL without hugepages, in MiB (`memory_mb`).
    pub memory_mb: u32,
    /// Mbufs in each queue's pool (`num_mbufs`).
    pub num_mbufs: u32,
    /// Receive descriptors per queue (`rx_desc`).
    pub rx_desc: u16,
    /// Transmit descriptors per queue (`tx_desc`).
    pub tx_desc: u16,
    /// Port MTU (`mtu`); `None` keeps the driver's (1500 for most). A frame of this MTU fits in
    /// one mbuf: the pools' data room grows with it.
    pub mtu: Option<u16>,
    /// `trust_checksums = 1`: `net_memif` ports report every checksum offload, compute none on
    /// transmit and mark every received frame's checksums good, as a NIC that verified them
    /// would. Only for a memif link between two processes of ours that both set it: a frame
    /// moves through shared memory, never over a wire, so nothing can corrupt it on the way
    /// (the sender's TCP checksum field holds only the pseudo-header sum, its IPv4 checksum 0).
    /// Other drivers refuse it ([`crate::DpdkDevice::open`]).
    pub trust_checksums: bool,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            num_cores: None,
            core_mask: None,
            num_mem_ch: None,
            ports: Vec::new(),
            eal_args: Vec::new(),
            file_prefix: None,
            memory_mb: 256,
            num_mbufs: 8191,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            trust_checksums: false,
        }
    }
}

/// Hugepage state of the machine, which decides the EAL's memory arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hugepages {
    /// Hugepages are reserved (`HugePages_Total` > 0): `--in-memory`.
    Available,
    /// None reserved: `--no-huge --no-shconf -m MEMORY`.
    Absent,
}

impl Hugepages {
    /// Reads `HugePages_Total` from `/proc/meminfo`.
    pub fn detect() -> Hugepages {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("HugePages_Total:"))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        if total > 0 {
            Hugepages::Available
        } else {
            Hugepages::Absent
        }
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Error> {
    value
        .parse()
        .map_err(|_| Error::Config(format!("{key} = {value:?}: not a number")))
}

impl DpdkConfig {
    /// Reads the DPDK keys of an `mtcp.conf`-style text (`key = value` lines, `#` comments).
    pub fn parse(text: &str) -> Result<DpdkConfig, Error> {
        let mut config = DpdkConfig::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(Error::Config(format!(
                    "line {}: expected `key = value`, got {line:?}",
                    n + 1
                )));
            };
            config.set(key.trim(), value.trim())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets one key; returns `false` for keys that are not the DPDK backend's (they are ignored).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, Error> {
        match key {
            "num_cores" => self.num_cores = Some(parse_num(key, value)?),
            "core_mask" => {
                let hex = value.trim_start_matches("0x").trim_start_matches("0X");
                let mask = u64::from_str_radix(hex, 16).map_err(|_| {
                    Error::Config(format!("core_mask = {value:?}: not a hexadecimal mask"))
                })?;
                self.core_mask = Some(mask);
            }
            "num_mem_ch" => self.num_mem_ch = Some(parse_num(key, value)?),
            "port" => self.ports = value.split_whitespace().map(str::to_owned).collect(),
            "eal_args" => self.eal_args = value.split_whitespace().map(str::to_owned).collect(),
            "file_prefix" => self.file_prefix = Some(value.to_owned()),
            "memory_mb" => self.memory_mb = parse_num(key, value)?,
            "num_mbufs" => self.num_mbufs = parse_num(key, value)?,
            "rx_desc" => self.rx_desc = parse_num(key, value)?,
            "tx_desc" => self.tx_desc = parse_num(key, value)?,
            "mtu" => self.mtu = Some(parse_num(key, value)?),
            "trust_checksums" => {
                self.trust_checksums = match value {
                    "0" | "no" | "off" => false,
                    "1" | "yes" | "on" => true,
                    _ => {
                        return Err(Error::Config(format!(
                            "trust_checksums = {value:?}: expected 0 or 1"
                        )));
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks that the keys agree with each other.
    pub fn validate(&self) -> Result<(), Error> {
        if self.num_cores == Some(0) {
            return Err(Error::Config(
                "num_cores = 0: need at least one core".into(),
            ));
        }
        if let Some(mask) = self.core_mask {
            if mask == 0 {
                return Err(Error::Config(
                    "core_mask = 0: need at least one core".into(),
                ));
            }
            if let Some(n) = self.num_cores
                && n != mask.count_ones() as usize
            {
                return Err(Error::Config(format!(
                    "num_cores = {n} but core_mask = {mask:#x} holds {} cores",
                    mask.count_ones()
                )));
            }
        }
        if self.has_arg("--no-huge") && self.has_arg("--in-memory") {
            return Err(Error::Config(
                "eal_args: --no-huge and --in-memory do not combine".into(),
            ));
        }
        if self.num_mbufs < 2 * crate::MAX_BURST as u32 {
            return Err(Error::Config(format!(
                "num_mbufs = {}: too few for a burst",
                self.num_mbufs
            )));
        }
        if let Some(mtu) = self.mtu
            && !(MIN_MTU..=MAX_MTU).contains(&mtu)
        {
            return Err(Error::Config(format!(
                "mtu = {mtu}: expected {MIN_MTU} to {MAX_MTU}"
            )));
        }
        if self.rx_desc == 0 || self.tx_desc == 0 {
            return Err(Error::Config("rx_desc and tx_desc must not be 0".into()));
        }
        self.validate_memif_bsize()
    }

    /// A `net_memif` device's own `bsize` must hold a whole frame of `mtu` (see [`memif_bsize`]).
    fn validate_memif_bsize(&self) -> Result<(), Error> {
        for spec in self.vdev_specs() {
            let mut parts = spec.split(',');
            let name = parts.next().unwrap_or("");
            if vdev_driver(name) != "net_memif" {
                continue;
            }
            let Some(value) = parts.find_map(|kv| kv.strip_prefix("bsize=")) else {
                continue;
            };
            let bsize: u32 = value.parse().map_err(|_| {
                Error::Config(format!("--vdev {spec}: bsize = {value:?} is not a number"))
            })?;
            let need = memif_bsize(self.mtu.unwrap_or(1500));
            if bsize < need {
                return Err(Error::Config(format!(
                    "--vdev {spec}: bsize = {bsize} cannot hold a frame of mtu = {} in one \
                     buffer; DPDK 22.11's memif corrupts frames that cross buffers. Give \
                     bsize >= {need}, or leave bsize out and it is sized for the MTU",
                    self.mtu.unwrap_or(1500)
                )));
            }
        }
        Ok(())
    }

    /// `eal_args` with a `bsize` (and an `rsize`) added to each `net_memif` device that has
    /// none, when the default buffer cannot hold a whole frame of `mtu` (see [`memif_bsize`]
    /// and [`memif_rsize`]).
    fn eal_args_memif_sized(&self) -> Vec<String> {
        let mtu = self.mtu.unwrap_or(1500);
        let bsize = memif_bsize(mtu);
        let sized = |spec: &str| -> String {
            let mut parts = spec.split(',');
            let name = parts.next().unwrap_or("");
            let has = |key: &str| spec.split(',').skip(1).any(|kv| kv.starts_with(key));
            if bsize <= MEMIF_DEFAULT_BSIZE
                || vdev_driver(name) != "net_memif"
                || parts.any(|kv| kv.starts_with("bsize="))
            {
                spec.to_owned()
            } else if has("rsize=") {
                format!("{spec},bsize={bsize}")
            } else {
                format!("{spec},bsize={bsize},rsize={}", memif_rsize(mtu))
            }
        };
        let mut out = Vec::with_capacity(self.eal_args.len());
        let mut args = self.eal_args.iter();
        while let Some(arg) = args.next() {
            if arg == "--vdev" {
                out.push(arg.clone());
                if let Some(spec) = args.next() {
                    out.push(sized(spec));
                }
            } else if let Some(spec) = arg.strip_prefix("--vdev=") {
                out.push(format!("--vdev={}", sized(spec)));
            } else {
                out.push(arg.clone());
            }
        }
        out
    }

    /// Cores, that is rx/tx queue pairs per port.
    pub fn num_queues(&self) -> usize {
        match (self.num_cores, self.core_mask) {
            (Some(n), _) => n,
            (None, Some(mask)) => mask.count_ones() as usize,
            (None, None) => 1,
        }
    }

    fn has_arg(&self, name: &str) -> bool {
        self.eal_args.iter().any(|a| {
            a == name
                || a.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    }

    /// The `--vdev` specifications in `eal_args` (`net_tap0,iface=x`), in order.
    fn vdev_specs(&self) -> impl Iterator<Item = &str> {
        let mut args = self.eal_args.iter();
        std::iter::from_fn(move || {
            while let Some(arg) = args.next() {
                let spec = if arg == "--vdev" {
                    args.next().map(String::as_str)
                } else {
                    arg.strip_prefix("--vdev=")
                };
                if spec.is_some() {
                    return spec;
                }
            }
            None
        })
    }

    /// The virtual devices `eal_args` creates, as `(name, driver)`: `--vdev=net_tap0,iface=x` gives
    /// `("net_tap0", "net_tap")`.
    pub fn vdevs(&self) -> Vec<(String, String)> {
        self.vdev_specs()
            .map(|spec| {
                let name = spec.split(',').next().unwrap_or("").to_owned();
                let driver = vdev_driver(&name).to_owned();
                (name, driver)
            })
            .collect()
    }

    /// The value of `key` in the arguments of virtual device `name` (`--vdev net_memif0,role=client`
    /// gives `Some("client")` for `("net_memif0", "role")`).
    pub fn vdev_arg(&self, name: &str, key: &str) -> Option<&str> {
        self.vdev_specs().find_map(|spec| {
            let mut parts = spec.split(',');
            if parts.next() != Some(name) {
                return None;
            }
            parts.find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        })
    }

    /// The full EAL command line (without the program name) for this machine's hugepage state.
    pub fn eal_argv(&self, hugepages: Hugepages) -> Result<Vec<String>, Error> {
        self.validate()?;
        let mut argv = Vec::new();
        match (self.core_mask, self.num_cores) {
            (Some(mask), _) => argv.extend(["-c".to_owned(), format!("{mask:#x}")]),
            (None, Some(n)) if n > 1 => argv.extend(["-l".to_owned(), format!("0-{}", n - 1)]),
            _ => argv.extend(["-l".to_owned(), "0".to_owned()]),
        }
        if let Some(n) = self.num_mem_ch {
            argv.extend(["-n".to_owned(), n.to_string()]);
        }
        let user_memory = self.has_arg("--no-huge") || self.has_arg("--in-memory");
        if !user_memory {
            match hugepages {
                Hugepages::Available => argv.push("--in-memory".to_owned()),
                Hugepages::Absent => argv.extend([
                    "--no-huge".to_owned(),
                    "--no-shconf".to_owned(),
                    "-m".to_owned(),
                    self.memory_mb.to_string(),
                ]),
            }
        } else if self.has_arg("--no-huge") && !self.has_arg("-m") {
            argv.extend(["-m".to_owned(), self.memory_mb.to_string()]);
        }
        if !self.has_arg("--file-prefix") {
            let prefix = match &self.file_prefix {
                Some(p) => p.clone(),
                None => format!("mtcp-rs-{}", std::process::id()),
            };
            argv.extend(["--file-prefix".to_owned(), prefix]);
        }
        // Only virtual ports: keep the EAL away from PCI devices (no scan, no vfio).
        let vdevs = self.vdevs();
        let all_virtual = !vdevs.is_empty()
            && self
                .ports
                .iter()
                .all(|p| vdevs.iter().any(|(name, _)| name == p));
        let pci_named = ["--no-pci", "-a", "--allow", "-b", "--block"]
            .iter()
            .any(|a| self.has_arg(a));
        if all_virtual && !pci_named {
            argv.push("--no-pci".to_owned());
        }
        argv.extend(self.eal_args_memif_sized());
        Ok(argv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "
        # mtcp.conf excerpt
        num_cores = 2
        num_mem_ch = 4
        port = net_ring0
        max_concurrency = 10000   # not ours
        eal_args = --vdev=net_ring0 --log-level=lib.eal:warning
        file_prefix = t1
    ";

    #[test]
    fn parses_mtcp_conf_keys() {
        let c = DpdkConfig::parse(CONF).unwrap();
        assert_eq!(c.num_queues(), 2);
        assert_eq!(c.num_mem_ch, Some(4));
        assert_eq!(c.ports, ["net_ring0"]);
        assert_eq!(c.vdevs(), [("net_ring0".to_owned(), "net_ring".to_owned())]);
    }

    #[test]
    fn mtu_key_is_checked() {
        let c = DpdkConfig::parse("port = net_memif0\nmtu = 9000").unwrap();
        assert_eq!(c.mtu, Some(9000));
        assert_eq!(DpdkConfig::parse("port = p").unwrap().mtu, None);
        for bad in ["mtu = 20", "mtu = 20000", "mtu = big"] {
            let e = DpdkConfig::parse(&format!("port = p\n{bad}")).unwrap_err();
            assert!(e.to_string().contains("mtu"), "{bad}: {e}");
        }
    }

    #[test]
    fn trust_checksums_is_off_unless_set() {
        assert!(!DpdkConfig::parse("port = p").unwrap().trust_checksums);
        let c = DpdkConfig::parse("port = net_memif0\ntrust_checksums = 1").unwrap();
        assert!(c.trust_checksums);
        let e = DpdkConfig::parse("port = p\ntrust_checksums = maybe").unwrap_err();
        assert!(e.to_string().contains("trust_checksums"), "{e}");
    }

    #[test]
    fn vdev_arguments_by_key() {
        let c = DpdkConfig::parse(
            "port = net_memif0\neal_args = --vdev net_memif0,role=client,socket=/x/m.sock \
             --vdev=net_memif1,socket=/y --no-pci",
        )
        .unwrap();
        assert_eq!(c.vdev_arg("net_memif0", "role"), Some("client"));
        assert_eq!(c.vdev_arg("net_memif0", "socket"), Some("/x/m.sock"));
        assert_eq!(c.vdev_arg("net_memif1", "socket"), Some("/y"));
        assert_eq!(c.vdev_arg("net_memif1", "role"), None);
        assert_eq!(c.vdev_arg("net_memif2", "role"), None);
        assert_eq!(c.vdev_arg("net_memif0", "rol"), None);
    }

    #[test]
    fn argv_without_hugepages() {
        let c = DpdkConfig::parse(CONF).unwrap();
        let argv = c.eal_argv(Hugepages::Absent).unwrap().join(" ");
        assert_eq!(
            argv,
            "-l 0-1 -n 4 --no-huge --no-shconf -m 256 --file-prefix t1 --no-pci \
             --vdev=net_ring0 --log-level=lib.eal:warning"
        );
    }

    #[test]
    fn memif_buffers_hold_a_whole_frame_of_the_mtu() {
        assert_eq!(memif_bsize(1500), MEMIF_DEFAULT_BSIZE);
        assert_eq!(memif_bsize(2030), MEMIF_DEFAULT_BSIZE);
        assert_eq!(memif_bsize(9000), 9024);
        assert_eq!(memif_bsize(MAX_MTU), 16_064);
        let conf = |extra: &str| {
            format!(
                "port = net_memif0\nfile_prefix = m\n{extra}\neal_args = --vdev \
                 net_memif0,role=client --vdev=net_memif1,role=server,socket=/s --vdev=net_ring0"
            )
        };
        // MTU 9000: every memif device without a bsize gets one; other drivers are left alone.
        let c = DpdkConfig::parse(&conf("mtu = 9000")).unwrap();
        let argv = c.eal_argv(Hugepages::Absent).unwrap().join(" ");
        assert!(
            argv.ends_with(
                "--vdev net_memif0,role=client,bsize=9024,rsize=8 \
                 --vdev=net_memif1,role=server,socket=/s,bsize=9024,rsize=8 --vdev=net_ring0"
            ),
            "{argv}"
        );
        assert_eq!(memif_rsize(9000), 8);
        assert_eq!(memif_rsize(5000), 9);
        assert_eq!(memif_rsize(1500), 10);
        // A ring size of one's own is kept.
        let own = "port = net_memif0\nmtu = 9000\neal_args = --vdev=net_memif0,rsize=10";
        let argv = DpdkConfig::parse(own)
            .unwrap()
            .eal_argv(Hugepages::Absent)
            .unwrap();
        assert_eq!(
            argv.last().unwrap(),
            "--vdev=net_memif0,rsize=10,bsize=9024"
        );
        // The default buffers hold a 1500-byte frame: the arguments stay as written.
        let c = DpdkConfig::parse(&conf("")).unwrap();
        let argv = c.eal_argv(Hugepages::Absent).unwrap();
        assert_eq!(argv[argv.len() - c.eal_args.len()..], c.eal_args[..]);
        // A bsize of one's own is kept when it holds the frame, refused when it does not.
        let ok = "port = net_memif0\nmtu = 9000\neal_args = --vdev=net_memif0,bsize=10240";
        let c = DpdkConfig::parse(ok).unwrap();
        let argv = c.eal_argv(Hugepages::Absent).unwrap();
        assert_eq!(argv.last().unwrap(), "--vdev=net_memif0,bsize=10240");
        for bad in ["mtu = 9000\n", ""] {
            let text = format!("port = net_memif0\n{bad}eal_args = --vdev=net_memif0,bsize=1024");
            let e = DpdkConfig::parse(&text).unwrap_err();
            assert!(e.to_string().contains("bsize = 1024 cannot hold"), "{e}");
        }
        let e = DpdkConfig::parse("port = p\neal_args = --vdev=net_memif0,bsize=big").unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
    }

    #[test]
    fn argv_with_hugepages_and_pci_port() {
        let c = DpdkConfig::parse("core_mask = 0x6\nport = 0000:01:00.0\nfile_prefix = a").unwrap();
        assert_eq!(c.num_queues(), 2);
        let argv = c.eal_argv(Hugepages::Available).unwrap().join(" ");
        assert_eq!(argv, "-c 0x6 --in-memory --file-prefix a");
    }

    #[test]
    fn user_memory_args_win() {
        let c =
            DpdkConfig::parse("port = net_null0\neal_args = --vdev net_null0 --in-memory").unwrap();
        let argv = c.eal_argv(Hugepages::Absent).unwrap();
        assert!(!argv.iter().any(|a| a == "--no-huge"), "{argv:?}");
        assert_eq!(c.vdevs(), [("net_null0".to_owned(), "net_null".to_owned())]);
    }

    #[test]
    fn bad_values_are_errors() {
        for text in [
            "num_cores = 0",
            "num_cores = x",
            "core_mask = zz",
            "core_mask = 0",
            "num_cores = 3\ncore_mask = 0x3",
            "eal_args = --no-huge --in-memory",
            "num_mbufs = 10",
            "just words",
        ] {
            let e = DpdkConfig::parse(text).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{text:?} gave {e}");
        }
    }

    #[test]
    fn hugepage_detection_reads_meminfo() {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let total: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("HugePages_Total:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        assert_eq!(Hugepages::detect() == Hugepages::Available, total > 0);
    }
}
