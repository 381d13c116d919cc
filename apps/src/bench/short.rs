//! The short-connection workload (`short64`, mTCP's headline): each connection connects, sends
//! a 64 B request, reads the 64 B response, checks it and closes; `inflight` connections at a
//! time, new ones started until the duration has passed. The server is the echo server
//! ([`crate::echo::mtcp_serve`]); over kernel sockets a pool of blocking threads serves
//! ([`kernel_server`]) so that the kernel does not pay a thread start per connection.
//!
//! `mtcp-bench --as mtcp-short server --kernel -a ADDR -p PORT` and
//! `mtcp-bench --as mtcp-short client ADDR:PORT (-f mtcp.conf | --kernel) [-n inflight] [-t secs]`
//! run it in a child process; the client prints
//! `short[stack]: N connections in T s = X connections/s, errors E`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_MOD, EpollEvent, Error, Result, events};

use crate::http::test_content;

/// What the client measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShortReport {
    /// Connections that completed their round, checked byte for byte, and closed.
    pub connections: u64,
    /// Connections that failed (refused, reset, EOF early, wrong bytes, unfinished).
    pub errors: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl ShortReport {
    /// The summary line the bench parses.
    pub fn line(&self, stack: &str) -> String {
        format!(
            "short[{stack}]: {} connections in {:.3} s = {:.0} connections/s, errors {}",
            self.connections,
            self.elapsed.as_secs_f64(),
            self.connections as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.errors
        )
    }
}

/// One connection's progress.
#[derive(Clone, Copy, Default)]
struct Conn {
    written: usize,
    read: usize,
}

/// Moves connection `id` on; `Some(true)` when it completed, `Some(false)` when it failed.
fn step<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    id: i32,
    c: &mut Conn,
    msg: &[u8],
) -> Option<bool> {
    let mut buf = [0u8; 256];
    while c.written < msg.len() {
        match ctx.write(id, &msg[c.written..]) {
            Ok(k) => c.written += k,
            Err(Error::Again) => return None,
            Err(_) => return Some(false),
        }
    }
    while c.read < msg.len() {
        match ctx.read(id, &mut buf[..msg.len() - c.read]) {
            Ok(0) => return Some(false),
            Ok(k) if buf[..k] != msg[c.read..c.read + k] => return Some(false),
            Ok(k) => c.read += k,
            Err(Error::Again) => break,
            Err(_) => return Some(false),
        }
    }
    if c.read == msg.len() {
        return Some(true);
    }
    let ev = EpollEvent {
        events: events::IN,
        data: id as u64,
    };
    ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev)).ok()?;
    None
}

