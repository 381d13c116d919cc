//! Blocking calls, as mTCP's `BLOCKING_SUPPORT` build (cargo feature `blocking`, off by
//! default as in mTCP): on a socket without `O_NONBLOCK` (not given `SOCK_NONBLOCK`,
//! `mtcp_setsock_nonblock` or `FIONBIO`), `mtcp_accept` waits for a connection,
//! `mtcp_connect` for the handshake's end, `mtcp_read`/`recv`/`readv` for data or the end of
//! the stream, `mtcp_write`/`writev` for room in the send buffer.
//!
//! Without the feature every call here passes its result through (sockets never block).
//!
//! A feature rather than an mtcp.conf key: mTCP decides this when it is built, and the default
//! library then keeps no per-socket mode and no wait path at all.
//!
//! Who drives the stack while the application waits: the waiting call itself. It waits in
//! `epoll_wait` on a private epoll instance of the context (made at the first wait; it takes
//! one socket id), which in run-to-completion mode runs the stack (receive, timers, transmit)
//! until the socket is ready, and in threaded mode sleeps until the stack thread reports it. A
//! signal registered with `mtcp_register_signal` ends the wait with `EINTR`. A socket that the
//! application watches with its own epoll (one epoll per socket, as in mTCP) is waited for by
//! polling the stack instead.

use std::sync::atomic::Ordering;

use mtcp_socket_api::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EpollEvent, Error, events};

use crate::ContextBody;
use crate::global::SIGNAL_GENERATION;

/// A context's blocking state.
#[derive(Default)]
pub(crate) struct Blocking {
    /// `blocking[id]`: the socket blocks (a stream or listener without `O_NONBLOCK`).
    blocking: Vec<bool>,
    /// The private epoll instance the waits use.
    ep: Option<i32>,
}

impl Blocking {
    /// Records whether `id` blocks (new sockets, `mtcp_setsock_nonblock`, `FIONBIO`, close).
    pub(crate) fn set(&mut self, id: i32, blocks: bool) {
        if !cfg!(feature = "blocking") {
            return;
        }
        let Ok(i) = usize::try_from(id) else { return };
        if i >= self.blocking.len() {
            if !blocks {
                return;
            }
            self.blocking.resize(i + 1, false);
        }
        self.blocking[i] = blocks;
    }

    fn blocks(&self, id: i32) -> bool {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.blocking.get(i))
            .copied()
            .unwrap_or(false)
    }
}

/// How long one turn of a wait lasts before it looks at signals again (ms).
const TURN_MS: i32 = 50;

/// Runs `op` on the context; while it gives `EAGAIN` on a blocking socket, waits for `want`
/// (`EPOLLIN` or `EPOLLOUT`) on `sockid` and tries again.
pub(crate) fn call<R>(
    c: &mut ContextBody,
    sockid: i32,
    want: u32,
    mut op: impl FnMut(&mut ContextBody) -> Result<R, Error>,
) -> Result<R, Error> {
    loop {
        match op(c) {
            Err(Error::Again) if cfg!(feature = "blocking") && c.block.blocks(sockid) => {
                wait(c, sockid, want)?
            }
            r => return r,
        }
    }
}

/// `mtcp_connect` on a blocking socket after `EINPROGRESS`: waits for the handshake's end;
/// `Ok` once connected, else the error SO_ERROR holds.
pub(crate) fn finish_connect(c: &mut ContextBody, sockid: i32) -> Result<(), Error> {
    if !cfg!(feature = "blocking") || !c.block.blocks(sockid) {
        return Err(Error::InProgress);
    }
    loop {
        wait(c, sockid, events::OUT)?;
        let err = c
            .inner
            .getsockopt(sockid, libc::SOL_SOCKET, libc::SO_ERROR)?;
        if err != 0 {
            return Err(Error::from_errno(err).unwrap_or(Error::ConnRefused));
        }
        match c
            .inner
            .connect(sockid, std::net::SocketAddrV4::new([0; 4].into(), 0))
        {
            Err(Error::IsConn) => return Ok(()),
            Err(Error::Already) => continue,
            Err(e) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
}

/// Waits until `sockid` reports `want` (or an error/hang-up), a signal arrives (`EINTR`), or
/// the context fails.
fn wait(c: &mut ContextBody, sockid: i32, want: u32) -> Result<(), Error> {
    let ep = match c.block.ep {
        Some(ep) => ep,
        None => {
            let ep = c.inner.epoll_create(1)?;
            c.block.ep = Some(ep);
            ep
        }
    };
    let ev = EpollEvent {
        events: want | events::RDHUP,
        data: sockid as u64,
    };
    let watched = match c.inner.epoll_ctl(ep, EPOLL_CTL_ADD, sockid, Some(ev)) {
        Ok(()) => true,
        // The application's own epoll watches it: poll the stack once instead.
        Err(Error::Exist) => false,
        Err(e) => return Err(e),
    };
    let mut out = [EpollEvent::default(); 1];
    let result = loop {
        let generation = SIGNAL_GENERATION.load(Ordering::SeqCst);
        if generation != c.seen_signals {
            c.seen_signals = generation;
            break Err(Error::Intr);
        }
        if !watched {
            c.inner.poll();
            std::thread::yield_now();
            break Ok(());
        }
        match c.inner.epoll_wait(ep, &mut out, TURN_MS) {
            Ok(0) => {}
            Ok(_) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if watched {
        let _ = c.inner.epoll_ctl(ep, EPOLL_CTL_DEL, sockid, None);
    }
    result
}
