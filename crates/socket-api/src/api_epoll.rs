//! The epoll and pipe calls of a context's stack.

use std::collections::VecDeque;

use mtcp_io::Queue;

use crate::epoll::{EpollEvent, EpollOp, EpollSet};
use crate::error::{Error, Result};
use crate::socket::SockKind;
use crate::stack::{PipeBuf, Stack};

/// Bytes an in-stack pipe holds.
pub const PIPE_CAPACITY: usize = 64 * 1024;

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
        let slot = match self.epolls.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.epolls.push(None);
                self.epolls.len() - 1
            }
        };
        let sock = crate::socket::Socket {
            kind: SockKind::Epoll(slot),
            watcher: None,
            opts: self.socks_default_opts(),
        };
        let id = self.socks.alloc(sock)?;
        self.epolls[slot] = Some(EpollSet::new());
        Ok(id)
    }

    fn socks_default_opts(&self) -> crate::socket::SockOpts {
        crate::socket::SockOpts {
            nonblock: false,
            rcvbuf: self.default_rcvbuf,
            sndbuf: self.default_sndbuf,
            nodelay: false,
            reuseaddr: false,
            keepalive: false,
            linger: (false, 0),
        }
    }

    fn epoll_slot(&self, epid: i32) -> Result<usize> {
        match self.socks.get(epid)?.kind {
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
        let op = EpollOp::from_raw(op).ok_or(Error::Inval)?;
        let sock = self.socks.get(sockid)?;
        if sockid == epid || matches!(sock.kind, SockKind::Epoll(_)) {
            return Err(Error::Inval);
        }
        let watcher = sock.watcher;
        let ep = self.epolls[slot].as_mut().ok_or(Error::BadF)?;
        let registered = ep.contains(sockid);
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
                ep.add(sockid, ev);
                self.socks.get_mut(sockid)?.watcher = Some(slot);
            }
            EpollOp::Mod => {
                if !registered {
                    return Err(Error::NoEnt);
                }
                ep.modify(sockid, event.ok_or(Error::Fault)?);
            }
            EpollOp::Del => {
                if !registered {
                    return Err(Error::NoEnt);
                }
                ep.remove(sockid);
                self.socks.get_mut(sockid)?.watcher = None;
            }
        }
        Ok(())
    }

    /// Collects ready events of `epid` into `out` without driving the stack.
    pub(crate) fn epoll_collect(&mut self, epid: i32, out: &mut [EpollEvent]) -> Result<usize> {
        let slot = self.epoll_slot(epid)?;
        if out.is_empty() {
            return Err(Error::Inval);
        }
        let mut ep = self.epolls[slot].take().ok_or(Error::BadF)?;
        let n = ep.collect(out, |s| self.level(s));
        self.epolls[slot] = Some(ep);
        Ok(n)
    }

    /// Whether `epid` may have events (cheap check before collecting).
    pub(crate) fn epoll_maybe_ready(&self, epid: i32) -> bool {
        match self.socks.get(epid).map(|s| &s.kind) {
            Ok(SockKind::Epoll(slot)) => self.epolls[*slot]
                .as_ref()
                .is_some_and(EpollSet::maybe_ready),
            _ => true,
        }
    }

    /// `mtcp_pipe`: `[read end, write end]`.
    pub fn pipe(&mut self) -> Result<[i32; 2]> {
        let slot = match self.pipes.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        };
        let mk = |read_end| crate::socket::Socket {
            kind: SockKind::Pipe { slot, read_end },
            watcher: None,
            opts: self.socks_default_opts(),
        };
        let (r, w) = (mk(true), mk(false));
        let r = self.socks.alloc(r)?;
        let w = match self.socks.alloc(w) {
            Ok(w) => w,
            Err(e) => {
                self.socks.free(r);
                return Err(e);
            }
        };
        self.pipes[slot] = Some(PipeBuf {
            data: VecDeque::new(),
            capacity: PIPE_CAPACITY,
            reader: Some(r),
            writer: Some(w),
        });
        Ok([r, w])
    }

    pub(crate) fn pipe_read(
        &mut self,
        sockid: i32,
        slot: usize,
        read_end: bool,
        buf: &mut [u8],
    ) -> Result<usize> {
        let _ = sockid;
        if !read_end {
            return Err(Error::BadF);
        }
        let p = self.pipes[slot].as_mut().ok_or(Error::BadF)?;
        if p.data.is_empty() {
            return if p.writer.is_none() {
                Ok(0)
            } else {
                Err(Error::Again)
            };
        }
        let n = buf.len().min(p.data.len());
        for (d, s) in buf[..n].iter_mut().zip(p.data.drain(..n)) {
            *d = s;
        }
        if let Some(w) = p.writer {
            self.notify(w);
        }
        Ok(n)
    }

    pub(crate) fn pipe_write(&mut self, slot: usize, read_end: bool, data: &[u8]) -> Result<usize> {
        if read_end {
            return Err(Error::BadF);
        }
        let p = self.pipes[slot].as_mut().ok_or(Error::BadF)?;
        if p.reader.is_none() {
            return Err(Error::Pipe);
        }
        let n = data.len().min(p.capacity - p.data.len());
        if n == 0 && !data.is_empty() {
            return Err(Error::Again);
        }
        p.data.extend(&data[..n]);
        if let Some(r) = p.reader {
            self.notify(r);
        }
        Ok(n)
    }

    pub(crate) fn pipe_close(&mut self, slot: usize, read_end: bool) {
        let Some(p) = self.pipes[slot].as_mut() else {
            return;
        };
        let other = if read_end {
            p.reader = None;
            p.writer
        } else {
            p.writer = None;
            p.reader
        };
        if p.reader.is_none() && p.writer.is_none() {
            self.pipes[slot] = None;
        } else if let Some(o) = other {
            self.notify(o);
        }
    }
}
