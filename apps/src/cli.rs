//! What every binary needs: `mtcp_init` from `-f mtcp.conf`, the cores of `-N` / `-c`, address
//! parsing for the command lines (which are clap derives in each binary), a stop flag set by
//! SIGINT/SIGTERM, and mTCP's once-a-second statistics lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_socket_api::Mtcp;

/// `mtcp_init(conf)`, with a message naming the file on failure.
pub fn init(conf: &str) -> Result<Mtcp, String> {
    Mtcp::init(Path::new(conf)).map_err(|e| format!("mtcp_init({conf}): {e}"))
}

/// The cores to run on: `-N cores` (at most the config's `num_cores`, default all of them)
/// or only `-c core` when given.
pub fn cores(mtcp: &Mtcp, n: Option<usize>, only: Option<usize>) -> Result<Vec<usize>, String> {
    let have = mtcp.conf().num_cores;
    let n = n.unwrap_or(have);
    if n == 0 || n > have {
        return Err(format!(
            "-N {n}: the configuration has num_cores = {have} (set num_cores in mtcp.conf)"
        ));
    }
    match only {
        Some(c) if c >= n => Err(format!("-c {c}: only cores 0..{n} exist")),
        Some(c) => Ok(vec![c]),
        None => Ok((0..n).collect()),
    }
}

/// `ip` or `ip:port` (port 0 when absent: [`with_port`] fills in the command's default), as a
/// clap value parser.
pub fn addr_arg(text: &str) -> Result<SocketAddr, String> {
    parse_addr(text, 0)
}

/// `addr` with `port` when it has none.
pub fn with_port(addr: SocketAddr, port: u16) -> SocketAddr {
    if addr.port() == 0 {
        SocketAddr::new(addr.ip(), port)
    } else {
        addr
    }
}

/// `ip`, `ip:port`, `ipv6`, `[ipv6]` or `[ipv6]:port` (with `default_port`) as an address.
pub fn parse_addr(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("`{p}` is not a port number"))
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: `[` without `]`"))?;
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IPv6 address"))?;
        let port = match after {
            "" => default_port,
            p => port(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("`{text}`: `:port` after `]`"))?,
            )?,
        };
        return Ok(SocketAddr::new(ip.into(), port));
    }
    if text.matches(':').count() > 1 {
        let ip: Ipv6Addr = text
            .parse()
            .map_err(|_| format!("`{text}` is not an IPv6 address (`[ip]:port` with a port)"))?;
        return Ok(SocketAddr::new(ip.into(), default_port));
    }
    let (ip, port) = match text.split_once(':') {
        Some((ip, p)) => (ip, port(p)?),
        None => (text, default_port),
    };
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
    Ok(SocketAddr::new(ip.into(), port))
}

/// The socket family for `addr`: `AF_INET6` for an IPv6 address, else `AF_INET`.
pub fn domain(addr: &SocketAddr) -> i32 {
    if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    }
}

/// The destination `mtcp_init_rss` takes (IPv4 only in mTCP's API, and unused by it): the
/// server's IPv4 address, `0.0.0.0` for an IPv6 one.
pub fn rss_daddr(server: &SocketAddr) -> Ipv4Addr {
    match server.ip() {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// A flag that becomes true on SIGINT or SIGTERM (the first ^C stops the app cleanly).
pub fn stop_flag() -> &'static AtomicBool {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
    &STOP
}

/// Prints mTCP's statistics lines (when `stat_print` names a port) and `extra()`'s line once a
/// second until `done()` is true.
pub fn print_stats_until(
    mtcp: &Mtcp,
    mut extra: impl FnMut() -> Option<String>,
    done: impl Fn() -> bool,
) {
    let enabled = !mtcp.conf().stat_print.is_empty();
    let mut prev = mtcp.snapshots();
    let mut tick = Instant::now();
    while !done() {
        std::thread::sleep(Duration::from_millis(20));
        let secs = tick.elapsed().as_secs_f64();
        if secs >= 1.0 {
            if enabled {
                print!("{}", mtcp.stats_lines(&prev, secs));
            }
            if let Some(line) = extra() {
                println!("{line}");
            }
            prev = mtcp.snapshots();
            tick = Instant::now();
        }
    }
}

/// Sorted latencies' percentile `p` (0..=100).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_percentiles() {
        assert_eq!(
            parse_addr("198.18.0.1:8080", 80),
            Ok("198.18.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_addr("198.18.0.1", 80),
            Ok("198.18.0.1:80".parse().unwrap())
        );
        assert!(parse_addr("x", 80).is_err());
        assert_eq!(
            parse_addr("[2001:2::2]:8080", 80),
            Ok("[2001:2::2]:8080".parse().unwrap())
        );
        assert_eq!(
            parse_addr("[2001:2::2]", 80),
            Ok("[2001:2::2]:80".parse().unwrap())
        );
        assert_eq!(
            parse_addr("2001:2::2", 80),
            Ok("[2001:2::2]:80".parse().unwrap())
        );
        for bad in [
            "[2001:2::2",
            "[2001:2::2]8080",
            "[198.18.0.1]:80",
            "2001:2::x",
            "[::1]:x",
        ] {
            assert!(parse_addr(bad, 80).is_err(), "{bad}");
        }
        assert_eq!(domain(&"[::]:80".parse().unwrap()), libc::AF_INET6);
        assert_eq!(
            rss_daddr(&"[::1]:80".parse().unwrap()),
            Ipv4Addr::UNSPECIFIED
        );
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 99.0), 4);
        assert_eq!(percentile(&[], 99.0), 0);
    }
}
