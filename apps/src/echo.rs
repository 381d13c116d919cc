//! An echo workload: a server that returns every byte it receives, and a client that keeps `N`
//! connections each doing request/response rounds of `M` bytes, checking the echoed bytes and
//! timing each round. Both exist over our stack ([`mtcp_server`], [`mtcp_client`]) and over the
//! kernel's sockets ([`kernel_server`], [`kernel_client`]) so the two can be compared.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EpollEvent, Error, Result, events};

use crate::http::test_content;

/// What the client does.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// Server address.
    pub server: SocketAddrV4,
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
    /// Rounds completed (each checked byte for byte).
    pub transactions: u64,
    /// Connections that failed or returned wrong bytes.
    pub errors: u64,
    /// Round-trip time of every round, microseconds.
    pub latencies_us: Vec<u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl EchoReport {
    /// `echo: ... transactions/s, latency p50/p99/p999` summary line.
    pub fn line(&mut self, stack: &str, cfg: &EchoConfig) -> String {
        self.latencies_us.sort_unstable();
        let p = |q| crate::cli::percentile(&self.latencies_us, q);
        format!(
            "echo[{stack}]: {} conns x {} B: {} transactions in {:.2} s = {:.0} transactions/s, latency p50 {} us, p99 {} us, p999 {} us, errors {}",
            cfg.connections,
            cfg.message_bytes,
            self.transactions,
            self.elapsed.as_secs_f64(),
            self.transactions as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p(50.0),
            p(99.0),
            p(99.9),
            self.errors
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
    addr: SocketAddrV4,
    stop: &AtomicBool,
) -> Result<()> {
    let l = mtcp_listen(ctx, addr)?;
    mtcp_serve(ctx, l, stop)
}

/// The listening socket of [`mtcp_server`]: once this returns, connections to `addr` are
/// accepted (a caller announces the server only then).
pub fn mtcp_listen<Q: Queue>(ctx: &mut Context<Q>, addr: SocketAddrV4) -> Result<i32> {
    let l = ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    ctx.setsock_nonblock(l)?;
    ctx.bind(l, addr)?;
    ctx.listen(l, 4096)?;
    Ok(l)
}

/// [`mtcp_server`] on a listener from [`mtcp_listen`].
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
    while !stop.load(Ordering::Relaxed) {
        let n = ctx.epoll_wait(ep, &mut evs, 10)?;
        for e in &evs[..n] {
            let id = e.data as i32;
            if id == l {
                while let Ok((c, _)) = ctx.accept(l) {
                    ctx.setsock_nonblock(c)?;
                    ctx.epoll_ctl(ep, EPOLL_CTL_ADD, c, ev(events::IN, c))?;
                    if conns.len() <= c as usize {
                        conns.resize_with(c as usize + 1, || None);
                    }
                    conns[c as usize] = Some(Pending {
                        data: Vec::new(),
                        out: false,
                    });
                }
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
}

/// Echo client on `ctx`: `connections` connections doing rounds of `message_bytes` until
/// `duration` has passed.
pub fn mtcp_client<Q: Queue>(ctx: &mut Context<Q>, cfg: &EchoConfig) -> Result<EchoReport> {
    let msgs = [
        test_content(cfg.message_bytes, 1),
        test_content(cfg.message_bytes, 2),
    ];
    ctx.init_rss(
        std::net::Ipv4Addr::UNSPECIFIED,
        1,
        *cfg.server.ip(),
        cfg.server.port(),
    )?;
    let ep = ctx.epoll_create(cfg.connections as i32 + 1)?;
    let mut conns: Vec<Option<Round>> = Vec::new();
    for _ in 0..cfg.connections {
        let s = ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
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
        conns[s as usize] = Some(Round {
            msg: 0,
            written: 0,
            read: 0,
            started: Instant::now(),
            connected: false,
        });
    }
    let mut report = EchoReport::default();
    let mut live = cfg.connections;
    let mut buf = vec![0u8; cfg.message_bytes.max(1)];
    let mut evs = vec![EpollEvent::default(); cfg.connections.max(1)];
    let started = Instant::now();
    let mut last_progress = Instant::now();
    while live > 0 && last_progress.elapsed() < Duration::from_secs(10) {
        let n = ctx.epoll_wait(ep, &mut evs, 100)?;
        for e in &evs[..n] {
            let id = e.data as i32;
            let Some(Some(r)) = conns.get_mut(id as usize) else {
                continue;
            };
            let msg = &msgs[r.msg % 2];
            let mut fail = e.events & events::ERR != 0;
            let mut finished = false;
            if !fail && !r.connected {
                r.connected = true;
                r.started = Instant::now();
            }
            while !fail && r.written < msg.len() {
                match ctx.write(id, &msg[r.written..]) {
                    Ok(k) => r.written += k,
                    Err(Error::Again) => break,
                    Err(_) => fail = true,
                }
            }
            while !fail && r.read < r.written {
                match ctx.read(id, &mut buf[..r.written - r.read]) {
                    Ok(0) => fail = true,
                    Ok(k) => {
                        fail = buf[..k] != msg[r.read..r.read + k];
                        r.read += k;
                    }
                    Err(Error::Again) => break,
                    Err(_) => fail = true,
                }
            }
            if !fail && r.read == msg.len() {
                report
                    .latencies_us
                    .push(r.started.elapsed().as_micros() as u64);
                report.transactions += 1;
                last_progress = Instant::now();
                if started.elapsed() >= cfg.duration {
                    finished = true;
                } else {
                    r.msg += 1;
                    r.written = 0;
                    r.read = 0;
                    r.started = Instant::now();
                    let next = &msgs[r.msg % 2];
                    while !fail && r.written < next.len() {
                        match ctx.write(id, &next[r.written..]) {
                            Ok(k) => r.written += k,
                            Err(Error::Again) => break,
                            Err(_) => fail = true,
                        }
                    }
                }
            }
            if fail || finished {
                report.errors += u64::from(fail);
                let _ = ctx.close(id);
                conns[id as usize] = None;
                live -= 1;
                continue;
            }
            let mask = if r.written < msg.len() {
                events::OUT | events::IN
            } else {
                events::IN
            };
            let ev = EpollEvent {
                events: mask,
                data: id as u64,
            };
            ctx.epoll_ctl(ep, EPOLL_CTL_MOD, id, Some(ev))?;
        }
    }
    report.errors += live as u64;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The same server over kernel sockets: a thread per connection, until `stop`.
pub fn kernel_server(addr: SocketAddrV4, stop: &'static AtomicBool) -> std::io::Result<()> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false)?;
                let _ = s.set_nodelay(true);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(k) = s.read(&mut buf) {
                        if k == 0 || s.write_all(&buf[..k]).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The same client over kernel sockets: a thread per connection.
pub fn kernel_client(cfg: &EchoConfig) -> EchoReport {
    let started = Instant::now();
    let threads: Vec<_> = (0..cfg.connections)
        .map(|_| {
            let cfg = cfg.clone();
            std::thread::spawn(move || -> (Vec<u64>, bool) {
                let msgs = [
                    test_content(cfg.message_bytes, 1),
                    test_content(cfg.message_bytes, 2),
                ];
                let mut lat = Vec::new();
                let Ok(mut s) = TcpStream::connect(cfg.server) else {
                    return (lat, false);
                };
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = vec![0u8; cfg.message_bytes];
                let begin = Instant::now();
                for round in 0.. {
                    let msg = &msgs[round % 2];
                    let t = Instant::now();
                    if s.write_all(msg).is_err() || s.read_exact(&mut buf).is_err() || buf != *msg {
                        return (lat, false);
                    }
                    lat.push(t.elapsed().as_micros() as u64);
                    if begin.elapsed() >= cfg.duration {
                        break;
                    }
                }
                (lat, true)
            })
        })
        .collect();
    let mut report = EchoReport::default();
    for t in threads {
        match t.join() {
            Ok((lat, ok)) => {
                report.transactions += lat.len() as u64;
                report.latencies_us.extend(lat);
                report.errors += u64::from(!ok);
            }
            Err(_) => report.errors += 1,
        }
    }
    report.elapsed = started.elapsed();
    report
}
