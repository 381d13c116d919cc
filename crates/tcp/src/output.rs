//! Segment building: what to send next (RFC 9293 §3.8.6 SWS avoidance, Nagle, congestion and
//! receive windows, fast retransmit and SACK-based recovery, RFC 6675 NextSeg).

use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

use crate::config::Config;
use crate::conn::Conn;
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
    /// New data, or resending after an RTO (snd_nxt below snd_max).
    Next,
}

impl Conn {
    /// The window we advertise now, in bytes, never moving the right edge left; applies receiver
    /// SWS avoidance (RFC 9293 §3.8.6.2.2) and records the new right edge.
    fn advertise(&mut self, scaled: bool) -> u16 {
        let cap = self.recv_buf.capacity() as u32;
        let free = self.recv_buf.free() as u32;
        let candidate = self.rcv_nxt + free;
        let threshold = (cap / 2).min(self.snd_mss.max(536));
        let current = if self.rcv_adv < self.rcv_nxt {
            self.rcv_nxt
        } else {
            self.rcv_adv
        };
        let edge = if (candidate - current) >= threshold as i32 || self.rcv_adv < self.rcv_nxt {
            candidate
        } else {
            current
        };
        let wnd = (edge - self.rcv_nxt).max(0) as u32;
        let shift = if scaled { self.rcv_wscale } else { 0 };
        let field = (wnd >> shift).min(65_535);
        let advertised_edge = self.rcv_nxt + (field << shift);
        if advertised_edge > self.rcv_adv || self.rcv_adv < self.rcv_nxt {
            self.rcv_adv = advertised_edge;
        }
        field as u16
    }

    /// Whether a read freed enough space that the peer should hear of it (window update).
    pub(crate) fn window_update_due(&self) -> bool {
        let cap = self.recv_buf.capacity() as u32;
        // The largest window the header can express bounds what an update could announce.
        let max_field = 65_535u32 << self.rcv_wscale;
        let candidate = self.rcv_nxt + (self.recv_buf.free() as u32).min(max_field);
        let mss = self.snd_mss.max(536);
        // A peer held below one segment (zero window) hears as soon as the receiver SWS rule
        // (RFC 9293 §3.8.6.2.2: min(BUFF/2, MSS)) lets the window open; otherwise an update
        // waits for two segments' worth, as Linux' window doubling rule.
        let open = (self.rcv_adv - self.rcv_nxt).max(0) as u32;
        let threshold = if open < mss {
            (cap / 2).min(mss)
        } else {
            (cap / 2).min(2 * mss)
        };
        self.state.can_receive() && (candidate - self.rcv_adv) >= threshold as i32
    }

    /// Where lost data ends: below it every un-SACKed byte counts as lost. In a recovery begun by
    /// an RTO that is the recovery point; otherwise the highest SACKed byte (RFC 6675's IsLost
    /// with the holes' own SACKs above them, as before).
    fn lost_edge(&self) -> SeqNumber {
        match (self.rto_recovery, self.recovery) {
            (true, Some(point)) if point <= self.snd_max => point,
            (true, _) => self.snd_max,
            _ => self.scoreboard.highest().unwrap_or(self.snd_una),
        }
    }

    /// Bytes in the network by RFC 6675's estimate: what was sent and not acknowledged, less
    /// what the peer SACKed and what is lost, plus the retransmissions in flight.
    pub(crate) fn pipe(&self) -> u32 {
        let outstanding = self.outstanding();
        if self.sack_ok {
            // Outside recovery no hole is lost yet (fewer than DupThresh segments above it).
            let lost = if self.recovery.is_some() {
                self.scoreboard.holes_below(self.snd_una, self.lost_edge())
            } else {
                0
            };
            outstanding
                .saturating_sub(self.scoreboard.sacked_bytes())
                .saturating_sub(lost)
                .saturating_add(self.scoreboard.rexmit_in_flight())
        } else {
            outstanding.saturating_sub(self.dupacks * self.snd_mss)
        }
    }

