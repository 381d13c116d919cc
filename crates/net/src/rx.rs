//! The receive side: Ethernet dispatch, ARP (learning, replies, resolution), IPv4 checks, ICMP
//! echo and the hand-off of TCP segments.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mtcp_io::{ChecksumStatus, RxMeta};
use mtcp_wire::ipv6::Ipv6Header;
use mtcp_wire::{
    ArpOperation, ArpPacket, ArpRepr, Checksum, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr,
};

use crate::counters::{RxDrop, TxDrop};
use crate::iface::{ETHERNET_HEADER_LEN, IPV4_HEADER_LEN, Interface, emit_ipv4};

/// What became of a received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// A TCP segment for the TCP engine, its checksum checked; [`Interface::read_tcp`] reads
    /// its representation into a slot the caller keeps ([`Received::tcp`] returns it).
    ///
    /// A view into the frame rather than a `TcpRepr` (about 100 bytes): built here and moved
    /// out through the return values, the representation was copied three times per segment,
    /// each copy a store-forwarding stall (wide loads of what narrow stores had just written).
    Tcp {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address (ours).
        dst: Ipv4Addr,
        /// The segment, checksum verified.
        segment: TcpPacket<'a>,
    },
    /// A TCP segment carried over IPv6, its checksum checked; [`Received::tcp6`] reads its
    /// addresses and representation.
    ///
    /// Views into the frame rather than two `Ipv6Addr` and a `TcpRepr`: a second variant holding
    /// a `TcpRepr` takes away the niche `Received` keeps its tag in, and the larger enum costs
    /// every IPv4 segment about 20 instructions (measured with cachegrind).
    Tcp6 {
        /// The IPv6 header in the frame.
        header: &'a Ipv6Header,
        /// The segment, checksum verified.
        segment: TcpPacket<'a>,
    },
    /// Consumed here (ARP, ICMP echo, Neighbour Discovery); any reply waits in
    /// [`Interface::transmit_ready`].
    Handled,
    /// Dropped and counted.
    Dropped(RxDrop),
}

impl<'a> Received<'a> {
    /// The source and destination addresses and the representation of a [`Received::Tcp`]
    /// segment (`None` for anything else); `Err` for a segment whose options are malformed
    /// (drop it). A receive path reads it in place instead, with [`Interface::read_tcp`].
    pub fn tcp(&self) -> Option<mtcp_wire::Result<(Ipv4Addr, Ipv4Addr, TcpRepr<'a>)>> {
        let Received::Tcp { src, dst, segment } = self else {
            return None;
        };
        let mut repr = TcpRepr::default();
        Some(repr.parse_into(segment).map(|()| (*src, *dst, repr)))
    }

    /// The source and destination addresses and the representation of a [`Received::Tcp6`]
    /// segment (`None` for anything else). Options are parsed here: `Err` for a segment whose
    /// options are malformed (drop it).
    pub fn tcp6(&self) -> Option<mtcp_wire::Result<(Ipv6Addr, Ipv6Addr, TcpRepr<'a>)>> {
        let Received::Tcp6 { header, segment } = self else {
            return None;
        };
        let (src, dst) = (Ipv6Addr::from(header.src), Ipv6Addr::from(header.dst));
        Some(TcpRepr::parse_ipv6(segment, &src, &dst, Checksum::None).map(|r| (src, dst, r)))
    }
}

pub(crate) fn wire_drop(e: mtcp_wire::Error) -> RxDrop {
    match e {
        mtcp_wire::Error::Truncated => RxDrop::Truncated,
        _ => RxDrop::Malformed,
    }
}

/// The checksum mode to parse with: the device's verdict if it gave one, else what software is
/// configured to do.
pub(crate) fn rx_mode(status: ChecksumStatus, software: Checksum) -> Result<Checksum, ()> {
    match status {
        ChecksumStatus::Good => Ok(Checksum::None),
        ChecksumStatus::Bad => Err(()),
        ChecksumStatus::Unknown if software.rx() => Ok(Checksum::Both),
        ChecksumStatus::Unknown => Ok(Checksum::None),
    }
}

