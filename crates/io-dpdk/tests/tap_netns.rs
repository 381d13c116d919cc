//! `net_tap`: DPDK creates a TAP inside a network namespace this test makes; the kernel there pings
//! us, and we answer ARP and ICMP echo through DPDK bursts (IPv4 header checksum offloaded when
//! the driver offers it). Needs root; own process (one EAL per process).
#![cfg(feature = "dpdk")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use mtcp_io::{Burst, Device, DeviceInfo, L4Checksum, Queue, TxFrame, TxOffload};
use mtcp_io_dpdk::{DpdkConfig, DpdkQueue, Eal};

const US: [u8; 4] = [198, 18, 101, 2];
const KERNEL: [u8; 4] = [198, 18, 101, 1];

/// The kernel side's MAC address of the TAP, from `ip -br link`.
fn kernel_mac(ns: &common::Netns, iface: &str) -> [u8; 6] {
    let line = ns.ip(&["-br", "link", "show", iface]);
    let text = line
        .split_whitespace()
        .nth(2)
        .expect("MAC in `ip -br link` output");
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(text.split(':')) {
        *b = u8::from_str_radix(part, 16).expect("hex MAC");
    }
    mac
}

/// The folded, uncomplemented pseudo-header sum that DPDK's L4 offload expects in the checksum field.
fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16 {
    let mut sum = u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + u32::from(protocol)
        + u32::from(l4_len);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Writes Ethernet + IPv4 headers (checksum left to the device) for an L4 segment of `l4_len`.
fn eth_ipv4(frame: &mut [u8], dst_mac: [u8; 6], src_mac: [u8; 6], protocol: u8, l4_len: usize) {
    frame[0..6].copy_from_slice(&dst_mac);
    frame[6..12].copy_from_slice(&src_mac);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, protocol, 0xde, 0xad, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
    ip[12..16].copy_from_slice(&US);
    ip[16..20].copy_from_slice(&KERNEL);
}

fn send(queue: &mut DpdkQueue, frame: mtcp_io_dpdk::DpdkTxFrame) {
    let mut burst = Burst::new();
    let _ = burst.push(frame);
    assert_eq!(queue.tx_burst(&mut burst).unwrap(), 1);
}

/// A UDP datagram whose IPv4 and UDP checksums only the device fills in reaches a kernel socket
/// (the kernel drops datagrams with a wrong checksum).
fn udp_checksum_offload(
    ns: &common::Netns,
    iface: &str,
    info: &DeviceInfo,
    queues: &mut [DpdkQueue],
) {
    // This thread lives in the test's namespace, so the socket does too.
    let sock = std::net::UdpSocket::bind("198.18.101.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let payload = b"mtcp-io-dpdk udp checksum offload";
    let l4_len = 8 + payload.len();
    let mut frame = queues[0].tx_alloc().unwrap();
    frame.set_len(14 + 20 + l4_len);
    eth_ipv4(&mut frame, kernel_mac(ns, iface), info.mac.0, 17, l4_len);
    let udp = &mut frame[34..];
    udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&port.to_be_bytes());
    udp[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    udp[6..8].copy_from_slice(&pseudo_header_sum(US, KERNEL, 17, l4_len as u16).to_be_bytes());
    udp[8..].copy_from_slice(payload);
    frame.set_offload(TxOffload {
        l2_len: 14,
        l3_len: 20,
        ipv4_checksum: true,
        l4_checksum: Some(L4Checksum::Udp),
        tcp_segment: 0,
    });
    send(&mut queues[0], frame);
    let mut buf = [0u8; 128];
    // Signals (DPDK's threads, the exited ping) may interrupt the wait: retry until the deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let (n, from) = loop {
        match sock.recv_from(&mut buf) {
            Ok(got) => break got,
            Err(e)
                if e.kind() == std::io::ErrorKind::Interrupted
                    && std::time::Instant::now() < deadline => {}
            Err(e) => panic!("the kernel dropped our UDP datagram with offloaded checksums: {e}"),
        }
    };
    assert_eq!(&buf[..n], payload);
    assert_eq!(from, "198.18.101.2:40000".parse().unwrap());
}

/// A TCP SYN whose checksums only the device fills in gets a SYN-ACK from a kernel listener.
fn tcp_checksum_offload(
    ns: &common::Netns,
    iface: &str,
    info: &DeviceInfo,
    queues: &mut [DpdkQueue],
) {
    let listener = std::net::TcpListener::bind("198.18.101.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let iss: u32 = 0x1234_5678;
    let mut frame = queues[1].tx_alloc().unwrap();
    frame.set_len(14 + 20 + 20);
    eth_ipv4(&mut frame, kernel_mac(ns, iface), info.mac.0, 6, 20);
    let tcp = &mut frame[34..];
    tcp.fill(0);
    tcp[0..2].copy_from_slice(&40001u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&port.to_be_bytes());
    tcp[4..8].copy_from_slice(&iss.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp[16..18].copy_from_slice(&pseudo_header_sum(US, KERNEL, 6, 20).to_be_bytes());
    frame.set_offload(TxOffload {
        l2_len: 14,
        l3_len: 20,
        ipv4_checksum: true,
        l4_checksum: Some(L4Checksum::Tcp),
        tcp_segment: 0,
    });
    send(&mut queues[1], frame);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut rx = Burst::new();
    while std::time::Instant::now() < deadline {
        for q in queues.iter_mut() {
            q.rx_burst(&mut rx).unwrap();
            for f in rx.iter() {
                let is_tcp_to_us =
                    f.len() >= 54 && f[12..14] == [8, 0] && f[23] == 6 && f[30..34] == US;
                if is_tcp_to_us
                    && f[34..36] == port.to_be_bytes()
                    && f[36..38] == 40001u16.to_be_bytes()
                {
                    assert_eq!(f[47] & 0x12, 0x12, "SYN-ACK expected, flags {:#x}", f[47]);
                    assert_eq!(f[42..46], (iss + 1).to_be_bytes(), "acknowledges our SYN");
                    return;
                }
            }
            rx.clear();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no SYN-ACK: the kernel dropped our offloaded TCP checksum");
}

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn kernel_pings_us_through_net_tap() {
    common::require_root("kernel_pings_us_through_net_tap");
    if !std::path::Path::new("/dev/net/tun").exists() || !mtcp_testkit::have_program("ping") {
        eprintln!("skipping kernel_pings_us_through_net_tap: needs /dev/net/tun and ping");
        return;
    }
    let ns = common::Netns::new("mdtt");
    let iface = common::ifname("mdt");
    // The TAP is born in the namespace: DPDK creates it from this thread, which we move there
    // first. The root namespace's interfaces are never touched.
    ns.enter_current_thread();
    let config = DpdkConfig::parse(&format!(
        "num_cores = 2\nport = net_tap0\nfile_prefix = mtcp-tap-{pid}\n\
         eal_args = --vdev=net_tap0,iface={iface} --log-level=lib.eal:notice\n",
        pid = std::process::id()
    ))
    .unwrap();
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut port = eal
        .open("net_tap0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let info = port.info().clone();
    eprintln!("{info:?}");
    assert_eq!(info.num_queues, 2);
    assert_eq!(port.driver(), "net_tap");
    let mut queues = vec![port.queue(0).unwrap(), port.queue(1).unwrap()];

    ns.ip(&["addr", "add", "198.18.101.1/24", "dev", &iface]);
    ns.ip(&["link", "set", &iface, "up"]);
    let mut ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "ping",
            "-c",
            "5",
            "-i",
            "0.2",
            "-W",
            "2",
            "198.18.101.2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ping");
    let (ok, served) = common::serve_until(
        &mut queues,
        &info,
        [198, 18, 101, 2],
        &mut ping,
        Duration::from_secs(20),
    );
    eprintln!("{served:?}");
    assert!(ok, "the kernel's ping got no answers: {served:?}");
    assert!(served.arp_replies >= 1, "{served:?}");
    assert!(served.echo_replies >= 5, "{served:?}");
    // The kernel learnt our port's MAC from our ARP reply.
    let neigh = ns.ip(&["neigh", "show", "198.18.101.2"]);
    assert!(
        neigh.contains(&info.mac.to_string()),
        "neighbour entry {neigh:?} lacks {}",
        info.mac
    );
    if info.checksum.ipv4_tx {
        assert!(
            served.ipv4_tx_offloaded >= 5,
            "replies relied on tx checksum offload: {served:?}"
        );
    }
    if info.checksum.ipv4_rx {
        assert_eq!(
            served.ipv4_rx_good, served.echo_replies,
            "rx checksum verified: {served:?}"
        );
    }
    if info.checksum.udp_tx && info.checksum.ipv4_tx {
        udp_checksum_offload(&ns, &iface, &info, &mut queues);
    }
    if info.checksum.tcp_tx && info.checksum.ipv4_tx {
        tcp_checksum_offload(&ns, &iface, &info, &mut queues);
    }
    let start: Vec<u32> = (0..2).map(|q| port.pool_available(q).unwrap()).collect();
    drop(queues);
    assert_eq!(
        start,
        (0..2)
            .map(|q| port.pool_available(q).unwrap())
            .collect::<Vec<_>>()
    );
}
