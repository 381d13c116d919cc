//! Why the DPDK backend could not start or open a port.

/// An error of the DPDK backend. Each names the failing step and DPDK's reason where it gave one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent or a key holds a bad value.
    #[error("bad DPDK configuration: {0}")]
    Config(String),
    /// `rte_eal_init` failed.
    #[error("DPDK EAL initialisation failed: {reason}; EAL arguments: {args}")]
    EalInit {
        /// DPDK's reason (`rte_errno`).
        reason: String,
        /// The arguments given to the EAL, space-separated.
        args: String,
    },
    /// The EAL runs already, started with other arguments; it can be started once per process.
    #[error("the DPDK EAL is already initialised (once per process) with other arguments: {0}")]
    EalAlreadyInitialised(String),
    /// No port has this name.
    #[error("no DPDK port named {name:?}; ports present: [{available}]")]
    NoPort {
        /// The name asked for.
        name: String,
        /// The ports that do exist, comma-separated.
        available: String,
    },
    /// A `--vdev` names a driver this DPDK installation does not have.
    #[error(
        "virtual device {device:?} needs DPDK driver {driver:?}, which is not installed (drivers found: {known})"
    )]
    UnknownDriver {
        /// The virtual device's name.
        device: String,
        /// The driver its name asks for.
        driver: String,
        /// The network drivers that are installed, comma-separated.
        known: String,
    },
    /// DPDK could not allocate memory (mbuf pool, queue rings).
    #[error("not enough DPDK memory for {what}: {reason} (raise `-m`, or reserve hugepages)")]
    NoMemory {
        /// What was being allocated.
        what: String,
        /// DPDK's reason.
        reason: String,
    },
    /// The port is open already in this process.
    #[error("DPDK port {0} is already open")]
    PortInUse(u16),
    /// The port has fewer queue pairs than cores were asked for.
    #[error("DPDK port {port} ({driver}) offers {max} rx/tx queue pairs; {wanted} asked for")]
    TooManyQueues {
        /// Port id.
        port: u16,
        /// Driver name.
        driver: String,
        /// Queue pairs the port offers.
        max: usize,
        /// Queue pairs asked for (one per core).
        wanted: usize,
    },
    /// A port set-up step failed in the driver.
    #[error("DPDK port {port} ({driver}): {step} failed: {reason}")]
    Port {
        /// Port id.
        port: u16,
        /// Driver name.
        driver: String,
        /// The failing step (`rte_eth_dev_configure`, ...).
        step: &'static str,
        /// DPDK's reason.
        reason: String,
    },
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Config(_) => std::io::ErrorKind::InvalidInput,
            Error::NoPort { .. } | Error::UnknownDriver { .. } => std::io::ErrorKind::NotFound,
            Error::NoMemory { .. } => std::io::ErrorKind::OutOfMemory,
            Error::PortInUse(_) => std::io::ErrorKind::AddrInUse,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
