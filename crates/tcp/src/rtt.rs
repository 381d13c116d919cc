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
    /// Smoothed RTT (zero before the first sample).
    pub fn srtt(&self) -> Duration {
        Duration(self.srtt_x8 / 8)
    }
    /// RTT variance (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        Duration(self.rttvar_x4 / 4)
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
}
