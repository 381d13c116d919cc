//! The echo client and server over the kernel's sockets, shaped as ours: one thread each,
//! non-blocking sockets driven by epoll (through mio, edge-triggered), the client's rounds run
//! by the same [`ClientRun`] as over our stack. An earlier version ran a thread per connection,
//! which made 64 connections 64 threads switching on two CPUs: not the logic ours runs, and
//! not what an event-driven server on Linux does.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::{ClientRun, EchoConfig, EchoReport, Io, Round, RoundIo, Step};

/// The listener's token (connections use their index).
const LISTENER: Token = Token(usize::MAX);

/// The kernel echo server's listener on `addr`, with our server's backlog
/// ([`super::ECHO_BACKLOG`], which the kernel caps at `net.core.somaxconn`). Make it before a
/// client may connect, then run [`kernel_serve`].
pub fn kernel_listen(addr: SocketAddr) -> io::Result<TcpListener> {
    raise_fd_limit();
    let l = TcpListener::bind(addr)?;
    // SAFETY: `l` owns a bound, listening socket for the whole call; listen(2) on a listening
    // socket only sets its backlog anew (mio's bind asked for 1 024).
    if unsafe { libc::listen(l.as_raw_fd(), super::ECHO_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(l)
}

/// Echo server over kernel sockets on `listener` until `stop`: everything read is written
/// back, what the socket refuses is kept (up to 1 MiB a connection before reading pauses), as
/// `mtcp_serve` does.
pub fn kernel_serve(mut listener: TcpListener, stop: &AtomicBool) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Served>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(10))) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(&poll, &listener, &mut conns, &mut free);
                continue;
            }
            let id = ev.token().0;
            let Some(Some(c)) = conns.get_mut(id) else {
                continue;
            };
            if ev.is_error() || c.serve(&mut buf) {
                let _ = poll.registry().deregister(&mut c.stream);
                conns[id] = None;
                free.push(id);
            }
        }
    }
    Ok(())
}

/// A served connection and the bytes it still has to echo.
struct Served {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Served {
    /// Echoes what there is to read; true when the connection is done (end of stream with
    /// nothing left to send, or an error).
    fn serve(&mut self, buf: &mut [u8]) -> bool {
        if !self.flush() {
            return true;
        }
        // Edge-triggered: read until the socket has nothing more, unless 1 MiB waits to be
        // sent; the writable edge when it drains brings us back here.
        while self.pending.len() < (1 << 20) {
            match self.stream.read(buf) {
                Ok(0) => return self.pending.is_empty(),
                Ok(k) if self.pending.is_empty() => match self.stream.write(&buf[..k]) {
                    Ok(w) => self.pending.extend_from_slice(&buf[w..k]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        self.pending.extend_from_slice(&buf[..k])
                    }
                    Err(_) => return true,
                },
                Ok(k) => self.pending.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        !self.flush()
    }

    /// Writes what is pending; false on an error.
    fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(k) => {
                    self.pending.drain(..k);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Accepts every pending connection; out of descriptors it stops for this turn (the rest wait
/// in the kernel's queue), logging the error.
fn accept_all(
    poll: &Poll,
    listener: &TcpListener,
    conns: &mut Vec<Option<Served>>,
    free: &mut Vec<usize>,
) {
    loop {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("echo: accept: {e}; still serving");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = free.pop().unwrap_or(conns.len());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll
            .registry()
            .register(&mut stream, Token(id), interest)
            .is_err()
        {
            free.push(id);
            continue;
        }
        let served = Served {
            stream,
            pending: Vec::new(),
        };
        if id == conns.len() {
            conns.push(Some(served));
        } else {
            conns[id] = Some(served);
        }
    }
}

/// Kernel sockets by connection id (the echo and short-connection clients' streams).
impl RoundIo for Vec<Option<TcpStream>> {
    fn write(&mut self, id: usize, buf: &[u8]) -> Io {
        io_step(self[id].as_mut().map(|s| s.write(buf)))
    }

    fn read(&mut self, id: usize, buf: &mut [u8]) -> Io {
        io_step(self[id].as_mut().map(|s| s.read(buf)))
    }
}

fn io_step(r: Option<io::Result<usize>>) -> Io {
    use ErrorKind::{Interrupted, NotConnected, WouldBlock};
    match r {
        Some(Ok(k)) => Io::Did(k),
        // Written before the connect completed: wait for its event.
        Some(Err(e)) if matches!(e.kind(), WouldBlock | Interrupted | NotConnected) => Io::Again,
        _ => Io::Failed,
    }
}

/// Echo client over kernel sockets: `connections` non-blocking connections on one thread,
/// rounds as [`super::mtcp_client`]'s. If the poller itself cannot be made, every connection
/// counts as failed to connect.
pub fn kernel_client(cfg: &EchoConfig) -> EchoReport {
    let mut run = ClientRun::new(cfg);
    if let Err(e) = drive_client(cfg, &mut run) {
        eprintln!("echo: {e}");
        while run.live > 0 && run.pending > 0 {
            run.failed_to_open();
        }
    }
    run.finish()
}

fn drive_client(cfg: &EchoConfig, run: &mut ClientRun) -> io::Result<()> {
    raise_fd_limit();
    let mut poll = Poll::new()?;
    let mut streams: Vec<Option<TcpStream>> = Vec::with_capacity(cfg.connections);
    let mut rounds: Vec<Option<Round>> = Vec::with_capacity(cfg.connections);
    for id in 0..cfg.connections {
        let interest = Interest::READABLE | Interest::WRITABLE;
        let opened = TcpStream::connect(cfg.server).and_then(|mut s| {
            s.set_nodelay(true)?;
            poll.registry().register(&mut s, Token(id), interest)?;
            Ok(s)
        });
        match opened {
            Ok(s) => {
                streams.push(Some(s));
                rounds.push(Some(ClientRun::round(0)));
            }
            Err(_) => {
                streams.push(None);
                rounds.push(None);
                run.failed_to_open();
            }
        }
    }
    let mut events = Events::with_capacity(cfg.connections.clamp(64, 4096));
    while run.running() {
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => r?,
        }
        for ev in events.iter() {
            let id = ev.token().0;
            let Some(Some(r)) = rounds.get_mut(id) else {
                continue;
            };
            let mut error = ev.is_error();
            if !r.connected && !error {
                match connect_outcome(streams[id].as_ref()) {
                    Some(ok) => error = !ok,
                    None => continue, // still connecting
                }
            }
            if let Step::Close(_) = run.on_ready(&mut streams, id, error, r) {
                if let Some(mut s) = streams[id].take() {
                    let _ = poll.registry().deregister(&mut s);
                }
                rounds[id] = None;
            }
        }
    }
    Ok(())
}

/// Whether a non-blocking connect succeeded (`Some(true)`), failed (`Some(false)`) or is still
/// under way (`None`), as mio asks it to be checked on the first event.
fn connect_outcome(s: Option<&TcpStream>) -> Option<bool> {
    let s = s?;
    match s.take_error() {
        Ok(Some(_)) | Err(_) => Some(false),
        Ok(None) => match s.peer_addr() {
            Ok(_) => Some(true),
            Err(e) if e.kind() == ErrorKind::NotConnected => None,
            Err(_) => Some(false),
        },
    }
}

/// Raises this process's descriptor limit to its hard limit: 10 000 connections need more than
/// the usual 1 024. Failing that, the connections past the limit fail and are counted.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill, and setrlimit only reads
    // it; neither keeps the pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
