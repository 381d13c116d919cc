//! The IPv6 keys of a port in mtcp.conf:
//!
//! ```text
//! veth0.ip6 = 2001:2::1/64                       # one or more, comma-separated; /64 if omitted
//! veth0.route6 = 2001:3::/48 via 2001:2::fe, ::/0 via 2001:2::1
//! veth0.nd6 = 2001:2::fe 02:00:00:00:00:fe          # static neighbours, comma-separated
//! ```
//!
//! A `route6` without `via` is on the link. The port's own prefixes are on-link routes already.

use std::net::Ipv6Addr;

use mtcp_wire::EthernetAddress;

/// One configured IPv6 route (`<port>.route6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route6Conf {
    /// The destination prefix.
    pub addr: Ipv6Addr,
    /// Its length, 0..=128.
    pub prefix_len: u8,
    /// The next hop, `None` when the destinations are on the link.
    pub gateway: Option<Ipv6Addr>,
}

fn addr(text: &str) -> Result<Ipv6Addr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IPv6 address"))
}

/// `address[/prefix]`, the prefix `default` when absent.
fn prefixed(text: &str, default: u8) -> Result<(Ipv6Addr, u8), String> {
    match text.split_once('/') {
        Some((a, p)) => match p.parse::<u8>() {
            Ok(len) if len <= 128 => Ok((addr(a)?, len)),
            _ => Err(format!("`/{p}` is not a prefix length (0-128)")),
        },
        None => Ok((addr(text)?, default)),
    }
}

/// The value of `<port>.ip6`: comma-separated `address[/prefix]` (prefix 64 by default).
/// Multicast and unspecified addresses are refused.
pub fn parse_ip6(value: &str) -> Result<Vec<(Ipv6Addr, u8)>, String> {
    value
        .split(',')
        .map(|part| {
            let (a, len) = prefixed(part.trim(), 64)?;
            if a.is_multicast() || a.is_unspecified() {
                return Err(format!("`{a}` cannot be a port's address"));
            }
            Ok((a, len))
        })
        .collect()
}

/// The value of `<port>.route6`: comma-separated `prefix[/len] [via gateway]`.
pub fn parse_route6(value: &str) -> Result<Vec<Route6Conf>, String> {
    value
        .split(',')
        .map(|part| {
            let mut words = part.split_whitespace();
            let (addr6, prefix_len) = prefixed(words.next().unwrap_or(""), 128)?;
            let gateway = match (words.next(), words.next(), words.next()) {
                (None, _, _) => None,
                (Some("via"), Some(g), None) => Some(addr(g)?),
                _ => {
                    return Err(format!(
                        "`{}`: expected `prefix/len [via gateway]`",
                        part.trim()
                    ));
                }
            };
            Ok(Route6Conf {
                addr: addr6,
                prefix_len,
                gateway,
            })
        })
        .collect()
}

/// The value of `<port>.nd6`: comma-separated `address mac` pairs (static neighbours).
pub fn parse_nd6(value: &str) -> Result<Vec<(Ipv6Addr, EthernetAddress)>, String> {
    value
        .split(',')
        .map(|part| {
            let mut words = part.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(a), Some(m), None) => Ok((addr(a)?, super::mtcp_conf::mac(m)?)),
                _ => Err(format!("`{}`: expected `address mac`", part.trim())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_and_routes_parse() {
        assert_eq!(parse_ip6("2001:2::1/64"), Ok(vec![(ip("2001:2::1"), 64)]));
        assert_eq!(
            parse_ip6("2001:2::1, 2001:2:1::1/48"),
            Ok(vec![(ip("2001:2::1"), 64), (ip("2001:2:1::1"), 48)])
        );
        assert_eq!(
            parse_route6("2001:3::/48 via 2001:2::fe, ::/0 via 2001:2::1, 2001:4::/64"),
            Ok(vec![
                Route6Conf {
                    addr: ip("2001:3::"),
                    prefix_len: 48,
                    gateway: Some(ip("2001:2::fe")),
                },
                Route6Conf {
                    addr: ip("::"),
                    prefix_len: 0,
                    gateway: Some(ip("2001:2::1")),
                },
                Route6Conf {
                    addr: ip("2001:4::"),
                    prefix_len: 64,
                    gateway: None,
                },
            ])
        );
    }

    #[test]
    fn static_neighbours_parse() {
        assert_eq!(
            parse_nd6("2001:2::fe 02:00:00:00:00:fe, 2001:2::1 02:00:00:00:00:01"),
            Ok(vec![
                (ip("2001:2::fe"), EthernetAddress([2, 0, 0, 0, 0, 0xfe])),
                (ip("2001:2::1"), EthernetAddress([2, 0, 0, 0, 0, 1])),
            ])
        );
        for (value, problem) in [
            ("2001:2::fe", "expected"),
            ("2001:2::fe 02:00:00:00:00", "not a MAC address"),
            ("x 02:00:00:00:00:fe", "not an IPv6 address"),
        ] {
            let e = parse_nd6(value).unwrap_err();
            assert!(e.contains(problem), "{value}: {e}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        for (value, problem) in [
            ("2001:2::1/129", "prefix length"),
            ("198.18.0.1", "not an IPv6 address"),
            ("ff02::1", "cannot be a port's address"),
            ("::/64", "cannot be a port's address"),
            ("2001:2::1/", "prefix length"),
        ] {
            let e = parse_ip6(value).unwrap_err();
            assert!(e.contains(problem), "{value}: {e}");
        }
        for (value, problem) in [
            ("2001:3::/48 via", "expected"),
            ("2001:3::/48 by 2001:2::1", "expected"),
            ("2001:3::/48 via 198.18.0.1", "not an IPv6 address"),
        ] {
            let e = parse_route6(value).unwrap_err();
            assert!(e.contains(problem), "{value}: {e}");
        }
    }
}
