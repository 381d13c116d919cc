//! The engine: connection table, listeners, timers and the batched output path.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

use hashbrown::HashMap;
use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

use crate::cc::CcAlgorithm;
use crate::config::{Config, ConnOptions, Keepalive};
use crate::conn::{Conn, Cx, Outcome, RateLimiter};
use crate::dispatch::Sending;
use crate::isn::{FourTuple, SecretHash};
use crate::listener::{Listener, ListenerKey};
use crate::ring::{BufferBudget, MIN_GROWTH, RingBuffer, RingPool};
use crate::state::{Error, Event, State, TcpInfo};
use crate::table::{ConnTable, Handle};
use crate::time::Instant;
use crate::timer::TimerWheel;
use crate::unread::Unread;

/// Most stateless replies (RSTs, cookie SYN-ACKs) queued between two dispatches; more are dropped.
pub(crate) const MAX_CONTROL: usize = 1024;
/// The ephemeral ports (IANA's dynamic range, RFC 6335): `EPHEMERAL_SPAN` of them from
/// `EPHEMERAL_FIRST`. The search starts at a secret point of them ([`SecretHash::port_offset`])
/// and goes on in order.
const EPHEMERAL_FIRST: u16 = 49_152;
const EPHEMERAL_SPAN: u16 = u16::MAX - EPHEMERAL_FIRST + 1;
/// Most spare ring pieces an engine keeps: 4 MiB of [`MIN_GROWTH`] pieces.
const POOL_MAX_PIECES: usize = 4 * 1024 * 1024 / MIN_GROWTH;

/// A segment sent without connection state: a RST or a SYN-cookie SYN-ACK.
#[derive(Clone, Debug)]
pub(crate) struct Control {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) seq: SeqNumber,
    pub(crate) ack: SeqNumber,
    pub(crate) flags: TcpFlags,
    pub(crate) window: u16,
    pub(crate) options: TcpOptions,
}

impl Control {
    pub(crate) fn repr(&self) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: self.seq,
            ack_number: self.ack,
            flags: self.flags,
            window_len: self.window,
            urgent_pointer: 0,
            options: self.options.clone(),
            payload: &[],
        }
    }
}

/// A sans-I/O TCP engine for any number of connections on one core.
///
/// Feed it segments with [`Engine::on_segment`] and time with [`Engine::poll_timers`]; collect
/// segments with [`Engine::dispatch`], news with [`Engine::poll_event`], and sleep until
/// [`Engine::next_deadline`].
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: Config,
    pub(crate) secret: SecretHash,
    pub(crate) table: ConnTable,
    pub(crate) listeners: HashMap<ListenerKey, Listener>,
    pub(crate) wheel: TimerWheel,
    pub(crate) events: VecDeque<(Handle, Event)>,
    pub(crate) control: Vec<Control>,
    /// Connections with output, marked since the current dispatch round began.
    pub(crate) dirty: Vec<Handle>,
    pub(crate) sending: Sending,
    pub(crate) fired: Vec<u32>,
    pub(crate) scratch: Vec<u8>,
    pub(crate) challenge: RateLimiter,
    pub(crate) next_ephemeral: u16,
    pub(crate) now: Instant,
    /// Buffer memory of all connections, capped by `Config::max_buffer_bytes`.
    pub(crate) budget: BufferBudget,
    /// Ring storage of freed connections, reused by new ones (short connections allocate none).
    pub(crate) pool: RingPool,
    /// Most passive connections not yet taken by `accept` (see `set_accept_room`).
    pub(crate) accept_room: usize,
    /// Receive rings of freed connections until their end events are collected.
    pub(crate) unread: Unread,
}

