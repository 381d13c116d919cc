//! Ethernet II frames with one optional 802.1Q tag.

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::{Error, Result};

/// A six-octet Ethernet address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Whether this is a multicast (or broadcast) address.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl core::fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// The EtherType field: which protocol the payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4 (0x0800).
    Ipv4,
    /// ARP (0x0806).
    Arp,
    /// IPv6 (0x86dd): recognised, not parsed.
    Ipv6,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

impl core::fmt::Display for EtherType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4 (0x0800)"),
            EtherType::Arp => f.write_str("ARP (0x0806)"),
            EtherType::Ipv6 => f.write_str("IPv6 (0x86dd)"),
            EtherType::Unknown(v) => write!(f, "Unknown (0x{v:04x})"),
        }
    }
}

/// The 802.1Q tag protocol identifier.
pub const TPID_8021Q: u16 = 0x8100;

/// The fixed part of an Ethernet II header, as it lies on the wire.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct EthernetHeader {
    /// Destination address.
    pub dst: [u8; 6],
    /// Source address.
    pub src: [u8; 6],
    /// EtherType, or the 802.1Q TPID when a tag follows.
    pub ethertype: U16,
}

/// An 802.1Q tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }
    fn from_tci(tci: u16) -> Self {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }
}

/// A zero-copy view of a checked Ethernet frame.
#[derive(Clone, Copy, Debug)]
pub struct EthernetFrame<'a> {
    header: &'a EthernetHeader,
    vlan: Option<VlanTag>,
    ethertype: u16,
    payload: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Checks that `buf` holds a whole header (and the tag, if any) and returns a view of it.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (header, rest) = EthernetHeader::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        let outer = header.ethertype.get();
        if outer != TPID_8021Q {
            return Ok(EthernetFrame {
                header,
                vlan: None,
                ethertype: outer,
                payload: rest,
            });
        }
        let [a, b, c, d, payload @ ..] = rest else {
            return Err(Error::Truncated);
        };
        let vlan = VlanTag::from_tci(u16::from_be_bytes([*a, *b]));
        let ethertype = u16::from_be_bytes([*c, *d]);
        if ethertype == TPID_8021Q {
            // Stacked tags (QinQ) are not handled.
            return Err(Error::Unsupported);
        }
        Ok(EthernetFrame {
            header,
            vlan: Some(vlan),
            ethertype,
            payload,
        })
    }
    /// Destination address.
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress(self.header.dst)
    }
    /// Source address.
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress(self.header.src)
    }
    /// The 802.1Q tag, if present.
    pub fn vlan(&self) -> Option<VlanTag> {
        self.vlan
    }
    /// The EtherType of the payload (inside the tag, if any).
    pub fn ethertype(&self) -> EtherType {
        self.ethertype.into()
    }
    /// The header length: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() { 18 } else { 14 }
    }
    /// The bytes after the header (with any trailing padding).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A mutable view of an Ethernet header, for editing fields in place (smoltcp-style setters).
#[derive(Debug)]
pub struct EthernetFrameMut<'a> {
    header: &'a mut EthernetHeader,
}

impl<'a> EthernetFrameMut<'a> {
    /// Checks that `buf` holds the fixed header and returns a mutable view of it.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, _) = EthernetHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(EthernetFrameMut { header })
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.header.dst = addr.0;
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.header.src = addr.0;
    }
    /// Sets the (outer) EtherType: the payload's, or [`TPID_8021Q`] when a tag follows.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        self.header.ethertype.set(ethertype.into());
    }
}

/// A high-level representation of an Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// 802.1Q tag, if any.
    pub vlan: Option<VlanTag>,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the representation of a checked frame.
    pub fn parse(frame: &EthernetFrame<'_>) -> Result<Self> {
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan: frame.vlan(),
            ethertype: frame.ethertype(),
        })
    }

    /// The header length this representation emits.
    pub const fn buffer_len(&self) -> usize {
        if self.vlan.is_some() { 18 } else { 14 }
    }

    /// Writes the header to the front of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let (header, rest) = EthernetHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        header.dst = self.dst_addr.0;
        header.src = self.src_addr.0;
        let ethertype = u16::from(self.ethertype);
        match self.vlan {
            None => header.ethertype.set(ethertype),
            Some(tag) => {
                header.ethertype.set(TPID_8021Q);
                let tag_bytes = rest.get_mut(..4).ok_or(Error::Truncated)?;
                tag_bytes[..2].copy_from_slice(&tag.tci().to_be_bytes());
                tag_bytes[2..].copy_from_slice(&ethertype.to_be_bytes());
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_round_trip() {
        let repr = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress::BROADCAST,
            vlan: None,
            ethertype: EtherType::Arp,
        };
        let mut buf = [0u8; 20];
        assert_eq!(repr.emit(&mut buf), Ok(14));
        assert_eq!(&buf[12..14], &[0x08, 0x06]);
        let frame = EthernetFrame::new_checked(&buf).unwrap();
        assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
        assert_eq!(frame.payload().len(), 6);
    }

    #[test]
    fn tagged_round_trip() {
        let repr = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            vlan: Some(VlanTag {
                pcp: 5,
                dei: true,
                vid: 0xabc,
            }),
            ethertype: EtherType::Ipv4,
        };
        let mut buf = [0u8; 18];
        assert_eq!(repr.emit(&mut buf), Ok(18));
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0xba, 0xbc, 0x08, 0x00]);
        let frame = EthernetFrame::new_checked(&buf).unwrap();
        assert_eq!(frame.header_len(), 18);
        assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
    }

    #[test]
    fn rejections() {
        assert_eq!(
            EthernetFrame::new_checked(&[0; 13]).err(),
            Some(Error::Truncated)
        );
        let mut tagged = [0u8; 17];
        tagged[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
        assert_eq!(
            EthernetFrame::new_checked(&tagged).err(),
            Some(Error::Truncated)
        );
        let mut qinq = [0u8; 22];
        qinq[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
        qinq[16..18].copy_from_slice(&TPID_8021Q.to_be_bytes());
        assert_eq!(
            EthernetFrame::new_checked(&qinq).err(),
            Some(Error::Unsupported)
        );
        let repr = EthernetRepr {
            src_addr: EthernetAddress::default(),
            dst_addr: EthernetAddress::default(),
            vlan: Some(VlanTag::default()),
            ethertype: EtherType::Ipv4,
        };
        assert_eq!(repr.emit(&mut [0u8; 16]), Err(Error::Truncated));
        assert_eq!(repr.emit(&mut [0u8; 10]), Err(Error::Truncated));
    }
}
