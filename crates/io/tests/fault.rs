//! The fault wrapper: seeded, repeatable impairment of roughly the configured fractions.

use std::time::{Duration, Instant};

use mtcp_io::fault::{Fault, FaultConfig, FaultStats};
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_io::{Burst, Device, Queue, TxFrame};

const N: u32 = 20_000;

fn frame<T: TxFrame>(f: &mut T, seq: u32) {
    f.set_len(60);
    f.fill(0);
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    f[14..18].copy_from_slice(&seq.to_be_bytes());
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[14], f[15], f[16], f[17]])
}

/// Sends N frames one burst of 16 at a time through a link impaired by `tx` (sender side) and
/// `rx` (receiver side); returns the sequence numbers in arrival order and both sides' stats.
fn run(tx: FaultConfig, rx: FaultConfig) -> (Vec<u32>, FaultStats, FaultStats) {
    let sw = MemSwitch::new(MemConfig {
        pool_size: 4096,
        ring_size: 4096,
        ..MemConfig::default()
    })
    .unwrap();
    let mut a = Fault::new(sw.port(0), tx, FaultConfig::default());
    let mut b = Fault::new(sw.port(1), FaultConfig::default(), rx);
    let (mut qa, mut qb) = (a.queue(0).unwrap(), b.queue(0).unwrap());
    let mut got = Vec::new();
    let mut seq = 0;
    let mut rxb = Burst::new();
    while seq < N {
        let mut burst = Burst::new();
        for _ in 0..16 {
            let mut f = qa.tx_alloc().unwrap();
            frame(&mut f, seq);
            let _ = burst.push(f);
            seq += 1;
        }
        while !burst.is_empty() {
            qa.tx_burst(&mut burst).unwrap();
        }
        rxb.clear();
        qb.rx_burst(&mut rxb).unwrap();
        got.extend(rxb.iter().map(|f| seq_of(f)));
    }
    // Let held and delayed frames out.
    let end = Instant::now() + Duration::from_millis(60);
    while Instant::now() < end {
        qa.wait_rx(Duration::from_millis(2)).unwrap();
        rxb.clear();
        qa.rx_burst(&mut rxb).unwrap();
        rxb.clear();
        qb.rx_burst(&mut rxb).unwrap();
        got.extend(rxb.iter().map(|f| seq_of(f)));
    }
    let stats = (qa.tx_stats(), qb.rx_stats());
    drop(rxb);
    drop((qa, qb));
    assert_eq!(
        sw.buffers_free(),
        sw.buffers_total(),
        "impairment leaked buffers"
    );
    (got, stats.0, stats.1)
}

fn measure(got: &[u32]) -> (f64, f64, f64) {
    let mut count = vec![0u32; N as usize];
    let mut late = 0;
    let mut max = None;
    for &s in got {
        count[s as usize] += 1;
        if max.is_some_and(|m| s < m) {
            late += 1;
        }
        max = max.max(Some(s));
    }
    let lost = count.iter().filter(|&&c| c == 0).count();
    let dup = count.iter().filter(|&&c| c > 1).count();
    let n = f64::from(N);
    (lost as f64 / n, dup as f64 / n, late as f64 / n)
}

fn impaired(seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        loss: 0.05,
        duplicate: 0.03,
        reorder: 0.04,
        ..FaultConfig::default()
    }
}

#[test]
fn tx_faults_repeat_with_the_seed_and_hit_the_fractions() {
    let (a, sa, _) = run(impaired(11), FaultConfig::default());
    let (b, sb, _) = run(impaired(11), FaultConfig::default());
    assert!(a == b, "same seed, different outcome");
    assert_eq!(sa, sb);
    let (c, _, _) = run(impaired(12), FaultConfig::default());
    assert!(a != c, "different seeds, same outcome");
    let (lost, dup, late) = measure(&a);
    assert!((0.04..0.06).contains(&lost), "lost {lost}");
    // Duplicates are drawn among survivors: 0.95 * 0.03.
    assert!((0.02..0.037).contains(&dup), "duplicated {dup}");
    // A held frame is released after the next one; losses and held duplicates shift this a bit.
    assert!((0.025..0.05).contains(&late), "reordered {late}");
    assert_eq!(sa.delivered, a.len() as u64);
}

