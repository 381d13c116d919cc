//! mTCP's SIGINT behaviour: a real ^C (SIGINT to the process) wakes a blocked wait with EINTR.
//! Alone in its own test binary because it installs a process-wide signal handler.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Error, Events, Notifier, Timeout};

static NOTIFIER: OnceLock<Notifier> = OnceLock::new();

extern "C" fn on_sigint(_signum: libc::c_int) {
    // `OnceLock::get` is an atomic load; the interrupt path uses only atomics, try_lock, unpark.
    if let Some(n) = NOTIFIER.get() {
        n.interrupt_from_signal_handler();
    }
}

#[test]
fn sigint_interrupts_a_blocked_wait() {
    let mut ep = Epoll::new(4);
    ep.ctl(EpollOp::Add, 1, Events::IN, 1).unwrap();
    NOTIFIER.set(ep.notifier().clone()).unwrap();
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: installs a handler that only touches async-signal-safe state (see `on_sigint`);
    // this test binary has no other use of SIGINT.
    let previous = unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
    assert_ne!(previous, libc::SIG_ERR);

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut out = [EpollEvent::default(); 4];
        let first = ep.wait(&mut out, Timeout::Infinite, |_| {});
        let second = ep.wait(&mut out, Timeout::POLL, |_| {});
        let _ = tx.send((first, second));
    });
    // Let the waiter block first (not required: an early interrupt is latched).
    thread::sleep(Duration::from_millis(50));
    // SAFETY: plain syscalls sending SIGINT to this very process, which handles it above.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    assert_eq!(rc, 0);
    let (first, second) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("SIGINT did not wake");
    assert_eq!(first, Err(Error::Interrupted));
    assert_eq!(first.unwrap_err().errno(), libc::EINTR);
    assert_eq!(second, Ok(0), "one ^C interrupts one wait");
}
