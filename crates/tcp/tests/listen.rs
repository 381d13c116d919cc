//! Passive opens: listener queues, SYN cookies, accept, TIME-WAIT reuse.

mod common;

use common::A;
use common::peer::*;
use mtcp_tcp::{Config, Duration, Event, State};
use mtcp_wire::tcp::{TcpOptions, Timestamps};

fn cfg() -> Config {
    Config {
        time_wait: Duration::from_millis(1_000),
        ..Config::default()
    }
}

/// The peer's SYN; returns the SYN-ACK.
fn syn(t: &mut Harness, port: u16, options: TcpOptions) -> Option<common::Packet> {
    t.peer_port = port;
    t.inject(SYN, PEER_ISS, 0, 65_535, options, &[]);
    let mut out = t.output();
    assert!(out.len() <= 1);
    out.pop()
}

#[test]
fn passive_open_negotiates_and_accepts() {
    let mut t = Harness::new(cfg());
    t.e.listen(A, LOCAL_PORT, 4).unwrap();
    let sa = syn(&mut t, PEER_PORT, full_options()).expect("SYN-ACK");
    assert_eq!(sa.repr.flags, SYN | ACK);
    assert_eq!(sa.repr.ack_number.0, PEER_ISS + 1);
    assert_eq!(sa.repr.options.timestamps.map(|t| t.tsecr), Some(1));
    assert!(sa.repr.options.sack_permitted && sa.repr.options.window_scale.is_some());
    // A retransmitted SYN gets the same SYN-ACK again.
    t.inject(SYN, PEER_ISS, 0, 65_535, full_options(), &[]);
    let again = t.expect_one();
    assert_eq!(again.repr.seq_number, sa.repr.seq_number);
    assert!(t.e.accept(LOCAL_PORT).is_none());
    let ts = TcpOptions {
        timestamps: Some(Timestamps { tsval: 2, tsecr: 0 }),
        ..TcpOptions::default()
    };
    t.inject(ACK, PEER_ISS + 1, sa.repr.seq_number.0 + 1, 100, ts, b"hi");
    let h = t.e.accept(LOCAL_PORT).expect("accepted");
    t.h = Some(h);
    assert!(t.took_event(Event::Connected));
    assert_eq!(t.state(), Some(State::Established));
    let mut buf = [0u8; 8];
    assert_eq!(t.e.recv(h, &mut buf), Ok(2));
    let info = t.e.info(h).unwrap();
    assert!(info.timestamps && info.sack && info.window_scaling);
    assert_eq!(info.snd_wnd, 100 << 7);
}

