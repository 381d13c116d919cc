//! Any bytes as a TCP segment (after a 1-byte selector for the checksum mode): the view, the
//! option parser and the representation never panic, and an accepted segment round-trips.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use mtcp_wire::{Checksum, TcpOptions, TcpPacket, TcpRepr};

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fuzz_target!(|data: &[u8]| {
    let Some((mode, segment)) = data.split_first() else {
        return;
    };
    let _ = TcpOptions::parse(segment);
    let verify = if mode & 1 == 0 {
        Checksum::None
    } else {
        Checksum::Both
    };
    let Ok(packet) = TcpPacket::new_checked(segment) else {
        return;
    };
    let Ok(repr) = TcpRepr::parse(&packet, SRC, DST, verify) else {
        return;
    };
    let _ = repr.to_string();
    let mut out = vec![0u8; repr.buffer_len()];
    if let Ok(n) = repr.emit(&mut out, SRC, DST, Checksum::Both) {
        let packet = TcpPacket::new_checked(&out[..n]).expect("emitted header checks");
        assert_eq!(
            TcpRepr::parse(&packet, SRC, DST, Checksum::Both).expect("emitted segment parses"),
            repr
        );
    }
});
