//! An HTTP/1.0 load generator after mTCP's `epwget`: per core `init_rss`, non-blocking
//! connects up to a concurrency, `GET <path>` with `Connection: Close`, each response read to
//! EOF and, when the expected body is known, checked byte for byte against it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EpollEvent, Error, Result, events};

use crate::http;

/// One kind of request: a path and the body it must return.
#[derive(Clone, Debug)]
pub struct Request {
    /// Path.
    pub path: String,
    /// Expected body (`None`: any `200` response whose length matches its `Content-Length`,
    /// or that ends at EOF without one).
    pub expected: Option<Arc<Vec<u8>>>,
}

/// What the client does.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Server address.
    pub server: SocketAddr,
    /// Requests in order (each on its own connection).
    pub requests: Vec<Request>,
    /// Connections open at once.
    pub concurrency: usize,
    /// Give up when nothing completes for this long.
    pub stall_timeout: Duration,
    /// Keep the body of the first complete response (epwget's `-o`).
    pub keep_body: bool,
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct ClientOutcome {
    /// Responses complete and correct.
    pub completes: u64,
    /// Connections that failed.
    pub errors: u64,
    /// Connections that ended early or never finished.
    pub incompletes: u64,
    /// The first complete body, when [`ClientConfig::keep_body`].
    pub first_body: Option<Vec<u8>>,
    /// Why the failed connections failed, as `(cause, count)`: the first of each cause in the
    /// order met (a failure is rare, so a short list searched by name is enough).
    pub error_causes: Vec<(Failure, u64)>,
}

impl ClientOutcome {
    /// The causes as `cause count, ...` (empty without errors): epwget prints it beside its
    /// summary so that a failed run says what failed.
    pub fn causes_line(&self) -> String {
        let parts: Vec<String> = self
            .error_causes
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        parts.join(", ")
    }

    fn count_failure(&mut self, f: Failure) {
        match self.error_causes.iter_mut().find(|(g, _)| *g == f) {
            Some((_, n)) => *n += 1,
            None => self.error_causes.push((f, 1)),
        }
    }
}

/// Why a connection counted as an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connect failed (EPOLLERR before the request was written), with the socket's
    /// SO_ERROR when it names one.
    Connect(Option<Error>),
    /// The request could not be written in one go, with the write's error.
    Write(Option<Error>),
    /// A read failed (a reset after the request, typically).
    Read(Error),
    /// The response was not a `200` with the expected bytes.
    BadResponse,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errno = |e: &Option<Error>| e.map_or("-".to_string(), |e| e.to_string());
        match self {
            Failure::Connect(e) => write!(f, "connect: {}", errno(e)),
            Failure::Write(e) => write!(f, "write: {}", errno(e)),
            Failure::Read(e) => write!(f, "read: {e}"),
            Failure::BadResponse => write!(f, "bad response"),
        }
    }
}

/// Counters the client publishes while it runs (epwget's).
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Connects started.
    pub connects: AtomicU64,
    /// Response bytes read.
    pub bytes_read: AtomicU64,
    /// Request bytes written.
    pub bytes_written: AtomicU64,
    /// Responses complete and correct.
    pub completes: AtomicU64,
    /// Connections that failed (connect error, reset, wrong status or bytes).
    pub errors: AtomicU64,
    /// Connections that ended early (EOF before the whole body).
    pub incompletes: AtomicU64,
    /// Sum of response times, microseconds.
    pub resp_time_sum_us: AtomicU64,
    /// Longest response time, microseconds.
    pub resp_time_max_us: AtomicU64,
}

impl ClientStats {
    /// epwget's per-second line: `[ ALL ] connect: ..., read: ... MB, write: ... MB, completes: ...`.
    pub fn line(&self, prev: &[u64; 4]) -> (String, [u64; 4]) {
        let now = [
            self.connects.load(Ordering::Relaxed),
            self.bytes_read.load(Ordering::Relaxed),
            self.bytes_written.load(Ordering::Relaxed),
            self.completes.load(Ordering::Relaxed),
        ];
        let done = now[3].max(1);
        let line = format!(
            "[ ALL ] connect: {:7}, read: {:4} MB, write: {:4} MB, completes: {:7} (resp_time avg: {:4}, max: {:6} us)",
            now[0] - prev[0],
            (now[1] - prev[1]) / 1_000_000,
            (now[2] - prev[2]) / 1_000_000,
            now[3] - prev[3],
            self.resp_time_sum_us.load(Ordering::Relaxed) / done,
            self.resp_time_max_us.load(Ordering::Relaxed),
        );
        (line, now)
    }
}

struct Conn {
    req: usize,
    started: Instant,
    head: Vec<u8>,
    body_at: Option<(u16, Option<usize>)>,
    received: usize,
    body: Vec<u8>,
    bad: bool,
    sent: bool,
}

