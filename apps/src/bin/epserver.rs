//! epserver: mTCP's epoll HTTP/1.1 server. Serves the files of `www_dir` (held in memory) on
//! port 80 of every configured address, a listener per core, until SIGINT/SIGTERM.
//!
//! Usage: `epserver -p <www_dir> -f <mtcp.conf> [-N cores] [-c core] [-b backlog] [-P port]`
//! (`-P` is our extension; epserver always uses port 80).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use clap::Parser;
use mtcp_apps::cli;
use mtcp_apps::server::{self, ServerConfig, ServerStats};
use mtcp_socket_api::Mtcp;

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

/// mTCP's epoll HTTP/1.1 server: serves the files of a directory (held in memory) on port 80 of
/// every configured address, a listener per core, until SIGINT/SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "epserver", version)]
struct Cli {
    /// Directory whose files are served.
    #[arg(short = 'p', value_name = "www_dir")]
    www: PathBuf,
    /// mTCP configuration file.
    #[arg(short = 'f', value_name = "mtcp.conf")]
    conf: String,
    /// Number of cores to run on (default: the configuration's num_cores).
    #[arg(short = 'N', value_name = "cores")]
    cores: Option<usize>,
    /// Run on this one core only.
    #[arg(short = 'c', value_name = "core")]
    core: Option<usize>,
    /// Listen backlog.
    #[arg(short = 'b', value_name = "backlog", default_value_t = 4096)]
    backlog: i32,
    /// TCP port (our extension; mTCP's epserver always uses 80).
    #[arg(short = 'P', value_name = "port", default_value_t = 80)]
    port: u16,
}

/// Loads the files, starts mTCP and a server thread per core. Errors here are the command line's
/// or the configuration's (exit 2).
fn start(cli: &Cli) -> Result<(Mtcp, Vec<ServerThread>, Arc<ServerStats>), String> {
    let files = load_files(&cli.www)?;
    let bytes: usize = files.values().map(|f| f.len()).sum();
    println!(
        "epserver: {} files ({} bytes) from {} held in memory",
        files.len(),
        bytes,
        cli.www.display()
    );
    let mtcp = cli::init(&cli.conf)?;
    // With an IPv6 address on a port, one dual-stack listener on `::` takes both families;
    // else `0.0.0.0` as mTCP's epserver.
    let any: IpAddr = if mtcp.conf().ports.iter().any(|p| !p.ip6.is_empty()) {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let cfg = ServerConfig {
        addr: SocketAddr::new(any, cli.port),
        backlog: cli.backlog,
        files,
    };
    let cores = cli::cores(&mtcp, cli.cores, cli.core)?;
    let stop = cli::stop_flag();
    let stats = Arc::new(ServerStats::default());
    let mut threads = Vec::new();
    for &core in &cores {
        let mut ctx = mtcp
            .create_context(core)
            .map_err(|e| format!("mtcp_create_context({core}): {e}"))?;
        // The listener exists before "listening" is printed: a client started on that line
        // must not meet a closed port (RST) because a server thread ran late.
        let listener = server::listen(&mut ctx, &cfg)
            .map_err(|e| format!("listen on {} (core {core}): {e}", cfg.addr))?;
        let (cfg, stats) = (cfg.clone(), Arc::clone(&stats));
        threads.push(std::thread::spawn(move || {
            let r = server::serve(&mut ctx, listener, &cfg, &stats, stop);
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
    Ok((mtcp, threads, stats))
}

type ServerThread = std::thread::JoinHandle<mtcp_socket_api::Result<()>>;

/// Prints the statistics lines until stopped, then joins the server threads.
fn serve(mtcp: &Mtcp, threads: Vec<ServerThread>, stats: &ServerStats) -> Result<(), String> {
    let stop = cli::stop_flag();
    cli::print_stats_until(mtcp, || None, || stop.load(Ordering::Relaxed));
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
    let cli = Cli::parse();
    let (mtcp, threads, stats) = match start(&cli) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("epserver: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(&mtcp, threads, &stats) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epserver: {e}");
            ExitCode::FAILURE
        }
    }
}
