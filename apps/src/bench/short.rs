//! The short-connection workload (`short64`, mTCP's headline): each connection connects, sends
//! a 64 B request, reads the 64 B response, checks it and closes; `inflight` connections at a
//! time, new ones started until the duration has passed. The server is the echo server
//! ([`crate::echo::mtcp_serve`], over kernel sockets [`crate::echo::kernel_serve`]); the client
//! is one thread driving non-blocking connections by epoll over either stack ([`mtcp_client`],
//! [`kernel_client`]), so the kernel runs the same logic as ours.
//!
//! `mtcp-bench --as mtcp-short server --kernel -a ADDR -p PORT` and
//! `mtcp-bench --as mtcp-short client ADDR:PORT (-f mtcp.conf | --kernel) [-n inflight] [-t secs]`
//! run it in a child process; the client prints
//! `short[stack]: N connections in T s = X connections/s, errors E`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_MOD, EpollEvent, Result, events};

use crate::echo::{Io, RoundIo};
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
    /// Registered for EPOLLIN only (our stack; the kernel client's registration never changes).
    watching_in: bool,
}

/// Moves connection `id` on; `Some(true)` when it completed, `Some(false)` when it failed,
/// `None` while it waits for the response (or, over the kernel, for its connect).
fn step(io: &mut impl RoundIo, id: usize, c: &mut Conn, msg: &[u8]) -> Option<bool> {
    let mut buf = [0u8; 256];
    while c.written < msg.len() {
        match io.write(id, &msg[c.written..]) {
            Io::Did(k) => c.written += k,
            Io::Again => return None,
            Io::Failed => return Some(false),
        }
    }
    while c.read < msg.len() {
        match io.read(id, &mut buf[..msg.len() - c.read]) {
            Io::Did(0) => return Some(false),
            Io::Did(k) if buf[..k] != msg[c.read..c.read + k] => return Some(false),
            Io::Did(k) => c.read += k,
            Io::Again => break,
            Io::Failed => return Some(false),
        }
    }
    (c.read == msg.len()).then_some(true)
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
                step(ctx, id as usize, c, &msg)
            };
            if outcome.is_none() && !c.watching_in {
                // Request written: from now on only the response matters.
                c.watching_in = true;
                let ev = EpollEvent {
                    events: events::IN,
                    data: id as u64,
                };
                ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev))?;
            }
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

/// The client over kernel sockets, shaped as [`mtcp_client`]: one thread, `inflight`
/// non-blocking connections at a time driven by epoll (mio) for `duration`, then waits (at most
/// 5 s) for those in flight.
pub fn kernel_client(server: SocketAddr, inflight: usize, duration: Duration) -> ShortReport {
    let mut report = ShortReport::default();
    let started = Instant::now();
    if let Err(e) = drive_kernel(server, inflight, started + duration, &mut report) {
        eprintln!("short: {e}");
        report.errors += 1;
    }
    report.elapsed = started.elapsed();
    report
}

/// The kernel client's sockets by slot (a slot is reused once its connection closed).
#[derive(Default)]
struct KernelConns {
    streams: Vec<Option<TcpStream>>,
    conns: Vec<Conn>,
    free: Vec<usize>,
    live: usize,
}

impl KernelConns {
    /// Starts a connection; false if the kernel refused at once (counted by the caller).
    fn open(&mut self, poll: &Poll, server: SocketAddr) -> bool {
        let id = self.free.pop().unwrap_or(self.streams.len());
        let interest = Interest::READABLE | Interest::WRITABLE;
        let opened = TcpStream::connect(server).and_then(|mut s| {
            s.set_nodelay(true)?;
            poll.registry().register(&mut s, Token(id), interest)?;
            Ok(s)
        });
        let Ok(s) = opened else {
            self.free.push(id);
            return false;
        };
        if id == self.streams.len() {
            self.streams.push(Some(s));
            self.conns.push(Conn::default());
        } else {
            self.streams[id] = Some(s);
            self.conns[id] = Conn::default();
        }
        self.live += 1;
        true
    }

    fn close(&mut self, poll: &Poll, id: usize) {
        if let Some(mut s) = self.streams[id].take() {
            let _ = poll.registry().deregister(&mut s);
            self.free.push(id);
            self.live -= 1;
        }
    }
}

fn drive_kernel(
    server: SocketAddr,
    inflight: usize,
    end: Instant,
    report: &mut ShortReport,
) -> std::io::Result<()> {
    let msg = test_content(crate::bench::MESSAGE_BYTES, 3);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(inflight.clamp(64, 4096));
    let mut k = KernelConns::default();
    loop {
        let now = Instant::now();
        while now < end && k.live < inflight {
            if !k.open(&poll, server) {
                report.errors += 1;
                break;
            }
        }
        if k.live == 0 || now > end + Duration::from_secs(5) {
            break;
        }
        match poll.poll(&mut events, Some(Duration::from_millis(10))) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for ev in events.iter() {
            let id = ev.token().0;
            if k.streams.get(id).is_none_or(|s| s.is_none()) {
                continue;
            }
            let outcome = if ev.is_error() {
                Some(false)
            } else {
                step(&mut k.streams, id, &mut k.conns[id], &msg)
            };
            if let Some(ok) = outcome {
                if ok {
                    report.connections += 1;
                } else {
                    report.errors += 1;
                }
                k.close(&poll, id);
            }
        }
    }
    report.errors += k.live as u64;
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
            let l = crate::echo::kernel_listen(addr).map_err(|e| format!("{addr}: {e}"))?;
            println!("mtcp-short: kernel server on {addr}");
            crate::echo::kernel_serve(l, crate::cli::stop_flag())
                .map_err(|e| format!("{addr}: {e}"))?;
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
