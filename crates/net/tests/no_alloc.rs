//! Steady state allocates nothing: receive, send, park-and-resolve and time out, with a counting
//! allocator watching this thread.

use core::net::{Ipv4Addr, Ipv6Addr};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mtcp_io::RxMeta;
use mtcp_net::{Interface, InterfaceConfig, Received, SendResult};
use mtcp_wire::{
    ArpOperation, ArpRepr, Checksum, ChecksumCapabilities, EtherType, EthernetAddress,
    EthernetRepr, Frame, Icmpv4Repr, Icmpv6Repr, IpProtocol, Ipv4Repr, Ipv6Repr, NeighborFlags,
    Network, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Transport,
};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the only addition is a
// thread-local counter that is const-initialised (so touching it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn peer_mac(n: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 1, n])
}

fn peer(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + n)
}

fn emit(frame: &Frame<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; frame.buffer_len()];
    frame
        .emit(&mut buf, &ChecksumCapabilities::software())
        .unwrap();
    buf
}

fn eth(src: EthernetAddress, ethertype: EtherType) -> EthernetRepr {
    EthernetRepr {
        src_addr: src,
        dst_addr: OUR_MAC,
        vlan: None,
        ethertype,
    }
}

fn segment(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: SeqNumber(1),
        ack_number: SeqNumber(1),
        flags: TcpFlags::ACK,
        window_len: 1000,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload,
    }
}

#[test]
fn steady_state_does_not_allocate() {
    let mut cfg = InterfaceConfig::new(OUR_MAC, US, 24);
    cfg.arp.max_entries = 8;
    cfg.arp.max_requests = 2;
    cfg.arp.retry_interval_ms = 10;
    let mut iface = Interface::new(cfg);
    // Frames prepared before counting.
    let payload = [7u8; 1000];
    let replies: Vec<Vec<u8>> = (0..16)
        .map(|n| {
            emit(&Frame {
                ethernet: eth(peer_mac(n), EtherType::Arp),
                network: Network::Arp(ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hardware_addr: peer_mac(n),
                    source_protocol_addr: peer(n),
                    target_hardware_addr: OUR_MAC,
                    target_protocol_addr: US,
                }),
            })
        })
        .collect();
    let tcp = {
        let r = segment(&payload);
        emit(&Frame {
            ethernet: eth(peer_mac(0), EtherType::Ipv4),
            network: Network::Ipv4(
                Ipv4Repr::new(peer(0), US, IpProtocol::Tcp, r.buffer_len()),
                Transport::Tcp(r.clone()),
            ),
        })
    };
    let echo = {
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: &payload[..56],
        };
        emit(&Frame {
            ethernet: eth(peer_mac(0), EtherType::Ipv4),
            network: Network::Ipv4(
                Ipv4Repr::new(peer(0), US, IpProtocol::Icmp, icmp.buffer_len()),
                Transport::Icmp(icmp),
            ),
        })
    };
    let mut tx = vec![0u8; 1514];
    let meta = RxMeta::default();

    let mut run = |iface: &mut Interface, round: u64| {
        let now = round * 100;
        // Park segments for a host that answers and for one that never does.
        let answering = (round % 16) as u8;
        let silent = Ipv4Addr::new(198, 18, 0, 200);
        for hop in [peer(answering), silent] {
            if iface.arp_table().lookup(hop, now).is_none() {
                assert_eq!(
                    iface.send_tcp(now, hop, US, hop, &segment(&payload), &mut tx),
                    SendResult::Queued
                );
            }
        }
        assert_eq!(
            iface.receive(now, &replies[answering as usize], meta),
            Received::Handled
        );
        assert!(matches!(
            iface.receive(now, &tcp, meta),
            Received::Tcp { .. }
        ));
        assert_eq!(iface.receive(now, &echo, meta), Received::Handled);
        assert!(matches!(
            iface.send_tcp(
                now,
                peer(answering),
                US,
                peer(0),
                &segment(&payload),
                &mut tx
            ),
            SendResult::Sent(_)
        ));
        for t in [now + 10, now + 20, now + 30] {
            iface.poll(t);
        }
        while iface.transmit_ready(&mut tx).is_some() {}
    };
    for round in 0..40 {
        run(&mut iface, round);
    }
    let before = allocations();
    for round in 40..1040 {
        run(&mut iface, round);
    }
    let during = allocations() - before;
    let c = iface.counters();
    assert!(c.arp_timeouts >= 1000 && c.arp_resolved >= 1000, "{c:?}");
    assert_eq!(during, 0, "allocations in steady state");
}

