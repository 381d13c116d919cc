//! The epoll and pipe calls of a context's stack.

use mtcp_epoll::{Epoll, Events, Pipe};
use mtcp_io::Queue;

use crate::epoll::{EpollEvent, EpollOp};
use crate::error::{Error, Result};
use crate::socket::SockKind;
use crate::stack::Stack;

/// Bytes an in-stack pipe holds (mtcp-epoll's [`Pipe::DEFAULT_CAPACITY`]).
pub const PIPE_CAPACITY: usize = Pipe::DEFAULT_CAPACITY;

/// The socket-API error of an epoll or pipe error (the same `errno`).
fn epoll_error(e: mtcp_epoll::Error) -> Error {
    use mtcp_epoll::Error as E;
    match e {
        E::WouldBlock => Error::Again,
        E::BrokenPipe => Error::Pipe,
        E::Closed(_) | E::BadId(_) => Error::BadF,
        E::AlreadyRegistered(_) => Error::Exist,
        E::NotRegistered(_) => Error::NoEnt,
        E::Interrupted => Error::Intr,
        E::InvalidOp(_) | E::InvalidArgument(_) => Error::Inval,
    }
}

impl<Q: Queue> Stack<Q> {
    /// `mtcp_epoll_create`: `size` must be > 0.
    pub fn epoll_create(&mut self, size: i32) -> Result<i32> {
        if size <= 0 {
            return Err(Error::Inval);
        }
        self.epoll_create1(0)
    }

