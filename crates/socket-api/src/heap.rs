//! Gives the heap memory a past load freed back to the operating system.
//!
//! Connections' buffers and control blocks come from the C allocator (glibc's malloc), which
//! keeps freed memory in its heap for reuse: after 20 000 connections or a flood end, the
//! process would stay at its peak resident size although the stack holds next to nothing (the
//! issue saw 2.1 GB stay). Once a second, each core compares its buffer memory with the most it
//! held since the last trim; when that fell by [`TRIM_STEP`] bytes or more, it asks glibc to
//! return its free pages (`malloc_trim`). Off the fast path: a comparison per loop turn, and one
//! heap walk after a load ends. Other C libraries return memory on their own (or not at all):
//! there it does nothing.

/// Buffer memory (held and pooled, bytes) a core must have given back since the last trim
/// before the next one.
pub(crate) const TRIM_STEP: usize = 8 << 20;
/// Milliseconds between two checks.
const CHECK_INTERVAL_MS: u64 = 1000;

/// One core's record of its buffer memory since the last trim.
#[derive(Debug, Default)]
pub(crate) struct HeapTrim {
    /// Most buffer memory seen since the last trim.
    high_water: usize,
    checked_at_ms: u64,
}

impl HeapTrim {
    /// Called every loop turn with the core's buffer memory (held and pooled, bytes) at
    /// `now_ms`. Returns whether it asked the allocator to trim.
    pub(crate) fn turn(&mut self, now_ms: u64, buffer_bytes: usize) -> bool {
        self.high_water = self.high_water.max(buffer_bytes);
        if now_ms < self.checked_at_ms.saturating_add(CHECK_INTERVAL_MS) {
            return false;
        }
        self.checked_at_ms = now_ms;
        if self.high_water - buffer_bytes < TRIM_STEP {
            return false;
        }
        self.high_water = buffer_bytes;
        trim();
        true
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own arenas under their locks;
    // it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_a_second_after_the_buffer_memory_fell_by_a_step() {
        let mut h = HeapTrim::default();
        // A load builds up: nothing to trim.
        assert!(!h.turn(0, 0));
        assert!(!h.turn(1000, 30 << 20));
        // It ends within the second: the trim waits for the next check.
        assert!(!h.turn(1500, 0));
        assert!(h.turn(2000, 0));
        // Idle: no more trims.
        assert!(!h.turn(3000, 0));
        // A small swing (below the step) does not trim.
        assert!(!h.turn(3100, TRIM_STEP - 1));
        assert!(!h.turn(4000, 0));
    }
}
