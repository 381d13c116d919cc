//! Segment building: what to send next (RFC 9293 §3.8.6 SWS avoidance, Nagle, congestion and
//! receive windows, fast retransmit and SACK-based recovery, RFC 6675 NextSeg).

use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

use crate::config::Config;
use crate::conn::{Conn, Limit};
use crate::state::State;
use crate::time::{Duration, Instant};

/// One data (or FIN) segment to send.
#[derive(Clone, Copy, Debug)]
struct Plan {
    seq: SeqNumber,
    len: u32,
    fin: bool,
    kind: PlanKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlanKind {
    FastRexmit,
    SackRexmit,
    /// Tail loss probe with new data.
    TlpNew,
    /// Tail loss probe resending the last segment.
    TlpRexmit,
    /// New data, or resending after an RTO (snd.nxt below snd.max).
    Next,
}

impl Conn {
    /// The window we advertise now, in bytes, never moving the right edge left; applies receiver
    /// SWS avoidance (RFC 9293 §3.8.6.2.2) and records the new right edge.
    fn advertise(&mut self, scaled: bool) -> u16 {
        let cap = self.recv_buf.capacity() as u32;
        let free = self.recv_buf.free() as u32;
        let candidate = self.rcv.nxt + free;
        let threshold = (cap / 2).min(self.snd.mss.max(536));
        let current = if self.rcv.adv < self.rcv.nxt {
            self.rcv.nxt
        } else {
            self.rcv.adv
        };
        let edge = if (candidate - current) >= threshold as i32 || self.rcv.adv < self.rcv.nxt {
            candidate
        } else {
            current
        };
        let wnd = (edge - self.rcv.nxt).max(0) as u32;
        let shift = if scaled { self.opts.rcv_wscale } else { 0 };
        let field = (wnd >> shift).min(65_535);
        let advertised_edge = self.rcv.nxt + (field << shift);
        if advertised_edge > self.rcv.adv || self.rcv.adv < self.rcv.nxt {
            self.rcv.adv = advertised_edge;
        }
        field as u16
    }

    /// Whether a read freed enough space that the peer should hear of it (window update).
    pub(crate) fn window_update_due(&self) -> bool {
        let cap = self.recv_buf.capacity() as u32;
        // The largest window the header can express bounds what an update could announce.
        let max_field = 65_535u32 << self.opts.rcv_wscale;
        let candidate = self.rcv.nxt + (self.recv_buf.free() as u32).min(max_field);
        let mss = self.snd.mss.max(536);
        // A peer held below one segment (zero window) hears as soon as the receiver SWS rule
        // (RFC 9293 §3.8.6.2.2: min(BUFF/2, MSS)) lets the window open; otherwise an update
        // waits for two segments' worth, as Linux' window doubling rule.
        let open = (self.rcv.adv - self.rcv.nxt).max(0) as u32;
        let threshold = if open < mss {
            (cap / 2).min(mss)
        } else {
            (cap / 2).min(2 * mss)
        };
        self.state.can_receive() && (candidate - self.rcv.adv) >= threshold as i32
    }

    /// Where lost data ends: below it every un-SACKed byte counts as lost. In a recovery begun by
    /// an RTO that is the recovery point; otherwise the highest SACKed byte (RFC 6675's IsLost
    /// with the holes' own SACKs above them, as before).
    fn lost_edge(&self) -> SeqNumber {
        match (self.rec.rto_recovery, self.rec.point) {
            (true, Some(point)) if point <= self.snd.max => point,
            (true, _) => self.snd.max,
            _ => self.rack_lost_edge(),
        }
    }

