//! Destroying a context drains its connections (mtcp-api.md: `mtcp_destroy_context` "stops the
//! context once its flows drain"): data accepted by `write` just before `destroy` (or a drop)
//! reaches the peer, byte for byte, followed by EOF. The drain is bounded when the peer does not
//! acknowledge, and a stopped context answers every call with `EPERM`. Every test runs in both
//! run modes.
//!
//! Before the drain, destroying the context dropped the stack at once: the send buffer's tail
//! (up to `sndbuf` bytes) and the FIN were never sent, so the server below ended short of `LEN`
//! without EOF.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EpollEvent, Error, Mtcp, events};

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 7000);
/// Far more than the send buffer (16384 in `common::conf`): many windows' worth.
const LEN: usize = 3 << 20;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

/// The server (`server_mode`) and client (`client_mode`) instances. The client's drain is the
/// default one (`common::conf` shortens it); the server's stays short, as its peer is gone by
/// the time it stops.
fn instances(server_mode: &str, client_mode: &str) -> (MemSwitch, Mtcp, Mtcp) {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let mut sc = common::conf("mem0", "198.18.0.1", server_mode);
    sc.drain_timeout = Duration::from_millis(200);
    let s = Mtcp::with_switch(sc, &switch, 0).unwrap();
    let mut cc = common::conf("mem1", "198.18.0.2", client_mode);
    cc.drain_timeout = mtcp_socket_api::DEFAULT_DRAIN_TIMEOUT;
    let c = Mtcp::with_switch(cc, &switch, 1).unwrap();
    (switch, s, c)
}

fn listen(s: &mut Context) -> (i32, i32) {
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.setsock_nonblock(l).unwrap();
    s.bind(l, SERVER).unwrap();
    s.listen(l, 4).unwrap();
    let ep = s.epoll_create(4).unwrap();
    let ev = EpollEvent {
        events: events::IN,
        data: l as u64,
    };
    s.epoll_ctl(ep, EPOLL_CTL_ADD, l, Some(ev)).unwrap();
    (l, ep)
}

