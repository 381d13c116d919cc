//! Every `mtcp_epoll_ctl` error, table-driven, through the C-argument entry point.

use mtcp_epoll::{EPOLLET, EPOLLIN, EPOLLOUT, Epoll, EpollEvent, EpollOp, Error, Events};

const CAPACITY: usize = 8;
const OWN_ID: u32 = 7;
const ADD: i32 = EpollOp::Add as i32;
const DEL: i32 = EpollOp::Del as i32;
const MOD: i32 = EpollOp::Mod as i32;

/// An instance where socket 1 is registered and socket 2 is not.
fn instance() -> Epoll {
    let mut ep = Epoll::new(CAPACITY).with_own_id(OWN_ID);
    ep.ctl(EpollOp::Add, 1, Events::IN, 1).unwrap();
    ep
}

#[test]
fn ctl_errors_and_errnos() {
    struct Case {
        what: &'static str,
        op: i32,
        sockid: i32,
        expect: Result<(), i32>,
    }
    let cases = [
        Case {
            what: "add new",
            op: ADD,
            sockid: 2,
            expect: Ok(()),
        },
        Case {
            what: "add twice",
            op: ADD,
            sockid: 1,
            expect: Err(libc::EEXIST),
        },
        Case {
            what: "mod registered",
            op: MOD,
            sockid: 1,
            expect: Ok(()),
        },
        Case {
            what: "mod unknown",
            op: MOD,
            sockid: 2,
            expect: Err(libc::ENOENT),
        },
        Case {
            what: "del registered",
            op: DEL,
            sockid: 1,
            expect: Ok(()),
        },
        Case {
            what: "del unknown",
            op: DEL,
            sockid: 2,
            expect: Err(libc::ENOENT),
        },
        Case {
            what: "op 0",
            op: 0,
            sockid: 1,
            expect: Err(libc::EINVAL),
        },
        Case {
            what: "op 4",
            op: 4,
            sockid: 2,
            expect: Err(libc::EINVAL),
        },
        Case {
            what: "op -1",
            op: -1,
            sockid: 2,
            expect: Err(libc::EINVAL),
        },
        Case {
            what: "negative id",
            op: ADD,
            sockid: -1,
            expect: Err(libc::EBADF),
        },
        Case {
            what: "id = capacity",
            op: ADD,
            sockid: CAPACITY as i32,
            expect: Err(libc::EBADF),
        },
        Case {
            what: "id huge",
            op: DEL,
            sockid: i32::MAX,
            expect: Err(libc::EBADF),
        },
        Case {
            what: "bad id before bad op",
            op: 9,
            sockid: -5,
            expect: Err(libc::EBADF),
        },
        Case {
            what: "own id",
            op: ADD,
            sockid: OWN_ID as i32,
            expect: Err(libc::EINVAL),
        },
    ];
    for case in cases {
        let mut ep = instance();
        let got = ep
            .ctl_raw(case.op, case.sockid, EPOLLIN, 0)
            .map_err(|e| e.errno());
        assert_eq!(got, case.expect, "{}", case.what);
    }
}

#[test]
fn error_variants_name_the_socket() {
    let mut ep = instance();
    assert_eq!(
        ep.ctl(EpollOp::Add, 1, Events::IN, 0),
        Err(Error::AlreadyRegistered(1))
    );
    assert_eq!(
        ep.ctl(EpollOp::Mod, 3, Events::IN, 0),
        Err(Error::NotRegistered(3))
    );
    assert_eq!(
        ep.ctl(EpollOp::Del, 3, Events::IN, 0),
        Err(Error::NotRegistered(3))
    );
    assert_eq!(ep.ctl(EpollOp::Add, 8, Events::IN, 0), Err(Error::BadId(8)));
    assert_eq!(ep.ctl_raw(5, 1, 0, 0), Err(Error::InvalidOp(5)));
    assert_eq!(ep.set_state(99, Events::IN), Err(Error::BadId(99)));
    assert_eq!(ep.notify(99, Events::IN), Err(Error::BadId(99)));
    assert_eq!(ep.forget(99), Err(Error::BadId(99)));
}

#[test]
fn every_error_maps_to_its_errno() {
    let table = [
        (Error::InvalidOp(0), libc::EINVAL),
        (Error::InvalidArgument("x"), libc::EINVAL),
        (Error::BadId(-1), libc::EBADF),
        (Error::Closed(3), libc::EBADF),
        (Error::AlreadyRegistered(1), libc::EEXIST),
        (Error::NotRegistered(1), libc::ENOENT),
        (Error::Interrupted, libc::EINTR),
        (Error::WouldBlock, libc::EAGAIN),
        (Error::BrokenPipe, libc::EPIPE),
    ];
    for (err, errno) in table {
        assert_eq!(err.errno(), errno, "{err}");
    }
}

#[test]
fn del_stops_reports_and_add_again_works() {
    let mut ep = Epoll::new(CAPACITY);
    let mut out = [EpollEvent::default(); 4];
    ep.ctl_raw(ADD, 2, EPOLLIN | EPOLLOUT, 22).unwrap();
    ep.set_state(2, Events::IN).unwrap();
    ep.ctl_raw(DEL, 2, 0, 0).unwrap();
    assert_eq!(ep.poll(&mut out), 0, "deleted socket reported");
    // Re-adding (ET this time) sees the current state at once.
    ep.ctl_raw(ADD, 2, EPOLLIN | EPOLLET, 23).unwrap();
    assert_eq!(ep.poll(&mut out), 1);
    assert_eq!(out[0], EpollEvent::new(Events::IN, 23));
    assert_eq!(ep.poll(&mut out), 0);
}

#[test]
fn mod_changes_mask_and_data() {
    let mut ep = Epoll::new(CAPACITY);
    let mut out = [EpollEvent::default(); 4];
    ep.ctl(EpollOp::Add, 4, Events::IN, 40).unwrap();
    ep.set_state(4, Events::OUT).unwrap();
    assert_eq!(ep.poll(&mut out), 0, "OUT not registered");
    ep.ctl(EpollOp::Mod, 4, Events::IN | Events::OUT, 41)
        .unwrap();
    assert_eq!(ep.poll(&mut out), 1);
    assert_eq!(out[0], EpollEvent::new(Events::OUT, 41));
}

#[test]
fn forget_drops_registration_and_state() {
    let mut ep = Epoll::new(CAPACITY);
    let mut out = [EpollEvent::default(); 4];
    ep.ctl(EpollOp::Add, 5, Events::IN, 5).unwrap();
    ep.set_state(5, Events::IN).unwrap();
    ep.forget(5).unwrap();
    assert!(!ep.is_registered(5));
    assert_eq!(ep.poll(&mut out), 0);
    // The reused id starts with no state.
    ep.ctl(EpollOp::Add, 5, Events::IN, 50).unwrap();
    assert_eq!(ep.poll(&mut out), 0);
}

#[test]
fn handles_can_move_between_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Epoll>();
    send::<mtcp_epoll::Pipe>();
    send_sync::<mtcp_epoll::Notifier>();
    send_sync::<mtcp_epoll::ReadinessBoard>();
}
