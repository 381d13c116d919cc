//! Steady state allocates nothing: receive, send, park-and-resolve and time out, with a counting
//! allocator watching this thread.

use core::net::Ipv4Addr;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mtcp_io::RxMeta;
use mtcp_net::{Interface, InterfaceConfig, Received, SendResult};
use mtcp_wire::{
    ArpOperation, ArpRepr, ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, Frame,
    Icmpv4Repr, IpProtocol, Ipv4Repr, Network, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Transport,
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
