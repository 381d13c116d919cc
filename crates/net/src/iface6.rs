//! The IPv6 transmit side of an interface: datagrams out through the neighbour cache (parked while
//! a neighbour resolves), neighbour solicitations and advertisements, and ICMPv6 control messages
//! queued for [`Interface::transmit_ready`]. The receive side is in `rx6.rs`.
//!
//! IPv6 layer-4 checksums are always computed in software: the devices' offload requests
//! ([`mtcp_io::TxOffload`]) describe IPv4 frames only.

use core::net::{IpAddr, Ipv6Addr};

use mtcp_io::TxOffload;
use mtcp_wire::ipv6::{self, multicast_mac, solicited_node};
use mtcp_wire::{
    Checksum, EtherType, EthernetAddress, EthernetRepr, Icmpv6Repr, IpProtocol, Ipv6Repr,
    NeighborFlags, TcpRepr,
};

use crate::counters::TxDrop;
use crate::iface::{ETHERNET_HEADER_LEN, Interface, SendResult, Transmit};
use crate::nd::{NdAction, NeighborCache, Resolution};
use crate::route6::network6;

/// IPv6 header length (no extension headers are emitted).
pub const IPV6_HEADER_LEN: usize = ipv6::HEADER_LEN;

/// The hop limit every Neighbour Discovery message carries and requires (RFC 4861 §7.1).
pub(crate) const ND_HOP_LIMIT: u8 = 255;

impl Interface {
    /// The port's IPv6 addresses with their prefix lengths.
    pub fn ipv6_addrs(&self) -> &[(Ipv6Addr, u8)] {
        &self.config.ipv6
    }
    /// Whether `ip` is one of the port's IPv6 addresses.
    pub fn is_our_ipv6(&self, ip: &Ipv6Addr) -> bool {
        self.config.ipv6.iter().any(|(a, _)| a == ip)
    }
    /// The neighbour cache.
    pub fn neighbor_cache(&self) -> &NeighborCache {
        &self.nd
    }
    /// The neighbour cache, for upper-layer reachability confirmations.
    pub fn neighbor_cache_mut(&mut self) -> &mut NeighborCache {
        &mut self.nd
    }

    /// The address to send from toward `dst`: the port's address in `dst`'s prefix, else its
    /// first one. `None` when the port has no IPv6 address.
    pub fn ipv6_source_for(&self, dst: &Ipv6Addr) -> Option<Ipv6Addr> {
        let v6 = &self.config.ipv6;
        v6.iter()
            .find(|(a, len)| network6(*a, *len) == network6(*dst, *len))
            .or(v6.first())
            .map(|(a, _)| *a)
    }

    /// Sends a TCP segment over IPv6 from `src` to `dst` through `next_hop` (from
    /// [`crate::Route6Table`]), writing Ethernet, IPv6 and TCP into `buf` when the next hop's MAC
    /// is known.
    pub fn send_tcp_ipv6(
        &mut self,
        now_ms: u64,
        next_hop: Ipv6Addr,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        repr: &TcpRepr<'_>,
        buf: &mut [u8],
    ) -> SendResult {
        let ip = Ipv6Repr::new(src, dst, IpProtocol::Tcp, repr.buffer_len());
        let result = self.send_ipv6(now_ms, next_hop, ip, buf, |payload| {
            repr.emit_ipv6(payload, &src, &dst, Checksum::Both)
                .map(|_| ())
        });
        if !matches!(result, SendResult::Dropped(_)) {
            self.counters.tx_tcp6 += 1;
        }
        result
    }

    /// [`Interface::send_tcp`] or [`Interface::send_tcp_ipv6`] by the addresses' family (as the
    /// TCP engine gives them); addresses of two families are dropped as
    /// [`TxDrop::Emit`].
    pub fn send_tcp_ip(
        &mut self,
        now_ms: u64,
        next_hop: IpAddr,
        src: IpAddr,
        dst: IpAddr,
        repr: &TcpRepr<'_>,
        buf: &mut [u8],
    ) -> SendResult {
        match (next_hop, src, dst) {
            (IpAddr::V4(h), IpAddr::V4(s), IpAddr::V4(d)) => {
                self.send_tcp(now_ms, h, s, d, repr, buf)
            }
            (IpAddr::V6(h), IpAddr::V6(s), IpAddr::V6(d)) => {
                self.send_tcp_ipv6(now_ms, h, s, d, repr, buf)
            }
            _ => self.drop6(TxDrop::Emit),
        }
    }

