//! The AF_PACKET backend over veth pairs, inside network namespaces the tests create.
use mtcp_testkit::responder as common;

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
    require_root("kernel_pings_our_responder_over_afpacket");
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
    require_root("afpacket_passes_conformance_over_veth");
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
    require_root("jumbo_frames_pass_with_big_slots");
    let ns = Netns::new(&unique_name("ioj")).unwrap();
    let (a, b) = ns.veth_pair("ja", "jb").unwrap();
    for dev in [&a, &b] {
        ns.exec_ok(&["ip", "link", "set", dev, "mtu", "9000"])
            .unwrap();
    }
    // Through the transmit ring's slots, and gathered.
    for tx_gather in [false, true] {
        let cfg = |name: &str| AfPacketConfig {
            tx_frame_size: 1 << 14,
            tx_gather,
            ..AfPacketConfig::new(name)
        };
        let mut da = open_in(&ns, cfg(&a));
        let mut db = open_in(&ns, cfg(&b));
        assert_eq!(da.info().mtu, 9000);
        let ctx = Ctx::new(da.info().mac, db.info().mac);
        let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
        conformance::max_size_frames(&mut qa, &mut qb, &ctx, 9000).unwrap();
    }
}

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn fanout_queues_share_the_traffic() {
    require_root("fanout_queues_share_the_traffic");
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
    require_root("small_tx_ring_pushes_back_and_keeps_the_rest");
    let ns = Netns::new(&unique_name("ior")).unwrap();
    let (a, b) = ns.veth_pair("ra", "rb").unwrap();
    let mut da = open_in(
        &ns,
        AfPacketConfig {
            tx_frames: 2,
            tx_gather: false,
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
    require_root("kernel_checksums_reported_or_complete");
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

/// Measurement, not a pass/fail speed check: the kernel peer pings our responder 200 times, 2 ms
/// apart, and the test prints the round-trip times it saw (`-- --ignored --nocapture`). Every
/// echo must come back. Before the receive ring moved to per-frame TPACKET_V2 slots, a frame sat
/// in a TPACKET_V3 block until the block's retire timer fired (milliseconds per round trip).
#[test]
#[ignore = "measurement: prints ping round-trip times over afpacket"]
fn ping_round_trip_over_afpacket() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    require_root("ping_round_trip_over_afpacket");
    let ours = Netns::new(&unique_name("ior")).unwrap();
    let peer = Netns::new(&unique_name("iop")).unwrap();
    let (a, b) = ours.veth_pair("ra", "rb").unwrap();
    ours.move_link(&b, &peer).unwrap();
    peer.exec_ok(&["ip", "addr", "add", "198.18.7.1/24", "dev", &b])
        .unwrap();
    peer.exec_ok(&["ip", "link", "set", &b, "up"]).unwrap();
    let mut dev = open_in(&ours, AfPacketConfig::new(&a));
    let q = dev.queue(0).unwrap();
    let mac = dev.info().mac;
    let stop = Arc::new(AtomicBool::new(false));
    let responder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || common::respond(q, mac, "198.18.7.2".parse().unwrap(), stop))
    };
    let out = peer
        .exec(&[
            "ping",
            "-q",
            "-c",
            "200",
            "-i",
            "0.002",
            "-W",
            "2",
            "198.18.7.2",
        ])
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    responder.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ping failed: {text}");
    assert_eq!(common::ping_received(&text), 200, "{text}");
    let rtt = text
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .unwrap_or("");
    eprintln!("afpacket ping rtt: {rtt}");
}

