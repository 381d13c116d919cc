//! An epoll HTTP server after mTCP's `epserver`: a listener per core, files held in memory,
//! `200 OK` / `404 Not Found` with `Date`, `Server`, `Content-Length` and `Connection`, the body
//! written in 8 KB pieces driven by EPOLLOUT.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EpollEvent, Error, Result, events};

use crate::accept::AcceptPressure;
use crate::http;

/// Bytes per `write` of the body (epserver's).
const WRITE_CHUNK: usize = 8192;

/// What the server serves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (`0.0.0.0:80` in epserver).
    pub addr: SocketAddr,
    /// Listen backlog.
    pub backlog: i32,
    /// Files by path (`/name`).
    pub files: HashMap<String, Arc<Vec<u8>>>,
}

impl ServerConfig {
    /// Port 80 on any address, backlog 4096, no files.
    pub fn new() -> ServerConfig {
        ServerConfig {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)),
            backlog: 4096,
            files: HashMap::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

/// Counters a server publishes while it runs.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Responses completed.
    pub responses: AtomicU64,
    /// Body and head bytes written.
    pub bytes_written: AtomicU64,
    /// Connections that ended in an error.
    pub errors: AtomicU64,
}

struct Conn {
    request: Vec<u8>,
    head: Vec<u8>,
    body: Option<Arc<Vec<u8>>>,
    sent: usize,
    keep_alive: bool,
    responding: bool,
}

fn close_conn<Q: Queue>(ctx: &mut Context<Q>, conns: &mut [Option<Conn>], id: i32) {
    let _ = ctx.close(id);
    if let Some(slot) = conns.get_mut(id as usize) {
        *slot = None;
    }
}

