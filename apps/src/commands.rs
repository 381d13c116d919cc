//! The command lines of `mtcp-echo` and `mtcp-perf` as functions, so that one binary can be
//! either: the `mtcp-echo`/`mtcp-perf` binaries call [`echo_main`]/[`perf_main`], and
//! `mtcp-bench` re-executes itself as them (`mtcp-bench --as mtcp-echo ...`) instead of
//! depending on sibling binaries built with the right profile and features.
//!
//! Servers print `... server on <addr>` once their listener exists, so a parent process may
//! start clients as soon as it has read that line.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cli::{self, Args};
use crate::echo::{self, EchoConfig};
use crate::perf;

const ECHO_USAGE: &str = "usage: mtcp-echo server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [-N cores]\n       mtcp-echo client <ip[:port]> (-f <mtcp.conf> | --kernel) [-n conns] [-m bytes] [-t secs]";
const PERF_USAGE: &str = "usage: mtcp-perf server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [--once]\n       mtcp-perf client <ip[:port]> (-f <mtcp.conf> | --kernel) [--send bytes] [--recv bytes]";

fn listen_addr(args: &Args, default_port: u16) -> Result<SocketAddrV4, String> {
    let ip: Ipv4Addr = args
        .value("-a")?
        .unwrap_or("0.0.0.0")
        .parse()
        .map_err(|_| "-a: not an IPv4 address")?;
    Ok(SocketAddrV4::new(ip, args.num("-p", default_port)?))
}

fn echo_server(args: &Args) -> Result<bool, String> {
    let addr = listen_addr(args, 7)?;
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
        // Listen before announcing the server (and before its thread runs).
        let l = echo::mtcp_listen(&mut ctx, addr).map_err(|e| format!("{addr}: {e}"))?;
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

fn echo_client(args: &Args) -> Result<bool, String> {
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

/// `mtcp-echo <args>` (without the program name): exit 0 on success, 1 when a connection
/// failed or echoed wrong bytes, 2 on a usage or setup error.
pub fn echo_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args = Args::parse(args, &["--kernel"]);
    let result = match (
        args.unknown(&["-f", "--kernel", "-a", "-p", "-N", "-n", "-m", "-t"]),
        args.positional.first().map(String::as_str),
    ) {
        (Some(k), _) => Err(format!("unknown option {k}")),
        (None, Some("server")) => echo_server(&args),
        (None, Some("client")) => echo_client(&args),
        _ => Err("expected `server` or `client`".into()),
    };
    exit("mtcp-echo", ECHO_USAGE, result)
}

fn perf_server(args: &Args) -> Result<bool, String> {
    let addr = listen_addr(args, 5001)?;
    let once = args.flag("--once");
    let stop = cli::stop_flag();
    let mut all_ok = true;
    let mut report = |r: perf::PerfReport, stack: &str| {
        all_ok &= r.ok;
        println!("{}", r.line(stack));
    };
    if args.flag("--kernel") {
        println!("mtcp-perf: kernel server on {addr}");
        perf::kernel_server(addr, once, stop, |r| report(r, "kernel"))
            .map_err(|e| format!("{addr}: {e}"))?;
        return Ok(all_ok);
    }
    let conf = args
        .value("-f")?
        .ok_or("-f <mtcp.conf> or --kernel is required")?;
    let mtcp = cli::init(conf)?;
    let mut ctx = mtcp
        .create_context(0)
        .map_err(|e| format!("context 0: {e}"))?;
    let l = perf::mtcp_listen(&mut ctx, addr).map_err(|e| format!("{addr}: {e}"))?;
    println!("mtcp-perf: server on {addr}");
    perf::mtcp_serve(&mut ctx, l, once, stop, |r| report(r, "mtcp")).map_err(|e| e.to_string())?;
    Ok(all_ok)
}

fn perf_client(args: &Args) -> Result<bool, String> {
    let target = args.positional.get(1).ok_or("client needs <ip[:port]>")?;
    let server = cli::parse_addr(target, 5001)?;
    let send: u64 = args.num("--send", 100_000_000)?;
    let recv: u64 = args.num("--recv", 100_000_000)?;
    let (r, stack) = if args.flag("--kernel") {
        (
            perf::kernel_client(server, send, recv).map_err(|e| format!("{server}: {e}"))?,
            "kernel",
        )
    } else {
        let conf = args
            .value("-f")?
            .ok_or("-f <mtcp.conf> or --kernel is required")?;
        let mtcp = cli::init(conf)?;
        let mut ctx = mtcp
            .create_context(0)
            .map_err(|e| format!("context 0: {e}"))?;
        let stop = cli::stop_flag();
        (
            perf::mtcp_client(&mut ctx, server, send, recv, stop).map_err(|e| e.to_string())?,
            "mtcp",
        )
    };
    println!("{}", r.line(stack));
    Ok(r.ok)
}

/// `mtcp-perf <args>` (without the program name): exit 0 on success, 1 when a byte was wrong or
/// missing, 2 on a usage or setup error.
pub fn perf_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args = Args::parse(args, &["--kernel", "--once"]);
    let known = ["-f", "--kernel", "-a", "-p", "--once", "--send", "--recv"];
    let result = match (
        args.unknown(&known),
        args.positional.first().map(String::as_str),
    ) {
        (Some(k), _) => Err(format!("unknown option {k}")),
        (None, Some("server")) => perf_server(&args),
        (None, Some("client")) => perf_client(&args),
        _ => Err("expected `server` or `client`".into()),
    };
    exit("mtcp-perf", PERF_USAGE, result)
}

fn exit(name: &str, usage: &str, result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e}\n{usage}");
            ExitCode::from(2)
        }
    }
}
