//! mTCP's C API: `libmtcp.so` / `libmtcp.a` with the headers `include/mtcp_api.h` and
//! `include/mtcp_epoll.h`, so that existing mTCP C programs (epserver, epwget, ...) build
//! unchanged against this reimplementation and link with `-lmtcp -lpthread`.
//!
//! ```text
//!   C program: mtcp_init / mtcp_create_context / mtcp_epoll_wait / mtcp_read ...
//!        │  extern "C" (this crate): pointers checked, errno set, no panic crosses
//!   ┌────▼──────────── process-global Mtcp (mtcp_init) ────────────────────┐
//!   │  mctx_t = leaked header { int cpu; state; → Box<Context> }, per core  │
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

mod blocking;
mod epoll;
pub mod errno;
mod global;
mod sockaddr;
mod socket;
pub mod util;

use std::ffi::c_int;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use mtcp_socket_api::Context;

pub use epoll::{MtcpEpollData, MtcpEpollEvent};
pub use mtcp_socket_api::MtcpConfC;

/// A value that marks a live context (checked on every call; NULL or a destroyed context
/// gives `EINVAL`).
const CONTEXT_MAGIC: u64 = 0x6d74_6370_6374_7821;
/// The mark of a context that `mtcp_destroy_context` is draining: every call gives `EPERM`.
const CONTEXT_DRAINING: u64 = 0x6d74_6370_6472_6e21;
/// The mark of a destroyed context: its tombstone stays, every call gives `EINVAL`.
const CONTEXT_DEAD: u64 = 0;

/// `struct mtcp_context`: C sees only `cpu`, the first field; the rest is ours.
///
/// This header is a *tombstone*: it is never freed (24 bytes leaked per
/// `mtcp_create_context`, so bounded by the contexts a process creates), and only the
/// [`ContextBody`] it points to is freed by `mtcp_destroy_context`. So a call on a destroyed
/// context reads live memory, finds [`CONTEXT_DEAD`] and fails with `EINVAL`; no handle value
/// is ever reused for another context.
#[repr(C)]
pub struct MtcpContext {
    /// The core (`mctx->cpu`).
    pub cpu: c_int,
    /// [`CONTEXT_MAGIC`], [`CONTEXT_DRAINING`] or [`CONTEXT_DEAD`]; atomic because a call from
    /// a signal handler (or another thread) may look at it while `mtcp_destroy_context`
    /// drains.
    magic: AtomicU64,
    /// The context itself (null once destroyed).
    body: AtomicPtr<ContextBody>,
}

/// What a live context owns (freed by `mtcp_destroy_context`).
pub struct ContextBody {
    /// The signal generation this context has already reported as `EINTR`.
    seen_signals: u64,
    inner: Context,
    /// Which sockets block (feature `blocking`).
    block: blocking::Blocking,
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

/// The state mark of the context behind a non-null `mctx`, read without touching its body
/// (which `mtcp_destroy_context` may be using while it drains).
///
/// # Safety
/// `mctx` is non-null and was returned by `mtcp_create_context` (destroyed or not: its
/// header is never freed).
unsafe fn magic<'a>(mctx: mctx_t) -> &'a AtomicU64 {
    // SAFETY: by the contract, `mctx` points to a `MtcpContext`, which is never freed; this
    // borrows only its atomic `magic` field.
    unsafe { &*std::ptr::addr_of!((*mctx).magic) }
}

/// Borrows the body of the context behind `mctx`: `EINVAL` for NULL or a destroyed context,
/// `EPERM` for one that `mtcp_destroy_context` is draining (checked before the body is
/// touched, so a signal handler or another thread gets `EPERM` while the drain runs).
///
/// # Safety
/// `mctx` is NULL or a pointer returned by `mtcp_create_context` (destroyed or not), used by
/// one thread at a time.
unsafe fn ctx<'a>(mctx: mctx_t) -> Result<&'a mut ContextBody, mtcp_socket_api::Error> {
    if mctx.is_null() {
        return Err(mtcp_socket_api::Error::Inval);
    }
    // SAFETY: non-null; forwarded contract.
    match unsafe { magic(mctx) }.load(Ordering::SeqCst) {
        CONTEXT_MAGIC => {}
        CONTEXT_DRAINING => return Err(mtcp_socket_api::Error::Perm),
        _ => return Err(mtcp_socket_api::Error::Inval),
    }
    // SAFETY: the header is never freed (forwarded contract).
    let body = unsafe { &*std::ptr::addr_of!((*mctx).body) }.load(Ordering::SeqCst);
    // SAFETY: the magic value says live, so `body` is the `Box` made by
    // `mtcp_create_context` and not yet freed; by this function's contract the context is
    // used by this thread only, so the exclusive borrow aliases nothing.
    unsafe { body.as_mut() }.ok_or(mtcp_socket_api::Error::Inval)
}

#[cfg(test)]
mod handle_tests;
#[cfg(test)]
mod layout_tests;
