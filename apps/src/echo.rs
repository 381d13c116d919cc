//! An echo workload: a server that returns every byte it receives, and a client that keeps `N`
//! connections each doing request/response rounds of `M` bytes, checking the echoed bytes and
//! timing each round. Both exist over our stack ([`mtcp_server`], [`mtcp_client`]) and over the
//! kernel's sockets ([`kernel_serve`], [`kernel_client`]), with the same event-driven logic on
//! one thread each, so the two can be compared.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EpollEvent, Error, Result, events};

use crate::accept::AcceptPressure;
use crate::http::test_content;

mod kernel;
pub use kernel::{kernel_client, kernel_listen, kernel_serve};

/// What the client does.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// Server address.
    pub server: SocketAddr,
    /// Connections.
    pub connections: usize,
    /// Bytes per message.
    pub message_bytes: usize,
    /// Stop starting rounds after this long.
    pub duration: Duration,
}

/// What the client measured.
#[derive(Clone, Debug, Default)]
pub struct EchoReport {
    /// Rounds completed (each checked byte for byte) once every connection was up: rounds of
    /// the connections that came up first, while the others were still connecting, are a
    /// warm-up and not counted (with 10 000 connections the handshakes would otherwise weigh
    /// in a figure meant for echo over open connections).
    pub transactions: u64,
    /// Connections that failed or returned wrong bytes (the sum of `failures`).
    pub errors: u64,
    /// Why they failed.
    pub failures: EchoFailures,
    /// Round-trip time of every counted round, nanoseconds (printed as microseconds with one
    /// decimal: whole microseconds made a 2 us and a 3 us round trip look 1.5x apart).
    pub latencies_ns: Vec<u64>,
    /// Wall time of the run, from the moment every connection was up.
    pub elapsed: Duration,
    /// From the first connect until every connection was up (or had failed).
    pub ramp: Duration,
}

/// Failed connections by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoFailures {
    /// Failed before the connection was established (refused: RST to the SYN; or timed out).
    pub connect: u64,
    /// Reset or another socket error once established.
    pub reset: u64,
    /// The server closed (EOF) in the middle of a round.
    pub eof: u64,
    /// Echoed bytes differed from those sent.
    pub mismatch: u64,
    /// Still in a round when the client gave up (no round completed for 10 s).
    pub unfinished: u64,
}

/// One failure's cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Connect,
    Reset,
    Eof,
    Mismatch,
}

impl EchoReport {
    fn fail(&mut self, why: Failure) {
        self.errors += 1;
        let f = &mut self.failures;
        match why {
            Failure::Connect => f.connect += 1,
            Failure::Reset => f.reset += 1,
            Failure::Eof => f.eof += 1,
            Failure::Mismatch => f.mismatch += 1,
        }
    }

    /// `echo: ... transactions/s, latency p50/p99/p999` summary line.
    pub fn line(&mut self, stack: &str, cfg: &EchoConfig) -> String {
        self.latencies_ns.sort_unstable();
        let p = |q| crate::cli::percentile(&self.latencies_ns, q) as f64 / 1000.0;
        format!(
            "echo[{stack}]: {} conns x {} B: {} transactions in {:.2} s = {:.0} transactions/s, latency p50 {:.1} us, p99 {:.1} us, p999 {:.1} us, errors {}",
            cfg.connections,
            cfg.message_bytes,
            self.transactions,
            self.elapsed.as_secs_f64(),
            self.transactions as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p(50.0),
            p(99.0),
            p(99.9),
            self.errors
        ) + &self.failure_text()
    }

    fn failure_text(&self) -> String {
        let f = &self.failures;
        if self.errors == 0 {
            return String::new();
        }
        format!(
            " (connect {}, reset {}, eof {}, wrong bytes {}, unfinished {})",
            f.connect, f.reset, f.eof, f.mismatch, f.unfinished
        )
    }
}

struct Pending {
    data: Vec<u8>,
    out: bool,
}

/// Echo server on `ctx` until `stop`: a listener on `addr`, everything read is written back.
pub fn mtcp_server<Q: Queue>(
    ctx: &mut Context<Q>,
    addr: SocketAddr,
    stop: &AtomicBool,
) -> Result<()> {
    let l = mtcp_listen(ctx, addr)?;
    mtcp_serve(ctx, l, stop)
}

