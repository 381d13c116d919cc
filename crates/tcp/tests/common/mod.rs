//! A deterministic network simulator running two engines (seeded loss, duplication, reordering,
//! delay, bandwidth and a bounded drop-tail queue per direction) plus helpers to play a scripted
//! peer against one engine.
//!
//! Link model, per direction: a segment is first subject to random loss; then it waits in a
//! FIFO in front of a serialiser of `bandwidth_bps` (IPv4 + TCP + payload bytes on the wire)
//! holding at most `queue_packets` segments (a full queue drops the newcomer: drop-tail); when
//! it leaves the serialiser it travels `delay_ms` (plus a random extra for reordered segments)
//! and may be duplicated. The serialiser keeps time in nanoseconds; engines see milliseconds
//! (a segment is delivered at the first millisecond tick at or after its arrival).
#![allow(dead_code)]

use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use mtcp_tcp::{Config, Engine, Event, Handle, Instant};
pub mod peer;
pub mod script;

use mtcp_wire::checksum::Checksum;
use mtcp_wire::tcp::{TcpPacket, TcpRepr};

pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// A segment with an owned payload.
#[derive(Clone, Debug)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub repr: TcpRepr<'static>,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn from(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, seg: &TcpRepr<'_>) -> Packet {
        let v4 = |a: IpAddr| match a {
            IpAddr::V4(a) => a,
            IpAddr::V6(a) => panic!("an IPv4 test engine emitted a segment to {a}"),
        };
        Packet {
            src: v4(src.into()),
            dst: v4(dst.into()),
            repr: TcpRepr {
                payload: &[],
                ..seg.clone()
            },
            payload: seg.payload.to_vec(),
        }
    }
    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            payload: &self.payload,
            ..self.repr.clone()
        }
    }
}

/// xorshift64*: small, seeded, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Link behaviour, applied independently to every packet.
#[derive(Clone, Copy, Debug)]
pub struct LinkParams {
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    /// One-way delay in milliseconds.
    pub delay_ms: u64,
    /// Extra random delay for reordered packets, in milliseconds.
    pub reorder_extra_ms: u64,
    /// Bottleneck rate in bits per second (IPv4 + TCP header + payload); 0 = unlimited.
    pub bandwidth_bps: u64,
    /// Segments that may wait for the serialiser (drop-tail beyond); ignored when unlimited.
    pub queue_packets: usize,
}

impl LinkParams {
    pub fn perfect(delay_ms: u64) -> LinkParams {
        LinkParams {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay_ms,
            reorder_extra_ms: 0,
            bandwidth_bps: 0,
            queue_packets: 0,
        }
    }
    pub fn lossy(loss: f64, delay_ms: u64) -> LinkParams {
        LinkParams {
            loss,
            duplicate: loss / 5.0,
            reorder: loss / 2.0,
            delay_ms,
            reorder_extra_ms: 3 * delay_ms,
            bandwidth_bps: 0,
            queue_packets: 0,
        }
    }
    /// The same link behind a bottleneck of `bandwidth_bps` with a queue of `queue_packets`.
    pub fn with_bottleneck(self, bandwidth_bps: u64, queue_packets: usize) -> LinkParams {
        LinkParams {
            bandwidth_bps,
            queue_packets,
            ..self
        }
    }
}

/// One direction's bottleneck: the departure times (ns) of segments queued or in service.
#[derive(Debug, Default)]
struct Bottleneck {
    departures: VecDeque<u64>,
}

impl Bottleneck {
    /// Enqueues a segment of `bytes` at `now_ns`; returns its departure time, or None when the
    /// queue is full (drop-tail).
    fn enqueue(&mut self, now_ns: u64, bytes: usize, link: &LinkParams) -> Option<u64> {
        if link.bandwidth_bps == 0 {
            return Some(now_ns);
        }
        while self.departures.front().is_some_and(|&d| d <= now_ns) {
            self.departures.pop_front();
        }
        // The segment in service is not "waiting"; the queue holds the rest.
        if self.departures.len() > link.queue_packets {
            return None;
        }
        let start = self.departures.back().copied().unwrap_or(0).max(now_ns);
        let service = (bytes as u64 * 8 * 1_000_000_000).div_ceil(link.bandwidth_bps);
        let done = start + service;
        self.departures.push_back(done);
        Some(done)
    }
}

/// A segment on the simulated wire: real TCP bytes (checksummed by mtcp-wire).
#[derive(Debug)]
struct InFlight {
    at: u64,
    order: u64,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.order).cmp(&(self.at, self.order)) // min-heap
    }
}

