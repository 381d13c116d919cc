//! The EAL on hugepages: the test reserves 2 MiB hugepages (as root, `vm.nr_hugepages`), starts
//! the EAL with the arguments `DpdkConfig` picks for a machine that has them (`--in-memory`, no
//! `--no-huge`), checks that DPDK really took hugepages, moves a burst through `net_ring` and
//! checks that no mbuf leaked; then gives the reservation back. Its own process: one EAL each.
#![cfg(feature = "dpdk")]

mod common;

use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_io_dpdk::{DpdkConfig, DpdkTxFrame, Eal, Hugepages};

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

fn meminfo(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Restores `vm.nr_hugepages` on drop (pages still mapped by this process become surplus pages
/// and go back to the kernel when it exits).
struct Reservation(String);

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = std::fs::write(NR_HUGEPAGES, &self.0);
    }
}

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn eal_runs_on_hugepages_when_the_machine_has_them() {
    common::require_root("eal_runs_on_hugepages_when_the_machine_has_them");
    let before = std::fs::read_to_string(NR_HUGEPAGES).expect("read nr_hugepages");
    let _restore = Reservation(before.trim().to_owned());
    if meminfo("HugePages_Total:") < 256 {
        std::fs::write(NR_HUGEPAGES, "256").expect("reserve hugepages");
    }
    let total = meminfo("HugePages_Total:");
    if total < 128 {
        eprintln!(
            "skipping eal_runs_on_hugepages_when_the_machine_has_them: the kernel reserved only \
             {total} hugepages (memory too fragmented)"
        );
        return;
    }
    assert_eq!(Hugepages::detect(), Hugepages::Available);

    let config = DpdkConfig::parse(&format!(
        "num_cores = 1\n\
         port = net_ring0\n\
         num_mbufs = 1023\n\
         file_prefix = mtcp-huge-{}\n\
         eal_args = --vdev=net_ring0 --log-level=lib.eal:notice\n",
        std::process::id()
    ))
    .unwrap();
    let argv = config.eal_argv(Hugepages::detect()).unwrap();
    assert!(argv.iter().any(|a| a == "--in-memory"), "{argv:?}");
    assert!(!argv.iter().any(|a| a == "--no-huge"), "{argv:?}");

    let free_before = meminfo("HugePages_Free:");
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut port = eal
        .open("net_ring0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let free_after = meminfo("HugePages_Free:");
    assert!(
        free_after < free_before,
        "DPDK took no hugepages ({free_before} free before, {free_after} after)"
    );

    let mut q = port.queue(0).unwrap();
    let start = port.pool_available(0).unwrap();
    let mut tx: Burst<DpdkTxFrame> = Burst::new();
    assert_eq!(q.tx_alloc_burst(&mut tx, 32), 32);
    for (i, frame) in tx.iter_mut().enumerate() {
        frame.set_len(64 + i);
        frame.fill(i as u8);
    }
    assert_eq!(q.tx_burst(&mut tx).unwrap(), 32);
    let mut rx = Burst::new();
    assert_eq!(q.rx_burst(&mut rx).unwrap(), 32);
    for (i, frame) in rx.iter().enumerate() {
        assert_eq!(frame.len(), 64 + i);
        assert!(frame.iter().all(|&b| b == i as u8), "frame {i}");
    }
    rx.clear();
    assert_eq!(port.pool_available(0).unwrap(), start, "no mbuf leaked");
}
