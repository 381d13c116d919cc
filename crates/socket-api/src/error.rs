//! The error of every API call: one variant per errno that mtcp-api.md names, mapped to libc's
//! numbers in one place ([`Error::errno`]).

/// Why an API call failed. [`Error::errno`] gives the C `errno` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// `EBADF`: the id names no open socket of this context.
    #[error("bad socket id (EBADF)")]
    BadF,
    /// `ENOTSOCK`: the id names an epoll instance or a pipe where a socket is needed.
    #[error("not a socket (ENOTSOCK)")]
    NotSock,
    /// `EINVAL`: an invalid argument, or a call not valid in the socket's state.
    #[error("invalid argument (EINVAL)")]
    Inval,
    /// `EAGAIN`: nothing to do now; wait for an epoll event.
    #[error("try again (EAGAIN)")]
    Again,
    /// `ENOTCONN`: the socket is not connected.
    #[error("not connected (ENOTCONN)")]
    NotConn,
    /// `EISCONN`: already connected.
    #[error("already connected (EISCONN)")]
    IsConn,
    /// `EALREADY`: a connect is in progress.
    #[error("connect already in progress (EALREADY)")]
    Already,
    /// `EINPROGRESS`: the non-blocking connect started; EPOLLOUT (or EPOLLERR) tells the outcome.
    #[error("connect in progress (EINPROGRESS)")]
    InProgress,
    /// `EADDRINUSE`: the address or port is taken.
    #[error("address in use (EADDRINUSE)")]
    AddrInUse,
    /// `EAFNOSUPPORT`: only AF_INET.
    #[error("address family not supported (EAFNOSUPPORT)")]
    AfNoSupport,
    /// `ENFILE`: the context is out of socket ids.
    #[error("too many open sockets (ENFILE)")]
    NFile,
    /// `ENOMEM`: out of buffers or connection slots.
    #[error("out of memory (ENOMEM)")]
    NoMem,
    /// `ENOPROTOOPT`: unknown socket option.
    #[error("unknown option (ENOPROTOOPT)")]
    NoProtoOpt,
    /// `EFAULT`: a required pointer argument is missing.
    #[error("bad address (EFAULT)")]
    Fault,
    /// `EEXIST`: already registered with this epoll instance.
    #[error("already registered (EEXIST)")]
    Exist,
    /// `ENOENT`: not registered with this epoll instance.
    #[error("not registered (ENOENT)")]
    NoEnt,
    /// `EPIPE`: writing to a pipe or socket whose other end is closed.
    #[error("broken pipe (EPIPE)")]
    Pipe,
    /// `ECONNRESET`: the peer reset the connection.
    #[error("connection reset (ECONNRESET)")]
    ConnReset,
    /// `ECONNREFUSED`: the peer refused the connection.
    #[error("connection refused (ECONNREFUSED)")]
    ConnRefused,
    /// `ETIMEDOUT`: the connection timed out.
    #[error("timed out (ETIMEDOUT)")]
    TimedOut,
    /// `EINTR`: interrupted (the context is shutting down, or a signal).
    #[error("interrupted (EINTR)")]
    Intr,
    /// `EPERM`: the context is shutting down.
    #[error("context shutting down (EPERM)")]
    Perm,
    /// `ENETUNREACH`: no route to the destination.
    #[error("network unreachable (ENETUNREACH)")]
    NetUnreach,
}

impl Error {
    /// The C `errno` value (libc's constant).
    pub fn errno(self) -> i32 {
        match self {
            Error::BadF => libc::EBADF,
            Error::NotSock => libc::ENOTSOCK,
            Error::Inval => libc::EINVAL,
            Error::Again => libc::EAGAIN,
            Error::NotConn => libc::ENOTCONN,
            Error::IsConn => libc::EISCONN,
            Error::Already => libc::EALREADY,
            Error::InProgress => libc::EINPROGRESS,
            Error::AddrInUse => libc::EADDRINUSE,
            Error::AfNoSupport => libc::EAFNOSUPPORT,
            Error::NFile => libc::ENFILE,
            Error::NoMem => libc::ENOMEM,
            Error::NoProtoOpt => libc::ENOPROTOOPT,
            Error::Fault => libc::EFAULT,
            Error::Exist => libc::EEXIST,
            Error::NoEnt => libc::ENOENT,
            Error::Pipe => libc::EPIPE,
            Error::ConnReset => libc::ECONNRESET,
            Error::ConnRefused => libc::ECONNREFUSED,
            Error::TimedOut => libc::ETIMEDOUT,
            Error::Intr => libc::EINTR,
            Error::Perm => libc::EPERM,
            Error::NetUnreach => libc::ENETUNREACH,
        }
    }

    /// The error for a socket-level error code (SO_ERROR value), if it is one we produce.
    pub fn from_errno(errno: i32) -> Option<Error> {
        Some(match errno {
            libc::ECONNRESET => Error::ConnReset,
            libc::ECONNREFUSED => Error::ConnRefused,
            libc::ETIMEDOUT => Error::TimedOut,
            libc::ENETUNREACH => Error::NetUnreach,
            _ => return None,
        })
    }
}

/// The result of an API call.
pub type Result<T> = core::result::Result<T, Error>;

/// Why `init` failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A configuration file is wrong.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The backend could not be opened.
    #[error("I/O backend: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work (e.g. a port without an address).
    #[error("{0}")]
    Invalid(String),
}
