//! The ring protocol (head/cur/tail, wrap-around, partial batches, full rings, out-of-order
//! release, buffer swapping) against the simulated kernel, which checks every step.

use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_io_netmap::sim::{SimConfig, SimDevice, SimPort};
use mtcp_io_netmap::{NetmapQueue, NetmapTxFrame, sim::SimSync};
use std::sync::Arc;
use std::time::Duration;

type Q = NetmapQueue<SimSync>;

/// A frame whose bytes encode `seq`, of a length that varies with it.
fn frame_bytes(seq: u32) -> Vec<u8> {
    let len = 60 + (seq as usize * 37) % 1400;
    let mut v: Vec<u8> = (0..len).map(|i| (seq as usize * 31 + i) as u8).collect();
    v[..4].copy_from_slice(&seq.to_be_bytes());
    v
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[0], f[1], f[2], f[3]])
}

fn open(config: SimConfig) -> (Q, Arc<SimPort>) {
    let mut dev = SimDevice::new(config);
    let q = dev.queue(0).unwrap();
    (q, dev.port().clone())
}

fn tx_frame(q: &mut Q, seq: u32) -> NetmapTxFrame {
    let bytes = frame_bytes(seq);
    let mut f = q.tx_alloc().expect("tx buffer");
    f.set_len(bytes.len());
    f.copy_from_slice(&bytes);
    f
}

fn assert_clean(port: &SimPort) {
    assert_eq!(port.violations(), Vec::<String>::new());
}

#[test]
fn rx_wraps_around_many_times_in_order() {
    let (mut q, port) = open(SimConfig {
        rx_slots: 8,
        ..SimConfig::default()
    });
    let mut next = 0u32;
    let mut expect = 0u32;
    for round in 0..25 {
        let n = 1 + round % 6;
        for _ in 0..n {
            port.inject(&frame_bytes(next));
            next += 1;
        }
        let mut got = 0;
        while got < n {
            let mut rx = Burst::new();
            let k = q.rx_burst(&mut rx).unwrap();
            assert!(k > 0, "round {round}: frames injected but none received");
            for f in rx.iter() {
                assert_eq!(&f[..], &frame_bytes(expect)[..], "frame {expect}");
                expect += 1;
            }
            got += k;
        }
        assert_eq!(got, n);
    }
    assert_eq!(expect, next);
    let mut rx = Burst::new();
    assert_eq!(q.rx_burst(&mut rx).unwrap(), 0);
    let (_, [head, cur, tail]) = port.ring_pointers();
    assert_eq!((head, cur), (tail, tail), "every slot returned");
    assert_clean(&port);
}

#[test]
fn out_of_order_drops_release_slots_in_order() {
    let (mut q, port) = open(SimConfig {
        rx_slots: 16,
        ..SimConfig::default()
    });
    for s in 0..6 {
        port.inject(&frame_bytes(s));
    }
    let mut rx = Burst::new();
    assert_eq!(q.rx_burst(&mut rx).unwrap(), 6);
    let mut held: Vec<Option<_>> = rx.into_iter().map(Some).collect();
    let rx_head = |q: &mut Q| {
        let mut b = Burst::new();
        assert_eq!(q.rx_burst(&mut b).unwrap(), 0);
        port.ring_pointers().1[0]
    };
    // Later frames first: the kernel must not get any slot back.
    held[2] = None;
    held[4] = None;
    assert_eq!(rx_head(&mut q), 0);
    // The first frame: only slot 0 goes back (slot 1 is still held).
    held[0] = None;
    assert_eq!(rx_head(&mut q), 1);
    // Slot 1: the run 1, 2 goes back, stopping at held slot 3.
    held[1] = None;
    assert_eq!(rx_head(&mut q), 3);
    held[3] = None;
    assert_eq!(rx_head(&mut q), 5);
    held[5] = None;
    assert_eq!(rx_head(&mut q), 6);
    assert_clean(&port);
}

