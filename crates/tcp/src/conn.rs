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
use crate::listener::ListenerKey;
use crate::rack::Rack;
use crate::ring::RingBuffer;
use crate::rtt::RttEstimator;
use crate::sack::Scoreboard;
use crate::state::{Error, Event, State, TcpInfo};
use crate::table::Handle;
use crate::time::{Duration, Instant};
use crate::timer::TimerId;

/// RFC 8985 §7.2's WCDelAckT: how long a receiver may delay the ACK of a lone segment, added to
/// the probe timeout when only one segment is in flight.
const WC_DEL_ACK_MS: u64 = 200;

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
    /// Clock ticks in which data waited for each [`Limit`], each counted once per tick, and
    /// the last tick counted for each.
    pub limited_ms: [u64; 4],
    pub limited_tick: [u64; 4],
}

/// What held back data ready to send (Linux' `tcp_chrono` types, counted in ticks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The peer's receive window.
    Rwnd = 0,
    /// The congestion window outside a recovery.
    Cwnd = 1,
    /// The congestion window (or PRR's share of it) in a recovery.
    Recovery = 2,
    /// The pacing credit.
    Pacing = 3,
}

impl Stats {
    /// Data waited for `why` at tick `now_ms`.
    pub fn limited(&mut self, why: Limit, now_ms: u64) {
        let i = why as usize;
        if self.limited_tick[i] != now_ms {
            self.limited_tick[i] = now_ms;
            self.limited_ms[i] += 1;
        }
    }
}

/// Send sequence space (RFC 9293 §3.3.1) and the sending side's state, touched by every
/// segment in either direction.
#[derive(Debug, Default)]
pub(crate) struct SendSeq {
    pub una: SeqNumber,
    pub nxt: SeqNumber,
    /// Highest sequence number sent (`nxt` falls below it while resending after an RTO).
    pub max: SeqNumber,
    pub wnd: u32,
    /// Largest window the peer ever offered.
    pub max_wnd: u32,
    pub wl1: SeqNumber,
    pub wl2: SeqNumber,
    pub mss: u32,
    pub iss: SeqNumber,
    /// Sequence number of our FIN once it was sent.
    pub fin_seq: Option<SeqNumber>,
    /// The user shut down the sending side: a FIN follows the buffered data.
    pub fin_queued: bool,
    /// The user called `close` (not just `shutdown_write`): FIN-WAIT-2 is bounded.
    pub user_closed: bool,
    pub nodelay: bool,
}

/// Receive sequence space (RFC 9293 §3.3.1) and the receiving side's state.
#[derive(Debug, Default)]
pub(crate) struct RecvSeq {
    pub nxt: SeqNumber,
    /// Right edge of the window we advertised last (never moved left).
    pub adv: SeqNumber,
    /// RCV.NXT of the last ACK we sent (RFC 7323 Last.ACK.sent).
    pub last_ack_sent: SeqNumber,
    pub irs: SeqNumber,
    pub fin_rcvd: bool,
    /// Sequence number of a FIN that arrived ahead of missing data.
    pub ooo_fin: Option<SeqNumber>,
    /// A duplicate segment's range, reported once as the first SACK block (D-SACK, RFC 2883).
    pub dsack: Option<(SeqNumber, SeqNumber)>,
}

/// Options negotiated in the handshake (RFC 7323 window scale and timestamps, RFC 2018 SACK).
#[derive(Debug, Default)]
pub(crate) struct Negotiated {
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub wscale_ok: bool,
    pub sack_ok: bool,
    pub ts_ok: bool,
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// Whether the peer's SYN offered these (for SYN-ACK building).
    pub peer_offered_ts: bool,
}

