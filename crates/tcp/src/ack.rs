//! Acknowledgment processing: the cumulative ACK, duplicate ACKs and SACK blocks (RFC 5681,
//! RFC 6675), D-SACK and undo (RFC 2883, RFC 3708), fast recovery with PRR (RFC 6937), RTT
//! samples and the deliveries model-based congestion control needs.

use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpRepr};

use crate::cc::Delivery;
use crate::conn::{Conn, Cx};
use crate::input::ts_before;
use crate::sack::RexmitProbe;
use crate::state::Event;
use crate::time::{Duration, Instant};

impl Conn {
    /// The ACK field of an acceptable segment (RFC 9293 §3.10.7.4), step by step: SACK
    /// blocks, the cumulative ACK or a duplicate, loss detection, delivery accounting for
    /// PRR and the congestion control, and the send window.
    pub(crate) fn process_ack(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) {
        let (una_before, sacked_before) = (self.snd.una, self.scoreboard.sacked_bytes());
        let (fack_before, arrivals_before) = (self.fack(), self.scoreboard.arrivals);
        self.scoreboard
            .set_ack_clock(cx.now.0, self.rtt.min_rtt().0);
        let newly_sacked = self.take_sack_blocks(seg);
        let new_wnd = u32::from(seg.window_len) << self.opts.snd_wscale;
        let mut rtt_sample = None;
        if seg.ack_number > self.snd.una {
            rtt_sample = self.on_cumulative_ack(cx, seg);
        } else if self.is_dupack(seg, newly_sacked, new_wnd) {
            self.rec.dupacks += 1;
        }
        // RFC 6937 §3: DeliveredData = change in SND.UNA + change in SACKed bytes.
        let delivered = ((self.snd.una - una_before).max(0) as u32)
            .saturating_add(self.scoreboard.sacked_bytes())
            .saturating_sub(sacked_before);
        self.rack_on_ack(cx.now, fack_before, arrivals_before, delivered);
        self.detect_loss(cx.now);
        self.account_delivery(cx.now, delivered, rtt_sample);
        self.update_send_window(seg, new_wnd);
    }

    /// Records the segment's SACK blocks (and any D-SACK); returns whether new bytes were SACKed.
    fn take_sack_blocks(&mut self, seg: &TcpRepr<'_>) -> bool {
        if !self.opts.sack_ok || seg.options.sack_blocks.is_empty() {
            return false;
        }
        self.check_dsack(seg);
        self.scoreboard
            .update(&seg.options.sack_blocks, self.snd.una, self.snd.max)
    }

    /// SND.UNA advances: free the acknowledged data, take an RTT sample, end or continue a
    /// recovery or grow cwnd, restart the timers. Returns the RTT sample.
    fn on_cumulative_ack(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) -> Option<Duration> {
        let ackn = seg.ack_number;
        let acked = (ackn - self.snd.una) as u32;
        let buf_start = self.buf_start();
        let covered = if ackn < self.data_end() {
            ackn
        } else {
            self.data_end()
        };
        let data_acked = (covered - buf_start).max(0) as usize;
        self.send_buf.consume(data_acked);
        self.snd.una = ackn;
        if self.snd.nxt < self.snd.una {
            self.snd.nxt = self.snd.una;
        }
        if self.rec.high_rxt < self.snd.una {
            self.rec.high_rxt = self.snd.una;
        }
        self.stats.bytes_acked += data_acked as u64;
        let rtt_sample = self.sample_rtt(cx, seg);
        self.timers.retries = 0;
        self.timers.persist_backoff = 0;
        self.scoreboard.advance(self.snd.una);
        if self.rec.tlp_out.is_some_and(|t| ackn >= t) {
            self.rec.tlp_out = None;
        }
        if let Some(t) = self.rec.rto_undo_tsval.take() {
            if seg
                .options
                .timestamps
                .is_some_and(|ts| ts.tsecr != 0 && ts_before(ts.tsecr, t))
            {
                self.undo_rto();
            }
        }
        self.ack_congestion(cx.now, ackn, acked);
        self.flight_peak = self.outstanding();
        if self.rec.rto_recover.is_some_and(|p| ackn >= p) {
            self.rec.rto_recover = None;
        }
        if self.snd.una == self.snd.max {
            self.timers.rto_at = None;
            self.timers.tlp_at = None;
        } else {
            self.arm_rto(cx.now);
            self.schedule_tlp(cx.now);
        }
        if data_acked > 0 && self.writable_wanted {
            self.writable_wanted = false;
            self.push_event(cx, Event::Writable);
        }
        rtt_sample
    }

