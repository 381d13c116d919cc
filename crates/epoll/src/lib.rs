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
//!   [`Epoll::set_state`] or an event signalled with [`Epoll::notify`]. [`Events::ONESHOT`]:
//!   reported once, then disarmed until `MOD`.
//! - `ERR` and `HUP` are always reported; `RDHUP` only when registered.
//! - `ADD` and `MOD` look at the current state at once (a ready socket is reported next).
//! - [`Epoll::poll`] never blocks; [`Epoll::wait`] sleeps (−1: forever, 0: poll, >0: ms) until
//!   the [`Notifier`] is woken, and fails with `EINTR` after [`Notifier::interrupt`];
//!   [`Epoll::wait_driving`] is the run-to-completion form that drives the stack instead.
//! - No allocation after [`Epoll::new`]: the ready list is linked through a per-id table.
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
