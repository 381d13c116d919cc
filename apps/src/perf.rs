//! A bulk-transfer workload: the client opens one connection and sends a 16-byte header
//! (`bytes client→server`, `bytes server→client`, little-endian `u64`s); then both sides send
//! their share and shut down their write side, and each checks every byte it receives against a
//! position-dependent pattern. Over our stack ([`mtcp_server`], [`mtcp_client`]) and over the
//! kernel's sockets ([`kernel_server`], [`kernel_client`]).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EpollEvent, Error, Result, events};

/// Period of the byte pattern: a prime, so data misplaced by any whole number of segments shows.
const PERIOD: usize = 1_000_003;
/// Largest piece handed to one `write`.
const CHUNK: usize = 64 * 1024;

fn table() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        (0..PERIOD + CHUNK)
            .map(|i| {
                let i = (i % PERIOD) as u64;
                (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
            })
            .collect()
    })
}

/// The pattern bytes at stream `offset`, at most `len` (and at most one chunk).
pub fn pattern(offset: u64, len: usize) -> &'static [u8] {
    let at = (offset % PERIOD as u64) as usize;
    &table()[at..at + len.min(CHUNK)]
}

/// True if `data` is the pattern at `offset`.
pub fn matches(offset: u64, data: &[u8]) -> bool {
    data.chunks(CHUNK)
        .enumerate()
        .all(|(i, c)| c == pattern(offset + (i * CHUNK) as u64, c.len()))
}

/// What one side of a transfer saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerfReport {
    /// Bytes sent.
    pub sent: u64,
    /// Bytes received (all checked).
    pub received: u64,
    /// Whether every received byte matched and the counts were as agreed.
    pub ok: bool,
    /// Time from the first to the last byte.
    pub elapsed: Duration,
    /// Why it failed, when it did.
    pub problem: String,
}

impl PerfReport {
    /// `perf[...]: sent ... Gbit/s, received ... Gbit/s` summary line.
    pub fn line(&self, stack: &str) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "perf[{stack}]: sent {} bytes ({:.3} Gbit/s), received {} bytes ({:.3} Gbit/s) in {:.4} s, {}",
            self.sent,
            self.sent as f64 * 8.0 / secs / 1e9,
            self.received,
            self.received as f64 * 8.0 / secs / 1e9,
            secs,
            if self.ok {
                "verified".to_string()
            } else {
                format!("FAILED ({})", self.problem)
            }
        )
    }
}

/// One transfer's state machine over a non-blocking socket of a context.
struct Transfer {
    header: Vec<u8>,
    header_out: usize,
    to_send: u64,
    to_recv: Option<u64>,
    sent: u64,
    received: u64,
    shut: bool,
    eof: bool,
    bad: bool,
    problem: String,
    connected: bool,
}

impl Transfer {
    /// A transfer that sends `header` first (empty on the server, which reads one), then
    /// `to_send` bytes, and receives `to_recv` (the server learns it from the header).
    fn new(header: Vec<u8>, to_send: u64, to_recv: Option<u64>, connected: bool) -> Transfer {
        Transfer {
            header,
            header_out: 0,
            to_send,
            to_recv,
            sent: 0,
            received: 0,
            shut: false,
            eof: false,
            bad: false,
            problem: String::new(),
            connected,
        }
    }

    fn fail(&mut self, why: String) {
        if !self.bad {
            self.problem = why;
        }
        self.bad = true;
    }

    fn done(&self) -> bool {
        self.bad || (self.shut && self.eof)
    }

    /// Moves what can move; returns whether it waits for send space.
    fn step<Q: Queue>(&mut self, ctx: &mut Context<Q>, id: i32, buf: &mut [u8]) -> bool {
        while self.to_recv.is_some() && self.header_out < self.header.len() {
            match ctx.write(id, &self.header[self.header_out..]) {
                Ok(k) => self.header_out += k,
                Err(Error::Again) => return true,
                Err(e) => {
                    self.fail(format!("writing the header: {e}"));
                    return false;
                }
            }
        }
        let mut blocked = false;
        if self.to_recv.is_some() {
            while self.sent < self.to_send {
                let piece = pattern(self.sent, (self.to_send - self.sent) as usize);
                match ctx.write(id, piece) {
                    Ok(k) => self.sent += k as u64,
                    Err(Error::Again) => {
                        blocked = true;
                        break;
                    }
                    Err(e) => {
                        self.fail(format!("write at {}: {e}", self.sent));
                        return false;
                    }
                }
            }
            if self.sent == self.to_send && !self.shut {
                match ctx.shutdown(id, libc::SHUT_WR) {
                    Ok(()) => self.shut = true,
                    Err(e) => self.fail(format!("shutdown: {e}")),
                }
            }
        }
        while !self.eof && !self.bad {
            match ctx.read(id, buf) {
                Ok(0) => {
                    self.eof = true;
                    if self.to_recv != Some(self.received) {
                        self.fail(format!(
                            "EOF after {} of {:?} bytes",
                            self.received, self.to_recv
                        ));
                    }
                }
                Ok(k) => self.absorb(&buf[..k]),
                Err(Error::Again) => break,
                Err(e) => self.fail(format!("read at {}: {e}", self.received)),
            }
        }
        blocked
    }