    /// Sends an ICMPv6 echo request (ping) to `dst` through `next_hop`, from the port's address
    /// for `dst`; the answer is counted in `icmpv6_echo_replies_received`. Dropped as
    /// [`TxDrop::Emit`] when the port has no IPv6 address.
    pub fn send_echo_request6(
        &mut self,
        now_ms: u64,
        next_hop: Ipv6Addr,
        dst: Ipv6Addr,
        (ident, seq_no): (u16, u16),
        data: &[u8],
        buf: &mut [u8],
    ) -> SendResult {
        let Some(src) = self.ipv6_source_for(&dst) else {
            return self.drop6(TxDrop::Emit);
        };
        let msg = Icmpv6Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        let ip = Ipv6Repr::new(src, dst, IpProtocol::Icmpv6, msg.buffer_len());
        let result = self.send_ipv6(now_ms, next_hop, ip, buf, |payload| {
            msg.emit(payload, &src, &dst, Checksum::Both).map(|_| ())
        });
        if !matches!(result, SendResult::Dropped(_)) {
            self.counters.icmpv6_echo_requests_sent += 1;
        }
        result
    }

    /// Sends an IPv6 packet described by `ip` (its hop limit replaced by the configured one) whose
    /// payload `fill` writes into exactly `ip.payload_len` bytes, checksum included. A multicast
    /// destination goes to its mapped MAC; a unicast next hop is resolved by Neighbour Discovery.
    pub fn send_ipv6(
        &mut self,
        now_ms: u64,
        next_hop: Ipv6Addr,
        ip: Ipv6Repr,
        buf: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> mtcp_wire::Result<()>,
    ) -> SendResult {
        if IPV6_HEADER_LEN + ip.payload_len > self.config.mtu {
            return self.drop6(TxDrop::TooBig);
        }
        let ip = Ipv6Repr {
            hop_limit: self.config.hop_limit,
            ..ip
        };
        let resolution = match multicast_mac(ip.dst_addr) {
            Some(mac) => Resolution::Mac(mac),
            None => self.nd.resolve(next_hop, now_ms),
        };
        let eth = |dst_addr| EthernetRepr {
            src_addr: self.config.mac,
            dst_addr,
            vlan: None,
            ethertype: EtherType::Ipv6,
        };
        let offload = self.offload6;
        let solicit = match resolution {
            Resolution::Mac(mac) => {
                return match emit_ipv6(buf, &eth(mac), &ip, fill) {
                    Ok(len) => {
                        self.counters.tx_packets += 1;
                        self.counters.tx_bytes += len as u64;
                        SendResult::Sent(Transmit { len, offload })
                    }
                    Err(reason) => self.drop6(reason),
                };
            }
            Resolution::Full => return self.drop6(TxDrop::NdFailed),
            Resolution::Wait { solicit } => solicit,
        };
        let frame = eth(EthernetAddress::default());
        let Some((slot, slot_buf)) = self.store.alloc_waiting() else {
            return self.drop6(TxDrop::WaitQueueFull);
        };
        match emit_ipv6(slot_buf, &frame, &ip, fill) {
            Ok(len) => self.store.push_waiting(slot, len, offload, next_hop.into()),
            Err(reason) => {
                self.store.release(slot);
                return self.drop6(reason);
            }
        }
        self.counters.tx_waited += 1;
        if solicit {
            self.queue_solicitation(next_hop, None);
        }
        SendResult::Queued
    }

    fn drop6(&mut self, reason: TxDrop) -> SendResult {
        self.counters.count_tx_drop(reason, 1);
        SendResult::Dropped(reason)
    }

    /// Runs the neighbour cache's timers: retries, probes, and failed resolutions whose waiting
    /// packets are dropped.
    pub(crate) fn poll_nd(&mut self, now_ms: u64) {
        // Collected first: the cache is borrowed while it walks its entries. A fixed array keeps
        // this allocation-free; the cache leaves what does not fit for the next poll.
        let mut actions = [None; 16];
        let mut n = 0;
        self.nd.poll(now_ms, |a| {
            let Some(slot) = actions.get_mut(n) else {
                return false;
            };
            *slot = Some(a);
            n += 1;
            true
        });
        for action in actions.into_iter().flatten() {
            match action {
                NdAction::Solicit { target, unicast } => self.queue_solicitation(target, unicast),
                NdAction::Failed(target) => {
                    let dropped = self.store.drop_waiting(target.into());
                    self.counters.nd_failed += 1;
                    self.counters
                        .count_tx_drop(TxDrop::NdFailed, dropped as u64);
                }
            }
        }
    }

    /// Queues a neighbour solicitation for `target`: to its solicited-node group, or to `unicast`
    /// (a reachability probe).
    pub(crate) fn queue_solicitation(
        &mut self,
        target: Ipv6Addr,
        unicast: Option<EthernetAddress>,
    ) {
        let Some(src) = self.ipv6_source_for(&target) else {
            return;
        };
        let (dst, dst_mac) = match unicast {
            Some(mac) => (target, mac),
            None => {
                let group = solicited_node(target);
                (group, multicast_mac(group).unwrap_or_default())
            }
        };
        let ns = Icmpv6Repr::NeighborSolicit {
            target_addr: target,
            source_lladdr: Some(self.config.mac),
        };
        if self.queue_icmpv6(src, dst, dst_mac, ND_HOP_LIMIT, &ns) {
            self.counters.nd_tx_solicits += 1;
        }
    }