    /// Eifel (RFC 3522, response as RFC 4015): the first ACK after a timeout acknowledged the
    /// original transmission, so the timeout was spurious: the window comes back and the
    /// resending of the outstanding data stops.
    fn undo_rto(&mut self) {
        self.stats.undos += 1;
        self.cc.undo();
        self.rec.point = None;
        self.rec.rto_recovery = false;
        self.rec.rto_recover = None;
        self.scoreboard.clear_rexmits();
        // Go-back-N (no SACK) rewound snd.nxt: what was sent is on its way.
        self.snd.nxt = self.snd.max;
    }

    /// What `acked` new bytes mean for congestion control: the end of a recovery, a partial
    /// ACK within one, or window growth.
    fn ack_congestion(&mut self, now: Instant, ackn: SeqNumber, acked: u32) {
        let mss = self.snd.mss;
        self.rec.dupacks = 0;
        match self.rec.point {
            Some(point) if ackn >= point => {
                self.rec.point = None;
                self.rec.probe_now = false;
                if self.rec.rto_recovery {
                    // Slow start after the timeout simply goes on.
                    self.rec.rto_recovery = false;
                } else {
                    self.cc.on_recovery_end(mss);
                }
                self.rtt.on_recovery_end();
            }
            Some(_) if !self.rec.rto_recovery => {
                // Partial ACK (RFC 6582 §3.2): it acknowledges a retransmission, so the
                // segment now at SND.UNA, sent before it, is lost too. With SACK, NextSeg
                // finds it when SACKs lie above it; without any (the rest of the window
                // lost or its ACKs lost) resend it now rather than wait for the RTO,
                // unless it is already being resent.
                if !self.opts.sack_ok
                    || (self.scoreboard.highest().is_none()
                        && !self.scoreboard.rexmit_covers(self.snd.una))
                {
                    self.rec.fast_rexmit = true;
                }
            }
            _ => {
                // Outside recovery, or resending after an RTO (slow start, RFC 5681 §3.1).
                let cwnd = self.cc.cwnd();
                let slow_start = cwnd < self.cc.ssthresh();
                let peak = self.flight_peak;
                // Linux tcp_is_cwnd_limited: grow only a window that was actually used.
                let cwnd_limited = if slow_start {
                    cwnd < 2 * peak
                } else {
                    peak + mss >= cwnd
                };
                if cwnd_limited {
                    let srtt = self.rtt.srtt();
                    self.cc.on_ack(now, acked, mss, srtt, self.outstanding());
                }
            }
        }
    }

    /// A duplicate ACK (RFC 5681 §2): nothing new acknowledged, no data, same window, data
    /// outstanding; with SACK it must SACK new data (RFC 6675 §2: a duplicated frame or a
    /// stale ACK does not count).
    fn is_dupack(&self, seg: &TcpRepr<'_>, newly_sacked: bool, new_wnd: u32) -> bool {
        let has_sack = self.opts.sack_ok && !seg.options.sack_blocks.is_empty();
        seg.ack_number == self.snd.una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && self.outstanding() > 0
            && if has_sack {
                newly_sacked
            } else {
                new_wnd == self.snd.wnd
            }
    }

    /// Lost retransmissions, and the start of a fast recovery.
    fn detect_loss(&mut self, now: Instant) {
        let mss = self.snd.mss;
        if self.opts.sack_ok && self.rec.point.is_some() {
            self.rack_detect(now);
        }
        // RFC 6675 IsLost(SND.UNA): more than DupThresh - 1 segments SACKed above it; or the
        // tail loss probe, sent a PTO after everything below it, was SACKed (RFC 8985 §7.4).
        let lost_by_sack = self.opts.sack_ok
            && (self.scoreboard.sacked_bytes() >= 3 * mss
                || self
                    .rec
                    .tlp_out
                    .is_some_and(|t| self.scoreboard.highest().is_some_and(|h| h >= t)));
        if self.rec.point.is_none()
            && !self.rto_recover_pending()
            && self.outstanding() > 0
            && (self.rec.dupacks >= 3 || lost_by_sack || self.lost_by_rack(now))
        {
            self.enter_recovery(now);
        }
    }

    /// Whether an RTO's recover point (RFC 6582 §3.2) still holds fast recovery back. One that
    /// SND.UNA has reached is spent, also when no cumulative ACK of data cleared it: a SYN's
    /// timeout sets it to ISS + 1, which only the SYN-ACK acknowledges.
    pub(crate) fn rto_recover_pending(&mut self) -> bool {
        if self.rec.rto_recover.is_some_and(|p| p <= self.snd.una) {
            self.rec.rto_recover = None;
        }
        self.rec.rto_recover.is_some()
    }