    fn absorb(&mut self, mut data: &[u8]) {
        if self.to_recv.is_none() {
            // Server: the first 16 bytes are the header.
            let need = 16 - self.header.len();
            let take = need.min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() < 16 {
                return;
            }
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.header[i..i + 8]);
                u64::from_le_bytes(b)
            };
            self.to_recv = Some(word(0));
            self.to_send = word(8);
            self.header_out = 16;
        }
        if !matches(self.received, data) {
            self.fail(format!("wrong bytes at {}", self.received));
        }
        self.received += data.len() as u64;
        if self.to_recv.is_some_and(|t| self.received > t) {
            self.fail(format!("{} bytes, more than agreed", self.received));
        }
    }

    fn report(&self, started: Instant) -> PerfReport {
        PerfReport {
            sent: self.sent,
            received: self.received,
            ok: !self.bad && self.eof && self.shut && self.to_recv == Some(self.received),
            elapsed: started.elapsed(),
            problem: if self.bad || self.eof {
                self.problem.clone()
            } else {
                format!(
                    "stopped after {} sent, {} received",
                    self.sent, self.received
                )
            },
        }
    }
}

fn drive<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    id: i32,
    t: &mut Transfer,
    stop: &AtomicBool,
) -> Result<()> {
    let mut evs = [EpollEvent::default(); 4];
    let mut buf = vec![0u8; CHUNK];
    // The interest registered: IN until the peer's EOF, OUT while waiting for send space.
    let (mut out, mut eof) = (true, false);
    let mut last = (0, 0, Instant::now());
    while !t.done() && !stop.load(Ordering::Relaxed) {
        let n = ctx.epoll_wait(ep, &mut evs, 100)?;
        if let Some(e) = evs[..n].iter().find(|e| e.events & events::ERR != 0) {
            let err = ctx
                .getsockopt(id, libc::SOL_SOCKET, libc::SO_ERROR)
                .unwrap_or(-1);
            t.fail(format!("event {:#x}, SO_ERROR {err}", e.events));
            break;
        }
        // A connecting socket is writable once established (ENOTCONN before).
        t.connected |= evs[..n].iter().any(|e| e.events & events::OUT != 0);
        if !t.connected {
            continue;
        }
        let want_out = t.step(ctx, id, &mut buf);
        // After the peer's EOF the socket stays readable (level-triggered IN for ever): still
        // asking for IN, every `epoll_wait` returned at once and this loop polled flat out
        // while its data drained (a sender whose receiver sends nothing back sees that EOF
        // right after the header), taking the CPU from the receiver on a loaded machine.
        if want_out != out || t.eof != eof {
            (out, eof) = (want_out, t.eof);
            let mask = match (out, eof) {
                (true, false) => events::IN | events::OUT,
                (true, true) => events::OUT,
                // With the EOF in and nothing left to write the transfer is done.
                (false, _) => events::IN,
            };
            let ev = EpollEvent {
                events: mask,
                data: id as u64,
            };
            ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev))?;
        }
        if (t.sent, t.received) != (last.0, last.1) {
            last = (t.sent, t.received, Instant::now());
        } else if last.2.elapsed() > Duration::from_secs(20) {
            t.fail(format!(
                "stalled 20 s at {} sent, {} received",
                t.sent, t.received
            ));
        }
    }
    Ok(())
}

