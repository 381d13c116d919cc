//! Socket options reach the engine per socket, in both run modes: SO_SNDBUF and SO_RCVBUF set
//! before `listen`/`connect` size that connection's buffers (the others keep mtcp.conf's),
//! SO_KEEPALIVE on a connected socket arms probes, SO_LINGER on with 0 s makes `close`
//! reset the connection, and TCP_CONGESTION picks one connection's congestion control.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Context, Error, Mtcp};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// Connects a client socket to a listener on `port`; both sides get `setup` applied first
/// (`true` for the listener). Returns (listener, accepted, client socket).
fn connected(
    s: &mut Context,
    c: &mut Context,
    port: u16,
    setup: impl Fn(&mut Context, i32, bool),
) -> (i32, i32, i32) {
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.setsock_nonblock(l).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .unwrap();
    setup(s, l, true);
    s.listen(l, 4).unwrap();
    let cs = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(cs).unwrap();
    setup(c, cs, false);
    match c.connect(cs, SocketAddrV4::new(SERVER, port)) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        c.poll();
        s.poll();
        if let Ok((a, _)) = s.accept(l) {
            return (l, a, cs);
        }
        assert!(Instant::now() < deadline, "no connection");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn spin(s: &mut Context, c: &mut Context, ms: u64) {
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        s.poll();
        c.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn buffers_per_socket(mode: &str) {
    let (_sw, server, client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    // The listener's SO_SNDBUF goes to the connections it accepts; the client's SO_RCVBUF
    // (below mtcp.conf's 16384) bounds what it buffers unread.
    let (_l, a, cs) = connected(&mut s, &mut c, 5200, |ctx, id, listener| {
        let opt = if listener {
            libc::SO_SNDBUF
        } else {
            libc::SO_RCVBUF
        };
        ctx.setsockopt(id, libc::SOL_SOCKET, opt, 3000).unwrap();
    });
    assert_eq!(s.getsockopt(a, libc::SOL_SOCKET, libc::SO_SNDBUF), Ok(3000));
    let data = vec![0x5a_u8; 20_000];
    let first = loop {
        match s.write(a, &data) {
            Ok(n) => break n,
            Err(Error::Again) => spin(&mut s, &mut c, 1),
            Err(e) => panic!("write: {e}"),
        }
    };
    assert_eq!(
        first, 3000,
        "SO_SNDBUF of the listener sized the send buffer"
    );
    let mut sent = first;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut readable = 0;
    while Instant::now() < deadline {
        if let Ok(n) = s.write(a, &data[sent..]) {
            sent += n;
        }
        spin(&mut s, &mut c, 2);
        c.socket_ioctl(cs, libc::FIONREAD, Some(&mut readable))
            .unwrap();
        if readable == 3000 && s.tcp_info(a).unwrap().snd_wnd == 0 {
            break;
        }
    }
    assert_eq!(
        readable, 3000,
        "the client's SO_RCVBUF bounds its receive buffer"
    );
    // A socket without the options keeps mtcp.conf's sizes.
    let plain = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(
        c.getsockopt(plain, libc::SOL_SOCKET, libc::SO_RCVBUF),
        Ok(16384)
    );
}

fn linger_zero_resets(mode: &str) {
    let (_sw, server, client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (_l, a, cs) = connected(&mut s, &mut c, 5201, |_, _, _| {});
    assert_eq!(
        c.with(move |st| st.set_linger(cs, true, -1)),
        Ok(Err(Error::Inval))
    );
    c.with(move |st| st.set_linger(cs, true, 0))
        .unwrap()
        .unwrap();
    c.close(cs).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16];
    loop {
        spin(&mut s, &mut c, 2);
        match s.read(a, &mut buf) {
            Err(Error::ConnReset) => break,
            Err(Error::Again) => {}
            other => panic!("expected a reset, got {other:?}"),
        }
        assert!(Instant::now() < deadline, "no reset");
    }
}

fn keepalive_on_connected(mode: &str) {
    // No idle timeout (tcp_timeout = -1), so keepalive is the only timer of an idle connection.
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let conf = |port: &str, ip: &str| {
        let mut c = common::conf(port, ip, mode);
        c.tcp_timeout_secs = None;
        c
    };
    let server = Mtcp::with_switch(conf("mem0", "198.18.0.1"), &switch, 0).unwrap();
    let client = Mtcp::with_switch(conf("mem1", "198.18.0.2"), &switch, 1).unwrap();
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (_l, a, cs) = connected(&mut s, &mut c, 5202, |_, _, _| {});
    assert_eq!(
        c.getsockopt(cs, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        Ok(0)
    );
    c.setsockopt(cs, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)
        .unwrap();
    assert_eq!(
        c.getsockopt(cs, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        Ok(1)
    );
    // Linux's default idle time (7200 s) is far away, but the engine now has a deadline for
    // this otherwise idle connection, and switching the option off removes it again.
    let far = Duration::from_secs(7000);
    let armed = c.with(|st| st.next_timer()).unwrap();
    c.setsockopt(cs, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0)
        .unwrap();
    let disarmed = c.with(|st| st.next_timer()).unwrap();
    assert!(
        armed.is_some_and(|d| d >= far),
        "keepalive deadline {armed:?}"
    );
    assert!(
        disarmed.is_none_or(|d| d < far),
        "still armed: {disarmed:?}"
    );
    let _ = a;
}

/// TCP_CONGESTION per socket: `bbr` set before `connect` makes that connection paced (BBR has
/// a pacing rate once it measured the path; mtcp.conf's CUBIC has none); an unknown name is
/// ENOENT, as in Linux.
fn congestion_per_socket(mode: &str) {
    let (_sw, server, client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (_l, a, cs) = connected(&mut s, &mut c, 5203, |ctx, id, listener| {
        if !listener {
            ctx.with(move |st| st.set_congestion(id, "bbr"))
                .unwrap()
                .unwrap();
        }
    });
    assert_eq!(
        c.with(move |st| st.set_congestion(cs, "vegas")),
        Ok(Err(Error::NoEnt))
    );
    let data = vec![0x33_u8; 8192];
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.tcp_info(cs).unwrap().pacing_rate == 0 {
        let _ = c.write(cs, &data);
        let _ = s.write(a, &data);
        spin(&mut s, &mut c, 2);
        while s.read(a, &mut buf).is_ok_and(|n| n > 0) {}
        while c.read(cs, &mut buf).is_ok_and(|n| n > 0) {}
        assert!(
            Instant::now() < deadline,
            "BBR never set a pacing rate: {:?}",
            c.tcp_info(cs)
        );
    }
    assert_eq!(
        s.tcp_info(a).unwrap().pacing_rate,
        0,
        "the server's CUBIC is not paced"
    );
}

#[test]
fn congestion_per_socket_rtc() {
    congestion_per_socket("rtc");
}

#[test]
fn congestion_per_socket_threaded() {
    congestion_per_socket("threaded");
}

#[test]
fn buffers_per_socket_rtc() {
    buffers_per_socket("rtc");
}

#[test]
fn buffers_per_socket_threaded() {
    buffers_per_socket("threaded");
}

#[test]
fn linger_zero_resets_rtc() {
    linger_zero_resets("rtc");
}

#[test]
fn linger_zero_resets_threaded() {
    linger_zero_resets("threaded");
}

#[test]
fn keepalive_on_connected_rtc() {
    keepalive_on_connected("rtc");
}

#[test]
fn keepalive_on_connected_threaded() {
    keepalive_on_connected("threaded");
}
