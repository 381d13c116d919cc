//! A whole Ethernet frame parsed through every layer this crate knows, emitted back, and printed
//! the way `tcpdump -e -nn` prints it.

use core::fmt;

use crate::checksum::ChecksumCapabilities;
use crate::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use crate::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use crate::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::tcp::{TcpPacket, TcpRepr};
use crate::udp::{UdpPacket, UdpRepr};
use crate::{ArpPacket, ArpRepr, Error, Result};

/// What an Ethernet frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network<'a> {
    /// ARP.
    Arp(ArpRepr),
    /// IPv4 and what it carries.
    Ipv4(Ipv4Repr, Transport<'a>),
    /// Another EtherType: the payload, uninterpreted.
    Other(&'a [u8]),
}

/// What an IPv4 datagram carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// TCP.
    Tcp(TcpRepr<'a>),
    /// UDP.
    Udp(UdpRepr<'a>),
    /// ICMPv4.
    Icmp(Icmpv4Repr<'a>),
    /// A fragment (not reassembled) or another protocol: the payload, uninterpreted.
    Raw(&'a [u8]),
}

/// An Ethernet frame, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The link-layer header.
    pub ethernet: EthernetRepr,
    /// Its payload.
    pub network: Network<'a>,
}

impl<'a> Frame<'a> {
    /// Parses every layer, verifying the checksums that `caps` asks software to verify.
    pub fn parse(buf: &'a [u8], caps: &ChecksumCapabilities) -> Result<Self> {
        let eth = EthernetFrame::new_checked(buf)?;
        let ethernet = EthernetRepr::parse(&eth)?;
        let network = match ethernet.ethertype {
            EtherType::Arp => {
                Network::Arp(ArpRepr::parse(&ArpPacket::new_checked(eth.payload())?)?)
            }
            EtherType::Ipv4 => {
                let packet = Ipv4Packet::new_checked(eth.payload())?;
                let ip = Ipv4Repr::parse(&packet, caps.ipv4)?;
                let transport = Transport::parse(&ip, packet.payload(), caps)?;
                Network::Ipv4(ip, transport)
            }
            _ => Network::Other(eth.payload()),
        };
        Ok(Frame { ethernet, network })
    }

    /// The length [`Frame::emit`] writes (without Ethernet padding).
    pub fn buffer_len(&self) -> usize {
        self.ethernet.buffer_len()
            + match &self.network {
                Network::Arp(arp) => arp.buffer_len(),
                Network::Ipv4(ip, _) => ip.buffer_len() + ip.payload_len,
                Network::Other(payload) => payload.len(),
            }
    }

    /// Writes the whole frame, computing the checksums that `caps` asks software to compute.
    /// The IPv4 header's `payload_len` must match the transport's length.
    pub fn emit(&self, buf: &mut [u8], caps: &ChecksumCapabilities) -> Result<usize> {
        let total = self.buffer_len();
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let at = self.ethernet.emit(buf)?;
        let rest = &mut buf[at..];
        match &self.network {
            Network::Arp(arp) => {
                arp.emit(rest)?;
            }
            Network::Other(payload) => rest.copy_from_slice(payload),
            Network::Ipv4(ip, transport) => {
                if transport.buffer_len() != ip.payload_len {
                    return Err(Error::Malformed);
                }
                let n = ip.emit(rest, caps.ipv4)?;
                let rest = &mut rest[n..];
                let (src, dst) = (ip.src_addr, ip.dst_addr);
                match transport {
                    Transport::Tcp(tcp) => tcp.emit(rest, src, dst, caps.tcp)?,
                    Transport::Udp(udp) => udp.emit(rest, src, dst, caps.udp)?,
                    Transport::Icmp(icmp) => icmp.emit(rest, caps.icmpv4)?,
                    Transport::Raw(payload) => {
                        rest.copy_from_slice(payload);
                        payload.len()
                    }
                };
            }
        }
        Ok(total)
    }
}

impl<'a> Transport<'a> {
    /// Parses the payload of the datagram `ip`.
    pub fn parse(ip: &Ipv4Repr, payload: &'a [u8], caps: &ChecksumCapabilities) -> Result<Self> {
        if ip.is_fragment() {
            return Ok(Transport::Raw(payload));
        }
        let (src, dst) = (ip.src_addr, ip.dst_addr);
        Ok(match ip.protocol {
            IpProtocol::Tcp => Transport::Tcp(TcpRepr::parse(
                &TcpPacket::new_checked(payload)?,
                src,
                dst,
                caps.tcp,
            )?),
            IpProtocol::Udp => Transport::Udp(UdpRepr::parse(
                &UdpPacket::new_checked(payload)?,
                src,
                dst,
                caps.udp,
            )?),
            IpProtocol::Icmp => Transport::Icmp(Icmpv4Repr::parse(
                &Icmpv4Packet::new_checked(payload)?,
                caps.icmpv4,
            )?),
            IpProtocol::Icmpv6 | IpProtocol::Unknown(_) => Transport::Raw(payload),
        })
    }

    /// The length this transport emits.
    pub fn buffer_len(&self) -> usize {
        match self {
            Transport::Tcp(t) => t.buffer_len(),
            Transport::Udp(u) => u.buffer_len(),
            Transport::Icmp(i) => i.buffer_len(),
            Transport::Raw(p) => p.len(),
        }
    }
}

impl fmt::Display for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.ethernet;
        write!(f, "{} > {}", e.src_addr, e.dst_addr)?;
        if let Some(tag) = e.vlan {
            write!(f, ", vlan {}, p {}", tag.vid, tag.pcp)?;
        }
        write!(
            f,
            ", ethertype {}, length {}: ",
            e.ethertype,
            self.buffer_len()
        )?;
        match &self.network {
            Network::Arp(arp) => write!(f, "{arp}"),
            Network::Other(p) if e.ethertype == EtherType::Ipv6 => fmt_ipv6(f, p),
            Network::Other(p) => write!(f, "{} bytes", p.len()),
            Network::Ipv4(ip, transport) => {
                let (src, dst) = (ip.src_addr, ip.dst_addr);
                match transport {
                    Transport::Tcp(t) => {
                        write!(f, "IP {src}.{} > {dst}.{}: {t}", t.src_port, t.dst_port)
                    }
                    Transport::Udp(u) => write!(
                        f,
                        "IP {src}.{} > {dst}.{}: UDP, length {}",
                        u.src_port,
                        u.dst_port,
                        u.payload.len()
                    ),
                    Transport::Icmp(i) => write!(f, "IP {src} > {dst}: {i}"),
                    Transport::Raw(p) if ip.is_fragment() => write!(
                        f,
                        "IP {src} > {dst}: fragment id {}, offset {}, flags [{}], proto {}, length {}",
                        ip.ident,
                        ip.frag_offset,
                        if ip.more_frags { "+" } else { "none" },
                        u8::from(ip.protocol),
                        p.len()
                    ),
                    Transport::Raw(p) => {
                        write!(
                            f,
                            "IP {src} > {dst}: ip-proto-{} {}",
                            u8::from(ip.protocol),
                            p.len()
                        )
                    }
                }
            }
        }
    }
}

/// Prints an IPv6 packet the way tcpdump does, through the IPv6 views (IPv6 is not a [`Network`]
/// variant yet: a frame carrying it parses as [`Network::Other`]).
fn fmt_ipv6(f: &mut fmt::Formatter<'_>, payload: &[u8]) -> fmt::Result {
    use crate::ipv6_ext::{self, Ipv6Payload};
    use crate::{Checksum, Icmpv6Packet, Icmpv6Repr, Ipv6Packet};
    let packet = match Ipv6Packet::new_checked(payload) {
        Ok(p) => p,
        Err(e) => return write!(f, "IP6 [{e}] {} bytes", payload.len()),
    };
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    match ipv6_ext::walk(&packet) {
        Ok(Ipv6Payload::Upper {
            protocol: IpProtocol::Tcp,
            data,
            ..
        }) => match TcpPacket::new_checked(data)
            .and_then(|p| TcpRepr::parse_ipv6(&p, &src, &dst, Checksum::None))
        {
            Ok(t) => write!(f, "IP6 {src}.{} > {dst}.{}: {t}", t.src_port, t.dst_port),
            Err(e) => write!(f, "IP6 {src} > {dst}: TCP [{e}]"),
        },
        Ok(Ipv6Payload::Upper {
            protocol: IpProtocol::Udp,
            data,
            ..
        }) => match UdpPacket::new_checked(data) {
            Ok(u) => {
                let h = u.header();
                let (sp, dp) = (h.src_port.get(), h.dst_port.get());
                write!(
                    f,
                    "IP6 {src}.{sp} > {dst}.{dp}: UDP, length {}",
                    u.payload().len()
                )
            }
            Err(e) => write!(f, "IP6 {src} > {dst}: UDP [{e}]"),
        },
        Ok(Ipv6Payload::Upper {
            protocol: IpProtocol::Icmpv6,
            data,
            ..
        }) => match Icmpv6Packet::new_checked(data)
            .and_then(|p| Icmpv6Repr::parse(&p, &src, &dst, Checksum::None))
        {
            Ok(icmp) => write!(f, "IP6 {src} > {dst}: {icmp}"),
            Err(_) => write!(
                f,
                "IP6 {src} > {dst}: ICMP6, type {}, length {}",
                data.first().copied().unwrap_or_default(),
                data.len()
            ),
        },
        Ok(Ipv6Payload::Upper { protocol, data, .. }) => write!(
            f,
            "IP6 {src} > {dst}: ip-proto-{} {}",
            u8::from(protocol),
            data.len()
        ),
        Ok(Ipv6Payload::Fragment(frag)) => write!(
            f,
            "IP6 {src} > {dst}: frag (id {}, offset {}, flags [{}]), next-header {}",
            frag.ident,
            frag.offset,
            if frag.more_frags { "+" } else { "none" },
            u8::from(frag.next_header)
        ),
        Ok(Ipv6Payload::NoNextHeader) => write!(f, "IP6 {src} > {dst}: no next header"),
        Ok(Ipv6Payload::ParameterProblem { .. } | Ipv6Payload::Discard) => {
            write!(f, "IP6 {src} > {dst}: refused extension header")
        }
        Err(e) => write!(f, "IP6 {src} > {dst}: [{e}]"),
    }
}

/// Prints any bytes as a frame: what [`Frame`] prints, or why the bytes do not parse.
#[derive(Clone, Copy, Debug)]
pub struct PrettyFrame<'a>(pub &'a [u8]);

