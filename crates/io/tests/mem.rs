//! The in-memory switch: conformance, multi-threaded load without loss or leaks, RSS steering.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::conformance::{self, Ctx};
use mtcp_io::fault::FaultConfig;
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_io::{Burst, Device, Queue, RxFrame, Steering, TxFrame};
use mtcp_wire::rss::{SYMMETRIC_KEY, toeplitz};

/// An IPv4/UDP frame from 198.18.0.1:sport to 198.18.0.2:dport carrying (sender, seq).
fn udp_frame<T: TxFrame>(f: &mut T, dst: [u8; 6], sport: u16, dport: u16, sender: u32, seq: u32) {
    f.set_len(64);
    f.fill(0);
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xee]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[42..46].copy_from_slice(&sender.to_be_bytes());
    f[46..50].copy_from_slice(&seq.to_be_bytes());
}

#[test]
fn mem_passes_conformance() {
    let cfg = MemConfig {
        ring_size: 256,
        pool_size: 512,
        ..MemConfig::default()
    };
    let sw = MemSwitch::new(cfg).unwrap();
    let (mut pa, mut pb) = (sw.port(0), sw.port(1));
    let ctx = Ctx::new(pa.info().mac, pb.info().mac);
    let (mut a, mut b) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
    let partial = conformance::run_all(&mut a, &mut b, &ctx, 1500).unwrap();
    assert!(partial.observed, "a full ring must push back: {partial:?}");
    assert_eq!(partial.sent, 256);
    drop((a, b));
    assert_eq!(sw.buffers_free(), sw.buffers_total());
}

