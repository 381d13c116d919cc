//! The seeded impairment engine shared by the [`fault`](super) wrapper and the in-memory link.

use std::time::{Duration, Instant};

use heapless::Deque;

/// How a link is impaired. All fractions are in `0.0..=1.0`; the default impairs nothing.
///
/// Decisions come from a generator seeded with `seed`: the same seed and the same sequence of frames
/// give the same losses, duplicates and reorderings. (Delay is measured on the wall clock, so *when*
/// a frame comes out depends on timing, but not *whether* or in *which order*.)
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Seed of the decision generator.
    pub seed: u64,
    /// Fraction of frames dropped.
    pub loss: f64,
    /// Fraction of (surviving) frames sent twice.
    pub duplicate: f64,
    /// Fraction of frames held back and released after the next frame.
    pub reorder: f64,
    /// Fixed delay added to every frame.
    pub delay: Duration,
}

impl FaultConfig {
    /// A configuration that impairs nothing, with this seed (set fields on the result).
    pub fn seeded(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            ..FaultConfig::default()
        }
    }

    /// True if no impairment is configured.
    pub fn is_none(&self) -> bool {
        self.loss <= 0.0 && self.duplicate <= 0.0 && self.reorder <= 0.0 && self.delay.is_zero()
    }
}

/// Counters of what the impairment did in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames that entered.
    pub offered: u64,
    /// Frames dropped.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies that could not be made (no buffer).
    pub duplicate_failed: u64,
    /// Frames released after a frame that entered later.
    pub reordered: u64,
    /// Frames that left.
    pub delivered: u64,
}

/// SplitMix64: small, fast, and good enough to draw test decisions.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Frames the engine can hold (delayed or waiting for a full device) per direction.
pub(crate) const HOLD: usize = 512;

/// How long a held-back (reordered) frame waits for a later frame before it goes out anyway. Only
/// this timeout makes the outcome depend on timing: a stream with gaps shorter than it is
/// impaired identically on every run with the same seed.
const REORDER_WAIT: Duration = Duration::from_millis(10);

/// Impairs a stream of frames of type `T`: a fixed-capacity queue of frames with release times.
pub(crate) struct Impairment<T> {
    cfg: FaultConfig,
    rng: Rng,
    pending: Deque<(Instant, T), HOLD>,
    held: Option<(Instant, T)>,
    pub(crate) stats: FaultStats,
}

impl<T> Impairment<T> {
    pub(crate) fn new(cfg: FaultConfig) -> Box<Impairment<T>> {
        Box::new(Impairment {
            rng: Rng::new(cfg.seed),
            cfg,
            pending: Deque::new(),
            held: None,
            stats: FaultStats::default(),
        })
    }

    /// How many more frames [`offer`](Self::offer) accepts now (each may produce a duplicate and
    /// release the held frame, so three slots are kept per frame).
    pub(crate) fn room(&self) -> usize {
        (HOLD - self.pending.len()) / 3
    }

