//! The routing table, one for each address family: longest-prefix match from a destination to an interface and a next hop.
//!
//! Routes come from each port's own address and netmask (the connected subnet: next hop is the
//! destination itself) and from `route.conf`. Among routes of equal length the one added first
//! wins; connected routes are added first.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::config::{ConfigError, ConfigErrorKind, RouteEntry};

/// `addr` with the host bits of a `/prefix_len` network cleared.
pub fn network(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) & mask(prefix_len))
}

/// The netmask of a `/prefix_len` network (`prefix_len` above 32 counts as 32).
pub fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

/// The prefix length of a netmask, or `None` if its one bits are not contiguous.
pub fn prefix_len_of(netmask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(netmask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// An address family's address, as the routing table needs it: a prefix length's upper bound and
/// the masking of host bits. [`RouteTable`] and its [`Route`]s are written once for both families.
pub trait RouteAddr: Copy + Eq + core::fmt::Debug + core::fmt::Display {
    /// The address's length in bits: the longest prefix (32 or 128).
    const BITS: u8;
    /// `self` with the host bits of a `/prefix_len` network cleared.
    fn network(self, prefix_len: u8) -> Self;
}

impl RouteAddr for Ipv4Addr {
    const BITS: u8 = 32;
    fn network(self, prefix_len: u8) -> Self {
        network(self, prefix_len)
    }
}

impl RouteAddr for Ipv6Addr {
    const BITS: u8 = 128;
    fn network(self, prefix_len: u8) -> Self {
        crate::route6::network6(self, prefix_len)
    }
}

/// One route (IPv4 unless said otherwise; [`crate::Route6`] is the IPv6 one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route<A = Ipv4Addr> {
    /// Network address (host bits cleared).
    pub addr: A,
    /// Prefix length, 0..=32 (0..=128 for IPv6).
    pub prefix_len: u8,
    /// Index of the outgoing interface in the caller's list of ports.
    pub iface: usize,
    /// The gateway, or `None` when the destination is on the link.
    pub gateway: Option<A>,
}

impl<A: RouteAddr> Route<A> {
    /// Whether `dst` falls in this route's prefix.
    pub fn contains(&self, dst: A) -> bool {
        dst.network(self.prefix_len) == self.addr
    }
}

/// Where a datagram goes: out of `iface`, to the link-layer owner of `next_hop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop<A = Ipv4Addr> {
    /// Index of the outgoing interface.
    pub iface: usize,
    /// The gateway, or the destination itself when it is on the link.
    pub next_hop: A,
}

/// No route leads to the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no route to {0}")]
pub struct NoRoute<A: RouteAddr = Ipv4Addr>(pub A);

/// A port as the routing table needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortAddr<'a> {
    /// Interface name, as route.conf spells it.
    pub name: &'a str,
    /// The port's address.
    pub addr: Ipv4Addr,
    /// The prefix length of its subnet.
    pub prefix_len: u8,
}

/// Routes sorted longest prefix first; lookups scan them in order (route tables of an mTCP host
/// hold a handful of entries, so a scan beats a trie).
#[derive(Clone, Debug)]
pub struct RouteTable<A = Ipv4Addr> {
    routes: Vec<Route<A>>,
}

impl<A> Default for RouteTable<A> {
    fn default() -> Self {
        RouteTable { routes: Vec::new() }
    }
}

impl RouteTable {
    /// The connected route of every port, then every `route.conf` entry, resolving interface
    /// names against `ports` (their index is the route's `iface`). An unknown name is an error on
    /// the entry's line.
    pub fn from_conf(
        ports: &[PortAddr<'_>],
        entries: &[RouteEntry],
    ) -> Result<RouteTable, ConfigError> {
        let mut table = RouteTable::new();
        for (iface, port) in ports.iter().enumerate() {
            table.add(Route {
                addr: port.addr,
                prefix_len: port.prefix_len,
                iface,
                gateway: None,
            });
        }
        for e in entries {
            let iface = ports
                .iter()
                .position(|p| p.name == e.ifname)
                .ok_or_else(|| ConfigError {
                    line: e.line,
                    kind: ConfigErrorKind::UnknownInterface(e.ifname.clone()),
                })?;
            table.add(Route {
                addr: e.addr,
                prefix_len: e.prefix_len,
                iface,
                gateway: e.gateway,
            });
        }
        Ok(table)
    }
}

impl<A: RouteAddr> RouteTable<A> {
    /// An empty table.
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Adds a route (its address is masked to its prefix), after those of equal length.
    pub fn add(&mut self, route: Route<A>) {
        let prefix_len = route.prefix_len.min(A::BITS);
        let route = Route {
            addr: route.addr.network(prefix_len),
            prefix_len,
            ..route
        };
        let at = self
            .routes
            .iter()
            .position(|r| r.prefix_len < route.prefix_len)
            .unwrap_or(self.routes.len());
        self.routes.insert(at, route);
    }

