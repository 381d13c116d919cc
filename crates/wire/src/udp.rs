//! UDP (RFC 768): header parse/emit with the pseudo-header checksum (zero means "none").

use core::net::{Ipv4Addr, Ipv6Addr};

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, Checksum};
use crate::{Error, Result};

/// The header length.
pub const HEADER_LEN: usize = 8;

/// A UDP header as it lies on the wire.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Length of header and payload.
    pub len: U16,
    /// Checksum (0: not computed).
    pub checksum: U16,
}

/// A zero-copy view of a checked UDP datagram; the payload ends where the length field says.
#[derive(Clone, Copy, Debug)]
pub struct UdpPacket<'a> {
    header: &'a UdpHeader,
    payload: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    /// Checks the header and the length field against `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (header, _) = UdpHeader::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        let len = usize::from(header.len.get());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let payload = buf.get(HEADER_LEN..len).ok_or(Error::Truncated)?;
        Ok(UdpPacket { header, payload })
    }
    /// The header as it lies on the wire.
    pub fn header(&self) -> &'a UdpHeader {
        self.header
    }
    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
    /// Whether the checksum verifies (a zero checksum means the sender did not compute one).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.header.checksum.get() == 0 {
            return true;
        }
        let len = self.header.len.get();
        self.verify_with(checksum::pseudo_header_sum(src, dst, 17, len))
    }
    /// Whether the checksum verifies over IPv6, where it is mandatory: a zero checksum does not
    /// verify (RFC 8200 §8.1).
    pub fn verify_checksum_ipv6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let len = u32::from(self.header.len.get());
        self.header.checksum.get() != 0
            && self.verify_with(checksum::pseudo_header_sum_ipv6(src, dst, 17, len))
    }
    fn verify_with(&self, pseudo: u32) -> bool {
        let s = pseudo + checksum::sum(self.header.as_bytes()) + checksum::sum(self.payload);
        checksum::fold(s) == 0xffff
    }
}

/// A mutable view of a UDP header, for editing fields in place (smoltcp-style setters).
#[derive(Debug)]
pub struct UdpPacketMut<'a> {
    header: &'a mut UdpHeader,
}

impl<'a> UdpPacketMut<'a> {
    /// Checks that `buf` holds the header and returns a mutable view of it.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, _) = UdpHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(UdpPacketMut { header })
    }
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        self.header.src_port.set(port);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        self.header.dst_port.set(port);
    }
    /// Sets the length field (header and payload).
    pub fn set_len(&mut self, len: u16) {
        self.header.len.set(len);
    }
    /// Sets the checksum field (0: not computed).
    pub fn set_checksum(&mut self, checksum: u16) {
        self.header.checksum.set(checksum);
    }
}