/// Marks this client core as done in `running` (a count of client cores still working), then
/// keeps `ctx`'s stack running until every core is done: where the device cannot steer flows
/// to their core, this core's queue receives frames of the others' flows and must hand them
/// over (mtcp-socket-api's mesh).
pub fn finish_core<Q: Queue>(ctx: &mut Context<Q>, running: &std::sync::atomic::AtomicUsize) {
    running.fetch_sub(1, Ordering::Relaxed);
    let Ok(ep) = ctx.epoll_create(1) else {
        return;
    };
    let mut evs = [EpollEvent::default(); 1];
    while running.load(Ordering::Relaxed) > 0 {
        if ctx.epoll_wait(ep, &mut evs, 1).is_err() {
            break;
        }
    }
}

/// A non-blocking socket connecting to `server`, registered with `ep` for EPOLLOUT; on an error
/// the socket is closed again.
pub fn connect_nonblocking<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    server: SocketAddr,
) -> Result<i32> {
    let s = ctx.socket(crate::cli::domain(&server), libc::SOCK_STREAM, 0)?;
    if let Err(e) = ctx.setsock_nonblock(s) {
        let _ = ctx.close(s);
        return Err(e);
    }
    match ctx.connect(s, server) {
        Err(Error::InProgress) | Ok(()) => {}
        Err(e) => {
            let _ = ctx.close(s);
            return Err(e);
        }
    }
    let ev = EpollEvent {
        events: events::OUT,
        data: s as u64,
    };
    if let Err(e) = ctx.epoll_ctl(ep, EPOLL_CTL_ADD, s, Some(ev)) {
        let _ = ctx.close(s);
        return Err(e);
    }
    Ok(s)
}

/// Starts a non-blocking connection for request `req`, registered for EPOLLOUT.
fn open_conn<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    cfg: &ClientConfig,
    stats: &ClientStats,
    req: usize,
) -> Result<(i32, Conn)> {
    let s = connect_nonblocking(ctx, ep, cfg.server)?;
    stats.connects.fetch_add(1, Ordering::Relaxed);
    let conn = Conn {
        req,
        started: Instant::now(),
        head: Vec::with_capacity(512),
        body_at: None,
        received: 0,
        body: Vec::new(),
        bad: false,
        sent: false,
    };
    Ok((s, conn))
}

/// Writes epwget's request once connected and waits for the response (EPOLLIN). `Some(Err(_))`
/// when the request could not be written in one go.
fn send_request<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    id: i32,
    c: &mut Conn,
    cfg: &ClientConfig,
    stats: &ClientStats,
) -> Result<Option<std::result::Result<(), Failure>>> {
    // An IPv6 literal goes in brackets in a Host header (RFC 9110 §7.2, RFC 3986 §3.2.2).
    let (open, close) = if cfg.server.is_ipv6() {
        ("[", "]")
    } else {
        ("", "")
    };
    let req = format!(
        "GET {} HTTP/1.0\r\nUser-Agent: Wget/1.12 (linux-gnu)\r\nAccept: */*\r\nHost: {open}{}{close}\r\nConnection: Close\r\n\r\n",
        cfg.requests[c.req].path,
        cfg.server.ip()
    );
    match ctx.write(id, req.as_bytes()) {
        Ok(w) if w == req.len() => {
            stats.bytes_written.fetch_add(w as u64, Ordering::Relaxed);
            c.sent = true;
            let ev = EpollEvent {
                events: events::IN,
                data: id as u64,
            };
            ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev))?;
            Ok(None)
        }
        Ok(_) => Ok(Some(Err(Failure::Write(None)))),
        Err(e) => Ok(Some(Err(Failure::Write(Some(e))))),
    }
}

/// Reads the response; at EOF, `Some(Ok(()))` when it was a whole, right `200` (an incomplete
/// one is counted in `out` and `stats` and is `Some(Err(BadResponse))`). `None` while more is
/// to come.
fn read_response<Q: Queue>(
    ctx: &mut Context<Q>,
    id: i32,
    c: &mut Conn,
    cfg: &ClientConfig,
    buf: &mut [u8],
    stats: &ClientStats,
    out: &mut ClientOutcome,
) -> Option<std::result::Result<(), Failure>> {
    let request = &cfg.requests[c.req];
    loop {
        match ctx.read(id, buf) {
            Ok(0) => {
                let complete = c
                    .body_at
                    .is_some_and(|(st, len)| st == 200 && len.is_none_or(|len| c.received == len))
                    && request
                        .expected
                        .as_ref()
                        .is_none_or(|e| e.len() == c.received);
                if !complete && !c.bad {
                    out.incompletes += 1;
                    stats.incompletes.fetch_add(1, Ordering::Relaxed);
                }
                return Some(if complete && !c.bad {
                    Ok(())
                } else {
                    Err(Failure::BadResponse)
                });
            }
            Ok(n) => {
                stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                absorb(c, &buf[..n], request.expected.as_deref(), cfg.keep_body);
            }
            Err(Error::Again) => return None,
            Err(e) => return Some(Err(Failure::Read(e))),
        }
    }
}

