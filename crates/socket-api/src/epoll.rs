//! Epoll instances of a context, with mTCP's event bits and Linux's readiness model: an event
//! puts the socket on the ready list; `epoll_wait` asks the socket for its current level and
//! reports it; level-triggered sockets that were reported stay on the list, edge-triggered ones
//! leave it until the next event, and one-shot ones are disarmed until `EPOLL_CTL_MOD`.
//!
//! (The `epoll` crate carries the cross-thread version; this one is the in-context core.)

use std::collections::{HashMap, VecDeque};

/// Event bits (`MTCP_EPOLL*`; the values are ABI), as plain `u32`s: mtcp-epoll's constants
/// under mTCP's short names.
pub mod events {
    pub use mtcp_epoll::{
        EPOLLERR as ERR, EPOLLET as ET, EPOLLHUP as HUP, EPOLLIN as IN, EPOLLMSG as MSG,
        EPOLLNONE as NONE, EPOLLONESHOT as ONESHOT, EPOLLOUT as OUT, EPOLLPRI as PRI,
        EPOLLRDBAND as RDBAND, EPOLLRDHUP as RDHUP, EPOLLRDNORM as RDNORM, EPOLLWRBAND as WRBAND,
        EPOLLWRNORM as WRNORM,
    };
}

/// `epoll_ctl` operations (`MTCP_EPOLL_CTL_*`): mtcp-epoll's; `EpollOp::try_from(i32)` reads
/// the C value.
pub use mtcp_epoll::EpollOp;

/// `struct mtcp_epoll_event`: not packed (16 bytes on x86-64); `data` is the union's `u64` view.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollEvent {
    /// Event bits.
    pub events: u32,
    /// User data (the union `ptr`/`sockid`/`u32`/`u64`).
    pub data: u64,
}

// The same C record as mtcp-epoll's, whose `events` is a bit set instead of a `u32`.
const _: () = {
    assert!(size_of::<EpollEvent>() == size_of::<mtcp_epoll::EpollEvent>());
    assert!(align_of::<EpollEvent>() == align_of::<mtcp_epoll::EpollEvent>());
    assert!(
        std::mem::offset_of!(EpollEvent, data)
            == std::mem::offset_of!(mtcp_epoll::EpollEvent, data)
    );
};

impl From<mtcp_epoll::EpollEvent> for EpollEvent {
    fn from(e: mtcp_epoll::EpollEvent) -> Self {
        EpollEvent {
            events: e.events.bits(),
            data: e.data,
        }
    }
}

impl From<EpollEvent> for mtcp_epoll::EpollEvent {
    fn from(e: EpollEvent) -> Self {
        mtcp_epoll::EpollEvent::new(mtcp_epoll::Events::from_bits_retain(e.events), e.data)
    }
}

#[derive(Debug)]
struct Reg {
    events: u32,
    data: u64,
    queued: bool,
    disarmed: bool,
}

/// One epoll instance.
#[derive(Debug, Default)]
pub struct EpollSet {
    regs: HashMap<i32, Reg>,
    ready: VecDeque<i32>,
}

/// The bits reported whether asked for or not.
const ALWAYS: u32 = mtcp_epoll::Events::ALWAYS.bits();

impl EpollSet {
    /// An empty instance.
    pub fn new() -> EpollSet {
        EpollSet {
            regs: HashMap::with_capacity(256),
            ready: VecDeque::with_capacity(256),
        }
    }

    /// Whether `sock` is registered.
    pub fn contains(&self, sock: i32) -> bool {
        self.regs.contains_key(&sock)
    }

    /// Registers `sock`; it goes on the ready list so that its current level is reported.
    pub fn add(&mut self, sock: i32, ev: EpollEvent) {
        self.regs.insert(
            sock,
            Reg {
                events: ev.events,
                data: ev.data,
                queued: false,
                disarmed: false,
            },
        );
        self.notify(sock);
    }

    /// Changes the registration (re-arms one-shot sockets).
    pub fn modify(&mut self, sock: i32, ev: EpollEvent) {
        if let Some(r) = self.regs.get_mut(&sock) {
            r.events = ev.events;
            r.data = ev.data;
            r.disarmed = false;
        }
        self.notify(sock);
    }

