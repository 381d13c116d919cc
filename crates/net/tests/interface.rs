//! Every path through `Interface`, with frames built and checked by the wire crate.

use core::net::Ipv4Addr;

use mtcp_io::{ChecksumStatus, L4Checksum, RxMeta};
use mtcp_net::{
    ArpConfig, Interface, InterfaceConfig, Received, RxDrop, SendResult, TxDrop, parse_arp_conf,
};
use mtcp_wire::{
    ArpOperation, ArpRepr, Checksum, ChecksumCapabilities, EtherType, EthernetAddress,
    EthernetRepr, Frame, Icmpv4Repr, IpProtocol, Ipv4Repr, Network, SeqNumber, TcpFlags,
    TcpOptions, TcpRepr, Transport, VlanTag,
};

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const OTHER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 3]);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

fn config() -> InterfaceConfig {
    InterfaceConfig::new(OUR_MAC, US, 24)
}

fn iface() -> Interface {
    Interface::new(config())
}

fn software() -> ChecksumCapabilities {
    ChecksumCapabilities::software()
}

fn emit(frame: &Frame<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; frame.buffer_len()];
    frame.emit(&mut buf, &software()).unwrap();
    buf
}

fn eth(src: EthernetAddress, dst: EthernetAddress, ethertype: EtherType) -> EthernetRepr {
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        vlan: None,
        ethertype,
    }
}

fn arp_frame(op: ArpOperation, sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let dst = if op == ArpOperation::Request {
        EthernetAddress::BROADCAST
    } else {
        OUR_MAC
    };
    emit(&Frame {
        ethernet: eth(sha, dst, EtherType::Arp),
        network: Network::Arp(ArpRepr {
            operation: op,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: if op == ArpOperation::Request {
                EthernetAddress::default()
            } else {
                OUR_MAC
            },
            target_protocol_addr: tpa,
        }),
    })
}

fn segment(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: SeqNumber(1000),
        ack_number: SeqNumber(2000),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window_len: 5000,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload,
    }
}

fn tcp_frame(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr<'_>) -> Vec<u8> {
    emit(&Frame {
        ethernet: eth(PEER_MAC, OUR_MAC, EtherType::Ipv4),
        network: Network::Ipv4(
            Ipv4Repr::new(src, dst, IpProtocol::Tcp, repr.buffer_len()),
            Transport::Tcp(repr.clone()),
        ),
    })
}

fn echo_request_frame(data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data,
    };
    emit(&Frame {
        ethernet: eth(PEER_MAC, OUR_MAC, EtherType::Ipv4),
        network: Network::Ipv4(
            Ipv4Repr::new(PEER, US, IpProtocol::Icmp, icmp.buffer_len()),
            Transport::Icmp(icmp),
        ),
    })
}

/// Recomputes the IPv4 header checksum after a test changed a header byte.
fn fix_ip_checksum(frame: &mut [u8]) {
    frame[24..26].fill(0);
    let c = mtcp_wire::checksum::checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

fn drain(iface: &mut Interface) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1514];
    while let Some(t) = iface.transmit_ready(&mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

fn parse(frame: &[u8]) -> Frame<'_> {
    Frame::parse(frame, &software()).unwrap()
}

#[test]
fn netmask_and_subnet_helpers() {
    let cfg = InterfaceConfig::with_netmask(OUR_MAC, US, Ipv4Addr::new(255, 255, 254, 0)).unwrap();
    assert_eq!(cfg.prefix_len, 23);
    assert!(InterfaceConfig::with_netmask(OUR_MAC, US, Ipv4Addr::new(255, 0, 255, 0)).is_none());
    let i = Interface::new(cfg);
    assert!(i.is_on_link(Ipv4Addr::new(198, 18, 1, 200)));
    assert!(!i.is_on_link(Ipv4Addr::new(198, 18, 2, 1)));
    assert_eq!(i.broadcast_addr(), Ipv4Addr::new(198, 18, 1, 255));
}