impl Interface {
    /// Processes one received frame at time `now_ms`, with what the device said about it.
    pub fn receive<'a>(&mut self, now_ms: u64, frame: &'a [u8], meta: RxMeta) -> Received<'a> {
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += frame.len() as u64;
        let result = self.dispatch(now_ms, frame, meta);
        match &result {
            Received::Dropped(reason) => self.counters.count_rx_drop(*reason),
            Received::Tcp { .. } => self.counters.rx_tcp += 1,
            Received::Tcp6 { .. } => {
                self.counters.rx_tcp += 1;
                self.counters.rx_tcp6 += 1;
            }
            Received::Handled => {}
        }
        result
    }

    /// Reads the segment of a [`Received::Tcp`] or [`Received::Tcp6`] into `repr`, in place,
    /// and returns its source and destination; `None` for anything else, and for a segment the
    /// TCP layer cannot take (malformed options, port 0): drop it. [`Interface::receive`]
    /// counted that one as a TCP segment; it is counted as a [`RxDrop::Malformed`] drop
    /// instead, so the counters read as if the interface had dropped it. Call it once per
    /// received segment.
    pub fn read_tcp<'a>(
        &mut self,
        received: &Received<'a>,
        repr: &mut TcpRepr<'a>,
    ) -> Option<(IpAddr, IpAddr)> {
        let (src, dst, segment, six): (IpAddr, IpAddr, _, _) = match received {
            Received::Tcp { src, dst, segment } => ((*src).into(), (*dst).into(), segment, false),
            Received::Tcp6 { header, segment } => (
                Ipv6Addr::from(header.src).into(),
                Ipv6Addr::from(header.dst).into(),
                segment,
                true,
            ),
            _ => return None,
        };
        if repr.parse_into(segment).is_err() {
            // Saturating: a caller that reads one segment twice miscounts, never panics.
            self.counters.rx_tcp = self.counters.rx_tcp.saturating_sub(1);
            self.counters.rx_tcp6 = self.counters.rx_tcp6.saturating_sub(u64::from(six));
            self.counters.count_rx_drop(RxDrop::Malformed);
            return None;
        }
        Some((src, dst))
    }

    fn dispatch<'a>(&mut self, now_ms: u64, frame: &'a [u8], meta: RxMeta) -> Received<'a> {
        let eth = match EthernetFrame::new_checked(frame) {
            Ok(eth) => eth,
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        let dst = eth.dst_addr();
        if dst != self.config.mac
            && dst != EthernetAddress::BROADCAST
            && !(eth.ethertype() == EtherType::Ipv6 && self.listens_ipv6_mac(dst))
        {
            return Received::Dropped(RxDrop::NotOurMac);
        }
        if eth.vlan().is_some() {
            return Received::Dropped(RxDrop::Vlan);
        }
        match eth.ethertype() {
            EtherType::Arp => self.receive_arp(now_ms, eth.payload()),
            EtherType::Ipv4 => self.receive_ipv4(eth.src_addr(), eth.payload(), meta),
            EtherType::Ipv6 => self.receive_ipv6(now_ms, eth.src_addr(), eth.payload(), meta),
            _ => Received::Dropped(RxDrop::UnknownEthertype),
        }
    }

    fn receive_arp(&mut self, now_ms: u64, payload: &[u8]) -> Received<'static> {
        let arp = match ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(arp) => arp,
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        match arp.operation {
            ArpOperation::Request => self.counters.arp_rx_requests += 1,
            ArpOperation::Reply => self.counters.arp_rx_replies += 1,
            ArpOperation::Unknown(_) => return Received::Dropped(RxDrop::Malformed),
        }
        let (spa, sha) = (arp.source_protocol_addr, arp.source_hardware_addr);
        let tpa = arp.target_protocol_addr;
        let for_us = self.is_our_addr(tpa);
        let valid_sender = !sha.is_multicast()
            && sha != EthernetAddress::default()
            && self.is_unicast_peer(spa)
            && !self.is_our_addr(spa);
        // RFC 826: update a known sender; add it when the packet is for us. A reply to our own
        // request is "for us" as well.
        let mut learned = false;
        if valid_sender
            && (for_us || self.arp.has_learned(spa) || self.store.resolving_mut(spa).is_some())
        {
            self.arp.learn(spa, sha, now_ms);
            learned = true;
            if self.store.stop_resolving(spa) {
                self.counters.arp_resolved += 1;
            }
            let flushed = self.store.flush_waiting(spa.into(), sha.0);
            self.counters.tx_flushed += flushed as u64;
        }
        if arp.operation == ArpOperation::Request && for_us && !sha.is_multicast() {
            // Probes (sender 0.0.0.0, RFC 5227) are answered too, to the asking MAC.
            self.queue_arp(ArpOperation::Reply, tpa, sha, spa);
            return Received::Handled;
        }
        if learned || for_us {
            Received::Handled
        } else {
            Received::Dropped(RxDrop::ArpNotForUs)
        }
    }

    /// Whether `ip` can be a peer: not unspecified, broadcast (limited or directed), multicast
    /// or class E.
    fn is_unicast_peer(&self, ip: Ipv4Addr) -> bool {
        !(ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.octets()[0] >= 240
            || ip == self.broadcast_addr())
    }

    fn receive_ipv4<'a>(
        &mut self,
        src_mac: EthernetAddress,
        payload: &'a [u8],
        meta: RxMeta,
    ) -> Received<'a> {
        let packet = match Ipv4Packet::new_checked(payload) {
            Ok(p) => p,
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        let Ok(mode) = rx_mode(meta.ipv4_checksum, self.config.checksum.ipv4) else {
            return Received::Dropped(RxDrop::Ipv4Checksum);
        };
        let ip = match Ipv4Repr::parse(&packet, mode) {
            Ok(ip) => ip,
            Err(mtcp_wire::Error::Checksum) => return Received::Dropped(RxDrop::Ipv4Checksum),
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        if !self.is_our_addr(ip.dst_addr) {
            return Received::Dropped(RxDrop::NotOurAddress);
        }
        if ip.is_fragment() {
            self.counters.fragments += 1;
            return Received::Dropped(RxDrop::Fragment);
        }
        if ip.ttl == 0 {
            return Received::Dropped(RxDrop::TtlExpired);
        }
        if !self.is_unicast_peer(ip.src_addr) || self.is_our_addr(ip.src_addr) {
            return Received::Dropped(RxDrop::BadSource);
        }
        let data = packet.payload();
        match ip.protocol {
            IpProtocol::Tcp => {
                let Ok(mode) = rx_mode(meta.l4_checksum, self.config.checksum.tcp) else {
                    return Received::Dropped(RxDrop::L4Checksum);
                };
                let segment = match TcpPacket::new_checked(data) {
                    Ok(s) => s,
                    Err(e) => return Received::Dropped(wire_drop(e)),
                };
                if mode.rx() && !segment.verify_checksum(ip.src_addr, ip.dst_addr) {
                    return Received::Dropped(RxDrop::L4Checksum);
                }
                Received::Tcp {
                    src: ip.src_addr,
                    dst: ip.dst_addr,
                    segment,
                }
            }
            IpProtocol::Icmp => self.receive_icmp(src_mac, &ip, data),
            _ => Received::Dropped(RxDrop::UnsupportedProtocol),
        }
    }

    fn receive_icmp(
        &mut self,
        src_mac: EthernetAddress,
        ip: &Ipv4Repr,
        data: &[u8],
    ) -> Received<'static> {
        let parsed = Icmpv4Packet::new_checked(data)
            .and_then(|p| Icmpv4Repr::parse(&p, self.config.checksum.icmpv4));
        let (ident, seq_no, echo) = match parsed {
            Ok(Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }) => (ident, seq_no, data),
            Ok(_) | Err(mtcp_wire::Error::Unsupported) => {
                return Received::Dropped(RxDrop::UnsupportedIcmp);
            }
            Err(mtcp_wire::Error::Checksum) => return Received::Dropped(RxDrop::L4Checksum),
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        self.counters.icmp_echo_requests += 1;
        let reply = Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data: echo,
        };
        let reply_ip = Ipv4Repr {
            ttl: self.config.ttl,
            ..Ipv4Repr::new(
                ip.dst_addr,
                ip.src_addr,
                IpProtocol::Icmp,
                reply.buffer_len(),
            )
        };
        // The request came over the link from `src_mac`: answer there, without routing or ARP.
        let eth = EthernetRepr {
            src_addr: self.config.mac,
            dst_addr: src_mac,
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        if IPV4_HEADER_LEN + reply_ip.payload_len > self.config.mtu
            || ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + reply_ip.payload_len > self.store.slot_len()
        {
            self.counters.count_tx_drop(TxDrop::TooBig, 1);
            return Received::Handled;
        }
        let offload = self.offload(None);
        let (ipv4, icmp) = (self.config.checksum.ipv4, self.config.checksum.icmpv4);
        let Some((slot, buf)) = self.store.alloc() else {
            self.counters.count_tx_drop(TxDrop::NoSlot, 1);
            return Received::Handled;
        };
        match emit_ipv4(buf, &eth, &reply_ip, ipv4, |p| {
            reply.emit(p, icmp).map(|_| ())
        }) {
            Ok(len) => {
                self.store.push_ready(slot, len, offload);
                self.counters.icmp_echo_replies += 1;
            }
            Err(reason) => {
                self.store.release(slot);
                self.counters.count_tx_drop(reason, 1);
            }
        }
        Received::Handled
    }
}