/// Counts a finished connection (response time, complete or error) in `out` and `stats`.
fn account(
    c: &mut Conn,
    end: std::result::Result<(), Failure>,
    keep_body: bool,
    stats: &ClientStats,
    out: &mut ClientOutcome,
) {
    let us = c.started.elapsed().as_micros() as u64;
    stats.resp_time_sum_us.fetch_add(us, Ordering::Relaxed);
    stats.resp_time_max_us.fetch_max(us, Ordering::Relaxed);
    if end.is_ok() {
        if keep_body && out.first_body.is_none() {
            out.first_body = Some(std::mem::take(&mut c.body));
        }
        out.completes += 1;
        stats.completes.fetch_add(1, Ordering::Relaxed);
    } else if let Err(f) = end {
        out.errors += 1;
        out.count_failure(f);
        stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs every request of `cfg` on `ctx`: up to `concurrency` connections at once, a request
/// each; gives up when nothing happened for `stall_timeout`.
pub fn run<Q: Queue>(
    ctx: &mut Context<Q>,
    cfg: &ClientConfig,
    stats: &ClientStats,
) -> Result<ClientOutcome> {
    ctx.init_rss(
        Ipv4Addr::UNSPECIFIED,
        1,
        crate::cli::rss_daddr(&cfg.server),
        cfg.server.port(),
    )?;
    let ep = ctx.epoll_create(cfg.concurrency.max(1) as i32 * 3)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut evs = vec![EpollEvent::default(); cfg.concurrency.max(1) * 3];
    let mut buf = vec![0u8; 16 * 1024];
    let (mut next, mut open, mut finished) = (0usize, 0usize, 0usize);
    let mut out = ClientOutcome::default();
    let mut pressure = crate::accept::AcceptPressure::default();
    let mut last_progress = Instant::now();
    let total = cfg.requests.len();
    while finished < total {
        while open < cfg.concurrency && next < total {
            // Out of sockets or memory: open no more this turn; finishing ones make room.
            let (s, conn) = match open_conn(ctx, ep, cfg, stats, next) {
                Ok(v) => v,
                Err(e) if crate::accept::is_pressure(e) && open > 0 => {
                    pressure.note(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            if conns.len() <= s as usize {
                conns.resize_with(s as usize + 1, || None);
            }
            conns[s as usize] = Some(conn);
            next += 1;
            open += 1;
        }
        let n = ctx.epoll_wait(ep, &mut evs, 100)?;
        if n == 0 && last_progress.elapsed() > cfg.stall_timeout {
            break;
        }
        for ev in &evs[..n] {
            let id = ev.data as i32;
            let Some(Some(c)) = conns.get_mut(id as usize) else {
                continue;
            };
            let end = if ev.events & events::ERR != 0 && !c.sent {
                let so_error = ctx.getsockopt(id, libc::SOL_SOCKET, libc::SO_ERROR);
                let cause = so_error.ok().and_then(Error::from_errno);
                Some(Err(Failure::Connect(cause)))
            } else if ev.events & events::OUT != 0 && !c.sent {
                send_request(ctx, ep, id, c, cfg, stats)?
            } else if ev.events & (events::IN | events::ERR | events::HUP) != 0 {
                read_response(ctx, id, c, cfg, &mut buf, stats, &mut out)
            } else {
                None
            };
            if let Some(end) = end {
                account(c, end, cfg.keep_body, stats, &mut out);
                conns[id as usize] = None;
                let _ = ctx.close(id);
                open -= 1;
                finished += 1;
                last_progress = Instant::now();
            }
        }
    }
    let left = (total - finished) as u64;
    out.incompletes += left;
    stats.incompletes.fetch_add(left, Ordering::Relaxed);
    Ok(out)
}

/// Takes response bytes: the head first, then the body, compared with `expected` (when known)
/// as it comes.
fn absorb(c: &mut Conn, mut data: &[u8], expected: Option<&Vec<u8>>, keep: bool) {
    if c.body_at.is_none() {
        let had = c.head.len();
        c.head.extend_from_slice(data);
        let Some(len) = http::head_len(&c.head) else {
            return;
        };
        match http::parse_response(&c.head[..len]) {
            Some((status, cl)) => {
                c.body_at = Some((status, cl));
                let want = expected.map(|e| e.len()).or(cl);
                if status != 200 || (cl.is_some() && cl != want) {
                    c.bad = true;
                }
            }
            None => {
                c.bad = true;
                c.body_at = Some((0, Some(0)));
            }
        }
        data = &data[len - had..];
        c.head.clear();
    }
    let end = c.received + data.len();
    if let Some(expected) = expected {
        if end > expected.len() || expected[c.received..end] != *data {
            c.bad = true;
        }
    } else if c
        .body_at
        .is_some_and(|(_, cl)| cl.is_some_and(|cl| end > cl))
    {
        c.bad = true;
    }
    if keep && !c.bad {
        c.body.extend_from_slice(data);
    }
    c.received = end;
}
