//! A timer wheel with millisecond ticks: O(1) insert and cancel.
//!
//! Each connection owns one timer node (allocated with the connection) armed for its earliest
//! deadline. Nodes live in a `Vec` and are linked into per-slot doubly linked lists by index,
//! so arming, re-arming and cancelling never allocate.

use alloc::vec;
use alloc::vec::Vec;

use crate::time::Instant;

const NIL: u32 = u32::MAX;
/// Slots in the wheel (one per millisecond); deadlines further away wait for extra turns.
pub const WHEEL_SLOTS: usize = 1024;

#[derive(Clone, Debug)]
struct Node {
    prev: u32,
    next: u32,
    slot: u32,
    expires: u64,
    owner: u32,
    linked: bool,
    in_use: bool,
}

/// Identifies a timer node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(u32);

/// The wheel.
#[derive(Debug)]
pub struct TimerWheel {
    heads: Vec<u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Every tick before this one has been processed.
    current: u64,
    armed: usize,
}

impl TimerWheel {
    /// An empty wheel whose clock starts at `now`.
    pub fn new(now: Instant) -> TimerWheel {
        TimerWheel {
            heads: vec![NIL; WHEEL_SLOTS],
            nodes: Vec::new(),
            free: Vec::new(),
            current: now.0,
            armed: 0,
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
            in_use: true,
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
        self.nodes[id.0 as usize].in_use = false;
        self.free.push(id.0);
    }
    /// Arms (or re-arms) `id` to fire at `at`.
    pub fn arm(&mut self, id: TimerId, at: Instant) {
        let n = &self.nodes[id.0 as usize];
        if n.linked && n.expires == at.0 {
            return;
        }
        self.cancel(id);
        // An overdue deadline waits in the slot processed next.
        let slot = (at.0.max(self.current) as usize) % WHEEL_SLOTS;
        let at = at.0;
        let head = self.heads[slot];
        {
            let n = &mut self.nodes[id.0 as usize];
            n.expires = at;
            n.slot = slot as u32;
            n.prev = NIL;
            n.next = head;
            n.linked = true;
        }
        if head != NIL {
            self.nodes[head as usize].prev = id.0;
        }
        self.heads[slot] = id.0;
        self.armed += 1;
    }
    /// Disarms `id` if armed.
    pub fn cancel(&mut self, id: TimerId) {
        let (prev, next, slot, linked) = {
            let n = &self.nodes[id.0 as usize];
            (n.prev, n.next, n.slot, n.linked)
        };
        if !linked {
            return;
        }
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            self.heads[slot as usize] = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        let n = &mut self.nodes[id.0 as usize];
        n.linked = false;
        n.prev = NIL;
        n.next = NIL;
        self.armed -= 1;
    }
    /// The deadline `id` is armed for.
    pub fn deadline(&self, id: TimerId) -> Option<Instant> {
        let n = &self.nodes[id.0 as usize];
        n.linked.then_some(Instant(n.expires))
    }
    /// Advances to `now`, calling `fire(owner)` for (and disarming) every node that expired.
    pub fn advance(&mut self, now: Instant, mut fire: impl FnMut(u32)) {
        if now.0 < self.current {
            // Only overdue timers (armed for an already processed tick) can be due.
            let slot = (self.current as usize) % WHEEL_SLOTS;
            let mut i = self.heads[slot];
            while i != NIL {
                let next = self.nodes[i as usize].next;
                if self.nodes[i as usize].expires <= now.0 {
                    let owner = self.nodes[i as usize].owner;
                    self.cancel(TimerId(i));
                    fire(owner);
                }
                i = next;
            }
            return;
        }
        let ticks = (now.0 - self.current + 1).min(WHEEL_SLOTS as u64);
        for t in 0..ticks {
            let slot = ((self.current + t) as usize) % WHEEL_SLOTS;
            let mut i = self.heads[slot];
            while i != NIL {
                let next = self.nodes[i as usize].next;
                if self.nodes[i as usize].expires <= now.0 {
                    let owner = self.nodes[i as usize].owner;
                    self.cancel(TimerId(i));
                    fire(owner);
                }
                i = next;
            }
        }
        self.current = now.0 + 1;
    }
    /// The earliest armed deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.armed == 0 {
            return None;
        }
        // Within one turn, slot order is time order: the first slot holding a node due in this turn
        // holds the minimum. Otherwise fall back to a scan.
        let horizon = self.current + WHEEL_SLOTS as u64;
        for t in 0..WHEEL_SLOTS as u64 {
            let slot = ((self.current + t) as usize) % WHEEL_SLOTS;
            let mut i = self.heads[slot];
            let mut best: Option<u64> = None;
            while i != NIL {
                let n = &self.nodes[i as usize];
                if n.expires < horizon {
                    best = Some(best.map_or(n.expires, |b: u64| b.min(n.expires)));
                }
                i = n.next;
            }
            if let Some(b) = best {
                return Some(Instant(b));
            }
        }
        self.nodes
            .iter()
            .filter(|n| n.in_use && n.linked)
            .map(|n| Instant(n.expires))
            .min()
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
}
