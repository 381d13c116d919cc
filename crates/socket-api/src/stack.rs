//! One context's stack: ports, TCP engine, sockets and epoll instances, and the poll loop that
//! moves frames between them (rx_burst → `mtcp_net::Interface` → engine; engine.dispatch →
//! route → `Interface` → tx batch).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use mtcp_io::{Burst, Queue, RxFrame};
use mtcp_net::{NextHop, Received, RouteTable};
use mtcp_tcp::{Engine, Event, Handle, Instant, State};

use crate::epoll::events;
use crate::mesh::{CoreMesh, INBOX_BATCH};
use crate::netif::NetIf;
use crate::socket::{Phase, SockKind, SockTable};
use crate::stats::{CoreSnapshot, CoreStats, PortCounters};

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

/// RSS steering of a port: which source ports make replies land on this core's queue.
#[derive(Clone, Debug)]
pub(crate) struct RssSteer {
    pub hasher: mtcp_wire::rss::Toeplitz,
    pub reta: Vec<u16>,
    pub queue: u16,
    /// Steering the mesh does in software (the device's own steering is unknown or absent).
    pub software: bool,
}

/// Entries of the software redirection table (cores round-robin).
const SOFT_RETA_SIZE: usize = 128;

impl RssSteer {
    /// Software steering over `cores` cores, as core `cpu` sees it: mTCP's symmetric Toeplitz
    /// key, a redirection table naming the cores round-robin.
    pub fn software(cores: usize, cpu: usize) -> RssSteer {
        RssSteer {
            hasher: mtcp_wire::rss::Toeplitz::new(&mtcp_wire::rss::SYMMETRIC_KEY),
            reta: (0..SOFT_RETA_SIZE)
                .map(|i| (i % cores.max(1)) as u16)
                .collect(),
            queue: cpu as u16,
            software: true,
        }
    }

    /// The queue (core) a received frame with RSS input `tuple` belongs to.
    pub fn owner(&self, tuple: &[u8; 12]) -> u16 {
        let h = self.hasher.hash_tuple(tuple);
        self.reta[h as usize % self.reta.len()]
    }

    pub fn lands_here(&self, local: Ipv4Addr, lport: u16, remote: Ipv4Addr, rport: u16) -> bool {
        let h = self.hasher.hash_ipv4(remote, local, rport, lport);
        self.reta[h as usize % self.reta.len()] == self.queue
    }
}

/// The stack of one context.
pub struct Stack<Q: Queue> {
    pub(crate) cpu: usize,
    pub(crate) engine: Engine,
    pub(crate) ports: Vec<NetIf<Q>>,
    /// Routes to ports (route.conf, then each port's own subnet), longest prefix first.
    pub(crate) routes: RouteTable,
    pub(crate) socks: SockTable,
    pub(crate) owners: Vec<Option<(Handle, Owner)>>,
    pub(crate) listeners: HashMap<u16, i32>,
    pub(crate) epolls: Vec<Option<mtcp_epoll::Epoll>>,
    pub(crate) pipes: Vec<Option<mtcp_epoll::Pipe>>,
    start: std::time::Instant,
    /// Milliseconds added to the clock by `advance_clock`.
    skew_ms: u64,
    /// Per port: the steering a client's source port must satisfy so that replies come back to
    /// this core (the NIC's Toeplitz RSS, or the mesh's software steering), `None` for any port.
    pub(crate) rss: Vec<Option<Arc<RssSteer>>>,
    /// Software steering between the cores of the instance (more than one core).
    pub(crate) mesh: Option<CoreMesh>,
    pub(crate) rss_cursor: u16,
    pub(crate) rss_base: Option<Ipv4Addr>,
    pub(crate) stats: Arc<CoreStats>,
    /// Set when an epoll instance got a notification (threaded mode wakes the app on it).
    pub(crate) notified: bool,
    pub(crate) default_rcvbuf: i32,
    pub(crate) default_sndbuf: i32,
    /// Returns freed heap memory to the OS after a load (see `heap`).
    heap: crate::heap::HeapTrim,
}

impl<Q: Queue> Stack<Q> {
    /// A stack over `ports` with `engine`.
    pub(crate) fn new(
        cpu: usize,
        engine: Engine,
        ports: Vec<NetIf<Q>>,
        routes: RouteTable,
        max_sockets: usize,
        stats: Arc<CoreStats>,
        rss: Vec<Option<Arc<RssSteer>>>,
    ) -> Stack<Q> {
        let (rcv, snd) = (
            engine.config().recv_buffer_bytes as i32,
            engine.config().send_buffer_bytes as i32,
        );
        Stack {
            cpu,
            engine,
            ports,
            routes,
            socks: SockTable::new(max_sockets),
            owners: Vec::with_capacity(max_sockets),
            listeners: HashMap::new(),
            epolls: Vec::new(),
            pipes: Vec::new(),
            start: std::time::Instant::now(),
            skew_ms: 0,
            rss,
            mesh: None,
            rss_cursor: 1025,
            rss_base: None,
            stats,
            notified: false,
            default_rcvbuf: rcv,
            default_sndbuf: snd,
            heap: crate::heap::HeapTrim::default(),
        }
    }