    /// Bytes in the network by RFC 6675's estimate: what was sent and not acknowledged, less
    /// what the peer SACKed and what is lost, plus the retransmissions in flight.
    pub(crate) fn pipe(&self) -> u32 {
        let outstanding = self.outstanding();
        if self.opts.sack_ok {
            // Outside recovery no hole is lost yet (fewer than DupThresh segments above it).
            let lost = if self.rec.point.is_some() {
                self.scoreboard.holes_below(self.snd.una, self.lost_edge())
            } else {
                0
            };
            outstanding
                .saturating_sub(self.scoreboard.sacked_bytes())
                .saturating_sub(lost)
                .saturating_add(self.scoreboard.rexmit_in_flight())
        } else {
            outstanding.saturating_sub(self.rec.dupacks * self.snd.mss)
        }
    }

    fn rexmit_plan(&self, seq: SeqNumber, max_len: u32, kind: PlanKind) -> Option<Plan> {
        // Only what was sent: a resend of a short last segment must not carry new data past
        // the peer's window (a probe that did so was dropped by a zero-window peer and left
        // the sender waiting for a backed-off RTO after the window reopened).
        let data_end = self.data_end();
        let end = if self.fin_sent() || self.snd.max > data_end {
            data_end
        } else {
            self.snd.max
        };
        let avail = (end - seq).max(0) as u32;
        let len = avail.min(max_len).min(self.snd.mss);
        let fin = self.fin_sent() && seq + len == end;
        (len > 0 || fin).then_some(Plan {
            seq,
            len,
            fin,
            kind,
        })
    }

    /// What congestion control lets out now: PRR's count in a SACK fast recovery, else cwnd
    /// less what is in flight.
    fn cwnd_budget(&self, cwnd: u32) -> u32 {
        if self.prr_active() {
            return self.rec.prr_sndcnt;
        }
        let in_flight = if self.rec.point.is_some() || self.opts.sack_ok {
            // Outside recovery SACKed segments have left the network too: each one lets a new
            // segment out (limited transmit, RFC 3042, as the pipe of RFC 6675 counts it).
            self.pipe()
        } else {
            // Limited transmit (RFC 3042): the first two duplicate ACKs each let one new
            // segment out.
            let sent = (self.snd.nxt - self.snd.una).max(0) as u32;
            sent.saturating_sub(self.rec.dupacks.min(2) * self.snd.mss)
        };
        cwnd.saturating_sub(in_flight)
    }

    /// The next segment to send; new data of up to `long` bytes (whole MSS) in one segment when
    /// `long` is above the MSS (the device cuts it, see [`crate::TxRoom`]).
    fn plan(&mut self, now: Instant, long: u32) -> Option<Plan> {
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return None;
        }
        let mss = self.snd.mss;
        let cwnd = self.cc.cwnd();
        if self.rec.fast_rexmit {
            if let Some(p) = self.rexmit_plan(self.snd.una, u32::MAX, PlanKind::FastRexmit) {
                return Some(p);
            }
            self.rec.fast_rexmit = false;
        }
        if self.rec.tlp_now {
            if let Some(p) = self.tlp_plan() {
                return Some(p);
            }
            self.rec.tlp_now = false;
        }
        // In recovery the budget is needed now; otherwise only if there is new data to send.
        let mut budget = None;
        if self.rec.point.is_some() {
            let b = self.cwnd_budget(cwnd);
            if b < mss && !self.rec.probe_now {
                self.stats.limited(Limit::Recovery, now.0);
                return None;
            }
            if self.opts.sack_ok && self.scoreboard.rexmit_room() {
                let edge = self.lost_edge();
                if let Some((start, len)) = self.scoreboard.next_lost(self.snd.una, edge) {
                    let p = self.rexmit_plan(start, len, PlanKind::SackRexmit);
                    return p.filter(|p| self.paced(now, p.len));
                }
            }
            budget = Some(b);
        }
        // New data (or go-back-N resend after an RTO).
        let end = self.data_end();
        let available = (end - self.snd.nxt).max(0) as u32;
        if available == 0 {
            let fin_due = self.snd.fin_queued && self.snd.nxt == end;
            if !fin_due && budget.is_some() {
                return self.rescue_plan(now);
            }
            return fin_due.then_some(Plan {
                seq: end,
                len: 0,
                fin: true,
                kind: PlanKind::Next,
            });
        }
        let wnd_edge = self.snd.una + self.snd.wnd;
        let usable_wnd = (wnd_edge - self.snd.nxt).max(0) as u32;
        let usable_cwnd = budget.unwrap_or_else(|| self.cwnd_budget(cwnd));
        let usable = usable_wnd.min(usable_cwnd);
        let mut len = self.new_data_len(available, usable, long);
        if !self.sends_now(len, available) {
            let limit = if usable_wnd < available.min(mss) {
                Limit::Rwnd
            } else if budget.is_some() {
                Limit::Recovery
            } else {
                Limit::Cwnd
            };
            self.hold_back(now, available, usable_wnd, usable_cwnd, limit);
            return None;
        }
        if len > mss {
            len = self.pace_fit(now, len);
        }
        if !self.paced(now, len) {
            return None;
        }
        let fin = self.snd.fin_queued && self.snd.nxt + len == end;
        Some(Plan {
            seq: self.snd.nxt,
            len,
            fin,
            kind: PlanKind::Next,
        })
    }

