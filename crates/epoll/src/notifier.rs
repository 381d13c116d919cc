//! Cross-thread wake-ups and interrupts for a waiting [`Epoll`](crate::Epoll).
//!
//! A waker stores one atomic flag and, only if a thread is actually asleep, unparks it; the
//! waiter re-checks its ready list after registering itself, so no wake-up is lost. The mutex
//! guarding the list of sleeping threads is touched only by a thread about to sleep and by a
//! waker when somebody sleeps: never while the application is busy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::{self, Thread};
use std::time::Instant;

/// A cloneable handle that wakes or interrupts the thread waiting on an epoll instance.
///
/// Every [`Epoll`](crate::Epoll) owns one (see [`Epoll::notifier`](crate::Epoll::notifier));
/// give clones to the threads that produce readiness (mTCP's stack thread) or handle signals.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Set by a waker, consumed by the waiter before it looks for events.
    pending: AtomicBool,
    /// Latched interrupt, consumed by the next wait that finds no events.
    interrupted: AtomicBool,
    /// Number of registered (possibly sleeping) waiters.
    waiters: AtomicUsize,
    /// The registered waiters' thread handles.
    threads: Mutex<Vec<Thread>>,
}

impl Notifier {
    /// A fresh notifier with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells the waiter to look again: call after making readiness visible to it.
    pub fn wake(&self) {
        self.inner.pending.store(true, SeqCst);
        if self.inner.waiters.load(SeqCst) > 0 {
            for t in self.threads().iter() {
                t.unpark();
            }
        }
    }

    /// Makes the current or next wait that finds no events fail with
    /// [`Error::Interrupted`](crate::Error::Interrupted) (`EINTR`), like mTCP's first SIGINT.
    pub fn interrupt(&self) {
        self.inner.interrupted.store(true, SeqCst);
        self.wake();
    }

    /// [`interrupt`](Self::interrupt) for use inside a signal handler: only atomics, a
    /// `try_lock` and `unpark`, never blocking. If the waiter list is locked at that instant by
    /// a thread that is registering (it re-checks the flags) or leaving, a sleeping waiter may
    /// see the interrupt only at its next wake-up.
    pub fn interrupt_from_signal_handler(&self) {
        self.inner.interrupted.store(true, SeqCst);
        self.inner.pending.store(true, SeqCst);
        if self.inner.waiters.load(SeqCst) > 0 {
            match self.inner.threads.try_lock() {
                Ok(threads) => threads.iter().for_each(Thread::unpark),
                Err(TryLockError::Poisoned(p)) => p.into_inner().iter().for_each(Thread::unpark),
                Err(TryLockError::WouldBlock) => {}
            }
        }
    }

    /// Consumes a pending interrupt: `true` if there was one.
    pub fn take_interrupt(&self) -> bool {
        self.inner.interrupted.swap(false, SeqCst)
    }

    /// Whether an interrupt is pending (without consuming it).
    pub fn is_interrupted(&self) -> bool {
        self.inner.interrupted.load(SeqCst)
    }

    /// Consumes a pending wake-up: `true` if there was one.
    pub fn take_wake(&self) -> bool {
        self.inner.pending.swap(false, SeqCst)
    }

    /// Registers the calling thread as a waiter until the guard drops.
    pub(crate) fn register(&self) -> Registration<'_> {
        self.threads().push(thread::current());
        self.inner.waiters.fetch_add(1, SeqCst);
        Registration { notifier: self }
    }

    /// Sleeps until woken or `deadline` (`None`: no deadline); returns at once if a wake-up is
    /// pending. May return spuriously. The caller must be registered.
    pub(crate) fn park(&self, deadline: Option<Instant>) {
        if self.take_wake() {
            return;
        }
        match deadline {
            None => thread::park(),
            Some(d) => {
                let now = Instant::now();
                if d > now {
                    thread::park_timeout(d - now);
                }
            }
        }
    }

    fn threads(&self) -> MutexGuard<'_, Vec<Thread>> {
        // A panic while holding this lock cannot leave the list inconsistent: keep going.
        self.inner.threads.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the waiter registration when a wait ends (also on unwinding).
pub(crate) struct Registration<'a> {
    notifier: &'a Notifier,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let me = thread::current().id();
        let mut threads = self.notifier.threads();
        if let Some(i) = threads.iter().position(|t| t.id() == me) {
            threads.swap_remove(i);
        }
        self.notifier.inner.waiters.fetch_sub(1, SeqCst);
    }
}
