//! An in-memory Ethernet switch between N ports, each with several queues, usable across threads.
//!
//! ```text
//!   port 0                 MemSwitch                  port 1
//!   queue 0 ──tx──► [faults] ─► dst MAC ─► Toeplitz ─► rx ring q0 ──► queue 0
//!   queue 1 ──tx──►    ...                   (RSS)  ─► rx ring q1 ──► queue 1
//! ```
//!
//! Every (port, queue) has a lock-free receive ring ([`crossbeam_queue::ArrayQueue`]) and a fixed
//! [`Pool`] of transmit buffers. A transmitted buffer moves into the receiver's ring as it is (zero
//! copy) and returns to the sender's pool when the receiver drops it, or, handed back with
//! [`Queue::recycle`], serves the receiving queue's own next transmission (most recently received
//! first: its lines are still in this core's cache); only broadcast floods and duplicates copy. Frames go to the port whose MAC is the destination; broadcast, multicast and
//! unknown unicast go to every other port. At the receiving port an IPv4 TCP/UDP frame lands on
//! `reta[toeplitz(key, 4-tuple) % reta.len()]` ([`mtcp_wire::rss`]), anything else on queue 0;
//! with one queue per port nothing is hashed (no [`RxMeta::rss_hash`], as from a NIC without RSS).
//! With [`MemConfig::opaque`] the queue comes from a hash of the switch's own instead and the
//! ports report [`Steering::Opaque`], like TAP and AF_PACKET fanout.
//!
//! A full receive ring pushes back: [`Queue::tx_burst`] stops there and leaves the rest of the
//! burst with the caller (flood copies to a full ring are dropped instead). With a [`FaultConfig`],
//! each sending queue impairs its frames with a seeded generator; delayed frames move on when that
//! sending queue is next polled (`rx_burst`, `tx_burst` or `wait_rx`).
//!
//! Idle strategy ([`Queue::wait_rx`]): where every queue's thread that is not parked can have a
//! core of its own, poll the receive ring for up to 20 µs (a reply on a busy link comes sooner
//! than a parked thread wakes up), offering the CPU to other threads (`yield_now`) between
//! looks; then, or at once where threads outnumber cores, park the thread until a sender
//! delivers to that ring and unparks it, or the timeout passes. No fixed sleep: a frame that
//! arrives while the receiver sleeps wakes it at once. Polling where threads outnumber cores
//! takes the CPU from the very thread whose frame the poller waits for. The sender pays one
//! atomic load per delivered frame (no fence: see `RxRing::push`); it takes the (uncontended) lock that guards
//! the sleeper's thread handle only when a receiver actually sleeps. The wait also ends when
//! the thread's [`doorbell`](crate::doorbell) rings (threaded mode: an application call).

mod steer;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

pub use steer::{flow_tuple, tcp_flow_tuple, tcp_flow_tuple6};

use mtcp_wire::rss::{SYMMETRIC_KEY, Toeplitz, Toeplitz6};

use crate::fault::{FaultConfig, Impairment};
use crate::pool::{Pool, PoolBuf};
use crate::{
    ChecksumOffload, ChecksumStatus, Device, DeviceInfo, EthernetAddress, Queue, RxFrame, RxMeta,
    RxSink, Steering, TxBatch,
};

/// How to build a [`MemSwitch`].
#[derive(Clone, Debug)]
pub struct MemConfig {
    /// Number of ports (2 makes a point-to-point link).
    pub ports: usize,
    /// Queues per port.
    pub queues: usize,
    /// Frames each receive ring holds.
    pub ring_size: usize,
    /// Transmit buffers per queue.
    pub pool_size: usize,
    /// IP MTU; buffers hold `mtu + 18` bytes (Ethernet header with one VLAN tag).
    pub mtu: usize,
    /// Impairment applied by every sending queue (each queue seeds its own generator from it).
    pub faults: FaultConfig,
    /// Toeplitz key for steering to queues (default: mTCP's symmetric key, [`SYMMETRIC_KEY`]).
    pub rss_key: Vec<u8>,
    /// Entries of the redirection table (filled round-robin with queue numbers).
    pub reta_size: usize,
    /// Steer IPv4 TCP/UDP frames by a hash of the switch's own instead of Toeplitz, and report
    /// [`Steering::Opaque`] (with more than one queue), as TAP and AF_PACKET fanout do: a flow
    /// stays on one queue, but software cannot predict which. Lets tests exercise a stack's
    /// software steering without root.
    pub opaque: bool,
    /// Report checksum offload (IPv4 header and TCP/UDP, both directions), as a virtual NIC
    /// between local endpoints does (virtio-net's partial checksums, veth): a frame whose sender
    /// left a checksum to the device arrives with that checksum marked good and is never
    /// computed or verified, since it never left memory. Frames sent without offload (ICMP,
    /// other senders) arrive unverified, for software to check. Off by default: frames then
    /// carry real checksums (what a pcap of the link shows).
    pub checksum_offload: bool,
}

