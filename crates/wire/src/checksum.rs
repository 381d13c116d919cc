//! The Internet checksum (RFC 1071): fast one's-complement sums, pseudo-header sums, incremental
//! update (RFC 1624), and the capabilities that tell a layer which checksums the NIC already does.
//!
//! Sums are kept as `u32` partial sums of big-endian 16-bit words; [`fold`] reduces one to 16 bits.
//! Partial sums of consecutive pieces add up as long as every piece but the last has even length.

use core::net::{Ipv4Addr, Ipv6Addr};

/// The one's-complement sum of `data` as 16-bit big-endian words (an odd last byte is padded with
/// zero), folded to 16 bits and returned in a `u32` so that sums can be added before [`fold`]ing.
///
/// Reads eight bytes at a time into four independent accumulators: this is the function to
/// benchmark in GB/s, not a byte loop.
pub fn sum(data: &[u8]) -> u32 {
    // One's-complement addition is byte-order independent (RFC 1071 §2(B)): sum native-endian words
    // and swap once at the end.
    let mut acc = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for (i, word) in block.chunks_exact(8).enumerate() {
            let v = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
            // Each half is < 2^32, so 2^31 blocks can be added before overflow.
            acc[i] += (v & 0xffff_ffff) + (v >> 32);
        }
    }
    let mut total = acc[0] + acc[1] + acc[2] + acc[3];
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        total += u64::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    let folded = fold64(total);
    u32::from(u16::from_be(folded))
}

fn fold64(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Folds a partial sum (or several added together) into 16 bits, with end-around carries.
pub fn fold(s: u32) -> u16 {
    fold64(u64::from(s))
}

/// The checksum field value for `data`: the complement of its folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// A plain byte-pair loop, the reference the fast [`sum`] is tested and benchmarked against.
pub fn reference_checksum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        s += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
        s = (s & 0xffff) + (s >> 16);
        i += 2;
    }
    if i < data.len() {
        s += u32::from(data[i]) << 8;
        s = (s & 0xffff) + (s >> 16);
    }
    !(fold(s))
}

/// The partial sum of the IPv4 pseudo-header (RFC 9293 §3.1) for a TCP or UDP segment of `length`
/// bytes (header and payload).
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let [a, b, c, d] = src.octets();
    let [e, f, g, h] = dst.octets();
    u32::from(u16::from_be_bytes([a, b]))
        + u32::from(u16::from_be_bytes([c, d]))
        + u32::from(u16::from_be_bytes([e, f]))
        + u32::from(u16::from_be_bytes([g, h]))
        + u32::from(protocol)
        + u32::from(length)
}

/// The partial sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet (TCP, UDP,
/// ICMPv6) of `length` bytes with next header `next_header`: both addresses, the 32-bit length and
/// the next header value. A separate function, so the IPv4 sum stays four additions.
pub fn pseudo_header_sum_ipv6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u32 {
    let words = |a: &Ipv6Addr| a.segments().iter().map(|w| u32::from(*w)).sum::<u32>();
    // At most 16 * 0xffff + 2 * 0xffff + 0xff: no overflow.
    words(src) + words(dst) + (length >> 16) + (length & 0xffff) + u32::from(next_header)
}

/// Updates checksum field `old_checksum` after a 16-bit word of the covered data changed from `old`
/// to `new` (RFC 1624, eqn. 3: `HC' = ~(~HC + ~m + m')`), without touching the rest of the data.
pub fn update(old_checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!old_checksum) + u32::from(!old) + u32::from(new))
}

/// Where a checksum is computed and verified in software.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// Software computes it on transmit and verifies it on receive.
    #[default]
    Both,
    /// Software computes it on transmit only (the NIC verifies received frames).
    Tx,
    /// Software verifies it on receive only (the NIC fills it in on transmit).
    Rx,
    /// The NIC does both.
    None,
}

impl Checksum {
    /// Whether software must compute the checksum of transmitted packets.
    pub const fn tx(self) -> bool {
        matches!(self, Checksum::Both | Checksum::Tx)
    }
    /// Whether software must verify the checksum of received packets.
    pub const fn rx(self) -> bool {
        matches!(self, Checksum::Both | Checksum::Rx)
    }
}

/// Which checksums software handles, per protocol. When the NIC fills in a TCP or UDP checksum on
/// transmit, emitters leave the pseudo-header sum in the field, as NICs (and DPDK) expect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChecksumCapabilities {
    /// IPv4 header checksum.
    pub ipv4: Checksum,
    /// TCP checksum.
    pub tcp: Checksum,
    /// UDP checksum.
    pub udp: Checksum,
    /// ICMPv4 checksum (never offloaded by NICs; kept for symmetry and tests).
    pub icmpv4: Checksum,
    /// ICMPv6 checksum (never offloaded by NICs; its pseudo-header makes it mandatory).
    pub icmpv6: Checksum,
}

impl ChecksumCapabilities {
    /// Everything in software: what a device without offloads needs.
    pub const fn software() -> Self {
        ChecksumCapabilities {
            ipv4: Checksum::Both,
            tcp: Checksum::Both,
            udp: Checksum::Both,
            icmpv4: Checksum::Both,
            icmpv6: Checksum::Both,
        }
    }
    /// Nothing verified or computed: for fuzzing and for replaying captures with offloaded checksums.
    pub const fn ignored() -> Self {
        ChecksumCapabilities {
            ipv4: Checksum::None,
            tcp: Checksum::None,
            udp: Checksum::None,
            icmpv4: Checksum::None,
            icmpv6: Checksum::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(reference_checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // A header from Wikipedia's "IPv4 header checksum" example: checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        // Decrement TTL (word 4: ttl|proto).
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let updated = update(0xb861, old, new);
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, checksum(&h));
    }

    #[test]
    fn ipv6_pseudo_header_matches_the_bytes_it_stands_for() {
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:2:0:ffff:ffff:ffff:ffff:fffe".parse().unwrap();
        for length in [0u32, 20, 0xffff, 0x1_0002, u32::MAX] {
            let mut bytes = [0u8; 40];
            bytes[..16].copy_from_slice(&src.octets());
            bytes[16..32].copy_from_slice(&dst.octets());
            bytes[32..36].copy_from_slice(&length.to_be_bytes());
            bytes[39] = 6;
            assert_eq!(
                fold(pseudo_header_sum_ipv6(&src, &dst, 6, length)),
                fold(sum(&bytes)),
                "length {length}"
            );
        }
    }

    #[test]
    fn capabilities() {
        assert!(Checksum::Both.tx() && Checksum::Both.rx());
        assert!(Checksum::Tx.tx() && !Checksum::Tx.rx());
        assert!(!Checksum::Rx.tx() && Checksum::Rx.rx());
        assert!(!Checksum::None.tx() && !Checksum::None.rx());
    }
}