/// The client over our stack: `inflight` connections at a time for `duration`, then waits (at
/// most 5 s) for those in flight.
pub fn mtcp_client<Q: Queue>(
    ctx: &mut Context<Q>,
    server: SocketAddr,
    inflight: usize,
    duration: Duration,
) -> Result<ShortReport> {
    let msg = test_content(crate::bench::MESSAGE_BYTES, 3);
    ctx.init_rss(
        std::net::Ipv4Addr::UNSPECIFIED,
        1,
        crate::cli::rss_daddr(&server),
        server.port(),
    )?;
    let ep = ctx.epoll_create(inflight as i32 + 1)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut evs = vec![EpollEvent::default(); inflight.max(1)];
    let mut report = ShortReport::default();
    let started = Instant::now();
    let mut live = 0usize;
    loop {
        let more = started.elapsed() < duration;
        while more && live < inflight {
            let s = crate::client::connect_nonblocking(ctx, ep, server)?;
            if conns.len() <= s as usize {
                conns.resize(s as usize + 1, None);
            }
            conns[s as usize] = Some(Conn::default());
            live += 1;
        }
        if live == 0 || started.elapsed() > duration + Duration::from_secs(5) {
            break;
        }
        let n = ctx.epoll_wait(ep, &mut evs, 10)?;
        for e in &evs[..n] {
            let id = e.data as i32;
            let Some(Some(c)) = conns.get_mut(id as usize) else {
                continue;
            };
            let outcome = if e.events & events::ERR != 0 {
                Some(false)
            } else {
                step(ctx, ep, id, c, &msg)
            };
            if let Some(ok) = outcome {
                if ok {
                    report.connections += 1;
                } else {
                    report.errors += 1;
                }
                let _ = ctx.close(id);
                conns[id as usize] = None;
                live -= 1;
            }
        }
    }
    report.errors += live as u64;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The client over kernel sockets: a thread per connection in flight.
pub fn kernel_client(server: SocketAddr, inflight: usize, duration: Duration) -> ShortReport {
    let started = Instant::now();
    let threads: Vec<_> = (0..inflight)
        .map(|_| {
            std::thread::spawn(move || {
                let msg = test_content(crate::bench::MESSAGE_BYTES, 3);
                let mut buf = vec![0u8; msg.len()];
                let (mut ok, mut bad) = (0u64, 0u64);
                while started.elapsed() < duration {
                    let round = TcpStream::connect(server).and_then(|mut s| {
                        s.set_nodelay(true)?;
                        s.set_read_timeout(Some(Duration::from_secs(5)))?;
                        s.write_all(&msg)?;
                        s.read_exact(&mut buf)?;
                        Ok(buf == msg)
                    });
                    match round {
                        Ok(true) => ok += 1,
                        _ => bad += 1,
                    }
                }
                (ok, bad)
            })
        })
        .collect();
    let mut report = ShortReport::default();
    for t in threads {
        let (ok, bad) = t.join().unwrap_or((0, 1));
        report.connections += ok;
        report.errors += bad;
    }
    report.elapsed = started.elapsed();
    report
}

/// Threads of [`kernel_server`]: each accepts and serves one connection at a time.
const SERVER_THREADS: usize = 16;

/// The echo server over kernel sockets as a pool of blocking threads, until `stop` (checked
/// once a second: the process is stopped by a signal, which ends it).
pub fn kernel_server(addr: SocketAddr, stop: &AtomicBool) -> std::io::Result<()> {
    let l = TcpListener::bind(addr)?;
    for _ in 0..SERVER_THREADS {
        let l = l.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok((mut s, _)) = l.accept() {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                while let Ok(k) = s.read(&mut buf) {
                    if k == 0 || s.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            }
        });
    }
    println!("mtcp-short: kernel server on {addr}");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// `--as mtcp-short` arguments.
#[derive(Parser, Debug)]
#[command(
    name = "mtcp-short",
    about = "short connections: connect, 64 B request/response, close"
)]
struct ShortArgs {
    /// `server` (kernel only: ours is mtcp-echo's server) or `client`.
    role: String,
    /// The server's `ip:port` (client).
    target: Option<String>,
    /// mtcp.conf of our stack (client).
    #[arg(short = 'f')]
    conf: Option<String>,
    /// Use Linux sockets.
    #[arg(long)]
    kernel: bool,
    /// Address to listen on (server).
    #[arg(short = 'a', default_value = "0.0.0.0")]
    addr: std::net::Ipv4Addr,
    /// Port to listen on (server).
    #[arg(short = 'p', default_value_t = 7)]
    port: u16,
    /// Connections in flight (client).
    #[arg(short = 'n', default_value_t = crate::bench::SHORT_INFLIGHT)]
    inflight: usize,
    /// Seconds to start connections for (client).
    #[arg(short = 't', default_value_t = 3.0)]
    secs: f64,
}

fn run(a: ShortArgs) -> std::result::Result<bool, String> {
    let duration = Duration::from_secs_f64(a.secs.max(0.0));
    match (a.role.as_str(), a.kernel) {
        ("server", true) => {
            let addr = SocketAddr::from((a.addr, a.port));
            kernel_server(addr, crate::cli::stop_flag()).map_err(|e| format!("{addr}: {e}"))?;
            Ok(true)
        }
        ("client", kernel) => {
            let target = a.target.ok_or("client needs <ip:port>")?;
            let server = crate::cli::parse_addr(&target, 7)?;
            let (r, stack) = if kernel {
                (kernel_client(server, a.inflight.max(1), duration), "kernel")
            } else {
                let conf = a.conf.ok_or("-f <mtcp.conf> or --kernel is required")?;
                let mtcp = crate::cli::init(&conf)?;
                let mut ctx = mtcp
                    .create_context(0)
                    .map_err(|e| format!("context 0: {e}"))?;
                let r = mtcp_client(&mut ctx, server, a.inflight.max(1), duration)
                    .map_err(|e| e.to_string())?;
                (r, "mtcp")
            };
            println!("{}", r.line(stack));
            Ok(r.errors == 0 && r.connections > 0)
        }
        (role, _) => Err(format!(
            "`{role}`: expected `client`, or `server --kernel` (our server is mtcp-echo's)"
        )),
    }
}

/// `mtcp-short <args>` (without the program name): exit 0 on success, 1 when a connection
/// failed, 2 on a usage or setup error.
pub fn short_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let parsed = ShortArgs::try_parse_from(std::iter::once("mtcp-short".to_string()).chain(args));
    let a = match parsed {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    match run(a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mtcp-short: {e}");
            ExitCode::from(2)
        }
    }
}
