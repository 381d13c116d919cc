//! Epoll for the mTCP toolkit: per-context epoll instances that report socket readiness with
//! mTCP's event bits and semantics, blocking waits that other threads can wake or interrupt,
//! and `mtcp_pipe`, an in-stack pipe that epoll can watch.
//!
//! The crate knows nothing about TCP. The socket layer (`socket-api`) tells an [`Epoll`] which
//! conditions hold for each socket id; the application asks which of its registered sockets are
//! ready.
//!
//! ```text
//!   application            mtcp_epoll_ctl / mtcp_epoll_wait / mtcp_pipe      (capi)
//!        |                                  |
//!   socket-api  ── set_state / notify ──▶  Epoll  ◀── ctl / poll / wait
//!   (per-core        |                      ▲  interest table + ready list,
//!    context)        |  stack thread        |  indexed by socket id
//!        |           └─▶ ReadinessBoard ────┘  (lock-free; wakes the Notifier)
//!     tcp engine
//!        |
//!       io  (packets)
//! ```
//!
//! # Semantics (as in mTCP, plus what mTCP left out)
//! - Level-triggered by default: a socket is reported by every wait while a registered
//!   condition holds. [`Events::ET`]: reported once per edge, i.e. a bit that rises in
//!   [`Epoll::set_state`] or an event signalled with [`Epoll::notify`]; the report carries all
//!   registered conditions that hold, as in Linux. [`Events::ONESHOT`]: reported once, then
//!   disarmed until `MOD`.
//! - `ERR` and `HUP` are always reported; `RDHUP` only when registered.
//! - `ADD` and `MOD` look at the current state at once (a ready socket is reported next, even
//!   edge-triggered), so `MOD` after a ONESHOT report re-arms without losing a ready socket.
//! - Reports come in the order sockets became ready; level-triggered ones rotate to the back.
//! - No allocation after [`Epoll::new`]: the ready list is linked through a table indexed by
//!   socket id, and a socket is in it at most once.
//!
//! # Waiting and threads
//! - [`Epoll::poll`] never blocks. [`Epoll::wait`] (timeout −1: forever, 0: poll, >0: ms) calls
//!   a refresh closure, collects, and sleeps on the instance's [`Notifier`] until woken;
//!   [`Epoll::wait_driving`] is the run-to-completion form that keeps calling a closure that
//!   drives the stack instead of sleeping.
//! - A stack thread publishes readiness to a [`ReadinessBoard`] (lock-free, fixed memory,
//!   updates to a socket coalesce but rises are kept as edges) and the waiting thread applies it
//!   in its refresh closure. The board wakes the notifier: an atomic flag, plus `unpark` only
//!   when the waiter sleeps.
//! - [`Notifier::interrupt`] (or [`Notifier::interrupt_from_signal_handler`] from a SIGINT
//!   handler) makes the current or next wait that finds no event fail with `EINTR`; one
//!   interrupt fails one wait.
//!
//! # Pipes
//! [`Pipe`] is the buffer behind `mtcp_pipe`: the socket layer gives it two ids, and
//! [`Pipe::report`] tells any [`Readiness`] sink (an [`Epoll`] or a [`ReadinessBoard`]) that the
//! read end is readable (`IN`; `IN|HUP` after the writer closed) and the write end writable
//! (`OUT`; `ERR|HUP` after the reader closed).
//!
//! # Example
//! ```
//! use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Events, Pipe, Timeout};
//!
//! let mut ep = Epoll::new(16);
//! // A pipe on socket ids 3 (read end) and 4 (write end), watched edge-triggered.
//! let mut pipe = Pipe::new(3, 4, Pipe::DEFAULT_CAPACITY)?;
//! ep.ctl(EpollOp::Add, 3, Events::IN | Events::ET, 3)?;
//!
//! let mut events = [EpollEvent::default(); 8];
//! assert_eq!(ep.wait(&mut events, Timeout::POLL, |_| {})?, 0);
//!
//! pipe.write(b"hello")?;
//! pipe.report(&mut ep)?;
//! assert_eq!(ep.poll(&mut events), 1);
//! assert_eq!(events[0], EpollEvent::new(Events::IN, 3)); // only what was asked for
//! assert_eq!(ep.poll(&mut events), 0); // edge-triggered: once
//!
//! // Another thread wakes a blocked wait after publishing readiness.
//! let board = mtcp_epoll::ReadinessBoard::new(16, ep.notifier().clone());
//! ep.ctl(EpollOp::Add, 5, Events::OUT, 5)?;
//! let producer = board.clone();
//! let t = std::thread::spawn(move || producer.set_state(5, Events::OUT));
//! let n = ep.wait(&mut events, Timeout::Infinite, |ep| {
//!     board.apply(ep);
//! })?;
//! assert_eq!((n, events[0]), (1, EpollEvent::new(Events::OUT, 5)));
//! t.join().unwrap()?;
//! # Ok::<(), mtcp_epoll::Error>(())
//! ```

mod board;
mod epoll;
mod error;
mod events;
mod notifier;
mod pipe;

pub use board::{Readiness, ReadinessBoard};
pub use epoll::{Epoll, Timeout};
pub use error::Error;
pub use events::*;
pub use notifier::Notifier;
pub use pipe::Pipe;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
