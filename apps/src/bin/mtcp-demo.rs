//! mtcp-demo: an epserver-like HTTP server and an epwget-like client in one process, each an
//! mTCP instance with `--cores N` cores (default 2; a context and a thread per core, a
//! listener on every server core), joined by the in-memory switch. No privileges, no NIC.
//! Prints mTCP's per-second stats lines and epwget's per-core summary; exits non-zero if any
//! request failed.
//!
//! The switch steers flows to queues by Toeplitz RSS (as a NIC would); `--opaque` makes it
//! spread them by a hash of its own instead (as TAP and AF_PACKET fanout do), so the stacks
//! steer flows to their cores in software (mtcp-socket-api's mesh).
//!
//! Then the same GETs over IPv6 between the same two instances (2001:2::2 to 2001:2::1; the
//! server listening on `::`), and the time of both runs.
//!
//! Then it runs the same GETs over Linux's TCP (std::net over 127.0.0.1, a thread per
//! connection at a time) and prints both times and their ratio, measured in the same run.
//!
//! Usage: `mtcp-demo [--requests N] [--big N] [--concurrency C] [--cores N] [--threaded] [--opaque]`
//! (`--no-linux` skips the comparison, `--no-ipv6` the IPv6 run).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use mtcp_apps::client::{self, ClientConfig, ClientOutcome, ClientStats, Request};
use mtcp_apps::http::test_content;
use mtcp_apps::linux_http;
use mtcp_apps::server::{self, ServerConfig, ServerStats};
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const CLIENT_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// An epserver-like server and an epwget-like client in one process, each an mTCP instance,
/// joined by the in-memory switch (no privileges, no NIC); then the same GETs over Linux's TCP.
#[derive(Parser, Debug)]
#[command(name = "mtcp-demo", version)]
struct Cli {
    /// GETs of the 1 KB file.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    requests: usize,
    /// GETs of the 1 MB file, spread among the small ones.
    #[arg(long, value_name = "N", default_value_t = 20)]
    big: usize,
    /// Connections open at once, over all client cores.
    #[arg(long, value_name = "C", default_value_t = 100)]
    concurrency: usize,
    /// Cores (a context and a thread each) per instance.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    cores: u16,
    /// mTCP's threaded run mode (a stack thread per context) instead of run-to-completion.
    #[arg(long)]
    threaded: bool,
    /// The switch spreads flows by a hash of its own; the stacks steer them in software.
    #[arg(long)]
    opaque: bool,
    /// Skip the run over Linux sockets.
    #[arg(long)]
    no_linux: bool,
    /// Skip the run over IPv6.
    #[arg(long)]
    no_ipv6: bool,
}

