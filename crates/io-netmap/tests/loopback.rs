//! Loopback conformance: two simulated netmap ports wired back to back, checked the way the other
//! backends are checked (bursts intact and ordered, partial tx bursts, exhaustion, buffers return).

use mtcp_io::{Burst, Device, MAX_BURST, Queue, TxFrame};
use mtcp_io_netmap::NetmapQueue;
use mtcp_io_netmap::sim::{SimConfig, SimDevice, SimSync};
use std::time::{Duration, Instant};

type Q = NetmapQueue<SimSync>;

fn payload(seq: u32, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| (i as u32 ^ seq.wrapping_mul(2_654_435_761)) as u8)
        .collect();
    v[..4].copy_from_slice(&seq.to_be_bytes());
    v
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[0], f[1], f[2], f[3]])
}

fn pair(config: SimConfig) -> (SimDevice, SimDevice, Q, Q) {
    let (mut a, mut b) = SimDevice::pair(config);
    let (qa, qb) = (a.queue(0).unwrap(), b.queue(0).unwrap());
    (a, b, qa, qb)
}

fn fill(q: &mut Q, burst: &mut Burst<<Q as Queue>::Tx>, seq: u32, len: usize) {
    let mut f = q.tx_alloc().expect("tx buffer");
    f.set_len(len);
    f.copy_from_slice(&payload(seq, len));
    burst.push(f).ok().expect("burst has room");
}

/// Receives until `n` frames arrived or a generous deadline passed (not a speed check).
fn receive(q: &mut Q, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        let mut rx = Burst::new();
        if q.rx_burst(&mut rx).unwrap() == 0 {
            q.wait_rx(Duration::from_millis(10)).unwrap();
        }
        got.extend(rx.iter().map(|f| f.to_vec()));
    }
    got
}

#[test]
fn a_full_burst_arrives_intact_and_in_order() {
    let (a, b, mut qa, mut qb) = pair(SimConfig {
        tx_slots: 128,
        rx_slots: 128,
        ..SimConfig::default()
    });
    let lens: Vec<usize> = (0..MAX_BURST).map(|i| 60 + i * 23 % 1455).collect();
    let mut tx = Burst::new();
    for (i, &len) in lens.iter().enumerate() {
        fill(&mut qa, &mut tx, i as u32, len);
    }
    assert_eq!(qa.tx_burst(&mut tx).unwrap(), MAX_BURST);
    let got = receive(&mut qb, MAX_BURST);
    assert_eq!(got.len(), MAX_BURST);
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f, &payload(i as u32, lens[i]), "frame {i}");
    }
    assert!(a.port().violations().is_empty() && b.port().violations().is_empty());
}

#[test]
fn partial_tx_bursts_lose_nothing() {
    // A slow wire (8 frames) and small rings force short tx bursts.
    let config = SimConfig {
        tx_slots: 16,
        rx_slots: 16,
        wire_capacity: 8,
        ..SimConfig::default()
    };
    let (a, b, mut qa, mut qb) = pair(config);
    let total = 500u32;
    let mut seq = 0;
    let mut pending = Burst::new();
    let mut got = Vec::new();
    let mut short = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < total as usize && Instant::now() < deadline {
        while seq < total && !pending.is_full() {
            fill(&mut qa, &mut pending, seq, 60 + (seq as usize % 200));
            seq += 1;
        }
        let before = pending.len();
        let sent = qa.tx_burst(&mut pending).unwrap();
        assert_eq!(pending.len(), before - sent);
        short += usize::from(sent < before);
        let mut rx = Burst::new();
        qb.rx_burst(&mut rx).unwrap();
        got.extend(rx.iter().map(|f| seq_of(f)));
        if sent == 0 {
            qa.wait_rx(Duration::from_millis(1)).unwrap(); // lets the tx ring drain
        }
    }
    assert!(short > 0, "the test never produced a partial burst");
    assert_eq!(got, (0..total).collect::<Vec<_>>());
    assert!(a.port().violations().is_empty() && b.port().violations().is_empty());
}

