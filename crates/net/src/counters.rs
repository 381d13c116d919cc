//! Per-interface counters: plain integers, owned by the one core that drives the interface.

/// Why a received frame was not passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RxDrop {
    /// Shorter than a header or a length field claims.
    Truncated,
    /// A field holds a forbidden value, or the packet is of a kind the wire layer does not handle.
    Malformed,
    /// Unicast to another MAC, or to a multicast group.
    NotOurMac,
    /// Carries an 802.1Q tag (VLANs are not configured).
    Vlan,
    /// An EtherType other than IPv4, ARP and IPv6, or IPv6 on a port without IPv6 addresses.
    UnknownEthertype,
    /// The IPv4 header checksum does not verify.
    Ipv4Checksum,
    /// The TCP or ICMP checksum does not verify.
    L4Checksum,
    /// An IPv4 fragment (no reassembly).
    Fragment,
    /// IPv4 time to live of zero.
    TtlExpired,
    /// IPv4 destination is not this interface's address.
    NotOurAddress,
    /// IPv4 source is a broadcast, multicast, unspecified or our own address.
    BadSource,
    /// An IP protocol other than TCP and ICMP.
    UnsupportedProtocol,
    /// An ICMP message other than an echo request.
    UnsupportedIcmp,
    /// An ARP packet neither for our address nor about a host we know.
    ArpNotForUs,
    /// An IPv6 extension header or option refused as RFC 8200 §4 says (answered with an ICMPv6
    /// parameter problem where the RFC asks for one).
    Ipv6Refused,
    /// A Neighbour Discovery message failing RFC 4861's validation (hop limit not 255, ...).
    NdInvalid,
}

impl RxDrop {
    /// Every reason, in counter order.
    pub const ALL: [RxDrop; 16] = [
        RxDrop::Truncated,
        RxDrop::Malformed,
        RxDrop::NotOurMac,
        RxDrop::Vlan,
        RxDrop::UnknownEthertype,
        RxDrop::Ipv4Checksum,
        RxDrop::L4Checksum,
        RxDrop::Fragment,
        RxDrop::TtlExpired,
        RxDrop::NotOurAddress,
        RxDrop::BadSource,
        RxDrop::UnsupportedProtocol,
        RxDrop::UnsupportedIcmp,
        RxDrop::ArpNotForUs,
        RxDrop::Ipv6Refused,
        RxDrop::NdInvalid,
    ];

    /// Whether the frame was damaged (truncated, malformed, a checksum that does not verify), as
    /// opposed to intact traffic this host does not take (another MAC or address, IPv6, a VLAN,
    /// a fragment, an ICMP type it does not answer). The first kind is what statistics report as
    /// receive errors; on a shared link the second is normal.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            RxDrop::Truncated | RxDrop::Malformed | RxDrop::Ipv4Checksum | RxDrop::L4Checksum
        )
    }
}

/// Why a datagram to send (or a reply the interface wanted to send) was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxDrop {
    /// The next hop is unresolved and the queue of waiting datagrams is full.
    WaitQueueFull,
    /// ARP resolution of the next hop failed after every retry.
    ArpTimeout,
    /// The datagram is larger than the MTU (IPv4 header included).
    TooBig,
    /// The caller's buffer cannot hold the frame.
    BufferTooSmall,
    /// The representation could not be emitted (e.g. a length out of range).
    Emit,
    /// No free slot for a control frame (ARP or ICMP reply, ARP request).
    NoSlot,
    /// Neighbour Discovery found no link-layer address for the next hop, or its cache is full
    /// of resolutions in progress.
    NdFailed,
}

impl TxDrop {
    /// Every reason, in counter order.
    pub const ALL: [TxDrop; 7] = [
        TxDrop::WaitQueueFull,
        TxDrop::ArpTimeout,
        TxDrop::TooBig,
        TxDrop::BufferTooSmall,
        TxDrop::Emit,
        TxDrop::NoSlot,
        TxDrop::NdFailed,
    ];
}

