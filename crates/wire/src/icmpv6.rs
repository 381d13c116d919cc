//! ICMPv6 (RFC 4443) and the Neighbour Discovery messages (RFC 4861): echo request/reply,
//! destination unreachable, packet too big, time exceeded and parameter problem (with the packet
//! they quote), neighbour solicitation and advertisement with their link-layer address options,
//! and router advertisement (parse only). The checksum covers the IPv6 pseudo-header.

use core::net::Ipv6Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, Checksum};
use crate::ethernet::EthernetAddress;
use crate::ipv6::{Ipv6Packet, Ipv6Repr, MIN_MTU};
use crate::{Error, Result};

/// The length of the ICMPv6 header (type, code, checksum and the 4-byte message body start).
pub const HEADER_LEN: usize = 8;

/// The next-header value of ICMPv6.
pub const NEXT_HEADER: u8 = 58;

/// The ICMPv6 header as it lies on the wire.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Icmpv6Header {
    /// Message type.
    pub msg_type: u8,
    /// Message code.
    pub code: u8,
    /// Checksum over the pseudo-header and the whole message.
    pub checksum: U16,
    /// Type-dependent: identifier and sequence number for echo, MTU for packet too big, pointer
    /// for parameter problem, flags for neighbour advertisement.
    pub rest: [u8; 4],
}

/// ICMPv6 message types.
pub mod msg {
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbour solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbour advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// Neighbour Discovery option types (RFC 4861 §4.6).
mod opt {
    pub const SOURCE_LLADDR: u8 = 1;
    pub const TARGET_LLADDR: u8 = 2;
    pub const MTU: u8 = 5;
}

/// The most an ICMPv6 error message may be: the quote is cut so the whole packet fits the minimum
/// MTU (RFC 4443 §2.4(c)).
pub const MAX_ERROR_LEN: usize = MIN_MTU - crate::ipv6::HEADER_LEN;

/// A zero-copy view of a checked ICMPv6 message.
#[derive(Clone, Copy, Debug)]
pub struct Icmpv6Packet<'a> {
    header: &'a Icmpv6Header,
    bytes: &'a [u8],
    data: &'a [u8],
}

impl<'a> Icmpv6Packet<'a> {
    /// Checks that `buf` holds the header; the message is all of `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (header, data) = Icmpv6Header::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(Icmpv6Packet {
            header,
            bytes: buf,
            data,
        })
    }
    /// The header as it lies on the wire.
    pub fn header(&self) -> &'a Icmpv6Header {
        self.header
    }
    /// The bytes after the header.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Whether the checksum verifies for a message from `src` to `dst`.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let Ok(len) = u32::try_from(self.bytes.len()) else {
            return false;
        };
        let s = checksum::pseudo_header_sum_ipv6(src, dst, NEXT_HEADER, len)
            + checksum::sum(self.bytes);
        checksum::fold(s) == 0xffff
    }
}

/// A mutable view of an ICMPv6 message, for editing fields in place (smoltcp-style setters).
#[derive(Debug)]
pub struct Icmpv6PacketMut<'a> {
    header: &'a mut Icmpv6Header,
    data: &'a mut [u8],
}

impl<'a> Icmpv6PacketMut<'a> {
    /// Checks that `buf` holds the header; the message is all of `buf`.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, data) = Icmpv6Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(Icmpv6PacketMut { header, data })
    }
    /// Sets the message type and code.
    pub fn set_type_code(&mut self, msg_type: u8, code: u8) {
        self.header.msg_type = msg_type;
        self.header.code = code;
    }
    /// Sets the echo identifier and sequence number.
    pub fn set_echo_ident_seq(&mut self, ident: u16, seq: u16) {
        self.header.rest = pair(ident, seq);
    }
    /// Recomputes the checksum for a message from `src` to `dst`.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.header.checksum.set(0);
        let len = (HEADER_LEN + self.data.len()) as u32;
        let s = checksum::pseudo_header_sum_ipv6(src, dst, NEXT_HEADER, len)
            + checksum::sum(self.header.as_bytes())
            + checksum::sum(self.data);
        self.header.checksum.set(!checksum::fold(s));
    }
}

fn pair(x: u16, y: u16) -> [u8; 4] {
    let [a, b] = x.to_be_bytes();
    let [c, d] = y.to_be_bytes();
    [a, b, c, d]
}

/// The flags of a neighbour advertisement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NeighborFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: the advertisement should override a cached link-layer address.
    pub override_: bool,
}

impl NeighborFlags {
    fn from_byte(b: u8) -> Self {
        NeighborFlags {
            router: b & 0x80 != 0,
            solicited: b & 0x40 != 0,
            override_: b & 0x20 != 0,
        }
    }
    fn to_byte(self) -> u8 {
        u8::from(self.router) << 7 | u8::from(self.solicited) << 6 | u8::from(self.override_) << 5
    }
}