/// Listen backlog of the echo server: room for every connection of a client that opens 10 000
/// at once (mtcp-bench's `conns10k`). With 4096, the SYNs beyond it were answered with cookies
/// whose ACKs a full accept queue dropped, and the last connections came up only after a
/// retransmission timeout: 1.08 s to open 10 000 on the in-memory link, 0.08 s with this.
pub const ECHO_BACKLOG: i32 = 16_384;

/// The echo server's listener on `addr` (non-blocking, backlog [`ECHO_BACKLOG`], or a quarter
/// of it, and so on down to 64, where the stack is configured for fewer connections). Create it
/// before a client may connect: a SYN that arrives first is answered with RST (connection
/// refused), which the client rightly counts as a failed connection. In threaded mode the stack
/// thread answers SYNs from the moment the context exists, whether or not the server's thread
/// has started.
pub fn mtcp_listen<Q: Queue>(ctx: &mut Context<Q>, addr: SocketAddr) -> Result<i32> {
    let l = ctx.socket(crate::cli::domain(&addr), libc::SOCK_STREAM, 0)?;
    let listening = ctx
        .setsock_nonblock(l)
        .and_then(|()| ctx.bind(l, addr))
        .and_then(|()| {
            let mut backlog = ECHO_BACKLOG;
            loop {
                match ctx.listen(l, backlog) {
                    // A backlog above the stack's connection limit (max_concurrency) is refused.
                    Err(Error::Inval) if backlog > 64 => backlog /= 4,
                    r => return r,
                }
            }
        });
    if let Err(e) = listening {
        let _ = ctx.close(l);
        return Err(e);
    }
    Ok(l)
}

/// Echo server on `ctx` until `stop`, accepting on the listener `l` from [`mtcp_listen`].
pub fn mtcp_serve<Q: Queue>(ctx: &mut Context<Q>, l: i32, stop: &AtomicBool) -> Result<()> {
    let ep = ctx.epoll_create(4096)?;
    let ev = |events, id: i32| {
        Some(EpollEvent {
            events,
            data: id as u64,
        })
    };
    ctx.epoll_ctl(ep, EPOLL_CTL_ADD, l, ev(events::IN, l))?;
    let mut conns: Vec<Option<Pending>> = Vec::new();
    let mut evs = vec![EpollEvent::default(); 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let mut pressure = AcceptPressure::default();
    while !stop.load(Ordering::Relaxed) {
        let n = ctx.epoll_wait(ep, &mut evs, 10)?;
        for e in &evs[..n] {
            let id = e.data as i32;
            if id == l {
                pressure.accept_all(ctx, l, ep, &mut conns, || Pending {
                    data: Vec::new(),
                    out: false,
                })?;
                continue;
            }
            let Some(Some(p)) = conns.get_mut(id as usize) else {
                continue;
            };
            let mut done = e.events & events::ERR != 0;
            if !done && p.data.len() < (1 << 20) {
                loop {
                    match ctx.read(id, &mut buf) {
                        Ok(0) => {
                            done = p.data.is_empty();
                            break;
                        }
                        // Nothing queued before: written straight back from the read
                        // buffer, only what the send buffer refuses is kept.
                        Ok(k) if p.data.is_empty() => match ctx.write(id, &buf[..k]) {
                            Ok(w) => p.data.extend_from_slice(&buf[w..k]),
                            Err(Error::Again) => p.data.extend_from_slice(&buf[..k]),
                            Err(_) => {
                                done = true;
                                break;
                            }
                        },
                        Ok(k) => p.data.extend_from_slice(&buf[..k]),
                        Err(Error::Again) => break,
                        Err(_) => {
                            done = true;
                            break;
                        }
                    }
                }
            }
            while !done && !p.data.is_empty() {
                match ctx.write(id, &p.data) {
                    Ok(k) => {
                        p.data.drain(..k);
                    }
                    Err(Error::Again) => break,
                    Err(_) => done = true,
                }
            }
            if done {
                let _ = ctx.close(id);
                conns[id as usize] = None;
                continue;
            }
            let want_out = !p.data.is_empty();
            if want_out != p.out {
                p.out = want_out;
                let mask = if want_out { events::OUT } else { events::IN };
                ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, ev(mask, id))?;
            }
        }
    }
    Ok(())
}

