//! IPv6 through the sockets: two instances on one in-memory switch with `<port>.ip6`; an
//! `AF_INET6` listener on `::` takes IPv6 clients and (dual stack, as Linux) IPv4 clients shown
//! as `::ffff:a.b.c.d`; `IPV6_V6ONLY` refuses IPv4; data both ways byte-exact; Neighbour
//! Discovery resolves the peer; IPv6 appears in the stats lines.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Context, EpollEvent, Error, Mtcp, MtcpConf};

const S6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const C6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const LEN: usize = 1024 * 1024 + 7;

fn conf(port: &str, last: u8) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = 198.18.0.{last}/24\n\
         {port}.ip6 = 2001:2::{last}/64\nmax_concurrency = 64\nrun_mode = rtc\n\
         drain_timeout_ms = 200\ntcp_timewait = 0\n"
    ))
    .unwrap()
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

/// Drives both contexts once (run to completion: the stack runs inside epoll_wait).
fn turn(s: &mut Context, sep: i32, c: &mut Context, cep: i32) {
    let mut evs = [EpollEvent::default(); 16];
    s.epoll_wait(sep, &mut evs, 1).unwrap();
    c.epoll_wait(cep, &mut evs, 1).unwrap();
}

fn until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
    }
}

/// An epoll instance (the sockets need not be registered: it only drives the stack).
fn driver(ctx: &mut Context) -> i32 {
    ctx.epoll_create(4).unwrap()
}

#[test]
fn dual_stack_listener_takes_both_families_and_v6only_refuses_ipv4() {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let server = Mtcp::with_switch(conf("mem0", 1), &switch, 0).unwrap();
    let client = Mtcp::with_switch(conf("mem1", 2), &switch, 1).unwrap();
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (sep, cep) = (driver(&mut s), driver(&mut c));

    let l = s.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(
        s.bind(l, SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80)),
        Err(Error::AfNoSupport),
        "an IPv4 address on an AF_INET6 socket"
    );
    s.bind(l, SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 80))
        .unwrap();
    s.listen(l, 8).unwrap();
    let only6 = s.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
    s.setsockopt(only6, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
        .unwrap();
    s.bind(only6, SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 81))
        .unwrap();
    s.listen(only6, 8).unwrap();

    let c6 = c.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(
        c.connect(c6, SocketAddr::new(S6.into(), 80)),
        Err(Error::InProgress)
    );
    let c4 = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let s4: SocketAddr = "198.18.0.1:80".parse().unwrap();
    assert_eq!(c.connect(c4, s4), Err(Error::InProgress));
    // An IPv6-only client socket cannot reach an IPv4 peer through a mapped address (Linux:
    // ENETUNREACH); without IPV6_V6ONLY it can.
    let mapped = SocketAddr::new(Ipv4Addr::new(198, 18, 0, 1).to_ipv6_mapped().into(), 80);
    let c6only = c.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
    c.setsockopt(c6only, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
        .unwrap();
    assert_eq!(c.connect(c6only, mapped), Err(Error::NetUnreach));
    c.close(c6only).unwrap();
    let refused = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(
        c.connect(refused, "198.18.0.1:81".parse::<SocketAddr>().unwrap()),
        Err(Error::InProgress)
    );

    let mut accepted = Vec::new();
    until(
        || {
            turn(&mut s, sep, &mut c, cep);
            while let Ok(a) = s.accept(l) {
                accepted.push(a);
            }
            accepted.len() == 2
                && c.getpeername(c6).is_ok()
                && c.getsockopt(refused, libc::SOL_SOCKET, libc::SO_ERROR) == Ok(libc::ECONNREFUSED)
        },
        "two accepts and one refusal",
    );
    assert_eq!(s.accept(only6), Err(Error::Again));
    accepted.sort_by_key(|(_, peer)| peer.is_ipv4() || peer.ip().to_string().contains("ffff"));
    let (a6, peer6) = accepted[0];
    let (a4, peer4) = accepted[1];
    let c6_name = c.getsockname(c6).unwrap();
    assert_eq!(peer6, c6_name);
    assert_eq!(peer6.ip(), C6);
    assert_eq!(s.getsockname(a6).unwrap(), SocketAddr::new(S6.into(), 80));
    let mapped = Ipv4Addr::new(198, 18, 0, 2).to_ipv6_mapped();
    assert_eq!(
        peer4.ip(),
        mapped,
        "an IPv4 peer of an AF_INET6 listener is IPv4-mapped"
    );
    assert_eq!(peer4.port(), c.getsockname(c4).unwrap().port());
    assert_eq!(
        s.getsockname(a4).unwrap(),
        SocketAddr::new(Ipv4Addr::new(198, 18, 0, 1).to_ipv6_mapped().into(), 80)
    );
    assert_eq!(c.getpeername(c4), Ok(s4));

    // A megabyte each way over IPv6, byte-exact.
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let (mut sent_c, mut sent_s, mut got_s, mut got_c) = (0, 0, Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    until(
        || {
            turn(&mut s, sep, &mut c, cep);
            if sent_c < LEN {
                sent_c += c.write(c6, &data[sent_c..]).unwrap_or(0);
            }
            if sent_s < LEN {
                sent_s += s.write(a6, &data[sent_s..]).unwrap_or(0);
            }
            while let Ok(n @ 1..) = s.read(a6, &mut buf) {
                got_s.extend_from_slice(&buf[..n]);
            }
            while let Ok(n @ 1..) = c.read(c6, &mut buf) {
                got_c.extend_from_slice(&buf[..n]);
            }
            got_s.len() == LEN && got_c.len() == LEN
        },
        "a megabyte each way",
    );
    assert!(got_s == data && got_c == data, "bytes differ");
    let info = c.tcp_info(c6).unwrap();
    assert_eq!(info.snd_mss, 1500 - 40 - 20 - 12, "MSS from the IPv6 MTU");

    let lines = server.stats_lines(&[Default::default()], 1.0);
    assert!(lines.contains("IPv6 TCP RX:"), "{lines}");
}

/// `<port>.nd6` static neighbours are used as given: with the server's MAC the connection is
/// made; with a wrong MAC for it the client's frames go nowhere (nothing solicits the right one).
#[test]
fn static_neighbours_from_config() {
    for (mac, connects) in [("02:00:00:00:00:01", true), ("02:00:00:00:00:77", false)] {
        let switch = MemSwitch::new(MemConfig::default()).unwrap();
        let server = Mtcp::with_switch(conf("mem0", 1), &switch, 0).unwrap();
        let mut cconf = conf("mem1", 2);
        cconf.ports[0].nd6 =
            mtcp_socket_api::config::parse_nd6(&format!("2001:2::1 {mac}")).unwrap();
        let client = Mtcp::with_switch(cconf, &switch, 1).unwrap();
        let mut s = server.create_context(0).unwrap();
        let mut c = client.create_context(0).unwrap();
        let (sep, cep) = (driver(&mut s), driver(&mut c));
        let l = s.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
        s.bind(l, SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 80))
            .unwrap();
        s.listen(l, 8).unwrap();
        let c6 = c.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(
            c.connect(c6, SocketAddr::new(S6.into(), 80)),
            Err(Error::InProgress)
        );
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut accepted = false;
        while !accepted && Instant::now() < deadline {
            turn(&mut s, sep, &mut c, cep);
            accepted = s.accept(l).is_ok();
        }
        assert_eq!(accepted, connects, "static MAC {mac}");
    }
}