    /// RACK alone (RFC 8985 §6.2, as Linux): outside a recovery, a hole below the highest SACKed
    /// byte older than RACK.rtt + reo_wnd is lost even with fewer than DupThresh segments
    /// SACKed above it (reo_wnd is then a quarter of the minimum RTT, step 4: the window that
    /// tells a late segment from a lost one when DupThresh cannot). A hole not yet old enough
    /// sets the reordering timer (§6.3: `tlp_at`, whose expiry with SACKed data outstanding
    /// enters the recovery).
    fn lost_by_rack(&mut self, now: Instant) -> bool {
        if !self.opts.sack_ok || self.scoreboard.highest().is_none() {
            return false;
        }
        // RACK needs an RTT (RFC 8985 §6.2 uses RACK.rtt): before any sample (a retransmitted
        // SYN leaves none, by Karn's rule) its wait would be the reordering window alone.
        let srtt = self.rtt.srtt().0.min(u64::from(u32::MAX)) as u32;
        let Some(rtt) = self.rack.rtt_ms.or(self.rtt.has_sample().then_some(srtt)) else {
            return false;
        };
        let reo = self.rtt.reo_wnd().0.min(u64::from(u32::MAX)) as u32;
        let (una, fack) = (self.snd.una, self.fack());
        if let Some(ms) = self.rack.detect(una, fack, now.0, rtt.saturating_add(reo)) {
            let at = now + Duration(u64::from(ms));
            let t = &mut self.timers.tlp_at;
            *t = Some(t.map_or(at, |t| t.min(at)));
        }
        self.rack.edge > una
    }

    /// A retransmission overtaken by SACKs of data sent after it, or sent before another
    /// retransmission that arrived and older than RACK's wait (RFC 8985 §6.2), was lost again:
    /// its hole is NextSeg's once more (no RTO needed). One not yet old enough sets RACK's
    /// reordering timer (§6.3; `tlp_at`, which a recovery does not use otherwise).
    pub(crate) fn detect_lost_rexmits(&mut self, now: Instant) {
        let wait = self.rtt.rack_wait().0.min(u64::from(u32::MAX)) as u32;
        let found = self
            .scoreboard
            .detect_lost_rexmits(2 * self.snd.mss, now.0, wait);
        if found.lost {
            self.stats.lost_retransmits += 1;
        }
        let mut recheck = found.recheck_in_ms;
        if recheck.is_none() {
            // The newest retransmission with nothing arriving after it: the probe timeout,
            // else the RTO.
            let pto = self.rexmit_pto_ms();
            match self.scoreboard.probe_last_rexmit(self.snd.una, now.0, pto) {
                RexmitProbe::WaitMs(ms) => recheck = Some(ms),
                RexmitProbe::Lost => {
                    self.stats.lost_retransmits += 1;
                    self.rec.probe_now = true;
                }
                RexmitProbe::NotApplicable => {}
            }
        }
        self.timers.tlp_at = recheck.map(|ms| now + Duration(u64::from(ms)));
    }

    /// The probe timeout of a retransmission, as the tail loss probe's: two smoothed RTTs, at
    /// least 2 ms. Before any RTT sample RFC 8985 §7.2 takes one second; the RTO, which is then
    /// at least that (RFC 6298's initial RTO), is used instead, so the probe never comes first.
    pub(crate) fn rexmit_pto_ms(&self) -> u32 {
        let pto = if self.rtt.has_sample() {
            2 * self.rtt.srtt().0
        } else {
            self.rtt.rto().0
        };
        pto.clamp(2, u64::from(u32::MAX)) as u32
    }

    /// `delivered` bytes reached the peer: PRR's budget and the congestion control's model.
    fn account_delivery(&mut self, now: Instant, delivered: u32, rtt: Option<Duration>) {
        if self.prr_active() {
            self.prr_update(delivered);
        }
        if delivered > 0 {
            self.delivered += u64::from(delivered);
            let d = Delivery {
                delivered: self.delivered,
                newly_delivered: delivered,
                rtt,
                in_flight: self.pipe(),
                app_limited: self.not_sent() == 0,
            };
            self.cc.on_delivery(now, &d);
        }
    }

    /// RFC 9293 §3.10.7.4: the send window from the newest segment (SND.WL1/SND.WL2).
    fn update_send_window(&mut self, seg: &TcpRepr<'_>, new_wnd: u32) {
        let (seq, ackn) = (seg.seq_number, seg.ack_number);
        if self.snd.wl1 < seq || (self.snd.wl1 == seq && self.snd.wl2 <= ackn) {
            self.snd.wnd = new_wnd;
            self.snd.max_wnd = self.snd.max_wnd.max(new_wnd);
            self.snd.wl1 = seq;
            self.snd.wl2 = ackn;
            if new_wnd > 0 {
                self.timers.persist_at = None;
            }
        }
    }