/// What one interface saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames given to [`crate::Interface::receive`].
    pub rx_packets: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Frames handed out for transmission (sent directly or drained from the queue).
    pub tx_packets: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// TCP segments passed up.
    pub rx_tcp: u64,
    /// ARP requests received (for any address).
    pub arp_rx_requests: u64,
    /// ARP replies received.
    pub arp_rx_replies: u64,
    /// ARP requests sent (first tries and retries).
    pub arp_tx_requests: u64,
    /// ARP replies sent.
    pub arp_tx_replies: u64,
    /// Resolutions that succeeded.
    pub arp_resolved: u64,
    /// Resolutions that gave up.
    pub arp_timeouts: u64,
    /// ICMP echo requests received for our address.
    pub icmp_echo_requests: u64,
    /// ICMP echo replies queued.
    pub icmp_echo_replies: u64,
    /// IPv4 and IPv6 fragments received (and dropped).
    pub fragments: u64,
    /// Datagrams parked waiting for ARP.
    pub tx_waited: u64,
    /// Parked datagrams released after resolution.
    pub tx_flushed: u64,
    /// IPv6 TCP segments passed up.
    pub rx_tcp6: u64,
    /// IPv6 TCP segments sent or parked for Neighbour Discovery.
    pub tx_tcp6: u64,
    /// Neighbour solicitations received for our addresses (duplicate address detection's
    /// included).
    pub nd_rx_solicits: u64,
    /// Neighbour advertisements received.
    pub nd_rx_adverts: u64,
    /// Neighbour solicitations sent (resolutions and probes).
    pub nd_tx_solicits: u64,
    /// Neighbour advertisements sent.
    pub nd_tx_adverts: u64,
    /// Neighbour resolutions that succeeded.
    pub nd_resolved: u64,
    /// Neighbour resolutions that gave up.
    pub nd_failed: u64,
    /// ICMPv6 echo requests received for our addresses.
    pub icmpv6_echo_requests: u64,
    /// ICMPv6 echo replies queued.
    pub icmpv6_echo_replies: u64,
    /// ICMPv6 echo requests sent ([`crate::Interface::send_echo_request6`]).
    pub icmpv6_echo_requests_sent: u64,
    /// ICMPv6 echo replies received for our addresses (answers to our echo requests).
    pub icmpv6_echo_replies_received: u64,
    /// ICMPv6 parameter problems queued (refused extension headers and next headers).
    pub icmpv6_param_problems: u64,
    /// ICMPv6 errors not sent because of the rate limit.
    pub icmpv6_errors_limited: u64,
    rx_drops: [u64; RxDrop::ALL.len()],
    tx_drops: [u64; TxDrop::ALL.len()],
}

impl Counters {
    /// Received frames dropped for `reason`.
    pub fn rx_dropped(&self, reason: RxDrop) -> u64 {
        self.rx_drops[reason as usize]
    }
    /// Datagrams dropped on the way out for `reason`.
    pub fn tx_dropped(&self, reason: TxDrop) -> u64 {
        self.tx_drops[reason as usize]
    }
    /// All received frames dropped.
    pub fn rx_dropped_total(&self) -> u64 {
        self.rx_drops.iter().sum()
    }
    /// Received frames dropped because they were damaged (see [`RxDrop::is_error`]).
    pub fn rx_errors(&self) -> u64 {
        RxDrop::ALL
            .iter()
            .filter(|r| r.is_error())
            .map(|r| self.rx_dropped(*r))
            .sum()
    }
    /// All outgoing datagrams dropped.
    pub fn tx_dropped_total(&self) -> u64 {
        self.tx_drops.iter().sum()
    }
    pub(crate) fn count_rx_drop(&mut self, reason: RxDrop) {
        self.rx_drops[reason as usize] += 1;
    }
    pub(crate) fn count_tx_drop(&mut self, reason: TxDrop, n: u64) {
        self.tx_drops[reason as usize] += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_own_counter() {
        let mut c = Counters::default();
        for (i, r) in RxDrop::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            c.count_rx_drop(*r);
            assert_eq!(c.rx_dropped(*r), 1);
        }
        for (i, r) in TxDrop::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            c.count_tx_drop(*r, 2);
            assert_eq!(c.tx_dropped(*r), 2);
        }
        assert_eq!(c.rx_dropped_total(), RxDrop::ALL.len() as u64);
        assert_eq!(
            c.rx_errors(),
            4,
            "truncated, malformed and the two checksums"
        );
        assert_eq!(c.tx_dropped_total(), 2 * TxDrop::ALL.len() as u64);
    }
}