impl Default for MemConfig {
    fn default() -> MemConfig {
        MemConfig {
            ports: 2,
            queues: 1,
            ring_size: 1024,
            pool_size: 2048,
            mtu: 1500,
            faults: FaultConfig::default(),
            rss_key: SYMMETRIC_KEY.to_vec(),
            reta_size: 128,
            opaque: false,
            checksum_offload: false,
        }
    }
}

/// Counters of one sending queue.
#[derive(Debug, Default)]
struct Counters {
    /// Frames dropped because they were shorter than an Ethernet header.
    runts: AtomicU64,
    /// Flood copies dropped for want of a buffer or ring space.
    flood_drops: AtomicU64,
}

/// Most received buffers a queue keeps for its own transmissions.
const MAX_CACHED: usize = 128;

/// Only frames this short are kept for reuse (requests, responses, ACKs: what small-message
/// workloads exchange). Keeping full-size data frames too made bulk transfers slower (bulk1500
/// 30 Gbit/s instead of 32): the receiver's cache then held full-size buffers its small ACKs did
/// not need, which otherwise go straight back to the sender's pool.
const RECYCLE_MAX_LEN: usize = 256;

/// How long [`Queue::wait_rx`] polls an empty ring (yielding) before it parks the thread, where
/// threads do not outnumber cores.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(20);

/// One receive ring and the thread (if any) parked until it fills.
struct RxRing {
    frames: ArrayQueue<PoolBuf>,
    /// Set by a receiver about to park, cleared when it wakes.
    sleeping: AtomicBool,
    /// The parked receiver's thread. Locked only around parking (the receiver) and by a sender
    /// that saw `sleeping` set: never on the path of a frame nobody waits for.
    sleeper: Mutex<Option<Thread>>,
}

impl RxRing {
    fn new(size: usize) -> RxRing {
        RxRing {
            frames: ArrayQueue::new(size),
            sleeping: AtomicBool::new(false),
            sleeper: Mutex::new(None),
        }
    }

    /// Queues `buf` and wakes a parked receiver; gives `buf` back if the ring is full.
    fn push(&self, buf: PoolBuf) -> Result<(), PoolBuf> {
        self.frames.push(buf)?;
        // Either the receiver sees the frame before it parks, or this sees `sleeping` and
        // unparks it. Each side stores one variable and then loads the other (the receiver
        // `sleeping`, then the ring's tail; this the tail, then `sleeping`): Release/Acquire
        // cannot forbid both loads missing both stores, only sequential consistency can. It
        // needs no fence here, though: `ArrayQueue::push` publishes the frame with a SeqCst
        // compare-exchange of the ring's tail (crossbeam-queue 0.3, `push_or_else`), and this
        // load is SeqCst after it. In the single order of SeqCst operations, either that
        // compare-exchange comes after `park`'s fence, and then this load reads `sleeping`
        // as the receiver set it (C++20 [atomics.order]: a SeqCst load after a SeqCst fence
        // sees what was stored before the fence), or it comes before, and then the
        // receiver's SeqCst loads of head and tail (`is_empty`, after its fence) see the new
        // tail. On x86 the compare-exchange is a locked instruction, a full barrier already:
        // the fence this replaces (an `mfence` per frame, 3 % of a 64 B echo's CPU) bought
        // nothing there. The check stays per frame: woken once per burst instead (as
        // 7913a0f's links did), echo64x64 fell into the two stacks taking turns (0.91-1.47 M
        // instead of 1.62-1.70 M trans/s under `chrt -f 10`).
        if self.sleeping.load(Ordering::SeqCst) {
            if let Ok(t) = self.sleeper.lock() {
                if let Some(t) = t.as_ref() {
                    t.unpark();
                }
            }
        }
        Ok(())
    }

