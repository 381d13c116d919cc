//! A thread's doorbell: lets a blocking [`Queue::wait_rx`](crate::Queue::wait_rx) end early for
//! work that does not come as frames. mTCP's threaded mode needs it: the stack thread waits for
//! frames *and* for application calls, and must wake at once on either.
//!
//! The waiting thread [`install`]s a shared flag; whoever has work for it sets the flag and then
//! unparks the thread. A backend whose wait parks the thread (the in-memory switch) calls
//! [`heed`] when it waits and returns as soon as [`rung`] is true, so the waiter can tell by
//! [`heeded`] whether it may wait on the queue alone. The owner clears the flag before it looks
//! for work, so a ring after that look is never lost.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Thread;

thread_local! {
    static BELL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    static HEEDED: Cell<bool> = const { Cell::new(false) };
}

/// Makes `bell` this thread's doorbell.
pub fn install(bell: Arc<AtomicBool>) {
    BELL.with(|b| *b.borrow_mut() = Some(bell));
}

/// This thread's doorbell, installing a new one if it has none.
pub fn current() -> Arc<AtomicBool> {
    BELL.with(|b| {
        b.borrow_mut()
            .get_or_insert_with(|| Arc::new(AtomicBool::new(false)))
            .clone()
    })
}

/// Clears this thread's doorbell: its owner does so before it looks for work.
pub fn clear() {
    BELL.with(|b| {
        if let Some(b) = b.borrow().as_ref() {
            // A read-modify-write, not a store: the owner's look for work that follows must
            // not be ordered before the clear (a ring in between would then be lost).
            b.swap(false, Ordering::AcqRel);
        }
    });
}

/// Rings `bell`, the doorbell of `thread`, and unparks the thread unless the bell was rung
/// already (then an unpark is on its way, and the owner has not looked yet).
pub fn ring(bell: &AtomicBool, thread: &Thread) {
    if !bell.swap(true, Ordering::AcqRel) {
        thread.unpark();
    }
}

/// Whether this thread's doorbell is set (false without one).
pub fn rung() -> bool {
    BELL.with(|b| {
        b.borrow()
            .as_ref()
            .is_some_and(|b| b.load(Ordering::Acquire))
    })
}

/// Called by a backend's `wait_rx` that ends when the doorbell rings and the thread is unparked.
pub fn heed() {
    HEEDED.with(|h| h.set(true));
}

/// Whether a `wait_rx` on this thread has said that it heeds the doorbell.
pub fn heeded() -> bool {
    HEEDED.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bell_is_per_thread_and_rings_when_set() {
        assert!(!rung());
        let bell = Arc::new(AtomicBool::new(false));
        install(bell.clone());
        assert!(!rung());
        let other = bell.clone();
        std::thread::spawn(move || {
            // Another thread's view: no bell of its own, and no heeding either.
            assert!(!rung());
            assert!(!heeded());
            other.store(true, Ordering::Release);
        })
        .join()
        .unwrap();
        assert!(rung());
        heed();
        assert!(heeded());
        clear();
        assert!(!rung());
        assert!(Arc::ptr_eq(&current(), &bell));
        ring(&bell, &std::thread::current());
        assert!(rung());
    }
}
