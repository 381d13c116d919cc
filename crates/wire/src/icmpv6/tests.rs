use super::*;
use crate::ipv4::IpProtocol;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn src() -> Ipv6Addr {
    addr("2001:2::1")
}

fn dst() -> Ipv6Addr {
    addr("2001:2::2")
}

const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

fn round_trip(repr: Icmpv6Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(
        repr.emit(&mut buf, &src(), &dst(), Checksum::Both),
        Ok(buf.len())
    );
    let p = Icmpv6Packet::new_checked(&buf).unwrap();
    assert!(p.verify_checksum(&src(), &dst()));
    assert!(!p.verify_checksum(&dst(), &addr("2001:2::3")));
    assert_eq!(
        Icmpv6Repr::parse(&p, &src(), &dst(), Checksum::Both),
        Ok(repr)
    );
    buf
}

#[test]
fn echo_round_trip() {
    let buf = round_trip(Icmpv6Repr::EchoRequest {
        ident: 7,
        seq_no: 1,
        data: b"ping",
    });
    assert_eq!(&buf[..2], &[128, 0]);
    round_trip(Icmpv6Repr::EchoReply {
        ident: 7,
        seq_no: 1,
        data: b"ping",
    });
}

#[test]
fn errors_quote_the_packet() {
    let header = Ipv6Repr::new(dst(), src(), IpProtocol::Udp, 1400);
    let data = [1u8, 2, 3, 4, 5, 6, 7, 8];
    for repr in [
        Icmpv6Repr::DstUnreachable {
            code: 4,
            header,
            data: &data,
        },
        Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            header,
            data: &data,
        },
        Icmpv6Repr::TimeExceeded {
            code: 0,
            header,
            data: &data,
        },
        Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 6,
            header,
            data: &data,
        },
    ] {
        let buf = round_trip(repr);
        assert_eq!(buf.len(), 8 + 40 + 8);
    }
}

#[test]
fn neighbour_discovery_round_trip_and_layout() {
    let ns = round_trip(Icmpv6Repr::NeighborSolicit {
        target_addr: dst(),
        source_lladdr: Some(MAC),
    });
    assert_eq!(ns.len(), 32);
    assert_eq!(&ns[..2], &[135, 0]);
    assert_eq!(&ns[4..8], &[0; 4]);
    assert_eq!(&ns[8..24], &dst().octets());
    assert_eq!(&ns[24..32], &[1, 1, 2, 0, 0, 0, 0, 1]);
    // Duplicate address detection: no source link-layer address.
    let dad = round_trip(Icmpv6Repr::NeighborSolicit {
        target_addr: dst(),
        source_lladdr: None,
    });
    assert_eq!(dad.len(), 24);
    let na = round_trip(Icmpv6Repr::NeighborAdvert {
        flags: NeighborFlags {
            router: false,
            solicited: true,
            override_: true,
        },
        target_addr: src(),
        target_lladdr: Some(MAC),
    });
    assert_eq!(na[4], 0x60);
    assert_eq!(&na[24..26], &[2, 1]);
}

/// A router advertisement as Linux's radvd sends it: hop limit 64, lifetime 1800 s, a source
/// link-layer address, an MTU and a prefix information option.
#[test]
fn router_advertisement_is_parsed() {
    let mut buf = vec![134u8, 0, 0, 0, 64, 0x40, 0x07, 0x08];
    buf.extend_from_slice(&[0, 0, 0x75, 0x30, 0, 0, 0x03, 0xe8]);
    buf.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 9]);
    buf.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
    let mut prefix = [0u8; 32];
    prefix[..4].copy_from_slice(&[3, 4, 64, 0xc0]);
    buf.extend_from_slice(&prefix);
    let (s, d) = (addr("fe80::1"), addr("ff02::1"));
    let c = {
        let sum =
            checksum::pseudo_header_sum_ipv6(&s, &d, 58, buf.len() as u32) + checksum::sum(&buf);
        !checksum::fold(sum)
    };
    buf[2..4].copy_from_slice(&c.to_be_bytes());
    let p = Icmpv6Packet::new_checked(&buf).unwrap();
    let Ok(Icmpv6Repr::RouterAdvert(ra)) = Icmpv6Repr::parse(&p, &s, &d, Checksum::Both) else {
        panic!("not a router advertisement");
    };
    assert_eq!(ra.cur_hop_limit, 64);
    assert!(!ra.managed && ra.other);
    assert_eq!(ra.router_lifetime, 1800);
    assert_eq!((ra.reachable_time, ra.retrans_time), (30_000, 1000));
    assert_eq!(ra.source_lladdr, Some(EthernetAddress([2, 0, 0, 0, 0, 9])));
    assert_eq!(ra.mtu, Some(1500));
    assert_eq!(ra.options.len(), 48);
    let repr = Icmpv6Repr::RouterAdvert(ra);
    assert_eq!(repr.buffer_len(), buf.len());
    assert_eq!(
        repr.emit(&mut vec![0; buf.len()], &s, &d, Checksum::Both),
        Err(Error::Unsupported)
    );
}

