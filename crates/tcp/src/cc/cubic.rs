//! CUBIC (RFC 9438), with the Reno-friendly region and fast convergence; its initial slow start
//! ends early by HyStart++ (RFC 9406) when the RTT grows.

use super::hystart::{CSS_GROWTH_DIVISOR, HyStart, SlowStart};
use super::{CongestionControl, Delivery, INITIAL_WINDOW_SEGMENTS};
use crate::time::{Duration, Instant};

const BETA: f64 = 0.7;
const C: f64 = 0.4;

/// CUBIC window arithmetic (windows tracked in bytes, the cubic function in segments).
#[derive(Clone, Debug)]
pub struct Cubic {
    cwnd: u32,
    ssthresh: u32,
    w_max: f64,
    k: f64,
    epoch_start: Option<Instant>,
    w_est: f64,
    cwnd_at_epoch: f64,
    acked_acc: u32,
    hystart: HyStart,
    /// (cwnd, ssthresh, w_max) before the last congestion response, for `undo`.
    prior: (u32, u32, f64),
}

impl Cubic {
    /// Initial state for a connection with sender MSS `mss`.
    pub fn new(mss: u32) -> Cubic {
        Cubic {
            cwnd: INITIAL_WINDOW_SEGMENTS * mss,
            ssthresh: u32::MAX,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            cwnd_at_epoch: 0.0,
            acked_acc: 0,
            hystart: HyStart::default(),
            prior: (0, 0, 0.0),
        }
    }
}

fn cbrt(x: f64) -> f64 {
    // Newton iterations: `f64::cbrt` needs std.
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = if x > 1.0 { x / 3.0 } else { 1.0 };
    for _ in 0..60 {
        let n = y - (y * y * y - x) / (3.0 * y * y);
        let d = n - y;
        if d < 1e-9 && d > -1e-9 {
            return n;
        }
        y = n;
    }
    y
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, now: Instant, acked: u32, mss: u32, srtt: Duration, _in_flight: u32) {
        if self.cwnd < self.ssthresh {
            let mut inc = acked.min(2 * mss);
            if self.hystart.in_css() {
                inc /= CSS_GROWTH_DIVISOR;
            }
            self.cwnd = self.cwnd.saturating_add(inc);
            return;
        }
        let mssf = f64::from(mss);
        let cwnd_seg = f64::from(self.cwnd) / mssf;
        // An epoch without a preceding loss starts from the current window.
        let epoch = *self.epoch_start.get_or_insert(now);
        if self.cwnd_at_epoch == 0.0 {
            self.cwnd_at_epoch = cwnd_seg;
            self.w_est = cwnd_seg;
            if self.w_max < cwnd_seg {
                self.w_max = cwnd_seg;
                self.k = 0.0;
            }
        }
        let t = (now.0.saturating_sub(epoch.0) as f64 + srtt.0 as f64) / 1000.0;
        let target_cubic = C * (t - self.k) * (t - self.k) * (t - self.k) + self.w_max;
        // Reno-friendly estimate (RFC 9438 §4.3).
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += alpha * f64::from(acked) / mssf / cwnd_seg;
        let target = if target_cubic < self.w_est {
            self.w_est
        } else {
            target_cubic.clamp(cwnd_seg, 1.5 * cwnd_seg)
        };
        if target > cwnd_seg {
            // Increase by (target - cwnd) / cwnd segments per segment acked.
            let inc = (target - cwnd_seg) / cwnd_seg * f64::from(acked);
            self.acked_acc = self.acked_acc.saturating_add(inc as u32);
            if self.acked_acc > 0 {
                self.cwnd = self.cwnd.saturating_add(self.acked_acc);
                self.acked_acc = 0;
            }
        }
    }
    fn on_congestion(&mut self, now: Instant, mss: u32, _in_flight: u32) {
        self.prior = (self.cwnd, self.ssthresh, self.w_max);
        let mssf = f64::from(mss);
        let cwnd_seg = f64::from(self.cwnd) / mssf;
        // Fast convergence.
        self.w_max = if cwnd_seg < self.w_max {
            cwnd_seg * (1.0 + BETA) / 2.0
        } else {
            cwnd_seg
        };
        let reduced = ((f64::from(self.cwnd) * BETA) as u32).max(2 * mss);
        self.ssthresh = reduced;
        self.cwnd = reduced;
        self.k = cbrt(self.w_max * (1.0 - BETA) / C);
        self.epoch_start = Some(now);
        self.cwnd_at_epoch = f64::from(reduced) / mssf;
        self.w_est = self.cwnd_at_epoch;
        self.acked_acc = 0;
        self.hystart.finish();
    }
    fn on_recovery_end(&mut self, _mss: u32) {
        // Deflate to ssthresh, unless an undo already restored the window.
        self.cwnd = self.cwnd.min(self.ssthresh);
    }
    fn undo(&mut self) {
        // As Linux' cubictcp: the window and threshold come back, and the cubic epoch starts
        // again from the restored window.
        self.cwnd = self.cwnd.max(self.prior.0);
        self.ssthresh = self.ssthresh.max(self.prior.1);
        self.w_max = self.w_max.max(self.prior.2);
        self.epoch_start = None;
        self.cwnd_at_epoch = 0.0;
    }
    fn on_timeout(&mut self, mss: u32, _in_flight: u32) {
        if self.cwnd > mss {
            // The first timeout of a series: what an undo restores.
            self.prior = (self.cwnd, self.ssthresh, self.w_max);
        }
        let mssf = f64::from(mss);
        self.w_max = f64::from(self.cwnd) / mssf;
        self.ssthresh = ((f64::from(self.cwnd) * BETA) as u32).max(2 * mss);
        self.cwnd = mss;
        self.epoch_start = None;
        self.cwnd_at_epoch = 0.0;
        self.acked_acc = 0;
        self.hystart.finish();
    }
    fn on_delivery(&mut self, _now: Instant, d: &Delivery) {
        if self.cwnd >= self.ssthresh {
            return;
        }
        let rtt = d.rtt.map(|r| r.0);
        if self.hystart.on_ack(d.delivered, d.in_flight, rtt) == SlowStart::Exit {
            self.ssthresh = self.cwnd;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_by_beta_and_regrows() {
        let mut c = Cubic::new(1000);
        c.on_congestion(Instant(0), 1000, 10_000);
        assert_eq!(c.cwnd(), 7000);
        let before = c.cwnd();
        for i in 0..200 {
            c.on_ack(Instant(i * 10), 1000, 1000, Duration(10), 0);
        }
        assert!(c.cwnd() > before);
        let d = cbrt(27.0) - 3.0;
        assert!(d < 1e-6 && d > -1e-6);
    }
}