    fn rexmit_plan(&self, seq: SeqNumber, max_len: u32, kind: PlanKind) -> Option<Plan> {
        let end = self.data_end();
        let avail = (end - seq).max(0) as u32;
        let len = avail.min(max_len).min(self.snd_mss);
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
            return self.prr_sndcnt;
        }
        let in_flight = if self.recovery.is_some() || self.sack_ok {
            // Outside recovery SACKed segments have left the network too: each one lets a new
            // segment out (limited transmit, RFC 3042, as the pipe of RFC 6675 counts it).
            self.pipe()
        } else {
            // Limited transmit (RFC 3042): the first two duplicate ACKs each let one new
            // segment out.
            let sent = (self.snd_nxt - self.snd_una).max(0) as u32;
            sent.saturating_sub(self.dupacks.min(2) * self.snd_mss)
        };
        cwnd.saturating_sub(in_flight)
    }

    fn plan(&mut self, now: Instant) -> Option<Plan> {
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return None;
        }
        let mss = self.snd_mss;
        let cwnd = self.cc.cwnd();
        if self.fast_rexmit {
            if let Some(p) = self.rexmit_plan(self.snd_una, u32::MAX, PlanKind::FastRexmit) {
                return Some(p);
            }
            self.fast_rexmit = false;
        }
        if self.tlp_now {
            if let Some(p) = self.tlp_plan() {
                return Some(p);
            }
            self.tlp_now = false;
        }
        // In recovery the budget is needed now; otherwise only if there is new data to send.
        let mut budget = None;
        if self.recovery.is_some() {
            let b = self.cwnd_budget(cwnd);
            if b < mss {
                return None;
            }
            if self.sack_ok && self.scoreboard.rexmit_room() {
                let edge = self.lost_edge();
                if let Some((start, len)) = self.scoreboard.next_lost(self.snd_una, edge) {
                    let p = self.rexmit_plan(start, len, PlanKind::SackRexmit);
                    return p.filter(|p| self.paced(now, p.len));
                }
            }
            budget = Some(b);
        }
        // New data (or go-back-N resend after an RTO).
        let end = self.data_end();
        let available = (end - self.snd_nxt).max(0) as u32;
        if available == 0 {
            let fin_due = self.fin_queued && self.snd_nxt == end;
            return fin_due.then_some(Plan {
                seq: end,
                len: 0,
                fin: true,
                kind: PlanKind::Next,
            });
        }
        let wnd_edge = self.snd_una + self.snd_wnd;
        let usable_wnd = (wnd_edge - self.snd_nxt).max(0) as u32;
        let usable_cwnd = budget.unwrap_or_else(|| self.cwnd_budget(cwnd));
        let len = available.min(usable_wnd).min(usable_cwnd).min(mss);
        let resend = self.snd_nxt < self.snd_max;
        let send = len > 0
            && (len == mss
                || resend
                || self.force_send
                || (len == available
                    && (self.nodelay || self.fin_queued || self.snd_nxt == self.snd_una))
                || (self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2));
        if !send {
            // Window-limited with nothing in flight: the persist timer guarantees progress.
            if self.snd_una == self.snd_max
                && usable_wnd < available.min(mss)
                && self.persist_at.is_none()
            {
                self.persist_at = Some(now + self.rtt.rto());
            }
            return None;
        }
        if !self.paced(now, len) {
            return None;
        }
        let fin = self.fin_queued && self.snd_nxt + len == end;
        Some(Plan {
            seq: self.snd_nxt,
            len,
            fin,
            kind: PlanKind::Next,
        })
    }

    /// Pacing, when the congestion control sets a rate: whether `len` bytes may leave now. The
    /// credit grows by the rate every millisecond (the clock's tick) up to two milliseconds'
    /// worth (at least two segments), so each tick's segments leave as one batch; when it falls
    /// short, `pace_at` asks for a wake-up at the next tick.
    fn paced(&mut self, now: Instant, len: u32) -> bool {
        let Some(rate) = self.cc.pacing_rate() else {
            return true;
        };
        if now > self.pace_stamp {
            let cap = (rate / 500).max(2 * u64::from(self.snd_mss));
            let refill = rate.saturating_mul((now - self.pace_stamp).0) / 1000;
            self.pace_credit = self.pace_credit.saturating_add(refill).min(cap);
            self.pace_stamp = now;
        }
        if self.pace_credit >= u64::from(len) {
            return true;
        }
        self.pace_at = Some(now + Duration(1));
        false
    }

    /// The tail loss probe (RFC 8985 §7.3): one new segment if the peer's window takes it
    /// (whatever cwnd says), else the last segment sent again.
    fn tlp_plan(&self) -> Option<Plan> {
        let end = self.data_end();
        let available = (end - self.snd_nxt).max(0) as u32;
        let usable_wnd = ((self.snd_una + self.snd_wnd) - self.snd_nxt).max(0) as u32;
        if self.snd_nxt == self.snd_max
            && available > 0
            && usable_wnd >= available.min(self.snd_mss)
        {
            let len = available.min(usable_wnd).min(self.snd_mss);
            return Some(Plan {
                seq: self.snd_nxt,
                len,
                fin: self.fin_queued && self.snd_nxt + len == end,
                kind: PlanKind::TlpNew,
            });
        }
        // Data end of what was sent (the FIN, if sent, sits just past it).
        let sent_end = if self.fin_sent() { end } else { self.snd_max };
        let data_out = (sent_end - self.snd_una).max(0) as u32;
        let seq = sent_end + data_out.min(self.snd_mss).wrapping_neg();
        self.rexmit_plan(seq, u32::MAX, PlanKind::TlpRexmit)
    }

    fn repr<'b>(
        &mut self,
        now: Instant,
        seq: SeqNumber,
        flags: TcpFlags,
        payload: &'b [u8],
    ) -> TcpRepr<'b> {
        let options = self.segment_options(now);
        self.repr_with(seq, flags, payload, options)
    }

    /// [`Self::repr`] with the segment's options already built (a data segment builds them
    /// once, to size its payload and to send them).
    fn repr_with<'b>(
        &mut self,
        seq: SeqNumber,
        flags: TcpFlags,
        payload: &'b [u8],
        options: TcpOptions,
    ) -> TcpRepr<'b> {
        let window_len = self.advertise(true);
        self.last_ack_sent = self.rcv_nxt;
        self.ack_now = false;
        self.delack_at = None;
        self.segs_unacked = 0;
        self.stats.segs_out += 1;
        // A D-SACK is reported once.
        self.dsack = None;
        TcpRepr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq_number: seq,
            ack_number: self.rcv_nxt,
            flags: flags | TcpFlags::ACK,
            window_len,
            urgent_pointer: 0,
            options,
            payload,
        }
    }

    /// Builds the next segment to send into `scratch`, if any. With `allow_data` false only
    /// control segments and pure ACKs are built, and an ACK is held back when data would carry it.
    pub(crate) fn build<'b>(
        &'b mut self,
        now: Instant,
        config: &Config,
        scratch: &'b mut [u8],
        allow_data: bool,
    ) -> Option<TcpRepr<'b>> {
        if let Some(seq) = self.rst_reply.take() {
            return Some(self.bare(seq, SeqNumber(0), TcpFlags::RST));
        }
        if self.rst_now {
            self.rst_now = false;
            return Some(self.bare(self.snd_nxt, self.rcv_nxt, TcpFlags::RST | TcpFlags::ACK));
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived if self.snd_nxt == self.iss => {
                return Some(self.syn(now, config));
            }
            State::SynSent => return None,
            _ => {}
        }
        if !allow_data && !self.probe_now && !self.ack_now {
            // Nothing but data could go out, and this pass sends none: the data pass plans.
            return None;
        }
        let plan = if self.state == State::SynReceived {
            None
        } else {
            self.plan(now)
        };
        if allow_data {
            if let Some(p) = plan {
                return Some(self.emit_plan(now, p, scratch));
            }
        }
        if self.probe_now && (allow_data || plan.is_none()) {
            self.probe_now = false;
            return Some(self.repr(now, self.snd_una + u32::MAX, TcpFlags::empty(), &[]));
        }
        if self.ack_now && (allow_data || plan.is_none()) {
            return Some(self.repr(now, self.snd_nxt, TcpFlags::empty(), &[]));
        }
        None
    }

    /// Sends what `p` plans. The payload is read from the send ring in place (one copy, ring to
    /// frame, when the caller emits it); only bytes that wrap the ring's end go through `scratch`.
    fn emit_plan<'b>(
        &'b mut self,
        now: Instant,
        mut p: Plan,
        scratch: &'b mut [u8],
    ) -> TcpRepr<'b> {
        // SACK blocks on a data segment eat into the payload.
        let options = self.segment_options(now);
        let room = self
            .snd_mss
            .saturating_sub(crate::options::sack_len(&options))
            .max(1);
        if p.len > room {
            p.len = room;
            p.fin = false;
        }
        let offset = (p.seq - self.buf_start()) as usize;
        let end = p.seq + p.len + u32::from(p.fin);
        match p.kind {
            PlanKind::FastRexmit | PlanKind::SackRexmit => {
                if p.kind == PlanKind::FastRexmit {
                    self.fast_rexmit = false;
                }
                if self.high_rxt < end {
                    self.high_rxt = end;
                }
                if self.sack_ok {
                    let _ = self
                        .scoreboard
                        .record_rexmit(p.seq, end, self.snd_max, now.0);
                }
                if p.seq == self.snd_una {
                    // As Linux: resending the oldest segment gives it a whole RTO to be
                    // acknowledged (the timer may be about to expire on the lost original).
                    self.arm_rto(now);
                }
            }
            PlanKind::TlpRexmit | PlanKind::TlpNew => {
                self.tlp_now = false;
                self.stats.tail_probes += 1;
                if p.kind == PlanKind::TlpNew {
                    self.snd_nxt = end;
                }
                let top = if self.snd_max < end {
                    end
                } else {
                    self.snd_max
                };
                self.tlp_out = Some(top);
                // RFC 8985 §7.3: the RTO restarts after the probe.
                self.arm_rto(now);
            }
            PlanKind::Next => {
                self.snd_nxt = end;
                self.force_send = false;
            }
        }
        if self.cc.pacing_rate().is_some() {
            self.pace_credit = self.pace_credit.saturating_sub(u64::from(p.len));
        }
        if self.prr_active() {
            let sent = p.len + u32::from(p.fin);
            self.prr_out = self.prr_out.saturating_add(sent);
            self.prr_sndcnt = self.prr_sndcnt.saturating_sub(sent);
        }
        let new_data = matches!(p.kind, PlanKind::Next | PlanKind::TlpNew);
        let retransmission = !new_data || p.seq < self.snd_max;
        if retransmission {
            self.stats.total_retrans += 1;
            if self.recovery.is_some() && !self.rto_recovery {
                if let Some(n) = self.undo_retrans.as_mut() {
                    *n += 1;
                }
            }
            self.rtt_probe = None;
        } else if self.rtt_probe.is_none() && !self.ts_ok && p.len > 0 {
            self.rtt_probe = Some((end, now));
        }
        if self.snd_max < end {
            self.snd_max = end;
        }
        if p.fin {
            self.fin_seq = Some(p.seq + p.len);
        }
        if self.rto_at.is_none() {
            self.arm_rto(now);
        }
        if p.kind == PlanKind::Next {
            self.schedule_tlp(now);
        }
        self.flight_peak = self.flight_peak.max(self.outstanding());
        self.stats.bytes_sent += u64::from(p.len);
        let mut flags = TcpFlags::empty();
        if p.fin {
            flags |= TcpFlags::FIN;
        }
        if p.len > 0 && p.seq + p.len == self.data_end() {
            flags |= TcpFlags::PSH;
        }
        let header = self.repr_with(p.seq, flags, &[], options);
        let n = p.len as usize;
        let payload = match self.send_buf.slices(offset, n) {
            (whole, []) => whole,
            (first, second) => {
                let (a, b) = scratch[..first.len() + second.len()].split_at_mut(first.len());
                a.copy_from_slice(first);
                b.copy_from_slice(second);
                &scratch[..n]
            }
        };
        debug_assert_eq!(payload.len(), n);
        TcpRepr { payload, ..header }
    }

    fn syn(&mut self, now: Instant, config: &Config) -> TcpRepr<'static> {
        let syn_ack = self.state == State::SynReceived;
        self.snd_nxt = self.iss + 1;
        if self.snd_max < self.snd_nxt {
            self.snd_max = self.snd_nxt;
        }
        if self.rto_at.is_none() {
            self.arm_rto(now);
        }
        self.rtt_probe = (self.retries == 0).then_some((self.iss + 1, now));
        let window_len = if syn_ack {
            self.advertise(false)
        } else {
            self.recv_buf.free().min(65_535) as u16
        };
        if syn_ack {
            self.last_ack_sent = self.rcv_nxt;
        }
        self.ack_now = false;
        self.stats.segs_out += 1;
        TcpRepr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq_number: self.iss,
            ack_number: if syn_ack { self.rcv_nxt } else { SeqNumber(0) },
            flags: if syn_ack {
                TcpFlags::SYN | TcpFlags::ACK
            } else {
                TcpFlags::SYN
            },
            window_len,
            urgent_pointer: 0,
            options: self.syn_options(config, now, syn_ack),
            payload: &[],
        }
    }

    fn bare(&mut self, seq: SeqNumber, ack: SeqNumber, flags: TcpFlags) -> TcpRepr<'static> {
        self.stats.segs_out += 1;
        TcpRepr {
            src_port: self.tuple.local_port,
            dst_port: self.tuple.remote_port,
            seq_number: seq,
            ack_number: ack,
            flags,
            window_len: 0,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
    }
}