/// Loss recovery: fast recovery (RFC 5681, RFC 6675), PRR (RFC 6937), tail loss probes
/// (RFC 8985) and undo (RFC 3708, RFC 3522).
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    pub dupacks: u32,
    /// Fast recovery is active until this sequence number is acknowledged.
    pub point: Option<SeqNumber>,
    /// Highest retransmitted sequence number in the current recovery.
    pub high_rxt: SeqNumber,
    /// A fast retransmit of `snd.una` is due.
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
    /// A tail loss probe (RFC 8985 §7) is due now.
    pub tlp_now: bool,
    /// A retransmission's probe timeout declared it lost (`Scoreboard::probe_last_rexmit`):
    /// its resend goes whatever the window allows, as a probe does.
    pub probe_now: bool,
    /// A probe is outstanding: `snd.max` just after it was sent. SACK of it proves every hole
    /// below it lost (it left a PTO after them).
    pub tlp_out: Option<SeqNumber>,
    /// Retransmissions of the last fast recovery not yet reported as duplicates by a D-SACK;
    /// `None` once undone or after an RTO. At zero every one was spurious: undo (RFC 3708).
    pub undo_retrans: Option<u32>,
    /// The TSval of the first retransmission after a timeout: an ACK echoing an older one
    /// acknowledges the original, and the timeout was spurious (Eifel, RFC 3522).
    pub rto_undo_tsval: Option<u32>,
    /// RFC 6675's RescueRxt: the recovery point when a rescue retransmission was last sent; the
    /// next may go once SND.UNA has passed it (once per recovery).
    pub rescue_rxt: Option<SeqNumber>,
    /// When `snd.max` last advanced (the tail's send time, for the rescue retransmission).
    pub tail_sent_at: Instant,
}

/// Deadlines (the engine arms one wheel node for the earliest) and their counters.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    pub rto_at: Option<Instant>,
    /// Tail loss probe (RFC 8985 §7) deadline.
    pub tlp_at: Option<Instant>,
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
}

