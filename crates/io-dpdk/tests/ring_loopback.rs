//! Pure-DPDK loopback on `net_ring` vdevs: bursts, mbuf ownership, partial transmit, pool leak
//! check, the busy-polling `wait_rx`, the threads that poll becoming lcores, and the set-up errors. Needs root (DPDK's EAL); one EAL per process, shared by the tests.
#![cfg(feature = "dpdk")]

mod common;

use std::time::{Duration, Instant};

use mtcp_io::{Burst, Device, Queue, Steering, TxFrame};
use mtcp_io_dpdk::{DpdkConfig, DpdkTxFrame, Eal, Error};

fn config() -> DpdkConfig {
    DpdkConfig::parse(&format!(
        "num_cores = 2\n\
         port = net_ring0\n\
         num_mbufs = 4095\n\
         file_prefix = mtcp-ring-{}\n\
         eal_args = --vdev=net_ring0 --vdev=net_ring1 --vdev=net_ring2 --vdev=net_ring3 --log-level=lib.eal:notice\n",
        std::process::id()
    ))
    .expect("valid config")
}

/// The tests take turns: `wait_rx` waits only while one port runs in the process.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn eal() -> &'static Eal {
    Eal::init(&config()).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes a recognisable frame: queue, sequence number, and a length that varies with it.
fn fill(frame: &mut DpdkTxFrame, queue: u8, seq: u32) {
    let len = 60 + (seq as usize * 7) % 1400;
    frame.set_len(len);
    frame.fill(queue);
    frame[0..4].copy_from_slice(&seq.to_be_bytes());
}