    /// Queues a neighbour advertisement of our `target` to `dst` at `dst_mac`.
    pub(crate) fn queue_advertisement(
        &mut self,
        target: Ipv6Addr,
        dst: Ipv6Addr,
        dst_mac: EthernetAddress,
        solicited: bool,
    ) {
        let na = Icmpv6Repr::NeighborAdvert {
            flags: NeighborFlags {
                router: false,
                solicited,
                override_: true,
            },
            target_addr: target,
            target_lladdr: Some(self.config.mac),
        };
        if self.queue_icmpv6(target, dst, dst_mac, ND_HOP_LIMIT, &na) {
            self.counters.nd_tx_adverts += 1;
        }
    }

    /// Queues an ICMPv6 message from `src` to `dst`, sent straight to `dst_mac` (no routing or
    /// resolution: replies go back where the request came from). False if it was dropped.
    pub(crate) fn queue_icmpv6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        dst_mac: EthernetAddress,
        hop_limit: u8,
        msg: &Icmpv6Repr<'_>,
    ) -> bool {
        let ip = Ipv6Repr {
            hop_limit,
            ..Ipv6Repr::new(src, dst, IpProtocol::Icmpv6, msg.buffer_len())
        };
        let eth = EthernetRepr {
            src_addr: self.config.mac,
            dst_addr: dst_mac,
            vlan: None,
            ethertype: EtherType::Ipv6,
        };
        if IPV6_HEADER_LEN + ip.payload_len > self.config.mtu {
            self.counters.count_tx_drop(TxDrop::TooBig, 1);
            return false;
        }
        let Some((slot, buf)) = self.store.alloc() else {
            self.counters.count_tx_drop(TxDrop::NoSlot, 1);
            return false;
        };
        let checksum = self.config.checksum.icmpv6;
        let checksum = if checksum.tx() {
            Checksum::Both
        } else {
            Checksum::None
        };
        match emit_ipv6(buf, &eth, &ip, |p| {
            msg.emit(p, &src, &dst, checksum).map(|_| ())
        }) {
            Ok(len) => {
                // Pad to the Ethernet minimum of 60 bytes (without FCS).
                let padded = len.max(60).min(buf.len());
                buf[len..padded].fill(0);
                self.store.push_ready(slot, padded, TxOffload::default());
                true
            }
            Err(reason) => {
                self.store.release(slot);
                self.counters.count_tx_drop(reason, 1);
                false
            }
        }
    }
}

/// A token bucket: `rate_per_sec` tokens a second, at most `burst` saved up. Integer
/// milliseconds, no clock of its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    rate_per_sec: u64,
    burst: u64,
    /// Tokens, in thousandths (so that a rate below one per millisecond still accrues).
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    pub(crate) fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = u64::from(burst);
        TokenBucket {
            rate_per_sec: u64::from(rate_per_sec),
            burst,
            milli_tokens: burst * 1000,
            last_ms: 0,
        }
    }

    /// Takes a token at `now_ms` if one is there.
    pub(crate) fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let earned = elapsed.saturating_mul(self.rate_per_sec);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(earned)
            .min(self.burst * 1000);
        if self.milli_tokens < 1000 {
            return false;
        }
        self.milli_tokens -= 1000;
        true
    }
}

/// Writes Ethernet and IPv6 headers to `buf`, then lets `fill` write the payload.
pub(crate) fn emit_ipv6(
    buf: &mut [u8],
    eth: &EthernetRepr,
    ip: &Ipv6Repr,
    fill: impl FnOnce(&mut [u8]) -> mtcp_wire::Result<()>,
) -> Result<usize, TxDrop> {
    let total = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + ip.payload_len;
    let buf = buf.get_mut(..total).ok_or(TxDrop::BufferTooSmall)?;
    eth.emit(buf).map_err(|_| TxDrop::BufferTooSmall)?;
    ip.emit(&mut buf[ETHERNET_HEADER_LEN..])
        .map_err(|_| TxDrop::Emit)?;
    fill(&mut buf[ETHERNET_HEADER_LEN + IPV6_HEADER_LEN..]).map_err(|_| TxDrop::Emit)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let mut b = TokenBucket::new(100, 3);
        assert!((0..3).all(|_| b.take(0)));
        assert!(!b.take(0));
        assert!(!b.take(9), "100/s: one token every 10 ms");
        assert!(b.take(10));
        assert!(!b.take(10));
        // A long pause refills to the burst, not beyond.
        assert_eq!((0..10).filter(|_| b.take(60_000)).count(), 3);
        // A clock going backwards earns nothing.
        assert!(!b.take(5));
        let mut none = TokenBucket::new(0, 0);
        assert!(!none.take(1_000_000));
    }
}
