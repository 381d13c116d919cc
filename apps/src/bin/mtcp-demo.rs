//! mtcp-demo: an epserver-like HTTP server and an epwget-like client in one process, each an
//! mTCP instance with one core (its own thread), joined by the in-memory switch. No
//! privileges, no NIC. Prints mTCP's per-second stats lines and epwget's summary; exits
//! non-zero if any request failed.
//!
//! Usage: `mtcp-demo [--requests N] [--big N] [--concurrency C] [--threaded]`

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_apps::client::{self, ClientConfig, ClientStats, Request};
use mtcp_apps::http::test_content;
use mtcp_apps::server::{self, ServerConfig, ServerStats};
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn conf(port: &str, ip: Ipv4Addr, threaded: bool) -> MtcpConf {
    let text = format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 10000\n\
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
        ))
    })();
    let (small_n, big_n, concurrency) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "mtcp-demo: {e}\nusage: mtcp-demo [--requests N] [--big N] [--concurrency C] [--threaded]"
            );
            return ExitCode::from(2);
        }
    };
    let threaded = args.iter().any(|a| a == "--threaded");
    match run(small_n, big_n, concurrency, threaded) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mtcp-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(small_n: usize, big_n: usize, concurrency: usize, threaded: bool) -> Result<bool, String> {
    let switch = MemSwitch::new(MemConfig {
        ring_size: 4096,
        pool_size: 4096,
        ..MemConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let srv = Mtcp::with_switch(conf("mem0", SERVER_IP, threaded), &switch, 0)
        .map_err(|e| e.to_string())?;
    let cli = Mtcp::with_switch(conf("mem1", CLIENT_IP, threaded), &switch, 1)
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
        "mtcp-demo: {} GETs ({} x 1 KB, {} x 1 MB), concurrency {concurrency}, run mode {}",
        requests.len(),
        requests.len() - n_big,
        n_big,
        if threaded {
            "threaded"
        } else {
            "run-to-completion"
        }
    );
    let client_cfg = ClientConfig {
        server: SocketAddrV4::new(SERVER_IP, 80),
        requests,
        concurrency,
        stall_timeout: Duration::from_secs(10),
        keep_body: false,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let server_stats = Arc::new(ServerStats::default());
    let client_stats = Arc::new(ClientStats::default());
    let mut sctx = srv
        .create_context(0)
        .map_err(|e| format!("server context: {e}"))?;
    let mut cctx = cli
        .create_context(0)
        .map_err(|e| format!("client context: {e}"))?;
    let started = Instant::now();
    let server_thread = {
        let (stop, stats) = (Arc::clone(&stop), Arc::clone(&server_stats));
        std::thread::spawn(move || server::run(&mut sctx, &server_cfg, &stats, &stop))
    };
    let client_thread = {
        let stats = Arc::clone(&client_stats);
        std::thread::spawn(move || client::run(&mut cctx, &client_cfg, &stats))
    };

    let mut prev_s = srv.snapshots();
    let mut prev_c = cli.snapshots();
    let mut prev_w = [0u64; 4];
    let mut tick = Instant::now();
    while !client_thread.is_finished() {
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
    let result = client_thread
        .join()
        .map_err(|_| "client thread panicked".to_string())?;
    stop.store(true, Ordering::Relaxed);
    let served = server_thread
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let secs = tick.elapsed().as_secs_f64();
    print!("{}", srv.stats_lines(&prev_s, secs));
    print!("{}", cli.stats_lines(&prev_c, secs));
    let elapsed = started.elapsed();
    let outcome = result.map_err(|e| format!("client: {e}"))?;
    let (completes, errors, incompletes) = (outcome.completes, outcome.errors, outcome.incompletes);
    served.map_err(|e| format!("server: {e}"))?;
    println!(
        "[CPU {}] Completed {} connections, errors: {} incompletes: {}",
        0, completes, errors, incompletes
    );
    println!(
        "mtcp-demo: {} responses verified byte for byte in {:.2} s; server accepted {}, answered {}, errors {}",
        completes,
        elapsed.as_secs_f64(),
        server_stats.accepted.load(Ordering::Relaxed),
        server_stats.responses.load(Ordering::Relaxed),
        server_stats.errors.load(Ordering::Relaxed),
    );
    Ok(errors == 0 && incompletes == 0 && completes as usize == total)
}
