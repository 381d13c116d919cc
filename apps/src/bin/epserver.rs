//! epserver: mTCP's epoll HTTP/1.1 server. Serves the files of `www_dir` (held in memory) on
//! port 80 of every configured address, a listener per core, until SIGINT/SIGTERM.
//!
//! Usage: `epserver -p <www_dir> -f <mtcp.conf> [-N cores] [-c core] [-b backlog] [-P port]`
//! (`-P` is our extension; epserver always uses port 80).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mtcp_apps::cli::{self, Args};
use mtcp_apps::server::{self, ServerConfig, ServerStats};

const USAGE: &str =
    "usage: epserver -p <www_dir> -f <mtcp.conf> [-N cores] [-c core] [-b backlog] [-P port]";

/// Reads every regular file under `dir` (recursively) as `/relative/path`.
fn load_files(dir: &Path) -> Result<HashMap<String, Arc<Vec<u8>>>, String> {
    let mut files = HashMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.is_file() {
                let body = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                files.insert(format!("/{}", rel.display()), Arc::new(body));
            }
        }
    }
    Ok(files)
}

fn run() -> Result<(), String> {
    let args = Args::parse(std::env::args().skip(1), &[]);
    if let Some(k) = args.unknown(&["-p", "-f", "-N", "-c", "-b", "-P"]) {
        return Err(format!("unknown option {k}"));
    }
    let www = args.value("-p")?.ok_or("-p <www_dir> is required")?;
    let conf = args.value("-f")?.ok_or("-f <mtcp.conf> is required")?;
    let files = load_files(Path::new(www))?;
    let bytes: usize = files.values().map(|f| f.len()).sum();
    println!(
        "epserver: {} files ({} bytes) from {www} held in memory",
        files.len(),
        bytes
    );
    let cfg = ServerConfig {
        addr: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, args.num("-P", 80u16)?),
        backlog: args.num("-b", 4096)?,
        files,
    };
    let mtcp = cli::init(conf)?;
    let cores = cli::cores(
        &mtcp,
        args.value("-N")?
            .map(str::parse)
            .transpose()
            .map_err(|_| "-N: not a number")?,
        args.value("-c")?
            .map(str::parse)
            .transpose()
            .map_err(|_| "-c: not a number")?,
    )?;
    let stop = cli::stop_flag();
    let stats = Arc::new(ServerStats::default());
    let mut threads = Vec::new();
    for &core in &cores {
        let mut ctx = mtcp
            .create_context(core)
            .map_err(|e| format!("mtcp_create_context({core}): {e}"))?;
        let (cfg, stats) = (cfg.clone(), Arc::clone(&stats));
        threads.push(std::thread::spawn(move || {
            let r = server::run(&mut ctx, &cfg, &stats, stop);
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            r
        }));
    }
    println!(
        "epserver: listening on {} on {} core(s)",
        cfg.addr,
        cores.len()
    );
    cli::print_stats_until(&mtcp, || None, || stop.load(Ordering::Relaxed));
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(format!("server: {e}")),
            Err(_) => result = Err("a server thread panicked".into()),
        }
    }
    println!(
        "epserver: accepted {}, responses {}, bytes written {}, errors {}",
        stats.accepted.load(Ordering::Relaxed),
        stats.responses.load(Ordering::Relaxed),
        stats.bytes_written.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed)
    );
    result
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epserver: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
