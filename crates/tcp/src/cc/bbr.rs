//! BBR v1 (Cardwell et al., "BBR: Congestion-Based Congestion Control", and Linux `tcp_bbr.c`):
//! a model of the path (bottleneck bandwidth, minimum RTT) instead of a reaction to loss.
//!
//! States as in Linux: STARTUP (pacing and cwnd gain 2/ln 2 until three rounds grow the
//! bandwidth by less than 25 %), DRAIN (pacing gain ln 2 / 2 until the flight fits one BDP),
//! PROBE_BW (an eight-phase pacing-gain cycle 5/4, 3/4, 1 × 6 with cwnd gain 2) and PROBE_RTT
//! (cwnd of four segments for 200 ms and a round when the 10 s minimum-RTT filter expired).
//! Loss does not shrink the model; during a recovery the window obeys packet conservation for a
//! round and is restored afterwards.
//!
//! What differs from Linux, and why: the engine's clock has millisecond resolution, so a
//! bandwidth sample is not taken per segment from its send stamps but per ACK over the last
//! minimum RTT (at least [`MIN_SAMPLE_MS`], so that a tick's rounding stays small; in STARTUP
//! [`STARTUP_SAMPLE_MS`], and the pacing rate only rises there, as in Linux) from a
//! history of `(time, delivered)` with one entry per tick; a sample taken while the sender was
//! application-limited only counts if it raises the estimate. ACK aggregation is estimated as
//! Linux does (the window grows by the largest burst of deliveries beyond the model in the
//! last ten rounds).

use super::{CongestionControl, Delivery, INITIAL_WINDOW_SEGMENTS};
use crate::time::{Duration, Instant};

/// Gains in thousandths.
const HIGH_GAIN: u64 = 2885;
const DRAIN_GAIN: u64 = 1000 * 1000 / 2885;
const CWND_GAIN: u64 = 2000;
const UNIT: u64 = 1000;
/// PROBE_BW's pacing gains, one phase per minimum RTT.
const CYCLE: [u64; 8] = [1250, 750, 1000, 1000, 1000, 1000, 1000, 1000];
/// Rounds the bandwidth filter remembers.
const BW_ROUNDS: usize = 10;
/// Rounds without 25 % growth that end STARTUP.
const FULL_BW_ROUNDS: u32 = 3;
/// Minimum-RTT filter length.
const MIN_RTT_WINDOW: Duration = Duration(10_000);
/// Time spent at the PROBE_RTT window.
const PROBE_RTT_TIME: Duration = Duration(200);
/// Shortest interval a bandwidth sample spans (the clock's 1 ms granularity makes shorter ones
/// too coarse: ±1 ms on 3 ms would be ±33 %).
pub const MIN_SAMPLE_MS: u64 = 8;
/// The same in STARTUP, where the estimate must grow fast more than it must be precise: the
/// rate can only grow by the pacing gain per sample round, and 8 ms rounds made a start from a
/// low first sample (a loss in the initial window) take 40 ms to reach a 1 GB/s path's rate;
/// the error of a short span only makes the rate overshoot, which STARTUP does anyway.
pub const STARTUP_SAMPLE_MS: u64 = 2;
/// Round-start history kept for bandwidth samples.
const HISTORY: usize = 32;
/// Smallest window, in segments.
const MIN_CWND_SEGMENTS: u32 = 4;

/// BBR's state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BbrMode {
    /// Doubling the delivery rate every round.
    Startup,
    /// Draining the queue STARTUP built.
    Drain,
    /// Cruising at the estimated bandwidth, probing up and down.
    ProbeBw,
    /// Shrinking the flight to measure the propagation delay again.
    ProbeRtt,
}

