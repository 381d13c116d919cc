//! One port as a context sees it: its queue, addresses, ARP cache and transmit batch.
//!
//! Extension point: the `net` crate (ARP table with aging, routes, ICMP) will replace the small
//! ARP cache here; the interface to the stack stays `send_tcp` / `on_arp` / `flush`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use mtcp_io::{Burst, Queue, TxFrame};
use mtcp_wire::frame::{Frame, Network, Transport};
use mtcp_wire::{
    ArpOperation, ArpRepr, ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr,
    IpProtocol, Ipv4Repr, TcpRepr,
};

use crate::config::tables::{ArpEntry, in_prefix};
use crate::stats::PortCounters;

/// Frames held while their next hop's MAC is being resolved.
const MAX_PENDING: usize = 256;
/// An unanswered ARP request is sent again (on the next frame for that address, e.g. a SYN's
/// retransmission) after this long: a lost request or reply must not hold the frames forever.
const ARP_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// One port of one context.
pub struct NetIf<Q: Queue> {
    /// Port name (from mtcp.conf).
    pub name: String,
    /// Our address on this port.
    pub ip: Ipv4Addr,
    /// Prefix length of the port's subnet.
    pub prefix: u8,
    /// Our MAC.
    pub mac: EthernetAddress,
    /// The queue this context owns.
    pub queue: Q,
    tx: Burst<Q::Tx>,
    static_arp: Vec<ArpEntry>,
    learned: HashMap<Ipv4Addr, EthernetAddress>,
    pending: Vec<(Ipv4Addr, Q::Tx)>,
    /// Addresses asked for and not answered yet, with the time of the last request.
    asked: Vec<(Ipv4Addr, std::time::Instant)>,
    caps: ChecksumCapabilities,
    /// Counters.
    pub counters: PortCounters,
}

impl<Q: Queue> NetIf<Q> {
    /// A port with its queue and static ARP entries.
    pub fn new(
        name: String,
        ip: Ipv4Addr,
        prefix: u8,
        mac: EthernetAddress,
        queue: Q,
        mut static_arp: Vec<ArpEntry>,
    ) -> NetIf<Q> {
        static_arp.sort_by_key(|e| std::cmp::Reverse(e.prefix));
        NetIf {
            name,
            ip,
            prefix,
            mac,
            queue,
            tx: Burst::new(),
            static_arp,
            learned: HashMap::with_capacity(1024),
            pending: Vec::with_capacity(MAX_PENDING),
            asked: Vec::with_capacity(16),
            caps: ChecksumCapabilities::software(),
            counters: PortCounters::default(),
        }
    }

    /// Checksum work done in software.
    pub fn caps(&self) -> &ChecksumCapabilities {
        &self.caps
    }

    /// The MAC of `ip`: learned entries first, then arp.conf's longest prefix.
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<EthernetAddress> {
        if let Some(m) = self.learned.get(&ip) {
            return Some(*m);
        }
        self.static_arp
            .iter()
            .find(|e| in_prefix(ip, e.ip, e.prefix))
            .map(|e| e.mac)
    }

