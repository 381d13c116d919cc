use super::*;

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn syn() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: SeqNumber(0xfffffff0),
        ack_number: SeqNumber(0),
        flags: TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
        window_len: 64240,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: heapless::Vec::new(),
            timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        },
        payload: &[],
    }
}

fn emit(repr: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf, SRC, DST, Checksum::Both), Ok(buf.len()));
    buf
}

#[test]
fn syn_round_trip_matches_linux_layout() {
    let bytes = emit(&syn());
    assert_eq!(bytes.len(), 40);
    // Linux's SYN option layout: MSS, SACK-permitted, timestamps, NOP, window scale.
    assert_eq!(&bytes[20..24], &[2, 4, 0x05, 0xb4]);
    assert_eq!(&bytes[24..26], &[4, 2]);
    assert_eq!(&bytes[26..28], &[8, 10]);
    assert_eq!(&bytes[36..40], &[1, 3, 3, 7]);
    let packet = TcpPacket::new_checked(&bytes).unwrap();
    assert!(packet.verify_checksum(SRC, DST));
    assert_eq!(TcpRepr::parse(&packet, SRC, DST, Checksum::Both), Ok(syn()));
    assert_eq!(syn().segment_len(), 1);
}

#[test]
fn data_with_sack_blocks_round_trip() {
    let mut options = TcpOptions {
        timestamps: Some(Timestamps { tsval: 7, tsecr: 9 }),
        ..Default::default()
    };
    for i in 0..3u32 {
        options
            .sack_blocks
            .push(SackBlock {
                left: SeqNumber(i * 100),
                right: SeqNumber(i * 100 + 50),
            })
            .unwrap();
    }
    let repr = TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::NS,
        options,
        payload: b"hello",
        ack_number: SeqNumber(77),
        urgent_pointer: 3,
        ..syn()
    };
    let bytes = emit(&repr);
    assert_eq!(bytes.len(), 20 + 40 + 5);
    let packet = TcpPacket::new_checked(&bytes).unwrap();
    assert_eq!(packet.payload(), b"hello");
    assert_eq!(
        TcpRepr::parse(&packet, SRC, DST, Checksum::Both),
        Ok(repr.clone())
    );
    assert_eq!(repr.segment_len(), 6);
}

#[test]
fn four_sack_blocks_without_timestamps() {
    let mut options = TcpOptions::default();
    for i in 0..4u32 {
        options
            .sack_blocks
            .push(SackBlock {
                left: SeqNumber(i),
                right: SeqNumber(i + 1),
            })
            .unwrap();
    }
    let repr = TcpRepr {
        flags: TcpFlags::ACK,
        options,
        ..syn()
    };
    let bytes = emit(&repr);
    let packet = TcpPacket::new_checked(&bytes).unwrap();
    assert_eq!(
        TcpRepr::parse(&packet, SRC, DST, Checksum::Both)
            .unwrap()
            .options
            .sack_blocks
            .len(),
        4
    );
}

#[test]
fn too_many_options_are_rejected_on_emit() {
    let mut options = syn().options;
    for i in 0..4u32 {
        options
            .sack_blocks
            .push(SackBlock {
                left: SeqNumber(i),
                right: SeqNumber(i + 1),
            })
            .unwrap();
    }
    let repr = TcpRepr { options, ..syn() };
    assert_eq!(
        repr.emit(&mut [0u8; 200], SRC, DST, Checksum::Both),
        Err(Error::Malformed)
    );
}

#[test]
fn offloaded_checksum_leaves_pseudo_header_sum() {
    let repr = syn();
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf, SRC, DST, Checksum::Rx).unwrap();
    let field = u16::from_be_bytes([buf[16], buf[17]]);
    let expect = checksum::fold(checksum::pseudo_header_sum(SRC, DST, 6, buf.len() as u16));
    assert_eq!(field, expect);
    // What the NIC does: complement of the sum over the segment with that seed.
    buf[16..18].copy_from_slice(&[0, 0]);
    let full = !checksum::fold(u32::from(field) + checksum::sum(&buf));
    buf[16..18].copy_from_slice(&full.to_be_bytes());
    assert!(
        TcpPacket::new_checked(&buf)
            .unwrap()
            .verify_checksum(SRC, DST)
    );
}

