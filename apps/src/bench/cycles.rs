//! Stack cost on the `mem` link: CPU cycles per segment, per side. Each side of the `mem` link
//! has a thread that polls all the time, so the time-stamp counter's ticks over a run are that
//! thread's cycles; dividing them by the frames its stack received and sent (its port counters)
//! gives cycles per segment, everything included (application, stack, switch). On a machine
//! busy with other work those ticks include time the thread waited for a core, so the bench
//! also prints each side's own CPU time per segment ([`thread_cpu_ns`]).

use mtcp_socket_api::Mtcp;

/// The time-stamp counter (0 where there is none: the figure is then not printed).
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions and is present on every x86_64 processor.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// CPU time the calling thread has used, in nanoseconds (0 if the clock cannot be read).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Frames received plus sent by every core of `mtcp` so far.
pub fn segments(mtcp: &Mtcp) -> u64 {
    mtcp.snapshots()
        .iter()
        .map(|s| s.counters.rx_packets + s.counters.tx_packets)
        .sum()
}

/// A side's counters at the start of a run.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    tsc: u64,
    segments: u64,
}

impl Mark {
    /// Now, for `mtcp`.
    pub fn now(mtcp: &Mtcp) -> Mark {
        Mark {
            tsc: tsc(),
            segments: segments(mtcp),
        }
    }

    /// Cycles per segment since this mark, when any segment moved and a TSC exists.
    pub fn per_segment(&self, mtcp: &Mtcp) -> Option<f64> {
        let ticks = tsc().wrapping_sub(self.tsc);
        let segs = segments(mtcp).saturating_sub(self.segments);
        (segs > 0 && self.tsc != 0).then(|| ticks as f64 / segs as f64)
    }
}
