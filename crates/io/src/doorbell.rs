//! A thread's doorbell: lets a blocking [`Queue::wait_rx`](crate::Queue::wait_rx) end early for
//! work that does not come as frames. mTCP's threaded mode needs it: the stack thread waits for
//! frames *and* for application calls, and must wake at once on either.
//!
//! The waiting thread [`install`]s a shared [`Bell`]; whoever has work for it sets the bell and
//! then unparks the thread. A backend whose wait parks the thread (the in-memory switch) calls
//! [`heed`] when it waits and returns as soon as [`rung`] is true, so the waiter can tell by
//! [`heeded`] whether it may wait on the queue alone. The owner clears the bell before it looks
//! for work, so a ring after that look is never lost.
//!
//! A thread that waits for a descriptor instead (an AF_XDP or AF_PACKET socket, which `unpark`
//! cannot wake) waits with [`poll_fd`]: in `poll(2)` on the descriptor and on the bell's eventfd,
//! which a ring writes while (and only while) the owner sleeps there, so a frame and a ring
//! both end the wait and a ring costs no system call otherwise.

use std::cell::{Cell, RefCell};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

thread_local! {
    static BELL: RefCell<Option<Arc<Bell>>> = const { RefCell::new(None) };
    static HEEDED: Cell<bool> = const { Cell::new(false) };
}

/// A doorbell: a flag (what [`Deref`] gives), and an eventfd for an owner asleep in [`poll_fd`].
#[derive(Debug, Default)]
pub struct Bell {
    rung: AtomicBool,
    /// True while the owner blocks in [`poll_fd`]: a ring then also writes `efd`.
    asleep: AtomicBool,
    /// Made the first time the owner waits in [`poll_fd`] (None if `eventfd` failed).
    efd: OnceLock<Option<OwnedFd>>,
}

impl Deref for Bell {
    type Target = AtomicBool;
    fn deref(&self) -> &AtomicBool {
        &self.rung
    }
}

impl Bell {
    /// The eventfd a ring writes while the owner sleeps in [`poll_fd`].
    fn eventfd(&self) -> Option<RawFd> {
        self.efd
            .get_or_init(|| {
                // SAFETY: plain eventfd creation; the descriptor is owned below.
                let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
                // SAFETY: `fd` is a fresh descriptor nobody else owns.
                (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
            })
            .as_ref()
            .map(AsRawFd::as_raw_fd)
    }

    /// Wakes an owner asleep in [`poll_fd`] (one 8-byte write).
    fn wake_sleeper(&self) {
        // SeqCst, as the owner's store of `asleep` and load of `rung`: one of the two sides
        // sees the other (the owner sees the ring, or this sees the owner asleep).
        if !self.asleep.load(Ordering::SeqCst) {
            return;
        }
        if let Some(Some(fd)) = self.efd.get() {
            let one = 1u64;
            // SAFETY: writes 8 bytes from `one` to an eventfd this bell owns.
            let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }
}

/// Makes `bell` this thread's doorbell.
pub fn install(bell: Arc<Bell>) {
    BELL.with(|b| *b.borrow_mut() = Some(bell));
}

/// This thread's doorbell, installing a new one if it has none.
pub fn current() -> Arc<Bell> {
    BELL.with(|b| b.borrow_mut().get_or_insert_with(Arc::default).clone())
}

/// Clears this thread's doorbell: its owner does so before it looks for work.
pub fn clear() {
    BELL.with(|b| {
        if let Some(b) = b.borrow().as_ref() {
            // A read-modify-write, not a store: the owner's look for work that follows must
            // not be ordered before the clear (a ring in between would then be lost).
            b.rung.swap(false, Ordering::AcqRel);
        }
    });
}

/// Rings `bell`, the doorbell of `thread`, and wakes the thread unless the bell was rung
/// already (then a wake-up is on its way, and the owner has not looked yet).
pub fn ring(bell: &Bell, thread: &Thread) {
    if !bell.rung.swap(true, Ordering::SeqCst) {
        thread.unpark();
        bell.wake_sleeper();
    }
}

/// Whether this thread's doorbell is set (false without one).
pub fn rung() -> bool {
    BELL.with(|b| {
        b.borrow()
            .as_ref()
            .is_some_and(|b| b.rung.load(Ordering::Acquire))
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

/// Waits up to `timeout` (to the microsecond, plus the timer slack) until `fd` polls readable
/// or this thread's doorbell rings; returns at once if it has rung. Without a doorbell (or an
/// eventfd) it waits on `fd` alone.
pub fn poll_fd(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let bell = BELL.with(|b| b.borrow().clone());
    let bell_fd = bell.as_ref().and_then(|b| b.eventfd().map(|e| (b, e)));
    let mut pfds = [
        libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: bell_fd.map_or(-1, |(_, e)| e),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    if let Some((bell, _)) = bell_fd {
        bell.asleep.store(true, Ordering::SeqCst);
        if bell.rung.load(Ordering::SeqCst) {
            bell.asleep.store(false, Ordering::Relaxed);
            return Ok(());
        }
    }
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: two valid pollfds (a negative fd is ignored), a valid timespec, no signal mask.
    let rc = unsafe { libc::ppoll(pfds.as_mut_ptr(), 2, &ts, std::ptr::null()) };
    let err = (rc < 0).then(io::Error::last_os_error);
    if let Some((bell, efd)) = bell_fd {
        bell.asleep.store(false, Ordering::Relaxed);
        if pfds[1].revents != 0 {
            let mut n = 0u64;
            // SAFETY: reads the 8-byte counter of our non-blocking eventfd into `n`.
            let _ = unsafe { libc::read(efd, (&mut n as *mut u64).cast(), 8) };
        }
    }
    match err {
        Some(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bell_is_per_thread_and_rings_when_set() {
        assert!(!rung());
        let bell = Arc::new(Bell::default());
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

    #[test]
    fn a_ring_ends_a_wait_on_a_descriptor_that_never_polls_readable() {
        let bell = current();
        clear();
        // An eventfd nobody writes: only the ring can end the wait.
        // SAFETY: plain eventfd creation, owned below.
        let quiet = unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) };
        let owner = std::thread::current();
        let ringer = std::thread::spawn(move || {
            // Ring only once the owner sleeps in `poll_fd`.
            while !bell.asleep.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            ring(&bell, &owner);
        });
        let start = std::time::Instant::now();
        poll_fd(quiet.as_raw_fd(), Duration::from_secs(30)).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the ring did not end the wait"
        );
        assert!(rung());
        ringer.join().unwrap();
        // Rung: the next wait returns at once without sleeping.
        poll_fd(quiet.as_raw_fd(), Duration::from_secs(30)).unwrap();
        // Cleared: the drained eventfd no longer ends a wait.
        clear();
        let start = std::time::Instant::now();
        poll_fd(quiet.as_raw_fd(), Duration::from_millis(20)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
