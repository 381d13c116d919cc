//! With `tcp_timewait = 0` the engine frees a connection as soon as it is closed on both sides,
//! unread data included. Data the peer sent before its FIN must still be readable afterwards,
//! then EOF — whichever way the connection ended (our FIN first: TIME-WAIT; the peer's FIN first
//! and our `shutdown`: LAST-ACK).

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_socket_api::{Context, Error};

const LEN: usize = 12_000; // fits in the 16 KiB receive buffer, so the peer never waits for us

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 7)) as u8
}

fn drive(a: &mut Context, b: &mut Context, until: impl FnMut(&mut Context, &mut Context) -> bool) {
    let mut until = until;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !until(a, b) {
        assert!(Instant::now() < deadline, "timed out");
        a.poll();
        b.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Connects: returns (server context, accepted id, client context, client id).
fn connected(
    server: &mtcp_socket_api::Mtcp,
    client: &mtcp_socket_api::Mtcp,
) -> (Context, i32, Context, i32) {
    assert_eq!(server.conf().tcp_timewait_secs, 0);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.setsock_nonblock(l).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000))
        .unwrap();
    s.listen(l, 4).unwrap();
    let cs = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(cs).unwrap();
    let target = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 6000);
    match c.connect(cs, target) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let mut a = None;
    drive(&mut s, &mut c, |s, _| {
        if let Ok((id, _)) = s.accept(l) {
            a = Some(id);
        }
        a.is_some()
    });
    let a = a.unwrap();
    // The client side must be established before it sends.
    drive(&mut s, &mut c, |_, c| {
        c.tcp_info(cs)
            .is_ok_and(|i| i.state == mtcp_tcp::State::Established)
    });
    (s, a, c, cs)
}

fn send_all_then_fin(s: &mut Context, c: &mut Context, cs: i32) {
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let mut sent = 0;
    drive(s, c, |_, c| {
        if sent < LEN {
            if let Ok(n) = c.write(cs, &data[sent..]) {
                sent += n;
            }
        }
        sent == LEN
    });
    c.shutdown(cs, libc::SHUT_WR).unwrap();
}

/// Reads everything `a` holds (the connection is gone by now), then expects EOF.
fn read_all_then_eof(s: &mut Context, a: &mut i32) {
    let a = *a;
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        match s.read(a, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read after {} bytes: {e}", got.len()),
        }
    }
    assert_eq!(
        got.len(),
        LEN,
        "bytes readable after the connection was freed"
    );
    assert!(
        got.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "data differs"
    );
    assert_eq!(s.read(a, &mut buf), Ok(0), "EOF repeats");
}

/// Our FIN first, then the peer's data and FIN: TIME-WAIT of length 0, the connection is freed.
#[test]
fn data_survives_time_wait_reaping() {
    let (_sw, server, client) = common::pair("rtc");
    let (mut s, mut a, mut c, cs) = connected(&server, &client);
    s.shutdown(a, libc::SHUT_WR).unwrap();
    // The client sees our FIN (read gives EOF) before it sends.
    drive(&mut s, &mut c, |_, c| {
        matches!(c.read(cs, &mut [0u8; 1]), Ok(0))
    });
    send_all_then_fin(&mut s, &mut c, cs);
    // Until the engine has freed our side (no handle any more) and the client is closed too.
    drive(&mut s, &mut c, |s, _| s.tcp_info(a).is_err());
    for _ in 0..50 {
        s.poll();
        c.poll();
    }
    read_all_then_eof(&mut s, &mut a);
}

/// The peer's data and FIN first (CLOSE-WAIT), then our FIN: LAST-ACK, freed on the peer's ACK.
#[test]
fn data_survives_last_ack_reaping() {
    let (_sw, server, client) = common::pair("rtc");
    let (mut s, mut a, mut c, cs) = connected(&server, &client);
    send_all_then_fin(&mut s, &mut c, cs);
    drive(&mut s, &mut c, |s, _| {
        s.tcp_info(a)
            .is_ok_and(|i| i.state == mtcp_tcp::State::CloseWait)
    });
    s.shutdown(a, libc::SHUT_WR).unwrap();
    drive(&mut s, &mut c, |s, _| s.tcp_info(a).is_err());
    read_all_then_eof(&mut s, &mut a);
}

/// Both FINs cross (CLOSING, then TIME-WAIT of length 0).
#[test]
fn data_survives_simultaneous_close() {
    let (_sw, server, client) = common::pair("rtc");
    let (mut s, mut a, mut c, cs) = connected(&server, &client);
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let mut sent = 0;
    while sent < LEN {
        sent += c.write(cs, &data[sent..]).unwrap_or(0);
        c.poll();
    }
    // Both shut down before either side's stack runs: the FINs cross on the switch.
    c.shutdown(cs, libc::SHUT_WR).unwrap();
    s.shutdown(a, libc::SHUT_WR).unwrap();
    drive(&mut s, &mut c, |s, _| s.tcp_info(a).is_err());
    read_all_then_eof(&mut s, &mut a);
}
