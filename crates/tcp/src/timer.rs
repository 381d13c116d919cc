//! A hierarchical timer wheel with millisecond resolution: O(1) arm, re-arm and cancel, exact
//! expiry, a cheap exact `next_deadline`, and clock jumps that cost per occupied slot, not per
//! millisecond.
//!
//! Each connection owns one timer node (allocated with the connection) armed for its earliest
//! deadline. Nodes live in a `Vec` and are linked into per-slot doubly linked lists by index, so
//! arming, re-arming and cancelling never allocate.
//!
//! # Design
//!
//! Time is a `u64` of milliseconds, read as 11 base-64 digits (6 bits each; the top digit uses
//! the last 4 bits). Level `l` has 64 slots of `64^l` ms each and covers one block of `64^(l+1)`
//! ms, so the 11 levels cover every `u64` deadline: there is no overflow list and no clamping.
//! `elapsed` is the first millisecond not yet processed (every deadline before it has fired).
//! A deadline `t >= elapsed` goes to the level of the highest base-64 digit in which `t` and
//! `elapsed` differ (level 0 if they differ only in the lowest digit), into the slot given by
//! `t`'s digit at that level. An overdue deadline (`t < elapsed`, armed after its time has
//! passed) goes to level 0, slot `elapsed % 64`. Each level has a `u64` bitmap of its
//! non-empty slots.
//!
//! Invariant (I), for `E = elapsed`:
//! - level 0 holds deadlines in `E`'s 64 ms block whose slot is at or after `E`'s slot, plus the
//!   overdue ones in `E`'s own slot;
//! - a level `l >= 1` entry shares every digit above `l` with `E` and its digit `l` is strictly
//!   greater than `E`'s, so its slot starts after `E`.
//!
//! Consequences: at every level all occupied slots are at or after `E`'s digit, so the lowest
//! set bit of a level's bitmap is its earliest slot (no rotation); and every time in level `l`
//! lies inside `E`'s `64^(l+1)` block while every slot of level `l + 1` starts at or after the
//! end of that block. Hence the earliest occupied slot overall is the lowest set bit of the
//! lowest non-empty level, and every entry outside that slot is due later than every entry
//! inside it.
//!
//! `advance(now)` repeatedly takes that earliest slot while its start is due: a level-0 slot
//! when its start is `<= now` (all its entries are due: their deadline is the slot's
//! millisecond, or earlier if overdue) fires every entry; a level `l >= 1` slot when its start
//! is `<= now + 1` moves the clock to the slot's start, fires its entries due by `now` and
//! re-inserts the others, which now land on lower levels (they share digit `l` with the new
//! `elapsed`). Then `elapsed = now + 1`. Moving `elapsed` forward only to the start of the
//! earliest slot, and at the end to `now + 1` once no level-`l >= 1` slot starts at or before
//! it, keeps (I); cascading the slot that starts exactly at `now + 1` is what keeps its digit
//! strictly ahead. Slots are taken in time order, so one `advance` fires slot by slot (a jump
//! fires the entries of one higher-level slot together, not sorted among themselves). A far
//! deadline is moved at most once per level; a jump of hours costs one step per occupied slot
//! on its way, found with `trailing_zeros`, never a step per millisecond. `advance(now)` with
//! `now < elapsed` (the clock did not move) can only find overdue entries, all in level 0's
//! slot `elapsed % 64`.
//!
//! `next_deadline` is exact. The minimum is cached; arming lowers it, and removing an entry
//! equal to it (cancel, fire) invalidates it. When invalid, the minimum is recomputed from the
//! earliest occupied slot only (correct by the consequence of (I) above): for level 0 that slot
//! is one millisecond plus overdue entries, for higher levels it is scanned once and the result
//! kept until the minimum itself is removed again.

use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::time::Instant;

const NIL: u32 = u32::MAX;
/// Bits of the time consumed per level.
const BITS: u32 = 6;
/// Slots per level.
pub const LEVEL_SLOTS: usize = 1 << BITS;
/// Levels: enough for every `u64` deadline (11 × 6 bits ≥ 64).
pub const LEVELS: usize = 64_usize.div_ceil(BITS as usize);
const MASK: u64 = LEVEL_SLOTS as u64 - 1;

