//! mtcp-io's conformance suite on two DPDK ports: `net_af_packet` on each end of a veth pair inside
//! a network namespace this test makes. Needs root; own process (one EAL per process).
#![cfg(feature = "dpdk")]

mod common;

use mtcp_io::Device;
use mtcp_io::conformance::{self, Ctx};
use mtcp_io_dpdk::{DpdkConfig, Eal};

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn conformance_over_af_packet_veth_pair() {
    common::require_root("conformance_over_af_packet_veth_pair");
    let ns = common::Netns::new("mdtc");
    let pid = std::process::id();
    let (a, b) = (common::ifname("mda"), common::ifname("mdb"));
    // No addresses, and the namespace has IPv6 off: the kernel stays quiet on the link.
    ns.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    ns.ip(&["link", "set", &a, "up"]);
    ns.ip(&["link", "set", &b, "up"]);
    ns.enter_current_thread();
    let config = DpdkConfig::parse(&format!(
        "num_cores = 1\nport = net_af_packet0 net_af_packet1\nfile_prefix = mtcp-conf-{pid}\n\
         eal_args = --vdev=net_af_packet0,iface={a} --vdev=net_af_packet1,iface={b} --log-level=lib.eal:notice\n"
    ))
    .unwrap();
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut pa = eal
        .open("net_af_packet0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut pb = eal
        .open("net_af_packet1", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let mtu = pa.info().mtu;
    let (mut qa, mut qb) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
    let start = (pa.pool_available(0).unwrap(), pb.pool_available(0).unwrap());

    let ctx = Ctx::new(pa.info().mac, pb.info().mac);
    let partial =
        conformance::run_all(&mut qa, &mut qb, &ctx, mtu).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("a -> b: {partial:?}");
    let ctx = Ctx::new(pb.info().mac, pa.info().mac);
    let partial =
        conformance::run_all(&mut qb, &mut qa, &ctx, mtu).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("b -> a: {partial:?}");
    conformance::drain(&mut qa, std::time::Duration::from_millis(50));
    conformance::drain(&mut qb, std::time::Duration::from_millis(50));
    assert_eq!(
        start,
        (pa.pool_available(0).unwrap(), pb.pool_available(0).unwrap()),
        "no mbuf leaked"
    );
}
