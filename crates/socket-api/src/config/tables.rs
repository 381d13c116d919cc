//! `arp.conf` and `route.conf`: a count line (`ARP_ENTRY <n>` / `ROUTES <n>`) then n entries.
//! (The `net` crate carries the full parsers; these small ones keep this crate usable alone and
//! are the extension point where it plugs in.)

use std::net::Ipv4Addr;
use std::path::Path;

use mtcp_wire::EthernetAddress;

use super::ConfigError;

/// One `arp.conf` entry: addresses in `ip/prefix` map to `mac` (longest prefix wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpEntry {
    /// Network address.
    pub ip: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Ethernet address.
    pub mac: EthernetAddress,
}

/// One `route.conf` entry: `ip/prefix` leaves through the port named `ifname`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// Network address.
    pub ip: Ipv4Addr,
    /// Prefix length (0 = default route).
    pub prefix: u8,
    /// Port name (as in mtcp.conf's `port`).
    pub ifname: String,
}

fn ip_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = s.split_once('/').unwrap_or((s, "32"));
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
    match prefix.parse::<u8>() {
        Ok(p) if p <= 32 => Ok((ip, p)),
        _ => Err(format!("`/{prefix}` is not a prefix length (0-32)")),
    }
}

fn mac(s: &str) -> Result<EthernetAddress, String> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next().filter(|p| p.len() == 2);
        *b = p
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("`{s}` is not a MAC address"))?;
    }
    if parts.next().is_some() {
        return Err(format!("`{s}` is not a MAC address"));
    }
    Ok(EthernetAddress(out))
}

/// Whether `addr` lies in `net/prefix`.
pub fn in_prefix(addr: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(net) & mask
}

fn table<T>(
    text: &str,
    head: &str,
    entry: impl Fn(&[&str]) -> Result<T, String>,
) -> Result<Vec<T>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((n_line, first)) = lines.next() else {
        return Ok(Vec::new());
    };
    let words: Vec<&str> = first.split_whitespace().collect();
    let count = match words.as_slice() {
        [h, n] if *h == head => n
            .parse::<usize>()
            .map_err(|_| (n_line, format!("`{n}` is not a count")))?,
        _ => return Err((n_line, format!("expected `{head} <n>`"))),
    };
    let mut out = Vec::with_capacity(count);
    for (line, text) in lines {
        if out.len() == count {
            return Err((line, format!("more entries than the {count} announced")));
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        out.push(entry(&words).map_err(|p| (line, p))?);
    }
    if out.len() != count {
        return Err((0, format!("{} entries, {count} announced", out.len())));
    }
    Ok(out)
}

/// Parses the text of an `arp.conf`.
pub fn parse_arp(text: &str) -> Result<Vec<ArpEntry>, (usize, String)> {
    table(text, "ARP_ENTRY", |w| match w {
        [net, m] => {
            let (ip, prefix) = ip_prefix(net)?;
            Ok(ArpEntry {
                ip,
                prefix,
                mac: mac(m)?,
            })
        }
        _ => Err("expected `<ip>/<prefix> <mac>`".into()),
    })
}

/// Parses the text of a `route.conf`.
pub fn parse_route(text: &str) -> Result<Vec<RouteEntry>, (usize, String)> {
    table(text, "ROUTES", |w| match w {
        [net, ifname] => {
            let (ip, prefix) = ip_prefix(net)?;
            Ok(RouteEntry {
                ip,
                prefix,
                ifname: (*ifname).to_owned(),
            })
        }
        _ => Err("expected `<ip>/<prefix> <ifname>`".into()),
    })
}

/// A table parser: entries, or the 1-based line and the problem.
pub type TableParser<T> = fn(&str) -> Result<Vec<T>, (usize, String)>;

/// Reads a table file; a missing file is an empty table (mTCP treats both files as optional).
pub fn load<T>(path: &Path, parse: TableParser<T>) -> Result<Vec<T>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ConfigError {
                file: path.to_owned(),
                line: 0,
                problem: format!("cannot read: {e}"),
            });
        }
    };
    parse(&text).map_err(|(line, problem)| ConfigError {
        file: path.to_owned(),
        line,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_and_route_parse() {
        let arp = parse_arp(
            "ARP_ENTRY 2\n198.18.0.2/32 02:00:00:00:00:02\n198.18.1.0/24 02:00:00:00:00:03\n",
        )
        .unwrap();
        assert_eq!(arp.len(), 2);
        assert_eq!(arp[1].prefix, 24);
        assert_eq!(arp[0].mac, EthernetAddress([2, 0, 0, 0, 0, 2]));
        let routes = parse_route("ROUTES 1\n0.0.0.0/0 mem0\n").unwrap();
        assert_eq!(routes[0].ifname, "mem0");
        assert!(in_prefix(Ipv4Addr::new(1, 2, 3, 4), routes[0].ip, 0));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse_arp("ARP 1").unwrap_err().0, 1);
        assert_eq!(
            parse_arp("ARP_ENTRY 1\n1.2.3.4/33 02:00:00:00:00:01")
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(
            parse_arp("ARP_ENTRY 1\n1.2.3.4/32 02:00:00:00:01")
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(parse_route("ROUTES 2\n0.0.0.0/0 a").unwrap_err().0, 0);
        assert_eq!(parse_route("ROUTES 0\n0.0.0.0/0 a").unwrap_err().0, 2);
    }
}
