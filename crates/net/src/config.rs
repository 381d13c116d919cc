//! Parsers for mTCP's `arp.conf` and `route.conf`.
//!
//! Both files have the same shape: a header line `ARP_ENTRY <n>` (or `ROUTES <n>`), then exactly
//! `n` entry lines. `#` starts a comment that runs to the end of the line; blank lines are
//! ignored anywhere; a file with no header and no entries means "no entries".
//!
//! ```text
//! # arp.conf                           # route.conf
//! ARP_ENTRY 2                          ROUTES 2
//! 198.18.0.2/32 02:00:00:00:00:02      198.18.0.0/24 tap0
//! 0.0.0.0/0     02:00:00:00:00:fe      0.0.0.0/0     tap0 via 198.18.0.254
//! ```
//!
//! The `via <gateway>` suffix of a route line is our extension (mTCP has no gateways: it relies on
//! arp.conf prefix entries to give the MAC of the next hop). Errors name the line (counted from 1)
//! and the problem; the caller adds the file name.

use core::fmt;
use core::net::Ipv4Addr;

use mtcp_wire::EthernetAddress;

/// One `arp.conf` entry: every destination in `addr/prefix_len` is reached through `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpEntry {
    /// The network address (host bits cleared).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
    /// The hardware address.
    pub mac: EthernetAddress,
}

/// One `route.conf` entry: destinations in `addr/prefix_len` leave through interface `ifname`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// The network address (host bits cleared).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32 (`/0` is the default route).
    pub prefix_len: u8,
    /// The outgoing interface's name.
    pub ifname: String,
    /// The gateway, if the destination is not on the link (`via <ip>`).
    pub gateway: Option<Ipv4Addr>,
    /// The line the entry is on (counted from 1), for later errors such as an unknown interface.
    pub line: usize,
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The first line is not `<keyword> <count>`.
    BadHeader {
        /// The keyword the file must start with.
        expected: &'static str,
        /// What the line holds.
        found: String,
    },
    /// The count of the header line is not a non-negative integer.
    BadCount(String),
    /// The header announced a different number of entries than follow.
    CountMismatch {
        /// What the header says.
        declared: usize,
        /// How many entry lines there are (counted up to the first extra one).
        found: usize,
    },
    /// An entry line lacks a field.
    MissingField(&'static str),
    /// Not an IPv4 address.
    BadAddress(String),
    /// Not `/<0..=32>`, or no `/` at all.
    BadPrefix(String),
    /// Not six hex pairs separated by `:`.
    BadMac(String),
    /// Not a usable interface name (1 to 15 bytes, no `/`).
    BadInterface(String),
    /// A token after the last field.
    ExtraToken(String),
    /// A route names an interface that is not one of the configured ports.
    UnknownInterface(String),
}

/// An error in a configuration file: the line (counted from 1) and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ConfigError {
    /// The line, counted from 1.
    pub line: usize,
    /// The problem.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigErrorKind::BadHeader { expected, found } => {
                write!(f, "expected `{expected} <count>`, found `{found}`")
            }
            ConfigErrorKind::BadCount(s) => {
                write!(f, "bad entry count `{s}`: expected a non-negative integer")
            }
            ConfigErrorKind::CountMismatch { declared, found } => write!(
                f,
                "the header announces {declared} entries but {found} {} present",
                if *found == 1 { "is" } else { "are" }
            ),
            ConfigErrorKind::MissingField(what) => write!(f, "missing {what}"),
            ConfigErrorKind::BadAddress(s) => write!(f, "bad IPv4 address `{s}`"),
            ConfigErrorKind::BadPrefix(s) => {
                write!(f, "bad prefix `{s}`: expected `<ip>/<0..32>`")
            }
            ConfigErrorKind::BadMac(s) => write!(
                f,
                "bad MAC address `{s}`: expected six hex pairs like 02:00:00:00:00:01"
            ),
            ConfigErrorKind::BadInterface(s) => {
                write!(f, "bad interface name `{s}`: expected 1 to 15 bytes")
            }
            ConfigErrorKind::ExtraToken(s) => write!(f, "unexpected extra token `{s}`"),
            ConfigErrorKind::UnknownInterface(s) => {
                write!(f, "route through `{s}`, which is not a configured port")
            }
        }
    }
}

