//! The per-packet paths of `Interface`: a 1448-byte TCP segment received (checksums in software
//! and offloaded), a segment sent to a resolved host, and a ping answered.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtcp_io::RxMeta;
use mtcp_net::{Interface, InterfaceConfig, Received, SendResult, parse_arp_conf};
use mtcp_wire::{
    ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, Frame, Icmpv4Repr, IpProtocol,
    Ipv4Repr, Network, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps, Transport,
};

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn segment(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: SeqNumber(1),
        ack_number: SeqNumber(2),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window_len: 512,
        urgent_pointer: 0,
        options: TcpOptions {
            timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
            ..Default::default()
        },
        payload,
    }
}

fn frame(network: Network<'_>) -> Vec<u8> {
    let f = Frame {
        ethernet: EthernetRepr {
            src_addr: PEER_MAC,
            dst_addr: OUR_MAC,
            vlan: None,
            ethertype: EtherType::Ipv4,
        },
        network,
    };
    let mut buf = vec![0u8; f.buffer_len()];
    f.emit(&mut buf, &ChecksumCapabilities::software()).unwrap();
    buf
}

fn iface(caps: ChecksumCapabilities) -> Interface {
    let mut cfg = InterfaceConfig::new(OUR_MAC, US, 24);
    cfg.checksum = caps;
    cfg.static_arp = parse_arp_conf("ARP_ENTRY 1\n198.18.0.0/24 02:00:00:00:00:02\n").unwrap();
    Interface::new(cfg)
}

fn benches(c: &mut Criterion) {
    let payload = vec![0xa5u8; 1448];
    let tcp = segment(&payload);
    let rx = frame(Network::Ipv4(
        Ipv4Repr::new(PEER, US, IpProtocol::Tcp, tcp.buffer_len()),
        Transport::Tcp(tcp.clone()),
    ));
    let mut g = c.benchmark_group("net_1448B");
    g.throughput(Throughput::Elements(1));
    for (name, caps) in [
        ("software", ChecksumCapabilities::software()),
        ("offloaded", ChecksumCapabilities::ignored()),
    ] {
        let mut i = iface(caps);
        g.bench_function(format!("receive_tcp_{name}"), |b| {
            b.iter(|| {
                let r = i.receive(0, black_box(&rx), RxMeta::default());
                assert!(matches!(r, Received::Tcp { .. }));
            })
        });
        let mut tx = vec![0u8; 1514];
        g.bench_function(format!("send_tcp_{name}"), |b| {
            b.iter(|| {
                let r = i.send_tcp(0, PEER, US, PEER, black_box(&tcp), &mut tx);
                assert!(matches!(r, SendResult::Sent(_)));
            })
        });
    }
    g.finish();

    let icmp = Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: &payload[..56],
    };
    let ping = frame(Network::Ipv4(
        Ipv4Repr::new(PEER, US, IpProtocol::Icmp, icmp.buffer_len()),
        Transport::Icmp(icmp),
    ));
    let mut i = iface(ChecksumCapabilities::software());
    let mut tx = vec![0u8; 1514];
    c.bench_function("net_ping_answered", |b| {
        b.iter(|| {
            i.receive(0, black_box(&ping), RxMeta::default());
            i.transmit_ready(&mut tx).unwrap()
        })
    });
}

criterion_group!(net, benches);
criterion_main!(net);
