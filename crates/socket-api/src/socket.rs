//! The per-context socket-id table: small non-negative ids, each naming a stream, a listener,
//! an epoll instance or a pipe end (mTCP's `socket_type`).
//!
//! Ids come from a FIFO free list as in mTCP (`AllocateSocket` takes the head of `free_smap`,
//! `FreeSocket` appends to its tail): first every id never used, in order, then the freed ones
//! in the order they were freed, so a just-closed id is the last to come back. mTCP programs
//! that read their per-socket state after closing (epwget's `DownloadComplete` after
//! `CloseConnection`) rely on this.

use std::collections::VecDeque;
use std::net::SocketAddr;

use mtcp_tcp::Handle;

use crate::error::{Error, Result};

/// mTCP's `enum socket_type` (the numbering is ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum SockType {
    /// A free id.
    Unused = 0,
    /// A TCP stream socket.
    Stream = 1,
    /// A proxy socket (not used).
    Proxy = 2,
    /// A listening socket.
    Listener = 3,
    /// An epoll instance.
    Epoll = 4,
    /// A pipe end.
    Pipe = 5,
}

/// Where a stream socket is in its life, as the API sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Created (perhaps bound), never connected.
    Fresh,
    /// SYN sent.
    Connecting,
    /// Handshake done (accepted sockets start here).
    Connected,
    /// The engine freed the connection (closed, reset, timed out, refused).
    Gone,
}

/// A TCP stream socket.
#[derive(Debug)]
pub struct Stream {
    /// The engine's connection, while it lives.
    pub handle: Option<Handle>,
    /// Life phase.
    pub phase: Phase,
    /// Local address (bound or assigned).
    pub local: Option<SocketAddr>,
    /// Peer address.
    pub remote: Option<SocketAddr>,
    /// Pending socket error (SO_ERROR), an errno; 0 when none.
    pub so_error: i32,
    /// The peer's FIN was seen.
    pub peer_fin: bool,
    /// We shut down writing.
    pub shut_wr: bool,
    /// We shut down reading: reads give 0.
    pub shut_rd: bool,
    /// Bytes taken from the engine by MSG_PEEK and not yet read.
    pub peeked: VecDeque<u8>,
}

impl Stream {
    /// A fresh, unbound stream.
    pub fn new() -> Stream {
        Stream {
            handle: None,
            phase: Phase::Fresh,
            local: None,
            remote: None,
            so_error: 0,
            peer_fin: false,
            shut_wr: false,
            shut_rd: false,
            peeked: VecDeque::new(),
        }
    }
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

/// A listening socket with its own queue of established, unaccepted connections.
#[derive(Debug)]
pub struct Listener {
    /// Bound address.
    pub local: SocketAddr,
    /// Most unaccepted connections held here (more wait in the engine).
    pub backlog: usize,
    /// Established connections waiting for `accept`.
    pub queue: VecDeque<Handle>,
}

/// What an id names.
#[derive(Debug)]
pub enum SockKind {
    /// A stream.
    Stream(Stream),
    /// A listener.
    Listener(Listener),
    /// An epoll instance (slot in the context's epoll table).
    Epoll(usize),
    /// A pipe end: the pipe's slot and whether this is the read end.
    Pipe {
        /// Slot in the context's pipe table.
        slot: usize,
        /// Read end (else write end).
        read_end: bool,
    },
}

/// Socket options kept per socket.
#[derive(Clone, Copy, Debug)]
pub struct SockOpts {
    /// Non-blocking (every call here is non-blocking; the flag is reported back).
    pub nonblock: bool,
    /// SO_RCVBUF.
    pub rcvbuf: i32,
    /// SO_SNDBUF.
    pub sndbuf: i32,
    /// TCP_NODELAY.
    pub nodelay: bool,
    /// SO_REUSEADDR.
    pub reuseaddr: bool,
    /// SO_KEEPALIVE.
    pub keepalive: bool,
    /// SO_LINGER (on, seconds).
    pub linger: (bool, i32),
    /// TCP_CONGESTION; the engine's default (`tcp_cc`) when `None`.
    pub congestion: Option<mtcp_tcp::cc::CcAlgorithm>,
    /// An `AF_INET6` socket (its addresses are IPv6; IPv4 ones appear IPv4-mapped).
    pub ipv6: bool,
    /// IPV6_V6ONLY: a listener on `::` takes IPv6 connections only.
    pub v6only: bool,
}

/// One open id.
#[derive(Debug)]
pub struct Socket {
    /// What it is.
    pub kind: SockKind,
    /// The epoll slot watching it, if any.
    pub watcher: Option<usize>,
    /// Options.
    pub opts: SockOpts,
}

impl Socket {
    /// mTCP's type number of this socket.
    pub fn sock_type(&self) -> SockType {
        match self.kind {
            SockKind::Stream(_) => SockType::Stream,
            SockKind::Listener(_) => SockType::Listener,
            SockKind::Epoll(_) => SockType::Epoll,
            SockKind::Pipe { .. } => SockType::Pipe,
        }
    }
}

/// The id table.
#[derive(Debug)]
pub struct SockTable {
    slots: Vec<Option<Socket>>,
    /// Freed ids, oldest first (ids never used are `slots.len()..max`, handed out before these).
    free: VecDeque<u32>,
    max: usize,
}

impl SockTable {
    /// A table of at most `max` ids.
    pub fn new(max: usize) -> SockTable {
        SockTable {
            slots: Vec::with_capacity(max.min(1 << 16)),
            free: VecDeque::with_capacity(max.min(1 << 16)),
            max,
        }
    }