    /// Parks the calling thread until a sender pushes a frame or `deadline` passes (spurious
    /// wake-ups return early; the caller looks again).
    fn park(&self, deadline: Instant) {
        if let Ok(mut t) = self.sleeper.lock() {
            if t.as_ref()
                .is_none_or(|t| t.id() != std::thread::current().id())
            {
                *t = Some(std::thread::current());
            }
        }
        self.sleeping.store(true, Ordering::Relaxed);
        // Pairs with the push's SeqCst compare-exchange and `sleeping` load (see `push`).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.frames.is_empty() {
            std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }
}

struct PortShared {
    info: DeviceInfo,
    rings: Vec<RxRing>,
    pools: Vec<Pool>,
    /// Per queue: received buffers the queue keeps for its own transmissions
    /// ([`Queue::recycle`]), for [`MemSwitch::buffers_free`]. Written by the queue's thread only.
    cached: Vec<AtomicUsize>,
}

struct Shared {
    ports: Vec<PortShared>,
    reta: Vec<u16>,
    hasher: Toeplitz,
    /// The same key's hasher for IPv6 4-tuples, built with the first IPv6 frame (its table
    /// takes 36 KiB and about 15 M instructions to compute).
    hasher6: std::sync::OnceLock<Toeplitz6>,
    rss_key: Vec<u8>,
    opaque: bool,
    counters: Counters,
    /// Queues handed out and not dropped: at most one thread each.
    queues_live: AtomicUsize,
    /// Queues whose thread is parked in `wait_rx`.
    queues_parked: AtomicUsize,
    /// CPUs this process may run on.
    cores: usize,
}

/// The switch. Hand its ports to the code under test with [`MemSwitch::port`].
#[derive(Clone)]
pub struct MemSwitch {
    shared: Arc<Shared>,
    cfg: MemConfig,
}

impl std::fmt::Debug for MemSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemSwitch").field("cfg", &self.cfg).finish()
    }
}