    /// The core of this stack.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Bytes of send and receive buffer memory this core's connections hold now (capped at
    /// `max_num_buffers x (sndbuf + rcvbuf)`): taken as data flows, given back when the
    /// connections end.
    pub fn buffer_bytes(&self) -> usize {
        self.engine.buffer_bytes()
    }

    /// Bytes of spare buffer memory this core keeps for new connections (within the same cap);
    /// once a second, what no connection took is freed down to the engine's pool floor.
    pub fn pooled_buffer_bytes(&self) -> usize {
        self.engine.pooled_buffer_bytes()
    }

    /// Connections the TCP engine holds now (half-open, unaccepted and TIME-WAIT included).
    pub fn connection_count(&self) -> usize {
        self.engine.connection_count()
    }

    /// How long until the TCP engine's next timer (retransmission, delayed ACK, keepalive,
    /// TIME-WAIT ...) is due, `None` when no timer runs: an event loop driving the stack itself
    /// may sleep that long when no frames arrive.
    pub fn next_timer(&self) -> Option<std::time::Duration> {
        let due = self.engine.next_deadline()?;
        let now = self.now();
        Some(std::time::Duration::from_millis(
            due.millis().saturating_sub(now.millis()),
        ))
    }

    /// Names of the ports, in configuration order.
    pub fn port_names(&self) -> Vec<String> {
        self.ports.iter().map(|p| p.name.clone()).collect()
    }

