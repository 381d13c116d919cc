//! A counting global allocator for tests that prove a path allocates nothing: install it with
//! `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;` and compare
//! [`allocations`] before and after the loop under test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations (and reallocations) of each thread.
pub struct CountingAlloc;

// SAFETY: forwards every call to the system allocator unchanged; only counts allocations of
// the calling thread (a `const` thread-local `Cell`, which itself never allocates).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations the calling thread made so far through [`CountingAlloc`] (0 if it is not the
/// global allocator). Per thread, so the test harness' other threads do not disturb a count.
pub fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}
