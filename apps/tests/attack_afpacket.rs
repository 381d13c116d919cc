//! epserver over AF_PACKET under attack, with the Linux kernel as the legitimate client (curl)
//! inside a network namespace the test creates. The attacker is an AF_PACKET socket on the
//! kernel's end of the veth, sending frames `mtcp-wire` builds: a SYN flood from random sources
//! in 198.18.0.0/15 and malformed frames, while curl downloads a file.
//!
//! Asserts: epserver lives; the download is byte-exact and within 10x of the same download
//! without the attack; epserver's resident memory stays under a bound derived from its
//! configuration; the service answers afterwards.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mtcp_io::afpacket::{AfPacketConfig, AfPacketDevice};
use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};
use mtcp_wire::{
    ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, Frame, IpProtocol, Ipv4Repr,
    Network, Transport,
};

/// Frames the flood sends (about 8 s; the download runs in its first second or two).
const MAX_SYNS: usize = 1_000_000;

fn rss_of(pid: u32) -> usize {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

fn mac_of(env: &Env, ip: &str) -> EthernetAddress {
    let out = env.run(&["ip", "neigh", "show", ip]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .unwrap_or_else(|| panic!("no neighbour entry for {ip}: {text}"));
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
}

fn fetch(env: &Env, www: &std::path::Path, name: &str) -> Duration {
    let out_file = env.dir.join(format!("got-{name}"));
    let start = Instant::now();
    let out = env.run(&[
        "curl",
        "-sS",
        "-m",
        "60",
        "-o",
        out_file.to_str().unwrap(),
        &format!("http://{OUR_IP}/big.bin"),
    ]);
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256(&out_file), sha256(&www.join("big.bin")), "{name}");
    took
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_over_afpacket_holds_under_a_syn_flood_and_malformed_frames() {
    can_run(
        "epserver_over_afpacket_holds_under_a_syn_flood_and_malformed_frames",
        &["curl", "sha256sum", "ethtool"],
    );
    // 64 buffers of each kind: 32 MiB of buffer memory at most.
    let env = Env::new(
        "atk",
        Link::AfPacket,
        "run_mode = rtc\nmax_num_buffers = 64\n",
    );
    let www = env.site(&[("big.bin", 16 << 20, 3)]);
    let srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf()],
    );
    srv.wait_for("listening", 20);
    let pid = srv.child.id();
    let base = fetch(&env, &www, "alone");
    let rss_before = rss_of(pid);
    let our_mac = mac_of(&env, OUR_IP);
    let kif = env.kernel_if.clone();
    let mut dev = env
        .ns
        .run(move || AfPacketDevice::open(&AfPacketConfig::new(&kif)))
        .expect("run")
        .expect("AF_PACKET on the kernel's end");
    let atk_mac = dev.info().mac;
    let mut q = dev.queue(0).unwrap();
    let sent = AtomicUsize::new(0);
    let attacked = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut x = 0x5eed_u64;
            let caps = ChecksumCapabilities::software();
            let mut n = 0usize;
            while n < MAX_SYNS {
                let mut burst = Burst::new();
                for k in 0..32 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let Some(mut buf) = q.tx_alloc() else { break };
                    let src = Ipv4Addr::new(198, 19, (x >> 8) as u8, x as u8);
                    let seg = TcpRepr {
                        src_port: (x >> 16) as u16 | 1024,
                        dst_port: 80,
                        seq_number: SeqNumber((x >> 32) as u32),
                        ack_number: SeqNumber(0),
                        flags: TcpFlags::SYN,
                        window_len: 64_240,
                        urgent_pointer: 0,
                        options: TcpOptions {
                            mss: Some(1460),
                            ..TcpOptions::default()
                        },
                        payload: &[],
                    };
                    let frame = Frame {
                        ethernet: EthernetRepr {
                            src_addr: atk_mac,
                            dst_addr: our_mac,
                            vlan: None,
                            ethertype: EtherType::Ipv4,
                        },
                        network: Network::Ipv4(
                            Ipv4Repr::new(
                                src,
                                OUR_IP.parse().unwrap(),
                                IpProtocol::Tcp,
                                seg.buffer_len(),
                            ),
                            Transport::Tcp(seg),
                        ),
                    };
                    let cap = buf.capacity();
                    buf.set_len(cap);
                    let len = frame.emit(&mut buf, &caps).unwrap();
                    // Every eighth frame damaged: a bad data offset, IHL or checksum.
                    match k % 8 {
                        1 => buf[14 + 20 + 12] = 0x40,
                        3 => buf[14] = 0x4f,
                        5 => buf[14 + 20 + 16] ^= 0xff,
                        _ => {}
                    }
                    buf.set_len(len);
                    let _ = burst.push(buf);
                }
                n += q.tx_burst(&mut burst).unwrap_or(0);
            }
            sent.store(n, Ordering::Relaxed);
        });
        fetch(&env, &www, "attacked")
    });
    let rss_after = rss_of(pid);
    eprintln!(
        "download {base:?} alone, {attacked:?} under attack; {} attack frames; epserver RSS {rss_before} -> {rss_after}",
        sent.load(Ordering::Relaxed)
    );
    assert!(
        attacked <= base.max(Duration::from_millis(200)).mul_f64(10.0),
        "the download took {attacked:?} under attack, {base:?} without"
    );
    assert_eq!(sent.load(Ordering::Relaxed), MAX_SYNS);
    // Connections: at most 2 x max_concurrency (10 000) control blocks of a few KiB; buffers:
    // the cap; plus slack for the allocator.
    let bound = 2 * 10_000 * 8192 + 64 * 2 * 262_144 + (64 << 20);
    assert!(
        rss_after.saturating_sub(rss_before) <= bound,
        "epserver's resident memory grew from {rss_before} to {rss_after} (bound {bound})"
    );
    // Still serving, and still alive.
    fetch(&env, &www, "after");
    let mut srv = srv;
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "epserver exited under attack"
    );
}
