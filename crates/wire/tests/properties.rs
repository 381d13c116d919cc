//! Property tests: the fast checksum equals the plain reference, representations round-trip
//! through bytes, and no byte sequence makes a parser panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use mtcp_wire::checksum::{self, Checksum};
use mtcp_wire::ipv6_ext::{self, Ipv6Payload};
use mtcp_wire::rss::{self, Toeplitz, Toeplitz6, toeplitz};
use mtcp_wire::{
    ChecksumCapabilities, Error, EthernetAddress, Frame, Icmpv6Packet, Icmpv6Repr, Ipv6Packet,
    Ipv6Repr, NeighborFlags, PrettyFrame, SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpPacket,
    TcpRepr, Timestamps,
};
use proptest::prelude::*;

fn options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..15),
        any::<bool>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..4),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, blocks)| {
            let mut o = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                ..Default::default()
            };
            for (l, r) in blocks {
                let _ = o.sack_blocks.push(SackBlock {
                    left: SeqNumber(l),
                    right: SeqNumber(r),
                });
            }
            o
        })
}

proptest! {
    #[test]
    fn fast_checksum_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..3000), skip in 0usize..8) {
        // Any alignment of the start.
        let data = &data[skip.min(data.len())..];
        prop_assert_eq!(checksum::checksum(data), checksum::reference_checksum(data));
    }

    #[test]
    fn partial_sums_combine(data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..300) {
        let cut = (cut * 2).min(data.len() & !1);
        let split = checksum::fold(checksum::sum(&data[..cut]) + checksum::sum(&data[cut..]));
        prop_assert_eq!(!split, checksum::checksum(&data));
    }

    #[test]
    fn incremental_update_equals_recompute(mut data in proptest::collection::vec(any::<u8>(), 2..200), at in 0usize..100, new in any::<u16>()) {
        let at = (at * 2) % (data.len() & !1);
        let before = checksum::checksum(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        // RFC 1624 results may differ from a recompute only in the +0/-0 representation.
        let updated = checksum::update(before, old, new);
        let recomputed = checksum::checksum(&data);
        prop_assert!(updated == recomputed || (updated, recomputed) == (0xffff, 0) || (updated, recomputed) == (0, 0xffff));
    }

    #[test]
    fn toeplitz_table_equals_bitwise(key in proptest::collection::vec(any::<u8>(), 40), tuple in any::<[u8; 12]>()) {
        prop_assert_eq!(Toeplitz::new(&key).hash_tuple(&tuple), toeplitz(&key, &tuple));
    }

    #[test]
    fn tcp_round_trips(
        ports in (1u16.., 1u16..), seq in any::<u32>(), ack in any::<u32>(), flags in 0u16..0x200,
        window in any::<u16>(), urgent in any::<u16>(), options in options(),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let repr = TcpRepr {
            src_port: ports.0, dst_port: ports.1, seq_number: SeqNumber(seq), ack_number: SeqNumber(ack),
            flags: TcpFlags(flags), window_len: window, urgent_pointer: urgent, options, payload: &payload,
        };
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 255, 254));
        let mut buf = vec![0u8; 200];
        match repr.emit(&mut buf, src, dst, Checksum::Both) {
            Ok(n) => {
                let packet = TcpPacket::new_checked(&buf[..n]).unwrap();
                prop_assert_eq!(TcpRepr::parse(&packet, src, dst, Checksum::Both).unwrap(), repr);
            }
            // Only options beyond 40 bytes are refused.
            Err(e) => prop_assert!(repr.options.buffer_len() > 40, "{e}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Frame::parse(&bytes, &ChecksumCapabilities::ignored());
        let _ = PrettyFrame(&bytes).to_string();
        let _ = TcpOptions::parse(&bytes);
    }

    #[test]
    fn accepted_frames_round_trip(mut bytes in proptest::collection::vec(any::<u8>(), 14..120), kind in 0usize..3) {
        // Steer random bytes toward the parsers: an IPv4 or ARP EtherType and a sane IPv4 start.
        bytes[12..14].copy_from_slice(&[[0x08, 0x00], [0x08, 0x06], [0x81, 0x00]][kind]);
        if kind == 0 && bytes.len() > 34 {
            bytes[14] = 0x45;
            let len = (bytes.len() - 14) as u16;
            bytes[16..18].copy_from_slice(&len.to_be_bytes());
            bytes[20] &= 0x1f; // no fragment, no reserved bit
            bytes[21] = 0;
            bytes[23] = [6, 17, 1][usize::from(bytes[23]) % 3];
        }
        let caps = ChecksumCapabilities::ignored();
        if let Ok(frame) = Frame::parse(&bytes, &caps) {
            let mut out = vec![0u8; frame.buffer_len()];
            if frame.emit(&mut out, &caps).is_ok() {
                prop_assert_eq!(Frame::parse(&out, &caps).unwrap(), frame);
            }
        }
    }
}

