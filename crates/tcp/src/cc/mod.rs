//! Congestion control behind a trait, with NewReno (RFC 5681, RFC 6582), CUBIC (RFC 9438) and
//! BBR v1 (as in Linux).
//!
//! The connection owns loss detection and recovery (which segment to retransmit); the algorithm
//! owns `cwnd`, `ssthresh` and, if it wants one, a pacing rate, and is told about ACKs,
//! deliveries, congestion events and timeouts.

mod bbr;
mod cubic;
mod hystart;
mod newreno;

pub use bbr::{Bbr, BbrMode};
pub use cubic::Cubic;
pub use newreno::NewReno;

/// What one ACK told the sender, for model-based algorithms (BBR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Bytes delivered (cumulatively acknowledged or SACKed) since the connection began.
    pub delivered: u64,
    /// Bytes this ACK delivered.
    pub newly_delivered: u32,
    /// This ACK's RTT sample, if it gave one.
    pub rtt: Option<Duration>,
    /// Bytes in flight after the ACK (RFC 6675 pipe).
    pub in_flight: u32,
    /// The sender had nothing more to send and room in its window: the delivery rate says
    /// little about the path.
    pub app_limited: bool,
}

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
    /// The last congestion response was spurious (every retransmission of a fast recovery came
    /// back as a D-SACK, RFC 3708; or the ACK after a timeout echoes the original's timestamp,
    /// RFC 3522 Eifel): restore the window and threshold from before it.
    fn undo(&mut self) {}
    /// Every ACK that delivered data, in recovery too. Loss-based algorithms ignore it.
    fn on_delivery(&mut self, _now: Instant, _delivery: &Delivery) {}
    /// The rate the output path paces this connection's segments at, in bytes per second;
    /// `None` sends as fast as the window allows.
    fn pacing_rate(&self) -> Option<u64> {
        None
    }
    /// The model's current pacing and cwnd gains in thousandths, as Linux reports BBR's in
    /// `TCP_CC_INFO` (`tcp_bbr_info`, there in 1/256): they name its state. `None` for an
    /// algorithm without gains.
    fn gains(&self) -> Option<(u32, u32)> {
        None
    }
    /// Whether loss recovery should bring the flight down to `ssthresh` (proportional rate
    /// reduction, RFC 6937). BBR keeps its model and answers false.
    fn reduces_on_loss(&self) -> bool {
        true
    }
}

/// Which algorithm new connections use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CcAlgorithm {
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438).
    #[default]
    Cubic,
    /// BBR v1, with pacing.
    Bbr,
}

/// Initial window in segments (RFC 6928).
pub const INITIAL_WINDOW_SEGMENTS: u32 = 10;

impl CcAlgorithm {
    /// The algorithm called `name` as Linux names it (`TCP_CONGESTION`, `mtcp.conf`'s `tcp_cc`):
    /// `cubic`, `newreno` (or `reno`), `bbr`.
    pub fn from_name(name: &str) -> Option<CcAlgorithm> {
        match name {
            "cubic" => Some(CcAlgorithm::Cubic),
            "bbr" => Some(CcAlgorithm::Bbr),
            "newreno" | "reno" => Some(CcAlgorithm::NewReno),
            _ => None,
        }
    }

    /// The algorithm's name, as [`CcAlgorithm::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            CcAlgorithm::NewReno => "newreno",
            CcAlgorithm::Cubic => "cubic",
            CcAlgorithm::Bbr => "bbr",
        }
    }

    /// A fresh instance with an initial window of `INITIAL_WINDOW_SEGMENTS * mss`.
    pub fn build(self, mss: u32) -> alloc::boxed::Box<dyn CongestionControl> {
        match self {
            CcAlgorithm::NewReno => alloc::boxed::Box::new(NewReno::new(mss)),
            CcAlgorithm::Cubic => alloc::boxed::Box::new(Cubic::new(mss)),
            CcAlgorithm::Bbr => alloc::boxed::Box::new(Bbr::new(mss)),
        }
    }
}