impl MemSwitch {
    /// Builds the switch; port `i` gets MAC `02:00:00:00:00:i+1` (locally administered).
    pub fn new(cfg: MemConfig) -> io::Result<MemSwitch> {
        if cfg.ports == 0 || cfg.ports > 255 || cfg.queues == 0 || cfg.queues > u16::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ports must be 1..=255, queues 1..=65535",
            ));
        }
        if cfg.ring_size == 0 || !cfg.reta_size.is_power_of_two() || cfg.rss_key.len() < 16 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring must be non-empty, reta a power of two, key 16+ bytes",
            ));
        }
        let steering = if cfg.queues > 1 && cfg.opaque {
            Steering::Opaque
        } else if cfg.queues > 1 {
            Steering::Toeplitz {
                key: cfg.rss_key.clone(),
                reta: (0..cfg.reta_size)
                    .map(|i| (i % cfg.queues) as u16)
                    .collect(),
            }
        } else {
            Steering::None
        };
        let ports = (0..cfg.ports)
            .map(|p| PortShared {
                info: DeviceInfo {
                    name: format!("mem:{p}"),
                    mac: EthernetAddress([0x02, 0, 0, 0, 0, p as u8 + 1]),
                    mtu: cfg.mtu,
                    num_queues: cfg.queues,
                    checksum: if cfg.checksum_offload {
                        ChecksumOffload::ALL
                    } else {
                        ChecksumOffload::default()
                    },
                    steering: steering.clone(),
                },
                rings: (0..cfg.queues)
                    .map(|_| RxRing::new(cfg.ring_size))
                    .collect(),
                pools: (0..cfg.queues)
                    .map(|_| Pool::new(cfg.pool_size, cfg.mtu + 18))
                    .collect(),
                cached: (0..cfg.queues).map(|_| AtomicUsize::new(0)).collect(),
            })
            .collect();
        let shared = Shared {
            ports,
            reta: (0..cfg.reta_size)
                .map(|i| (i % cfg.queues) as u16)
                .collect(),
            hasher: Toeplitz::new(&cfg.rss_key),
            hasher6: std::sync::OnceLock::new(),
            rss_key: cfg.rss_key.clone(),
            opaque: cfg.opaque,
            counters: Counters::default(),
            queues_live: AtomicUsize::new(0),
            queues_parked: AtomicUsize::new(0),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        };
        Ok(MemSwitch {
            shared: Arc::new(shared),
            cfg,
        })
    }

    /// A point-to-point link: two ports with one queue each and default sizes.
    pub fn pair() -> (MemPort, MemPort) {
        let sw = MemSwitch::new(MemConfig::default())
            .unwrap_or_else(|_| unreachable!("default config is valid"));
        (sw.port(0), sw.port(1))
    }

    /// Port `index` as a [`Device`]. Each call gives a fresh handle whose queues can each be taken once.
    ///
    /// # Panics
    /// If `index >= ports` (a bug in the test setup).
    pub fn port(&self, index: usize) -> MemPort {
        assert!(index < self.shared.ports.len(), "port {index} out of range");
        MemPort {
            shared: Arc::clone(&self.shared),
            index,
            cfg: self.cfg.clone(),
            taken: vec![false; self.cfg.queues],
        }
    }

    /// Buffers in all pools right now, with those the queues keep for reuse (all of them once
    /// every frame has been dropped).
    pub fn buffers_free(&self) -> usize {
        let cached: usize = self
            .shared
            .ports
            .iter()
            .flat_map(|p| &p.cached)
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        let pooled: usize = self
            .shared
            .ports
            .iter()
            .flat_map(|p| &p.pools)
            .map(Pool::available)
            .sum();
        cached + pooled
    }

    /// Buffers the switch owns in all.
    pub fn buffers_total(&self) -> usize {
        self.shared
            .ports
            .iter()
            .flat_map(|p| &p.pools)
            .map(Pool::capacity)
            .sum()
    }

    /// Frames sitting in receive rings, not yet received.
    pub fn frames_in_flight(&self) -> usize {
        self.shared
            .ports
            .iter()
            .flat_map(|p| &p.rings)
            .map(|r| r.frames.len())
            .sum()
    }

    /// Frames dropped: runts plus flood copies that found no buffer or ring space.
    pub fn drops(&self) -> u64 {
        self.shared.counters.runts.load(Ordering::Relaxed)
            + self.shared.counters.flood_drops.load(Ordering::Relaxed)
    }
}

/// One port of a [`MemSwitch`].
pub struct MemPort {
    shared: Arc<Shared>,
    index: usize,
    cfg: MemConfig,
    taken: Vec<bool>,
}

impl Device for MemPort {
    type Queue = MemQueue;

    fn info(&self) -> &DeviceInfo {
        &self.shared.ports[self.index].info
    }

    fn queue(&mut self, index: usize) -> io::Result<MemQueue> {
        match self.taken.get_mut(index) {
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "no such queue")),
            Some(true) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "queue already taken",
            )),
            Some(t) => {
                *t = true;
                self.shared.queues_live.fetch_add(1, Ordering::Relaxed);
                let faults = (!self.cfg.faults.is_none()).then(|| {
                    let mut rng = crate::fault::Rng::new(
                        self.cfg.faults.seed ^ ((self.index as u64) << 32 | index as u64),
                    );
                    Impairment::new(FaultConfig {
                        seed: rng.next_u64(),
                        ..self.cfg.faults.clone()
                    })
                });
                let pool = self.shared.ports[self.index].pools[index].clone();
                let cache_max = (pool.capacity() / 8).min(MAX_CACHED);
                Ok(MemQueue {
                    shared: Arc::clone(&self.shared),
                    port: self.index,
                    queue: index,
                    pool,
                    cache: Vec::with_capacity(cache_max),
                    cache_max,
                    faults,
                })
            }
        }
    }
}