struct Round {
    msg: usize,
    written: usize,
    read: usize,
    started: Instant,
    connected: bool,
    /// The events the connection is registered for (changed only when they differ: one
    /// `epoll_ctl` per round is work the kernel client does not do).
    watching: u32,
}

/// Opens `cfg.connections` non-blocking connections to the server, each registered for EPOLLOUT
/// (the connect's outcome) with its round state at `conns[id]`.
fn open_connections<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    cfg: &EchoConfig,
    conns: &mut Vec<Option<Round>>,
) -> Result<()> {
    for _ in 0..cfg.connections {
        let s = ctx.socket(crate::cli::domain(&cfg.server), libc::SOCK_STREAM, 0)?;
        ctx.setsock_nonblock(s)?;
        match ctx.connect(s, cfg.server) {
            Ok(()) | Err(Error::InProgress) => {}
            Err(e) => return Err(e),
        }
        let ev = EpollEvent {
            events: events::OUT,
            data: s as u64,
        };
        ctx.epoll_ctl(ep, EPOLL_CTL_ADD, s, Some(ev))?;
        if conns.len() <= s as usize {
            conns.resize_with(s as usize + 1, || None);
        }
        conns[s as usize] = Some(ClientRun::round(events::OUT));
    }
    Ok(())
}

/// One step of a non-blocking read or write.
pub(crate) enum Io {
    /// Moved this many bytes (0 on a read: end of stream).
    Did(usize),
    /// Would block.
    Again,
    /// The connection failed.
    Failed,
}

/// The streams the echo client's rounds run over, by connection id: our sockets (a
/// [`Context`]) or the kernel's ([`crate::echo_kernel`]), so both run the same client.
pub(crate) trait RoundIo {
    /// Writes from `buf` on connection `id`.
    fn write(&mut self, id: usize, buf: &[u8]) -> Io;
    /// Reads into `buf` from connection `id`.
    fn read(&mut self, id: usize, buf: &mut [u8]) -> Io;
}

impl<Q: Queue> RoundIo for Context<Q> {
    fn write(&mut self, id: usize, buf: &[u8]) -> Io {
        io_step(Context::write(self, id as i32, buf))
    }

    fn read(&mut self, id: usize, buf: &mut [u8]) -> Io {
        io_step(Context::read(self, id as i32, buf))
    }
}

fn io_step(r: Result<usize>) -> Io {
    match r {
        Ok(k) => Io::Did(k),
        Err(Error::Again) => Io::Again,
        Err(_) => Io::Failed,
    }
}

/// Writes what is left of `msg` on `id`; a failure is a reset.
fn write_rest(io: &mut impl RoundIo, id: usize, r: &mut Round, msg: &[u8]) -> Option<Failure> {
    while r.written < msg.len() {
        match io.write(id, &msg[r.written..]) {
            Io::Did(k) => r.written += k,
            Io::Again => break,
            Io::Failed => return Some(Failure::Reset),
        }
    }
    None
}

/// Reads the echo of what was written so far, checking it against `msg`.
fn read_echo(
    io: &mut impl RoundIo,
    id: usize,
    r: &mut Round,
    msg: &[u8],
    buf: &mut [u8],
) -> Option<Failure> {
    while r.read < r.written {
        match io.read(id, &mut buf[..r.written - r.read]) {
            Io::Did(0) => return Some(Failure::Eof),
            Io::Did(k) => {
                if buf[..k] != msg[r.read..r.read + k] {
                    return Some(Failure::Mismatch);
                }
                r.read += k;
            }
            Io::Again => break,
            Io::Failed => return Some(Failure::Reset),
        }
    }
    None
}

/// The client's messages (two, alternating, so a stale echo shows), its read buffer, and when
/// it stops starting rounds.
struct Workload {
    msgs: [Vec<u8>; 2],
    buf: Vec<u8>,
    finish_after: Instant,
    /// When the last round ended (one clock read per round serves the latency, the end test,
    /// the next round's start and the progress watchdog).
    last_round_end: Instant,
}