fn conf(port: &str, (ip, ip6): (Ipv4Addr, Ipv6Addr), cores: usize, threaded: bool) -> MtcpConf {
    let text = format!(
        "io = mem\nnum_cores = {cores}\nport = {port}\n{port}.ip = {ip}/24\n{port}.ip6 = {ip6}/64\n\
         max_concurrency = 10000\n\
         rcvbuf = 65536\nsndbuf = 65536\ntcp_timewait = 0\ntcp_timeout = 30\nstat_print = {port}\nrun_mode = {}\n",
        if threaded { "threaded" } else { "rtc" }
    );
    MtcpConf::parse(&text).unwrap_or_else(|(line, e)| panic!("demo config line {line}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mtcp-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server's files (a 1 KB index and a 1 MB file) and the requests: `small_n` small GETs with
/// `big_n` big ones spread evenly among them, each with the body it must return.
fn workload(small_n: usize, big_n: usize) -> (ServerConfig, Vec<Request>) {
    let small = Arc::new(test_content(1024, 1));
    let big = Arc::new(test_content(1 << 20, 2));
    let mut files = HashMap::new();
    files.insert("/index.html".to_string(), Arc::clone(&small));
    files.insert("/big.bin".to_string(), Arc::clone(&big));
    let server_cfg = ServerConfig {
        addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)),
        backlog: 4096,
        files,
    };
    let total = small_n + big_n;
    let requests = (0..total)
        .map(|i| {
            let is_big = big_n > 0
                && i % (total / big_n.max(1)).max(1) == 0
                && i / (total / big_n).max(1) < big_n;
            let (path, body) = if is_big {
                ("/big.bin", &big)
            } else {
                ("/index.html", &small)
            };
            Request {
                path: path.into(),
                expected: Some(Arc::clone(body)),
            }
        })
        .collect();
    (server_cfg, requests)
}

fn print_header(cli: &Cli, requests: &[Request]) {
    let n_big = requests.iter().filter(|r| r.path == "/big.bin").count();
    println!(
        "mtcp-demo: {} GETs ({} x 1 KB, {} x 1 MB), concurrency {}, {} core(s), run mode {}, {} steering",
        requests.len(),
        requests.len() - n_big,
        n_big,
        cli.concurrency,
        cli.cores,
        if cli.threaded {
            "threaded"
        } else {
            "run-to-completion"
        },
        match (cli.cores, cli.opaque) {
            (1, _) => "no",
            (_, false) => "Toeplitz (switch)",
            (_, true) => "software (opaque switch)",
        }
    );
}

type ServerThread = JoinHandle<mtcp_socket_api::Result<()>>;
type ClientThread = JoinHandle<(mtcp_socket_api::Result<ClientOutcome>, usize)>;

/// A listener on every server core, each served by its own thread until `stop`.
fn start_servers(
    srv: &Mtcp,
    cores: usize,
    cfg: &ServerConfig,
    stats: &Arc<ServerStats>,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<ServerThread>, String> {
    let mut threads = Vec::new();
    for core in 0..cores {
        let mut sctx = srv
            .create_context(core)
            .map_err(|e| format!("server context {core}: {e}"))?;
        // Listening before the thread starts: a client's SYN that came first would be refused.
        let listener =
            server::listen(&mut sctx, cfg).map_err(|e| format!("server listen {core}: {e}"))?;
        let (stop, stats, cfg) = (Arc::clone(stop), Arc::clone(stats), cfg.clone());
        threads.push(std::thread::spawn(move || {
            server::serve(&mut sctx, listener, &cfg, &stats, &stop)
        }));
    }
    Ok(threads)
}

/// A client thread per core, requests dealt round-robin, concurrency split evenly.
fn start_clients(
    cli: &Mtcp,
    cores: usize,
    concurrency: usize,
    (server, requests): (IpAddr, &[Request]),
    stats: &Arc<ClientStats>,
    running: &Arc<AtomicUsize>,
) -> Result<Vec<ClientThread>, String> {
    let mut threads = Vec::new();
    for core in 0..cores {
        let mut cctx = cli
            .create_context(core)
            .map_err(|e| format!("client context {core}: {e}"))?;
        let mine: Vec<Request> = requests.iter().skip(core).step_by(cores).cloned().collect();
        let expected = mine.len();
        let cfg = ClientConfig {
            server: SocketAddr::new(server, 80),
            requests: mine,
            concurrency: (concurrency / cores + usize::from(core < concurrency % cores)).max(1),
            stall_timeout: Duration::from_secs(10),
            keep_body: false,
        };
        let (stats, running) = (Arc::clone(stats), Arc::clone(running));
        threads.push(std::thread::spawn(move || {
            let r = client::run(&mut cctx, &cfg, &stats);
            client::finish_core(&mut cctx, &running);
            (r, expected)
        }));
    }
    Ok(threads)
}

/// Prints both instances' stats lines and epwget's line once a second until the clients are done.
fn watch(srv: &Mtcp, cli: &Mtcp, stats: &ClientStats, running: &AtomicUsize) {
    let mut prev_s = srv.snapshots();
    let mut prev_c = cli.snapshots();
    let mut prev_w = [0u64; 4];
    let mut tick = Instant::now();
    while running.load(Ordering::Relaxed) > 0 {
        std::thread::sleep(Duration::from_millis(20));
        let secs = tick.elapsed().as_secs_f64();
        if secs >= 1.0 {
            print!("{}", srv.stats_lines(&prev_s, secs));
            print!("{}", cli.stats_lines(&prev_c, secs));
            let (line, now) = stats.line(&prev_w);
            println!("{line}");
            prev_s = srv.snapshots();
            prev_c = cli.snapshots();
            prev_w = now;
            tick = Instant::now();
        }
    }
    let secs = tick.elapsed().as_secs_f64();
    print!("{}", srv.stats_lines(&prev_s, secs));
    print!("{}", cli.stats_lines(&prev_c, secs));
}

/// Joins the clients and prints each core's summary; returns (all as expected, completes).
fn join_clients(threads: Vec<ClientThread>) -> Result<(bool, u64), String> {
    let mut ok = true;
    let mut completed = 0;
    for (core, t) in threads.into_iter().enumerate() {
        let (result, expected) = t.join().map_err(|_| "client thread panicked".to_string())?;
        let outcome = result.map_err(|e| format!("client core {core}: {e}"))?;
        println!(
            "[CPU {core}] Completed {} connections, errors: {} incompletes: {}",
            outcome.completes, outcome.errors, outcome.incompletes
        );
        ok &= outcome.errors == 0
            && outcome.incompletes == 0
            && outcome.completes as usize == expected;
        completed += outcome.completes;
    }
    Ok((ok, completed))
}

fn print_mesh(srv: &Mtcp, cli: &Mtcp) {
    let mesh = |m: &Mtcp| {
        m.snapshots()
            .iter()
            .map(|s| (s.mesh.forwarded, s.mesh.dropped))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    let (sf, sd) = mesh(srv);
    let (cf, cd) = mesh(cli);
    println!(
        "mtcp-demo: frames handed between cores: server {sf} (dropped {sd}), client {cf} (dropped {cd})"
    );
}

/// The mTCP part: two instances on the switch, servers and clients on every core, over IPv6
/// when `ipv6` (the server on `::`, the clients to its IPv6 address). Returns whether every
/// response was right, and the time from the first connect to the last response.
fn run_mtcp(
    cli: &Cli,
    server_cfg: &ServerConfig,
    requests: &[Request],
    ipv6: bool,
) -> Result<(bool, Duration), String> {
    let (server_cfg, server): (ServerConfig, IpAddr) = if ipv6 {
        let addr = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), server_cfg.addr.port());
        let cfg = ServerConfig {
            addr,
            ..server_cfg.clone()
        };
        (cfg, SERVER_IP6.into())
    } else {
        (server_cfg.clone(), SERVER_IP.into())
    };
    let server_cfg = &server_cfg;
    let cores = usize::from(cli.cores);
    let switch = MemSwitch::new(MemConfig {
        ring_size: 4096,
        pool_size: 4096,
        queues: cores,
        opaque: cli.opaque,
        ..MemConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let srv = Mtcp::with_switch(
        conf("mem0", (SERVER_IP, SERVER_IP6), cores, cli.threaded),
        &switch,
        0,
    )
    .map_err(|e| e.to_string())?;
    let client = Mtcp::with_switch(
        conf("mem1", (CLIENT_IP, CLIENT_IP6), cores, cli.threaded),
        &switch,
        1,
    )
    .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let server_stats = Arc::new(ServerStats::default());
    let client_stats = Arc::new(ClientStats::default());
    let started = Instant::now();
    let servers = start_servers(&srv, cores, server_cfg, &server_stats, &stop)?;
    let running = Arc::new(AtomicUsize::new(cores));
    let clients = start_clients(
        &client,
        cores,
        cli.concurrency,
        (server, requests),
        &client_stats,
        &running,
    )?;
    watch(&srv, &client, &client_stats, &running);
    let (ok, completed) = join_clients(clients)?;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in servers {
        t.join()
            .map_err(|_| "server thread panicked".to_string())?
            .map_err(|e| format!("server: {e}"))?;
    }
    if cores > 1 {
        print_mesh(&srv, &client);
    }
    println!(
        "mtcp-demo: {} responses verified byte for byte in {:.2} s; server accepted {}, answered {}, errors {}",
        completed,
        elapsed.as_secs_f64(),
        server_stats.accepted.load(Ordering::Relaxed),
        server_stats.responses.load(Ordering::Relaxed),
        server_stats.errors.load(Ordering::Relaxed),
    );
    Ok((ok && completed as usize == requests.len(), elapsed))
}

/// The same GETs over Linux's TCP in this process; prints both times and their ratio.
fn compare_with_linux(
    cli: &Cli,
    server_cfg: &ServerConfig,
    requests: &[Request],
    ours: Duration,
) -> Result<bool, String> {
    let threads = cli.concurrency.clamp(1, 64);
    let linux = linux_http::run(server_cfg, requests, threads)
        .map_err(|e| format!("linux sockets: {e}"))?;
    println!(
        "mtcp-demo: linux (std::net over 127.0.0.1, {threads} connections at a time): {} responses verified in {:.2} s, errors {}",
        linux.completes,
        linux.elapsed.as_secs_f64(),
        linux.errors
    );
    println!(
        "mtcp-demo: time mtcp {:.2} s, linux {:.2} s: mtcp/linux = {:.2} (below 1: mTCP faster)",
        ours.as_secs_f64(),
        linux.elapsed.as_secs_f64(),
        ours.as_secs_f64() / linux.elapsed.as_secs_f64().max(1e-9)
    );
    Ok(linux.errors == 0 && linux.completes == requests.len())
}

/// The same GETs over IPv6; prints both runs' times.
fn run_ipv6(
    cli: &Cli,
    server_cfg: &ServerConfig,
    requests: &[Request],
    ipv4: Duration,
) -> Result<bool, String> {
    println!("mtcp-demo: the same GETs over IPv6, [{CLIENT_IP6}] to [{SERVER_IP6}]:80");
    let (ok, ipv6) = run_mtcp(cli, server_cfg, requests, true)?;
    println!(
        "mtcp-demo: time over IPv4 {:.2} s, over IPv6 {:.2} s: IPv6/IPv4 = {:.2}",
        ipv4.as_secs_f64(),
        ipv6.as_secs_f64(),
        ipv6.as_secs_f64() / ipv4.as_secs_f64().max(1e-9)
    );
    Ok(ok)
}

fn run(cli: &Cli) -> Result<bool, String> {
    let (server_cfg, requests) = workload(cli.requests, cli.big);
    print_header(cli, &requests);
    let (ok, ours) = run_mtcp(cli, &server_cfg, &requests, false)?;
    let ok = ok && (cli.no_ipv6 || run_ipv6(cli, &server_cfg, &requests, ours)?);
    if cli.no_linux {
        return Ok(ok);
    }
    let linux_ok = compare_with_linux(cli, &server_cfg, &requests, ours)?;
    Ok(ok && linux_ok)
}