/// Parses the text of an `arp.conf` file.
pub fn parse_arp_conf(text: &str) -> Result<Vec<ArpEntry>, ConfigError> {
    parse_entries(text, "ARP_ENTRY", |_, tokens| {
        let (addr, prefix_len) = parse_prefix(tokens.next())?;
        let mac = parse_mac(
            tokens
                .next()
                .ok_or(ConfigErrorKind::MissingField("MAC address"))?,
        )?;
        no_more(tokens)?;
        Ok(ArpEntry {
            addr,
            prefix_len,
            mac,
        })
    })
}

/// Parses the text of a `route.conf` file.
pub fn parse_route_conf(text: &str) -> Result<Vec<RouteEntry>, ConfigError> {
    parse_entries(text, "ROUTES", |line, tokens| {
        let (addr, prefix_len) = parse_prefix(tokens.next())?;
        let ifname = tokens
            .next()
            .ok_or(ConfigErrorKind::MissingField("interface name"))?;
        if ifname.is_empty() || ifname.len() > 15 || ifname.contains('/') {
            return Err(ConfigErrorKind::BadInterface(ifname.to_owned()));
        }
        let gateway = match tokens.next() {
            None => None,
            Some("via") => {
                let gw = tokens
                    .next()
                    .ok_or(ConfigErrorKind::MissingField("gateway address after `via`"))?;
                Some(parse_addr(gw)?)
            }
            Some(other) => return Err(ConfigErrorKind::ExtraToken(other.to_owned())),
        };
        no_more(tokens)?;
        Ok(RouteEntry {
            addr,
            prefix_len,
            ifname: ifname.to_owned(),
            gateway,
            line,
        })
    })
}

type Tokens<'a> = core::str::SplitWhitespace<'a>;

fn parse_entries<T>(
    text: &str,
    keyword: &'static str,
    mut entry: impl FnMut(usize, &mut Tokens<'_>) -> Result<T, ConfigErrorKind>,
) -> Result<Vec<T>, ConfigError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let err = |line, kind| ConfigError { line, kind };
    let mut tokens = header.split_whitespace();
    if tokens.next() != Some(keyword) {
        return Err(err(
            header_line,
            ConfigErrorKind::BadHeader {
                expected: keyword,
                found: header.to_owned(),
            },
        ));
    }
    let count = tokens.next().ok_or_else(|| {
        err(
            header_line,
            ConfigErrorKind::MissingField("entry count after the keyword"),
        )
    })?;
    let declared: usize = count
        .parse()
        .map_err(|_| err(header_line, ConfigErrorKind::BadCount(count.to_owned())))?;
    no_more(&mut tokens).map_err(|k| err(header_line, k))?;
    // The count comes from the file: do not trust it for an allocation.
    let mut out = Vec::with_capacity(declared.min(1024));
    let mut last_line = header_line;
    for (line, body) in lines {
        if out.len() == declared {
            return Err(err(
                line,
                ConfigErrorKind::CountMismatch {
                    declared,
                    found: declared + 1,
                },
            ));
        }
        out.push(entry(line, &mut body.split_whitespace()).map_err(|k| err(line, k))?);
        last_line = line;
    }
    if out.len() != declared {
        return Err(err(
            last_line,
            ConfigErrorKind::CountMismatch {
                declared,
                found: out.len(),
            },
        ));
    }
    Ok(out)
}

fn no_more(tokens: &mut Tokens<'_>) -> Result<(), ConfigErrorKind> {
    match tokens.next() {
        None => Ok(()),
        Some(t) => Err(ConfigErrorKind::ExtraToken(t.to_owned())),
    }
}

fn parse_addr(s: &str) -> Result<Ipv4Addr, ConfigErrorKind> {
    s.parse()
        .map_err(|_| ConfigErrorKind::BadAddress(s.to_owned()))
}

/// Parses `<ip>/<len>`, clearing host bits (as mTCP does with `10.0.0.1/24`).
fn parse_prefix(token: Option<&str>) -> Result<(Ipv4Addr, u8), ConfigErrorKind> {
    let token = token.ok_or(ConfigErrorKind::MissingField("`<ip>/<prefix>`"))?;
    let (ip, len) = token
        .split_once('/')
        .ok_or_else(|| ConfigErrorKind::BadPrefix(token.to_owned()))?;
    let addr = parse_addr(ip)?;
    let prefix_len: u8 = match len.parse() {
        Ok(n) if n <= 32 && !len.starts_with('+') => n,
        _ => return Err(ConfigErrorKind::BadPrefix(token.to_owned())),
    };
    Ok((crate::route::network(addr, prefix_len), prefix_len))
}

