//! `net_tap`: DPDK creates a TAP inside a network namespace this test makes; the kernel there pings
//! us, and we answer ARP and ICMP echo through DPDK bursts (IPv4 header checksum offloaded when
//! the driver offers it). Needs root; own process (one EAL per process).
#![cfg(feature = "dpdk")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use mtcp_io::Device;
use mtcp_io_dpdk::{DpdkConfig, Eal};

#[test]
fn kernel_pings_us_through_net_tap() {
    if common::skip_unless_root("kernel_pings_us_through_net_tap") {
        return;
    }
    let ns = common::Netns::new("t");
    let iface = format!("mtd{}t", std::process::id());
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
    let start: Vec<u32> = (0..2).map(|q| port.pool_available(q).unwrap()).collect();
    drop(queues);
    assert_eq!(
        start,
        (0..2)
            .map(|q| port.pool_available(q).unwrap())
            .collect::<Vec<_>>()
    );
}