    /// Milliseconds since the context started, as the engine's clock.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(self.now_ms())
    }

    /// The same clock as a millisecond count, for the network layer.
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + self.skew_ms
    }

    /// Moves this stack's clock `ms` forward (never back), so that timers fire without waiting:
    /// for fuzzing and tests of timeouts.
    pub fn advance_clock(&mut self, ms: u64) {
        self.skew_ms = self.skew_ms.saturating_add(ms);
    }

    /// The port that reaches `dst`.
    pub(crate) fn route(&self, dst: Ipv4Addr) -> Option<usize> {
        route(&self.routes, dst)
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

    /// One turn of the loop: receive, run timers, handle events, transmit. Returns the work done
    /// (frames received plus segments sent).
    pub fn poll(&mut self) -> usize {
        self.engine.set_accept_room(self.accept_room());
        let now_ms = self.now_ms();
        let now = Instant::from_millis(now_ms);
        let mut work = 0;
        for p in 0..self.ports.len() {
            let mut rx: Burst<Q::Rx> = Burst::new();
            work += self.ports[p].rx_burst(&mut rx);
            let Stack {
                ports,
                engine,
                mesh,
                rss,
                ..
            } = self;
            let port = &mut ports[p];
            let mut deliver = |frame: &[u8], meta| {
                if let Received::Tcp { src, dst, repr } = port.receive(now_ms, frame, meta) {
                    engine.on_segment(now, src, dst, &repr);
                }
            };
            let soft = rss[p].as_deref().filter(|r| r.software);
            for frame in rx.iter() {
                // Frames of flows another core owns go to it (software steering), ARP to all.
                if mesh
                    .as_mut()
                    .is_some_and(|m| m.steer(soft, p, frame, frame.meta()))
                {
                    continue;
                }
                deliver(frame, frame.meta());
            }
            drop(rx);
            // What the other cores handed to this one.
            if let Some(m) = mesh.as_mut() {
                m.mesh.register(m.cpu);
                let mut n = 0;
                while n < INBOX_BATCH {
                    let Some(frame) = m.mesh.recv(m.cpu, p) else {
                        break;
                    };
                    n += 1;
                    deliver(&frame, frame.meta());
                }
                m.counters.received += n as u64;
                work += n;
            }
            // ARP and ICMP replies, and datagrams an ARP reply released, go out before newer
            // segments.
            port.drain();
        }
        // Events first: data of connections whose TIME-WAIT ends in this turn's timers is
        // moved out of the engine before the engine frees it.
        self.handle_events();
        if self.engine.next_deadline().is_some_and(|d| d <= now) {
            // Send what input queued first: a TIME-WAIT of 0 ends in these timers, and the engine
            // would free the connection before the ACK of the peer's FIN went out (the peer,
            // still in LAST-ACK, would retransmit its FIN and get a RST).
            work += self.output(now_ms);
            self.engine.poll_timers(now);
        }
        self.handle_events();
        work += self.output(now_ms);
        self.handle_events();
        self.publish();
        let buffers = self.engine.buffer_bytes() + self.engine.pooled_buffer_bytes();
        self.heap.turn(now_ms, buffers);
        work
    }

    fn output(&mut self, now_ms: u64) -> usize {
        let Stack {
            engine,
            ports,
            routes,
            ..
        } = self;
        for port in ports.iter_mut() {
            port.poll(now_ms);
        }
        let n = engine.dispatch(Instant::from_millis(now_ms), |src, dst, seg| {
            // connect() refuses destinations without a route; a peer that reached us from outside
            // every route (no default route) is answered through the first port, on the link.
            let hop = routes.lookup(dst).unwrap_or(NextHop {
                iface: 0,
                next_hop: dst,
            });
            if let Some(port) = ports.get_mut(hop.iface) {
                port.send_tcp(now_ms, hop.next_hop, src, dst, seg);
            }
        });
        for port in ports.iter_mut() {
            port.drain();
            port.flush();
        }
        n
    }

    fn publish(&self) {
        let mut c = PortCounters::default();
        for p in &self.ports {
            let pc = p.counters();
            c.rx_packets += pc.rx_packets;
            c.rx_bytes += pc.rx_bytes;
            c.rx_errors += pc.rx_errors;
            c.tx_packets += pc.tx_packets;
            c.tx_bytes += pc.tx_bytes;
            c.tx_errors += pc.tx_errors;
        }
        self.stats.publish(&CoreSnapshot {
            counters: c,
            flows: self.engine.connection_count() as u64,
            mesh: self.mesh.as_ref().map(|m| m.counters).unwrap_or_default(),
        });
    }

    /// Tells the epoll instance watching `sock` that something happened.
    pub(crate) fn notify(&mut self, sock: i32) {
        let Ok(s) = self.socks.get(sock) else { return };
        if let Some(slot) = s.watcher {
            if let Some(Some(ep)) = self.epolls.get_mut(slot) {
                // Any condition may have changed, and counts as new for edge-triggered
                // entries: the socket is queued, and the instance asks for its level when it
                // reports it (`poll_current`), as the level may still change until then.
                let _ = ep.notify(sock.unsigned_abs(), mtcp_epoll::Events::CONDITIONS);
                self.notified = true;
            }
        }
    }

    /// Applies the engine's events to sockets and epoll instances.
    pub(crate) fn handle_events(&mut self) {
        while let Some((h, ev)) = self.engine.poll_event() {
            match self.owner(h) {
                Some(Owner::Stream(s)) => self.stream_event(s, h, ev),
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
                            self.fill_listener(t.local_port);
                        }
                    }
                }
            }
        }
    }

    /// Passive connections the engine may still hold for `accept`: the socket ids left plus every
    /// listener's backlog, less the connections already queued on listening sockets. As in Linux,
    /// a listener's accept queue (its backlog) is bounded apart from the descriptor limit: while
    /// no id is free `accept` gives ENFILE and the connection waits in the queue, and past the
    /// bound new SYNs are dropped. (Bounding by the free ids alone made every waiting client
    /// back off its SYN retransmissions while a full server sat idle.)
    fn accept_room(&self) -> usize {
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
    pub(crate) fn fill_listener(&mut self, port: u16) {
        let Some(&l) = self.listeners.get(&port) else {
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
            let Some(h) = self.engine.accept(port) else {
                break;
            };
            self.set_owner(h, Owner::Pending(l));
            if let Ok(SockKind::Listener(li)) = self.socks.get_mut(l).map(|s| &mut s.kind) {
                li.queue.push_back(h);
            }
            added = true;
        }
        if added {
            self.notify(l);
        }
    }

    fn stream_event(&mut self, s: i32, h: Handle, ev: Event) {
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
                st.phase = Phase::Gone;
                st.handle = None;
                self.clear_owner(h);
            }
        }
        self.notify(s);
    }

    /// The events `sock` would report now (its level).
    pub(crate) fn level(&mut self, sock: i32) -> u32 {
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
                let Some(Some(p)) = self.pipes.get(*slot) else {
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
                        let state = engine.state(h).unwrap_or(State::Closed);
                        let fin = st.peer_fin
                            || matches!(
                                state,
                                State::CloseWait
                                    | State::LastAck
                                    | State::Closing
                                    | State::TimeWait
                            );
                        if fin || !st.peeked.is_empty() || engine.recv_queue(h).unwrap_or(0) > 0 {
                            e |= IN;
                        }
                        if fin {
                            e |= RDHUP;
                        }
                        if !st.shut_wr
                            && matches!(state, State::Established | State::CloseWait)
                            && engine.send_capacity(h).unwrap_or(0) > 0
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

/// The port of the longest-prefix route to `dst`.
fn route(routes: &RouteTable, dst: Ipv4Addr) -> Option<usize> {
    routes.route(dst).ok().map(|r| r.iface)
}
