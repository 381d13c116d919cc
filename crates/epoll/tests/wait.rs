//! Waiting: timeouts, wake-ups from other threads, interrupts, run-to-completion driving.
//!
//! Cross-thread tests assert only that the wait completes (with a generous guard against a
//! hang), never how long it took.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Error, Events, ReadinessBoard, Timeout};

/// Runs `f` on its own thread and fails the test if it does not finish within a minute.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("wait did not finish: lost wake-up?")
}

#[test]
fn timeout_zero_polls_once() {
    let mut ep = Epoll::new(4);
    ep.ctl(EpollOp::Add, 1, Events::IN, 1).unwrap();
    let mut out = [EpollEvent::default(); 4];
    let mut refreshes = 0;
    assert_eq!(
        ep.wait(&mut out, Timeout::from_millis(0), |_| refreshes += 1),
        Ok(0)
    );
    assert_eq!(refreshes, 1);
    let mut drives = 0;
    assert_eq!(
        ep.wait_driving(&mut out, Timeout::POLL, |_| drives += 1),
        Ok(0)
    );
    assert_eq!(drives, 1);
    // Ready before the call: reported by the single poll.
    ep.set_state(1, Events::IN).unwrap();
    assert_eq!(ep.wait(&mut out, Timeout::POLL, |_| {}), Ok(1));
}

#[test]
fn positive_timeout_expires_with_zero_events() {
    let mut ep = Epoll::new(4);
    ep.ctl(EpollOp::Add, 1, Events::IN, 1).unwrap();
    let mut out = [EpollEvent::default(); 4];
    let start = Instant::now();
    assert_eq!(ep.wait(&mut out, Timeout::from_millis(20), |_| {}), Ok(0));
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "returned before the deadline"
    );
    let start = Instant::now();
    assert_eq!(
        ep.wait_driving(&mut out, Timeout::from_millis(5), |_| {}),
        Ok(0)
    );
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn timeout_from_millis() {
    assert_eq!(Timeout::from_millis(-1), Timeout::Infinite);
    assert_eq!(Timeout::from_millis(-7), Timeout::Infinite);
    assert_eq!(Timeout::from_millis(0), Timeout::POLL);
    assert_eq!(
        Timeout::from_millis(250),
        Timeout::After(Duration::from_millis(250))
    );
}

#[test]
fn empty_output_is_einval() {
    let mut ep = Epoll::new(4);
    let err = ep.wait(&mut [], Timeout::POLL, |_| {}).unwrap_err();
    assert_eq!(err.errno(), libc::EINVAL);
    let err = ep
        .wait_driving(&mut [], Timeout::Infinite, |_| {})
        .unwrap_err();
    assert_eq!(err.errno(), libc::EINVAL);
}

#[test]
fn blocked_wait_is_woken_by_readiness_from_another_thread() {
    let result = within_a_minute(|| {
        let mut ep = Epoll::new(8);
        ep.ctl(EpollOp::Add, 3, Events::IN, 33).unwrap();
        let board = ReadinessBoard::new(8, ep.notifier().clone());
        let producer = board.clone();
        let stack = thread::spawn(move || {
            // Give the waiter a chance to fall asleep first (not required for correctness).
            thread::sleep(Duration::from_millis(20));
            producer.set_state(3, Events::IN).unwrap();
        });
        let mut out = [EpollEvent::default(); 4];
        let n = ep.wait(&mut out, Timeout::Infinite, |ep| {
            board.apply(ep);
        });
        stack.join().unwrap();
        n.map(|n| out[..n].to_vec())
    });
    assert_eq!(result, Ok(vec![EpollEvent::new(Events::IN, 33)]));
}

#[test]
fn plain_wake_without_events_keeps_waiting_until_timeout() {
    let result = within_a_minute(|| {
        let mut ep = Epoll::new(2);
        let notifier = ep.notifier().clone();
        let waker = thread::spawn(move || {
            for _ in 0..10 {
                notifier.wake();
                thread::yield_now();
            }
        });
        let mut out = [EpollEvent::default(); 2];
        let r = ep.wait(&mut out, Timeout::from_millis(30), |_| {});
        waker.join().unwrap();
        r
    });
    assert_eq!(result, Ok(0));
}