impl Engine {
    /// An engine with `config`; `secret` keys ISNs (RFC 6528) and SYN cookies. Use a random secret.
    pub fn new(config: Config, secret: [u8; 16]) -> Engine {
        let scratch = vec![0; usize::from(config.mtu)];
        let budget = BufferBudget::new(config.max_buffer_bytes);
        // Spare pieces: at most an eighth of the buffer cap, and 4 MiB.
        let pieces = (config.max_buffer_bytes / MIN_GROWTH / 8).min(POOL_MAX_PIECES);
        let floor = config.buffer_pool_floor_bytes / MIN_GROWTH;
        let pool = RingPool::new(pieces, floor, budget.clone());
        let secret = SecretHash::new(secret);
        let next_ephemeral = EPHEMERAL_FIRST + secret.port_offset() % EPHEMERAL_SPAN;
        Engine {
            pool,
            budget,
            accept_room: usize::MAX,
            unread: Unread::default(),
            config,
            secret,
            table: ConnTable::default(),
            listeners: HashMap::new(),
            wheel: TimerWheel::new(Instant(0)),
            events: VecDeque::with_capacity(256),
            control: Vec::with_capacity(MAX_CONTROL),
            dirty: Vec::with_capacity(256),
            sending: Sending::with_capacity(256),
            fired: Vec::with_capacity(256),
            scratch,
            challenge: RateLimiter::default(),
            next_ephemeral,
            now: Instant(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes of buffer memory the engine's connections hold now (at most
    /// [`Config::max_buffer_bytes`]).
    pub fn buffer_bytes(&self) -> usize {
        self.budget.used()
    }

    /// Bytes of spare buffer memory kept for new connections (freed connections' first pieces;
    /// idle ones are freed down to [`Config::buffer_pool_floor_bytes`] once a second).
    pub fn pooled_buffer_bytes(&self) -> usize {
        self.budget.pooled()
    }

    /// Bounds the passive connections (half-open or established) that may wait for
    /// [`Engine::accept`], over all listeners, to `room`: a socket layer sets it to the sockets it
    /// can still hand out, so the engine never completes handshakes nobody can accept. At the
    /// bound new SYNs are dropped, as Linux drops them with a full accept queue (the peer
    /// retries). Default: unbounded (each listener's backlog still applies).
    pub fn set_accept_room(&mut self, room: usize) {
        self.accept_room = room;
    }

    /// The ephemeral port the next [`Engine::connect`] without a local port tries first: a
    /// secret point of 49152-65535 at first, then the one after the last taken (RFC 6056
    /// §2.2's sequential search, from a random start).
    pub fn next_ephemeral_port(&self) -> u16 {
        self.next_ephemeral
    }

    /// Number of live connections (TIME-WAIT and unaccepted ones included).
    pub fn connection_count(&self) -> usize {
        self.table.len()
    }

    /// Opens a connection (active open). `local_port` 0 picks an ephemeral port. Both
    /// addresses are IPv4 or both IPv6 (else [`Error::InvalidState`]).
    pub fn connect(
        &mut self,
        now: Instant,
        local_addr: impl Into<IpAddr>,
        local_port: u16,
        remote_addr: impl Into<IpAddr>,
        remote_port: u16,
    ) -> Result<Handle, Error> {
        let opts = self.config.conn_options();
        self.connect_with(
            now,
            (local_addr, local_port),
            (remote_addr, remote_port),
            opts,
        )
    }

    /// [`Engine::connect`] with this connection's own buffers, Nagle and keepalive settings.
    pub fn connect_with(
        &mut self,
        now: Instant,
        (local_addr, local_port): (impl Into<IpAddr>, u16),
        (remote_addr, remote_port): (impl Into<IpAddr>, u16),
        opts: ConnOptions,
    ) -> Result<Handle, Error> {
        self.now = now;
        let (local_addr, remote_addr) = (local_addr.into(), remote_addr.into());
        if local_addr.is_ipv4() != remote_addr.is_ipv4() {
            return Err(Error::InvalidState);
        }
        let mut tuple = FourTuple {
            local_addr,
            local_port,
            remote_addr,
            remote_port,
        };
        if local_port == 0 {
            let mut found = false;
            for _ in 0..EPHEMERAL_SPAN {
                let p = self.next_ephemeral;
                self.next_ephemeral = if p == u16::MAX {
                    EPHEMERAL_FIRST
                } else {
                    p + 1
                };
                tuple.local_port = p;
                if self.table.find(&tuple).is_none() && !self.port_listened(p) {
                    found = true;
                    break;
                }
            }
            if !found {
                return Err(Error::AddrInUse);
            }
        }
        if let Some(old) = self.table.find(&tuple) {
            // A TIME-WAIT pair may be reused: our ISN clock has moved past its sequence space.
            if self
                .table
                .get(old)
                .is_some_and(|c| c.state == State::TimeWait)
            {
                self.free(old);
            } else {
                return Err(Error::AddrInUse);
            }
        }
        let h = self.create(tuple, now, &opts)?;
        if let Some(c) = self.table.get_mut(h) {
            c.open_active();
        }
        self.mark(h);
        Ok(h)
    }

    pub(crate) fn create(
        &mut self,
        tuple: FourTuple,
        now: Instant,
        opts: &ConnOptions,
    ) -> Result<Handle, Error> {
        if self.table.len() >= self.config.max_connections {
            return Err(Error::TooManyConnections);
        }
        let h = self.table.next_handle();
        let timer = self.wheel.alloc(h.index());
        let iss = self.secret.isn(&tuple, now);
        let mut conn = Conn::new(h, tuple, timer, iss, &self.config, opts, now);
        // The rings take memory only when data comes; it is charged to the engine's budget.
        conn.send_buf.set_budget(self.budget.clone());
        conn.recv_buf.set_budget(self.budget.clone());
        Ok(self.table.insert(conn))
    }

    pub(crate) fn free(&mut self, h: Handle) {
        let Some(mut conn) = self.table.remove(h) else {
            return;
        };
        conn.send_buf.recycle(&mut self.pool);
        if conn.listener.is_none() && !conn.snd.user_closed {
            // The application may still read what arrived (after a RST, as Linux).
            let ring = core::mem::replace(&mut conn.recv_buf, RingBuffer::new(0));
            self.unread.keep(h, ring, &mut self.pool);
        } else {
            conn.recv_buf.recycle(&mut self.pool);
        }
        self.wheel.free(conn.timer);
        if conn.rst_now {
            self.push_control(Control {
                src: conn.tuple.local_addr,
                dst: conn.tuple.remote_addr,
                src_port: conn.tuple.local_port,
                dst_port: conn.tuple.remote_port,
                seq: conn.snd.nxt,
                ack: conn.rcv.nxt,
                flags: TcpFlags::RST | TcpFlags::ACK,
                window: 0,
                options: TcpOptions::default(),
            });
        }
        if let Some(key) = conn.listener {
            if let Some(l) = self.listeners.get_mut(&key) {
                if conn.in_syn_queue {
                    l.syn_queue = l.syn_queue.saturating_sub(1);
                } else {
                    l.accept_queue.retain(|&x| x != h);
                }
            }
        }
    }

    pub(crate) fn push_control(&mut self, c: Control) {
        if self.control.len() < MAX_CONTROL {
            self.control.push(c);
        }
    }

    pub(crate) fn mark(&mut self, h: Handle) {
        if let Some(c) = self.table.get_mut(h) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(h);
            }
        }
    }

    fn conn_mut(&mut self, h: Handle) -> Result<&mut Conn, Error> {
        self.table.get_mut(h).ok_or(Error::InvalidHandle)
    }

    /// Switches keepalive on (`Some`) or off for one connection (SO_KEEPALIVE); an established
    /// connection's first probe comes `idle` after now.
    pub fn set_keepalive(&mut self, h: Handle, keepalive: Option<Keepalive>) -> Result<(), Error> {
        let now = self.now;
        let c = self.conn_mut(h)?;
        c.keepalive = keepalive;
        c.timers.keepalive_sent = 0;
        c.timers.keepalive_at = keepalive
            .filter(|_| c.state.is_synchronized() && c.state != State::TimeWait)
            .map(|k| now + k.idle);
        self.after(h, Outcome::Keep);
        Ok(())
    }

    /// Queues `data` for sending; returns how many bytes fitted in the send buffer.
    pub fn send(&mut self, h: Handle, data: &[u8]) -> Result<usize, Error> {
        let Engine {
            table,
            pool,
            budget,
            ..
        } = self;
        let c = table.get_mut(h).ok_or(Error::InvalidHandle)?;
        if !c.state.can_send() || c.snd.fin_queued {
            return Err(Error::InvalidState);
        }
        c.send_buf.reuse_from(pool);
        // Everything sent was acknowledged: nothing sits past the readable part.
        c.send_buf.rewind_if_empty();
        let mut n = c.send_buf.push(data);
        if n == 0 && !pool.is_empty() && budget.tight() {
            // Spare storage stands in the way of a connection's growth: give it back.
            pool.clear();
            n = c.send_buf.push(data);
        }
        if n < data.len() {
            c.writable_wanted = true;
        }
        if n == 0 && !data.is_empty() {
            return Err(if c.send_buf.out_of_memory() {
                Error::NoBuffers
            } else {
                Error::WouldBlock
            });
        }
        self.mark(h);
        Ok(n)
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self, h: Handle) -> Result<usize, Error> {
        Ok(self
            .table
            .get(h)
            .ok_or(Error::InvalidHandle)?
            .send_buf
            .free())
    }

    /// Reads received data. `Ok(0)` means the peer closed its side and everything was read.
    pub fn recv(&mut self, h: Handle, buf: &mut [u8]) -> Result<usize, Error> {
        let c = self.conn_mut(h)?;
        let n = c.recv_buf.pop(buf);
        if c.assembler.is_empty() {
            c.recv_buf.rewind_if_empty();
        }
        if n > 0 {
            if c.window_update_due() {
                c.ack_now = true;
                self.mark(h);
            }
            return Ok(n);
        }
        if c.rcv.fin_rcvd || buf.is_empty() {
            Ok(0)
        } else if matches!(c.state, State::SynSent | State::SynReceived) || c.state.can_receive() {
            Err(Error::WouldBlock)
        } else {
            Err(Error::InvalidState)
        }
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self, h: Handle) -> Result<usize, Error> {
        Ok(self
            .table
            .get(h)
            .ok_or(Error::InvalidHandle)?
            .recv_buf
            .len())
    }

    /// Half-close: a FIN follows the data already queued. Receiving continues.
    pub fn shutdown_write(&mut self, h: Handle) -> Result<(), Error> {
        let c = self.conn_mut(h)?;
        if c.snd.fin_queued {
            return Ok(());
        }
        match c.state {
            State::SynSent => {
                c.state = State::Closed;
                self.events.push_back((h, Event::Closed));
                self.free(h);
                return Ok(());
            }
            State::SynReceived => c.snd.fin_queued = true,
            State::Established => {
                c.snd.fin_queued = true;
                c.state = State::FinWait1;
            }
            State::CloseWait => {
                c.snd.fin_queued = true;
                c.state = State::LastAck;
            }
            _ => return Err(Error::InvalidState),
        }
        self.mark(h);
        Ok(())
    }

    /// Closes the connection: like `shutdown_write`, but unread received data makes it a reset
    /// (RFC 9293 §3.10.4 lets an application abort; Linux does so on unread data).
    pub fn close(&mut self, h: Handle) -> Result<(), Error> {
        let c = self.conn_mut(h)?;
        if !c.recv_buf.is_empty() {
            return self.abort(h);
        }
        c.snd.user_closed = true;
        match c.state {
            State::Established | State::CloseWait | State::SynSent | State::SynReceived => {
                self.shutdown_write(h)
            }
            _ => Ok(()),
        }
    }

    /// Aborts the connection with a RST; the handle becomes invalid (a `Closed` event follows).
    pub fn abort(&mut self, h: Handle) -> Result<(), Error> {
        let c = self.conn_mut(h)?;
        c.rst_now = matches!(
            c.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        );
        c.state = State::Closed;
        // Nobody reads its data any more.
        c.snd.user_closed = true;
        self.events.push_back((h, Event::Closed));
        self.free(h);
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on for one connection.
    pub fn set_nodelay(&mut self, h: Handle, nodelay: bool) -> Result<(), Error> {
        self.conn_mut(h)?.snd.nodelay = nodelay;
        self.mark(h);
        Ok(())
    }

    /// Switches one connection's congestion control (TCP_CONGESTION): a fresh instance of the
    /// algorithm (initial window, empty model) takes over, as Linux'
    /// `tcp_reinit_congestion_control`. Best set before `connect` (`ConnOptions`).
    pub fn set_congestion_control(&mut self, h: Handle, cc: CcAlgorithm) -> Result<(), Error> {
        let c = self.conn_mut(h)?;
        c.cc = cc.build(c.snd.mss);
        c.cc_algorithm = cc;
        c.pace_credit = 0;
        self.mark(h);
        Ok(())
    }

    /// The connection's state.
    pub fn state(&self, h: Handle) -> Result<State, Error> {
        Ok(self.table.get(h).ok_or(Error::InvalidHandle)?.state)
    }

    /// What readiness is made of, in one look-up: the state, the bytes ready to read and the
    /// free send space (an epoll level asked for each of the three by handle).
    pub fn readiness(&self, h: Handle) -> Option<(State, usize, usize)> {
        let c = self.table.get(h)?;
        Some((c.state, c.recv_buf.len(), c.send_buf.free()))
    }

    /// The connection's addresses and ports.
    pub fn tuple(&self, h: Handle) -> Result<FourTuple, Error> {
        Ok(self.table.get(h).ok_or(Error::InvalidHandle)?.tuple)
    }

    /// Statistics after Linux `tcp_info`.
    pub fn info(&self, h: Handle) -> Result<TcpInfo, Error> {
        Ok(self.table.get(h).ok_or(Error::InvalidHandle)?.info())
    }

    /// The next queued event.
    /// The next queued event. Once none is left, freed connections' unread data (see
    /// [`Engine::take_unread`]) is dropped.
    pub fn poll_event(&mut self) -> Option<(Handle, Event)> {
        let ev = self.events.pop_front();
        if ev.is_none() {
            self.unread.clear(&mut self.pool);
        }
        ev
    }

    /// Drains queued events (as [`Engine::poll_event`] until `None`).
    pub fn events(&mut self) -> impl Iterator<Item = (Handle, Event)> + '_ {
        core::iter::from_fn(move || self.poll_event())
    }

    /// When `poll_timers` must be called next (`None`: no timer armed). Output may also be
    /// pending after any call; `dispatch` is cheap when there is none.
    ///
    /// Exact, at the cost of reading the timers armed earlier than their connection needs
    /// (see [`rearm`]) up to the earliest real deadline: for a loop about to sleep, not for
    /// every turn ([`Engine::timers_due`] is the per-turn check).
    pub fn next_deadline(&self) -> Option<Instant> {
        let table = &self.table;
        self.wheel.earliest_by(|owner, expires| {
            table
                .by_index(owner)
                .and_then(Conn::next_deadline)
                .map_or(expires, |t| t.0)
        })
    }

    /// Whether `poll_timers` at `now` may have work: a timer is armed for `now` or earlier
    /// (one armed earlier than its connection needs fires and only moves on).
    pub fn timers_due(&self, now: Instant) -> bool {
        self.wheel.next_deadline().is_some_and(|d| d <= now)
    }

    /// Whether `dispatch` has segments to emit.
    pub fn has_output(&self) -> bool {
        !self.dirty.is_empty() || !self.sending.list.is_empty() || !self.control.is_empty()
    }

    pub(crate) fn after(&mut self, h: Handle, outcome: Outcome) {
        match outcome {
            Outcome::Keep => {
                if !self.pool.is_empty() && self.budget.tight() {
                    self.pool.clear();
                }
                if let Some(c) = self.table.get_mut(h) {
                    release_finished_buffers(c, &mut self.pool);
                    rearm(&mut self.wheel, c, self.now);
                }
                self.mark(h);
            }
            Outcome::Delete | Outcome::Reopen => self.free(h),
        }
    }

    /// Processes one received segment from `src` to `dst` (IPv4 or IPv6, both of one family:
    /// the network layer parsed them from one header).
    pub fn on_segment(
        &mut self,
        now: Instant,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        seg: &TcpRepr<'_>,
    ) {
        self.now = now;
        let tuple = FourTuple {
            local_addr: dst.into(),
            local_port: seg.dst_port,
            remote_addr: src.into(),
            remote_port: seg.src_port,
        };
        if let Some(h) = self.table.find(&tuple) {
            let outcome = self.segment_to_conn(now, h, seg);
            self.after(h, outcome);
            if outcome != Outcome::Reopen {
                return;
            }
        }
        self.segment_to_listener(now, tuple, seg);
    }

    fn segment_to_conn(&mut self, now: Instant, h: Handle, seg: &TcpRepr<'_>) -> Outcome {
        let room = self.accept_room;
        let Engine {
            table,
            listeners,
            config,
            events,
            challenge,
            pool,
            ..
        } = self;
        let Some(c) = table.get_mut(h) else {
            return Outcome::Keep;
        };
        if !seg.payload.is_empty() {
            c.recv_buf.reuse_from(pool);
        }
        let pending_accept = (c.state == State::SynReceived)
            .then_some(c.listener)
            .flatten();
        if let Some(key) = pending_accept {
            // Accept queue full, or as many waiting as the socket layer can take: ignore the
            // handshake's ACK; the SYN-ACK will be resent (as Linux).
            let full = listeners
                .get(&key)
                .is_none_or(|l| l.accept_queue.len() >= l.backlog)
                || listeners
                    .values()
                    .map(|l| l.accept_queue.len())
                    .sum::<usize>()
                    >= room;
            if full && !seg.flags.contains(TcpFlags::RST) && !seg.flags.contains(TcpFlags::SYN) {
                return Outcome::Keep;
            }
        }
        let mut cx = Cx {
            now,
            config,
            events,
            challenge,
        };
        let outcome = c.on_segment(&mut cx, seg);
        if let (Some(key), Outcome::Keep) = (pending_accept, outcome) {
            if c.state != State::SynReceived {
                c.in_syn_queue = false;
                if let Some(l) = listeners.get_mut(&key) {
                    l.syn_queue = l.syn_queue.saturating_sub(1);
                    l.accept_queue.push_back(h);
                }
            }
        }
        outcome
    }

    /// Runs every timer due at `now`.
    pub fn poll_timers(&mut self, now: Instant) {
        self.now = now;
        let mut fired = core::mem::take(&mut self.fired);
        self.wheel.advance(now, |owner| fired.push(owner));
        for &index in &fired {
            let Engine {
                table,
                config,
                events,
                challenge,
                ..
            } = self;
            let Some(c) = table.by_index_mut(index) else {
                continue;
            };
            let h = c.handle;
            let mut cx = Cx {
                now,
                config,
                events,
                challenge,
            };
            let outcome = c.on_timer(&mut cx);
            self.after(h, outcome);
        }
        fired.clear();
        self.fired = fired;
    }
}

/// Moves `c`'s timer to its earliest deadline, or leaves it where it is when it is armed for a
/// time after `now` and not after that deadline: when it fires, nothing of `c`'s is due,
/// [`Conn::on_timer`] does nothing and [`Engine::after`] arms it anew. A connection's earliest
/// deadline changes with nearly every segment (a delayed ACK on receipt, the retransmission
/// timeout on sending, 40 ms apart and back again per echo round): re-linked each time, the
/// wheel took 5 % of the echo's stack cost, which fell 4-5 % with this (695 against 722 ns per
/// transaction, medians of five runs, `cargo run --release -p mtcp-apps --example stackcost`).
pub(crate) fn rearm(wheel: &mut TimerWheel, c: &Conn, now: Instant) {
    match c.next_deadline() {
        Some(t) if wheel.deadline(c.timer).is_some_and(|d| d <= t && d > now) => {}
        Some(t) => wheel.arm(c.timer, t),
        None => wheel.cancel(c.timer),
    }
}

/// A direction that will carry no more data gives its buffer memory back at once (a closing
/// connection, one in TIME-WAIT, need not hold it until it is freed).
fn release_finished_buffers(c: &mut Conn, pool: &mut RingPool) {
    if c.snd.fin_queued {
        // Empty means every byte was acknowledged too: the ring holds unacknowledged data.
        c.send_buf.release_into(pool);
    }
    if c.rcv.fin_rcvd && c.assembler.is_empty() {
        c.recv_buf.release_into(pool);
    }
}
