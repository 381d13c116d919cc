//! Every call's errno, table-driven, in the order mtcp-api.md lists them; every test runs in
//! both run modes (the threaded mode's calls cross to the stack thread and back).

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use mtcp_socket_api::{
    Context, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EpollEvent, Error, MSG_PEEK, events,
};

fn addr(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), port)
}

struct Ids {
    stream: i32,
    bound: i32,
    listener: i32,
    ep: i32,
    pipe_r: i32,
}

fn setup(ctx: &mut Context) -> Ids {
    let stream = ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let bound = ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    ctx.bind(bound, addr(8080)).unwrap();
    let listener = ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    ctx.bind(listener, addr(80)).unwrap();
    ctx.listen(listener, 16).unwrap();
    let ep = ctx.epoll_create(16).unwrap();
    let [pipe_r, _pipe_w] = ctx.pipe().unwrap();
    Ids {
        stream,
        bound,
        listener,
        ep,
        pipe_r,
    }
}

type Call = fn(&mut Context, &Ids) -> Result<(), Error>;

fn errnos_match_mtcp_api(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let mut ctx = server.create_context(0).unwrap();
    let ids = setup(&mut ctx);
    let ev = Some(EpollEvent {
        events: events::IN,
        data: 0,
    });
    let cases: Vec<(&str, Call, i32)> = vec![
        (
            "socket AF_UNIX",
            |c, _| c.socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map(drop),
            libc::EAFNOSUPPORT,
        ),
        (
            "socket SOCK_DGRAM",
            |c, _| c.socket(libc::AF_INET, libc::SOCK_DGRAM, 0).map(drop),
            libc::EINVAL,
        ),
        ("bind bad id", |c, _| c.bind(999, addr(1)), libc::EBADF),
        ("bind negative id", |c, _| c.bind(-1, addr(1)), libc::EBADF),
        (
            "bind epoll id",
            |c, i| c.bind(i.ep, addr(1)),
            libc::ENOTSOCK,
        ),
        (
            "bind twice",
            |c, i| c.bind(i.bound, addr(8081)),
            libc::EINVAL,
        ),
        (
            "bind port of a listener",
            |c, i| c.bind(i.stream, addr(80)),
            libc::EADDRINUSE,
        ),
        (
            "listen backlog 0",
            |c, i| c.listen(i.bound, 0),
            libc::EINVAL,
        ),
        (
            "listen backlog -1",
            |c, i| c.listen(i.bound, -1),
            libc::EINVAL,
        ),
        (
            "listen backlog > max_concurrency",
            |c, i| c.listen(i.bound, 1_000_000),
            libc::EINVAL,
        ),
        ("listen bad id", |c, _| c.listen(999, 1), libc::EBADF),
        ("listen pipe", |c, i| c.listen(i.pipe_r, 1), libc::ENOTSOCK),
        (
            "accept on non-listener",
            |c, i| c.accept(i.stream).map(drop),
            libc::EINVAL,
        ),
        ("accept bad id", |c, _| c.accept(999).map(drop), libc::EBADF),
        (
            "accept empty queue",
            |c, i| c.accept(i.listener).map(drop),
            libc::EAGAIN,
        ),
        (
            "accept on epoll",
            |c, i| c.accept(i.ep).map(drop),
            libc::ENOTSOCK,
        ),
        (
            "read unconnected",
            |c, i| c.read(i.stream, &mut [0; 4]).map(drop),
            libc::ENOTCONN,
        ),
        (
            "read bad id",
            |c, _| c.read(999, &mut [0; 4]).map(drop),
            libc::EBADF,
        ),
        (
            "read epoll",
            |c, i| c.read(i.ep, &mut [0; 4]).map(drop),
            libc::ENOTSOCK,
        ),
        (
            "recv bad flags",
            |c, i| c.recv(i.stream, &mut [0; 4], 0x4000).map(drop),
            libc::EINVAL,
        ),
        (
            "recv peek unconnected",
            |c, i| c.recv(i.stream, &mut [0; 4], MSG_PEEK).map(drop),
            libc::ENOTCONN,
        ),
        (
            "write unconnected",
            |c, i| c.write(i.stream, b"x").map(drop),
            libc::ENOTCONN,
        ),
        (
            "write bad id",
            |c, _| c.write(999, b"x").map(drop),
            libc::EBADF,
        ),
        (
            "read empty pipe",
            |c, i| c.read(i.pipe_r, &mut [0; 4]).map(drop),
            libc::EAGAIN,
        ),
        (
            "write read end of pipe",
            |c, i| c.write(i.pipe_r, b"x").map(drop),
            libc::EBADF,
        ),
        (
            "connect listener",
            |c, i| c.connect(i.listener, addr(1)),
            libc::EINVAL,
        ),
        (
            "connect bad id",
            |c, _| c.connect(999, addr(1)),
            libc::EBADF,
        ),
        (
            "connect port 0",
            |c, i| c.connect(i.stream, addr(0)),
            libc::EINVAL,
        ),
        (
            "shutdown unconnected",
            |c, i| c.shutdown(i.stream, libc::SHUT_WR),
            libc::ENOTCONN,
        ),
        (
            "shutdown bad how",
            |c, i| c.shutdown(i.stream, 7),
            libc::EINVAL,
        ),
        (
            "getpeername unconnected",
            |c, i| c.getpeername(i.stream).map(drop),
            libc::ENOTCONN,
        ),
        (
            "getsockname bad id",
            |c, _| c.getsockname(999).map(drop),
            libc::EBADF,
        ),
        (
            "getsockname epoll",
            |c, i| c.getsockname(i.ep).map(drop),
            libc::ENOTSOCK,
        ),
        (
            "getsockopt unknown",
            |c, i| {
                c.getsockopt(i.stream, libc::SOL_SOCKET, libc::SO_BROADCAST)
                    .map(drop)
            },
            libc::ENOPROTOOPT,
        ),
        (
            "setsockopt unknown",
            |c, i| c.setsockopt(i.stream, libc::IPPROTO_TCP, 9999, 1),
            libc::ENOPROTOOPT,
        ),
        (
            "setsockopt tiny rcvbuf",
            |c, i| c.setsockopt(i.stream, libc::SOL_SOCKET, libc::SO_RCVBUF, 1),
            libc::EINVAL,
        ),
        (
            "ioctl unknown request",
            |c, i| c.socket_ioctl(i.stream, 0x1234, Some(&mut 0)),
            libc::EINVAL,
        ),
        (
            "ioctl NULL argp",
            |c, i| c.socket_ioctl(i.stream, libc::FIONREAD, None),
            libc::EFAULT,
        ),
        (
            "ioctl bad id",
            |c, _| c.socket_ioctl(999, libc::FIONREAD, Some(&mut 0)),
            libc::EBADF,
        ),
        (
            "epoll_create size 0",
            |c, _| c.epoll_create(0).map(drop),
            libc::EINVAL,
        ),
        (
            "epoll_create1 bad flags",
            |c, _| c.epoll_create1(1).map(drop),
            libc::EINVAL,
        ),
        (
            "epoll_ctl bad epid",
            |c, i| c.epoll_ctl(999, EPOLL_CTL_ADD, i.stream, Some(EpollEvent::default())),
            libc::EBADF,
        ),
        (
            "epoll_ctl epid not epoll",
            |c, i| {
                c.epoll_ctl(
                    i.stream,
                    EPOLL_CTL_ADD,
                    i.bound,
                    Some(EpollEvent::default()),
                )
            },
            libc::EINVAL,
        ),
        (
            "epoll_ctl bad op",
            |c, i| c.epoll_ctl(i.ep, 9, i.stream, Some(EpollEvent::default())),
            libc::EINVAL,
        ),
        (
            "epoll_ctl bad sockid",
            |c, i| c.epoll_ctl(i.ep, EPOLL_CTL_ADD, 999, Some(EpollEvent::default())),
            libc::EBADF,
        ),
        (
            "epoll_ctl on itself",
            |c, i| c.epoll_ctl(i.ep, EPOLL_CTL_ADD, i.ep, Some(EpollEvent::default())),
            libc::EINVAL,
        ),
        (
            "epoll_ctl MOD unknown",
            |c, i| c.epoll_ctl(i.ep, EPOLL_CTL_MOD, i.bound, Some(EpollEvent::default())),
            libc::ENOENT,
        ),
        (
            "epoll_ctl DEL unknown",
            |c, i| c.epoll_ctl(i.ep, EPOLL_CTL_DEL, i.bound, None),
            libc::ENOENT,
        ),
        (
            "epoll_wait bad epid",
            |c, _| {
                c.epoll_wait(999, &mut [EpollEvent::default(); 1], 0)
                    .map(drop)
            },
            libc::EBADF,
        ),
        (
            "epoll_wait not epoll",
            |c, i| {
                c.epoll_wait(i.stream, &mut [EpollEvent::default(); 1], 0)
                    .map(drop)
            },
            libc::EINVAL,
        ),
        (
            "epoll_wait maxevents 0",
            |c, i| c.epoll_wait(i.ep, &mut [], 0).map(drop),
            libc::EINVAL,
        ),
        ("close bad id", |c, _| c.close(999), libc::EBADF),
    ];
    for (name, call, errno) in &cases {
        match call(&mut ctx, &ids) {
            Ok(()) => panic!("{name}: succeeded, expected errno {errno}"),
            Err(e) => assert_eq!(e.errno(), *errno, "{name}: got {e}"),
        }
    }
    // ADD twice: EEXIST.
    ctx.epoll_ctl(ids.ep, EPOLL_CTL_ADD, ids.stream, ev)
        .unwrap();
    assert_eq!(
        ctx.epoll_ctl(ids.ep, EPOLL_CTL_ADD, ids.stream, ev),
        Err(Error::Exist)
    );
    assert_eq!(Error::Exist.errno(), libc::EEXIST);
    // A connect in progress: EINPROGRESS, then EALREADY.
    let s = ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let peer = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
    assert_eq!(ctx.connect(s, peer).unwrap_err().errno(), libc::EINPROGRESS);
    assert_eq!(ctx.connect(s, peer).unwrap_err().errno(), libc::EALREADY);
    // close frees the id; as in mTCP (a FIFO free list) it is the last to come back: the next
    // socket takes the next id never used.
    ctx.close(ids.stream).unwrap();
    assert_eq!(ctx.close(ids.stream).unwrap_err().errno(), libc::EBADF);
    assert_eq!(ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0), Ok(s + 1));
}

