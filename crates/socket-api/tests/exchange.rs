//! Two contexts (two instances on one in-memory switch, each on its own thread) exchange data
//! byte-exact through epoll, in both run modes; plus the epoll signals of FIN, RST and refusal.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EpollEvent, Error, events};

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 5000);
const LEN: usize = 3 * 1024 * 1024 + 17;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 11)) as u8
}

fn wait_one(ctx: &mut Context, ep: i32, deadline: Instant) -> Vec<EpollEvent> {
    let mut evs = [EpollEvent::default(); 16];
    loop {
        let n = ctx.epoll_wait(ep, &mut evs, 50).unwrap();
        if n > 0 {
            return evs[..n].to_vec();
        }
        assert!(Instant::now() < deadline, "timed out waiting for events");
    }
}

/// The server echoes everything back; the client sends LEN bytes and checks the echo.
fn echo_roundtrip(mode: &str) {
    let (_sw, server, client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    assert_eq!(s.is_threaded(), mode == "threaded");
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    s.listen(l, 8).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client_done = std::sync::Arc::clone(&done);
    let server_thread = std::thread::spawn(move || {
        let ep = s.epoll_create(8).unwrap();
        s.epoll_ctl(
            ep,
            EPOLL_CTL_ADD,
            l,
            Some(EpollEvent {
                events: events::IN,
                data: l as u64,
            }),
        )
        .unwrap();
        let mut conn = None;
        let mut pending: Vec<u8> = Vec::new();
        let mut echoed = 0usize;
        let mut buf = vec![0u8; 10_000];
        loop {
            if Instant::now() + Duration::from_secs(2) > deadline {
                let a = conn.unwrap();
                panic!(
                    "server stuck: echoed {echoed}, pending {}, info {:?}",
                    pending.len(),
                    s.tcp_info(a)
                );
            }
            for ev in wait_one(&mut s, ep, deadline) {
                let id = ev.data as i32;
                if id == l {
                    let (a, peer) = s.accept(l).unwrap();
                    assert_eq!(peer.ip(), Ipv4Addr::new(198, 18, 0, 2));
                    assert_eq!(s.getpeername(a), Ok(peer));
                    s.epoll_ctl(
                        ep,
                        EPOLL_CTL_ADD,
                        a,
                        Some(EpollEvent {
                            events: events::IN | events::RDHUP,
                            data: a as u64,
                        }),
                    )
                    .unwrap();
                    conn = Some(a);
                    continue;
                }
                let a = conn.unwrap();
                let mut eof = false;
                loop {
                    match s.read(a, &mut buf) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                        Err(Error::Again) => break,
                        Err(e) => panic!("server read: {e}"),
                    }
                }
                while !pending.is_empty() {
                    match s.write(a, &pending) {
                        Ok(n) => {
                            pending.drain(..n);
                            echoed += n;
                        }
                        Err(Error::Again) => break,
                        Err(e) => panic!("server write: {e}"),
                    }
                }
                let want = if pending.is_empty() {
                    events::IN | events::RDHUP
                } else {
                    events::OUT
                };
                s.epoll_ctl(
                    ep,
                    EPOLL_CTL_MOD,
                    a,
                    Some(EpollEvent {
                        events: want,
                        data: a as u64,
                    }),
                )
                .unwrap();
                if eof && pending.is_empty() {
                    if ev.events & events::IN != 0 && ev.events & events::RDHUP == 0 {
                        // The FIN may have arrived after this event was taken (threaded mode:
                        // the stack thread runs on); then the next report of the socket,
                        // level-triggered and re-armed above, must carry RDHUP.
                        let next = wait_one(&mut s, ep, deadline);
                        let again = next.iter().find(|e| e.data == a as u64);
                        assert!(
                            again.is_some_and(|e| e.events & events::RDHUP != 0),
                            "FIN without RDHUP: {:#x}, then {again:?}",
                            ev.events
                        );
                    }
                    s.close(a).unwrap();
                    // Keep driving the stack until the client has everything (run-to-completion:
                    // nobody else sends what is still in the send buffer).
                    while !done.load(std::sync::atomic::Ordering::Relaxed)
                        && Instant::now() < deadline
                    {
                        let mut e = [EpollEvent::default(); 4];
                        let _ = s.epoll_wait(ep, &mut e, 10);
                    }
                    return echoed;
                }
            }
        }
    });

    let sock = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(sock).unwrap();
    assert_eq!(c.connect(sock, SERVER), Err(Error::InProgress));
    let ep = c.epoll_create(8).unwrap();
    c.epoll_ctl(
        ep,
        EPOLL_CTL_ADD,
        sock,
        Some(EpollEvent {
            events: events::OUT | events::IN,
            data: 42,
        }),
    )
    .unwrap();
    let (mut sent, mut got) = (0usize, 0usize);
    let mut data = vec![0u8; 64 * 1024];
    let mut closed_write = false;
    let mut buf = vec![0u8; 7000];
    while got < LEN {
        assert!(
            Instant::now() < deadline,
            "client stuck: sent {sent}, got {got}, info {:?}, server flows {}",
            c.tcp_info(sock),
            server.snapshots()[0].flows
        );
        for ev in wait_one(&mut c, ep, deadline) {
            assert_eq!(ev.data, 42);
            assert_eq!(ev.events & events::ERR, 0, "error event");
            if ev.events & events::OUT != 0 && sent < LEN {
                loop {
                    let n = (LEN - sent).min(data.len());
                    for (k, b) in data[..n].iter_mut().enumerate() {
                        *b = pattern(sent + k);
                    }
                    match c.write(sock, &data[..n]) {
                        Ok(w) => sent += w,
                        Err(Error::Again) => break,
                        Err(e) => panic!("client write: {e}"),
                    }
                    if sent == LEN {
                        break;
                    }
                }
            }
            if sent == LEN && !closed_write {
                c.shutdown(sock, libc::SHUT_WR).unwrap();
                c.epoll_ctl(
                    ep,
                    EPOLL_CTL_MOD,
                    sock,
                    Some(EpollEvent {
                        events: events::IN,
                        data: 42,
                    }),
                )
                .unwrap();
                closed_write = true;
            }
            loop {
                match c.read(sock, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        for (k, b) in buf[..n].iter().enumerate() {
                            assert_eq!(*b, pattern(got + k), "byte {} differs", got + k);
                        }
                        got += n;
                    }
                    Err(Error::Again) => break,
                    Err(e) => panic!("client read: {e}"),
                }
            }
        }
    }
    client_done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(server_thread.join().unwrap(), LEN);
    // The server's FIN arrives: readable at EOF.
    let evs = wait_one(&mut c, ep, deadline);
    assert_ne!(evs[0].events & events::IN, 0);
    assert_eq!(c.read(sock, &mut buf), Ok(0));
    c.close(sock).unwrap();
    // Every connection drains out of both engines.
    let t = Instant::now();
    loop {
        let mut e = [EpollEvent::default(); 1];
        let _ = c.epoll_wait(ep, &mut e, 10);
        if client.snapshots()[0].flows == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "client flows never drained"
        );
    }
}

