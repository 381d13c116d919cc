//! mTCP's C API: `libmtcp.so` / `libmtcp.a` with the headers `include/mtcp_api.h` and
//! `include/mtcp_epoll.h`, so that existing mTCP C programs (epserver, epwget, ...) build
//! unchanged against this reimplementation and link with `-lmtcp -lpthread`.
//!
//! ```text
//!   C program: mtcp_init / mtcp_create_context / mtcp_epoll_wait / mtcp_read ...
//!        │  extern "C" (this crate): pointers checked, errno set, no panic crosses
//!   ┌────▼──────────── process-global Mtcp (mtcp_init) ────────────────────┐
//!   │  mctx_t = Box<MtcpContext { int cpu; ... Context }>, one per core    │
//!   └────┬─────────────────────────────────────────────────────────────────┘
//!        │  mtcp-socket-api: Context::socket / accept / epoll_wait ...
//!   mtcp-tcp engine · mtcp-io backends (mem, tap, afpacket, ...)
//! ```
//!
//! Every call that fails returns -1 (or NULL) and sets `errno`; the Rust errors become errno
//! values in one place ([`errno`]). A context must be used by one thread at a time (mTCP's
//! own rule: the thread that created it).
//!
//! Example (C, see `README.md` for building it):
//!
//! ```c
//! #include <mtcp_api.h>
//! #include <mtcp_epoll.h>
//!
//! mtcp_init("mtcp.conf");
//! mctx_t mctx = mtcp_create_context(0);
//! int ep = mtcp_epoll_create(mctx, 1024);
//! int s = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
//! mtcp_setsock_nonblock(mctx, s);
//! struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
//! mtcp_bind(mctx, s, (struct sockaddr *)&a, sizeof(a));
//! mtcp_listen(mctx, s, 4096);
//! ```

#![allow(non_camel_case_types)]

mod epoll;
pub mod errno;
mod global;
mod socket;

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};

use mtcp_socket_api::Context;

pub use epoll::{MtcpEpollData, MtcpEpollEvent};
pub use mtcp_socket_api::MtcpConfC;

/// A value that marks a live context (checked on every call; NULL or a destroyed context
/// gives `EINVAL`).
const CONTEXT_MAGIC: u64 = 0x6d74_6370_6374_7821;
/// The mark of a context that `mtcp_destroy_context` is draining: every call gives `EPERM`.
const CONTEXT_DRAINING: u64 = 0x6d74_6370_6472_6e21;

/// `struct mtcp_context`: C sees only `cpu`, the first field; the rest is ours.
#[repr(C)]
pub struct MtcpContext {
    /// The core (`mctx->cpu`).
    pub cpu: c_int,
    /// [`CONTEXT_MAGIC`], [`CONTEXT_DRAINING`] or 0 (destroyed); atomic because a call from a
    /// signal handler (or another thread) may look at it while `mtcp_destroy_context` drains.
    magic: AtomicU64,
    /// The signal generation this context has already reported as `EINTR`.
    seen_signals: u64,
    inner: Context,
}

/// `mctx_t`.
pub type mctx_t = *mut MtcpContext;

/// `mtcp_sighandler_t`.
pub type mtcp_sighandler_t = Option<unsafe extern "C" fn(c_int)>;

/// `enum socket_type` (values are ABI).
pub mod socket_type {
    /// `MTCP_SOCK_UNUSED`.
    pub const MTCP_SOCK_UNUSED: i32 = 0;
    /// `MTCP_SOCK_STREAM`.
    pub const MTCP_SOCK_STREAM: i32 = 1;
    /// `MTCP_SOCK_PROXY`.
    pub const MTCP_SOCK_PROXY: i32 = 2;
    /// `MTCP_SOCK_LISTENER`.
    pub const MTCP_SOCK_LISTENER: i32 = 3;
    /// `MTCP_SOCK_EPOLL`.
    pub const MTCP_SOCK_EPOLL: i32 = 4;
    /// `MTCP_SOCK_PIPE`.
    pub const MTCP_SOCK_PIPE: i32 = 5;
}

/// The state mark of the context behind a non-null `mctx`, read without borrowing the rest
/// of the context (which `mtcp_destroy_context` may be using while it drains).
///
/// # Safety
/// `mctx` is non-null and was returned by `mtcp_create_context` (its memory not yet reused).
unsafe fn magic<'a>(mctx: mctx_t) -> &'a AtomicU64 {
    // SAFETY: by the contract, `mctx` points to a `MtcpContext`; this borrows only its atomic
    // `magic` field.
    unsafe { &*std::ptr::addr_of!((*mctx).magic) }
}

/// Borrows the context behind `mctx`: `EINVAL` for NULL or a destroyed context, `EPERM` for
/// one that `mtcp_destroy_context` is draining (checked before anything else of the context
/// is touched, so a signal handler or another thread gets `EPERM` while the drain runs).
///
/// # Safety
/// `mctx` is NULL or a pointer returned by `mtcp_create_context` (a destroyed one is caught
/// by the magic value as long as its memory was not reused), used by one thread at a time.
unsafe fn ctx<'a>(mctx: mctx_t) -> Result<&'a mut MtcpContext, mtcp_socket_api::Error> {
    if mctx.is_null() {
        return Err(mtcp_socket_api::Error::Inval);
    }
    // SAFETY: non-null; forwarded contract.
    match unsafe { magic(mctx) }.load(Ordering::SeqCst) {
        CONTEXT_MAGIC => {}
        CONTEXT_DRAINING => return Err(mtcp_socket_api::Error::Perm),
        _ => return Err(mtcp_socket_api::Error::Inval),
    }
    // SAFETY: non-null, live, and by this function's contract made by `mtcp_create_context`
    // and used by this thread only, so the exclusive borrow aliases nothing.
    Ok(unsafe { &mut *mctx })
}

#[cfg(test)]
mod layout_tests;
