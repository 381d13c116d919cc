//! Accepting the way mTCP's epserver does: when the listener has nothing more (`EAGAIN`) or the
//! context is out of sockets or memory (`ENFILE`, `ENOMEM`), stop accepting for this
//! turn of the event loop (this API reports running out of socket ids as `ENFILE`; it has no
//! per-process `EMFILE`) and keep serving the connections already open. Pending connections
//! wait in the listener's queue until a later turn has room; the resource errors are counted and
//! logged at most once a second, so a server under a connection flood neither exits nor floods
//! its log.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::Queue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EpollEvent, Error, Result, events};

/// A non-blocking listener on `addr` with `backlog` (what every server here starts with).
pub fn listen<Q: Queue>(ctx: &mut Context<Q>, addr: SocketAddr, backlog: i32) -> Result<i32> {
    let l = ctx.socket(crate::cli::domain(&addr), libc::SOCK_STREAM, 0)?;
    ctx.setsock_nonblock(l)?;
    ctx.bind(l, addr)?;
    ctx.listen(l, backlog)?;
    Ok(l)
}

/// Resource errors of one server loop (on accept) or client loop (on opening connections):
/// counted, logged at most once a second.
#[derive(Debug, Default)]
pub struct AcceptPressure {
    /// Accepts that failed for want of sockets or memory, in all.
    pub errors: u64,
    unlogged: u64,
    last_log: Option<Instant>,
}

impl AcceptPressure {
    /// Accepts one connection on `listener` and makes it non-blocking. `Ok(None)`: stop accepting
    /// for this turn (nothing pending, or out of sockets or memory). `Err`: the listener itself
    /// is unusable (closed, or the context is shutting down).
    pub fn accept<Q: Queue>(&mut self, ctx: &mut Context<Q>, listener: i32) -> Result<Option<i32>> {
        match ctx.accept(listener) {
            Ok((c, _peer)) => match ctx.setsock_nonblock(c) {
                Ok(()) => Ok(Some(c)),
                Err(e) => {
                    let _ = ctx.close(c);
                    self.note(e);
                    Ok(None)
                }
            },
            Err(Error::Again) => Ok(None),
            Err(e) if is_pressure(e) => {
                self.note(e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Accepts everything `listener` has this turn, registers each connection with epoll `ep`
    /// for EPOLLIN (its id as the event data) and stores `new()` at its id in `conns`; returns how
    /// many it took. Out of sockets or memory it stops for the turn, as [`Self::accept`].
    pub fn accept_all<Q: Queue, T>(
        &mut self,
        ctx: &mut Context<Q>,
        listener: i32,
        ep: i32,
        conns: &mut Vec<Option<T>>,
        mut new: impl FnMut() -> T,
    ) -> Result<usize> {
        let mut taken = 0;
        while let Some(c) = self.accept(ctx, listener)? {
            let ev = EpollEvent {
                events: events::IN,
                data: c as u64,
            };
            if let Err(e) = ctx.epoll_ctl(ep, EPOLL_CTL_ADD, c, Some(ev)) {
                let _ = ctx.close(c);
                self.note(e);
                break;
            }
            if conns.len() <= c as usize {
                conns.resize_with(c as usize + 1, || None);
            }
            conns[c as usize] = Some(new());
            taken += 1;
        }
        Ok(taken)
    }

    /// Counts a resource error of an accepted connection's setup (registering it with epoll,
    /// say) after the caller closed it; logs at most once a second.
    pub fn note(&mut self, e: Error) {
        self.errors += 1;
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            eprintln!(
                "accept: {e}; {} connection(s) waited or were dropped since the last report, still serving",
                self.unlogged
            );
            self.unlogged = 0;
            self.last_log = Some(now);
        }
    }
}

/// Errors that mean "out of room now", not "this listener is broken".
pub fn is_pressure(e: Error) -> bool {
    matches!(e, Error::NFile | Error::NoMem | Error::Again)
}

/// The Linux baselines' accept loop: a non-blocking kernel listener on `addr`, polled every
/// 5 ms until `stop`; each accepted stream (made blocking) goes to `serve`, which says whether
/// to keep accepting.
pub fn kernel_accept_loop(
    addr: SocketAddr,
    stop: &AtomicBool,
    mut serve: impl FnMut(TcpStream) -> bool,
) -> std::io::Result<()> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                if !serve(s) {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