    /// True if frames are waiting inside.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.held.is_none()
    }

    /// Takes a frame in. `duplicate` makes a copy when the dice say so (it may fail: no buffer).
    /// The caller must have checked [`room`](Self::room).
    pub(crate) fn offer(
        &mut self,
        frame: T,
        now: Instant,
        duplicate: impl FnOnce(&T) -> Option<T>,
    ) {
        self.stats.offered += 1;
        // Always three draws per frame, so one decision never shifts the others.
        let (r_loss, r_dup, r_reorder) = (self.rng.unit(), self.rng.unit(), self.rng.unit());
        if r_loss < self.cfg.loss {
            self.stats.lost += 1;
            return;
        }
        let due = now + self.cfg.delay;
        let copy = if r_dup < self.cfg.duplicate {
            let copy = duplicate(&frame);
            match copy {
                Some(_) => self.stats.duplicated += 1,
                None => self.stats.duplicate_failed += 1,
            }
            copy
        } else {
            None
        };
        if r_reorder < self.cfg.reorder && self.held.is_none() {
            self.held = Some((due, frame));
            if let Some(copy) = copy {
                self.push((due, copy));
            }
            return;
        }
        self.push((due, frame));
        if let Some(copy) = copy {
            self.push((due, copy));
        }
        if let Some((held_due, held)) = self.held.take() {
            self.stats.reordered += 1;
            self.push((held_due.max(due), held));
        }
    }

    fn push(&mut self, item: (Instant, T)) {
        // `room()` keeps space for every push an offer makes; if a caller ignored it, the frame is
        // counted lost rather than panicking.
        if self.pending.push_back(item).is_err() {
            self.stats.lost += 1;
        }
    }

    /// Hands frames whose time has come to `sink`, in order, until it refuses one (it returns the
    /// frame back) or none is due.
    pub(crate) fn release(&mut self, now: Instant, mut sink: impl FnMut(T) -> Option<T>) {
        if let Some((due, _)) = &self.held {
            if self.pending.is_empty() && now >= *due + REORDER_WAIT {
                if let Some(item) = self.held.take() {
                    self.push(item);
                }
            }
        }
        while let Some((due, _)) = self.pending.front() {
            if *due > now {
                break;
            }
            let Some((due, frame)) = self.pending.pop_front() else {
                break;
            };
            if let Some(back) = sink(frame) {
                // Cannot fail: we just popped this slot.
                let _ = self.pending.push_front((due, back));
                break;
            }
            self.stats.delivered += 1;
        }
    }

    /// When the next frame falls due, if any is waiting.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let p = self.pending.front().map(|(d, _)| *d);
        let h = self.held.as_ref().map(|(d, _)| *d + REORDER_WAIT);
        match (p, h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops every frame waiting inside.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
        self.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: FaultConfig, n: u32) -> (Vec<u32>, FaultStats) {
        let mut imp = Impairment::<u32>::new(cfg);
        let mut out = Vec::new();
        let t0 = Instant::now();
        for i in 0..n {
            imp.offer(i, t0, |&x| Some(x));
            imp.release(t0, |x| {
                out.push(x);
                None
            });
        }
        imp.release(t0 + Duration::from_secs(1), |x| {
            out.push(x);
            None
        });
        (out, imp.stats)
    }

    #[test]
    fn no_impairment_is_identity() {
        let (out, stats) = run(FaultConfig::seeded(1), 1000);
        assert_eq!(out, (0..1000).collect::<Vec<_>>());
        assert_eq!(stats.delivered, 1000);
    }

    #[test]
    fn same_seed_same_decisions() {
        let cfg = FaultConfig {
            seed: 42,
            loss: 0.1,
            duplicate: 0.1,
            reorder: 0.1,
            ..Default::default()
        };
        let a = run(cfg.clone(), 5000);
        let b = run(cfg.clone(), 5000);
        assert_eq!(a, b);
        let c = run(FaultConfig { seed: 43, ..cfg }, 5000);
        assert_ne!(a.0, c.0);
    }

    #[test]
    fn refused_frames_stay_in_order() {
        let mut imp = Impairment::<u32>::new(FaultConfig::seeded(0));
        let t0 = Instant::now();
        for i in 0..10 {
            imp.offer(i, t0, |_| None);
        }
        let mut got = Vec::new();
        imp.release(t0, |x| {
            if got.len() < 4 {
                got.push(x);
                None
            } else {
                Some(x)
            }
        });
        imp.release(t0, |x| {
            got.push(x);
            None
        });
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn delay_holds_frames() {
        let cfg = FaultConfig {
            delay: Duration::from_millis(10),
            ..FaultConfig::seeded(3)
        };
        let mut imp = Impairment::<u32>::new(cfg);
        let t0 = Instant::now();
        imp.offer(7, t0, |_| None);
        let mut got = Vec::new();
        imp.release(t0 + Duration::from_millis(9), |x| {
            got.push(x);
            None
        });
        assert!(got.is_empty());
        assert_eq!(imp.next_due(), Some(t0 + Duration::from_millis(10)));
        imp.release(t0 + Duration::from_millis(10), |x| {
            got.push(x);
            None
        });
        assert_eq!(got, [7]);
    }
}
