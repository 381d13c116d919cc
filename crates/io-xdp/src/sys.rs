//! Interface look-ups (mtcp-io's `netdev`) and the socket kicks AF_XDP's `need_wakeup` asks for.

use std::io;
use std::os::fd::RawFd;

pub(crate) use mtcp_io::netdev::{if_hwaddr, if_index, if_mtu};

/// Whether `name` can be an interface name (1 to 15 bytes, no NUL).
pub(crate) fn valid_ifname(name: &str) -> bool {
    !name.is_empty() && name.len() < libc::IFNAMSIZ && !name.as_bytes().contains(&0)
}

/// Asks the kernel to process the TX ring (`need_wakeup`). In copy mode the kernel sends at most
/// its budget of descriptors per call (the whole ring since the shim sets
/// `XDP_MAX_TX_SKB_BUDGET`; 32 on kernels before 6.17) and answers `EAGAIN` while more remain,
/// so this repeats a bounded number of times. `EBUSY`/`ENOBUFS` (the device is busy) are not errors: the
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

/// `struct ethtool_drvinfo` (linux/ethtool.h), of which only `driver` is read.
#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

const ETHTOOL_GDRVINFO: u32 = 0x3;
const SIOCETHTOOL: libc::c_ulong = 0x8946;

/// The interface's driver as `ethtool -i` names it (`veth`, `ice`, `mlx5_core`, ...), for error
/// messages; None when the interface or the ioctl is not there.
pub(crate) fn driver_name(ifname: &str) -> Option<String> {
    if !valid_ifname(ifname) {
        return None;
    }
    let mut info = EthtoolDrvinfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    // SAFETY: an all-zero ifreq is valid; the name fits (checked above) and stays NUL-terminated.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(ifname.as_bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut info as *mut EthtoolDrvinfo).cast();
    // SAFETY: a plain datagram socket for the ioctl, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: SIOCETHTOOL with ETHTOOL_GDRVINFO writes at most one `ethtool_drvinfo` into
    // `info`, which outlives the call; `ifr` names the interface.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL, &mut ifr) };
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return None;
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    let name = String::from_utf8_lossy(&info.driver[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}
