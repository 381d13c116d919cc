//! The time of a loop turn, read from the system clock only when the CPU's time-stamp counter
//! says [`STALE_AFTER`] or more passed since the last read.
//!
//! `std::time::Instant::now()` is a vDSO `clock_gettime`, 25-30 ns on this machine's virtual
//! clock: once per turn it was 9 % of a one-connection ping-pong's stack cost (`perf record -e
//! cpu-clock` on the `stackcost` example), as mTCP's turns come every few hundred nanoseconds
//! under load. The engine's clock counts milliseconds, so a turn may reuse a reading up to a
//! tenth of one old. Reading the TSC takes a few cycles; its rate is learnt from two clock
//! readings at least [`CALIBRATE_AFTER`] apart, and until then (and where there is no TSC)
//! every turn reads the clock. A TSC that goes back (another core's, not in step) or jumps
//! only makes a turn read the clock.

use std::time::{Duration, Instant};

/// How old a reading a turn may reuse.
const STALE_AFTER: Duration = Duration::from_micros(100);

/// How far apart the two readings that give the TSC's rate are, at least.
const CALIBRATE_AFTER: Duration = Duration::from_millis(5);

/// The time-stamp counter, `None` where there is none.
fn tsc() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC reads a counter; it has no operands, touches no memory and exists on
        // every x86_64 CPU.
        Some(unsafe { core::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// A turn's clock (see the module documentation).
#[derive(Debug)]
pub(crate) struct TurnClock {
    /// The last reading of the system clock and the TSC then.
    read: Instant,
    read_tsc: u64,
    /// The first reading, for the rate.
    first: Instant,
    first_tsc: u64,
    /// TSC ticks in [`STALE_AFTER`], 0 until known (every turn reads the clock).
    stale_ticks: u64,
}

impl TurnClock {
    /// A clock read now.
    pub(crate) fn new() -> TurnClock {
        let (now, t) = (Instant::now(), tsc().unwrap_or(0));
        TurnClock {
            read: now,
            read_tsc: t,
            first: now,
            first_tsc: t,
            stale_ticks: 0,
        }
    }

    /// The time for this turn: the last reading while it is fresh enough, else a new one.
    pub(crate) fn now(&mut self) -> Instant {
        let Some(t) = tsc() else {
            return Instant::now();
        };
        if self.stale_ticks > 0 && t.wrapping_sub(self.read_tsc) < self.stale_ticks {
            return self.read;
        }
        let now = Instant::now();
        self.read = now;
        self.read_tsc = t;
        if self.stale_ticks == 0 {
            let span = now.saturating_duration_since(self.first);
            let ticks = t.wrapping_sub(self.first_tsc);
            if span >= CALIBRATE_AFTER && ticks > 0 && ticks < u64::MAX / 2 {
                let per_ns = ticks as f64 / span.as_nanos() as f64;
                self.stale_ticks = (per_ns * STALE_AFTER.as_nanos() as f64) as u64;
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once calibrated, readings are never older than `STALE_AFTER` (plus the calibration's
    /// error) at the time of the call, and they move forward. The real time is taken just
    /// before the call: a thread preempted after the call would otherwise see any reading as
    /// old as the preemption (5.8 ms once, on a loaded machine).
    #[test]
    fn readings_are_fresh_and_monotonic() {
        let mut c = TurnClock::new();
        let mut last = c.now();
        let end = Instant::now() + Duration::from_millis(30);
        let mut reused = 0u64;
        while Instant::now() < end {
            let real = Instant::now();
            let t = c.now();
            assert!(t >= last, "the clock went back");
            assert!(
                real.saturating_duration_since(t) < STALE_AFTER + Duration::from_millis(2),
                "a reading {:?} old",
                real.saturating_duration_since(t)
            );
            reused += u64::from(t == last);
            last = t;
        }
        if cfg!(target_arch = "x86_64") {
            assert!(reused > 0, "every turn read the clock");
        }
    }
}