/// A port whose link cannot carry 1280-byte packets refuses an IPv6 address at start-up, with a
/// message naming the port, instead of dropping every full-sized IPv6 segment later.
#[test]
fn ipv6_on_a_link_under_1280_bytes_is_refused() {
    let switch = MemSwitch::new(MemConfig {
        mtu: 1000,
        ..MemConfig::default()
    })
    .unwrap();
    let err = Mtcp::with_switch(conf("mem0", 1), &switch, 0)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("`mem0`"), "{err}");
    assert!(err.to_string().contains("1280"), "{err}");
    // IPv4 alone is fine on such a link.
    let v4 = MtcpConf::parse(
        "io = mem\nnum_cores = 1\nport = mem0\nmem0.ip = 198.18.0.1/24\nrun_mode = rtc\n",
    )
    .unwrap();
    assert!(Mtcp::with_switch(v4, &switch, 0).is_ok());
}

/// A socket of `domain` (IPV6_V6ONLY as `v6only`) bound to `addr`.
fn bound(ctx: &mut Context, domain: i32, v6only: bool, addr: &str) -> Result<i32, Error> {
    let id = ctx.socket(domain, libc::SOCK_STREAM, 0).unwrap();
    if v6only {
        ctx.setsockopt(id, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
            .unwrap();
    }
    let r = ctx.bind(id, addr.parse::<SocketAddr>().unwrap());
    if r.is_err() {
        ctx.close(id).unwrap();
    }
    r.map(|()| id)
}

/// As on Linux: `0.0.0.0:80` and `[::]:80` with IPV6_V6ONLY listen side by side, each taking its
/// own family's clients; a dual-stack `[::]` and an IPv4 socket on one port give EADDRINUSE
/// (whichever comes first, bound or listening); closing the IPv4 listener refuses IPv4 clients
/// and leaves the IPv6 one working.
#[test]
fn ipv4_listener_and_v6only_listener_share_a_port() {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let server = Mtcp::with_switch(conf("mem0", 1), &switch, 0).unwrap();
    let client = Mtcp::with_switch(conf("mem1", 2), &switch, 1).unwrap();
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (sep, cep) = (driver(&mut s), driver(&mut c));
    let (inet, inet6) = (libc::AF_INET, libc::AF_INET6);

    let l4 = bound(&mut s, inet, false, "0.0.0.0:80").unwrap();
    s.listen(l4, 8).unwrap();
    let l6 = bound(&mut s, inet6, true, "[::]:80").unwrap();
    s.listen(l6, 8).unwrap();
    for (domain, v6only, addr) in [
        (inet6, false, "[::]:80"),
        (inet6, true, "[::]:80"),
        (inet, false, "0.0.0.0:80"),
        (inet, false, "198.18.0.1:80"),
        (inet6, true, "[::ffff:198.18.0.1]:80"),
    ] {
        let r = bound(&mut s, domain, v6only, addr);
        assert_eq!(r, Err(Error::AddrInUse), "{addr} v6only {v6only}");
    }
    let dual = bound(&mut s, inet6, false, "[::]:81").unwrap();
    assert_eq!(
        bound(&mut s, inet, false, "0.0.0.0:81"),
        Err(Error::AddrInUse)
    );
    s.listen(dual, 8).unwrap();
    assert_eq!(
        bound(&mut s, inet, false, "0.0.0.0:81"),
        Err(Error::AddrInUse)
    );
    let _ = bound(&mut s, inet, false, "0.0.0.0:82").unwrap();
    assert_eq!(
        bound(&mut s, inet6, false, "[::]:82"),
        Err(Error::AddrInUse)
    );
    assert!(bound(&mut s, inet6, false, "[2001:2::1]:82").is_ok());

    let client_to = |c: &mut Context, domain: i32, addr: &str| {
        let id = c.socket(domain, libc::SOCK_STREAM, 0).unwrap();
        let to = addr.parse::<SocketAddr>().unwrap();
        assert_eq!(c.connect(id, to), Err(Error::InProgress));
        id
    };
    let c4 = client_to(&mut c, inet, "198.18.0.1:80");
    let c6 = client_to(&mut c, inet6, "[2001:2::1]:80");
    let (mut sent, mut got) = ([false; 2], Vec::new());
    until(
        || {
            turn(&mut s, sep, &mut c, cep);
            for (i, (id, data)) in [(c4, &b"four"[..]), (c6, &b"six"[..])].iter().enumerate() {
                if !sent[i] {
                    sent[i] = c.write(*id, data).is_ok();
                }
            }
            for l in [l4, l6] {
                while let Ok((a, peer)) = s.accept(l) {
                    got.push((l, a, peer));
                }
            }
            got.len() == 2
        },
        "one accept on each listener",
    );
    got.sort_by_key(|&(l, _, _)| l == l6);
    assert_eq!((got[0].0, got[0].2), (l4, c.getsockname(c4).unwrap()));
    assert_eq!((got[1].0, got[1].2), (l6, c.getsockname(c6).unwrap()));
    assert!(got[0].2.is_ipv4(), "an IPv4 listener shows IPv4 peers");
    for (want, &(_, a, _)) in [&b"four"[..], b"six"].iter().zip(&got) {
        let mut buf = [0u8; 16];
        let mut n = 0;
        until(
            || {
                turn(&mut s, sep, &mut c, cep);
                n += s.read(a, &mut buf[n..]).unwrap_or(0);
                n == want.len()
            },
            "the client's bytes",
        );
        assert_eq!(&buf[..n], *want);
    }

    // Without its IPv4 listener, port 80 refuses IPv4 and still takes IPv6.
    s.close(l4).unwrap();
    let refused = client_to(&mut c, inet, "198.18.0.1:80");
    let again6 = client_to(&mut c, inet6, "[2001:2::1]:80");
    let (mut accepted6, mut error4) = (None, 0);
    until(
        || {
            turn(&mut s, sep, &mut c, cep);
            accepted6 = accepted6.or(s.accept(l6).ok());
            // SO_ERROR is cleared by reading it.
            if error4 == 0 {
                error4 = c
                    .getsockopt(refused, libc::SOL_SOCKET, libc::SO_ERROR)
                    .unwrap();
            }
            error4 != 0 && accepted6.is_some()
        },
        "IPv4 refused, IPv6 accepted",
    );
    assert_eq!(error4, libc::ECONNREFUSED);
    assert_eq!(accepted6.map(|a| a.1), c.getsockname(again6).ok());
    assert!(
        bound(&mut s, inet, false, "0.0.0.0:80").is_ok(),
        "the IPv4 port is free again"
    );
}
