//! Conformance tests: one helper call builds a connection in a given state, then the test plays
//! the peer segment by segment.

mod common;

use common::peer::*;
use common::{A, B};
use mtcp_tcp::{Config, Duration, Error, Event, Keepalive, State};
use mtcp_wire::tcp::TcpOptions;

fn cfg() -> Config {
    Config {
        time_wait: Duration::from_millis(1_000),
        ..Config::default()
    }
}

#[test]
fn every_state_is_reachable() {
    for s in [
        State::SynSent,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ] {
        let t = Harness::in_state(cfg(), s);
        assert_eq!(t.state(), Some(s));
    }
}

#[test]
fn rst_for_port_without_listener() {
    let mut t = Harness::new(cfg());
    t.inject(SYN, 5000, 0, 1000, TcpOptions::default(), &[]);
    let rst = t.expect_one();
    assert_eq!(rst.repr.flags, RST | ACK);
    assert_eq!((rst.repr.seq_number.0, rst.repr.ack_number.0), (0, 5001));
    t.inject(ACK, 5000, 777, 1000, TcpOptions::default(), b"xy");
    let rst = t.expect_one();
    assert_eq!(rst.repr.flags, RST);
    assert_eq!(rst.repr.seq_number.0, 777);
    // A RST is never answered.
    t.inject(RST, 5000, 0, 0, TcpOptions::default(), &[]);
    t.expect_none();
}

#[test]
fn syn_offers_options_and_negotiation_needs_both_sides() {
    let mut t = Harness::new(cfg());
    let now = t.instant();
    t.h = Some(t.e.connect(now, A, LOCAL_PORT, B, PEER_PORT).unwrap());
    let syn = t.expect_one();
    let o = &syn.repr.options;
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.window_scale, Some(cfg().local_window_shift()));
    assert!(o.sack_permitted);
    assert!(o.timestamps.is_some());

    let t = Harness::established(cfg());
    let info = t.e.info(t.handle()).unwrap();
    assert!(!info.timestamps && !info.sack && !info.window_scaling);
    assert_eq!(info.snd_mss, 1000);

    let t = Harness::established_with(cfg(), full_options());
    let info = t.e.info(t.handle()).unwrap();
    assert!(info.timestamps && info.sack && info.window_scaling);
    assert_eq!(
        info.snd_mss, 1448,
        "timestamps take 12 bytes of every segment"
    );
}

#[test]
fn mss_is_clamped_by_mtu() {
    let t = Harness::established_with(
        cfg(),
        TcpOptions {
            mss: Some(9000),
            ..TcpOptions::default()
        },
    );
    assert_eq!(t.e.info(t.handle()).unwrap().snd_mss, 1460);
    let t = Harness::established_with(
        Config { mtu: 1000, ..cfg() },
        TcpOptions {
            mss: Some(9000),
            ..TcpOptions::default()
        },
    );
    assert_eq!(t.e.info(t.handle()).unwrap().snd_mss, 960);
}

#[test]
fn delayed_ack_every_second_segment_or_timeout() {
    let mut t = Harness::established(cfg());
    let una = t.our(0);
    t.send(ACK, una, &[1; 1000]);
    t.expect_none();
    t.send(ACK, una, &[2; 1000]);
    let ack = t.expect_one();
    assert_eq!(ack.repr.ack_number.0, PEER_ISS + 1 + 2000);
    t.send(ACK, una, &[3; 100]);
    t.expect_none();
    let waited = t.wait_deadline(1_000);
    assert_eq!(waited, 40);
    let ack = t.expect_one();
    assert_eq!(ack.repr.ack_number.0, PEER_ISS + 1 + 2100);
    let mut buf = [0u8; 4096];
    assert_eq!(t.e.recv(t.handle(), &mut buf), Ok(2100));
    assert!(t.took_event(Event::Readable));
}