#[test]
fn full_rx_ring_waits_for_released_slots() {
    let (mut q, port) = open(SimConfig {
        rx_slots: 8,
        ..SimConfig::default()
    });
    for s in 0..20 {
        port.inject(&frame_bytes(s));
    }
    let mut expect = 0;
    let mut rounds = 0;
    while expect < 20 {
        rounds += 1;
        assert!(rounds < 10, "stuck at frame {expect}");
        let mut rx = Burst::new();
        let k = q.rx_burst(&mut rx).unwrap();
        // The kernel keeps one slot empty: at most 7 of 8 slots are ever the user's.
        assert!(k <= 7, "{k} frames from an 8-slot ring");
        // While all are held, nothing more arrives.
        let mut more = Burst::new();
        assert_eq!(
            q.rx_burst(&mut more).unwrap(),
            0,
            "frames arrived into held slots"
        );
        for f in rx.iter() {
            assert_eq!(seq_of(f), expect);
            expect += 1;
        }
    }
    assert_clean(&port);
}

#[test]
fn a_full_burst_leaves_the_rest_for_the_next_call() {
    let (mut q, port) = open(SimConfig {
        rx_slots: 128,
        ..SimConfig::default()
    });
    for s in 0..70 {
        port.inject(&frame_bytes(s));
    }
    let mut first = Burst::new();
    assert_eq!(q.rx_burst(&mut first).unwrap(), mtcp_io::MAX_BURST);
    let mut second = Burst::new();
    assert_eq!(q.rx_burst(&mut second).unwrap(), 6);
    let seqs: Vec<u32> = first
        .iter()
        .chain(second.iter())
        .map(|f| seq_of(f))
        .collect();
    assert_eq!(seqs, (0..70).collect::<Vec<_>>());
    assert_clean(&port);
}

#[test]
fn tx_wraps_around_and_swaps_buffers() {
    let (mut q, port) = open(SimConfig {
        tx_slots: 8,
        ..SimConfig::default()
    });
    assert!(q.zero_copy_tx());
    let mut seq = 0;
    for round in 0..20 {
        let mut tx = Burst::new();
        for _ in 0..(1 + round % 7) {
            tx.push(tx_frame(&mut q, seq)).ok().unwrap();
            seq += 1;
        }
        let n = tx.len();
        assert_eq!(q.tx_burst(&mut tx).unwrap(), n);
        assert!(tx.is_empty());
    }
    let sent = port.take_sent();
    assert_eq!(sent.len(), seq as usize);
    for (i, f) in sent.iter().enumerate() {
        assert_eq!(f, &frame_bytes(i as u32), "frame {i}");
    }
    assert_eq!(q.stats().tx_swapped, u64::from(seq));
    assert_clean(&port);
    drop(q);
    port.audit().unwrap();
}

#[test]
fn full_tx_ring_sends_part_and_keeps_the_rest() {
    // The wire takes 3 frames; the 8-slot ring has 7 usable slots.
    let (mut q, port) = open(SimConfig {
        tx_slots: 8,
        wire_capacity: 3,
        ..SimConfig::default()
    });
    let mut tx = Burst::new();
    for s in 0..10 {
        tx.push(tx_frame(&mut q, s)).ok().unwrap();
    }
    assert_eq!(
        q.tx_burst(&mut tx).unwrap(),
        7,
        "a full ring takes what fits"
    );
    assert_eq!(tx.len(), 3);
    assert_eq!(
        seq_of(&tx[0]),
        7,
        "unsent frames stay in order at the front"
    );
    assert_eq!(port.kernel_backlog().0, 4, "four slots wait for the wire");
    // The ring has 3 free slots again (the 3 delivered ones): the rest fits.
    assert_eq!(q.tx_burst(&mut tx).unwrap(), 3);
    let mut sent = Vec::new();
    for _ in 0..10 {
        sent.extend(port.take_sent());
        q.wait_rx(Duration::ZERO).unwrap(); // poll() pushes pending transmissions
    }
    sent.extend(port.take_sent());
    let seqs: Vec<u32> = sent.iter().map(|f| seq_of(f)).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>());
    assert_clean(&port);
}

#[test]
fn tx_pool_exhaustion_returns_none_and_drops_refill_it() {
    let (mut q, port) = open(SimConfig {
        extra_bufs: 100,
        ..SimConfig::default()
    });
    let mut held = Vec::new();
    while let Some(f) = q.tx_alloc() {
        held.push(f);
        assert!(held.len() <= 100, "more buffers than the kernel granted");
    }
    assert_eq!(held.len(), 100);
    held.pop();
    assert!(q.tx_alloc().is_some());
    drop(held);
    let mut again = Burst::new();
    assert_eq!(q.tx_alloc_burst(&mut again, 64), 64);
    drop(again);
    drop(q);
    port.audit().unwrap();
}