#[test]
fn syn_cookies_when_syn_queue_is_full() {
    let mut t = Harness::new(cfg());
    t.e.listen(A, LOCAL_PORT, 1).unwrap();
    let first = syn(&mut t, 1001, TcpOptions::default()).expect("stateful SYN-ACK");
    assert_eq!(t.e.connection_count(), 1);
    let cookie = syn(
        &mut t,
        1002,
        TcpOptions {
            mss: Some(1400),
            ..TcpOptions::default()
        },
    )
    .expect("cookie");
    assert_eq!(cookie.repr.flags, SYN | ACK);
    assert_eq!(t.e.connection_count(), 1, "a cookie keeps no state");
    // A forged ACK is reset.
    t.peer_port = 1003;
    t.inject(
        ACK,
        PEER_ISS + 1,
        cookie.repr.seq_number.0 + 1,
        1000,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(t.expect_one().repr.flags, RST);
    // The real one creates the connection.
    t.peer_port = 1002;
    t.inject(
        ACK,
        PEER_ISS + 1,
        cookie.repr.seq_number.0 + 1,
        1000,
        TcpOptions::default(),
        b"data",
    );
    let h = t.e.accept(LOCAL_PORT).expect("cookie connection accepted");
    assert_eq!(t.e.state(h), Ok(State::Established));
    assert_eq!(t.e.info(h).unwrap().snd_mss, 1400);
    assert_eq!(t.e.recv_queue(h), Ok(4));
    // The stateful one completes too.
    t.peer_port = 1001;
    t.inject(
        ACK,
        PEER_ISS + 1,
        first.repr.seq_number.0 + 1,
        1000,
        TcpOptions::default(),
        &[],
    );
    assert!(t.e.accept(LOCAL_PORT).is_some());
}

#[test]
fn no_cookies_means_syns_are_dropped_when_full() {
    let mut t = Harness::new(Config {
        syn_cookies: false,
        ..cfg()
    });
    t.e.listen(A, LOCAL_PORT, 1).unwrap();
    assert!(syn(&mut t, 1001, TcpOptions::default()).is_some());
    assert!(syn(&mut t, 1002, TcpOptions::default()).is_none());
}

#[test]
fn full_accept_queue_ignores_the_final_ack() {
    let mut t = Harness::new(cfg());
    t.e.listen(A, LOCAL_PORT, 1).unwrap();
    let a = syn(&mut t, 1001, TcpOptions::default()).unwrap();
    t.inject(
        ACK,
        PEER_ISS + 1,
        a.repr.seq_number.0 + 1,
        1000,
        TcpOptions::default(),
        &[],
    );
    let b = syn(&mut t, 1002, TcpOptions::default()).unwrap();
    t.inject(
        ACK,
        PEER_ISS + 1,
        b.repr.seq_number.0 + 1,
        1000,
        TcpOptions::default(),
        &[],
    );
    assert!(t.e.accept(LOCAL_PORT).is_some());
    assert!(
        t.e.accept(LOCAL_PORT).is_none(),
        "second handshake must wait"
    );
    // The SYN-ACK is retransmitted; this time the ACK is taken.
    t.wait_deadline(10_000);
    let again = t.expect_one();
    assert_eq!(again.repr.flags, SYN | ACK);
    t.inject(
        ACK,
        PEER_ISS + 1,
        b.repr.seq_number.0 + 1,
        1000,
        TcpOptions::default(),
        &[],
    );
    assert!(t.e.accept(LOCAL_PORT).is_some());
}

#[test]
fn exact_rst_in_syn_received_frees_the_half_open_connection() {
    let mut t = Harness::new(cfg());
    t.e.listen(A, LOCAL_PORT, 1).unwrap();
    syn(&mut t, 1001, TcpOptions::default()).unwrap();
    t.inject(RST, PEER_ISS + 1, 0, 0, TcpOptions::default(), &[]);
    assert_eq!(t.e.connection_count(), 0);
    // The SYN queue slot is free again: the next SYN is answered statefully.
    syn(&mut t, 1002, TcpOptions::default()).unwrap();
    assert_eq!(t.e.connection_count(), 1);
}

#[test]
fn time_wait_is_reused_by_a_newer_syn() {
    let mut t = Harness::new(cfg());
    t.e.listen(A, LOCAL_PORT, 4).unwrap();
    let sa = syn(&mut t, PEER_PORT, TcpOptions::default()).unwrap();
    let ours = sa.repr.seq_number.0;
    t.inject(
        ACK,
        PEER_ISS + 1,
        ours + 1,
        1000,
        TcpOptions::default(),
        &[],
    );
    let h = t.e.accept(LOCAL_PORT).unwrap();
    t.h = Some(h);
    t.e.close(h).unwrap();
    assert!(t.expect_one().repr.flags.contains(FIN));
    t.inject(
        FIN | ACK,
        PEER_ISS + 1,
        ours + 2,
        1000,
        TcpOptions::default(),
        &[],
    );
    let _ = t.output();
    assert_eq!(t.state(), Some(State::TimeWait));
    // An old duplicate SYN is only ACKed...
    t.inject(SYN, PEER_ISS, 0, 1000, TcpOptions::default(), &[]);
    let out = t.expect_one();
    assert_eq!(out.repr.flags, ACK);
    // ...a newer one starts a new incarnation.
    t.inject(SYN, PEER_ISS + 100_000, 0, 1000, TcpOptions::default(), &[]);
    let sa2 = t.expect_one();
    assert_eq!(sa2.repr.flags, SYN | ACK);
    assert_eq!(sa2.repr.ack_number.0, PEER_ISS + 100_001);
}