/// What a router advertisement says (RFC 4861 §4.2); only parsed, for a host that listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouterAdvert<'a> {
    /// Hop limit to use, 0 if unspecified.
    pub cur_hop_limit: u8,
    /// M: addresses are available through DHCPv6.
    pub managed: bool,
    /// O: other configuration is available through DHCPv6.
    pub other: bool,
    /// How long the router is a default router, in seconds (0: it is not one).
    pub router_lifetime: u16,
    /// Reachable time in milliseconds, 0 if unspecified.
    pub reachable_time: u32,
    /// Retransmission timer in milliseconds, 0 if unspecified.
    pub retrans_time: u32,
    /// The router's link-layer address, if given.
    pub source_lladdr: Option<EthernetAddress>,
    /// The link MTU, if given.
    pub mtu: Option<u32>,
    /// Every option, raw (prefix information and the rest are not interpreted).
    pub options: &'a [u8],
}

/// The options of a Neighbour Discovery message this crate reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct NdOptions {
    source_lladdr: Option<EthernetAddress>,
    target_lladdr: Option<EthernetAddress>,
    mtu: Option<u32>,
}

/// Reads Neighbour Discovery options; unknown ones are skipped, and an option of length zero or
/// running past the message makes the whole message invalid (RFC 4861 §4.6).
fn parse_nd_options(mut bytes: &[u8]) -> Result<NdOptions> {
    let mut out = NdOptions::default();
    while !bytes.is_empty() {
        let [kind, units, ..] = *bytes else {
            return Err(Error::Malformed);
        };
        let len = usize::from(units) * 8;
        if len == 0 {
            return Err(Error::Malformed);
        }
        let option = bytes.get(..len).ok_or(Error::Malformed)?;
        let mac = || -> Option<EthernetAddress> {
            option.get(2..8)?.try_into().ok().map(EthernetAddress)
        };
        match kind {
            opt::SOURCE_LLADDR => out.source_lladdr = mac(),
            opt::TARGET_LLADDR => out.target_lladdr = mac(),
            opt::MTU => {
                out.mtu = option
                    .get(4..8)
                    .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
            }
            _ => {}
        }
        bytes = &bytes[len..];
    }
    Ok(out)
}

/// A high-level representation of the ICMPv6 messages this crate handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
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
        /// Code (0 no route, 1 administratively prohibited, 3 address unreachable, 4 port
        /// unreachable, ...).
        code: u8,
        /// The quoted IPv6 header.
        header: Ipv6Repr,
        /// The quoted bytes after it.
        data: &'a [u8],
    },
    /// Packet too big (the path MTU signal).
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// The quoted IPv6 header.
        header: Ipv6Repr,
        /// The quoted bytes after it.
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Code (0 hop limit exceeded, 1 reassembly time exceeded).
        code: u8,
        /// The quoted IPv6 header.
        header: Ipv6Repr,
        /// The quoted bytes after it.
        data: &'a [u8],
    },
    /// Parameter problem.
    ParamProblem {
        /// Code (see [`crate::ipv6_ext::param_problem`]).
        code: u8,
        /// Offset of the offending byte in the quoted packet.
        pointer: u32,
        /// The quoted IPv6 header.
        header: Ipv6Repr,
        /// The quoted bytes after it.
        data: &'a [u8],
    },
    /// Neighbour solicitation.
    NeighborSolicit {
        /// The address whose link-layer address is asked for.
        target_addr: Ipv6Addr,
        /// The asker's link-layer address (absent in duplicate address detection).
        source_lladdr: Option<EthernetAddress>,
    },
    /// Neighbour advertisement.
    NeighborAdvert {
        /// R, S and O.
        flags: NeighborFlags,
        /// The address advertised.
        target_addr: Ipv6Addr,
        /// Its link-layer address.
        target_lladdr: Option<EthernetAddress>,
    },
    /// Router advertisement (parse only: [`Icmpv6Repr::emit`] refuses it).
    RouterAdvert(RouterAdvert<'a>),
}

