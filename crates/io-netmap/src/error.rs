//! What can go wrong when opening or driving a netmap port.

use std::io;

/// Errors of the netmap backend. Each converts into an [`io::Error`] of a fitting kind.
#[derive(Debug, thiserror::Error)]
pub enum NetmapError {
    /// The control device does not exist: the netmap kernel module is not loaded.
    #[error("{path} not found: the netmap kernel module is not loaded (modprobe netmap)")]
    NoDevice {
        /// The control device path that was tried.
        path: String,
    },
    /// The control device exists but may not be opened.
    #[error("{path}: permission denied (netmap needs root or access to the device)")]
    PermissionDenied {
        /// The control device path that was tried.
        path: String,
    },
    /// The file is not a netmap control device, or its module predates the `NIOCCTRL` API.
    #[error(
        "{path} does not answer netmap's NIOCCTRL request (not netmap, or a module older than API 14)"
    )]
    NotNetmap {
        /// The control device path that was tried.
        path: String,
    },
    /// The kernel speaks another API version than this crate.
    #[error(
        "netmap API mismatch: this crate speaks version {ours}, the kernel module version {kernel}"
    )]
    ApiMismatch {
        /// The version this crate sent.
        ours: u16,
        /// The version the kernel answered with.
        kernel: u16,
    },
    /// The port name could not be parsed.
    #[error("bad netmap port name {name:?}: {reason}")]
    BadPortName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The kernel knows no such port (no such interface, or it has no netmap support).
    #[error("netmap port {name:?} not found: {source}")]
    UnknownPort {
        /// The port name as given.
        name: String,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The port or ring is bound elsewhere (exclusive mode) or busy.
    #[error("netmap port {name:?} is busy: {source}")]
    Busy {
        /// The port name as given.
        name: String,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The shared region the kernel described is inconsistent (a kernel/ABI mismatch).
    #[error("netmap shared region is inconsistent: {0}")]
    BadLayout(&'static str),
    /// A queue index beyond the port's queues, or a queue taken twice.
    #[error("queue {index} is not available (the port has {num_queues} queues, each taken once)")]
    NoSuchQueue {
        /// The requested index.
        index: usize,
        /// The number of queues of the port.
        num_queues: usize,
    },
    /// Another system call failed.
    #[error("{what}: {source}")]
    Os {
        /// The call that failed.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl From<NetmapError> for io::Error {
    fn from(e: NetmapError) -> io::Error {
        let kind = match &e {
            NetmapError::NoDevice { .. } | NetmapError::UnknownPort { .. } => {
                io::ErrorKind::NotFound
            }
            NetmapError::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
            NetmapError::NotNetmap { .. } | NetmapError::ApiMismatch { .. } => {
                io::ErrorKind::Unsupported
            }
            NetmapError::BadPortName { .. } | NetmapError::NoSuchQueue { .. } => {
                io::ErrorKind::InvalidInput
            }
            NetmapError::Busy { .. } => io::ErrorKind::ResourceBusy,
            NetmapError::BadLayout(_) => io::ErrorKind::InvalidData,
            NetmapError::Os { source, .. } => source.kind(),
        };
        io::Error::new(kind, e)
    }
}
