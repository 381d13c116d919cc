//! The per-socket calls: socket, bind, listen, accept, connect, read/write, options, names,
//! pipes. Pointers from C are checked here; the work is `mtcp_socket_api::Context`'s.

use std::ffi::{c_char, c_int, c_void};
use std::io::{IoSlice, IoSliceMut};
use std::mem::size_of;

use std::net::Ipv4Addr;

use libc::{in_addr_t, iovec, sockaddr, socklen_t, ssize_t};
use mtcp_socket_api::Error;

use mtcp_socket_api::events;

use crate::blocking;
use crate::errno::guard;
use crate::sockaddr::{read_sockaddr, write_sockaddr};
use crate::{ctx, mctx_t};

/// Most iovecs a readv/writev takes (Linux's IOV_MAX).
const IOV_MAX: c_int = 1024;
/// iovecs converted on the stack; more take a heap vector.
const IOV_STACK: usize = 16;

/// Checks the output pair of accept/getsockname: both NULL (allowed when `optional`), or
/// both non-NULL.
fn check_out(addr: *mut sockaddr, len: *mut socklen_t, optional: bool) -> Result<(), Error> {
    match (addr.is_null(), len.is_null()) {
        (true, _) if optional => Ok(()),
        (false, false) => Ok(()),
        (true, _) => Err(Error::Inval),
        (false, true) => Err(Error::Fault),
    }
}

/// `int mtcp_socket(mctx_t, int domain, int type, int protocol)`.
///
/// # Safety
/// `mctx` is NULL or a live context used by this thread only (as for every call below).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_socket(
    mctx: mctx_t,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        let id = c.inner.socket(domain, ty, protocol)?;
        c.block.set(id, ty & libc::SOCK_NONBLOCK == 0);
        Ok(id)
    })
}

/// `int mtcp_bind(mctx_t, int sockid, const struct sockaddr *, socklen_t)`: `EINVAL` for NULL,
/// a short length or a family other than the socket's (AF_INET or AF_INET6).
///
/// # Safety
/// As [`mtcp_socket`]; `addr` is NULL or points to `addrlen` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_bind(
    mctx: mctx_t,
    sockid: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        // A bad id is reported before a bad address, as mTCP checks in that order.
        let domain = c.inner.socket_domain(sockid)?;
        // SAFETY: forwarded contract.
        let a = unsafe { read_sockaddr(addr, addrlen, domain, Error::Inval, Error::Inval) }?;
        c.inner.bind(sockid, a)?;
        Ok(0)
    })
}

/// `int mtcp_listen(mctx_t, int sockid, int backlog)`.
///
/// # Safety
/// As [`mtcp_socket`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_listen(mctx: mctx_t, sockid: c_int, backlog: c_int) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        unsafe { ctx(mctx) }?.inner.listen(sockid, backlog)?;
        Ok(0)
    })
}

/// `int mtcp_accept(mctx_t, int sockid, struct sockaddr *, socklen_t *)`: `addr` NULL means
/// `addrlen` is unused; `EAGAIN` when no connection waits.
///
/// # Safety
/// As [`mtcp_socket`]; `addr`/`addrlen` are NULL or valid, `addr` with `*addrlen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_accept(
    mctx: mctx_t,
    sockid: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        check_out(addr, addrlen, true)?;
        let (id, peer) = blocking::call(c, sockid, events::IN, |c| c.inner.accept(sockid))?;
        c.block.set(id, true);
        // SAFETY: forwarded contract (checked pair).
        unsafe { write_sockaddr(addr, addrlen, peer) };
        Ok(id)
    })
}

/// `int mtcp_init_rss(mctx_t, in_addr_t saddr_base, int num_addr, in_addr_t daddr,
/// in_addr_t dport)`: addresses and port in network byte order, as mTCP's callers pass them.
///
/// # Safety
/// As [`mtcp_socket`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_init_rss(
    mctx: mctx_t,
    saddr_base: in_addr_t,
    num_addr: c_int,
    daddr: in_addr_t,
    dport: in_addr_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.init_rss(
            Ipv4Addr::from(u32::from_be(saddr_base)),
            num_addr,
            Ipv4Addr::from(u32::from_be(daddr)),
            u16::from_be(dport as u16),
        )?;
        Ok(0)
    })
}

/// `int mtcp_connect(mctx_t, int sockid, const struct sockaddr *, socklen_t)`: -1 with
/// `EINPROGRESS`, then EPOLLOUT (or EPOLLERR and SO_ERROR). `EFAULT` for NULL.
///
/// # Safety
/// As [`mtcp_socket`]; `addr` is NULL or points to `addrlen` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_connect(
    mctx: mctx_t,
    sockid: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        let domain = c.inner.socket_domain(sockid)?;
        // SAFETY: forwarded contract.
        let a = unsafe { read_sockaddr(addr, addrlen, domain, Error::Fault, Error::AfNoSupport) }?;
        match c.inner.connect(sockid, a) {
            Err(Error::InProgress) => blocking::finish_connect(c, sockid)?,
            r => r?,
        }
        Ok(0)
    })
}

