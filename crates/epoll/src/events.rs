//! Event bits, the `ctl` operation and the event record, with mTCP's numeric values.

use std::fmt;

use crate::Error;

/// `MTCP_EPOLLNONE`: no event.
pub const EPOLLNONE: u32 = 0x000;
/// `MTCP_EPOLLIN`: readable (data, EOF, or a non-empty accept queue).
pub const EPOLLIN: u32 = 0x001;
/// `MTCP_EPOLLPRI`: urgent data.
pub const EPOLLPRI: u32 = 0x002;
/// `MTCP_EPOLLOUT`: writable (send space free).
pub const EPOLLOUT: u32 = 0x004;
/// `MTCP_EPOLLERR`: error condition; always reported.
pub const EPOLLERR: u32 = 0x008;
/// `MTCP_EPOLLHUP`: hang-up; always reported.
pub const EPOLLHUP: u32 = 0x010;
/// `MTCP_EPOLLRDNORM`: normal data readable.
pub const EPOLLRDNORM: u32 = 0x040;
/// `MTCP_EPOLLRDBAND`: priority band data readable.
pub const EPOLLRDBAND: u32 = 0x080;
/// `MTCP_EPOLLWRNORM`: normal data writable.
pub const EPOLLWRNORM: u32 = 0x100;
/// `MTCP_EPOLLWRBAND`: priority band data writable.
pub const EPOLLWRBAND: u32 = 0x200;
/// `MTCP_EPOLLMSG`: unused, kept for the ABI.
pub const EPOLLMSG: u32 = 0x400;
/// `MTCP_EPOLLRDHUP`: the peer shut down its sending side (reported only when asked for).
pub const EPOLLRDHUP: u32 = 0x2000;
/// `MTCP_EPOLLONESHOT`: disarm after one report until re-armed by `MOD`.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// `MTCP_EPOLLET`: edge-triggered.
pub const EPOLLET: u32 = 1 << 31;

bitflags::bitflags! {
    /// A set of event bits (`uint32_t events` in `struct mtcp_epoll_event`).
    ///
    /// The `bitflags` crate gives the set algebra, `Debug`, name iteration and lossless
    /// `from_bits_retain` for masks that C programs hand us, without hand-written boilerplate;
    /// it has no dependencies and is `repr(transparent)` over `u32`, so the type can sit in the
    /// C-layout [`EpollEvent`].
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Events: u32 {
        /// Readable.
        const IN = EPOLLIN;
        /// Urgent data.
        const PRI = EPOLLPRI;
        /// Writable.
        const OUT = EPOLLOUT;
        /// Error; always reported.
        const ERR = EPOLLERR;
        /// Hang-up; always reported.
        const HUP = EPOLLHUP;
        /// Normal data readable.
        const RDNORM = EPOLLRDNORM;
        /// Priority band readable.
        const RDBAND = EPOLLRDBAND;
        /// Normal data writable.
        const WRNORM = EPOLLWRNORM;
        /// Priority band writable.
        const WRBAND = EPOLLWRBAND;
        /// Unused message bit.
        const MSG = EPOLLMSG;
        /// Peer closed its sending side.
        const RDHUP = EPOLLRDHUP;
        /// One report, then disarmed until `MOD`.
        const ONESHOT = EPOLLONESHOT;
        /// Edge-triggered.
        const ET = EPOLLET;
    }
}

impl Events {
    /// Bits reported whether or not they were registered.
    pub const ALWAYS: Events = Events::ERR.union(Events::HUP);
    /// Bits that change how an entry reports rather than name a condition.
    pub const MODES: Events = Events::ONESHOT.union(Events::ET);
    /// Condition bits (everything but [`Events::MODES`]).
    pub const CONDITIONS: Events = Events::all().difference(Events::MODES);
}

impl fmt::Display for Events {
    /// `IN|OUT` style text; `NONE` for the empty set; unknown bits in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        let mut first = true;
        for (name, _) in self.iter_names() {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
        }
        let unknown = self.bits() & !Events::all().bits();
        if unknown != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{unknown:#x}")?;
        }
        Ok(())
    }
}