    /// Remembers `mac` for `ip` (from a received frame) and sends frames that waited for it.
    pub fn learn(&mut self, ip: Ipv4Addr, mac: EthernetAddress) {
        if self.learned.get(&ip) == Some(&mac) {
            return;
        }
        self.learned.insert(ip, mac);
        self.asked.retain(|(a, _)| *a != ip);
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].0 == ip {
                let (_, mut frame) = self.pending.swap_remove(i);
                frame[0..6].copy_from_slice(&mac.0);
                self.push_tx(frame);
            } else {
                i += 1;
            }
        }
    }

    /// Handles a received ARP packet: learn the sender, answer requests for our address.
    pub fn on_arp(&mut self, arp: &ArpRepr) {
        if arp.source_protocol_addr != Ipv4Addr::UNSPECIFIED
            && (arp.target_protocol_addr == self.ip
                || self.learned.contains_key(&arp.source_protocol_addr))
        {
            self.learn(arp.source_protocol_addr, arp.source_hardware_addr);
        }
        if arp.operation == ArpOperation::Request && arp.target_protocol_addr == self.ip {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: self.mac,
                source_protocol_addr: self.ip,
                target_hardware_addr: arp.source_hardware_addr,
                target_protocol_addr: arp.source_protocol_addr,
            };
            self.send_arp(reply, arp.source_hardware_addr);
        }
    }

    fn send_arp(&mut self, arp: ArpRepr, dst: EthernetAddress) {
        let frame = Frame {
            ethernet: EthernetRepr {
                src_addr: self.mac,
                dst_addr: dst,
                vlan: None,
                ethertype: EtherType::Arp,
            },
            network: Network::Arp(arp),
        };
        self.emit(&frame, true);
    }

    /// Answers an ICMP echo request.
    pub fn echo_reply(
        &mut self,
        to: Ipv4Addr,
        mac: EthernetAddress,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) {
        let icmp = mtcp_wire::Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        };
        let frame = Frame {
            ethernet: EthernetRepr {
                src_addr: self.mac,
                dst_addr: mac,
                vlan: None,
                ethertype: EtherType::Ipv4,
            },
            network: Network::Ipv4(
                Ipv4Repr::new(self.ip, to, IpProtocol::Icmp, icmp.buffer_len()),
                Transport::Icmp(icmp),
            ),
        };
        self.emit(&frame, true);
    }

    /// Builds the frame carrying `seg` from `src` to `dst` and queues it for transmission.
    pub fn send_tcp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, seg: &TcpRepr<'_>) {
        let mac = self.lookup(dst);
        let frame = Frame {
            ethernet: EthernetRepr {
                src_addr: self.mac,
                dst_addr: mac.unwrap_or(EthernetAddress::BROADCAST),
                vlan: None,
                ethertype: EtherType::Ipv4,
            },
            network: Network::Ipv4(
                Ipv4Repr::new(src, dst, IpProtocol::Tcp, seg.buffer_len()),
                Transport::Tcp(seg.clone()),
            ),
        };
        if mac.is_some() {
            self.emit(&frame, true);
            return;
        }
        // Unknown next hop: hold the frame and ask (again if the last request is old).
        let now = std::time::Instant::now();
        let asked = match self.asked.iter_mut().find(|(ip, _)| *ip == dst) {
            Some((_, at)) if now.duration_since(*at) < ARP_RETRY => true,
            Some((_, at)) => {
                *at = now;
                false
            }
            None => {
                self.asked.push((dst, now));
                false
            }
        };
        if self.pending.len() < MAX_PENDING {
            if let Some(f) = self.build(&frame) {
                self.pending.push((dst, f));
            }
        } else {
            self.counters.tx_errors += 1;
        }
        if !asked {
            let req = ArpRepr {
                operation: ArpOperation::Request,
                source_hardware_addr: self.mac,
                source_protocol_addr: self.ip,
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: dst,
            };
            self.send_arp(req, EthernetAddress::BROADCAST);
        }
    }

    fn build(&mut self, frame: &Frame<'_>) -> Option<Q::Tx> {
        let Some(mut buf) = self.queue.tx_alloc() else {
            self.counters.tx_errors += 1;
            return None;
        };
        let cap = buf.capacity();
        buf.set_len(cap);
        match frame.emit(&mut buf, &self.caps) {
            Ok(n) => {
                buf.set_len(n.max(60).min(cap));
                Some(buf)
            }
            Err(_) => {
                self.counters.tx_errors += 1;
                None
            }
        }
    }

    fn emit(&mut self, frame: &Frame<'_>, _now: bool) {
        if let Some(buf) = self.build(frame) {
            self.push_tx(buf);
        }
    }

    fn push_tx(&mut self, buf: Q::Tx) {
        if self.tx.is_full() {
            self.flush();
        }
        if let Err(buf) = self.tx.push(buf) {
            drop(buf);
            self.counters.tx_errors += 1;
        }
    }

    /// Transmits the batch. Frames the device refuses stay for the next flush; if the batch is
    /// still full they are dropped (TCP retransmits).
    pub fn flush(&mut self) {
        if self.tx.is_empty() {
            return;
        }
        let before = self.tx.len();
        let bytes: usize = self.tx.iter().map(|f| f.len()).sum();
        match self.queue.tx_burst(&mut self.tx) {
            Ok(_) => {
                let left: usize = self.tx.iter().map(|f| f.len()).sum();
                self.counters.tx_packets += (before - self.tx.len()) as u64;
                self.counters.tx_bytes += (bytes - left) as u64;
            }
            Err(_) => self.counters.tx_errors += 1,
        }
        if self.tx.is_full() {
            self.counters.tx_errors += self.tx.len() as u64;
            self.tx.clear();
        }
    }
}
