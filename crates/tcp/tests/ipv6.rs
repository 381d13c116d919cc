//! The engine over IPv6: connections keyed by IPv6 4-tuples, the MSS from the IPv6 MTU, SYN
//! cookies over IPv6 tuples, and dual-stack listeners (`::` takes IPv4 too unless V6ONLY).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mtcp_tcp::{Config, Engine, Error, Event, Handle, Instant, ListenerKey, State};
use mtcp_wire::checksum::Checksum;
use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr};

const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const A4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Serialised segments with their addresses (checksums over the right pseudo-header).
type Wire = Vec<(IpAddr, IpAddr, Vec<u8>)>;

fn collect(e: &mut Engine, now: Instant, wire: &mut Wire) {
    e.dispatch(now, |src, dst, seg| {
        let mut bytes = vec![0; seg.buffer_len()];
        seg.emit_ip(&mut bytes, src, dst, Checksum::Both)
            .expect("addresses of one family");
        wire.push((src, dst, bytes));
    });
}

fn deliver(e: &mut Engine, now: Instant, wire: &mut Wire) {
    for (src, dst, bytes) in wire.drain(..) {
        let packet = TcpPacket::new_checked(&bytes).unwrap();
        let seg = TcpRepr::parse_ip(&packet, src, dst, Checksum::Both).expect("valid checksum");
        e.on_segment(now, src, dst, &seg);
    }
}

/// Shuttles segments between the engines until both are quiet; returns what the server got.
fn run(client: &mut Engine, server: &mut Engine, now: Instant) -> Wire {
    let mut seen = Wire::new();
    for _ in 0..20 {
        let mut wire = Wire::new();
        collect(client, now, &mut wire);
        seen.extend(wire.iter().cloned());
        deliver(server, now, &mut wire);
        collect(server, now, &mut wire);
        deliver(client, now, &mut wire);
    }
    seen
}

fn engines(config: Config) -> (Engine, Engine) {
    (
        Engine::new(config.clone(), [1; 16]),
        Engine::new(config, [2; 16]),
    )
}

fn exchange(client: &mut Engine, server: &mut Engine, c: Handle, port: u16) -> Handle {
    let now = Instant::from_millis(0);
    client.send(c, b"over the wire").unwrap();
    run(client, server, now);
    let s = server.accept(port).expect("handshake completed");
    let mut buf = [0u8; 64];
    assert_eq!(server.recv(s, &mut buf), Ok(13));
    assert_eq!(&buf[..13], b"over the wire");
    assert!(client.events().any(|e| e == (c, Event::Connected)));
    s
}

#[test]
fn ipv6_connection_carries_data_with_the_ipv6_mss() {
    let (mut client, mut server) = engines(Config::default());
    let now = Instant::from_millis(0);
    server.listen(B6, 80, 8).unwrap();
    let c = client.connect(now, A6, 0, B6, 80).unwrap();
    let s = exchange(&mut client, &mut server, c, 80);
    let t = server.tuple(s).unwrap();
    assert_eq!((t.local_addr, t.remote_addr), (B6.into(), A6.into()));
    assert!(t.is_ipv6());
    // 1500 - 40 (IPv6) - 20 (TCP) - 12 (timestamps on every segment).
    assert_eq!(server.info(s).unwrap().snd_mss, 1428);
    assert_eq!(client.info(c).unwrap().snd_mss, 1428);
}

#[test]
fn ipv4_mss_is_unchanged() {
    let (mut client, mut server) = engines(Config::default());
    let now = Instant::from_millis(0);
    server.listen(B4, 80, 8).unwrap();
    let c = client.connect(now, A4, 0, B4, 80).unwrap();
    let s = exchange(&mut client, &mut server, c, 80);
    assert_eq!(server.info(s).unwrap().snd_mss, 1448);
}

#[test]
fn ipv6_mss_never_falls_under_1220() {
    let config = Config {
        mtu: 1000,
        ..Config::default()
    };
    assert_eq!(config.local_mss_for(true), 1220);
    assert_eq!(config.local_mss_for(false), 960);
    let (mut client, mut server) = engines(config);
    let now = Instant::from_millis(0);
    server.listen(B6, 80, 8).unwrap();
    let c = client.connect(now, A6, 0, B6, 80).unwrap();
    client.send(c, b"x").unwrap();
    let mut wire = Wire::new();
    collect(&mut client, now, &mut wire);
    let packet = TcpPacket::new_checked(&wire[0].2).unwrap();
    let syn = TcpRepr::parse_ip(&packet, wire[0].0, wire[0].1, Checksum::Both).unwrap();
    assert_eq!(syn.options.mss, Some(1220));
}

