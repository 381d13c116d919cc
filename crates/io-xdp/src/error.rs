//! Why an AF_XDP port could not be opened.

use std::io;

/// An error opening an AF_XDP port, each case with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The configuration is inconsistent.
    #[error("afxdp config: {0}")]
    Config(String),
    /// No such interface in this network namespace.
    #[error("afxdp: no interface `{0}` in this network namespace")]
    NoInterface(String),
    /// Loading BPF or creating AF_XDP sockets needs CAP_NET_ADMIN and CAP_BPF (root).
    #[error("afxdp on `{0}`: not permitted (needs root, or CAP_NET_ADMIN + CAP_BPF + CAP_NET_RAW)")]
    NoPrivilege(String),
    /// Another XDP program is attached to the interface already.
    #[error(
        "afxdp on `{0}`: an XDP program is attached already (see `ip link show {0}`; \
         detach it with `ip link set dev {0} xdp off`)"
    )]
    AlreadyAttached(String),
    /// Another AF_XDP socket is bound to this queue (in this or another process).
    #[error("afxdp on `{ifname}`: queue {queue} is held by another AF_XDP socket")]
    QueueBusy {
        /// Interface.
        ifname: String,
        /// Queue index.
        queue: u32,
    },
    /// The driver cannot run XDP in the requested mode, or bind sockets as asked.
    #[error("afxdp on `{ifname}`: {what} not supported by the driver ({source})")]
    Unsupported {
        /// Interface.
        ifname: String,
        /// What was asked (`native XDP`, `zero copy`, ...).
        what: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
    /// `xdp_zero_copy = on`, and the interface's driver has no AF_XDP zero copy (veth never has).
    #[error(
        "afxdp on `{ifname}`: zero copy (xdp_zero_copy = on) is not offered by driver `{driver}` \
         ({source}); use xdp_zero_copy = auto or off for copy mode"
    )]
    NoZeroCopy {
        /// Interface.
        ifname: String,
        /// Its driver, as `ethtool -i` names it (`?` when the driver does not say).
        driver: String,
        /// The kernel's answer to the zero-copy bind.
        source: io::Error,
    },
    /// libxdp's default program object (`xsk_def_xdp_prog.o`) is not installed.
    #[error(
        "afxdp: libxdp's xsk_def_xdp_prog.o not found (Debian: apt-get install libxdp1; \
         or set LIBXDP_OBJECT_PATH): {0}"
    )]
    NoProgram(io::Error),
    /// Any other system error, with the step that failed.
    #[error("afxdp on `{ifname}`: {step}: {source}")]
    Os {
        /// Interface.
        ifname: String,
        /// The step that failed.
        step: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
}

impl From<XdpError> for io::Error {
    fn from(e: XdpError) -> io::Error {
        let kind = match &e {
            XdpError::Config(_) => io::ErrorKind::InvalidInput,
            XdpError::NoInterface(_) | XdpError::NoProgram(_) => io::ErrorKind::NotFound,
            XdpError::NoPrivilege(_) => io::ErrorKind::PermissionDenied,
            XdpError::AlreadyAttached(_) => io::ErrorKind::AlreadyExists,
            XdpError::QueueBusy { .. } => io::ErrorKind::ResourceBusy,
            XdpError::Unsupported { .. } | XdpError::NoZeroCopy { .. } => {
                io::ErrorKind::Unsupported
            }
            XdpError::Os { source, .. } => source.kind(),
        };
        io::Error::new(kind, e)
    }
}

/// A negative errno from the shim as an `io::Error`.
pub(crate) fn errno(rc: i32) -> io::Error {
    io::Error::from_raw_os_error(-rc)
}