#[test]
fn unknown_options_are_skipped() {
    // MSS, an unknown kind 254 of length 4, NOP, window scale, EOL and garbage after EOL.
    let opts = [2, 4, 1, 0, 254, 4, 0xaa, 0xbb, 1, 3, 3, 2, 0, 99, 99, 99];
    let parsed = TcpOptions::parse(&opts).unwrap();
    assert_eq!(parsed.mss, Some(256));
    assert_eq!(parsed.window_scale, Some(2));
}

/// The aligned-timestamps shortcut reads what the walk reads, and layouts beside it (other
/// padding, a wrong length, timestamps after other options) still take the walk.
#[test]
fn aligned_timestamps_shortcut_matches_the_walk() {
    let ts = [8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
    let want = TcpOptions {
        timestamps: Some(Timestamps { tsval: 7, tsecr: 9 }),
        ..Default::default()
    };
    let walked = |bytes: &[u8]| {
        let mut o = TcpOptions::default();
        o.parse_walk(bytes).map(|()| o)
    };
    let aligned = [&[1, 1][..], &ts].concat();
    assert_eq!(TcpOptions::parse(&aligned), Ok(want.clone()));
    assert_eq!(walked(&aligned), Ok(want.clone()));
    let trailing = [&ts[..], &[1, 1]].concat();
    assert_eq!(TcpOptions::parse(&trailing), Ok(want.clone()));
    let mut bad = aligned.clone();
    bad[3] = 9; // length 9: the walk rejects it
    assert_eq!(TcpOptions::parse(&bad), Err(Error::Malformed));
    let with_ws = [&[1, 3, 3, 7][..], &aligned].concat();
    assert_eq!(
        TcpOptions::parse(&with_ws),
        Ok(TcpOptions {
            window_scale: Some(7),
            ..want
        })
    );
}

/// A slot parsed into again holds the new segment only: nothing of the one before (a SYN's
/// options, a payload) is left, whichever way the options are read.
#[test]
fn parse_into_replaces_what_the_slot_held() {
    let syn_bytes = emit(&syn());
    let mut slot = TcpRepr::default();
    slot.parse_into(&TcpPacket::new_checked(&syn_bytes).unwrap())
        .unwrap();
    assert_eq!(slot, syn());
    let mut sack = TcpOptions {
        timestamps: Some(Timestamps { tsval: 3, tsecr: 4 }),
        ..Default::default()
    };
    sack.sack_blocks
        .push(SackBlock {
            left: SeqNumber(10),
            right: SeqNumber(20),
        })
        .unwrap();
    let timestamps_only = TcpOptions {
        timestamps: Some(Timestamps { tsval: 5, tsecr: 6 }),
        ..Default::default()
    };
    let reprs = [sack, timestamps_only, TcpOptions::default()].map(|options| TcpRepr {
        flags: TcpFlags::ACK,
        options,
        payload: b"data",
        ..syn()
    });
    let frames = reprs.each_ref().map(emit);
    for (repr, bytes) in reprs.iter().zip(&frames) {
        slot.parse_into(&TcpPacket::new_checked(bytes).unwrap())
            .unwrap();
        assert_eq!(&slot, repr);
        slot.parse_into(&TcpPacket::new_checked(&syn_bytes).unwrap())
            .unwrap();
    }
}

#[test]
fn malformed_options_are_rejected() {
    for bad in [
        &[2][..],                // kind without length
        &[2, 4, 1][..],          // runs past the area
        &[2, 1, 0, 0][..],       // length below 2
        &[254, 0][..],           // unknown kind, length 0
        &[2, 3, 1][..],          // MSS of the wrong length
        &[3, 4, 1, 0][..],       // window scale of the wrong length
        &[4, 3, 0][..],          // SACK-permitted of the wrong length
        &[5, 2][..],             // SACK with no block
        &[5, 6, 0, 0, 0, 0][..], // SACK block cut short
        &[8, 6, 0, 0, 0, 0][..], // timestamps of the wrong length
    ] {
        assert_eq!(TcpOptions::parse(bad), Err(Error::Malformed), "{bad:?}");
    }
}

#[test]
fn header_rejections() {
    let bytes = emit(&syn());
    assert_eq!(
        TcpPacket::new_checked(&bytes[..19]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        TcpPacket::new_checked(&bytes[..39]).err(),
        Some(Error::Truncated)
    );
    let mut small_offset = bytes.clone();
    small_offset[12] = 0x40;
    assert_eq!(
        TcpPacket::new_checked(&small_offset).err(),
        Some(Error::Malformed)
    );
    let mut bad_sum = bytes.clone();
    bad_sum[4] ^= 0x80;
    let packet = TcpPacket::new_checked(&bad_sum).unwrap();
    assert_eq!(
        TcpRepr::parse(&packet, SRC, DST, Checksum::Both),
        Err(Error::Checksum)
    );
    assert!(TcpRepr::parse(&packet, SRC, DST, Checksum::None).is_ok());
    let mut zero_port = bytes.clone();
    zero_port[0..2].copy_from_slice(&[0, 0]);
    let packet = TcpPacket::new_checked(&zero_port).unwrap();
    assert_eq!(
        TcpRepr::parse(&packet, SRC, DST, Checksum::None),
        Err(Error::Malformed)
    );
    assert_eq!(
        syn().emit(&mut [0u8; 39], SRC, DST, Checksum::Both),
        Err(Error::Truncated)
    );
}

#[test]
fn display_reads_like_tcpdump() {
    assert_eq!(
        syn().to_string(),
        "Flags [SEW], seq 4294967280, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,wscale 7], length 0"
    );
    let ack = TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::PSH,
        options: TcpOptions::default(),
        payload: b"abc",
        ..syn()
    };
    assert_eq!(
        ack.to_string(),
        "Flags [P.], seq 4294967280:4294967283, ack 0, win 64240, length 3"
    );
}

#[test]
fn sequence_numbers_wrap() {
    let a = SeqNumber(u32::MAX - 1);
    let b = a + 4;
    assert_eq!(b, SeqNumber(2));
    assert!(a < b);
    assert_eq!(b - a, 4);
    assert_eq!(a - b, -4);
}

#[test]
fn ipv6_pseudo_header_round_trip() {
    let src: core::net::Ipv6Addr = "2001:2::1".parse().unwrap();
    let dst: core::net::Ipv6Addr = "2001:2:0:1::2".parse().unwrap();
    let repr = TcpRepr {
        payload: b"hello over IPv6",
        flags: TcpFlags::ACK | TcpFlags::PSH,
        ..syn()
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(
        repr.emit_ipv6(&mut buf, &src, &dst, Checksum::Both),
        Ok(buf.len())
    );
    let packet = TcpPacket::new_checked(&buf).unwrap();
    assert!(packet.verify_checksum_ipv6(&src, &dst));
    assert!(!packet.verify_checksum_ipv6(&src, &"2001:2::4".parse().unwrap()));
    assert!(!packet.verify_checksum(SRC, DST));
    assert_eq!(
        TcpRepr::parse_ipv6(&packet, &src, &dst, Checksum::Both),
        Ok(repr.clone())
    );
    let mut bad = buf.clone();
    *bad.last_mut().unwrap() ^= 1;
    let packet = TcpPacket::new_checked(&bad).unwrap();
    assert_eq!(
        TcpRepr::parse_ipv6(&packet, &src, &dst, Checksum::Both),
        Err(Error::Checksum)
    );
    // Offloaded: the field holds the IPv6 pseudo-header sum for the NIC.
    repr.emit_ipv6(&mut buf, &src, &dst, Checksum::None)
        .unwrap();
    let pseudo = checksum::pseudo_header_sum_ipv6(&src, &dst, 6, buf.len() as u32);
    assert_eq!(
        u16::from_be_bytes([buf[16], buf[17]]),
        checksum::fold(pseudo)
    );
}
