//! The Toeplitz hash that NICs use for receive-side scaling (RSS), with any key.
//!
//! mTCP programs NICs with a *symmetric* key — the byte `0x05` repeated — under which a flow hashes
//! the same in both directions, so a connection's packets and its replies land on one core. The
//! general key of the Microsoft RSS specification is provided for checking against its published
//! verification vectors.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The length of an RSS key for IPv4/IPv6 (the usual 40 bytes; Toeplitz itself accepts any length).
pub const KEY_LEN: usize = 40;

/// mTCP's symmetric key: `0x05` repeated. Both directions of a flow hash alike.
pub const SYMMETRIC_KEY: [u8; KEY_LEN] = [0x05; KEY_LEN];

/// The key of Microsoft's RSS verification suite.
pub const MICROSOFT_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The Toeplitz hash of `input` under `key`: for every set bit of the input, XOR in the 32-bit
/// window of the key that starts at that bit. Bits past the end of the key read as zero.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_byte = |i: usize| key.get(i).copied().unwrap_or(0);
    let mut window = u32::from_be_bytes([key_byte(0), key_byte(1), key_byte(2), key_byte(3)]);
    let mut hash = 0;
    for (i, byte) in input.iter().enumerate() {
        let next = key_byte(i + 4);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    hash
}

/// The RSS input for IPv4 with TCP or UDP ports: source address, destination address, source port,
/// destination port, in network order.
pub fn ipv4_tuple(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> [u8; 12] {
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&src.octets());
    t[4..8].copy_from_slice(&dst.octets());
    t[8..10].copy_from_slice(&src_port.to_be_bytes());
    t[10..12].copy_from_slice(&dst_port.to_be_bytes());
    t
}

/// The RSS input of an Ethernet frame carrying an unfragmented IPv4 TCP or UDP packet, with its
/// IP protocol: [`ipv4_tuple`] of its addresses and ports. `None` for anything else, fragments
/// included (their later pieces carry no ports), and for frames the views reject. The one parser
/// of flow tuples: the `mem` switch steers and the stack's software steering route by it.
pub fn flow_tuple(frame: &[u8]) -> Option<(crate::IpProtocol, [u8; 12])> {
    use crate::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let protocol = ip.protocol();
    if !matches!(protocol, IpProtocol::Tcp | IpProtocol::Udp) || ip.is_fragment() {
        return None;
    }
    let ports = ip.payload().get(..4)?;
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&ip.src_addr().octets());
    t[4..8].copy_from_slice(&ip.dst_addr().octets());
    t[8..].copy_from_slice(ports);
    Some((protocol, t))
}

/// The RSS input for IPv6 with TCP or UDP ports: source address, destination address, source port,
/// destination port, in network order (36 bytes).
pub fn ipv6_tuple(src: &Ipv6Addr, dst: &Ipv6Addr, src_port: u16, dst_port: u16) -> [u8; 36] {
    let mut t = [0u8; 36];
    t[..16].copy_from_slice(&src.octets());
    t[16..32].copy_from_slice(&dst.octets());
    t[32..34].copy_from_slice(&src_port.to_be_bytes());
    t[34..].copy_from_slice(&dst_port.to_be_bytes());
    t
}

/// The RSS input of a flow of either IP version: 12 bytes for IPv4, 36 for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowTuple {
    /// An IPv4 4-tuple ([`ipv4_tuple`]).
    V4([u8; 12]),
    /// An IPv6 4-tuple ([`ipv6_tuple`]).
    V6([u8; 36]),
}

impl FlowTuple {
    /// The tuple of a flow from `src` to `dst`; `None` when the address families differ.
    pub fn new(src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                Some(FlowTuple::V4(ipv4_tuple(s, d, src_port, dst_port)))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                Some(FlowTuple::V6(ipv6_tuple(&s, &d, src_port, dst_port)))
            }
            _ => None,
        }
    }

    /// The bytes the hash reads.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            FlowTuple::V4(t) => t,
            FlowTuple::V6(t) => t,
        }
    }

    /// Its Toeplitz hash under `key` (bit by bit; precompute a [`Toeplitz`] or [`Toeplitz6`] for
    /// per-packet use).
    pub fn hash(&self, key: &[u8]) -> u32 {
        toeplitz(key, self.as_bytes())
    }
}

/// Like [`flow_tuple`] for both IP versions: the RSS input of an Ethernet frame carrying an IPv4
/// or IPv6 TCP or UDP packet, with its protocol. For IPv6 the extension headers are walked to the
/// transport header (as NICs' `_EX` hash types do, without the home-address and routing-header
/// address substitutions); fragments and anything the walk refuses give `None`.
pub fn flow_tuple_ip(frame: &[u8]) -> Option<(crate::IpProtocol, FlowTuple)> {
    use crate::ipv6_ext::{self, Ipv6Payload};
    use crate::{EtherType, EthernetFrame, IpProtocol, Ipv6Packet};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv6 {
        return flow_tuple(frame).map(|(p, t)| (p, FlowTuple::V4(t)));
    }
    let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
    let Ok(Ipv6Payload::Upper { protocol, data, .. }) = ipv6_ext::walk(&ip) else {
        return None;
    };
    if !matches!(protocol, IpProtocol::Tcp | IpProtocol::Udp) {
        return None;
    }
    let ports = data.get(..4)?;
    let mut t = [0u8; 36];
    t[..16].copy_from_slice(&ip.header().src);
    t[16..32].copy_from_slice(&ip.header().dst);
    t[32..].copy_from_slice(ports);
    Some((protocol, FlowTuple::V6(t)))
}

