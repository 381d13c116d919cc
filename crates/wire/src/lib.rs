//! Zero-copy views and representations of the frames an mTCP stack sends and receives.
//!
//! (Crate docs to be completed: picture of the stack, runnable example.)
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
pub mod icmpv4;
pub mod ipv4;
pub mod rss;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use checksum::{Checksum, ChecksumCapabilities};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, VlanTag};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps};
pub use udp::{UdpPacket, UdpRepr};
