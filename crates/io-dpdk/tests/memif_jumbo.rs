//! Jumbo frames over `net_memif` between two DPDK processes (MTU 9000 on both sides, as
//! mtcp-bench's memif bulk9000 row runs them): this test is the server and re-runs its own
//! binary as the client, which echoes every frame back. 9014-byte frames mixed with short ones
//! must come back byte for byte, in order, none dropped.
//!
//! Before io-dpdk sized memif's buffers for the MTU (`bsize`), a 9014-byte frame crossed five
//! of memif's 2 KiB buffers, and DPDK 22.11's memif transmit never clears the "more buffers
//! follow" flag of a frame's first buffer: a short frame written later into a buffer that once
//! began a jumbo frame kept the flag, the receiver glued it to whatever came next (or read past
//! the ring's head), and wrong bytes came out. Needs root.
#![cfg(feature = "dpdk")]

mod common;

use std::time::{Duration, Instant};

use mtcp_io::{Device, TxFrame};
use mtcp_io_dpdk::{DpdkConfig, DpdkTxFrame, Eal};

const CHILD_ENV: &str = "MTCP_IO_DPDK_MEMIF_JUMBO_CLIENT";
const TEST: &str = "memif_echoes_jumbo_frames_byte_exact";
const FRAMES: u32 = 6000;
const MTU: u16 = 9000;
/// The longest frame of `MTU`: Ethernet header and a full IP datagram.
const MAX_FRAME: usize = MTU as usize + 14;

fn config(role: &str, socket: &str, prefix: &str) -> DpdkConfig {
    DpdkConfig::parse(&format!(
        "num_cores = 1\nport = net_memif0\nfile_prefix = {prefix}\nmtu = {MTU}\n\
         eal_args = --vdev=net_memif0,role={role},socket={socket} --log-level=lib.eal:notice\n"
    ))
    .unwrap()
}

/// Frame `seq`'s length: every third a full jumbo frame, the others short (one memif buffer at
/// the default size), so short frames keep landing in buffers that began jumbo ones.
fn frame_len(seq: u32) -> usize {
    if seq % 3 == 0 {
        MAX_FRAME
    } else {
        60 + (seq as usize * 13) % 1400
    }
}

/// Byte `i` of frame `seq` past its 18-byte header: shifts and mixed-up frames both show.
fn pattern(seq: u32, i: usize) -> u8 {
    (seq as usize * 7 + i * 3 + (i >> 8)) as u8
}

fn fill(frame: &mut DpdkTxFrame, seq: u32) {
    let len = frame_len(seq);
    frame.set_len(len);
    frame[0..12].fill(0x02);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    frame[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in frame[18..len].iter_mut().enumerate() {
        *b = pattern(seq, i);
    }
}

/// Where frame `got` differs from frame `seq` as sent: `None` when it is the same.
fn mismatch(got: &[u8], seq: u32) -> Option<String> {
    if got.len() != frame_len(seq) {
        return Some(format!(
            "frame {seq}: {} bytes, sent {}",
            got.len(),
            frame_len(seq)
        ));
    }
    if got[14..18] != seq.to_be_bytes() {
        return Some(format!(
            "frame {seq}: sequence field {:?}",
            u32::from_be_bytes([got[14], got[15], got[16], got[17]])
        ));
    }
    let bad = got[18..]
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(seq, i))?;
    Some(format!(
        "frame {seq} ({} bytes): first wrong byte at {}",
        got.len(),
        bad + 18
    ))
}

/// The client: echo every frame back until a frame of length 60 with byte 0xee at 14 arrives.
fn client(socket: &str) {
    let config = config(
        "client",
        socket,
        &format!("mtcp-memifj-c-{}", std::process::id()),
    );
    common::memif_echo_client(&config);
}

#[test]
#[ignore = "needs root: DPDK EAL"]
fn memif_echoes_jumbo_frames_byte_exact() {
    if let Ok(socket) = std::env::var(CHILD_ENV) {
        client(&socket);
        return;
    }
    common::require_root(TEST);
    let socket = format!("/run/mtcp-io-dpdk-memifj-{}.sock", std::process::id());
    let config = config(
        "server",
        &socket,
        &format!("mtcp-memifj-s-{}", std::process::id()),
    );
    let eal = Eal::init(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut port = eal
        .open("net_memif0", &config)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(port.info().mtu, usize::from(MTU), "the port's MTU");
    let mut child = common::spawn_memif_client(TEST, CHILD_ENV, &socket, &port);
    let mut q = port.queue(0).unwrap();
    let mut wrong = Vec::new();
    // At most 128 frames in flight (with 2 KiB buffers, 43 jumbo frames took 215 of the ring's
    // 1024; sized for the MTU, the ring has 256), so the ring wraps many times.
    let echoed = common::memif_echo_rounds(&mut q, FRAMES, 128, fill, |f, seq| {
        if let Some(m) = mismatch(f, seq) {
            wrong.push(m);
        }
        wrong.len() < 5
    });
    // The client ends on the stop frame, or on its own deadline if the ring is wedged.
    let status = wait_or_kill(&mut child, Duration::from_secs(15));
    assert!(wrong.is_empty(), "frames came back wrong: {wrong:#?}");
    assert_eq!(q.rx_dropped(), 0, "frames dropped as chained mbufs");
    assert_eq!(echoed, FRAMES, "all frames echoed");
    assert!(status, "client process failed");
}

/// Whether `child` ended well within `limit` (killed and `false` past it).
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
