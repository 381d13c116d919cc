//! The command lines of `mtcp-echo` and `mtcp-perf` as functions, so that one binary can be
//! either: the `mtcp-echo`/`mtcp-perf` binaries call [`echo_main`]/[`perf_main`], and
//! `mtcp-bench` re-executes itself as them (`mtcp-bench --as mtcp-echo ...`) instead of
//! depending on sibling binaries built with the right profile and features.
//!
//! Servers print `... server on <addr>` once their listener exists, so a parent process may
//! start clients as soon as it has read that line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cli;
use crate::echo::{self, EchoConfig};
use crate::perf;

/// Which stack a command runs on: ours from `-f mtcp.conf`, or the kernel's sockets.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct StackArgs {
    /// mTCP configuration file (run over our stack).
    #[arg(short = 'f', value_name = "mtcp.conf")]
    conf: Option<String>,
    /// Run over the kernel's sockets instead.
    #[arg(long)]
    kernel: bool,
}

/// Where a server listens.
#[derive(Args, Debug)]
pub struct ListenArgs {
    /// Address to listen on.
    /// (`::` takes IPv6 and IPv4 clients).
    #[arg(short = 'a', value_name = "addr", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    addr: IpAddr,
    /// Port to listen on (default: 7 for echo, 5001 for perf).
    #[arg(short = 'p', value_name = "port")]
    port: Option<u16>,
}

impl ListenArgs {
    fn addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.addr, self.port.unwrap_or(default_port))
    }
}

/// An echo server and a request/response client reporting transactions/s and latency
/// percentiles, over our stack (`-f mtcp.conf`) or over the kernel's sockets (`--kernel`).
/// Exit 0 on success, 1 when a connection failed or echoed wrong bytes, 2 on a usage or setup
/// error.
#[derive(Parser, Debug)]
#[command(name = "mtcp-echo", version)]
struct EchoCli {
    #[command(subcommand)]
    role: EchoRole,
}

#[derive(Subcommand, Debug)]
enum EchoRole {
    /// Echo what each connection sends, until SIGINT/SIGTERM.
    Server {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        listen: ListenArgs,
        /// Number of cores (default: the configuration's num_cores).
        #[arg(short = 'N', value_name = "cores")]
        cores: Option<usize>,
    },
    /// Send messages and wait for each echo; report transactions/s and latency.
    Client {
        /// Server address (`ip` or `ip:port`; port 7 by default).
        #[arg(value_name = "ip[:port] or [ipv6]:port", value_parser = cli::addr_arg)]
        server: SocketAddr,
        #[command(flatten)]
        stack: StackArgs,
        /// Connections.
        #[arg(short = 'n', value_name = "conns", default_value_t = 1)]
        connections: usize,
        /// Message size in bytes.
        #[arg(short = 'm', value_name = "bytes", default_value_t = 64)]
        message_bytes: usize,
        /// Duration in seconds.
        #[arg(short = 't', value_name = "secs", default_value_t = 3.0)]
        seconds: f64,
    },
}

fn echo_server(stack: &StackArgs, addr: SocketAddr, n: Option<usize>) -> Result<bool, String> {
    let stop = cli::stop_flag();
    let Some(conf) = &stack.conf else {
        let listener = echo::kernel_listen(addr).map_err(|e| format!("{addr}: {e}"))?;
        println!("mtcp-echo: kernel server on {addr}");
        echo::kernel_serve(listener, stop).map_err(|e| format!("{addr}: {e}"))?;
        return Ok(true);
    };
    let mtcp = cli::init(conf)?;
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

fn echo_client(stack: &StackArgs, cfg: &EchoConfig) -> Result<bool, String> {
    let mut report = match &stack.conf {
        None => echo::kernel_client(cfg),
        Some(conf) => {
            let mtcp = cli::init(conf)?;
            let mut ctx = mtcp
                .create_context(0)
                .map_err(|e| format!("context 0: {e}"))?;
            echo::mtcp_client(&mut ctx, cfg).map_err(|e| e.to_string())?
        }
    };
    let name = if stack.kernel { "kernel" } else { "mtcp" };
    println!("{}", report.line(name, cfg));
    Ok(report.errors == 0 && report.transactions > 0)
}

/// `mtcp-echo <args>` (without the program name): exit 0 on success, 1 when a connection
/// failed or echoed wrong bytes, 2 on a usage or setup error.
pub fn echo_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let cli = EchoCli::parse_from(std::iter::once("mtcp-echo".to_string()).chain(args));
    let result = match cli.role {
        EchoRole::Server {
            stack,
            listen,
            cores,
        } => echo_server(&stack, listen.addr(7), cores),
        EchoRole::Client {
            server,
            stack,
            connections,
            message_bytes,
            seconds,
        } => {
            if !(seconds.is_finite() && seconds >= 0.0) {
                return usage_error("mtcp-echo", "-t: expected a duration in seconds");
            }
            let cfg = EchoConfig {
                server: cli::with_port(server, 7),
                connections: connections.max(1),
                message_bytes: message_bytes.max(1),
                duration: Duration::from_secs_f64(seconds),
            };
            echo_client(&stack, &cfg)
        }
    };
    exit("mtcp-echo", result)
}