/// An IPv6 packet from 2001:2::1 to 2001:2::2 whose payload is `ext` (any bytes) after the fixed
/// header with next header `first`.
fn ipv6_packet(first: u8, ext: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 40 + ext.len()];
    Ipv6Repr::new(
        "2001:2::1".parse().unwrap(),
        "2001:2::2".parse().unwrap(),
        first.into(),
        ext.len(),
    )
    .emit(&mut buf)
    .unwrap();
    buf[40..].copy_from_slice(ext);
    buf
}

proptest! {
    #[test]
    fn ipv6_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        if let Ok(p) = Ipv6Packet::new_checked(&bytes) {
            let _ = ipv6_ext::walk(&p);
            let _ = Ipv6Repr::parse(&p);
        }
        if let Ok(p) = Icmpv6Packet::new_checked(&bytes) {
            let _ = Icmpv6Repr::parse(&p, &src, &dst, Checksum::None).map(|r| r.to_string());
        }
        let _ = rss::flow_tuple_ip(&bytes);
    }

    /// Extension-header chains of random headers and lengths: the walk ends inside the packet
    /// with an answer RFC 8200 allows, never a panic, and the upper layer it finds is a suffix.
    #[test]
    fn extension_walk_stays_inside_the_packet(
        first in prop::sample::select(vec![0u8, 43, 44, 59, 60, 6, 58]),
        ext in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let buf = ipv6_packet(first, &ext);
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        match ipv6_ext::walk(&p) {
            Ok(Ipv6Payload::Upper { pointer, data, .. }) => {
                prop_assert!(ext.ends_with(data));
                prop_assert!(pointer == 6 || (pointer as usize) < buf.len());
            }
            Ok(Ipv6Payload::ParameterProblem { code, pointer }) => {
                prop_assert!(code <= 2);
                prop_assert!((pointer as usize) < buf.len());
            }
            Ok(_) => {}
            Err(e) => prop_assert!(matches!(e, Error::Truncated | Error::Malformed)),
        }
    }

    #[test]
    fn icmpv6_echo_and_nd_round_trip(ident in any::<u16>(), seq in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..100), mac in any::<[u8; 6]>(), with_mac in any::<bool>()) {
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        let lladdr = with_mac.then_some(EthernetAddress(mac));
        for repr in [
            Icmpv6Repr::EchoRequest { ident, seq_no: seq, data: &data },
            Icmpv6Repr::NeighborSolicit { target_addr: dst, source_lladdr: lladdr },
            Icmpv6Repr::NeighborAdvert { flags: NeighborFlags { router: ident & 1 == 1, solicited: true, override_: false }, target_addr: dst, target_lladdr: lladdr },
        ] {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out, &src, &dst, Checksum::Both).unwrap();
            let p = Icmpv6Packet::new_checked(&out).unwrap();
            prop_assert_eq!(Icmpv6Repr::parse(&p, &src, &dst, Checksum::Both).unwrap(), repr);
        }
    }

    #[test]
    fn toeplitz6_table_equals_bitwise(key in proptest::collection::vec(any::<u8>(), 40), tuple in any::<[u8; 32]>(), ports in any::<[u8; 4]>()) {
        let mut t = [0u8; 36];
        t[..32].copy_from_slice(&tuple);
        t[32..].copy_from_slice(&ports);
        prop_assert_eq!(Toeplitz6::new(&key).hash_tuple(&t), toeplitz(&key, &t));
    }
}