#[test]
fn arp_request_for_our_address_gets_a_reply_and_teaches_us_the_sender() {
    let mut i = iface();
    let req = arp_frame(ArpOperation::Request, PEER_MAC, PEER, US);
    assert_eq!(i.receive(0, &req, RxMeta::default()), Received::Handled);
    let sent = drain(&mut i);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].len(), 60, "padded to the Ethernet minimum");
    let reply = parse(&sent[0]);
    assert_eq!(
        reply.ethernet,
        eth(OUR_MAC, PEER_MAC, EtherType::Arp),
        "unicast to the asker"
    );
    assert_eq!(
        reply.network,
        Network::Arp(ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: OUR_MAC,
            source_protocol_addr: US,
            target_hardware_addr: PEER_MAC,
            target_protocol_addr: PEER,
        })
    );
    assert_eq!(i.arp_table().lookup(PEER, 1), Some(PEER_MAC));
    let c = i.counters();
    assert_eq!((c.arp_rx_requests, c.arp_tx_replies), (1, 1));
    assert_eq!((c.rx_packets, c.tx_packets), (1, 1));
    assert_eq!(c.tx_bytes, 60);
}

#[test]
fn arp_for_another_host_is_not_answered_nor_learned_but_refreshes_known_hosts() {
    let mut i = iface();
    let req = arp_frame(ArpOperation::Request, OTHER_MAC, OTHER, PEER);
    assert_eq!(
        i.receive(0, &req, RxMeta::default()),
        Received::Dropped(RxDrop::ArpNotForUs)
    );
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.arp_table().lookup(OTHER, 0), None);
    assert_eq!(i.counters().rx_dropped(RxDrop::ArpNotForUs), 1);
    // A host we know announces a new MAC (gratuitous ARP): the entry follows.
    i.arp_table_mut().learn(OTHER, PEER_MAC, 0);
    let gratuitous = arp_frame(ArpOperation::Request, OTHER_MAC, OTHER, OTHER);
    assert_eq!(
        i.receive(1, &gratuitous, RxMeta::default()),
        Received::Handled
    );
    assert_eq!(i.arp_table().lookup(OTHER, 2), Some(OTHER_MAC));
    assert!(drain(&mut i).is_empty());
}

#[test]
fn arp_senders_that_cannot_be_hosts_are_not_learned() {
    let mut i = iface();
    for (mac, ip) in [
        (EthernetAddress::BROADCAST, PEER),
        (EthernetAddress([1, 0, 0x5e, 0, 0, 1]), PEER),
        (PEER_MAC, Ipv4Addr::new(198, 18, 0, 255)),
        (PEER_MAC, Ipv4Addr::new(224, 0, 0, 1)),
        (PEER_MAC, US),
    ] {
        let req = arp_frame(ArpOperation::Reply, mac, ip, US);
        i.receive(0, &req, RxMeta::default());
        assert_eq!(i.arp_table().learned_len(), 0, "{mac} {ip}");
    }
    // A probe (RFC 5227: sender 0.0.0.0) for our address is answered but teaches nothing.
    let probe = arp_frame(ArpOperation::Request, PEER_MAC, Ipv4Addr::UNSPECIFIED, US);
    assert_eq!(i.receive(0, &probe, RxMeta::default()), Received::Handled);
    assert_eq!(i.arp_table().learned_len(), 0);
    assert_eq!(drain(&mut i).len(), 1);
}

#[test]
fn segment_to_a_known_host_goes_straight_into_the_callers_buffer() {
    let mut cfg = config();
    cfg.static_arp = parse_arp_conf("ARP_ENTRY 1\n198.18.0.0/24 02:00:00:00:00:02\n").unwrap();
    let mut i = Interface::new(cfg);
    let mut buf = [0u8; 1514];
    let repr = segment(b"hello");
    let mut idents = Vec::new();
    for _ in 0..2 {
        let SendResult::Sent(t) = i.send_tcp(0, PEER, US, PEER, &repr, &mut buf) else {
            panic!("not sent")
        };
        assert_eq!(t.len, 14 + 20 + 20 + 5);
        assert!(!t.offload.ipv4_checksum && t.offload.l4_checksum.is_none());
        let f = parse(&buf[..t.len]);
        assert_eq!(f.ethernet, eth(OUR_MAC, PEER_MAC, EtherType::Ipv4));
        let Network::Ipv4(ip, Transport::Tcp(tcp)) = f.network else {
            panic!("not TCP/IPv4")
        };
        assert_eq!((ip.src_addr, ip.dst_addr, ip.ttl), (US, PEER, 64));
        assert!(ip.dont_frag && !ip.is_fragment());
        assert_eq!(tcp, repr);
        idents.push(ip.ident);
    }
    assert_ne!(idents[0], idents[1]);
    assert!(drain(&mut i).is_empty(), "no ARP needed");
    assert_eq!(i.counters().tx_packets, 2);
}

