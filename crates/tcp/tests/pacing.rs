//! Pacing (issue 17): a BBR sender behind a 4 MB/s, 6 ms RTT path measures the path, paces
//! at about its rate, and spreads its segments over the clock's ticks instead of sending a
//! window at once; BBR's states go STARTUP → DRAIN → PROBE_BW on the way (seen in the pacing
//! rate: 2.89× the rate, then below it, then the 5/4, 3/4, 1 cycle; `cc::bbr`'s unit tests
//! check the transitions exactly). The gaps between segments follow the pacing credit. CUBIC
//! is not paced.

mod common;

use std::collections::VecDeque;

use common::peer::*;
use mtcp_tcp::cc::CcAlgorithm;
use mtcp_tcp::{Config, TcpInfo};

/// Bytes the path delivers per millisecond (4 MB/s) and its one-way delay: a BDP of 24 kB,
/// well inside the peer's unscaled 64 KiB window.
const RATE_PER_MS: u32 = 4_000;
const DELAY_MS: u64 = 3;

/// Runs `ms` milliseconds of bulk sending through the path; returns the data bytes emitted in
/// each millisecond and the pacing rates seen (one per millisecond).
fn run(cc: CcAlgorithm, ms: u64) -> (Vec<u32>, Vec<u64>) {
    let (per_ms, rates, _) = run_at(cc, ms, RATE_PER_MS);
    (per_ms, rates)
}

/// [`run`] over a path of `rate_per_ms` bytes per millisecond; also the sender's `TcpInfo` at
/// the end.
fn run_at(cc: CcAlgorithm, ms: u64, rate_per_ms: u32) -> (Vec<u32>, Vec<u64>, TcpInfo) {
    let config = Config {
        congestion_control: cc,
        send_buffer_bytes: 1 << 20,
        no_delay: true,
        ..Config::default()
    };
    let mut t = Harness::established(config);
    let h = t.handle();
    let data = vec![0x5a_u8; 1 << 20];
    // (data end, time it reaches the peer) of segments in the path, in order.
    let mut path: VecDeque<(u32, u64)> = VecDeque::new();
    // When the bottleneck is free again, in microseconds.
    let mut queue_free_us = t.now * 1000;
    let (mut per_ms, mut rates) = (Vec::new(), Vec::new());
    for _ in 0..ms {
        let _ = t.e.send(h, &data);
        let mut bytes = 0;
        for p in t.output() {
            let len = p.payload.len() as u32;
            if len == 0 {
                continue;
            }
            bytes += len;
            // The bottleneck serialises at RATE_PER_MS, then the segment travels DELAY_MS.
            queue_free_us =
                queue_free_us.max(t.now * 1000) + u64::from(len) * 1000 / u64::from(rate_per_ms);
            let end = p.repr.seq_number.0.wrapping_add(len);
            path.push_back((end, queue_free_us.div_ceil(1000) + DELAY_MS));
        }
        per_ms.push(bytes);
        t.advance(1);
        // Each segment that arrived is acknowledged at once (the ACK's way back is DELAY_MS
        // too: it is folded into the arrival time, the peer ACKs one path delay late).
        while path.front().is_some_and(|&(_, at)| at + DELAY_MS <= t.now) {
            let (end, _) = path.pop_front().unwrap();
            t.send(ACK, end, &[]);
        }
        rates.push(t.e.info(h).unwrap().pacing_rate);
    }
    (per_ms, rates, t.e.info(h).unwrap())
}

#[test]
fn bbr_paces_at_the_path_rate_in_small_batches() {
    let (per_ms, rates) = run(CcAlgorithm::Bbr, 1500);
    let last = *rates.last().unwrap();
    assert!(
        (2_800_000..=5_200_000).contains(&last),
        "pacing rate {last} B/s for a 4 MB/s path"
    );
    // STARTUP paced well above the path rate before the model settled.
    let peak = *rates.iter().max().unwrap();
    assert!(
        peak > last * 3 / 2,
        "no STARTUP gain seen: peak {peak}, last {last}"
    );
    // Cruising (the last second): never more than two ticks' worth plus two segments in one
    // millisecond, and on average about the path's rate.
    let cruise = &per_ms[500..];
    let max_rate = rates[500..].iter().copied().max().unwrap();
    let cap = (max_rate / 500) as u32 + 2 * 1000;
    let worst = *cruise.iter().max().unwrap();
    assert!(
        worst <= cap,
        "a millisecond carried {worst} bytes (cap {cap})"
    );
    let mean = cruise.iter().map(|&b| u64::from(b)).sum::<u64>() / cruise.len() as u64;
    assert!(
        (3_200..=4_400).contains(&mean),
        "mean {mean} bytes per ms on a 4 000 bytes/ms path"
    );
}

