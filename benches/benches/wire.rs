//! Wire-layer microbenchmarks: a whole Ethernet/IPv4/TCP frame with options parsed and emitted,
//! the Internet checksum at 64 / 1500 / 9000 bytes (beside the plain byte-pair reference), and the
//! Toeplitz hash (bitwise and table-driven).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtcp_wire::checksum;
use mtcp_wire::frame::{Frame, Network, Transport};
use mtcp_wire::rss::{self, Toeplitz};
use mtcp_wire::{
    ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr,
    SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps,
};

fn data_frame(payload: &[u8]) -> Frame<'_> {
    let tcp = TcpRepr {
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
    };
    let ip = Ipv4Repr::new(
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(198, 18, 0, 2),
        IpProtocol::Tcp,
        tcp.buffer_len(),
    );
    Frame {
        ethernet: EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            vlan: None,
            ethertype: EtherType::Ipv4,
        },
        network: Network::Ipv4(ip, Transport::Tcp(tcp)),
    }
}

fn frames(c: &mut Criterion) {
    let caps = ChecksumCapabilities::software();
    let offloaded = ChecksumCapabilities::ignored();
    for payload_len in [0usize, 1448] {
        let payload = vec![0xa5u8; payload_len];
        let frame = data_frame(&payload);
        let mut buf = vec![0u8; frame.buffer_len()];
        frame.emit(&mut buf, &caps).unwrap();
        let mut g = c.benchmark_group(format!("frame_tcp_ts_{payload_len}B"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("parse_verify", |b| {
            b.iter(|| Frame::parse(black_box(&buf), &caps).unwrap())
        });
        g.bench_function("parse_offloaded", |b| {
            b.iter(|| Frame::parse(black_box(&buf), &offloaded).unwrap())
        });
        let mut out = vec![0u8; buf.len()];
        g.bench_function("emit_checksum", |b| {
            b.iter(|| black_box(&frame).emit(&mut out, &caps).unwrap())
        });
        g.bench_function("emit_offloaded", |b| {
            b.iter(|| black_box(&frame).emit(&mut out, &offloaded).unwrap())
        });
        g.finish();
    }
}

fn checksums(c: &mut Criterion) {
    for len in [64usize, 1500, 9000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut g = c.benchmark_group(format!("checksum_{len}B"));
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function("fast", |b| b.iter(|| checksum::checksum(black_box(&data))));
        g.bench_function("reference", |b| {
            b.iter(|| checksum::reference_checksum(black_box(&data)))
        });
        g.finish();
    }
}

fn toeplitz(c: &mut Criterion) {
    let tuple = rss::ipv4_tuple(
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(198, 18, 0, 2),
        40000,
        80,
    );
    let table = Toeplitz::new(&rss::SYMMETRIC_KEY);
    let mut g = c.benchmark_group("toeplitz_ipv4_tcp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bitwise", |b| {
        b.iter(|| rss::toeplitz(&rss::SYMMETRIC_KEY, black_box(&tuple)))
    });
    g.bench_function("table", |b| b.iter(|| table.hash_tuple(black_box(&tuple))));
    g.finish();
}

criterion_group!(benches, frames, checksums, toeplitz);
criterion_main!(benches);