#[test]
fn segments_wait_for_arp_and_flush_in_order_when_the_reply_comes() {
    let mut i = iface();
    let mut buf = [0u8; 1514];
    for n in 0..3u8 {
        let payload = [n; 10];
        assert_eq!(
            i.send_tcp(100, PEER, US, PEER, &segment(&payload), &mut buf),
            SendResult::Queued
        );
    }
    assert_eq!(i.waiting_len(), 3);
    // One request for the three segments.
    let sent = drain(&mut i);
    assert_eq!(sent.len(), 1);
    let Network::Arp(req) = parse(&sent[0]).network else {
        panic!("not ARP")
    };
    assert_eq!(req.operation, ArpOperation::Request);
    assert_eq!(
        (req.source_protocol_addr, req.target_protocol_addr),
        (US, PEER)
    );
    assert_eq!(
        parse(&sent[0]).ethernet.dst_addr,
        EthernetAddress::BROADCAST
    );
    assert_eq!(
        i.poll_at(),
        Some(100 + ArpConfig::default().retry_interval_ms)
    );

    let reply = arp_frame(ArpOperation::Reply, PEER_MAC, PEER, US);
    assert_eq!(i.receive(150, &reply, RxMeta::default()), Received::Handled);
    assert_eq!(i.waiting_len(), 0);
    assert_eq!(i.poll_at(), None, "resolution finished");
    let flushed = drain(&mut i);
    assert_eq!(flushed.len(), 3);
    for (n, frame) in flushed.iter().enumerate() {
        let f = parse(frame);
        assert_eq!(f.ethernet.dst_addr, PEER_MAC);
        let Network::Ipv4(_, Transport::Tcp(tcp)) = f.network else {
            panic!("not TCP")
        };
        assert_eq!(tcp.payload, &[n as u8; 10]);
    }
    let c = i.counters();
    assert_eq!((c.tx_waited, c.tx_flushed, c.arp_resolved), (3, 3, 1));
    assert_eq!(c.arp_tx_requests, 1);
    // Now known: sent directly.
    assert!(matches!(
        i.send_tcp(200, PEER, US, PEER, &segment(b"x"), &mut buf),
        SendResult::Sent(_)
    ));
}

#[test]
fn unanswered_requests_are_retried_then_waiting_segments_dropped() {
    let mut cfg = config();
    cfg.arp = ArpConfig {
        retry_interval_ms: 500,
        max_requests: 3,
        ..ArpConfig::default()
    };
    let mut i = Interface::new(cfg);
    let mut buf = [0u8; 1514];
    let gateway = Ipv4Addr::new(198, 18, 0, 254);
    for _ in 0..2 {
        assert_eq!(
            i.send_tcp(1000, gateway, US, PEER, &segment(b"a"), &mut buf),
            SendResult::Queued
        );
    }
    assert_eq!(drain(&mut i).len(), 1);
    i.poll(1499);
    assert!(drain(&mut i).is_empty(), "too early for a retry");
    assert_eq!(i.poll_at(), Some(1500));
    i.poll(1500);
    assert_eq!(drain(&mut i).len(), 1);
    i.poll(2000);
    let third = drain(&mut i);
    assert_eq!(third.len(), 1);
    let Network::Arp(req) = parse(&third[0]).network else {
        panic!("not ARP")
    };
    assert_eq!(req.target_protocol_addr, gateway, "asks for the next hop");
    assert_eq!(i.waiting_len(), 2);
    i.poll(2499);
    assert_eq!(i.waiting_len(), 2);
    i.poll(2500);
    assert_eq!(i.waiting_len(), 0);
    assert!(drain(&mut i).is_empty());
    let c = i.counters();
    assert_eq!((c.arp_tx_requests, c.arp_timeouts), (3, 1));
    assert_eq!(c.tx_dropped(TxDrop::ArpTimeout), 2);
    assert_eq!(i.poll_at(), None);
    // A late reply still teaches the address, but nothing is left to send.
    let late = arp_frame(ArpOperation::Reply, PEER_MAC, gateway, US);
    assert_eq!(i.receive(3000, &late, RxMeta::default()), Received::Handled);
    assert!(drain(&mut i).is_empty());
}