/// A UDP GSO send of 5000 bytes from the kernel peer with default offloads may reach the veth as
/// one super-frame bigger than a receive slot: the kernel cuts it to the slot, and such a frame
/// must be dropped, never handed up short. Every frame we get is whole (its IPv4 total length
/// fits), and the small datagram sent after it arrives.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn frames_cut_short_by_the_slot_are_not_handed_up() {
    use mtcp_io::{Burst, Queue};
    require_root("frames_cut_short_by_the_slot_are_not_handed_up");
    if !mtcp_testkit::have_program("python3") {
        eprintln!("skipping frames_cut_short_by_the_slot_are_not_handed_up: needs python3");
        return;
    }
    let ours = Netns::new(&unique_name("iot")).unwrap();
    let peer = Netns::new(&unique_name("iop")).unwrap();
    let (a, b) = ours.veth_pair("ta", "tb").unwrap();
    ours.move_link(&b, &peer).unwrap();
    peer.exec_ok(&["ip", "addr", "add", "198.18.8.1/24", "dev", &b])
        .unwrap();
    peer.exec_ok(&["ip", "link", "set", &b, "up"]).unwrap();
    let mut dev = open_in(&ours, AfPacketConfig::new(&a));
    let mac = dev.info().mac.to_string();
    peer.exec_ok(&[
        "ip",
        "neigh",
        "replace",
        "198.18.8.2",
        "lladdr",
        &mac,
        "dev",
        &b,
        "nud",
        "permanent",
    ])
    .unwrap();
    let mut q = dev.queue(0).unwrap();
    // SOL_UDP = 17, UDP_SEGMENT = 103: one send, segmented into 1000-byte datagrams.
    let send = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                s.setsockopt(17,103,1000)\ns.sendto(b'x'*5000,('198.18.8.2',7777))\n\
                t=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                t.sendto(b'marker',('198.18.8.2',7778))\n";
    peer.exec_ok(&["python3", "-c", send]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (mut segments, mut marker) = (0, false);
    while !marker && std::time::Instant::now() < deadline {
        let mut burst = Burst::new();
        q.rx_burst(&mut burst).unwrap();
        for f in burst.iter() {
            if f.len() < 42 || f[12..14] != [8, 0] || f[23] != 17 {
                continue;
            }
            let ip_len = usize::from(u16::from_be_bytes([f[16], f[17]]));
            assert!(
                f.len() >= 14 + ip_len,
                "frame of {} bytes, IPv4 says {ip_len}",
                f.len()
            );
            match u16::from_be_bytes([f[36], f[37]]) {
                7777 => segments += 1,
                7778 => marker = true,
                _ => {}
            }
        }
        q.wait_rx(std::time::Duration::from_millis(10)).unwrap();
    }
    assert!(marker, "the datagram after the GSO send never arrived");
    eprintln!("GSO send: {segments} whole segments handed up (0: the super-frame was dropped)");
}

/// A receive slot size past the 1 MiB bound is refused with `InvalidInput`, before any socket.
#[test]
#[ignore = "needs root: a network namespace and veth"]
fn oversized_receive_slots_are_refused() {
    require_root("oversized_receive_slots_are_refused");
    let ns = Netns::new(&unique_name("ios")).unwrap();
    let (a, _b) = ns.veth_pair("sa", "sb").unwrap();
    let cfg = AfPacketConfig {
        rx_frame_size: 2 << 20,
        ..AfPacketConfig::new(&a)
    };
    let err = ns
        .run(move || AfPacketDevice::open(&cfg))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// A TCP/IPv4 frame `src` -> `dst` of `payload` bytes at `seq` with `flags`, a timestamp option,
/// IPv4 identifier 0 and both checksums complete.
fn tcp_frame(src: [u8; 6], dst: [u8; 6], seq: u32, payload: usize, flags: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 32 + payload];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + 32 + payload) as u16).to_be_bytes());
    f[20] = 0x40;
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[198, 18, 7, 2]);
    f[30..34].copy_from_slice(&[198, 18, 7, 1]);
    f[34..38].copy_from_slice(&[0x9c, 0x40, 0x13, 0x89]);
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[42..46].copy_from_slice(&77u32.to_be_bytes());
    f[46] = 8 << 4;
    f[47] = flags;
    f[48..50].copy_from_slice(&[0x10, 0x00]);
    f[54..58].copy_from_slice(&[1, 1, 8, 10]);
    f[58..62].copy_from_slice(&1234u32.to_be_bytes());
    for (i, b) in f[66..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    let ip = !checksum(&[&f[14..34]]);
    f[24..26].copy_from_slice(&ip.to_be_bytes());
    let tcp = !tcp_sum(&f);
    f[50..52].copy_from_slice(&tcp.to_be_bytes());
    f
}

