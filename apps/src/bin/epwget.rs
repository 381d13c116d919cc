//! epwget: mTCP's HTTP/1.0 load generator. Fetches `<ip>[/path]` `#requests` times over
//! non-blocking connections, `-c` at once, spread over the cores (each with `mtcp_init_rss`);
//! prints epwget's per-second line and, at the end, each core's summary. Exits non-zero when
//! any request failed or did not finish.
//!
//! Usage: `epwget <ip>[:port][/path] <#requests> -f <mtcp.conf> [-N cores] [-c concurrency] [-o out]`
//! (`:port` is our extension; epwget always uses port 80).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use mtcp_apps::cli;
use mtcp_apps::client::{self, ClientConfig, ClientOutcome, ClientStats, Request};
use mtcp_socket_api::Mtcp;

/// mTCP's HTTP/1.0 load generator: fetches `<ip>[/path]` `#requests` times over non-blocking
/// connections, `-c` at once, spread over the cores. Prints a progress line a second and each
/// core's summary; exits 1 when any request failed or did not finish.
#[derive(Parser, Debug)]
#[command(name = "epwget", version)]
struct Cli {
    /// Server and path: `<ip>[:port][/path]` (`:port` is our extension; epwget uses 80).
    #[arg(value_name = "ip[:port][/path]")]
    url: String,
    /// Number of requests in all.
    #[arg(value_name = "#requests")]
    requests: usize,
    /// mTCP configuration file.
    #[arg(short = 'f', value_name = "mtcp.conf")]
    conf: String,
    /// Number of cores to run on (default: the configuration's num_cores).
    #[arg(short = 'N', value_name = "cores")]
    cores: Option<usize>,
    /// Connections open at once, over all cores.
    #[arg(short = 'c', value_name = "concurrency", default_value_t = 100)]
    concurrency: usize,
    /// Write the first response body to this file.
    #[arg(short = 'o', value_name = "out")]
    out: Option<String>,
}

type ClientThread = std::thread::JoinHandle<(usize, usize, mtcp_socket_api::Result<ClientOutcome>)>;

/// Starts mTCP and a client thread per core, each with its share of the requests and of the
/// concurrency. Errors here are the command line's or the configuration's (exit 2).
fn start(
    cli: &Cli,
    running: &Arc<AtomicUsize>,
    stats: &Arc<ClientStats>,
) -> Result<(Mtcp, Vec<ClientThread>), String> {
    let (host, path) = match cli.url.find('/') {
        Some(i) => (&cli.url[..i], &cli.url[i..]),
        None => (cli.url.as_str(), "/"),
    };
    let server = cli::parse_addr(host, 80)
        .map_err(|e| format!("<ip[:port][/path]> (IPv6: [ip]:port or ip): {e}"))?;
    let mtcp = cli::init(&cli.conf)?;
    let cores = cli::cores(&mtcp, cli.cores, None)?;
    let (n, total, concurrency) = (cores.len(), cli.requests, cli.concurrency);
    running.store(n, Ordering::Relaxed);
    let mut threads = Vec::new();
    for (i, &core) in cores.iter().enumerate() {
        let mine = total / n + usize::from(i < total % n);
        let cfg = ClientConfig {
            server,
            requests: vec![
                Request {
                    path: path.to_owned(),
                    expected: None,
                };
                mine
            ],
            concurrency: (concurrency / n + usize::from(i < concurrency % n)).max(1),
            stall_timeout: Duration::from_secs(10),
            keep_body: cli.out.is_some() && i == 0,
        };
        let mut ctx = mtcp
            .create_context(core)
            .map_err(|e| format!("mtcp_create_context({core}): {e}"))?;
        let (stats, running) = (Arc::clone(stats), Arc::clone(running));
        threads.push(std::thread::spawn(move || {
            let r = client::run(&mut ctx, &cfg, &stats);
            client::finish_core(&mut ctx, &running);
            (core, mine, r)
        }));
    }
    Ok((mtcp, threads))
}

/// Joins the client threads and prints each core's summary; true when every request completed.
fn finish(threads: Vec<ClientThread>, out: Option<&str>) -> Result<bool, String> {
    let mut ok = true;
    for t in threads {
        let (core, mine, r) = t.join().map_err(|_| "a client thread panicked")?;
        match r {
            Ok(o) => {
                println!(
                    "[CPU {core}] Completed {} connections, errors: {} incompletes: {}",
                    o.completes, o.errors, o.incompletes
                );
                if o.errors > 0 {
                    println!("[CPU {core}] errors by cause: {}", o.causes_line());
                }
                ok &= o.errors == 0 && o.incompletes == 0 && o.completes as usize == mine;
                if let (Some(path), Some(body)) = (out, o.first_body) {
                    std::fs::write(path, body).map_err(|e| format!("{path}: {e}"))?;
                }
            }
            Err(e) => {
                println!("[CPU {core}] failed: {e}");
                ok = false;
            }
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stats = Arc::new(ClientStats::default());
    let running = Arc::new(AtomicUsize::new(0));
    let (mtcp, threads) = match start(&cli, &running, &stats) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("epwget: {e}");
            return ExitCode::from(2);
        }
    };
    let mut prev = [0u64; 4];
    cli::print_stats_until(
        &mtcp,
        || {
            let (line, now) = stats.line(&prev);
            prev = now;
            // Progress: requests completed of all, and the share.
            Some(format!(
                "{line} [{}/{} done, {:.0}%]",
                now[3],
                cli.requests,
                now[3] as f64 * 100.0 / cli.requests.max(1) as f64
            ))
        },
        || running.load(Ordering::Relaxed) == 0,
    );
    match finish(threads, cli.out.as_deref()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("epwget: {e}");
            ExitCode::FAILURE
        }
    }
}
