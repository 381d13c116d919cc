//! Property tests: sequence arithmetic, reassembly bookkeeping, the ring buffer and the timer
//! wheel against simple models.

use mtcp_tcp::Instant;
use mtcp_tcp::internals::{Assembler, MAX_RANGES, RingBuffer, TimerWheel};
use mtcp_wire::tcp::SeqNumber;
use proptest::prelude::*;

proptest! {
    #[test]
    fn seq_order_is_by_signed_distance(a in any::<u32>(), d in 1u32..(1 << 31)) {
        let x = SeqNumber(a);
        let y = x + d;
        prop_assert!(x < y);
        prop_assert!(y > x);
        prop_assert_eq!(y - x, d as i32);
        prop_assert_eq!(x + 0, x);
    }

    /// The assembler never claims bytes that were not added, and, whenever it accepts a range,
    /// holds exactly the union of accepted ranges.
    #[test]
    fn assembler_matches_a_bitmap(ops in proptest::collection::vec((0u32..200, 1u32..40), 1..60)) {
        let mut a = Assembler::new();
        let mut model = [false; 256];
        for (start, len) in ops {
            let end = start + len;
            if a.add(start, end) {
                for b in &mut model[start as usize..end as usize] {
                    *b = true;
                }
            }
            prop_assert!(a.ranges().len() <= MAX_RANGES);
            let mut bitmap = [false; 256];
            for &(s, e) in a.ranges() {
                prop_assert!(s < e);
                for b in &mut bitmap[s as usize..e as usize] {
                    *b = true;
                }
            }
            prop_assert_eq!(&bitmap[..], &model[..]);
            // Ranges are sorted and never touch.
            for w in a.ranges().windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
        }
        // Taking the front shifts everything consistently.
        let front = a.take_front();
        let first_missing = model.iter().position(|&b| !b).unwrap_or(model.len()) as u32;
        prop_assert_eq!(front, if model[0] { first_missing } else { 0 });
    }

    /// Out-of-order writes committed in order read back as the original stream.
    #[test]
    fn ring_reassembles(cap in 8usize..64, chunks in proptest::collection::vec(1usize..20, 1..20), seed in any::<u64>()) {
        let total: usize = chunks.iter().sum();
        let data: Vec<u8> = (0..total).map(|i| (i as u64 ^ seed) as u8).collect();
        let mut r = RingBuffer::new(cap);
        let mut out = Vec::new();
        let mut pos = 0;
        for c in chunks {
            let c = c.min(total - pos);
            // Write the second half first, then the first half, then commit.
            let half = c / 2;
            let w2 = r.write_at(half, &data[pos + half..pos + c]);
            let w1 = r.write_at(0, &data[pos..pos + half]);
            if w1 == half && w2 == c - half {
                r.commit(c);
                pos += c;
            }
            let mut buf = vec![0; cap];
            let n = r.pop(&mut buf[..cap / 2]);
            out.extend_from_slice(&buf[..n]);
        }
        let mut buf = vec![0; cap];
        let n = r.pop(&mut buf);
        out.extend_from_slice(&buf[..n]);
        prop_assert_eq!(&out[..], &data[..pos]);
    }

    /// Every armed, uncancelled timer fires exactly once, not before its deadline, and not later
    /// than the first advance at or after it; `next_deadline` and `deadline` match the model
    /// after every operation. Deadlines range from overdue to hours (and beyond the top level's
    /// reach), advances from standing still (or going back) to jumps of hours, from clocks
    /// that start on and off level boundaries.
    #[test]
    fn timer_wheel_matches_a_model(
        start in prop_oneof![
            Just(0u64),
            0u64..100_000,
            Just((1u64 << 36) - 3),
            Just((1u64 << 42) - 70_000),
            (1u64 << 20)..(1u64 << 50),
        ],
        ops in proptest::collection::vec(timer_op(), 1..120),
    ) {
        let mut w = TimerWheel::new(Instant(start));
        let mut ids: Vec<_> = (0..8).map(|i| w.alloc(i)).collect();
        let mut model: [Option<u64>; 8] = [None; 8];
        let mut now = start;
        for op in ops {
            match op {
                TimerOp::Arm(i, delta) => {
                    let at = now.saturating_add_signed(delta);
                    w.arm(ids[i], Instant(at));
                    model[i] = Some(at);
                }
                TimerOp::Cancel(i) => {
                    w.cancel(ids[i]);
                    model[i] = None;
                }
                TimerOp::Realloc(i) => {
                    w.free(ids[i]);
                    ids[i] = w.alloc(i as u32);
                    model[i] = None;
                }
                TimerOp::ArmNearBoundary(i, level, off) => {
                    let at = near_boundary(now, level, off);
                    w.arm(ids[i], Instant(at));
                    model[i] = Some(at);
                }
                TimerOp::Advance(_) | TimerOp::AdvanceNearBoundary(..) => {
                    // A negative step asks about an earlier time without moving the clock.
                    let at = match op {
                        TimerOp::Advance(delta) => now.saturating_add_signed(delta),
                        TimerOp::AdvanceNearBoundary(level, off) => near_boundary(now, level, off),
                        _ => unreachable!(),
                    };
                    let mut fired = Vec::new();
                    w.advance(Instant(at), |o| fired.push(o as usize));
                    let mut sorted = fired.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    prop_assert_eq!(sorted.len(), fired.len(), "fired twice: {:?}", fired);
                    for (j, m) in model.iter_mut().enumerate() {
                        let due = m.is_some_and(|t| t <= at);
                        prop_assert_eq!(fired.contains(&j), due, "timer {} at {:?}, now {}", j, m, at);
                        if due {
                            *m = None;
                        }
                    }
                    now = now.max(at);
                }
            }
            let true_min = model.iter().flatten().min().copied();
            prop_assert_eq!(w.next_deadline().map(|t| t.0), true_min);
            for (j, m) in model.iter().enumerate() {
                prop_assert_eq!(w.deadline(ids[j]).map(|t| t.0), *m);
            }
        }
    }
}

