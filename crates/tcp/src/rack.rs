//! RACK (RFC 8985) for original transmissions: when each segment of new data left, and from
//! that which holes below the highest SACKed byte are lost.
//!
//! Segments sent in the same millisecond (the clock's tick) share one record `(end, sent_ms)`;
//! a record starts where the one before it ends (the first at SND.UNA). New data leaves in
//! sequence order, so the records are sorted by both sequence and send time, and every byte
//! below the highest SACKed one was sent no later than that byte: RFC 8985 §6.2's "sent before
//! RACK.xmit_ts" is "below RACK.fack". The table holds [`MAX_RECORDS`] milliseconds of
//! transmissions in flight; when full, new data joins the newest record (it then looks older
//! than it is and may be declared lost up to that much earlier). No allocation: a fixed ring.
//!
//! Retransmissions keep their own send order in the scoreboard (`sack.rs`).

use heapless::Deque;
use mtcp_wire::tcp::SeqNumber;

use crate::conn::Conn;
use crate::sack::RexmitArrivals;
use crate::time::{Duration, Instant};

/// Milliseconds of original transmissions tracked at once.
pub const MAX_RECORDS: usize = 256;

/// RACK's state for original data.
#[derive(Clone, Debug, Default)]
pub struct Rack {
    /// `(end, sent_ms)` per millisecond of new data sent, oldest first.
    sent: Deque<(SeqNumber, u32), MAX_RECORDS>,
    /// RACK.reord (RFC 8985 §6.2 step 3): a segment never retransmitted was delivered below
    /// RACK.fack. Until then the reordering window is zero in a recovery (step 4).
    pub reord: bool,
    /// RACK.rtt: the RTT of the most recently sent segment delivered, in ms.
    pub rtt_ms: Option<u32>,
    /// Below this every un-SACKed byte counts as lost (with the highest SACKed byte as a cap:
    /// see [`Rack::detect`]).
    pub edge: SeqNumber,
}

impl Rack {
    /// New data `[start, end)` left at millisecond `now_ms`. A resend from below the newest
    /// record (go-back-N after a timeout) replaces the records above it.
    pub fn on_sent(&mut self, start: SeqNumber, end: SeqNumber, now_ms: u64) {
        let now = now_ms as u32;
        while self.sent.back().is_some_and(|&(e, _)| e > start) {
            self.sent.pop_back();
        }
        let full = self.sent.is_full();
        if let Some(last) = self.sent.back_mut() {
            if last.1 == now || full {
                last.0 = end;
                return;
            }
        }
        let _ = self.sent.push_back((end, now));
    }

    /// Forgets what SND.UNA now acknowledges.
    pub fn advance(&mut self, una: SeqNumber) {
        while self.sent.front().is_some_and(|&(e, _)| e <= una) {
            self.sent.pop_front();
        }
    }

    /// When the byte before `seq` was sent (the record holding it), if known.
    pub fn sent_ms(&self, seq: SeqNumber) -> Option<u32> {
        self.sent.iter().find(|&&(e, _)| e >= seq).map(|&(_, t)| t)
    }

    /// RFC 8985 §6.2 step 5 over the records: a byte below `fack` (the highest SACKed byte) is
    /// lost once `wait_ms` (RACK.rtt + RACK.reo_wnd) have passed since it was sent. Sets
    /// [`Rack::edge`] and returns in how many ms the next hole below `fack` becomes lost (the
    /// reordering timer, §6.3), if one is still waiting.
    pub fn detect(
        &mut self,
        una: SeqNumber,
        fack: SeqNumber,
        now_ms: u64,
        wait_ms: u32,
    ) -> Option<u32> {
        let now = now_ms as u32;
        let mut edge = una;
        let mut recheck = None;
        let mut all_old = true;
        for &(end, t) in self.sent.iter() {
            if edge >= fack {
                break;
            }
            let age = now.wrapping_sub(t);
            if age < wait_ms {
                recheck = Some(wait_ms - age);
                all_old = false;
                break;
            }
            edge = end;
        }
        if all_old || edge > fack {
            // Data sent before the records were kept (or beyond them) counts as old.
            edge = fack;
        }
        self.edge = if edge < una { una } else { edge };
        recheck
    }
}

impl Conn {
    /// The highest byte known delivered: the highest SACKed one, else SND.UNA (RACK.fack).
    pub(crate) fn fack(&self) -> SeqNumber {
        match self.scoreboard.highest() {
            Some(h) if h > self.snd.una => h,
            _ => self.snd.una,
        }
    }

