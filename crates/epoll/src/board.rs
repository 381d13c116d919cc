//! Readiness handed from a stack thread to the thread that owns the [`Epoll`], lock-free.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

use crossbeam_queue::ArrayQueue;

use crate::{Epoll, Error, Events, Notifier};

/// Something the socket layer reports readiness to: an [`Epoll`] on the same thread, or a
/// [`ReadinessBoard`] feeding one on another thread.
pub trait Readiness {
    /// The conditions that hold now for `sockid` (see [`Epoll::set_state`]).
    fn set_state(&mut self, sockid: u32, current: Events) -> Result<(), Error>;
    /// `edge` happened anew on `sockid` (see [`Epoll::notify`]).
    fn notify(&mut self, sockid: u32, edge: Events) -> Result<(), Error>;
}

impl Readiness for Epoll {
    fn set_state(&mut self, sockid: u32, current: Events) -> Result<(), Error> {
        Epoll::set_state(self, sockid, current)
    }
    fn notify(&mut self, sockid: u32, edge: Events) -> Result<(), Error> {
        Epoll::notify(self, sockid, edge)
    }
}

impl Readiness for ReadinessBoard {
    fn set_state(&mut self, sockid: u32, current: Events) -> Result<(), Error> {
        ReadinessBoard::set_state(self, sockid, current)
    }
    fn notify(&mut self, sockid: u32, edge: Events) -> Result<(), Error> {
        ReadinessBoard::notify(self, sockid, edge)
    }
}

/// Per-socket cells written by the producer.
#[derive(Debug, Default)]
struct Cell {
    /// Latest level state.
    level: AtomicU32,
    /// Edges since the consumer last looked.
    edges: AtomicU32,
    /// Whether the id sits in `dirty` (so each id is queued at most once).
    queued: AtomicBool,
}

#[derive(Debug)]
struct Shared {
    cells: Box<[Cell]>,
    /// Ids whose cells changed; capacity = number of ids, so a push never fails.
    dirty: ArrayQueue<u32>,
    notifier: Notifier,
}

/// A cloneable, lock-free mailbox of readiness for socket ids `0..capacity`: the stack thread
/// calls [`set_state`](Self::set_state)/[`notify`](Self::notify), the application thread calls
/// [`apply`](Self::apply) (typically as the refresh step of [`Epoll::wait`]).
///
/// Updates to one socket coalesce: only the latest level state and the union of edges since
/// the last `apply` are kept, so memory is fixed and producers never block. The epoll's
/// notifier is woken when a socket first becomes dirty.
#[derive(Clone, Debug)]
pub struct ReadinessBoard {
    shared: Arc<Shared>,
}

impl ReadinessBoard {
    /// A board for ids `0..capacity` that wakes `notifier` (the consuming epoll's).
    pub fn new(capacity: usize, notifier: Notifier) -> Self {
        let cells = (0..capacity).map(|_| Cell::default()).collect();
        ReadinessBoard {
            shared: Arc::new(Shared {
                cells,
                dirty: ArrayQueue::new(capacity.max(1)),
                notifier,
            }),
        }
    }

    /// Publishes the conditions that hold now for `sockid`.
    ///
    /// Bits that rise relative to the previously published state are also kept as edges, so a
    /// fall and a rise published between two [`apply`](Self::apply) calls still reach
    /// edge-triggered watchers (the coalesced level alone would hide them).
    pub fn set_state(&self, sockid: u32, current: Events) -> Result<(), Error> {
        let cell = self.cell(sockid)?;
        let previous = cell.level.swap(current.bits(), SeqCst);
        let rising = current.bits() & !previous;
        if rising != 0 {
            cell.edges.fetch_or(rising, SeqCst);
        }
        self.mark(sockid, cell);
        Ok(())
    }

    /// Publishes that `edge` happened anew on `sockid` (the bits also hold now).
    pub fn notify(&self, sockid: u32, edge: Events) -> Result<(), Error> {
        let cell = self.cell(sockid)?;
        cell.level.fetch_or(edge.bits(), SeqCst);
        cell.edges.fetch_or(edge.bits(), SeqCst);
        self.mark(sockid, cell);
        Ok(())
    }

    /// Moves every published update into `epoll`; returns how many sockets changed.
    pub fn apply(&self, epoll: &mut Epoll) -> usize {
        let mut applied = 0;
        while let Some(id) = self.shared.dirty.pop() {
            let cell = &self.shared.cells[id as usize];
            // Clear first: an update racing with the reads below queues the id again.
            cell.queued.store(false, SeqCst);
            let edges = Events::from_bits_retain(cell.edges.swap(0, SeqCst));
            let level = Events::from_bits_retain(cell.level.load(SeqCst));
            // Ids were checked against the board's capacity; an epoll smaller than the board
            // simply cannot hear about the ids it does not cover.
            if !edges.is_empty() {
                let _ = epoll.notify(id, edges);
            }
            let _ = epoll.set_state(id, level);
            applied += 1;
        }
        applied
    }

    /// Clears what was published for `sockid` (the socket was closed and its id may be reused;
    /// call before the id is handed out again).
    pub fn forget(&self, sockid: u32) -> Result<(), Error> {
        let cell = self.cell(sockid)?;
        cell.edges.store(0, SeqCst);
        cell.level.store(0, SeqCst);
        Ok(())
    }

    /// The notifier this board wakes.
    pub fn notifier(&self) -> &Notifier {
        &self.shared.notifier
    }

    fn cell(&self, sockid: u32) -> Result<&Cell, Error> {
        self.shared
            .cells
            .get(sockid as usize)
            .ok_or(Error::BadId(sockid.into()))
    }

    fn mark(&self, sockid: u32, cell: &Cell) {
        if !cell.queued.swap(true, SeqCst) {
            // Cannot fail: every id is in the queue at most once and the queue holds them all.
            let pushed = self.shared.dirty.push(sockid);
            debug_assert!(pushed.is_ok());
            self.shared.notifier.wake();
        }
    }
}
