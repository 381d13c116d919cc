//! One port's network layer: its configuration, ARP cache, queued frames and counters, and the
//! transmit side (datagrams out, ARP resolution, timers). The receive side is in `rx.rs`.

use core::net::{Ipv4Addr, Ipv6Addr};

use mtcp_io::{ChecksumOffload, L4Checksum, TxOffload};
use mtcp_wire::{
    ArpOperation, ArpRepr, Checksum, ChecksumCapabilities, EtherType, EthernetAddress,
    EthernetRepr, IpProtocol, Ipv4Repr, TcpRepr,
};

use crate::arp::{ArpConfig, ArpTable};
use crate::config::ArpEntry;
use crate::counters::{Counters, TxDrop};
use crate::iface6::TokenBucket;
use crate::nd::{NdConfig, NeighborCache};
use crate::route::{mask, network};
use crate::store::{FrameStore, Resolving};

/// Ethernet header length (no VLAN tag is emitted).
pub const ETHERNET_HEADER_LEN: usize = 14;
/// IPv4 header length (no options are emitted).
pub const IPV4_HEADER_LEN: usize = 20;

/// How an interface is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The port's Ethernet address.
    pub mac: EthernetAddress,
    /// The port's IPv4 address: the first of `addresses` consecutive ones.
    pub ip: Ipv4Addr,
    /// How many consecutive addresses from `ip` the port owns (1 unless source addresses are
    /// spread for RSS, as `mtcp_init_rss(saddr_base, num_addr, ...)` does).
    pub addresses: u32,
    /// Prefix length of the port's subnet (from its netmask; see [`crate::prefix_len_of`]).
    pub prefix_len: u8,
    /// IP MTU: the largest IPv4 datagram, header included.
    pub mtu: usize,
    /// Which checksums software computes and verifies.
    pub checksum: ChecksumCapabilities,
    /// Time to live of sent datagrams.
    pub ttl: u8,
    /// ARP timing and cache size.
    pub arp: ArpConfig,
    /// Static ARP entries (from arp.conf).
    pub static_arp: Vec<ArpEntry>,
    /// The most datagrams parked while their next hop resolves.
    pub max_waiting: usize,
    /// Slots for control frames (ARP, ICMP) queued for [`Interface::transmit_ready`].
    pub control_slots: usize,
    /// The port's IPv6 addresses with their prefix lengths (empty: IPv6 frames are dropped as
    /// an unknown EtherType, as before IPv6 existed).
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// Hop limit of sent IPv6 packets.
    pub hop_limit: u8,
    /// Neighbour Discovery timing and cache size.
    pub nd: NdConfig,
    /// Static neighbour entries.
    pub static_nd: Vec<(Ipv6Addr, EthernetAddress)>,
    /// ICMPv6 errors (parameter problems) sent per second at most, in bursts of up to
    /// `icmpv6_error_burst` (RFC 4443 §2.4(f) requires a limit).
    pub icmpv6_errors_per_sec: u32,
    /// The largest burst of ICMPv6 errors.
    pub icmpv6_error_burst: u32,
}

impl InterfaceConfig {
    /// A port with MTU 1500, every checksum in software, TTL 64, default ARP timing, 64 parked
    /// datagrams and 64 control slots, and no IPv6 address (hop limit 64, default Neighbour
    /// Discovery timing and 100 ICMPv6 errors a second, bursts of 10, once one is added).
    pub fn new(mac: EthernetAddress, ip: Ipv4Addr, prefix_len: u8) -> Self {
        InterfaceConfig {
            mac,
            ip,
            addresses: 1,
            prefix_len: prefix_len.min(32),
            mtu: 1500,
            checksum: ChecksumCapabilities::software(),
            ttl: 64,
            arp: ArpConfig::default(),
            static_arp: Vec::new(),
            max_waiting: 64,
            control_slots: 64,
            ipv6: Vec::new(),
            hop_limit: 64,
            nd: NdConfig::default(),
            static_nd: Vec::new(),
            icmpv6_errors_per_sec: 100,
            icmpv6_error_burst: 10,
        }
    }

    /// Like [`InterfaceConfig::new`] with the subnet given as a netmask (`255.255.255.0`);
    /// `None` if the mask's one bits are not contiguous.
    pub fn with_netmask(mac: EthernetAddress, ip: Ipv4Addr, netmask: Ipv4Addr) -> Option<Self> {
        Some(Self::new(mac, ip, crate::route::prefix_len_of(netmask)?))
    }
}