/// One connection. What every segment touches comes first (state, pending-output flags,
/// sequence spaces, options); recovery, deadlines and the big, cold parts (reassembly,
/// scoreboard, statistics) follow. `repr(C)` keeps that order in memory: the per-segment
/// state fills the first two cache lines (Rust's default layout scattered it over the struct).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Conn {
    pub state: State,
    pub dirty: bool,

    // Pending output.
    pub ack_now: bool,
    pub rst_now: bool,
    /// Send a segment with `snd.una - 1` to elicit an ACK (zero-window or keepalive probe).
    pub probe_now: bool,
    /// The persist timer expired with a small usable window: send what fits (SWS override).
    pub force_send: bool,
    pub writable_wanted: bool,
    pub segs_unacked: u32,
    /// Answer an unacceptable ACK with a bare RST carrying this sequence number.
    pub rst_reply: Option<SeqNumber>,

    pub snd: SendSeq,
    pub rcv: RecvSeq,
    pub opts: Negotiated,
    pub send_buf: RingBuffer,
    pub recv_buf: RingBuffer,

    // RTT, congestion control, pacing.
    pub rtt: RttEstimator,
    /// Karn timing without timestamps: (end sequence, send time).
    pub rtt_probe: Option<(SeqNumber, Instant)>,
    pub cc: Box<dyn CongestionControl>,
    /// Most bytes in flight since the last ACK: cwnd only grows when it was the limit (RFC 7661).
    pub flight_peak: u32,
    /// Bytes delivered to the peer (cumulatively acknowledged or SACKed) since the start.
    pub delivered: u64,
    /// Pacing (when the congestion control sets a rate): bytes that may leave now, and when
    /// the credit was last topped up.
    pub pace_credit: u64,
    pub pace_stamp: Instant,

    pub rec: Recovery,
    pub timers: Deadlines,

    // Identity and cold state.
    pub handle: Handle,
    pub tuple: FourTuple,
    pub timer: TimerId,
    /// Its listener while this passive connection is not yet accepted.
    pub listener: Option<ListenerKey>,
    /// Counted in the listener's SYN queue (half-open, passive).
    pub in_syn_queue: bool,
    /// Which algorithm `cc` is (rebuilt once the MSS is negotiated).
    pub cc_algorithm: CcAlgorithm,
    /// This connection's keepalive (SO_KEEPALIVE), off when `None`.
    pub keepalive: Option<Keepalive>,
    // The big parts (~4.6 KiB together: 32 reassembly ranges, 128 SACKed ranges and 64
    // retransmissions, 256 RACK records) live in their own allocations, made once per
    // connection: the slot stays small, so a table sized for many connections costs little, and
    // the per-segment state above is not spread over pages of rarely used arrays.
    pub assembler: Box<Assembler>,
    pub scoreboard: Box<Scoreboard>,
    /// RACK for original transmissions (RFC 8985).
    pub rack: Box<Rack>,
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
        let mss = u32::from(config.local_mss_for(tuple.is_ipv6()));
        let ts_offset = iss.0.rotate_left(13);
        Conn {
            state: State::Closed,
            dirty: false,
            ack_now: false,
            rst_now: false,
            probe_now: false,
            force_send: false,
            writable_wanted: false,
            segs_unacked: 0,
            rst_reply: None,
            snd: SendSeq {
                una: iss,
                nxt: iss,
                max: iss,
                wl2: iss,
                mss: mss.min(536),
                iss,
                nodelay: opts.no_delay,
                ..SendSeq::default()
            },
            rcv: RecvSeq::default(),
            opts: Negotiated {
                ts_offset,
                ..Negotiated::default()
            },
            send_buf: RingBuffer::new(opts.send_buffer_bytes),
            recv_buf: RingBuffer::new(opts.recv_buffer_bytes),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            rtt_probe: None,
            cc: opts.congestion_control.build(mss),
            flight_peak: 0,
            delivered: 0,
            pace_credit: 0,
            pace_stamp: now,
            rec: Recovery {
                high_rxt: iss,
                tail_sent_at: now,
                ..Recovery::default()
            },
            timers: Deadlines {
                idle_at: config.idle_timeout.map(|d| now + d),
                ..Deadlines::default()
            },
            handle,
            tuple,
            timer,
            listener: None,
            in_syn_queue: false,
            cc_algorithm: opts.congestion_control,
            keepalive: opts.keepalive,
            assembler: Box::default(),
            scoreboard: Box::default(),
            rack: Box::default(),
            stats: Stats::default(),
        }
    }

    pub fn push_event(&self, cx: &mut Cx<'_>, ev: Event) {
        cx.events.push_back((self.handle, ev));
    }

    /// First sequence number of the data stream.
    pub fn data_start(&self) -> SeqNumber {
        self.snd.iss + 1
    }
    /// Sequence number of the first byte in the send buffer.
    pub fn buf_start(&self) -> SeqNumber {
        // Before our SYN is acknowledged snd.una is the ISS, one short of the data. Compare by
        // identity, not by sequence order: order wraps after 2^31 bytes and would then stall.
        let s = if self.snd.una == self.snd.iss {
            self.data_start()
        } else {
            self.snd.una
        };
        match self.snd.fin_seq {
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
        self.snd.fin_seq.is_some()
    }
    /// Whether our FIN is acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.snd.fin_seq.is_some_and(|f| f < self.snd.una)
    }
    /// Bytes sent and not yet acknowledged.
    pub fn outstanding(&self) -> u32 {
        (self.snd.max - self.snd.una).max(0) as u32
    }
    /// Buffered bytes never sent yet (beyond `snd.max`).
    pub fn not_sent(&self) -> u32 {
        let sent_to = if self.snd.max > self.buf_start() {
            self.snd.max
        } else {
            self.buf_start()
        };
        (self.data_end() - sent_to).max(0) as u32
    }
    /// The TSval we send now.
    pub fn tsval(&self, now: Instant) -> u32 {
        (now.0 as u32).wrapping_add(self.opts.ts_offset)
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        let t = &self.timers;
        // Each field read in place (a copy of them all into an array loaded each `Option`
        // whole, just after its tag was stored as a byte: ~12 % of the echo benchmark's
        // samples once) and taken as a number, `None` the largest, so the minimum is branch
        // free: iterating over the eight with `flatten` mispredicted, as whichever timers run
        // changes with each segment (a delayed ACK, then the retransmission timeout, ...).
        let at = |d: &Option<Instant>| d.map_or(u64::MAX, |i| i.0);
        let next = at(&t.rto_at)
            .min(at(&t.tlp_at))
            .min(at(&t.pace_at))
            .min(at(&t.delack_at))
            .min(at(&t.persist_at))
            .min(at(&t.keepalive_at))
            .min(at(&t.timewait_at))
            .min(at(&t.idle_at));
        (next != u64::MAX).then_some(Instant(next))
    }

    pub fn touch(&mut self, config: &Config, now: Instant) {
        if let Some(d) = config.idle_timeout {
            self.timers.idle_at = Some(now + d);
        }
        if let Some(k) = self.keepalive {
            if self.state.is_synchronized() && self.state != State::TimeWait {
                self.timers.keepalive_at = Some(now + k.idle);
                self.timers.keepalive_sent = 0;
            }
        }
    }

    pub fn arm_rto(&mut self, now: Instant) {
        self.timers.rto_at = Some(now + self.rtt.rto());
    }

    /// Whether proportional rate reduction paces sending now: a SACK fast recovery (not one
    /// begun by an RTO, which slow-starts).
    pub fn prr_active(&self) -> bool {
        self.opts.sack_ok
            && self.rec.point.is_some()
            && !self.rec.rto_recovery
            && self.cc.reduces_on_loss()
    }

    /// Schedules a tail loss probe (RFC 8985 §7.2) two smoothed RTTs (at least 2 ms, as Linux's
    /// `TCP_TIMEOUT_MIN`: the clock's tick either side) from now, plus WCDelAckT with a lone
    /// segment in flight, and never later than the RTO, when one may be sent: SACK in use,
    /// outside recovery, no probe outstanding, an RTO armed.
    pub fn schedule_tlp(&mut self, now: Instant) {
        if self.rec.point.is_some() {
            // `tlp_at` is RACK's reordering timer then (`detect_lost_rexmits`).
            return;
        }
        self.timers.tlp_at = None;
        let srtt = self.rtt.srtt().0;
        if !self.opts.sack_ok
            || !self.state.is_synchronized()
            || self.rec.tlp_out.is_some()
            || srtt == 0
        {
            return;
        }
        let mut pto = (2 * srtt).max(2);
        if self.outstanding() <= self.snd.mss {
            // A lone segment's ACK may be delayed (RFC 8985 §7.2: WCDelAckT).
            pto += WC_DEL_ACK_MS;
        }
        let at = now + Duration(pto);
        // Never later than the RTO: the probe goes in its place, and restarts it (§7.2-7.3).
        self.timers.tlp_at = self.timers.rto_at.map(|r| r.min(at));
    }

    /// Forgets any tail loss probe: scheduled, due or outstanding.
    pub fn cancel_tlp(&mut self) {
        self.timers.tlp_at = None;
        self.rec.tlp_now = false;
        self.rec.tlp_out = None;
    }

    pub fn enter_time_wait(&mut self, cx: &mut Cx<'_>) {
        self.state = State::TimeWait;
        self.timers.rto_at = None;
        self.timers.persist_at = None;
        self.timers.keepalive_at = None;
        self.timers.idle_at = None;
        self.timers.timewait_at = Some(cx.now + cx.config.time_wait);
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
        if due(self.timers.timewait_at) {
            self.timers.timewait_at = None;
            self.state = State::Closed;
            self.push_event(cx, Event::Closed);
            return Outcome::Delete;
        }
        if due(self.timers.idle_at) {
            self.timers.idle_at = None;
            return self.fail(cx, Event::Error(Error::TimedOut), true);
        }
        let probe_first = self.rec.point.is_none()
            && due(self.timers.tlp_at)
            && self.timers.tlp_at <= self.timers.rto_at;
        if probe_first && due(self.timers.rto_at) {
            // The probe timeout was brought forward to the RTO's time: the probe goes first
            // and the RTO restarts (RFC 8985 §7.3).
            self.arm_rto(now);
        }
        if due(self.timers.rto_at) {
            self.timers.rto_at = None;
            if let Outcome::Delete = self.on_rto(cx) {
                return Outcome::Delete;
            }
        }
        if due(self.timers.tlp_at) {
            self.timers.tlp_at = None;
            if self.rec.point.is_some() && self.opts.sack_ok {
                // In a recovery `tlp_at` is RACK's reordering timer (RFC 8985 §6.3).
                self.rack_timer(now);
            } else if self.rec.point.is_none()
                && self.rec.tlp_out.is_none()
                && self.outstanding() > 0
            {
                if self.scoreboard.highest().is_some() {
                    // RACK (RFC 8985 §6.2): data sent after the holes was delivered and the
                    // holes are older than two smoothed RTTs: they are lost. (A probe would
                    // only resend a SACKed segment.)
                    self.enter_recovery(now);
                } else {
                    self.rec.tlp_now = true;
                }
            }
        }
        if due(self.timers.pace_at) {
            // The engine dispatches this connection again after any timer.
            self.timers.pace_at = None;
        }
        if due(self.timers.delack_at) {
            self.timers.delack_at = None;
            self.ack_now = true;
        }
        if due(self.timers.persist_at) {
            self.timers.persist_at = None;
            if self.data_end() > self.snd.nxt && self.snd.una == self.snd.max {
                if self.snd.wnd == 0 {
                    self.probe_now = true;
                } else {
                    self.force_send = true;
                }
                self.timers.persist_backoff = (self.timers.persist_backoff + 1).min(12);
                let wait = Duration(
                    (self.rtt.rto().0 << self.timers.persist_backoff).min(cx.config.max_rto.0),
                );
                self.timers.persist_at = Some(now + wait);
            }
        }
        if due(self.timers.keepalive_at) {
            self.timers.keepalive_at = None;
            if let Some(k) = self.keepalive {
                if self.timers.keepalive_sent >= k.probes {
                    return self.fail(cx, Event::Error(Error::TimedOut), true);
                }
                self.timers.keepalive_sent += 1;
                self.probe_now = true;
                self.timers.keepalive_at = Some(now + k.interval);
            }
        }
        Outcome::Keep
    }

    fn on_rto(&mut self, cx: &mut Cx<'_>) -> Outcome {
        if self.snd.max == self.snd.una {
            return Outcome::Keep;
        }
        self.timers.retries += 1;
        let limit = if self.state.is_synchronized() {
            cx.config.max_retries
        } else {
            cx.config.syn_retries
        };
        if self.timers.retries > limit {
            // RFC 1122 §4.2.3.5 (R2) closes the connection; like Linux (tcp_write_err) we
            // send no RST: the peer has not answered for many RTOs.
            return self.fail(cx, Event::Error(Error::TimedOut), false);
        }
        let mss = self.snd.mss;
        self.stats.timeouts += 1;
        self.cc.on_timeout(mss, self.outstanding());
        self.rec.undo_retrans = None;
        if self.opts.ts_ok && self.timers.retries == 1 && self.state.is_synchronized() {
            self.rec.rto_undo_tsval = Some(self.tsval(cx.now));
        }
        self.rtt.back_off();
        self.rtt_probe = None;
        self.rec.fast_rexmit = false;
        self.rec.probe_now = false;
        self.rec.dupacks = 0;
        self.cancel_tlp();
        self.rec.high_rxt = self.snd.una;
        if self.opts.sack_ok && self.state.is_synchronized() {
            // RFC 6675 §5.1: keep the scoreboard (as Linux does) and resend every un-SACKed
            // byte up to the highest sent, as the window allows: a recovery in which every
            // hole counts as lost and cwnd grows by slow start. A resend lost again is found
            // by the SACKs of what follows it, without another timeout.
            self.scoreboard.clear_rexmits();
            self.rec.point = Some(self.snd.max);
            self.rec.rto_recovery = true;
        } else {
            self.rec.point = None;
            self.rec.rto_recovery = false;
            self.rec.rto_recover = Some(self.snd.max);
            self.scoreboard.clear();
            // Go back N: resend from the first unacknowledged byte.
            self.snd.nxt = self.snd.una;
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
            snd_mss: self.snd.mss,
            snd_wnd: self.snd.wnd,
            unacked: self.outstanding(),
            notsent: self.not_sent(),
            retransmits: self.timers.retries,
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
            rwnd_limited_ms: self.stats.limited_ms[Limit::Rwnd as usize],
            cwnd_limited_ms: self.stats.limited_ms[Limit::Cwnd as usize],
            recovery_limited_ms: self.stats.limited_ms[Limit::Recovery as usize],
            pacing_limited_ms: self.stats.limited_ms[Limit::Pacing as usize],
            pacing_gain: self.cc.gains().map_or(0, |g| g.0),
            cwnd_gain: self.cc.gains().map_or(0, |g| g.1),
            timestamps: self.opts.ts_ok,
            sack: self.opts.sack_ok,
            window_scaling: self.opts.wscale_ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table slot holds a `Conn`: the big, rarely touched parts are boxed so that a table
    /// sized for many connections stays small (~5.5 KiB with them inline, 792 bytes boxed).
    /// Any of those arrays put back inline would pass the bound on its own.
    #[test]
    fn conn_is_under_one_kib() {
        let size = core::mem::size_of::<Conn>();
        assert!(size <= 1024, "Conn is {size} bytes");
    }
}
