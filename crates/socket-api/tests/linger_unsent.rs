//! Regression: a bulk transfer lost its last bytes when the sender stopped its stack (dropped
//! its context) as soon as `tcp_info().unacked` was 0. At the end of a transfer the receiver's
//! window may be closed: then everything in flight is acknowledged (`unacked` 0) while the tail
//! still sits unsent in the send buffer, and nothing sends it once the stack is gone (the peer
//! saw "stalled" a few hundred bytes to a few kB short). `notsent` counts that tail and
//! `TcpInfo::undelivered` covers it, the FIN included.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_socket_api::{EPOLL_CTL_ADD, EpollEvent, Error, events};

const PORT: u16 = 5100;
/// More than the client's receive buffer (16384 in `common::conf`): the tail waits for the
/// window to reopen.
const LEN: usize = 16384 + 3000;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(151) ^ (i >> 7)) as u8
}

fn tail_survives(mode: &str) {
    let (_sw, server, client) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.setsock_nonblock(l).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .unwrap();
    s.listen(l, 4).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);

    let cs = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(cs).unwrap();
    match c.connect(cs, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), PORT)) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let sep = s.epoll_create(4).unwrap();
    let cep = c.epoll_create(4).unwrap();
    c.epoll_ctl(
        cep,
        EPOLL_CTL_ADD,
        cs,
        Some(EpollEvent {
            events: events::OUT | events::IN,
            data: 1,
        }),
    )
    .unwrap();
    let mut evs = [EpollEvent::default(); 4];
    let a = loop {
        assert!(Instant::now() < deadline, "no connection");
        let _ = c.epoll_wait(cep, &mut evs, 0);
        let _ = s.epoll_wait(sep, &mut evs, 1);
        if let Ok((a, _)) = s.accept(l) {
            break a;
        }
    };
    s.epoll_ctl(
        sep,
        EPOLL_CTL_ADD,
        a,
        Some(EpollEvent {
            events: events::IN | events::OUT,
            data: 2,
        }),
    )
    .unwrap();
    // The client sends nothing and closes its side at once; it reads nothing yet.
    loop {
        let _ = c.epoll_wait(cep, &mut evs, 1);
        if c.shutdown(cs, libc::SHUT_WR).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "client never connected");
    }
    // The server writes everything, shuts down and waits for the client's FIN: the transfer
    // is "done" from its side.
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let (mut sent, mut eof) = (0, false);
    let mut buf = [0u8; 256];
    while sent < LEN || !eof {
        assert!(
            Instant::now() < deadline,
            "server: sent {sent}, eof {eof}, info {:?}",
            s.tcp_info(a)
        );
        if sent < LEN {
            match s.write(a, &data[sent..]) {
                Ok(n) => sent += n,
                Err(Error::Again) => {}
                Err(e) => panic!("server write: {e}"),
            }
            if sent == LEN {
                s.shutdown(a, libc::SHUT_WR).unwrap();
            }
        }
        match s.read(a, &mut buf) {
            Ok(0) => eof = true,
            Ok(n) => panic!("server got {n} bytes"),
            Err(Error::Again) => {}
            Err(e) => panic!("server read: {e}"),
        }
        let _ = c.epoll_wait(cep, &mut evs, 0);
        let _ = s.epoll_wait(sep, &mut evs, 1);
    }
    // Let everything the window allows arrive and be acknowledged: the client's window closes
    // (the last piece below one segment may wait for the persist timer, and its ACK for the
    // delayed-ACK timer).
    let info = loop {
        let _ = c.epoll_wait(cep, &mut evs, 1);
        let _ = s.epoll_wait(sep, &mut evs, 1);
        let info = s.tcp_info(a).unwrap();
        if info.unacked == 0 && info.snd_wnd == 0 {
            break info;
        }
        assert!(Instant::now() < deadline, "window never closed: {info:?}");
    };
    assert!(
        info.notsent > 0 && info.notsent < LEN as u32,
        "the tail must wait, counted as notsent: {info:?}"
    );
    assert!(info.undelivered(), "{info:?}");

    // The client now reads on its own thread, while the server lingers on `undelivered` and
    // then stops its stack for good.
    let reader = std::thread::spawn(move || {
        // Late enough that a server stopping at `unacked == 0` would already be gone.
        std::thread::sleep(Duration::from_millis(100));
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 4096];
        let mut evs = [EpollEvent::default(); 4];
        loop {
            match c.read(cs, &mut buf) {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(Error::Again) => {
                    if Instant::now() > deadline {
                        return Err(format!("client got {} of {LEN}", got.len()));
                    }
                    let _ = c.epoll_wait(cep, &mut evs, 5);
                }
                Err(e) => return Err(format!("client read: {e}")),
            }
        }
    });
    let limit = Instant::now() + Duration::from_secs(10);
    while Instant::now() < limit && s.tcp_info(a).is_ok_and(|i| i.undelivered()) {
        let _ = s.epoll_wait(sep, &mut evs, 5);
    }
    let end = s.tcp_info(a);
    assert!(
        end.as_ref().map_or(true, |i| !i.undelivered()),
        "server still has undelivered data after 10 s: {end:?}"
    );
    s.close(a).unwrap();
    drop(s);
    drop(server);
    let got = reader.join().unwrap().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "bytes differ");
}

#[test]
fn unsent_tail_delivered_rtc() {
    tail_survives("rtc");
}

#[test]
fn unsent_tail_delivered_threaded() {
    tail_survives("threaded");
}
