//! Zero-copy parsing and emission of the frames an mTCP stack sends and receives: Ethernet (with
//! one 802.1Q tag), ARP, IPv4, ICMPv4, IPv6, ICMPv6 (Neighbour Discovery included), UDP and TCP
//! with every option, plus the Internet checksum and the Toeplitz RSS hash.
//!
//! ```text
//!   apps ─ socket-api / capi ─ epoll
//!                 │
//!               net (ARP, IPv4, ICMP, demux) ── tcp (sans-I/O engine)
//!                 │                                │
//!   ┌─────────────┴────────────────────────────────┴───┐
//!   │ wire: bytes <-> Ethernet/ARP/IPv4/ICMP/UDP/TCP   │  <- this crate: no I/O, no allocation
//!   └──────────────────────────────────────────────────┘
//!                 │
//!               io (mem, tap, afpacket, dpdk, netmap)
//! ```
//!
//! Each protocol has, in the manner of smoltcp, a zero-copy *view* (`XxxPacket::new_checked`, whose
//! getters cannot fail once the length checks passed; the fixed headers are `zerocopy` structs read
//! in place), a mutable view (`XxxPacketMut`) with setters for editing fields in place, and a
//! *representation* (`XxxRepr`) with `parse`, `buffer_len` and `emit`. [`Frame`]
//! parses a whole frame through every layer and prints like `tcpdump -e -nn`.
//!
//! Parsing never panics, whatever the bytes (fuzzed and property-tested), and never reads past a
//! length field. The crate is `no_std` without its default `std` feature and has no `unsafe`.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use mtcp_wire::{Checksum, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr};
//!
//! let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
//! let syn = TcpRepr {
//!     src_port: 40000,
//!     dst_port: 80,
//!     seq_number: SeqNumber(1),
//!     ack_number: SeqNumber(0),
//!     flags: TcpFlags::SYN,
//!     window_len: 65535,
//!     urgent_pointer: 0,
//!     options: TcpOptions { mss: Some(1460), sack_permitted: true, ..Default::default() },
//!     payload: &[],
//! };
//! let mut buf = [0u8; 64];
//! let len = syn.emit(&mut buf, src, dst, Checksum::Both)?;
//! let packet = TcpPacket::new_checked(&buf[..len])?;
//! assert_eq!(TcpRepr::parse(&packet, src, dst, Checksum::Both)?, syn);
//! assert_eq!(syn.to_string(), "Flags [S], seq 1, win 65535, options [mss 1460,sackOK], length 0");
//! # Ok::<(), mtcp_wire::Error>(())
//! ```
//!
//! IPv6 has its header ([`ipv6`]), the extension-header walk of RFC 8200 §4 ([`ipv6_ext`]),
//! ICMPv6 with Neighbour Discovery ([`icmpv6`]), the IPv6 variants of the TCP and UDP checksums
//! (`parse_ipv6`, `emit_ipv6`) and Toeplitz over IPv6 tuples ([`rss::Toeplitz6`]).
//!
//! Not implemented: IPv6 representations in [`Frame`] (an IPv6 frame is [`Network::Other`],
//! printed like tcpdump but emitted as raw bytes), IPv6 jumbograms and
//! extension headers on emit, IPv4 and IPv6 reassembly (fragments are reported),
//! stacked VLAN tags (QinQ), IPv4 options on emit, ICMP types other than echo, unreachable and
//! time exceeded, TCP-AO/MD5 and other options beyond RFC 7323/2018 (skipped when parsing).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

/// Why a buffer could not be parsed (or a representation not emitted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the header or the length fields claim.
    Truncated,
    /// A field holds a value the protocol forbids (bad version, header length, option length, ...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// A well-formed packet of a kind this crate does not handle.
    Unsupported,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum mismatch",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl core::error::Error for Error {}

/// The result of parsing or emitting.
pub type Result<T> = core::result::Result<T, Error>;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod frame;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_ext;
pub mod rss;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpPacketMut, ArpRepr};
pub use checksum::{Checksum, ChecksumCapabilities};
pub use ethernet::{
    EtherType, EthernetAddress, EthernetFrame, EthernetFrameMut, EthernetRepr, VlanTag,
};
pub use frame::{Frame, Network, PrettyFrame, Transport};
pub use icmpv4::{Icmpv4Packet, Icmpv4PacketMut, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6PacketMut, Icmpv6Repr, NeighborFlags, RouterAdvert};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4PacketMut, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6PacketMut, Ipv6Repr};
pub use ipv6_ext::{FragmentInfo, Ipv6Payload};
pub use tcp::{
    SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpPacketMut, TcpRepr, Timestamps,
};
pub use udp::{UdpPacket, UdpPacketMut, UdpRepr};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
