//! The one place where Rust errors become `errno` values, and the guard that keeps panics
//! from crossing into C.

use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mtcp_socket_api::{Error, InitError};

/// Sets the calling thread's `errno`.
pub fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = value };
}

/// The errno of an API error (mtcp-api.md's table, through [`Error::errno`]).
pub fn errno_of(e: Error) -> c_int {
    e.errno()
}

/// The errno of an `mtcp_init` failure.
pub fn init_errno(e: &InitError) -> c_int {
    match e {
        InitError::Io(io) => io.raw_os_error().unwrap_or(libc::EIO),
        InitError::Config(_) | InitError::Invalid(_) => libc::EINVAL,
    }
}

/// A C return type with its failure value.
pub trait FfiRet: Copy {
    /// What the call returns on failure (-1 or NULL).
    const FAILED: Self;
}

impl FfiRet for c_int {
    const FAILED: c_int = -1;
}

impl FfiRet for isize {
    const FAILED: isize = -1;
}

impl<T> FfiRet for *mut T {
    const FAILED: *mut T = std::ptr::null_mut();
}

/// Runs an API call: `Ok` passes through, `Err` sets errno and returns the failure value,
/// and a panic (a bug) becomes `EIO` instead of unwinding into C.
pub fn guard<R: FfiRet>(f: impl FnOnce() -> Result<R, Error>) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(errno_of(e));
            R::FAILED
        }
        Err(_) => {
            set_errno(libc::EIO);
            R::FAILED
        }
    }
}

/// [`guard`] for calls that return nothing (`mtcp_destroy`, `mtcp_destroy_context`).
pub fn guard_void(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        set_errno(libc::EIO);
    }
}