    /// After an ACK that delivered `delivered` bytes (RFC 8985 §6.2 steps 2-3): RACK.rtt from
    /// the newest segment delivered when RACK.fack advanced (not a retransmitted one: its RTT
    /// is ambiguous), or RACK.reord when bytes never retransmitted arrived below RACK.fack
    /// (`fack_before`) with no whole retransmission (`arrivals_before`: the scoreboard's
    /// counts before the ACK; an ACK that also brought a whole one is taken as its arrival).
    ///
    /// Only bytes never retransmitted count: part of a retransmission of several segments
    /// (SACKed or acknowledged one segment at a time) is no reordering; taken for it,
    /// RACK.reord held every later recovery to RACK's reordering window.
    pub(crate) fn rack_on_ack(
        &mut self,
        now: Instant,
        fack_before: SeqNumber,
        arrivals_before: RexmitArrivals,
        delivered: u32,
    ) {
        let arrived = self.scoreboard.arrivals;
        let rexmit_bytes = arrived.bytes.wrapping_sub(arrivals_before.bytes);
        if self.opts.sack_ok && delivered > 0 {
            let fack = self.fack();
            if fack > fack_before {
                if fack > self.rec.high_rxt {
                    if let Some(t) = self.rack.sent_ms(fack) {
                        self.rack.rtt_ms = Some((now.0 as u32).wrapping_sub(t));
                    }
                }
            } else if arrived.whole == arrivals_before.whole
                && delivered > rexmit_bytes
                && !self.rec.rto_recovery
                && !self.rto_recover_pending()
                && self.rec.tlp_out.is_none()
            {
                self.rack.reord = true;
            }
        }
        self.rack.advance(self.snd.una);
    }

    /// RACK's loss detection in a SACK recovery (RFC 8985 §6.2 step 5): lost retransmissions
    /// (`detect_lost_rexmits`) and the holes below RACK.fack sent at least RACK.rtt +
    /// RACK.reo_wnd ago; the reordering window is zero until reordering was seen (step 4, as
    /// Linux). The rest sets the reordering timer (§6.3; `tlp_at` in a recovery).
    pub(crate) fn rack_detect(&mut self, now: Instant) {
        self.detect_lost_rexmits(now);
        let srtt = self.rtt.srtt().0.min(u64::from(u32::MAX)) as u32;
        let rtt = self.rack.rtt_ms.unwrap_or(srtt);
        let reo = if self.rack.reord {
            self.rtt.reo_wnd().0.min(u64::from(u32::MAX)) as u32
        } else {
            0
        };
        let fack = self.fack();
        let wait = rtt.saturating_add(reo);
        if let Some(ms) = self.rack.detect(self.snd.una, fack, now.0, wait) {
            let at = now + Duration(u64::from(ms));
            let t = &mut self.timers.tlp_at;
            *t = Some(t.map_or(at, |t| t.min(at)));
        }
    }

    /// RACK's reordering timer expired in a recovery (RFC 8985 §6.3): detect again. Holes it
    /// finds lost leave the pipe, and PRR's budget, otherwise recomputed on ACKs only, is
    /// recomputed for them (no data was delivered), so they can go out now rather than wait
    /// for an ACK that may not come (the RTO).
    pub(crate) fn rack_timer(&mut self, now: Instant) {
        let edge = self.rack.edge;
        self.rack_detect(now);
        if self.rack.edge != edge && self.prr_active() {
            self.prr_update(0);
        }
    }

    /// Where lost data ends in a SACK recovery not begun by a timeout: RACK's edge, within
    /// `[SND.UNA, RACK.fack]`.
    pub(crate) fn rack_lost_edge(&self) -> SeqNumber {
        let fack = self.fack();
        let e = self.rack.edge;
        if e < self.snd.una {
            self.snd.una
        } else if e > fack {
            fack
        } else {
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_is_lost_only_after_the_wait() {
        let mut r = Rack::default();
        r.on_sent(SeqNumber(0), SeqNumber(100), 10);
        r.on_sent(SeqNumber(100), SeqNumber(200), 10);
        r.on_sent(SeqNumber(200), SeqNumber(300), 12);
        r.on_sent(SeqNumber(300), SeqNumber(400), 15);
        assert_eq!(r.sent_ms(SeqNumber(150)), Some(10));
        // 300..400 SACKed at 25: 0..300 is below it; with a wait of 14 the records sent at
        // 10 are lost, the one sent at 12 one ms later.
        assert_eq!(r.detect(SeqNumber(0), SeqNumber(300), 25, 14), Some(1));
        assert_eq!(r.edge, SeqNumber(200));
        assert_eq!(r.detect(SeqNumber(0), SeqNumber(300), 26, 14), None);
        assert_eq!(r.edge, SeqNumber(300));
        // Never beyond the highest SACKed byte; never below SND.UNA.
        assert_eq!(r.detect(SeqNumber(0), SeqNumber(150), 100, 14), None);
        assert_eq!(r.edge, SeqNumber(150));
        r.advance(SeqNumber(250));
        assert_eq!(r.detect(SeqNumber(250), SeqNumber(300), 24, 14), Some(2));
        assert_eq!(r.edge, SeqNumber(250));
        // A go-back-N resend replaces the records above it.
        r.on_sent(SeqNumber(250), SeqNumber(350), 40);
        assert_eq!(r.sent_ms(SeqNumber(400)), None);
        assert_eq!(r.sent_ms(SeqNumber(300)), Some(40));
    }

    #[test]
    fn a_full_table_joins_the_newest_record() {
        let mut r = Rack::default();
        for i in 0..MAX_RECORDS as u32 + 10 {
            r.on_sent(SeqNumber(i * 10), SeqNumber(i * 10 + 10), u64::from(i));
        }
        assert_eq!(
            r.sent_ms(SeqNumber((MAX_RECORDS as u32 + 9) * 10)),
            Some(255)
        );
    }
}
