//! Any bytes through the IPv6 parsers (the first byte picks one): the IPv6 view and
//! representation with the extension-header walk, ICMPv6 (Neighbour Discovery included), and the
//! IPv6 variants of TCP and UDP, and the RSS flow tuple of a whole frame. None panics, the walk
//! stays inside the packet, and accepted input round-trips through emit.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mtcp_wire::ipv6_ext::{self, Ipv6Payload};
use mtcp_wire::{
    Checksum, Icmpv6Packet, Icmpv6Repr, Ipv6Packet, Ipv6Repr, TcpPacket, TcpRepr, UdpPacket,
    UdpRepr, rss,
};

const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = data.split_first() else {
        return;
    };
    let mut out = [0u8; 4096];
    match selector % 5 {
        0 => ipv6(bytes, &mut out),
        1 => {
            let Ok(packet) = Icmpv6Packet::new_checked(bytes) else {
                return;
            };
            let _ = packet.verify_checksum(&SRC, &DST);
            if let Ok(repr) = Icmpv6Repr::parse(&packet, &SRC, &DST, Checksum::None) {
                let _ = repr.to_string();
                if let Ok(n) = repr.emit(&mut out, &SRC, &DST, Checksum::Both) {
                    let back = Icmpv6Packet::new_checked(&out[..n]).unwrap();
                    assert_eq!(
                        Icmpv6Repr::parse(&back, &SRC, &DST, Checksum::Both).unwrap(),
                        repr
                    );
                }
            }
        }
        2 => {
            let Ok(packet) = TcpPacket::new_checked(bytes) else {
                return;
            };
            if let Ok(repr) = TcpRepr::parse_ipv6(&packet, &SRC, &DST, Checksum::None) {
                if let Ok(n) = repr.emit_ipv6(&mut out, &SRC, &DST, Checksum::Both) {
                    let back = TcpPacket::new_checked(&out[..n]).unwrap();
                    assert!(back.verify_checksum_ipv6(&SRC, &DST));
                }
            }
        }
        3 => {
            let Ok(packet) = UdpPacket::new_checked(bytes) else {
                return;
            };
            if let Ok(repr) = UdpRepr::parse_ipv6(&packet, &SRC, &DST, Checksum::None) {
                if let Ok(n) = repr.emit_ipv6(&mut out, &SRC, &DST, Checksum::Both) {
                    let back = UdpPacket::new_checked(&out[..n]).unwrap();
                    assert_eq!(
                        UdpRepr::parse_ipv6(&back, &SRC, &DST, Checksum::Both).unwrap(),
                        repr
                    );
                }
            }
        }
        _ => {
            if let Some((_, tuple)) = rss::flow_tuple_ip(bytes) {
                assert!(matches!(tuple.as_bytes().len(), 12 | 36));
            }
        }
    }
});

fn ipv6(bytes: &[u8], out: &mut [u8]) {
    let Ok(packet) = Ipv6Packet::new_checked(bytes) else {
        return;
    };
    match ipv6_ext::walk(&packet) {
        Ok(Ipv6Payload::Upper { pointer, data, .. }) => {
            assert!((pointer as usize) < 40 + packet.payload().len() || pointer == 6);
            assert!(data.len() <= packet.payload().len());
        }
        Ok(Ipv6Payload::ParameterProblem { pointer, .. }) => {
            assert!((pointer as usize) < 40 + packet.payload().len());
        }
        _ => {}
    }
    if let Ok(repr) = Ipv6Repr::parse(&packet) {
        let n = repr.emit(out).expect("header fits");
        let back = Ipv6Packet::new_quoted(&out[..n]).expect("emitted header checks");
        assert_eq!(Ipv6Repr::parse(&back).unwrap(), repr);
    }
}
