//! The transmission control block: one connection's variables (RFC 9293 §3.3.1) and its timers.
//!
//! Segment arrival lives in `input.rs`, segment building in `output.rs`.

use alloc::boxed::Box;
use alloc::collections::VecDeque;

use mtcp_wire::tcp::SeqNumber;

use crate::assembler::Assembler;
use crate::cc::{CcAlgorithm, CongestionControl};
use crate::config::{Config, ConnOptions, Keepalive};
use crate::isn::FourTuple;
use crate::ring::RingBuffer;
use crate::rtt::RttEstimator;
use crate::sack::Scoreboard;
use crate::state::{Error, Event, State, TcpInfo};
use crate::table::Handle;
use crate::time::{Duration, Instant};
use crate::timer::TimerId;

/// Engine-wide state a connection needs while it processes input or timers.
pub(crate) struct Cx<'a> {
    pub now: Instant,
    pub config: &'a Config,
    pub events: &'a mut VecDeque<(Handle, Event)>,
    pub challenge: &'a mut RateLimiter,
}

/// Engine-wide budget of challenge ACKs per second (RFC 5961 §7).
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    second: u64,
    used: u32,
}

impl RateLimiter {
    pub fn allow(&mut self, now: Instant, limit: u32) -> bool {
        let s = now.0 / 1000;
        if s != self.second {
            self.second = s;
            self.used = 0;
        }
        if self.used < limit {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

/// What the engine must do with a connection after it processed something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Keep,
    /// Free the connection (its final event was queued).
    Delete,
    /// TIME-WAIT ended by a new SYN: free it and hand the SYN to the listener (RFC 9293 §3.6.1).
    Reopen,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    pub total_retrans: u64,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    pub timeouts: u64,
    pub fast_recoveries: u64,
    pub tail_probes: u64,
    pub lost_retransmits: u64,
    pub dsacks: u64,
    pub undos: u64,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub handle: Handle,
    pub state: State,
    pub tuple: FourTuple,
    /// Listener port while this passive connection is not yet accepted.
    pub listener: Option<u16>,
    /// Counted in the listener's SYN queue (half-open, passive).
    pub in_syn_queue: bool,
    pub timer: TimerId,
    pub dirty: bool,

    // Send sequence space.
    pub iss: SeqNumber,
    pub snd_una: SeqNumber,
    pub snd_nxt: SeqNumber,
    pub snd_max: SeqNumber,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wl1: SeqNumber,
    pub snd_wl2: SeqNumber,
    pub send_buf: RingBuffer,
    /// The user shut down the sending side: a FIN follows the buffered data.
    pub fin_queued: bool,
    /// The user called `close` (not just `shutdown_write`): FIN-WAIT-2 is bounded.
    pub user_closed: bool,
    /// Sequence number of our FIN once it was sent.
    pub fin_seq: Option<SeqNumber>,
    pub snd_mss: u32,
    pub nodelay: bool,

    // Receive sequence space.
    pub irs: SeqNumber,
    pub rcv_nxt: SeqNumber,
    /// Right edge of the window we advertised last (never moved left).
    pub rcv_adv: SeqNumber,
    /// RCV.NXT of the last ACK we sent (RFC 7323 Last.ACK.sent).
    pub last_ack_sent: SeqNumber,
    pub recv_buf: RingBuffer,
    pub assembler: Assembler,
    pub fin_rcvd: bool,
    /// Sequence number of a FIN that arrived ahead of missing data.
    pub ooo_fin: Option<SeqNumber>,
    /// A duplicate segment's range, reported once as the first SACK block (D-SACK, RFC 2883).
    pub dsack: Option<(SeqNumber, SeqNumber)>,

    // Options.
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub wscale_ok: bool,
    pub sack_ok: bool,
    pub ts_ok: bool,
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// Whether the peer's SYN offered these (for SYN-ACK building).
    pub peer_offered_ts: bool,

    // RTT, congestion control, recovery.
    pub rtt: RttEstimator,
    /// Karn timing without timestamps: (end sequence, send time).
    pub rtt_probe: Option<(SeqNumber, Instant)>,
    pub cc: Box<dyn CongestionControl>,
    /// Which algorithm `cc` is (rebuilt once the MSS is negotiated).
    pub cc_algorithm: CcAlgorithm,
    pub dupacks: u32,
    /// Most bytes in flight since the last ACK: cwnd only grows when it was the limit (RFC 7661).
    pub flight_peak: u32,
    /// Fast recovery is active until this sequence number is acknowledged.
    pub recovery: Option<SeqNumber>,
    /// Highest retransmitted sequence number in the current recovery.
    pub high_rxt: SeqNumber,
    /// A fast retransmit of `snd_una` is due.
    pub fast_rexmit: bool,
    /// After an RTO, duplicate ACKs below this do not start fast recovery.
    pub rto_recover: Option<SeqNumber>,
    /// The current recovery began with an RTO (SACK connections): every un-SACKed byte below
    /// the recovery point counts as lost, and cwnd grows by slow start meanwhile.
    pub rto_recovery: bool,
    /// Proportional rate reduction (RFC 6937) in a SACK fast recovery: bytes delivered to the
    /// peer and bytes sent since recovery began, the flight size then, and what may be sent now.
    pub prr_delivered: u32,
    pub prr_out: u32,
    pub recover_fs: u32,
    pub prr_sndcnt: u32,
    pub scoreboard: Scoreboard,
    /// Tail loss probe (RFC 8985 §7) deadline.
    pub tlp_at: Option<Instant>,
    /// A probe is due now.
    pub tlp_now: bool,
    /// A probe is outstanding: `snd_max` just after it was sent. SACK of it proves every hole
    /// below it lost (it left a PTO after them).
    pub tlp_out: Option<SeqNumber>,
    /// Retransmissions of the last fast recovery not yet reported as duplicates by a D-SACK;
    /// `None` once undone or after an RTO. At zero every one was spurious: undo (RFC 3708).
    pub undo_retrans: Option<u32>,
    /// The TSval of the first retransmission after a timeout: an ACK echoing an older one
    /// acknowledges the original, and the timeout was spurious (Eifel, RFC 3522).
    pub rto_undo_tsval: Option<u32>,
    /// Bytes delivered to the peer (cumulatively acknowledged or SACKed) since the start.
    pub delivered: u64,
    /// Pacing (when the congestion control sets a rate): bytes that may leave now, and when
    /// the credit was last topped up.
    pub pace_credit: u64,
    pub pace_stamp: Instant,

    // Timers (deadlines; the engine arms one wheel node for the earliest).
    pub rto_at: Option<Instant>,
    /// Pacing held a segment back: try again then.
    pub pace_at: Option<Instant>,
    pub delack_at: Option<Instant>,
    pub persist_at: Option<Instant>,
    pub keepalive_at: Option<Instant>,
    pub timewait_at: Option<Instant>,
    pub idle_at: Option<Instant>,
    pub retries: u32,
    pub persist_backoff: u32,
    pub keepalive_sent: u32,

    // Pending output.
    pub ack_now: bool,
    pub rst_now: bool,
    /// Answer an unacceptable ACK with a bare RST carrying this sequence number.
    pub rst_reply: Option<SeqNumber>,
    /// Send a segment with `snd_una - 1` to elicit an ACK (zero-window or keepalive probe).
    pub probe_now: bool,
    /// The persist timer expired with a small usable window: send what fits (SWS override).
    pub force_send: bool,
    /// This connection's keepalive (SO_KEEPALIVE), off when `None`.
    pub keepalive: Option<Keepalive>,
    pub segs_unacked: u32,
    pub writable_wanted: bool,
    pub stats: Stats,
}

impl Conn {
    /// A connection in `Closed` state ready for `open_active` / `open_passive`.
    pub fn new(
        handle: Handle,
        tuple: FourTuple,
        timer: TimerId,
        iss: SeqNumber,
        config: &Config,
        opts: &ConnOptions,
        now: Instant,
    ) -> Conn {
        let mss = u32::from(config.local_mss());
        let ts_offset = iss.0.rotate_left(13);
        Conn {
            handle,
            state: State::Closed,
            tuple,
            listener: None,
            in_syn_queue: false,
            timer,
            dirty: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            send_buf: RingBuffer::new(opts.send_buffer_bytes),
            fin_queued: false,
            user_closed: false,
            fin_seq: None,
            snd_mss: mss.min(536),
            nodelay: opts.no_delay,
            keepalive: opts.keepalive,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            last_ack_sent: SeqNumber(0),
            recv_buf: RingBuffer::new(opts.recv_buffer_bytes),
            assembler: Assembler::new(),
            fin_rcvd: false,
            ooo_fin: None,
            dsack: None,
            snd_wscale: 0,
            rcv_wscale: 0,
            wscale_ok: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_offset,
            peer_offered_ts: false,
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            rtt_probe: None,
            cc: opts.congestion_control.build(mss),
            cc_algorithm: opts.congestion_control,
            dupacks: 0,
            flight_peak: 0,
            recovery: None,
            high_rxt: iss,
            fast_rexmit: false,
            rto_recover: None,
            rto_recovery: false,
            prr_delivered: 0,
            prr_out: 0,
            recover_fs: 0,
            prr_sndcnt: 0,
            scoreboard: Scoreboard::default(),
            tlp_at: None,
            tlp_now: false,
            tlp_out: None,
            undo_retrans: None,
            rto_undo_tsval: None,
            delivered: 0,
            pace_credit: 0,
            pace_stamp: now,
            rto_at: None,
            pace_at: None,
            delack_at: None,
            persist_at: None,
            keepalive_at: None,
            timewait_at: None,
            idle_at: config.idle_timeout.map(|d| now + d),
            retries: 0,
            persist_backoff: 0,
            keepalive_sent: 0,
            ack_now: false,
            rst_now: false,
            rst_reply: None,
            probe_now: false,
            force_send: false,
            segs_unacked: 0,
            writable_wanted: false,
            stats: Stats::default(),
        }
    }

    pub fn push_event(&self, cx: &mut Cx<'_>, ev: Event) {
        cx.events.push_back((self.handle, ev));
    }

    /// First sequence number of the data stream.
    pub fn data_start(&self) -> SeqNumber {
        self.iss + 1
    }
    /// Sequence number of the first byte in the send buffer.
    pub fn buf_start(&self) -> SeqNumber {
        // Before our SYN is acknowledged snd_una is the ISS, one short of the data. Compare by
        // identity, not by sequence order: order wraps after 2^31 bytes and would then stall.
        let s = if self.snd_una == self.iss {
            self.data_start()
        } else {
            self.snd_una
        };
        match self.fin_seq {
            Some(f) if f < s => f,
            _ => s,
        }
    }
    /// Sequence number just past the buffered data (where a FIN goes).
    pub fn data_end(&self) -> SeqNumber {
        self.buf_start() + self.send_buf.len() as u32
    }
    /// Whether our FIN has been sent at least once.
    pub fn fin_sent(&self) -> bool {
        self.fin_seq.is_some()
    }
    /// Whether our FIN is acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| f < self.snd_una)
    }
    /// Bytes sent and not yet acknowledged.
    pub fn outstanding(&self) -> u32 {
        (self.snd_max - self.snd_una).max(0) as u32
    }
    /// Buffered bytes never sent yet (beyond `snd_max`).
    pub fn not_sent(&self) -> u32 {
        let sent_to = if self.snd_max > self.buf_start() {
            self.snd_max
        } else {
            self.buf_start()
        };
        (self.data_end() - sent_to).max(0) as u32
    }
    /// The TSval we send now.
    pub fn tsval(&self, now: Instant) -> u32 {
        (now.0 as u32).wrapping_add(self.ts_offset)
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.rto_at,
            self.tlp_at,
            self.pace_at,
            self.delack_at,
            self.persist_at,
            self.keepalive_at,
            self.timewait_at,
            self.idle_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn touch(&mut self, config: &Config, now: Instant) {
        if let Some(d) = config.idle_timeout {
            self.idle_at = Some(now + d);
        }
        if let Some(k) = self.keepalive {
            if self.state.is_synchronized() && self.state != State::TimeWait {
                self.keepalive_at = Some(now + k.idle);
                self.keepalive_sent = 0;
            }
        }
    }

    pub fn arm_rto(&mut self, now: Instant) {
        self.rto_at = Some(now + self.rtt.rto());
    }

    /// Whether proportional rate reduction paces sending now: a SACK fast recovery (not one
    /// begun by an RTO, which slow-starts).
    pub fn prr_active(&self) -> bool {
        self.sack_ok && self.recovery.is_some() && !self.rto_recovery && self.cc.reduces_on_loss()
    }

    /// Schedules a tail loss probe (RFC 8985 §7.2) two smoothed RTTs (at least 2 ms, as Linux's
    /// `TCP_TIMEOUT_MIN`: the clock's tick either side) from now,
    /// when one may be sent: SACK in use, outside recovery, no probe outstanding, more than one
    /// segment in flight (a lone segment may wait for a delayed ACK: the RTO covers it) and the
    /// probe would come before the RTO.
    pub fn schedule_tlp(&mut self, now: Instant) {
        if self.recovery.is_some() {
            // `tlp_at` is RACK's reordering timer then (`detect_lost_rexmits`).
            return;
        }
        self.tlp_at = None;
        let srtt = self.rtt.srtt().0;
        if !self.sack_ok
            || !self.state.is_synchronized()
            || self.tlp_out.is_some()
            || srtt == 0
            || self.outstanding() <= self.snd_mss
        {
            return;
        }
        let at = now + Duration((2 * srtt).max(2));
        if self.rto_at.is_some_and(|r| at < r) {
            self.tlp_at = Some(at);
        }
    }

    /// Forgets any tail loss probe: scheduled, due or outstanding.
    pub fn cancel_tlp(&mut self) {
        self.tlp_at = None;
        self.tlp_now = false;
        self.tlp_out = None;
    }

    pub fn enter_time_wait(&mut self, cx: &mut Cx<'_>) {
        self.state = State::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.idle_at = None;
        self.timewait_at = Some(cx.now + cx.config.time_wait);
    }

    /// Ends the connection with `ev`, optionally telling the peer with a RST.
    pub fn fail(&mut self, cx: &mut Cx<'_>, ev: Event, send_rst: bool) -> Outcome {
        self.push_event(cx, ev);
        self.rst_now = send_rst;
        self.state = State::Closed;
        Outcome::Delete
    }

    /// Handles every expired deadline.
    pub fn on_timer(&mut self, cx: &mut Cx<'_>) -> Outcome {
        let now = cx.now;
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timewait_at) {
            self.timewait_at = None;
            self.state = State::Closed;
            self.push_event(cx, Event::Closed);
            return Outcome::Delete;
        }
        if due(self.idle_at) {
            self.idle_at = None;
            return self.fail(cx, Event::Error(Error::TimedOut), true);
        }
        if due(self.rto_at) {
            self.rto_at = None;
            if let Outcome::Delete = self.on_rto(cx) {
                return Outcome::Delete;
            }
        }
        if due(self.tlp_at) {
            self.tlp_at = None;
            if self.recovery.is_some() && self.sack_ok {
                // In a recovery `tlp_at` is RACK's reordering timer (RFC 8985 §6.3).
                self.detect_lost_rexmits(now);
            } else if self.recovery.is_none() && self.tlp_out.is_none() && self.outstanding() > 0 {
                if self.scoreboard.highest().is_some() {
                    // RACK (RFC 8985 §6.2): data sent after the holes was delivered and the
                    // holes are older than two smoothed RTTs: they are lost. (A probe would
                    // only resend a SACKed segment.)
                    self.enter_recovery(now);
                } else {
                    self.tlp_now = true;
                }
            }
        }
        if due(self.pace_at) {
            // The engine dispatches this connection again after any timer.
            self.pace_at = None;
        }
        if due(self.delack_at) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if due(self.persist_at) {
            self.persist_at = None;
            if self.data_end() > self.snd_nxt && self.snd_una == self.snd_max {
                if self.snd_wnd == 0 {
                    self.probe_now = true;
                } else {
                    self.force_send = true;
                }
                self.persist_backoff = (self.persist_backoff + 1).min(12);
                let wait =
                    Duration((self.rtt.rto().0 << self.persist_backoff).min(cx.config.max_rto.0));
                self.persist_at = Some(now + wait);
            }
        }
        if due(self.keepalive_at) {
            self.keepalive_at = None;
            if let Some(k) = self.keepalive {
                if self.keepalive_sent >= k.probes {
                    return self.fail(cx, Event::Error(Error::TimedOut), true);
                }
                self.keepalive_sent += 1;
                self.probe_now = true;
                self.keepalive_at = Some(now + k.interval);
            }
        }
        Outcome::Keep
    }

    fn on_rto(&mut self, cx: &mut Cx<'_>) -> Outcome {
        if self.snd_max == self.snd_una {
            return Outcome::Keep;
        }
        self.retries += 1;
        let limit = if self.state.is_synchronized() {
            cx.config.max_retries
        } else {
            cx.config.syn_retries
        };
        if self.retries > limit {
            // RFC 1122 §4.2.3.5 (R2) closes the connection; like Linux (tcp_write_err) we
            // send no RST: the peer has not answered for many RTOs.
            return self.fail(cx, Event::Error(Error::TimedOut), false);
        }
        let mss = self.snd_mss;
        self.stats.timeouts += 1;
        self.cc.on_timeout(mss, self.outstanding());
        self.undo_retrans = None;
        if self.ts_ok && self.retries == 1 && self.state.is_synchronized() {
            self.rto_undo_tsval = Some(self.tsval(cx.now));
        }
        self.rtt.back_off();
        self.rtt_probe = None;
        self.fast_rexmit = false;
        self.dupacks = 0;
        self.cancel_tlp();
        self.high_rxt = self.snd_una;
        if self.sack_ok && self.state.is_synchronized() {
            // RFC 6675 §5.1: keep the scoreboard (as Linux does) and resend every un-SACKed
            // byte up to the highest sent, as the window allows: a recovery in which every
            // hole counts as lost and cwnd grows by slow start. A resend lost again is found
            // by the SACKs of what follows it, without another timeout.
            self.scoreboard.clear_rexmits();
            self.recovery = Some(self.snd_max);
            self.rto_recovery = true;
        } else {
            self.recovery = None;
            self.rto_recovery = false;
            self.rto_recover = Some(self.snd_max);
            self.scoreboard.clear();
            // Go back N: resend from the first unacknowledged byte.
            self.snd_nxt = self.snd_una;
        }
        // The resent segments count in `total_retrans` when they are built (output.rs), not here.
        self.arm_rto(cx.now);
        Outcome::Keep
    }

    /// Statistics snapshot.
    pub fn info(&self) -> TcpInfo {
        TcpInfo {
            state: self.state,
            rtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            snd_mss: self.snd_mss,
            snd_wnd: self.snd_wnd,
            unacked: self.outstanding(),
            notsent: self.not_sent(),
            retransmits: self.retries,
            total_retrans: self.stats.total_retrans,
            bytes_sent: self.stats.bytes_sent,
            bytes_acked: self.stats.bytes_acked,
            bytes_received: self.stats.bytes_received,
            segs_out: self.stats.segs_out,
            segs_in: self.stats.segs_in,
            timeouts: self.stats.timeouts,
            fast_recoveries: self.stats.fast_recoveries,
            tail_probes: self.stats.tail_probes,
            lost_retransmits: self.stats.lost_retransmits,
            dsacks: self.stats.dsacks,
            undos: self.stats.undos,
            pacing_rate: self.cc.pacing_rate().unwrap_or(0),
            timestamps: self.ts_ok,
            sack: self.sack_ok,
            window_scaling: self.wscale_ok,
        }
    }
}
