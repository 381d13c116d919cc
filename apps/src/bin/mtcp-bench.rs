//! mtcp-bench: the same workloads over every link in one run, side by side, with ratios to the
//! Linux kernel measured in the same run. See `mtcp_apps::bench` for the links and workloads.
//!
//! As root: `cargo build --release -p mtcp-apps [--features dpdk] --bin mtcp-bench`, then
//! `target/release/mtcp-bench --quick --json out.json --plot bench.svg`. Without the `dpdk`
//! feature the `memif` link is reported as unavailable; without root only `mem` runs.

use std::process::ExitCode;

use clap::Parser;
use mtcp_apps::bench::sub::{Stack, SubLink};
use mtcp_apps::bench::topo::Topo;
use mtcp_apps::bench::{Link, Params, Row, Workload, lossy, mem, plot, report};
use mtcp_apps::commands;
use mtcp_apps::memlink::SERVER_IP;

/// Command line of mtcp-bench.
#[derive(Parser, Debug)]
#[command(
    name = "mtcp-bench",
    version,
    about = "mTCP's workloads over every link, side by side with the Linux kernel"
)]
struct Args {
    /// A short run (the whole default set in under 90 s).
    #[arg(long)]
    quick: bool,
    /// Links, comma-separated: mem, mem6 (mem over IPv6), memif, afpacket, afxdp, kernel,
    /// kernel-1500.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mem,memif,afpacket,afxdp,kernel,kernel-1500"
    )]
    links: Vec<String>,
    /// Workloads, comma-separated: echo64x64, latency64, short64, bulk1500, bulk9000, conns10k,
    /// lossy1, lossy3.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "echo64x64,latency64,short64,bulk1500,bulk9000,conns10k,lossy1,lossy3"
    )]
    workloads: Vec<String>,
    /// Run mode of our stacks: rtc, threaded or both.
    #[arg(long, default_value = "both", value_parser = ["rtc", "threaded", "both"])]
    run_mode: String,
    /// Cores per side (only 1 so far).
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// Bytes of each bulk transfer, one per row. Without it each row's transfers are sized
    /// for the link: the first moves 50 MB (--quick; 200 MB otherwise), and while one lasts
    /// under half of 0.5 s (1 s), the next is sized from its rate to last that long.
    #[arg(long)]
    bulk_bytes: Option<u64>,
    /// Congestion control of our senders in the lossy workloads (mtcp.conf `tcp_cc`).
    #[arg(long, value_delimiter = ',', default_value = "cubic")]
    cc: Vec<String>,
    /// Transfers per lossy row (their median; the senders take turns): 5, or 1 with --quick.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    lossy_runs: Option<u32>,
    /// Write the rows as JSON to this file.
    #[arg(long)]
    json: Option<String>,
    /// Draw the ratios to the kernel into this SVG file.
    #[arg(long)]
    plot: Option<String>,
    /// Show what the bench's child processes (servers, clients, senders) write to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A failed run as a row (its error already says `unsupported:`/`unavailable:`, or it failed).
fn missing(w: Workload, link: &str, mode: &str, e: &str) -> Row {
    let known = ["unsupported:", "unavailable:", "failed:"];
    let why = if known.iter().any(|k| e.starts_with(k)) {
        e.to_string()
    } else {
        format!("failed: {e}")
    };
    Row::missing(w.name(), link, mode, &why)
}

/// Runs one workload on one link and run mode, adds its rows and shows them (with the time
/// the run took) on stderr.
fn push(
    rows: &mut Vec<Row>,
    w: Workload,
    link: &str,
    mode: &str,
    f: impl FnOnce() -> Result<Vec<Row>, String>,
) {
    let started = std::time::Instant::now();
    // After ^C (or SIGTERM) the remaining runs are skipped, so that the namespaces and child
    // processes of the run are still removed on the way out.
    let new = if mtcp_apps::cli::stop_flag().load(std::sync::atomic::Ordering::Relaxed) {
        vec![missing(w, link, mode, "interrupted")]
    } else {
        f().unwrap_or_else(|e| vec![missing(w, link, mode, &e)])
    };
    let secs = started.elapsed().as_secs_f64();
    for line in report::table(&new).lines().skip(1) {
        eprintln!("{line}  [{secs:.1} s]");
    }
    rows.extend(new);
}

