//! Any bytes through each layer's parser alone (the first byte picks the layer): ARP, IPv4,
//! ICMPv4 and UDP views and representations never panic, and accepted input round-trips.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use mtcp_wire::{
    ArpPacket, ArpRepr, Checksum, Icmpv4Packet, Icmpv4Repr, Ipv4Packet, Ipv4Repr, UdpPacket,
    UdpRepr,
};

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = data.split_first() else {
        return;
    };
    let mut out = [0u8; 2048];
    match selector % 4 {
        0 => {
            if let Ok(repr) = ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)) {
                let n = repr.emit(&mut out).expect("ARP fits");
                let again = ArpRepr::parse(&ArpPacket::new_checked(&out[..n]).unwrap()).unwrap();
                assert_eq!(again, repr);
            }
        }
        1 => {
            let Ok(packet) = Ipv4Packet::new_checked(bytes) else {
                return;
            };
            let _ = packet.verify_checksum();
            if let Ok(repr) = Ipv4Repr::parse(&packet, Checksum::None) {
                let n = repr.emit(&mut out, Checksum::Both).expect("header fits");
                let back = Ipv4Packet::new_quoted(&out[..n]).expect("emitted header checks");
                assert!(back.verify_checksum());
                assert_eq!(Ipv4Repr::parse(&back, Checksum::Both).unwrap(), repr);
            }
        }
        2 => {
            let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
                return;
            };
            if let Ok(repr) = Icmpv4Repr::parse(&packet, Checksum::None) {
                let _ = repr.to_string();
                if let Ok(n) = repr.emit(&mut out, Checksum::Both) {
                    let back = Icmpv4Packet::new_checked(&out[..n]).unwrap();
                    assert_eq!(Icmpv4Repr::parse(&back, Checksum::Both).unwrap(), repr);
                }
            }
        }
        _ => {
            let Ok(packet) = UdpPacket::new_checked(bytes) else {
                return;
            };
            if let Ok(repr) = UdpRepr::parse(&packet, SRC, DST, Checksum::None) {
                if let Ok(n) = repr.emit(&mut out, SRC, DST, Checksum::Both) {
                    let back = UdpPacket::new_checked(&out[..n]).unwrap();
                    assert_eq!(
                        UdpRepr::parse(&back, SRC, DST, Checksum::Both).unwrap(),
                        repr
                    );
                }
            }
        }
    }
});
