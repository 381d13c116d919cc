//! The few Linux system-call helpers the TAP and AF_PACKET backends share.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::EthernetAddress;

/// `struct ifreq` reduced to the members we use: the name and a 24-byte union.
#[repr(C)]
pub(crate) struct IfReq {
    pub(crate) name: [u8; libc::IFNAMSIZ],
    pub(crate) data: [u8; 24],
}

impl IfReq {
    pub(crate) fn new(name: &str) -> io::Result<IfReq> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?} (1 to 15 bytes, no NUL)"),
            ));
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }

    /// The name the kernel wrote back (e.g. after `TUNSETIFF` with a pattern).
    pub(crate) fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// Turns a `-1` return into the errno as an error.
pub(crate) fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A datagram socket for interface ioctls, in the calling thread's network namespace.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_ioctl(name: &str, request: libc::c_ulong) -> io::Result<IfReq> {
    let sock = ioctl_socket()?;
    let mut req = IfReq::new(name)?;
    // SAFETY: `req` is a valid, writable ifreq-sized buffer for the duration of the call.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), request as _, &mut req as *mut IfReq) })?;
    Ok(req)
}

/// The interface's MTU (`SIOCGIFMTU`).
pub fn if_mtu(name: &str) -> io::Result<usize> {
    let req = ifreq_ioctl(name, libc::SIOCGIFMTU)?;
    let mtu = i32::from_ne_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]);
    usize::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
}

/// The interface's hardware address (`SIOCGIFHWADDR`).
pub fn if_hwaddr(name: &str) -> io::Result<EthernetAddress> {
    let req = ifreq_ioctl(name, libc::SIOCGIFHWADDR)?;
    // `struct sockaddr`: family (2 bytes), then the address.
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&req.data[2..8]);
    Ok(EthernetAddress(mac))
}

/// Whether the interface takes TCP segments larger than its MTU as they are (TCP segmentation
/// offload on, `ETHTOOL_GTSO`): a veth pair then hands them whole to its peer.
pub fn if_tso(name: &str) -> io::Result<bool> {
    const ETHTOOL_GTSO: u32 = 0x1e;
    // `struct ethtool_value`: the command, then the answer.
    let mut value: [u32; 2] = [ETHTOOL_GTSO, 0];
    let sock = ioctl_socket()?;
    let mut req = IfReq::new(name)?;
    let ptr = value.as_mut_ptr() as usize;
    req.data[..size_of::<usize>()].copy_from_slice(&ptr.to_ne_bytes());
    // SAFETY: `req` is a valid ifreq whose data member points to `value`, a writable
    // `struct ethtool_value` that outlives the call.
    check(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCETHTOOL as _,
            &mut req as *mut IfReq,
        )
    })?;
    Ok(value[1] != 0)
}

/// The interface's index.
pub fn if_index(name: &str) -> io::Result<u32> {
    let req = ifreq_ioctl(name, libc::SIOCGIFINDEX)?;
    let index = i32::from_ne_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]);
    u32::try_from(index).map_err(|_| io::Error::other("negative interface index"))
}

/// Waits up to `timeout` for `fd` to become readable.
pub fn poll_in(fd: RawFd, timeout: Duration) -> io::Result<()> {
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

/// A locally administered unicast MAC, different per call, for a port that has no MAC of its own.
pub(crate) fn local_mac() -> EthernetAddress {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mix = pid.rotate_left(13) ^ n.wrapping_mul(0x9e37_79b9) ^ t;
    let b = mix.to_be_bytes();
    EthernetAddress([0x02, 0x6d, b[0], b[1], b[2], b[3]])
}