#[test]
fn the_wait_queue_is_bounded() {
    let mut cfg = config();
    cfg.max_waiting = 2;
    let mut i = Interface::new(cfg);
    let mut buf = [0u8; 1514];
    let results: Vec<_> = (0..3)
        .map(|_| i.send_tcp(0, PEER, US, PEER, &segment(b"z"), &mut buf))
        .collect();
    assert_eq!(
        results,
        [
            SendResult::Queued,
            SendResult::Queued,
            SendResult::Dropped(TxDrop::WaitQueueFull)
        ]
    );
    assert_eq!(i.counters().tx_dropped(TxDrop::WaitQueueFull), 1);
    // The ARP request still found a control slot.
    assert_eq!(drain(&mut i).len(), 1);
}

#[test]
fn learned_entries_expire_and_are_resolved_again() {
    let mut cfg = config();
    cfg.arp.entry_lifetime_ms = 1000;
    let mut i = Interface::new(cfg);
    let reply = arp_frame(ArpOperation::Request, PEER_MAC, PEER, US);
    i.receive(0, &reply, RxMeta::default());
    drain(&mut i);
    let mut buf = [0u8; 1514];
    assert!(matches!(
        i.send_tcp(999, PEER, US, PEER, &segment(b"a"), &mut buf),
        SendResult::Sent(_)
    ));
    assert_eq!(
        i.send_tcp(1000, PEER, US, PEER, &segment(b"a"), &mut buf),
        SendResult::Queued
    );
}

#[test]
fn too_big_and_too_small_buffers_are_dropped() {
    let mut cfg = config();
    cfg.static_arp = parse_arp_conf("ARP_ENTRY 1\n0.0.0.0/0 02:00:00:00:00:02\n").unwrap();
    cfg.mtu = 100;
    let mut i = Interface::new(cfg);
    let mut buf = [0u8; 1514];
    let fits = [0u8; 60];
    assert!(matches!(
        i.send_tcp(0, PEER, US, PEER, &segment(&fits), &mut buf),
        SendResult::Sent(t) if t.len == 114
    ));
    let big = [0u8; 61];
    assert_eq!(
        i.send_tcp(0, PEER, US, PEER, &segment(&big), &mut buf),
        SendResult::Dropped(TxDrop::TooBig)
    );
    assert_eq!(
        i.send_tcp(0, PEER, US, PEER, &segment(&fits), &mut buf[..113]),
        SendResult::Dropped(TxDrop::BufferTooSmall)
    );
    assert_eq!(i.counters().tx_dropped_total(), 2);
}

#[test]
fn echo_request_gets_an_echo_reply_with_the_same_data() {
    let mut i = iface();
    let data: Vec<u8> = (0..56u8).collect();
    let req = echo_request_frame(&data);
    assert_eq!(i.receive(0, &req, RxMeta::default()), Received::Handled);
    let sent = drain(&mut i);
    assert_eq!(sent.len(), 1);
    let reply = Icmpv4Repr::EchoReply {
        ident: 0x1234,
        seq_no: 7,
        data: &data,
    };
    let expected = emit(&Frame {
        ethernet: eth(OUR_MAC, PEER_MAC, EtherType::Ipv4),
        network: Network::Ipv4(
            Ipv4Repr::new(US, PEER, IpProtocol::Icmp, reply.buffer_len()),
            Transport::Icmp(reply),
        ),
    });
    assert_eq!(sent[0], expected);
    // The only difference from the request: addresses swapped, type 0, checksum adjusted.
    assert_eq!(sent[0][34], 0);
    assert_eq!(&sent[0][38..], &req[38..]);
    let c = i.counters();
    assert_eq!((c.icmp_echo_requests, c.icmp_echo_replies), (1, 1));
}