    /// How much new data the next segment carries, of `available` bytes with `usable` allowed by
    /// the windows: one MSS, or whole MSS up to `long` bytes for a device that cuts them (a
    /// short tail only when it is all there is and would go at once: no Nagle, or the FIN).
    /// A go-back-N resend (after an RTO without SACK) stays one MSS, as every resend.
    fn new_data_len(&self, available: u32, usable: u32, long: u32) -> u32 {
        let mss = self.snd.mss;
        let resend = self.snd.nxt < self.snd.max;
        let cap = if long > mss && !resend {
            long - long % mss
        } else {
            mss
        };
        let len = available.min(usable).min(cap);
        if len > mss && !(len == available && (self.snd.nodelay || self.snd.fin_queued)) {
            // Whole segments: a short tail goes by the rules for one segment, on its own.
            return len - len % mss;
        }
        len
    }

    /// Whether `len` bytes of new data (of `available`) go now: a full segment, a resend, a
    /// forced one, the last bytes when Nagle allows, or half the peer's largest window (RFC 9293
    /// §3.8.6.2.1 sender SWS avoidance).
    fn sends_now(&self, len: u32, available: u32) -> bool {
        len > 0
            && (len >= self.snd.mss
                || self.snd.nxt < self.snd.max
                || self.force_send
                || (len == available
                    && (self.snd.nodelay || self.snd.fin_queued || self.snd.nxt == self.snd.una))
                || (self.snd.max_wnd > 0 && len >= self.snd.max_wnd / 2))
    }

    /// New data held back: counts what limited it (`limit`, when a window was short of a
    /// segment), and arms the persist timer when the peer's window holds it with nothing in
    /// flight (which guarantees progress).
    fn hold_back(
        &mut self,
        now: Instant,
        available: u32,
        usable_wnd: u32,
        usable_cwnd: u32,
        limit: Limit,
    ) {
        let want = available.min(self.snd.mss);
        if usable_wnd < want || usable_cwnd < want {
            self.stats.limited(limit, now.0);
        }
        if self.snd.una == self.snd.max && usable_wnd < want && self.timers.persist_at.is_none() {
            self.timers.persist_at = Some(now + self.rtt.rto());
        }
    }

    /// Pacing, when the congestion control sets a rate: whether `len` bytes may leave now. The
    /// credit grows by the rate every millisecond (the clock's tick) up to two milliseconds'
    /// worth (at least two segments), so each tick's segments leave as one batch; when it falls
    /// short, `pace_at` asks for a wake-up at the next tick.
    fn paced(&mut self, now: Instant, len: u32) -> bool {
        let Some(rate) = self.cc.pacing_rate() else {
            return true;
        };
        self.pace_refill(now, rate);
        if self.pace_credit >= u64::from(len) {
            return true;
        }
        self.stats.limited(Limit::Pacing, now.0);
        self.timers.pace_at = Some(now + Duration(1));
        false
    }