/// BBR v1 state of one connection.
#[derive(Clone, Debug)]
pub struct Bbr {
    mode: BbrMode,
    mss: u32,
    cwnd: u32,
    /// cwnd before a recovery, a timeout or PROBE_RTT, restored afterwards.
    prior_cwnd: u32,
    round: u64,
    next_round_delivered: u64,
    /// Rounds of the bandwidth filter, STARTUP's full-bandwidth check and the ACK-aggregation
    /// window: a round start at least [`MIN_SAMPLE_MS`] after the previous one (a bandwidth
    /// sample spans that long, so shorter rounds would only repeat the same sample: on a path
    /// whose RTT is below the clock's tick, ten 1 ms rounds would forget the path's rate after
    /// 10 ms of a stall, and pacing at the collapsed estimate would hold the sender down).
    sample_round: u64,
    sample_round_stamp: Instant,
    /// Highest bandwidth sample (bytes per second) of each of the last rounds: (round, bw).
    bw_filter: [(u64, u64); BW_ROUNDS],
    min_rtt_ms: Option<u64>,
    min_rtt_stamp: Instant,
    full_bw: u64,
    full_bw_count: u32,
    full_bw_reached: bool,
    /// The last full-bandwidth check: checks stay [`MIN_SAMPLE_MS`] apart in STARTUP's short
    /// rounds too, so that a few milliseconds of a stalled sender do not end STARTUP.
    full_bw_stamp: Instant,
    cycle_index: usize,
    cycle_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round: u64,
    /// Packet conservation until this round ends (a recovery began).
    conservation_until: Option<u64>,
    /// Loss seen in the current PROBE_BW phase.
    lost_in_phase: bool,
    /// The pacing rate (bytes per second): the estimate times the gain, never lowered before
    /// STARTUP ends (as Linux `bbr_set_pacing_rate`, so that one low sample does not hold back
    /// the start).
    pacing: u64,
    /// `(time ms, delivered)` at recent round starts, oldest first.
    history: [(u64, u64); HISTORY],
    history_len: usize,
    /// ACK aggregation (Linux `bbr_update_ack_aggregation`): start of the current epoch,
    /// bytes delivered in it, and the largest excess over the model of the last rounds.
    ack_epoch: Instant,
    ack_epoch_acked: u64,
    extra_acked: [(u64, u32); 2],
}

impl Bbr {
    /// Initial state (STARTUP, initial window) for sender MSS `mss`.
    pub fn new(mss: u32) -> Bbr {
        Bbr {
            mode: BbrMode::Startup,
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * mss,
            prior_cwnd: 0,
            round: 0,
            next_round_delivered: 0,
            sample_round: 0,
            sample_round_stamp: Instant(0),
            bw_filter: [(0, 0); BW_ROUNDS],
            min_rtt_ms: None,
            min_rtt_stamp: Instant(0),
            full_bw: 0,
            full_bw_count: 0,
            full_bw_reached: false,
            full_bw_stamp: Instant(0),
            cycle_index: 0,
            cycle_stamp: Instant(0),
            probe_rtt_done: None,
            probe_rtt_round: 0,
            conservation_until: None,
            lost_in_phase: false,
            pacing: 0,
            history: [(0, 0); HISTORY],
            history_len: 0,
            ack_epoch: Instant(0),
            ack_epoch_acked: 0,
            extra_acked: [(0, 0); 2],
        }
    }

    /// The current state.
    pub fn mode(&self) -> BbrMode {
        self.mode
    }

    /// The bottleneck bandwidth estimate in bytes per second (0 before the first sample).
    pub fn bandwidth(&self) -> u64 {
        let oldest = self.sample_round.saturating_sub(BW_ROUNDS as u64 - 1);
        self.bw_filter
            .iter()
            .filter(|&&(r, _)| r >= oldest)
            .map(|&(_, bw)| bw)
            .max()
            .unwrap_or(0)
    }

