//! Every IPv6 path through `Interface`: Neighbour Discovery both ways, solicited-node multicast on
//! receive, ICMPv6 echo, parameter problems, fragments and TCP, with frames built and checked by
//! the wire crate. Addresses from 2001:2::/48 only.

use core::net::{Ipv4Addr, Ipv6Addr};

use mtcp_io::RxMeta;
use mtcp_net::{Interface, InterfaceConfig, NeighborState, Received, RxDrop, SendResult, TxDrop};
use mtcp_wire::ipv6::{self, ALL_NODES, multicast_mac, solicited_node};
use mtcp_wire::{
    Checksum, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, Icmpv6Packet, Icmpv6Repr,
    IpProtocol, Ipv6Packet, Ipv6Repr, NeighborFlags, SeqNumber, TcpFlags, TcpPacket, TcpRepr,
};

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const US: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

fn config() -> InterfaceConfig {
    let mut c = InterfaceConfig::new(OUR_MAC, Ipv4Addr::new(198, 18, 0, 1), 24);
    c.ipv6 = vec![(US, 64)];
    c
}

fn iface() -> Interface {
    Interface::new(config())
}

/// An Ethernet + IPv6 frame from the peer with `payload` after the fixed header.
fn frame(dst_mac: EthernetAddress, ip: Ipv6Repr, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + 40 + payload.len()];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: dst_mac,
        vlan: None,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut buf)
    .unwrap();
    Ipv6Repr {
        payload_len: payload.len(),
        ..ip
    }
    .emit(&mut buf[14..])
    .unwrap();
    buf[54..].copy_from_slice(payload);
    buf
}

fn icmp_frame(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    dst_mac: EthernetAddress,
    hop_limit: u8,
    msg: &Icmpv6Repr<'_>,
) -> Vec<u8> {
    let mut icmp = vec![0u8; msg.buffer_len()];
    msg.emit(&mut icmp, &src, &dst, Checksum::Both).unwrap();
    let ip = Ipv6Repr {
        hop_limit,
        ..Ipv6Repr::new(src, dst, IpProtocol::Icmpv6, 0)
    };
    frame(dst_mac, ip, &icmp)
}

fn solicitation(src: Ipv6Addr, target: Ipv6Addr, lladdr: Option<EthernetAddress>) -> Vec<u8> {
    let group = solicited_node(target);
    let ns = Icmpv6Repr::NeighborSolicit {
        target_addr: target,
        source_lladdr: lladdr,
    };
    icmp_frame(src, group, multicast_mac(group).unwrap(), 255, &ns)
}

fn advertisement(target: Ipv6Addr, solicited: bool) -> Vec<u8> {
    let na = Icmpv6Repr::NeighborAdvert {
        flags: NeighborFlags {
            router: false,
            solicited,
            override_: true,
        },
        target_addr: target,
        target_lladdr: Some(PEER_MAC),
    };
    icmp_frame(target, US, OUR_MAC, 255, &na)
}

/// One sent frame, parsed: Ethernet destination, IPv6 header, and the upper-layer bytes.
struct Sent {
    dst_mac: EthernetAddress,
    ip: Ipv6Repr,
    upper: Vec<u8>,
}

impl Sent {
    fn parse(buf: &[u8]) -> Sent {
        let eth = EthernetFrame::new_checked(buf).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Ipv6);
        assert_eq!(eth.src_addr(), OUR_MAC);
        let p = Ipv6Packet::new_checked(eth.payload()).unwrap();
        Sent {
            dst_mac: eth.dst_addr(),
            ip: Ipv6Repr::parse(&p).unwrap(),
            upper: p.payload().to_vec(),
        }
    }

    fn icmp(&self) -> Icmpv6Repr<'_> {
        let p = Icmpv6Packet::new_checked(&self.upper).unwrap();
        Icmpv6Repr::parse(&p, &self.ip.src_addr, &self.ip.dst_addr, Checksum::Both).unwrap()
    }
}

fn next_sent(i: &mut Interface) -> Option<Sent> {
    let mut buf = [0u8; 1514];
    let t = i.transmit_ready(&mut buf)?;
    assert!(t.len >= 60);
    Some(Sent::parse(&buf[..t.len]))
}

fn syn() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: SeqNumber(1),
        ack_number: SeqNumber(0),
        flags: TcpFlags::SYN,
        window_len: 65535,
        urgent_pointer: 0,
        options: Default::default(),
        payload: &[],
    }
}