#[test]
fn exhaustion_returns_none_and_buffers_return_on_drop() {
    let config = SimConfig {
        extra_bufs: 128,
        rx_slots: 32,
        ..SimConfig::default()
    };
    let (a, b, mut qa, mut qb) = pair(config);
    let mut all = Vec::new();
    while let Some(f) = qa.tx_alloc() {
        all.push(f);
    }
    assert_eq!(all.len(), 128);
    assert!(qa.tx_alloc().is_none());
    drop(all);
    // Send more frames than the pool holds: buffers must come back through the swaps.
    let mut sent = 0u32;
    let mut got = Vec::new();
    for _round in 0..40 {
        let mut tx = Burst::new();
        for _ in 0..10 {
            fill(&mut qa, &mut tx, sent, 100);
            sent += 1;
        }
        assert_eq!(qa.tx_burst(&mut tx).unwrap(), 10);
        // Receive, hold them for a round, then drop: rx slots must come back.
        got.extend(receive(&mut qb, 10).iter().map(|f| seq_of(f)));
    }
    assert_eq!(got, (0..400).collect::<Vec<_>>());
    let mut count = 0;
    let mut again = Vec::new();
    while let Some(f) = qa.tx_alloc() {
        again.push(f);
        count += 1;
    }
    assert_eq!(count, 128, "the pool keeps its size across swaps");
    drop((again, qa, qb));
    a.port().audit().unwrap();
    b.port().audit().unwrap();
}

#[test]
fn held_rx_frames_back_pressure_and_release() {
    let config = SimConfig {
        rx_slots: 16,
        ..SimConfig::default()
    };
    let (_a, _b, mut qa, mut qb) = pair(config);
    let mut tx = Burst::new();
    for s in 0..40 {
        fill(&mut qa, &mut tx, s, 64);
    }
    assert_eq!(qa.tx_burst(&mut tx).unwrap(), 40);
    let mut held = Burst::new();
    assert_eq!(qb.rx_burst(&mut held).unwrap(), 15, "15 of 16 slots");
    let mut none = Burst::new();
    assert_eq!(qb.rx_burst(&mut none).unwrap(), 0);
    drop(held);
    let rest = receive(&mut qb, 25);
    assert_eq!(
        rest.iter().map(|f| seq_of(f)).collect::<Vec<_>>(),
        (15..40).collect::<Vec<_>>()
    );
}

#[test]
fn both_directions_at_once_on_two_threads() {
    let (_a, _b, qa, qb) = pair(SimConfig::default());
    let run = |mut q: Q, base: u32| {
        std::thread::spawn(move || {
            let mut sent = 0u32;
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(10);
            while (sent < 300 || got.len() < 300) && Instant::now() < deadline {
                if sent < 300 {
                    let mut tx = Burst::new();
                    for _ in 0..(300 - sent).min(16) {
                        fill(&mut q, &mut tx, base + sent, 80);
                        sent += 1;
                    }
                    while !tx.is_empty() && Instant::now() < deadline {
                        if q.tx_burst(&mut tx).unwrap() == 0 {
                            q.wait_rx(Duration::from_millis(1)).unwrap();
                        }
                    }
                }
                let mut rx = Burst::new();
                if q.rx_burst(&mut rx).unwrap() == 0 {
                    q.wait_rx(Duration::from_millis(1)).unwrap();
                }
                got.extend(rx.iter().map(|f| seq_of(f)));
            }
            got
        })
    };
    let ta = run(qa, 0);
    let tb = run(qb, 10_000);
    assert_eq!(ta.join().unwrap(), (10_000..10_300).collect::<Vec<_>>());
    assert_eq!(tb.join().unwrap(), (0..300).collect::<Vec<_>>());
}

#[test]
fn a_frame_from_another_queue_is_copied_not_swapped() {
    let (a, _b, mut qa, mut qb) = pair(SimConfig::default());
    let mut other = SimDevice::new(SimConfig::default());
    let mut qo = other.queue(0).unwrap();
    let mut tx = Burst::new();
    fill(&mut qo, &mut tx, 7, 90);
    fill(&mut qa, &mut tx, 8, 91);
    assert_eq!(qa.tx_burst(&mut tx).unwrap(), 2);
    assert_eq!((qa.stats().tx_copied, qa.stats().tx_swapped), (1, 1));
    let got = receive(&mut qb, 2);
    assert_eq!(got, vec![payload(7, 90), payload(8, 91)]);
    drop((qa, qo));
    a.port().audit().unwrap();
    other.port().audit().unwrap();
}

/// The suite every backend passes (`mtcp_io::conformance`), both ways over the simulated kernel.
#[test]
fn the_shared_conformance_suite_passes_on_the_simulated_kernel() {
    let (a, b, mut qa, mut qb) = pair(SimConfig::default());
    let (mac_a, mac_b) = (a.info().mac, b.info().mac);
    let mtu = a.info().mtu;
    let ab = mtcp_io::conformance::Ctx::new(mac_a, mac_b);
    mtcp_io::conformance::run_all(&mut qa, &mut qb, &ab, mtu).expect("a -> b conforms");
    let ba = mtcp_io::conformance::Ctx::new(mac_b, mac_a);
    mtcp_io::conformance::run_all(&mut qb, &mut qa, &ba, mtu).expect("b -> a conforms");
}
