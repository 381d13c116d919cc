//! HyStart++ (RFC 9406): leave slow start when the RTT starts to grow, before the queue
//! overflows, through a few rounds of Conservative Slow Start (CSS) in case the growth was noise.
//!
//! Rounds are counted in delivered bytes (a round ends when everything in flight at its start
//! was delivered), which is RFC 9406's `windowEnd` without needing SND.NXT.

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH_MS: u64 = 4;
const MAX_RTT_THRESH_MS: u64 = 16;
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
/// Slow start growth is divided by this in CSS.
pub const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;

/// What slow start should do after an ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowStart {
    /// Grow as usual.
    Normal,
    /// Conservative Slow Start: grow by a quarter.
    Conservative,
    /// Leave slow start now (ssthresh = cwnd).
    Exit,
}

/// HyStart++ state of one connection.
#[derive(Clone, Debug, Default)]
pub struct HyStart {
    window_end: u64,
    last_round_min_rtt: Option<u64>,
    current_round_min_rtt: Option<u64>,
    rtt_sample_count: u32,
    /// In CSS: the baseline RTT and the rounds spent there.
    css: Option<(u64, u32)>,
    /// Slow start ended (by HyStart++ or a loss): no more checks.
    done: bool,
}

impl HyStart {
    /// Whether CSS's slower growth applies.
    pub fn in_css(&self) -> bool {
        self.css.is_some() && !self.done
    }

    /// Slow start ended for another reason (loss, timeout): HyStart++ is for the initial slow
    /// start only (RFC 9406 §4.3).
    pub fn finish(&mut self) {
        self.done = true;
        self.css = None;
    }

    /// One ACK in slow start: `delivered` bytes so far, `in_flight` after it, its RTT sample.
    pub fn on_ack(&mut self, delivered: u64, in_flight: u32, rtt_ms: Option<u64>) -> SlowStart {
        if self.done {
            return SlowStart::Normal;
        }
        if delivered >= self.window_end {
            // A new round.
            self.window_end = delivered + u64::from(in_flight.max(1));
            self.last_round_min_rtt = self.current_round_min_rtt.take();
            self.rtt_sample_count = 0;
            if let Some((baseline, rounds)) = self.css {
                if rounds + 1 >= CSS_ROUNDS {
                    self.done = true;
                    return SlowStart::Exit;
                }
                self.css = Some((baseline, rounds + 1));
            }
        }
        if let Some(rtt) = rtt_ms {
            let m = self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt));
            self.current_round_min_rtt = Some(m);
            self.rtt_sample_count += 1;
        }
        let (Some(current), true) = (
            self.current_round_min_rtt,
            self.rtt_sample_count >= N_RTT_SAMPLE,
        ) else {
            return self.mode();
        };
        match self.css {
            None => {
                if let Some(last) = self.last_round_min_rtt {
                    let thresh =
                        (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH_MS, MAX_RTT_THRESH_MS);
                    if current >= last + thresh {
                        self.css = Some((current, 0));
                    }
                }
            }
            Some((baseline, _)) if current < baseline => {
                // The RTT came back down: the increase was noise, slow start resumes.
                self.css = None;
            }
            Some(_) => {}
        }
        self.mode()
    }

    fn mode(&self) -> SlowStart {
        if self.in_css() {
            SlowStart::Conservative
        } else {
            SlowStart::Normal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One round of `acks` ACKs of 1000 bytes with `rtt` ms, 10 000 bytes in flight.
    fn round(h: &mut HyStart, delivered: &mut u64, rtt: u64) -> SlowStart {
        let mut last = SlowStart::Normal;
        for _ in 0..10 {
            *delivered += 1000;
            last = h.on_ack(*delivered, 10_000, Some(rtt));
            if last == SlowStart::Exit {
                break;
            }
        }
        last
    }

    #[test]
    fn rtt_growth_enters_css_then_exits_after_five_rounds() {
        let mut h = HyStart::default();
        let mut d = 0;
        assert_eq!(round(&mut h, &mut d, 20), SlowStart::Normal);
        assert_eq!(
            round(&mut h, &mut d, 21),
            SlowStart::Normal,
            "below the threshold"
        );
        assert_eq!(round(&mut h, &mut d, 30), SlowStart::Conservative);
        let mut rounds = 0;
        while round(&mut h, &mut d, 30) != SlowStart::Exit {
            rounds += 1;
            assert!(rounds < 10);
        }
        assert_eq!(rounds, 4);
        assert_eq!(round(&mut h, &mut d, 60), SlowStart::Normal, "done");
    }

    #[test]
    fn rtt_back_down_resumes_slow_start() {
        let mut h = HyStart::default();
        let mut d = 0;
        round(&mut h, &mut d, 20);
        assert_eq!(round(&mut h, &mut d, 30), SlowStart::Conservative);
        assert_eq!(round(&mut h, &mut d, 20), SlowStart::Normal);
    }
}
