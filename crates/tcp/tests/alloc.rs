//! No heap allocation per segment in steady state: two engines joined back to back through
//! fixed, preallocated frame slots (segments are serialised with `TcpRepr::emit` and parsed
//! back, as a real event loop does), with a counting global allocator around the hot loop.
//!
//! The counter is per thread, so the test harness' other threads do not disturb it.

use mtcp_testkit::alloc::{CountingAlloc, allocations};
use std::net::{IpAddr, Ipv4Addr};

use mtcp_tcp::{Config, Engine, Handle, Instant, State};
use mtcp_wire::Checksum;
use mtcp_wire::tcp::{TcpPacket, TcpRepr};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    allocations()
}

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 80;
/// Frame slots of the wire between the engines (more than a dispatch ever emits here).
const SLOTS: usize = 256;

/// The IPv4 address in `a` (these tests run over IPv4 only).
fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => panic!("an IPv4 engine emitted an IPv6 segment to {a}"),
    }
}

/// Serialised segments in flight, in slots allocated once.
struct Wire {
    slots: Vec<(Ipv4Addr, Ipv4Addr, usize, [u8; 2048])>,
    used: usize,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            slots: vec![(A, A, 0, [0; 2048]); SLOTS],
            used: 0,
        }
    }

    /// Everything `e` has to send, serialised into the slots; returns the count.
    fn collect(&mut self, e: &mut Engine, now: Instant) -> usize {
        let Wire { slots, used } = self;
        e.dispatch(now, |src, dst, seg| {
            let (src, dst) = (v4(src), v4(dst));
            let slot = &mut slots[*used];
            let n = seg
                .emit(&mut slot.3, src, dst, Checksum::Both)
                .expect("segment fits a slot");
            (slot.0, slot.1, slot.2) = (src, dst, n);
            *used += 1;
        })
    }

    /// Hands every slot to `e` and empties the wire.
    fn deliver(&mut self, e: &mut Engine, now: Instant) {
        for (src, dst, n, bytes) in &self.slots[..self.used] {
            let packet = TcpPacket::new_checked(&bytes[..*n]).expect("well-formed segment");
            let repr = TcpRepr::parse(&packet, *src, *dst, Checksum::Both).expect("valid segment");
            e.on_segment(now, *src, *dst, &repr);
        }
        self.used = 0;
    }
}

/// Two engines, one connection between them, a millisecond clock.
struct Pair {
    a: Engine,
    b: Engine,
    ha: Handle,
    hb: Handle,
    now: u64,
    wire: Wire,
}

impl Pair {
    fn connected() -> Pair {
        let config = Config::default();
        let mut a = Engine::new(config.clone(), [1; 16]);
        let mut b = Engine::new(config, [2; 16]);
        b.listen(B, PORT, 16).unwrap();
        let now = Instant::from_millis(1);
        let ha = a.connect(now, A, 0, B, PORT).unwrap();
        a.set_nodelay(ha, true).unwrap();
        let mut pair = Pair {
            a,
            b,
            ha,
            hb: ha,
            now: 1,
            wire: Wire::new(),
        };
        pair.shuttle();
        pair.hb = pair.b.accept(PORT).expect("handshake done");
        pair.b.set_nodelay(pair.hb, true).unwrap();
        assert_eq!(pair.a.state(pair.ha), Ok(State::Established));
        pair
    }

    /// Both engines emit and receive until quiet; the clock moves a millisecond and the timers
    /// run (delayed ACKs included).
    fn shuttle(&mut self) {
        self.now += 1;
        let now = Instant::from_millis(self.now);
        self.a.poll_timers(now);
        self.b.poll_timers(now);
        loop {
            let n = self.wire.collect(&mut self.a, now);
            self.wire.deliver(&mut self.b, now);
            let m = self.wire.collect(&mut self.b, now);
            self.wire.deliver(&mut self.a, now);
            while self.a.poll_event().is_some() || self.b.poll_event().is_some() {}
            if n + m == 0 {
                break;
            }
        }
    }

    /// One echo round: 64 bytes from A to B and back.
    fn echo(&mut self, buf: &mut [u8; 64]) {
        assert_eq!(self.a.send(self.ha, &buf[..]), Ok(64));
        self.shuttle();
        assert_eq!(self.b.recv(self.hb, buf), Ok(64));
        assert_eq!(self.b.send(self.hb, &buf[..]), Ok(64));
        self.shuttle();
        assert_eq!(self.a.recv(self.ha, buf), Ok(64));
    }

    /// One bulk round: as much as the send buffer takes, A to B, all of it read.
    fn bulk(&mut self, data: &[u8], sink: &mut [u8]) -> usize {
        let sent = self.a.send(self.ha, data).unwrap_or(0);
        self.shuttle();
        let mut got = 0;
        while let Ok(n @ 1..) = self.b.recv(self.hb, sink) {
            got += n;
        }
        self.shuttle();
        assert_eq!(got, sent, "every byte sent arrives");
        sent
    }
}

#[test]
fn echo_allocates_nothing_per_segment() {
    let mut p = Pair::connected();
    let mut buf = [7u8; 64];
    // Warm-up: queues and tables reach their working size.
    for _ in 0..200 {
        p.echo(&mut buf);
    }
    let before = allocs();
    for _ in 0..5_000 {
        p.echo(&mut buf);
    }
    let during = allocs() - before;
    assert_eq!(during, 0, "{during} heap allocations in 5000 echo rounds");
}

#[test]
fn bulk_allocates_nothing_per_segment() {
    let mut p = Pair::connected();
    let data = vec![0x5au8; 256 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    for _ in 0..50 {
        p.bulk(&data, &mut sink);
    }
    let before = allocs();
    let mut bytes = 0;
    for _ in 0..500 {
        bytes += p.bulk(&data, &mut sink);
    }
    let during = allocs() - before;
    assert!(bytes > 10_000_000, "moved only {bytes} bytes");
    assert_eq!(during, 0, "{during} heap allocations moving {bytes} bytes");
}

#[test]
fn the_counter_sees_an_allocation() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(allocs() - before, 1);
    drop(v);
}
