//! Packet-I/O microbenchmarks: bursts of 64 frames of 64 or 1514 bytes through the in-memory
//! switch (allocate, write every byte of the frame: Ethernet header and payload, transmit,
//! receive, read the frame's last byte, free), reported in frames per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtcp_io::mem::MemSwitch;
use mtcp_io::{Burst, Device, MAX_BURST, Queue, TxFrame};

fn mem_burst(c: &mut Criterion) {
    let (mut port_a, mut port_b) = MemSwitch::pair();
    let (dst, src) = (port_b.info().mac, port_a.info().mac);
    let mut a = port_a.queue(0).unwrap();
    let mut b = port_b.queue(0).unwrap();
    let mut g = c.benchmark_group("mem_switch");
    for frame_len in [64usize, 1514] {
        g.throughput(Throughput::Elements(MAX_BURST as u64));
        g.bench_function(format!("burst64_{frame_len}B"), |bench| {
            let mut tx = Burst::new();
            let mut rx = Burst::new();
            // The payload every frame carries (as a stack copies a segment into its frame).
            let payload: Vec<u8> = (0..frame_len - 14).map(|i| i as u8).collect();
            let last = payload[payload.len() - 1];
            bench.iter(|| {
                a.tx_alloc_burst(&mut tx, MAX_BURST);
                for frame in tx.iter_mut() {
                    frame.set_len(frame_len);
                    frame[0..6].copy_from_slice(&dst.0);
                    frame[6..12].copy_from_slice(&src.0);
                    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
                    frame[14..frame_len].copy_from_slice(&payload);
                }
                let sent = a.tx_burst(&mut tx).unwrap();
                let got = b.rx_burst(&mut rx).unwrap();
                assert_eq!((sent, got), (MAX_BURST, MAX_BURST));
                for frame in rx.iter() {
                    assert_eq!(frame.len(), frame_len);
                    assert_eq!(black_box(frame[frame_len - 1]), last);
                }
                rx.clear();
            });
        });
    }
    g.finish();
}

criterion_group!(benches, mem_burst);
criterion_main!(benches);
