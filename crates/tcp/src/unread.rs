//! Data a connection received but the application had not read when the connection ended
//! abnormally (a RST from the peer, a timeout): Linux keeps such data readable after the error
//! (`tcp_reset` purges only the write queue), so the socket layer must be able to copy it out
//! after the engine freed the connection.
//!
//! A freed connection's receive ring moves here instead of back to the ring pool and stays
//! until its end event was collected: the first [`Engine::poll_event`] that finds no event
//! left recycles every ring still held. At most [`UNREAD_SLOTS`] rings are held (beyond that
//! the data is dropped, as before), so the memory is bounded by the receive buffers that
//! already existed.

use alloc::vec::Vec;

use crate::engine::Engine;
use crate::ring::{RingBuffer, RingPool};
use crate::table::Handle;

/// How many freed connections' unread data are held at once.
pub const UNREAD_SLOTS: usize = 64;

/// Receive rings of freed connections, by handle.
#[derive(Debug)]
pub(crate) struct Unread {
    rings: Vec<(Handle, RingBuffer)>,
}

impl Default for Unread {
    fn default() -> Self {
        Unread {
            rings: Vec::with_capacity(UNREAD_SLOTS),
        }
    }
}

impl Unread {
    /// Keeps `ring` for `h` if it holds data and a slot is free; else recycles it to `pool`.
    pub(crate) fn keep(&mut self, h: Handle, mut ring: RingBuffer, pool: &mut RingPool) {
        if ring.is_empty() || self.rings.len() >= UNREAD_SLOTS {
            ring.recycle(pool);
        } else {
            self.rings.push((h, ring));
        }
    }

    /// Recycles every ring held (their connections' end events were all collected).
    pub(crate) fn clear(&mut self, pool: &mut RingPool) {
        // Called whenever the events run out (every stack turn): an empty `drain` showed.
        if self.rings.is_empty() {
            return;
        }
        for (_, mut ring) in self.rings.drain(..) {
            ring.recycle(pool);
        }
    }

    fn take(&mut self, h: Handle, buf: &mut [u8], pool: &mut RingPool) -> usize {
        let Some(i) = self.rings.iter().position(|(x, _)| *x == h) else {
            return 0;
        };
        let n = self.rings[i].1.pop(buf);
        if self.rings[i].1.is_empty() {
            let (_, mut ring) = self.rings.swap_remove(i);
            ring.recycle(pool);
        }
        n
    }
}

impl Engine {
    /// After the end event ([`Event::Reset`](crate::Event::Reset) or
    /// [`Event::Error`](crate::Event::Error), or [`Event::Closed`](crate::Event::Closed)) of
    /// `h`: copies up to `buf.len()` bytes the connection had received and the application not
    /// read; 0 when none are left. Call it before [`Engine::poll_event`] returns `None`: the data
    /// is dropped then.
    pub fn take_unread(&mut self, h: Handle, buf: &mut [u8]) -> usize {
        self.unread.take(h, buf, &mut self.pool)
    }
}