/// One queue of a [`MemPort`]; `Send`, so a thread can own it.
pub struct MemQueue {
    shared: Arc<Shared>,
    port: usize,
    queue: usize,
    pool: Pool,
    /// Received buffers handed back ([`Queue::recycle`]), reused last in, first out for this
    /// queue's transmissions: still in this core's cache, and no trip through the sender's pool
    /// (a shared queue and reference count, both bouncing between the cores every frame).
    cache: Vec<PoolBuf>,
    /// At most this many (an eighth of the pool, at most [`MAX_CACHED`]): beyond, they go home.
    cache_max: usize,
    faults: Option<Box<Impairment<PoolBuf>>>,
}

impl MemQueue {
    /// This queue's transmit pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// What the impairment did so far (`None` without faults).
    pub fn fault_stats(&self) -> Option<crate::fault::FaultStats> {
        self.faults.as_ref().map(|f| f.stats)
    }

    /// Publishes the cache's size for [`MemSwitch::buffers_free`] (a plain store: this thread
    /// is its only writer).
    fn note_cached(&self) {
        self.shared.ports[self.port].cached[self.queue].store(self.cache.len(), Ordering::Relaxed);
    }

    fn pump(&mut self, now: Instant) {
        if let Some(f) = self.faults.as_mut() {
            let (shared, port, pool) = (&self.shared, self.port, &self.pool);
            f.release(now, |buf| deliver(shared, port, pool, buf).err());
        }
    }
}

/// The `opaque` steering hash: std's (SipHash, fixed keys) over the tuple's two endpoints,
/// ordered first so both directions of a flow meet on one queue (as the kernel's flow hash
/// does); unrelated to Toeplitz.
fn opaque_hash(tuple: &[u8; 12]) -> u64 {
    symmetric_hash(
        (&tuple[0..4], &tuple[8..10]),
        (&tuple[4..8], &tuple[10..12]),
    )
}

/// [`opaque_hash`] of an IPv6 4-tuple.
fn opaque_hash6(tuple: &[u8; 36]) -> u64 {
    symmetric_hash(
        (&tuple[0..16], &tuple[32..34]),
        (&tuple[16..32], &tuple[34..36]),
    )
}

/// A hash of two (address, port) ends that does not depend on their order.
fn symmetric_hash(a: (&[u8], &[u8]), b: (&[u8], &[u8])) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    if a <= b { (a, b) } else { (b, a) }.hash(&mut h);
    h.finish()
}

/// Moves `buf` from `from`'s queue into the right receive ring(s); gives it back if the ring is full.
fn deliver(shared: &Shared, from: usize, pool: &Pool, mut buf: PoolBuf) -> Result<(), PoolBuf> {
    if buf.len() < 14 {
        shared.counters.runts.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    let (queue, rss_hash) = steer(shared, &buf);
    mark_checksums(&mut buf, rss_hash);
    let dst = EthernetAddress([buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]]);
    if dst.0[0] & 1 == 0 {
        if let Some((p, port)) = shared
            .ports
            .iter()
            .enumerate()
            .find(|(_, p)| p.info.mac == dst)
        {
            if p == from {
                return Ok(()); // Sent to itself: a switch does not reflect it.
            }
            return port.rings[ring_index(queue, port.rings.len())].push(buf);
        }
    }
    flood(shared, from, pool, queue, buf);
    Ok(())
}

/// `queue` of a port with `rings` queues: itself where the port has it (every port of a switch
/// has as many), without the division per frame that `%` costs.
fn ring_index(queue: usize, rings: usize) -> usize {
    if queue < rings { queue } else { queue % rings }
}

/// The receive queue `buf` lands on at every port, and the RSS hash that comes with it. With
/// one queue per port nothing is steered and nothing is hashed (`None`, as a NIC without RSS
/// reports): a Toeplitz hash per frame (12 table look-ups, the tuple read from the headers)
/// that no one reads.
fn steer(shared: &Shared, buf: &[u8]) -> (usize, Option<u32>) {
    let queues = shared.ports[0].rings.len();
    if queues == 1 {
        return (0, None);
    }
    if buf[12..14] == [0x86, 0xdd] {
        return steer6(shared, buf);
    }
    match flow_tuple(buf) {
        Some(tuple) if shared.opaque => (opaque_hash(&tuple) as usize % queues, None),
        Some(tuple) => {
            let hash = shared.hasher.hash_tuple(&tuple);
            let q = shared.reta[hash as usize % shared.reta.len()];
            (usize::from(q), Some(hash))
        }
        None => (0, None),
    }
}

