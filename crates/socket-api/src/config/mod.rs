//! The configuration files of an mTCP program: `mtcp.conf` (this module's [`MtcpConf`]), with
//! `arp.conf` and `route.conf` beside it. Every error names the file, the line and the problem.

mod ipv6;
mod mtcp_conf;

use std::fmt;
use std::path::PathBuf;

pub use ipv6::{Route6Conf, parse_ip6, parse_nd6, parse_route6};
pub use mtcp_conf::{
    DEFAULT_DRAIN_TIMEOUT, FaultConf, FaultDirection, IoBackend, MtcpConf, PortConf, RunMode,
    XdpConf,
};

/// A configuration error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, or 0 when the problem is not on one line (a missing file or key).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.problem)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.problem)
        }
    }
}

pub mod tables;