#[test]
fn echo_run_to_completion() {
    echo_roundtrip("rtc");
}

#[test]
fn echo_threaded() {
    echo_roundtrip("threaded");
}

/// Turns both contexts until the client's `sock` has `n` bytes to read (FIONREAD).
fn until_readable(
    s: &mut Context,
    sep: i32,
    c: &mut Context,
    ep: i32,
    sock: i32,
    n: i32,
    deadline: Instant,
) {
    let mut fionread = 0;
    while fionread != n {
        assert!(
            Instant::now() < deadline,
            "{fionread} of {n} bytes readable"
        );
        let mut e = [EpollEvent::default(); 4];
        let _ = s.epoll_wait(sep, &mut e, 0);
        let _ = c.epoll_wait(ep, &mut e, 1);
        c.socket_ioctl(sock, libc::FIONREAD, Some(&mut fionread))
            .unwrap();
    }
}

fn refused_and_reset(mode: &str) {
    let (_sw, server, client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Nobody listens: EPOLLERR with SO_ERROR = ECONNREFUSED.
    let sock = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(c.connect(sock, SERVER), Err(Error::InProgress));
    let ep = c.epoll_create(4).unwrap();
    c.epoll_ctl(
        ep,
        EPOLL_CTL_ADD,
        sock,
        Some(EpollEvent {
            events: events::OUT,
            data: 1,
        }),
    )
    .unwrap();
    let sep = s.epoll_create(4).unwrap();
    let ev = loop {
        let mut e = [EpollEvent::default(); 4];
        let _ = s.epoll_wait(sep, &mut e, 0);
        if c.epoll_wait(ep, &mut e, 10).unwrap() > 0 {
            break e[0];
        }
        assert!(Instant::now() < deadline);
    };
    assert_ne!(ev.events & events::ERR, 0, "{:#x}", ev.events);
    assert_eq!(
        c.getsockopt(sock, libc::SOL_SOCKET, libc::SO_ERROR),
        Ok(libc::ECONNREFUSED)
    );
    assert_eq!(c.getsockopt(sock, libc::SOL_SOCKET, libc::SO_ERROR), Ok(0));
    c.close(sock).unwrap();

    // Connected, then the server aborts: ERR|HUP, the unread bytes, then ECONNRESET.
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.bind(l, SERVER).unwrap();
    s.listen(l, 4).unwrap();
    let sock = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(c.connect(sock, SERVER), Err(Error::InProgress));
    c.epoll_ctl(
        ep,
        EPOLL_CTL_ADD,
        sock,
        Some(EpollEvent {
            events: events::IN,
            data: 2,
        }),
    )
    .unwrap();
    let a = loop {
        let mut e = [EpollEvent::default(); 4];
        let _ = c.epoll_wait(ep, &mut e, 0);
        let _ = s.epoll_wait(sep, &mut e, 1);
        if let Ok((a, _)) = s.accept(l) {
            break a;
        }
        assert!(Instant::now() < deadline);
    };
    assert_eq!(s.write(a, b"0123456789"), Ok(10));
    until_readable(&mut s, sep, &mut c, ep, sock, 10, deadline);
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(sock, &mut buf, mtcp_socket_api::MSG_PEEK), Ok(4));
    assert_eq!(c.recv(sock, &mut buf, 0), Ok(4));
    assert_eq!(&buf, b"0123");
    // More arrives behind the peeked bytes and stays in the connection's receive buffer.
    assert_eq!(s.write(a, b"abcdef"), Ok(6));
    until_readable(&mut s, sep, &mut c, ep, sock, 12, deadline);
    s.abort(a).unwrap();
    let ev = loop {
        let mut e = [EpollEvent::default(); 4];
        let _ = s.epoll_wait(sep, &mut e, 0);
        let n = c.epoll_wait(ep, &mut e, 10).unwrap();
        if n > 0 && e[0].events & events::ERR != 0 {
            break e[0];
        }
        assert!(Instant::now() < deadline);
    };
    assert_eq!(
        ev.events & (events::ERR | events::HUP),
        events::ERR | events::HUP
    );
    // What arrived before the RST is still read (as Linux), then the error, once.
    let mut rest = [0u8; 16];
    assert_eq!(c.recv(sock, &mut rest, 0), Ok(12));
    assert_eq!(&rest[..12], b"456789abcdef");
    assert_eq!(c.recv(sock, &mut rest, 0), Err(Error::ConnReset));
    assert_eq!(c.getsockopt(sock, libc::SOL_SOCKET, libc::SO_ERROR), Ok(0));
    assert_eq!(c.recv(sock, &mut rest, 0), Ok(0));
}

#[test]
fn refused_and_reset_run_to_completion() {
    refused_and_reset("rtc");
}

#[test]
fn refused_and_reset_threaded() {
    refused_and_reset("threaded");
}