#[test]
fn queues_are_handed_out_once() {
    let sw = MemSwitch::new(MemConfig {
        queues: 2,
        ..MemConfig::default()
    })
    .unwrap();
    let mut p = sw.port(0);
    assert!(matches!(p.info().steering, Steering::Toeplitz { .. }));
    p.queue(1).unwrap();
    assert_eq!(
        p.queue(1).err().map(|e| e.kind()),
        Some(std::io::ErrorKind::AlreadyExists)
    );
    assert_eq!(
        p.queue(2).err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
    assert!(
        MemSwitch::new(MemConfig {
            ports: 0,
            ..MemConfig::default()
        })
        .is_err()
    );
    // NICs index the redirection table with the hash's low bits: only powers of two agree.
    for reta_size in [0, 3, 100] {
        let err = MemSwitch::new(MemConfig {
            queues: 2,
            reta_size,
            ..MemConfig::default()
        })
        .err()
        .map(|e| e.kind());
        assert_eq!(
            err,
            Some(std::io::ErrorKind::InvalidInput),
            "reta {reta_size}"
        );
    }
    assert!(
        MemSwitch::new(MemConfig {
            queues: 2,
            reta_size: 64,
            ..MemConfig::default()
        })
        .is_ok()
    );
}

#[test]
fn runts_are_dropped_not_panicked_on() {
    let (mut pa, mut pb) = MemSwitch::pair();
    let (mut a, mut b) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
    let mut burst = Burst::new();
    let mut f = a.tx_alloc().unwrap();
    f.set_len(5);
    let _ = burst.push(f);
    assert_eq!(a.tx_burst(&mut burst).unwrap(), 1);
    let mut rx = Burst::new();
    assert_eq!(b.rx_burst(&mut rx).unwrap(), 0);
}

/// Four sender threads on port 0 and four receiver threads on port 1, 20 000 frames each over 64
/// flows: every frame arrives once, each flow on the queue its hash names and in order, and every
/// buffer is back in its pool at the end.
#[test]
fn multithreaded_load_loses_duplicates_and_leaks_nothing() {
    const QUEUES: usize = 4;
    const PER_SENDER: u32 = 20_000;
    let cfg = MemConfig {
        queues: QUEUES,
        ring_size: 512,
        pool_size: 1024,
        ..MemConfig::default()
    };
    let sw = MemSwitch::new(cfg).unwrap();
    let (mut p0, mut p1) = (sw.port(0), sw.port(1));
    let dst = p1.info().mac.0;
    let received = Arc::new(AtomicUsize::new(0));
    let total = QUEUES * PER_SENDER as usize;
    let mut senders = Vec::new();
    for s in 0..QUEUES {
        let mut q = p0.queue(s).unwrap();
        senders.push(std::thread::spawn(move || {
            let mut burst = Burst::new();
            let mut seq = 0;
            while seq < PER_SENDER || !burst.is_empty() {
                while seq < PER_SENDER && !burst.is_full() {
                    let Some(mut f) = q.tx_alloc() else { break };
                    let flow = (seq % 16) as u16 + 16 * s as u16;
                    udp_frame(&mut f, dst, 40000 + flow, 80, s as u32, seq);
                    let _ = burst.push(f);
                    seq += 1;
                }
                if q.tx_burst(&mut burst).unwrap() == 0 {
                    std::thread::yield_now();
                }
            }
        }));
    }
    let mut receivers = Vec::new();
    for r in 0..QUEUES {
        let mut q = p1.queue(r).unwrap();
        let received = Arc::clone(&received);
        receivers.push(std::thread::spawn(move || {
            // (sender, flow) -> last seq; and every (sender, seq) seen.
            let mut last: HashMap<(u32, u16), u32> = HashMap::new();
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut burst = Burst::new();
            while received.load(Ordering::Relaxed) < total && Instant::now() < deadline {
                burst.clear();
                let n = q.rx_burst(&mut burst).unwrap();
                for f in burst.iter() {
                    let sport = u16::from_be_bytes([f[34], f[35]]);
                    let sender = u32::from_be_bytes([f[42], f[43], f[44], f[45]]);
                    let seq = u32::from_be_bytes([f[46], f[47], f[48], f[49]]);
                    let mut tuple = [0u8; 12];
                    tuple[..8].copy_from_slice(&f[26..34]);
                    tuple[8..].copy_from_slice(&f[34..38]);
                    let hash = toeplitz(&SYMMETRIC_KEY, &tuple);
                    assert_eq!(f.meta().rss_hash, Some(hash));
                    assert_eq!(
                        (hash % 128) as usize % QUEUES,
                        r,
                        "flow steered to the wrong queue"
                    );
                    if let Some(prev) = last.insert((sender, sport), seq) {
                        assert!(seq > prev, "flow reordered: {prev} then {seq}");
                    }
                    seen.push((sender, seq));
                }
                received.fetch_add(n, Ordering::Relaxed);
                if n == 0 {
                    std::thread::yield_now();
                }
            }
            seen
        }));
    }
    for s in senders {
        s.join().unwrap();
    }
    let mut all: Vec<(u32, u32)> = receivers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    assert_eq!(all.len(), total, "frames lost or duplicated");
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "duplicates");
    assert_eq!(sw.frames_in_flight(), 0);
    assert_eq!(sw.drops(), 0);
    assert_eq!(sw.buffers_free(), sw.buffers_total(), "buffers leaked");
}

/// With one queue per port nothing is steered: frames arrive without an RSS hash (none is
/// computed), with two they carry the Toeplitz hash of their flow.
#[test]
fn only_multiqueue_ports_hash_flows() {
    for (queues, want) in [(1, None), (2, Some(()))] {
        let sw = MemSwitch::new(MemConfig {
            queues,
            ..MemConfig::default()
        })
        .unwrap();
        let (mut pa, mut pb) = (sw.port(0), sw.port(1));
        let dst = pb.info().mac.0;
        let mut a = pa.queue(0).unwrap();
        let mut rxs: Vec<_> = (0..queues).map(|q| pb.queue(q).unwrap()).collect();
        let mut burst = Burst::new();
        let mut f = a.tx_alloc().unwrap();
        udp_frame(&mut f, dst, 4000, 80, 0, 0);
        let _ = burst.push(f);
        assert_eq!(a.tx_burst(&mut burst).unwrap(), 1);
        let mut tuple = [0u8; 12];
        tuple[..8].copy_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        tuple[8..].copy_from_slice(&[0x0f, 0xa0, 0, 80]);
        let hash = want.map(|()| toeplitz(&SYMMETRIC_KEY, &tuple));
        let mut got = Vec::new();
        for q in rxs.iter_mut() {
            let mut rx = Burst::new();
            q.rx_burst(&mut rx).unwrap();
            got.extend(rx.iter().map(|f| f.meta().rss_hash));
        }
        assert_eq!(got, [hash], "{queues} queue(s)");
    }
}