#[test]
fn without_extra_buffers_tx_copies() {
    let (mut q, port) = open(SimConfig {
        extra_bufs: 0,
        tx_slots: 16,
        ..SimConfig::default()
    });
    assert!(!q.zero_copy_tx());
    let mut tx = Burst::new();
    for s in 0..40 {
        tx.push(tx_frame(&mut q, s)).ok().unwrap();
        if tx.len() == 9 || s == 39 {
            let n = tx.len();
            assert_eq!(q.tx_burst(&mut tx).unwrap(), n);
        }
    }
    let sent = port.take_sent();
    assert_eq!(
        sent.iter().map(|f| seq_of(f)).collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
    assert_eq!(sent[17], frame_bytes(17));
    assert_eq!(q.stats().tx_copied, 40);
    assert_clean(&port);
    drop(q);
    port.audit().unwrap();
}

#[test]
fn frames_larger_than_a_buffer_are_dropped_whole() {
    let (mut q, port) = open(SimConfig {
        buf_size: 256,
        rx_slots: 16,
        ..SimConfig::default()
    });
    port.inject(&[1u8; 100]);
    port.inject(&[2u8; 600]); // three slots with NS_MOREFRAG
    port.inject(&[3u8; 256]);
    let mut rx = Burst::new();
    assert_eq!(q.rx_burst(&mut rx).unwrap(), 2);
    assert_eq!((&rx[0][..], rx[0].len()), (&[1u8; 100][..], 100));
    assert_eq!((rx[1][0], rx[1].len()), (3, 256));
    assert_eq!(q.stats().rx_dropped_fragmented, 1);
    drop(rx);
    let mut none = Burst::new();
    assert_eq!(q.rx_burst(&mut none).unwrap(), 0);
    let (_, [head, _, tail]) = port.ring_pointers();
    assert_eq!(head, tail, "the fragments' slots went back too");
    assert_clean(&port);
}

#[test]
fn pre_api14_interface_layout_finds_the_rx_ring() {
    // Older kernels leave ni_host_tx_rings zero; the rx ring then follows exactly one host ring.
    let (mut a, mut b) = SimDevice::pair(SimConfig {
        api14_if: false,
        ..SimConfig::default()
    });
    let (mut qa, mut qb) = (a.queue(0).unwrap(), b.queue(0).unwrap());
    let mut tx = Burst::new();
    tx.push(tx_frame(&mut qa, 5)).ok().unwrap();
    assert_eq!(qa.tx_burst(&mut tx).unwrap(), 1);
    let mut rx = Burst::new();
    assert_eq!(qb.rx_burst(&mut rx).unwrap(), 1);
    assert_eq!(&rx[0][..], &frame_bytes(5)[..]);
}

#[test]
fn rx_frames_may_die_on_another_thread() {
    let (mut q, port) = open(SimConfig {
        rx_slots: 8,
        ..SimConfig::default()
    });
    let mut received = 0;
    std::thread::scope(|s| {
        let (send, recv) = std::sync::mpsc::sync_channel::<mtcp_io_netmap::NetmapRxFrame>(4);
        let consumer = s.spawn(move || recv.into_iter().map(|f| seq_of(&f)).collect::<Vec<_>>());
        let mut next = 0;
        for _ in 0..1000 {
            if next < 50 {
                port.inject(&frame_bytes(next));
                next += 1;
            }
            let mut rx = Burst::new();
            received += q.rx_burst(&mut rx).unwrap();
            for f in rx {
                send.send(f).unwrap();
            }
            if received == 50 {
                break;
            }
        }
        drop(send);
        assert_eq!(consumer.join().unwrap(), (0..50).collect::<Vec<_>>());
    });
    assert_eq!(received, 50);
    assert_clean(&port);
}

#[test]
fn each_queue_is_taken_once() {
    let mut dev = SimDevice::new(SimConfig::default());
    let _q = dev.queue(0).unwrap();
    assert_eq!(
        dev.queue(0).err().unwrap().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!(
        dev.queue(1).err().unwrap().kind(),
        std::io::ErrorKind::InvalidInput
    );
}