#[test]
fn cubic_is_not_paced() {
    let (_, rates) = run(CcAlgorithm::Cubic, 200);
    assert!(rates.iter().all(|&r| r == 0));
}

/// The gaps, exactly as the credit rule sets them, on a path slow enough (500 bytes per ms)
/// that a 1000-byte segment needs two ticks of credit: over any stretch of the cruise the
/// segments carry no more than the rate accrued plus the credit cap (two segments), and no
/// gap is longer than one segment's worth of credit at the lowest rate plus a tick.
#[test]
fn bbr_gaps_follow_the_pacing_credit() {
    const RATE: u32 = 500;
    let (per_ms, rates, _) = run_at(CcAlgorithm::Bbr, 3000, RATE);
    let mss = 1000u64;
    // The output of millisecond i is paced at the rate set by the ACKs of millisecond i - 1.
    let (from, to) = (1000, per_ms.len());
    let rate_ms = |i: usize| rates[i - 1].max(rates[i.min(rates.len() - 1)]);
    let cap = |r: u64| (r / 500).max(2 * mss);
    for a in from..to {
        let (mut sent, mut accrued, mut top) = (0u64, 0u64, 0u64);
        for b in a..to {
            sent += u64::from(per_ms[b]);
            accrued += rate_ms(b);
            top = top.max(rate_ms(b));
            let allowed = accrued / 1000 + cap(top) + 1;
            assert!(
                sent <= allowed,
                "{sent} bytes in ms {a}..={b}, credit allowed {allowed}; the last ms: {:?}",
                &per_ms[b.saturating_sub(10).max(a)..=b]
            );
        }
    }
    let low = rates[from..].iter().copied().min().unwrap();
    assert!(low > 0, "not paced");
    let longest = mss.div_ceil(low / 1000) as usize + 1;
    let sends: Vec<usize> = (from..to).filter(|&i| per_ms[i] > 0).collect();
    for w in sends.windows(2) {
        assert!(
            w[1] - w[0] <= longest,
            "{} ms without a segment after {} (longest gap at {low} B/s: {longest})",
            w[1] - w[0],
            w[0]
        );
    }
    // And the path is used: on average about its rate.
    let mean = per_ms[from..].iter().map(|&b| u64::from(b)).sum::<u64>() / (to - from) as u64;
    assert!(
        (400..=550).contains(&mean),
        "mean {mean} bytes per ms on a {RATE} bytes/ms path"
    );
}

/// What held the sender back, counted in ticks (`TcpInfo`'s `*_limited_ms`, Linux'
/// `tcpi_rwnd_limited` and friends): BBR on the 4 MB/s path waits for pacing in many ticks
/// (and, its window of two BDPs above the peer's 64 KiB once the queue inflates the RTT, for the
/// peer's window in others); CUBIC is never paced, and on a path faster than the peer's window
/// allows (100 MB/s) waits for that window far more than for its own. Ticks are counted when
/// the output path runs (after a write, an ACK or a timer), so a stalled tick without any of
/// them is not. Without loss there is no recovery.
#[test]
fn what_held_the_sender_back_is_counted() {
    let (_, _, bbr) = run_at(CcAlgorithm::Bbr, 500, RATE_PER_MS);
    assert!(bbr.pacing_limited_ms > 50, "{bbr:?}");
    assert_eq!(bbr.recovery_limited_ms, 0, "{bbr:?}");
    let (_, _, cubic) = run_at(CcAlgorithm::Cubic, 500, 100_000);
    assert_eq!(cubic.pacing_limited_ms, 0, "{cubic:?}");
    assert_eq!(cubic.recovery_limited_ms, 0, "{cubic:?}");
    assert!(
        cubic.rwnd_limited_ms > 30 && cubic.rwnd_limited_ms > 2 * cubic.cwnd_limited_ms,
        "{cubic:?}"
    );
    for info in [bbr, cubic] {
        let counts = [
            info.rwnd_limited_ms,
            info.cwnd_limited_ms,
            info.pacing_limited_ms,
        ];
        assert!(counts.iter().all(|&c| c <= 500), "once per tick: {info:?}");
    }
}
