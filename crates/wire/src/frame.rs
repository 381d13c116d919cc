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