#[test]
fn broadcast_floods_every_other_port() {
    let sw = MemSwitch::new(MemConfig {
        ports: 3,
        ..MemConfig::default()
    })
    .unwrap();
    let mut qs: Vec<_> = (0..3).map(|p| sw.port(p).queue(0).unwrap()).collect();
    let mut burst = Burst::new();
    let mut f = qs[0].tx_alloc().unwrap();
    udp_frame(&mut f, [0xff; 6], 1, 2, 0, 0);
    let _ = burst.push(f);
    qs[0].tx_burst(&mut burst).unwrap();
    let mut counts = [0; 3];
    for (i, q) in qs.iter_mut().enumerate() {
        let mut rx = Burst::new();
        counts[i] = q.rx_burst(&mut rx).unwrap();
    }
    assert_eq!(counts, [0, 1, 1]);
    drop(qs);
    assert_eq!(sw.buffers_free(), sw.buffers_total());
}

#[test]
fn mem_faults_are_deterministic() {
    let run = || {
        let faults = FaultConfig {
            seed: 9,
            loss: 0.2,
            duplicate: 0.1,
            reorder: 0.1,
            ..FaultConfig::default()
        };
        let sw = MemSwitch::new(MemConfig {
            faults,
            ..MemConfig::default()
        })
        .unwrap();
        let (mut a, mut b) = (sw.port(0).queue(0).unwrap(), sw.port(1).queue(0).unwrap());
        let dst = sw.port(1).info().mac.0;
        let mut got = Vec::new();
        for seq in 0..2000 {
            let mut burst = Burst::new();
            let mut f = a.tx_alloc().unwrap();
            udp_frame(&mut f, dst, 1, 2, 0, seq);
            let _ = burst.push(f);
            a.tx_burst(&mut burst).unwrap();
            let mut rx = Burst::new();
            b.rx_burst(&mut rx).unwrap();
            got.extend(
                rx.iter()
                    .map(|f| u32::from_be_bytes([f[46], f[47], f[48], f[49]])),
            );
        }
        std::thread::sleep(Duration::from_millis(15));
        let mut rx = Burst::new();
        a.rx_burst(&mut rx).unwrap(); // Polling the sender releases the held frame.
        b.rx_burst(&mut rx).unwrap();
        got.extend(
            rx.iter()
                .map(|f| u32::from_be_bytes([f[46], f[47], f[48], f[49]])),
        );
        let stats = a.fault_stats().unwrap();
        (got, stats)
    };
    let (a, sa) = run();
    let (b, _) = run();
    assert!(a == b, "same seed, different outcome");
    assert!((300..500).contains(&sa.lost), "{sa:?}");
    assert!(sa.duplicated > 100 && sa.reordered > 100, "{sa:?}");
    assert_eq!(a.len() as u64, sa.delivered);
}

