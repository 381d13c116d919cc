//! Data received but not yet read when the peer resets the connection stays readable through
//! `Engine::take_unread` until the events are collected (Linux keeps it readable after a RST).

mod common;

use common::{A, B, LinkParams, Sim};
use mtcp_tcp::{Config, Event, Handle};

const PORT: u16 = 80;

/// A connection from `a` to `b`, accepted by `b`: (a's handle, b's handle).
fn accepted(sim: &mut Sim) -> (Handle, Handle) {
    sim.b.listen(B, PORT, 8).unwrap();
    let now = sim.instant();
    let ca = sim.a.connect(now, A, 40_000, B, PORT).unwrap();
    let mut cb = None;
    assert!(sim.run_until(1_000, |s| {
        cb = cb.or_else(|| s.b.accept(PORT));
        cb.is_some()
    }));
    (ca, cb.unwrap())
}

/// A connection from `a` to `b` that `b` accepted, with `data` sent by `a` and delivered to
/// `b` but not read, after which `a` aborts it (RST). Returns b's handle.
fn reset_with_unread(sim: &mut Sim, data: &[u8]) -> Handle {
    let (ca, cb) = accepted(sim);
    sim.a.events().for_each(drop);
    assert_eq!(sim.a.send(ca, data).unwrap(), data.len());
    assert!(sim.run_until(1_000, |s| s.b.recv_queue(cb) == Ok(data.len())));
    sim.b.events().for_each(drop);
    sim.a.abort(ca).unwrap();
    // Deliver the RST.
    let end = sim.now + 100;
    while sim.now < end && sim.step(10) {}
    cb
}

#[test]
fn data_before_a_reset_stays_readable_until_the_events_are_collected() {
    let mut sim = Sim::new(
        Config::default(),
        Config::default(),
        LinkParams::perfect(1),
        3,
    );
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let cb = reset_with_unread(&mut sim, &data);
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    let mut reset = false;
    while let Some((h, ev)) = sim.b.poll_event() {
        if h == cb && ev == Event::Reset {
            reset = true;
            while let n @ 1.. = sim.b.take_unread(h, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    assert!(reset, "b saw no reset");
    assert_eq!(got, data);
    assert_eq!(sim.b.take_unread(cb, &mut buf), 0, "taken once");
}

#[test]
fn unread_data_is_dropped_once_the_events_are_collected() {
    let mut sim = Sim::new(
        Config::default(),
        Config::default(),
        LinkParams::perfect(1),
        4,
    );
    let cb = reset_with_unread(&mut sim, b"never read");
    assert!(sim.b.events().any(|(h, ev)| h == cb && ev == Event::Reset));
    // `any` stopped at the reset; the rest of the queue is collected here.
    sim.b.events().for_each(drop);
    let mut buf = [0u8; 64];
    assert_eq!(sim.b.take_unread(cb, &mut buf), 0);
    assert!(sim.b.recv(cb, &mut buf).is_err(), "the connection is gone");
}

#[test]
fn an_aborted_connection_keeps_nothing() {
    let mut sim = Sim::new(
        Config::default(),
        Config::default(),
        LinkParams::perfect(1),
        5,
    );
    let (ca, cb) = accepted(&mut sim);
    sim.a.send(ca, b"unread").unwrap();
    assert!(sim.run_until(1_000, |s| s.b.recv_queue(cb) == Ok(6)));
    // b's application aborts with the data unread: it asked for none of it.
    sim.b.abort(cb).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(sim.b.take_unread(cb, &mut buf), 0);
}
