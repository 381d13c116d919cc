//! ARP (RFC 826) for IPv4 over Ethernet.

use core::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::{Error, EthernetAddress, Result};

/// An ARP packet for IPv4 over Ethernet, as it lies on the wire (28 bytes).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ArpHeader {
    /// Hardware type (1 = Ethernet).
    pub htype: U16,
    /// Protocol type (0x0800 = IPv4).
    pub ptype: U16,
    /// Hardware address length (6).
    pub hlen: u8,
    /// Protocol address length (4).
    pub plen: u8,
    /// Operation.
    pub oper: U16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

/// The length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// An ARP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// Request (1).
    Request,
    /// Reply (2).
    Reply,
    /// Any other operation code.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(v: ArpOperation) -> u16 {
        match v {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

/// A zero-copy view of a checked Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct ArpPacket<'a> {
    header: &'a ArpHeader,
}

impl<'a> ArpPacket<'a> {
    /// Checks length and that the packet is for IPv4 over Ethernet.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (header, _) = ArpHeader::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        if header.htype.get() != 1 || header.ptype.get() != 0x0800 {
            return Err(Error::Unsupported);
        }
        if header.hlen != 6 || header.plen != 4 {
            return Err(Error::Malformed);
        }
        Ok(ArpPacket { header })
    }
    /// The header as it lies on the wire.
    pub fn header(&self) -> &'a ArpHeader {
        self.header
    }
}

/// A mutable view of an Ethernet/IPv4 ARP packet, for editing fields in place (smoltcp-style
/// setters).
#[derive(Debug)]
pub struct ArpPacketMut<'a> {
    header: &'a mut ArpHeader,
}

impl<'a> ArpPacketMut<'a> {
    /// Checks length and that the packet is for IPv4 over Ethernet.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        ArpPacket::new_checked(&*buf)?;
        let (header, _) = ArpHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(ArpPacketMut { header })
    }
    /// Sets the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        self.header.oper.set(op.into());
    }
    /// Sets the sender's hardware and protocol addresses.
    pub fn set_sender(&mut self, mac: EthernetAddress, ip: Ipv4Addr) {
        self.header.sha = mac.0;
        self.header.spa = ip.octets();
    }
    /// Sets the target's hardware and protocol addresses.
    pub fn set_target(&mut self, mac: EthernetAddress, ip: Ipv4Addr) {
        self.header.tha = mac.0;
        self.header.tpa = ip.octets();
    }
}

/// A high-level representation of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Operation.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hardware_addr: EthernetAddress,
    /// Sender protocol address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target hardware address.
    pub target_hardware_addr: EthernetAddress,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads the representation of a checked packet.
    pub fn parse(packet: &ArpPacket<'_>) -> Result<Self> {
        let h = packet.header;
        Ok(ArpRepr {
            operation: h.oper.get().into(),
            source_hardware_addr: EthernetAddress(h.sha),
            source_protocol_addr: Ipv4Addr::from(h.spa),
            target_hardware_addr: EthernetAddress(h.tha),
            target_protocol_addr: Ipv4Addr::from(h.tpa),
        })
    }

    /// The length this representation emits.
    pub const fn buffer_len(&self) -> usize {
        ARP_LEN
    }

    /// Writes the packet to the front of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let (h, _) = ArpHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        h.htype.set(1);
        h.ptype.set(0x0800);
        h.hlen = 6;
        h.plen = 4;
        h.oper.set(self.operation.into());
        h.sha = self.source_hardware_addr.0;
        h.spa = self.source_protocol_addr.octets();
        h.tha = self.target_hardware_addr.0;
        h.tpa = self.target_protocol_addr.octets();
        Ok(ARP_LEN)
    }
}

impl core::fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.operation {
            ArpOperation::Request => write!(
                f,
                "ARP, Request who-has {} tell {}",
                self.target_protocol_addr, self.source_protocol_addr
            ),
            ArpOperation::Reply => write!(
                f,
                "ARP, Reply {} is-at {}",
                self.source_protocol_addr, self.source_hardware_addr
            ),
            ArpOperation::Unknown(op) => write!(f, "ARP, unknown operation {op}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 28];
        assert_eq!(request().emit(&mut buf), Ok(28));
        let p = ArpPacket::new_checked(&buf).unwrap();
        assert_eq!(ArpRepr::parse(&p), Ok(request()));
        assert_eq!(
            request().to_string(),
            "ARP, Request who-has 198.18.0.2 tell 198.18.0.1"
        );
    }

    #[test]
    fn rejections() {
        let mut buf = [0u8; 28];
        request().emit(&mut buf).unwrap();
        assert_eq!(
            ArpPacket::new_checked(&buf[..27]).err(),
            Some(Error::Truncated)
        );
        let mut other_hw = buf;
        other_hw[1] = 6;
        assert_eq!(
            ArpPacket::new_checked(&other_hw).err(),
            Some(Error::Unsupported)
        );
        let mut bad_len = buf;
        bad_len[4] = 8;
        assert_eq!(
            ArpPacket::new_checked(&bad_len).err(),
            Some(Error::Malformed)
        );
        assert_eq!(request().emit(&mut [0u8; 27]), Err(Error::Truncated));
    }
}
