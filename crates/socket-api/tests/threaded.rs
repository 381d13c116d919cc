//! The threaded run mode's own promises: the stack thread works while the application is idle,
//! blocked in a call, or busy in calls without `epoll_wait`; `epoll_wait` honours -1/0/N;
//! `Context::with` runs on the stack thread; and a context whose stack thread died answers
//! `EBADF` instead of hanging.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EpollEvent, Error, events};

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 6000);
/// Bytes per batch: two batches fit the server's 16384-byte receive buffer unread.
const BATCH: usize = 6000;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 8)) as u8
}

fn listen(s: &mut Context) -> (i32, i32) {
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
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

/// Waits (driving the stack in run-to-completion mode) until `l` has a connection to accept.
fn accept(s: &mut Context, l: i32, ep: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut evs = [EpollEvent::default(); 4];
    loop {
        assert!(Instant::now() < deadline, "no connection to accept");
        s.epoll_wait(ep, &mut evs, 10).unwrap();
        match s.accept(l) {
            Ok((id, _)) => return id,
            Err(Error::Again) => continue,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A client on its own thread: connects, then for each `()` it receives writes one batch and
/// reports once the peer has acknowledged everything written so far. Drives its own stack
/// (epoll_wait) throughout, until `stop`.
fn client(
    mut c: Context,
    go: mpsc::Receiver<()>,
    acked: mpsc::Sender<u64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let sock = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let ep = c.epoll_create(4).unwrap();
        let ev = EpollEvent {
            events: events::OUT,
            data: 0,
        };
        c.epoll_ctl(ep, EPOLL_CTL_ADD, sock, Some(ev)).unwrap();
        assert_eq!(c.connect(sock, SERVER), Err(Error::InProgress));
        let mut evs = [EpollEvent::default(); 4];
        let (mut written, mut reported) = (0usize, 0usize);
        while !stop.load(Ordering::Relaxed) {
            c.epoll_wait(ep, &mut evs, 5).unwrap();
            if written == reported && go.try_recv().is_ok() {
                let data: Vec<u8> = (written..written + BATCH).map(pattern).collect();
                let mut off = 0;
                while off < data.len() {
                    match c.write(sock, &data[off..]) {
                        Ok(n) => off += n,
                        Err(Error::Again) | Err(Error::NotConn) => {
                            c.epoll_wait(ep, &mut evs, 5).unwrap();
                        }
                        Err(e) => panic!("client write: {e}"),
                    }
                }
                written += BATCH;
            }
            if written > reported {
                let info = c.tcp_info(sock).unwrap();
                if info.bytes_acked as usize >= written {
                    reported = written;
                    let _ = acked.send(info.bytes_acked);
                }
            }
        }
        c.close(sock).unwrap();
    })
}

/// Reads everything queued on `sock` and checks it is the pattern from byte 0.
fn check_received(s: &mut Context, sock: i32, total: usize) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < total {
        match s.read(sock, &mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            r => panic!("read after {} of {total} bytes: {r:?}", got.len()),
        }
    }
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
}

/// The peer's data is received and acknowledged while the application makes no call, and
/// while it is blocked in `epoll_wait` on an instance that watches something else. Run-to-
/// completion is the control: there, nothing moves until the application drives the stack.
fn stack_works_while_app_is_idle(mode: &str) {
    let (_sw, server, client_mtcp) = common::pair(mode);
    let mut s = server.create_context(0).unwrap();
    let c = client_mtcp.create_context(0).unwrap();
    let (l, ep) = listen(&mut s);
    let (go_tx, go_rx) = mpsc::channel();
    let (acked_tx, acked_rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let peer = client(c, go_rx, acked_tx, Arc::clone(&stop));
    let sock = accept(&mut s, l, ep);

    // Phase 1: the application sleeps, no call at all.
    go_tx.send(()).unwrap();
    if mode == "threaded" {
        let acked = acked_rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            acked,
            Ok(BATCH as u64),
            "stack thread idle while the app was"
        );
    } else {
        // Nobody drives the server's stack: the data waits in its queue, unacknowledged.
        assert!(acked_rx.recv_timeout(Duration::from_millis(300)).is_err());
        let mut evs = [EpollEvent::default(); 4];
        let deadline = Instant::now() + Duration::from_secs(10);
        while acked_rx.try_recv().is_err() {
            assert!(Instant::now() < deadline, "not acknowledged when driven");
            s.epoll_wait(ep, &mut evs, 5).unwrap();
        }
    }

    // Phase 2: the application is blocked in epoll_wait on an instance without this socket.
    let other = s.epoll_create(1).unwrap();
    let mut evs = [EpollEvent::default(); 4];
    go_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(s.epoll_wait(other, &mut evs, 50), Ok(0));
        if let Ok(acked) = acked_rx.try_recv() {
            assert_eq!(acked, 2 * BATCH as u64);
            break;
        }
        assert!(Instant::now() < deadline, "second batch not acknowledged");
    }

    // Everything waits in the receive buffer, in order.
    let mut queued = 0;
    s.socket_ioctl(sock, libc::FIONREAD, Some(&mut queued))
        .unwrap();
    assert_eq!(queued as usize, 2 * BATCH);
    check_received(&mut s, sock, 2 * BATCH);
    stop.store(true, Ordering::Relaxed);
    peer.join().unwrap();
}