#[test]
fn tcp_is_passed_up_with_its_addresses() {
    let mut i = iface();
    let repr = segment(b"payload");
    let frame = tcp_frame(PEER, US, &repr);
    let got = i.receive(0, &frame, RxMeta::default());
    assert_eq!(got.tcp(), Some(Ok((PEER, US, repr.clone()))));
    let mut slot = TcpRepr::default();
    assert_eq!(i.read_tcp(&got, &mut slot), Some((PEER.into(), US.into())));
    assert_eq!(slot, repr);
    // Ethernet padding after the datagram is not payload.
    let mut padded = frame.clone();
    padded.extend_from_slice(&[0xee; 6]);
    let got = i.receive(0, &padded, RxMeta::default());
    assert!(matches!(got.tcp(), Some(Ok((_, _, r))) if r.payload == b"payload"));
    assert_eq!(i.counters().rx_tcp, 2);
    assert_eq!(i.read_tcp(&Received::Handled, &mut slot), None);
}

/// A segment the TCP layer cannot take (malformed options, port 0) comes up as TCP, and
/// `read_tcp` turns it into a counted drop: the counters read as if the interface dropped it.
#[test]
fn unreadable_segments_are_counted_as_malformed_drops() {
    let mut i = iface();
    let repr = TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..segment(b"x")
    };
    let good = tcp_frame(PEER, US, &repr);
    let mut bad_options = good.clone();
    bad_options[14 + 20 + 20 + 1] = 3; // MSS of length 3
    let mut port_zero = good.clone();
    port_zero[14 + 20..14 + 22].fill(0);
    // The device vouches for the checksums the damage broke.
    let meta = RxMeta {
        l4_checksum: ChecksumStatus::Good,
        ..RxMeta::default()
    };
    for (n, frame) in [bad_options, port_zero].iter().enumerate() {
        let got = i.receive(0, frame, meta);
        assert!(matches!(got, Received::Tcp { .. }), "{got:?}");
        let mut slot = TcpRepr::default();
        assert_eq!(i.read_tcp(&got, &mut slot), None);
        let c = i.counters();
        assert_eq!(c.rx_tcp, 0);
        assert_eq!(c.rx_dropped(RxDrop::Malformed), n as u64 + 1);
    }
}

fn dropped(i: &mut Interface, frame: &[u8], meta: RxMeta) -> RxDrop {
    match i.receive(0, frame, meta) {
        Received::Dropped(r) => r,
        other => panic!("not dropped: {other:?}"),
    }
}