/// [`steer`] for an IPv6 frame: by its 4-tuple as a NIC's RSS does (TCP_IPV6_EX); the rest
/// to queue 0.
fn steer6(shared: &Shared, buf: &[u8]) -> (usize, Option<u32>) {
    let Some(tuple) = steer::flow_tuple6(buf) else {
        return (0, None);
    };
    if shared.opaque {
        return (
            opaque_hash6(&tuple) as usize % shared.ports[0].rings.len(),
            None,
        );
    }
    let hasher6 = shared
        .hasher6
        .get_or_init(|| Toeplitz6::new(&shared.rss_key));
    let hash = hasher6.hash_tuple(&tuple);
    let q = shared.reta[hash as usize % shared.reta.len()];
    (usize::from(q), Some(hash))
}

/// Sets `buf`'s receive metadata: the RSS hash, and checksums left to the device marked good
/// (by construction: the frame never left memory). Only where it differs: a buffer recycled
/// from this link's traffic mostly holds it already (`Queue::recycle` keeps it), and the
/// store, right before `buf` is moved into the ring, made that move's wide loads wait for it
/// (a store-forwarding stall, 40 % of `deliver`'s samples in a 64 B echo profile).
fn mark_checksums(buf: &mut PoolBuf, rss_hash: Option<u32>) {
    let offload = buf.offload();
    let good = |asked| {
        if asked {
            ChecksumStatus::Good
        } else {
            ChecksumStatus::Unknown
        }
    };
    let meta = RxMeta {
        rss_hash,
        ipv4_checksum: good(offload.ipv4_checksum),
        l4_checksum: good(offload.l4_checksum.is_some()),
    };
    if buf.meta() != meta {
        buf.set_meta(meta);
    }
}