impl fmt::Display for PrettyFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Frame::parse(self.0, &ChecksumCapabilities::software()) {
            Ok(frame) => frame.fmt(f),
            Err(e) => write!(f, "[{e}] {} bytes", self.0.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EthernetAddress, Icmpv6Repr, Ipv6Repr, SeqNumber, TcpFlags};
    use core::net::Ipv6Addr;

    fn ipv6_frame(next_header: IpProtocol, upper: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 14 + 40 + upper.len()];
        EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            vlan: None,
            ethertype: EtherType::Ipv6,
        }
        .emit(&mut buf)
        .unwrap();
        let (src, dst): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        Ipv6Repr::new(src, dst, next_header, upper.len())
            .emit(&mut buf[14..])
            .unwrap();
        buf[54..].copy_from_slice(upper);
        buf
    }

    #[test]
    fn ipv6_prints_like_tcpdump() {
        let (src, dst): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        let syn = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(1),
            ack_number: SeqNumber(0),
            flags: TcpFlags::SYN,
            window_len: 65535,
            urgent_pointer: 0,
            options: Default::default(),
            payload: &[],
        };
        let mut tcp = [0u8; 20];
        syn.emit_ipv6(&mut tcp, &src, &dst, crate::Checksum::Both)
            .unwrap();
        let line = PrettyFrame(&ipv6_frame(IpProtocol::Tcp, &tcp)).to_string();
        assert!(
            line.ends_with(
                "ethertype IPv6 (0x86dd), length 74: IP6 2001:2::1.40000 > 2001:2::2.80: \
                 Flags [S], seq 1, win 65535, length 0"
            ),
            "{line}"
        );
        let echo = Icmpv6Repr::EchoRequest {
            ident: 7,
            seq_no: 1,
            data: b"hi",
        };
        let mut icmp = [0u8; 10];
        echo.emit(&mut icmp, &src, &dst, crate::Checksum::Both)
            .unwrap();
        let line = PrettyFrame(&ipv6_frame(IpProtocol::Icmpv6, &icmp)).to_string();
        assert!(
            line.ends_with("IP6 2001:2::1 > 2001:2::2: ICMP6, echo request, id 7, seq 1"),
            "{line}"
        );
        let fragment = [6, 0, 0, 1, 0, 0, 0, 5];
        let line = PrettyFrame(&ipv6_frame(IpProtocol::Unknown(44), &fragment)).to_string();
        assert!(
            line.ends_with("frag (id 5, offset 0, flags [+]), next-header 6"),
            "{line}"
        );
        let line = PrettyFrame(&ipv6_frame(IpProtocol::Unknown(60), &[6, 9])).to_string();
        assert!(
            line.ends_with("IP6 2001:2::1 > 2001:2::2: [truncated packet]"),
            "{line}"
        );
    }
}
