//! A tiny ARP + ICMP echo responder for one IPv4 address, on raw Ethernet frames, for the tests
//! where the Linux kernel pings a backend (TAP, AF_PACKET, DPDK vdevs). Built on mtcp-wire's
//! parser and emitter (the one place tests answer ARP and ping).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mtcp_io::{Burst, EthernetAddress, Queue, TxFrame};
use mtcp_wire::{
    ArpOperation, ArpRepr, Checksum, ChecksumCapabilities, EtherType, EthernetRepr, Frame,
    Icmpv4Repr, Ipv4Repr, Network, Transport,
};

/// What the responder answered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Answered {
    /// ARP requests answered.
    pub arp: u32,
    /// ICMP echo requests answered.
    pub echo: u32,
}

/// Builds the answer to `frame` (ARP request for `ip`, or ICMP echo request to `ip`) into `out`;
/// returns its length (at least 60), or `None` if the frame needs no answer. With
/// `offload_ip_checksum` an echo reply's IPv4 header checksum is left zero for the device.
pub fn answer(
    frame: &[u8],
    mac: EthernetAddress,
    ip: Ipv4Addr,
    out: &mut [u8],
    offload_ip_checksum: bool,
    seen: &mut Answered,
) -> Option<usize> {
    let mut caps = ChecksumCapabilities::software();
    if offload_ip_checksum {
        caps.ipv4 = Checksum::Rx;
    }
    let parsed = Frame::parse(frame, &caps).ok()?;
    let reply = match parsed.network {
        Network::Arp(arp)
            if arp.operation == ArpOperation::Request && arp.target_protocol_addr == ip =>
        {
            seen.arp += 1;
            Frame {
                ethernet: EthernetRepr {
                    src_addr: mac,
                    dst_addr: arp.source_hardware_addr,
                    vlan: None,
                    ethertype: EtherType::Arp,
                },
                network: Network::Arp(ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hardware_addr: mac,
                    source_protocol_addr: ip,
                    target_hardware_addr: arp.source_hardware_addr,
                    target_protocol_addr: arp.source_protocol_addr,
                }),
            }
        }
        Network::Ipv4(
            req_ip,
            Transport::Icmp(Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
        ) if req_ip.dst_addr == ip && parsed.ethernet.dst_addr == mac => {
            seen.echo += 1;
            let icmp = Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            };
            Frame {
                ethernet: EthernetRepr {
                    src_addr: mac,
                    dst_addr: parsed.ethernet.src_addr,
                    vlan: None,
                    ethertype: EtherType::Ipv4,
                },
                network: Network::Ipv4(
                    Ipv4Repr {
                        src_addr: ip,
                        dst_addr: req_ip.src_addr,
                        payload_len: icmp.buffer_len(),
                        ttl: 64,
                        dscp_ecn: 0,
                        ident: seq_no,
                        dont_frag: false,
                        more_frags: false,
                        frag_offset: 0,
                        ..req_ip
                    },
                    Transport::Icmp(icmp),
                ),
            }
        }
        _ => return None,
    };
    let len = reply.buffer_len().max(60);
    let out = out.get_mut(..len)?;
    out.fill(0);
    reply.emit(out, &caps).ok()?;
    Some(len)
}

/// Answers ARP and ping for `ip` on queue `q` until `stop` is set; returns what it answered.
pub fn respond<Q: Queue>(
    mut q: Q,
    mac: EthernetAddress,
    ip: Ipv4Addr,
    stop: Arc<AtomicBool>,
) -> Answered {
    let mut seen = Answered::default();
    let mut rx: Burst<Q::Rx> = Burst::new();
    let mut tx: Burst<Q::Tx> = Burst::new();
    while !stop.load(Ordering::Relaxed) {
        rx.clear();
        if q.rx_burst(&mut rx).unwrap_or(0) == 0 {
            let _ = q.wait_rx(Duration::from_millis(20));
            continue;
        }
        for frame in rx.iter() {
            let Some(mut buf) = q.tx_alloc() else { break };
            let cap = buf.capacity();
            buf.set_len(cap);
            if let Some(len) = answer(frame, mac, ip, &mut buf, false, &mut seen) {
                buf.set_len(len);
                let _ = tx.push(buf);
            }
        }
        while !tx.is_empty() {
            if q.tx_burst(&mut tx).is_err() {
                tx.clear();
            }
        }
    }
    seen
}

/// Parses `ping` output for the number of received replies.
pub fn ping_received(output: &str) -> u32 {
    output
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The kernel in `pinger` pings `ip` three times while [`respond`] answers on `q`: asserts that
/// all three replies came back and that the responder saw ARP and the echoes.
pub fn kernel_pings_responder<Q: Queue + 'static>(
    pinger: &crate::Netns,
    q: Q,
    mac: EthernetAddress,
    ip: Ipv4Addr,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let responder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || respond(q, mac, ip, stop))
    };
    let target = ip.to_string();
    let out = pinger
        .exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &target])
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen = responder.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ping failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ping_received(&text), 3, "{text}");
    assert!(seen.arp >= 1 && seen.echo >= 3, "responder saw {seen:?}");
}
