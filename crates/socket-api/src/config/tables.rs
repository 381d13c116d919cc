//! `arp.conf` and `route.conf`: a count line (`ARP_ENTRY <n>` / `ROUTES <n>`) then n entries.
//! The parsing is `mtcp_net`'s; this module keeps the entry types of this crate's API and adds
//! the file name to errors.

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

/// Whether `addr` lies in `net/prefix`.
pub fn in_prefix(addr: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(net) & mask
}

fn net_err(e: mtcp_net::ConfigError) -> (usize, String) {
    (e.line, e.kind.to_string())
}

/// Parses the text of an `arp.conf` (with `mtcp_net`'s parser).
pub fn parse_arp(text: &str) -> Result<Vec<ArpEntry>, (usize, String)> {
    Ok(mtcp_net::parse_arp_conf(text)
        .map_err(net_err)?
        .into_iter()
        .map(|e| ArpEntry {
            ip: e.addr,
            prefix: e.prefix_len,
            mac: e.mac,
        })
        .collect())
}

/// Parses the text of a `route.conf` (with `mtcp_net`'s parser). Gateways (`via <ip>`, an
/// `mtcp_net` extension) are refused: like mTCP, this layer takes next hops' MACs from arp.conf.
pub fn parse_route(text: &str) -> Result<Vec<RouteEntry>, (usize, String)> {
    mtcp_net::parse_route_conf(text)
        .map_err(net_err)?
        .into_iter()
        .map(|e| match e.gateway {
            Some(gw) => Err((
                e.line,
                format!("`via {gw}`: gateways are not supported here (give the MAC in arp.conf)"),
            )),
            None => Ok(RouteEntry {
                ip: e.addr,
                prefix: e.prefix_len,
                ifname: e.ifname,
            }),
        })
        .collect()
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
        assert_eq!(parse_route("ROUTES 2\n0.0.0.0/0 a").unwrap_err().0, 2);
        assert_eq!(parse_route("ROUTES 0\n0.0.0.0/0 a").unwrap_err().0, 2);
        let (line, problem) = parse_route("ROUTES 1\n\n0.0.0.0/0 a via 198.18.0.254").unwrap_err();
        assert_eq!(line, 3);
        assert!(problem.contains("gateways are not supported"), "{problem}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("mtcp-tables-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let arp = dir.join("arp.conf");
        std::fs::write(&arp, "ARP_ENTRY 1\n198.18.0.2/32 02:00:00:00:00\n").unwrap();
        let e = load(&arp, parse_arp).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2: bad MAC", arp.display())),
            "{e}"
        );
        let route = dir.join("route.conf");
        std::fs::write(&route, "ROUTES 1\n198.18.0.0/24\n").unwrap();
        let e = load(&route, parse_route).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2: missing", route.display())),
            "{e}"
        );
        assert_eq!(load(&dir.join("none.conf"), parse_arp), Ok(Vec::new()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