fn check(frame: &[u8], queue: u8, seq: u32) {
    assert_eq!(
        frame.len(),
        60 + (seq as usize * 7) % 1400,
        "length of frame {seq}"
    );
    assert_eq!(frame[0..4], seq.to_be_bytes(), "sequence number");
    assert!(
        frame[4..].iter().all(|&b| b == queue),
        "payload of frame {seq} on queue {queue}"
    );
}

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn loopback_bursts_partial_tx_and_no_leak() {
    common::require_root("loopback_bursts_partial_tx_and_no_leak");
    let _turn = turn();
    let config = config();
    let eal = eal();
    let mut port = eal
        .open("net_ring0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let info = port.info().clone();
    assert_eq!(info.num_queues, 2);
    assert_eq!(info.steering, Steering::None, "net_ring has no RSS");
    assert_eq!(port.driver(), "net_ring");
    assert!(matches!(
        eal.open("net_ring0", &config),
        Err(Error::PortInUse(_))
    ));

    let mut q0 = port.queue(0).unwrap();
    let mut q1 = port.queue(1).unwrap();
    assert!(port.queue(0).is_err(), "a queue is handed out once");
    assert!(port.queue(2).is_err(), "no third queue");
    let start0 = port.pool_available(0).unwrap();
    let start1 = port.pool_available(1).unwrap();
    assert_eq!(
        start0, config.num_mbufs,
        "ring PMD keeps no mbufs in its rx queues"
    );

    // One full burst out and back on queue 0; queue 1 sees nothing (each ring is its own loop).
    let mut tx: Burst<DpdkTxFrame> = Burst::new();
    assert_eq!(q0.tx_alloc_burst(&mut tx, 64), 64);
    assert_eq!(port.pool_available(0).unwrap(), start0 - 64);
    for (seq, frame) in tx.iter_mut().enumerate() {
        assert!(frame.capacity() >= 1514, "capacity {}", frame.capacity());
        fill(frame, 0, seq as u32);
    }
    assert_eq!(q0.tx_burst(&mut tx).unwrap(), 64);
    assert!(tx.is_empty());
    let mut rx = Burst::new();
    assert_eq!(q1.rx_burst(&mut rx).unwrap(), 0);
    assert_eq!(q0.rx_burst(&mut rx).unwrap(), 64);
    for (seq, frame) in rx.iter().enumerate() {
        check(frame, 0, seq as u32);
    }
    rx.clear();
    assert_eq!(
        port.pool_available(0).unwrap(),
        start0,
        "received frames went back to the pool"
    );

    // Fill the ring until a burst goes out only in part: the rest stays ours, intact.
    let mut sent_total = 0u32;
    let mut seq = 0u32;
    let mut partial = None;
    for _ in 0..config.num_mbufs / 64 + 2 {
        q0.tx_alloc_burst(&mut tx, 64);
        for frame in tx.iter_mut() {
            fill(frame, 0, seq);
            seq += 1;
        }
        let sent = q0.tx_burst(&mut tx).unwrap();
        sent_total += sent as u32;
        if !tx.is_empty() {
            partial = Some(sent);
            break;
        }
    }
    let partial = partial.expect("the ring never filled up: no partial burst");
    assert!(partial < 64);
    let first_unsent = sent_total;
    assert_eq!(tx.len(), 64 - partial);
    for (i, frame) in tx.iter().enumerate() {
        check(frame, 0, first_unsent + i as u32);
    }
    // Retrying while full sends nothing and keeps everything.
    assert_eq!(q0.tx_burst(&mut tx).unwrap(), 0);
    assert_eq!(tx.len(), 64 - partial);
    assert_eq!(
        port.pool_available(0).unwrap(),
        start0 - sent_total - tx.len() as u32
    );
    tx.clear();
    assert_eq!(
        port.pool_available(0).unwrap(),
        start0 - sent_total,
        "unsent frames freed on drop"
    );

    let mut received = 0u32;
    loop {
        let n = q0.rx_burst(&mut rx).unwrap();
        if n == 0 {
            break;
        }
        for frame in rx.iter() {
            check(frame, 0, received);
            received += 1;
        }
        rx.clear();
    }
    assert_eq!(received, sent_total);
    assert_eq!(port.pool_available(0).unwrap(), start0, "no mbuf leaked");

    // Exhaust the pool: allocation fails cleanly, and everything comes back.
    let mut held: Vec<Burst<DpdkTxFrame>> = Vec::new();
    loop {
        let mut b = Burst::new();
        let n = q0.tx_alloc_burst(&mut b, 64);
        if n == 0 {
            break;
        }
        held.push(b);
    }
    assert!(q0.tx_alloc().is_none());
    assert_eq!(held.iter().map(|b| b.len() as u32).sum::<u32>(), start0);
    drop(held);
    assert_eq!(port.pool_available(0).unwrap(), start0);

    // Queue 1 from another thread (queues are Send), with its own pool.
    let worker = std::thread::spawn(move || {
        let mut tx: Burst<DpdkTxFrame> = Burst::new();
        let n = q1.tx_alloc_burst(&mut tx, 10);
        assert_eq!(n, 10);
        for (seq, frame) in tx.iter_mut().enumerate() {
            fill(frame, 1, seq as u32);
        }
        assert_eq!(q1.tx_burst(&mut tx).unwrap(), 10);
        let mut rx = Burst::new();
        assert_eq!(q1.rx_burst(&mut rx).unwrap(), 10);
        for (seq, frame) in rx.iter().enumerate() {
            check(frame, 1, seq as u32);
        }
        // Hand received frames back to the spawning thread: they are Send and free there.
        rx
    });
    let rx1 = worker.join().unwrap();
    assert_eq!(port.pool_available(1).unwrap(), start1 - 10);
    drop(rx1);
    assert_eq!(port.pool_available(1).unwrap(), start1);
    assert_eq!(q0.rx_dropped(), 0);
}

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn setup_errors_are_clear() {
    common::require_root("setup_errors_are_clear");
    let _turn = turn();
    let eal = eal();
    // Same arguments: the running EAL; other arguments: a clear refusal.
    assert!(std::ptr::eq(eal, Eal::init(&config()).unwrap()));
    let mut other = config();
    other.eal_args.push("--vdev=net_null0".into());
    let e = Eal::init(&other).unwrap_err();
    assert!(matches!(e, Error::EalAlreadyInitialised(_)), "{e}");

    let e = eal.open("net_ring7", &config()).unwrap_err();
    assert!(matches!(&e, Error::NoPort { .. }), "{e}");
    assert!(
        e.to_string().contains("net_ring1"),
        "lists present ports: {e}"
    );
    let e = eal.open("dpdk31", &config()).unwrap_err();
    assert!(matches!(&e, Error::NoPort { .. }), "{e}");

    // 16 million mbufs do not fit in 256 MiB.
    let mut huge = config();
    huge.num_mbufs = 16 << 20;
    let e = eal.open("net_ring1", &huge).unwrap_err();
    assert!(matches!(&e, Error::NoMemory { .. }), "{e}");

    // net_ring offers 16 queue pairs.
    let mut many = config();
    many.num_cores = Some(17);
    let e = eal.open("net_ring1", &many).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::TooManyQueues {
                max: 16,
                wanted: 17,
                ..
            }
        ),
        "{e}"
    );

    // Skipping checksums is for net_memif links alone.
    let mut trusting = config();
    trusting.trust_checksums = true;
    let e = eal.open("net_ring1", &trusting).unwrap_err();
    assert!(matches!(&e, Error::Config(_)), "{e}");
    assert!(e.to_string().contains("net_memif"), "{e}");

    // After those failures the port still opens.
    let mut port = eal
        .open("net_ring1", &config())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(port.info().num_queues, 2);
    assert_ne!(port.info().mac.0, [0; 6]);
    assert!(
        port.info().mac.0[0] & 0x02 != 0,
        "locally administered: {}",
        port.info().mac
    );
    let q = port.queue(1).unwrap();
    // Once the device and its queues are gone the port is stopped and may be opened again.
    drop(port);
    assert!(
        matches!(eal.open("net_ring1", &config()), Err(Error::PortInUse(_))),
        "a queue still holds it"
    );
    drop(q);
    let mut port = eal
        .open("net_ring1", &config())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut q = port.queue(1).unwrap();
    let mut tx: Burst<DpdkTxFrame> = Burst::new();
    assert_eq!(q.tx_alloc_burst(&mut tx, 3), 3);
    for (seq, frame) in tx.iter_mut().enumerate() {
        fill(frame, 1, seq as u32);
    }
    assert_eq!(q.tx_burst(&mut tx).unwrap(), 3);
    let mut rx = Burst::new();
    assert_eq!(
        q.rx_burst(&mut rx).unwrap(),
        3,
        "the reopened port loops back"
    );
    check(&rx[2], 1, 2);
}