fn create_context_twice_or_out_of_range(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let _ctx = server.create_context(0).unwrap();
    assert!(server.create_context(0).is_err());
    assert_eq!(server.create_context(1).err(), Some(Error::Inval));
}

fn socket_ids_run_out_with_enfile(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let mut ctx = server.create_context(0).unwrap();
    for _ in 0..64 {
        ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    }
    assert_eq!(
        ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0)
            .unwrap_err()
            .errno(),
        libc::ENFILE
    );
}

fn pipe_moves_bytes_and_reports_epoll_events(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let mut ctx = server.create_context(0).unwrap();
    let [r, w] = ctx.pipe().unwrap();
    let ep = ctx.epoll_create(4).unwrap();
    ctx.epoll_ctl(
        ep,
        EPOLL_CTL_ADD,
        r,
        Some(EpollEvent {
            events: events::IN,
            data: 1,
        }),
    )
    .unwrap();
    let mut evs = [EpollEvent::default(); 4];
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(0));
    assert_eq!(ctx.write(w, b"ping"), Ok(4));
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(1));
    assert_eq!(
        evs[0],
        EpollEvent {
            events: events::IN,
            data: 1
        }
    );
    let mut buf = [0u8; 8];
    assert_eq!(ctx.read(r, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    ctx.close(w).unwrap();
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(1));
    assert_eq!(evs[0].events, events::IN | events::HUP);
    assert_eq!(ctx.read(r, &mut buf), Ok(0));
}