#[test]
fn rx_faults_impair_received_frames() {
    let (a, _, ra) = run(FaultConfig::default(), impaired(5));
    let (b, _, rb) = run(FaultConfig::default(), impaired(5));
    assert!(a == b, "same seed, different outcome");
    assert_eq!(ra, rb);
    let (lost, dup, late) = measure(&a);
    assert!((0.04..0.06).contains(&lost), "lost {lost}");
    assert!((0.02..0.037).contains(&dup), "duplicated {dup}");
    assert!((0.025..0.05).contains(&late), "reordered {late}");
}

#[test]
fn no_faults_is_a_clean_link() {
    let (a, s, _) = run(FaultConfig::seeded(1), FaultConfig::seeded(2));
    assert!(
        a == (0..N).collect::<Vec<_>>(),
        "clean link changed the stream"
    );
    assert_eq!(s.lost + s.duplicated + s.reordered, 0);
}

#[test]
fn delay_holds_frames_at_least_that_long() {
    let delay = Duration::from_millis(30);
    let sw = MemSwitch::new(MemConfig::default()).unwrap();
    let mut a = Fault::new(
        sw.port(0),
        FaultConfig {
            delay,
            ..FaultConfig::seeded(3)
        },
        FaultConfig::default(),
    );
    let mut pb = sw.port(1);
    let (mut qa, mut qb) = (a.queue(0).unwrap(), pb.queue(0).unwrap());
    let mut burst = Burst::new();
    let mut f = qa.tx_alloc().unwrap();
    frame(&mut f, 1);
    let _ = burst.push(f);
    let t0 = Instant::now();
    assert_eq!(qa.tx_burst(&mut burst).unwrap(), 1);
    let mut rx = Burst::new();
    loop {
        qa.wait_rx(Duration::from_millis(5)).unwrap();
        qa.rx_burst(&mut Burst::new()).unwrap();
        if qb.rx_burst(&mut rx).unwrap() > 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "delayed frame never arrived"
        );
    }
    assert!(t0.elapsed() >= delay, "arrived after {:?}", t0.elapsed());
    assert_eq!(seq_of(&rx[0]), 1);
}

/// The wrappers keep the queue contract: the conformance suite passes through `Pcap<Fault<mem>>`.
#[test]
fn wrappers_pass_conformance() {
    use mtcp_io::conformance::{self, Ctx};
    use mtcp_io::pcap::Pcap;
    let sw = MemSwitch::new(MemConfig {
        ring_size: 256,
        pool_size: 1024,
        ..MemConfig::default()
    })
    .unwrap();
    let path = std::env::temp_dir().join(format!("mtcp-io-wrapped-{}.pcap", std::process::id()));
    let mut a = Pcap::create(
        Fault::new(sw.port(0), FaultConfig::seeded(1), FaultConfig::seeded(2)),
        &path,
    )
    .unwrap();
    let mut b = Fault::new(sw.port(1), FaultConfig::seeded(3), FaultConfig::seeded(4));
    let ctx = Ctx::new(a.info().mac, b.info().mac);
    let (mut qa, mut qb) = (a.queue(0).unwrap(), b.queue(0).unwrap());
    let partial = conformance::run_all(&mut qa, &mut qb, &ctx, 1500).unwrap();
    assert!(
        partial.observed,
        "the wrapper's hold must fill and push back: {partial:?}"
    );
    drop((qa, qb, a, b));
    assert_eq!(sw.buffers_free(), sw.buffers_total());
    std::fs::remove_file(&path).unwrap();
}
