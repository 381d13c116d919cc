//! The epoll calls (`mtcp_epoll.h`) and `EventToString`.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mtcp_socket_api::{EpollEvent, Error, event_to_string};

use crate::errno::guard;
use crate::global::SIGNAL_GENERATION;
use crate::{ctx, mctx_t};

/// `mtcp_epoll_data_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union MtcpEpollData {
    /// `ptr`.
    pub ptr: *mut c_void,
    /// `sockid`.
    pub sockid: c_int,
    /// `u32`.
    pub u32: u32,
    /// `u64`.
    pub u64: u64,
}

/// `struct mtcp_epoll_event`: not packed, 16 bytes with `data` at offset 8 on x86-64.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MtcpEpollEvent {
    /// `MTCP_EPOLL*` bits.
    pub events: u32,
    /// The application's data, returned with the event.
    pub data: MtcpEpollData,
}

// The C events array is handed to mtcp-socket-api as its `EpollEvent` (same layout).
const _: () = {
    assert!(size_of::<MtcpEpollEvent>() == size_of::<EpollEvent>());
    assert!(align_of::<MtcpEpollEvent>() == align_of::<EpollEvent>());
    assert!(
        std::mem::offset_of!(MtcpEpollEvent, events) == std::mem::offset_of!(EpollEvent, events)
    );
    assert!(std::mem::offset_of!(MtcpEpollEvent, data) == std::mem::offset_of!(EpollEvent, data));
    assert!(size_of::<MtcpEpollData>() == size_of::<u64>());
};

/// `int mtcp_epoll_create(mctx_t, int size)`: `size` must be > 0.
///
/// # Safety
/// `mctx` is NULL or a live context used by this thread only (as for every call below).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_epoll_create(mctx: mctx_t, size: c_int) -> c_int {
    // SAFETY: forwarded contract.
    guard(|| unsafe { ctx(mctx) }?.inner.epoll_create(size))
}

/// `int mtcp_epoll_create1(mctx_t, int flags)`: flags 0 or `O_CLOEXEC`.
///
/// # Safety
/// As [`mtcp_epoll_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_epoll_create1(mctx: mctx_t, flags: c_int) -> c_int {
    // SAFETY: forwarded contract.
    guard(|| unsafe { ctx(mctx) }?.inner.epoll_create1(flags))
}

/// `int mtcp_epoll_ctl(mctx_t, int epid, int op, int sockid, struct mtcp_epoll_event *)`:
/// `event` may be NULL for `MTCP_EPOLL_CTL_DEL` (else `EFAULT`).
///
/// # Safety
/// As [`mtcp_epoll_create`]; `event` is NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_epoll_ctl(
    mctx: mctx_t,
    epid: c_int,
    op: c_int,
    sockid: c_int,
    event: *mut MtcpEpollEvent,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        let ev = (!event.is_null()).then(|| {
            // SAFETY: non-null and readable (caller's contract); the union is read as its
            // widest member, whose low bytes hold `sockid`/`u32` on little-endian targets.
            let e = unsafe { event.read_unaligned() };
            EpollEvent {
                events: e.events,
                // SAFETY: every bit pattern is a valid u64.
                data: unsafe { e.data.u64 },
            }
        });
        c.inner.epoll_ctl(epid, op, sockid, ev)?;
        Ok(0)
    })
}

/// How long one turn of a blocking wait lasts before a signal is checked for.
const SIGNAL_CHECK: Duration = Duration::from_millis(10);

/// `int mtcp_epoll_wait(mctx_t, int epid, struct mtcp_epoll_event *, int maxevents,
/// int timeout)`: up to `maxevents` events; `timeout` -1 blocks, 0 polls, else milliseconds.
/// `EINVAL` for `maxevents <= 0`, `EFAULT` for NULL `events`, `EINTR` once after a signal
/// registered with `mtcp_register_signal`.
///
/// # Safety
/// As [`mtcp_epoll_create`]; `events` has `maxevents` writable entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_epoll_wait(
    mctx: mctx_t,
    epid: c_int,
    events: *mut MtcpEpollEvent,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        if maxevents <= 0 || timeout < -1 {
            return Err(Error::Inval);
        }
        if events.is_null() {
            return Err(Error::Fault);
        }
        // SAFETY: `maxevents` writable entries (caller's contract) of a type with the same
        // layout as `EpollEvent` (asserted at compile time); every bit pattern is valid for it.
        let out = unsafe {
            std::slice::from_raw_parts_mut(events.cast::<EpollEvent>(), maxevents as usize)
        };
        let deadline =
            (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
        loop {
            let generation = SIGNAL_GENERATION.load(Ordering::SeqCst);
            if generation != c.seen_signals {
                c.seen_signals = generation;
                return Err(Error::Intr);
            }
            let turn = match deadline {
                _ if timeout == 0 => Duration::ZERO,
                None => SIGNAL_CHECK,
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
            };
            let n = c.inner.epoll_wait(epid, out, turn.as_millis() as i32)?;
            if n > 0 || timeout == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(n as c_int);
            }
        }
    })
}

/// The bytes `EventToString` returns (the longest mask's text fits).
const EVENT_TEXT: usize = 256;

thread_local! {
    static EVENT_BUF: UnsafeCell<[u8; EVENT_TEXT]> = const { UnsafeCell::new([0; EVENT_TEXT]) };
}

/// `char *EventToString(uint32_t events)`: the names of the bits, `|`-separated ("NONE" for
/// 0). The text lives in a buffer of the calling thread, valid until its next call.
#[unsafe(no_mangle)]
pub extern "C" fn EventToString(events: u32) -> *mut c_char {
    let text = std::panic::catch_unwind(|| event_to_string(events)).unwrap_or_default();
    EVENT_BUF.with(|b| {
        let p = b.get();
        let n = text.len().min(EVENT_TEXT - 1);
        // SAFETY: the buffer is this thread's; no reference to it is alive (C holds only the
        // raw pointer of an earlier call, whose text this call replaces, as documented).
        let buf = unsafe { &mut *p };
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        buf[n] = 0;
        p.cast::<c_char>()
    })
}