/// `opaque`: the ports report `Steering::Opaque`; flows spread over the queues by the switch's
/// own hash, which is not Toeplitz's, and both directions of a flow meet on one queue index.
#[test]
fn opaque_steering_spreads_flows_by_another_hash() {
    let sw = MemSwitch::new(MemConfig {
        queues: 2,
        opaque: true,
        ..MemConfig::default()
    })
    .unwrap();
    let (mut pa, mut pb) = (sw.port(0), sw.port(1));
    assert_eq!(pa.info().steering, Steering::Opaque);
    let (amac, bmac) = (pa.info().mac.0, pb.info().mac.0);
    let mut a: Vec<_> = (0..2).map(|q| pa.queue(q).unwrap()).collect();
    let mut b: Vec<_> = (0..2).map(|q| pb.queue(q).unwrap()).collect();
    let (mut per_queue, mut differs) = ([0usize; 2], 0);
    for sport in 1000..1200u16 {
        // a → b, then the reply b → a with the endpoints swapped.
        let mut burst = Burst::new();
        let mut f = a[0].tx_alloc().unwrap();
        udp_frame(&mut f, bmac, sport, 80, 0, 0);
        burst.push(f).unwrap();
        a[0].tx_burst(&mut burst).unwrap();
        let landed = |qs: &mut Vec<mtcp_io::mem::MemQueue>| {
            (0..2)
                .find(|&q| {
                    let mut rx = Burst::new();
                    qs[q].rx_burst(&mut rx).unwrap() == 1
                })
                .expect("delivered")
        };
        let qb = landed(&mut b);
        let mut f = b[0].tx_alloc().unwrap();
        udp_frame(&mut f, amac, 80, sport, 0, 0);
        f[26..30].copy_from_slice(&[198, 18, 0, 2]);
        f[30..34].copy_from_slice(&[198, 18, 0, 1]);
        burst.push(f).unwrap();
        b[0].tx_burst(&mut burst).unwrap();
        assert_eq!(landed(&mut a), qb, "both directions of port {sport}");
        per_queue[qb] += 1;
        let mut t = [0u8; 12];
        t[..4].copy_from_slice(&[198, 18, 0, 1]);
        t[4..8].copy_from_slice(&[198, 18, 0, 2]);
        t[8..10].copy_from_slice(&sport.to_be_bytes());
        t[10..12].copy_from_slice(&80u16.to_be_bytes());
        differs += usize::from((toeplitz(&SYMMETRIC_KEY, &t) as usize % 128) % 2 != qb);
    }
    assert!(per_queue.iter().all(|&n| n > 50), "{per_queue:?}");
    assert!(
        differs > 50,
        "opaque steering follows Toeplitz ({differs} of 200 differ)"
    );
}