#[test]
fn rejections() {
    assert_eq!(
        Icmpv6Packet::new_checked(&[0; 7]).err(),
        Some(Error::Truncated)
    );
    let ns = Icmpv6Repr::NeighborSolicit {
        target_addr: dst(),
        source_lladdr: Some(MAC),
    };
    let mut good = vec![0u8; ns.buffer_len()];
    ns.emit(&mut good, &src(), &dst(), Checksum::Both).unwrap();
    fn parse(buf: &[u8]) -> Result<Icmpv6Repr<'_>> {
        let p = Icmpv6Packet::new_checked(buf).unwrap();
        Icmpv6Repr::parse(&p, &src(), &dst(), Checksum::None)
    }
    let mut bad_sum = good.clone();
    bad_sum[9] ^= 1;
    let p = Icmpv6Packet::new_checked(&bad_sum).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&p, &src(), &dst(), Checksum::Both),
        Err(Error::Checksum)
    );
    let mut bad_code = good.clone();
    bad_code[1] = 1;
    assert_eq!(parse(&bad_code), Err(Error::Malformed));
    let mut zero_len_option = good.clone();
    zero_len_option[25] = 0;
    assert_eq!(parse(&zero_len_option), Err(Error::Malformed));
    let mut long_option = good.clone();
    long_option[25] = 2;
    assert_eq!(parse(&long_option), Err(Error::Malformed));
    assert_eq!(parse(&good[..25]), Err(Error::Malformed), "half an option");
    assert_eq!(parse(&good[..20]), Err(Error::Truncated), "half a target");
    let mut multicast_target = good.clone();
    multicast_target[8] = 0xff;
    assert_eq!(parse(&multicast_target), Err(Error::Malformed));
    let mut unknown_option = good.clone();
    unknown_option[24] = 99;
    assert_eq!(
        parse(&unknown_option),
        Ok(Icmpv6Repr::NeighborSolicit {
            target_addr: dst(),
            source_lladdr: None,
        })
    );
    let mut redirect = good.clone();
    redirect[0] = 137;
    assert_eq!(parse(&redirect), Err(Error::Unsupported));
    // An error quoting less than an IPv6 header.
    let mut unreachable = good.clone();
    unreachable[0] = 1;
    assert_eq!(parse(&unreachable), Err(Error::Truncated));
    assert_eq!(
        ns.emit(&mut [0u8; 31], &src(), &dst(), Checksum::Both),
        Err(Error::Truncated)
    );
}

#[test]
fn mutable_view_fills_the_checksum() {
    let repr = Icmpv6Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"abc",
    };
    let mut buf = [0u8; 11];
    repr.emit(&mut buf, &src(), &dst(), Checksum::None).unwrap();
    let mut m = Icmpv6PacketMut::new_checked(&mut buf).unwrap();
    m.set_type_code(msg::ECHO_REPLY, 0);
    m.set_echo_ident_seq(3, 4);
    m.fill_checksum(&src(), &dst());
    let p = Icmpv6Packet::new_checked(&buf).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&p, &src(), &dst(), Checksum::Both),
        Ok(Icmpv6Repr::EchoReply {
            ident: 3,
            seq_no: 4,
            data: b"abc",
        })
    );
}