/// What one event did to a connection.
enum Step {
    /// Still in a round: wait for these events.
    Wait(u32),
    /// The connection is done: failed (with the cause) or finished its last round.
    Close(Option<Failure>),
}

/// Handles one event of connection `id` (`error`: the poller reported an error): connect outcome, write, read and check the echo, and
/// start the next round (or finish once `cfg.duration` has passed since `started`).
fn on_event(
    io: &mut impl RoundIo,
    id: usize,
    error: bool,
    r: &mut Round,
    w: &mut Workload,
    report: &mut EchoReport,
) -> Step {
    let (msgs, buf) = (&w.msgs, &mut w.buf[..]);
    if error {
        return Step::Close(Some(if r.connected {
            Failure::Reset
        } else {
            Failure::Connect
        }));
    }
    if !r.connected {
        r.connected = true;
        r.started = Instant::now();
    }
    let msg = &msgs[r.msg % 2];
    if let Some(f) = write_rest(io, id, r, msg).or_else(|| read_echo(io, id, r, msg, buf)) {
        return Step::Close(Some(f));
    }
    if r.read == msg.len() {
        let now = Instant::now();
        w.last_round_end = now;
        report
            .latencies_ns
            .push((now - r.started).as_nanos() as u64);
        report.transactions += 1;
        if now >= w.finish_after {
            return Step::Close(None);
        }
        *r = Round {
            msg: r.msg + 1,
            written: 0,
            read: 0,
            started: now,
            connected: true,
            watching: r.watching,
        };
        if let Some(f) = write_rest(io, id, r, &msgs[r.msg % 2]) {
            return Step::Close(Some(f));
        }
    }
    let msg = &msgs[r.msg % 2];
    Step::Wait(if r.written < msg.len() {
        events::OUT | events::IN
    } else {
        events::IN
    })
}

/// The echo client's bookkeeping over all its connections, whichever stack they run on: the
/// report, the workload, the ramp (rounds before every connection is up are a warm-up, see
/// [`EchoReport::transactions`]) and the progress watchdog.
struct ClientRun {
    report: EchoReport,
    w: Workload,
    duration: Duration,
    started: Instant,
    steady: Instant,
    /// Connections not yet up (nor failed).
    pending: usize,
    /// Connections not yet closed.
    live: usize,
    last_progress: Instant,
}

impl ClientRun {
    fn new(cfg: &EchoConfig) -> ClientRun {
        let started = Instant::now();
        ClientRun {
            report: EchoReport::default(),
            w: Workload {
                msgs: [
                    test_content(cfg.message_bytes, 1),
                    test_content(cfg.message_bytes, 2),
                ],
                buf: vec![0u8; cfg.message_bytes.max(1)],
                finish_after: started + cfg.duration,
                last_round_end: started,
            },
            duration: cfg.duration,
            started,
            steady: started,
            pending: cfg.connections,
            live: cfg.connections,
            last_progress: started,
        }
    }

    /// A fresh connection's round state (`watching`: the events it is registered for).
    fn round(watching: u32) -> Round {
        Round {
            msg: 0,
            written: 0,
            read: 0,
            started: Instant::now(),
            connected: false,
            watching,
        }
    }

    /// Connections remain, and a round completed in the last 10 s.
    fn running(&self) -> bool {
        self.live > 0 && self.last_progress.elapsed() < Duration::from_secs(10)
    }

    /// Runs an event of connection `id` (`error`: the poller reported an error). On
    /// [`Step::Close`] the connection is counted out; the caller closes it.
    fn on_ready(&mut self, io: &mut impl RoundIo, id: usize, error: bool, r: &mut Round) -> Step {
        let done_before = self.report.transactions;
        if !r.connected {
            self.one_less_pending();
        }
        let step = on_event(io, id, error, r, &mut self.w, &mut self.report);
        if self.report.transactions > done_before {
            self.last_progress = self.w.last_round_end;
        }
        if let Step::Close(fail) = step {
            if let Some(why) = fail {
                self.report.fail(why);
            }
            self.live -= 1;
        }
        step
    }