#[test]
fn stack_works_while_app_is_idle_threaded() {
    stack_works_while_app_is_idle("threaded");
}

#[test]
fn stack_waits_for_the_app_in_run_to_completion() {
    stack_works_while_app_is_idle("rtc");
}

/// `epoll_wait` in threaded mode: 0 returns at once, N returns after N ms without events, and
/// -1 sleeps until an event (a connection another thread makes later).
#[test]
fn threaded_epoll_wait_timeouts() {
    let (_sw, server, client_mtcp) = common::pair("threaded");
    let mut s = server.create_context(0).unwrap();
    let mut c = client_mtcp.create_context(0).unwrap();
    let (l, ep) = listen(&mut s);
    let mut evs = [EpollEvent::default(); 4];

    assert_eq!(s.epoll_wait(ep, &mut evs, 0), Ok(0));
    let t = Instant::now();
    assert_eq!(s.epoll_wait(ep, &mut evs, 120), Ok(0));
    assert!(t.elapsed() >= Duration::from_millis(120));

    let peer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let sock = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(c.connect(sock, SERVER), Err(Error::InProgress));
        // The client's own stack thread completes the handshake; keep the context alive.
        std::thread::sleep(Duration::from_millis(500));
        c
    });
    let t = Instant::now();
    assert_eq!(s.epoll_wait(ep, &mut evs, -1), Ok(1));
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(evs[0].events, events::IN);
    assert_eq!(evs[0].data, l as u64);
    assert!(s.accept(l).is_ok());
    drop(peer.join().unwrap());
}

/// `Context::with` runs its closure on the stack thread in threaded mode, on the caller's in
/// run-to-completion mode.
#[test]
fn with_runs_where_the_stack_lives() {
    for (mode, expect) in [
        ("threaded", Some("mtcp-stack-0".to_string())),
        ("rtc", None),
    ] {
        let (_sw, server, _client) = common::pair(mode);
        let mut s = server.create_context(0).unwrap();
        let name = s.with(|stack| {
            assert_eq!(stack.cpu(), 0);
            std::thread::current().name().map(str::to_string)
        });
        let here = std::thread::current().name().map(str::to_string);
        assert_eq!(name, Ok(expect.or(here)), "{mode}");
    }
}

/// A context whose stack thread died answers EBADF to every call (epoll_wait -1 included)
/// instead of hanging, and drops cleanly.
#[test]
fn dead_stack_thread_answers_ebadf() {
    let (_sw, server, _client) = common::pair("threaded");
    let mut s = server.create_context(0).unwrap();
    let ep = s.epoll_create(1).unwrap();
    let killed = s.with(|_| -> () { panic!("stack thread killed on purpose by the test") });
    assert_eq!(killed, Err(Error::BadF));
    assert_eq!(
        s.socket(libc::AF_INET, libc::SOCK_STREAM, 0),
        Err(Error::BadF)
    );
    assert_eq!(s.write(ep, b"x"), Err(Error::BadF));
    assert_eq!(s.read(ep, &mut [0u8; 4]), Err(Error::BadF));
    let mut evs = [EpollEvent::default(); 1];
    assert_eq!(s.epoll_wait(ep, &mut evs, -1), Err(Error::BadF));
    let mut arg = 0;
    assert_eq!(
        s.socket_ioctl(ep, libc::FIONREAD, Some(&mut arg)),
        Err(Error::BadF)
    );
    drop(s);
}

/// An application that spins on `read` (EAGAIN) and never calls `epoll_wait` still gets the
/// peer's data: the stack thread takes the stack from a busy application about every
/// millisecond (`BUSY_CHECKS`), so the connection keeps going.
#[test]
fn a_read_loop_without_epoll_wait_gets_the_data() {
    let (_sw, server, client_mtcp) = common::pair("threaded");
    let mut s = server.create_context(0).unwrap();
    let c = client_mtcp.create_context(0).unwrap();
    let (l, ep) = listen(&mut s);
    let (go_tx, go_rx) = mpsc::channel();
    let (acked_tx, _acked_rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let peer = client(c, go_rx, acked_tx, Arc::clone(&stop));
    let sock = accept(&mut s, l, ep);
    go_tx.send(()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < BATCH {
        assert!(Instant::now() < deadline, "{} of {BATCH} bytes", got.len());
        match s.read(sock, &mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            Err(Error::Again) => std::hint::spin_loop(),
            r => panic!("read: {r:?}"),
        }
    }
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    stop.store(true, Ordering::Relaxed);
    peer.join().unwrap();
}
