//! One context's stack: the parts a core's TCP/IP runs on, and the poll loop that moves frames
//! between them. Each part is a struct with its own small API and knows nothing of `Stack`;
//! `Stack` holds them, and its `poll` calls them in order.
//!
//! ```text
//!   Stack<Q>   poll: Ports::receive → Sockets::handle_events → engine timers
//!      │             → Ports::transmit → CoreStats::publish
//!      ├──► Ports<Q>   (ports.rs)    this core's side of every port, routes, RSS steering
//!      │      ├──► NetIf      (netif.rs)   queue + mtcp-net Interface + tx batch
//!      │      ├──► CoreMesh   (mesh.rs)    hands frames of other cores' flows over
//!      │      ├──► RssSteer   (rss.rs)
//!      │      └──► PortCounters (stats.rs)
//!      ├──► Sockets    (sockets.rs)  Engine, SockTable, owners, listeners
//!      │      ├──► Epolls     (notifies the instance watching a socket)
//!      │      └──► SockTable  (socket.rs)
//!      ├──► Epolls     (epolls.rs)   epoll instances, pipes, `notified`
//!      │      └──► SockTable  (socket.rs)
//!      ├──► CoreMesh   (mesh.rs)     inboxes of the other cores ──► RssSteer (rss.rs)
//!      └──► CoreStats  (stats.rs)    published counters ──► MeshCounters (mesh.rs)
//! ```
//!
//! Every arrow points down: no part imports the `Stack` or a part above it.
//! - [`Ports`]: this core's queue and network layer of every port; `receive` feeds a burst
//!   (and what the mesh's inbox holds for this core) to the engine, `transmit` routes the
//!   engine's segments to their ports and flushes them.
//! - [`Sockets`]: the TCP engine, the socket table, which socket owns each connection and the
//!   listening ports; `handle_events` applies the engine's events to the sockets and notifies
//!   the epoll instances (it borrows [`Epolls`] for that).
//! - [`Epolls`]: epoll instances and pipes, and the `notified` flag the threaded mode wakes on.
//! - The mesh ([`CoreMesh`]: frames of flows other cores own) and the statistics
//!   ([`CoreStats`]).
//!
//! The socket and epoll calls (`api.rs`, `api_epoll.rs`) and the drain on close (`drain.rs`)
//! are `impl Stack` blocks: the API is where the parts meet.

use std::sync::Arc;

use mtcp_io::Queue;
use mtcp_net::RouteTable;
use mtcp_tcp::{Engine, Instant};

use crate::epolls::Epolls;
use crate::mesh::CoreMesh;
use crate::netif::NetIf;
use crate::ports::Ports;
use crate::rss::RssSteer;
use crate::sockets::Sockets;
use crate::stats::{CoreSnapshot, CoreStats};

/// The engine's clock: milliseconds since the context started, plus what tests added.
struct Clock {
    start: std::time::Instant,
    /// Milliseconds added to the clock by `advance_clock`.
    skew_ms: u64,
    /// When the last turn ([`Stack::poll`]) read the clock.
    polled: std::time::Instant,
    /// The turns' clock reader.
    turns: crate::turnclock::TurnClock,
}

/// The stack of one context.
pub struct Stack<Q: Queue> {
    cpu: usize,
    pub(crate) ports: Ports<Q>,
    pub(crate) sockets: Sockets,
    pub(crate) epolls: Epolls,
    /// Software steering between the cores of the instance (more than one core).
    pub(crate) mesh: Option<CoreMesh>,
    stats: Arc<CoreStats>,
    clock: Clock,
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
        // RSS-steered source ports start at the engine's secret point too.
        let ports = Ports::new(ports, routes, rss, engine.next_ephemeral_port());
        Stack {
            cpu,
            ports,
            sockets: Sockets::new(engine, max_sockets),
            epolls: Epolls::default(),
            mesh: None,
            stats,
            clock: {
                let start = std::time::Instant::now();
                Clock {
                    start,
                    skew_ms: 0,
                    polled: start,
                    turns: crate::turnclock::TurnClock::new(),
                }
            },
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
        self.sockets.engine.buffer_bytes()
    }

