//! Connection states (RFC 9293 §3.3.2) and the public per-connection types.

use crate::time::Duration;

/// The state of a connection. `Listen` belongs to listeners, never to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN (listeners only).
    Listen,
    /// Our SYN is out, waiting for the peer's.
    SynSent,
    /// Both SYNs seen, waiting for the ACK of ours.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; lingering so that old duplicates die out.
    TimeWait,
}

impl State {
    /// Whether the three-way handshake completed (RFC 9293 "synchronized" states).
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
    /// Whether we may still queue data to send.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }
    /// Whether the peer may still send us data.
    pub fn can_receive(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }
}

/// Why a connection ended abnormally, or why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The handle does not name a live connection (or listener).
    InvalidHandle,
    /// Nothing can be done now; wait for an event.
    WouldBlock,
    /// The call is not allowed in the connection's state (e.g. send after shutdown).
    InvalidState,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions, keepalives or the idle timer gave up.
    TimedOut,
    /// The port is already in use.
    AddrInUse,
    /// The connection table is full.
    TooManyConnections,
    /// The engine's buffer memory cap ([`Config::max_buffer_bytes`](crate::Config)) is reached.
    NoBuffers,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::InvalidHandle => "invalid connection handle",
            Error::WouldBlock => "operation would block",
            Error::InvalidState => "operation not allowed in this state",
            Error::Reset => "connection reset by peer",
            Error::TimedOut => "connection timed out",
            Error::AddrInUse => "address in use",
            Error::TooManyConnections => "too many connections",
            Error::NoBuffers => "no buffer memory left (the engine's buffer cap is reached)",
        })
    }
}

impl core::error::Error for Error {}

/// What happened to a connection, reported through `Engine::events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The handshake completed (for passive opens: the connection is ready for `accept`).
    Connected,
    /// New data (or the peer's FIN) can be read.
    Readable,
    /// Send buffer space became free.
    Writable,
    /// The connection closed normally and its handle is now invalid.
    Closed,
    /// The peer reset the connection; the handle is now invalid.
    Reset,
    /// The connection failed; the handle is now invalid.
    Error(Error),
}

/// Per-connection statistics, after Linux `tcp_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// Current state.
    pub state: State,
    /// Smoothed RTT.
    pub rtt: Duration,
    /// RTT variance.
    pub rttvar: Duration,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Slow start threshold in bytes.
    pub ssthresh: u32,
    /// MSS we send with.
    pub snd_mss: u32,
    /// Peer's window in bytes.
    pub snd_wnd: u32,
    /// Bytes sent but not acknowledged (SYN and FIN count one each).
    pub unacked: u32,
    /// Bytes written by the application and not yet sent (`tcpi_notsent_bytes`): held back by
    /// the peer's window, congestion control or Nagle. A sender that must outlive its data
    /// (before its stack stops) waits for this and `unacked` to reach 0, and for the FIN's ACK.
    pub notsent: u32,
    /// Consecutive RTO expirations without progress.
    pub retransmits: u32,
    /// Retransmitted segments over the whole life.
    pub total_retrans: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Retransmission timeouts over the whole life.
    pub timeouts: u64,
    /// Fast recoveries entered (duplicate ACKs, SACK or a SACKed tail loss probe).
    pub fast_recoveries: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_probes: u64,
    /// Retransmissions found lost again by later SACKs (and resent without a timeout).
    pub lost_retransmits: u64,
    /// D-SACK blocks received (RFC 2883): the peer got something twice.
    pub dsacks: u64,
    /// Congestion responses undone because every retransmission proved spurious.
    pub undos: u64,
    /// Pacing rate in bytes per second (`tcpi_pacing_rate`); 0 when not paced.
    pub pacing_rate: u64,
    /// Milliseconds (clock ticks) in which the output path found data ready to send held back
    /// by the peer's window (Linux `tcpi_rwnd_limited`, there in µs of time; here a tick counts
    /// when the output path ran in it, after a write, an ACK or a timer).
    pub rwnd_limited_ms: u64,
    /// Ticks in which data waited for the congestion window outside a recovery.
    pub cwnd_limited_ms: u64,
    /// Ticks in which data waited for the congestion window (or PRR's share of it) in a
    /// recovery.
    pub recovery_limited_ms: u64,
    /// Ticks in which data waited for pacing credit.
    pub pacing_limited_ms: u64,
    /// BBR's pacing gain in thousandths (2885 in STARTUP, 346 in DRAIN, 1250/750/1000 in
    /// PROBE_BW, 1000 in PROBE_RTT; Linux's `tcp_bbr_info.bbr_pacing_gain` in 1/256); 0 for
    /// an algorithm without one.
    pub pacing_gain: u32,
    /// BBR's cwnd gain in thousandths (2885 in STARTUP and DRAIN, 2000 in PROBE_BW, 1000 in
    /// PROBE_RTT); 0 for an algorithm without one.
    pub cwnd_gain: u32,
    /// Whether timestamps, SACK and window scaling were negotiated.
    pub timestamps: bool,
    /// SACK negotiated.
    pub sack: bool,
    /// Window scaling negotiated.
    pub window_scaling: bool,
}

impl TcpInfo {
    /// Whether something written (data or our FIN) is not yet acknowledged by the peer: sent and
    /// unacknowledged, still unsent (held back by a closed window, congestion control or Nagle;
    /// `unacked` alone misses it), or a queued FIN not yet acknowledged.
    pub fn undelivered(&self) -> bool {
        self.unacked > 0
            || self.notsent > 0
            || matches!(
                self.state,
                State::FinWait1 | State::Closing | State::LastAck
            )
    }
}
