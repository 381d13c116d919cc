//! Stopping a context (`mtcp_destroy_context`): every socket is closed as `close` would close
//! it, then the stack keeps running (receive, timers, transmit) until the connections have
//! finished or a deadline passes, so that data a program wrote just before destroying its
//! context still reaches the peer.
//!
//! - Listeners close first: they stop accepting, and the connections they hold unaccepted
//!   are reset (as `close` of a listener does).
//! - Streams close gracefully: a FIN follows the data in the send buffer. As `close` (and
//!   Linux), a socket with unread received data, or with `SO_LINGER` on and 0 s, is reset
//!   instead, and a connection still in SYN-SENT is dropped.
//! - A connection has finished when everything we sent, FIN included, is acknowledged:
//!   FIN-WAIT-2, TIME-WAIT, or freed by the engine (both FINs exchanged, or reset). The peer
//!   has then received every byte and seen EOF. Waiting for the peer's own FIN (FIN-WAIT-2)
//!   or waiting out TIME-WAIT (`tcp_timewait`, 0 by default as in mTCP) would only delay the
//!   exit by as long as the peer keeps its side open, without delivering anything more; a FIN
//!   that arrives while other connections still drain is acknowledged as usual.
//! - A connection whose peer does not acknowledge (gone, or not reading with its window
//!   closed) keeps the drain going until the deadline (`drain_timeout_ms`, default 5 s).

use std::time::{Duration, Instant};

use mtcp_io::Queue;

use crate::socket::SockKind;
use crate::stack::Stack;

/// Longest sleep of the drain loop between two turns when no frame arrives.
const DRAIN_NAP: Duration = Duration::from_millis(1);

impl<Q: Queue> Stack<Q> {
    /// Closes every id: listeners first, then streams, epoll instances and pipes.
    pub(crate) fn close_all(&mut self) {
        let ids = self.sockets.socks.ids();
        let is_listener = |s: &Self, id: i32| {
            s.sockets
                .socks
                .get(id)
                .is_ok_and(|s| matches!(s.kind, SockKind::Listener(_)))
        };
        let (listeners, others): (Vec<i32>, Vec<i32>) =
            ids.into_iter().partition(|&id| is_listener(self, id));
        for id in listeners.into_iter().chain(others) {
            let _ = self.close(id);
        }
    }

    /// Closes every socket, then drives the stack until no connection has anything left to
    /// exchange or `limit` has passed (at least one turn, which sends the FINs and RSTs).
    /// Returns the connections left unfinished (0: everything was delivered).
    pub(crate) fn drain(&mut self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        self.close_all();
        loop {
            mtcp_io::doorbell::clear();
            let work = self.poll();
            let left = self.sockets.flows_left();
            let now = Instant::now();
            if left == 0 || now >= deadline {
                return left;
            }
            if work == 0 {
                let mut wait = DRAIN_NAP.min(deadline - now);
                if let Some(t) = self.next_timer() {
                    wait = wait.min(t);
                }
                match self.ports.first_mut() {
                    Some(port) => {
                        let _ = port.queue.wait_rx(wait);
                    }
                    None => std::thread::sleep(wait),
                }
            }
        }
    }
}
