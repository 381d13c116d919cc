//! `Engine::dispatch_room` with room for long segments (a device that cuts them: TSO, a
//! kernel's GSO): new data goes in segments of whole MSS beyond one MSS, no more of them per
//! call than the room allows, each handed over with the MSS to cut it at; the receiving engine
//! gets every byte in order, and the sender's books count the segments the device makes.

use std::net::{IpAddr, Ipv4Addr};

use mtcp_tcp::{Config, Engine, Handle, Instant, TxRoom};
use mtcp_wire::Checksum;
use mtcp_wire::tcp::{TcpPacket, TcpRepr};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 80;
const BYTES: usize = 3 << 20;

/// A serialised segment: source, destination, bytes, and the MSS to cut it at (0: not long).
type Frame = (IpAddr, IpAddr, Vec<u8>, u16);

fn take(e: &mut Engine, now: Instant, room: TxRoom) -> Vec<Frame> {
    let mut out = Vec::new();
    let n = e.dispatch_room(now, room, |src, dst, seg, cut| {
        let mut bytes = vec![0; seg.buffer_len()];
        seg.emit_ip(&mut bytes, src, dst, Checksum::Both).unwrap();
        out.push((src, dst, bytes, cut));
    });
    assert_eq!(n, out.len());
    out
}

fn deliver(e: &mut Engine, now: Instant, frames: &[Frame]) {
    for (src, dst, bytes, _) in frames {
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        let repr = TcpRepr::parse_ip(&packet, *src, *dst, Checksum::Both).unwrap();
        e.on_segment(now, *src, *dst, &repr);
    }
}

fn payload_len(f: &Frame) -> usize {
    let packet = TcpPacket::new_checked(&f.2[..]).unwrap();
    TcpRepr::parse_ip(&packet, f.0, f.1, Checksum::Both)
        .unwrap()
        .payload
        .len()
}

fn pattern(at: usize) -> u8 {
    (at % 251) as u8
}

/// Two engines with `config`, `a` connected to `b`: the engines, `a`'s handle, `b`'s handle and
/// `a`'s MSS.
fn pair(config: Config, now: Instant) -> (Engine, Engine, Handle, Handle, usize) {
    let mut a = Engine::new(config.clone(), [1; 16]);
    let mut b = Engine::new(config, [2; 16]);
    let (ha, hb) = connect(&mut a, &mut b, now);
    let mss = a.info(ha).unwrap().snd_mss as usize;
    (a, b, ha, hb, mss)
}

/// The room of a plain dispatch: 64 segments, none long.
const PLAIN: TxRoom = TxRoom {
    segments: 64,
    long: 0,
    long_payload: 0,
};

/// Opens a connection from `a` to `b` through plain dispatches; the two handles.
fn connect(a: &mut Engine, b: &mut Engine, now: Instant) -> (Handle, Handle) {
    b.listen(B, PORT, 1).unwrap();
    let h = a.connect(now, A, 0, B, PORT).unwrap();
    for _ in 0..3 {
        let ab = take(a, now, PLAIN);
        deliver(b, now, &ab);
        let ba = take(b, now, PLAIN);
        deliver(a, now, &ba);
    }
    (h, b.accept(PORT).expect("the handshake completed"))
}