#[test]
fn solicitation_for_our_address_is_answered_and_the_asker_cached() {
    let mut i = iface();
    let ns = solicitation(PEER, US, Some(PEER_MAC));
    assert_eq!(ns[..6], [0x33, 0x33, 0xff, 0, 0, 1]);
    assert_eq!(i.receive(0, &ns, RxMeta::default()), Received::Handled);
    let na = next_sent(&mut i).unwrap();
    assert_eq!(na.dst_mac, PEER_MAC);
    assert_eq!((na.ip.src_addr, na.ip.dst_addr), (US, PEER));
    assert_eq!(na.ip.hop_limit, 255);
    assert_eq!(
        na.icmp(),
        Icmpv6Repr::NeighborAdvert {
            flags: NeighborFlags {
                router: false,
                solicited: true,
                override_: true
            },
            target_addr: US,
            target_lladdr: Some(OUR_MAC),
        }
    );
    assert!(next_sent(&mut i).is_none());
    assert_eq!(
        i.neighbor_cache().lookup(&PEER, 0),
        Some((PEER_MAC, NeighborState::Stale))
    );
    let c = i.counters();
    assert_eq!((c.nd_rx_solicits, c.nd_tx_adverts), (1, 1));
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes() {
    let mut i = iface();
    let dad = solicitation(Ipv6Addr::UNSPECIFIED, US, None);
    assert_eq!(i.receive(0, &dad, RxMeta::default()), Received::Handled);
    let na = next_sent(&mut i).unwrap();
    assert_eq!(na.dst_mac, EthernetAddress([0x33, 0x33, 0, 0, 0, 1]));
    assert_eq!(na.ip.dst_addr, ALL_NODES);
    let Icmpv6Repr::NeighborAdvert { flags, .. } = na.icmp() else {
        panic!("not an advertisement");
    };
    assert!(!flags.solicited && flags.override_);
    assert!(i.neighbor_cache().is_empty(), "nothing learned from ::");
    // A DAD probe may not carry a source link-layer address (RFC 4861 §7.1.1).
    let bad = solicitation(Ipv6Addr::UNSPECIFIED, US, Some(PEER_MAC));
    assert_eq!(
        i.receive(0, &bad, RxMeta::default()),
        Received::Dropped(RxDrop::NdInvalid)
    );
}

#[test]
fn invalid_or_foreign_solicitations_are_dropped() {
    let mut i = iface();
    let other = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 9);
    // For another address: its solicited-node MAC is not one we listen to.
    assert_eq!(
        i.receive(
            0,
            &solicitation(PEER, other, Some(PEER_MAC)),
            RxMeta::default()
        ),
        Received::Dropped(RxDrop::NotOurMac)
    );
    // Same low 24 bits as ours, another address: the group matches, the target does not.
    let twin = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 1, 0, 1);
    assert_eq!(
        i.receive(
            0,
            &solicitation(PEER, twin, Some(PEER_MAC)),
            RxMeta::default()
        ),
        Received::Dropped(RxDrop::NotOurAddress)
    );
    // Hop limit other than 255: it was routed, so it is not from the link.
    let ns = Icmpv6Repr::NeighborSolicit {
        target_addr: US,
        source_lladdr: Some(PEER_MAC),
    };
    let routed = icmp_frame(PEER, US, OUR_MAC, 64, &ns);
    assert_eq!(
        i.receive(0, &routed, RxMeta::default()),
        Received::Dropped(RxDrop::NdInvalid)
    );
    assert!(next_sent(&mut i).is_none());
}

#[test]
fn echo_requests_are_answered() {
    let mut i = iface();
    let req = Icmpv6Repr::EchoRequest {
        ident: 7,
        seq_no: 3,
        data: b"ping over IPv6",
    };
    let f = icmp_frame(PEER, US, OUR_MAC, 64, &req);
    assert_eq!(i.receive(0, &f, RxMeta::default()), Received::Handled);
    let reply = next_sent(&mut i).unwrap();
    assert_eq!(reply.dst_mac, PEER_MAC);
    assert_eq!((reply.ip.src_addr, reply.ip.dst_addr), (US, PEER));
    assert_eq!(
        reply.icmp(),
        Icmpv6Repr::EchoReply {
            ident: 7,
            seq_no: 3,
            data: b"ping over IPv6",
        }
    );
    // A bad checksum is dropped unanswered.
    let mut bad = f.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        i.receive(0, &bad, RxMeta::default()),
        Received::Dropped(RxDrop::L4Checksum)
    );
    // Not to another unicast address.
    let other = icmp_frame(PEER, PEER, OUR_MAC, 64, &req);
    assert_eq!(
        i.receive(0, &other, RxMeta::default()),
        Received::Dropped(RxDrop::NotOurAddress)
    );
    assert!(next_sent(&mut i).is_none());
    let c = i.counters();
    assert_eq!((c.icmpv6_echo_requests, c.icmpv6_echo_replies), (1, 1));
}

