//! ICMPv4 (RFC 792): echo request/reply, destination unreachable and time exceeded, the latter
//! two with the IPv4 header and payload bytes they quote.

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, Checksum};
use crate::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::{Error, Result};

/// The length of the ICMP header (type, code, checksum and the 4-byte rest of header).
pub const HEADER_LEN: usize = 8;

/// The ICMP header as it lies on the wire.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Icmpv4Header {
    /// Message type.
    pub msg_type: u8,
    /// Message code.
    pub code: u8,
    /// Checksum over the whole message.
    pub checksum: U16,
    /// Type-dependent: identifier and sequence number for echo, next-hop MTU for "fragmentation
    /// needed", unused otherwise.
    pub rest: [u8; 4],
}

mod msg {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// A zero-copy view of a checked ICMPv4 message.
#[derive(Clone, Copy, Debug)]
pub struct Icmpv4Packet<'a> {
    header: &'a Icmpv4Header,
    bytes: &'a [u8],
    data: &'a [u8],
}

impl<'a> Icmpv4Packet<'a> {
    /// Checks that `buf` holds the header; the message is all of `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (header, data) = Icmpv4Header::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(Icmpv4Packet {
            header,
            bytes: buf,
            data,
        })
    }
    /// The header as it lies on the wire.
    pub fn header(&self) -> &'a Icmpv4Header {
        self.header
    }
    /// The bytes after the header.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Whether the checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.bytes)) == 0xffff
    }
}

/// A mutable view of an ICMPv4 message, for editing fields in place (smoltcp-style setters).
#[derive(Debug)]
pub struct Icmpv4PacketMut<'a> {
    header: &'a mut Icmpv4Header,
    data: &'a mut [u8],
}

impl<'a> Icmpv4PacketMut<'a> {
    /// Checks that `buf` holds the header; the message is all of `buf`.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, data) = Icmpv4Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(Icmpv4PacketMut { header, data })
    }
    /// Sets the message type and code.
    pub fn set_type_code(&mut self, msg_type: u8, code: u8) {
        self.header.msg_type = msg_type;
        self.header.code = code;
    }
    /// Sets the echo identifier and sequence number.
    pub fn set_echo_ident_seq(&mut self, ident: u16, seq: u16) {
        let [a, b] = ident.to_be_bytes();
        let [c, d] = seq.to_be_bytes();
        self.header.rest = [a, b, c, d];
    }
    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.header.checksum.set(0);
        // The header has an even length, so the sums of its bytes and of the data add up.
        let s = checksum::sum(self.header.as_bytes()) + checksum::sum(self.data);
        self.header.checksum.set(!checksum::fold(s));
    }
}

/// A high-level representation of the ICMPv4 messages this crate handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Code (0 net, 1 host, 2 protocol, 3 port, 4 fragmentation needed, ...).
        code: u8,
        /// Next-hop MTU, meaningful for code 4 (RFC 1191).
        next_hop_mtu: u16,
        /// The quoted IPv4 header.
        header: Ipv4Repr,
        /// The quoted payload bytes (at least the first 8).
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Code (0 TTL exceeded in transit, 1 reassembly time exceeded).
        code: u8,
        /// The quoted IPv4 header.
        header: Ipv4Repr,
        /// The quoted payload bytes.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads the representation of a checked message, verifying the checksum if `checksum.rx()`.
    /// Other message types are [`Error::Unsupported`].
    pub fn parse(packet: &Icmpv4Packet<'a>, checksum: Checksum) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let h = packet.header;
        let [a, b, c, d] = h.rest;
        let ident = u16::from_be_bytes([a, b]);
        let seq_no = u16::from_be_bytes([c, d]);
        let quoted = || -> Result<(Ipv4Repr, &'a [u8])> {
            let ip = Ipv4Packet::new_quoted(packet.data)?;
            Ok((Ipv4Repr::parse(&ip, Checksum::None)?, ip.payload()))
        };
        match (h.msg_type, h.code) {
            (msg::ECHO_REQUEST, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data: packet.data,
            }),
            (msg::ECHO_REPLY, 0) => Ok(Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data: packet.data,
            }),
            (msg::DST_UNREACHABLE, code) if code <= 15 => {
                let (header, data) = quoted()?;
                Ok(Icmpv4Repr::DstUnreachable {
                    code,
                    next_hop_mtu: seq_no,
                    header,
                    data,
                })
            }
            (msg::TIME_EXCEEDED, code) if code <= 1 => {
                let (header, data) = quoted()?;
                Ok(Icmpv4Repr::TimeExceeded { code, header, data })
            }
            (
                msg::ECHO_REQUEST | msg::ECHO_REPLY | msg::DST_UNREACHABLE | msg::TIME_EXCEEDED,
                _,
            ) => Err(Error::Malformed),
            _ => Err(Error::Unsupported),
        }
    }

    /// The length this representation emits.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { header, data, .. }
                | Icmpv4Repr::TimeExceeded { header, data, .. } => header.buffer_len() + data.len(),
            }
    }

    /// Writes the message with its checksum if `checksum.tx()`; returns the length written.
    pub fn emit(&self, buf: &mut [u8], checksum: Checksum) -> Result<usize> {
        let total = self.buffer_len();
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let (h, rest) = Icmpv4Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        h.checksum.set(0);
        let pair = |x: u16, y: u16| {
            let [a, b] = x.to_be_bytes();
            let [c, d] = y.to_be_bytes();
            [a, b, c, d]
        };
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let request = matches!(self, Icmpv4Repr::EchoRequest { .. });
                h.msg_type = if request {
                    msg::ECHO_REQUEST
                } else {
                    msg::ECHO_REPLY
                };
                h.code = 0;
                h.rest = pair(ident, seq_no);
                rest.copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                header,
                data,
            } => {
                h.msg_type = msg::DST_UNREACHABLE;
                h.code = code;
                h.rest = pair(0, next_hop_mtu);
                let n = header.emit(rest, Checksum::Both)?;
                rest[n..].copy_from_slice(data);
            }
            Icmpv4Repr::TimeExceeded { code, header, data } => {
                h.msg_type = msg::TIME_EXCEEDED;
                h.code = code;
                h.rest = [0; 4];
                let n = header.emit(rest, Checksum::Both)?;
                rest[n..].copy_from_slice(data);
            }
        }
        if checksum.tx() {
            let c = checksum::checksum(buf);
            buf[2..4].copy_from_slice(&c.to_be_bytes());
        }
        Ok(total)
    }
}