#[test]
fn ping_pong_loses_no_wake_up() {
    const ROUNDS: u32 = 2000;
    let result = within_a_minute(|| {
        let mut ep = Epoll::new(4);
        ep.ctl(EpollOp::Add, 1, Events::IN | Events::ET, 1).unwrap();
        let board = ReadinessBoard::new(4, ep.notifier().clone());
        let producer = board.clone();
        let (ack_tx, ack_rx) = mpsc::channel::<()>();
        let stack = thread::spawn(move || {
            for _ in 0..ROUNDS {
                producer.notify(1, Events::IN).unwrap();
                if ack_rx.recv().is_err() {
                    break;
                }
            }
        });
        let mut out = [EpollEvent::default(); 4];
        let mut seen = 0;
        for _ in 0..ROUNDS {
            let n = ep.wait(&mut out, Timeout::Infinite, |ep| {
                board.apply(ep);
            });
            assert_eq!(n, Ok(1));
            seen += 1;
            ack_tx.send(()).unwrap();
        }
        stack.join().unwrap();
        seen
    });
    assert_eq!(result, ROUNDS);
}

#[test]
fn board_keeps_latest_state_of_every_socket() {
    const SOCKETS: u32 = 64;
    let result = within_a_minute(|| {
        let mut ep = Epoll::new(SOCKETS as usize + 1);
        for id in 0..=SOCKETS {
            ep.ctl(EpollOp::Add, id, Events::IN | Events::OUT, u64::from(id))
                .unwrap();
        }
        let board = ReadinessBoard::new(SOCKETS as usize + 1, ep.notifier().clone());
        let producer = board.clone();
        let stack = thread::spawn(move || {
            for round in 0..200u32 {
                for id in 0..SOCKETS {
                    let ev = if (round + id) % 2 == 0 {
                        Events::IN
                    } else {
                        Events::OUT
                    };
                    producer.set_state(id, ev).unwrap();
                }
            }
            // Final states: even ids readable, odd ids nothing.
            for id in 0..SOCKETS {
                let ev = if id % 2 == 0 {
                    Events::IN
                } else {
                    Events::empty()
                };
                producer.set_state(id, ev).unwrap();
            }
            producer.set_state(SOCKETS, Events::OUT).unwrap(); // "done" marker
        });
        let mut out = vec![EpollEvent::default(); 2 * SOCKETS as usize];
        'outer: loop {
            let n = ep.wait(&mut out, Timeout::Infinite, |ep| {
                board.apply(ep);
            });
            for e in &out[..n.unwrap()] {
                if e.data == u64::from(SOCKETS) {
                    break 'outer;
                }
            }
        }
        stack.join().unwrap();
        board.apply(&mut ep);
        let n = ep.poll(&mut out);
        let mut got: Vec<(u64, Events)> = out[..n].iter().map(|e| (e.data, e.events)).collect();
        got.sort_by_key(|&(d, _)| d);
        got
    });
    let mut expect: Vec<(u64, Events)> = (0..SOCKETS)
        .filter(|id| id % 2 == 0)
        .map(|id| (u64::from(id), Events::IN))
        .collect();
    expect.push((u64::from(SOCKETS), Events::OUT));
    assert_eq!(result, expect);
}

#[test]
fn interrupt_wakes_a_blocked_wait_with_eintr() {
    let result = within_a_minute(|| {
        let mut ep = Epoll::new(4);
        ep.ctl(EpollOp::Add, 1, Events::IN, 1).unwrap();
        let notifier = ep.notifier().clone();
        let sig = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            notifier.interrupt();
        });
        let mut out = [EpollEvent::default(); 4];
        let first = ep.wait(&mut out, Timeout::Infinite, |_| {});
        sig.join().unwrap();
        // Consumed: the next wait is not interrupted.
        let second = ep.wait(&mut out, Timeout::POLL, |_| {});
        (first, second)
    });
    assert_eq!(result, (Err(Error::Interrupted), Ok(0)));
    assert_eq!(Error::Interrupted.errno(), libc::EINTR);
}