/// Client over our stack: sends `to_server` bytes, expects `to_client` bytes back.
pub fn mtcp_client<Q: Queue>(
    ctx: &mut Context<Q>,
    server: SocketAddr,
    to_server: u64,
    to_client: u64,
    stop: &AtomicBool,
) -> Result<PerfReport> {
    ctx.init_rss(
        std::net::Ipv4Addr::UNSPECIFIED,
        1,
        crate::cli::rss_daddr(&server),
        server.port(),
    )?;
    let s = ctx.socket(crate::cli::domain(&server), libc::SOCK_STREAM, 0)?;
    ctx.setsock_nonblock(s)?;
    match ctx.connect(s, server) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => return Err(e),
    }
    let ep = ctx.epoll_create(4)?;
    let ev = EpollEvent {
        events: events::IN | events::OUT,
        data: s as u64,
    };
    ctx.epoll_ctl(ep, EPOLL_CTL_ADD, s, Some(ev))?;
    let mut header = to_server.to_le_bytes().to_vec();
    header.extend_from_slice(&to_client.to_le_bytes());
    let mut t = Transfer::new(header, to_server, Some(to_client), false);
    let started = Instant::now();
    drive(ctx, ep, s, &mut t, stop)?;
    let report = t.report(started);
    if std::env::var_os("MTCP_PERF_INFO").is_some() {
        // The sender's counters (retransmissions, timeouts, recoveries) when the peer's EOF
        // came: what `mtcp-bench`'s lossy rows print beside each transfer.
        if let Ok(info) = ctx.tcp_info(s) {
            eprintln!("perf: {info:?}");
        }
    }
    // What is still unacknowledged goes out after the close: while the caller drives the
    // context, or in the drain when it destroys (drops) it.
    let _ = ctx.close(s);
    Ok(report)
}

/// Server over our stack: serves transfers one after another on `addr` until `stop` (or after
/// the first when `once`); calls `report` after each.
pub fn mtcp_server<Q: Queue>(
    ctx: &mut Context<Q>,
    addr: SocketAddr,
    once: bool,
    stop: &AtomicBool,
    report: impl FnMut(PerfReport),
) -> Result<()> {
    let l = mtcp_listen(ctx, addr)?;
    mtcp_serve(ctx, l, once, stop, report)
}

/// The server's listener on `addr` (non-blocking, backlog 64); create it before a client may
/// connect (see [`crate::echo::mtcp_listen`]).
pub fn mtcp_listen<Q: Queue>(ctx: &mut Context<Q>, addr: SocketAddr) -> Result<i32> {
    crate::accept::listen(ctx, addr, 64)
}

/// [`mtcp_server`] on the listener `l` from [`mtcp_listen`].
pub fn mtcp_serve<Q: Queue>(
    ctx: &mut Context<Q>,
    l: i32,
    once: bool,
    stop: &AtomicBool,
    mut report: impl FnMut(PerfReport),
) -> Result<()> {
    let lep = ctx.epoll_create(4)?;
    let lev = EpollEvent {
        events: events::IN,
        data: l as u64,
    };
    ctx.epoll_ctl(lep, EPOLL_CTL_ADD, l, Some(lev))?;
    let mut evs = [EpollEvent::default(); 4];
    let mut pressure = crate::accept::AcceptPressure::default();
    while !stop.load(Ordering::Relaxed) {
        ctx.epoll_wait(lep, &mut evs, 100)?;
        // Out of sockets or memory: this client waits in the backlog; serving goes on.
        let Some(s) = pressure.accept(ctx, l)? else {
            continue;
        };
        let ev = EpollEvent {
            events: events::IN | events::OUT,
            data: s as u64,
        };
        let ep = match ctx.epoll_create(4) {
            Ok(ep) => ep,
            Err(e) => {
                let _ = ctx.close(s);
                pressure.note(e);
                continue;
            }
        };
        if let Err(e) = ctx.epoll_ctl(ep, EPOLL_CTL_ADD, s, Some(ev)) {
            let _ = ctx.close(s);
            let _ = ctx.close(ep);
            pressure.note(e);
            continue;
        }
        let mut t = Transfer::new(Vec::with_capacity(16), 0, None, true);
        let started = Instant::now();
        drive(ctx, ep, s, &mut t, stop)?;
        let r = t.report(started);
        // The rest is delivered after the close, by the next turns or by the drain when the
        // context is destroyed (`once`).
        let _ = ctx.close(s);
        let _ = ctx.close(ep);
        report(r);
        if once {
            break;
        }
    }
    let _ = ctx.close(l);
    Ok(())
}