/// Floods `buf` to every port but `from` (broadcast, multicast, unknown unicast): copies for
/// all but the last; a copy that finds no buffer or ring space is dropped and counted.
fn flood(shared: &Shared, from: usize, pool: &Pool, queue: usize, buf: PoolBuf) {
    let targets = shared.ports.len() - 1;
    let mut done = 0;
    let mut original = Some(buf);
    for (p, port) in shared.ports.iter().enumerate() {
        if p == from {
            continue;
        }
        done += 1;
        let frame = if done == targets {
            original.take()
        } else {
            original.as_ref().and_then(|b| {
                let mut c = pool.alloc_copy(b)?;
                c.set_meta(b.meta());
                Some(c)
            })
        };
        let ok = match frame {
            Some(f) => port.rings[ring_index(queue, port.rings.len())]
                .push(f)
                .is_ok(),
            None => false,
        };
        if !ok {
            shared.counters.flood_drops.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Queue for MemQueue {
    type Rx = PoolBuf;
    type Tx = PoolBuf;

    fn rx_into<S: RxSink<PoolBuf>>(&mut self, out: &mut S) -> io::Result<usize> {
        if self.faults.is_some() {
            self.pump(Instant::now());
        }
        let ring = &self.shared.ports[self.port].rings[queue_index(self)];
        // Only the frames there are: a pop that finds the ring empty costs a full fence
        // (crossbeam's), which every turn of an idle or lightly loaded stack paid.
        let mut n = 0;
        let want = ring.frames.len().min(out.room());
        while n < want {
            let Some(buf) = ring.frames.pop() else { break };
            out.put(buf);
            n += 1;
        }
        Ok(n)
    }

    fn tx_alloc(&mut self) -> Option<PoolBuf> {
        // Cached buffers were reset as they entered the cache (see `recycle`).
        match self.cache.pop() {
            Some(buf) => {
                self.note_cached();
                Some(buf)
            }
            None => self.pool.alloc(),
        }
    }

    fn recycle(&mut self, frame: PoolBuf) {
        if frame.len() <= RECYCLE_MAX_LEN
            && self.cache.len() < self.cache_max
            && frame.fits(&self.pool)
        {
            self.cache.push(frame);
            // Reset here, in the cache's slot, rather than in `tx_alloc` on the way out: there
            // the buffer (72 bytes) was copied out right after its length, metadata and
            // offload were written, and the copy's wide loads could not take those narrow
            // stores from the store buffer: a stall on every transmission (70 % of
            // `AnyQueue::tx_alloc`'s samples in a 64 B echo profile).
            // The receive metadata stays: `deliver` then finds it as it would write it (the
            // same link, the same offloads) and writes nothing (see `mark_checksums`).
            if let Some(buf) = self.cache.last_mut() {
                let meta = buf.meta();
                buf.reset();
                buf.set_meta(meta);
            }
            self.note_cached();
        }
    }

    fn tx_from<B: TxBatch<PoolBuf>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        let (shared, port, pool) = (&self.shared, self.port, &self.pool);
        if let Some(faults) = self.faults.as_mut() {
            let now = Instant::now();
            faults.release(now, |buf| deliver(shared, port, pool, buf).err());
            let room = faults.room();
            let mut taken = 0;
            let accept = pkts.take_while(&mut |buf| {
                if taken == room {
                    return Some(buf);
                }
                taken += 1;
                faults.offer(buf, now, |b| pool.alloc_copy(b));
                None
            });
            faults.release(now, |buf| deliver(shared, port, pool, buf).err());
            return Ok(accept);
        }
        // Deliver front to back; on a full ring that frame and the rest stay, in order.
        Ok(pkts.take_while(&mut |buf| deliver(shared, port, pool, buf).err()))
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        // Poll (yielding), then park until a sender wakes us (see the module docs).
        crate::doorbell::heed();
        let start = Instant::now();
        let deadline = start + timeout;
        // Poll only while every queue's thread that is not parked can have a core of its own
        // (mTCP's busy-polling assumes a core per thread); otherwise polling would take the
        // CPU from the thread whose frame this one waits for, so park at once.
        let shared = &self.shared;
        let awake = shared.queues_live.load(Ordering::Relaxed)
            - shared
                .queues_parked
                .load(Ordering::Relaxed)
                .min(shared.queues_live.load(Ordering::Relaxed));
        let spin = if awake <= shared.cores {
            SPIN_BEFORE_PARK.min(timeout)
        } else {
            Duration::ZERO
        };
        let spin_until = start + spin;
        let mut spins = 0u32;
        loop {
            let ring = &self.shared.ports[self.port].rings[queue_index(self)];
            if !ring.frames.is_empty() {
                return Ok(());
            }
            spins = spins.wrapping_add(1);
            if spins % 64 != 0 {
                std::hint::spin_loop();
                continue;
            }
            if crate::doorbell::rung() {
                return Ok(());
            }
            let now = Instant::now();
            if self.faults.is_some() {
                self.pump(now);
            }
            if now >= deadline {
                return Ok(());
            }
            if now < spin_until {
                // On an idle core this returns at once; on a busy one it lets the peer run.
                // Without it, on a machine loaded by other processes, echo64x64 fell from
                // 0.63-0.67 M to 0.27-0.29 M trans/s and latency64 from 5 to 47 us.
                std::thread::yield_now();
                continue;
            }
            // Delayed frames of our own sending side must move on in time: wake for them.
            let wake = match self.faults.as_ref().and_then(|f| f.next_due()) {
                Some(t) => t.min(deadline),
                None => deadline,
            };
            let ring = &self.shared.ports[self.port].rings[queue_index(self)];
            self.shared.queues_parked.fetch_add(1, Ordering::Relaxed);
            if !crate::doorbell::rung() {
                ring.park(wake.max(now));
            }
            self.shared.queues_parked.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for MemQueue {
    fn drop(&mut self) {
        self.cache.clear();
        self.note_cached();
        self.shared.queues_live.fetch_sub(1, Ordering::Relaxed);
    }
}

fn queue_index(q: &MemQueue) -> usize {
    q.queue
}