/// What software must do given a device's offloads: compute on transmit what the device does not
/// fill in, verify on receive what the device does not check.
pub fn capabilities_from_offload(o: ChecksumOffload) -> ChecksumCapabilities {
    let pick = |tx: bool, rx: bool| match (tx, rx) {
        (false, false) => Checksum::Both,
        (true, false) => Checksum::Rx,
        (false, true) => Checksum::Tx,
        (true, true) => Checksum::None,
    };
    ChecksumCapabilities {
        ipv4: pick(o.ipv4_tx, o.ipv4_rx),
        tcp: pick(o.tcp_tx, o.tcp_rx),
        udp: pick(o.udp_tx, o.udp_rx),
        icmpv4: Checksum::Both,
        icmpv6: Checksum::Both,
    }
}

/// A frame ready in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Frame length in bytes.
    pub len: usize,
    /// Checksum work to ask of the device (`TxFrame::set_offload`).
    pub offload: TxOffload,
}

/// The outcome of sending a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// The frame is in the caller's buffer: transmit it.
    Sent(Transmit),
    /// The next hop is being resolved; the frame was copied to the waiting queue and will come
    /// out of [`Interface::transmit_ready`] once the ARP reply arrives.
    Queued,
    /// Dropped (and counted).
    Dropped(TxDrop),
}

/// The network layer of one port, driven by one core: feed it received frames and the time, take
/// TCP segments and frames to transmit from it. It does no I/O and reads no clock.
#[derive(Debug)]
pub struct Interface {
    pub(crate) config: InterfaceConfig,
    pub(crate) arp: ArpTable,
    pub(crate) store: FrameStore,
    pub(crate) counters: Counters,
    pub(crate) nd: NeighborCache,
    pub(crate) icmpv6_errors: TokenBucket,
    ident: u16,
    /// [`Interface::offload`]'s answers, by layer 4 (none, TCP, UDP), and IPv6's, computed once:
    /// built field by field per frame, the caller's copy of the result (one 4-byte load) stalled
    /// on those byte stores (2 % of a 64 B echo's CPU).
    offloads: [TxOffload; 3],
    pub(crate) offload6: TxOffload,
}

