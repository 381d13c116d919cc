//! The links between the switch's queues: a single-producer, single-consumer ring ([`rtrb`])
//! from every sending queue to every receiving queue of another port, and per receiving queue
//! ([`Endpoint`]) the thread parked on it and its count of frames in flight.
//!
//! One multi-producer ring per receiving queue (crossbeam's `ArrayQueue`, before) took a locked
//! compare-and-swap per frame on each side, and each of those waited for the frame's ring slot
//! to come over from the other core, one frame at a time (a fifth of echo64x64's CPU time). A
//! single-producer ring moves frames with plain loads and stores, so the misses of a burst
//! overlap; the one fence a sender still needs (to wake a parked receiver) comes once per burst
//! and receiving queue ([`Delivered`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::thread::Thread;
use std::time::Instant;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::pool::PoolBuf;

/// A queue's ends of its links: `producers[r]` sends to receiving queue `r` (switch-wide
/// index: port x queues + queue), `None` for its own port's queues (a switch does not reflect
/// a frame to its sender's port); `consumers` receive from the sending queues, with their index.
#[derive(Default)]
pub(super) struct Ends {
    pub producers: Vec<Option<Producer<PoolBuf>>>,
    pub consumers: Vec<(usize, Consumer<PoolBuf>)>,
}

/// One receiving queue.
pub(super) struct Endpoint {
    /// Set by a receiver about to park, cleared when it wakes.
    sleeping: AtomicBool,
    /// The parked receiver's thread. Locked only around parking (the receiver) and by a sender
    /// that saw `sleeping` set: never on the path of a frame nobody waits for.
    sleeper: Mutex<Option<Thread>>,
    /// Frames senders delivered and the receiver did not take yet (counted once per burst on
    /// either side; for [`super::MemSwitch::frames_in_flight`]).
    in_flight: AtomicUsize,
    /// The queue's ends while no handle holds them.
    ends: Mutex<Option<Ends>>,
}

/// The endpoints of a switch of `ports` x `queues` queues, linked by rings of `ring_size`
/// frames.
pub(super) fn endpoints(ports: usize, queues: usize, ring_size: usize) -> Vec<Endpoint> {
    let n = ports * queues;
    let mut ends: Vec<Ends> = (0..n)
        .map(|_| Ends {
            producers: (0..n).map(|_| None).collect(),
            consumers: Vec::new(),
        })
        .collect();
    for s in 0..n {
        for r in 0..n {
            if s / queues != r / queues {
                let (p, c) = RingBuffer::new(ring_size);
                ends[s].producers[r] = Some(p);
                ends[r].consumers.push((s, c));
            }
        }
    }
    ends.into_iter()
        .map(|e| Endpoint {
            sleeping: AtomicBool::new(false),
            sleeper: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            ends: Mutex::new(Some(e)),
        })
        .collect()
}

impl Endpoint {
    /// Takes the queue's ends; `None` while another handle holds them.
    pub fn take_ends(&self) -> Option<Ends> {
        self.ends.lock().ok()?.take()
    }

    /// Gives the ends back (the handle goes).
    pub fn return_ends(&self, ends: Ends) {
        if let Ok(mut e) = self.ends.lock() {
            *e = Some(ends);
        }
    }

    /// Frames a receiver has not taken yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The receiver took `n` frames.
    pub fn taken(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::Relaxed);
    }

    /// A sender put `n` frames in this queue's links: counts them and wakes the receiver if it
    /// is parked (or about to park).
    fn delivered(&self, n: usize) {
        self.in_flight.fetch_add(n, Ordering::Relaxed);
        // Pairs with the fence in `park`: either the receiver sees the frames before it parks,
        // or this sees `sleeping` and unparks it.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            if let Ok(t) = self.sleeper.lock() {
                if let Some(t) = t.as_ref() {
                    t.unpark();
                }
            }
        }
    }

    /// Parks the calling thread until a sender delivers a frame or `deadline` passes, unless
    /// `empty` (the receiver's look at its links) says frames are there (spurious wake-ups
    /// return early; the caller looks again).
    pub fn park(&self, deadline: Instant, empty: impl Fn() -> bool) {
        if let Ok(mut t) = self.sleeper.lock() {
            if t.as_ref()
                .is_none_or(|t| t.id() != std::thread::current().id())
            {
                *t = Some(std::thread::current());
            }
        }
        self.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if empty() {
            std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }
}

/// The receiving queues a burst delivered frames to, and how many: counted, and their
/// receivers woken, once the burst is in.
#[derive(Default)]
pub(super) struct Delivered {
    counts: heapless::Vec<(usize, usize), 8>,
}

impl Delivered {
    /// One frame went to receiving queue `r`.
    pub fn note(&mut self, r: usize, endpoints: &[Endpoint]) {
        if let Some(c) = self.counts.iter_mut().find(|c| c.0 == r) {
            c.1 += 1;
        } else if self.counts.push((r, 1)).is_err() {
            // More receiving queues than tracked in one burst: this one frame by frame.
            endpoints[r].delivered(1);
        }
    }

    /// Counts the burst's frames and wakes their receivers.
    pub fn finish(&mut self, endpoints: &[Endpoint]) {
        for (r, n) in self.counts.drain(..) {
            endpoints[r].delivered(n);
        }
    }
}