impl<'a> Icmpv6Repr<'a> {
    /// Reads the representation of a checked message from `src` to `dst`, verifying the checksum
    /// if `checksum.rx()`. Other message types are [`Error::Unsupported`]; a Neighbour
    /// Discovery message with a non-zero code or a bad option is [`Error::Malformed`].
    pub fn parse(
        packet: &Icmpv6Packet<'a>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        checksum: Checksum,
    ) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let h = packet.header;
        let data = packet.data;
        let [a, b, c, d] = h.rest;
        let (ident, seq_no) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        match (h.msg_type, h.code) {
            (msg::ECHO_REQUEST, 0) => Ok(Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            (msg::ECHO_REPLY, 0) => Ok(Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            (msg::DST_UNREACHABLE..=msg::PARAM_PROBLEM, _) => parse_error(h, data),
            (msg::NEIGHBOR_SOLICIT | msg::NEIGHBOR_ADVERT, 0) => parse_neighbor(h, data),
            (msg::ROUTER_ADVERT, 0) => parse_router_advert(h.rest, data),
            (msg::ECHO_REQUEST | msg::ECHO_REPLY | msg::NEIGHBOR_SOLICIT, _)
            | (msg::NEIGHBOR_ADVERT | msg::ROUTER_ADVERT, _) => Err(Error::Malformed),
            _ => Err(Error::Unsupported),
        }
    }

    /// The length this representation emits.
    pub fn buffer_len(&self) -> usize {
        let lladdr = |o: &Option<EthernetAddress>| if o.is_some() { 8 } else { 0 };
        HEADER_LEN
            + match self {
                Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv6Repr::DstUnreachable { header, data, .. }
                | Icmpv6Repr::PacketTooBig { header, data, .. }
                | Icmpv6Repr::TimeExceeded { header, data, .. }
                | Icmpv6Repr::ParamProblem { header, data, .. } => header.buffer_len() + data.len(),
                Icmpv6Repr::NeighborSolicit { source_lladdr, .. } => 16 + lladdr(source_lladdr),
                Icmpv6Repr::NeighborAdvert { target_lladdr, .. } => 16 + lladdr(target_lladdr),
                Icmpv6Repr::RouterAdvert(ra) => 8 + ra.options.len(),
            }
    }

    /// Writes the message from `src` to `dst` with its checksum if `checksum.tx()`; returns the
    /// length written. A router advertisement is [`Error::Unsupported`].
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        checksum: Checksum,
    ) -> Result<usize> {
        let total = self.buffer_len();
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let (h, rest) = Icmpv6Header::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        h.checksum.set(0);
        h.code = 0;
        h.rest = [0; 4];
        match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                h.msg_type = msg::ECHO_REQUEST;
                h.rest = pair(ident, seq_no);
                rest.copy_from_slice(data);
            }
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                h.msg_type = msg::ECHO_REPLY;
                h.rest = pair(ident, seq_no);
                rest.copy_from_slice(data);
            }
            Icmpv6Repr::DstUnreachable { code, header, data } => {
                (h.msg_type, h.code) = (msg::DST_UNREACHABLE, code);
                emit_quote(rest, &header, data)?;
            }
            Icmpv6Repr::PacketTooBig { mtu, header, data } => {
                (h.msg_type, h.rest) = (msg::PACKET_TOO_BIG, mtu.to_be_bytes());
                emit_quote(rest, &header, data)?;
            }
            Icmpv6Repr::TimeExceeded { code, header, data } => {
                (h.msg_type, h.code) = (msg::TIME_EXCEEDED, code);
                emit_quote(rest, &header, data)?;
            }
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                header,
                data,
            } => {
                (h.msg_type, h.code, h.rest) = (msg::PARAM_PROBLEM, code, pointer.to_be_bytes());
                emit_quote(rest, &header, data)?;
            }
            Icmpv6Repr::NeighborSolicit {
                target_addr,
                source_lladdr,
            } => {
                h.msg_type = msg::NEIGHBOR_SOLICIT;
                emit_target(rest, &target_addr, opt::SOURCE_LLADDR, source_lladdr);
            }
            Icmpv6Repr::NeighborAdvert {
                flags,
                target_addr,
                target_lladdr,
            } => {
                h.msg_type = msg::NEIGHBOR_ADVERT;
                h.rest[0] = flags.to_byte();
                emit_target(rest, &target_addr, opt::TARGET_LLADDR, target_lladdr);
            }
            Icmpv6Repr::RouterAdvert(_) => return Err(Error::Unsupported),
        }
        if checksum.tx() {
            let s = checksum::pseudo_header_sum_ipv6(src, dst, NEXT_HEADER, total as u32)
                + checksum::sum(buf);
            buf[2..4].copy_from_slice(&(!checksum::fold(s)).to_be_bytes());
        }
        Ok(total)
    }
}

/// The four error messages (types 1 to 4), each quoting the packet that caused it.
fn parse_error<'a>(h: &Icmpv6Header, data: &'a [u8]) -> Result<Icmpv6Repr<'a>> {
    let word = u32::from_be_bytes(h.rest);
    let code = h.code;
    let valid = match h.msg_type {
        msg::DST_UNREACHABLE => code <= 7,
        msg::PACKET_TOO_BIG => code == 0,
        msg::TIME_EXCEEDED => code <= 1,
        _ => code <= 10,
    };
    if !valid {
        return Err(Error::Malformed);
    }
    let ip = Ipv6Packet::new_quoted(data)?;
    let (header, data) = (Ipv6Repr::parse(&ip)?, ip.payload());
    Ok(match h.msg_type {
        msg::DST_UNREACHABLE => Icmpv6Repr::DstUnreachable { code, header, data },
        msg::PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig {
            mtu: word,
            header,
            data,
        },
        msg::TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code, header, data },
        _ => Icmpv6Repr::ParamProblem {
            code,
            pointer: word,
            header,
            data,
        },
    })
}