/// `int mtcp_close(mctx_t, int sockid)`: always frees the id.
///
/// # Safety
/// As [`mtcp_socket`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_close(mctx: mctx_t, sockid: c_int) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.close(sockid)?;
        c.block.set(sockid, false);
        Ok(0)
    })
}

/// `int mtcp_abort(mctx_t, int sockid)`: sends a RST and frees the id.
///
/// # Safety
/// As [`mtcp_socket`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_abort(mctx: mctx_t, sockid: c_int) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.abort(sockid)?;
        c.block.set(sockid, false);
        Ok(0)
    })
}

/// A C buffer as a mutable slice: `EFAULT` for NULL with a length.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes not otherwise borrowed.
unsafe fn buf_mut<'a>(buf: *mut c_char, len: usize) -> Result<&'a mut [u8], Error> {
    if len == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(Error::Fault);
    }
    // SAFETY: non-null, `len` writable bytes (caller's contract), clamped to isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len.min(isize::MAX as usize)) })
}

/// A C buffer as a slice: `EFAULT` for NULL with a length.
///
/// # Safety
/// `buf` is NULL or points to `len` readable bytes.
unsafe fn buf_ref<'a>(buf: *const c_char, len: usize) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(Error::Fault);
    }
    // SAFETY: non-null, `len` readable bytes (caller's contract), clamped to isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len.min(isize::MAX as usize)) })
}

/// `ssize_t mtcp_read(mctx_t, int sockid, char *buf, size_t len)`: 0 at end of stream.
///
/// # Safety
/// As [`mtcp_socket`]; `buf` is NULL or has `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_read(
    mctx: mctx_t,
    sockid: c_int,
    buf: *mut c_char,
    len: usize,
) -> ssize_t {
    // SAFETY: forwarded contract.
    unsafe { mtcp_recv(mctx, sockid, buf, len, 0) }
}

/// `ssize_t mtcp_recv(mctx_t, int sockid, char *buf, size_t len, int flags)`: flags 0 or
/// `MSG_PEEK`.
///
/// # Safety
/// As [`mtcp_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_recv(
    mctx: mctx_t,
    sockid: c_int,
    buf: *mut c_char,
    len: usize,
    flags: c_int,
) -> ssize_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        // SAFETY: forwarded contract.
        let b = unsafe { buf_mut(buf, len) }?;
        let n = blocking::call(c, sockid, events::IN, |c| c.inner.recv(sockid, b, flags))?;
        Ok(n as ssize_t)
    })
}

/// `ssize_t mtcp_write(mctx_t, int sockid, const char *buf, size_t len)`: copies what fits in
/// the send buffer (partial writes); `EAGAIN` when it is full.
///
/// # Safety
/// As [`mtcp_socket`]; `buf` is NULL or has `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_write(
    mctx: mctx_t,
    sockid: c_int,
    buf: *const c_char,
    len: usize,
) -> ssize_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        // SAFETY: forwarded contract.
        let b = unsafe { buf_ref(buf, len) }?;
        let n = blocking::call(c, sockid, events::OUT, |c| c.inner.write(sockid, b))?;
        Ok(n as ssize_t)
    })
}

/// Checks an iovec array: `EFAULT` for NULL (with a count) or a NULL base with a length,
/// `EINVAL` for a negative count or more than IOV_MAX.
///
/// # Safety
/// `iov` is NULL or points to `iovcnt` readable iovecs.
unsafe fn iovecs<'a>(iov: *const iovec, iovcnt: c_int) -> Result<&'a [iovec], Error> {
    if !(0..=IOV_MAX).contains(&iovcnt) {
        return Err(Error::Inval);
    }
    if iovcnt == 0 {
        return Ok(&[]);
    }
    if iov.is_null() {
        return Err(Error::Fault);
    }
    // SAFETY: non-null with `iovcnt` readable entries (caller's contract).
    let v = unsafe { std::slice::from_raw_parts(iov, iovcnt as usize) };
    if v.iter().any(|e| e.iov_base.is_null() && e.iov_len != 0) {
        return Err(Error::Fault);
    }
    Ok(v)
}