#[test]
fn long_segments_carry_whole_mss_within_the_room_and_arrive_in_order() {
    let config = Config {
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..Config::default()
    };
    let mut now = Instant::from_millis(1);
    let (mut a, mut b, ha, hb, mss) = pair(config, now);
    let room = TxRoom {
        segments: 64,
        long: 3,
        long_payload: 65_535,
    };
    let (mut queued, mut got) = (0, Vec::with_capacity(BYTES));
    let (mut long_seen, mut frames_out) = (0, 0u64);
    let mut buf = vec![0u8; 1 << 16];
    for _turn in 0..20_000 {
        if got.len() == BYTES {
            break;
        }
        now = now + mtcp_tcp::Duration(1);
        let chunk: Vec<u8> = (queued..BYTES.min(queued + 65_536)).map(pattern).collect();
        queued += a.send(ha, &chunk).unwrap();
        let ab = take(&mut a, now, room);
        let long: Vec<&Frame> = ab.iter().filter(|f| f.3 > 0).collect();
        assert!(
            long.len() <= room.long,
            "{} long segments in one call",
            long.len()
        );
        for f in &long {
            let len = payload_len(f);
            assert_eq!(usize::from(f.3), mss, "cut at the MSS");
            assert!(
                len > mss && len <= 65_535 - 20 - 60,
                "a long segment of {len} bytes"
            );
            assert_eq!(len % mss, 0, "whole segments ({len} bytes, MSS {mss})");
            frames_out += (len / mss) as u64;
        }
        for f in ab.iter().filter(|f| f.3 == 0) {
            assert!(
                payload_len(f) <= mss,
                "a segment not long is at most one MSS"
            );
            frames_out += 1;
        }
        long_seen += long.len();
        deliver(&mut b, now, &ab);
        loop {
            let n = b.recv(hb, &mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let ba = take(&mut b, now, PLAIN);
        deliver(&mut a, now, &ba);
    }
    assert_eq!(got.len(), BYTES, "every byte arrived");
    assert!(
        got.iter().enumerate().all(|(i, &v)| v == pattern(i)),
        "in order"
    );
    assert!(long_seen > 0, "long segments were sent");
    let info = a.info(ha).unwrap();
    assert_eq!(info.total_retrans, 0);
    // The segments the device makes (three for the handshake's ACK and the like aside).
    assert!(
        info.segs_out >= frames_out && info.segs_out <= frames_out + 4,
        "segs_out {} for {frames_out} frames on the wire",
        info.segs_out
    );
}

#[test]
fn without_room_for_long_segments_none_is_long() {
    let now = Instant::from_millis(1);
    let (mut a, _, ha, _, mss) = pair(Config::default(), now);
    let data: Vec<u8> = (0..200_000).map(pattern).collect();
    a.send(ha, &data).unwrap();
    let plain = TxRoom {
        segments: 64,
        long: 0,
        long_payload: 65_535,
    };
    let out = take(&mut a, now, plain);
    assert!(!out.is_empty());
    assert!(out.iter().all(|f| f.3 == 0 && payload_len(f) <= mss));
}

#[test]
fn resends_after_a_timeout_without_sack_are_one_mss_each() {
    let config = Config {
        sack: false,
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..Config::default()
    };
    let now = Instant::from_millis(1);
    let (mut a, mut b, ha, _, mss) = pair(config, now);
    let data: Vec<u8> = (0..100_000).map(pattern).collect();
    a.send(ha, &data).unwrap();
    let room = TxRoom {
        segments: 64,
        long: 8,
        long_payload: 65_535,
    };
    // Sent and lost: nothing reaches `b`.
    let first = take(&mut a, now, room);
    assert!(
        first.iter().any(|f| f.3 > 0),
        "long segments went out first"
    );
    let first_bytes: usize = first.iter().map(payload_len).sum();
    // The timeout: go back N, one MSS at a time however much room there is for long ones, also
    // once the window has grown again.
    let mut t = Instant::from_millis(5_000);
    a.poll_timers(t);
    let (mut resent, mut rounds) = (0, 0);
    while resent < first_bytes && rounds < 200 {
        let out = take(&mut a, t, room);
        for f in &out {
            if resent < first_bytes {
                assert!(
                    f.3 == 0 && payload_len(f) <= mss,
                    "a resend of {} bytes",
                    payload_len(f)
                );
            }
            resent += payload_len(f);
        }
        deliver(&mut b, t, &out);
        b.poll_timers(t);
        let back = take(&mut b, t, PLAIN);
        deliver(&mut a, t, &back);
        t = t + mtcp_tcp::Duration(1);
        a.poll_timers(t);
        rounds += 1;
    }
    assert!(
        resent >= first_bytes,
        "everything was resent ({resent} of {first_bytes})"
    );
}
