//! `mtcp-bench`: the same workloads over every link, side by side, in one run.
//!
//! ```text
//!   mtcp-bench (this process)
//!     ├─ mem        two stacks in this process on the in-memory switch (a thread each)
//!     ├─ mem6       the same over IPv6
//!     ├─ memif      two DPDK processes over net_memif (feature `dpdk`), a core each
//!     ├─ afpacket   two processes of ours over AF_PACKET on a veth pair between two namespaces
//!     ├─ afxdp      the same over AF_XDP (`io = afxdp`, `xdp_mode = auto`: native XDP on veth;
//!     │             bulk9000 with multi-buffer: a frame in three 4 KiB UMEM chunks)
//!     ├─ kernel     Linux sockets over loopback in a namespace (64 KiB MTU, GSO/GRO)
//!     └─ kernel-1500  Linux sockets across a veth pair between two namespaces, MTU 1500,
//!                     offloads off
//! ```
//!
//! The processes are this binary again (`mtcp-bench --as mtcp-echo|mtcp-perf|mtcp-short ...`),
//! so the same client and server code ([`crate::echo`], [`crate::perf`], [`short`]) runs on
//! every link. Every namespace is made here and removed on drop (addresses from
//! 198.18.0.0/15), every child process is stopped on drop, and every wait has a deadline.
//!
//! Dependencies and why: `clap` (derive) parses the command line as the other apps do;
//! `serde_json` writes the `--json` report; `plotters` with only its SVG backend draws
//! `--plot` (no font or bitmap libraries needed: the SVG names a font family and the viewer
//! renders the text); `mtcp-testkit` makes the namespaces and veth pairs (RAII).

pub mod cycles;
pub mod lossy;
pub mod mem;
pub mod plot;
pub mod proc;
pub mod report;
pub mod short;
pub mod stackcost;
pub mod sub;
pub mod topo;

use std::fmt;
use std::time::Duration;

pub use report::Row;

/// A workload of the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// 64 B request/response on 64 connections, transactions/s.
    Echo64x64,
    /// 64 B request/response on 1 connection: p50 (and a `latency64_p99` row), microseconds.
    Latency64,
    /// Connect, 64 B request, 64 B response, close; 100 in flight; connections/s.
    Short64,
    /// One stream one way, MTU 1500 on our links, Gbit/s at the receiver, every byte checked.
    Bulk1500,
    /// The same at MTU 9000.
    Bulk9000,
    /// 64 B echo over 10 000 open connections, transactions/s.
    Conns10k,
    /// 1 % of the data segments dropped at a Linux receiver: completion time per sender.
    Lossy1,
    /// The same with 3 %.
    Lossy3,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 8] = [
        Workload::Echo64x64,
        Workload::Latency64,
        Workload::Short64,
        Workload::Bulk1500,
        Workload::Bulk9000,
        Workload::Conns10k,
        Workload::Lossy1,
        Workload::Lossy3,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo64x64 => "echo64x64",
            Workload::Latency64 => "latency64",
            Workload::Short64 => "short64",
            Workload::Bulk1500 => "bulk1500",
            Workload::Bulk9000 => "bulk9000",
            Workload::Conns10k => "conns10k",
            Workload::Lossy1 => "lossy1",
            Workload::Lossy3 => "lossy3",
        }
    }

    /// The workload named `name`.
    pub fn parse(name: &str) -> Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| {
                let all: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload `{name}` ({})", all.join(", "))
            })
    }

    /// Lossy workloads run on their own topology (see [`lossy`]).
    pub fn is_lossy(self) -> bool {
        matches!(self, Workload::Lossy1 | Workload::Lossy3)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A link of the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Two stacks of ours in this process on the in-memory switch.
    Mem,
    /// [`Link::Mem`] over IPv6.
    Mem6,
    /// Two DPDK processes of ours over `net_memif`.
    Memif,
    /// Linux sockets over loopback in a namespace.
    Kernel,
    /// Linux sockets across a veth pair, MTU 1500, offloads off.
    Kernel1500,
    /// Two processes of ours over AF_PACKET across a veth pair.
    AfPacket,
    /// Two processes of ours over AF_XDP across a veth pair.
    AfXdp,
}

