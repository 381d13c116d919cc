//! Engine configuration.

use crate::cc::CcAlgorithm;
use crate::time::Duration;

/// The smallest MSS over IPv6: 1280, the least MTU of an IPv6 link, less 60 bytes of headers.
pub const IPV6_MIN_MSS: u16 = 1220;

/// Keepalive parameters (RFC 9293 §3.8.4; off by default as the RFC requires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection times out.
    pub probes: u32,
}

/// Tunables shared by every connection of an engine.
#[derive(Clone, Debug)]
pub struct Config {
    /// IP MTU of the link; our MSS is `mtu - 40` over IPv4, `mtu - 60` (1220 at least) over
    /// IPv6, and the peer's is clamped to it.
    pub mtu: u16,
    /// Send buffer size in bytes (memory is taken as data is queued, up to this).
    pub send_buffer_bytes: usize,
    /// Receive buffer size in bytes (memory is taken as data arrives, up to this).
    pub recv_buffer_bytes: usize,
    /// Cap on the buffer memory of all connections of the engine together (one core), in bytes;
    /// `usize::MAX` for none. Past it, arriving data is dropped (the peer retransmits) and
    /// `send` fails with [`Error::NoBuffers`](crate::Error::NoBuffers).
    pub max_buffer_bytes: usize,
    /// Spare buffer memory the engine keeps for new connections once a load has passed, in
    /// bytes (rounded down to whole 1 KiB pieces). Freed connections' first buffer pieces are
    /// kept for the next ones (up to an eighth of `max_buffer_bytes`, at most 4 MiB); what no
    /// connection took in a second is freed down to this floor.
    pub buffer_pool_floor_bytes: usize,
    /// Offer window scaling (RFC 7323).
    pub window_scaling: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Disable Nagle's algorithm on new connections.
    pub no_delay: bool,
    /// Congestion control for new connections.
    pub congestion_control: CcAlgorithm,
    /// RTO before the first RTT sample (RFC 6298: 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO. 200 ms by default, as Linux (RFC 6298 asks for 1 s; Linux'
    /// 200 ms has long proven safe): it must stay above the peer's delayed-ACK timer (40 ms
    /// here, up to 200 ms in Linux) or a delayed ACK of a lone segment looks like a loss. A
    /// lower value helps on a LAN whose peers ACK at once (RACK and tail loss probes, not the
    /// RTO, should recover most losses anyway).
    pub min_rto: Duration,
    /// Upper bound of the RTO.
    pub max_rto: Duration,
    /// Retransmissions of a data segment (or FIN) before the connection times out.
    pub max_retries: u32,
    /// Retransmissions of a SYN or SYN-ACK before giving up.
    pub syn_retries: u32,
    /// Longest an ACK may be delayed (RFC 9293: below 0.5 s).
    pub delayed_ack: Duration,
    /// Keepalive, off when `None`.
    pub keepalive: Option<Keepalive>,
    /// Length of TIME-WAIT (2 MSL).
    pub time_wait: Duration,
    /// Longest a connection the application closed waits in FIN-WAIT-2 for the peer's FIN
    /// (Linux's `tcp_fin_timeout`); `None`: as long as TIME-WAIT. Until it ends, the peer's late
    /// ACKs and its FIN find the connection instead of drawing a RST, so a socket layer that
    /// shortens TIME-WAIT (mTCP's `tcp_timewait = 0`) should keep this long.
    pub fin_wait2_timeout: Option<Duration>,
    /// Abort connections silent for this long, off when `None`.
    pub idle_timeout: Option<Duration>,
    /// Challenge ACKs (RFC 5961) allowed per second, engine-wide.
    pub challenge_ack_limit: u32,
    /// Answer with SYN cookies (RFC 4987) when a listener's SYN queue is full.
    pub syn_cookies: bool,
    /// Most connections the engine holds at once.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mtu: 1500,
            send_buffer_bytes: 256 * 1024,
            recv_buffer_bytes: 256 * 1024,
            max_buffer_bytes: usize::MAX,
            buffer_pool_floor_bytes: 64 * 1024,
            window_scaling: true,
            sack: true,
            timestamps: true,
            no_delay: false,
            congestion_control: CcAlgorithm::Cubic,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            max_retries: 15,
            syn_retries: 6,
            delayed_ack: Duration::from_millis(40),
            keepalive: None,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: None,
            idle_timeout: None,
            challenge_ack_limit: 1000,
            syn_cookies: true,
            max_connections: 65_536,
        }
    }
}

/// Settings of one connection: the socket options a socket layer sets before `connect` or
/// `listen` (accepted connections take their listener's). [`Config::conn_options`] gives the
/// engine-wide defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnOptions {
    /// Send buffer size (SO_SNDBUF).
    pub send_buffer_bytes: usize,
    /// Receive buffer size (SO_RCVBUF); it also sets the window scale we offer.
    pub recv_buffer_bytes: usize,
    /// Disable Nagle's algorithm (TCP_NODELAY).
    pub no_delay: bool,
    /// Keepalive (SO_KEEPALIVE), off when `None`.
    pub keepalive: Option<Keepalive>,
    /// Congestion control (TCP_CONGESTION).
    pub congestion_control: CcAlgorithm,
}

/// The window scale shift that covers a receive buffer of `recv_buffer_bytes`.
pub(crate) fn window_shift_for(recv_buffer_bytes: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (recv_buffer_bytes >> shift) > 65_535 {
        shift += 1;
    }
    shift
}

impl Config {
    /// The per-connection settings a connection gets unless told otherwise.
    pub fn conn_options(&self) -> ConnOptions {
        ConnOptions {
            send_buffer_bytes: self.send_buffer_bytes,
            recv_buffer_bytes: self.recv_buffer_bytes,
            no_delay: self.no_delay,
            keepalive: self.keepalive,
            congestion_control: self.congestion_control,
        }
    }

    /// Our MSS over IPv4: the MTU minus 40 bytes of IPv4 and TCP headers.
    pub fn local_mss(&self) -> u16 {
        self.mtu.saturating_sub(40).max(64)
    }
    /// Our MSS over IPv6 (`ipv6`) or IPv4: over IPv6 the MTU minus 60 bytes of IPv6 and TCP
    /// headers, never under 1220 (IPv6 links carry 1280 bytes, RFC 8200 §5).
    pub fn local_mss_for(&self, ipv6: bool) -> u16 {
        if ipv6 {
            self.mtu.saturating_sub(60).max(IPV6_MIN_MSS)
        } else {
            self.local_mss()
        }
    }
    /// The window scale shift we offer: the smallest shift that covers the receive buffer.
    pub fn local_window_shift(&self) -> u8 {
        window_shift_for(self.recv_buffer_bytes)
    }
}
