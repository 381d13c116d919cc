//! The epoll instances and pipes of one context, and the flag that tells the threaded mode's
//! stack thread that one of them got a notification.

use mtcp_epoll::{Epoll, Pipe};

use crate::socket::SockTable;

/// Epoll instances and pipes, by slot (the socket table names the slot).
#[derive(Default)]
pub(crate) struct Epolls {
    pub(crate) instances: Vec<Option<Epoll>>,
    pub(crate) pipes: Vec<Option<Pipe>>,
    /// Set when an epoll instance got a notification (threaded mode wakes the app on it).
    pub(crate) notified: bool,
}

impl Epolls {
    /// Tells the epoll instance watching `sock` that something happened.
    pub(crate) fn notify(&mut self, socks: &SockTable, sock: i32) {
        let Ok(s) = socks.get(sock) else { return };
        if let Some(slot) = s.watcher {
            if let Some(Some(ep)) = self.instances.get_mut(slot) {
                // Any condition may have changed, and counts as new for edge-triggered
                // entries: the socket is queued, and the instance asks for its level when it
                // reports it (`poll_current`), as the level may still change until then.
                let _ = ep.notify(sock.unsigned_abs(), mtcp_epoll::Events::CONDITIONS);
                self.notified = true;
            }
        }
    }
}