#[test]
fn interrupt_before_wait_is_latched_and_events_come_first() {
    let mut ep = Epoll::new(4);
    ep.ctl(EpollOp::Add, 1, Events::IN, 1).unwrap();
    let mut out = [EpollEvent::default(); 4];
    ep.notifier().interrupt();
    assert!(ep.notifier().is_interrupted());
    ep.set_state(1, Events::IN).unwrap();
    // Ready events are returned; the interrupt waits for a wait that finds none.
    assert_eq!(ep.wait(&mut out, Timeout::Infinite, |_| {}), Ok(1));
    ep.set_state(1, Events::empty()).unwrap();
    assert_eq!(
        ep.wait(&mut out, Timeout::Infinite, |_| {}),
        Err(Error::Interrupted)
    );
    assert_eq!(ep.wait_driving(&mut out, Timeout::POLL, |_| {}), Ok(0));
    ep.notifier().interrupt_from_signal_handler();
    assert_eq!(
        ep.wait_driving(&mut out, Timeout::POLL, |_| {}),
        Err(Error::Interrupted)
    );
}

#[test]
fn run_to_completion_wait_drives_until_ready() {
    let mut ep = Epoll::new(4);
    ep.ctl(EpollOp::Add, 2, Events::OUT, 2).unwrap();
    let mut out = [EpollEvent::default(); 4];
    let mut drives = 0u32;
    let n = ep.wait_driving(&mut out, Timeout::Infinite, |ep| {
        drives += 1;
        if drives == 100 {
            ep.set_state(2, Events::OUT).unwrap();
        }
    });
    assert_eq!(n, Ok(1));
    assert_eq!(drives, 100);
    assert_eq!(out[0], EpollEvent::new(Events::OUT, 2));
}

#[test]
fn board_keeps_edges_hidden_by_coalescing() {
    let mut ep = Epoll::new(4);
    ep.ctl(EpollOp::Add, 1, Events::IN | Events::ET, 1).unwrap();
    let board = ReadinessBoard::new(4, ep.notifier().clone());
    let mut out = [EpollEvent::default(); 4];
    board.set_state(1, Events::IN).unwrap();
    assert_eq!(board.apply(&mut ep), 1);
    assert_eq!(ep.poll(&mut out), 1);
    // The app drained the socket, then new data came: both published before the next apply.
    board.set_state(1, Events::empty()).unwrap();
    board.set_state(1, Events::IN).unwrap();
    assert_eq!(board.apply(&mut ep), 1, "one socket, coalesced");
    assert_eq!(ep.poll(&mut out), 1, "the rise after the fall is an edge");
    assert_eq!(out[0], EpollEvent::new(Events::IN, 1));
    // Same level again: no edge.
    board.set_state(1, Events::IN).unwrap();
    board.apply(&mut ep);
    assert_eq!(ep.poll(&mut out), 0);
    // `forget` clears what was published.
    board.notify(1, Events::IN).unwrap();
    board.forget(1).unwrap();
    board.apply(&mut ep);
    assert_eq!(ep.poll(&mut out), 0);
    assert_eq!(board.set_state(4, Events::IN), Err(Error::BadId(4)));
}

#[test]
fn epolls_sharing_a_notifier_are_woken_together() {
    let result = within_a_minute(|| {
        let shared = mtcp_epoll::Notifier::new();
        let mut waiters = Vec::new();
        for id in 0..3u32 {
            let mut ep = Epoll::new(4).with_notifier(shared.clone());
            ep.ctl(EpollOp::Add, id, Events::IN, u64::from(id)).unwrap();
            let board = ReadinessBoard::new(4, shared.clone());
            let producer = board.clone();
            waiters.push((
                producer,
                thread::spawn(move || {
                    let mut out = [EpollEvent::default(); 2];
                    let n = ep.wait(&mut out, Timeout::Infinite, |ep| {
                        board.apply(ep);
                    });
                    n.map(|n| out[..n].to_vec())
                }),
            ));
        }
        thread::sleep(Duration::from_millis(20));
        let mut results = Vec::new();
        for (id, (producer, waiter)) in waiters.into_iter().enumerate() {
            producer.set_state(id as u32, Events::IN).unwrap();
            results.push(waiter.join().unwrap());
        }
        results
    });
    let expect: Vec<Result<Vec<EpollEvent>, Error>> = (0..3)
        .map(|id| Ok(vec![EpollEvent::new(Events::IN, id)]))
        .collect();
    assert_eq!(result, expect);
}