/// The folded ones' complement sum of `parts` (RFC 1071; each part of even length but the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut s: u32 = 0;
    for p in parts {
        for c in p.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The TCP checksum sum (pseudo-header and segment) of an IPv4 frame.
fn tcp_sum(f: &[u8]) -> u16 {
    let len = ((f.len() - 34) as u16).to_be_bytes();
    checksum(&[&f[26..34], &[0, 6], &len, &f[34..]])
}

/// Sends 2 x (20 full segments and a short one with PSH) and a lone segment from `a` to `b`;
/// returns the TCP frames `b` received, with what was sent.
fn send_tcp_runs(ns: &Netns, a: &str, b: &str, tx_gather: bool) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let cfg = AfPacketConfig {
        tx_gather,
        ..AfPacketConfig::new(a)
    };
    send_tcp_runs_with(ns, cfg, b)
}

/// [`send_tcp_runs`] from a port opened with `cfg`.
fn send_tcp_runs_with(ns: &Netns, cfg: AfPacketConfig, b: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut da = open_in(ns, cfg);
    let mut db = open_in(ns, AfPacketConfig::new(b));
    let (src, dst) = (da.info().mac.0, db.info().mac.0);
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    let mut sent = Vec::new();
    let mut seq = 1000u32;
    for run in 0..3 {
        let (full, short) = if run < 2 { (20, 300) } else { (0, 1448) };
        for i in 0..=full {
            let last = i == full;
            let (len, flags) = if last { (short, 0x18) } else { (1448, 0x10) };
            sent.push(tcp_frame(src, dst, seq, len, flags));
            seq = seq.wrapping_add(len as u32);
        }
    }
    let got = exchange(&mut qa, &mut qb, &sent, None);
    (got, sent)
}

/// Sends `sent` from `qa` in one burst (each frame asking for `offload`, if given) and returns
/// the TCP/IPv4 frames `qb` received within 5 s.
fn exchange(
    qa: &mut mtcp_io::afpacket::AfPacketQueue,
    qb: &mut mtcp_io::afpacket::AfPacketQueue,
    sent: &[Vec<u8>],
    offload: Option<mtcp_io::TxOffload>,
) -> Vec<Vec<u8>> {
    use mtcp_io::{Burst, Queue, TxFrame};
    let mut burst: Burst<_> = Burst::new();
    for s in sent {
        let mut f = qa.tx_alloc().unwrap();
        f.set_len(s.len());
        f.copy_from_slice(s);
        if let Some(o) = offload {
            f.set_offload(o);
        }
        let _ = burst.push(f);
    }
    while !burst.is_empty() {
        qa.tx_burst(&mut burst).unwrap();
    }
    receive_tcp(qb, sent.len())
}