#[test]
fn bad_datagrams_are_dropped_and_counted_by_reason() {
    let mut i = iface();
    let m = RxMeta::default();
    let good = tcp_frame(PEER, US, &segment(b"data"));

    let mut ttl0 = good.clone();
    ttl0[22] = 0;
    fix_ip_checksum(&mut ttl0);
    assert_eq!(dropped(&mut i, &ttl0, m), RxDrop::TtlExpired);

    let mut bad_ip_sum = good.clone();
    bad_ip_sum[24] ^= 0xff;
    assert_eq!(dropped(&mut i, &bad_ip_sum, m), RxDrop::Ipv4Checksum);

    let mut bad_tcp_sum = good.clone();
    *bad_tcp_sum.last_mut().unwrap() ^= 1;
    assert_eq!(dropped(&mut i, &bad_tcp_sum, m), RxDrop::L4Checksum);

    for flags_frag in [0x2000u16, 0x0001, 0x4001] {
        let mut frag = good.clone();
        frag[20..22].copy_from_slice(&flags_frag.to_be_bytes());
        fix_ip_checksum(&mut frag);
        assert_eq!(dropped(&mut i, &frag, m), RxDrop::Fragment);
    }
    assert_eq!(i.counters().fragments, 3);

    let to_other = tcp_frame(PEER, OTHER, &segment(b"data"));
    assert_eq!(dropped(&mut i, &to_other, m), RxDrop::NotOurAddress);
    for src in [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(198, 18, 0, 255),
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::UNSPECIFIED,
        US,
    ] {
        let spoofed = tcp_frame(src, US, &segment(b"data"));
        assert_eq!(dropped(&mut i, &spoofed, m), RxDrop::BadSource, "{src}");
    }

    let mut udp = good.clone();
    udp[23] = 17;
    fix_ip_checksum(&mut udp);
    assert_eq!(dropped(&mut i, &udp, m), RxDrop::UnsupportedProtocol);

    let mut not_ours = good.clone();
    not_ours[..6].copy_from_slice(&OTHER_MAC.0);
    assert_eq!(dropped(&mut i, &not_ours, m), RxDrop::NotOurMac);
    let mut multicast = good.clone();
    multicast[..6].copy_from_slice(&[1, 0, 0x5e, 0, 0, 1]);
    assert_eq!(dropped(&mut i, &multicast, m), RxDrop::NotOurMac);

    let mut ipv6 = good.clone();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(dropped(&mut i, &ipv6, m), RxDrop::UnknownEthertype);

    let mut tagged = vec![0u8; good.len() + 4];
    EthernetRepr {
        vlan: Some(VlanTag {
            pcp: 0,
            dei: false,
            vid: 5,
        }),
        ..eth(PEER_MAC, OUR_MAC, EtherType::Ipv4)
    }
    .emit(&mut tagged)
    .unwrap();
    tagged[18..].copy_from_slice(&good[14..]);
    assert_eq!(dropped(&mut i, &tagged, m), RxDrop::Vlan);

    let reply = Icmpv4Repr::EchoReply {
        ident: 1,
        seq_no: 1,
        data: b"",
    };
    let echo_reply = emit(&Frame {
        ethernet: eth(PEER_MAC, OUR_MAC, EtherType::Ipv4),
        network: Network::Ipv4(
            Ipv4Repr::new(PEER, US, IpProtocol::Icmp, reply.buffer_len()),
            Transport::Icmp(reply),
        ),
    });
    assert_eq!(dropped(&mut i, &echo_reply, m), RxDrop::UnsupportedIcmp);
    let mut bad_icmp = echo_request_frame(b"abcd");
    bad_icmp[40] ^= 1;
    assert_eq!(dropped(&mut i, &bad_icmp, m), RxDrop::L4Checksum);

    let c = i.counters();
    assert_eq!(c.rx_dropped(RxDrop::Fragment), 3);
    assert_eq!(c.rx_dropped(RxDrop::BadSource), 5);
    assert_eq!(c.rx_dropped_total(), c.rx_packets);
    // Only the three checksum failures were damaged; the rest is intact traffic not for us.
    assert_eq!(c.rx_errors(), 3);
    assert!(drain(&mut i).is_empty(), "no reply to any of them");
}

#[test]
fn device_checksum_verdicts_are_trusted() {
    let mut i = iface();
    let mut bad_both = tcp_frame(PEER, US, &segment(b"data"));
    bad_both[24] ^= 0xff;
    *bad_both.last_mut().unwrap() ^= 1;
    let good = RxMeta {
        ipv4_checksum: ChecksumStatus::Good,
        l4_checksum: ChecksumStatus::Good,
        ..RxMeta::default()
    };
    assert!(matches!(
        i.receive(0, &bad_both, good),
        Received::Tcp { .. }
    ));
    let ok = tcp_frame(PEER, US, &segment(b"data"));
    let bad_ip = RxMeta {
        ipv4_checksum: ChecksumStatus::Bad,
        ..RxMeta::default()
    };
    assert_eq!(dropped(&mut i, &ok, bad_ip), RxDrop::Ipv4Checksum);
    let bad_l4 = RxMeta {
        l4_checksum: ChecksumStatus::Bad,
        ..RxMeta::default()
    };
    assert_eq!(dropped(&mut i, &ok, bad_l4), RxDrop::L4Checksum);
}

