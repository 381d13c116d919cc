//! A `--vdev` naming a driver that is not installed gives `Error::UnknownDriver`, and the EAL is
//! not started twice. Own process: the EAL can be started once per process.
#![cfg(feature = "dpdk")]

mod common;

use mtcp_io_dpdk::{DpdkConfig, Eal, Error};

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn unknown_vdev_driver_is_named() {
    common::require_root("unknown_vdev_driver_is_named");
    let config = DpdkConfig::parse(&format!(
        "port = net_nosuchpmd0\nfile_prefix = mtcp-unk-{}\neal_args = --vdev=net_nosuchpmd0\n",
        std::process::id()
    ))
    .unwrap();
    let e = Eal::init(&config).unwrap_err();
    assert!(
        matches!(&e, Error::UnknownDriver { driver, .. } if driver == "net_nosuchpmd"),
        "{e}"
    );
    assert!(
        e.to_string().contains("net_ring"),
        "lists the installed drivers: {e}"
    );
    // A second attempt reports the first failure instead of re-running DPDK's start-up.
    let e = Eal::init(&config).unwrap_err();
    assert!(matches!(&e, Error::EalInit { .. }), "{e}");
    assert!(
        e.to_string().contains("earlier") && e.to_string().contains("net_nosuchpmd"),
        "{e}"
    );
}