/// Sends frames `seqs` on `q` (net_ring loops them back to it).
fn send(q: &mut mtcp_io_dpdk::DpdkQueue, seqs: std::ops::Range<u32>) {
    let mut tx: Burst<DpdkTxFrame> = Burst::new();
    let n = seqs.len();
    assert_eq!(q.tx_alloc_burst(&mut tx, n), n);
    for (frame, seq) in tx.iter_mut().zip(seqs) {
        fill(frame, 2, seq);
    }
    assert_eq!(q.tx_burst(&mut tx).unwrap(), n);
}

/// `wait_rx` busy-polls: it ends when a frame comes (which the next `rx_burst` hands out first,
/// in order) or the thread's doorbell rings, else when its time is up, and at once while another
/// port runs; frames it took and nobody received go back to the pool with the queue. The bounds are far apart (a wait that should end
/// at once against one of a minute), so a loaded machine cannot fail them.
#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn wait_rx_polls_until_a_frame_or_the_doorbell() {
    common::require_root("wait_rx_polls_until_a_frame_or_the_doorbell");
    let _turn = turn();
    let config = config();
    let mut port = eal()
        .open("net_ring2", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut q = port.queue(0).unwrap();
    let start = port.pool_available(0).unwrap();

    // Nothing comes: the wait lasts its length, and says it heeds the doorbell.
    let t = Instant::now();
    q.wait_rx(Duration::from_millis(20)).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(mtcp_io::doorbell::heeded());

    // Frames end a long wait; they come out first, then what arrived after them.
    send(&mut q, 0..3);
    let t = Instant::now();
    q.wait_rx(Duration::from_secs(60)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    send(&mut q, 3..5);
    let mut rx = Burst::new();
    assert_eq!(q.rx_burst(&mut rx).unwrap(), 5);
    for (seq, frame) in rx.iter().enumerate() {
        check(frame, 2, seq as u32);
    }
    rx.clear();
    assert_eq!(port.pool_available(0).unwrap(), start);

    // The doorbell ends a wait without frames.
    mtcp_io::doorbell::current().store(true, std::sync::atomic::Ordering::Release);
    let t = Instant::now();
    q.wait_rx(Duration::from_secs(60)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    mtcp_io::doorbell::clear();

    // With a second port running, a frame may come there: the wait returns at once.
    let other = eal()
        .open("net_ring0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    q.wait_rx(Duration::from_secs(60)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    drop(other);

    // Frames a wait took but nobody received are freed with the queue.
    send(&mut q, 0..4);
    q.wait_rx(Duration::from_secs(60)).unwrap();
    assert!(port.pool_available(0).unwrap() < start);
    drop(q);
    assert_eq!(port.pool_available(0).unwrap(), start, "no mbuf leaked");
}

/// A thread that uses a queue becomes an lcore (so the mbuf pool serves it from a per-lcore
/// cache) and gives its lcore id back when it ends: more threads than DPDK has lcore ids (128)
/// each get one in turn, and every mbuf they used comes back.
#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn polling_threads_become_lcores_and_give_them_back() {
    common::require_root("polling_threads_become_lcores_and_give_them_back");
    let _turn = turn();
    let config = config();
    let mut port = eal()
        .open("net_ring3", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut q = port.queue(0).unwrap();
    let start = port.pool_available(0).unwrap();
    for round in 0..200u32 {
        let worker = std::thread::spawn(move || {
            assert_eq!(
                mtcp_io_dpdk::current_lcore(),
                None,
                "a fresh thread has none"
            );
            send(&mut q, round..round + 4);
            let mut rx = Burst::new();
            assert_eq!(q.rx_burst(&mut rx).unwrap(), 4);
            for (i, frame) in rx.iter().enumerate() {
                check(frame, 2, round + i as u32);
            }
            let lcore = mtcp_io_dpdk::current_lcore();
            (q, lcore)
        });
        let (back, lcore) = worker.join().unwrap();
        q = back;
        assert!(lcore.is_some(), "thread {round} got no lcore id");
    }
    assert_eq!(port.pool_available(0).unwrap(), start, "no mbuf leaked");
}
