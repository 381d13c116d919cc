//! The sender's SACK scoreboard (RFC 6675): which bytes above `snd_una` the peer holds.

use mtcp_wire::tcp::{SackBlock, SeqNumber};

/// Most SACKed ranges remembered; further ranges are ignored (recovery stays correct, only slower).
pub const MAX_SACKED: usize = 16;

/// Sorted, disjoint SACKed ranges `[left, right)`, all within `(snd_una, snd_max]`.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    ranges: heapless::Vec<(SeqNumber, SeqNumber), MAX_SACKED>,
}

impl Scoreboard {
    /// Forgets every range.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
    /// Adds the peer's blocks that lie within `[snd_una, snd_max]`; returns whether new bytes were SACKed.
    pub fn update(&mut self, blocks: &[SackBlock], snd_una: SeqNumber, snd_max: SeqNumber) -> bool {
        let before = self.sacked_bytes();
        for b in blocks {
            if b.right <= b.left || b.left < snd_una || b.right > snd_max {
                continue;
            }
            self.insert(b.left, b.right);
        }
        self.sacked_bytes() != before
    }
    fn insert(&mut self, mut l: SeqNumber, mut r: SeqNumber) {
        let mut out: heapless::Vec<(SeqNumber, SeqNumber), MAX_SACKED> = heapless::Vec::new();
        let mut placed = false;
        for &(a, b) in self.ranges.iter() {
            if b < l {
                let _ = out.push((a, b));
            } else if r < a {
                if !placed {
                    let _ = out.push((l, r));
                    placed = true;
                }
                let _ = out.push((a, b));
            } else {
                if a < l {
                    l = a;
                }
                if b > r {
                    r = b;
                }
            }
        }
        if !placed {
            let _ = out.push((l, r));
        }
        self.ranges = out;
    }
    /// Drops everything below the new `snd_una`.
    pub fn advance(&mut self, snd_una: SeqNumber) {
        let mut out: heapless::Vec<(SeqNumber, SeqNumber), MAX_SACKED> = heapless::Vec::new();
        for &(a, b) in self.ranges.iter() {
            if b > snd_una {
                let _ = out.push((if a < snd_una { snd_una } else { a }, b));
            }
        }
        self.ranges = out;
    }
    /// Total SACKed bytes.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|&(a, b)| (b - a) as u32).sum()
    }
    /// SACKed bytes at or above `from`.
    pub fn sacked_above(&self, from: SeqNumber) -> u32 {
        self.ranges
            .iter()
            .filter(|&&(_, b)| b > from)
            .map(|&(a, b)| (b - if a < from { from } else { a }) as u32)
            .sum()
    }
    /// The highest SACKed sequence number (exclusive end), if any.
    pub fn highest(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|&(_, b)| b)
    }
    /// The first un-SACKed range at or after `from` that lies below the highest SACKed byte:
    /// `(start, len)` of a hole the peer is missing.
    pub fn next_hole(&self, from: SeqNumber) -> Option<(SeqNumber, u32)> {
        let mut cur = from;
        for &(a, b) in self.ranges.iter() {
            if b <= cur {
                continue;
            }
            if cur < a {
                return Some((cur, (a - cur) as u32));
            }
            cur = b;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(l: u32, r: u32) -> SackBlock {
        SackBlock {
            left: SeqNumber(l),
            right: SeqNumber(r),
        }
    }

    #[test]
    fn holes_between_blocks() {
        let mut s = Scoreboard::default();
        assert!(s.update(
            &[blk(200, 300), blk(400, 500)],
            SeqNumber(100),
            SeqNumber(600)
        ));
        assert_eq!(s.sacked_bytes(), 200);
        assert_eq!(s.next_hole(SeqNumber(100)), Some((SeqNumber(100), 100)));
        assert_eq!(s.next_hole(SeqNumber(250)), Some((SeqNumber(300), 100)));
        assert_eq!(s.next_hole(SeqNumber(450)), None);
        assert!(!s.update(&[blk(200, 300)], SeqNumber(100), SeqNumber(600)));
        assert!(s.update(&[blk(300, 400)], SeqNumber(100), SeqNumber(600)));
        assert_eq!(s.highest(), Some(SeqNumber(500)));
        s.advance(SeqNumber(250));
        assert_eq!(s.sacked_bytes(), 250);
        // Outside [snd_una, snd_max]: ignored.
        assert!(!s.update(&[blk(600, 700)], SeqNumber(100), SeqNumber(600)));
    }
}