/// `int mtcp_readv(mctx_t, int sockid, const struct iovec *, int iovcnt)`.
///
/// # Safety
/// As [`mtcp_socket`]; `iov` has `iovcnt` entries, each naming writable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_readv(
    mctx: mctx_t,
    sockid: c_int,
    iov: *const iovec,
    iovcnt: c_int,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        // SAFETY: forwarded contract.
        let v = unsafe { iovecs(iov, iovcnt) }?;
        let slice = |e: &iovec| {
            // SAFETY: each entry names `iov_len` writable bytes (checked non-null when
            // non-empty; the caller's contract for the rest).
            unsafe { buf_mut(e.iov_base.cast(), e.iov_len) }.map(IoSliceMut::new)
        };
        let n = if v.len() <= IOV_STACK {
            let mut bufs: [IoSliceMut<'_>; IOV_STACK] =
                std::array::from_fn(|_| IoSliceMut::new(&mut []));
            for (dst, e) in bufs.iter_mut().zip(v) {
                *dst = slice(e)?;
            }
            let bufs = &mut bufs[..v.len()];
            blocking::call(c, sockid, events::IN, |c| c.inner.readv(sockid, bufs))?
        } else {
            let mut bufs = v.iter().map(slice).collect::<Result<Vec<_>, _>>()?;
            blocking::call(c, sockid, events::IN, |c| c.inner.readv(sockid, &mut bufs))?
        };
        Ok(n.min(c_int::MAX as usize) as c_int)
    })
}

/// `int mtcp_writev(mctx_t, int sockid, const struct iovec *, int iovcnt)`.
///
/// # Safety
/// As [`mtcp_socket`]; `iov` has `iovcnt` entries, each naming readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_writev(
    mctx: mctx_t,
    sockid: c_int,
    iov: *const iovec,
    iovcnt: c_int,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        // SAFETY: forwarded contract.
        let v = unsafe { iovecs(iov, iovcnt) }?;
        let slice = |e: &iovec| {
            // SAFETY: each entry names `iov_len` readable bytes (checked non-null when
            // non-empty; the caller's contract for the rest).
            unsafe { buf_ref(e.iov_base.cast(), e.iov_len) }.map(IoSlice::new)
        };
        let n = if v.len() <= IOV_STACK {
            let mut bufs: [IoSlice<'_>; IOV_STACK] = [IoSlice::new(&[]); IOV_STACK];
            for (dst, e) in bufs.iter_mut().zip(v) {
                *dst = slice(e)?;
            }
            let bufs = &bufs[..v.len()];
            blocking::call(c, sockid, events::OUT, |c| c.inner.writev(sockid, bufs))?
        } else {
            let bufs = v.iter().map(slice).collect::<Result<Vec<_>, _>>()?;
            blocking::call(c, sockid, events::OUT, |c| c.inner.writev(sockid, &bufs))?
        };
        Ok(n.min(c_int::MAX as usize) as c_int)
    })
}

/// `int mtcp_getsockopt(mctx_t, int sockid, int level, int optname, void *optval,
/// socklen_t *optlen)`: `int` options (SO_ERROR, SO_RCVBUF, SO_SNDBUF, SO_TYPE,
/// SO_REUSEADDR, SO_KEEPALIVE, TCP_NODELAY); `EFAULT` for NULL, `EINVAL` if `*optlen` is
/// shorter than an int, `ENOPROTOOPT` for others.
///
/// # Safety
/// As [`mtcp_socket`]; `optval` has `*optlen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_getsockopt(
    mctx: mctx_t,
    sockid: c_int,
    level: c_int,
    optname: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.sock_type(sockid)?;
        if optval.is_null() || optlen.is_null() {
            return Err(Error::Fault);
        }
        // SAFETY: non-null and valid (caller's contract).
        if (unsafe { *optlen } as usize) < size_of::<c_int>() {
            return Err(Error::Inval);
        }
        let v = c.inner.getsockopt(sockid, level, optname)?;
        // SAFETY: at least an int's worth of writable bytes (checked); unaligned-safe write.
        unsafe {
            optval.cast::<c_int>().write_unaligned(v);
            *optlen = size_of::<c_int>() as socklen_t;
        }
        Ok(0)
    })
}