/// An Ethernet + IPv6 frame from `src` (at `src_mac`) to us carrying `msg` or a TCP segment.
fn ipv6_frame(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    upper: Upper<'_>,
) -> Vec<u8> {
    let (next_header, len) = match &upper {
        Upper::Icmp(m, _) => (IpProtocol::Icmpv6, m.buffer_len()),
        Upper::Tcp(t) => (IpProtocol::Tcp, t.buffer_len()),
    };
    let mut buf = vec![0u8; 14 + 40 + len];
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan: None,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut buf)
    .unwrap();
    let mut ip = Ipv6Repr::new(src, dst, next_header, len);
    match upper {
        Upper::Icmp(m, hop_limit) => {
            ip.hop_limit = hop_limit;
            m.emit(&mut buf[54..], &src, &dst, Checksum::Both).unwrap();
        }
        Upper::Tcp(t) => {
            t.emit_ipv6(&mut buf[54..], &src, &dst, Checksum::Both)
                .unwrap();
        }
    }
    ip.emit(&mut buf[14..]).unwrap();
    buf
}

enum Upper<'a> {
    Icmp(Icmpv6Repr<'a>, u8),
    Tcp(TcpRepr<'a>),
}

#[test]
fn ipv6_steady_state_does_not_allocate() {
    let us6 = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    let peer6 = |n: u8| Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x10 + u16::from(n));
    let mut cfg = InterfaceConfig::new(OUR_MAC, US, 24);
    cfg.ipv6 = vec![(us6, 64)];
    cfg.nd.max_entries = 8;
    cfg.nd.max_multicast_solicit = 2;
    cfg.nd.retrans_timer_ms = 10;
    let mut iface = Interface::new(cfg);
    let payload = [7u8; 1000];
    let adverts: Vec<Vec<u8>> = (0..16)
        .map(|n| {
            let na = Icmpv6Repr::NeighborAdvert {
                flags: NeighborFlags {
                    router: false,
                    solicited: true,
                    override_: true,
                },
                target_addr: peer6(n),
                target_lladdr: Some(peer_mac(n)),
            };
            ipv6_frame(peer_mac(n), OUR_MAC, peer6(n), us6, Upper::Icmp(na, 255))
        })
        .collect();
    let group = mtcp_wire::ipv6::solicited_node(us6);
    let group_mac = mtcp_wire::ipv6::multicast_mac(group).unwrap();
    let ns = Icmpv6Repr::NeighborSolicit {
        target_addr: us6,
        source_lladdr: Some(peer_mac(0)),
    };
    let solicit = ipv6_frame(
        peer_mac(0),
        group_mac,
        peer6(0),
        group,
        Upper::Icmp(ns, 255),
    );
    let echo_req = Icmpv6Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: &payload[..56],
    };
    let echo = ipv6_frame(
        peer_mac(0),
        OUR_MAC,
        peer6(0),
        us6,
        Upper::Icmp(echo_req, 64),
    );
    let tcp = ipv6_frame(
        peer_mac(0),
        OUR_MAC,
        peer6(0),
        us6,
        Upper::Tcp(segment(&payload)),
    );
    let mut tx = vec![0u8; 1514];
    let meta = RxMeta::default();

    let mut run = |iface: &mut Interface, round: u64| {
        let now = round * 100;
        let answering = (round % 16) as u8;
        let silent = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0xff);
        for hop in [peer6(answering), silent] {
            if iface.neighbor_cache().lookup(&hop, now).is_none() {
                assert_eq!(
                    iface.send_tcp_ipv6(now, hop, us6, hop, &segment(&payload), &mut tx),
                    SendResult::Queued
                );
            }
        }
        let advert = &adverts[answering as usize];
        assert_eq!(iface.receive(now, advert, meta), Received::Handled);
        assert_eq!(iface.receive(now, &solicit, meta), Received::Handled);
        assert!(matches!(
            iface.receive(now, &tcp, meta),
            Received::Tcp6 { .. }
        ));
        assert_eq!(iface.receive(now, &echo, meta), Received::Handled);
        let hop = peer6(answering);
        assert!(matches!(
            iface.send_tcp_ipv6(now, hop, us6, hop, &segment(&payload), &mut tx),
            SendResult::Sent(_)
        ));
        for t in [now + 10, now + 20, now + 30] {
            iface.poll(t);
        }
        while iface.transmit_ready(&mut tx).is_some() {}
    };
    for round in 0..40 {
        run(&mut iface, round);
    }
    let before = allocations();
    for round in 40..1040 {
        run(&mut iface, round);
    }
    let during = allocations() - before;
    let c = iface.counters();
    assert!(c.nd_failed >= 1000 && c.nd_resolved >= 900, "{c:?}");
    assert_eq!(c.icmpv6_echo_replies, 1040, "{c:?}");
    assert_eq!(during, 0, "allocations in steady state");
}