    /// The minimum RTT seen in the filter's window.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt_ms.map(Duration)
    }

    fn pacing_gain(&self) -> u64 {
        match self.mode {
            BbrMode::Startup => HIGH_GAIN,
            BbrMode::Drain => DRAIN_GAIN,
            BbrMode::ProbeBw => CYCLE[self.cycle_index],
            BbrMode::ProbeRtt => UNIT,
        }
    }

    fn cwnd_gain(&self) -> u64 {
        match self.mode {
            BbrMode::Startup | BbrMode::Drain => HIGH_GAIN,
            BbrMode::ProbeBw => CWND_GAIN,
            BbrMode::ProbeRtt => UNIT,
        }
    }

    /// `gain` times the bandwidth-delay product, plus three segments for ACK aggregation; the
    /// initial window while the model is empty.
    fn target(&self, gain: u64) -> u32 {
        let (bw, Some(rtt)) = (self.bandwidth(), self.min_rtt_ms) else {
            return INITIAL_WINDOW_SEGMENTS * self.mss;
        };
        if bw == 0 {
            return INITIAL_WINDOW_SEGMENTS * self.mss;
        }
        let bdp = bw * rtt.max(1) / 1000;
        let t = bdp * gain / UNIT + 3 * u64::from(self.mss);
        t.min(u64::from(u32::MAX / 2)) as u32
    }

    /// The ACK-aggregation allowance: the most data delivered in an epoch beyond what the
    /// bandwidth estimate explains, over the last ten rounds (Linux keeps two five-round slots).
    fn extra_acked(&self) -> u32 {
        self.extra_acked
            .iter()
            .filter(|&&(r, _)| r + 10 > self.sample_round)
            .map(|&(_, e)| e)
            .max()
            .unwrap_or(0)
    }

    /// ACKs that arrive in bursts (a receiver's delayed or stretched ACKs, a backend that hands
    /// frames over a tick at a time) deliver more in a moment than the model's rate: the window
    /// must cover the gap or it, not the path, sets the rate.
    fn update_ack_aggregation(&mut self, now: Instant, acked: u32) {
        let bw = self.bandwidth();
        if bw == 0 {
            return;
        }
        let expected = bw * (now - self.ack_epoch).0 / 1000;
        if self.ack_epoch_acked <= expected || self.ack_epoch_acked + u64::from(acked) >= 1 << 20 {
            self.ack_epoch = now;
            self.ack_epoch_acked = 0;
        }
        self.ack_epoch_acked += u64::from(acked);
        let expected = bw * (now - self.ack_epoch).0 / 1000;
        let extra = self
            .ack_epoch_acked
            .saturating_sub(expected)
            .min(u64::from(self.cwnd)) as u32;
        let slot = ((self.sample_round / 5) % 2) as usize;
        let round_base = self.sample_round - self.sample_round % 5;
        let e = &mut self.extra_acked[slot];
        if e.0 != round_base {
            *e = (round_base, 0);
        }
        e.1 = e.1.max(extra);
    }

    /// The shortest span of a bandwidth sample and of a sample round, in ms.
    fn sample_ms(&self) -> u64 {
        if self.mode == BbrMode::Startup {
            STARTUP_SAMPLE_MS
        } else {
            MIN_SAMPLE_MS
        }
    }

    fn min_cwnd(&self) -> u32 {
        MIN_CWND_SEGMENTS * self.mss
    }

    /// On every ACK: a bandwidth sample over the newest history entry at least
    /// [`MIN_SAMPLE_MS`] and one minimum RTT old (the delivery rate over about the last round,
    /// so that a PROBE_BW phase at 5/4 shows in it), and a history entry per clock tick.
    fn sample_bandwidth(&mut self, now: Instant, d: &Delivery) {
        // Without an RTT yet, a short span could be a fraction of a round: no rate.
        let span = self
            .min_rtt_ms
            .map_or(MIN_SAMPLE_MS, |rtt| self.sample_ms().max(rtt));
        let history = &self.history[..self.history_len];
        // The newest entry a span old; on a path whose RTT outlasts the history, the oldest.
        let base = history
            .iter()
            .rev()
            .find(|&&(t, _)| now.0.saturating_sub(t) >= span)
            .or_else(|| {
                history
                    .first()
                    .filter(|&&(t, _)| now.0.saturating_sub(t) >= MIN_SAMPLE_MS)
            })
            .copied();
        if let Some((t, delivered)) = base {
            let bw = d.delivered.saturating_sub(delivered) * 1000 / (now.0 - t);
            if !d.app_limited || bw > self.bandwidth() {
                let r = self.sample_round;
                let slot = &mut self.bw_filter[(r % BW_ROUNDS as u64) as usize];
                *slot = if slot.0 == r {
                    (r, slot.1.max(bw))
                } else {
                    (r, bw)
                };
            }
        }
        // At most one entry per clock tick, so that the history spans at least HISTORY ms
        // even when rounds are much shorter than a tick.
        if self.history_len > 0 && self.history[self.history_len - 1].0 == now.0 {
            return;
        }
        if self.history_len == HISTORY {
            self.history.copy_within(1.., 0);
            self.history_len -= 1;
        }
        self.history[self.history_len] = (now.0, d.delivered);
        self.history_len += 1;
    }

    fn check_full_bw(&mut self, app_limited: bool) {
        if self.full_bw_reached || app_limited {
            return;
        }
        let bw = self.bandwidth();
        if bw == 0 {
            return;
        }
        if bw >= self.full_bw + self.full_bw / 4 {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        self.full_bw_reached = self.full_bw_count >= FULL_BW_ROUNDS;
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = BbrMode::ProbeBw;
        // Linux starts at a random phase other than the draining one; a fixed cruising phase
        // keeps runs reproducible.
        self.cycle_index = 2;
        self.cycle_stamp = now;
        self.lost_in_phase = false;
    }

    fn advance_cycle(&mut self, now: Instant, in_flight: u32) {
        // A phase lasts a minimum RTT, and at least a bandwidth sample's span: a 5/4 phase
        // shorter than that would hardly show in the sample, and the estimate could not grow.
        let rtt = Duration(self.min_rtt_ms.unwrap_or(1).max(MIN_SAMPLE_MS));
        let full_length = now - self.cycle_stamp > rtt;
        let gain = CYCLE[self.cycle_index];
        let done = if gain > UNIT {
            full_length && (self.lost_in_phase || in_flight >= self.target(gain))
        } else if gain < UNIT {
            full_length || in_flight <= self.target(UNIT)
        } else {
            full_length
        };
        if done {
            self.cycle_index = (self.cycle_index + 1) % CYCLE.len();
            self.cycle_stamp = now;
            self.lost_in_phase = false;
        }
    }

    fn update_probe_rtt(&mut self, now: Instant, in_flight: u32, rtt_expired: bool) {
        if rtt_expired && self.mode != BbrMode::ProbeRtt {
            self.mode = BbrMode::ProbeRtt;
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
            self.probe_rtt_done = None;
        }
        if self.mode != BbrMode::ProbeRtt {
            return;
        }
        match self.probe_rtt_done {
            None if in_flight <= self.min_cwnd() => {
                self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                self.probe_rtt_round = self.round;
            }
            Some(done) if now >= done && self.round > self.probe_rtt_round => {
                self.min_rtt_stamp = now;
                self.cwnd = self.cwnd.max(self.prior_cwnd);
                self.prior_cwnd = 0;
                self.probe_rtt_done = None;
                if self.full_bw_reached {
                    self.enter_probe_bw(now);
                } else {
                    self.mode = BbrMode::Startup;
                }
            }
            _ => {}
        }
    }

    fn set_cwnd(&mut self, d: &Delivery) {
        let acked = d.newly_delivered;
        if let Some(r) = self.conservation_until {
            if self.round <= r {
                // Packet conservation: what left the network may be replaced.
                self.cwnd = self.cwnd.max(d.in_flight.saturating_add(acked));
            } else {
                self.conservation_until = None;
            }
        }
        let mut target = self.target(self.cwnd_gain());
        if self.full_bw_reached {
            target = target.saturating_add(self.extra_acked());
        }
        if self.full_bw_reached {
            self.cwnd = self.cwnd.saturating_add(acked).min(target);
        } else if self.cwnd < target || d.delivered < u64::from(INITIAL_WINDOW_SEGMENTS * self.mss)
        {
            self.cwnd = self.cwnd.saturating_add(acked);
        }
        self.cwnd = self.cwnd.max(self.min_cwnd());
        if self.mode == BbrMode::ProbeRtt {
            self.cwnd = self.cwnd.min(self.min_cwnd());
        }
    }
}