impl Link {
    /// Every link, in table order.
    pub const ALL: [Link; 7] = [
        Link::Mem,
        Link::Mem6,
        Link::Memif,
        Link::AfPacket,
        Link::AfXdp,
        Link::Kernel,
        Link::Kernel1500,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Link::Mem => "mem",
            Link::Mem6 => "mem6",
            Link::Memif => "memif",
            Link::Kernel => "kernel",
            Link::Kernel1500 => "kernel-1500",
            Link::AfPacket => "afpacket",
            Link::AfXdp => "afxdp",
        }
    }

    /// The link named `name`.
    pub fn parse(name: &str) -> Result<Link, String> {
        Link::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                let all: Vec<_> = Link::ALL.iter().map(|l| l.name()).collect();
                format!("unknown link `{name}` ({})", all.join(", "))
            })
    }

    /// The mtcp.conf `io` of a link whose two processes of ours share a veth pair
    /// (`afpacket`, `afxdp`), None for the others.
    pub fn veth_io(self) -> Option<&'static str> {
        match self {
            Link::AfPacket => Some("afpacket"),
            Link::AfXdp => Some("afxdp"),
            _ => None,
        }
    }

    /// True for the Linux links (one run, `run_mode` "kernel").
    pub fn is_kernel(self) -> bool {
        matches!(self, Link::Kernel | Link::Kernel1500)
    }
}

/// How long and how much each workload runs.
#[derive(Clone, Debug)]
pub struct Params {
    /// Seconds of each echo, latency and short-connection run.
    pub secs: f64,
    /// Seconds of the conns10k run (after all connections are up).
    pub conns10k_secs: f64,
    /// Bytes of each bulk row's first transfer (see [`sized_bulk`]).
    pub bulk_bytes: u64,
    /// Seconds each bulk row's measured transfer aims at (see [`sized_bulk`]); None: one
    /// transfer of `bulk_bytes` (`--bulk-bytes N`).
    pub bulk_secs: Option<f64>,
    /// Bytes of each lossy transfer.
    pub lossy_bytes: u64,
    /// Transfers per lossy row, one per round of turns among the senders; the row is their
    /// median (a single 50 MB transfer lasts about 40 ms, and one's figure varied by a quarter
    /// from the next, Linux's as ours).
    pub lossy_runs: usize,
    /// Our senders' congestion-control algorithms in the lossy workloads (`tcp_cc = X`).
    pub cc: Vec<String>,
    /// Cores per side (1 on this 2-core machine).
    pub cores: usize,
}

impl Params {
    /// `--quick` (the whole default run in under 90 s) or the default, steadier run.
    pub fn new(quick: bool) -> Params {
        if quick {
            Params {
                secs: 1.0,
                conns10k_secs: 1.0,
                bulk_bytes: 50_000_000,
                bulk_secs: Some(0.5),
                lossy_bytes: 10_000_000,
                lossy_runs: 1,
                cc: vec!["cubic".into()],
                cores: 1,
            }
        } else {
            Params {
                secs: 3.0,
                conns10k_secs: 3.0,
                bulk_bytes: 200_000_000,
                bulk_secs: Some(1.0),
                lossy_bytes: 50_000_000,
                lossy_runs: 5,
                cc: vec!["cubic".into()],
                cores: 1,
            }
        }
    }

    /// [`Params::secs`] as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.secs)
    }
}

/// The largest transfer [`sized_bulk`] sizes (a bound on a row's time should a transfer's
/// rate come out absurdly high).
pub const MAX_BULK_BYTES: u64 = 16_000_000_000;

/// Transfers a bulk row may take: the first and at most two sized ones.
const BULK_TRANSFERS: usize = 3;