fn kernel_transfer(mut s: TcpStream, to_send: u64, to_recv: u64) -> PerfReport {
    let started = Instant::now();
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(mut w) = s.try_clone() else {
        return PerfReport::default();
    };
    let sender = std::thread::spawn(move || -> std::io::Result<u64> {
        let mut sent = 0;
        while sent < to_send {
            let piece = pattern(sent, (to_send - sent) as usize);
            w.write_all(piece)?;
            sent += piece.len() as u64;
        }
        w.shutdown(Shutdown::Write)?;
        Ok(sent)
    });
    let mut buf = vec![0u8; CHUNK];
    let (mut received, mut ok, mut problem) = (0u64, true, String::new());
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                if ok && !matches(received, &buf[..k]) {
                    ok = false;
                    problem = format!("wrong bytes at {received}");
                }
                received += k as u64;
            }
            Err(e) => {
                ok = false;
                problem = format!("read at {received}: {e}");
                break;
            }
        }
    }
    let sent = sender.join().ok().and_then(|r| r.ok());
    PerfReport {
        sent: sent.unwrap_or(0),
        received,
        ok: ok && received == to_recv && sent == Some(to_send),
        elapsed: started.elapsed(),
        problem: if problem.is_empty() {
            format!("sent {sent:?} of {to_send}, received {received} of {to_recv}")
        } else {
            problem
        },
    }
}

/// Client over kernel sockets.
pub fn kernel_client(
    server: SocketAddr,
    to_server: u64,
    to_client: u64,
) -> std::io::Result<PerfReport> {
    let mut s = TcpStream::connect(server)?;
    let mut header = to_server.to_le_bytes().to_vec();
    header.extend_from_slice(&to_client.to_le_bytes());
    s.write_all(&header)?;
    Ok(kernel_transfer(s, to_server, to_client))
}

/// Server over kernel sockets: transfers one after another until `stop` (or after the first).
pub fn kernel_server(
    addr: SocketAddr,
    once: bool,
    stop: &AtomicBool,
    mut report: impl FnMut(PerfReport),
) -> std::io::Result<()> {
    crate::accept::kernel_accept_loop(addr, stop, |mut s| {
        let mut header = [0u8; 16];
        if s.read_exact(&mut header).is_err() {
            report(PerfReport::default());
        } else {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&header[i..i + 8]);
                u64::from_le_bytes(b)
            };
            report(kernel_transfer(s, word(8), word(0)));
        }
        !once
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole workload over two instances on one in-memory switch, the server stopping its
    /// stack (dropping its context, which drains) right after its close, as `mtcp-perf --once`
    /// and the mem link of `mtcp-dpdk-bench` do; small buffers so that the window is often
    /// closed at the end.
    fn mem_transfer(mode: &str, bytes: u64) {
        use mtcp_io::mem::{MemConfig, MemSwitch};
        use mtcp_socket_api::{Mtcp, MtcpConf};
        use std::net::Ipv4Addr;
        let conf = |port: &str, ip: &str| {
            MtcpConf::parse(&format!(
                "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\n\
                 max_concurrency = 128\nrcvbuf = 8192\nsndbuf = 8192\ntcp_timewait = 0\n\
                 run_mode = {mode}\n"
            ))
            .unwrap()
        };
        let switch = MemSwitch::new(MemConfig::default()).unwrap();
        let srv = Mtcp::with_switch(conf("mem0", "198.18.0.1"), &switch, 0).unwrap();
        let cli = Mtcp::with_switch(conf("mem1", "198.18.0.2"), &switch, 1).unwrap();
        let mut sctx = srv.create_context(0).unwrap();
        let mut cctx = cli.create_context(0).unwrap();
        static NEVER: AtomicBool = AtomicBool::new(false);
        let server = std::thread::spawn(move || {
            let mut got = None;
            let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5001));
            mtcp_server(&mut sctx, any, true, &NEVER, |r| got = Some(r)).unwrap();
            drop(sctx);
            got.unwrap()
        });
        std::thread::sleep(Duration::from_millis(50));
        let server_addr = SocketAddr::from((Ipv4Addr::new(198, 18, 0, 1), 5001));
        let r = mtcp_client(&mut cctx, server_addr, bytes, bytes, &NEVER).unwrap();
        let s = server.join().unwrap();
        assert!(r.ok, "{}", r.line("client"));
        assert!(s.ok, "{}", s.line("server"));
        assert_eq!((r.sent, r.received), (bytes, bytes));
    }

    #[test]
    fn mem_transfer_rtc() {
        for k in 0..3 {
            mem_transfer("rtc", 300_000 + k * 7_777);
        }
    }

    #[test]
    fn mem_transfer_threaded() {
        for k in 0..3 {
            mem_transfer("threaded", 300_000 + k * 7_777);
        }
    }

    #[test]
    fn pattern_checks_position() {
        let a = pattern(5, 100).to_vec();
        assert!(matches(5, &a));
        assert!(!matches(6, &a));
        let long: Vec<u8> = (0..3 * CHUNK as u64 / 1000)
            .flat_map(|k| pattern(k * 1000, 1000).to_vec())
            .collect();
        assert!(matches(0, &long));
        assert!(!matches(1000, &long));
    }
}