/// `int mtcp_setsockopt(mctx_t, int sockid, int level, int optname, const void *optval,
/// socklen_t optlen)`: `int` options, SO_LINGER's `struct linger` and TCP_CONGESTION's name
/// (`cubic`, `newreno`/`reno`, `bbr`; `ENOENT` otherwise).
///
/// # Safety
/// As [`mtcp_socket`]; `optval` has `optlen` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_setsockopt(
    mctx: mctx_t,
    sockid: c_int,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    optlen: socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.sock_type(sockid)?;
        if optval.is_null() {
            return Err(Error::Fault);
        }
        if (level, optname) == (libc::IPPROTO_TCP, libc::TCP_CONGESTION) {
            // SAFETY: `optlen` readable bytes (the caller's contract): the name, NUL optional.
            let raw = unsafe { core::slice::from_raw_parts(optval.cast::<u8>(), optlen as usize) };
            let raw = raw.split(|&b| b == 0).next().unwrap_or(&[]);
            let name = String::from_utf8_lossy(raw).into_owned();
            c.inner.with(move |s| s.set_congestion(sockid, &name))??;
            return Ok(0);
        }
        if (optlen as usize) < size_of::<c_int>() {
            return Err(Error::Inval);
        }
        if (level, optname) == (libc::SOL_SOCKET, libc::SO_LINGER) {
            if (optlen as usize) < size_of::<libc::linger>() {
                return Err(Error::Inval);
            }
            // SAFETY: a `struct linger`'s worth of readable bytes (checked above).
            let l = unsafe { optval.cast::<libc::linger>().read_unaligned() };
            let (on, secs) = (l.l_onoff != 0, l.l_linger);
            c.inner.with(move |s| s.set_linger(sockid, on, secs))??;
            return Ok(0);
        }
        // SAFETY: at least an int's worth of readable bytes (checked).
        let v = unsafe { optval.cast::<c_int>().read_unaligned() };
        c.inner.setsockopt(sockid, level, optname, v)?;
        Ok(0)
    })
}

/// `int mtcp_setsock_nonblock(mctx_t, int sockid)` (every call is non-blocking already).
///
/// # Safety
/// As [`mtcp_socket`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_setsock_nonblock(mctx: mctx_t, sockid: c_int) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.setsock_nonblock(sockid)?;
        c.block.set(sockid, false);
        Ok(0)
    })
}

/// `int mtcp_socket_ioctl(mctx_t, int sockid, int request, void *argp)`: FIONREAD (readable
/// bytes into `*(int *)argp`) and FIONBIO; else `EINVAL`; NULL `argp` gives `EFAULT`.
///
/// # Safety
/// As [`mtcp_socket`]; `argp` is NULL or points to a writable int.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_socket_ioctl(
    mctx: mctx_t,
    sockid: c_int,
    request: c_int,
    argp: *mut c_void,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        let mut value: c_int = 0;
        if !argp.is_null() {
            // SAFETY: a readable int (caller's contract); FIONBIO reads it.
            value = unsafe { argp.cast::<c_int>().read_unaligned() };
        }
        let arg = (!argp.is_null()).then_some(&mut value);
        c.inner
            .socket_ioctl(sockid, u64::from(request as u32), arg)?;
        if u64::from(request as u32) == libc::FIONBIO {
            c.block.set(sockid, value == 0);
        }
        // SAFETY: non-null (checked by the call above returning Ok) and writable.
        unsafe { argp.cast::<c_int>().write_unaligned(value) };
        Ok(0)
    })
}

/// `int mtcp_getsockname(mctx_t, int sockid, struct sockaddr *, socklen_t *)`: `EINVAL` for
/// NULL.
///
/// # Safety
/// As [`mtcp_socket`]; `addr` has `*addrlen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_getsockname(
    mctx: mctx_t,
    sockid: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.sock_type(sockid)?;
        check_out(addr, addrlen, false).map_err(|_| Error::Inval)?;
        let a = c.inner.getsockname(sockid)?;
        // SAFETY: forwarded contract (checked pair).
        unsafe { write_sockaddr(addr, addrlen, a) };
        Ok(0)
    })
}

/// `int mtcp_getpeername(mctx_t, int sockid, struct sockaddr *, socklen_t *)`: `ENOTCONN`
/// when not connected, `EINVAL` for NULL.
///
/// # Safety
/// As [`mtcp_getsockname`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_getpeername(
    mctx: mctx_t,
    sockid: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        c.inner.sock_type(sockid)?;
        check_out(addr, addrlen, false).map_err(|_| Error::Inval)?;
        let a = c.inner.getpeername(sockid)?;
        // SAFETY: forwarded contract (checked pair).
        unsafe { write_sockaddr(addr, addrlen, a) };
        Ok(0)
    })
}

/// `int mtcp_pipe(mctx_t, int pipeid[2])`: `pipeid[0]` reads, `pipeid[1]` writes; both work
/// with epoll. `EFAULT` for NULL.
///
/// # Safety
/// As [`mtcp_socket`]; `pipeid` is NULL or has two writable ints.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_pipe(mctx: mctx_t, pipeid: *mut c_int) -> c_int {
    guard(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { ctx(mctx) }?;
        if pipeid.is_null() {
            return Err(Error::Fault);
        }
        let [r, w] = c.inner.pipe()?;
        // SAFETY: two writable ints (caller's contract).
        unsafe {
            pipeid.write_unaligned(r);
            pipeid.add(1).write_unaligned(w);
        }
        Ok(0)
    })
}