fn pipe_write_end_reports_a_closed_reader_and_edges(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let mut ctx = server.create_context(0).unwrap();
    let [r, w] = ctx.pipe().unwrap();
    let ep = ctx.epoll_create(4).unwrap();
    let watch = |events| Some(EpollEvent { events, data: 2 });
    ctx.epoll_ctl(ep, EPOLL_CTL_ADD, w, watch(events::OUT | events::ET))
        .unwrap();
    let mut evs = [EpollEvent::default(); 4];
    // Writable at once (ADD reports the current level), then quiet: edge-triggered.
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(1));
    assert_eq!(evs[0].events, events::OUT);
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(0));
    // Filling the pipe, then draining a byte, is a new edge for the writer.
    let big = vec![7u8; mtcp_socket_api::PIPE_CAPACITY + 10];
    assert_eq!(ctx.write(w, &big), Ok(mtcp_socket_api::PIPE_CAPACITY));
    assert_eq!(ctx.write(w, b"x"), Err(Error::Again));
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(0));
    assert_eq!(ctx.read(r, &mut [0u8; 1]), Ok(1));
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(1));
    assert_eq!(evs[0].events, events::OUT);
    // An empty read does not consume anything.
    assert_eq!(ctx.read(r, &mut []), Ok(0));
    // Closing the reader: the writer hears ERR|HUP (unasked) and writes fail with EPIPE.
    ctx.close(r).unwrap();
    assert_eq!(ctx.epoll_wait(ep, &mut evs, 0), Ok(1));
    assert_eq!(evs[0].events, events::ERR | events::HUP);
    assert_eq!(ctx.write(w, b"x"), Err(Error::Pipe));
    ctx.close(w).unwrap();
}

