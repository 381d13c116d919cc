//! The fast path of a whole stack on the in-memory link, both instances driven from this
//! thread (run-to-completion, and threaded where said):
//! - mTCP's coalescing: an application's several writes in one loop turn leave as one
//!   segment (epserver's header and body), because the stack sends once, at the end of a turn;
//!   in threaded mode too, where the turn ends with `epoll_wait` (the stack thread sends);
//! - an echo loop through sockets, epoll, the network layer, the engine and the switch
//!   allocates nothing on the heap per message once warmed up (a counting global allocator,
//!   per thread so the harness' other threads do not disturb it), in threaded mode neither on
//!   the application thread nor on the stack threads.

mod common;

use mtcp_testkit::alloc::{CountingAlloc, allocations};
use std::net::{Ipv4Addr, SocketAddrV4};

use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EpollEvent, Error, Mtcp, events};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    allocations()
}

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 8080);

/// Both contexts of one connection, driven from this thread.
struct Link {
    server: Mtcp,
    client: Mtcp,
    s: Context,
    c: Context,
    /// The server's end and the client's end of the connection.
    a: i32,
    k: i32,
}

impl Link {
    fn connected(mode: &str, nodelay: bool) -> (mtcp_io::mem::MemSwitch, Link) {
        let (sw, server, client) = common::pair(mode);
        let mut s = server.create_context(0).unwrap();
        let mut c = client.create_context(0).unwrap();
        let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        s.setsock_nonblock(l).unwrap();
        s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, SERVER.port()))
            .unwrap();
        s.listen(l, 4).unwrap();
        let k = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        c.setsock_nonblock(k).unwrap();
        if nodelay {
            c.setsockopt(k, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
                .unwrap();
        }
        assert_eq!(c.connect(k, SERVER), Err(Error::InProgress));
        let mut accepted = None;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            // Run-to-completion: this thread drives both stacks (threaded: their threads do).
            c.poll();
            s.poll();
            if let Ok((a, _)) = s.accept(l) {
                accepted = Some(a);
                break;
            }
        }
        let a = accepted.expect("connection accepted");
        s.setsock_nonblock(a).unwrap();
        let mut link = Link {
            server,
            client,
            s,
            c,
            a,
            k,
        };
        link.settle();
        (sw, link)
    }

    /// Polls both sides until neither has anything left to do now and the client's data has
    /// all been acknowledged (with Nagle on, data in flight would hold a short write back; the
    /// server's delayed ACK comes within its timer, so this polls for at most two seconds).
    fn settle(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let work = self.c.poll() + self.s.poll();
            let unacked = self.c.tcp_info(self.k).map_or(0, |i| i.unacked);
            if work == 0 && unacked == 0 {
                return;
            }
        }
        panic!("the link did not settle");
    }

    /// Reads `len` bytes at the server (its stack thread, or this thread, moving them).
    fn read_server(&mut self, len: usize) -> Vec<u8> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut got = vec![0u8; len];
        let mut n = 0;
        while n < len && std::time::Instant::now() < deadline {
            self.s.poll();
            match self.s.read(self.a, &mut got[n..]) {
                Ok(k) => n += k,
                Err(Error::Again) => std::thread::yield_now(),
                Err(e) => panic!("server read: {e:?}"),
            }
        }
        got.truncate(n);
        got
    }

    fn client_tx_frames(&self) -> u64 {
        self.client
            .snapshots()
            .iter()
            .map(|s| s.counters.tx_packets)
            .sum()
    }
}

/// epserver's reply: a header and a body written one after the other, in one loop turn, leave
/// as one segment. In threaded mode the stack thread sends what a turn wrote when the
/// application calls `epoll_wait`, or when the application has made no call for 250 µs
/// (`QUIET_CHECK`): a round whose two writes took longer than that (this thread preempted on a
/// loaded machine) proves nothing and is not counted; every counted round must coalesce.
fn header_and_body_coalesce(mode: &str, nodelay: bool) {
    const ROUNDS: usize = 10;
    const MAX_ROUNDS: usize = 100;
    const HOLD: std::time::Duration = std::time::Duration::from_micros(250);
    let (_sw, mut link) = Link::connected(mode, nodelay);
    let threaded = mode == "threaded";
    let ep = link.c.epoll_create(4).unwrap();
    let mut evs = [EpollEvent::default(); 4];
    let header = [b'h'; 120];
    let body = [b'b'; 300];
    let mut split = Vec::new();
    let mut counted = 0;
    for round in 0..MAX_ROUNDS {
        if counted == ROUNDS {
            break;
        }
        let before = link.client_tx_frames();
        let start = std::time::Instant::now();
        assert_eq!(link.c.write(link.k, &header), Ok(header.len()));
        assert_eq!(link.c.write(link.k, &body), Ok(body.len()));
        let in_time = !threaded || start.elapsed() < HOLD;
        // The end of the loop turn: everything written in it goes out now.
        if threaded {
            link.c.epoll_wait(ep, &mut evs, 0).unwrap();
        } else {
            link.c.poll();
        }
        let got = link.read_server(header.len() + body.len());
        assert_eq!(got.len(), header.len() + body.len(), "round {round}");
        assert_eq!(&got[..header.len()], &header);
        assert_eq!(&got[header.len()..], &body);
        let sent = link.client_tx_frames() - before;
        if in_time {
            counted += 1;
            if sent != 1 {
                split.push((round, sent));
            }
        }
        link.settle();
    }
    assert_eq!(counted, ROUNDS, "{mode}: too few rounds wrote in time");
    assert!(
        split.is_empty(),
        "{mode}: two writes left as several frames in (round, frames) {split:?}"
    );
    let _ = link.server.snapshots();
}