    /// Unregisters `sock`.
    pub fn remove(&mut self, sock: i32) {
        self.regs.remove(&sock);
    }

    /// Something happened to `sock`: put it on the ready list.
    pub fn notify(&mut self, sock: i32) {
        if let Some(r) = self.regs.get_mut(&sock) {
            if !r.queued && !r.disarmed {
                r.queued = true;
                self.ready.push_back(sock);
            }
        }
    }

    /// Whether some socket may be ready.
    pub fn maybe_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Fills `out` from the ready list, asking `level(sock)` for each socket's current events;
    /// returns how many events were written.
    pub fn collect(&mut self, out: &mut [EpollEvent], mut level: impl FnMut(i32) -> u32) -> usize {
        let mut n = 0;
        let mut todo = self.ready.len();
        while todo > 0 && n < out.len() {
            todo -= 1;
            let Some(sock) = self.ready.pop_front() else {
                break;
            };
            let Some(r) = self.regs.get_mut(&sock) else {
                continue;
            };
            if r.disarmed {
                r.queued = false;
                continue;
            }
            let report = level(sock) & (r.events | ALWAYS);
            if report == 0 {
                r.queued = false;
                continue;
            }
            out[n] = EpollEvent {
                events: report,
                data: r.data,
            };
            n += 1;
            if r.events & events::ONESHOT != 0 {
                r.disarmed = true;
                r.queued = false;
            } else if r.events & events::ET != 0 {
                r.queued = false;
            } else {
                self.ready.push_back(sock);
            }
        }
        n
    }
}

/// mTCP's `EventToString` for a whole mask: the `EPOLL`-prefixed names of the known bits in
/// `ev`, separated by `|` (`"NONE"` when there are none); names and order are mtcp-epoll's
/// [`Events`](mtcp_epoll::Events).
pub fn event_to_string(ev: u32) -> String {
    let mut text = String::new();
    for (name, _) in mtcp_epoll::Events::from_bits_truncate(ev).iter_names() {
        if !text.is_empty() {
            text.push('|');
        }
        text.push_str("EPOLL");
        text.push_str(name);
    }
    if text.is_empty() {
        text.push_str("NONE");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::events::*;
    use super::*;

    fn ev(events: u32, data: u64) -> EpollEvent {
        EpollEvent { events, data }
    }

    #[test]
    fn level_edge_oneshot() {
        let mut e = EpollSet::new();
        let mut out = [EpollEvent::default(); 8];
        e.add(1, ev(IN, 10));
        e.add(2, ev(IN | ET, 20));
        e.add(3, ev(IN | ONESHOT, 30));
        let level = |_| IN | OUT;
        assert_eq!(e.collect(&mut out, level), 3);
        assert_eq!(out[0], ev(IN, 10));
        // Only the level-triggered one stays ready.
        assert_eq!(e.collect(&mut out, level), 1);
        assert_eq!(out[0].data, 10);
        e.notify(2);
        e.notify(3); // Disarmed: ignored until MOD.
        assert_eq!(e.collect(&mut out, level), 2);
        e.modify(3, ev(IN, 31));
        let n = e.collect(&mut out, level);
        assert!(out[..n].contains(&ev(IN, 31)));
        // ERR/HUP are reported unasked; nothing ready drops off the list.
        e.add(4, ev(IN, 40));
        let n = e.collect(&mut out, |s| if s == 4 { HUP } else { 0 });
        assert_eq!(&out[..n], &[ev(HUP, 40)]);
        assert_eq!(e.collect(&mut out, |_| 0), 0);
        assert!(!e.maybe_ready());
    }

    #[test]
    fn event_names() {
        assert_eq!(
            event_to_string(IN | RDHUP | ET),
            "EPOLLIN|EPOLLRDHUP|EPOLLET"
        );
        assert_eq!(event_to_string(0), "NONE");
        assert_eq!(event_to_string(0x20), "NONE");
        assert_eq!(event_to_string(OUT | 0x20 | ERR), "EPOLLOUT|EPOLLERR");
        let e = ev(IN | HUP | 0x20, 9);
        assert_eq!(EpollEvent::from(mtcp_epoll::EpollEvent::from(e)), e);
        assert_eq!(std::mem::size_of::<EpollEvent>(), 16);
    }
}