#[derive(Clone, Debug)]
struct Node {
    prev: u32,
    next: u32,
    /// `level * LEVEL_SLOTS + slot` while linked.
    slot: u32,
    expires: u64,
    owner: u32,
    linked: bool,
}

/// Identifies a timer node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(u32);

/// The wheel.
#[derive(Debug)]
pub struct TimerWheel {
    /// List heads, `LEVELS * LEVEL_SLOTS`, level-major.
    heads: Vec<u32>,
    /// Per level, bit `s` set iff slot `s` is non-empty.
    occupied: [u64; LEVELS],
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// The first millisecond not yet processed: every deadline before it has fired.
    elapsed: u64,
    armed: usize,
    /// The minimum armed deadline when `min_valid` (else recomputed on demand); always a lower
    /// bound of every armed deadline.
    min: Cell<u64>,
    min_valid: Cell<bool>,
}

/// The start of the `64^(level+1)` ms block holding `t`.
fn block_start(t: u64, level: usize) -> u64 {
    let shift = BITS as usize * (level + 1);
    if shift >= 64 {
        0
    } else {
        t & !((1u64 << shift) - 1)
    }
}

impl TimerWheel {
    /// An empty wheel whose clock starts at `now`.
    pub fn new(now: Instant) -> TimerWheel {
        TimerWheel {
            heads: vec![NIL; LEVELS * LEVEL_SLOTS],
            occupied: [0; LEVELS],
            nodes: Vec::new(),
            free: Vec::new(),
            elapsed: now.0,
            armed: 0,
            min: Cell::new(0),
            min_valid: Cell::new(false),
        }
    }
    /// Allocates a node for `owner` (done once per connection).
    pub fn alloc(&mut self, owner: u32) -> TimerId {
        let node = Node {
            prev: NIL,
            next: NIL,
            slot: 0,
            expires: 0,
            owner,
            linked: false,
        };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            TimerId(i)
        } else {
            self.nodes.push(node);
            TimerId(self.nodes.len() as u32 - 1)
        }
    }
    /// Cancels and frees a node.
    pub fn free(&mut self, id: TimerId) {
        self.cancel(id);
        self.free.push(id.0);
    }
    /// Arms (or re-arms) `id` to fire at `at`.
    pub fn arm(&mut self, id: TimerId, at: Instant) {
        let n = &self.nodes[id.0 as usize];
        if n.linked && n.expires == at.0 {
            return;
        }
        self.cancel(id);
        self.nodes[id.0 as usize].expires = at.0;
        self.link(id.0);
        self.armed += 1;
        // `min` is a lower bound of every armed deadline (it is only ever lowered, or recomputed
        // as the exact minimum), so `at <= min` makes `at` the minimum.
        if self.armed == 1 || at.0 <= self.min.get() {
            self.min.set(at.0);
            self.min_valid.set(true);
        }
    }
    /// Links node `i` (its `expires` set) into the slot (I) assigns it relative to `elapsed`.
    fn link(&mut self, i: u32) {
        let t = self.nodes[i as usize].expires;
        let (level, slot) = if t < self.elapsed {
            (0, (self.elapsed & MASK) as usize)
        } else {
            let diff = (t ^ self.elapsed) | MASK;
            let level = (63 - diff.leading_zeros()) / BITS;
            (level as usize, ((t >> (level * BITS)) & MASK) as usize)
        };
        let idx = level * LEVEL_SLOTS + slot;
        let head = self.heads[idx];
        {
            let n = &mut self.nodes[i as usize];
            n.slot = idx as u32;
            n.prev = NIL;
            n.next = head;
            n.linked = true;
        }
        if head != NIL {
            self.nodes[head as usize].prev = i;
        }
        self.heads[idx] = i;
        self.occupied[level] |= 1 << slot;
    }
    /// Disarms `id` if armed.
    pub fn cancel(&mut self, id: TimerId) {
        let (prev, next, idx, linked) = {
            let n = &self.nodes[id.0 as usize];
            (n.prev, n.next, n.slot as usize, n.linked)
        };
        if !linked {
            return;
        }
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            self.heads[idx] = next;
            if next == NIL {
                self.occupied[idx / LEVEL_SLOTS] &= !(1 << (idx % LEVEL_SLOTS));
            }
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        self.expire(id.0);
    }
    /// The deadline `id` is armed for.
    pub fn deadline(&self, id: TimerId) -> Option<Instant> {
        let n = &self.nodes[id.0 as usize];
        n.linked.then_some(Instant(n.expires))
    }
    /// The earliest occupied slot: `(level, slot, start)`; see the module documentation.
    fn earliest_slot(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&b| b != 0)?;
        let slot = self.occupied[level].trailing_zeros() as usize;
        let start = block_start(self.elapsed, level) | ((slot as u64) << (level as u32 * BITS));
        Some((level, slot, start))
    }
    /// Unlinks the whole list of slot `idx` and returns its first node.
    fn take_slot(&mut self, idx: usize) -> u32 {
        let head = self.heads[idx];
        self.heads[idx] = NIL;
        self.occupied[idx / LEVEL_SLOTS] &= !(1 << (idx % LEVEL_SLOTS));
        head
    }
    /// Marks node `i`, already taken out of its slot's list, as disarmed; returns its owner.
    fn expire(&mut self, i: u32) -> u32 {
        let n = &mut self.nodes[i as usize];
        n.linked = false;
        n.prev = NIL;
        n.next = NIL;
        if n.expires == self.min.get() {
            self.min_valid.set(false);
        }
        self.armed -= 1;
        n.owner
    }
    /// Advances to `now`, calling `fire(owner)` for (and disarming) every node that expired.
    pub fn advance(&mut self, now: Instant, mut fire: impl FnMut(u32)) {
        let now = now.0;
        if now < self.elapsed {
            // The clock did not move past processed time: only overdue entries can be due.
            let idx = (self.elapsed & MASK) as usize;
            let mut i = self.heads[idx];
            while i != NIL {
                let next = self.nodes[i as usize].next;
                if self.nodes[i as usize].expires <= now {
                    let owner = self.nodes[i as usize].owner;
                    self.cancel(TimerId(i));
                    fire(owner);
                }
                i = next;
            }
            return;
        }
        let target = now.saturating_add(1);
        while let Some((level, slot, start)) = self.earliest_slot() {
            // A level-0 slot is taken once due; a higher one also when it starts at `target`.
            if start > if level == 0 { now } else { target } {
                break;
            }
            // Entries already due fire now (at level 0 all of them: their deadline is `start`,
            // or earlier if overdue); relative to the slot's start, every other entry (cascade)
            // lands on a lower level.
            self.elapsed = start;
            let mut i = self.take_slot(level * LEVEL_SLOTS + slot);
            while i != NIL {
                let next = self.nodes[i as usize].next;
                if self.nodes[i as usize].expires <= now {
                    fire(self.expire(i));
                } else {
                    self.link(i);
                }
                i = next;
            }
        }
        self.elapsed = target;
    }
    /// The earliest of `due(owner, expires)` over the armed nodes, for owners whose real
    /// deadline may lie after the one their node is armed for (`due` returns it, never less
    /// than `expires`): the slots are visited in time order (module documentation) and the
    /// walk stops at the first slot starting at or after the best found, so it reads the
    /// nodes due before that one only.
    pub fn earliest_by(&self, mut due: impl FnMut(u32, u64) -> u64) -> Option<Instant> {
        let mut best: Option<u64> = None;
        for (level, &bits) in self.occupied.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let start =
                    block_start(self.elapsed, level) | ((slot as u64) << (level as u32 * BITS));
                if best.is_some_and(|b| start >= b) {
                    return best.map(Instant);
                }
                let mut i = self.heads[level * LEVEL_SLOTS + slot];
                while i != NIL {
                    let n = &self.nodes[i as usize];
                    let t = due(n.owner, n.expires).max(n.expires);
                    best = Some(best.map_or(t, |b| b.min(t)));
                    i = n.next;
                }
            }
        }
        best.map(Instant)
    }
    /// The earliest armed deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.armed == 0 {
            return None;
        }
        if !self.min_valid.get() {
            // The earliest occupied slot holds the minimum (module documentation).
            let (level, slot, _) = self.earliest_slot()?;
            let mut i = self.heads[level * LEVEL_SLOTS + slot];
            let mut best = u64::MAX;
            while i != NIL {
                let n = &self.nodes[i as usize];
                best = best.min(n.expires);
                i = n.next;
            }
            self.min.set(best);
            self.min_valid.set(true);
        }
        Some(Instant(self.min.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn fires_in_order_and_cancels() {
        let mut w = TimerWheel::new(Instant(0));
        let a = w.alloc(1);
        let b = w.alloc(2);
        let c = w.alloc(3);
        w.arm(a, Instant(5));
        w.arm(b, Instant(3000));
        w.arm(c, Instant(7));
        w.cancel(c);
        assert_eq!(w.next_deadline(), Some(Instant(5)));
        let mut fired = Vec::new();
        w.advance(Instant(10), |o| fired.push(o));
        assert_eq!(fired, [1]);
        assert_eq!(w.next_deadline(), Some(Instant(3000)));
        w.advance(Instant(2999), |o| fired.push(o));
        assert_eq!(fired, [1]);
        w.advance(Instant(3000), |o| fired.push(o));
        assert_eq!(fired, [1, 2]);
        assert_eq!(w.next_deadline(), None);
    }
    /// Nodes armed earlier than their owners' real deadlines: `earliest_by` is the least real
    /// deadline, also when an earlier-armed node's real one comes after another node's, at
    /// every level, and after the clock moved.
    #[test]
    fn earliest_by_is_the_least_real_deadline() {
        let mut w = TimerWheel::new(Instant(1000));
        // owner -> (armed for, real deadline)
        let plan = [
            (0u32, 1040, 1200),
            (1, 1100, 1150),
            (2, 5000, 5000),
            (3, 1040, 1040),
        ];
        let ids: Vec<TimerId> = plan.iter().map(|&(o, ..)| w.alloc(o)).collect();
        let real = |o: u32, _| plan[o as usize].2;
        for (&id, &(_, at, _)) in ids.iter().zip(&plan) {
            w.arm(id, Instant(at));
        }
        assert_eq!(w.earliest_by(real), Some(Instant(1040)));
        w.cancel(ids[3]);
        assert_eq!(w.next_deadline(), Some(Instant(1040)));
        assert_eq!(w.earliest_by(real), Some(Instant(1150)));
        w.cancel(ids[1]);
        assert_eq!(w.earliest_by(real), Some(Instant(1200)));
        let mut fired = Vec::new();
        w.advance(Instant(1100), |o| fired.push(o));
        assert_eq!(fired, [0]);
        assert_eq!(w.earliest_by(real), Some(Instant(5000)));
        w.cancel(ids[2]);
        assert_eq!(w.earliest_by(real), None);
    }
    /// Deadlines on and around every level boundary, from clocks on and around boundaries:
    /// never early (not at `t - 1`), never late (at `t`), `next_deadline` exact throughout.
    #[test]
    fn cascade_boundaries_fire_exactly() {
        let mut points = Vec::new();
        for level in 0..LEVELS as u32 {
            let b = 1u64.checked_shl(BITS * level).unwrap_or(0);
            for k in [1u64, 2, 63, 64] {
                let p = b.saturating_mul(k);
                points.extend([p.saturating_sub(1), p, p.saturating_add(1)]);
            }
        }
        points.extend([0, 1, u64::MAX - 1, u64::MAX]);
        let starts = [
            0u64,
            1,
            63,
            64,
            4095,
            4096,
            262_143,
            (1 << 36) - 1,
            u64::MAX - 64,
        ];
        for &start in &starts {
            for &p in &points {
                for t in [p, start.saturating_add(p)] {
                    let mut w = TimerWheel::new(Instant(start));
                    let a = w.alloc(7);
                    w.arm(a, Instant(t));
                    assert_eq!(w.next_deadline(), Some(Instant(t)));
                    let mut fired = Vec::new();
                    if t > start {
                        w.advance(Instant(t - 1), |o| fired.push(o));
                        assert!(fired.is_empty(), "start {start}: {t} fired at {}", t - 1);
                        assert_eq!(w.next_deadline(), Some(Instant(t)), "start {start}");
                    }
                    w.advance(Instant(t.max(start)), |o| fired.push(o));
                    assert_eq!(fired, [7], "start {start}: {t} did not fire");
                    assert_eq!(w.next_deadline(), None);
                }
            }
        }
    }

    /// One big jump fires everything due, and nothing else.
    #[test]
    fn jump_fires_everything_due() {
        let mut w = TimerWheel::new(Instant(5));
        let deadlines = [
            10u64, 70, 63, 64, 4096, 4095, 3_600_000, 262_144, 262_143, 99, 7_200_001,
        ];
        let ids: Vec<_> = (0..deadlines.len() as u32).map(|i| w.alloc(i)).collect();
        for (&id, &t) in ids.iter().zip(&deadlines) {
            w.arm(id, Instant(t));
        }
        assert_eq!(w.next_deadline(), Some(Instant(10)));
        let mut fired = Vec::new();
        w.advance(Instant(3_600_000), |o| fired.push(deadlines[o as usize]));
        fired.sort_unstable();
        assert_eq!(
            fired,
            [10, 63, 64, 70, 99, 4095, 4096, 262_143, 262_144, 3_600_000]
        );
        assert_eq!(w.next_deadline(), Some(Instant(7_200_001)));
        w.advance(Instant(7_200_000), |o| fired.push(deadlines[o as usize]));
        assert_eq!(fired.len(), 10);
        w.advance(Instant(7_200_001), |o| fired.push(deadlines[o as usize]));
        assert_eq!(fired.len(), 11);
        assert_eq!(w.next_deadline(), None);
    }

    /// An arm for a time already processed fires on the next advance, also one that does not
    /// move the clock.
    #[test]
    fn overdue_arms_fire_next() {
        let mut w = TimerWheel::new(Instant(0));
        let a = w.alloc(1);
        let b = w.alloc(2);
        let mut fired = Vec::new();
        w.advance(Instant(100_000), |o| fired.push(o));
        w.arm(a, Instant(50));
        w.arm(b, Instant(100_001));
        assert_eq!(w.next_deadline(), Some(Instant(50)));
        w.advance(Instant(100_000), |o| fired.push(o));
        assert_eq!(fired, [1]);
        assert_eq!(w.next_deadline(), Some(Instant(100_001)));
        w.arm(a, Instant(99_999));
        w.advance(Instant(100_001), |o| fired.push(o));
        assert_eq!(fired, [1, 1, 2]);
        assert_eq!(w.next_deadline(), None);
    }
    /// A level-2 slot starting right after the processed time must be cascaded by the advance
    /// that stops just before it: else entries armed later into lower levels would hide it.
    #[test]
    fn slot_starting_at_the_new_clock_is_cascaded() {
        let mut w = TimerWheel::new(Instant(0));
        let a = w.alloc(1);
        let b = w.alloc(2);
        w.arm(a, Instant(4096 + 10));
        let mut fired = Vec::new();
        w.advance(Instant(4095), |o| fired.push(o));
        w.arm(b, Instant(4096 + 100));
        // Arming and cancelling an earlier one makes `next_deadline` look for the minimum.
        let c = w.alloc(3);
        w.arm(c, Instant(4097));
        w.cancel(c);
        assert_eq!(w.next_deadline(), Some(Instant(4106)));
        w.advance(Instant(4170), |o| fired.push(o));
        assert_eq!(fired, [1]);
        w.advance(Instant(4196), |o| fired.push(o));
        assert_eq!(fired, [1, 2]);
    }
}