    /// `mtcp_epoll_create1`: `flags` 0 or `O_CLOEXEC`.
    pub fn epoll_create1(&mut self, flags: i32) -> Result<i32> {
        if flags != 0 && flags != libc::O_CLOEXEC {
            return Err(Error::Inval);
        }
        let slot = match self.epolls.instances.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.epolls.instances.push(None);
                self.epolls.instances.len() - 1
            }
        };
        let sock = crate::socket::Socket {
            kind: SockKind::Epoll(slot),
            watcher: None,
            opts: self.socks_default_opts(),
        };
        let id = self.sockets.socks.alloc(sock)?;
        // Every socket id has a slot in the instance: no allocation after this.
        let ep = Epoll::new(self.sockets.socks.capacity()).with_own_id(id.unsigned_abs());
        self.epolls.instances[slot] = Some(ep);
        Ok(id)
    }

    fn socks_default_opts(&self) -> crate::socket::SockOpts {
        crate::socket::SockOpts {
            nonblock: false,
            rcvbuf: self.sockets.default_rcvbuf,
            sndbuf: self.sockets.default_sndbuf,
            nodelay: false,
            reuseaddr: false,
            keepalive: false,
            linger: (false, 0),
            congestion: None,
            ipv6: false,
            v6only: false,
        }
    }

    fn epoll_slot(&self, epid: i32) -> Result<usize> {
        match self.sockets.socks.get(epid)?.kind {
            SockKind::Epoll(slot) => Ok(slot),
            _ => Err(Error::Inval),
        }
    }

    /// `mtcp_epoll_ctl`. `event` may be `None` only for `Del`.
    pub fn epoll_ctl(
        &mut self,
        epid: i32,
        op: i32,
        sockid: i32,
        event: Option<EpollEvent>,
    ) -> Result<()> {
        let slot = self.epoll_slot(epid)?;
        let op = EpollOp::try_from(op).map_err(|_| Error::Inval)?;
        let sock = self.sockets.socks.get(sockid)?;
        if sockid == epid || matches!(sock.kind, SockKind::Epoll(_)) {
            return Err(Error::Inval);
        }
        let watcher = sock.watcher;
        // ADD and MOD start from what holds now, as Linux does.
        let level = Events::from_bits_retain(self.sockets.level(&self.epolls, sockid));
        let ep = self.epolls.instances[slot].as_mut().ok_or(Error::BadF)?;
        let id = sockid.unsigned_abs();
        let registered = ep.is_registered(id);
        match op {
            EpollOp::Add => {
                if registered {
                    return Err(Error::Exist);
                }
                if watcher.is_some_and(|w| w != slot) {
                    // One epoll instance per socket (as in mTCP).
                    return Err(Error::Exist);
                }
                let ev = event.ok_or(Error::Fault)?;
                ep.set_state(id, level).map_err(epoll_error)?;
                ep.ctl(op, id, Events::from_bits_retain(ev.events), ev.data)
                    .map_err(epoll_error)?;
                self.sockets.socks.get_mut(sockid)?.watcher = Some(slot);
            }
            EpollOp::Mod => {
                if !registered {
                    return Err(Error::NoEnt);
                }
                let ev = event.ok_or(Error::Fault)?;
                ep.set_state(id, level).map_err(epoll_error)?;
                ep.ctl(op, id, Events::from_bits_retain(ev.events), ev.data)
                    .map_err(epoll_error)?;
            }
            EpollOp::Del => {
                if !registered {
                    return Err(Error::NoEnt);
                }
                ep.ctl(op, id, Events::empty(), 0).map_err(epoll_error)?;
                self.sockets.socks.get_mut(sockid)?.watcher = None;
            }
        }
        Ok(())
    }

    /// Collects ready events of `epid` into `out` without driving the stack; each reported
    /// socket's level is asked for anew ([`Sockets::level`](crate::sockets::Sockets::level)).
    pub(crate) fn epoll_collect(&mut self, epid: i32, out: &mut [EpollEvent]) -> Result<usize> {
        let slot = self.epoll_slot(epid)?;
        if out.is_empty() {
            return Err(Error::Inval);
        }
        let mut ep = self.epolls.instances[slot].take().ok_or(Error::BadF)?;
        let n = ep.poll_current(out, |s| {
            Events::from_bits_retain(
                self.sockets
                    .level(&self.epolls, i32::try_from(s).unwrap_or(-1)),
            )
        });
        self.epolls.instances[slot] = Some(ep);
        Ok(n)
    }

    /// Whether `epid` may have events (cheap check before collecting).
    pub(crate) fn epoll_maybe_ready(&self, epid: i32) -> bool {
        match self.sockets.socks.get(epid).map(|s| &s.kind) {
            Ok(SockKind::Epoll(slot)) => self.epolls.instances[*slot]
                .as_ref()
                .is_some_and(Epoll::has_ready),
            _ => true,
        }
    }

    /// `mtcp_pipe`: `[read end, write end]`.
    pub fn pipe(&mut self) -> Result<[i32; 2]> {
        let slot = match self.epolls.pipes.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.epolls.pipes.push(None);
                self.epolls.pipes.len() - 1
            }
        };
        let mk = |read_end| crate::socket::Socket {
            kind: SockKind::Pipe { slot, read_end },
            watcher: None,
            opts: self.socks_default_opts(),
        };
        let (r, w) = (mk(true), mk(false));
        let r = self.sockets.socks.alloc(r)?;
        let w = match self.sockets.socks.alloc(w) {
            Ok(w) => w,
            Err(e) => {
                self.sockets.socks.free(r);
                return Err(e);
            }
        };
        // Ids are never negative.
        let pipe = Pipe::new(r.unsigned_abs(), w.unsigned_abs(), PIPE_CAPACITY);
        match pipe {
            Ok(p) => self.epolls.pipes[slot] = Some(p),
            Err(e) => {
                self.sockets.socks.free(r);
                self.sockets.socks.free(w);
                return Err(epoll_error(e));
            }
        }
        Ok([r, w])
    }

    pub(crate) fn pipe_read(
        &mut self,
        slot: usize,
        read_end: bool,
        buf: &mut [u8],
    ) -> Result<usize> {
        if !read_end {
            return Err(Error::BadF);
        }
        let p = self.epolls.pipes[slot].as_mut().ok_or(Error::BadF)?;
        if buf.is_empty() && p.buffered_bytes() == 0 {
            // An empty read of an empty pipe says whether data may come, as a full-size one.
            return p.read(&mut [0]).map_err(epoll_error);
        }
        let n = p.read(buf).map_err(epoll_error)?;
        let writer = p.write_id() as i32;
        // The id is still the write end unless that was closed (and the id maybe reused).
        let writer_open = matches!(
            self.sockets.socks.get(writer).map(|s| &s.kind),
            Ok(SockKind::Pipe { slot: s, read_end: false }) if *s == slot
        );
        if n > 0 && writer_open {
            self.epolls.notify(&self.sockets.socks, writer);
        }
        Ok(n)
    }

    pub(crate) fn pipe_write(&mut self, slot: usize, read_end: bool, data: &[u8]) -> Result<usize> {
        if read_end {
            return Err(Error::BadF);
        }
        let p = self.epolls.pipes[slot].as_mut().ok_or(Error::BadF)?;
        let n = p.write(data).map_err(epoll_error)?;
        let reader = p.read_id() as i32;
        if n > 0 {
            self.epolls.notify(&self.sockets.socks, reader);
        }
        Ok(n)
    }

    pub(crate) fn pipe_close(&mut self, slot: usize, read_end: bool) {
        let Some(p) = self.epolls.pipes[slot].as_mut() else {
            return;
        };
        let (closed, other) = if read_end {
            (p.close_read(), p.write_id())
        } else {
            (p.close_write(), p.read_id())
        };
        if p.is_closed() {
            self.epolls.pipes[slot] = None;
        } else if closed.is_ok() {
            self.epolls.notify(&self.sockets.socks, other as i32);
        }
    }
}
