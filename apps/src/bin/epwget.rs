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

use mtcp_apps::cli::{self, Args};
use mtcp_apps::client::{self, ClientConfig, ClientStats, Request};

const USAGE: &str = "usage: epwget <ip>[:port][/path] <#requests> -f <mtcp.conf> [-N cores] [-c concurrency] [-o out]";

fn run() -> Result<bool, String> {
    let args = Args::parse(std::env::args().skip(1), &[]);
    if let Some(k) = args.unknown(&["-f", "-N", "-c", "-o"]) {
        return Err(format!("unknown option {k}"));
    }
    let [url, count] = args.positional.as_slice() else {
        return Err("expected <ip>[/path] and <#requests>".into());
    };
    let (host, path) = match url.find('/') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url.as_str(), "/"),
    };
    let server = cli::parse_addr(host, 80)?;
    let total: usize = count
        .parse()
        .map_err(|_| format!("#requests: `{count}` is not a number"))?;
    let conf = args.value("-f")?.ok_or("-f <mtcp.conf> is required")?;
    let out = args.value("-o")?.map(str::to_owned);
    let mtcp = cli::init(conf)?;
    let cores = cli::cores(
        &mtcp,
        args.value("-N")?
            .map(str::parse)
            .transpose()
            .map_err(|_| "-N: not a number")?,
        None,
    )?;
    let concurrency: usize = args.num("-c", 100)?;
    let n = cores.len();
    let stats = Arc::new(ClientStats::default());
    let running = Arc::new(AtomicUsize::new(n));
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
            keep_body: out.is_some() && i == 0,
        };
        let mut ctx = mtcp
            .create_context(core)
            .map_err(|e| format!("mtcp_create_context({core}): {e}"))?;
        let (stats, running) = (Arc::clone(&stats), Arc::clone(&running));
        threads.push(std::thread::spawn(move || {
            let r = client::run(&mut ctx, &cfg, &stats);
            client::finish_core(&mut ctx, &running);
            (core, mine, r)
        }));
    }
    let mut prev = [0u64; 4];
    cli::print_stats_until(
        &mtcp,
        || {
            let (line, now) = stats.line(&prev);
            prev = now;
            Some(line)
        },
        || running.load(Ordering::Relaxed) == 0,
    );
    let mut ok = true;
    for t in threads {
        let (core, mine, r) = t.join().map_err(|_| "a client thread panicked")?;
        match r {
            Ok(o) => {
                println!(
                    "[CPU {core}] Completed {} connections, errors: {} incompletes: {}",
                    o.completes, o.errors, o.incompletes
                );
                ok &= o.errors == 0 && o.incompletes == 0 && o.completes as usize == mine;
                if let (Some(path), Some(body)) = (&out, o.first_body) {
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
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("epwget: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
