//! `Interface` against the Linux kernel over a TAP device inside a network namespace that each
//! test creates (and removes, through the `Netns` guard). Needs root; skipped with a message
//! otherwise. Addresses come from 198.18.0.0/15 only.

use core::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mtcp_io::tap::{TapConfig, TapDevice};
use mtcp_io::{Burst, Device, Queue, RxFrame, TxFrame};
use mtcp_net::{Interface, InterfaceConfig, Received, SendResult, capabilities_from_offload};
use mtcp_testkit::{Netns, require_root, unique_name};
use mtcp_wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

struct Link {
    _ns: Netns,
    queue: <TapDevice as Device>::Queue,
    iface: Interface,
    start: Instant,
}

/// A TAP in a fresh namespace: the kernel's side has `kernel_ip/24`, ours `our_ip/24`.
fn link(prefix: &str, kernel_ip: &str, our_ip: Ipv4Addr) -> Link {
    let ns = Netns::new(&unique_name(prefix)).unwrap();
    let name = unique_name("tap");
    let cfg = TapConfig::new(&name);
    let mut dev = ns.run(move || TapDevice::open(&cfg)).unwrap().unwrap();
    ns.exec_ok(&[
        "ip",
        "addr",
        "add",
        &format!("{kernel_ip}/24"),
        "dev",
        &name,
    ])
    .unwrap();
    ns.exec_ok(&["ip", "link", "set", &name, "up"]).unwrap();
    let info = dev.info().clone();
    let mut config = InterfaceConfig::new(info.mac, our_ip, 24);
    config.mtu = info.mtu;
    config.checksum = capabilities_from_offload(info.checksum);
    Link {
        queue: dev.queue(0).unwrap(),
        _ns: ns,
        iface: Interface::new(config),
        start: Instant::now(),
    }
}

impl Link {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Receives and answers for up to `wait`; calls `on_tcp` with every segment passed up and
    /// stops early when it returns true.
    fn run(&mut self, wait: Duration, mut on_tcp: impl FnMut(&TcpRepr<'_>) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        let mut rx: Burst<<<TapDevice as Device>::Queue as Queue>::Rx> = Burst::new();
        while Instant::now() < deadline {
            let now = self.now_ms();
            self.iface.poll(now);
            self.flush();
            rx.clear();
            if self.queue.rx_burst(&mut rx).unwrap() == 0 {
                self.queue.wait_rx(Duration::from_millis(10)).unwrap();
                continue;
            }
            for frame in rx.iter() {
                if let Received::Tcp { repr, .. } = self.iface.receive(now, frame, frame.meta())
                    && on_tcp(&repr)
                {
                    self.flush();
                    return true;
                }
            }
            self.flush();
        }
        false
    }

    /// Moves every frame the interface queued to the device.
    fn flush(&mut self) {
        let mut tx: Burst<<<TapDevice as Device>::Queue as Queue>::Tx> = Burst::new();
        loop {
            let Some(mut buf) = self.queue.tx_alloc() else {
                break;
            };
            let cap = buf.capacity();
            buf.set_len(cap);
            let Some(t) = self.iface.transmit_ready(&mut buf) else {
                break;
            };
            buf.set_len(t.len);
            buf.set_offload(t.offload);
            let _ = tx.push(buf);
            if tx.is_full() {
                self.queue.tx_burst(&mut tx).unwrap();
                tx.clear();
            }
        }
        while !tx.is_empty() {
            self.queue.tx_burst(&mut tx).unwrap();
        }
    }
}

fn ping_received(output: &str) -> u32 {
    output
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Link {
    /// Runs `ping <args> <dst>` inside the namespace while driving the interface.
    fn ping(&mut self, args: &[&str], dst: Ipv4Addr) -> (bool, u32, String) {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", self._ns.name(), "ping"])
            .args(args)
            .arg(dst.to_string());
        let ping = std::thread::spawn(move || cmd.output().unwrap());
        while !ping.is_finished() {
            self.run(Duration::from_millis(50), |_| false);
        }
        let out = ping.join().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), ping_received(&text), text)
    }
}

#[test]
fn kernel_pings_the_interface() {
    if !require_root("kernel_pings_the_interface") {
        return;
    }
    let us = Ipv4Addr::new(198, 18, 20, 2);
    let mut l = link("nkp", "198.18.20.1", us);
    let (ok, received, text) = l.ping(&["-c", "4", "-i", "0.2", "-W", "2", "-s", "300"], us);
    assert!(ok, "ping failed: {text}");
    assert_eq!(received, 4, "{text}");
    let c = l.iface.counters().clone();
    assert!(c.arp_tx_replies >= 1, "{c:?}");
    assert_eq!(c.icmp_echo_replies, 4, "{c:?}");
    // The kernel told us its MAC when it asked for ours.
    assert!(
        l.iface
            .arp_table()
            .lookup(Ipv4Addr::new(198, 18, 20, 1), l.now_ms())
            .is_some()
    );
    // The largest datagram the MTU allows: 1472 + 8 + 20 = 1500 bytes.
    let (ok, received, text) = l.ping(&["-c", "1", "-W", "2", "-s", "1472", "-M", "do"], us);
    assert!(ok && received == 1, "full-size ping failed: {text}");
    // One byte more and the kernel fragments it: we count the fragments and do not answer.
    let (ok, received, text) = l.ping(&["-c", "2", "-i", "0.2", "-W", "1", "-s", "1473"], us);
    assert!(!ok && received == 0, "fragmented ping answered: {text}");
    let c = l.iface.counters();
    assert_eq!(c.fragments, 4, "{c:?}");
    assert_eq!(c.rx_dropped(mtcp_net::RxDrop::Fragment), 4);
    assert_eq!(c.icmp_echo_replies, 5);
}

#[test]
fn segment_to_the_kernel_waits_for_arp_and_a_closed_port_answers_rst() {
    if !require_root("segment_to_the_kernel_waits_for_arp_and_a_closed_port_answers_rst") {
        return;
    }
    let us = Ipv4Addr::new(198, 18, 21, 2);
    let kernel = Ipv4Addr::new(198, 18, 21, 1);
    let mut l = link("nks", "198.18.21.1", us);
    let syn = TcpRepr {
        src_port: 40001,
        dst_port: 9,
        seq_number: SeqNumber(0x1000_0000),
        ack_number: SeqNumber(0),
        flags: TcpFlags::SYN,
        window_len: 64240,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = [0u8; 1514];
    let now = l.now_ms();
    assert_eq!(
        l.iface.send_tcp(now, kernel, us, kernel, &syn, &mut buf),
        SendResult::Queued
    );
    let mut rst = None;
    let got = l.run(Duration::from_secs(5), |seg| {
        rst = Some((seg.flags, seg.ack_number, seg.dst_port));
        seg.flags.contains(TcpFlags::RST)
    });
    assert!(got, "no RST; counters {:?}", l.iface.counters());
    let (flags, ack, port) = rst.unwrap();
    assert!(flags.contains(TcpFlags::ACK));
    assert_eq!(ack, SeqNumber(0x1000_0001));
    assert_eq!(port, 40001);
    let c = l.iface.counters();
    assert_eq!((c.arp_resolved, c.tx_flushed), (1, 1), "{c:?}");
    // Now resolved: the next segment goes straight out.
    let now = l.now_ms();
    assert!(matches!(
        l.iface.send_tcp(now, kernel, us, kernel, &syn, &mut buf),
        SendResult::Sent(_)
    ));
}