#[test]
fn offloaded_checksums_are_left_to_the_device_both_ways() {
    let mut cfg = config();
    cfg.checksum = ChecksumCapabilities {
        ipv4: Checksum::None,
        tcp: Checksum::None,
        ..ChecksumCapabilities::software()
    };
    cfg.static_arp = parse_arp_conf("ARP_ENTRY 1\n198.18.0.2/32 02:00:00:00:00:02\n").unwrap();
    let mut i = Interface::new(cfg);
    // Receive: software does not verify.
    let mut bad = tcp_frame(PEER, US, &segment(b"data"));
    bad[24] ^= 0xff;
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(
        i.receive(0, &bad, RxMeta::default()),
        Received::Tcp { .. }
    ));
    // Transmit: the frame asks the device; the IPv4 field is zero, TCP's holds the pseudo sum.
    let mut buf = [0u8; 1514];
    let SendResult::Sent(t) = i.send_tcp(0, PEER, US, PEER, &segment(b"data"), &mut buf) else {
        panic!("not sent")
    };
    assert!(t.offload.ipv4_checksum);
    assert_eq!(t.offload.l4_checksum, Some(L4Checksum::Tcp));
    assert_eq!((t.offload.l2_len, t.offload.l3_len), (14, 20));
    assert_eq!(&buf[24..26], &[0, 0]);
    let pseudo = mtcp_wire::checksum::fold(mtcp_wire::checksum::pseudo_header_sum(US, PEER, 6, 24));
    assert_eq!(&buf[50..52], &pseudo.to_be_bytes());
    // What the device would do makes the frame valid.
    let c = mtcp_wire::checksum::checksum(&buf[14..34]);
    buf[24..26].copy_from_slice(&c.to_be_bytes());
    buf[50..52].fill(0);
    let s = mtcp_wire::checksum::pseudo_header_sum(US, PEER, 6, 24)
        + mtcp_wire::checksum::sum(&buf[34..t.len]);
    buf[50..52].copy_from_slice(&(!mtcp_wire::checksum::fold(s)).to_be_bytes());
    assert!(Frame::parse(&buf[..t.len], &software()).is_ok());
}

