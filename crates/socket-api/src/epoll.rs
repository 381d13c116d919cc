//! The epoll types of the socket API: mTCP's event bits, the `epoll_ctl` operation, the event
//! record and `EventToString`. The instances themselves are [`mtcp_epoll::Epoll`]s, kept by the
//! stack (level-triggered, `ET`, `ONESHOT`; `ERR`/`HUP` always, `RDHUP` when asked); the stack
//! tells an instance when something happened to a socket and gives the socket's current
//! conditions when the instance reports it.

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
