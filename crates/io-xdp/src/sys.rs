//! Interface look-ups (`SIOCGIF*` ioctls) and the socket kicks AF_XDP's `need_wakeup` asks for.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use mtcp_io::EthernetAddress;

/// `struct ifreq` reduced to the members we use: the name and a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Whether `name` can be an interface name (1 to 15 bytes, no NUL).
pub(crate) fn valid_ifname(name: &str) -> bool {
    !name.is_empty() && name.len() < libc::IFNAMSIZ && !name.as_bytes().contains(&0)
}

fn ifreq_ioctl(name: &str, request: libc::c_ulong) -> io::Result<[u8; 24]> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: [0; 24],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: `req` is a valid, writable ifreq-sized buffer for the duration of the call.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), request as _, &mut req as *mut IfReq) })?;
    Ok(req.data)
}

fn int_at(data: &[u8; 24]) -> i32 {
    i32::from_ne_bytes([data[0], data[1], data[2], data[3]])
}

/// The interface's index (`SIOCGIFINDEX`).
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    let index = int_at(&ifreq_ioctl(name, libc::SIOCGIFINDEX)?);
    u32::try_from(index).map_err(|_| io::Error::other("negative interface index"))
}

/// The interface's MTU (`SIOCGIFMTU`).
pub(crate) fn if_mtu(name: &str) -> io::Result<usize> {
    let mtu = int_at(&ifreq_ioctl(name, libc::SIOCGIFMTU)?);
    usize::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
}

/// The interface's hardware address (`SIOCGIFHWADDR`).
pub(crate) fn if_hwaddr(name: &str) -> io::Result<EthernetAddress> {
    let data = ifreq_ioctl(name, libc::SIOCGIFHWADDR)?;
    // `struct sockaddr`: family (2 bytes), then the address.
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&data[2..8]);
    Ok(EthernetAddress(mac))
}

/// Asks the kernel to process the TX ring (`need_wakeup`). In copy mode the kernel sends at most
/// a batch of 32 descriptors per call and answers `EAGAIN` while more remain, so this repeats a
/// bounded number of times. `EBUSY`/`ENOBUFS` (the device is busy) are not errors: the
/// descriptors stay in the ring for the next kick.
pub(crate) fn kick_tx(fd: RawFd) -> io::Result<()> {
    for _ in 0..64 {
        // SAFETY: a zero-length sendto with no buffer and no address, as AF_XDP documents.
        let rc = unsafe {
            libc::sendto(
                fd,
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => continue,
            Some(libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN | libc::EINTR) => return Ok(()),
            _ => return Err(err),
        }
    }
    Ok(())
}

/// Asks the kernel to look at the fill ring (`need_wakeup` on the fill ring, zero-copy drivers).
pub(crate) fn kick_rx(fd: RawFd) {
    // SAFETY: a zero-length, non-blocking recvfrom with no buffer, as AF_XDP documents.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// Waits up to `timeout` for `fd` to become readable.
pub(crate) fn poll_in(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match check(rc) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(e),
    }
}