/// Builds the response head for `path`.
pub(crate) fn respond(
    cfg: &ServerConfig,
    path: &str,
    keep_alive: bool,
) -> (Vec<u8>, Option<Arc<Vec<u8>>>) {
    let body = match path {
        "/" => cfg.files.get("/index.html"),
        p => cfg.files.get(p),
    }
    .cloned();
    let (status, len) = match &body {
        Some(b) => ("200 OK", b.len()),
        None => ("404 Not Found", 0),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let head = format!(
        "HTTP/1.1 {status}\r\nDate: {}\r\nServer: Webserver on Middlebox TCP (Ubuntu)\r\nContent-Length: {len}\r\nConnection: {}\r\n\r\n",
        http::http_date(now),
        if keep_alive { "Keep-Alive" } else { "Close" }
    );
    (head.into_bytes(), body)
}

/// Writes as much of the response as fits; `Ok(true)` when all of it went out.
fn send_some<Q: Queue>(
    ctx: &mut Context<Q>,
    id: i32,
    c: &mut Conn,
    stats: &ServerStats,
) -> Result<bool> {
    loop {
        let total = c.head.len() + c.body.as_ref().map_or(0, |b| b.len());
        if c.sent >= total {
            return Ok(true);
        }
        let piece: &[u8] = if c.sent < c.head.len() {
            &c.head[c.sent..]
        } else {
            let b = c.body.as_ref().map_or(&[][..], |b| &b[..]);
            let from = c.sent - c.head.len();
            &b[from..(from + WRITE_CHUNK).min(b.len())]
        };
        match ctx.write(id, piece) {
            Ok(n) => {
                c.sent += n;
                stats.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(Error::Again) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Accepts what `listener` has this turn and registers each connection for EPOLLIN. Out of
/// sockets or memory, it stops for this turn and the server keeps serving (see [`crate::accept`]).
fn accept_all<Q: Queue>(
    ctx: &mut Context<Q>,
    ep: i32,
    listener: i32,
    conns: &mut Vec<Option<Conn>>,
    stats: &ServerStats,
    pressure: &mut AcceptPressure,
) -> Result<()> {
    let taken = pressure.accept_all(ctx, listener, ep, conns, || Conn {
        request: Vec::with_capacity(256),
        head: Vec::new(),
        body: None,
        sent: 0,
        keep_alive: false,
        responding: false,
    })?;
    stats.accepted.fetch_add(taken as u64, Ordering::Relaxed);
    Ok(())
}

/// Serves on `ctx` until `stop` is set: epserver's event loop ([`listen`], then [`serve`]).
pub fn run<Q: Queue>(
    ctx: &mut Context<Q>,
    cfg: &ServerConfig,
    stats: &ServerStats,
    stop: &AtomicBool,
) -> Result<()> {
    let listener = listen(ctx, cfg)?;
    serve(ctx, listener, cfg, stats, stop)
}

/// The non-blocking listener of `cfg` on `ctx`. A caller that starts clients right after
/// spawning the server thread creates it first, so no SYN meets a closed port (RST,
/// `ECONNREFUSED`) however late that thread runs.
pub fn listen<Q: Queue>(ctx: &mut Context<Q>, cfg: &ServerConfig) -> Result<i32> {
    crate::accept::listen(ctx, cfg.addr, cfg.backlog)
}

/// Reads what connection `id` sent; once a whole request head is there, prepares its response
/// (`c.responding`). False when the connection ended (EOF or error) without a whole request.
fn read_request<Q: Queue>(
    ctx: &mut Context<Q>,
    id: i32,
    c: &mut Conn,
    cfg: &ServerConfig,
    buf: &mut [u8],
) -> bool {
    let mut eof = false;
    loop {
        match ctx.read(id, buf) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => c.request.extend_from_slice(&buf[..n]),
            Err(Error::Again) => break,
            Err(_) => {
                eof = true;
                break;
            }
        }
    }
    let Some(len) = http::head_len(&c.request) else {
        return !eof;
    };
    let (head, body) = match http::parse_request(&c.request[..len]) {
        Some((path, keep)) => {
            c.keep_alive = keep;
            respond(cfg, path, keep)
        }
        None => respond(cfg, "", false),
    };
    c.request.drain(..len);
    c.head = head;
    c.body = body;
    c.sent = 0;
    c.responding = true;
    true
}

/// Waits for `mask` on connection `id` from now on.
fn rearm<Q: Queue>(ctx: &mut Context<Q>, ep: i32, id: i32, mask: u32) -> Result<()> {
    let ev = EpollEvent {
        events: mask,
        data: id as u64,
    };
    ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev))
}

/// Serves `listener` (from [`listen`]) on `ctx` until `stop` is set.
pub fn serve<Q: Queue>(
    ctx: &mut Context<Q>,
    listener: i32,
    cfg: &ServerConfig,
    stats: &ServerStats,
    stop: &AtomicBool,
) -> Result<()> {
    let ep = ctx.epoll_create(4096)?;
    ctx.epoll_ctl(
        ep,
        EPOLL_CTL_ADD,
        listener,
        Some(EpollEvent {
            events: events::IN,
            data: listener as u64,
        }),
    )?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut evs = vec![EpollEvent::default(); 1024];
    let mut buf = vec![0u8; 8192];
    let mut pressure = AcceptPressure::default();
    while !stop.load(Ordering::Relaxed) {
        let n = ctx.epoll_wait(ep, &mut evs, 10)?;
        for ev in &evs[..n] {
            let id = ev.data as i32;
            if id == listener {
                accept_all(ctx, ep, listener, &mut conns, stats, &mut pressure)?;
                continue;
            }
            let Some(Some(c)) = conns.get_mut(id as usize) else {
                continue;
            };
            if ev.events & events::ERR != 0 {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                close_conn(ctx, &mut conns, id);
                continue;
            }
            if ev.events & events::IN != 0
                && !c.responding
                && !read_request(ctx, id, c, cfg, &mut buf)
            {
                close_conn(ctx, &mut conns, id);
                continue;
            }
            if c.responding {
                match send_some(ctx, id, c, stats) {
                    Ok(true) => {
                        stats.responses.fetch_add(1, Ordering::Relaxed);
                        c.responding = false;
                        if c.keep_alive {
                            rearm(ctx, ep, id, events::IN)?;
                        } else {
                            close_conn(ctx, &mut conns, id);
                        }
                    }
                    Ok(false) => rearm(ctx, ep, id, events::OUT)?,
                    Err(_) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        close_conn(ctx, &mut conns, id);
                    }
                }
            }
        }
    }
    Ok(())
}
