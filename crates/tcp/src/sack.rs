//! The sender's SACK scoreboard (RFC 6675): which bytes above `snd_una` the peer holds, and
//! which holes were retransmitted and are still in flight.
//!
//! A retransmission is remembered with `snd_max` at the time it was sent (its *mark*). Data
//! above the mark was sent after it; once more than `DupThresh - 1` segments above the mark are
//! SACKed while the retransmission itself is not, it was lost too (the rule Linux applied before
//! RACK, `tcp_mark_lost_retrans`): the hole becomes eligible for NextSeg again, without an RTO.
//!
//! Retransmissions are also ordered by when they were sent (a serial number and the send time in
//! milliseconds), as RACK orders segments (RFC 8985 §6.2): once a retransmission sent later than
//! another was delivered (SACKed or cumulatively acknowledged), the earlier one is lost when it is
//! older than the RACK wait (an RTT plus the reordering window). That finds a lost
//! retransmission near the end of a transfer too, where no new data follows it.

use mtcp_wire::tcp::{SackBlock, SeqNumber};

/// Most SACKed ranges remembered; further ranges are ignored (recovery stays correct, only
/// slower). 3 % loss over a window of 2 000 segments leaves about 60 holes in flight: 32 ranges
/// lost the SACKs above them, and with them the holes there, until an RTO.
pub const MAX_SACKED: usize = 128;
/// Most retransmitted ranges tracked at once; when full, NextSeg waits for one to resolve.
pub const MAX_REXMITS: usize = 64;

/// One retransmitted range `[start, end)`, `snd_max` when it was sent, the order it was sent in
/// and the millisecond it was sent at (wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rexmit {
    start: SeqNumber,
    end: SeqNumber,
    mark: SeqNumber,
    serial: u32,
    sent_ms: u32,
}

/// Whether serial `a` came before `b` (wrapping).
fn serial_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Retransmissions the peer got (SACKed or cumulatively acknowledged) so far, wrapping
/// counts: whole ones, and bytes (one of several segments may arrive a segment at a time).
/// Only arrivals count: a retransmission found lost, or forgotten after an RTO, is neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RexmitArrivals {
    /// Retransmissions whose every byte arrived.
    pub whole: u32,
    /// Retransmitted bytes that arrived.
    pub bytes: u32,
}

/// What [`Scoreboard::detect_lost_rexmits`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RexmitLoss {
    /// Some retransmission was found lost.
    pub lost: bool,
    /// When the next one would be, if still undelivered (RACK's reordering timer, RFC 8985
    /// §6.3): milliseconds from now.
    pub recheck_in_ms: Option<u32>,
}

/// What [`Scoreboard::probe_last_rexmit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RexmitProbe {
    /// The rule does not apply.
    NotApplicable,
    /// The probe timeout is this many ms away.
    WaitMs(u32),
    /// The retransmission was declared lost.
    Lost,
}

/// Sorted, disjoint SACKed ranges `[left, right)`, all within `(snd_una, snd_max]`, and the
/// retransmissions in flight.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    ranges: heapless::Vec<(SeqNumber, SeqNumber), MAX_SACKED>,
    rexmits: heapless::Vec<Rexmit, MAX_REXMITS>,
    /// Serial of the next retransmission.
    next_serial: u32,
    /// Serial of the latest-sent retransmission known delivered (RACK.xmit_ts's order), if any.
    delivered_serial: Option<u32>,
    /// The ACK being processed arrived at this millisecond, and the minimum RTT: a
    /// retransmission acknowledged sooner than that after it was sent is more likely its
    /// original arriving late and does not count as delivered (RFC 8985 §6.2 step 2).
    ack_ms: u32,
    min_rtt_ms: u32,
    /// Retransmissions delivered (SACKed or acknowledged) so far, counted.
    pub arrivals: RexmitArrivals,
    /// Kept up to date so that RFC 6675's pipe, computed for every segment sent in a recovery,
    /// costs no walk over the tables: the SACKed bytes, and the retransmitted bytes in flight.
    sacked_total: u32,
    rexmit_bytes: u32,
    /// `(from, to)`: every byte of `[from, to)` is SACKed or in a retransmission in flight, as
    /// the last [`Scoreboard::next_lost`] found, so the next one starts at `to` (without it
    /// NextSeg walks every hole below the lost edge for every segment of a recovery). Dropped
    /// when a retransmission is found lost or a range could not be kept.
    covered: Option<(SeqNumber, SeqNumber)>,
    /// SND.UNA when [`Scoreboard::probe_lone_rexmit`] last declared a retransmission lost: once
    /// per position of SND.UNA, so that a silent peer still meets the RTO.
    probed_at: Option<SeqNumber>,
}

