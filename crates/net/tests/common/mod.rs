//! Shared by the kernel tests: an `Interface` on a TAP whose kernel side sits in a namespace the
//! test creates, driven by a small loop.
#![allow(dead_code)]

use core::net::{IpAddr, Ipv4Addr};
use mtcp_testkit::responder::ping_received;
use std::time::{Duration, Instant};

use mtcp_io::tap::{TapConfig, TapDevice};
use mtcp_io::{Burst, Device, Queue, RxFrame, TxFrame};
use mtcp_net::{Interface, InterfaceConfig, SendResult, capabilities_from_offload};
use mtcp_testkit::{Netns, unique_name};
use mtcp_wire::TcpRepr;

pub struct Link {
    pub ns: Netns,
    pub queue: <TapDevice as Device>::Queue,
    pub iface: Interface,
    pub start: Instant,
}

/// A TAP in a fresh namespace: the kernel's side has `kernel_ip/24`, ours `our_ip/24`.
pub fn link(prefix: &str, kernel_ip: &str, our_ip: Ipv4Addr) -> Link {
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
        ns,
        iface: Interface::new(config),
        start: Instant::now(),
    }
}

impl Link {
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Receives and answers for up to `wait`; calls `on_tcp(now_ms, src, dst, segment)` with every
    /// segment passed up and stops early when it returns true.
    pub fn run(
        &mut self,
        wait: Duration,
        mut on_tcp: impl FnMut(u64, Ipv4Addr, Ipv4Addr, &TcpRepr<'_>) -> bool,
    ) -> bool {
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
                if let Some(Ok((src, dst, repr))) =
                    self.iface.receive(now, frame, frame.meta()).tcp()
                    && on_tcp(now, src, dst, &repr)
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
    pub fn flush(&mut self) {
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

impl Link {
    /// Runs `ping <args> <dst>` inside the namespace while driving the interface.
    pub fn ping(&mut self, args: &[&str], dst: Ipv4Addr) -> (bool, u32, String) {
        self.ping_to(args, &dst.to_string())
    }

    /// [`Link::ping`] to any destination (`-6` in `args` for IPv6).
    pub fn ping_to(&mut self, args: &[&str], dst: &str) -> (bool, u32, String) {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", self.ns.name(), "ping"])
            .args(args)
            .arg(dst);
        let ping = std::thread::spawn(move || cmd.output().unwrap());
        while !ping.is_finished() {
            self.run(Duration::from_millis(50), |_, _, _, _| false);
        }
        let out = ping.join().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), ping_received(&text), text)
    }
}

impl Link {
    /// Sends a segment, straight to the device when the next hop is known.
    pub fn send_tcp(&mut self, src: IpAddr, dst: IpAddr, seg: &TcpRepr<'_>) -> SendResult {
        let now = self.now_ms();
        let Some(mut buf) = self.queue.tx_alloc() else {
            return SendResult::Dropped(mtcp_net::TxDrop::NoSlot);
        };
        let cap = buf.capacity();
        buf.set_len(cap);
        let result = self.iface.send_tcp_ip(now, dst, src, dst, seg, &mut buf);
        if let SendResult::Sent(t) = result {
            buf.set_len(t.len);
            buf.set_offload(t.offload);
            let mut tx: Burst<<<TapDevice as Device>::Queue as Queue>::Tx> = Burst::new();
            let _ = tx.push(buf);
            while !tx.is_empty() {
                self.queue.tx_burst(&mut tx).unwrap();
            }
        }
        result
    }

    /// Puts one whole frame on the device.
    pub fn send_raw(&mut self, frame: &[u8]) {
        let mut buf = self.queue.tx_alloc().expect("a transmit buffer");
        buf.set_len(frame.len());
        buf.copy_from_slice(frame);
        let mut tx: Burst<<<TapDevice as Device>::Queue as Queue>::Tx> = Burst::new();
        let _ = tx.push(buf);
        while !tx.is_empty() {
            self.queue.tx_burst(&mut tx).unwrap();
        }
    }
}
