//! The IPv6 receive side: address checks (our unicast addresses, their solicited-node groups,
//! all-nodes), the extension-header walk with its parameter problems, Neighbour Discovery
//! (solicitations answered, duplicate address detection's included; advertisements resolve
//! waiting packets), ICMPv6 echo replies, and the hand-off of TCP segments.

use core::net::Ipv6Addr;

use mtcp_io::RxMeta;
use mtcp_wire::icmpv6::MAX_ERROR_LEN;
use mtcp_wire::ipv6::{ALL_NODES, Ipv6Header, is_solicited_node, multicast_mac, solicited_node};
use mtcp_wire::ipv6_ext::{self, Ipv6Payload, param_problem};
use mtcp_wire::{
    EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr, NeighborFlags,
    TcpPacket,
};

use crate::counters::RxDrop;
use crate::iface::Interface;
use crate::iface6::{IPV6_HEADER_LEN, ND_HOP_LIMIT};
use crate::rx::{Received, rx_mode, wire_drop};

impl Interface {
    /// Whether frames to `mac` are for this port over IPv6: the multicast MACs of all-nodes and
    /// of our addresses' solicited-node groups (33:33:ff:xx:xx:xx).
    pub(crate) fn listens_ipv6_mac(&self, mac: EthernetAddress) -> bool {
        let [a, b, c, d, e, f] = mac.0;
        if [a, b] != [0x33, 0x33] || self.config.ipv6.is_empty() {
            return false;
        }
        [c, d, e, f] == [0, 0, 0, 1]
            || self.config.ipv6.iter().any(|(addr, _)| {
                let o = addr.octets();
                [c, d, e, f] == [0xff, o[13], o[14], o[15]]
            })
    }

    /// Whether an IPv6 destination is ours: a unicast address, all-nodes, or the solicited-node
    /// group of one of our addresses.
    fn accepts_ipv6_dst(&self, dst: &Ipv6Addr) -> bool {
        self.is_our_ipv6(dst)
            || *dst == ALL_NODES
            || (is_solicited_node(*dst)
                && self
                    .config
                    .ipv6
                    .iter()
                    .any(|(a, _)| solicited_node(*a) == *dst))
    }

