//! Segment arrival (RFC 9293 §3.10.7), with RFC 5961 RST/SYN/ACK checks and RFC 7323 PAWS.

use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpRepr};

use crate::conn::{Conn, Cx, Outcome};
use crate::listener::ListenerKey;
use crate::state::{Event, State};

/// How soon SYN-SENT resends its SYN after answering an unacceptable ACK with RST: Linux's
/// TCP_TIMEOUT_MIN (two jiffies, 2 ms at HZ=1000), time for the RST to clear the peer's old
/// connection first.
const SYN_RESEND_AFTER_BAD_ACK: crate::time::Duration = crate::time::Duration::from_millis(2);

/// Whether timestamp `a` is older than `b` (RFC 7323 serial arithmetic).
pub(crate) fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Conn {
    /// Starts an active open: the SYN goes out on the next dispatch.
    pub(crate) fn open_active(&mut self) {
        self.state = State::SynSent;
        self.snd.nxt = self.snd.iss;
        self.snd.max = self.snd.iss;
    }

    /// Starts a passive open from the peer's SYN.
    pub(crate) fn open_passive(
        &mut self,
        cx: &mut Cx<'_>,
        syn: &TcpRepr<'_>,
        listener: ListenerKey,
    ) {
        self.listener = Some(listener);
        self.in_syn_queue = true;
        self.rcv.irs = syn.seq_number;
        self.rcv.nxt = syn.seq_number + 1;
        self.rcv.adv = self.rcv.nxt;
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.negotiate(&syn.options, cx.config);
        self.snd.wnd = u32::from(syn.window_len);
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = syn.seq_number;
        self.state = State::SynReceived;
        self.snd.nxt = self.snd.iss;
        self.snd.max = self.snd.iss;
    }

    /// Recreates a connection from a valid SYN cookie carried by the handshake's final ACK.
    /// Options other than the MSS are lost (the cookie has no room for them). Queues `Connected`.
    pub(crate) fn open_from_cookie(
        &mut self,
        cx: &mut Cx<'_>,
        ack: &TcpRepr<'_>,
        mss: u16,
        listener: ListenerKey,
    ) {
        self.listener = Some(listener);
        self.rcv.irs = ack.seq_number + u32::MAX; // seq - 1
        self.rcv.nxt = ack.seq_number;
        // The cookie SYN-ACK offered this much, unscaled: data may arrive in it at once.
        self.rcv.adv = self.rcv.nxt + self.recv_buf.free().min(65_535) as u32;
        self.rcv.last_ack_sent = self.rcv.nxt;
        let opts = crate::listener::cookie_syn_options(ack, mss);
        // The cookie's TSval came from the plain millisecond clock.
        self.opts.ts_offset = 0;
        self.negotiate(&opts, cx.config);
        self.snd.una = self.snd.iss + 1;
        self.snd.nxt = self.snd.una;
        self.snd.max = self.snd.una;
        self.rec.high_rxt = self.snd.una;
        self.establish(cx, ack, self.opts.snd_wscale);
    }

    fn challenge_ack(&mut self, cx: &mut Cx<'_>) {
        if cx.challenge.allow(cx.now, cx.config.challenge_ack_limit) {
            self.ack_now = true;
        }
    }

    /// Processes one segment addressed to this connection, in RFC 9293 §3.10.7.4's order:
    /// sequence number (with PAWS and TIME-WAIT reuse), RST, SYN, ACK, then text and FIN.
    pub(crate) fn on_segment(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) -> Outcome {
        self.stats.segs_in += 1;
        match self.state {
            State::Closed | State::Listen => return Outcome::Keep,
            State::SynSent => return self.on_segment_syn_sent(cx, seg),
            _ => {}
        }
        let f = seg.flags;
        if let Some(outcome) = self.reuse_or_paws(seg) {
            return outcome;
        }
        if !self.acceptable(seg) {
            return self.on_unacceptable(cx, seg);
        }
        if f.contains(TcpFlags::RST) {
            return self.on_rst(cx, seg.seq_number);
        }
        if f.contains(TcpFlags::SYN) {
            // RFC 5961 §4.2.
            self.challenge_ack(cx);
            return Outcome::Keep;
        }
        if !f.contains(TcpFlags::ACK) {
            return Outcome::Keep;
        }
        self.update_ts_recent(seg);
        self.touch(cx.config, cx.now);
        if let Some(outcome) = self.check_ack(cx, seg) {
            return outcome;
        }
        self.process_ack(cx, seg);
        if let Some(outcome) = self.after_fin_acked(cx) {
            return outcome;
        }
        if self.state.can_receive() {
            self.receive_text(cx, seg);
        }
        Outcome::Keep
    }

    /// TIME-WAIT reuse by a newer SYN (RFC 6191) and PAWS (RFC 7323 §5.3): an outcome when the
    /// segment ends here.
    fn reuse_or_paws(&mut self, seg: &TcpRepr<'_>) -> Option<Outcome> {
        let f = seg.flags;
        let rst = f.contains(TcpFlags::RST);
        if self.state == State::TimeWait
            && f.contains(TcpFlags::SYN)
            && !f.contains(TcpFlags::ACK)
            && !rst
        {
            // RFC 6191: a new incarnation may reuse the pair if its SYN is provably newer.
            let newer = match (self.opts.ts_ok, seg.options.timestamps) {
                (true, Some(ts)) => ts_before(self.opts.ts_recent, ts.tsval),
                _ => self.rcv.nxt < seg.seq_number,
            };
            if newer {
                return Some(Outcome::Reopen);
            }
        }
        if self.opts.ts_ok && !rst {
            if let Some(ts) = seg.options.timestamps {
                if ts_before(ts.tsval, self.opts.ts_recent) {
                    self.ack_now = true;
                    return Some(Outcome::Keep);
                }
            }
        }
        None
    }

    /// RFC 9293 §3.10.7.4's acceptability test (a zero window still takes ACKs and RSTs at
    /// exactly RCV.NXT).
    fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        let f = seg.flags;
        let (rst, syn, fin) = (
            f.contains(TcpFlags::RST),
            f.contains(TcpFlags::SYN),
            f.contains(TcpFlags::FIN),
        );
        let seq = seg.seq_number;
        let seg_len = seg.payload.len() as u32 + u32::from(syn) + u32::from(fin);
        let rcv_wnd = (self.rcv.adv - self.rcv.nxt).max(0) as u32;
        let in_wnd = |s: SeqNumber| self.rcv.nxt <= s && s < self.rcv.nxt + rcv_wnd;
        let acceptable = match (seg_len, rcv_wnd) {
            (0, 0) => seq == self.rcv.nxt,
            (0, _) => in_wnd(seq),
            (_, 0) => false,
            (_, _) => in_wnd(seq) || in_wnd(seq + (seg_len - 1)),
        };
        acceptable || (seq == self.rcv.nxt && (rst || seg.payload.is_empty()))
    }

    /// An unacceptable segment: dropped with an ACK (and a D-SACK for an old duplicate),
    /// except a RST (dropped silently) and, in SYN-RECEIVED, the peer's SYN again or its
    /// SYN-ACK of a simultaneous open.
    fn on_unacceptable(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) -> Outcome {
        let f = seg.flags;
        let seq = seg.seq_number;
        if f.contains(TcpFlags::RST) {
            return Outcome::Keep;
        }
        let ack = f.contains(TcpFlags::ACK);
        if self.state == State::SynReceived && f.contains(TcpFlags::SYN) && seq == self.rcv.irs {
            if ack && self.snd.una < seg.ack_number && seg.ack_number <= self.snd.max {
                // Simultaneous open: the peer's SYN-ACK acknowledges our SYN.
                self.snd.una = seg.ack_number;
                self.timers.rto_at = None;
                self.ack_now = true;
                self.establish(cx, seg, self.opts.snd_wscale);
            } else if !ack {
                // The peer did not get our SYN-ACK: send it again.
                self.snd.nxt = self.snd.iss;
            }
            return Outcome::Keep;
        }
        if self.state == State::TimeWait && f.contains(TcpFlags::FIN) {
            self.timers.timewait_at = Some(cx.now + cx.config.time_wait);
        }
        if !seg.payload.is_empty() && seq + seg.payload.len() as u32 <= self.rcv.nxt {
            // An old duplicate: D-SACK tells the sender its retransmission was spurious.
            self.report_duplicate(seq, seq + seg.payload.len() as u32);
        }
        self.ack_now = true;
        Outcome::Keep
    }

    /// RFC 5961 §3.2: only an exact match resets; in-window gets a challenge ACK.
    fn on_rst(&mut self, cx: &mut Cx<'_>, seq: SeqNumber) -> Outcome {
        if seq != self.rcv.nxt {
            self.challenge_ack(cx);
            return Outcome::Keep;
        }
        if self.state == State::SynReceived && self.listener.is_some() {
            self.state = State::Closed;
            return Outcome::Delete;
        }
        if self.state == State::TimeWait {
            self.state = State::Closed;
            self.push_event(cx, Event::Closed);
            return Outcome::Delete;
        }
        self.fail(cx, Event::Reset, false)
    }

    /// RFC 7323 §4.3: only a segment covering Last.ACK.sent updates TS.Recent, so a delayed
    /// ACK echoes the earliest unacknowledged segment's TSval.
    fn update_ts_recent(&mut self, seg: &TcpRepr<'_>) {
        if let (true, Some(ts)) = (self.opts.ts_ok, seg.options.timestamps) {
            if seg.seq_number <= self.rcv.last_ack_sent && !ts_before(ts.tsval, self.opts.ts_recent)
            {
                self.opts.ts_recent = ts.tsval;
            }
        }
    }

    /// The ACK's own checks: SYN-RECEIVED's handshake completion, an ACK of unsent data, and
    /// RFC 5961 §5.2's range [SND.UNA - MAX.SND.WND, SND.NXT]. An outcome when the segment
    /// ends here.
    fn check_ack(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) -> Option<Outcome> {
        if self.state == State::SynReceived {
            if self.snd.una < seg.ack_number && seg.ack_number <= self.snd.max {
                self.establish(cx, seg, self.opts.snd_wscale);
            } else {
                self.rst_reply = Some(seg.ack_number);
                return Some(Outcome::Keep);
            }
        }
        if seg.ack_number > self.snd.max {
            self.ack_now = true;
            return Some(Outcome::Keep);
        }
        let oldest = self.snd.una + (self.snd.max_wnd.max(self.snd.mss)).wrapping_neg();
        if seg.ack_number < oldest {
            self.challenge_ack(cx);
            return Some(Outcome::Keep);
        }
        None
    }

    /// Our FIN acknowledged: FIN-WAIT-2, TIME-WAIT or the end of LAST-ACK.
    fn after_fin_acked(&mut self, cx: &mut Cx<'_>) -> Option<Outcome> {
        match self.state {
            State::FinWait1 if self.fin_acked() => {
                self.state = State::FinWait2;
                self.timers.rto_at = None;
                if self.snd.user_closed {
                    // Nobody will read: do not wait forever for the peer's FIN (Linux
                    // tcp_fin_timeout).
                    let bound = cx.config.fin_wait2_timeout.unwrap_or(cx.config.time_wait);
                    self.timers.timewait_at = Some(cx.now + bound);
                }
            }
            State::Closing if self.fin_acked() => self.enter_time_wait(cx),
            State::LastAck if self.fin_acked() => {
                self.state = State::Closed;
                self.push_event(cx, Event::Closed);
                return Some(Outcome::Delete);
            }
            _ => {}
        }
        None
    }

    /// The segment's text and FIN (in order, or a FIN waiting for missing data).
    fn receive_text(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) {
        self.process_data(cx, seg);
        if seg.flags.contains(TcpFlags::FIN) {
            let fin_seq = seg.seq_number + seg.payload.len() as u32;
            if self.rcv.nxt < fin_seq {
                self.rcv.ooo_fin = Some(fin_seq);
                // An out-of-order FIN is out-of-order data: duplicate ACK at once (RFC 5681 §4.2).
                self.ack_now = true;
            } else if fin_seq == self.rcv.nxt {
                self.accept_fin(cx);
            }
        }
        if self.rcv.ooo_fin == Some(self.rcv.nxt) && self.state.can_receive() {
            self.accept_fin(cx);
        }
    }

    /// The handshake completed with `seg`: ESTABLISHED (FIN-WAIT-1 if the user already shut
    /// down the sending side), the peer's window from `seg` (shifted by `wnd_shift`), and
    /// `Connected` for the user. The one place a connection becomes established (a SYN-cookie
    /// connection too, rebuilt from the handshake's final ACK).
    fn establish(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>, wnd_shift: u8) {
        self.state = if self.snd.fin_queued {
            State::FinWait1
        } else {
            State::Established
        };
        self.snd.wnd = u32::from(seg.window_len) << wnd_shift;
        self.snd.max_wnd = self.snd.max_wnd.max(self.snd.wnd);
        self.snd.wl1 = seg.seq_number;
        self.snd.wl2 = seg.ack_number;
        self.timers.retries = 0;
        self.push_event(cx, Event::Connected);
        self.touch(cx.config, cx.now);
    }

    fn accept_fin(&mut self, cx: &mut Cx<'_>) {
        self.rcv.ooo_fin = None;
        self.rcv.nxt += 1;
        self.rcv.fin_rcvd = true;
        self.ack_now = true;
        self.push_event(cx, Event::Readable);
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(cx)
                } else {
                    self.state = State::Closing
                }
            }
            State::FinWait2 => self.enter_time_wait(cx),
            _ => {}
        }
    }

    /// SYN-SENT's answer to an ACK that does not acknowledge our SYN (RFC 9293 §3.10.7.3):
    /// `<SEQ=SEG.ACK><CTL=RST>` unless it is a RST itself.
    fn on_unacceptable_ack_syn_sent(&mut self, cx: &Cx<'_>, ack: SeqNumber, rst: bool) {
        if !rst {
            self.rst_reply = Some(ack);
        }
        // Such an ACK most often comes from the peer's older connection on this 4-tuple
        // (TIME-WAIT, or half-open after a crash), which our RST clears: resend the SYN
        // shortly instead of after the initial RTO of 1 s, as Linux does
        // (tcp_rcv_synsent_state_process re-arms its timer with TCP_TIMEOUT_MIN). Only while
        // no SYN has been resent, and never later than the timer was due (Linux's re-arm may
        // postpone it): a stream of such ACKs brings the first retransmission forward, never
        // adds nor delays one. Not where no SYN may be resent (`syn_retries` 0): the resend
        // would count as a retry and end the open at once, where the timer waits for a SYN-ACK.
        if self.timers.retries == 0 && cx.config.syn_retries > 0 {
            let soon = cx.now + SYN_RESEND_AFTER_BAD_ACK;
            self.timers.rto_at = Some(self.timers.rto_at.map_or(soon, |at| at.min(soon)));
        }
    }

    fn on_segment_syn_sent(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) -> Outcome {
        let f = seg.flags;
        let (rst, syn, ack) = (
            f.contains(TcpFlags::RST),
            f.contains(TcpFlags::SYN),
            f.contains(TcpFlags::ACK),
        );
        if ack && (seg.ack_number <= self.snd.iss || seg.ack_number > self.snd.max) {
            self.on_unacceptable_ack_syn_sent(cx, seg.ack_number, rst);
            return Outcome::Keep;
        }
        if rst {
            return if ack {
                self.fail(cx, Event::Reset, false)
            } else {
                Outcome::Keep
            };
        }
        if !syn {
            return Outcome::Keep;
        }
        self.rcv.irs = seg.seq_number;
        self.rcv.nxt = seg.seq_number + 1;
        self.rcv.last_ack_sent = self.rcv.nxt;
        // Our SYN advertised this much, unscaled.
        self.rcv.adv = self.rcv.nxt + self.recv_buf.free().min(65_535) as u32;
        self.negotiate(&seg.options, cx.config);
        if ack {
            self.snd.una = seg.ack_number;
            // A SYN retransmission timer may have rewound snd.nxt to the ISS just before this
            // SYN-ACK arrived: never leave it behind what the peer acknowledged.
            if self.snd.nxt < self.snd.una {
                self.snd.nxt = self.snd.una;
            }
            if self.snd.max < self.snd.una {
                self.snd.max = self.snd.una;
            }
            self.timers.rto_at = None;
            if self.timers.retries == 0 {
                if let Some((_, sent)) = self.rtt_probe.take() {
                    self.rtt.sample(cx.now - sent);
                }
            }
            self.ack_now = true;
            // The window of a SYN is never scaled (RFC 7323 §2.2).
            self.establish(cx, seg, 0);
            // RFC 9293 §3.10.7.3: text or FIN on the SYN-ACK continue at the sixth step, as
            // on any segment of the now synchronized connection.
            let fin = f.contains(TcpFlags::FIN);
            if !seg.payload.is_empty() || fin {
                let mut flags = TcpFlags::ACK;
                if fin {
                    flags |= TcpFlags::FIN;
                }
                let rest = TcpRepr {
                    seq_number: seg.seq_number + 1,
                    flags,
                    ..seg.clone()
                };
                self.stats.segs_in -= 1; // counted once
                return self.on_segment(cx, &rest);
            }
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 7): answer with SYN-ACK.
            self.snd.wnd = u32::from(seg.window_len);
            self.snd.max_wnd = self.snd.wnd;
            self.snd.wl1 = seg.seq_number;
            self.state = State::SynReceived;
            self.snd.nxt = self.snd.iss;
        }
        Outcome::Keep
    }
}