/// Runs a bulk row with transfers sized for the link, by the same rule on every link, so that
/// the row measures the link's steady rate rather than its start-up (a 50 MB transfer lasts
/// 15 ms at 25 Gbit/s, about as long as the connection takes to get going). The first
/// transfer moves `p.bulk_bytes`; while a transfer lasted under half of `p.bulk_secs`, the
/// next is sized from its rate to last `p.bulk_secs` (at most [`MAX_BULK_BYTES`]),
/// [`BULK_TRANSFERS`] transfers at most. The row is the last transfer's.
/// `transfer(bytes)` runs one transfer and returns its rows, the first a rate in Gbit/s.
pub fn sized_bulk(
    p: &Params,
    mut transfer: impl FnMut(u64) -> Result<Vec<Row>, String>,
) -> Result<Vec<Row>, String> {
    let mut bytes = p.bulk_bytes;
    let mut done = 0;
    loop {
        let rows = transfer(bytes)?;
        done += 1;
        let Some(target) = p.bulk_secs else {
            return Ok(rows);
        };
        let gbps = rows.first().and_then(|r| r.value).unwrap_or(0.0);
        if done >= BULK_TRANSFERS || gbps <= 0.0 || bulk_secs(bytes, gbps) >= target / 2.0 {
            return Ok(rows);
        }
        // More than twice `bytes` (it lasted under half the target).
        bytes = ((gbps * 1e9 / 8.0 * target) as u64).min(MAX_BULK_BYTES);
    }
}

/// Seconds `bytes` take at `gbps` Gbit/s.
fn bulk_secs(bytes: u64, gbps: f64) -> f64 {
    bytes as f64 * 8.0 / (gbps * 1e9)
}

/// Echo message size of the echo, latency, short and conns10k workloads.
pub const MESSAGE_BYTES: usize = 64;
/// Connections of `echo64x64`.
pub const ECHO_CONNS: usize = 64;
/// Connections of `conns10k`.
pub const MANY_CONNS: usize = 10_000;
/// Connections in flight in `short64`.
pub const SHORT_INFLIGHT: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use mtcp_socket_api::MtcpConf;

    #[test]
    fn bulk_transfers_grow_until_one_lasts_half_the_target() {
        let p = Params::new(true);
        let row = |gbps| vec![Row::new("bulk1500", "mem", "rtc", gbps, "Gbit/s")];
        // The transfer sizes asked of a link moving `gbps`, and the row.
        let asked = |p: &Params, gbps| {
            let mut asked = Vec::new();
            let r = sized_bulk(p, |b| {
                asked.push(b);
                Ok(row(gbps))
            })
            .unwrap();
            (asked, r[0].value)
        };
        // 25 Gbit/s: 50 MB lasts 16 ms, so a second transfer sized to last 0.5 s.
        assert_eq!(
            asked(&p, 25.0),
            (vec![50_000_000, 1_562_500_000], Some(25.0))
        );
        // A slow link's first transfer is long enough already.
        assert_eq!(asked(&p, 0.5).0, [50_000_000]);
        // An absurd rate: the size is capped, three transfers at most.
        assert_eq!(
            asked(&p, 1000.0).0,
            [50_000_000, MAX_BULK_BYTES, MAX_BULK_BYTES]
        );
        // `--bulk-bytes N`: one transfer of N; a failed transfer fails the row.
        let fixed = Params {
            bulk_secs: None,
            ..Params::new(true)
        };
        assert_eq!(asked(&fixed, 25.0).0, [50_000_000]);
        assert!(sized_bulk(&p, |_| Err("failed: x".into())).is_err());
    }

    #[test]
    fn every_link_parses_by_name_and_veth_links_name_a_backend_the_config_accepts() {
        for link in Link::ALL {
            assert_eq!(Link::parse(link.name()), Ok(link));
        }
        assert!(Link::parse("xdp").unwrap_err().contains("afxdp"));
        let veth: Vec<_> = Link::ALL.into_iter().filter_map(Link::veth_io).collect();
        assert_eq!(veth, ["afpacket", "afxdp"]);
        for io in veth {
            let conf = format!("io = {io}\nport = bva0\nbva0.ip = 198.18.2.1/24\n");
            if let Err((line, e)) = MtcpConf::parse(&conf) {
                panic!("io = {io}: line {line}: {e}");
            }
        }
    }
}
