//! `Engine::dispatch_at_most`: a transmit path that takes only a few segments per turn gets
//! every segment, in chunks of exactly the size it asked for, none lost or sent twice, and
//! hundreds of handshakes and echo rounds complete through it (no timeout needed).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use mtcp_tcp::{Config, Engine, Handle, Instant, State};
use mtcp_wire::Checksum;
use mtcp_wire::tcp::{TcpFlags, TcpPacket, TcpRepr};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 80;
const CONNS: usize = 300;

/// A serialised segment: source, destination, bytes.
type Frame = (IpAddr, IpAddr, Vec<u8>);

/// At most `max` segments of `e`, serialised.
fn take(e: &mut Engine, now: Instant, max: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    let n = e.dispatch_at_most(now, max, |src, dst, seg| {
        let mut bytes = vec![0; seg.buffer_len()];
        seg.emit_ip(&mut bytes, src, dst, Checksum::Both).unwrap();
        out.push((src, dst, bytes));
    });
    assert_eq!(n, out.len(), "the count returned is the count emitted");
    assert!(n <= max, "{n} segments emitted with a budget of {max}");
    out
}

fn deliver(e: &mut Engine, now: Instant, frames: &[Frame]) {
    for (src, dst, bytes) in frames {
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        let repr = TcpRepr::parse_ip(&packet, *src, *dst, Checksum::Both).unwrap();
        e.on_segment(now, *src, *dst, &repr);
    }
}

fn src_port(f: &Frame) -> u16 {
    u16::from_be_bytes([f.2[0], f.2[1]])
}

fn flags(f: &Frame) -> TcpFlags {
    let packet = TcpPacket::new_checked(&f.2[..]).unwrap();
    TcpRepr::parse_ip(&packet, f.0, f.1, Checksum::Both)
        .unwrap()
        .flags
}

#[test]
fn a_small_budget_gets_every_syn_once_in_chunks_of_its_size() {
    let mut a = Engine::new(Config::default(), [1; 16]);
    let now = Instant::from_millis(1);
    for _ in 0..CONNS {
        a.connect(now, A, 0, B, PORT).unwrap();
    }
    let mut ports = HashSet::new();
    let mut chunks = 0;
    loop {
        let got = take(&mut a, now, 7);
        if got.is_empty() {
            break;
        }
        chunks += 1;
        let last = ports.len() + got.len() == CONNS;
        assert!(got.len() == 7 || last, "chunk {chunks} has {}", got.len());
        for f in &got {
            assert!(flags(f).contains(TcpFlags::SYN));
            assert!(ports.insert(src_port(f)), "SYN from {} twice", src_port(f));
        }
        assert!(a.has_output() || ports.len() == CONNS);
    }
    assert_eq!(ports.len(), CONNS, "every connection's SYN went out");
    assert_eq!(chunks, CONNS.div_ceil(7));
    assert!(!a.has_output());
    assert_eq!(
        take(&mut a, now, usize::MAX).len(),
        0,
        "nothing is sent twice"
    );
}

#[test]
fn handshakes_and_echo_rounds_complete_through_budgets_of_a_few_segments() {
    let mut a = Engine::new(Config::default(), [1; 16]);
    let mut b = Engine::new(Config::default(), [2; 16]);
    b.listen(B, PORT, CONNS).unwrap();
    let mut now = Instant::from_millis(1);
    let handles: Vec<Handle> = (0..CONNS)
        .map(|_| a.connect(now, A, 0, B, PORT).unwrap())
        .collect();
    // Both sides take 5 and 3 segments a turn; the clock stays far below any retransmission
    // timeout, so only the budgeted dispatch can have moved the segments.
    let mut turns = 0;
    let mut shuttle = |a: &mut Engine, b: &mut Engine, now: Instant| {
        loop {
            let ab = take(a, now, 5);
            deliver(b, now, &ab);
            let ba = take(b, now, 3);
            deliver(a, now, &ba);
            turns += 1;
            if ab.is_empty() && ba.is_empty() {
                break;
            }
        }
    };
    shuttle(&mut a, &mut b, now);
    let accepted: Vec<Handle> = std::iter::from_fn(|| b.accept(PORT)).collect();
    assert_eq!(accepted.len(), CONNS, "every handshake completed");
    for &h in &handles {
        assert_eq!(a.state(h), Ok(State::Established));
    }
    now = Instant::from_millis(2);
    let msg = [7u8; 64];
    let mut buf = [0u8; 64];
    for &h in &handles {
        assert_eq!(a.send(h, &msg), Ok(64));
    }
    shuttle(&mut a, &mut b, now);
    for &h in &accepted {
        assert_eq!(b.recv(h, &mut buf), Ok(64));
        assert_eq!(buf, msg);
        assert_eq!(b.send(h, &buf), Ok(64));
    }
    shuttle(&mut a, &mut b, now);
    for &h in &handles {
        assert_eq!(a.recv(h, &mut buf), Ok(64), "echo on {h:?}");
    }
    assert!(
        turns > 2 * CONNS / 5,
        "the budgets were the bottleneck ({turns} turns)"
    );
}
