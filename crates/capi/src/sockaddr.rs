//! `struct sockaddr_in` and `struct sockaddr_in6` to and from Rust socket addresses, with
//! Linux' checks: the length is checked against the socket's family first (`EINVAL`), then the
//! address's family (the caller's errno: mTCP's bind says `EINVAL`, connect `EAFNOSUPPORT`).

use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libc::{c_int, sockaddr, sockaddr_in, sockaddr_in6, socklen_t};
use mtcp_socket_api::Error;

/// The shortest `sockaddr_in6` Linux takes (RFC 2133's, without `sin6_scope_id`).
const SIN6_LEN_RFC2133: usize = 24;

/// Reads an address for a socket of family `domain`: `null` for NULL, `EINVAL` for a length
/// short for the socket's family, `family` for an address of another family.
///
/// # Safety
/// `addr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn read_sockaddr(
    addr: *const sockaddr,
    len: socklen_t,
    domain: c_int,
    null: Error,
    family: Error,
) -> Result<SocketAddr, Error> {
    if addr.is_null() {
        return Err(null);
    }
    let len = len as usize;
    let least = if domain == libc::AF_INET6 {
        SIN6_LEN_RFC2133
    } else {
        size_of::<sockaddr_in>()
    };
    if len < least {
        return Err(Error::Inval);
    }
    // SAFETY: non-null with at least `least` >= 16 readable bytes (caller's contract and the
    // check above); read unaligned because C may pass any `struct sockaddr` storage.
    let sin = unsafe { addr.cast::<sockaddr_in>().read_unaligned() };
    if c_int::from(sin.sin_family) != domain {
        return Err(family);
    }
    if domain != libc::AF_INET6 {
        return Ok(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
            u16::from_be(sin.sin_port),
        )));
    }
    // SAFETY: all-zero bytes are a valid `sockaddr_in6`.
    let mut sin6: sockaddr_in6 = unsafe { std::mem::zeroed() };
    let n = len.min(size_of::<sockaddr_in6>());
    // SAFETY: `addr` has `len` >= `n` readable bytes, `sin6` is a local of at least `n` bytes;
    // they cannot overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(addr.cast::<u8>(), (&raw mut sin6).cast::<u8>(), n);
    }
    Ok(SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::from(sin6.sin6_addr.s6_addr),
        u16::from_be(sin6.sin6_port),
        u32::from_be(sin6.sin6_flowinfo),
        sin6.sin6_scope_id,
    )))
}

/// Writes `a` as a `sockaddr_in` or `sockaddr_in6`, truncated to `*len`, and sets `*len` to
/// its full size.
///
/// # Safety
/// `addr` is NULL or points to `*len` writable bytes; `len` is NULL or valid.
pub(crate) unsafe fn write_sockaddr(addr: *mut sockaddr, len: *mut socklen_t, a: SocketAddr) {
    if addr.is_null() || len.is_null() {
        return;
    }
    match a {
        SocketAddr::V4(a) => {
            let sin = sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: forwarded contract.
            unsafe { copy_out(addr, len, &sin) }
        }
        SocketAddr::V6(a) => {
            let sin6 = sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: forwarded contract.
            unsafe { copy_out(addr, len, &sin6) }
        }
    }
}

/// Copies `value` into `addr`, truncated to `*len`, and sets `*len` to its size.
///
/// # Safety
/// `addr` points to `*len` writable bytes; `len` is valid.
unsafe fn copy_out<T>(addr: *mut sockaddr, len: *mut socklen_t, value: &T) {
    // SAFETY: `len` is non-null and valid (caller's contract).
    let room = unsafe { *len } as usize;
    let n = room.min(size_of::<T>());
    // SAFETY: `addr` has `room` >= `n` writable bytes; `value` is at least `n` bytes; they
    // cannot overlap (one is the caller's buffer, the other our local).
    unsafe {
        std::ptr::copy_nonoverlapping(std::ptr::from_ref(value).cast::<u8>(), addr.cast::<u8>(), n);
        *len = size_of::<T>() as socklen_t;
    }
}