/// A high-level representation of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Reads the representation of a checked datagram, verifying the checksum if `checksum.rx()`.
    pub fn parse(
        packet: &UdpPacket<'a>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(Self::from_packet(packet))
    }

    /// Like [`UdpRepr::parse`], for a datagram carried over IPv6 (a zero checksum is an error).
    pub fn parse_ipv6(
        packet: &UdpPacket<'a>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        checksum: Checksum,
    ) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum_ipv6(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(Self::from_packet(packet))
    }

    fn from_packet(packet: &UdpPacket<'a>) -> Self {
        UdpRepr {
            src_port: packet.header.src_port.get(),
            dst_port: packet.header.dst_port.get(),
            payload: packet.payload,
        }
    }

    /// Header plus payload length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes header and payload; the checksum is computed if `checksum.tx()`, else the field
    /// holds the pseudo-header sum for the NIC. Returns the length written.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<usize> {
        let len = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
        self.emit_with(
            buf,
            len,
            checksum::pseudo_header_sum(src, dst, 17, len),
            checksum,
        )
    }

    /// Like [`UdpRepr::emit`], for a datagram carried over IPv6.
    pub fn emit_ipv6(
        &self,
        buf: &mut [u8],
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        checksum: Checksum,
    ) -> Result<usize> {
        let len = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
        let pseudo = checksum::pseudo_header_sum_ipv6(src, dst, 17, u32::from(len));
        self.emit_with(buf, len, pseudo, checksum)
    }

    fn emit_with(
        &self,
        buf: &mut [u8],
        len: u16,
        pseudo: u32,
        checksum: Checksum,
    ) -> Result<usize> {
        let total = usize::from(len);
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let (h, rest) = UdpHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        h.src_port.set(self.src_port);
        h.dst_port.set(self.dst_port);
        h.len.set(len);
        h.checksum.set(0);
        rest.copy_from_slice(self.payload);
        let field = if checksum.tx() {
            // An all-zero result is sent as all ones (RFC 768).
            match !checksum::fold(pseudo + checksum::sum(buf)) {
                0 => 0xffff,
                c => c,
            }
        } else {
            checksum::fold(pseudo)
        };
        buf[6..8].copy_from_slice(&field.to_be_bytes());
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn round_trip() {
        let repr = UdpRepr {
            src_port: 53,
            dst_port: 5353,
            payload: b"query",
        };
        let mut buf = [0u8; 16];
        assert_eq!(repr.emit(&mut buf, SRC, DST, Checksum::Both), Ok(13));
        let p = UdpPacket::new_checked(&buf).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(UdpRepr::parse(&p, SRC, DST, Checksum::Both), Ok(repr));
    }

    #[test]
    fn rejections() {
        let repr = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload: b"x",
        };
        let mut buf = [0u8; 9];
        repr.emit(&mut buf, SRC, DST, Checksum::Both).unwrap();
        assert_eq!(
            UdpPacket::new_checked(&buf[..7]).err(),
            Some(Error::Truncated)
        );
        let mut short = buf;
        short[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(UdpPacket::new_checked(&short).err(), Some(Error::Malformed));
        let mut long = buf;
        long[4..6].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(UdpPacket::new_checked(&long).err(), Some(Error::Truncated));
        let mut bad = buf;
        bad[8] ^= 1;
        let p = UdpPacket::new_checked(&bad).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, Checksum::Both),
            Err(Error::Checksum)
        );
        let mut none = bad;
        none[6..8].copy_from_slice(&[0, 0]);
        let p = UdpPacket::new_checked(&none).unwrap();
        assert!(UdpRepr::parse(&p, SRC, DST, Checksum::Both).is_ok());
        assert_eq!(
            repr.emit(&mut [0u8; 8], SRC, DST, Checksum::Both),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn ipv6_round_trip_and_mandatory_checksum() {
        let (src, dst): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        let repr = UdpRepr {
            src_port: 53,
            dst_port: 5353,
            payload: b"query",
        };
        let mut buf = [0u8; 13];
        assert_eq!(repr.emit_ipv6(&mut buf, &src, &dst, Checksum::Both), Ok(13));
        let p = UdpPacket::new_checked(&buf).unwrap();
        assert!(p.verify_checksum_ipv6(&src, &dst));
        assert!(!p.verify_checksum_ipv6(&src, &"2001:2::3".parse().unwrap()));
        assert!(
            !p.verify_checksum(SRC, DST),
            "the IPv4 pseudo-header differs"
        );
        assert_eq!(
            UdpRepr::parse_ipv6(&p, &src, &dst, Checksum::Both),
            Ok(repr)
        );
        let mut zero = buf;
        zero[6..8].copy_from_slice(&[0, 0]);
        let p = UdpPacket::new_checked(&zero).unwrap();
        assert_eq!(
            UdpRepr::parse_ipv6(&p, &src, &dst, Checksum::Both),
            Err(Error::Checksum)
        );
        let mut bad = buf;
        bad[8] ^= 1;
        let p = UdpPacket::new_checked(&bad).unwrap();
        assert_eq!(
            UdpRepr::parse_ipv6(&p, &src, &dst, Checksum::Both),
            Err(Error::Checksum)
        );
        assert!(UdpRepr::parse_ipv6(&p, &src, &dst, Checksum::None).is_ok());
    }
}