/// Two engines, `a` at address `A` and `b` at `B`, joined by a simulated link.
pub struct Sim {
    pub a: Engine,
    pub b: Engine,
    pub now: u64,
    pub link: LinkParams,
    rng: Rng,
    queue: BinaryHeap<InFlight>,
    order: u64,
    pub sent: u64,
    /// Segments lost at random.
    pub dropped: u64,
    /// Segments dropped by a full bottleneck queue.
    pub queue_drops: u64,
    /// Bottlenecks for the A→B and B→A directions.
    bottleneck: [Bottleneck; 2],
    scratch: Vec<Packet>,
}

impl Sim {
    pub fn new(config_a: Config, config_b: Config, link: LinkParams, seed: u64) -> Sim {
        Sim {
            a: Engine::new(config_a, [0xA5; 16]),
            b: Engine::new(config_b, [0x5A; 16]),
            now: 1_000,
            link,
            rng: Rng::new(seed),
            queue: BinaryHeap::new(),
            order: 0,
            sent: 0,
            dropped: 0,
            queue_drops: 0,
            bottleneck: Default::default(),
            scratch: Vec::new(),
        }
    }

    pub fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn transmit(&mut self, p: Packet) {
        self.sent += 1;
        if std::env::var_os("SIM_TRACE").is_some() {
            let r = &p.repr;
            eprintln!(
                "{:>7} {}->{} seq={} ack={} flags={:03x} win={} len={} sack={:?} ts={:?}",
                self.now,
                p.src.octets()[3],
                p.dst.octets()[3],
                r.seq_number.0,
                r.ack_number.0,
                r.flags.0,
                r.window_len,
                p.payload.len(),
                r.options.sack_blocks,
                r.options.timestamps.map(|t| (t.tsval, t.tsecr))
            );
        }
        if self.rng.chance(self.link.loss) {
            self.dropped += 1;
            return;
        }
        // Every segment the engine emits must serialise (options within 40 bytes, ...).
        let repr = p.repr();
        let mut bytes = vec![0u8; repr.buffer_len()];
        let n = repr
            .emit(&mut bytes, p.src, p.dst, Checksum::Both)
            .expect("engine output must serialise");
        bytes.truncate(n);
        let dir = usize::from(p.src != A);
        let Some(departure_ns) =
            self.bottleneck[dir].enqueue(self.now * 1_000_000, 20 + bytes.len(), &self.link)
        else {
            self.queue_drops += 1;
            return;
        };
        let departure_ms = departure_ns.div_ceil(1_000_000);
        let copies = if self.rng.chance(self.link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = departure_ms + self.link.delay_ms;
            if self.rng.chance(self.link.reorder) {
                at += 1 + self.rng.below(self.link.reorder_extra_ms.max(1));
            }
            self.order += 1;
            self.queue.push(InFlight {
                at,
                order: self.order,
                src: p.src,
                dst: p.dst,
                bytes: bytes.clone(),
            });
        }
    }

    /// Lets both engines emit, then returns.
    pub fn flush(&mut self) {
        let now = self.instant();
        let mut out = std::mem::take(&mut self.scratch);
        self.a
            .dispatch(now, |s, d, seg| out.push(Packet::from(s, d, seg)));
        self.b
            .dispatch(now, |s, d, seg| out.push(Packet::from(s, d, seg)));
        for p in out.drain(..) {
            self.transmit(p);
        }
        self.scratch = out;
    }

    /// Advances time to the next packet arrival or timer (at most `max_step` ms), delivering
    /// and firing what is due. Returns false when nothing at all is pending.
    pub fn step(&mut self, max_step: u64) -> bool {
        self.flush();
        let next_pkt = self.queue.peek().map(|f| f.at);
        let next_timer = [self.a.next_deadline(), self.b.next_deadline()]
            .into_iter()
            .flatten()
            .map(|i| i.millis())
            .min();
        let Some(next) = [next_pkt, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = next.max(self.now).min(self.now + max_step);
        let now = self.instant();
        while self.queue.peek().is_some_and(|f| f.at <= self.now) {
            let f = self.queue.pop().unwrap();
            let packet = TcpPacket::new_checked(&f.bytes).expect("valid header");
            let repr =
                TcpRepr::parse(&packet, f.src, f.dst, Checksum::Both).expect("valid segment");
            let engine = if f.dst == A { &mut self.a } else { &mut self.b };
            engine.on_segment(now, f.src, f.dst, &repr);
        }
        self.a.poll_timers(now);
        self.b.poll_timers(now);
        self.flush();
        true
    }

    /// Runs until `done` holds or `limit_ms` of simulated time passed.
    pub fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let end = self.now + limit_ms;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step(10) {
                self.now += 10;
            }
        }
        done(self)
    }
}

/// Drains events of one engine into a Vec.
pub fn events(e: &mut Engine) -> Vec<(Handle, Event)> {
    e.events().collect()
}

/// Deterministic test payload.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng::new(seed);
    (0..len).map(|_| r.next() as u8).collect()
}
