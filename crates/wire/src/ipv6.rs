//! IPv6 (RFC 8200): the fixed header with every field, payload-length checks, and the helpers a
//! host needs around addresses (solicited-node multicast groups and their Ethernet mapping).
//! Extension headers are walked by [`crate::ipv6_ext`].

use core::net::Ipv6Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ethernet::EthernetAddress;
use crate::ipv4::IpProtocol;
use crate::{Error, Result};

/// The length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// The minimum link MTU every IPv6 link must carry (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;

/// The fixed IPv6 header, as it lies on the wire.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Ipv6Header {
    /// Version (4 bits), traffic class (8 bits) and flow label (20 bits).
    pub ver_tc_flow: [u8; 4],
    /// Length of everything after this header, extension headers included.
    pub payload_len: U16,
    /// The type of the header that follows.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

/// A zero-copy view of a checked IPv6 packet. The payload ends where the payload length says, so
/// Ethernet padding is not part of it.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    header: &'a Ipv6Header,
    payload: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Checks version and payload length against `buf`. A payload length of zero (a jumbogram's,
    /// RFC 2675) gives an empty payload; jumbograms are not supported.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        Self::check(buf, false)
    }

    /// Like [`Ipv6Packet::new_checked`], for the packet an ICMPv6 error quotes: the payload length
    /// may exceed what is there (the quote is cut to fit the minimum MTU).
    pub fn new_quoted(buf: &'a [u8]) -> Result<Self> {
        Self::check(buf, true)
    }

    fn check(buf: &'a [u8], quoted: bool) -> Result<Self> {
        let (header, rest) = Ipv6Header::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        if header.ver_tc_flow[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        let len = usize::from(header.payload_len.get());
        let len = if quoted { len.min(rest.len()) } else { len };
        let payload = rest.get(..len).ok_or(Error::Truncated)?;
        Ok(Ipv6Packet { header, payload })
    }

    /// The fixed header as it lies on the wire.
    pub fn header(&self) -> &'a Ipv6Header {
        self.header
    }
    /// Everything after the fixed header, as long as the payload length says (extension headers
    /// included).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        let [a, b, ..] = self.header.ver_tc_flow;
        (a << 4) | (b >> 4)
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes(self.header.ver_tc_flow) & 0x000f_ffff
    }
    /// The type of the first header after the fixed one.
    pub fn next_header(&self) -> IpProtocol {
        self.header.next_header.into()
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.header.hop_limit
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.header.src)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.header.dst)
    }
}

/// A mutable view of an IPv6 header, for editing fields in place (smoltcp-style setters). IPv6
/// has no header checksum; the upper layer's covers the addresses through its pseudo-header.
#[derive(Debug)]
pub struct Ipv6PacketMut<'a> {
    header: &'a mut Ipv6Header,
}

impl<'a> Ipv6PacketMut<'a> {
    /// Checks the version and returns a mutable view of the header.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, _) = Ipv6Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        if header.ver_tc_flow[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        Ok(Ipv6PacketMut { header })
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.header.src = addr.octets();
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.header.dst = addr.octets();
    }
    /// Sets the next header.
    pub fn set_next_header(&mut self, next_header: IpProtocol) {
        self.header.next_header = next_header.into();
    }
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.header.hop_limit = hop_limit;
    }
    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        self.header.payload_len.set(len);
    }
    /// Sets the traffic class and flow label (its top 12 bits are ignored).
    pub fn set_traffic_class_flow_label(&mut self, traffic_class: u8, flow_label: u32) {
        let word = 6 << 28 | u32::from(traffic_class) << 20 | (flow_label & 0x000f_ffff);
        self.header.ver_tc_flow = word.to_be_bytes();
    }
}

/// A high-level representation of the fixed IPv6 header. Emitted packets carry no extension
/// headers: `next_header` is the upper layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// The header that follows.
    pub next_header: IpProtocol,
    /// Payload length in bytes (extension headers included).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// A plain packet with hop limit 64, traffic class 0 and no flow label.
    pub const fn new(
        src_addr: Ipv6Addr,
        dst_addr: Ipv6Addr,
        next_header: IpProtocol,
        payload_len: usize,
    ) -> Self {
        Ipv6Repr {
            src_addr,
            dst_addr,
            next_header,
            payload_len,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
    }

    /// Reads the representation of a checked packet. A multicast source is
    /// [`Error::Malformed`] (RFC 4291 §2.7).
    pub fn parse(packet: &Ipv6Packet<'_>) -> Result<Self> {
        let src_addr = packet.src_addr();
        if src_addr.is_multicast() {
            return Err(Error::Malformed);
        }
        Ok(Ipv6Repr {
            src_addr,
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            // The header's own claim: for a quoted packet more than is present.
            payload_len: usize::from(packet.header.payload_len.get()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// The header length this representation emits.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header to the front of `buf`; returns its length. A payload over 65535 bytes
    /// (a jumbogram) or a flow label over 20 bits is [`Error::Malformed`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let payload_len = u16::try_from(self.payload_len).map_err(|_| Error::Malformed)?;
        if self.flow_label > 0x000f_ffff {
            return Err(Error::Malformed);
        }
        let (h, _) = Ipv6Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        let word = 6 << 28 | u32::from(self.traffic_class) << 20 | self.flow_label;
        h.ver_tc_flow = word.to_be_bytes();
        h.payload_len.set(payload_len);
        h.next_header = self.next_header.into();
        h.hop_limit = self.hop_limit;
        h.src = self.src_addr.octets();
        h.dst = self.dst_addr.octets();
        Ok(HEADER_LEN)
    }
}

impl core::fmt::Display for Ipv6Repr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "IP6 {} > {}: next-header {}, hlim {}, payload length {}",
            self.src_addr,
            self.dst_addr,
            u8::from(self.next_header),
            self.hop_limit,
            self.payload_len
        )
    }
}

