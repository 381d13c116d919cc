//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::Duration;

/// Smoothed RTT state and the current RTO with its exponential backoff.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    /// Smoothed RTT in microseconds-free milliseconds (scaled by 8 to keep precision).
    srtt_x8: u64,
    /// RTT variance, scaled by 4.
    rttvar_x4: u64,
    has_sample: bool,
    /// Smallest RTT sample (RACK's reordering window is a share of it).
    min_rtt_ms: u64,
    /// RFC 8985 §6.2 step 4: the reordering window in quarters of the minimum RTT, grown by
    /// D-SACKs (spurious retransmissions) and reset after 16 recoveries without one.
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    rto_ms: u64,
    backoff: u32,
    min_rto_ms: u64,
    max_rto_ms: u64,
}

impl RttEstimator {
    /// Initial state: RTO of `initial` (RFC 6298 §2.1), bounded by `[min, max]`.
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt_x8: 0,
            rttvar_x4: 0,
            has_sample: false,
            min_rtt_ms: u64::MAX,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            rto_ms: initial.0.clamp(min.0, max.0),
            backoff: 0,
            min_rto_ms: min.0,
            max_rto_ms: max.0,
        }
    }
    /// Feeds one RTT measurement (never from a retransmitted segment: Karn's algorithm is the
    /// caller's job) and resets the backoff.
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.0.max(1);
        self.min_rtt_ms = self.min_rtt_ms.min(r);
        if !self.has_sample {
            self.srtt_x8 = r * 8;
            self.rttvar_x4 = r * 2;
            self.has_sample = true;
        } else {
            let srtt = self.srtt_x8 / 8;
            let delta = srtt.abs_diff(r);
            // rttvar = 3/4 rttvar + 1/4 |srtt - r|
            self.rttvar_x4 = self.rttvar_x4 - self.rttvar_x4 / 4 + delta;
            // srtt = 7/8 srtt + 1/8 r
            self.srtt_x8 = self.srtt_x8 - self.srtt_x8 / 8 + r;
        }
        self.backoff = 0;
        self.rto_ms = self.base_rto();
    }
    fn base_rto(&self) -> u64 {
        let srtt = self.srtt_x8 / 8;
        let k_rttvar = self.rttvar_x4.max(1); // 4 * rttvar, clock granularity 1 ms
        (srtt + k_rttvar).clamp(self.min_rto_ms, self.max_rto_ms)
    }
    /// Doubles the RTO after a timeout (RFC 6298 §5.5).
    pub fn back_off(&mut self) {
        self.backoff += 1;
        self.rto_ms = (self.rto_ms * 2).min(self.max_rto_ms);
    }
    /// The current RTO.
    pub fn rto(&self) -> Duration {
        Duration(self.rto_ms)
    }
    /// Whether an RTT was measured yet.
    pub fn has_sample(&self) -> bool {
        self.has_sample
    }
    /// Smoothed RTT (zero before the first sample).
    pub fn srtt(&self) -> Duration {
        Duration(self.srtt_x8 / 8)
    }
    /// RTT variance (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        Duration(self.rttvar_x4 / 4)
    }
    /// The smallest RTT sample (zero before the first).
    pub fn min_rtt(&self) -> Duration {
        Duration(if self.has_sample { self.min_rtt_ms } else { 0 })
    }
    /// RACK's reordering window (RFC 8985 §6.2): a quarter of the minimum RTT times the
    /// multiplier, at most the smoothed RTT, and at least the clock's millisecond (a sent and an
    /// acknowledged stamp may fall either side of a tick).
    pub fn reo_wnd(&self) -> Duration {
        if !self.has_sample {
            return Duration(1);
        }
        let srtt = self.srtt_x8 / 8;
        let w = (self.min_rtt_ms / 4).saturating_mul(u64::from(self.reo_wnd_mult));
        Duration(w.min(srtt).max(1))
    }
    /// How long after its transmission a segment counts as lost once one sent after it was
    /// delivered: the RTT plus the reordering window (RFC 8985 §6.2, `RACK.rtt + RACK.reo_wnd`).
    pub fn rack_wait(&self) -> Duration {
        Duration((self.srtt_x8 / 8).max(1) + self.reo_wnd().0)
    }
    /// A D-SACK arrived: a retransmission was spurious, the reordering window grows (RFC 8985
    /// §6.2 step 4) for the next 16 recoveries.
    pub fn on_dsack(&mut self) {
        self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1).min(64);
        self.reo_wnd_persist = 16;
    }
    /// A recovery ended: after 16 without a D-SACK the reordering window is back to a quarter of
    /// the minimum RTT.
    pub fn on_recovery_end(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_and_backoff() {
        let mut e = RttEstimator::new(Duration(1000), Duration(200), Duration(60_000));
        assert_eq!(e.rto(), Duration(1000));
        e.sample(Duration(100));
        // srtt 100, rttvar 50: rto = 100 + 200 = 300
        assert_eq!(e.srtt(), Duration(100));
        assert_eq!(e.rttvar(), Duration(50));
        assert_eq!(e.rto(), Duration(300));
        e.back_off();
        assert_eq!(e.rto(), Duration(600));
        e.sample(Duration(100));
        assert_eq!(e.rto(), Duration(250));
    }

    #[test]
    fn reordering_window_grows_with_dsacks_and_resets() {
        let mut e = RttEstimator::new(Duration(1000), Duration(200), Duration(60_000));
        assert_eq!(e.reo_wnd(), Duration(1));
        e.sample(Duration(40));
        e.sample(Duration(80));
        // min RTT 40: a quarter is 10 ms; RACK waits srtt (45) + 10.
        assert_eq!(e.reo_wnd(), Duration(10));
        assert_eq!(e.rack_wait(), Duration(55));
        e.on_dsack();
        e.on_dsack();
        assert_eq!(e.reo_wnd(), Duration(30));
        for _ in 0..10 {
            e.on_dsack();
        }
        // Never more than the smoothed RTT.
        assert_eq!(e.reo_wnd(), e.srtt());
        for _ in 0..15 {
            e.on_recovery_end();
        }
        assert_eq!(e.reo_wnd(), e.srtt());
        e.on_recovery_end();
        assert_eq!(e.reo_wnd(), Duration(10));
    }
}
