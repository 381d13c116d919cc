//! Socket addresses of both families, and how they map onto the engine's. An `AF_INET6` socket
//! shows every address as IPv6: an IPv4 peer of a dual-stack listener (on `::`, `IPV6_V6ONLY`
//! off) appears as `::ffff:a.b.c.d`, and an IPv4-mapped address given to bind or connect means
//! that IPv4 address, as in Linux. The engine keys connections by plain IPv4 or IPv6 addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::error::{Error, Result};

/// The engine's address for a socket address: IPv4-mapped IPv6 addresses unmapped.
pub(crate) fn engine_ip(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        a => a,
    }
}

/// A socket address for the engine's `ip`:`port`, as a socket of the `ipv6` family shows it.
pub(crate) fn shown(ip: IpAddr, port: u16, ipv6: bool) -> SocketAddr {
    match ip {
        IpAddr::V4(v4) if ipv6 => {
            SocketAddr::V6(SocketAddrV6::new(v4.to_ipv6_mapped(), port, 0, 0))
        }
        ip => SocketAddr::new(ip, port),
    }
}

/// The families a socket bound to `addr` takes connections of, (IPv4, IPv6): an IPv6 socket on
/// `::` takes both unless `v6only` (IPV6_V6ONLY), as Linux binds them. Two sockets may share a
/// port when these do not overlap.
pub(crate) fn families(addr: SocketAddr, v6only: bool) -> (bool, bool) {
    match engine_ip(addr.ip()) {
        IpAddr::V4(_) => (true, false),
        IpAddr::V6(a) if a.is_unspecified() && !v6only => (true, true),
        IpAddr::V6(_) => (false, true),
    }
}

/// The engine's key of a listener on `local`.
pub(crate) fn listener_key(local: SocketAddr) -> mtcp_tcp::ListenerKey {
    mtcp_tcp::ListenerKey::new(engine_ip(local.ip()), local.port())
}

/// The unspecified address of the family, port 0 (an unbound socket's name).
pub(crate) fn unspecified(ipv6: bool) -> SocketAddr {
    if ipv6 {
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0)
    } else {
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0)
    }
}

/// `EAFNOSUPPORT` for an address of the other family than the socket's (as Linux' bind and
/// connect).
pub(crate) fn check_family(addr: &SocketAddr, ipv6: bool) -> Result<()> {
    if addr.is_ipv6() == ipv6 {
        Ok(())
    } else {
        Err(Error::AfNoSupport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_ipv4_to_the_engine_and_back() {
        let v4 = Ipv4Addr::new(198, 18, 0, 2);
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        assert_eq!(engine_ip(mapped), IpAddr::V4(v4));
        assert_eq!(
            engine_ip(Ipv6Addr::UNSPECIFIED.into()),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        );
        let six: Ipv6Addr = "2001:2::2".parse().unwrap();
        assert_eq!(engine_ip(six.into()), IpAddr::V6(six));
        assert_eq!(
            shown(v4.into(), 80, true),
            "[::ffff:198.18.0.2]:80".parse().unwrap()
        );
        assert_eq!(
            shown(v4.into(), 80, false),
            "198.18.0.2:80".parse().unwrap()
        );
        assert_eq!(
            shown(six.into(), 80, true),
            "[2001:2::2]:80".parse().unwrap()
        );
        assert_eq!(
            check_family(&"[::]:80".parse().unwrap(), false),
            Err(Error::AfNoSupport)
        );
        assert_eq!(
            check_family(&"0.0.0.0:80".parse().unwrap(), true),
            Err(Error::AfNoSupport)
        );
    }

    #[test]
    fn families_follow_the_address_and_v6only() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(families(at("0.0.0.0:80"), false), (true, false));
        assert_eq!(families(at("[::]:80"), false), (true, true));
        assert_eq!(families(at("[::]:80"), true), (false, true));
        assert_eq!(families(at("[::ffff:198.18.0.2]:80"), true), (true, false));
        assert_eq!(families(at("[2001:2::2]:80"), false), (false, true));
    }
}