    /// Kept out of line so that the IPv4 dispatch around it stays small enough to inline
    /// (measured: inlined, it added a memcpy of `Received` to every IPv4 packet).
    #[inline(never)]
    pub(crate) fn receive_ipv6<'a>(
        &mut self,
        now_ms: u64,
        src_mac: EthernetAddress,
        payload: &'a [u8],
        meta: RxMeta,
    ) -> Received<'a> {
        if self.config.ipv6.is_empty() {
            return Received::Dropped(RxDrop::UnknownEthertype);
        }
        let packet = match Ipv6Packet::new_checked(payload) {
            Ok(p) => p,
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        let ip = match Ipv6Repr::parse(&packet) {
            Ok(ip) => ip,
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        if !self.accepts_ipv6_dst(&ip.dst_addr) {
            return Received::Dropped(RxDrop::NotOurAddress);
        }
        if self.is_our_ipv6(&ip.src_addr) {
            return Received::Dropped(RxDrop::BadSource);
        }
        match ipv6_ext::walk(&packet) {
            Ok(Ipv6Payload::Upper {
                protocol: IpProtocol::Tcp,
                data,
                ..
            }) if !ip.dst_addr.is_multicast() => {
                self.receive_tcp6(&ip, packet.header(), data, meta)
            }
            Ok(Ipv6Payload::Upper {
                protocol: IpProtocol::Icmpv6,
                data,
                ..
            }) => self.receive_icmpv6(now_ms, src_mac, &ip, data),
            Ok(Ipv6Payload::Upper { pointer, .. }) => {
                let code = param_problem::UNRECOGNIZED_NEXT_HEADER;
                self.param_problem(now_ms, src_mac, &ip, packet.payload(), code, pointer);
                Received::Dropped(RxDrop::UnsupportedProtocol)
            }
            Ok(Ipv6Payload::Fragment(_)) => {
                self.counters.fragments += 1;
                Received::Dropped(RxDrop::Fragment)
            }
            Ok(Ipv6Payload::NoNextHeader) => Received::Handled,
            Ok(Ipv6Payload::ParameterProblem { code, pointer }) => {
                self.param_problem(now_ms, src_mac, &ip, packet.payload(), code, pointer);
                Received::Dropped(RxDrop::Ipv6Refused)
            }
            Ok(Ipv6Payload::Discard) => Received::Dropped(RxDrop::Ipv6Refused),
            Err(e) => Received::Dropped(wire_drop(e)),
        }
    }

    fn receive_tcp6<'a>(
        &mut self,
        ip: &Ipv6Repr,
        header: &'a Ipv6Header,
        data: &'a [u8],
        meta: RxMeta,
    ) -> Received<'a> {
        // Never a peer's own address (as Linux): an IPv4-mapped source would reach the
        // application as an IPv4 client on a dual-stack listener, a loopback one is spoofed.
        let src = &ip.src_addr;
        if src.is_unspecified() || src.is_loopback() || src.to_ipv4_mapped().is_some() {
            return Received::Dropped(RxDrop::BadSource);
        }
        let Ok(mode) = rx_mode(meta.l4_checksum, self.config.checksum.tcp) else {
            return Received::Dropped(RxDrop::L4Checksum);
        };
        let segment = match TcpPacket::new_checked(data) {
            Ok(p) => p,
            Err(e) => return Received::Dropped(wire_drop(e)),
        };
        if mode.rx() && !segment.verify_checksum_ipv6(&ip.src_addr, &ip.dst_addr) {
            return Received::Dropped(RxDrop::L4Checksum);
        }
        if segment.src_port() == 0 || segment.dst_port() == 0 {
            return Received::Dropped(RxDrop::Malformed);
        }
        Received::Tcp6 { header, segment }
    }

    /// Answers a packet we refuse with an ICMPv6 parameter problem (RFC 4443 §3.4), quoting as
    /// much of it (`payload`: what followed its fixed header) as fits the minimum MTU. Not to
    /// multicast destinations (except for an unrecognised option whose type asks for it,
    /// §2.4(e)) nor to the unspecified address, and at most at the configured rate (§2.4(f)).
    fn param_problem(
        &mut self,
        now_ms: u64,
        src_mac: EthernetAddress,
        ip: &Ipv6Repr,
        payload: &[u8],
        code: u8,
        pointer: u32,
    ) {
        let multicast_ok = code == param_problem::UNRECOGNIZED_OPTION;
        if ip.src_addr.is_unspecified() || (ip.dst_addr.is_multicast() && !multicast_ok) {
            return;
        }
        let Some(src) = (if ip.dst_addr.is_multicast() {
            self.ipv6_source_for(&ip.src_addr)
        } else {
            Some(ip.dst_addr)
        }) else {
            return;
        };
        if !self.icmpv6_errors.take(now_ms) {
            self.counters.icmpv6_errors_limited += 1;
            return;
        }
        let quoted_len = (MAX_ERROR_LEN - 8 - IPV6_HEADER_LEN).min(payload.len());
        let msg = Icmpv6Repr::ParamProblem {
            code,
            pointer,
            header: *ip,
            data: &payload[..quoted_len],
        };
        if self.queue_icmpv6(src, ip.src_addr, src_mac, self.config.hop_limit, &msg) {
            self.counters.icmpv6_param_problems += 1;
        }
    }

    fn receive_icmpv6(
        &mut self,
        now_ms: u64,
        src_mac: EthernetAddress,
        ip: &Ipv6Repr,
        data: &[u8],
    ) -> Received<'static> {
        let parsed = Icmpv6Packet::new_checked(data).and_then(|p| {
            Icmpv6Repr::parse(&p, &ip.src_addr, &ip.dst_addr, self.config.checksum.icmpv6)
        });
        match parsed {
            Ok(Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }) if !ip.dst_addr.is_multicast() && !ip.src_addr.is_unspecified() => {
                self.counters.icmpv6_echo_requests += 1;
                let reply = Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let hop_limit = self.config.hop_limit;
                if self.queue_icmpv6(ip.dst_addr, ip.src_addr, src_mac, hop_limit, &reply) {
                    self.counters.icmpv6_echo_replies += 1;
                }
                Received::Handled
            }
            Ok(Icmpv6Repr::EchoReply { .. }) if !ip.dst_addr.is_multicast() => {
                self.counters.icmpv6_echo_replies_received += 1;
                Received::Handled
            }
            Ok(Icmpv6Repr::NeighborSolicit {
                target_addr,
                source_lladdr,
            }) => self.receive_solicitation(now_ms, src_mac, ip, target_addr, source_lladdr),
            Ok(Icmpv6Repr::NeighborAdvert {
                flags,
                target_addr,
                target_lladdr,
            }) => self.receive_advertisement(now_ms, ip, flags, target_addr, target_lladdr),
            Ok(_) | Err(mtcp_wire::Error::Unsupported) => {
                Received::Dropped(RxDrop::UnsupportedIcmp)
            }
            Err(mtcp_wire::Error::Checksum) => Received::Dropped(RxDrop::L4Checksum),
            Err(e) => Received::Dropped(wire_drop(e)),
        }
    }

    /// RFC 4861 §7.1.1 validation and §7.2.3-4 processing of a solicitation.
    fn receive_solicitation(
        &mut self,
        now_ms: u64,
        src_mac: EthernetAddress,
        ip: &Ipv6Repr,
        target: Ipv6Addr,
        source_lladdr: Option<EthernetAddress>,
    ) -> Received<'static> {
        let dad = ip.src_addr.is_unspecified();
        if ip.hop_limit != ND_HOP_LIMIT
            || (dad && (!is_solicited_node(ip.dst_addr) || source_lladdr.is_some()))
        {
            return Received::Dropped(RxDrop::NdInvalid);
        }
        if !self.is_our_ipv6(&target) {
            return Received::Dropped(RxDrop::NotOurAddress);
        }
        self.counters.nd_rx_solicits += 1;
        if dad {
            // Someone probes for an address we hold: defend it to all nodes (§7.2.4).
            let mac = multicast_mac(ALL_NODES).unwrap_or_default();
            self.queue_advertisement(target, ALL_NODES, mac, false);
            return Received::Handled;
        }
        let reply_mac = source_lladdr.unwrap_or(src_mac);
        if let Some(lladdr) = source_lladdr
            && !lladdr.is_multicast()
            && self.nd.on_solicitation(ip.src_addr, lladdr, now_ms)
        {
            self.resolved(ip.src_addr, lladdr);
        }
        self.queue_advertisement(target, ip.src_addr, reply_mac, true);
        Received::Handled
    }

    /// RFC 4861 §7.1.2 validation and §7.2.5 processing of an advertisement.
    fn receive_advertisement(
        &mut self,
        now_ms: u64,
        ip: &Ipv6Repr,
        flags: NeighborFlags,
        target: Ipv6Addr,
        lladdr: Option<EthernetAddress>,
    ) -> Received<'static> {
        if ip.hop_limit != ND_HOP_LIMIT || (flags.solicited && ip.dst_addr.is_multicast()) {
            return Received::Dropped(RxDrop::NdInvalid);
        }
        self.counters.nd_rx_adverts += 1;
        if self.is_our_ipv6(&target) {
            // Another node claims our address: nothing to learn (duplicate address detection
            // proper, which would give the address up, is not implemented).
            return Received::Handled;
        }
        let lladdr = lladdr.filter(|m| !m.is_multicast());
        if self.nd.on_advertisement(target, lladdr, flags, now_ms)
            && let Some(mac) = lladdr
        {
            self.resolved(target, mac);
        }
        Received::Handled
    }

    /// Releases the packets waiting for `ip`, now at `mac`.
    fn resolved(&mut self, ip: Ipv6Addr, mac: EthernetAddress) {
        self.counters.nd_resolved += 1;
        let flushed = self.store.flush_waiting(ip.into(), mac.0);
        self.counters.tx_flushed += flushed as u64;
    }
}
