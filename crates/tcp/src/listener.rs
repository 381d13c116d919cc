//! Listeners: passive opens with a SYN queue and an accept queue bounded by the backlog (and all
//! together by `Engine::set_accept_room`), SYN cookies when the SYN queue is full, SYNs dropped
//! when the accept queue is full, and RSTs for segments nobody listens to.
//!
//! Listeners are keyed by port and family ([`ListenerKey`]), as Linux binds them: an IPv4
//! listener and an IPv6 one that takes IPv6 only (`IPV6_V6ONLY`) share a port; a dual-stack one
//! (on `::`, taking IPv4 too) shares it with no IPv4 listener.

use alloc::collections::VecDeque;
use core::net::{IpAddr, Ipv6Addr};

use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use crate::config::{Config, ConnOptions, window_shift_for};

use crate::conn::{Conn, Cx, Outcome};
use crate::engine::{Control, Engine};
use crate::isn::FourTuple;
use crate::state::Error;
use crate::table::Handle;
use crate::time::Instant;

/// Which listener: its port and its family. An IPv4 listener and an IPv6-only one may listen on
/// one port; a dual-stack IPv6 listener (on `::`, `IPV6_V6ONLY` off) is keyed as IPv6 and also
/// takes the port's IPv4 connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerKey {
    /// The port it listens on.
    pub port: u16,
    /// The listener's address is IPv6.
    pub ipv6: bool,
}

impl ListenerKey {
    /// The key of a listener on `addr`, `port`.
    pub fn new(addr: IpAddr, port: u16) -> ListenerKey {
        ListenerKey {
            port,
            ipv6: addr.is_ipv6(),
        }
    }

    fn family(self, ipv6: bool) -> ListenerKey {
        ListenerKey { ipv6, ..self }
    }
}

#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) addr: IpAddr,
    /// An IPv6 listener on `::` takes IPv6 connections only (IPV6_V6ONLY), not IPv4 ones too.
    pub(crate) v6only: bool,
    pub(crate) backlog: usize,
    pub(crate) syn_queue: usize,
    pub(crate) accept_queue: VecDeque<Handle>,
    /// What accepted connections are created with.
    pub(crate) opts: ConnOptions,
}

impl Listener {
    /// Whether a connection to our address `local` belongs to this listener.
    fn takes(&self, local: IpAddr) -> bool {
        match self.addr {
            IpAddr::V4(a) if a.is_unspecified() => local.is_ipv4(),
            IpAddr::V6(a) if a.is_unspecified() => local.is_ipv6() || !self.v6only,
            a => a == local,
        }
    }

    /// Whether this listener (IPv6, on `::`, dual stack) also takes IPv4 connections.
    fn takes_ipv4(&self) -> bool {
        matches!(self.addr, IpAddr::V6(a) if a.is_unspecified() && !self.v6only)
    }
}

impl Engine {
    /// Accepts connections to `port` on `addr`; at most `backlog` half-open and `backlog`
    /// unaccepted connections are held. `0.0.0.0` takes any IPv4 address; `::` takes any IPv6
    /// address and any IPv4 address too (dual stack, as Linux with `IPV6_V6ONLY` off; see
    /// [`Engine::set_v6only`]).
    pub fn listen(
        &mut self,
        addr: impl Into<IpAddr>,
        port: u16,
        backlog: usize,
    ) -> Result<(), Error> {
        let opts = self.config.conn_options();
        self.listen_with(addr, port, backlog, opts)
    }

