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
//! copy) and returns to the sender's pool when the receiver drops it; only broadcast floods and
//! duplicates copy. Frames go to the port whose MAC is the destination; broadcast, multicast and
//! unknown unicast go to every other port. At the receiving port an IPv4 TCP/UDP frame lands on
//! `reta[toeplitz(key, 4-tuple) % reta.len()]` ([`mtcp_wire::rss`]), anything else on queue 0.
//! With [`MemConfig::opaque`] the queue comes from a hash of the switch's own instead and the
//! ports report [`Steering::Opaque`], like TAP and AF_PACKET fanout.
//!
//! A full receive ring pushes back: [`Queue::tx_burst`] stops there and leaves the rest of the
//! burst with the caller (flood copies to a full ring are dropped instead). With a [`FaultConfig`],
//! each sending queue impairs its frames with a seeded generator; delayed frames move on when that
//! sending queue is next polled (`rx_burst`, `tx_burst` or `wait_rx`).

mod steer;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

pub use steer::{flow_tuple, tcp_flow_tuple};

use mtcp_wire::rss::{SYMMETRIC_KEY, Toeplitz};

use crate::fault::{FaultConfig, Impairment};
use crate::pool::{Pool, PoolBuf};
use crate::{
    ChecksumOffload, Device, DeviceInfo, EthernetAddress, Queue, RxFrame, RxMeta, RxSink, Steering,
    TxBatch,
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

struct PortShared {
    info: DeviceInfo,
    rings: Vec<ArrayQueue<PoolBuf>>,
    pools: Vec<Pool>,
}

struct Shared {
    ports: Vec<PortShared>,
    reta: Vec<u16>,
    hasher: Toeplitz,
    opaque: bool,
    counters: Counters,
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
                    checksum: ChecksumOffload::default(),
                    steering: steering.clone(),
                },
                rings: (0..cfg.queues)
                    .map(|_| ArrayQueue::new(cfg.ring_size))
                    .collect(),
                pools: (0..cfg.queues)
                    .map(|_| Pool::new(cfg.pool_size, cfg.mtu + 18))
                    .collect(),
            })
            .collect();
        let shared = Shared {
            ports,
            reta: (0..cfg.reta_size)
                .map(|i| (i % cfg.queues) as u16)
                .collect(),
            hasher: Toeplitz::new(&cfg.rss_key),
            opaque: cfg.opaque,
            counters: Counters::default(),
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

    /// Buffers in all pools right now (all of them once every frame has been dropped).
    pub fn buffers_free(&self) -> usize {
        self.shared
            .ports
            .iter()
            .flat_map(|p| &p.pools)
            .map(Pool::available)
            .sum()
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
            .map(ArrayQueue::len)
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
                let faults = (!self.cfg.faults.is_none()).then(|| {
                    let mut rng = crate::fault::Rng::new(
                        self.cfg.faults.seed ^ ((self.index as u64) << 32 | index as u64),
                    );
                    Impairment::new(FaultConfig {
                        seed: rng.next_u64(),
                        ..self.cfg.faults.clone()
                    })
                });
                Ok(MemQueue {
                    shared: Arc::clone(&self.shared),
                    port: self.index,
                    queue: index,
                    pool: self.shared.ports[self.index].pools[index].clone(),
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
    use std::hash::{DefaultHasher, Hash, Hasher};
    let a = (&tuple[0..4], &tuple[8..10]);
    let b = (&tuple[4..8], &tuple[10..12]);
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
    let dst = EthernetAddress([buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]]);
    let (queue, meta) = match flow_tuple(&buf) {
        Some(tuple) if shared.opaque => (
            opaque_hash(&tuple) as usize % shared.ports[0].rings.len(),
            RxMeta::default(),
        ),
        Some(tuple) => {
            let hash = shared.hasher.hash_tuple(&tuple);
            let q = shared.reta[hash as usize % shared.reta.len()];
            (
                usize::from(q),
                RxMeta {
                    rss_hash: Some(hash),
                    ..RxMeta::default()
                },
            )
        }
        None => (0, RxMeta::default()),
    };
    buf.set_meta(meta);
    let unicast = dst.0[0] & 1 == 0;
    if unicast {
        if let Some((p, port)) = shared
            .ports
            .iter()
            .enumerate()
            .find(|(_, p)| p.info.mac == dst)
        {
            if p == from {
                return Ok(()); // Sent to itself: a switch does not reflect it.
            }
            return port.rings[queue % port.rings.len()].push(buf);
        }
    }
    // Flood to every other port: copies for all but the last.
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
            Some(f) => port.rings[queue % port.rings.len()].push(f).is_ok(),
            None => false,
        };
        if !ok {
            shared.counters.flood_drops.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

impl Queue for MemQueue {
    type Rx = PoolBuf;
    type Tx = PoolBuf;

    fn rx_into<S: RxSink<PoolBuf>>(&mut self, out: &mut S) -> io::Result<usize> {
        if self.faults.is_some() {
            self.pump(Instant::now());
        }
        let ring = &self.shared.ports[self.port].rings[queue_index(self)];
        let mut n = 0;
        while out.room() > 0 {
            let Some(buf) = ring.pop() else { break };
            out.put(buf);
            n += 1;
        }
        Ok(n)
    }

    fn tx_alloc(&mut self) -> Option<PoolBuf> {
        self.pool.alloc()
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
        // Polling backend: spin politely until something arrives or the timeout passes.
        let deadline = Instant::now() + timeout;
        let ring = &self.shared.ports[self.port].rings[queue_index(self)];
        if !ring.is_empty() {
            return Ok(());
        }
        loop {
            let now = Instant::now();
            if self.faults.is_some() {
                self.pump(now);
            }
            let ring = &self.shared.ports[self.port].rings[queue_index(self)];
            if !ring.is_empty() || now >= deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(50).min(deadline - now));
        }
    }
}

fn queue_index(q: &MemQueue) -> usize {
    q.queue
}
