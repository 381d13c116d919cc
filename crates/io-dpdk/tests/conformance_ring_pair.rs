//! mtcp-io's conformance suite on two DPDK ports wired back to back through rings
//! (`Eal::ring_pair`), on every queue pair. Needs root; own process (one EAL per process).
#![cfg(feature = "dpdk")]

mod common;

use mtcp_io::Device;
use mtcp_io::conformance::{self, Ctx};
use mtcp_io_dpdk::{DpdkConfig, Eal};

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn conformance_over_ring_pair() {
    common::require_root("conformance_over_ring_pair");
    let pid = std::process::id();
    let config = DpdkConfig::parse(&format!(
        "num_cores = 2\nnum_mbufs = 4095\nfile_prefix = mtcp-rp-{pid}\neal_args = --log-level=lib.eal:notice --no-pci\n"
    ))
    .unwrap();
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let (name_a, name_b) = eal
        .ring_pair("ringA", "ringB", 2, 1024)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        eal.ring_pair("ringC", "ringD", 2, 1000).is_err(),
        "ring size must be a power of two"
    );
    let mut pa = eal.open(&name_a, &config).unwrap_or_else(|e| panic!("{e}"));
    let mut pb = eal.open(&name_b, &config).unwrap_or_else(|e| panic!("{e}"));
    let mtu = pa.info().mtu;
    for q in 0..2 {
        let (mut qa, mut qb) = (pa.queue(q).unwrap(), pb.queue(q).unwrap());
        let start = (pa.pool_available(q).unwrap(), pb.pool_available(q).unwrap());
        let ctx = Ctx::new(pa.info().mac, pb.info().mac);
        let partial =
            conformance::run_all(&mut qa, &mut qb, &ctx, mtu).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            partial.observed,
            "a 1024-slot ring must push back: {partial:?}"
        );
        let ctx = Ctx::new(pb.info().mac, pa.info().mac);
        let partial =
            conformance::run_all(&mut qb, &mut qa, &ctx, mtu).unwrap_or_else(|e| panic!("{e}"));
        assert!(partial.observed, "{partial:?}");
        assert_eq!(
            start,
            (pa.pool_available(q).unwrap(), pb.pool_available(q).unwrap()),
            "no mbuf leaked"
        );
    }
}