impl core::fmt::Display for Icmpv4Repr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                write!(
                    f,
                    "ICMP echo request, id {ident}, seq {seq_no}, length {}",
                    data.len() + HEADER_LEN
                )
            }
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                write!(
                    f,
                    "ICMP echo reply, id {ident}, seq {seq_no}, length {}",
                    data.len() + HEADER_LEN
                )
            }
            Icmpv4Repr::DstUnreachable { code, header, .. } => write!(
                f,
                "ICMP destination unreachable (code {code}) for {} > {}",
                header.src_addr, header.dst_addr
            ),
            Icmpv4Repr::TimeExceeded { code, header, .. } => write!(
                f,
                "ICMP time exceeded (code {code}) for {} > {}",
                header.src_addr, header.dst_addr
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::IpProtocol;
    use core::net::Ipv4Addr;

    fn quoted_header() -> Ipv4Repr {
        Ipv4Repr::new(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            IpProtocol::Udp,
            100,
        )
    }

    #[test]
    fn echo_round_trip() {
        for repr in [
            Icmpv4Repr::EchoRequest {
                ident: 7,
                seq_no: 1,
                data: b"ping",
            },
            Icmpv4Repr::EchoReply {
                ident: 7,
                seq_no: 1,
                data: b"ping",
            },
        ] {
            let mut buf = [0u8; 12];
            assert_eq!(repr.emit(&mut buf, Checksum::Both), Ok(12));
            let p = Icmpv4Packet::new_checked(&buf).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(Icmpv4Repr::parse(&p, Checksum::Both), Ok(repr));
        }
    }

    #[test]
    fn errors_quote_the_header() {
        let quoted = [1u8, 2, 3, 4, 5, 6, 7, 8];
        for repr in [
            Icmpv4Repr::DstUnreachable {
                code: 4,
                next_hop_mtu: 1400,
                header: quoted_header(),
                data: &quoted,
            },
            Icmpv4Repr::TimeExceeded {
                code: 0,
                header: quoted_header(),
                data: &quoted,
            },
        ] {
            let mut buf = [0u8; 36];
            assert_eq!(repr.emit(&mut buf, Checksum::Both), Ok(36));
            let p = Icmpv4Packet::new_checked(&buf).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p, Checksum::Both), Ok(repr));
        }
    }

    #[test]
    fn rejections() {
        assert_eq!(
            Icmpv4Packet::new_checked(&[0; 7]).err(),
            Some(Error::Truncated)
        );
        let mut buf = [0u8; 12];
        Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: b"abcd",
        }
        .emit(&mut buf, Checksum::Both)
        .unwrap();
        let mut bad = buf;
        bad[9] ^= 1;
        let p = Icmpv4Packet::new_checked(&bad).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, Checksum::Both), Err(Error::Checksum));
        let mut bad_code = buf;
        bad_code[1] = 3;
        let p = Icmpv4Packet::new_checked(&bad_code).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, Checksum::None), Err(Error::Malformed));
        let mut router_adv = buf;
        router_adv[0] = 9;
        let p = Icmpv4Packet::new_checked(&router_adv).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, Checksum::None),
            Err(Error::Unsupported)
        );
        let mut unreachable = buf;
        unreachable[0] = 3; // quotes only 4 bytes: not a header
        let p = Icmpv4Packet::new_checked(&unreachable).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, Checksum::None), Err(Error::Truncated));
    }
}