/// The TCP/IPv4 frames `q` receives within 5 s, until there are `n`.
fn receive_tcp(q: &mut mtcp_io::afpacket::AfPacketQueue, n: usize) -> Vec<Vec<u8>> {
    use mtcp_io::{Burst, Queue};
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while got.len() < n && std::time::Instant::now() < deadline {
        let mut burst: Burst<_> = Burst::new();
        q.rx_burst(&mut burst).unwrap();
        for f in burst.iter() {
            if f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 6 {
                got.push(f.to_vec());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    got
}

/// `f` as a stack leaves a frame whose TCP checksum the device completes: the folded
/// pseudo-header sum in the checksum field.
fn with_pseudo_sum(mut f: Vec<u8>) -> Vec<u8> {
    let len = ((f.len() - 34) as u16).to_be_bytes();
    let pseudo = checksum(&[&f[26..34], &[0, 6], &len]);
    f[50..52].copy_from_slice(&pseudo.to_be_bytes());
    f
}

/// TCP checksum offload: the port offers it, and frames that carry only the pseudo-header sum
/// and ask for it (a lone one, and a run the kernel cuts) leave the sender (offloads off: the
/// kernel computes in software) with complete checksums and otherwise as built.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn tcp_checksums_left_to_the_kernel_arrive_complete() {
    use mtcp_io::{L4Checksum, TxOffload};
    require_root("tcp_checksums_left_to_the_kernel_arrive_complete");
    if !mtcp_testkit::have_program("ethtool") {
        eprintln!("skipping tcp_checksums_left_to_the_kernel_arrive_complete: needs ethtool");
        return;
    }
    let ns = Netns::new(&unique_name("iox")).unwrap();
    let (a, b) = ns.veth_pair("xa", "xb").unwrap();
    ns.disable_offloads(&a).unwrap();
    ns.disable_offloads(&b).unwrap();
    let mut da = open_in(&ns, AfPacketConfig::new(&a));
    let mut db = open_in(&ns, AfPacketConfig::new(&b));
    assert!(da.info().checksum.tcp_tx, "TCP checksum offload offered");
    assert!(!da.info().checksum.udp_tx && !da.info().checksum.ipv4_tx);
    let (src, dst) = (da.info().mac.0, db.info().mac.0);
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    // A lone pushed segment, then a run of three.
    let mut want = vec![tcp_frame(src, dst, 1000, 700, 0x18)];
    for i in 0..3 {
        let flags = if i == 2 { 0x18 } else { 0x10 };
        want.push(tcp_frame(src, dst, 1700 + 1448 * i, 1448, flags));
    }
    // As a stack leaves them: the folded pseudo-header sum in the checksum field.
    let sent: Vec<Vec<u8>> = want.iter().cloned().map(with_pseudo_sum).collect();
    let offload = TxOffload {
        l2_len: 14,
        l3_len: 20,
        ipv4_checksum: false,
        l4_checksum: Some(L4Checksum::Tcp),
        tcp_segment: 0,
    };
    let got = exchange(&mut qa, &mut qb, &sent, Some(offload));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_as_built(g, w);
    }
}

/// `g`, a received frame, has a complete TCP checksum and is `w` but for the IPv4 identifier
/// and checksum (which the kernel's cut sets).
fn assert_as_built(g: &[u8], w: &[u8]) {
    assert_eq!(tcp_sum(g), 0xffff, "TCP checksum at {:?}", &w[38..42]);
    assert_eq!(g[..18], w[..18]);
    assert_eq!(g[20..24], w[20..24]);
    assert_eq!(g[26..], w[26..]);
}

/// TCP segmentation: with the gathering sender (GSO on, the interface's TSO off) the queue
/// offers to cut long segments, and one built as a stack leaves it (pseudo-header sum, the
/// whole length, PSH) arrives as the segments of `tcp_segment` payload bytes TCP would have
/// sent, checksums complete, PSH on the last only; with no buffers for them it offers nothing.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn a_long_segment_arrives_cut_into_the_segments_tcp_would_send() {
    use mtcp_io::{Burst, L4Checksum, Queue, TxFrame, TxOffload};
    require_root("a_long_segment_arrives_cut_into_the_segments_tcp_would_send");
    let ns = Netns::new(&unique_name("iot")).unwrap();
    let (a, b) = ns.veth_pair("ta", "tb").unwrap();
    ns.disable_offloads(&a).unwrap();
    ns.disable_offloads(&b).unwrap();
    let none = AfPacketConfig {
        tso_buffers: 0,
        ..AfPacketConfig::new(&a)
    };
    assert_eq!(open_in(&ns, none).queue(0).unwrap().tcp_segmentation(), 0);
    let mut da = open_in(&ns, AfPacketConfig::new(&a));
    let mut db = open_in(&ns, AfPacketConfig::new(&b));
    let (src, dst) = (da.info().mac.0, db.info().mac.0);
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    assert!(
        qa.tcp_segmentation() >= 14 + 65_535,
        "the kernel's GSO cuts 64 KiB segments"
    );
    let (seq, mss, payload) = (5000u32, 1448usize, 30 * 1448 + 1000);
    let long = with_pseudo_sum(tcp_frame(src, dst, seq, payload, 0x18));
    let want: Vec<Vec<u8>> = (0..31)
        .map(|i| {
            let (n, flags) = if i == 30 { (1000, 0x18) } else { (mss, 0x10) };
            tcp_frame(src, dst, seq + (i * mss) as u32, n, flags)
        })
        .collect();
    let mut f = qa.tx_alloc_large().expect("a buffer for a long segment");
    f.set_len(long.len());
    f.copy_from_slice(&long);
    f.set_offload(TxOffload {
        l2_len: 14,
        l3_len: 20,
        ipv4_checksum: false,
        l4_checksum: Some(L4Checksum::Tcp),
        tcp_segment: mss as u16,
    });
    let mut burst: Burst<_> = Burst::new();
    let _ = burst.push(f);
    assert_eq!(qa.tx_burst(&mut burst).unwrap(), 1);
    let got = receive_tcp(&mut qb, want.len());
    assert_eq!(got.len(), want.len(), "one frame per segment");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(checksum(&[&g[14..34]]), 0xffff, "IPv4 checksum");
        assert_as_built(g, w);
    }
}

