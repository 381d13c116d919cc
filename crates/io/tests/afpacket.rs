//! The AF_PACKET backend over veth pairs, inside network namespaces the tests create.
mod common;

use mtcp_io::afpacket::{AfPacketConfig, AfPacketDevice};
use mtcp_io::conformance::{self, Ctx};
use mtcp_io::{Device, Steering};
use mtcp_testkit::{Netns, require_root, unique_name};

fn open_in(ns: &Netns, cfg: AfPacketConfig) -> AfPacketDevice {
    ns.run(move || AfPacketDevice::open(&cfg)).unwrap().unwrap()
}

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn kernel_pings_our_responder_over_afpacket() {
    if !require_root("kernel_pings_our_responder_over_afpacket") {
        return;
    }
    // Our end of the veth in one namespace (no kernel address on it), the kernel peer in another.
    let ours = Netns::new(&unique_name("ioa")).unwrap();
    let peer = Netns::new(&unique_name("iop")).unwrap();
    let (a, b) = ours.veth_pair("va", "vb").unwrap();
    ours.move_link(&b, &peer).unwrap();
    peer.exec_ok(&["ip", "addr", "add", "198.18.2.1/24", "dev", &b])
        .unwrap();
    peer.exec_ok(&["ip", "link", "set", &b, "up"]).unwrap();
    let mut dev = open_in(&ours, AfPacketConfig::new(&a));
    assert_eq!(dev.info().mtu, 1500);
    let q = dev.queue(0).unwrap();
    let mac = dev.info().mac;
    common::kernel_pings_responder(&peer, q, mac, "198.18.2.2".parse().unwrap());
}

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn afpacket_passes_conformance_over_veth() {
    if !require_root("afpacket_passes_conformance_over_veth") {
        return;
    }
    let ns = Netns::new(&unique_name("ioc")).unwrap();
    let (a, b) = ns.veth_pair("ca", "cb").unwrap();
    let mut da = open_in(&ns, AfPacketConfig::new(&a));
    let mut db = open_in(&ns, AfPacketConfig::new(&b));
    let ctx = Ctx::new(da.info().mac, db.info().mac);
    let mtu = da.info().mtu;
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    let partial = conformance::run_all(&mut qa, &mut qb, &ctx, mtu).unwrap();
    eprintln!("afpacket partial tx: {partial:?}");
}

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn jumbo_frames_pass_with_big_slots() {
    if !require_root("jumbo_frames_pass_with_big_slots") {
        return;
    }
    let ns = Netns::new(&unique_name("ioj")).unwrap();
    let (a, b) = ns.veth_pair("ja", "jb").unwrap();
    for dev in [&a, &b] {
        ns.exec_ok(&["ip", "link", "set", dev, "mtu", "9000"])
            .unwrap();
    }
    let cfg = |name: &str| AfPacketConfig {
        tx_frame_size: 1 << 14,
        ..AfPacketConfig::new(name)
    };
    let mut da = open_in(&ns, cfg(&a));
    let mut db = open_in(&ns, cfg(&b));
    assert_eq!(da.info().mtu, 9000);
    let ctx = Ctx::new(da.info().mac, db.info().mac);
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    conformance::max_size_frames(&mut qa, &mut qb, &ctx, 9000).unwrap();
}

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn fanout_queues_share_the_traffic() {
    if !require_root("fanout_queues_share_the_traffic") {
        return;
    }
    let ns = Netns::new(&unique_name("iof")).unwrap();
    let (a, b) = ns.veth_pair("fa", "fb").unwrap();
    let mut cfg = AfPacketConfig::new(&b);
    cfg.queues = 2;
    let mut rx = open_in(&ns, cfg);
    assert_eq!(rx.info().steering, Steering::Opaque);
    let mut tx = open_in(&ns, AfPacketConfig::new(&a));
    let mut qs = [rx.queue(0).unwrap(), rx.queue(1).unwrap()];
    let mut qa = tx.queue(0).unwrap();
    // Many UDP flows (distinct ports): each must arrive once, on some queue; flows never split.
    use mtcp_io::{Burst, Queue, TxFrame};
    let flows = 64u16;
    let per_flow = 4u16;
    let (src, dst) = (tx.info().mac, rx.info().mac);
    let mut sent = 0;
    for round in 0..per_flow {
        let mut burst: Burst<_> = Burst::new();
        for flow in 0..flows {
            let mut f = qa.tx_alloc().unwrap();
            f.set_len(60);
            f.fill(0);
            f[0..6].copy_from_slice(&dst.0);
            f[6..12].copy_from_slice(&src.0);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f[14] = 0x45;
            f[16..18].copy_from_slice(&46u16.to_be_bytes());
            f[22] = 64;
            f[23] = 17;
            f[26..30].copy_from_slice(&[198, 18, 3, 1]);
            f[30..34].copy_from_slice(&[198, 18, 3, 2]);
            f[34..36].copy_from_slice(&(10000 + flow).to_be_bytes());
            f[36..38].copy_from_slice(&9u16.to_be_bytes());
            f[38..40].copy_from_slice(&26u16.to_be_bytes());
            f[42..44].copy_from_slice(&round.to_be_bytes());
            let _ = burst.push(f);
        }
        while !burst.is_empty() {
            sent += qa.tx_burst(&mut burst).unwrap();
        }
    }
    let mut seen = std::collections::HashMap::<u16, (usize, u16)>::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut got = 0;
    while got < sent && std::time::Instant::now() < deadline {
        for (qi, q) in qs.iter_mut().enumerate() {
            let mut burst: Burst<_> = Burst::new();
            q.rx_burst(&mut burst).unwrap();
            for f in burst.iter() {
                if f.len() < 44
                    || f[12..14] != [0x08, 0x00]
                    || f[23] != 17
                    || f[26..30] != [198, 18, 3, 1]
                {
                    continue;
                }
                let port = u16::from_be_bytes([f[34], f[35]]);
                let entry = seen.entry(port).or_insert((qi, 0));
                assert_eq!(entry.0, qi, "flow {port} split over queues");
                entry.1 += 1;
                got += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(got, sent, "frames lost or duplicated in the fanout group");
    assert!(seen.values().all(|&(_, n)| n == per_flow));
    let on_q0 = seen.values().filter(|(q, _)| *q == 0).count();
    assert!(
        on_q0 > 0 && on_q0 < usize::from(flows),
        "fanout used one queue only ({on_q0} of {flows} flows on queue 0)"
    );
}

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn small_tx_ring_pushes_back_and_keeps_the_rest() {
    if !require_root("small_tx_ring_pushes_back_and_keeps_the_rest") {
        return;
    }
    let ns = Netns::new(&unique_name("ior")).unwrap();
    let (a, b) = ns.veth_pair("ra", "rb").unwrap();
    let mut da = open_in(
        &ns,
        AfPacketConfig {
            tx_frames: 2,
            ..AfPacketConfig::new(&a)
        },
    );
    let mut db = open_in(&ns, AfPacketConfig::new(&b));
    let ctx = Ctx::new(da.info().mac, db.info().mac);
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    let partial = conformance::partial_tx(&mut qa, &mut qb, &ctx, 1024).unwrap();
    assert!(
        partial.observed,
        "a two-slot ring took a whole burst: {partial:?}"
    );
    // And the ring still works afterwards.
    conformance::burst_in_order(
        &mut qa,
        &mut qb,
        &Ctx {
            tag: ctx.tag ^ 1,
            ..ctx
        },
        200,
    )
    .unwrap();
}

/// A UDP datagram from the kernel peer over veth: with the peer's default offloads its checksum is
/// left to "hardware" and the frame reports `Good`; with offloads off (`Netns::disable_offloads`)
/// the checksum is complete and verifies in software.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn kernel_checksums_reported_or_complete() {
    use mtcp_io::{Burst, ChecksumStatus, Queue, RxFrame};
    use mtcp_wire::{ChecksumCapabilities, Frame, Network, Transport};
    if !require_root("kernel_checksums_reported_or_complete") {
        return;
    }
    if !mtcp_testkit::have_program("python3") || !mtcp_testkit::have_program("ethtool") {
        eprintln!("skipping kernel_checksums_reported_or_complete: needs python3 and ethtool");
        return;
    }
    let ours = Netns::new(&unique_name("iok")).unwrap();
    let peer = Netns::new(&unique_name("iop")).unwrap();
    let (a, b) = ours.veth_pair("ka", "kb").unwrap();
    ours.move_link(&b, &peer).unwrap();
    peer.exec_ok(&["ip", "addr", "add", "198.18.6.1/24", "dev", &b])
        .unwrap();
    peer.exec_ok(&["ip", "link", "set", &b, "up"]).unwrap();
    let mut dev = open_in(&ours, AfPacketConfig::new(&a));
    let mac = dev.info().mac.to_string();
    peer.exec_ok(&[
        "ip",
        "neigh",
        "replace",
        "198.18.6.2",
        "lladdr",
        &mac,
        "dev",
        &b,
        "nud",
        "permanent",
    ])
    .unwrap();
    let mut q = dev.queue(0).unwrap();
    let send = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.sendto(b'checksum me please',('198.18.6.2',7777))\n";
    let receive_one = |q: &mut mtcp_io::afpacket::AfPacketQueue| -> (Vec<u8>, ChecksumStatus) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let mut burst = Burst::new();
            q.rx_burst(&mut burst).unwrap();
            for f in burst.iter() {
                if f.len() >= 42
                    && f[12..14] == [8, 0]
                    && f[23] == 17
                    && f[36..38] == 7777u16.to_be_bytes()
                {
                    return (f.to_vec(), f.meta().l4_checksum);
                }
            }
            q.wait_rx(std::time::Duration::from_millis(10)).unwrap();
        }
        panic!("datagram never arrived");
    };
    let udp_ok = |bytes: &[u8]| {
        matches!(
            Frame::parse(bytes, &ChecksumCapabilities::software()),
            Ok(Frame {
                network: Network::Ipv4(_, Transport::Udp(_)),
                ..
            })
        )
    };
    peer.exec_ok(&["python3", "-c", send]).unwrap();
    let (first, status) = receive_one(&mut q);
    eprintln!(
        "default offloads: l4 checksum {status:?}, verifies in software: {}",
        udp_ok(&first)
    );
    if status != ChecksumStatus::Good {
        // The kernel completed the checksum itself: then it must verify.
        assert!(udp_ok(&first), "checksum neither reported nor valid");
    }
    peer.disable_offloads(&b).unwrap();
    peer.exec_ok(&["python3", "-c", send]).unwrap();
    let (second, _) = receive_one(&mut q);
    assert!(
        udp_ok(&second),
        "offloads off, yet the UDP checksum does not verify"
    );
}
