//! mtcp-echo: an echo server and a request/response client reporting transactions/s and latency
//! percentiles, over our stack (`-f mtcp.conf`) or over the kernel's sockets (`--kernel`).
//!
//! Usage:
//! - `mtcp-echo server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [-N cores]`
//! - `mtcp-echo client <ip[:port]> (-f <mtcp.conf> | --kernel) [-n conns] [-m bytes] [-t secs]`
//!
//! The client exits non-zero when any connection failed or echoed wrong bytes.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mtcp_apps::cli::{self, Args};
use mtcp_apps::echo::{self, EchoConfig};

const USAGE: &str = "usage: mtcp-echo server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [-N cores]\n       mtcp-echo client <ip[:port]> (-f <mtcp.conf> | --kernel) [-n conns] [-m bytes] [-t secs]";

fn server(args: &Args) -> Result<bool, String> {
    let ip: Ipv4Addr = args
        .value("-a")?
        .unwrap_or("0.0.0.0")
        .parse()
        .map_err(|_| "-a: not an IPv4 address")?;
    let addr = SocketAddrV4::new(ip, args.num("-p", 7)?);
    let stop = cli::stop_flag();
    if args.flag("--kernel") {
        println!("mtcp-echo: kernel server on {addr}");
        echo::kernel_server(addr, stop).map_err(|e| format!("{addr}: {e}"))?;
        return Ok(true);
    }
    let conf = args
        .value("-f")?
        .ok_or("-f <mtcp.conf> or --kernel is required")?;
    let mtcp = cli::init(conf)?;
    let n = args
        .value("-N")?
        .map(str::parse)
        .transpose()
        .map_err(|_| "-N: not a number")?;
    let mut threads = Vec::new();
    for core in cli::cores(&mtcp, n, None)? {
        let mut ctx = mtcp
            .create_context(core)
            .map_err(|e| format!("context {core}: {e}"))?;
        // Listen before the "server on" line below: a client started on it must not be refused.
        let l = echo::mtcp_listen(&mut ctx, addr).map_err(|e| format!("core {core}: {e}"))?;
        threads.push(std::thread::spawn(move || {
            let r = echo::mtcp_serve(&mut ctx, l, stop);
            stop.store(true, Ordering::Relaxed);
            r
        }));
    }
    println!("mtcp-echo: server on {addr}");
    cli::print_stats_until(&mtcp, || None, || stop.load(Ordering::Relaxed));
    for t in threads {
        t.join()
            .map_err(|_| "server thread panicked")?
            .map_err(|e| e.to_string())?;
    }
    Ok(true)
}

fn client(args: &Args) -> Result<bool, String> {
    let target = args.positional.get(1).ok_or("client needs <ip[:port]>")?;
    let cfg = EchoConfig {
        server: cli::parse_addr(target, 7)?,
        connections: args.num("-n", 1usize)?.max(1),
        message_bytes: args.num("-m", 64usize)?.max(1),
        duration: Duration::from_secs_f64(args.num("-t", 3.0f64)?),
    };
    let mut report = if args.flag("--kernel") {
        echo::kernel_client(&cfg)
    } else {
        let conf = args
            .value("-f")?
            .ok_or("-f <mtcp.conf> or --kernel is required")?;
        let mtcp = cli::init(conf)?;
        let mut ctx = mtcp
            .create_context(0)
            .map_err(|e| format!("context 0: {e}"))?;
        echo::mtcp_client(&mut ctx, &cfg).map_err(|e| e.to_string())?
    };
    let stack = if args.flag("--kernel") {
        "kernel"
    } else {
        "mtcp"
    };
    println!("{}", report.line(stack, &cfg));
    Ok(report.errors == 0 && report.transactions > 0)
}

fn main() -> ExitCode {
    let args = Args::parse(std::env::args().skip(1), &["--kernel"]);
    let result = match (
        args.unknown(&["-f", "--kernel", "-a", "-p", "-N", "-n", "-m", "-t"]),
        args.positional.first().map(String::as_str),
    ) {
        (Some(k), _) => Err(format!("unknown option {k}")),
        (None, Some("server")) => server(&args),
        (None, Some("client")) => client(&args),
        _ => Err("expected `server` or `client`".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mtcp-echo: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