    /// The pacing credit grown by the time since it last grew (`rate` bytes a second).
    fn pace_refill(&mut self, now: Instant, rate: u64) {
        if now > self.pace_stamp {
            let cap = (rate / 500).max(2 * u64::from(self.snd.mss));
            let refill = rate.saturating_mul((now - self.pace_stamp).0) / 1000;
            self.pace_credit = self.pace_credit.saturating_add(refill).min(cap);
            self.pace_stamp = now;
        }
    }

    /// A long segment of `len` bytes cut to the pacing credit: whole MSS, at least one (which
    /// [`Conn::paced`] then lets out or holds back).
    fn pace_fit(&mut self, now: Instant, len: u32) -> u32 {
        let Some(rate) = self.cc.pacing_rate() else {
            return len;
        };
        self.pace_refill(now, rate);
        let credit = self.pace_credit.min(u64::from(len)) as u32;
        if credit >= len {
            len
        } else {
            (credit - credit % self.snd.mss).max(self.snd.mss)
        }
    }

    /// Rescue retransmission (RFC 6675 §4, NextSeg rule 4): in a SACK fast recovery with no hole
    /// to resend and no new data, once per recovery, the highest segment sent goes again when no
    /// SACK covers it RACK's wait after it was sent. Its SACK makes every hole below it lost, and (RACK, `detect_lost_rexmits`)
    /// proves lost a retransmission sent before it; without it a lost tail, or a lost last
    /// retransmission, waits for the RTO (the tail loss probe is not armed in a recovery).
    fn rescue_plan(&mut self, now: Instant) -> Option<Plan> {
        let una = self.snd.una;
        if !self.opts.sack_ok
            || self.rec.rto_recovery
            || !self.scoreboard.rexmit_room()
            || self.rec.rescue_rxt.is_some_and(|r| una <= r)
        {
            return None;
        }
        let end = self.data_end();
        let top = if self.snd.max < end {
            self.snd.max
        } else {
            end
        };
        let floor = match self.scoreboard.highest() {
            Some(h) if h > una => h,
            _ => una,
        };
        let above = (top - floor).max(0) as u32;
        if above == 0 {
            return None;
        }
        let start = floor + above.saturating_sub(self.snd.mss);
        if self.scoreboard.rexmit_covers(start) {
            return None;
        }
        // Not before the tail could have been SACKed (RACK's wait after it was sent, as for a
        // retransmission): until then `tlp_at`, RACK's timer in a recovery, wakes us.
        let due = self.rec.tail_sent_at + self.rtt.rack_wait();
        if now < due {
            let t = &mut self.timers.tlp_at;
            *t = Some(t.map_or(due, |t| t.min(due)));
            return None;
        }
        let p = self.rexmit_plan(start, (top - start) as u32, PlanKind::SackRexmit)?;
        if !self.paced(now, p.len) {
            return None;
        }
        self.rec.rescue_rxt = self.rec.point;
        Some(p)
    }

    /// The tail loss probe (RFC 8985 §7.3): one new segment if the peer's window takes it
    /// (whatever cwnd says), else the last segment sent again.
    fn tlp_plan(&self) -> Option<Plan> {
        let end = self.data_end();
        let available = (end - self.snd.nxt).max(0) as u32;
        let usable_wnd = ((self.snd.una + self.snd.wnd) - self.snd.nxt).max(0) as u32;
        if self.snd.nxt == self.snd.max
            && available > 0
            && usable_wnd >= available.min(self.snd.mss)
        {
            let len = available.min(usable_wnd).min(self.snd.mss);
            return Some(Plan {
                seq: self.snd.nxt,
                len,
                fin: self.snd.fin_queued && self.snd.nxt + len == end,
                kind: PlanKind::TlpNew,
            });
        }
        // Data end of what was sent (the FIN, if sent, sits just past it).
        let sent_end = if self.fin_sent() { end } else { self.snd.max };
        let data_out = (sent_end - self.snd.una).max(0) as u32;
        let seq = sent_end + data_out.min(self.snd.mss).wrapping_neg();
        self.rexmit_plan(seq, u32::MAX, PlanKind::TlpRexmit)
    }

