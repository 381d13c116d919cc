//! Congestion control behind a trait, with NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438).
//!
//! The connection owns loss detection and recovery (which segment to retransmit); the algorithm
//! only owns `cwnd` and `ssthresh` and is told about ACKs, congestion events and timeouts.

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use crate::time::{Duration, Instant};

/// A congestion control algorithm. All sizes are in bytes.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The congestion window.
    fn cwnd(&self) -> u32;
    /// The slow start threshold.
    fn ssthresh(&self) -> u32;
    /// `acked` new bytes were acknowledged outside loss recovery.
    fn on_ack(&mut self, now: Instant, acked: u32, mss: u32, srtt: Duration, bytes_in_flight: u32);
    /// Loss was detected by duplicate ACKs or SACK: entering fast recovery (once per window).
    fn on_congestion(&mut self, now: Instant, mss: u32, bytes_in_flight: u32);
    /// Fast recovery ended (the recovery point was acknowledged).
    fn on_recovery_end(&mut self, mss: u32);
    /// The retransmission timer expired.
    fn on_timeout(&mut self, mss: u32, bytes_in_flight: u32);
}

/// Which algorithm new connections use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CcAlgorithm {
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438).
    #[default]
    Cubic,
}

/// Initial window in segments (RFC 6928).
pub const INITIAL_WINDOW_SEGMENTS: u32 = 10;

impl CcAlgorithm {
    /// The algorithm called `name` as Linux names it (`TCP_CONGESTION`, `mtcp.conf`'s `tcp_cc`):
    /// `cubic`, `newreno` (or `reno`).
    pub fn from_name(name: &str) -> Option<CcAlgorithm> {
        match name {
            "cubic" => Some(CcAlgorithm::Cubic),
            "newreno" | "reno" => Some(CcAlgorithm::NewReno),
            _ => None,
        }
    }

    /// The algorithm's name, as [`CcAlgorithm::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            CcAlgorithm::NewReno => "newreno",
            CcAlgorithm::Cubic => "cubic",
        }
    }

    /// A fresh instance with an initial window of `INITIAL_WINDOW_SEGMENTS * mss`.
    pub fn build(self, mss: u32) -> alloc::boxed::Box<dyn CongestionControl> {
        match self {
            CcAlgorithm::NewReno => alloc::boxed::Box::new(NewReno::new(mss)),
            CcAlgorithm::Cubic => alloc::boxed::Box::new(Cubic::new(mss)),
        }
    }
}