#[derive(Clone, Debug)]
enum TimerOp {
    Arm(usize, i64),
    Cancel(usize),
    Realloc(usize),
    Advance(i64),
    /// Near the next multiple of `64^level` after the clock: the offset from it is -2..=2.
    ArmNearBoundary(usize, u32, i64),
    AdvanceNearBoundary(u32, i64),
}

fn near_boundary(now: u64, level: u32, off: i64) -> u64 {
    let b = 1u64 << (6 * level);
    (now / b)
        .saturating_add(1)
        .saturating_mul(b)
        .saturating_add_signed(off)
}

/// Steps in milliseconds: near (level 0–1), seconds, hours, years; negative ones are overdue
/// arms and advances that do not move the clock.
fn timer_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..130,
        3 => 0i64..70_000,
        3 => 0i64..3 * 3_600_000,
        1 => 0i64..(1 << 40),
        1 => Just(1i64 << 36),
        1 => -5_000i64..0,
    ]
}

fn timer_op() -> impl Strategy<Value = TimerOp> {
    prop_oneof![
        4 => (0usize..8, timer_step()).prop_map(|(i, d)| TimerOp::Arm(i, d)),
        1 => (0usize..8).prop_map(TimerOp::Cancel),
        1 => (0usize..8).prop_map(TimerOp::Realloc),
        4 => timer_step().prop_map(TimerOp::Advance),
        2 => (0usize..8, 1u32..6, -2i64..3).prop_map(|(i, l, o)| TimerOp::ArmNearBoundary(i, l, o)),
        2 => (1u32..6, -2i64..3).prop_map(|(l, o)| TimerOp::AdvanceNearBoundary(l, o)),
    ]
}