    /// Fills `seg` with a segment carrying no payload: the header, then the options of a
    /// synchronized connection (built in place, see [`Conn::segment_options_into`]).
    fn repr_into(&mut self, now: Instant, seq: SeqNumber, flags: TcpFlags, seg: &mut TcpRepr<'_>) {
        self.segment_options_into(now, &mut seg.options);
        self.header_into(seq, flags, seg);
        seg.payload = &[];
    }

    /// Writes the header fields of a segment on a synchronized connection into `seg` (its
    /// options are already there) and updates what sending one changes: the ACK sent, the
    /// delayed ACK, the D-SACK reported once.
    fn header_into(&mut self, seq: SeqNumber, flags: TcpFlags, seg: &mut TcpRepr<'_>) {
        let window_len = self.advertise(true);
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.ack_now = false;
        self.timers.delack_at = None;
        self.segs_unacked = 0;
        self.stats.segs_out += 1;
        // A D-SACK is reported once.
        self.rcv.dsack = None;
        seg.src_port = self.tuple.local_port;
        seg.dst_port = self.tuple.remote_port;
        seg.seq_number = seq;
        seg.ack_number = self.rcv.nxt;
        seg.flags = flags | TcpFlags::ACK;
        seg.window_len = window_len;
        seg.urgent_pointer = 0;
    }

