//! `net_af_packet` on a veth pair inside a network namespace this test makes: the kernel pings
//! through the peer end and we answer ARP and ICMP echo through DPDK bursts. Needs root; own
//! process (one EAL per process).
#![cfg(feature = "dpdk")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use mtcp_io::{Device, Steering};
use mtcp_io_dpdk::{DpdkConfig, Eal};

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn kernel_pings_us_through_af_packet_on_veth() {
    common::require_root("kernel_pings_us_through_af_packet_on_veth");
    if !mtcp_testkit::have_program("ping") {
        eprintln!("skipping kernel_pings_us_through_af_packet_on_veth: needs ping");
        return;
    }
    let ns = common::Netns::new("mdta");
    let pid = std::process::id();
    let (ours, kernels) = (common::ifname("mdd"), common::ifname("mdk"));
    ns.ip(&[
        "link", "add", &ours, "type", "veth", "peer", "name", &kernels,
    ]);
    ns.ip(&["link", "set", &ours, "up"]);
    ns.ip(&["addr", "add", "198.18.102.1/24", "dev", &kernels]);
    ns.ip(&["link", "set", &kernels, "up"]);
    let veth_mac = ns.ip(&["-br", "link", "show", &ours]);
    // The packet socket is opened in the namespace of the thread that starts the EAL.
    ns.enter_current_thread();
    let config = DpdkConfig::parse(&format!(
        "num_cores = 1\nport = net_af_packet0\nfile_prefix = mtcp-afp-{pid}\n\
         eal_args = --vdev=net_af_packet0,iface={ours} --log-level=lib.eal:notice\n"
    ))
    .unwrap();
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut port = eal
        .open("net_af_packet0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let info = port.info().clone();
    eprintln!("{info:?}");
    assert_eq!(port.driver(), "net_af_packet");
    assert_eq!(info.steering, Steering::None);
    assert!(
        veth_mac.contains(&info.mac.to_string()),
        "port MAC {} is the veth's: {veth_mac}",
        info.mac
    );
    assert!(port.wait_link_up(Duration::from_secs(2)), "veth end is up");
    let mut queues = vec![port.queue(0).unwrap()];
    let start = port.pool_available(0).unwrap();

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
            "198.18.102.2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ping");
    let (ok, served) = common::serve_until(
        &mut queues,
        &info,
        [198, 18, 102, 2],
        &mut ping,
        Duration::from_secs(20),
    );
    eprintln!("{served:?}");
    assert!(ok, "the kernel's ping got no answers: {served:?}");
    assert!(
        served.arp_replies >= 1 && served.echo_replies >= 5,
        "{served:?}"
    );
    let neigh = ns.ip(&["neigh", "show", "198.18.102.2"]);
    assert!(
        neigh.contains(&info.mac.to_string()),
        "neighbour entry {neigh:?} lacks {}",
        info.mac
    );
    assert_eq!(port.pool_available(0).unwrap(), start, "no mbuf leaked");
}
