//! IPv4 (RFC 791): every header field, options skipped by IHL, fragments recognised and reported
//! (not reassembled), total-length checks and the header checksum.

use core::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, Checksum};
use crate::{Error, Result};

/// The length of a header without options.
pub const HEADER_LEN: usize = 20;

/// The fixed part of an IPv4 header, as it lies on the wire.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Ipv4Header {
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub version_ihl: u8,
    /// DSCP (high six bits) and ECN (low two bits).
    pub dscp_ecn: u8,
    /// Total length of header and payload.
    pub total_len: U16,
    /// Identification.
    pub ident: U16,
    /// Flags (reserved, DF, MF) and fragment offset in 8-byte units.
    pub flags_frag: U16,
    /// Time to live.
    pub ttl: u8,
    /// Payload protocol.
    pub protocol: u8,
    /// Header checksum.
    pub checksum: U16,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

/// An IP protocol number (IPv4's protocol field, IPv6's next header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// ICMP (1).
    Icmp,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMPv6 (58), the next header of ICMP for IPv6.
    Icmpv6,
    /// Any other protocol.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(v: IpProtocol) -> u8 {
        match v {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Unknown(other) => other,
        }
    }
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_MASK: u16 = 0x1fff;

/// A zero-copy view of a checked IPv4 packet. The payload ends where the total length says, so
/// Ethernet padding is not part of it.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    header: &'a Ipv4Header,
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Checks version, header length and total length against `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        Self::check(buf, false)
    }

    /// Like [`Ipv4Packet::new_checked`], for the header an ICMP error quotes: the total length may
    /// exceed what is there (only the first bytes of the payload are quoted).
    pub fn new_quoted(buf: &'a [u8]) -> Result<Self> {
        Self::check(buf, true)
    }

    fn check(buf: &'a [u8], quoted: bool) -> Result<Self> {
        let (header, _) = Ipv4Header::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        if header.version_ihl >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let header_len = usize::from(header.version_ihl & 0x0f) * 4;
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let total_len = usize::from(header.total_len.get());
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        let end = if quoted {
            total_len.min(buf.len())
        } else {
            total_len
        };
        if buf.len() < end {
            return Err(Error::Truncated);
        }
        Ok(Ipv4Packet {
            header,
            options: &buf[HEADER_LEN..header_len],
            payload: &buf[header_len..end],
        })
    }

    /// The fixed header as it lies on the wire.
    pub fn header(&self) -> &'a Ipv4Header {
        self.header
    }
    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }
    /// The options bytes (not interpreted).
    pub fn options(&self) -> &'a [u8] {
        self.options
    }
    /// The payload, as long as the total length says.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header.src)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header.dst)
    }
    /// Payload protocol.
    pub fn protocol(&self) -> IpProtocol {
        self.header.protocol.into()
    }
    /// Whether the header checksum verifies (options included).
    pub fn verify_checksum(&self) -> bool {
        let s = checksum::sum(self.header.as_bytes()) + checksum::sum(self.options);
        checksum::fold(s) == 0xffff
    }
    /// Whether this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.header.flags_frag.get() & (FLAG_MF | FRAG_MASK) != 0
    }
}

/// A mutable view of an IPv4 header, for editing fields in place (smoltcp-style setters). After
/// edits, [`Ipv4PacketMut::fill_checksum`] recomputes the header checksum.
#[derive(Debug)]
pub struct Ipv4PacketMut<'a> {
    header: &'a mut Ipv4Header,
    options: &'a mut [u8],
}

impl<'a> Ipv4PacketMut<'a> {
    /// Checks version and header length against `buf` and returns a mutable view of the header.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, rest) = Ipv4Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        if header.version_ihl >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let header_len = usize::from(header.version_ihl & 0x0f) * 4;
        let options_len = header_len.checked_sub(HEADER_LEN).ok_or(Error::Malformed)?;
        let options = rest.get_mut(..options_len).ok_or(Error::Truncated)?;
        Ok(Ipv4PacketMut { header, options })
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.header.src = addr.octets();
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.header.dst = addr.octets();
    }
    /// Sets the payload protocol.
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.header.protocol = protocol.into();
    }
    /// Sets the time to live.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.header.ttl = ttl;
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        self.header.ident.set(ident);
    }
    /// Sets the total length (header and payload).
    pub fn set_total_len(&mut self, len: u16) {
        self.header.total_len.set(len);
    }
    /// Sets the DF flag, MF flag and fragment offset (in 8-byte units).
    pub fn set_fragment(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let flags = if dont_frag { FLAG_DF } else { 0 } | if more_frags { FLAG_MF } else { 0 };
        self.header.flags_frag.set(flags | (offset & FRAG_MASK));
    }
    /// Sets the header checksum field as it is.
    pub fn set_checksum(&mut self, checksum: u16) {
        self.header.checksum.set(checksum);
    }
    /// Recomputes the header checksum (options included).
    pub fn fill_checksum(&mut self) {
        self.header.checksum.set(0);
        let s = checksum::sum(self.header.as_bytes()) + checksum::sum(self.options);
        self.header.checksum.set(!checksum::fold(s));
    }
}

/// A high-level representation of an IPv4 header. Emitted headers carry no options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN bits (the former type-of-service byte).
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments follow.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// A plain unfragmented datagram with DF set, TTL 64 and identification 0.
    pub const fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
    ) -> Self {
        Ipv4Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Reads the representation of a checked packet, verifying the checksum if `checksum.rx()`.
    pub fn parse(packet: &Ipv4Packet<'_>, checksum: Checksum) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let h = packet.header;
        let flags_frag = h.flags_frag.get();
        if flags_frag & 0x8000 != 0 {
            // The reserved ("evil") bit must be zero.
            return Err(Error::Malformed);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            // The header's own claim: for a quoted header more than is present.
            payload_len: usize::from(h.total_len.get()) - packet.header_len(),
            ttl: h.ttl,
            dscp_ecn: h.dscp_ecn,
            ident: h.ident.get(),
            dont_frag: flags_frag & FLAG_DF != 0,
            more_frags: flags_frag & FLAG_MF != 0,
            frag_offset: (flags_frag & FRAG_MASK) * 8,
        })
    }

    /// Whether this header belongs to a fragment.
    pub const fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// The header length this representation emits.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header to the front of `buf`, with its checksum if `checksum.tx()` (zero
    /// otherwise, for the NIC to fill in); returns its length.
    pub fn emit(&self, buf: &mut [u8], checksum: Checksum) -> Result<usize> {
        let total_len =
            u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| Error::Malformed)?;
        if self.frag_offset % 8 != 0 || self.frag_offset / 8 > FRAG_MASK {
            return Err(Error::Malformed);
        }
        let (h, _) = Ipv4Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        h.version_ihl = 0x45;
        h.dscp_ecn = self.dscp_ecn;
        h.total_len.set(total_len);
        h.ident.set(self.ident);
        let mut flags_frag = self.frag_offset / 8;
        if self.dont_frag {
            flags_frag |= FLAG_DF;
        }
        if self.more_frags {
            flags_frag |= FLAG_MF;
        }
        h.flags_frag.set(flags_frag);
        h.ttl = self.ttl;
        h.protocol = self.protocol.into();
        h.checksum.set(0);
        h.src = self.src_addr.octets();
        h.dst = self.dst_addr.octets();
        if checksum.tx() {
            let c = checksum::checksum(h.as_bytes());
            h.checksum.set(c);
        }
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            ident: 0x1234,
            ..Ipv4Repr::new(
                Ipv4Addr::new(198, 18, 0, 1),
                Ipv4Addr::new(198, 18, 0, 2),
                IpProtocol::Tcp,
                4,
            )
        }
    }

    fn emitted() -> [u8; 26] {
        let mut buf = [0u8; 26];
        repr().emit(&mut buf, Checksum::Both).unwrap();
        buf[20..24].copy_from_slice(b"data");
        buf
    }

    #[test]
    fn round_trip_with_padding() {
        let buf = emitted();
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), b"data");
        assert_eq!(Ipv4Repr::parse(&p, Checksum::Both), Ok(repr()));
    }

    #[test]
    fn options_are_skipped() {
        let mut buf = [0u8; 28];
        repr().emit(&mut buf, Checksum::None).unwrap();
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&28u16.to_be_bytes());
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        buf[24..28].copy_from_slice(b"data");
        let c = checksum::checksum(&buf[..24]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), b"data");
        assert!(Ipv4Repr::parse(&p, Checksum::Both).is_ok());
    }

    #[test]
    fn fragments_are_reported() {
        let frag = Ipv4Repr {
            more_frags: true,
            frag_offset: 1480,
            dont_frag: false,
            ..repr()
        };
        let mut buf = [0u8; 24];
        frag.emit(&mut buf, Checksum::Both).unwrap();
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert!(p.is_fragment());
        let parsed = Ipv4Repr::parse(&p, Checksum::Both).unwrap();
        assert_eq!(parsed, frag);
        assert!(parsed.is_fragment());
    }

    #[test]
    fn rejections() {
        let good = emitted();
        assert_eq!(
            Ipv4Packet::new_checked(&good[..19]).err(),
            Some(Error::Truncated)
        );
        let mut v6 = good;
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&v6).err(), Some(Error::Malformed));
        let mut short_ihl = good;
        short_ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&short_ihl).err(),
            Some(Error::Malformed)
        );
        let mut long_ihl = good;
        long_ihl[0] = 0x4f;
        long_ihl[2..4].copy_from_slice(&60u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&long_ihl).err(),
            Some(Error::Truncated)
        );
        let mut total_small = good;
        total_small[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&total_small).err(),
            Some(Error::Malformed)
        );
        let mut total_big = good;
        total_big[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&total_big).err(),
            Some(Error::Truncated)
        );
        let mut bad_sum = good;
        bad_sum[8] ^= 1;
        let p = Ipv4Packet::new_checked(&bad_sum).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, Checksum::Both), Err(Error::Checksum));
        assert!(Ipv4Repr::parse(&p, Checksum::None).is_ok());
        let mut evil = good;
        evil[6] |= 0x80;
        let p = Ipv4Packet::new_checked(&evil).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, Checksum::None), Err(Error::Malformed));
        let huge = Ipv4Repr {
            payload_len: 70_000,
            ..repr()
        };
        assert_eq!(
            huge.emit(&mut [0u8; 20], Checksum::Both),
            Err(Error::Malformed)
        );
        let odd = Ipv4Repr {
            frag_offset: 3,
            ..repr()
        };
        assert_eq!(
            odd.emit(&mut [0u8; 20], Checksum::Both),
            Err(Error::Malformed)
        );
        assert_eq!(
            repr().emit(&mut [0u8; 19], Checksum::Both),
            Err(Error::Truncated)
        );
    }
}