fn parse_mac(s: &str) -> Result<EthernetAddress, ConfigErrorKind> {
    let bad = || ConfigErrorKind::BadMac(s.to_owned());
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(EthernetAddress(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arp_err(text: &str) -> (usize, ConfigErrorKind) {
        let e = parse_arp_conf(text).unwrap_err();
        (e.line, e.kind)
    }

    fn route_err(text: &str) -> (usize, ConfigErrorKind) {
        let e = parse_route_conf(text).unwrap_err();
        (e.line, e.kind)
    }

    #[test]
    fn arp_conf_with_comments_and_blank_lines() {
        let text = "# static ARP\n\nARP_ENTRY 2   # two\n  198.18.0.2/32 02:00:00:00:00:02\n\n\
                    198.18.1.7/24\t0A:bB:cc:dd:ee:FF # host bits are cleared\n";
        let entries = parse_arp_conf(text).unwrap();
        assert_eq!(
            entries,
            vec![
                ArpEntry {
                    addr: Ipv4Addr::new(198, 18, 0, 2),
                    prefix_len: 32,
                    mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
                },
                ArpEntry {
                    addr: Ipv4Addr::new(198, 18, 1, 0),
                    prefix_len: 24,
                    mac: EthernetAddress([0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
                },
            ]
        );
    }

    #[test]
    fn empty_files_have_no_entries() {
        assert_eq!(parse_arp_conf(""), Ok(vec![]));
        assert_eq!(parse_arp_conf("# nothing\n\n"), Ok(vec![]));
        assert_eq!(parse_route_conf("ROUTES 0\n"), Ok(vec![]));
    }

    #[test]
    fn arp_conf_errors_name_line_and_problem() {
        assert_eq!(
            arp_err("ROUTES 1\n"),
            (
                1,
                ConfigErrorKind::BadHeader {
                    expected: "ARP_ENTRY",
                    found: "ROUTES 1".into()
                }
            )
        );
        assert_eq!(
            arp_err("\nARP_ENTRY\n"),
            (
                2,
                ConfigErrorKind::MissingField("entry count after the keyword")
            )
        );
        assert_eq!(
            arp_err("ARP_ENTRY two\n"),
            (1, ConfigErrorKind::BadCount("two".into()))
        );
        assert_eq!(
            arp_err("ARP_ENTRY -1\n"),
            (1, ConfigErrorKind::BadCount("-1".into()))
        );
        assert_eq!(
            arp_err("ARP_ENTRY 1 2\n"),
            (1, ConfigErrorKind::ExtraToken("2".into()))
        );
        // Fewer entries than announced: reported at the last line read.
        assert_eq!(
            arp_err("ARP_ENTRY 2\n198.18.0.1/32 02:00:00:00:00:01\n"),
            (
                2,
                ConfigErrorKind::CountMismatch {
                    declared: 2,
                    found: 1
                }
            )
        );
        // More: reported at the first extra line.
        assert_eq!(
            arp_err(
                "ARP_ENTRY 1\n198.18.0.1/32 02:00:00:00:00:01\n\n198.18.0.2/32 02:00:00:00:00:02\n"
            ),
            (
                4,
                ConfigErrorKind::CountMismatch {
                    declared: 1,
                    found: 2
                }
            )
        );
        let cases: [(&str, ConfigErrorKind); 10] = [
            (
                "198.18.0.256/32 02:00:00:00:00:01",
                ConfigErrorKind::BadAddress("198.18.0.256".into()),
            ),
            (
                "fe80::1/32 02:00:00:00:00:01",
                ConfigErrorKind::BadAddress("fe80::1".into()),
            ),
            (
                "198.18.0.1/33 02:00:00:00:00:01",
                ConfigErrorKind::BadPrefix("198.18.0.1/33".into()),
            ),
            (
                "198.18.0.1/x 02:00:00:00:00:01",
                ConfigErrorKind::BadPrefix("198.18.0.1/x".into()),
            ),
            (
                "198.18.0.1 02:00:00:00:00:01",
                ConfigErrorKind::BadPrefix("198.18.0.1".into()),
            ),
            (
                "198.18.0.1/32 02:00:00:00:00",
                ConfigErrorKind::BadMac("02:00:00:00:00".into()),
            ),
            (
                "198.18.0.1/32 02:00:00:00:00:01:07",
                ConfigErrorKind::BadMac("02:00:00:00:00:01:07".into()),
            ),
            (
                "198.18.0.1/32 02:00:00:00:0g:01",
                ConfigErrorKind::BadMac("02:00:00:00:0g:01".into()),
            ),
            (
                "198.18.0.1/32",
                ConfigErrorKind::MissingField("MAC address"),
            ),
            (
                "198.18.0.1/32 02:00:00:00:00:01 extra",
                ConfigErrorKind::ExtraToken("extra".into()),
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(
                arp_err(&format!("ARP_ENTRY 1\n{line}\n")),
                (2, kind),
                "{line}"
            );
        }
    }

    #[test]
    fn route_conf_with_default_route_and_gateway() {
        let text = "ROUTES 3\n198.18.0.0/24 tap0\n198.18.2.0/23 veth1 via 198.18.0.254\n\
                    0.0.0.0/0 tap0 # default\n";
        let routes = parse_route_conf(text).unwrap();
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[1].addr, Ipv4Addr::new(198, 18, 2, 0));
        assert_eq!(routes[1].prefix_len, 23);
        assert_eq!(routes[1].ifname, "veth1");
        assert_eq!(routes[1].gateway, Some(Ipv4Addr::new(198, 18, 0, 254)));
        assert_eq!(routes[2].prefix_len, 0);
        assert_eq!(routes[2].gateway, None);
        assert_eq!(routes[2].line, 4);
    }

    #[test]
    fn route_conf_errors_name_line_and_problem() {
        assert_eq!(
            route_err("ARP_ENTRY 1\n"),
            (
                1,
                ConfigErrorKind::BadHeader {
                    expected: "ROUTES",
                    found: "ARP_ENTRY 1".into()
                }
            )
        );
        assert_eq!(
            route_err("ROUTES 3\n0.0.0.0/0 tap0\n"),
            (
                2,
                ConfigErrorKind::CountMismatch {
                    declared: 3,
                    found: 1
                }
            )
        );
        assert_eq!(
            route_err("ROUTES 0\n0.0.0.0/0 tap0\n"),
            (
                2,
                ConfigErrorKind::CountMismatch {
                    declared: 0,
                    found: 1
                }
            )
        );
        let cases: [(&str, ConfigErrorKind); 7] = [
            (
                "198.18.0.0 tap0",
                ConfigErrorKind::BadPrefix("198.18.0.0".into()),
            ),
            (
                "198.18.0.0/40 tap0",
                ConfigErrorKind::BadPrefix("198.18.0.0/40".into()),
            ),
            ("1.2.3/8 tap0", ConfigErrorKind::BadAddress("1.2.3".into())),
            (
                "198.18.0.0/24",
                ConfigErrorKind::MissingField("interface name"),
            ),
            (
                "198.18.0.0/24 a-very-long-interface-name",
                ConfigErrorKind::BadInterface("a-very-long-interface-name".into()),
            ),
            (
                "198.18.0.0/24 tap0 198.18.0.1",
                ConfigErrorKind::ExtraToken("198.18.0.1".into()),
            ),
            (
                "198.18.0.0/24 tap0 via 198.18.0.1 now",
                ConfigErrorKind::ExtraToken("now".into()),
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(
                route_err(&format!("ROUTES 1\n{line}\n")),
                (2, kind),
                "{line}"
            );
        }
        assert_eq!(
            route_err("ROUTES 1\n0.0.0.0/0 tap0 via\n"),
            (
                2,
                ConfigErrorKind::MissingField("gateway address after `via`")
            )
        );
        assert_eq!(
            route_err("ROUTES 1\n0.0.0.0/0 tap0 via gw\n"),
            (2, ConfigErrorKind::BadAddress("gw".into()))
        );
    }

    #[test]
    fn messages_read_well() {
        let e = parse_arp_conf("ARP_ENTRY 1\n198.18.0.1/32 zz\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: bad MAC address `zz`: expected six hex pairs like 02:00:00:00:00:01"
        );
        let e = parse_route_conf("ROUTES 2\n0.0.0.0/0 tap0\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: the header announces 2 entries but 1 is present"
        );
    }
}
