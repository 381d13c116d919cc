//! Interface look-ups (mtcp-io's `netdev`) and the socket kicks AF_XDP's `need_wakeup` asks for.

use std::io;
use std::os::fd::RawFd;

pub(crate) use mtcp_io::netdev::{if_hwaddr, if_index, if_mtu, poll_in};

/// Whether `name` can be an interface name (1 to 15 bytes, no NUL).
pub(crate) fn valid_ifname(name: &str) -> bool {
    !name.is_empty() && name.len() < libc::IFNAMSIZ && !name.as_bytes().contains(&0)
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
