//! How many frames the fill ring is kept stocked with: small while bursts stay small (a frame
//! is written again soon, its lines and page still warm), full as soon as a backlog builds, and
//! full for good once the kernel dropped a frame for want of one.
//!
//! The kernel takes fill-ring frames in FIFO order, so the stock is also how many frames it
//! writes before it writes one again. The full stock (16 384 by default) is sized for 10 000
//! flows that each send a frame while this core is busy (mtcp-bench's `conns10k`); with it,
//! every copy into the UMEM lands in memory long out of the caches (and, for the kernel, which
//! writes the UMEM through its own 4 KiB mapping, out of the TLB).

/// The smallest stock: what the kernel may deliver while this core does not look (about 4 ms
/// of a 1 M frames/s sender, a scheduler slice on a busy machine).
pub(crate) const MIN_STOCK: u32 = 4096;
/// Frames received between two looks at whether the stock may shrink.
const WINDOW: u32 = 1 << 14;
/// Frames received between two looks at the kernel's drop counters (a `getsockopt`).
const CHECK: u32 = 4096;
/// Quiet windows in a row (largest backlog under a sixteenth of the stock) before it halves.
const QUIET_WINDOWS: u32 = 2;

/// What a look at the receive backlog decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing to do.
    Same,
    /// The stock changed: move free frames to or from the reserve.
    Changed,
    /// Time to read the kernel's drop counters (one `getsockopt` every [`CHECK`] frames).
    Check,
}

/// The fill ring's stock, between a floor and the configured target (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FillStock {
    now: u32,
    full: u32,
    /// The stock never goes below this: [`MIN_STOCK`] (or the target, if smaller), the target
    /// once the kernel dropped a frame for want of a fill-ring frame.
    floor: u32,
    /// The largest backlog (frames waiting in the RX ring at a look) in this window.
    peak: u32,
    /// Frames left in this window.
    left: u32,
    /// Frames left until the next look at the kernel's drop counters.
    check_left: u32,
    /// Quiet windows in a row.
    quiet: u32,
    /// Frames sent since the last look at the receive backlog.
    sent: u32,
}

impl FillStock {
    /// A stock that starts full at `full` frames.
    pub(crate) fn new(full: u32) -> FillStock {
        FillStock {
            now: full,
            full,
            floor: MIN_STOCK.min(full),
            peak: 0,
            left: WINDOW,
            check_left: CHECK,
            quiet: 0,
            sent: 0,
        }
    }

    /// Frames the fill ring is kept stocked with now.
    pub(crate) fn now(&self) -> u32 {
        self.now
    }

    /// The smallest stock from now on.
    pub(crate) fn floor(&self) -> u32 {
        self.floor
    }

    /// Whether the stock is the whole target.
    pub(crate) fn is_full(&self) -> bool {
        self.now == self.full
    }

    /// `backlog` frames were waiting at a look that took `taken` of them. A backlog of a
    /// quarter of the stock makes it full at once: the rest of the stock still holds three
    /// quarters of it, so a burst that builds while this core works through it finds frames.
    pub(crate) fn saw(&mut self, backlog: u32, taken: u32) -> Step {
        self.sent = 0;
        if backlog > self.now / 4 && self.now < self.full {
            return self.grow();
        }
        self.peak = self.peak.max(backlog);
        self.left = self.left.saturating_sub(taken);
        self.check_left = self.check_left.saturating_sub(taken);
        let check = if self.check_left == 0 && self.floor < self.full {
            self.check_left = CHECK;
            Step::Check
        } else {
            Step::Same
        };
        if self.left > 0 {
            return check;
        }
        self.left = WINDOW;
        self.quiet = if self.peak < self.now / 16 {
            self.quiet + 1
        } else {
            0
        };
        self.peak = 0;
        if self.quiet >= QUIET_WINDOWS && self.now > self.floor {
            self.quiet = 0;
            self.now = (self.now / 2).max(self.floor);
            return Step::Changed;
        }
        check
    }

