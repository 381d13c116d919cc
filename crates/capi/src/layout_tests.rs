//! The C ABI of the headers, checked from the Rust side.

use std::mem::{align_of, offset_of, size_of};

use mtcp_socket_api::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, events};

use crate::{MtcpConfC, MtcpContext, MtcpEpollData, MtcpEpollEvent, socket_type};

#[test]
fn mtcp_conf_is_seven_ints() {
    assert_eq!(size_of::<MtcpConfC>(), 7 * 4);
    assert_eq!(offset_of!(MtcpConfC, num_cores), 0);
    assert_eq!(offset_of!(MtcpConfC, max_concurrency), 4);
    assert_eq!(offset_of!(MtcpConfC, max_num_buffers), 8);
    assert_eq!(offset_of!(MtcpConfC, rcvbuf_size), 12);
    assert_eq!(offset_of!(MtcpConfC, sndbuf_size), 16);
    assert_eq!(offset_of!(MtcpConfC, tcp_timewait), 20);
    assert_eq!(offset_of!(MtcpConfC, tcp_timeout), 24);
}

#[test]
fn epoll_event_is_not_packed() {
    assert_eq!(size_of::<MtcpEpollEvent>(), 16);
    assert_eq!(align_of::<MtcpEpollEvent>(), 8);
    assert_eq!(offset_of!(MtcpEpollEvent, events), 0);
    assert_eq!(offset_of!(MtcpEpollEvent, data), 8);
    assert_eq!(size_of::<MtcpEpollData>(), 8);
}

#[test]
fn context_shows_cpu_first() {
    assert_eq!(offset_of!(MtcpContext, cpu), 0);
}

#[test]
fn constants() {
    assert_eq!((EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD), (1, 2, 3));
    let bits = [
        (events::NONE, 0x000),
        (events::IN, 0x001),
        (events::PRI, 0x002),
        (events::OUT, 0x004),
        (events::ERR, 0x008),
        (events::HUP, 0x010),
        (events::RDNORM, 0x040),
        (events::RDBAND, 0x080),
        (events::WRNORM, 0x100),
        (events::WRBAND, 0x200),
        (events::MSG, 0x400),
        (events::RDHUP, 0x2000),
        (events::ONESHOT, 1 << 30),
        (events::ET, 1 << 31),
    ];
    for (got, want) in bits {
        assert_eq!(got, want);
    }
    use mtcp_socket_api::socket::SockType;
    let types = [
        (socket_type::MTCP_SOCK_UNUSED, SockType::Unused),
        (socket_type::MTCP_SOCK_STREAM, SockType::Stream),
        (socket_type::MTCP_SOCK_PROXY, SockType::Proxy),
        (socket_type::MTCP_SOCK_LISTENER, SockType::Listener),
        (socket_type::MTCP_SOCK_EPOLL, SockType::Epoll),
        (socket_type::MTCP_SOCK_PIPE, SockType::Pipe),
    ];
    for (i, (c, rust)) in types.into_iter().enumerate() {
        assert_eq!(c, i as i32);
        assert_eq!(rust as i32, c);
    }
}