    /// Whether the IPv6 listener on `port`, if it listens on `::`, takes IPv6 connections only
    /// (`IPV6_V6ONLY`); off by default. Turning it off while an IPv4 listener has the port fails
    /// with `AddrInUse`, as Linux refuses that pair.
    pub fn set_v6only(&mut self, port: u16, v6only: bool) -> Result<(), Error> {
        let key = ListenerKey { port, ipv6: true };
        let ipv4_taken = self.listeners.contains_key(&key.family(false));
        let l = self.listeners.get_mut(&key).ok_or(Error::InvalidHandle)?;
        if !v6only && ipv4_taken && l.addr == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            return Err(Error::AddrInUse);
        }
        l.v6only = v6only;
        Ok(())
    }

    /// [`Engine::listen`] whose accepted connections get `opts` (buffers, Nagle, keepalive).
    pub fn listen_with(
        &mut self,
        addr: impl Into<IpAddr>,
        port: u16,
        backlog: usize,
        opts: ConnOptions,
    ) -> Result<(), Error> {
        self.add_listener(addr.into(), port, backlog, opts, false)
    }

    /// [`Engine::listen_with`] on an IPv6 address, taking IPv6 connections only
    /// (`IPV6_V6ONLY`): on `::` it may share its port with an IPv4 listener.
    pub fn listen_v6only(
        &mut self,
        addr: Ipv6Addr,
        port: u16,
        backlog: usize,
        opts: ConnOptions,
    ) -> Result<(), Error> {
        self.add_listener(IpAddr::V6(addr), port, backlog, opts, true)
    }

    fn add_listener(
        &mut self,
        addr: IpAddr,
        port: u16,
        backlog: usize,
        opts: ConnOptions,
        v6only: bool,
    ) -> Result<(), Error> {
        let key = ListenerKey::new(addr, port);
        let backlog = backlog.max(1);
        let l = Listener {
            addr,
            v6only,
            backlog,
            syn_queue: 0,
            accept_queue: VecDeque::with_capacity(backlog),
            opts,
        };
        // The other family's listener on this port conflicts when either takes both families.
        let other = self.listeners.get(&key.family(!key.ipv6));
        let clash = other.is_some_and(|o| o.takes_ipv4() || l.takes_ipv4());
        if port == 0 || clash || self.listeners.contains_key(&key) {
            return Err(Error::AddrInUse);
        }
        self.listeners.insert(key, l);
        Ok(())
    }

    /// Stops listening on `port` (both families); unaccepted connections are reset.
    pub fn unlisten(&mut self, port: u16) -> Result<(), Error> {
        let v4 = self.unlisten_key(ListenerKey { port, ipv6: false });
        let v6 = self.unlisten_key(ListenerKey { port, ipv6: true });
        v4.or(v6)
    }

    /// Stops the listener `key`; its unaccepted connections are reset.
    pub fn unlisten_key(&mut self, key: ListenerKey) -> Result<(), Error> {
        let l = self.listeners.remove(&key).ok_or(Error::InvalidHandle)?;
        for h in l.accept_queue {
            let _ = self.abort(h);
        }
        Ok(())
    }

    /// Pops the oldest established connection waiting on a listener at `port`: the IPv4
    /// listener's first, then the IPv6 one's. [`Engine::accept_key`] takes one listener's.
    pub fn accept(&mut self, port: u16) -> Option<Handle> {
        self.accept_key(ListenerKey { port, ipv6: false })
            .or_else(|| self.accept_key(ListenerKey { port, ipv6: true }))
    }

    /// Pops the oldest established connection waiting on the listener `key`.
    pub fn accept_key(&mut self, key: ListenerKey) -> Option<Handle> {
        let h = self.listeners.get_mut(&key)?.accept_queue.pop_front()?;
        if let Some(c) = self.table.get_mut(h) {
            c.listener = None;
        }
        Some(h)
    }

    /// Whether any listener has `port`.
    pub(crate) fn port_listened(&self, port: u16) -> bool {
        self.listeners
            .contains_key(&ListenerKey { port, ipv6: false })
            || self
                .listeners
                .contains_key(&ListenerKey { port, ipv6: true })
    }

    /// The listener that takes a connection to `local`, `port`: the address's own family's, or
    /// for an IPv4 address a dual-stack IPv6 one.
    fn listener_for(&self, local: IpAddr, port: u16) -> Option<ListenerKey> {
        let own = ListenerKey::new(local, port);
        let dual = own.family(true);
        if self.listeners.get(&own).is_some_and(|l| l.takes(local)) {
            Some(own)
        } else if !own.ipv6 && self.listeners.get(&dual).is_some_and(|l| l.takes(local)) {
            Some(dual)
        } else {
            None
        }
    }

    pub(crate) fn segment_to_listener(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            return;
        }
        let Some(key) = self.listener_for(tuple.local_addr, tuple.local_port) else {
            self.reset_reply(tuple, seg);
            return;
        };
        if f.contains(TcpFlags::ACK) && !f.contains(TcpFlags::SYN) {
            self.cookie_ack(now, tuple, seg, key);
            return;
        }
        if !f.contains(TcpFlags::SYN) || f.contains(TcpFlags::ACK) {
            if f.contains(TcpFlags::ACK) {
                self.reset_reply(tuple, seg);
            }
            return;
        }
        let (_, established) = self.passive_waiting();
        let Some(l) = self.listeners.get(&key) else {
            return;
        };
        // As many established connections wait as the socket layer can take: drop the SYN
        // (the peer retries), as Linux does with a full accept queue.
        if established >= self.accept_room {
            return;
        }
        if l.syn_queue >= l.backlog || self.table.len() >= self.config.max_connections {
            if self.config.syn_cookies && l.accept_queue.len() < l.backlog {
                let opts = l.opts;
                self.cookie_syn_ack(now, tuple, seg, &opts);
            }
            return;
        }
        let opts = l.opts;
        self.open_from_syn(now, tuple, seg, key, &opts);
    }

    /// Answers a SYN that finds the queues full with a SYN-ACK whose sequence number is a
    /// cookie: no state is kept until the cookie comes back in an ACK ([`Self::cookie_ack`]).
    fn cookie_syn_ack(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
        opts: &ConnOptions,
    ) {
        let local_mss = self.config.local_mss_for(tuple.is_ipv6());
        let absent = crate::options::default_mss(tuple.is_ipv6());
        let mss = seg.options.mss.unwrap_or(absent).min(local_mss);
        let cookie = self.secret.cookie(&tuple, seg.seq_number, mss, now);
        let window = opts.recv_buffer_bytes.min(65_535) as u16;
        let shift = window_shift_for(opts.recv_buffer_bytes);
        let options = cookie_options(&self.config, local_mss, shift, &seg.options, now);
        self.push_control(Control {
            src: tuple.local_addr,
            dst: tuple.remote_addr,
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq: cookie,
            ack: seg.seq_number + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window,
            options,
        });
    }

    /// A connection in SYN-RECEIVED for the SYN `seg`, counted in listener `key`'s SYN queue.
    fn open_from_syn(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
        key: ListenerKey,
        opts: &ConnOptions,
    ) {
        let Ok(h) = self.create(tuple, now, opts) else {
            return;
        };
        if let Some((c, mut cx)) = self.conn_cx(h, now) {
            c.open_passive(&mut cx, seg, key);
        }
        if let Some(l) = self.listeners.get_mut(&key) {
            l.syn_queue += 1;
        }
        self.after(h, Outcome::Keep);
    }

    /// Connection `h` with the context its handlers run in.
    fn conn_cx(&mut self, h: Handle, now: Instant) -> Option<(&mut Conn, Cx<'_>)> {
        let Engine {
            table,
            config,
            events,
            challenge,
            ..
        } = self;
        let c = table.get_mut(h)?;
        Some((
            c,
            Cx {
                now,
                config,
                events,
                challenge,
            },
        ))
    }

    fn cookie_ack(&mut self, now: Instant, tuple: FourTuple, seg: &TcpRepr<'_>, key: ListenerKey) {
        let mss = if self.config.syn_cookies {
            self.secret
                .check_cookie(&tuple, seg.seq_number, seg.ack_number + u32::MAX, now)
        } else {
            None
        };
        let Some(mss) = mss else {
            self.reset_reply(tuple, seg);
            return;
        };
        // A full accept queue drops the ACK (the peer retransmits it), as Linux does.
        let (_, established) = self.passive_waiting();
        let Some(opts) = self
            .listeners
            .get(&key)
            .filter(|l| l.accept_queue.len() < l.backlog && established < self.accept_room)
            .map(|l| l.opts)
        else {
            return;
        };
        let Ok(h) = self.create(tuple, now, &opts) else {
            return;
        };
        if let Some((c, mut cx)) = self.conn_cx(h, now) {
            // Recreate with the ISN the cookie stood for.
            c.snd.iss = seg.ack_number + u32::MAX;
            c.open_from_cookie(&mut cx, seg, mss, key);
            // Data on the ACK is processed like on any established connection.
            if !seg.payload.is_empty() || seg.flags.contains(TcpFlags::FIN) {
                let _ = c.on_segment(&mut cx, seg);
            }
        }
        if let Some(l) = self.listeners.get_mut(&key) {
            l.accept_queue.push_back(h);
        }
        self.after(h, Outcome::Keep);
    }

    /// Passive connections waiting for `accept`, over all listeners: (half-open, established).
    /// Half-open ones are bounded by each backlog; their handshake's last ACK is ignored while
    /// the established ones reach the accept room (`segment_to_conn`).
    fn passive_waiting(&self) -> (usize, usize) {
        self.listeners.values().fold((0, 0), |(h, e), l| {
            (h + l.syn_queue, e + l.accept_queue.len())
        })
    }

    /// RFC 9293 §3.10.7.1: answer a segment for no connection with a RST.
    fn reset_reply(&mut self, tuple: FourTuple, seg: &TcpRepr<'_>) {
        let (seq, ack, flags) = if seg.flags.contains(TcpFlags::ACK) {
            (seg.ack_number, SeqNumber(0), TcpFlags::RST)
        } else {
            let len = seg.payload.len() as u32
                + u32::from(seg.flags.contains(TcpFlags::SYN))
                + u32::from(seg.flags.contains(TcpFlags::FIN));
            (
                SeqNumber(0),
                seg.seq_number + len,
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        self.push_control(Control {
            src: tuple.local_addr,
            dst: tuple.remote_addr,
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq,
            ack,
            flags,
            window: 0,
            options: TcpOptions::default(),
        });
    }
}

/// Low TSval bits of a cookie SYN-ACK that carry the peer's SYN options (as Linux):
/// bits 0-3 the peer's window shift (15 = none), bit 4 SACK permitted.
const TS_OPTION_BITS: u32 = 0x3f;

/// Options of a cookie SYN-ACK. With timestamps, the options that do not fit in the cookie
/// travel in our TSval, which the peer echoes in the final ACK.
fn cookie_options(
    config: &Config,
    local_mss: u16,
    our_shift: u8,
    syn: &TcpOptions,
    now: Instant,
) -> TcpOptions {
    let mut o = TcpOptions {
        mss: Some(local_mss),
        ..TcpOptions::default()
    };
    let Some(peer_ts) = syn.timestamps.filter(|_| config.timestamps) else {
        return o;
    };
    let wscale = syn.window_scale.filter(|_| config.window_scaling);
    let sack = config.sack && syn.sack_permitted;
    let bits = u32::from(wscale.map_or(15, |s| s.min(14))) | (u32::from(sack) << 4);
    let clock = now.0 as u32;
    let mut tsval = (clock & !TS_OPTION_BITS) | bits;
    if tsval > clock {
        tsval = tsval.wrapping_sub(TS_OPTION_BITS + 1);
    }
    o.timestamps = Some(Timestamps {
        tsval,
        tsecr: peer_ts.tsval,
    });
    if wscale.is_some() {
        o.window_scale = Some(our_shift);
    }
    o.sack_permitted = sack;
    o
}

/// The SYN options a cookie ACK's TSecr brings back (none without timestamps).
pub(crate) fn cookie_syn_options(ack: &TcpRepr<'_>, mss: u16) -> TcpOptions {
    let mut o = TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    };
    if let Some(ts) = ack.options.timestamps {
        let bits = ts.tsecr & TS_OPTION_BITS;
        let shift = (bits & 0xf) as u8;
        o.window_scale = (shift != 15).then_some(shift);
        o.sack_permitted = bits & 0x10 != 0;
        o.timestamps = Some(Timestamps {
            tsval: ts.tsval,
            tsecr: 0,
        });
    }
    o
}
