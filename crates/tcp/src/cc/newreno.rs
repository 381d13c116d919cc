//! NewReno (RFC 5681 §3.1, RFC 6582).

use super::{CongestionControl, INITIAL_WINDOW_SEGMENTS};
use crate::time::{Duration, Instant};

/// NewReno window arithmetic.
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acked in congestion avoidance since the last cwnd increase.
    acked_acc: u32,
    /// (cwnd, ssthresh) before the last congestion response, for `undo`.
    prior: (u32, u32),
}

impl NewReno {
    /// Initial state for a connection with sender MSS `mss`.
    pub fn new(mss: u32) -> NewReno {
        NewReno {
            cwnd: INITIAL_WINDOW_SEGMENTS * mss,
            ssthresh: u32::MAX,
            acked_acc: 0,
            prior: (0, 0),
        }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, _now: Instant, acked: u32, mss: u32, _srtt: Duration, _in_flight: u32) {
        if self.cwnd < self.ssthresh {
            // Slow start, with appropriate byte counting limited to one MSS per ACK... L = 2 (RFC 3465).
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        } else {
            self.acked_acc += acked;
            if self.acked_acc >= self.cwnd {
                self.acked_acc -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }
    fn on_congestion(&mut self, _now: Instant, mss: u32, in_flight: u32) {
        self.prior = (self.cwnd, self.ssthresh);
        self.ssthresh = (in_flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.acked_acc = 0;
    }
    fn on_recovery_end(&mut self, _mss: u32) {
        // Deflate to ssthresh, unless an undo already restored the window.
        self.cwnd = self.cwnd.min(self.ssthresh);
    }
    fn undo(&mut self) {
        self.cwnd = self.cwnd.max(self.prior.0);
        self.ssthresh = self.ssthresh.max(self.prior.1);
    }
    fn on_timeout(&mut self, mss: u32, in_flight: u32) {
        if self.cwnd > mss {
            // The first timeout of a series: what an undo restores.
            self.prior = (self.cwnd, self.ssthresh);
        }
        self.ssthresh = (in_flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.acked_acc = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_halving() {
        let mut c = NewReno::new(1000);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(Instant(0), 1000, 1000, Duration(10), 0);
        assert_eq!(c.cwnd(), 11_000);
        c.on_congestion(Instant(0), 1000, 20_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (10_000, 10_000));
        for _ in 0..10 {
            c.on_ack(Instant(0), 1000, 1000, Duration(10), 0);
        }
        assert_eq!(c.cwnd(), 11_000);
        c.on_timeout(1000, 4000);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 2000));
    }
}