    /// A connection that could not even be started.
    fn failed_to_open(&mut self) {
        self.one_less_pending();
        self.report.fail(Failure::Connect);
        self.live -= 1;
    }

    fn one_less_pending(&mut self) {
        self.pending -= 1;
        if self.pending == 0 {
            // Every connection is up (or failed): the measured run starts now.
            self.steady = Instant::now();
            self.report.ramp = self.steady - self.started;
            self.w.finish_after = self.steady + self.duration;
            self.report.transactions = 0;
            self.report.latencies_ns.clear();
        }
    }

    /// The report; connections still in a round count as unfinished.
    fn finish(mut self) -> EchoReport {
        self.report.errors += self.live as u64;
        self.report.failures.unfinished += self.live as u64;
        self.report.elapsed = self.steady.elapsed();
        self.report
    }
}

/// Echo client on `ctx`: `connections` connections doing rounds of `message_bytes` until
/// `duration` has passed since every connection was up (see [`EchoReport::transactions`]).
pub fn mtcp_client<Q: Queue>(ctx: &mut Context<Q>, cfg: &EchoConfig) -> Result<EchoReport> {
    ctx.init_rss(
        std::net::Ipv4Addr::UNSPECIFIED,
        1,
        crate::cli::rss_daddr(&cfg.server),
        cfg.server.port(),
    )?;
    let ep = ctx.epoll_create(cfg.connections as i32 + 1)?;
    let mut conns: Vec<Option<Round>> = Vec::new();
    open_connections(ctx, ep, cfg, &mut conns)?;
    let mut run = ClientRun::new(cfg);
    let mut evs = vec![EpollEvent::default(); cfg.connections.max(1)];
    while run.running() {
        let n = ctx.epoll_wait(ep, &mut evs, 100)?;
        for e in &evs[..n] {
            let id = e.data as i32;
            let Some(Some(r)) = conns.get_mut(id as usize) else {
                continue;
            };
            let error = e.events & events::ERR != 0;
            match run.on_ready(ctx, id as usize, error, r) {
                Step::Wait(mask) if mask == r.watching => {}
                Step::Wait(mask) => {
                    r.watching = mask;
                    let ev = EpollEvent {
                        events: mask,
                        data: id as u64,
                    };
                    ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev))?;
                }
                Step::Close(_) => {
                    let _ = ctx.close(id);
                    conns[id as usize] = None;
                }
            }
        }
    }
    Ok(run.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtcp_io::mem::{MemConfig, MemSwitch};
    use mtcp_socket_api::{Mtcp, MtcpConf};
    use std::net::Ipv4Addr;

    /// Connections to a port nobody listens on are refused (RST to the SYN, in threaded mode the
    /// peer's stack thread answers without an application) and reported as connect failures.
    #[test]
    fn refused_connections_are_connect_failures() {
        let conf = |port: &str, ip: &str| {
            MtcpConf::parse(&format!(
                "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nrun_mode = threaded\n"
            ))
            .unwrap()
        };
        let switch = MemSwitch::new(MemConfig::default()).unwrap();
        let srv = Mtcp::with_switch(conf("mem0", "198.18.0.2"), &switch, 0).unwrap();
        let cli = Mtcp::with_switch(conf("mem1", "198.18.0.3"), &switch, 1).unwrap();
        let _sctx = srv.create_context(0).unwrap();
        let mut cctx = cli.create_context(0).unwrap();
        let cfg = EchoConfig {
            server: SocketAddr::from((Ipv4Addr::new(198, 18, 0, 2), 7)),
            connections: 3,
            message_bytes: 64,
            duration: Duration::from_millis(200),
        };
        let mut r = mtcp_client(&mut cctx, &cfg).unwrap();
        let line = r.line("mem", &cfg);
        assert_eq!(r.transactions, 0, "{line}");
        assert_eq!(r.errors, 3, "{line}");
        assert_eq!(
            r.failures,
            EchoFailures {
                connect: 3,
                ..EchoFailures::default()
            },
            "{line}"
        );
        assert!(
            line.ends_with("errors 3 (connect 3, reset 0, eof 0, wrong bytes 0, unfinished 0)"),
            "{line}"
        );
    }
}