#[test]
fn a_segment_waits_for_neighbour_discovery_then_goes() {
    let mut i = iface();
    let mut buf = [0u8; 1514];
    assert_eq!(
        i.send_tcp_ipv6(0, PEER, US, PEER, &syn(), &mut buf),
        SendResult::Queued
    );
    assert_eq!(i.waiting_len(), 1);
    let ns = next_sent(&mut i).unwrap();
    let group = solicited_node(PEER);
    assert_eq!(ns.dst_mac, multicast_mac(group).unwrap());
    assert_eq!(
        (ns.ip.src_addr, ns.ip.dst_addr, ns.ip.hop_limit),
        (US, group, 255)
    );
    assert_eq!(
        ns.icmp(),
        Icmpv6Repr::NeighborSolicit {
            target_addr: PEER,
            source_lladdr: Some(OUR_MAC),
        }
    );
    // The peer answers; the SYN comes out to its MAC, checksum over the IPv6 pseudo-header.
    assert_eq!(
        i.receive(10, &advertisement(PEER, true), RxMeta::default()),
        Received::Handled
    );
    let sent = next_sent(&mut i).unwrap();
    assert_eq!(sent.dst_mac, PEER_MAC);
    assert_eq!(sent.ip.next_header, IpProtocol::Tcp);
    let tcp = TcpPacket::new_checked(&sent.upper).unwrap();
    assert_eq!(
        TcpRepr::parse_ipv6(&tcp, &US, &PEER, Checksum::Both),
        Ok(syn())
    );
    assert_eq!(i.waiting_len(), 0);
    // Now known: the next segment is written straight into the caller's buffer.
    match i.send_tcp_ipv6(20, PEER, US, PEER, &syn(), &mut buf) {
        SendResult::Sent(t) => assert_eq!(Sent::parse(&buf[..t.len]).dst_mac, PEER_MAC),
        other => panic!("{other:?}"),
    }
    let c = i.counters();
    assert_eq!((c.nd_tx_solicits, c.nd_resolved, c.tx_flushed), (1, 1, 1));
}

#[test]
fn resolution_gives_up_and_drops_what_waits() {
    let mut i = iface();
    let mut buf = [0u8; 1514];
    i.send_tcp_ipv6(0, PEER, US, PEER, &syn(), &mut buf);
    assert!(next_sent(&mut i).is_some());
    assert_eq!(i.poll_at(), Some(1_000));
    for now in [1_000, 2_000] {
        i.poll(now);
        assert!(next_sent(&mut i).is_some(), "retry at {now}");
    }
    i.poll(3_000);
    assert!(next_sent(&mut i).is_none());
    assert_eq!(i.waiting_len(), 0);
    assert_eq!(i.counters().tx_dropped(TxDrop::NdFailed), 1);
    assert_eq!(i.counters().nd_failed, 1);
    assert_eq!(i.poll_at(), None);
}

#[test]
fn static_neighbours_and_multicast_destinations_need_no_resolution() {
    let mut cfg = config();
    cfg.static_nd = vec![(PEER, PEER_MAC)];
    let mut i = Interface::new(cfg);
    let mut buf = [0u8; 1514];
    assert!(matches!(
        i.send_tcp_ipv6(0, PEER, US, PEER, &syn(), &mut buf),
        SendResult::Sent(_)
    ));
    let ip = Ipv6Repr::new(US, ALL_NODES, IpProtocol::Unknown(253), 0);
    match i.send_ipv6(0, ALL_NODES, ip, &mut buf, |_| Ok(())) {
        SendResult::Sent(t) => {
            assert_eq!(Sent::parse(&buf[..t.len]).dst_mac.0[..2], [0x33, 0x33]);
        }
        other => panic!("{other:?}"),
    }
    let big = Ipv6Repr::new(US, PEER, IpProtocol::Unknown(253), 1461);
    assert_eq!(
        i.send_ipv6(0, PEER, big, &mut buf, |_| Ok(())),
        SendResult::Dropped(TxDrop::TooBig)
    );
}