#[test]
fn malformed_frames_are_counted_never_panic() {
    let mut i = iface();
    let m = RxMeta::default();
    assert_eq!(dropped(&mut i, &[], m), RxDrop::Truncated);
    assert_eq!(dropped(&mut i, &[0xff; 13], m), RxDrop::Truncated);
    let good = tcp_frame(PEER, US, &segment(b"data"));
    assert_eq!(dropped(&mut i, &good[..30], m), RxDrop::Truncated);
    assert_eq!(dropped(&mut i, &good[..40], m), RxDrop::Truncated);
    let mut v6_in_v4 = good.clone();
    v6_in_v4[14] = 0x65;
    assert_eq!(dropped(&mut i, &v6_in_v4, m), RxDrop::Malformed);
    let arp = arp_frame(ArpOperation::Request, PEER_MAC, PEER, US);
    assert_eq!(dropped(&mut i, &arp[..30], m), RxDrop::Truncated);

    // Seeded mutations of valid frames, and random bytes: every frame is accounted for.
    let seeds = [
        good,
        arp,
        echo_request_frame(b"0123456789"),
        tcp_frame(PEER, US, &segment(&[])),
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut handled = 0u64;
    let mut tcp = 0u64;
    for round in 0..20_000 {
        let mut frame = if round % 5 == 0 {
            let len = (next() % 100) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            seeds[round % seeds.len()].clone()
        };
        for _ in 0..=(next() % 4) {
            if frame.is_empty() {
                break;
            }
            let at = (next() as usize) % frame.len();
            frame[at] = next() as u8;
        }
        if next() % 4 == 0 {
            frame.truncate((next() as usize) % (frame.len() + 1));
        }
        match i.receive(round as u64, &frame, m) {
            Received::Tcp { .. } | Received::Tcp6 { .. } => tcp += 1,
            Received::Handled => handled += 1,
            Received::Dropped(_) => {}
        }
        drain(&mut i);
        i.poll(round as u64);
    }
    let c = i.counters();
    assert_eq!(c.rx_dropped_total() + handled + tcp, c.rx_packets);
    assert!(c.rx_dropped_total() > 0 && handled > 0);
}

#[test]
fn a_port_with_several_addresses_answers_for_each() {
    let mut cfg = config();
    cfg.addresses = 4; // 198.18.0.1 ..= 198.18.0.4
    let mut i = Interface::new(cfg);
    let fourth = Ipv4Addr::new(198, 18, 0, 4);
    assert!(i.is_our_addr(US) && i.is_our_addr(fourth));
    assert!(!i.is_our_addr(Ipv4Addr::new(198, 18, 0, 5)));
    assert!(!i.is_our_addr(Ipv4Addr::new(198, 18, 0, 0)));
    let req = arp_frame(
        ArpOperation::Request,
        PEER_MAC,
        Ipv4Addr::new(198, 18, 0, 9),
        fourth,
    );
    assert_eq!(i.receive(0, &req, RxMeta::default()), Received::Handled);
    let Network::Arp(reply) = parse(&drain(&mut i)[0]).network else {
        panic!("not ARP")
    };
    assert_eq!(reply.source_protocol_addr, fourth);
    let to_fourth = tcp_frame(Ipv4Addr::new(198, 18, 0, 9), fourth, &segment(b"x"));
    assert!(matches!(
        i.receive(0, &to_fourth, RxMeta::default()),
        Received::Tcp { dst, .. } if dst == fourth
    ));
}

#[test]
fn announcements_are_gratuitous_requests_for_each_address() {
    let mut cfg = config();
    cfg.addresses = 2;
    let mut i = Interface::new(cfg);
    i.announce();
    let sent = drain(&mut i);
    assert_eq!(sent.len(), 2);
    for (n, frame) in sent.iter().enumerate() {
        let f = parse(frame);
        assert_eq!(f.ethernet.dst_addr, EthernetAddress::BROADCAST);
        let ip = Ipv4Addr::new(198, 18, 0, 1 + n as u8);
        assert_eq!(
            f.network,
            Network::Arp(ArpRepr {
                operation: ArpOperation::Request,
                source_hardware_addr: OUR_MAC,
                source_protocol_addr: ip,
                target_hardware_addr: EthernetAddress::default(),
                target_protocol_addr: ip,
            })
        );
    }
    // Another host announcing itself is not learned (RFC 826: only known senders are updated).
    let other = arp_frame(ArpOperation::Request, OTHER_MAC, OTHER, OTHER);
    assert_eq!(
        i.receive(0, &other, RxMeta::default()),
        Received::Dropped(RxDrop::ArpNotForUs)
    );
    assert_eq!(i.arp_table().learned_len(), 0);
}

#[test]
fn entries_in_use_are_refreshed_before_they_expire() {
    let mut cfg = config();
    cfg.arp = ArpConfig {
        entry_lifetime_ms: 10_000,
        retry_interval_ms: 100,
        max_requests: 3,
        ..ArpConfig::default()
    };
    let mut i = Interface::new(cfg);
    let learn = arp_frame(ArpOperation::Request, PEER_MAC, PEER, US);
    i.receive(0, &learn, RxMeta::default());
    drain(&mut i);
    let mut buf = [0u8; 1514];
    let mut send = |i: &mut Interface, now| {
        assert!(matches!(
            i.send_tcp(now, PEER, US, PEER, &segment(b"a"), &mut buf),
            SendResult::Sent(_)
        ));
    };
    send(&mut i, 9_000);
    assert!(drain(&mut i).is_empty(), "far from expiry");
    send(&mut i, 9_700);
    let sent = drain(&mut i);
    assert_eq!(sent.len(), 1, "one refresh request");
    let Network::Arp(req) = parse(&sent[0]).network else {
        panic!("not ARP")
    };
    assert_eq!(req.target_protocol_addr, PEER);
    send(&mut i, 9_710);
    assert!(drain(&mut i).is_empty(), "already refreshing");
    let reply = arp_frame(ArpOperation::Reply, PEER_MAC, PEER, US);
    assert_eq!(
        i.receive(9_750, &reply, RxMeta::default()),
        Received::Handled
    );
    assert_eq!(i.poll_at(), None);
    send(&mut i, 15_000);
    assert_eq!(i.counters().arp_resolved, 1);
    assert_eq!(i.counters().tx_waited, 0, "nothing ever waited");
}
