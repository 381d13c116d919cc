//! Level-triggered, edge-triggered and ONESHOT reporting; ERR/HUP always, RDHUP on request.

use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Events};

/// Everything one `poll` reports, as (data, events) pairs in order.
fn drain(ep: &mut Epoll) -> Vec<(u64, Events)> {
    let mut out = [EpollEvent::default(); 16];
    let n = ep.poll(&mut out);
    out[..n].iter().map(|e| (e.data, e.events)).collect()
}

fn registered(id: u32, events: Events) -> Epoll {
    let mut ep = Epoll::new(16);
    ep.ctl(EpollOp::Add, id, events, u64::from(id)).unwrap();
    ep
}

#[test]
fn level_triggered_repeats_while_condition_holds() {
    let mut ep = registered(3, Events::IN);
    assert_eq!(drain(&mut ep), []);
    ep.set_state(3, Events::IN).unwrap();
    for _ in 0..3 {
        assert_eq!(drain(&mut ep), [(3, Events::IN)]);
    }
    ep.set_state(3, Events::empty()).unwrap();
    assert_eq!(drain(&mut ep), []);
    assert!(!ep.has_ready());
}

#[test]
fn edge_triggered_reports_each_transition_once() {
    let mut ep = registered(3, Events::IN | Events::ET);
    ep.set_state(3, Events::IN).unwrap();
    assert_eq!(drain(&mut ep), [(3, Events::IN)]);
    assert_eq!(drain(&mut ep), []);
    // Still readable, nothing new: silent.
    ep.set_state(3, Events::IN).unwrap();
    assert_eq!(drain(&mut ep), []);
    // New data on an already readable socket: the socket layer signals it.
    ep.notify(3, Events::IN).unwrap();
    assert_eq!(drain(&mut ep), [(3, Events::IN)]);
    assert_eq!(drain(&mut ep), []);
    // Falls and rises again: a new edge.
    ep.set_state(3, Events::empty()).unwrap();
    ep.set_state(3, Events::IN).unwrap();
    assert_eq!(drain(&mut ep), [(3, Events::IN)]);
}

#[test]
fn edge_triggered_report_carries_all_current_conditions() {
    let mut ep = registered(4, Events::IN | Events::OUT | Events::ET);
    ep.set_state(4, Events::OUT).unwrap();
    assert_eq!(drain(&mut ep), [(4, Events::OUT)]);
    ep.set_state(4, Events::OUT | Events::IN).unwrap();
    assert_eq!(drain(&mut ep), [(4, Events::IN | Events::OUT)]);
    assert_eq!(drain(&mut ep), []);
}

#[test]
fn edge_that_vanished_before_the_wait_is_not_reported() {
    let mut ep = registered(4, Events::IN | Events::ET);
    ep.set_state(4, Events::IN).unwrap();
    ep.set_state(4, Events::empty()).unwrap();
    assert_eq!(drain(&mut ep), []);
}

#[test]
fn oneshot_disarms_until_mod() {
    for mode in [Events::ONESHOT, Events::ONESHOT | Events::ET] {
        let mut ep = registered(5, Events::IN | mode);
        ep.set_state(5, Events::IN).unwrap();
        assert_eq!(drain(&mut ep), [(5, Events::IN)], "{mode}");
        assert_eq!(drain(&mut ep), [], "{mode}");
        ep.notify(5, Events::IN).unwrap();
        ep.set_state(5, Events::IN | Events::ERR | Events::HUP)
            .unwrap();
        assert_eq!(
            drain(&mut ep),
            [],
            "disarmed {mode} must stay silent, even for ERR/HUP"
        );
        // MOD re-arms and sees that the socket is ready now.
        ep.ctl(EpollOp::Mod, 5, Events::IN | mode, 55).unwrap();
        assert_eq!(
            drain(&mut ep),
            [(55, Events::IN | Events::ERR | Events::HUP)],
            "{mode}"
        );
        assert_eq!(drain(&mut ep), [], "{mode}");
    }
}

#[test]
fn err_and_hup_are_reported_unregistered() {
    for (mask, trigger) in [
        (Events::IN, Events::empty()),
        (Events::OUT, Events::empty()),
        (Events::empty(), Events::empty()),
        (Events::IN, Events::ET),
    ] {
        let mut ep = registered(6, mask | trigger);
        ep.set_state(6, Events::ERR).unwrap();
        assert_eq!(drain(&mut ep), [(6, Events::ERR)], "{mask} {trigger}");
        ep.set_state(6, Events::ERR | Events::HUP).unwrap();
        // Level-triggered: still ERR, now HUP too; edge-triggered: the HUP edge reports all.
        assert_eq!(
            drain(&mut ep),
            [(6, Events::ERR | Events::HUP)],
            "{mask} {trigger}"
        );
    }
}