#[test]
fn two_writes_in_one_loop_turn_leave_as_one_segment() {
    header_and_body_coalesce("rtc", false);
}

#[test]
fn two_writes_in_one_loop_turn_leave_as_one_segment_with_nodelay() {
    header_and_body_coalesce("rtc", true);
}

#[test]
fn two_writes_in_one_loop_turn_leave_as_one_segment_threaded() {
    header_and_body_coalesce("threaded", false);
}

#[test]
fn two_writes_in_one_loop_turn_leave_as_one_segment_threaded_with_nodelay() {
    header_and_body_coalesce("threaded", true);
}

/// Heap allocations the stack threads of both contexts made so far (threaded mode), read on
/// those threads; each reading's own result box is counted by the next one.
fn stack_thread_allocs(link: &mut Link) -> u64 {
    let s = link.s.with(|_| allocations()).unwrap();
    let c = link.c.with(|_| allocations()).unwrap();
    s + c
}

/// An echo loop allocates nothing per message once warmed up: on this thread (where the API
/// calls run in both modes) and, in threaded mode, on both stack threads too.
fn echo_loop_allocates_nothing_per_message(mode: &str) {
    let threaded = mode == "threaded";
    let (_sw, mut link) = Link::connected(mode, true);
    let (s_ep, c_ep) = (
        link.s.epoll_create(4).unwrap(),
        link.c.epoll_create(4).unwrap(),
    );
    let watch = |ctx: &mut Context, ep, sock: i32| {
        let ev = EpollEvent {
            events: events::IN,
            data: sock as u64,
        };
        ctx.epoll_ctl(ep, EPOLL_CTL_ADD, sock, Some(ev)).unwrap();
    };
    watch(&mut link.s, s_ep, link.a);
    watch(&mut link.c, c_ep, link.k);
    let mut evs = [EpollEvent::default(); 8];
    let mut msg = [0x42u8; 64];
    let mut round = |link: &mut Link| {
        assert_eq!(link.c.write(link.k, &msg), Ok(64));
        let mut echoed = false;
        for _ in 0..100 {
            let n = link.s.epoll_wait(s_ep, &mut evs, 0).unwrap();
            if n > 0 {
                let got = link.s.read(link.a, &mut msg).unwrap();
                assert_eq!(got, 64);
                assert_eq!(link.s.write(link.a, &msg[..got]), Ok(64));
            }
            let n = link.c.epoll_wait(c_ep, &mut evs, 0).unwrap();
            if n > 0 {
                assert_eq!(link.c.read(link.k, &mut msg), Ok(64));
                echoed = true;
                break;
            }
        }
        assert!(echoed, "no echo came back");
    };
    // Warm-up: tables, queues and buffers reach their working size.
    for _ in 0..300 {
        round(&mut link);
    }
    let stacks_before = if threaded {
        stack_thread_allocs(&mut link)
    } else {
        0
    };
    let before = allocs();
    for _ in 0..3_000 {
        round(&mut link);
    }
    let during = allocs() - before;
    assert_eq!(
        during, 0,
        "{mode}: {during} heap allocations in 3000 echo rounds"
    );
    if threaded {
        // Less the two result boxes of the first reading.
        let stacks = stack_thread_allocs(&mut link) - stacks_before - 2;
        assert_eq!(
            stacks, 0,
            "{stacks} heap allocations on the stack threads in 3000 echo rounds"
        );
    }
}

#[test]
fn mem_echo_loop_allocates_nothing_per_message() {
    echo_loop_allocates_nothing_per_message("rtc");
}

#[test]
fn mem_echo_loop_allocates_nothing_per_message_threaded() {
    echo_loop_allocates_nothing_per_message("threaded");
}

#[test]
fn the_counter_sees_an_allocation() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(allocs() - before, 1);
    drop(v);
}
