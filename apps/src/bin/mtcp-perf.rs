//! mtcp-perf: bulk transfer in both directions with every byte checked, reporting Gbit/s, over
//! our stack (`-f mtcp.conf`) or over the kernel's sockets (`--kernel`).
//!
//! Usage:
//! - `mtcp-perf server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [--once]`
//! - `mtcp-perf client <ip[:port]> (-f <mtcp.conf> | --kernel) [--send bytes] [--recv bytes]`
//!
//! The client sends `--send` bytes and asks the server for `--recv` bytes (default 100 MB
//! each way); both exit non-zero when a byte was wrong or missing.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;

use mtcp_apps::cli::{self, Args};
use mtcp_apps::perf;

const USAGE: &str = "usage: mtcp-perf server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [--once]\n       mtcp-perf client <ip[:port]> (-f <mtcp.conf> | --kernel) [--send bytes] [--recv bytes]";

fn server(args: &Args) -> Result<bool, String> {
    let ip: Ipv4Addr = args
        .value("-a")?
        .unwrap_or("0.0.0.0")
        .parse()
        .map_err(|_| "-a: not an IPv4 address")?;
    let addr = SocketAddrV4::new(ip, args.num("-p", 5001)?);
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
    // Announce the server only once it listens: a client started on this line must not be
    // refused.
    let l = perf::mtcp_listen(&mut ctx, addr).map_err(|e| e.to_string())?;
    println!("mtcp-perf: server on {addr}");
    perf::mtcp_serve(&mut ctx, l, once, stop, |r| report(r, "mtcp")).map_err(|e| e.to_string())?;
    Ok(all_ok)
}

fn client(args: &Args) -> Result<bool, String> {
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

fn main() -> ExitCode {
    let args = Args::parse(std::env::args().skip(1), &["--kernel", "--once"]);
    let known = ["-f", "--kernel", "-a", "-p", "--once", "--send", "--recv"];
    let result = match (
        args.unknown(&known),
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
            eprintln!("mtcp-perf: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