    /// RFC 2883 §4: a first SACK block below the cumulative ACK, or inside the second block,
    /// reports a duplicate. Each one answers for one retransmission of the last recovery; when
    /// all have been answered the congestion response was spurious and is undone (RFC 3708's
    /// D-SACK detection with Linux' `tcp_try_undo_dsack`).
    fn check_dsack(&mut self, seg: &TcpRepr<'_>) {
        let blocks = &seg.options.sack_blocks;
        let first = blocks[0];
        let dsack = first.right <= seg.ack_number
            || blocks
                .get(1)
                .is_some_and(|b| b.left <= first.left && first.right <= b.right);
        if !dsack {
            return;
        }
        self.stats.dsacks += 1;
        self.rtt.on_dsack();
        if let Some(n) = self.rec.undo_retrans.filter(|&n| n > 0) {
            let n = n - 1;
            self.rec.undo_retrans = Some(n);
            if n == 0 {
                self.rec.undo_retrans = None;
                self.stats.undos += 1;
                self.cc.undo();
            }
        }
    }

    /// Fast retransmit and recovery (RFC 5681 §3.2, RFC 6675 §5): one congestion response for
    /// everything sent so far.
    pub(crate) fn enter_recovery(&mut self, now: Instant) {
        self.rec.point = Some(self.snd.max);
        self.rec.rto_recovery = false;
        self.stats.fast_recoveries += 1;
        self.rec.undo_retrans = Some(0);
        self.cc.on_congestion(now, self.snd.mss, self.outstanding());
        self.rec.recover_fs = self.outstanding();
        self.rec.prr_delivered = 0;
        self.rec.prr_out = 0;
        self.rec.prr_sndcnt = 0;
        // RFC 6675 §5 (3), RFC 5681 §3.2 (4): the segment at SND.UNA is resent at once,
        // whatever the pipe (segments above the highest SACK still count in flight and may
        // exceed the reduced cwnd); NextSeg takes over from there.
        self.rec.fast_rexmit = true;
        self.rec.high_rxt = self.snd.una;
        self.cancel_tlp();
        if self.opts.sack_ok {
            self.rack_detect(now);
        }
    }

    /// RFC 6937 §3, on every ACK of a fast recovery: how much may be sent now. Above ssthresh
    /// the sending rate is `ssthresh / RecoverFS` of the delivery rate; below it, slow start
    /// reduction bound (PRR-SSRB) climbs back to ssthresh.
    pub(crate) fn prr_update(&mut self, delivered: u32) {
        let mss = u64::from(self.snd.mss);
        self.rec.prr_delivered = self.rec.prr_delivered.saturating_add(delivered);
        let pipe = u64::from(self.pipe());
        let ssthresh = u64::from(self.cc.ssthresh());
        let (prr_delivered, prr_out) = (
            u64::from(self.rec.prr_delivered),
            u64::from(self.rec.prr_out),
        );
        let sndcnt = if pipe > ssthresh {
            let fs = u64::from(self.rec.recover_fs.max(1));
            (prr_delivered * ssthresh)
                .div_ceil(fs)
                .saturating_sub(prr_out)
        } else {
            let limit = prr_delivered
                .saturating_sub(prr_out)
                .max(u64::from(delivered))
                + mss;
            (ssthresh - pipe).min(limit)
        };
        self.rec.prr_sndcnt = sndcnt.min(u64::from(u32::MAX)) as u32;
    }

    /// Feeds the RTT estimator from the ACK's timestamp echo (or the Karn probe without
    /// timestamps); returns the sample.
    fn sample_rtt(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) -> Option<Duration> {
        if self.opts.ts_ok {
            if let Some(ts) = seg.options.timestamps {
                if ts.tsecr != 0 {
                    let rtt = self.tsval(cx.now).wrapping_sub(ts.tsecr);
                    if rtt < 600_000 {
                        let rtt = Duration(u64::from(rtt));
                        self.rtt.sample(rtt);
                        return Some(rtt);
                    }
                    return None;
                }
            }
        }
        if let Some((end, sent)) = self.rtt_probe {
            if seg.ack_number >= end {
                self.rtt_probe = None;
                self.rtt.sample(cx.now - sent);
                return Some(cx.now - sent);
            }
        }
        None
    }
}
