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
//! Usage: `mtcp-demo [--requests N] [--big N] [--concurrency C] [--cores N] [--threaded] [--opaque]`

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mtcp_apps::client::{self, ClientConfig, ClientStats, Request};
use mtcp_apps::http::test_content;
use mtcp_apps::server::{self, ServerConfig, ServerStats};
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

const USAGE: &str = "usage: mtcp-demo [--requests N] [--big N] [--concurrency C] [--cores N] [--threaded] [--opaque]";

fn conf(port: &str, ip: Ipv4Addr, cores: usize, threaded: bool) -> MtcpConf {
    let text = format!(
        "io = mem\nnum_cores = {cores}\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 10000\n\
         rcvbuf = 65536\nsndbuf = 65536\ntcp_timewait = 0\ntcp_timeout = 30\nstat_print = {port}\nrun_mode = {}\n",
        if threaded { "threaded" } else { "rtc" }
    );
    MtcpConf::parse(&text).unwrap_or_else(|(line, e)| panic!("demo config line {line}: {e}"))
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (|| {
        Ok::<_, String>((
            arg(&args, "--requests", 10_000)?,
            arg(&args, "--big", 20)?,
            arg(&args, "--concurrency", 100)?,
            arg(&args, "--cores", 2)?,
        ))
    })();
    let (small_n, big_n, concurrency, cores) = match parsed {
        Ok((_, _, _, 0)) => {
            eprintln!("mtcp-demo: --cores must be at least 1\n{USAGE}");
            return ExitCode::from(2);
        }
        Ok(v) => v,
        Err(e) => {
            eprintln!("mtcp-demo: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let threaded = args.iter().any(|a| a == "--threaded");
    let opaque = args.iter().any(|a| a == "--opaque");
    match run(small_n, big_n, concurrency, cores, threaded, opaque) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mtcp-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    small_n: usize,
    big_n: usize,
    concurrency: usize,
    cores: usize,
    threaded: bool,
    opaque: bool,
) -> Result<bool, String> {
    let switch = MemSwitch::new(MemConfig {
        ring_size: 4096,
        pool_size: 4096,
        queues: cores,
        opaque,
        ..MemConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let srv = Mtcp::with_switch(conf("mem0", SERVER_IP, cores, threaded), &switch, 0)
        .map_err(|e| e.to_string())?;
    let cli = Mtcp::with_switch(conf("mem1", CLIENT_IP, cores, threaded), &switch, 1)
        .map_err(|e| e.to_string())?;

    let small = Arc::new(test_content(1024, 1));
    let big = Arc::new(test_content(1 << 20, 2));
    let mut files = HashMap::new();
    files.insert("/index.html".to_string(), Arc::clone(&small));
    files.insert("/big.bin".to_string(), Arc::clone(&big));
    let server_cfg = ServerConfig {
        addr: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80),
        backlog: 4096,
        files,
    };
    // The big downloads are spread evenly among the small ones.
    let total = small_n + big_n;
    let requests: Vec<Request> = (0..total)
        .map(|i| {
            let is_big = big_n > 0
                && i % (total / big_n.max(1)).max(1) == 0
                && i / (total / big_n).max(1) < big_n;
            if is_big {
                Request {
                    path: "/big.bin".into(),
                    expected: Some(Arc::clone(&big)),
                }
            } else {
                Request {
                    path: "/index.html".into(),
                    expected: Some(Arc::clone(&small)),
                }
            }
        })
        .collect();
    let n_big = requests.iter().filter(|r| r.path == "/big.bin").count();
    println!(
        "mtcp-demo: {} GETs ({} x 1 KB, {} x 1 MB), concurrency {concurrency}, {cores} core(s), \
         run mode {}, {} steering",
        requests.len(),
        requests.len() - n_big,
        n_big,
        if threaded {
            "threaded"
        } else {
            "run-to-completion"
        },
        match (cores, opaque) {
            (1, _) => "no",
            (_, false) => "Toeplitz (switch)",
            (_, true) => "software (opaque switch)",
        }
    );

    let stop = Arc::new(AtomicBool::new(false));
    let server_stats = Arc::new(ServerStats::default());
    let client_stats = Arc::new(ClientStats::default());
    let started = Instant::now();
    // A listener on every server core; then the clients, requests dealt round-robin.
    let mut server_threads = Vec::new();
    for core in 0..cores {
        let mut sctx = srv
            .create_context(core)
            .map_err(|e| format!("server context {core}: {e}"))?;
        // Listening before the thread starts: a client's SYN that came first would be refused.
        let listener = server::listen(&mut sctx, &server_cfg)
            .map_err(|e| format!("server listen {core}: {e}"))?;
        let (stop, stats, cfg) = (
            Arc::clone(&stop),
            Arc::clone(&server_stats),
            server_cfg.clone(),
        );
        server_threads.push(std::thread::spawn(move || {
            server::serve(&mut sctx, listener, &cfg, &stats, &stop)
        }));
    }
    let running = Arc::new(AtomicUsize::new(cores));
    let mut client_threads = Vec::new();
    for core in 0..cores {
        let mut cctx = cli
            .create_context(core)
            .map_err(|e| format!("client context {core}: {e}"))?;
        let mine: Vec<Request> = requests.iter().skip(core).step_by(cores).cloned().collect();
        let expected = mine.len();
        let cfg = ClientConfig {
            server: SocketAddrV4::new(SERVER_IP, 80),
            requests: mine,
            concurrency: (concurrency / cores + usize::from(core < concurrency % cores)).max(1),
            stall_timeout: Duration::from_secs(10),
            keep_body: false,
        };
        let (stats, running) = (Arc::clone(&client_stats), Arc::clone(&running));
        client_threads.push(std::thread::spawn(move || {
            let r = client::run(&mut cctx, &cfg, &stats);
            client::finish_core(&mut cctx, &running);
            (r, expected)
        }));
    }

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
            let (line, now) = client_stats.line(&prev_w);
            println!("{line}");
            prev_s = srv.snapshots();
            prev_c = cli.snapshots();
            prev_w = now;
            tick = Instant::now();
        }
    }
    let mut results = Vec::new();
    for t in client_threads {
        results.push(t.join().map_err(|_| "client thread panicked".to_string())?);
    }
    stop.store(true, Ordering::Relaxed);
    for t in server_threads {
        t.join()
            .map_err(|_| "server thread panicked".to_string())?
            .map_err(|e| format!("server: {e}"))?;
    }
    let secs = tick.elapsed().as_secs_f64();
    print!("{}", srv.stats_lines(&prev_s, secs));
    print!("{}", cli.stats_lines(&prev_c, secs));
    let elapsed = started.elapsed();
    let mut ok = true;
    let mut completed = 0;
    for (core, (result, expected)) in results.into_iter().enumerate() {
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
    let mesh = |m: &Mtcp| {
        m.snapshots()
            .iter()
            .map(|s| (s.mesh.forwarded, s.mesh.dropped))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    if cores > 1 {
        let (sf, sd) = mesh(&srv);
        let (cf, cd) = mesh(&cli);
        println!(
            "mtcp-demo: frames handed between cores: server {sf} (dropped {sd}), client {cf} (dropped {cd})"
        );
    }
    println!(
        "mtcp-demo: {} responses verified byte for byte in {:.2} s; server accepted {}, answered {}, errors {}",
        completed,
        elapsed.as_secs_f64(),
        server_stats.accepted.load(Ordering::Relaxed),
        server_stats.responses.load(Ordering::Relaxed),
        server_stats.errors.load(Ordering::Relaxed),
    );
    Ok(ok && completed as usize == total)
}