/// The solicited-node multicast group of `addr` (RFC 4291 §2.7.1): `ff02::1:ffXX:XXXX` with the
/// address's low 24 bits. Neighbour solicitations for `addr` are sent there.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// Whether `addr` is a solicited-node multicast group (`ff02::1:ff00:0/104`).
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet address an IPv6 multicast group maps to (RFC 2464 §7): `33:33` and the group's
/// low 32 bits. `None` for a unicast address.
pub fn multicast_mac(addr: Ipv6Addr) -> Option<EthernetAddress> {
    let o = addr.octets();
    addr.is_multicast()
        .then_some(EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]]))
}

/// The link-local all-nodes group `ff02::1`.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The link-local all-routers group `ff02::2`.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            traffic_class: 0xb8,
            flow_label: 0xabcde,
            ..Ipv6Repr::new(addr("2001:2::1"), addr("2001:2::2"), IpProtocol::Tcp, 4)
        }
    }

    #[test]
    fn round_trip_with_padding() {
        let mut buf = [0u8; 50];
        assert_eq!(repr().emit(&mut buf), Ok(40));
        buf[40..44].copy_from_slice(b"data");
        assert_eq!(buf[0], 0x6b);
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!(p.payload(), b"data");
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0xabcde);
        assert_eq!(Ipv6Repr::parse(&p), Ok(repr()));
        assert_eq!(
            repr().to_string(),
            "IP6 2001:2::1 > 2001:2::2: next-header 6, hlim 64, payload length 4"
        );
    }

    #[test]
    fn setters_edit_in_place() {
        let mut buf = [0u8; 44];
        repr().emit(&mut buf).unwrap();
        let mut m = Ipv6PacketMut::new_checked(&mut buf).unwrap();
        m.set_src_addr(addr("2001:2::9"));
        m.set_dst_addr(addr("2001:2::8"));
        m.set_hop_limit(1);
        m.set_next_header(IpProtocol::Udp);
        m.set_payload_len(2);
        m.set_traffic_class_flow_label(0x12, 0xfff_fffff);
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!(p.src_addr(), addr("2001:2::9"));
        assert_eq!(p.dst_addr(), addr("2001:2::8"));
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.payload().len(), 2);
        assert_eq!((p.traffic_class(), p.flow_label()), (0x12, 0xfffff));
    }

    #[test]
    fn rejections() {
        let mut good = [0u8; 44];
        repr().emit(&mut good).unwrap();
        assert_eq!(
            Ipv6Packet::new_checked(&good[..39]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&good[..43]).err(),
            Some(Error::Truncated)
        );
        assert!(Ipv6Packet::new_quoted(&good[..43]).is_ok());
        let mut v4 = good;
        v4[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&v4).err(), Some(Error::Malformed));
        assert_eq!(
            Ipv6PacketMut::new_checked(&mut v4).err(),
            Some(Error::Malformed)
        );
        let mut mcast_src = good;
        mcast_src[8] = 0xff;
        let p = Ipv6Packet::new_checked(&mcast_src).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), Err(Error::Malformed));
        let huge = Ipv6Repr {
            payload_len: 70_000,
            ..repr()
        };
        assert_eq!(huge.emit(&mut [0u8; 40]), Err(Error::Malformed));
        let label = Ipv6Repr {
            flow_label: 0x10_0000,
            ..repr()
        };
        assert_eq!(label.emit(&mut [0u8; 40]), Err(Error::Malformed));
        assert_eq!(repr().emit(&mut [0u8; 39]), Err(Error::Truncated));
    }

    #[test]
    fn solicited_node_groups_and_their_macs() {
        let a = addr("2001:2::1234:5678");
        let group = solicited_node(a);
        assert_eq!(group, addr("ff02::1:ff34:5678"));
        assert!(is_solicited_node(group));
        assert!(!is_solicited_node(ALL_NODES));
        assert!(!is_solicited_node(a));
        assert_eq!(
            multicast_mac(group),
            Some(EthernetAddress([0x33, 0x33, 0xff, 0x34, 0x56, 0x78]))
        );
        assert_eq!(
            multicast_mac(ALL_NODES),
            Some(EthernetAddress([0x33, 0x33, 0, 0, 0, 1]))
        );
        assert_eq!(multicast_mac(a), None);
    }
}
