//! A byte ring buffer whose capacity is fixed when a connection is created but whose memory is
//! taken on use: a connection that never carries data (a half-open one, a SYN flood's) holds no
//! buffer memory. Storage grows in steps (at least [`MIN_GROWTH`] bytes, doubling), so a
//! connection in steady state allocates nothing per packet; it is freed when the ring is dropped
//! or [`RingBuffer::release_if_empty`] is called. Growth is charged to a [`BufferBudget`] shared
//! by an engine's rings, which caps the buffer memory of one engine (one core).
//!
//! A [`RingPool`] keeps the first-step storage of rings that gave theirs back (closed
//! connections) for the next ones, so short connections neither allocate nor zero (nor
//! page-fault) ring memory per connection. Pooled storage counts against the same cap. Once a
//! second the engine calls [`RingPool::trim_idle`], which frees the pieces no connection took
//! in the last interval down to a configured floor: memory a load took returns when it ends.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::time::Instant;

/// Smallest step by which a ring's storage grows (the first piece of every ring that carries
/// data). Small, so that a small flow's rings stay small: a ring rewinds to its front when empty,
/// so a 64-byte echo touches one line of each, but with 16 KiB first pieces every ring of 10 000
/// connections sat on a page of its own (20 000 pages a side, far past the TLB's reach, each zeroed
/// and faulted in on first use). A bulk flow doubles its way up in a few steps.
pub const MIN_GROWTH: usize = 1024;

/// Bytes of ring storage an engine may hold at once, shared by its connections' rings.
///
/// Cloning shares the same account. The counter is atomic only so that an engine (and its
/// rings) may move between threads; it is touched when a ring grows or is freed, never per packet.
#[derive(Clone, Debug)]
pub struct BufferBudget(Arc<BudgetInner>);

#[derive(Debug)]
struct BudgetInner {
    limit: usize,
    used: AtomicUsize,
    /// Held by the engine's [`RingPool`], not by a connection; counts against `limit` too.
    pooled: AtomicUsize,
}