    /// Bytes of spare buffer memory this core keeps for new connections (within the same cap);
    /// once a second, what no connection took is freed down to the engine's pool floor.
    pub fn pooled_buffer_bytes(&self) -> usize {
        self.sockets.engine.pooled_buffer_bytes()
    }

    /// Connections the TCP engine holds now (half-open, unaccepted and TIME-WAIT included).
    pub fn connection_count(&self) -> usize {
        self.sockets.engine.connection_count()
    }

    /// How long until the TCP engine's next timer (retransmission, delayed ACK, keepalive,
    /// TIME-WAIT ...) is due, `None` when no timer runs: an event loop driving the stack itself
    /// may sleep that long when no frames arrive.
    pub fn next_timer(&self) -> Option<std::time::Duration> {
        let due = self.sockets.engine.next_deadline()?;
        let now = self.now();
        Some(std::time::Duration::from_millis(
            due.millis().saturating_sub(now.millis()),
        ))
    }

    /// Names of the ports, in configuration order.
    pub fn port_names(&self) -> Vec<String> {
        self.ports.names()
    }

    /// Milliseconds since the context started, as the engine's clock.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(self.now_ms())
    }

    /// The same clock as a millisecond count, for the network layer.
    fn now_ms(&self) -> u64 {
        self.ms_at(std::time::Instant::now())
    }

    /// [`Stack::now_ms`] at `t`.
    fn ms_at(&self, t: std::time::Instant) -> u64 {
        t.saturating_duration_since(self.clock.start).as_millis() as u64 + self.clock.skew_ms
    }

    /// When the last turn ([`Stack::poll`]) read the clock: a loop around the turns (such as
    /// `epoll_wait`'s) takes its time from there instead of reading the clock again.
    pub(crate) fn polled_at(&self) -> std::time::Instant {
        self.clock.polled
    }

    /// Moves this stack's clock `ms` forward (never back), so that timers fire without waiting:
    /// for fuzzing and tests of timeouts.
    pub fn advance_clock(&mut self, ms: u64) {
        self.clock.skew_ms = self.clock.skew_ms.saturating_add(ms);
    }

    /// One turn of the loop: receive, run timers, handle events, transmit. Returns the work done
    /// (frames received plus segments sent; segments a full ring holds back are not counted).
    pub fn poll(&mut self) -> usize {
        self.sockets
            .engine
            .set_accept_room(self.sockets.accept_room());
        self.clock.polled = self.clock.turns.now();
        let now_ms = self.ms_at(self.clock.polled);
        let now = Instant::from_millis(now_ms);
        let mut work = 0;
        for p in 0..self.ports.len() {
            work += self
                .ports
                .receive(p, &mut self.sockets.engine, self.mesh.as_mut(), now_ms);
        }
        // Events first: data of connections whose TIME-WAIT ends in this turn's timers is
        // moved out of the engine before the engine frees it.
        self.sockets.handle_events(&mut self.epolls);
        if self.sockets.engine.timers_due(now) {
            // Send what input queued first: a TIME-WAIT of 0 ends in these timers, and the engine
            // would free the connection before the ACK of the peer's FIN went out (the peer,
            // still in LAST-ACK, would retransmit its FIN and get a RST).
            work += self.ports.transmit(&mut self.sockets.engine, now_ms);
            self.sockets.engine.poll_timers(now);
        }
        self.sockets.handle_events(&mut self.epolls);
        work += self.ports.transmit(&mut self.sockets.engine, now_ms);
        self.sockets.handle_events(&mut self.epolls);
        self.publish();
        let engine = &self.sockets.engine;
        self.heap
            .turn(now_ms, engine.buffer_bytes() + engine.pooled_buffer_bytes());
        // Segments held back by a full transmit ring are not work this thread can do: they
        // wait for the peer to drain the ring, and the peer's acknowledgments of what it
        // drained end the caller's idle wait (bounded: 1 ms in `epoll_wait`). Counted as work,
        // they kept the caller polling flat out, on a loaded machine taking the very CPU the
        // peer needed to drain.
        work
    }

    fn publish(&self) {
        self.stats.publish(&CoreSnapshot {
            counters: self.ports.counters(),
            flows: self.sockets.engine.connection_count() as u64,
            mesh: self.mesh.as_ref().map(|m| m.counters).unwrap_or_default(),
        });
    }
}
