//! The IPv6 routing table: longest-prefix match from a destination to an interface and a next hop,
//! [`crate::RouteTable`] over IPv6 addresses. Routes come from each port's own prefixes (on
//! link: the next hop is the destination) and from the configuration; among routes of equal
//! length the one added first wins.

use core::net::Ipv6Addr;

use crate::route::{NextHop, NoRoute, Route, RouteTable};

/// `addr` with the host bits of a `/prefix_len` network cleared.
pub fn network6(addr: Ipv6Addr, prefix_len: u8) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(addr) & mask6(prefix_len))
}

/// The mask of a `/prefix_len` network (`prefix_len` above 128 counts as 128).
pub fn mask6(prefix_len: u8) -> u128 {
    match prefix_len {
        0 => 0,
        n => u128::MAX << (128 - u32::from(n.min(128))),
    }
}

/// One IPv6 route; its gateway is usually a link-local address.
pub type Route6 = Route<Ipv6Addr>;

/// Where an IPv6 packet goes: out of `iface`, to the link-layer owner of `next_hop`.
pub type NextHop6 = NextHop<Ipv6Addr>;

/// No route leads to the IPv6 destination.
pub type NoRoute6 = NoRoute<Ipv6Addr>;

/// IPv6 routes sorted longest prefix first.
pub type Route6Table = RouteTable<Ipv6Addr>;

impl Route6Table {
    /// The on-link route of every port prefix: `prefixes[i]` lists port `i`'s `(address,
    /// prefix length)` pairs.
    pub fn from_ports(prefixes: &[&[(Ipv6Addr, u8)]]) -> Self {
        let mut table = Route6Table::new();
        for (iface, port) in prefixes.iter().enumerate() {
            for &(addr, prefix_len) in port.iter() {
                table.add(Route6 {
                    addr,
                    prefix_len,
                    iface,
                    gateway: None,
                });
            }
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn masks() {
        assert_eq!(mask6(0), 0);
        assert_eq!(mask6(128), u128::MAX);
        assert_eq!(mask6(200), u128::MAX);
        assert_eq!(network6(ip("2001:2:0:1:2:3:4:5"), 48), ip("2001:2::"));
        assert_eq!(network6(ip("2001:2:0:1:2:3:4:5"), 63), ip("2001:2::"));
        assert_eq!(network6(ip("2001:2:0:1:2:3:4:5"), 64), ip("2001:2:0:1::"));
    }

    #[test]
    fn longest_prefix_wins_and_default_route_catches_the_rest() {
        let p0 = [(ip("2001:2::1"), 64)];
        let p1 = [(ip("2001:2:0:8::1"), 64), (ip("fe80::1"), 64)];
        let mut t = Route6Table::from_ports(&[&p0, &p1]);
        t.add(Route6 {
            addr: ip("::"),
            prefix_len: 0,
            iface: 0,
            gateway: Some(ip("fe80::ff")),
        });
        t.add(Route6 {
            addr: ip("2001:2:0:10::"),
            prefix_len: 60,
            iface: 1,
            gateway: Some(ip("2001:2:0:8::9")),
        });
        t.add(Route6 {
            addr: ip("2001:2:0:11::"),
            prefix_len: 64,
            iface: 1,
            gateway: None,
        });
        let hop = |d: &str| t.lookup(ip(d)).unwrap();
        assert_eq!(
            hop("2001:2::77"),
            NextHop6 {
                iface: 0,
                next_hop: ip("2001:2::77")
            }
        );
        assert_eq!(hop("2001:2:0:8::3").iface, 1);
        assert_eq!(hop("2001:2:0:12::1").next_hop, ip("2001:2:0:8::9"));
        assert_eq!(hop("2001:2:0:11::1").next_hop, ip("2001:2:0:11::1"));
        assert_eq!(
            hop("2001:db8::1"),
            NextHop6 {
                iface: 0,
                next_hop: ip("fe80::ff")
            }
        );
        assert_eq!(t.routes().len(), 6);
        assert!(
            t.routes()
                .windows(2)
                .all(|w| w[0].prefix_len >= w[1].prefix_len)
        );
    }

    #[test]
    fn no_route_is_an_error_and_equal_prefixes_keep_their_order() {
        let mut t = Route6Table::new();
        assert_eq!(
            t.lookup(ip("2001:2::1")).unwrap_err().to_string(),
            "no route to 2001:2::1"
        );
        for iface in [3, 4] {
            t.add(Route6 {
                addr: ip("2001:2::9"),
                prefix_len: 48,
                iface,
                gateway: None,
            });
        }
        assert_eq!(t.routes()[0].addr, ip("2001:2::"));
        assert_eq!(t.lookup(ip("2001:2:0:5::1")).unwrap().iface, 3);
        assert!(t.lookup(ip("2001:3::1")).is_err());
    }
}