impl BufferBudget {
    /// A budget of `limit_bytes` (`usize::MAX`: unlimited).
    pub fn new(limit_bytes: usize) -> BufferBudget {
        BufferBudget(Arc::new(BudgetInner {
            limit: limit_bytes,
            used: AtomicUsize::new(0),
            pooled: AtomicUsize::new(0),
        }))
    }
    /// Bytes of ring storage connections hold now (not counting spare storage in a pool).
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }
    /// The cap.
    pub fn limit(&self) -> usize {
        self.0.limit
    }
    /// Bytes of spare storage held by the engine's pool.
    pub fn pooled(&self) -> usize {
        self.0.pooled.load(Ordering::Relaxed)
    }
    /// Whether one more growth step would not fit beside what connections and the pool hold
    /// (the engine then empties its pool).
    pub fn tight(&self) -> bool {
        self.used() + self.pooled() + MIN_GROWTH > self.0.limit
    }
    fn take(&self, bytes: usize) -> bool {
        let used = self.used();
        if bytes > self.0.limit.saturating_sub(used + self.pooled()) {
            return false;
        }
        self.0.used.store(used + bytes, Ordering::Relaxed);
        true
    }
    fn give(&self, bytes: usize) {
        self.0.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Milliseconds between two trims of an idle pool ([`RingPool::trim_idle`]).
pub const POOL_TRIM_INTERVAL_MS: u64 = 1000;

/// Spare ring storage of one engine, [`MIN_GROWTH`] bytes each, handed to the next ring that
/// needs memory instead of a fresh (zeroed) allocation. Holds at most `max` pieces; they count
/// against the budget (`BufferBudget::pooled`), and [`RingPool::clear`] gives them back.
///
/// It shrinks as a slab reaper does: the fewest pieces it held during an interval were not
/// needed in that interval, and [`RingPool::trim_idle`] frees that many (keeping `floor`), so a
/// steady stream of short connections keeps what it uses and a past load's pieces go.
#[derive(Debug)]
pub struct RingPool {
    spare: Vec<Vec<u8>>,
    max: usize,
    floor: usize,
    /// Fewest pieces held since the last trim.
    low_water: usize,
    /// When the last interval began.
    trimmed_at: Instant,
    budget: BufferBudget,
}

impl RingPool {
    /// A pool of at most `max` pieces charged to `budget` (the list is allocated here, once),
    /// which idle trims shrink to `floor` pieces (at most `max`).
    pub fn new(max: usize, floor: usize, budget: BufferBudget) -> RingPool {
        RingPool {
            spare: Vec::with_capacity(max),
            max,
            floor: floor.min(max),
            low_water: 0,
            trimmed_at: Instant(0),
            budget,
        }
    }
    /// Frees the pieces no ring took in the interval that ends at `now` (the fewest held during
    /// it), keeping `floor`, once every [`POOL_TRIM_INTERVAL_MS`]; earlier calls do nothing but a
    /// comparison. Returns the pieces freed.
    pub fn trim_idle(&mut self, now: Instant) -> usize {
        if now.0 < self.trimmed_at.0.saturating_add(POOL_TRIM_INTERVAL_MS) {
            return 0;
        }
        self.trimmed_at = now;
        let idle = self
            .low_water
            .min(self.spare.len().saturating_sub(self.floor));
        let keep = self.spare.len() - idle;
        self.spare.truncate(keep);
        self.budget
            .0
            .pooled
            .fetch_sub(idle * MIN_GROWTH, Ordering::Relaxed);
        self.low_water = keep;
        idle
    }
    /// Pieces an idle pool keeps.
    pub fn floor(&self) -> usize {
        self.floor
    }
    /// Pieces held now.
    pub fn len(&self) -> usize {
        self.spare.len()
    }
    /// Whether no piece is held.
    pub fn is_empty(&self) -> bool {
        self.spare.is_empty()
    }
    /// Frees every piece.
    pub fn clear(&mut self) {
        let bytes: usize = self.spare.iter().map(Vec::len).sum();
        self.spare.clear();
        self.low_water = 0;
        self.budget.0.pooled.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Drop for RingPool {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Byte ring: `len` readable bytes start at `head`. Out-of-order data may be written past the
/// readable part (`write_at`) and made readable later (`commit`).
#[derive(Debug)]
pub struct RingBuffer {
    /// The physical ring: positions are modulo its length, which grows up to `capacity`.
    storage: Vec<u8>,
    capacity: usize,
    head: usize,
    len: usize,
    budget: Option<BufferBudget>,
}

impl RingBuffer {
    /// A ring holding up to `capacity` bytes; no memory is taken until data is written.
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            storage: Vec::new(),
            capacity,
            head: 0,
            len: 0,
            budget: None,
        }
    }
    /// Charges this ring's storage (present and future) to `budget`.
    pub fn set_budget(&mut self, budget: BufferBudget) {
        if let Some(old) = self.budget.take() {
            old.give(self.storage.len());
        }
        // Storage already held is charged even past the limit: it exists.
        budget
            .0
            .used
            .fetch_add(self.storage.len(), Ordering::Relaxed);
        self.budget = Some(budget);
    }
    /// Total capacity in bytes (what the window and the socket options promise).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Bytes of memory the ring holds now.
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }
    /// Readable bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether no byte is readable.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Free space after the readable bytes.
    pub fn free(&self) -> usize {
        self.capacity - self.len
    }
    /// Appends as much of `data` as fits; returns the count written.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.len += n;
        n
    }
    /// Whether `push` of a byte could fail for lack of memory (not of capacity): the ring is
    /// full physically, below its capacity, and the budget cannot give the next step.
    pub fn out_of_memory(&self) -> bool {
        self.len == self.storage.len()
            && self.len < self.capacity
            && self
                .budget
                .as_ref()
                .is_some_and(|b| b.limit().saturating_sub(b.used()) == 0)
    }
    /// Writes `data` at `offset` bytes past the readable part, without making it readable;
    /// returns how many bytes fitted (in the capacity and in the memory the budget allows).
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.free() {
            return 0;
        }
        let want = data.len().min(self.free() - offset);
        self.grow_for(self.len + offset + want);
        let phys = self.storage.len();
        if self.len + offset >= phys {
            return 0;
        }
        let n = want.min(phys - self.len - offset);
        let start = (self.head + self.len + offset) % phys;
        let first = n.min(phys - start);
        self.storage[start..start + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        n
    }
    /// Makes `n` bytes already written past the readable part readable.
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.storage.len());
    }
    /// Copies up to `out.len()` readable bytes starting `offset` bytes in, without consuming.
    pub fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let phys = self.storage.len();
        let n = out.len().min(self.len - offset);
        let start = (self.head + offset) % phys;
        let first = n.min(phys - start);
        out[..first].copy_from_slice(&self.storage[start..start + first]);
        out[first..n].copy_from_slice(&self.storage[..n - first]);
        n
    }
    /// Up to `len` readable bytes starting `offset` bytes in, as the ring holds them: one slice,
    /// or two when they wrap past the end of the storage (the second then starts at its front).
    /// Lets a sender copy straight from the ring into a frame, with no scratch copy between.
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let phys = self.storage.len();
        let n = len.min(self.len - offset);
        let start = (self.head + offset) % phys;
        let first = n.min(phys - start);
        (
            &self.storage[start..start + first],
            &self.storage[..n - first],
        )
    }
    /// Drops `n` readable bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if !self.storage.is_empty() {
            self.head = (self.head + n) % self.storage.len();
        }
        // The head is not reset when empty: out-of-order data may sit past the readable part.
        self.len -= n;
    }
    /// Starts over at the front of the storage when nothing is readable: the next bytes go
    /// where the last ones went, in cache lines still warm, instead of walking the whole ring (a
    /// 16 KiB ring per direction and connection, cycled through by small messages, is a working
    /// set of megabytes). The caller knows nothing sits past the readable part (for a receive
    /// ring: its assembler is empty).
    pub fn rewind_if_empty(&mut self) {
        if self.len == 0 {
            self.head = 0;
        }
    }
    /// Copies and consumes up to `out.len()` readable bytes.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.consume(n);
        n
    }
    /// Takes a piece of storage from `pool` when the ring holds none (before data comes), so
    /// its first growth step costs no allocation. The ring must be charged to the pool's budget.
    pub fn reuse_from(&mut self, pool: &mut RingPool) {
        if !self.storage.is_empty() || self.capacity < MIN_GROWTH {
            return;
        }
        let Some(piece) = pool.spare.pop() else {
            return;
        };
        pool.low_water = pool.low_water.min(pool.spare.len());
        let bytes = piece.len();
        pool.budget.0.pooled.fetch_sub(bytes, Ordering::Relaxed);
        pool.budget.0.used.fetch_add(bytes, Ordering::Relaxed);
        self.storage = piece;
        self.head = 0;
    }
    /// Gives the storage to `pool` (or frees it, when the pool is full or the storage is not one
    /// first-step piece), dropping whatever the ring holds: for a connection being freed.
    pub fn recycle(&mut self, pool: &mut RingPool) {
        self.len = 0;
        self.head = 0;
        if self.storage.len() == MIN_GROWTH && pool.spare.len() < pool.max {
            let piece = core::mem::take(&mut self.storage);
            if let Some(b) = &self.budget {
                b.0.used.fetch_sub(MIN_GROWTH, Ordering::Relaxed);
            }
            pool.budget
                .0
                .pooled
                .fetch_add(MIN_GROWTH, Ordering::Relaxed);
            pool.spare.push(piece);
        } else {
            self.release_if_empty();
        }
    }
    /// [`Self::release_if_empty`] that hands the storage to `pool` where it can.
    pub fn release_into(&mut self, pool: &mut RingPool) {
        if self.len == 0 {
            self.recycle(pool);
        }
    }
    /// Frees the storage when nothing is readable. The caller knows that no out-of-order data
    /// sits past the readable part (for a receive ring: its assembler is empty).
    pub fn release_if_empty(&mut self) {
        if self.len != 0 || self.storage.is_empty() {
            return;
        }
        if let Some(b) = &self.budget {
            b.give(self.storage.len());
        }
        self.storage = Vec::new();
        self.head = 0;
    }

    /// Grows the storage to hold at least `needed` bytes (within capacity and budget). The ring
    /// is laid out anew from `head`, out-of-order bytes past the readable part included.
    fn grow_for(&mut self, needed: usize) {
        let phys = self.storage.len();
        if needed <= phys {
            return;
        }
        let step = needed.max(phys * 2).max(MIN_GROWTH).min(self.capacity);
        // Failing those, whatever the budget has left: a ring that cannot take all of a write
        // takes part of it (growing by nothing would leave a writer waiting for an ACK of data
        // it never could send).
        let left = self
            .budget
            .as_ref()
            .map_or(0, |b| b.limit().saturating_sub(b.used() + b.pooled()));
        let rest = phys.saturating_add(left).min(self.capacity);
        let Some(new_len) = [step, needed.min(self.capacity), rest]
            .into_iter()
            .filter(|&n| n > phys)
            .find(|&n| self.budget.as_ref().is_none_or(|b| b.take(n - phys)))
        else {
            return;
        };
        let mut grown = Vec::new();
        if grown.try_reserve_exact(new_len).is_err() {
            if let Some(b) = &self.budget {
                b.give(new_len - phys);
            }
            return;
        }
        grown.extend_from_slice(&self.storage[self.head..]);
        grown.extend_from_slice(&self.storage[..self.head]);
        grown.resize(new_len, 0);
        self.storage = grown;
        self.head = 0;
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.give(self.storage.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_ring_rewinds_to_the_front() {
        let mut r = RingBuffer::new(MIN_GROWTH);
        assert_eq!(r.push(b"abc"), 3);
        let mut o = [0; 2];
        assert_eq!(r.pop(&mut o), 2);
        r.rewind_if_empty();
        assert_eq!(
            r.slices(0, 1).0.as_ptr(),
            r.storage[2..].as_ptr(),
            "not empty: stays"
        );
        assert_eq!(r.pop(&mut o), 1);
        r.rewind_if_empty();
        assert_eq!(r.push(b"de"), 2);
        assert_eq!(r.slices(0, 2).0, b"de");
        assert_eq!(r.slices(0, 2).0.as_ptr(), r.storage.as_ptr());
    }

    #[test]
    fn wraps_and_reassembles() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.push(b"abcdef"), 6);
        let mut o = [0; 4];
        assert_eq!(r.pop(&mut o), 4);
        assert_eq!(&o, b"abcd");
        assert_eq!(r.write_at(2, b"ghij"), 4);
        assert_eq!(r.push(b"xy"), 2);
        r.commit(4);
        let mut o = [0; 8];
        assert_eq!(r.pop(&mut o), 8);
        assert_eq!(&o, b"efxyghij");
        assert_eq!(r.write_at(8, b"z"), 0);
    }

    #[test]
    fn slices_show_the_readable_bytes_in_place_split_where_they_wrap() {
        let mut r = RingBuffer::new(MIN_GROWTH);
        let data: Vec<u8> = (0..MIN_GROWTH).map(|i| (i % 251) as u8).collect();
        assert_eq!(r.push(&data), MIN_GROWTH);
        let (a, b) = r.slices(10, 100);
        assert_eq!(a, &data[10..110]);
        assert!(b.is_empty());
        // Wrap: 20 bytes freed at the front and written again at the end of the stream.
        r.consume(20);
        assert_eq!(r.push(&data[..20]), 20);
        let (a, b) = r.slices(MIN_GROWTH - 40, 40);
        assert_eq!(a, &data[MIN_GROWTH - 20..]);
        assert_eq!(b, &data[..20]);
        // Clamped to the readable bytes; nothing past them.
        let (a, b) = r.slices(MIN_GROWTH - 5, 100);
        assert_eq!(a, &data[15..20]);
        assert!(b.is_empty());
        assert_eq!(r.slices(MIN_GROWTH, 1), (&[][..], &[][..]));
    }

    #[test]
    fn a_pool_hands_storage_back_to_new_rings_within_the_budget() {
        let budget = BufferBudget::new(4 * MIN_GROWTH);
        let mut pool = RingPool::new(2, 0, budget.clone());
        let ring = |budget: &BufferBudget| {
            let mut r = RingBuffer::new(1 << 20);
            r.set_budget(budget.clone());
            r
        };
        let mut a = ring(&budget);
        assert_eq!(a.push(b"hello"), 5);
        assert_eq!(budget.used(), MIN_GROWTH);
        a.recycle(&mut pool);
        assert_eq!(
            (budget.used(), budget.pooled(), pool.len()),
            (0, MIN_GROWTH, 1)
        );
        // The next ring takes the piece: no new memory, and it reads only what it writes.
        let mut b = ring(&budget);
        b.reuse_from(&mut pool);
        assert_eq!(
            (budget.used(), budget.pooled(), pool.len()),
            (MIN_GROWTH, 0, 0)
        );
        assert!(b.is_empty());
        assert_eq!(b.push(b"xy"), 2);
        let mut out = [0; 8];
        assert_eq!(b.pop(&mut out), 2);
        assert_eq!(&out[..2], b"xy");
        // Pooled pieces count against the cap: with 3 pieces' worth held by rings and one in
        // the pool, a fifth ring cannot grow until the pool is emptied.
        let mut held: Vec<RingBuffer> = (0..3).map(|_| ring(&budget)).collect();
        for r in &mut held {
            assert_eq!(r.push(b"z"), 1);
        }
        b.release_into(&mut pool);
        assert_eq!(pool.len(), 1);
        assert!(budget.tight());
        let mut e = ring(&budget);
        assert_eq!(e.push(b"q"), 0);
        pool.clear();
        assert_eq!(e.push(b"q"), 1);
        assert_eq!(budget.pooled(), 0);
        // A full pool frees what it cannot keep.
        drop(e);
        for r in &mut held {
            r.recycle(&mut pool);
        }
        assert_eq!(pool.len(), 2);
        assert_eq!((budget.used(), budget.pooled()), (0, 2 * MIN_GROWTH));
        drop(pool);
        assert_eq!(budget.pooled(), 0);
    }

    /// After a load the pool holds its maximum; what no ring took in an interval is freed down to
    /// the floor, while pieces a steady stream of connections keeps using stay.
    #[test]
    fn an_idle_pool_shrinks_to_its_floor() {
        let budget = BufferBudget::new(64 * MIN_GROWTH);
        let mut pool = RingPool::new(16, 4, budget.clone());
        let ring = |budget: &BufferBudget| {
            let mut r = RingBuffer::new(1 << 20);
            r.set_budget(budget.clone());
            r
        };
        // A load of 20 connections ends: the pool keeps 16 pieces, the rest is freed.
        let mut load: Vec<RingBuffer> = (0..20).map(|_| ring(&budget)).collect();
        for r in &mut load {
            assert_eq!(r.push(b"x"), 1);
        }
        for r in &mut load {
            r.recycle(&mut pool);
        }
        drop(load);
        assert_eq!((pool.len(), budget.pooled()), (16, 16 * MIN_GROWTH));
        // Within the first interval nothing is trimmed; the low-water mark then is 0 (the pool
        // was empty during the load), so the first trim frees nothing either.
        assert_eq!(pool.trim_idle(Instant(500)), 0);
        assert_eq!(pool.trim_idle(Instant(1000)), 0);
        // Two connections at a time come and go during the next second: 14 pieces idle, of which
        // 12 go (the floor is 4).
        for _ in 0..3 {
            let mut pair = [ring(&budget), ring(&budget)];
            for r in &mut pair {
                r.reuse_from(&mut pool);
                assert_eq!(r.allocated(), MIN_GROWTH);
            }
            for r in &mut pair {
                r.recycle(&mut pool);
            }
        }
        assert_eq!(pool.trim_idle(Instant(1999)), 0, "not a second yet");
        assert_eq!(pool.trim_idle(Instant(2000)), 12);
        assert_eq!((pool.len(), budget.pooled()), (4, 4 * MIN_GROWTH));
        // Idle from then on: the floor stays.
        assert_eq!(pool.trim_idle(Instant(3000)), 0);
        assert_eq!(pool.trim_idle(Instant(60_000)), 0);
        assert_eq!((pool.len(), budget.pooled()), (4, 4 * MIN_GROWTH));
        // A pool whose floor is 0 ends empty.
        let mut none = RingPool::new(4, 0, budget.clone());
        let mut r = ring(&budget);
        assert_eq!(r.push(b"y"), 1);
        r.recycle(&mut none);
        none.trim_idle(Instant(1000));
        assert_eq!(none.trim_idle(Instant(2000)), 1);
        assert!(none.is_empty());
        drop(pool);
        assert_eq!((budget.used(), budget.pooled()), (0, 0));
    }

    #[test]
    fn takes_memory_on_use_and_keeps_out_of_order_bytes_when_growing() {
        let cap = 4 * MIN_GROWTH;
        let mut r = RingBuffer::new(cap);
        assert_eq!(r.allocated(), 0);
        let chunk: Vec<u8> = (0..MIN_GROWTH).map(|i| i as u8).collect();
        // Wrap the first step, then write out of order past it: the ring grows and relays.
        assert_eq!(r.push(&chunk[..MIN_GROWTH - 10]), MIN_GROWTH - 10);
        assert_eq!(r.allocated(), MIN_GROWTH);
        let mut sink = vec![0; MIN_GROWTH];
        assert_eq!(r.pop(&mut sink[..100]), 100);
        assert_eq!(r.push(&chunk[..50]), 50);
        assert_eq!(r.write_at(1000, b"late"), 4);
        assert_eq!(r.write_at(MIN_GROWTH, b"far"), 3);
        assert_eq!(r.allocated(), 2 * MIN_GROWTH);
        r.commit(0);
        let mut out = vec![0; cap];
        assert_eq!(r.peek(0, &mut out), MIN_GROWTH - 60);
        assert_eq!(&out[..MIN_GROWTH - 110], &chunk[100..MIN_GROWTH - 10]);
        assert_eq!(&out[MIN_GROWTH - 110..MIN_GROWTH - 60], &chunk[..50]);
        r.consume(MIN_GROWTH - 60);
        r.commit(1000 + 4);
        let mut late = [0; 4];
        assert_eq!(r.peek(1000, &mut late), 4);
        assert_eq!(&late, b"late");
        r.consume(r.len());
        r.release_if_empty();
        assert_eq!(r.allocated(), 0);
    }

    #[test]
    fn a_budget_caps_the_memory_of_all_rings_and_gets_it_back() {
        let budget = BufferBudget::new(3 * MIN_GROWTH);
        let mut rings: Vec<RingBuffer> = (0..4)
            .map(|_| {
                let mut r = RingBuffer::new(1 << 20);
                r.set_budget(budget.clone());
                r
            })
            .collect();
        let data = vec![7u8; MIN_GROWTH];
        assert_eq!(rings[0].push(&data), MIN_GROWTH);
        assert_eq!(rings[1].push(&data), MIN_GROWTH);
        assert_eq!(rings[2].push(&data[..10]), 10);
        assert_eq!(budget.used(), 3 * MIN_GROWTH);
        // The fourth ring gets nothing: no memory, not a panic; the others keep their bytes.
        assert_eq!(rings[3].push(&data), 0);
        assert!(rings[3].out_of_memory());
        // A full ring cannot grow past the budget either, but what it has stays usable.
        assert_eq!(rings[0].push(&data), 0);
        rings.truncate(1);
        assert_eq!(budget.used(), MIN_GROWTH);
        drop(rings);
        assert_eq!(budget.used(), 0);
    }

    /// A write larger than what the budget has left takes what is left, not nothing (a ring that
    /// grew by nothing left its writer waiting for an ACK of data it could never send).
    #[test]
    fn a_ring_takes_what_the_budget_has_left() {
        let budget = BufferBudget::new(4 * MIN_GROWTH);
        let mut full = RingBuffer::new(1 << 20);
        full.set_budget(budget.clone());
        let data = vec![7u8; 3 * MIN_GROWTH];
        assert_eq!(full.push(&data), 3 * MIN_GROWTH);
        let mut r = RingBuffer::new(1 << 20);
        r.set_budget(budget.clone());
        let write = vec![1u8; MIN_GROWTH + MIN_GROWTH / 4];
        assert_eq!(r.push(&write), MIN_GROWTH, "the budget's last step");
        assert_eq!(budget.used(), 4 * MIN_GROWTH);
        assert!(r.out_of_memory());
    }
}