#[test]
fn tcp_over_ipv6_is_passed_up() {
    let mut i = iface();
    let seg = syn();
    let mut tcp = vec![0u8; seg.buffer_len()];
    seg.emit_ipv6(&mut tcp, &PEER, &US, Checksum::Both).unwrap();
    let f = frame(OUR_MAC, Ipv6Repr::new(PEER, US, IpProtocol::Tcp, 0), &tcp);
    let got = i.receive(0, &f, RxMeta::default());
    assert!(matches!(got, Received::Tcp6 { .. }), "{got:?}");
    assert_eq!(got.tcp6(), Some(Ok((PEER, US, syn()))));
    assert_eq!(Received::Handled.tcp6(), None);
    // Options that overrun the header: passed up (checksum good), refused when read.
    let bad_options = {
        let with_mss = TcpRepr {
            options: mtcp_wire::TcpOptions {
                mss: Some(1440),
                ..Default::default()
            },
            ..syn()
        };
        let mut t = vec![0u8; with_mss.buffer_len()];
        with_mss
            .emit_ipv6(&mut t, &PEER, &US, Checksum::Both)
            .unwrap();
        assert_eq!(t[20..22], [2, 4]);
        t[21] = 9; // an MSS option longer than the options area
        let zero = [0u8; 2];
        t[16..18].copy_from_slice(&zero);
        let sum = mtcp_wire::checksum::pseudo_header_sum_ipv6(&PEER, &US, 6, t.len() as u32)
            + mtcp_wire::checksum::sum(&t);
        let c = !mtcp_wire::checksum::fold(sum);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        frame(OUR_MAC, Ipv6Repr::new(PEER, US, IpProtocol::Tcp, 0), &t)
    };
    let got = i.receive(0, &bad_options, RxMeta::default());
    assert!(matches!(got.tcp6(), Some(Err(_))), "{got:?}");
    let mut bad = f.clone();
    bad[14 + 40 + 4] ^= 1;
    assert_eq!(
        i.receive(0, &bad, RxMeta::default()),
        Received::Dropped(RxDrop::L4Checksum)
    );
    assert_eq!(i.counters().rx_tcp6, 2);
}

/// Segments from an address no peer can have are dropped: IPv4-mapped (it would reach a
/// dual-stack listener as an IPv4 client), loopback and unspecified sources.
#[test]
fn tcp_from_mapped_loopback_or_unspecified_sources_is_dropped() {
    let mut i = iface();
    let mapped = Ipv4Addr::new(198, 18, 0, 7).to_ipv6_mapped();
    for src in [mapped, Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED] {
        let seg = syn();
        let mut tcp = vec![0u8; seg.buffer_len()];
        seg.emit_ipv6(&mut tcp, &src, &US, Checksum::Both).unwrap();
        let f = frame(OUR_MAC, Ipv6Repr::new(src, US, IpProtocol::Tcp, 0), &tcp);
        assert_eq!(
            i.receive(0, &f, RxMeta::default()),
            Received::Dropped(RxDrop::BadSource),
            "from {src}"
        );
    }
    assert_eq!(i.counters().rx_tcp6, 0);
}