/// Connects and waits (driving both stacks from this thread) until the server accepted.
fn connect(c: &mut Context, s: &mut Context, l: i32, sep: i32) -> (i32, i32, i32) {
    let cs = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(cs).unwrap();
    match c.connect(cs, SERVER) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let cep = c.epoll_create(4).unwrap();
    let ev = EpollEvent {
        events: events::OUT,
        data: cs as u64,
    };
    c.epoll_ctl(cep, EPOLL_CTL_ADD, cs, Some(ev)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut evs = [EpollEvent::default(); 4];
    loop {
        assert!(Instant::now() < deadline, "no connection");
        let _ = c.epoll_wait(cep, &mut evs, 1);
        let _ = s.epoll_wait(sep, &mut evs, 1);
        if let Ok((a, _)) = s.accept(l) {
            return (cs, cep, a);
        }
    }
}

/// Reads `a` until EOF; the bytes, or what went wrong.
fn read_to_eof(s: &mut Context, a: i32, ep: i32) -> Result<Vec<u8>, String> {
    let ev = EpollEvent {
        events: events::IN,
        data: a as u64,
    };
    s.epoll_ctl(ep, EPOLL_CTL_ADD, a, Some(ev)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::with_capacity(LEN);
    let mut buf = vec![0u8; 65536];
    let mut evs = [EpollEvent::default(); 4];
    loop {
        match s.read(a, &mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(Error::Again) => {
                if Instant::now() > deadline {
                    return Err(format!("got {} of {LEN} bytes and no EOF", got.len()));
                }
                let _ = s.epoll_wait(ep, &mut evs, 10);
            }
            Err(e) => return Err(format!("read after {} bytes: {e}", got.len())),
        }
    }
}

/// The client writes `LEN` bytes and destroys its context (or drops it) at once; the server,
/// on its own thread, must read all of them and EOF.
fn write_then_destroy(mode: &str, drop_instead: bool) {
    let (_sw, server, client) = instances(mode, mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (l, sep) = listen(&mut s);
    let (cs, cep, a) = connect(&mut c, &mut s, l, sep);
    let reader = std::thread::spawn(move || {
        let r = read_to_eof(&mut s, a, sep);
        let _ = s.close(a);
        r
    });
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    let mut evs = [EpollEvent::default(); 4];
    while sent < LEN {
        assert!(
            Instant::now() < deadline,
            "client wrote only {sent} of {LEN}"
        );
        match c.write(cs, &data[sent..]) {
            Ok(n) => sent += n,
            Err(Error::Again) => {
                let _ = c.epoll_wait(cep, &mut evs, 10);
            }
            Err(e) => panic!("write after {sent}: {e}"),
        }
    }
    // Everything is accepted by `write`; most of the last send buffer is not even sent yet.
    let unsent = c.tcp_info(cs).unwrap();
    assert!(unsent.undelivered(), "nothing left to drain: {unsent:?}");
    if drop_instead {
        drop(c);
    } else {
        assert_eq!(c.destroy(), Ok(()), "the drain must finish in time");
    }
    let got = reader.join().unwrap().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "bytes differ");
}

#[test]
fn destroy_delivers_written_data_rtc() {
    write_then_destroy("rtc", false);
}

#[test]
fn destroy_delivers_written_data_threaded() {
    write_then_destroy("threaded", false);
}

#[test]
fn drop_delivers_written_data_rtc() {
    write_then_destroy("rtc", true);
}

#[test]
fn drop_delivers_written_data_threaded() {
    write_then_destroy("threaded", true);
}

/// The peer stops answering (its run-to-completion context is no longer driven): the drain
/// gives up at its deadline and says so.
fn peer_gone(mode: &str) {
    let (_sw, server, client) = instances("rtc", mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (l, sep) = listen(&mut s);
    let (cs, _cep, _a) = connect(&mut c, &mut s, l, sep);
    // From here on nobody drives the server: no ACK will come.
    assert_eq!(c.write(cs, &[7u8; 4000]), Ok(4000));
    let limit = Duration::from_millis(300);
    let start = Instant::now();
    assert_eq!(c.destroy_within(limit), Err(Error::TimedOut));
    // It cannot have finished early: nothing was acknowledged.
    assert!(start.elapsed() >= limit);
    drop(s);
}

#[test]
fn drain_is_bounded_when_the_peer_is_gone_rtc() {
    peer_gone("rtc");
}

#[test]
fn drain_is_bounded_when_the_peer_is_gone_threaded() {
    peer_gone("threaded");
}

/// A stopped context refuses every call with `EPERM`, a second stop included.
fn stopped_context_is_eperm(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let (l, ep) = listen(&mut s);
    assert!(!s.is_stopped());
    assert_eq!(s.stop(), Ok(()));
    assert!(s.is_stopped());
    let mut buf = [0u8; 8];
    let mut evs = [EpollEvent::default(); 4];
    assert_eq!(
        s.socket(libc::AF_INET, libc::SOCK_STREAM, 0),
        Err(Error::Perm)
    );
    assert_eq!(s.accept(l), Err(Error::Perm));
    assert_eq!(s.read(l, &mut buf), Err(Error::Perm));
    assert_eq!(s.write(l, b"x"), Err(Error::Perm));
    assert_eq!(s.close(l), Err(Error::Perm));
    assert_eq!(s.epoll_wait(ep, &mut evs, 0), Err(Error::Perm));
    assert_eq!(s.epoll_wait(ep, &mut evs, -1), Err(Error::Perm));
    assert_eq!(s.pipe(), Err(Error::Perm));
    let mut arg = 0;
    assert_eq!(
        s.socket_ioctl(l, libc::FIONREAD, Some(&mut arg)),
        Err(Error::Perm)
    );
    assert_eq!(s.with(|_| ()), Err(Error::Perm));
    assert_eq!(s.poll(), 0);
    assert_eq!(s.stop(), Err(Error::Perm));
}

#[test]
fn stopped_context_is_eperm_rtc() {
    stopped_context_is_eperm("rtc");
}

#[test]
fn stopped_context_is_eperm_threaded() {
    stopped_context_is_eperm("threaded");
}

/// A listener's unaccepted connection is reset when its context is destroyed.
fn unaccepted_is_reset(mode: &str) {
    let (_sw, server, client) = instances(mode, mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let (_l, sep) = listen(&mut s);
    let cs = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(cs).unwrap();
    let _ = c.connect(cs, SERVER);
    let cep = c.epoll_create(4).unwrap();
    let ev = EpollEvent {
        events: events::OUT,
        data: 0,
    };
    c.epoll_ctl(cep, EPOLL_CTL_ADD, cs, Some(ev)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut evs = [EpollEvent::default(); 4];
    // Established on the client's side, waiting unaccepted on the server's.
    while c.getpeername(cs).is_err() {
        assert!(Instant::now() < deadline, "no connection");
        let _ = c.epoll_wait(cep, &mut evs, 1);
        let _ = s.epoll_wait(sep, &mut evs, 1);
    }
    let _ = s.epoll_wait(sep, &mut evs, 10);
    assert_eq!(s.destroy(), Ok(()));
    let mut buf = [0u8; 8];
    loop {
        assert!(Instant::now() < deadline, "no reset");
        match c.read(cs, &mut buf) {
            Err(Error::Again) => {
                let _ = c.epoll_wait(cep, &mut evs, 5);
            }
            Err(Error::ConnReset) => break,
            other => panic!("expected ECONNRESET, got {other:?}"),
        }
    }
}

#[test]
fn unaccepted_connection_is_reset_rtc() {
    unaccepted_is_reset("rtc");
}

#[test]
fn unaccepted_connection_is_reset_threaded() {
    unaccepted_is_reset("threaded");
}