    /// Builds the next segment to send into the caller's slot `seg` (written in place, field by
    /// field: a segment returned by value was copied right after it was written, and that copy
    /// stalled on the store buffer), its payload read from the send ring or from `scratch`.
    /// Returns false, `seg` unspecified, when there is nothing to send. With `allow_data` false
    /// only control segments and pure ACKs are built, and an ACK is held back when data would
    /// carry it.
    pub(crate) fn build_into<'b>(
        &'b mut self,
        now: Instant,
        config: &Config,
        scratch: &'b mut [u8],
        allow_data: bool,
        long: u32,
        seg: &mut TcpRepr<'b>,
    ) -> bool {
        if let Some(seq) = self.rst_reply.take() {
            self.bare_into(seq, SeqNumber(0), TcpFlags::RST, seg);
            return true;
        }
        if self.rst_now {
            self.rst_now = false;
            let (seq, ack) = (self.snd.nxt, self.rcv.nxt);
            self.bare_into(seq, ack, TcpFlags::RST | TcpFlags::ACK, seg);
            return true;
        }
        match self.state {
            State::Closed | State::Listen => return false,
            State::SynSent | State::SynReceived if self.snd.nxt == self.snd.iss => {
                self.syn_into(now, config, seg);
                return true;
            }
            State::SynSent => return false,
            _ => {}
        }
        if !allow_data && !self.probe_now && !self.ack_now {
            // Nothing but data could go out, and this pass sends none: the data pass plans.
            return false;
        }
        let mut plan = if self.state == State::SynReceived {
            None
        } else {
            self.plan(now, long)
        };
        if allow_data {
            // By reference: the plan was just written field by field, and a copy of it (a wide
            // load over its narrow stores) stalled on the store buffer.
            if let Some(p) = plan.as_mut() {
                self.emit_plan(now, p, scratch, seg);
                return true;
            }
        }
        if self.probe_now && (allow_data || plan.is_none()) {
            self.probe_now = false;
            let seq = self.snd.una + u32::MAX;
            self.repr_into(now, seq, TcpFlags::empty(), seg);
            return true;
        }
        if self.ack_now && (allow_data || plan.is_none()) {
            let seq = self.snd.nxt;
            self.repr_into(now, seq, TcpFlags::empty(), seg);
            return true;
        }
        false
    }

    /// Sends what `p` plans, into `seg`. The payload is read from the send ring in place (one
    /// copy, ring to frame, when the caller emits it); only bytes that wrap the ring's end go
    /// through `scratch`.
    fn emit_plan<'b>(
        &'b mut self,
        now: Instant,
        p: &mut Plan,
        scratch: &'b mut [u8],
        seg: &mut TcpRepr<'b>,
    ) {
        // SACK blocks on a data segment eat into the payload.
        self.segment_options_into(now, &mut seg.options);
        let mss = self.snd.mss;
        let room = mss
            .saturating_sub(crate::options::sack_len(&seg.options))
            .max(1);
        if room < mss && p.len > room {
            // (Long segments too: the device would cut them at the MSS.)
            p.len = room;
            p.fin = false;
        }
        let offset = (p.seq - self.buf_start()) as usize;
        if p.len > mss {
            // A long segment is read in place: it ends where the ring wraps (whole segments).
            let first = self.send_buf.slices(offset, p.len as usize).0.len() as u32;
            if first < p.len {
                p.len = if first >= mss {
                    first - first % mss
                } else {
                    mss
                };
                p.fin = false;
            }
            // Counted as the segments the device makes (the header counts one).
            self.stats.segs_out += u64::from(p.len.div_ceil(mss) - 1);
        }
        let end = p.seq + p.len + u32::from(p.fin);
        self.note_kind(now, p, end);
        self.account_sent(now, p, end);
        self.flight_peak = self.flight_peak.max(self.outstanding());
        self.stats.bytes_sent += u64::from(p.len);
        let mut flags = TcpFlags::empty();
        if p.fin {
            flags |= TcpFlags::FIN;
        }
        if p.len > 0 && p.seq + p.len == self.data_end() {
            flags |= TcpFlags::PSH;
        }
        self.header_into(p.seq, flags, seg);
        let n = p.len as usize;
        seg.payload = match self.send_buf.slices(offset, n) {
            (whole, []) => whole,
            (first, second) => {
                let (a, b) = scratch[..first.len() + second.len()].split_at_mut(first.len());
                a.copy_from_slice(first);
                b.copy_from_slice(second);
                &scratch[..n]
            }
        };
        debug_assert_eq!(seg.payload.len(), n);
    }

    /// What sending this kind of segment changes: the retransmission and probe state, or
    /// SND.NXT for new data.
    fn note_kind(&mut self, now: Instant, p: &Plan, end: SeqNumber) {
        match p.kind {
            PlanKind::FastRexmit | PlanKind::SackRexmit => {
                if p.kind == PlanKind::FastRexmit {
                    self.rec.fast_rexmit = false;
                }
                self.rec.probe_now = false;
                if self.rec.high_rxt < end {
                    self.rec.high_rxt = end;
                }
                if self.opts.sack_ok {
                    let _ = self
                        .scoreboard
                        .record_rexmit(p.seq, end, self.snd.max, now.0);
                    let una = self.snd.una;
                    if self.timers.tlp_at.is_none()
                        && !self.rec.rto_recovery
                        && self.scoreboard.may_probe(una)
                    {
                        // Should no ACK follow, its probe timeout looks again
                        // (`detect_lost_rexmits`; after an RTO, the RTO does).
                        let pto = Duration(u64::from(self.rexmit_pto_ms()));
                        self.timers.tlp_at = Some(now + pto);
                    }
                }
                if p.seq == self.snd.una {
                    // As Linux: resending the oldest segment gives it a whole RTO to be
                    // acknowledged (the timer may be about to expire on the lost original).
                    self.arm_rto(now);
                }
            }
            PlanKind::TlpRexmit | PlanKind::TlpNew => {
                self.rec.tlp_now = false;
                self.stats.tail_probes += 1;
                if p.kind == PlanKind::TlpNew {
                    self.snd.nxt = end;
                }
                let top = if self.snd.max < end {
                    end
                } else {
                    self.snd.max
                };
                self.rec.tlp_out = Some(top);
                // RFC 8985 §7.3: the RTO restarts after the probe.
                self.arm_rto(now);
            }
            PlanKind::Next => {
                self.snd.nxt = end;
                self.force_send = false;
            }
        }
    }

    /// The books every sent segment updates: pacing credit, PRR, RACK's send records,
    /// retransmission counters and Karn's probe, SND.MAX, the FIN, the RTO and the TLP.
    fn account_sent(&mut self, now: Instant, p: &Plan, end: SeqNumber) {
        if self.cc.pacing_rate().is_some() {
            self.pace_credit = self.pace_credit.saturating_sub(u64::from(p.len));
        }
        if self.prr_active() {
            let sent = p.len + u32::from(p.fin);
            self.rec.prr_out = self.rec.prr_out.saturating_add(sent);
            self.rec.prr_sndcnt = self.rec.prr_sndcnt.saturating_sub(sent);
        }
        let new_data = matches!(p.kind, PlanKind::Next | PlanKind::TlpNew);
        if new_data {
            self.rack.on_sent(p.seq, end, now.0);
        }
        let retransmission = !new_data || p.seq < self.snd.max;
        if retransmission {
            self.stats.total_retrans += 1;
            if self.rec.point.is_some() && !self.rec.rto_recovery {
                if let Some(n) = self.rec.undo_retrans.as_mut() {
                    *n += 1;
                }
            }
            self.rtt_probe = None;
        } else if self.rtt_probe.is_none() && !self.opts.ts_ok && p.len > 0 {
            self.rtt_probe = Some((end, now));
        }
        if self.snd.max < end {
            self.snd.max = end;
            self.rec.tail_sent_at = now;
        }
        if p.fin {
            self.snd.fin_seq = Some(p.seq + p.len);
        }
        if self.timers.rto_at.is_none() {
            self.arm_rto(now);
        }
        if p.kind == PlanKind::Next {
            self.schedule_tlp(now);
        }
    }

    fn syn_into(&mut self, now: Instant, config: &Config, seg: &mut TcpRepr<'_>) {
        let syn_ack = self.state == State::SynReceived;
        self.snd.nxt = self.snd.iss + 1;
        if self.snd.max < self.snd.nxt {
            self.snd.max = self.snd.nxt;
        }
        if self.timers.rto_at.is_none() {
            self.arm_rto(now);
        }
        self.rtt_probe = (self.timers.retries == 0).then_some((self.snd.iss + 1, now));
        let window_len = if syn_ack {
            self.advertise(false)
        } else {
            self.recv_buf.free().min(65_535) as u16
        };
        if syn_ack {
            self.rcv.last_ack_sent = self.rcv.nxt;
        }
        self.ack_now = false;
        self.stats.segs_out += 1;
        *seg = TcpRepr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq_number: self.snd.iss,
            ack_number: if syn_ack { self.rcv.nxt } else { SeqNumber(0) },
            flags: if syn_ack {
                TcpFlags::SYN | TcpFlags::ACK
            } else {
                TcpFlags::SYN
            },
            window_len,
            urgent_pointer: 0,
            options: self.syn_options(config, now, syn_ack),
            payload: &[],
        };
    }

    fn bare_into(
        &mut self,
        seq: SeqNumber,
        ack: SeqNumber,
        flags: TcpFlags,
        seg: &mut TcpRepr<'_>,
    ) {
        self.stats.segs_out += 1;
        *seg = TcpRepr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq_number: seq,
            ack_number: ack,
            flags,
            window_len: 0,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
    }
}