impl CongestionControl for Bbr {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        u32::MAX
    }
    fn on_ack(&mut self, _now: Instant, _acked: u32, _mss: u32, _srtt: Duration, _in_flight: u32) {
        // Everything happens in `on_delivery`, which sees every ACK.
    }
    fn on_congestion(&mut self, _now: Instant, mss: u32, in_flight: u32) {
        self.mss = mss;
        self.prior_cwnd = self.cwnd;
        self.lost_in_phase = true;
        self.conservation_until = Some(self.round + 1);
        self.cwnd = in_flight.max(self.min_cwnd());
    }
    fn on_recovery_end(&mut self, _mss: u32) {
        self.cwnd = self.cwnd.max(self.prior_cwnd);
        self.conservation_until = None;
    }
    fn on_timeout(&mut self, mss: u32, _in_flight: u32) {
        self.mss = mss;
        self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        self.lost_in_phase = true;
        self.conservation_until = None;
        self.cwnd = mss;
    }
    fn undo(&mut self) {
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }
    fn on_delivery(&mut self, now: Instant, d: &Delivery) {
        let round_start = d.delivered >= self.next_round_delivered;
        if round_start {
            self.round += 1;
            self.next_round_delivered = d.delivered + u64::from(d.in_flight.max(1));
        }
        let sample_round_start =
            round_start && now - self.sample_round_stamp >= Duration(self.sample_ms());
        if sample_round_start {
            self.sample_round += 1;
            self.sample_round_stamp = now;
        }
        self.sample_bandwidth(now, d);
        if sample_round_start && now - self.full_bw_stamp >= Duration(MIN_SAMPLE_MS) {
            self.full_bw_stamp = now;
            self.check_full_bw(d.app_limited);
        }
        let rtt_expired = self.min_rtt_ms.is_some() && now - self.min_rtt_stamp > MIN_RTT_WINDOW;
        if let Some(rtt) = d.rtt {
            let r = rtt.0.max(1);
            if self.min_rtt_ms.is_none_or(|m| r < m) || rtt_expired {
                self.min_rtt_ms = Some(r);
                self.min_rtt_stamp = now;
            }
        }
        if self.mode == BbrMode::Startup && self.full_bw_reached {
            self.mode = BbrMode::Drain;
        }
        if self.mode == BbrMode::Drain && d.in_flight <= self.target(UNIT) {
            self.enter_probe_bw(now);
        }
        if self.mode == BbrMode::ProbeBw {
            self.advance_cycle(now, d.in_flight);
        }
        self.update_ack_aggregation(now, d.newly_delivered);
        self.update_probe_rtt(now, d.in_flight, rtt_expired);
        self.set_cwnd(d);
        let rate = self.bandwidth() * self.pacing_gain() / UNIT * 99 / 100;
        if self.full_bw_reached || rate > self.pacing {
            self.pacing = rate;
        }
        if self.prior_cwnd > 0
            && self.conservation_until.is_none()
            && self.mode != BbrMode::ProbeRtt
        {
            self.prior_cwnd = 0;
        }
    }
    fn pacing_rate(&self) -> Option<u64> {
        // Linux paces 1 % below the estimate so that the queue drains over time.
        (self.pacing > 0).then_some(self.pacing)
    }
    fn reduces_on_loss(&self) -> bool {
        false
    }
    fn gains(&self) -> Option<(u32, u32)> {
        Some((self.pacing_gain() as u32, self.cwnd_gain() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `rounds` rounds of a path delivering `rate` bytes per ms with a `rtt` ms RTT, the
    /// sender keeping `flight(cwnd)` bytes in flight.
    fn drive(b: &mut Bbr, now: &mut u64, delivered: &mut u64, rounds: u32, rate: u64, rtt: u64) {
        for _ in 0..rounds {
            for _ in 0..rtt {
                *now += 1;
                *delivered += rate;
                let in_flight = (b.cwnd() as u64).min(rate * rtt) as u32;
                b.on_delivery(
                    Instant(*now),
                    &Delivery {
                        delivered: *delivered,
                        newly_delivered: rate as u32,
                        rtt: Some(Duration(rtt)),
                        in_flight,
                        app_limited: false,
                    },
                );
            }
        }
    }

    #[test]
    fn startup_recovers_fast_from_a_low_first_sample() {
        // A path of 1 MB per ms whose RTT is below the tick; the first 10 ms deliver only
        // 10 kB per ms (losses in the initial window, a stalled sender). Afterwards each millisecond delivers
        // what pacing lets out, up to the path's rate.
        let mut b = Bbr::new(1448);
        let mut delivered = 0u64;
        let mut reached = None;
        for ms in 1..=60u64 {
            let rate = if ms <= 10 {
                10_000
            } else {
                b.pacing_rate()
                    .map_or(1_000_000, |r| (r / 1000).min(1_000_000))
            };
            delivered += rate;
            b.on_delivery(
                Instant(ms),
                &Delivery {
                    delivered,
                    newly_delivered: rate as u32,
                    rtt: Some(Duration(1)),
                    in_flight: rate as u32,
                    app_limited: false,
                },
            );
            if reached.is_none() && b.bandwidth() >= 900_000_000 {
                reached = Some(ms);
            }
        }
        // Samples over 8 ms (the span outside STARTUP) got there at 30 ms.
        let at = reached.expect("never reached the path's rate");
        assert!(at <= 22, "reached at {at} ms: {b:?}");
    }

    #[test]
    fn app_limited_sender_still_measures() {
        let mut b = Bbr::new(1448);
        let mut delivered = 0;
        for ms in 1..200u64 {
            delivered += 8192;
            b.on_delivery(
                Instant(ms * 2),
                &Delivery {
                    delivered,
                    newly_delivered: 8192,
                    rtt: Some(Duration(0)),
                    in_flight: 0,
                    app_limited: true,
                },
            );
        }
        assert!(b.pacing_rate().is_some(), "{b:?}");
    }

    #[test]
    fn startup_drain_probe_bw_then_probe_rtt() {
        let mut b = Bbr::new(1000);
        let (mut now, mut delivered) = (0, 0);
        assert_eq!(b.mode(), BbrMode::Startup);
        // 10 MB/s = 10 000 bytes per ms, 10 ms RTT: BDP 100 kB.
        drive(&mut b, &mut now, &mut delivered, 30, 10_000, 10);
        assert_eq!(b.mode(), BbrMode::ProbeBw, "{b:?}");
        let bw = b.bandwidth();
        assert!((9_000_000..=11_000_000).contains(&bw), "bw {bw}");
        // Cruising window: 2 BDP plus three segments and the ACK-aggregation allowance.
        let cwnd = b.cwnd();
        assert!((190_000..=225_000).contains(&cwnd), "cwnd {cwnd}");
        let rate = b.pacing_rate().unwrap();
        assert!(rate >= bw * 70 / 100 && rate <= bw * 130 / 100);
        // Loss does not change the model; the window comes back after the recovery.
        b.on_congestion(Instant(now), 1000, 150_000);
        b.on_recovery_end(1000);
        assert!(b.cwnd() >= cwnd);
        assert_eq!(b.bandwidth(), bw);
        // Ten seconds without a lower RTT: PROBE_RTT, four segments, then back.
        drive(&mut b, &mut now, &mut delivered, 950, 10_000, 10);
        assert_eq!(b.mode(), BbrMode::ProbeBw);
        let mut saw_probe_rtt = false;
        for _ in 0..80 {
            drive(&mut b, &mut now, &mut delivered, 1, 10_000, 10);
            if b.mode() == BbrMode::ProbeRtt {
                saw_probe_rtt = true;
                assert_eq!(b.cwnd(), 4000);
            }
        }
        assert!(saw_probe_rtt);
        assert_eq!(b.mode(), BbrMode::ProbeBw);
        assert!(b.cwnd() >= 150_000, "cwnd restored: {}", b.cwnd());
    }

    #[test]
    fn a_short_stall_on_a_sub_millisecond_path_keeps_the_estimate() {
        // 100 MB/s with an RTT below the clock's tick (samples say 1 ms): every millisecond
        // is a round.
        let mut b = Bbr::new(1448);
        let (mut now, mut delivered) = (0, 0);
        drive(&mut b, &mut now, &mut delivered, 200, 100_000, 1);
        assert_eq!(b.mode(), BbrMode::ProbeBw, "{b:?}");
        let bw = b.bandwidth();
        assert!(bw >= 90_000_000, "bw {bw}");
        // 20 ms in which the sender's CPU delivers a quarter of that (20 one-ms rounds: ten
        // rounds' filter would keep only these samples).
        drive(&mut b, &mut now, &mut delivered, 20, 25_000, 1);
        assert!(b.bandwidth() >= bw * 9 / 10, "{} after {bw}", b.bandwidth());
        let rate = b.pacing_rate().unwrap();
        assert!(rate >= bw * 7 / 10, "pacing {rate}");
    }

    /// One millisecond of a path that delivers `rate` bytes per ms after a `rtt` ms RTT with a
    /// queue in front: the sender keeps what pacing and cwnd let out in flight, the path takes
    /// `rate` of it. Returns the flight after the ACK.
    fn queue_step(b: &mut Bbr, now: &mut u64, delivered: &mut u64, flight: &mut u64) -> u64 {
        const RATE: u64 = 10_000;
        *now += 1;
        let out = b.pacing_rate().map_or(RATE * 3, |r| r / 1000);
        *flight = (*flight + out).min(u64::from(b.cwnd()));
        let done = (*flight).min(RATE);
        *flight -= done;
        *delivered += done;
        b.on_delivery(
            Instant(*now),
            &Delivery {
                delivered: *delivered,
                newly_delivered: done as u32,
                rtt: Some(Duration(10)),
                in_flight: *flight as u32,
                app_limited: false,
            },
        );
        *flight
    }

    /// BBR's states and gains, exactly, on a 10 MB/s path with a 10 ms RTT and a deep queue:
    /// STARTUP until three sample rounds grow the estimate by less than 25 %, DRAIN (pacing
    /// 1/2.885 of the estimate) until the flight fits one BDP plus three segments, PROBE_BW
    /// from the cruising phase through 1 x 6, 5/4, 3/4, each phase over once a minimum RTT
    /// has passed (the 5/4 one also needs 5/4 BDP in flight, the 3/4 one ends early once the
    /// flight fits one BDP), and PROBE_RTT when the 10 s minimum-RTT filter expires: four
    /// segments for 200 ms and a round, then PROBE_BW again with the window restored.
    #[test]
    fn state_transitions_and_gains_exactly() {
        let mut b = Bbr::new(1000);
        let (mut now, mut delivered, mut flight) = (0, 0, 0);
        let mut modes = vec![(0, BbrMode::Startup)];
        // PROBE_BW's phases: (first ms, gain, flight then); the flight of each millisecond.
        let mut phases: Vec<(u64, u64, u64)> = Vec::new();
        let mut flights = vec![0];
        for _ in 0..10_400 {
            let f = queue_step(&mut b, &mut now, &mut delivered, &mut flight);
            flights.push(f);
            if b.mode() != modes.last().unwrap().1 {
                if b.mode() == BbrMode::Drain {
                    // STARTUP ended with the estimate at the path's rate.
                    assert_eq!(b.bandwidth(), 10_000_000, "at {now} ms");
                }
                modes.push((now, b.mode()));
            }
            if b.mode() == BbrMode::ProbeBw
                && phases
                    .last()
                    .is_none_or(|&(at, g, _)| g != CYCLE[b.cycle_index] || b.cycle_stamp.0 != at)
            {
                phases.push((b.cycle_stamp.0, CYCLE[b.cycle_index], f));
            }
            if b.mode() == BbrMode::ProbeRtt {
                assert_eq!(b.cwnd(), 4000, "PROBE_RTT's window at {now} ms");
            }
            // Once the full bandwidth was reached the pacing rate is the estimate times the
            // state's gain, less 1 %, every millisecond.
            if b.full_bw_reached {
                let want = b.bandwidth() * b.pacing_gain() / UNIT * 99 / 100;
                assert_eq!(b.pacing_rate(), Some(want), "at {now} ms in {:?}", b.mode());
            }
        }
        let order: Vec<BbrMode> = modes.iter().map(|&(_, m)| m).collect();
        use BbrMode::*;
        assert_eq!(
            order,
            [Startup, Drain, ProbeBw, ProbeRtt, ProbeBw],
            "{modes:?}"
        );
        let (drain, probe_bw, probe_rtt, back) = (modes[1].0, modes[2].0, modes[3].0, modes[4].0);
        // One BDP (10 MB/s x 10 ms) plus three segments.
        let target = 100_000 + 3 * 1000;
        // DRAIN ended at the first ACK with the flight within one BDP plus three segments.
        assert!(flights[drain as usize] > target, "{flights:?}");
        assert!(flights[probe_bw as usize - 1] > target);
        assert!(flights[probe_bw as usize] <= target);
        // PROBE_RTT: the minimum RTT (first sampled at 1 ms, never lower) expires after 10 s;
        // the flight reaches four segments the next millisecond, which holds 200 ms.
        assert_eq!(probe_rtt, 1 + 10_000 + 1);
        assert_eq!(back, probe_rtt + 1 + 200);
        // PROBE_BW from the cruising phase: 1 x 6, then 5/4, 3/4 and again, the phases in
        // order; a phase of gain 1 lasts 11 ms (ends at the first ACK more than the 10 ms
        // minimum RTT after it began), 5/4 at least that and until 5/4 BDP + 3 segments are
        // in flight, 3/4 at most that (it ends once one BDP fits).
        let cruise: Vec<&(u64, u64, u64)> = phases.iter().filter(|p| p.0 < probe_rtt).collect();
        assert!(cruise.len() > 100, "{} phases", cruise.len());
        for (k, w) in cruise.windows(2).enumerate() {
            let (&(start, gain, _), &(end, next, flight_at_end)) = (w[0], w[1]);
            let len = end - start;
            let cycle_pos = (k + 2) % CYCLE.len();
            assert_eq!(gain, CYCLE[cycle_pos], "phase {k} at {start} ms");
            assert_eq!(next, CYCLE[(cycle_pos + 1) % CYCLE.len()]);
            match gain {
                1000 => assert_eq!(len, 11, "phase {k} at {start} ms"),
                1250 => {
                    assert!(len >= 11, "phase {k} at {start} ms: {len} ms");
                    assert!(
                        flight_at_end >= 125_000 + 3000,
                        "{flight_at_end} at {end} ms"
                    );
                }
                _ => assert!(
                    len == 11 || (len < 11 && flight_at_end <= target),
                    "phase {k} at {start} ms: {len} ms, {flight_at_end} in flight"
                ),
            }
        }
    }
}
