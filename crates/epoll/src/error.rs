//! The crate's error type and its `errno` mapping.

/// What went wrong in an epoll or pipe call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `op` is not ADD (1), DEL (2) or MOD (3).
    #[error("invalid epoll_ctl operation {0}")]
    InvalidOp(i32),
    /// The id is negative or beyond the instance's capacity (`max_concurrency`).
    #[error("socket id {0} is out of range")]
    BadId(i64),
    /// An argument is not acceptable (reason given).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// `ADD` of a socket that is already registered.
    #[error("socket {0} is already registered")]
    AlreadyRegistered(u32),
    /// `MOD` or `DEL` of a socket that is not registered.
    #[error("socket {0} is not registered")]
    NotRegistered(u32),
    /// The wait was interrupted (mTCP: the first SIGINT).
    #[error("interrupted")]
    Interrupted,
    /// Nothing to read, or no room to write, right now.
    #[error("operation would block")]
    WouldBlock,
    /// Write to a pipe whose read end is closed.
    #[error("the read end of the pipe is closed")]
    BrokenPipe,
    /// The pipe end used is already closed.
    #[error("pipe end {0} is closed")]
    Closed(u32),
}

impl Error {
    /// The `errno` value the C API sets for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::InvalidOp(_) | Error::InvalidArgument(_) => libc::EINVAL,
            Error::BadId(_) | Error::Closed(_) => libc::EBADF,
            Error::AlreadyRegistered(_) => libc::EEXIST,
            Error::NotRegistered(_) => libc::ENOENT,
            Error::Interrupted => libc::EINTR,
            Error::WouldBlock => libc::EAGAIN,
            Error::BrokenPipe => libc::EPIPE,
        }
    }
}