#[test]
fn level_triggered_err_repeats() {
    let mut ep = registered(6, Events::IN);
    ep.set_state(6, Events::ERR | Events::HUP).unwrap();
    assert_eq!(drain(&mut ep), [(6, Events::ERR | Events::HUP)]);
    assert_eq!(drain(&mut ep), [(6, Events::ERR | Events::HUP)]);
}

#[test]
fn rdhup_only_if_asked() {
    // Peer's FIN: IN (EOF readable) and RDHUP.
    let fin = Events::IN | Events::RDHUP;
    let mut without = registered(7, Events::IN);
    without.set_state(7, fin).unwrap();
    assert_eq!(drain(&mut without), [(7, Events::IN)]);

    let mut with = registered(7, Events::IN | Events::RDHUP);
    with.set_state(7, fin).unwrap();
    assert_eq!(drain(&mut with), [(7, fin)]);

    let mut only_out = registered(7, Events::OUT);
    only_out.set_state(7, Events::RDHUP).unwrap();
    assert_eq!(drain(&mut only_out), [], "RDHUP alone, not registered");
}

#[test]
fn unregistered_bits_do_not_wake_level_triggered_entries() {
    let mut ep = registered(8, Events::OUT);
    ep.set_state(8, Events::IN | Events::PRI).unwrap();
    assert_eq!(drain(&mut ep), []);
}

#[test]
fn state_before_add_is_seen_by_add() {
    let mut ep = Epoll::new(16);
    ep.set_state(9, Events::OUT).unwrap();
    ep.ctl(EpollOp::Add, 9, Events::OUT | Events::ET, 9)
        .unwrap();
    assert_eq!(drain(&mut ep), [(9, Events::OUT)]);
    assert_eq!(drain(&mut ep), []);
}

#[test]
fn mode_bits_in_state_are_ignored() {
    let mut ep = registered(2, Events::IN | Events::ET);
    ep.set_state(2, Events::ET | Events::ONESHOT).unwrap();
    assert_eq!(drain(&mut ep), []);
}

#[test]
fn ready_order_is_fifo_and_level_entries_rotate() {
    let mut ep = Epoll::new(16);
    for id in [5u32, 2, 9] {
        ep.ctl(EpollOp::Add, id, Events::IN, u64::from(id)).unwrap();
    }
    for id in [9u32, 2, 5] {
        ep.set_state(id, Events::IN).unwrap();
    }
    assert_eq!(
        drain(&mut ep),
        [(9, Events::IN), (2, Events::IN), (5, Events::IN)]
    );
    // A short output buffer takes the head; the rest wait their turn, reported ones go last.
    let mut two = [EpollEvent::default(); 2];
    assert_eq!(ep.poll(&mut two), 2);
    assert_eq!([two[0].data, two[1].data], [9, 2]);
    assert_eq!(ep.poll(&mut two), 2);
    assert_eq!([two[0].data, two[1].data], [5, 9]);
    assert_eq!(ep.poll(&mut []), 0);
}

#[test]
fn many_sockets_each_reported_once_per_poll() {
    let n = 1000u32;
    let mut ep = Epoll::new(n as usize);
    for id in 0..n {
        ep.ctl(EpollOp::Add, id, Events::OUT, u64::from(id) * 10)
            .unwrap();
        ep.set_state(id, Events::OUT).unwrap();
        ep.set_state(id, Events::OUT).unwrap(); // repeated reports do not duplicate
    }
    let mut out = vec![EpollEvent::default(); 2 * n as usize];
    assert_eq!(ep.poll(&mut out), n as usize);
    for (i, e) in out[..n as usize].iter().enumerate() {
        assert_eq!(e.data, i as u64 * 10);
    }
}

#[test]
fn poll_current_reads_the_conditions_of_each_socket_it_reports() {
    let mut ep = Epoll::new(8);
    ep.ctl(EpollOp::Add, 1, Events::IN, 10).unwrap();
    ep.ctl(EpollOp::Add, 2, Events::IN | Events::ET, 20)
        .unwrap();
    ep.notify(1, Events::IN).unwrap();
    ep.notify(2, Events::IN).unwrap();
    let mut out = [EpollEvent::default(); 4];
    // Socket 1's data was read meanwhile: nothing to report for it, and it leaves the list.
    let now = |id| {
        if id == 1 {
            Events::empty()
        } else {
            Events::IN | Events::OUT
        }
    };
    assert_eq!(ep.poll_current(&mut out, now), 1);
    assert_eq!(out[0], EpollEvent::new(Events::IN, 20));
    assert!(!ep.has_ready());
    // A level-triggered socket is reported while `current` says its condition holds.
    ep.notify(1, Events::IN).unwrap();
    let now = |_| Events::IN | Events::HUP;
    assert_eq!(ep.poll_current(&mut out, now), 1);
    assert_eq!(out[0], EpollEvent::new(Events::IN | Events::HUP, 10));
    assert_eq!(ep.poll_current(&mut out, now), 1);
    assert_eq!(ep.poll_current(&mut out, |_| Events::empty()), 0);
    assert!(!ep.has_ready());
}
