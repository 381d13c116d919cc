//! The TCP engine and the sockets over it: the socket table, which socket owns each engine
//! connection, the listening ports, and how the engine's events change the sockets (and tell
//! their epoll instances).

use std::collections::HashMap;

use mtcp_tcp::{Engine, Event, Handle, ListenerKey, State};

use crate::epoll::events;
use crate::epolls::Epolls;
use crate::socket::{Phase, SockKind, SockTable};

/// Who owns an engine connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A stream socket.
    Stream(i32),
    /// Waiting in a listener's queue.
    Pending(i32),
    /// Its socket was closed; the engine finishes the connection alone.
    Orphan,
}

/// The engine and the sockets of one context.
pub(crate) struct Sockets {
    pub(crate) engine: Engine,
    /// Sockets, epoll instances and pipes by id.
    pub(crate) socks: SockTable,
    /// By the index of an engine handle: that handle and who owns its connection.
    pub(crate) owners: Vec<Option<(Handle, Owner)>>,
    /// The listening socket of each engine listener (port and family).
    pub(crate) listeners: HashMap<ListenerKey, i32>,
    /// SO_RCVBUF and SO_SNDBUF of new sockets (the engine's configured buffer sizes).
    pub(crate) default_rcvbuf: i32,
    pub(crate) default_sndbuf: i32,
}

impl Sockets {
    /// `engine` with room for `max_sockets` sockets.
    pub(crate) fn new(engine: Engine, max_sockets: usize) -> Sockets {
        let (rcv, snd) = (
            engine.config().recv_buffer_bytes as i32,
            engine.config().send_buffer_bytes as i32,
        );
        Sockets {
            engine,
            socks: SockTable::new(max_sockets),
            owners: Vec::with_capacity(max_sockets),
            listeners: HashMap::new(),
            default_rcvbuf: rcv,
            default_sndbuf: snd,
        }
    }

    pub(crate) fn set_owner(&mut self, h: Handle, owner: Owner) {
        let i = h.index() as usize;
        if self.owners.len() <= i {
            self.owners.resize(i + 1, None);
        }
        self.owners[i] = Some((h, owner));
    }

    pub(crate) fn owner(&self, h: Handle) -> Option<Owner> {
        match self.owners.get(h.index() as usize) {
            Some(Some((stored, o))) if *stored == h => Some(*o),
            _ => None,
        }
    }

    fn clear_owner(&mut self, h: Handle) {
        if let Some(slot) = self.owners.get_mut(h.index() as usize) {
            if slot.is_some_and(|(s, _)| s == h) {
                *slot = None;
            }
        }
    }

    /// Connections the application closed whose data or FIN the peer has not acknowledged
    /// yet (not freed by the engine, not in FIN-WAIT-2 or TIME-WAIT).
    pub(crate) fn flows_left(&self) -> usize {
        self.owners
            .iter()
            .flatten()
            .filter(|(h, _)| {
                self.engine
                    .state(*h)
                    .is_ok_and(|s| !matches!(s, State::FinWait2 | State::TimeWait | State::Closed))
            })
            .count()
    }