fn epoll_level_edge_and_oneshot_on_pipes(mode: &str) {
    let (_sw, server, _client) = common::pair(mode);
    let mut ctx = server.create_context(0).unwrap();
    let ep = ctx.epoll_create(8).unwrap();
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for (data, mode) in [(1, 0), (2, events::ET), (3, events::ONESHOT)] {
        let [r, w] = ctx.pipe().unwrap();
        let ev = Some(EpollEvent {
            events: events::IN | mode,
            data,
        });
        ctx.epoll_ctl(ep, EPOLL_CTL_ADD, r, ev).unwrap();
        reads.push(r);
        writes.push(w);
    }
    let mut evs = [EpollEvent::default(); 8];
    let mut wait = |ctx: &mut mtcp_socket_api::Context| {
        let n = ctx.epoll_wait(ep, &mut evs, 0).unwrap();
        let mut d: Vec<u64> = evs[..n].iter().map(|e| e.data).collect();
        d.sort_unstable();
        d
    };
    assert_eq!(wait(&mut ctx), [] as [u64; 0]);
    for &w in &writes {
        assert_eq!(ctx.write(w, b"ab"), Ok(2));
    }
    assert_eq!(wait(&mut ctx), [1, 2, 3]);
    // Level-triggered repeats; edge-triggered waits for new data; one-shot is disarmed.
    assert_eq!(wait(&mut ctx), [1]);
    for &w in &writes {
        assert_eq!(ctx.write(w, b"c"), Ok(1));
    }
    assert_eq!(wait(&mut ctx), [1, 2]);
    // Drained: the level-triggered one stops at once, without a new event.
    assert_eq!(ctx.read(reads[0], &mut [0u8; 8]), Ok(3));
    assert_eq!(wait(&mut ctx), [] as [u64; 0]);
    // MOD re-arms the one-shot socket, which still has data.
    let ev = Some(EpollEvent {
        events: events::IN | events::ONESHOT,
        data: 30,
    });
    ctx.epoll_ctl(ep, EPOLL_CTL_MOD, reads[2], ev).unwrap();
    assert_eq!(wait(&mut ctx), [30]);
    assert_eq!(wait(&mut ctx), [] as [u64; 0]);
    // Closing a watched socket removes it from the instance.
    ctx.close(reads[1]).unwrap();
    assert_eq!(ctx.write(writes[1], b"d"), Err(Error::Pipe));
    assert_eq!(wait(&mut ctx), [] as [u64; 0]);
}

/// Each test once per run mode: `<name>_rtc` and `<name>_threaded`.
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod rtc {
            $( #[test] fn $name() { super::$name("rtc") } )*
        }
        mod threaded {
            $( #[test] fn $name() { super::$name("threaded") } )*
        }
    };
}

both_modes!(
    errnos_match_mtcp_api,
    create_context_twice_or_out_of_range,
    socket_ids_run_out_with_enfile,
    pipe_moves_bytes_and_reports_epoll_events,
    pipe_write_end_reports_a_closed_reader_and_edges,
    epoll_level_edge_and_oneshot_on_pipes,
);
