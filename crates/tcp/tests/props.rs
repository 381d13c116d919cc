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
    /// than the first advance at or after it; `next_deadline` is the true minimum.
    #[test]
    fn timer_wheel_matches_a_model(ops in proptest::collection::vec((0u32..8, 0u64..5000, any::<bool>()), 1..80)) {
        let mut w = TimerWheel::new(Instant(0));
        let ids: Vec<_> = (0..8).map(|i| w.alloc(i)).collect();
        let mut model: [Option<u64>; 8] = [None; 8];
        let mut now = 0u64;
        for (who, delta, cancel) in ops {
            let i = who as usize;
            if cancel {
                w.cancel(ids[i]);
                model[i] = None;
            } else {
                w.arm(ids[i], Instant(now + delta));
                model[i] = Some(now + delta);
            }
            let true_min = model.iter().flatten().min().copied();
            let got = w.next_deadline().map(|t| t.0);
            prop_assert_eq!(got.is_some(), true_min.is_some());
            if let (Some(g), Some(m)) = (got, true_min) {
                prop_assert_eq!(g, m);
            }
            now += delta / 3;
            let mut fired = Vec::new();
            w.advance(Instant(now), |o| fired.push(o as usize));
            for (j, m) in model.iter_mut().enumerate() {
                let due = m.is_some_and(|t| t <= now);
                prop_assert_eq!(fired.contains(&j), due, "timer {} at {:?}, now {}", j, m, now);
                if due {
                    *m = None;
                }
            }
        }
    }
}