/// A Toeplitz hasher for IPv4 4-tuples with a table precomputed from its key: one lookup and XOR
/// per input byte instead of eight conditional XORs, for per-packet software steering.
#[derive(Clone, Debug)]
pub struct Toeplitz {
    table: [[u32; 256]; 12],
}

impl Toeplitz {
    /// Precomputes the table for `key` (12 KiB).
    pub fn new(key: &[u8]) -> Self {
        let mut table = [[0u32; 256]; 12];
        for (pos, row) in table.iter_mut().enumerate() {
            for (value, slot) in row.iter_mut().enumerate() {
                let mut input = [0u8; 12];
                input[pos] = value as u8;
                *slot = toeplitz(key, &input);
            }
        }
        Toeplitz { table }
    }

    /// The hash of a 12-byte IPv4 4-tuple (see [`ipv4_tuple`]).
    pub fn hash_tuple(&self, tuple: &[u8; 12]) -> u32 {
        tuple
            .iter()
            .zip(&self.table)
            .fold(0, |h, (b, row)| h ^ row[usize::from(*b)])
    }

    /// The hash of an IPv4 TCP/UDP flow.
    pub fn hash_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> u32 {
        self.hash_tuple(&ipv4_tuple(src, dst, src_port, dst_port))
    }
}

/// A Toeplitz hasher for IPv6 4-tuples with a precomputed table (36 KiB), the IPv6 counterpart of
/// [`Toeplitz`] (kept apart so the IPv4 table stays 12 KiB and cache-resident).
#[derive(Clone, Debug)]
pub struct Toeplitz6 {
    table: [[u32; 256]; 36],
}

impl Toeplitz6 {
    /// Precomputes the table for `key`.
    pub fn new(key: &[u8]) -> Self {
        let mut table = [[0u32; 256]; 36];
        for (pos, row) in table.iter_mut().enumerate() {
            for (value, slot) in row.iter_mut().enumerate() {
                let mut input = [0u8; 36];
                input[pos] = value as u8;
                *slot = toeplitz(key, &input);
            }
        }
        Toeplitz6 { table }
    }

    /// The hash of a 36-byte IPv6 4-tuple (see [`ipv6_tuple`]).
    pub fn hash_tuple(&self, tuple: &[u8; 36]) -> u32 {
        tuple
            .iter()
            .zip(&self.table)
            .fold(0, |h, (b, row)| h ^ row[usize::from(*b)])
    }

