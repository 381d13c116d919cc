//! Out-of-order reassembly bookkeeping: which ranges past `rcv.nxt` are already held.
//!
//! Offsets are relative to the first missing byte. The number of separate ranges (and therefore
//! holes) is bounded; data that would need one more range is dropped, and the peer resends it.

/// Maximum number of out-of-order ranges kept. A slow-start overshoot into a drop-tail queue
/// loses every other segment of a window: with 8 ranges (before) the receiver discarded most of
/// what arrived past the eighth hole and the sender had to send it again (285 retransmissions for
/// 77 drops in the simulator table); 32 ranges (256 bytes per connection) keep it.
pub const MAX_RANGES: usize = 32;

/// A set of disjoint, non-adjacent `[start, end)` ranges, sorted, relative to `rcv.nxt`.
#[derive(Clone, Debug, Default)]
pub struct Assembler {
    ranges: heapless::Vec<(u32, u32), MAX_RANGES>,
    /// Index of the most recently changed range (first SACK block, RFC 2018 §4).
    last_changed: Option<(u32, u32)>,
}

impl Assembler {
    /// An empty assembler.
    pub fn new() -> Assembler {
        Assembler::default()
    }
    /// Whether no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// The held ranges, lowest first.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }
    /// The range that was last extended or created, if it still exists.
    pub fn last_changed(&self) -> Option<(u32, u32)> {
        self.last_changed.filter(|r| self.ranges.contains(r))
    }
    /// Records `[start, end)` as held. Returns false (and records nothing) if doing so needs
    /// more than `MAX_RANGES` ranges.
    pub fn add(&mut self, start: u32, end: u32) -> bool {
        if start >= end {
            return true;
        }
        let (mut s, mut e) = (start, end);
        // Ranges that overlap or touch [s, e).
        let first = self
            .ranges
            .iter()
            .position(|&(_, re)| re >= s)
            .unwrap_or(self.ranges.len());
        let mut last = first;
        while last < self.ranges.len() && self.ranges[last].0 <= e {
            s = s.min(self.ranges[last].0);
            e = e.max(self.ranges[last].1);
            last += 1;
        }
        // Replace ranges[first..last] by (s, e), in place (the in-order path runs this for every
        // segment: rebuilding the array moved its 264 bytes twice).
        if first == last {
            if self.ranges.insert(first, (s, e)).is_err() {
                return false;
            }
        } else {
            self.ranges[first] = (s, e);
            let merged = last - first - 1;
            if merged > 0 {
                let len = self.ranges.len();
                self.ranges.copy_within(last..len, first + 1);
                self.ranges.truncate(len - merged);
            }
        }
        self.last_changed = Some((s, e));
        true
    }
    /// If the data now starts at offset 0, removes that range and returns its length; then
    /// shifts every other range down by it.
    pub fn take_front(&mut self) -> u32 {
        match self.ranges.first() {
            Some(&(0, e)) => {
                self.ranges.remove(0);
                self.shift(e);
                e
            }
            _ => 0,
        }
    }
    /// Shifts all ranges down by `n` (the in-order point moved by `n`), dropping what falls below 0.
    pub fn shift(&mut self, n: u32) {
        self.ranges.retain_mut(|r| {
            *r = (r.0.saturating_sub(n), r.1.saturating_sub(n));
            r.1 > 0
        });
        self.last_changed = self
            .last_changed
            .and_then(|(s, e)| (e > n).then(|| (s.saturating_sub(n), e - n)));
    }
    /// Forgets everything.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.last_changed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_takes_front() {
        let mut a = Assembler::new();
        assert!(a.add(10, 20));
        assert!(a.add(30, 40));
        assert!(a.add(20, 30));
        assert_eq!(a.ranges(), &[(10, 40)]);
        assert_eq!(a.take_front(), 0);
        assert!(a.add(0, 10));
        assert_eq!(a.take_front(), 40);
        assert!(a.is_empty());
    }

    #[test]
    fn bounded() {
        let mut a = Assembler::new();
        for i in 0..MAX_RANGES as u32 {
            assert!(a.add(10 * i + 1, 10 * i + 2));
        }
        assert!(!a.add(500, 501));
        assert!(a.add(1, 12)); // merges two, no new range
        assert_eq!(a.ranges().len(), MAX_RANGES - 1);
        assert_eq!(&a.ranges()[..2], &[(1, 12), (21, 22)]);
        assert!(a.add(15, 50)); // merges three into one
        assert_eq!(&a.ranges()[..3], &[(1, 12), (15, 50), (51, 52)]);
        assert_eq!(a.ranges().len(), MAX_RANGES - 3);
        a.shift(16);
        assert_eq!(&a.ranges()[..2], &[(0, 34), (35, 36)]);
        assert_eq!(a.ranges().len(), MAX_RANGES - 4);
    }
}
