//! Against a real `/dev/netmap`: two VALE ports exchanging frames, and the errors a user meets.
//! Tests that need the netmap module are `#[ignore]`d and named `netmap_module_*` (skipped by
//! `scripts/test-all`: no module on CI machines); they fail with the reason where it is not loaded.

use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_io_netmap::{NetmapDevice, NetmapError};
use std::path::Path;
use std::time::{Duration, Instant};

fn netmap_present() -> bool {
    Path::new("/dev/netmap").exists()
}

fn skip(test: &str) -> bool {
    assert!(
        netmap_present(),
        "{test}: /dev/netmap does not exist (netmap kernel module not loaded)"
    );
    false
}

#[test]
fn without_the_module_open_says_so() {
    if netmap_present() {
        eprintln!("skipping without_the_module_open_says_so: /dev/netmap exists here");
        return;
    }
    let Err(e) = NetmapDevice::open("vale0:x") else {
        panic!("opened netmap without /dev/netmap")
    };
    assert!(matches!(e, NetmapError::NoDevice { .. }), "{e}");
    assert!(e.to_string().contains("/dev/netmap"), "{e}");
}

#[test]
#[ignore = "needs the netmap kernel module (/dev/netmap)"]
fn netmap_module_unknown_interface_is_a_clear_error() {
    if skip("unknown_interface_is_a_clear_error") {
        return;
    }
    let name = format!("netmap:nosuch{}", std::process::id() % 100_000);
    let Err(e) = NetmapDevice::open(&name) else {
        panic!("opened {name}")
    };
    assert!(matches!(e, NetmapError::UnknownPort { .. }), "{e}");
}

#[test]
#[ignore = "needs the netmap kernel module (/dev/netmap)"]
fn netmap_module_two_vale_ports_exchange_frames() {
    if skip("two_vale_ports_exchange_frames") {
        return;
    }
    // A switch of our own, so parallel tests and other users do not see our frames.
    let switch = format!("vale{}", std::process::id() % 100_000);
    let mut a = NetmapDevice::open(&format!("{switch}:a")).expect("VALE port a");
    let mut b = NetmapDevice::open(&format!("{switch}:b")).expect("VALE port b");
    assert_eq!(a.info().num_queues, 1);
    let (mut qa, mut qb) = (a.queue(0).unwrap(), b.queue(0).unwrap());
    let src = a.info().mac.0;
    let mut tx = Burst::new();
    for seq in 0u8..32 {
        let mut f = qa.tx_alloc().expect("tx buffer");
        f.set_len(60 + usize::from(seq));
        f[..6].copy_from_slice(&[0xff; 6]); // broadcast: the switch floods it to b
        f[6..12].copy_from_slice(&src);
        f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
        f[14] = seq;
        tx.push(f).ok().unwrap();
    }
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !tx.is_empty() && Instant::now() < deadline {
        sent += qa.tx_burst(&mut tx).unwrap();
    }
    assert_eq!(sent, 32);
    let mut got = Vec::new();
    while got.len() < 32 && Instant::now() < deadline {
        qb.wait_rx(Duration::from_millis(100)).unwrap();
        let mut rx = Burst::new();
        qb.rx_burst(&mut rx).unwrap();
        for f in rx.iter() {
            assert_eq!(f.len(), 60 + usize::from(f[14]));
            assert_eq!(&f[6..12], &src);
            got.push(f[14]);
        }
    }
    assert_eq!(got, (0u8..32).collect::<Vec<_>>());
}

#[test]
#[ignore = "needs the netmap kernel module (/dev/netmap)"]
fn netmap_module_the_two_ends_of_a_pipe_exchange_frames() {
    if skip("the_two_ends_of_a_pipe_exchange_frames") {
        return;
    }
    // The pipe's parent: a VALE port of a switch of our own, kept registered meanwhile.
    let parent = format!("vale{}p:a", std::process::id() % 100_000);
    let _parent = NetmapDevice::open(&parent).expect("parent port");
    let mut master = NetmapDevice::open(&format!("{parent}{{7")).expect("pipe master");
    let mut slave = NetmapDevice::open(&format!("{parent}}}7")).expect("pipe slave");
    let (mut qm, mut qs) = (master.queue(0).unwrap(), slave.queue(0).unwrap());
    let mut tx = Burst::new();
    for seq in 0u8..16 {
        let mut f = qm.tx_alloc().expect("tx buffer");
        f.set_len(64);
        f.fill(seq);
        tx.push(f).ok().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut sent = 0;
    while !tx.is_empty() && Instant::now() < deadline {
        sent += qm.tx_burst(&mut tx).unwrap();
    }
    assert_eq!(sent, 16);
    let mut got = Vec::new();
    while got.len() < 16 && Instant::now() < deadline {
        qs.wait_rx(Duration::from_millis(100)).unwrap();
        let mut rx = Burst::new();
        qs.rx_burst(&mut rx).unwrap();
        got.extend(rx.iter().map(|f| (f.len(), f[63])));
    }
    assert_eq!(got, (0u8..16).map(|s| (64, s)).collect::<Vec<_>>());
}