/// mTCP's `EventToString`: the name of a single event value.
///
/// mTCP knows `NONE`, `IN`, `PRI`, `OUT`, `ERR`, `HUP` and `RDHUP` and asserts on anything
/// else; we also name the other single bits and return `"UNKNOWN"` for combinations and
/// undefined values instead of aborting. Use [`Events`]' `Display` for combinations.
pub fn event_to_string(events: u32) -> &'static str {
    match events {
        EPOLLNONE => "NONE",
        EPOLLIN => "IN",
        EPOLLPRI => "PRI",
        EPOLLOUT => "OUT",
        EPOLLERR => "ERR",
        EPOLLHUP => "HUP",
        EPOLLRDNORM => "RDNORM",
        EPOLLRDBAND => "RDBAND",
        EPOLLWRNORM => "WRNORM",
        EPOLLWRBAND => "WRBAND",
        EPOLLMSG => "MSG",
        EPOLLRDHUP => "RDHUP",
        EPOLLONESHOT => "ONESHOT",
        EPOLLET => "ET",
        _ => "UNKNOWN",
    }
}

/// The `op` of `mtcp_epoll_ctl` (`enum mtcp_epoll_op`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EpollOp {
    /// `MTCP_EPOLL_CTL_ADD`: register a socket.
    Add = 1,
    /// `MTCP_EPOLL_CTL_DEL`: unregister a socket.
    Del = 2,
    /// `MTCP_EPOLL_CTL_MOD`: change a registration (and re-arm a ONESHOT one).
    Mod = 3,
}

impl TryFrom<i32> for EpollOp {
    type Error = Error;

    /// Any value but 1, 2 or 3 is [`Error::InvalidOp`] (`EINVAL`).
    fn try_from(op: i32) -> Result<Self, Error> {
        match op {
            1 => Ok(EpollOp::Add),
            2 => Ok(EpollOp::Del),
            3 => Ok(EpollOp::Mod),
            other => Err(Error::InvalidOp(other)),
        }
    }
}

/// One reported event: the layout of `struct mtcp_epoll_event` (`uint32_t events` then the
/// 8-byte `mtcp_epoll_data_t` union, **not packed**: 16 bytes, 8-aligned on 64-bit targets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct EpollEvent {
    /// The conditions that hold.
    pub events: Events,
    /// The user data registered with the socket (`u64` view of the union).
    pub data: u64,
}

impl EpollEvent {
    /// An event record.
    pub const fn new(events: Events, data: u64) -> Self {
        EpollEvent { events, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_mtcp() {
        let table: [(Events, u32); 13] = [
            (Events::IN, 0x001),
            (Events::PRI, 0x002),
            (Events::OUT, 0x004),
            (Events::ERR, 0x008),
            (Events::HUP, 0x010),
            (Events::RDNORM, 0x040),
            (Events::RDBAND, 0x080),
            (Events::WRNORM, 0x100),
            (Events::WRBAND, 0x200),
            (Events::MSG, 0x400),
            (Events::RDHUP, 0x2000),
            (Events::ONESHOT, 0x4000_0000),
            (Events::ET, 0x8000_0000),
        ];
        for (flag, value) in table {
            assert_eq!(flag.bits(), value, "{flag:?}");
        }
    }

    #[test]
    fn event_record_has_the_c_layout() {
        assert_eq!(std::mem::size_of::<EpollEvent>(), 16);
        assert_eq!(std::mem::align_of::<EpollEvent>(), 8);
        assert_eq!(std::mem::offset_of!(EpollEvent, data), 8);
    }

    #[test]
    fn names() {
        assert_eq!(event_to_string(0), "NONE");
        assert_eq!(event_to_string(EPOLLIN), "IN");
        assert_eq!(event_to_string(EPOLLRDHUP), "RDHUP");
        assert_eq!(event_to_string(EPOLLET), "ET");
        assert_eq!(event_to_string(EPOLLIN | EPOLLOUT), "UNKNOWN");
        assert_eq!(event_to_string(0x20), "UNKNOWN");
        assert_eq!(
            (Events::IN | Events::OUT | Events::ET).to_string(),
            "IN|OUT|ET"
        );
        assert_eq!(Events::empty().to_string(), "NONE");
        assert_eq!(Events::from_bits_retain(0x21).to_string(), "IN|0x20");
    }

    #[test]
    fn ops() {
        assert_eq!(EpollOp::try_from(1), Ok(EpollOp::Add));
        assert_eq!(EpollOp::try_from(2), Ok(EpollOp::Del));
        assert_eq!(EpollOp::try_from(3), Ok(EpollOp::Mod));
        for bad in [0, 4, -1, i32::MAX] {
            assert_eq!(EpollOp::try_from(bad), Err(Error::InvalidOp(bad)));
        }
    }
}