#[test]
fn out_of_order_data_is_acked_at_once_with_sack_and_reassembled() {
    let mut t = Harness::established_with(cfg(), full_options());
    let una = t.our(0);
    let base = PEER_ISS + 1;
    // Skip the first 100 bytes.
    t.peer_nxt = base + 100;
    t.send(ACK, una, &[b'b'; 100]);
    let dup = t.expect_one();
    assert_eq!(dup.repr.ack_number.0, base);
    let sack = &dup.repr.options.sack_blocks;
    assert_eq!(sack.len(), 1);
    assert_eq!((sack[0].left.0, sack[0].right.0), (base + 100, base + 200));
    // Filling the hole is acknowledged at once too.
    t.peer_nxt = base;
    t.send(ACK, una, &[b'a'; 100]);
    let ack = t.expect_one();
    assert_eq!(ack.repr.ack_number.0, base + 200);
    assert!(ack.repr.options.sack_blocks.is_empty());
    let mut buf = [0u8; 300];
    assert_eq!(t.e.recv(t.handle(), &mut buf), Ok(200));
    assert_eq!(&buf[..100], &[b'a'; 100][..]);
    assert_eq!(&buf[100..200], &[b'b'; 100][..]);
}

#[test]
fn rst_checks_follow_rfc5961() {
    let mut t = Harness::established(cfg());
    let una = t.our(0);
    // In window but not exact: challenge ACK, connection lives.
    t.inject(RST, PEER_ISS + 10, 0, 0, TcpOptions::default(), &[]);
    let ch = t.expect_one();
    assert_eq!(ch.repr.flags, ACK);
    assert_eq!(ch.repr.ack_number.0, PEER_ISS + 1);
    assert_eq!(t.state(), Some(State::Established));
    // Out of window: ignored.
    t.inject(RST, PEER_ISS + 10_000_000, 0, 0, TcpOptions::default(), &[]);
    t.expect_none();
    // SYN on a synchronized connection: challenge ACK.
    t.inject(SYN, PEER_ISS + 5, 0, 1000, TcpOptions::default(), &[]);
    assert_eq!(t.expect_one().repr.flags, ACK);
    // ACK of data never sent: ACK and drop.
    t.inject(
        ACK,
        PEER_ISS + 1,
        una + 5000,
        1000,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(t.expect_one().repr.flags, ACK);
    // Exact: reset.
    t.inject(RST, PEER_ISS + 1, 0, 0, TcpOptions::default(), &[]);
    assert!(t.took_event(Event::Reset));
    assert_eq!(t.e.state(t.handle()), Err(Error::InvalidHandle));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut t = Harness::established(Config {
        challenge_ack_limit: 2,
        ..cfg()
    });
    for _ in 0..2 {
        t.inject(RST, PEER_ISS + 10, 0, 0, TcpOptions::default(), &[]);
        assert_eq!(t.output().len(), 1);
    }
    t.inject(RST, PEER_ISS + 10, 0, 0, TcpOptions::default(), &[]);
    t.expect_none();
    t.advance(1_000);
    t.inject(RST, PEER_ISS + 10, 0, 0, TcpOptions::default(), &[]);
    assert_eq!(t.output().len(), 1);
}

#[test]
fn half_close_then_peer_data_then_time_wait() {
    let mut t = Harness::in_state(cfg(), State::FinWait1);
    let after_fin = t.our(1);
    // The peer ACKs our FIN and keeps sending.
    t.send(ACK, after_fin, b"more");
    assert_eq!(t.state(), Some(State::FinWait2));
    let mut buf = [0u8; 16];
    assert_eq!(t.e.recv(t.handle(), &mut buf), Ok(4));
    t.send(FIN | ACK, after_fin, &[]);
    let ack = t.expect_one();
    assert_eq!(ack.repr.ack_number.0, PEER_ISS + 1 + 4 + 1);
    assert_eq!(t.state(), Some(State::TimeWait));
    assert_eq!(t.e.recv(t.handle(), &mut buf), Ok(0));
    // A retransmitted FIN in TIME-WAIT is ACKed again.
    t.inject(
        FIN | ACK,
        PEER_ISS + 5,
        after_fin,
        1000,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(t.expect_one().repr.ack_number.0, PEER_ISS + 6);
    t.advance(1_000);
    assert!(t.took_event(Event::Closed));
    assert_eq!(t.e.connection_count(), 0);
}

#[test]
fn passive_close_through_last_ack() {
    let mut t = Harness::in_state(cfg(), State::CloseWait);
    // We may still send after the peer's FIN.
    assert_eq!(t.e.send(t.handle(), b"late"), Ok(4));
    let out = t.expect_one();
    assert_eq!(out.payload, b"late");
    t.e.close(t.handle()).unwrap();
    let fin = t.expect_one();
    assert!(fin.repr.flags.contains(FIN));
    assert_eq!(fin.repr.seq_number.0, t.our(4));
    assert_eq!(t.state(), Some(State::LastAck));
    let end = t.our(5);
    t.send(ACK, end, &[]);
    assert!(t.took_event(Event::Closed));
    assert_eq!(t.e.connection_count(), 0);
}

#[test]
fn fin_wait_2_is_bounded_after_close_but_not_after_shutdown() {
    let mut t = Harness::in_state(cfg(), State::FinWait2);
    t.advance(1_000);
    assert!(t.took_event(Event::Closed));
    assert_eq!(t.e.connection_count(), 0);

    let mut t = Harness::established(cfg());
    t.e.shutdown_write(t.handle()).unwrap();
    assert!(t.expect_one().repr.flags.contains(FIN));
    let end = t.our(1);
    t.send(ACK, end, &[]);
    assert_eq!(t.state(), Some(State::FinWait2));
    t.advance(100_000);
    assert_eq!(
        t.state(),
        Some(State::FinWait2),
        "half-closed connections wait for the peer"
    );
}

/// mTCP's `tcp_timewait = 0` with a FIN-WAIT-2 bound of its own: the closed connection outlives
/// its zero TIME-WAIT until the peer's FIN, so the peer's late ACK (a window update while it
/// still reads) is taken quietly instead of drawing a RST that would cost it the data.
#[test]
fn fin_wait_2_has_its_own_bound_when_time_wait_is_zero() {
    let config = Config {
        time_wait: Duration::from_millis(0),
        fin_wait2_timeout: Some(Duration::from_secs(60)),
        ..Config::default()
    };
    let mut t = Harness::in_state(config, State::FinWait2);
    t.advance(30_000);
    assert_eq!(t.state(), Some(State::FinWait2));
    let fin_ack = t.our(1);
    t.send(ACK, fin_ack, &[]);
    t.expect_none();
    t.send(FIN | ACK, fin_ack, &[]);
    let ack = t.expect_one();
    assert!(!ack.repr.flags.contains(RST));
    assert_eq!(ack.repr.ack_number.0, PEER_ISS + 2);
    t.advance(1);
    assert!(t.took_event(Event::Closed));
    assert_eq!(t.e.connection_count(), 0);

    // Without the peer's FIN the bound ends it.
    let config = Config {
        time_wait: Duration::from_millis(0),
        fin_wait2_timeout: Some(Duration::from_secs(60)),
        ..Config::default()
    };
    let mut t = Harness::in_state(config, State::FinWait2);
    t.advance(60_000);
    assert!(t.took_event(Event::Closed));
    assert_eq!(t.e.connection_count(), 0);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut t = Harness::in_state(cfg(), State::Closing);
    let end = t.our(1);
    t.send(ACK, end, &[]);
    assert_eq!(t.state(), Some(State::TimeWait));
}

#[test]
fn simultaneous_open() {
    let mut t = Harness::in_state(cfg(), State::SynSent);
    // The peer's SYN crosses ours.
    t.inject(
        SYN,
        PEER_ISS,
        0,
        65_535,
        TcpOptions {
            mss: Some(1200),
            ..TcpOptions::default()
        },
        &[],
    );
    t.peer_nxt = PEER_ISS + 1;
    assert_eq!(t.state(), Some(State::SynReceived));
    let synack = t.expect_one();
    assert_eq!(synack.repr.flags, SYN | ACK);
    assert_eq!(synack.repr.seq_number.0, t.iss);
    assert_eq!(synack.repr.ack_number.0, PEER_ISS + 1);
    let una = t.our(0);
    t.send(SYN | ACK, una, &[]);
    // Its SYN-ACK repeats the SYN (seq below rcv_nxt): only the ACK part matters.
    let _ = t.output();
    t.peer_nxt = PEER_ISS + 1;
    t.send(ACK, una, &[]);
    assert_eq!(t.state(), Some(State::Established));
}

#[test]
fn syn_retries_back_off_then_time_out() {
    let mut t = Harness::in_state(
        Config {
            syn_retries: 3,
            ..cfg()
        },
        State::SynSent,
    );
    let mut waits = Vec::new();
    for _ in 0..3 {
        waits.push(t.wait_deadline(100_000));
        let syn = t.expect_one();
        assert_eq!(syn.repr.flags, SYN);
    }
    assert_eq!(waits, [1000, 2000, 4000]);
    t.wait_deadline(100_000);
    assert!(t.took_event(Event::Error(Error::TimedOut)));
    t.expect_none(); // no RST: nothing was synchronized
}

/// After an unacceptable ACK in SYN-SENT the SYN is resent 2 ms after the first such ACK: a
/// second one does not put it off. With `syn_retries` 0 nothing is resent: the open waits the
/// full RTO for a SYN-ACK, then times out.
#[test]
fn bad_acks_in_syn_sent_bring_the_syn_forward_never_later() {
    let mut t = Harness::in_state(cfg(), State::SynSent);
    let bad = t.our(76);
    for wait in [0, 1] {
        t.advance(wait);
        t.inject(ACK, PEER_ISS, bad, 65_535, TcpOptions::default(), &[]);
        assert_eq!(t.expect_one().repr.flags, RST);
    }
    assert_eq!(t.wait_deadline(100_000), 1, "2 ms after the first bad ACK");
    assert_eq!(t.expect_one().repr.flags, SYN);

    let mut t = Harness::in_state(
        Config {
            syn_retries: 0,
            ..cfg()
        },
        State::SynSent,
    );
    t.inject(ACK, PEER_ISS, bad, 65_535, TcpOptions::default(), &[]);
    assert_eq!(t.expect_one().repr.flags, RST);
    assert_eq!(t.wait_deadline(100_000), 1000);
    assert!(t.took_event(Event::Error(Error::TimedOut)));
    t.expect_none();
}

#[test]
fn data_retries_end_with_timeout_without_rst() {
    let mut t = Harness::established(Config {
        max_retries: 2,
        ..cfg()
    });
    t.e.send(t.handle(), b"hello").unwrap();
    assert_eq!(t.expect_one().payload, b"hello");
    for _ in 0..2 {
        t.wait_deadline(100_000);
        assert_eq!(t.expect_one().payload, b"hello");
    }
    t.wait_deadline(100_000);
    assert!(t.took_event(Event::Error(Error::TimedOut)));
    t.expect_none(); // as Linux: the peer has been silent, a RST would not help
}

#[test]
fn zero_window_probe_then_resume() {
    let mut t = Harness::established(cfg());
    let una = t.our(0);
    t.inject(ACK, PEER_ISS + 1, una, 0, TcpOptions::default(), &[]);
    t.e.send(t.handle(), &[7; 500]).unwrap();
    t.expect_none();
    t.wait_deadline(100_000);
    let probe = t.expect_one();
    assert_eq!(probe.repr.seq_number.0, una.wrapping_sub(1));
    assert!(probe.payload.is_empty());
    t.inject(ACK, PEER_ISS + 1, una, 1000, TcpOptions::default(), &[]);
    assert_eq!(t.expect_one().payload.len(), 500);
}

#[test]
fn info_counts_unsent_bytes_behind_a_zero_window_until_the_fin_is_acked() {
    let mut t = Harness::established(cfg());
    let h = t.handle();
    let una = t.our(0);
    // Everything in flight acknowledged, but the window is closed: 500 bytes and the FIN wait.
    t.inject(ACK, PEER_ISS + 1, una, 0, TcpOptions::default(), &[]);
    t.e.send(h, &[7; 500]).unwrap();
    t.e.shutdown_write(h).unwrap();
    t.expect_none();
    let info = t.e.info(h).unwrap();
    assert_eq!((info.unacked, info.notsent), (0, 500), "{info:?}");
    assert!(info.undelivered());
    // The window opens: data and FIN go out, in flight now.
    t.inject(ACK, PEER_ISS + 1, una, 1000, TcpOptions::default(), &[]);
    let seg = t.expect_one();
    assert_eq!(seg.payload.len(), 500);
    let info = t.e.info(h).unwrap();
    assert_eq!((info.unacked, info.notsent), (501, 0), "{info:?}");
    assert!(info.undelivered());
    // Data acknowledged, FIN not yet: still undelivered.
    t.inject(
        ACK,
        PEER_ISS + 1,
        t.our(500),
        1000,
        TcpOptions::default(),
        &[],
    );
    let info = t.e.info(h).unwrap();
    assert_eq!((info.unacked, info.notsent), (1, 0), "{info:?}");
    assert!(info.undelivered());
    t.inject(
        ACK,
        PEER_ISS + 1,
        t.our(501),
        1000,
        TcpOptions::default(),
        &[],
    );
    let info = t.e.info(h).unwrap();
    assert_eq!(info.state, State::FinWait2);
    assert!(!info.undelivered(), "{info:?}");
}

#[test]
fn nagle_holds_small_segments_until_acked_unless_nodelay() {
    let mut t = Harness::established(cfg());
    let h = t.handle();
    t.e.send(h, b"a").unwrap();
    assert_eq!(t.expect_one().payload, b"a");
    t.e.send(h, b"b").unwrap();
    t.expect_none();
    t.e.send(h, b"c").unwrap();
    t.expect_none();
    let acked = t.our(1);
    t.send(ACK, acked, &[]);
    assert_eq!(t.expect_one().payload, b"bc");
    t.e.set_nodelay(h, true).unwrap();
    t.e.send(h, b"d").unwrap();
    assert_eq!(t.expect_one().payload, b"d");
}

#[test]
fn three_duplicate_acks_trigger_fast_retransmit() {
    let mut t = Harness::established(cfg());
    let h = t.handle();
    t.e.send(h, &[1; 5000]).unwrap();
    let segs = t.output();
    assert_eq!(segs.len(), 5);
    let una = t.our(0);
    for _ in 0..2 {
        t.send(ACK, una, &[]);
        t.expect_none();
    }
    t.send(ACK, una, &[]);
    let r = t.expect_one();
    assert_eq!(r.repr.seq_number.0, una);
    assert_eq!(r.payload.len(), 1000);
    assert_eq!(t.e.info(h).unwrap().total_retrans, 1);
}

#[test]
fn sack_recovery_retransmits_only_holes() {
    let mut t = Harness::established_with(cfg(), full_options());
    let h = t.handle();
    t.e.send(h, &[1; 1448 * 6]).unwrap();
    let segs = t.output();
    assert_eq!(segs.len(), 6);
    let una = t.our(0);
    // Segments 0 and 2 lost; 1, 3, 4, 5 arrive.
    let s = |i: u32| una + 1448 * i;
    t.send_sack(una, &[(s(1), s(2))]);
    t.send_sack(una, &[(s(3), s(4)), (s(1), s(2))]);
    t.send_sack(una, &[(s(3), s(5)), (s(1), s(2))]);
    let r = t.output();
    assert!(!r.is_empty());
    assert_eq!(r[0].repr.seq_number.0, s(0));
    t.send_sack(una, &[(s(3), s(6)), (s(1), s(2))]);
    let r2 = t.output();
    let seqs: Vec<u32> = r.iter().chain(&r2).map(|p| p.repr.seq_number.0).collect();
    assert!(seqs.contains(&s(2)), "hole 2 not retransmitted: {seqs:?}");
    assert!(
        !seqs.contains(&s(1)) && !seqs.contains(&s(3)),
        "SACKed data resent: {seqs:?}"
    );
}

#[test]
fn keepalive_probes_then_timeout() {
    let ka = Keepalive {
        idle: Duration::from_millis(5_000),
        interval: Duration::from_millis(1_000),
        probes: 2,
    };
    let mut t = Harness::established(Config {
        keepalive: Some(ka),
        ..cfg()
    });
    let una = t.our(0);
    assert_eq!(t.wait_deadline(100_000), 5_000);
    let p = t.expect_one();
    assert_eq!(p.repr.seq_number.0, una.wrapping_sub(1));
    // An answer resets the idle timer.
    t.send(ACK, una, &[]);
    assert_eq!(t.wait_deadline(100_000), 5_000);
    t.expect_one();
    assert_eq!(t.wait_deadline(100_000), 1_000);
    t.expect_one();
    t.wait_deadline(100_000);
    assert!(t.took_event(Event::Error(Error::TimedOut)));
}

#[test]
fn idle_timeout_aborts() {
    let mut t = Harness::established(Config {
        idle_timeout: Some(Duration::from_secs(30)),
        ..cfg()
    });
    t.wait_deadline(100_000);
    assert_eq!(t.now, 10_000 + 30_000);
    assert!(t.took_event(Event::Error(Error::TimedOut)));
    assert!(t.expect_one().repr.flags.contains(RST));
}

#[test]
fn paws_drops_old_timestamps() {
    let mut t = Harness::established_with(cfg(), full_options());
    let una = t.our(0);
    t.send(ACK | PSH, una, b"new");
    t.advance(100);
    let _ = t.output();
    let seq = t.peer_nxt;
    let old = TcpOptions {
        timestamps: Some(mtcp_wire::tcp::Timestamps { tsval: 0, tsecr: 0 }),
        ..TcpOptions::default()
    };
    t.inject(ACK, seq, una, 1000, old, b"old");
    let ack = t.expect_one();
    assert_eq!(ack.repr.ack_number.0, seq);
    assert_eq!(t.e.recv_queue(t.handle()), Ok(3));
}

#[test]
fn receive_window_right_edge_never_moves_left() {
    let mut t = Harness::established(Config {
        recv_buffer_bytes: 4000,
        ..cfg()
    });
    let una = t.our(0);
    let mut last_edge = 0u32;
    for i in 0..4 {
        t.send(ACK, una, &[i; 1000]);
        for p in t.output() {
            let edge = p.repr.ack_number.0 + u32::from(p.repr.window_len);
            assert!(edge >= last_edge, "right edge moved left");
            last_edge = edge;
        }
    }
    t.advance(100);
    for p in t.output() {
        let edge = p.repr.ack_number.0 + u32::from(p.repr.window_len);
        assert!(edge >= last_edge);
        assert_eq!(p.repr.window_len, 0);
    }
    // Data past a zero window is not accepted.
    t.send(ACK, una, b"x");
    assert_eq!(t.e.recv_queue(t.handle()), Ok(4000));
    let mut buf = [0u8; 4000];
    assert_eq!(t.e.recv(t.handle(), &mut buf), Ok(4000));
    // Reading everything announces the open window.
    let upd = t.expect_one();
    assert_eq!(upd.repr.window_len, 4000);
}

/// The first ephemeral port is a secret point of 49152-65535 (a random start for RFC 6056 §2.2's
/// sequential search), so a client restarted against the same server is unlikely to reuse its
/// last source port (whose server side may still be in TIME-WAIT); after it the ports go on in
/// order.
#[test]
fn ephemeral_ports_start_at_a_secret_point_and_go_on_in_order() {
    let firsts: std::collections::HashSet<u16> = (0..8u8)
        .map(|k| {
            let mut e = mtcp_tcp::Engine::new(cfg(), [k; 16]);
            let first = e.next_ephemeral_port();
            assert!(first >= 49_152, "{first}");
            let h = e.connect(mtcp_tcp::Instant(0), A, 0, B, 80).unwrap();
            assert_eq!(e.tuple(h).unwrap().local_port, first);
            let h2 = e.connect(mtcp_tcp::Instant(0), A, 0, B, 80).unwrap();
            let second = e.tuple(h2).unwrap().local_port;
            assert_eq!(second, if first == u16::MAX { 49_152 } else { first + 1 });
            first
        })
        .collect();
    assert!(firsts.len() >= 6, "eight keys gave first ports {firsts:?}");
}