fn sub_link(link: Link, modes: &[&str], ws: &[Workload], p: &Params) -> Result<Vec<Row>, String> {
    let dir =
        std::env::temp_dir().join(format!("mtcpbench-{}-{}", link.name(), std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (topo, server_ip, stack) = match link {
        Link::Kernel => (
            Topo::loopback("bk", "198.18.0.1")?,
            "198.18.0.1",
            Stack::Kernel,
        ),
        Link::Kernel1500 => {
            let t = Topo::veth("bq", 1500)?;
            t.kernel_addrs("198.18.1.1", "198.18.1.2")?;
            (t, "198.18.1.1", Stack::Kernel)
        }
        Link::AfPacket | Link::AfXdp => {
            let backend = link.veth_io().unwrap_or("afpacket");
            let t = Topo::veth(if link == Link::AfXdp { "bx" } else { "ba" }, 1500)?;
            let io = |ifname: &str, ip: &str| {
                let mut s = format!("io = {backend}\nport = {ifname}\n{ifname}.ip = {ip}/24\n");
                // Extra mtcp.conf lines for both ends, `;`-separated (`xdp_mode = generic`):
                // how the AF_XDP binding modes were compared in one bench (BENCHMARKS.md).
                if let Ok(extra) = std::env::var("MTCP_BENCH_VETH_CONF") {
                    s.push_str(&extra.replace(';', "\n"));
                    s.push('\n');
                }
                s
            };
            let stack = Stack::Ours {
                dir: dir.clone(),
                server_io: io(&t.server_if, "198.18.2.1"),
                client_io: io(&t.client_if, "198.18.2.2"),
            };
            (t, "198.18.2.1", stack)
        }
        Link::Memif => {
            let t = Topo::loopback("bm", "198.18.0.1")?;
            let stack = Stack::Ours {
                dir: dir.clone(),
                server_io: String::new(),
                client_io: String::new(),
            };
            (t, "198.18.0.2", stack)
        }
        Link::Mem | Link::Mem6 => return Err("mem runs in-process".into()),
    };
    let mut rows = Vec::new();
    let kernel = ["kernel"];
    let modes = if link.is_kernel() { &kernel[..] } else { modes };
    let ip = server_ip.parse().map_err(|_| "bad address")?;
    let mut sl = SubLink::new(link, &topo, ip, stack, "");
    debug_assert!(link != Link::Memif || sl.server_ip == SERVER_IP);
    for mode in modes {
        sl.set_mode(mode);
        for &w in ws {
            push(&mut rows, w, link.name(), mode, || sl.run(w, p));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

fn link_rows(link: Link, modes: &[&str], ws: &[Workload], p: &Params) -> Vec<Row> {
    let unavailable = |why: &str| {
        ws.iter()
            .map(|w| {
                Row::missing(
                    w.name(),
                    link.name(),
                    if link.is_kernel() { "kernel" } else { "-" },
                    why,
                )
            })
            .collect()
    };
    if link == Link::Mem || link == Link::Mem6 {
        let mut rows = Vec::new();
        for mode in modes {
            for &w in ws {
                if link == Link::Mem {
                    push(&mut rows, w, "mem", mode, || mem::run(w, mode, p));
                } else {
                    push(&mut rows, w, "mem6", mode, || mem::run_ipv6(w, mode, p));
                }
            }
        }
        return rows;
    }
    if link == Link::Memif && !cfg!(feature = "dpdk") {
        return unavailable("unavailable: built without --features dpdk");
    }
    if !is_root() {
        return unavailable("unavailable: needs root (network namespaces)");
    }
    sub_link(link, modes, ws, p)
        .unwrap_or_else(|e| unavailable(&format!("failed: setting up the link: {e}")))
}

fn run(a: Args) -> Result<bool, String> {
    let links = a
        .links
        .iter()
        .map(|l| Link::parse(l))
        .collect::<Result<Vec<_>, _>>()?;
    let ws = a
        .workloads
        .iter()
        .map(|w| Workload::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    if a.cores != 1 {
        return Err(format!(
            "--cores {}: only 1 core per side is implemented so far",
            a.cores
        ));
    }
    let modes: Vec<&str> = match a.run_mode.as_str() {
        "both" => vec!["rtc", "threaded"],
        m => vec![m],
    };
    let mut p = Params::new(a.quick);
    p.cc = a.cc.clone();
    if let Some(n) = a.lossy_runs {
        p.lossy_runs = n as usize;
    }
    if let Some(b) = a.bulk_bytes {
        p.bulk_bytes = b;
        p.bulk_secs = None;
    }
    let plain: Vec<Workload> = ws.iter().copied().filter(|w| !w.is_lossy()).collect();
    let lossy: Vec<Workload> = ws.iter().copied().filter(|w| w.is_lossy()).collect();
    let mut rows = Vec::new();
    for &link in &links {
        if !plain.is_empty() {
            rows.extend(link_rows(link, &modes, &plain, &p));
        }
    }
    let linux = links.contains(&Link::Kernel1500);
    // Our lossy senders run over the veth links of the run (afpacket, afxdp).
    let ours: Vec<Link> = links
        .iter()
        .copied()
        .filter(|l| l.veth_io().is_some())
        .collect();
    let ours_name = ours.first().map_or("afpacket", |l| l.name());
    if !lossy.is_empty() && (linux || !ours.is_empty()) {
        if !is_root() {
            for w in &lossy {
                rows.push(Row::missing(
                    w.name(),
                    ours_name,
                    "-",
                    "unavailable: needs root (network namespaces)",
                ));
            }
        } else {
            rows.extend(
                lossy::run(&lossy, linux, &ours, &modes, &p).unwrap_or_else(|e| {
                    lossy
                        .iter()
                        .map(|w| missing(*w, ours_name, "-", &e))
                        .collect()
                }),
            );
        }
    }
    println!("{}", report::table(&rows));
    if let Some(path) = &a.json {
        std::fs::write(path, report::json(&rows) + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    if let Some(path) = &a.plot {
        plot::write(&rows, path, "mtcp-bench: ours / Linux kernel, same run")?;
    }
    Ok(!rows.iter().any(|r| r.unit.starts_with("failed:")))
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let first = argv.next();
    if first.as_deref() == Some("--as") {
        // A server or client process of a link (see `mtcp_apps::bench::proc`).
        return match argv.next().as_deref() {
            Some("mtcp-echo") => commands::echo_main(argv),
            Some("mtcp-perf") => commands::perf_main(argv),
            Some("mtcp-short") => mtcp_apps::bench::short::short_main(argv),
            Some("mtcp-lossy-sender") => lossy::sender_main(argv),
            other => {
                eprintln!(
                    "mtcp-bench: --as {other:?}: expected mtcp-echo, mtcp-perf or mtcp-short"
                );
                ExitCode::from(2)
            }
        };
    }
    let a = Args::parse();
    mtcp_apps::cli::stop_flag();
    mtcp_apps::bench::proc::set_verbose(a.verbose);
    match run(a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("mtcp-bench: some runs failed (see the rows marked failed)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("mtcp-bench: {e}");
            ExitCode::from(2)
        }
    }
}