#[test]
fn refused_headers_get_parameter_problems_and_fragments_are_dropped() {
    let mut i = iface();
    // An unknown next header: parameter problem, code 1, pointing at the IPv6 next-header field.
    let f = frame(
        OUR_MAC,
        Ipv6Repr::new(PEER, US, IpProtocol::Unknown(253), 0),
        b"??",
    );
    assert_eq!(
        i.receive(0, &f, RxMeta::default()),
        Received::Dropped(RxDrop::UnsupportedProtocol)
    );
    let pp = next_sent(&mut i).unwrap();
    assert_eq!(
        (pp.dst_mac, pp.ip.src_addr, pp.ip.dst_addr),
        (PEER_MAC, US, PEER)
    );
    let Icmpv6Repr::ParamProblem {
        code,
        pointer,
        header,
        data,
    } = pp.icmp()
    else {
        panic!("not a parameter problem");
    };
    assert_eq!((code, pointer), (1, 6));
    assert_eq!(
        (header.src_addr, header.next_header),
        (PEER, IpProtocol::Unknown(253))
    );
    assert_eq!(data, b"??");
    // A routing header with segments left: code 0 at the routing type.
    let routing = [6u8, 0, 0, 1, 0, 0, 0, 0];
    let f = frame(
        OUR_MAC,
        Ipv6Repr::new(PEER, US, IpProtocol::Unknown(43), 0),
        &routing,
    );
    assert_eq!(
        i.receive(0, &f, RxMeta::default()),
        Received::Dropped(RxDrop::Ipv6Refused)
    );
    let Icmpv6Repr::ParamProblem { code, pointer, .. } = next_sent(&mut i).unwrap().icmp() else {
        panic!("not a parameter problem");
    };
    assert_eq!((code, pointer), (0, 42));
    // Sent to all-nodes: no error back.
    let f = frame(
        multicast_mac(ALL_NODES).unwrap(),
        Ipv6Repr::new(PEER, ALL_NODES, IpProtocol::Unknown(253), 0),
        b"??",
    );
    assert_eq!(
        i.receive(0, &f, RxMeta::default()),
        Received::Dropped(RxDrop::UnsupportedProtocol)
    );
    assert!(next_sent(&mut i).is_none());
    // A fragment: counted and dropped, no reassembly, no error.
    let fragment = [6u8, 0, 0, 1, 0, 0, 0, 9];
    let f = frame(
        OUR_MAC,
        Ipv6Repr::new(PEER, US, IpProtocol::Unknown(44), 0),
        &fragment,
    );
    assert_eq!(
        i.receive(0, &f, RxMeta::default()),
        Received::Dropped(RxDrop::Fragment)
    );
    assert!(next_sent(&mut i).is_none());
    assert_eq!(i.counters().icmpv6_param_problems, 2);
    // Malformed: truncated extension header.
    let f = frame(
        OUR_MAC,
        Ipv6Repr::new(PEER, US, IpProtocol::Unknown(60), 0),
        &[6, 4],
    );
    assert_eq!(
        i.receive(0, &f, RxMeta::default()),
        Received::Dropped(RxDrop::Truncated)
    );
}

#[test]
fn a_port_without_ipv6_drops_it_as_before() {
    let mut i = Interface::new(InterfaceConfig::new(
        OUR_MAC,
        Ipv4Addr::new(198, 18, 0, 1),
        24,
    ));
    let ns = solicitation(PEER, US, Some(PEER_MAC));
    assert_eq!(
        i.receive(0, &ns, RxMeta::default()),
        Received::Dropped(RxDrop::NotOurMac)
    );
    let f = frame(
        OUR_MAC,
        Ipv6Repr::new(PEER, US, IpProtocol::Tcp, 0),
        &[0; 20],
    );
    assert_eq!(
        i.receive(0, &f, RxMeta::default()),
        Received::Dropped(RxDrop::UnknownEthertype)
    );
    // Not even all-nodes: a port without IPv6 listens to no IPv6 multicast MAC.
    let all_nodes = frame(
        multicast_mac(ALL_NODES).unwrap(),
        Ipv6Repr::new(PEER, ALL_NODES, IpProtocol::Unknown(59), 0),
        &[],
    );
    assert_eq!(
        i.receive(0, &all_nodes, RxMeta::default()),
        Received::Dropped(RxDrop::NotOurMac)
    );
    // With an address, all-nodes is ours ("no next header": nothing to do).
    assert_eq!(
        iface().receive(0, &all_nodes, RxMeta::default()),
        Received::Handled
    );
    assert_eq!(ipv6::HEADER_LEN, mtcp_net::IPV6_HEADER_LEN);
}

#[test]
fn parameter_problems_are_rate_limited() {
    let mut cfg = config();
    cfg.icmpv6_errors_per_sec = 10;
    cfg.icmpv6_error_burst = 2;
    let mut i = Interface::new(cfg);
    let f = frame(
        OUR_MAC,
        Ipv6Repr::new(PEER, US, IpProtocol::Unknown(253), 0),
        b"??",
    );
    let mut sent = 0;
    for now in [0, 0, 0, 0, 50, 99, 100, 200] {
        i.receive(now, &f, RxMeta::default());
        while next_sent(&mut i).is_some() {
            sent += 1;
        }
    }
    // Two from the burst, then one per 100 ms: at 100 and 200.
    assert_eq!(sent, 4);
    assert_eq!(i.counters().icmpv6_param_problems, 4);
    assert_eq!(i.counters().icmpv6_errors_limited, 4);
}