impl Interface {
    /// Sets up an interface; every buffer it will use is allocated here.
    pub fn new(config: InterfaceConfig) -> Self {
        let arp = ArpTable::new(config.arp, &config.static_arp);
        let nd = NeighborCache::new(config.nd, &config.static_nd);
        let icmpv6_errors =
            TokenBucket::new(config.icmpv6_errors_per_sec, config.icmpv6_error_burst);
        let slot_len = ETHERNET_HEADER_LEN + config.mtu;
        let store = FrameStore::new(
            config.max_waiting + config.control_slots,
            slot_len,
            config.max_waiting,
        );
        let offloads =
            [None, Some(L4Checksum::Tcp), Some(L4Checksum::Udp)].map(|l4| offload_of(&config, l4));
        Interface {
            config,
            arp,
            store,
            counters: Counters::default(),
            nd,
            icmpv6_errors,
            ident: 0,
            offloads,
            offload6: TxOffload {
                l2_len: ETHERNET_HEADER_LEN as u8,
                l3_len: crate::iface6::IPV6_HEADER_LEN as u8,
                ..TxOffload::default()
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &InterfaceConfig {
        &self.config
    }
    /// The port's Ethernet address.
    pub fn mac(&self) -> EthernetAddress {
        self.config.mac
    }
    /// The port's IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        self.config.ip
    }
    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// The ARP cache.
    pub fn arp_table(&self) -> &ArpTable {
        &self.arp
    }
    /// The ARP cache, for adding entries by hand.
    pub fn arp_table_mut(&mut self) -> &mut ArpTable {
        &mut self.arp
    }
    /// Whether `ip` is one of the port's addresses.
    pub fn is_our_addr(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip).wrapping_sub(u32::from(self.config.ip)) < self.config.addresses.max(1)
    }
    /// Whether `dst` is in this port's subnet.
    pub fn is_on_link(&self, dst: Ipv4Addr) -> bool {
        network(dst, self.config.prefix_len) == network(self.config.ip, self.config.prefix_len)
    }
    /// The subnet's directed broadcast address.
    pub fn broadcast_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.config.ip) | !mask(self.config.prefix_len))
    }
    /// Frames waiting in [`Interface::transmit_ready`].
    pub fn ready_len(&self) -> usize {
        self.store.ready_len()
    }
    /// Datagrams parked until their next hop resolves.
    pub fn waiting_len(&self) -> usize {
        self.store.waiting_len()
    }
    /// Next hops being resolved (with datagrams waiting, or refreshed while in use).
    pub fn resolving_len(&self) -> usize {
        self.store.resolving.len()
    }

    /// Sends a TCP segment from `src` to `dst` through `next_hop` (from [`crate::RouteTable`]),
    /// writing Ethernet, IPv4 and TCP into `buf` when the next hop's MAC is known.
    pub fn send_tcp(
        &mut self,
        now_ms: u64,
        next_hop: Ipv4Addr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        repr: &TcpRepr<'_>,
        buf: &mut [u8],
    ) -> SendResult {
        self.send_tcp_segmented(now_ms, next_hop, src, dst, repr, 0, buf)
    }

    /// Sends an IPv4 datagram described by `ip` (its TTL is replaced by the configured one and its
    /// identification by a per-interface counter) whose payload `fill` writes into exactly
    /// `ip.payload_len` bytes. `l4` names the layer-4 checksum that `fill` left for the device.
    pub fn send_ipv4(
        &mut self,
        now_ms: u64,
        next_hop: Ipv4Addr,
        ip: Ipv4Repr,
        l4: Option<L4Checksum>,
        buf: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> mtcp_wire::Result<()>,
    ) -> SendResult {
        if IPV4_HEADER_LEN + ip.payload_len > self.config.mtu {
            return self.tx_drop(TxDrop::TooBig);
        }
        let offload = self.offload(l4);
        self.send_ipv4_with(now_ms, next_hop, ip, offload, buf, fill)
    }

    /// [`Interface::send_tcp`] for a segment longer than the link takes, which the device cuts
    /// into segments of `tcp_segment` payload bytes each ([`TxOffload::tcp_segment`]: a NIC's
    /// TSO, a kernel's GSO), as the queue's `tcp_segmentation` offers it. Each piece must fit
    /// the MTU, the whole an IPv4 datagram, and the device must complete TCP checksums (else it
    /// is dropped as too big). A segment that fits the link goes as it is (`send_tcp` is this
    /// with `tcp_segment` 0).
    /// While the next hop is being resolved such a segment is dropped, not parked (the parking
    /// slots hold one MTU): TCP sends it again.
    #[allow(clippy::too_many_arguments)]
    pub fn send_tcp_segmented(
        &mut self,
        now_ms: u64,
        next_hop: Ipv4Addr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        repr: &TcpRepr<'_>,
        tcp_segment: u16,
        buf: &mut [u8],
    ) -> SendResult {
        let caps = self.config.checksum.tcp;
        let len = repr.buffer_len();
        let offload = if IPV4_HEADER_LEN + len <= self.config.mtu {
            self.offload((!caps.tx()).then_some(L4Checksum::Tcp))
        } else {
            // Longer than the link: only for a device that cuts it and completes the checksums,
            // each piece within the MTU, the whole one IPv4 datagram.
            let piece = IPV4_HEADER_LEN + len - repr.payload.len() + usize::from(tcp_segment);
            if tcp_segment == 0
                || caps.tx()
                || piece > self.config.mtu
                || IPV4_HEADER_LEN + len > usize::from(u16::MAX)
            {
                return self.tx_drop(TxDrop::TooBig);
            }
            TxOffload {
                tcp_segment,
                ..self.offload(Some(L4Checksum::Tcp))
            }
        };
        let ip = Ipv4Repr::new(src, dst, IpProtocol::Tcp, len);
        let fill = |payload: &mut [u8]| repr.emit(payload, src, dst, caps).map(|_| ());
        self.send_ipv4_with(now_ms, next_hop, ip, offload, buf, fill)
    }

    /// [`Interface::send_ipv4`] with the device's work given (`offload`), the length not checked.
    fn send_ipv4_with(
        &mut self,
        now_ms: u64,
        next_hop: Ipv4Addr,
        ip: Ipv4Repr,
        offload: TxOffload,
        buf: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> mtcp_wire::Result<()>,
    ) -> SendResult {
        self.ident = self.ident.wrapping_add(1);
        let ip = Ipv4Repr {
            ttl: self.config.ttl,
            ident: self.ident,
            ..ip
        };
        let eth = |dst_addr| EthernetRepr {
            src_addr: self.config.mac,
            dst_addr,
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        if let Some((mac, expires_at_ms)) = self.arp.lookup_entry(next_hop, now_ms) {
            return match emit_ipv4(buf, &eth(mac), &ip, self.config.checksum.ipv4, fill) {
                Ok(len) => {
                    self.counters.tx_packets += 1;
                    self.counters.tx_bytes += len as u64;
                    if let Some(expires_at_ms) = expires_at_ms {
                        self.refresh_if_expiring(now_ms, next_hop, expires_at_ms);
                    }
                    SendResult::Sent(Transmit { len, offload })
                }
                Err(reason) => self.tx_drop(reason),
            };
        }
        let frame = eth(EthernetAddress::default());
        let ipv4 = self.config.checksum.ipv4;
        let Some((slot, slot_buf)) = self.store.alloc_waiting() else {
            return self.tx_drop(TxDrop::WaitQueueFull);
        };
        match emit_ipv4(slot_buf, &frame, &ip, ipv4, fill) {
            Ok(len) => self.store.push_waiting(slot, len, offload, next_hop.into()),
            Err(reason) => {
                self.store.release(slot);
                return self.tx_drop(reason);
            }
        }
        self.counters.tx_waited += 1;
        // Room is certain: at most `max_waiting` resolutions have frames waiting, and refreshes
        // take at most `max_waiting` more (see `refresh_if_expiring`).
        if self.store.resolving_mut(next_hop).is_none() {
            self.store.resolving.push(Resolving {
                ip: next_hop,
                requests_sent: 0,
                next_request_ms: now_ms,
            });
            self.poll(now_ms);
        }
        SendResult::Queued
    }

    /// Starts resolving an address in use whose learned entry expires within the time a full
    /// resolution takes, so that traffic to it never has to wait (and, past the wait queue's
    /// bound, be dropped) when the entry runs out. The entry stays in use meanwhile.
    fn refresh_if_expiring(&mut self, now_ms: u64, ip: Ipv4Addr, expires_at_ms: u64) {
        let cfg = self.arp.config();
        let window = cfg
            .retry_interval_ms
            .max(1)
            .saturating_mul(u64::from(cfg.max_requests.max(1)));
        if expires_at_ms.saturating_sub(now_ms) > window
            || self.store.resolving.len() >= self.config.max_waiting
            || self.store.resolving_mut(ip).is_some()
        {
            return;
        }
        self.store.resolving.push(Resolving {
            ip,
            requests_sent: 0,
            next_request_ms: now_ms,
        });
        self.poll(now_ms);
    }

    fn tx_drop(&mut self, reason: TxDrop) -> SendResult {
        self.counters.count_tx_drop(reason, 1);
        SendResult::Dropped(reason)
    }

    pub(crate) fn offload(&self, l4: Option<L4Checksum>) -> TxOffload {
        self.offloads[match l4 {
            None => 0,
            Some(L4Checksum::Tcp) => 1,
            Some(L4Checksum::Udp) => 2,
        }]
    }

    /// Runs the timers due at `now_ms`: ARP requests and neighbour solicitations are retried,
    /// and resolutions that used up their requests drop their waiting datagrams.
    pub fn poll(&mut self, now_ms: u64) {
        let cfg = *self.arp.config();
        let mut i = 0;
        while i < self.store.resolving.len() {
            let r = self.store.resolving[i];
            if r.next_request_ms > now_ms {
                i += 1;
                continue;
            }
            if r.requests_sent >= cfg.max_requests.max(1) {
                self.store.resolving.swap_remove(i);
                let dropped = self.store.drop_waiting(r.ip.into());
                self.counters.arp_timeouts += 1;
                self.counters
                    .count_tx_drop(TxDrop::ArpTimeout, dropped as u64);
                continue;
            }
            let us = self.config.ip;
            self.queue_arp(ArpOperation::Request, us, EthernetAddress::BROADCAST, r.ip);
            let r = &mut self.store.resolving[i];
            r.requests_sent += 1;
            r.next_request_ms = now_ms.saturating_add(cfg.retry_interval_ms.max(1));
            i += 1;
        }
        if !self.nd.is_empty() {
            self.poll_nd(now_ms);
        }
    }

    /// When [`Interface::poll`] next has work, if ever.
    pub fn poll_at(&self) -> Option<u64> {
        let arp = self.store.resolving.iter().map(|r| r.next_request_ms).min();
        match (arp, self.nd.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Copies the next frame the interface queued on its own (ARP, ICMP, datagrams released by an
    /// ARP reply) into `buf`. A frame too large for `buf` is dropped (and counted) and the next
    /// one tried; `None` when nothing is queued.
    pub fn transmit_ready(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            match self.store.pop_ready(buf)? {
                Ok((len, offload)) => {
                    self.counters.tx_packets += 1;
                    self.counters.tx_bytes += len as u64;
                    return Some(Transmit { len, offload });
                }
                Err(_) => {
                    self.store.discard_ready();
                    self.counters.count_tx_drop(TxDrop::BufferTooSmall, 1);
                }
            }
        }
    }

    /// Queues a gratuitous ARP request for each of the port's addresses (RFC 5227 §3), so that
    /// peers and switches learn where it is; for start-up and address changes.
    pub fn announce(&mut self) {
        for n in 0..self.config.addresses.max(1) {
            let ip = Ipv4Addr::from(u32::from(self.config.ip).wrapping_add(n));
            self.queue_arp(ArpOperation::Request, ip, EthernetAddress::BROADCAST, ip);
        }
    }

    /// Queues an ARP packet saying that `our_ip` is at our MAC to `target_ip` at `target_mac`
    /// (broadcast for requests).
    pub(crate) fn queue_arp(
        &mut self,
        operation: ArpOperation,
        our_ip: Ipv4Addr,
        target_mac: EthernetAddress,
        target_ip: Ipv4Addr,
    ) {
        let eth = EthernetRepr {
            src_addr: self.config.mac,
            dst_addr: target_mac,
            vlan: None,
            ethertype: EtherType::Arp,
        };
        let arp = ArpRepr {
            operation,
            source_hardware_addr: self.config.mac,
            source_protocol_addr: our_ip,
            target_hardware_addr: if operation == ArpOperation::Request {
                EthernetAddress::default()
            } else {
                target_mac
            },
            target_protocol_addr: target_ip,
        };
        let Some((slot, buf)) = self.store.alloc() else {
            self.counters.count_tx_drop(TxDrop::NoSlot, 1);
            return;
        };
        let emitted = eth
            .emit(buf)
            .and_then(|n| arp.emit(&mut buf[n..]).map(|m| n + m));
        match emitted {
            Ok(len) => {
                // Pad to the Ethernet minimum of 60 bytes (without FCS).
                let len = len.max(60).min(buf.len());
                buf[42..len].fill(0);
                self.store.push_ready(slot, len, TxOffload::default());
                if operation == ArpOperation::Request {
                    self.counters.arp_tx_requests += 1;
                } else {
                    self.counters.arp_tx_replies += 1;
                }
            }
            Err(_) => {
                self.store.release(slot);
                self.counters.count_tx_drop(TxDrop::Emit, 1);
            }
        }
    }
}

/// Writes Ethernet and IPv4 headers to `buf`, then lets `fill` write the payload.
pub(crate) fn emit_ipv4(
    buf: &mut [u8],
    eth: &EthernetRepr,
    ip: &Ipv4Repr,
    ipv4_checksum: Checksum,
    fill: impl FnOnce(&mut [u8]) -> mtcp_wire::Result<()>,
) -> Result<usize, TxDrop> {
    let total = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + ip.payload_len;
    let buf = buf.get_mut(..total).ok_or(TxDrop::BufferTooSmall)?;
    eth.emit(buf).map_err(|_| TxDrop::BufferTooSmall)?;
    ip.emit(&mut buf[ETHERNET_HEADER_LEN..], ipv4_checksum)
        .map_err(|_| TxDrop::Emit)?;
    fill(&mut buf[ETHERNET_HEADER_LEN + IPV4_HEADER_LEN..]).map_err(|_| TxDrop::Emit)?;
    Ok(total)
}

/// The checksum work to ask of the device for an IPv4 frame with layer-4 checksum `l4`.
fn offload_of(config: &InterfaceConfig, l4: Option<L4Checksum>) -> TxOffload {
    TxOffload {
        l2_len: ETHERNET_HEADER_LEN as u8,
        l3_len: IPV4_HEADER_LEN as u8,
        ipv4_checksum: !config.checksum.ipv4.tx(),
        l4_checksum: l4,
        tcp_segment: 0,
    }
}