    /// Applies the engine's events to sockets and epoll instances.
    pub(crate) fn handle_events(&mut self, epolls: &mut Epolls) {
        while let Some((h, ev)) = self.engine.poll_event() {
            match self.owner(h) {
                Some(Owner::Stream(s)) => self.stream_event(epolls, s, h, ev),
                Some(Owner::Pending(l)) => {
                    if matches!(ev, Event::Closed | Event::Reset | Event::Error(_)) {
                        self.clear_owner(h);
                        if let Ok(SockKind::Listener(li)) =
                            self.socks.get_mut(l).map(|s| &mut s.kind)
                        {
                            li.queue.retain(|&x| x != h);
                        }
                    }
                }
                Some(Owner::Orphan) => {
                    if matches!(ev, Event::Closed | Event::Reset | Event::Error(_)) {
                        self.clear_owner(h);
                    }
                }
                None => {
                    if ev == Event::Connected {
                        if let Ok(t) = self.engine.tuple(h) {
                            for ipv6 in [false, true] {
                                let port = t.local_port;
                                self.fill_listener(epolls, ListenerKey { port, ipv6 });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether a listening socket has `port` (in either family).
    pub(crate) fn port_listened(&self, port: u16) -> bool {
        [false, true]
            .iter()
            .any(|&ipv6| self.listeners.contains_key(&ListenerKey { port, ipv6 }))
    }

    /// Passive connections the engine may still hold for `accept`: the socket ids left plus every
    /// listener's backlog, less the connections already queued on listening sockets. As in Linux,
    /// a listener's accept queue (its backlog) is bounded apart from the descriptor limit: while
    /// no id is free `accept` gives ENFILE and the connection waits in the queue, and past the
    /// bound new SYNs are dropped. (Bounding by the free ids alone made every waiting client
    /// back off its SYN retransmissions while a full server sat idle.)
    pub(crate) fn accept_room(&self) -> usize {
        let (queued, backlogs) = self
            .listeners
            .values()
            .map(|&l| match self.socks.get(l).map(|s| &s.kind) {
                Ok(SockKind::Listener(li)) => (li.queue.len(), li.backlog),
                _ => (0, 0),
            })
            .fold((0, 0), |(q, b), (lq, lb)| (q + lq, b + lb));
        (self.socks.capacity() - self.socks.in_use() + backlogs).saturating_sub(queued)
    }

    /// Moves established connections from the engine's accept queue to the listener's.
    pub(crate) fn fill_listener(&mut self, epolls: &mut Epolls, key: ListenerKey) {
        let Some(&l) = self.listeners.get(&key) else {
            return;
        };
        let mut added = false;
        loop {
            let room = match self.socks.get(l).map(|s| &s.kind) {
                Ok(SockKind::Listener(li)) => li.queue.len() < li.backlog,
                _ => false,
            };
            if !room {
                break;
            }
            let Some(h) = self.engine.accept_key(key) else {
                break;
            };
            self.set_owner(h, Owner::Pending(l));
            if let Ok(SockKind::Listener(li)) = self.socks.get_mut(l).map(|s| &mut s.kind) {
                li.queue.push_back(h);
            }
            added = true;
        }
        if added {
            epolls.notify(&self.socks, l);
        }
    }

    fn stream_event(&mut self, epolls: &mut Epolls, s: i32, h: Handle, ev: Event) {
        let Ok(st) = self.socks.stream_mut(s) else {
            return;
        };
        match ev {
            Event::Connected => st.phase = Phase::Connected,
            Event::Readable | Event::Writable => {
                // The engine frees a connection at the end of TIME-WAIT or on the last ACK,
                // unread data included: keep what the application has not read yet.
                if matches!(
                    self.engine.state(h),
                    Ok(State::TimeWait | State::Closing | State::LastAck)
                ) {
                    rescue(&mut self.engine, h, st);
                }
            }
            Event::Closed | Event::Reset | Event::Error(_) => {
                st.so_error = match ev {
                    Event::Reset if st.phase == Phase::Connecting => libc::ECONNREFUSED,
                    Event::Reset => libc::ECONNRESET,
                    Event::Error(mtcp_tcp::Error::TimedOut) => libc::ETIMEDOUT,
                    Event::Error(mtcp_tcp::Error::Reset) => libc::ECONNRESET,
                    Event::Error(_) => libc::ECONNABORTED,
                    _ if st.phase == Phase::Connecting => libc::ECONNREFUSED,
                    _ => st.so_error,
                };
                if ev == Event::Closed {
                    st.peer_fin = true;
                }
                // What arrived before the end stays readable, then the error (as Linux).
                let mut tmp = [0u8; 4096];
                while let n @ 1.. = self.engine.take_unread(h, &mut tmp) {
                    st.peeked.extend(&tmp[..n]);
                }
                st.phase = Phase::Gone;
                st.handle = None;
                self.clear_owner(h);
            }
        }
        epolls.notify(&self.socks, s);
    }

    /// The events `sock` would report now (its level).
    pub(crate) fn level(&self, epolls: &Epolls, sock: i32) -> u32 {
        use events::*;
        let engine = &self.engine;
        let Ok(s) = self.socks.get(sock) else {
            return 0;
        };
        match &s.kind {
            SockKind::Listener(l) => {
                if l.queue.is_empty() {
                    0
                } else {
                    IN
                }
            }
            SockKind::Epoll(_) => 0,
            SockKind::Pipe { slot, read_end } => {
                let Some(Some(p)) = epolls.pipes.get(*slot) else {
                    return 0;
                };
                let e = if *read_end {
                    p.read_end_state()
                } else {
                    p.write_end_state()
                };
                e.bits()
            }
            SockKind::Stream(st) => {
                let mut e = if st.so_error != 0 { ERR } else { 0 };
                match (st.phase, st.handle) {
                    (Phase::Gone, _) => {
                        e |= IN | HUP | RDHUP;
                    }
                    (Phase::Connected, Some(h)) => {
                        let (state, readable, free) =
                            engine.readiness(h).unwrap_or((State::Closed, 0, 0));
                        let fin = st.peer_fin
                            || matches!(
                                state,
                                State::CloseWait
                                    | State::LastAck
                                    | State::Closing
                                    | State::TimeWait
                            );
                        if fin || !st.peeked.is_empty() || readable > 0 {
                            e |= IN;
                        }
                        if fin {
                            e |= RDHUP;
                        }
                        if !st.shut_wr
                            && matches!(state, State::Established | State::CloseWait)
                            && free > 0
                        {
                            e |= OUT;
                        }
                        if fin && st.shut_wr {
                            e |= HUP;
                        }
                    }
                    _ => {}
                }
                e
            }
        }
    }
}

/// Moves the unread data of `h` into the socket (before the engine frees the connection).
pub(crate) fn rescue(engine: &mut Engine, h: Handle, st: &mut crate::socket::Stream) {
    let mut tmp = [0u8; 4096];
    while let Ok(n @ 1..) = engine.recv(h, &mut tmp) {
        st.peeked.extend(&tmp[..n]);
    }
}
