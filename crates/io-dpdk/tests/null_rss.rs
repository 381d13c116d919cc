//! RSS programming on the one DPDK 22.11 virtual device here that takes both a Toeplitz key and a
//! redirection table: `net_null` (`flow_type_rss_offloads` covers IPv4/TCP, `reta_size` 128,
//! `hash_key_size` 0, and `rte_eth_dev_rss_hash_update`/`rte_eth_dev_rss_reta_update` succeed).
//! It only checks what we program and report; `net_null` receives no real frames, so where a
//! flow lands cannot be shown with it (nor with `net_tap`, whose key is fixed and which has no
//! table; the other virtual devices have no RSS). Needs root (DPDK's EAL).
#![cfg(feature = "dpdk")]

mod common;

use mtcp_io::{Device, Steering};
use mtcp_io_dpdk::{DpdkConfig, Eal, MTCP_RSS_KEY_BYTE};
use mtcp_wire::rss;

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn net_null_gets_the_symmetric_key_and_a_spread_table() {
    common::require_root("net_null_gets_the_symmetric_key_and_a_spread_table");
    let config = DpdkConfig::parse(&format!(
        "num_cores = 2\n\
         port = net_null0\n\
         file_prefix = mtcp-null-{}\n\
         eal_args = --vdev=net_null0 --log-level=lib.eal:notice\n",
        std::process::id()
    ))
    .expect("valid config");
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let port = eal
        .open("net_null0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let info = port.info().clone();
    assert_eq!(port.driver(), "net_null");
    assert_eq!(info.num_queues, 2);
    let Steering::Toeplitz { key, reta } = info.steering else {
        panic!("net_null takes a key and a table: {:?}", info.steering);
    };
    // hash_key_size 0: we fall back to the usual 40 bytes, all mTCP's symmetric byte.
    assert_eq!(key, vec![MTCP_RSS_KEY_BYTE; 40]);
    assert_eq!(reta.len(), 128, "net_null's reta_size");
    assert!(
        reta.iter()
            .enumerate()
            .all(|(i, &q)| usize::from(q) == i % 2),
        "{reta:?}"
    );
    // Our Toeplitz with this key and table puts both directions of a flow on one queue.
    let flow = |a: [u8; 4], b: [u8; 4], pa: u16, pb: u16| {
        let h = rss::toeplitz(&key, &rss::ipv4_tuple(a.into(), b.into(), pa, pb));
        reta[h as usize % reta.len()]
    };
    let (c, s) = ([198, 18, 0, 3], [198, 18, 0, 2]);
    for port in 1024..1088 {
        assert_eq!(flow(c, s, port, 80), flow(s, c, 80, port), "port {port}");
    }
}