/// A receiver parked in `wait_rx` is woken by the sender's delivery, not by its timeout: a
/// ping-pong of 200 frames with a 10 s timeout per wait finishes far sooner than one timeout,
/// and each wait returns with a frame in the ring. A lost wake-up (the receiver parking just
/// after a delivery it did not see) would make a wait run its full 10 s.
#[test]
fn a_parked_receiver_wakes_on_delivery() {
    let sw = MemSwitch::new(MemConfig::default()).unwrap();
    let (mut pa, mut pb) = (sw.port(0), sw.port(1));
    let (mut qa, mut qb) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
    let (mac_a, mac_b) = (pa.info().mac.0, pb.info().mac.0);
    const ROUNDS: u32 = 200;
    let echo = std::thread::spawn(move || {
        let mut rx = Burst::new();
        for _ in 0..ROUNDS {
            qb.wait_rx(Duration::from_secs(10)).unwrap();
            assert_eq!(qb.rx_burst(&mut rx).unwrap(), 1, "woken without a frame");
            rx.clear();
            let mut tx = Burst::new();
            let mut f = qb.tx_alloc().unwrap();
            udp_frame(&mut f, mac_a, 2, 1, 1, 0);
            let _ = tx.push(f);
            assert_eq!(qb.tx_burst(&mut tx).unwrap(), 1);
        }
    });
    let start = Instant::now();
    let mut rx = Burst::new();
    for seq in 0..ROUNDS {
        let mut tx = Burst::new();
        let mut f = qa.tx_alloc().unwrap();
        udp_frame(&mut f, mac_b, 1, 2, 0, seq);
        let _ = tx.push(f);
        assert_eq!(qa.tx_burst(&mut tx).unwrap(), 1);
        qa.wait_rx(Duration::from_secs(10)).unwrap();
        assert_eq!(qa.rx_burst(&mut rx).unwrap(), 1, "woken without a frame");
        rx.clear();
    }
    echo.join().unwrap();
    // Far below one timeout: no wait ran to its end.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// `checksum_offload`: the ports report offload in both directions; a frame whose sender left
/// its checksums to the device arrives with them marked good (never computed: the frame never
/// left memory), a frame sent without offload arrives unverified, for software to check.
#[test]
fn checksum_offload_marks_offloaded_frames_good_and_leaves_others_to_software() {
    use mtcp_io::{ChecksumStatus, L4Checksum, TxOffload};
    let plain = MemSwitch::new(MemConfig::default()).unwrap();
    assert!(!plain.port(0).info().checksum.tcp_tx);
    let sw = MemSwitch::new(MemConfig {
        checksum_offload: true,
        ..MemConfig::default()
    })
    .unwrap();
    let (mut pa, mut pb) = (sw.port(0), sw.port(1));
    let caps = pa.info().checksum;
    assert!(caps.ipv4_tx && caps.ipv4_rx && caps.tcp_tx && caps.tcp_rx && caps.udp_tx);
    let dst = pb.info().mac.0;
    let (mut a, mut b) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
    let mut tx = Burst::new();
    for offloaded in [true, false] {
        let mut f = a.tx_alloc().unwrap();
        udp_frame(&mut f, dst, 1000, 2000, 0, 0);
        if offloaded {
            f.set_offload(TxOffload {
                l2_len: 14,
                l3_len: 20,
                ipv4_checksum: true,
                l4_checksum: Some(L4Checksum::Udp),
                tcp_segment: 0,
            });
        }
        let _ = tx.push(f);
    }
    a.tx_burst(&mut tx).unwrap();
    assert!(tx.is_empty());
    let mut rx = Burst::new();
    b.rx_burst(&mut rx).unwrap();
    let status: Vec<_> = rx
        .iter()
        .map(|f| (f.meta().ipv4_checksum, f.meta().l4_checksum))
        .collect();
    assert_eq!(
        status,
        [
            (ChecksumStatus::Good, ChecksumStatus::Good),
            (ChecksumStatus::Unknown, ChecksumStatus::Unknown)
        ]
    );
}

/// An IPv6/TCP frame from `src`:sport to `dst`:dport (no extension headers, empty segment).
fn tcp6_frame<T: TxFrame>(f: &mut T, mac: [u8; 6], src: [u8; 16], dst: [u8; 16], ports: [u16; 2]) {
    f.set_len(74);
    f.fill(0);
    f[0..6].copy_from_slice(&mac);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xee]);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&20u16.to_be_bytes());
    f[20] = 6;
    f[21] = 64;
    f[22..38].copy_from_slice(&src);
    f[38..54].copy_from_slice(&dst);
    f[54..56].copy_from_slice(&ports[0].to_be_bytes());
    f[56..58].copy_from_slice(&ports[1].to_be_bytes());
    f[66] = 0x50;
}