/// Bypassing the queueing discipline (`PACKET_QDISC_BYPASS`) sends frames straight to the
/// driver, which refuses a GSO super-frame (the kernel drops what it would have to cut), so the
/// port then merges no runs and offers no TCP segmentation: every frame of the runs arrives,
/// through the ring and gathered.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn with_the_qdisc_bypassed_tcp_runs_arrive_whole() {
    use mtcp_io::Queue;
    require_root("with_the_qdisc_bypassed_tcp_runs_arrive_whole");
    for tx_gather in [false, true] {
        let ns = Netns::new(&unique_name("ioq")).unwrap();
        let (a, b) = ns.veth_pair("qa", "qb").unwrap();
        ns.disable_offloads(&a).unwrap();
        ns.disable_offloads(&b).unwrap();
        let cfg = AfPacketConfig {
            tx_gather,
            qdisc_bypass: true,
            ..AfPacketConfig::new(&a)
        };
        let mut dev = open_in(&ns, cfg.clone());
        assert_eq!(
            dev.queue(0).unwrap().tcp_segmentation(),
            0,
            "no TCP segmentation"
        );
        drop(dev);
        let (got, sent) = send_tcp_runs_with(&ns, cfg, &b);
        assert_eq!(got.len(), sent.len(), "gathered: {tx_gather}");
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!(g[26..50], s[26..50], "as built");
        }
    }
}

/// GSO: with the sender's segmentation offload off, a burst's runs of consecutive segments go
/// to the kernel as super-frames and arrive cut back into the frames we built, checksums
/// complete; the IPv4 identifiers counting up from the first of each run (all were 0) show the
/// kernel cut them (runs of up to 11 segments through the transmit ring's 16 KiB slots, whole
/// runs gathered). With the offload on (a veth pair would pass a super-frame whole), the frames
/// go one by one and keep their identifiers.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn tcp_runs_go_out_as_gso_super_frames_and_arrive_as_built() {
    require_root("tcp_runs_go_out_as_gso_super_frames_and_arrive_as_built");
    if !mtcp_testkit::have_program("ethtool") {
        eprintln!(
            "skipping tcp_runs_go_out_as_gso_super_frames_and_arrive_as_built: needs ethtool"
        );
        return;
    }
    for (offloads_off, tx_gather) in [(true, false), (true, true), (false, false), (false, true)] {
        let ns = Netns::new(&unique_name("iog")).unwrap();
        let (a, b) = ns.veth_pair("ga", "gb").unwrap();
        if offloads_off {
            ns.disable_offloads(&a).unwrap();
        }
        // The receiving end never coalesces (no GRO), whatever the sender does.
        ns.disable_offloads(&b).unwrap();
        let (got, sent) = send_tcp_runs(&ns, &a, &b, tx_gather);
        assert_eq!(got.len(), sent.len(), "offloads off: {offloads_off}");
        let mut ids = Vec::new();
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!(g.len(), s.len());
            // All but the IPv4 identifier and the checksums as built.
            for (range, what) in [
                (0..18, "eth/ip"),
                (20..24, "ip"),
                (26..50, "ip/tcp"),
                (52..g.len(), "tcp"),
            ] {
                assert_eq!(
                    g[range.clone()],
                    s[range],
                    "{what} of the segment at {:?}",
                    &s[38..42]
                );
            }
            assert_eq!(checksum(&[&g[14..34]]), 0xffff, "IPv4 checksum");
            assert_eq!(tcp_sum(g), 0xffff, "TCP checksum");
            ids.push(u16::from_be_bytes([g[18], g[19]]));
        }
        let want: Vec<u16> = if offloads_off && tx_gather {
            // Gathered, a run of 21 goes whole (up to 64 KiB).
            (0..21).chain(0..21).chain(0..1).collect()
        } else if offloads_off {
            // A 16 KiB slot holds 11 full segments: each run of 21 goes as 11 and 10.
            let run = (0..11).chain(0..10);
            run.clone().chain(run).chain(0..1).collect()
        } else {
            vec![0; sent.len()]
        };
        assert_eq!(
            ids, want,
            "IPv4 identifiers, offloads off: {offloads_off}, gathered: {tx_gather}"
        );
    }
}

