//! Two DPDK processes (different `--file-prefix`) linked by `net_memif`: this test is the server and
//! re-runs its own binary as the client, which echoes every frame back. Needs root.
#![cfg(feature = "dpdk")]

mod common;

use mtcp_io::{ChecksumStatus, Device, RxFrame, TxFrame};
use mtcp_io_dpdk::{DpdkConfig, DpdkTxFrame, Eal};

const CHILD_ENV: &str = "MTCP_IO_DPDK_MEMIF_CLIENT";
const TEST: &str = "memif_echo_between_two_processes";
const FRAMES: u32 = 2000;

fn config(role: &str, socket: &str, prefix: &str) -> DpdkConfig {
    DpdkConfig::parse(&format!(
        "num_cores = 1\nport = net_memif0\nfile_prefix = {prefix}\n\
         eal_args = --vdev=net_memif0,role={role},socket={socket} --log-level=lib.eal:notice\n"
    ))
    .unwrap()
}

/// The client: echo every frame back until a frame of length 60 with byte 0xee at 14 arrives.
fn client(socket: &str) {
    let config = config(
        "client",
        socket,
        &format!("mtcp-memif-c-{}", std::process::id()),
    );
    common::memif_echo_client(&config);
}

fn fill(frame: &mut DpdkTxFrame, seq: u32) {
    frame.set_len(60 + (seq as usize * 13) % 1400);
    frame.fill(seq as u8);
    frame[0..12].fill(0x02);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    frame[14..18].copy_from_slice(&seq.to_be_bytes());
}

#[test]
#[ignore = "needs root: DPDK EAL, hugepages, TAPs and network namespaces"]
fn memif_echo_between_two_processes() {
    let socket = std::env::var(CHILD_ENV).ok();
    if let Some(socket) = socket {
        client(&socket);
        return;
    }
    common::require_root(TEST);
    let socket = format!("/run/mtcp-io-dpdk-memif-{}.sock", std::process::id());
    let mut config = config(
        "server",
        &socket,
        &format!("mtcp-memif-s-{}", std::process::id()),
    );
    // This side trusts the link's checksums: every offload offered, every frame marked good.
    config.trust_checksums = true;
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut port = eal
        .open("net_memif0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = port.info().checksum;
    assert!(
        c.ipv4_tx && c.ipv4_rx && c.tcp_tx && c.tcp_rx && c.udp_tx && c.udp_rx,
        "trust_checksums offers every offload: {c:?}"
    );
    let mut child = common::spawn_memif_client(TEST, CHILD_ENV, &socket, &port);
    let mut q = port.queue(0).unwrap();
    let start = port.pool_available(0).unwrap();
    // Keep at most 256 frames in flight.
    let echoed = common::memif_echo_rounds(&mut q, FRAMES, 256, fill, |f, seq| {
        assert_eq!(f[14..18], seq.to_be_bytes(), "echo order");
        assert_eq!(f.len(), 60 + (seq as usize * 13) % 1400, "echo length");
        assert!(f[18..].iter().all(|&b| b == seq as u8), "echo payload");
        let meta = f.meta();
        assert_eq!(meta.ipv4_checksum, ChecksumStatus::Good, "trusted");
        assert_eq!(meta.l4_checksum, ChecksumStatus::Good, "trusted");
        true
    });
    let status = child.wait().unwrap();
    assert_eq!(echoed, FRAMES, "all frames echoed");
    assert!(status.success(), "client process failed");
    assert_eq!(port.pool_available(0).unwrap(), start, "no mbuf leaked");
}