/// A neighbour solicitation or advertisement: target address and options.
fn parse_neighbor<'a>(h: &Icmpv6Header, data: &'a [u8]) -> Result<Icmpv6Repr<'a>> {
    let (target_addr, options) = target_and_options(data)?;
    let o = parse_nd_options(options)?;
    Ok(if h.msg_type == msg::NEIGHBOR_SOLICIT {
        Icmpv6Repr::NeighborSolicit {
            target_addr,
            source_lladdr: o.source_lladdr,
        }
    } else {
        Icmpv6Repr::NeighborAdvert {
            flags: NeighborFlags::from_byte(h.rest[0]),
            target_addr,
            target_lladdr: o.target_lladdr,
        }
    })
}

fn emit_quote(rest: &mut [u8], header: &Ipv6Repr, data: &[u8]) -> Result<()> {
    // The quoted header keeps its own payload length, which may exceed the bytes quoted.
    let (h, d) = rest.split_at_mut(crate::ipv6::HEADER_LEN);
    let quoted = Ipv6Repr {
        payload_len: header.payload_len.min(0xffff),
        ..*header
    };
    quoted.emit(h)?;
    d.copy_from_slice(data);
    Ok(())
}

fn emit_target(rest: &mut [u8], target: &Ipv6Addr, kind: u8, lladdr: Option<EthernetAddress>) {
    rest[..16].copy_from_slice(&target.octets());
    if let Some(mac) = lladdr {
        rest[16] = kind;
        rest[17] = 1;
        rest[18..24].copy_from_slice(&mac.0);
    }
}

/// The target address of a neighbour solicitation or advertisement and the options after it
/// (`data` starts after the 8-byte ICMPv6 header, whose last 4 bytes are reserved or flags).
fn target_and_options(data: &[u8]) -> Result<(Ipv6Addr, &[u8])> {
    let (target, options) = data.split_first_chunk::<16>().ok_or(Error::Truncated)?;
    let target = Ipv6Addr::from(*target);
    if target.is_multicast() {
        return Err(Error::Malformed);
    }
    Ok((target, options))
}

fn parse_router_advert(rest: [u8; 4], data: &[u8]) -> Result<Icmpv6Repr<'_>> {
    let (fixed, options) = data.split_first_chunk::<8>().ok_or(Error::Truncated)?;
    let o = parse_nd_options(options)?;
    Ok(Icmpv6Repr::RouterAdvert(RouterAdvert {
        cur_hop_limit: rest[0],
        managed: rest[1] & 0x80 != 0,
        other: rest[1] & 0x40 != 0,
        router_lifetime: u16::from_be_bytes([rest[2], rest[3]]),
        reachable_time: u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]),
        retrans_time: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        source_lladdr: o.source_lladdr,
        mtu: o.mtu,
        options,
    }))
}

impl core::fmt::Display for Icmpv6Repr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Icmpv6Repr::EchoRequest { ident, seq_no, .. } => {
                write!(f, "ICMP6, echo request, id {ident}, seq {seq_no}")
            }
            Icmpv6Repr::EchoReply { ident, seq_no, .. } => {
                write!(f, "ICMP6, echo reply, id {ident}, seq {seq_no}")
            }
            Icmpv6Repr::DstUnreachable { code, header, .. } => {
                write!(
                    f,
                    "ICMP6, destination unreachable (code {code}) for {}",
                    header.dst_addr
                )
            }
            Icmpv6Repr::PacketTooBig { mtu, .. } => write!(f, "ICMP6, packet too big, mtu {mtu}"),
            Icmpv6Repr::TimeExceeded { code, .. } => {
                write!(f, "ICMP6, time exceeded (code {code})")
            }
            Icmpv6Repr::ParamProblem { code, pointer, .. } => {
                write!(
                    f,
                    "ICMP6, parameter problem (code {code}), pointer {pointer}"
                )
            }
            Icmpv6Repr::NeighborSolicit { target_addr, .. } => {
                write!(f, "ICMP6, neighbor solicitation, who has {target_addr}")
            }
            Icmpv6Repr::NeighborAdvert { target_addr, .. } => {
                write!(f, "ICMP6, neighbor advertisement, tgt is {target_addr}")
            }
            Icmpv6Repr::RouterAdvert(_) => f.write_str("ICMP6, router advertisement"),
        }
    }
}

#[cfg(test)]
#[path = "icmpv6/tests.rs"]
mod tests;