    /// The most ids the table hands out (ids are `0..capacity`).
    pub fn capacity(&self) -> usize {
        self.max
    }

    /// Ids handed out now.
    pub fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Takes the next id of the FIFO free list for `sock` (an id never used, else the one freed
    /// longest ago); `ENFILE` when none is left.
    pub fn alloc(&mut self, sock: Socket) -> Result<i32> {
        let id = if self.slots.len() < self.max {
            self.slots.push(None);
            self.slots.len() - 1
        } else {
            match self.free.pop_front() {
                Some(id) => id as usize,
                None => return Err(Error::NFile),
            }
        };
        self.slots[id] = Some(sock);
        Ok(id as i32)
    }

    /// Frees `id`, returning what it named.
    pub fn free(&mut self, id: i32) -> Option<Socket> {
        let s = self.slots.get_mut(usize::try_from(id).ok()?)?.take()?;
        self.free.push_back(id as u32);
        Some(s)
    }

    /// The socket named by `id`, or `EBADF`.
    pub fn get(&self, id: i32) -> Result<&Socket> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(Error::BadF)
    }

    /// The socket named by `id`, mutably, or `EBADF`.
    pub fn get_mut(&mut self, id: i32) -> Result<&mut Socket> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Error::BadF)
    }

    /// The stream named by `id`: `EBADF`, or `ENOTSOCK` for epoll/pipe ids, or `EINVAL`
    /// for listeners.
    pub fn stream_mut(&mut self, id: i32) -> Result<&mut Stream> {
        match &mut self.get_mut(id)?.kind {
            SockKind::Stream(s) => Ok(s),
            SockKind::Listener(_) => Err(Error::Inval),
            _ => Err(Error::NotSock),
        }
    }

    /// Open ids.
    pub fn count(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Every open id (for shutdown).
    pub fn ids(&self) -> Vec<i32> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .map(|i| i as i32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock() -> Socket {
        Socket {
            kind: SockKind::Epoll(0),
            watcher: None,
            opts: SockOpts {
                nonblock: false,
                rcvbuf: 0,
                sndbuf: 0,
                nodelay: false,
                reuseaddr: false,
                keepalive: false,
                linger: (false, 0),
                congestion: None,
                ipv6: false,
                v6only: false,
            },
        }
    }

    #[test]
    fn fifo_free_list_and_enfile() {
        let mut t = SockTable::new(3);
        assert_eq!(t.alloc(sock()), Ok(0));
        assert_eq!(t.alloc(sock()), Ok(1));
        assert_eq!(t.alloc(sock()), Ok(2));
        assert_eq!(t.alloc(sock()).unwrap_err(), Error::NFile);
        t.free(2);
        t.free(0);
        // Freed ids come back in the order they were freed, not lowest first.
        assert_eq!(t.alloc(sock()), Ok(2));
        assert_eq!(t.alloc(sock()), Ok(0));
        assert_eq!(t.alloc(sock()).unwrap_err(), Error::NFile);
        assert_eq!(t.get(7).unwrap_err(), Error::BadF);
        assert_eq!(t.get(-1).unwrap_err(), Error::BadF);
    }

    #[test]
    fn a_just_closed_id_comes_back_after_every_unused_one() {
        let mut t = SockTable::new(4);
        assert_eq!(t.alloc(sock()), Ok(0));
        assert!(t.free(0).is_some());
        // mTCP's free_smap holds 1, 2, 3 ahead of the freed 0.
        assert_eq!(t.alloc(sock()), Ok(1));
        assert!(t.free(1).is_some());
        assert_eq!(t.alloc(sock()), Ok(2));
        assert_eq!(t.alloc(sock()), Ok(3));
        assert_eq!(t.alloc(sock()), Ok(0));
        assert_eq!(t.alloc(sock()), Ok(1));
        assert_eq!(t.count(), 4);
        assert!(t.free(1).is_some());
        assert!(
            t.free(1).is_none(),
            "a double free does not queue the id twice"
        );
        assert_eq!(t.alloc(sock()), Ok(1));
        assert_eq!(t.alloc(sock()).unwrap_err(), Error::NFile);
    }
}