/// Bulk transfer in both directions with every byte checked, reporting Gbit/s, over our stack
/// (`-f mtcp.conf`) or over the kernel's sockets (`--kernel`). Exit 0 on success, 1 when a byte
/// was wrong or missing, 2 on a usage or setup error.
#[derive(Parser, Debug)]
#[command(name = "mtcp-perf", version)]
struct PerfCli {
    #[command(subcommand)]
    role: PerfRole,
}

#[derive(Subcommand, Debug)]
enum PerfRole {
    /// Receive and send what each client asks for, checking every byte.
    Server {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        listen: ListenArgs,
        /// Exit after the first client.
        #[arg(long)]
        once: bool,
    },
    /// Send `--send` bytes and ask the server for `--recv` bytes.
    Client {
        /// Server address (`ip` or `ip:port`; port 5001 by default).
        #[arg(value_name = "ip[:port] or [ipv6]:port", value_parser = cli::addr_arg)]
        server: SocketAddr,
        #[command(flatten)]
        stack: StackArgs,
        /// Bytes to send.
        #[arg(long, value_name = "bytes", default_value_t = 100_000_000)]
        send: u64,
        /// Bytes to receive.
        #[arg(long, value_name = "bytes", default_value_t = 100_000_000)]
        recv: u64,
    },
}

fn perf_server(stack: &StackArgs, addr: SocketAddr, once: bool) -> Result<bool, String> {
    let stop = cli::stop_flag();
    let mut all_ok = true;
    let mut report = |r: perf::PerfReport, stack: &str| {
        all_ok &= r.ok;
        println!("{}", r.line(stack));
    };
    let Some(conf) = &stack.conf else {
        println!("mtcp-perf: kernel server on {addr}");
        perf::kernel_server(addr, once, stop, |r| report(r, "kernel"))
            .map_err(|e| format!("{addr}: {e}"))?;
        return Ok(all_ok);
    };
    let mtcp = cli::init(conf)?;
    let mut ctx = mtcp
        .create_context(0)
        .map_err(|e| format!("context 0: {e}"))?;
    let l = perf::mtcp_listen(&mut ctx, addr).map_err(|e| format!("{addr}: {e}"))?;
    println!("mtcp-perf: server on {addr}");
    perf::mtcp_serve(&mut ctx, l, once, stop, |r| report(r, "mtcp")).map_err(|e| e.to_string())?;
    Ok(all_ok)
}

fn perf_client(
    stack: &StackArgs,
    server: SocketAddr,
    send: u64,
    recv: u64,
) -> Result<bool, String> {
    let (r, name) = match &stack.conf {
        None => (
            perf::kernel_client(server, send, recv).map_err(|e| format!("{server}: {e}"))?,
            "kernel",
        ),
        Some(conf) => {
            let mtcp = cli::init(conf)?;
            let mut ctx = mtcp
                .create_context(0)
                .map_err(|e| format!("context 0: {e}"))?;
            let stop = cli::stop_flag();
            (
                perf::mtcp_client(&mut ctx, server, send, recv, stop).map_err(|e| e.to_string())?,
                "mtcp",
            )
        }
    };
    println!("{}", r.line(name));
    Ok(r.ok)
}

/// `mtcp-perf <args>` (without the program name): exit 0 on success, 1 when a byte was wrong or
/// missing, 2 on a usage or setup error.
pub fn perf_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let cli = PerfCli::parse_from(std::iter::once("mtcp-perf".to_string()).chain(args));
    let result = match cli.role {
        PerfRole::Server {
            stack,
            listen,
            once,
        } => perf_server(&stack, listen.addr(5001), once),
        PerfRole::Client {
            server,
            stack,
            send,
            recv,
        } => perf_client(&stack, cli::with_port(server, 5001), send, recv),
    };
    exit("mtcp-perf", result)
}

fn usage_error(name: &str, e: &str) -> ExitCode {
    eprintln!("{name}: {e}");
    ExitCode::from(2)
}

fn exit(name: &str, result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => usage_error(name, &e),
    }
}
