//! Per-connection settings (`ConnOptions`: the SO_SNDBUF, SO_RCVBUF, TCP_NODELAY and
//! SO_KEEPALIVE of a socket layer) override the engine-wide `Config` for one connection, and a
//! listener hands its settings to the connections it accepts.

mod common;

use common::peer::*;
use common::{A, B};
use mtcp_tcp::{Config, ConnOptions, Duration, Error, Event, Keepalive};

fn cfg() -> Config {
    Config {
        recv_buffer_bytes: 256 * 1024,
        send_buffer_bytes: 256 * 1024,
        ..Config::default()
    }
}

fn small() -> ConnOptions {
    ConnOptions {
        send_buffer_bytes: 1000,
        recv_buffer_bytes: 4000,
        ..cfg().conn_options()
    }
}

#[test]
fn connect_with_uses_the_connections_own_buffers() {
    let mut t = Harness::new(cfg());
    let now = t.instant();
    t.h = Some(
        t.e.connect_with(now, (A, LOCAL_PORT), (B, PEER_PORT), small())
            .unwrap(),
    );
    let syn = t.expect_one();
    assert_eq!(syn.repr.window_len, 4000);
    assert_eq!(
        syn.repr.options.window_scale,
        Some(0),
        "4000 bytes need no scaling"
    );
    t.iss = syn.repr.seq_number.0;
    let iss = t.iss;
    t.inject(SYN | ACK, PEER_ISS, iss + 1, 65_535, full_options(), &[]);
    t.peer_nxt = PEER_ISS + 1;
    let _ack = t.expect_one();
    assert_eq!(t.e.send(t.handle(), &[7; 5000]), Ok(1000));

    // The engine-wide default is unchanged for the next connection.
    let now = t.instant();
    t.e.connect(now, A, LOCAL_PORT + 1, B, PEER_PORT).unwrap();
    let out = t.output();
    let syn = out.iter().find(|p| p.repr.flags == SYN).expect("a SYN");
    assert_eq!(
        syn.repr.options.window_scale,
        Some(cfg().local_window_shift())
    );
}

#[test]
fn accepted_connections_take_their_listeners_settings() {
    let mut t = Harness::new(cfg());
    let big = ConnOptions {
        recv_buffer_bytes: 1 << 20,
        send_buffer_bytes: 3000,
        ..cfg().conn_options()
    };
    t.e.listen_with(A, LOCAL_PORT, 8, big).unwrap();
    t.inject(SYN, PEER_ISS, 0, 65_535, full_options(), &[]);
    let syn_ack = t.expect_one();
    assert_eq!(syn_ack.repr.flags, SYN | ACK);
    assert_eq!(syn_ack.repr.options.window_scale, Some(5));
    let ours = syn_ack.repr.seq_number.0 + 1;
    t.use_ts = true;
    t.peer_nxt = PEER_ISS + 1;
    t.send(ACK, ours, &[]);
    let h = t.e.accept(LOCAL_PORT).expect("accepted");
    t.h = Some(h);
    assert_eq!(t.e.send(h, &[1; 10_000]), Ok(3000));
    assert!(t.e.info(h).unwrap().window_scaling);
}

#[test]
fn keepalive_switched_on_and_off_per_connection() {
    let ka = Keepalive {
        idle: Duration::from_millis(5_000),
        interval: Duration::from_millis(1_000),
        probes: 1,
    };
    // Engine-wide keepalive is off; this connection turns it on.
    let mut t = Harness::established(cfg());
    let h = t.handle();
    assert_eq!(t.e.next_deadline(), None);
    t.e.set_keepalive(h, Some(ka)).unwrap();
    assert_eq!(t.wait_deadline(100_000), 5_000);
    let probe = t.expect_one();
    assert_eq!(probe.repr.seq_number.0, t.our(0).wrapping_sub(1));
    assert_eq!(t.wait_deadline(100_000), 1_000);
    assert!(t.took_event(Event::Error(Error::TimedOut)));

    // Switched off again: no probe ever.
    let mut t = Harness::established(cfg());
    let h = t.handle();
    t.e.set_keepalive(h, Some(ka)).unwrap();
    t.e.set_keepalive(h, None).unwrap();
    t.advance(20_000);
    t.expect_none();
}