#[test]
fn mixed_family_connect_is_refused() {
    let mut e = Engine::new(Config::default(), [1; 16]);
    let now = Instant::from_millis(0);
    assert!(e.connect(now, A4, 0, B6, 80).is_err());
    assert_eq!(e.connection_count(), 0);
}

#[test]
fn same_ports_over_both_families_are_two_connections() {
    let (mut client, mut server) = engines(Config::default());
    let now = Instant::from_millis(0);
    server.listen(Ipv6Addr::UNSPECIFIED, 80, 8).unwrap();
    let c6 = client.connect(now, A6, 40_000, B6, 80).unwrap();
    let c4 = client.connect(now, A4, 40_000, B4, 80).unwrap();
    assert_ne!(c4, c6);
    client.send(c6, b"six").unwrap();
    client.send(c4, b"four").unwrap();
    run(&mut client, &mut server, now);
    let mut got = Vec::new();
    while let Some(s) = server.accept(80) {
        let mut buf = [0u8; 16];
        let n = server.recv(s, &mut buf).unwrap();
        got.push((server.tuple(s).unwrap().remote_addr, buf[..n].to_vec(), s));
    }
    got.sort();
    assert_eq!(got.len(), 2, "both families accepted by one `::` listener");
    assert_eq!((got[0].0, &got[0].1[..]), (IpAddr::from(A4), &b"four"[..]));
    assert_eq!((got[1].0, &got[1].1[..]), (IpAddr::from(A6), &b"six"[..]));
    let s4 = got[0].2;
    assert_eq!(server.state(s4), Ok(State::Established));
}

#[test]
fn v6only_listener_resets_ipv4_and_ipv4_listener_resets_ipv6() {
    let (mut client, mut server) = engines(Config::default());
    let now = Instant::from_millis(0);
    server.listen(Ipv6Addr::UNSPECIFIED, 80, 8).unwrap();
    server.set_v6only(80, true).unwrap();
    server.listen(Ipv4Addr::UNSPECIFIED, 81, 8).unwrap();
    let c4 = client.connect(now, A4, 0, B4, 80).unwrap();
    let c6 = client.connect(now, A6, 0, B6, 81).unwrap();
    let seen = run(&mut client, &mut server, now);
    assert!(!seen.is_empty());
    assert_eq!(server.accept(80), None);
    assert_eq!(server.accept(81), None);
    let events: Vec<_> = client.events().collect();
    assert!(events.contains(&(c4, Event::Reset)), "{events:?}");
    assert!(events.contains(&(c6, Event::Reset)), "{events:?}");
}