/// A receive ring nobody reads fills, and the kernel counts what it could not put in it:
/// `take_rx_drops` reports those frames once (reading resets the kernel's counter).
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn a_full_receive_ring_counts_its_drops() {
    require_root("a_full_receive_ring_counts_its_drops");
    let ns = Netns::new(&unique_name("iod")).unwrap();
    let (a, b) = ns.veth_pair("da", "db").unwrap();
    // One 4 KiB block of two 2 KiB slots.
    let mut db = open_in(
        &ns,
        AfPacketConfig {
            block_size: 4096,
            rx_ring_bytes: 4096,
            ..AfPacketConfig::new(&b)
        },
    );
    let mac = db.info().mac;
    let q = db.queue(0).unwrap();
    assert_eq!(q.take_rx_drops().unwrap(), 0);
    let lladdr = mac.to_string();
    ns.exec_ok(&["ip", "addr", "add", "198.18.2.1/24", "dev", &a])
        .unwrap();
    ns.exec_ok(&["ip", "link", "set", &a, "up"]).unwrap();
    ns.exec_ok(&[
        "ip",
        "neigh",
        "replace",
        "198.18.2.2",
        "lladdr",
        &lladdr,
        "dev",
        &a,
    ])
    .unwrap();
    // Twenty echo requests nobody answers (ping's exit status says so: not checked).
    let _ = ns.exec(&["ping", "-c", "20", "-i", "0.01", "-W", "1", "198.18.2.2"]);
    let drops = q.take_rx_drops().unwrap();
    assert!(drops >= 15, "{drops} frames dropped for a two-slot ring");
    assert_eq!(q.take_rx_drops().unwrap(), 0, "counted twice");
}

/// A frame the kernel refuses for good (shorter than an Ethernet header) is dropped with an
/// error instead of blocking the burst: the frame behind it goes out on the next call.
#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn a_frame_the_kernel_refuses_is_dropped_with_an_error() {
    use mtcp_io::{Burst, Queue, TxFrame};
    require_root("a_frame_the_kernel_refuses_is_dropped_with_an_error");
    let ns = Netns::new(&unique_name("ioe")).unwrap();
    let (a, b) = ns.veth_pair("ea", "eb").unwrap();
    let mut da = open_in(&ns, AfPacketConfig::new(&a));
    let mut db = open_in(&ns, AfPacketConfig::new(&b));
    let (src, dst) = (da.info().mac.0, db.info().mac.0);
    let (mut qa, mut qb) = (da.queue(0).unwrap(), db.queue(0).unwrap());
    let good = tcp_frame(src, dst, 5000, 100, 0x18);
    let mut burst: Burst<_> = Burst::new();
    for bytes in [&[0xffu8; 6][..], &good[..]] {
        let mut f = qa.tx_alloc().unwrap();
        f.set_len(bytes.len());
        f.copy_from_slice(bytes);
        let _ = burst.push(f);
    }
    assert!(
        qa.tx_burst(&mut burst).is_err(),
        "a 6-byte frame is refused"
    );
    assert_eq!(burst.len(), 1, "only the refused frame is dropped");
    let got = exchange(&mut qa, &mut qb, std::slice::from_ref(&good), None);
    assert_eq!(got, vec![good]);
}