/// IPv6 TCP frames are steered by the Toeplitz hash of their 36-byte 4-tuple (as a NIC's
/// TCP_IPV6 RSS): each lands on the queue the hash names, both directions of a flow on one
/// queue index (mTCP's symmetric key), and flows spread over the queues (before, every IPv6
/// frame went to queue 0).
#[test]
fn ipv6_flows_are_steered_by_their_toeplitz_hash() {
    let sw = MemSwitch::new(MemConfig {
        queues: 2,
        ..MemConfig::default()
    })
    .unwrap();
    let (mut pa, mut pb) = (sw.port(0), sw.port(1));
    let (amac, bmac) = (pa.info().mac.0, pb.info().mac.0);
    let mut a: Vec<_> = (0..2).map(|q| pa.queue(q).unwrap()).collect();
    let mut b: Vec<_> = (0..2).map(|q| pb.queue(q).unwrap()).collect();
    let ip = |last: u8| {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&[0x20, 0x01, 0, 2]);
        x[15] = last;
        x
    };
    let landed = |qs: &mut Vec<mtcp_io::mem::MemQueue>| {
        (0..2)
            .find(|&q| {
                let mut rx = Burst::new();
                qs[q].rx_burst(&mut rx).unwrap() == 1
            })
            .expect("delivered")
    };
    let mut per_queue = [0usize; 2];
    for sport in 1000..1200u16 {
        let mut burst = Burst::new();
        let mut f = a[0].tx_alloc().unwrap();
        tcp6_frame(&mut f, bmac, ip(1), ip(2), [sport, 80]);
        burst.push(f).unwrap();
        a[0].tx_burst(&mut burst).unwrap();
        let qb = landed(&mut b);
        let mut t = [0u8; 36];
        t[..16].copy_from_slice(&ip(1));
        t[16..32].copy_from_slice(&ip(2));
        t[32..34].copy_from_slice(&sport.to_be_bytes());
        t[34..].copy_from_slice(&80u16.to_be_bytes());
        assert_eq!(
            toeplitz(&SYMMETRIC_KEY, &t) as usize % 128 % 2,
            qb,
            "port {sport}"
        );
        let mut f = b[0].tx_alloc().unwrap();
        tcp6_frame(&mut f, amac, ip(2), ip(1), [80, sport]);
        burst.push(f).unwrap();
        b[0].tx_burst(&mut burst).unwrap();
        assert_eq!(landed(&mut a), qb, "both directions of port {sport}");
        per_queue[qb] += 1;
    }
    assert!(per_queue.iter().all(|&n| n > 50), "{per_queue:?}");
}

/// A received buffer handed back with `recycle` carries the receiver's next transmission (no
/// trip through the sender's pool), at most an eighth of the pool is kept so, and only short
/// frames, and every buffer is counted free meanwhile and back in its pool once the queue goes.
#[test]
fn recycled_buffers_serve_the_receivers_transmissions() {
    let sw = MemSwitch::new(MemConfig {
        pool_size: 32,
        ..MemConfig::default()
    })
    .unwrap();
    let (mut pa, mut pb) = (sw.port(0), sw.port(1));
    let (mac_a, mac_b) = (pa.info().mac.0, pb.info().mac.0);
    let (mut a, mut b) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
    let mut burst = Burst::new();
    for seq in 0..8 {
        let mut f = a.tx_alloc().unwrap();
        udp_frame(&mut f, mac_b, 1, 2, 0, seq);
        burst.push(f).unwrap();
    }
    assert_eq!(a.tx_burst(&mut burst).unwrap(), 8);
    let mut rx = Burst::new();
    assert_eq!(b.rx_burst(&mut rx).unwrap(), 8);
    let addrs: Vec<usize> = rx.iter().map(|f| f.as_ptr() as usize).collect();
    for f in rx.drain(..) {
        b.recycle(f);
    }
    // An eighth of the pool (4) stays with b; the rest went home to a's pool.
    assert_eq!(a.pool().available(), 32 - 4);
    assert_eq!(sw.buffers_free(), sw.buffers_total());
    // b's next transmissions use them, the most recently received first, emptied.
    for expect in addrs[..4].iter().rev() {
        let mut f = b.tx_alloc().unwrap();
        assert_eq!(f.len(), 0);
        f.set_len(64);
        assert_eq!(f.as_ptr() as usize, *expect);
        udp_frame(&mut f, mac_a, 2, 1, 1, 0);
    }
    assert_eq!(b.pool().available(), 32, "b's own pool was not touched");
    // A full-size frame goes home at once, even with room in the cache.
    let mut big = a.tx_alloc().unwrap();
    big.set_len(1000);
    let before = a.pool().available();
    b.recycle(big);
    assert_eq!(a.pool().available(), before + 1);
    b.recycle(a.tx_alloc().unwrap());
    drop((a, b));
    assert_eq!(sw.buffers_free(), sw.buffers_total());
}
