//! Threads that poll a queue become DPDK lcores, so that mbuf pools use their per-lcore caches.
//!
//! A mempool takes and gives back mbufs through a small cache per lcore; a thread without an
//! lcore id (any thread the EAL did not start: the stack thread of threaded mode, an application
//! thread that runs a context) goes to the pool's shared ring for every mbuf instead, a
//! compare-and-swap per allocation and per free, in our code and in the driver's (`net_memif`
//! allocates an mbuf for every frame it receives and frees every frame it sends). `perf` showed
//! the ring at 15 % of a threaded `net_memif` bulk receiver's CPU time and 20 % of its sender's.
//! [`ensure`] registers the calling thread once (`rte_thread_register`); the registration ends
//! with the thread (`rte_thread_unregister`), so the lcore id is reused by a later thread. The
//! mbufs a thread's cache still holds stay in it for the next thread with that id, and count as
//! available (`rte_mempool_avail_count` adds the caches).

use std::cell::Cell;

use crate::ffi;

/// The calling thread's registration: unregistered on drop (when the thread ends).
struct Registration {
    /// Not looked at yet, registered by us, or nothing for us to do (an EAL thread, or no
    /// lcore id left: the thread then works without caches, as before).
    state: Cell<State>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unknown,
    Registered,
    Done,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.state.get() == State::Registered {
            // SAFETY: this thread registered itself in `ensure` and ends now; DPDK's per-thread
            // variables are still valid while Rust's thread-local destructors run.
            unsafe { ffi::mtcp_shim_lcore_unregister() }
        }
    }
}

thread_local! {
    static REGISTRATION: Registration = const {
        Registration { state: Cell::new(State::Unknown) }
    };
}

/// Gives the calling thread an lcore id if it has none (once per thread; afterwards a
/// thread-local read). Called by every queue operation, after the EAL has started.
#[inline]
pub(crate) fn ensure() {
    // `try_with`: a queue dropped by another thread-local's destructor finds no registration
    // (nothing to do then).
    let _ = REGISTRATION.try_with(|r| {
        if r.state.get() == State::Unknown {
            r.state.set(register());
        }
    });
}

#[cold]
fn register() -> State {
    // SAFETY: the EAL runs (a queue exists); registering the calling thread has no other
    // precondition.
    match unsafe { ffi::mtcp_shim_lcore_register() } {
        0 => State::Registered,
        _ => State::Done,
    }
}

/// The calling thread's lcore id, None for a thread without one.
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads a thread-local of DPDK's.
    let id = unsafe { ffi::mtcp_shim_lcore_id() };
    (id != u32::MAX).then_some(id)
}