fn max_seq(a: SeqNumber, b: SeqNumber) -> SeqNumber {
    if a < b { b } else { a }
}
fn min_seq(a: SeqNumber, b: SeqNumber) -> SeqNumber {
    if a < b { a } else { b }
}
/// Bytes of the sorted, disjoint `ranges` within `[from, to)` (a binary search for the first).
fn sacked_within(ranges: &[(SeqNumber, SeqNumber)], from: SeqNumber, to: SeqNumber) -> u32 {
    let first = ranges.partition_point(|&(_, b)| b <= from);
    ranges[first..]
        .iter()
        .take_while(|&&(a, _)| a < to)
        .map(|&(a, b)| (min_seq(b, to) - max_seq(a, from)) as u32)
        .sum()
}

impl Scoreboard {
    /// Forgets every range and every retransmission.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.rexmits.clear();
        self.refresh();
        self.covered = None;
        self.probed_at = None;
    }
    /// Recomputes the cached totals after the tables changed.
    fn refresh(&mut self) {
        self.sacked_total = self.ranges.iter().map(|&(a, b)| (b - a) as u32).sum();
        let ranges = &self.ranges;
        self.rexmit_bytes = self
            .rexmits
            .iter()
            .map(|r| {
                ((r.end - r.start) as u32).saturating_sub(sacked_within(ranges, r.start, r.end))
            })
            .sum();
    }
    /// [`Scoreboard::refresh`] after SACKs or a cumulative ACK: the retransmitted bytes that
    /// left the flight then arrived.
    fn refresh_arrived(&mut self) {
        let before = self.rexmit_bytes;
        self.refresh();
        let arrived = before.saturating_sub(self.rexmit_bytes);
        self.arrivals.bytes = self.arrivals.bytes.wrapping_add(arrived);
    }
    /// Forgets the retransmissions in flight (after an RTO every one of them counts as lost).
    pub fn clear_rexmits(&mut self) {
        self.rexmits.clear();
        self.delivered_serial = None;
        self.refresh();
        self.covered = None;
    }
    /// Sets the arrival time of the ACK about to be processed and the minimum RTT (see
    /// `ack_ms`).
    pub fn set_ack_clock(&mut self, now_ms: u64, min_rtt_ms: u64) {
        self.ack_ms = now_ms as u32;
        self.min_rtt_ms = min_rtt_ms.min(u64::from(u32::MAX)) as u32;
    }
    /// Notes that retransmission `r` reached the peer (at `ack_ms`; see there).
    fn delivered(delivered_serial: &mut Option<u32>, r: &Rexmit, ack_ms: u32, min_rtt_ms: u32) {
        // A tick of slack: both stamps are whole milliseconds.
        if ack_ms.wrapping_sub(r.sent_ms).saturating_add(1) < min_rtt_ms {
            return;
        }
        if delivered_serial.is_none_or(|d| serial_before(d, r.serial)) {
            *delivered_serial = Some(r.serial);
        }
    }
    /// Adds the peer's blocks that lie within `[snd_una, snd_max]`; returns whether new bytes were SACKed.
    pub fn update(&mut self, blocks: &[SackBlock], snd_una: SeqNumber, snd_max: SeqNumber) -> bool {
        let before = self.sacked_bytes();
        for b in blocks {
            if b.right <= b.left || b.left < snd_una || b.right > snd_max {
                continue;
            }
            self.insert(b.left, b.right);
        }
        let changed = self
            .ranges
            .iter()
            .map(|&(a, b)| (b - a) as u32)
            .sum::<u32>()
            != before;
        if changed {
            // A retransmission the peer now holds entirely is no longer in flight.
            let (ranges, d) = (&self.ranges, &mut self.delivered_serial);
            let (ack_ms, min_rtt) = (self.ack_ms, self.min_rtt_ms);
            let n = &mut self.arrivals.whole;
            self.rexmits.retain(|r| {
                let i = ranges.partition_point(|&(_, b)| b <= r.start);
                let held = ranges
                    .get(i)
                    .is_some_and(|&(a, b)| a <= r.start && r.end <= b);
                if held {
                    *n = n.wrapping_add(1);
                    Self::delivered(d, r, ack_ms, min_rtt);
                }
                !held
            });
            self.refresh_arrived();
        }
        changed
    }
    fn insert(&mut self, mut l: SeqNumber, mut r: SeqNumber) {
        let mut out: heapless::Vec<(SeqNumber, SeqNumber), MAX_SACKED> = heapless::Vec::new();
        let mut placed = false;
        let mut kept = true;
        for &(a, b) in self.ranges.iter() {
            if b < l {
                kept &= out.push((a, b)).is_ok();
            } else if r < a {
                if !placed {
                    kept &= out.push((l, r)).is_ok();
                    placed = true;
                }
                kept &= out.push((a, b)).is_ok();
            } else {
                if a < l {
                    l = a;
                }
                if b > r {
                    r = b;
                }
            }
        }
        if !placed {
            kept &= out.push((l, r)).is_ok();
        }
        self.ranges = out;
        if !kept {
            self.covered = None;
        }
    }
    /// Drops everything below the new `snd_una`.
    pub fn advance(&mut self, snd_una: SeqNumber) {
        if self.ranges.is_empty() && self.rexmits.is_empty() {
            // Every ACK without loss: nothing to move (and no 1 KiB copy of the ranges).
            return;
        }
        let mut out: heapless::Vec<(SeqNumber, SeqNumber), MAX_SACKED> = heapless::Vec::new();
        for &(a, b) in self.ranges.iter() {
            if b > snd_una {
                let _ = out.push((max_seq(a, snd_una), b));
            }
        }
        self.ranges = out;
        let d = &mut self.delivered_serial;
        let (ack_ms, min_rtt) = (self.ack_ms, self.min_rtt_ms);
        let n = &mut self.arrivals.whole;
        self.rexmits.retain(|r| {
            if r.end <= snd_una {
                *n = n.wrapping_add(1);
                Self::delivered(d, r, ack_ms, min_rtt);
            }
            r.end > snd_una
        });
        for r in self.rexmits.iter_mut() {
            r.start = max_seq(r.start, snd_una);
        }
        self.refresh_arrived();
    }
    /// Total SACKed bytes.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked_total
    }
    /// SACKed bytes within `[from, to)`.
    fn sacked_within(&self, from: SeqNumber, to: SeqNumber) -> u32 {
        sacked_within(&self.ranges, from, to)
    }
    /// The highest SACKed sequence number (exclusive end), if any.
    pub fn highest(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|&(_, b)| b)
    }
    /// Un-SACKed bytes within `[from, to)`: the holes, all taken as lost when `to` is the lost
    /// edge.
    pub fn holes_below(&self, from: SeqNumber, to: SeqNumber) -> u32 {
        if to <= from {
            return 0;
        }
        ((to - from) as u32).saturating_sub(self.sacked_within(from, to))
    }
    /// Bytes of retransmissions still in flight (neither acknowledged, SACKed nor found lost).
    pub fn rexmit_in_flight(&self) -> u32 {
        self.rexmit_bytes
    }
    /// Records a retransmission of `[start, end)` sent at millisecond `now_ms` while `snd_max`
    /// was `mark`. Returns false if the table is full (the caller must not send it then).
    pub fn record_rexmit(
        &mut self,
        start: SeqNumber,
        end: SeqNumber,
        mark: SeqNumber,
        now_ms: u64,
    ) -> bool {
        let sent_ms = now_ms as u32;
        if let Some(last) = self.rexmits.last_mut() {
            if last.end == start && last.mark == mark && last.sent_ms == sent_ms {
                last.end = end;
                self.rexmit_bytes += (end - start) as u32;
                return true;
            }
        }
        let serial = self.next_serial;
        let r = Rexmit {
            start,
            end,
            mark,
            serial,
            sent_ms,
        };
        let ok = self.rexmits.push(r).is_ok();
        if ok {
            self.next_serial = serial.wrapping_add(1);
            self.rexmit_bytes +=
                ((end - start) as u32).saturating_sub(sacked_within(&self.ranges, start, end));
        }
        ok
    }
    /// Whether `seq` lies in a retransmission still in flight.
    pub fn rexmit_covers(&self, seq: SeqNumber) -> bool {
        self.rexmits.iter().any(|r| r.start <= seq && seq < r.end)
    }
    /// Whether another retransmission can be recorded.
    pub fn rexmit_room(&self) -> bool {
        !self.rexmits.is_full()
    }
    /// Forgets the retransmissions that were lost as well: more than `thresh_bytes` above their
    /// mark are SACKed while they are not; or (RACK) one sent after them was delivered and they
    /// were sent at least `wait_ms` before `now_ms`.
    pub fn detect_lost_rexmits(
        &mut self,
        thresh_bytes: u32,
        now_ms: u64,
        wait_ms: u32,
    ) -> RexmitLoss {
        let highest = self.highest();
        let before = self.rexmits.len();
        let (ranges, delivered) = (&self.ranges, self.delivered_serial);
        let now = now_ms as u32;
        let mut recheck: Option<u32> = None;
        self.rexmits.retain(|r| {
            if highest.is_some_and(|h| sacked_within(ranges, r.mark, h) > thresh_bytes) {
                return false;
            }
            if !delivered.is_some_and(|d| serial_before(r.serial, d)) {
                return true;
            }
            let age = now.wrapping_sub(r.sent_ms);
            if age >= wait_ms {
                return false;
            }
            let left = wait_ms - age;
            recheck = Some(recheck.map_or(left, |x| x.min(left)));
            true
        });
        let lost = self.rexmits.len() != before;
        if lost {
            self.refresh();
            self.covered = None;
        }
        RexmitLoss {
            lost,
            recheck_in_ms: recheck,
        }
    }
    /// Whether [`Scoreboard::probe_last_rexmit`] may still declare one lost at `snd_una`.
    pub fn may_probe(&self, snd_una: SeqNumber) -> bool {
        self.probed_at != Some(snd_una)
    }
    /// The probe timeout (RFC 8985 §7) for retransmissions nothing else can prove lost. RACK
    /// finds a retransmission lost once one sent after it arrives, and the rule of the mark
    /// once data sent after it is SACKed; the newest retransmission has neither when nothing
    /// that follows it arrives: it was the last thing sent (all sent, or the peer's window
    /// full), or what followed was lost with it. Then no ACK comes, and only the RTO would
    /// resend it. Once `pto_ms` have passed since it was sent it is declared lost (NextSeg
    /// resends it, as the probe would resend the last segment; its arrival then shows RACK the
    /// older ones lost), once per position of `snd_una`, so that a silent peer still meets the
    /// RTO.
    pub fn probe_last_rexmit(
        &mut self,
        snd_una: SeqNumber,
        now_ms: u64,
        pto_ms: u32,
    ) -> RexmitProbe {
        let Some(&r) = self.rexmits.last() else {
            return RexmitProbe::NotApplicable;
        };
        // A later one was delivered (RACK orders them) or the peer was probed at this SND.UNA.
        let newest = r.serial.wrapping_add(1) == self.next_serial;
        if !newest || !self.may_probe(snd_una) {
            return RexmitProbe::NotApplicable;
        }
        let age = (now_ms as u32).wrapping_sub(r.sent_ms);
        if age < pto_ms {
            return RexmitProbe::WaitMs(pto_ms - age);
        }
        self.rexmits.pop();
        self.probed_at = Some(snd_una);
        self.refresh();
        self.covered = None;
        RexmitProbe::Lost
    }
    /// NextSeg rule 1 (RFC 6675 §4): the first hole in `[from, lost_edge)` that is neither
    /// SACKed nor already retransmitted and in flight: `(start, len)`.
    pub fn next_lost(&mut self, from: SeqNumber, lost_edge: SeqNumber) -> Option<(SeqNumber, u32)> {
        let (base, mut cur) = match self.covered {
            Some((f, t)) if f <= from && from <= t => (f, t),
            _ => (from, from),
        };
        let found = self.hole_from(cur, lost_edge);
        if let Some((start, _)) = found {
            cur = start;
        } else if cur < lost_edge {
            cur = lost_edge;
        }
        self.covered = Some((base, cur));
        found
    }
    /// [`Scoreboard::next_lost`]'s walk from `cur`.
    fn hole_from(&self, mut cur: SeqNumber, lost_edge: SeqNumber) -> Option<(SeqNumber, u32)> {
        while cur < lost_edge {
            let i = self.ranges.partition_point(|&(_, b)| b <= cur);
            if let Some(&(_, b)) = self.ranges.get(i).filter(|&&(a, _)| a <= cur) {
                cur = b;
                continue;
            }
            if let Some(r) = self.rexmits.iter().find(|r| r.start <= cur && cur < r.end) {
                cur = r.end;
                continue;
            }
            // `cur` is a lost byte nobody resent: the hole runs to the next SACKed or resent byte.
            let mut end = lost_edge;
            let i = self.ranges.partition_point(|&(a, _)| a <= cur);
            if let Some(&(a, _)) = self.ranges.get(i) {
                end = min_seq(end, a);
            }
            for r in self.rexmits.iter() {
                if cur < r.start && r.start < end {
                    end = r.start;
                }
            }
            return Some((cur, (end - cur) as u32));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-wise model of the scoreboard: SACKed or in a retransmission in flight.
    fn model_next_lost(s: &Scoreboard, from: u32, edge: u32) -> Option<(SeqNumber, u32)> {
        let covered = |x: u32| {
            let x = SeqNumber(x);
            s.ranges.iter().any(|&(a, b)| a <= x && x < b)
                || s.rexmits.iter().any(|r| r.start <= x && x < r.end)
        };
        let start = (from..edge).find(|&x| !covered(x))?;
        let end = (start..edge).find(|&x| covered(x)).unwrap_or(edge);
        Some((SeqNumber(start), end - start))
    }

    #[test]
    fn cached_totals_and_resumed_next_lost_match_a_byte_model() {
        // A recovery's life, driven by a small LCG: SACK blocks, retransmissions of what
        // NextSeg returns, retransmissions found lost, cumulative ACKs; after every step the
        // cached totals and the resumed NextSeg must equal a recomputation from scratch.
        let mut seed = 0x2545_f491_u32;
        let mut rnd = |n: u32| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 8) % n
        };
        for _ in 0..20 {
            let mut s = Scoreboard::default();
            let (mut una, max) = (1000u32, 1000u32 + 40 * 100);
            for step in 0..300u32 {
                match rnd(10) {
                    0..=3 => {
                        let l = una + rnd(40) * 100;
                        let r = (l + (1 + rnd(4)) * 100).min(max);
                        let _ = s.update(&[blk(l, r)], SeqNumber(una), SeqNumber(max));
                    }
                    4..=6 => {
                        let edge = SeqNumber(una + rnd(41) * 100);
                        if let Some((at, len)) = s.next_lost(SeqNumber(una), edge) {
                            let end = at + len.min(100);
                            s.record_rexmit(at, end, SeqNumber(max), u64::from(step));
                        }
                    }
                    7 => {
                        let _ = s.detect_lost_rexmits(100, u64::from(step), rnd(5));
                    }
                    8 => {
                        if rnd(4) == 0 && una < max {
                            una += 100;
                            s.advance(SeqNumber(una));
                        }
                    }
                    _ => {
                        let _ = s.probe_last_rexmit(SeqNumber(una), 1000, 1);
                    }
                }
                let sacked: u32 = s.ranges.iter().map(|&(a, b)| (b - a) as u32).sum();
                assert_eq!(s.sacked_bytes(), sacked);
                let rexmit: u32 = s
                    .rexmits
                    .iter()
                    .map(|r| {
                        (r.start.0..r.end.0)
                            .filter(|&x| {
                                !s.ranges
                                    .iter()
                                    .any(|&(a, b)| a <= SeqNumber(x) && SeqNumber(x) < b)
                            })
                            .count() as u32
                    })
                    .sum();
                assert_eq!(s.rexmit_in_flight(), rexmit, "step {step}");
                let edge = una + rnd(41) * 100;
                let want = model_next_lost(&s, una, edge);
                assert_eq!(
                    s.next_lost(SeqNumber(una), SeqNumber(edge)),
                    want,
                    "step {step}"
                );
            }
        }
    }

    fn blk(l: u32, r: u32) -> SackBlock {
        SackBlock {
            left: SeqNumber(l),
            right: SeqNumber(r),
        }
    }

    #[test]
    fn holes_between_blocks() {
        let mut s = Scoreboard::default();
        assert!(s.update(
            &[blk(200, 300), blk(400, 500)],
            SeqNumber(100),
            SeqNumber(600)
        ));
        assert_eq!(s.sacked_bytes(), 200);
        let edge = SeqNumber(500);
        assert_eq!(
            s.next_lost(SeqNumber(100), edge),
            Some((SeqNumber(100), 100))
        );
        assert_eq!(
            s.next_lost(SeqNumber(250), edge),
            Some((SeqNumber(300), 100))
        );
        assert_eq!(s.next_lost(SeqNumber(450), edge), None);
        assert!(!s.update(&[blk(200, 300)], SeqNumber(100), SeqNumber(600)));
        assert!(s.update(&[blk(300, 400)], SeqNumber(100), SeqNumber(600)));
        assert_eq!(s.highest(), Some(SeqNumber(500)));
        s.advance(SeqNumber(250));
        assert_eq!(s.sacked_bytes(), 250);
        // Outside [snd_una, snd_max]: ignored.
        assert!(!s.update(&[blk(600, 700)], SeqNumber(100), SeqNumber(600)));
    }

    #[test]
    fn lost_retransmission_found_by_later_sacks() {
        let mut s = Scoreboard::default();
        // 100..200 lost; 200..500 SACKed; snd_max 500.
        s.update(&[blk(200, 500)], SeqNumber(100), SeqNumber(500));
        assert_eq!(
            s.next_lost(SeqNumber(100), SeqNumber(500)),
            Some((SeqNumber(100), 100))
        );
        assert!(s.record_rexmit(SeqNumber(100), SeqNumber(200), SeqNumber(500), 0));
        assert_eq!(s.rexmit_in_flight(), 100);
        assert_eq!(s.next_lost(SeqNumber(100), SeqNumber(500)), None);
        // New data 500..800 sent after the retransmission; 500..600 SACKed: within the
        // threshold, the retransmission may still be on its way.
        s.update(&[blk(500, 600)], SeqNumber(100), SeqNumber(800));
        assert!(!s.detect_lost_rexmits(100, 0, 5).lost);
        s.update(&[blk(600, 700)], SeqNumber(100), SeqNumber(800));
        assert!(s.detect_lost_rexmits(100, 0, 5).lost);
        assert_eq!(s.rexmit_in_flight(), 0);
        assert_eq!(
            s.next_lost(SeqNumber(100), SeqNumber(700)),
            Some((SeqNumber(100), 100))
        );
        // Once SACKed, a retransmission leaves the table.
        assert!(s.record_rexmit(SeqNumber(100), SeqNumber(200), SeqNumber(800), 0));
        s.update(&[blk(100, 200)], SeqNumber(100), SeqNumber(800));
        assert_eq!(s.rexmit_in_flight(), 0);
        assert_eq!(s.holes_below(SeqNumber(100), SeqNumber(700)), 0);
    }

    #[test]
    fn next_lost_skips_sacked_and_resent() {
        let mut s = Scoreboard::default();
        s.update(
            &[blk(200, 300), blk(400, 500)],
            SeqNumber(100),
            SeqNumber(600),
        );
        assert!(s.record_rexmit(SeqNumber(100), SeqNumber(150), SeqNumber(600), 0));
        assert_eq!(
            s.next_lost(SeqNumber(100), SeqNumber(500)),
            Some((SeqNumber(150), 50))
        );
        assert!(s.record_rexmit(SeqNumber(150), SeqNumber(200), SeqNumber(600), 0));
        assert_eq!(
            s.next_lost(SeqNumber(100), SeqNumber(600)),
            Some((SeqNumber(300), 100))
        );
        assert_eq!(s.holes_below(SeqNumber(100), SeqNumber(600)), 300);
        s.advance(SeqNumber(160));
        assert_eq!(s.rexmit_in_flight(), 40);
    }

    #[test]
    fn rack_finds_a_retransmission_lost_before_a_later_one_arrived() {
        let mut s = Scoreboard::default();
        s.set_ack_clock(100, 10);
        // 100..200 and 300..400 lost, the rest SACKed; no new data after the resends.
        s.update(
            &[blk(200, 300), blk(400, 500)],
            SeqNumber(100),
            SeqNumber(500),
        );
        assert!(s.record_rexmit(SeqNumber(100), SeqNumber(200), SeqNumber(500), 100));
        assert!(s.record_rexmit(SeqNumber(300), SeqNumber(400), SeqNumber(500), 101));
        // Nothing delivered after either yet: nothing to find, no timer.
        assert_eq!(s.detect_lost_rexmits(100, 105, 20), RexmitLoss::default());
        // The second arrives sooner than the minimum RTT after it was sent: its original, late.
        s.set_ack_clock(105, 10);
        s.update(&[blk(300, 400)], SeqNumber(100), SeqNumber(500));
        assert_eq!(s.detect_lost_rexmits(100, 105, 20), RexmitLoss::default());
        // A later one, sent after the first, arrives a whole RTT after it was sent.
        assert!(s.record_rexmit(SeqNumber(150), SeqNumber(200), SeqNumber(500), 106));
        s.set_ack_clock(116, 10);
        s.update(&[blk(150, 200)], SeqNumber(100), SeqNumber(500));
        let r = s.detect_lost_rexmits(100, 116, 20);
        assert_eq!((r.lost, r.recheck_in_ms), (false, Some(4)));
        let r = s.detect_lost_rexmits(100, 120, 20);
        assert_eq!((r.lost, r.recheck_in_ms), (true, None));
        assert_eq!(
            s.next_lost(SeqNumber(100), SeqNumber(500)),
            Some((SeqNumber(100), 50))
        );
    }
}