    /// The routes, longest prefix first.
    pub fn routes(&self) -> &[Route<A>] {
        &self.routes
    }

    /// The longest-prefix route to `dst`.
    pub fn route(&self, dst: A) -> Result<&Route<A>, NoRoute<A>> {
        self.routes
            .iter()
            .find(|r| r.contains(dst))
            .ok_or(NoRoute(dst))
    }

    /// The interface and next hop for `dst`.
    pub fn lookup(&self, dst: A) -> Result<NextHop<A>, NoRoute<A>> {
        let r = self.route(dst)?;
        Ok(NextHop {
            iface: r.iface,
            next_hop: r.gateway.unwrap_or(dst),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_route_conf;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn masks() {
        assert_eq!(mask(0), 0);
        assert_eq!(mask(24), 0xffff_ff00);
        assert_eq!(mask(32), u32::MAX);
        assert_eq!(network(ip("198.18.7.9"), 20), ip("198.18.0.0"));
        assert_eq!(prefix_len_of(ip("255.255.254.0")), Some(23));
        assert_eq!(prefix_len_of(ip("0.0.0.0")), Some(0));
        assert_eq!(prefix_len_of(ip("255.255.255.255")), Some(32));
        assert_eq!(prefix_len_of(ip("255.0.255.0")), None);
    }

    #[test]
    fn longest_prefix_wins_and_default_route_catches_the_rest() {
        let ports = [
            PortAddr {
                name: "tap0",
                addr: ip("198.18.0.1"),
                prefix_len: 24,
            },
            PortAddr {
                name: "tap1",
                addr: ip("198.18.8.1"),
                prefix_len: 24,
            },
        ];
        let conf = parse_route_conf(
            "ROUTES 3\n0.0.0.0/0 tap0 via 198.18.0.254\n198.18.16.0/20 tap1 via 198.18.8.9\n\
             198.18.16.128/25 tap1\n",
        )
        .unwrap();
        let t = RouteTable::from_conf(&ports, &conf).unwrap();
        let hop = |d: &str| t.lookup(ip(d)).unwrap();
        // Connected subnets: next hop is the destination.
        assert_eq!(
            hop("198.18.0.77"),
            NextHop {
                iface: 0,
                next_hop: ip("198.18.0.77")
            }
        );
        assert_eq!(hop("198.18.8.3").iface, 1);
        // /20 via a gateway on tap1; the /25 inside it is on the link.
        assert_eq!(
            hop("198.18.17.1"),
            NextHop {
                iface: 1,
                next_hop: ip("198.18.8.9")
            }
        );
        assert_eq!(
            hop("198.18.16.200"),
            NextHop {
                iface: 1,
                next_hop: ip("198.18.16.200")
            }
        );
        assert_eq!(
            hop("198.18.16.100").next_hop,
            ip("198.18.8.9"),
            "outside the /25"
        );
        // Everything else: the default route.
        assert_eq!(
            hop("198.19.255.1"),
            NextHop {
                iface: 0,
                next_hop: ip("198.18.0.254")
            }
        );
        assert_eq!(t.routes().len(), 5);
        assert!(
            t.routes()
                .windows(2)
                .all(|w| w[0].prefix_len >= w[1].prefix_len)
        );
    }

    #[test]
    fn no_route_is_an_error() {
        let mut t = RouteTable::new();
        assert_eq!(t.lookup(ip("198.18.0.1")), Err(NoRoute(ip("198.18.0.1"))));
        t.add(Route {
            addr: ip("198.18.0.9"),
            prefix_len: 24,
            iface: 3,
            gateway: None,
        });
        assert_eq!(t.routes()[0].addr, ip("198.18.0.0"));
        assert_eq!(t.lookup(ip("198.18.0.1")).unwrap().iface, 3);
        assert_eq!(
            t.lookup(ip("198.18.1.1")).unwrap_err().to_string(),
            "no route to 198.18.1.1"
        );
    }

    #[test]
    fn unknown_interface_names_the_line() {
        let ports = [PortAddr {
            name: "tap0",
            addr: ip("198.18.0.1"),
            prefix_len: 24,
        }];
        let conf =
            parse_route_conf("ROUTES 2\n198.18.4.0/24 tap0\n# gap\n0.0.0.0/0 eth9\n").unwrap();
        let e = RouteTable::from_conf(&ports, &conf).unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(e.kind, ConfigErrorKind::UnknownInterface("eth9".into()));
        assert_eq!(
            e.to_string(),
            "line 4: route through `eth9`, which is not a configured port"
        );
    }
}