    /// `frames` were handed to the TX ring. Replies come back for what is sent: a quarter of
    /// the stock sent between two looks at the receive backlog (10 000 SYNs of `conns10k`'s
    /// ramp, a burst of requests) makes the stock full before their replies arrive.
    pub(crate) fn sent(&mut self, frames: u32) -> Step {
        self.sent = self.sent.saturating_add(frames);
        if self.sent > self.now / 4 && self.now < self.full {
            return self.grow();
        }
        Step::Same
    }

    fn grow(&mut self) -> Step {
        self.now = self.full;
        self.peak = 0;
        self.quiet = 0;
        self.left = WINDOW;
        Step::Changed
    }

    /// The kernel dropped frames for want of a fill-ring frame (or of room in the RX ring):
    /// bursts come here that a smaller stock cannot take, so the stock is full from now on.
    /// Returns whether it changed.
    pub(crate) fn dropped(&mut self) -> bool {
        self.floor = self.full;
        let changed = self.now != self.full;
        self.now = self.full;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `frames` frames in looks of 64 with a backlog of 64 each.
    fn quiet(s: &mut FillStock, frames: u32) {
        for _ in 0..frames / 64 {
            s.saw(64, 64);
        }
    }

    #[test]
    fn halves_after_quiet_windows_down_to_the_floor_and_no_further() {
        let mut s = FillStock::new(16384);
        quiet(&mut s, (QUIET_WINDOWS - 1) * WINDOW);
        assert_eq!(s.now(), 16384, "not before {QUIET_WINDOWS} quiet windows");
        quiet(&mut s, WINDOW);
        assert_eq!(s.now(), 8192);
        quiet(&mut s, 10 * QUIET_WINDOWS * WINDOW);
        assert_eq!(s.now(), MIN_STOCK);
    }

    #[test]
    fn a_backlog_of_a_quarter_fills_it_at_once() {
        let mut s = FillStock::new(16384);
        quiet(&mut s, 10 * QUIET_WINDOWS * WINDOW);
        assert_eq!(s.saw(MIN_STOCK / 4, 64), Step::Same);
        assert_eq!(s.saw(MIN_STOCK / 4 + 1, 64), Step::Changed);
        assert!(s.is_full());
    }

    #[test]
    fn a_quarter_of_the_stock_sent_between_two_looks_fills_it() {
        let mut s = FillStock::new(16384);
        quiet(&mut s, 10 * QUIET_WINDOWS * WINDOW);
        for _ in 0..MIN_STOCK / 4 / 64 {
            assert_eq!(s.sent(64), Step::Same);
            s.saw(64, 64); // a look between: echo's steady state
        }
        for _ in 0..MIN_STOCK / 4 / 64 {
            assert_eq!(s.sent(64), Step::Same);
        }
        assert_eq!(s.sent(1), Step::Changed);
        assert!(s.is_full());
    }

    #[test]
    fn a_busy_window_keeps_it() {
        let mut s = FillStock::new(16384);
        for _ in 0..QUIET_WINDOWS * 4 {
            quiet(&mut s, WINDOW - 64);
            s.saw(2000, 64); // one backlog above a sixteenth in each window
        }
        assert!(s.is_full());
    }

    #[test]
    fn a_kernel_drop_makes_it_full_for_good() {
        let mut s = FillStock::new(16384);
        quiet(&mut s, 10 * QUIET_WINDOWS * WINDOW);
        assert!(s.dropped());
        quiet(&mut s, 10 * QUIET_WINDOWS * WINDOW);
        assert!(s.is_full());
        assert_eq!(s.floor(), 16384);
    }

    #[test]
    fn a_small_target_is_its_own_floor() {
        let mut s = FillStock::new(1024);
        quiet(&mut s, 10 * QUIET_WINDOWS * WINDOW);
        assert_eq!(s.now(), 1024);
    }
}