#[test]
fn syn_cookies_over_ipv6() {
    let config = Config {
        syn_cookies: true,
        ..Config::default()
    };
    let (mut client, mut server) = engines(config);
    let now = Instant::from_millis(0);
    // A backlog of one: the second SYN finds the SYN queue full and gets a cookie.
    server.listen(B6, 80, 1).unwrap();
    let first = client.connect(now, A6, 0, B6, 80).unwrap();
    let mut wire = Wire::new();
    collect(&mut client, now, &mut wire);
    deliver(&mut server, now, &mut wire);
    collect(&mut server, now, &mut wire);
    wire.clear(); // the first SYN-ACK is lost: its connection stays half-open
    let second = client.connect(now, A6, 0, B6, 80).unwrap();
    collect(&mut client, now, &mut wire);
    deliver(&mut server, now, &mut wire);
    assert_eq!(
        server.connection_count(),
        1,
        "the cookie SYN-ACK keeps no state"
    );
    collect(&mut server, now, &mut wire);
    assert_eq!(wire.len(), 1);
    let packet = TcpPacket::new_checked(&wire[0].2).unwrap();
    let syn_ack = TcpRepr::parse_ip(&packet, wire[0].0, wire[0].1, Checksum::Both).unwrap();
    assert_eq!(syn_ack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(syn_ack.options.mss, Some(1440));
    deliver(&mut client, now, &mut wire);
    client.send(second, b"cookie").unwrap();
    collect(&mut client, now, &mut wire);
    deliver(&mut server, now, &mut wire);
    let s = server.accept(80).expect("rebuilt from the cookie");
    assert_eq!(server.tuple(s).unwrap().remote_addr, IpAddr::from(A6));
    assert!(server.info(s).unwrap().snd_mss >= 1220);
    let mut buf = [0u8; 16];
    assert_eq!(server.recv(s, &mut buf), Ok(6));
    let _ = first;
}

/// Accepts everything waiting on `key` and returns (peer, what it sent) of each.
fn accept_all(server: &mut Engine, key: ListenerKey) -> Vec<(IpAddr, Vec<u8>)> {
    let mut got = Vec::new();
    while let Some(s) = server.accept_key(key) {
        let mut buf = [0u8; 16];
        let n = server.recv(s, &mut buf).unwrap();
        got.push((server.tuple(s).unwrap().remote_addr, buf[..n].to_vec()));
    }
    got
}

#[test]
fn ipv4_listener_and_v6only_listener_share_a_port() {
    let (mut client, mut server) = engines(Config::default());
    let now = Instant::from_millis(0);
    server.listen(Ipv4Addr::UNSPECIFIED, 80, 8).unwrap();
    let opts = server.config().conn_options();
    server
        .listen_v6only(Ipv6Addr::UNSPECIFIED, 80, 8, opts)
        .unwrap();
    // The other way round too: `::` made IPv6-only before the IPv4 listener comes.
    server.listen(Ipv6Addr::UNSPECIFIED, 81, 8).unwrap();
    server.set_v6only(81, true).unwrap();
    server.listen(Ipv4Addr::UNSPECIFIED, 81, 8).unwrap();
    for port in [80, 81] {
        let c4 = client.connect(now, A4, 0, B4, port).unwrap();
        let c6 = client.connect(now, A6, 0, B6, port).unwrap();
        client.send(c4, b"four").unwrap();
        client.send(c6, b"six").unwrap();
    }
    run(&mut client, &mut server, now);
    for port in [80, 81] {
        let v4 = ListenerKey { port, ipv6: false };
        let v6 = ListenerKey { port, ipv6: true };
        assert_eq!(accept_all(&mut server, v4), [(A4.into(), b"four".to_vec())]);
        assert_eq!(accept_all(&mut server, v6), [(A6.into(), b"six".to_vec())]);
    }
    // Without its IPv4 listener the port resets IPv4 and still takes IPv6.
    server
        .unlisten_key(ListenerKey {
            port: 80,
            ipv6: false,
        })
        .unwrap();
    let c4 = client.connect(now, A4, 0, B4, 80).unwrap();
    let c6 = client.connect(now, A6, 0, B6, 80).unwrap();
    run(&mut client, &mut server, now);
    let events: Vec<_> = client.events().collect();
    assert!(events.contains(&(c4, Event::Reset)), "{events:?}");
    assert!(events.contains(&(c6, Event::Connected)), "{events:?}");
    assert_eq!(
        server
            .accept(80)
            .map(|s| server.tuple(s).unwrap().is_ipv6()),
        Some(true)
    );
}

#[test]
fn dual_stack_listener_and_ipv4_listener_conflict_as_on_linux() {
    let mut e = Engine::new(Config::default(), [1; 16]);
    let opts = e.config().conn_options();
    let any4 = Ipv4Addr::UNSPECIFIED;
    let any6 = Ipv6Addr::UNSPECIFIED;
    e.listen(any6, 80, 8).unwrap();
    assert_eq!(e.listen(any4, 80, 8), Err(Error::AddrInUse));
    assert_eq!(e.listen(B4, 80, 8), Err(Error::AddrInUse));
    e.listen(any4, 81, 8).unwrap();
    assert_eq!(e.listen(any6, 81, 8), Err(Error::AddrInUse));
    assert_eq!(e.listen(any4, 81, 8), Err(Error::AddrInUse));
    e.listen_v6only(any6, 81, 8, opts).unwrap();
    assert_eq!(e.listen_v6only(any6, 81, 8, opts), Err(Error::AddrInUse));
    // IPV6_V6ONLY off again would take the IPv4 listener's connections.
    assert_eq!(e.set_v6only(81, false), Err(Error::AddrInUse));
    e.set_v6only(81, true).unwrap();
    // A specific IPv6 address never takes IPv4: no conflict.
    e.listen(any4, 82, 8).unwrap();
    e.listen(B6, 82, 8).unwrap();
    e.set_v6only(82, false).unwrap();
    e.unlisten(81).unwrap();
    e.listen(any6, 81, 8).unwrap();
}

/// RFC 9293 §3.7.1 (MUST-15): a peer whose SYN has no MSS option is sent segments of 536 bytes
/// over IPv4 and 1220 over IPv6, as Linux does.
#[test]
fn no_mss_option_means_536_over_ipv4_and_1220_over_ipv6() {
    for (ours, peer, want) in [
        (IpAddr::from(B4), IpAddr::from(A4), 536),
        (B6.into(), A6.into(), 1220),
    ] {
        let mut server = Engine::new(Config::default(), [2; 16]);
        let now = Instant::from_millis(0);
        server.listen(ours, 80, 8).unwrap();
        let mut seg = TcpRepr {
            src_port: 40_000,
            dst_port: 80,
            seq_number: SeqNumber(1000),
            ack_number: SeqNumber(0),
            flags: TcpFlags::SYN,
            window_len: 65_535,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        server.on_segment(now, peer, ours, &seg);
        let mut wire = Wire::new();
        collect(&mut server, now, &mut wire);
        let packet = TcpPacket::new_checked(&wire[0].2).unwrap();
        let syn_ack = TcpRepr::parse_ip(&packet, ours, peer, Checksum::Both).unwrap();
        assert_eq!(syn_ack.flags, TcpFlags::SYN | TcpFlags::ACK);
        seg.flags = TcpFlags::ACK;
        seg.seq_number = SeqNumber(1001);
        seg.ack_number = syn_ack.seq_number + 1;
        server.on_segment(now, peer, ours, &seg);
        let s = server.accept(80).expect("handshake completed");
        assert_eq!(server.info(s).unwrap().snd_mss, want, "{ours}");
    }
}

/// With an IPv4 and a V6ONLY listener on one port, each full (backlog 1, SYN cookies), a
/// connection rebuilt from a cookie lands on its own family's listener.
#[test]
fn syn_cookies_reach_the_listener_of_their_family() {
    let config = Config {
        syn_cookies: true,
        ..Config::default()
    };
    for (a, b) in [(IpAddr::from(A4), IpAddr::from(B4)), (A6.into(), B6.into())] {
        let (mut client, mut server) = engines(config.clone());
        let now = Instant::from_millis(0);
        let opts = server.config().conn_options();
        server.listen(Ipv4Addr::UNSPECIFIED, 80, 1).unwrap();
        server
            .listen_v6only(Ipv6Addr::UNSPECIFIED, 80, 1, opts)
            .unwrap();
        // The first SYN-ACK is lost: its connection stays half-open and fills the SYN queue.
        client.connect(now, a, 0, b, 80).unwrap();
        let mut wire = Wire::new();
        collect(&mut client, now, &mut wire);
        deliver(&mut server, now, &mut wire);
        collect(&mut server, now, &mut wire);
        wire.clear();
        let second = client.connect(now, a, 0, b, 80).unwrap();
        collect(&mut client, now, &mut wire);
        deliver(&mut server, now, &mut wire);
        assert_eq!(server.connection_count(), 1, "{a}: answered by a cookie");
        collect(&mut server, now, &mut wire);
        deliver(&mut client, now, &mut wire);
        client.send(second, b"cookie").unwrap();
        collect(&mut client, now, &mut wire);
        deliver(&mut server, now, &mut wire);
        let own = ListenerKey {
            port: 80,
            ipv6: a.is_ipv6(),
        };
        let other = ListenerKey {
            ipv6: !own.ipv6,
            ..own
        };
        assert_eq!(server.accept_key(other), None, "{a}");
        let s = server.accept_key(own).expect("rebuilt from the cookie");
        assert_eq!(server.tuple(s).unwrap().remote_addr, a);
    }
}