    /// The hash of an IPv6 TCP/UDP flow.
    pub fn hash_ipv6(&self, src: &Ipv6Addr, dst: &Ipv6Addr, src_port: u16, dst_port: u16) -> u32 {
        self.hash_tuple(&ipv6_tuple(src, dst, src_port, dst_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microsoft's "Verifying the RSS Hash Calculation" table for IPv4:
    /// (destination, source, IPv4-only hash, IPv4-with-TCP hash).
    type Endpoint = (Ipv4Addr, u16);
    const VECTORS: [(Endpoint, Endpoint, u32, u32); 5] = [
        (
            (Ipv4Addr::new(161, 142, 100, 80), 1766),
            (Ipv4Addr::new(66, 9, 149, 187), 2794),
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            (Ipv4Addr::new(65, 69, 140, 83), 4739),
            (Ipv4Addr::new(199, 92, 111, 2), 14230),
            0xd718262a,
            0xc626b0ea,
        ),
        (
            (Ipv4Addr::new(12, 22, 207, 184), 38024),
            (Ipv4Addr::new(24, 19, 198, 95), 12898),
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            (Ipv4Addr::new(209, 142, 163, 6), 2217),
            (Ipv4Addr::new(38, 27, 205, 30), 48228),
            0x82989176,
            0xafc7327f,
        ),
        (
            (Ipv4Addr::new(202, 188, 127, 2), 1303),
            (Ipv4Addr::new(153, 39, 163, 191), 44251),
            0x5d1809c5,
            0x10e828a2,
        ),
    ];

    #[test]
    fn microsoft_verification_vectors() {
        let table = Toeplitz::new(&MICROSOFT_KEY);
        for ((dst, dport), (src, sport), ip_only, with_tcp) in VECTORS {
            let mut addrs = [0u8; 8];
            addrs[..4].copy_from_slice(&src.octets());
            addrs[4..].copy_from_slice(&dst.octets());
            assert_eq!(toeplitz(&MICROSOFT_KEY, &addrs), ip_only, "{src} -> {dst}");
            let tuple = ipv4_tuple(src, dst, sport, dport);
            assert_eq!(
                toeplitz(&MICROSOFT_KEY, &tuple),
                with_tcp,
                "{src}:{sport} -> {dst}:{dport}"
            );
            assert_eq!(table.hash_tuple(&tuple), with_tcp);
        }
    }

    #[test]
    fn symmetric_key_hashes_both_directions_alike() {
        let table = Toeplitz::new(&SYMMETRIC_KEY);
        let mut asymmetric = 0;
        for ((dst, dport), (src, sport), ..) in VECTORS {
            let there = table.hash_ipv4(src, dst, sport, dport);
            let back = table.hash_ipv4(dst, src, dport, sport);
            assert_eq!(there, back);
            assert_eq!(
                there,
                toeplitz(&SYMMETRIC_KEY, &ipv4_tuple(src, dst, sport, dport))
            );
            let ms = Toeplitz::new(&MICROSOFT_KEY);
            if ms.hash_ipv4(src, dst, sport, dport) != ms.hash_ipv4(dst, src, dport, sport) {
                asymmetric += 1;
            }
        }
        // The check is meaningful: the general key does tell directions apart.
        assert_eq!(asymmetric, VECTORS.len());
    }

    /// Microsoft's table for IPv6: (destination, source, IPv6-only hash, IPv6-with-TCP hash).
    const VECTORS_V6: [(&str, u16, &str, u16, u32, u32); 3] = [
        (
            "3ffe:2501:200:3::1",
            1766,
            "3ffe:2501:200:1fff::7",
            2794,
            0x2cc18cd5,
            0x40207d3d,
        ),
        (
            "ff02::1",
            4739,
            "3ffe:501:8::260:97ff:fe40:efab",
            14230,
            0x0f0c461c,
            0xdde51bbf,
        ),
        (
            "fe80::200:f8ff:fe21:67cf",
            38024,
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            44251,
            0x4b61e985,
            0x02d1feef,
        ),
    ];

    #[test]
    fn microsoft_verification_vectors_ipv6() {
        let table = Toeplitz6::new(&MICROSOFT_KEY);
        for (dst, dport, src, sport, ip_only, with_tcp) in VECTORS_V6 {
            let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut addrs = [0u8; 32];
            addrs[..16].copy_from_slice(&src.octets());
            addrs[16..].copy_from_slice(&dst.octets());
            assert_eq!(toeplitz(&MICROSOFT_KEY, &addrs), ip_only, "{src} -> {dst}");
            let tuple = ipv6_tuple(&src, &dst, sport, dport);
            assert_eq!(toeplitz(&MICROSOFT_KEY, &tuple), with_tcp, "{src} -> {dst}");
            assert_eq!(table.hash_tuple(&tuple), with_tcp);
            let generic = FlowTuple::new(src.into(), dst.into(), sport, dport).unwrap();
            assert_eq!(generic.hash(&MICROSOFT_KEY), with_tcp);
        }
        let mixed = FlowTuple::new(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into(), 1, 2);
        assert_eq!(mixed, None);
    }

    #[test]
    fn symmetric_key_hashes_ipv6_both_directions_alike() {
        let table = Toeplitz6::new(&SYMMETRIC_KEY);
        for (dst, dport, src, sport, ..) in VECTORS_V6 {
            let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
            assert_eq!(
                table.hash_ipv6(&src, &dst, sport, dport),
                table.hash_ipv6(&dst, &src, dport, sport)
            );
        }
    }

    #[test]
    fn flow_tuple_ip_reads_both_versions_and_walks_extension_headers() {
        use crate::{EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv6Repr};
        let (src, dst): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        let build = |first: u8, ext: &[u8]| {
            let mut f = vec![0u8; 14 + 40 + ext.len() + 20];
            EthernetRepr {
                src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
                dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
                vlan: None,
                ethertype: EtherType::Ipv6,
            }
            .emit(&mut f)
            .unwrap();
            Ipv6Repr::new(src, dst, first.into(), ext.len() + 20)
                .emit(&mut f[14..])
                .unwrap();
            f[54..54 + ext.len()].copy_from_slice(ext);
            f[54 + ext.len()..58 + ext.len()].copy_from_slice(&[0x9c, 0x40, 0, 80]);
            f
        };
        let want = FlowTuple::V6(ipv6_tuple(&src, &dst, 40000, 80));
        assert_eq!(flow_tuple_ip(&build(6, &[])), Some((IpProtocol::Tcp, want)));
        let dst_opts = [6, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(
            flow_tuple_ip(&build(60, &dst_opts)),
            Some((IpProtocol::Tcp, want))
        );
        let fragment = [6, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(flow_tuple_ip(&build(44, &fragment)), None);
        assert_eq!(flow_tuple_ip(&build(58, &[])), None);
        assert_eq!(flow_tuple_ip(&build(6, &[])[..60]), None);
    }
}
