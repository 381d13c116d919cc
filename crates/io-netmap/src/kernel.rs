//! The real kernel side: `/dev/netmap`, `NIOCCTRL` registration, `mmap`, sync ioctls and `poll`.

use crate::error::NetmapError;
use crate::layout::{self, RingSel};
use crate::name::{PortKind, PortName, RingMode};
use crate::queue::{NetmapQueue, QueueConfig, Region, RingSync};
use crate::sys::{self, NmreqHeader, NmreqRegister};
use mtcp_io::{ChecksumOffload, Device, DeviceInfo, EthernetAddress, Steering};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// How to open a netmap port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The control device (normally `/dev/netmap`).
    pub device_path: String,
    /// Per-queue knobs (transmit pool size).
    pub queue: QueueConfig,
    /// The port's Ethernet address. `None`: the interface's own for `netmap:IF` ports; for VALE
    /// ports and pipes, which have none, a locally administered one derived from the name.
    pub mac: Option<EthernetAddress>,
    /// Ask for exclusive access to the bound rings (`NR_EXCLUSIVE`).
    pub exclusive: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            device_path: "/dev/netmap".into(),
            queue: QueueConfig::default(),
            mac: None,
            exclusive: false,
        }
    }
}

/// A mapped registration: the control descriptor and the shared region.
struct Mapping {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; who touches which part is governed by the ring
// protocol (each queue drives its own rings).
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Region for Mapping {
    fn base(&self) -> *mut u8 {
        self.base
    }
    fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base..base+len` is the mapping made in `map_region`, unmapped once; the
        // descriptor is closed after (field drop), which unregisters the port.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// [`RingSync`] through the port's file descriptor.
pub struct KernelSync {
    fd: RawFd,
    _mapping: Arc<Mapping>,
}

impl KernelSync {
    fn ioctl(&self, req: u64, what: &'static str) -> io::Result<()> {
        // SAFETY: NIOCTXSYNC/NIOCRXSYNC take no argument; `fd` is open while `_mapping` lives.
        let rc = unsafe { libc::ioctl(self.fd, req as _) };
        if rc < 0 {
            Err(NetmapError::Os {
                what,
                source: io::Error::last_os_error(),
            }
            .into())
        } else {
            Ok(())
        }
    }
}

impl RingSync for KernelSync {
    fn txsync(&mut self) -> io::Result<()> {
        self.ioctl(sys::NIOCTXSYNC, "NIOCTXSYNC")
    }
    fn rxsync(&mut self) -> io::Result<()> {
        self.ioctl(sys::NIOCRXSYNC, "NIOCRXSYNC")
    }
    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(NetmapError::Os {
                    what: "poll",
                    source: e,
                }
                .into());
            }
        }
        Ok(())
    }
    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
}

/// Opens the control device, mapping its absence to a clear error.
fn open_ctl(path: &str) -> Result<OwnedFd, NetmapError> {
    let c = CString::new(path).map_err(|_| NetmapError::NoDevice { path: path.into() })?;
    // SAFETY: `c` is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => {
                NetmapError::NoDevice { path: path.into() }
            }
            Some(libc::EACCES | libc::EPERM) => NetmapError::PermissionDenied { path: path.into() },
            _ => NetmapError::Os {
                what: "open netmap control device",
                source: e,
            },
        });
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Turns a failed `NIOCCTRL` register into the error a user can act on.
pub fn register_error(
    path: &str,
    port: &str,
    err: io::Error,
    answered_version: u16,
) -> NetmapError {
    match err.raw_os_error() {
        Some(libc::ENOTTY) => NetmapError::NotNetmap { path: path.into() },
        Some(libc::EINVAL) if answered_version != sys::NETMAP_API => NetmapError::ApiMismatch {
            ours: sys::NETMAP_API,
            kernel: answered_version,
        },
        Some(libc::ENXIO | libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP) => {
            NetmapError::UnknownPort {
                name: port.into(),
                source: err,
            }
        }
        Some(libc::EBUSY) => NetmapError::Busy {
            name: port.into(),
            source: err,
        },
        _ => NetmapError::Os {
            what: "netmap rejected the registration (NIOCCTRL)",
            source: err,
        },
    }
}

fn register(
    fd: &OwnedFd,
    path: &str,
    port: &PortName,
    mode: RingMode,
    extra_bufs: u32,
    exclusive: bool,
) -> Result<NmreqRegister, NetmapError> {
    let (nr_mode, nr_ringid) = match mode {
        RingMode::AllNic => (sys::NR_REG_ALL_NIC, 0),
        RingMode::OneNic(k) => (sys::NR_REG_ONE_NIC, k),
        RingMode::Host => (sys::NR_REG_SW, 0),
    };
    let mut body = NmreqRegister {
        nr_mode,
        nr_ringid,
        nr_extra_bufs: extra_bufs,
        nr_flags: if exclusive { sys::NR_EXCLUSIVE } else { 0 },
        ..NmreqRegister::default()
    };
    let mut hdr = NmreqHeader {
        nr_version: sys::NETMAP_API,
        nr_reqtype: sys::NETMAP_REQ_REGISTER,
        nr_reserved: 0,
        nr_name: [0; sys::NETMAP_REQ_IFNAMSIZ],
        nr_options: 0,
        nr_body: &raw mut body as u64,
    };
    // The parser bounded the name to 63 bytes, leaving the terminating NUL.
    hdr.nr_name[..port.request_name.len()].copy_from_slice(port.request_name.as_bytes());
    // SAFETY: NIOCCTRL reads and writes the header and the body it points to, both live here.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), sys::NIOCCTRL as _, &raw mut hdr) };
    if rc < 0 {
        return Err(register_error(
            path,
            &port.original,
            io::Error::last_os_error(),
            hdr.nr_version,
        ));
    }
    Ok(body)
}

fn map_region(fd: OwnedFd, reg: &NmreqRegister) -> Result<Arc<Mapping>, NetmapError> {
    let len =
        usize::try_from(reg.nr_memsize).map_err(|_| NetmapError::BadLayout("region too large"))?;
    if len == 0 || reg.nr_offset >= reg.nr_memsize {
        return Err(NetmapError::BadLayout(
            "the kernel reported an empty region or an offset beyond it",
        ));
    }
    // SAFETY: a fresh shared mapping of the registered descriptor, as netmap(4) prescribes.
    let base = unsafe {
        libc::mmap(
            ptr_null(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(NetmapError::Os {
            what: "mmap of the netmap region",
            source: io::Error::last_os_error(),
        });
    }
    Ok(Arc::new(Mapping {
        fd,
        base: base.cast(),
        len,
    }))
}

fn ptr_null() -> *mut libc::c_void {
    std::ptr::null_mut()
}

/// Reads an interface's MAC address and MTU (`SIOCGIFHWADDR`, `SIOCGIFMTU`).
fn interface_mac_mtu(ifname: &str) -> Result<(EthernetAddress, usize), NetmapError> {
    // SAFETY: plain socket creation.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(NetmapError::Os {
            what: "socket for interface ioctls",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: `s` is a fresh descriptor owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in ifr.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = b as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills `ifr`, which lives here.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut ifr) } < 0 {
        return Err(NetmapError::Os {
            what: "SIOCGIFHWADDR",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: SIOCGIFHWADDR answered through the sockaddr member.
    let data = unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_data };
    let mac = EthernetAddress([
        data[0] as u8,
        data[1] as u8,
        data[2] as u8,
        data[3] as u8,
        data[4] as u8,
        data[5] as u8,
    ]);
    // SAFETY: SIOCGIFMTU fills `ifr`, which lives here.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU as _, &mut ifr) } < 0 {
        return Err(NetmapError::Os {
            what: "SIOCGIFMTU",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: SIOCGIFMTU answered through the mtu member.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    Ok((mac, usize::try_from(mtu).unwrap_or(1500)))
}

/// A locally administered, unicast MAC derived from a port name (FNV-1a), stable across runs.
pub fn mac_from_name(name: &str) -> EthernetAddress {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    EthernetAddress([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
}

struct Registration {
    mapping: Arc<Mapping>,
    reg: NmreqRegister,
    sel: RingSel,
}

/// A netmap port, opened through `/dev/netmap`: one queue per hardware ring pair.
pub struct NetmapDevice {
    info: DeviceInfo,
    port: PortName,
    config: Config,
    /// The registration made by `open`, kept for queue 0 when it binds exactly one ring pair.
    first: Option<Registration>,
    taken: Vec<bool>,
}

impl NetmapDevice {
    /// Opens port `name` (see [`crate::name`] for the syntax) with default settings.
    pub fn open(name: &str) -> Result<NetmapDevice, NetmapError> {
        NetmapDevice::open_with(name, Config::default())
    }

    /// Opens port `name` with `config`.
    pub fn open_with(name: &str, config: Config) -> Result<NetmapDevice, NetmapError> {
        let port = PortName::parse(name)?;
        let reg = Self::register_ring(&port, &config, port.mode)?;
        let num_queues = match port.mode {
            RingMode::AllNic => usize::from(reg.reg.nr_tx_rings.min(reg.reg.nr_rx_rings)).max(1),
            RingMode::OneNic(_) | RingMode::Host => 1,
        };
        // SAFETY: the mapping is live (held by `reg`).
        let buf_size = unsafe {
            layout::locate(
                reg.mapping.base,
                reg.mapping.len,
                reg.reg.nr_offset as usize,
                reg.sel,
            )?
            .tx
            .buf_size
        };
        let frame_room = buf_size.saturating_sub(14);
        let (mac, mtu) = match (&port.kind, config.mac) {
            (PortKind::Nic { ifname }, mac) => {
                let (hw, mtu) = interface_mac_mtu(ifname)?;
                (mac.unwrap_or(hw), mtu.min(frame_room))
            }
            (_, mac) => (
                mac.unwrap_or_else(|| mac_from_name(&port.request_name)),
                frame_room.min(1500),
            ),
        };
        let info = DeviceInfo {
            name: name.to_owned(),
            mac,
            mtu,
            num_queues,
            checksum: ChecksumOffload::default(),
            steering: if num_queues > 1 {
                Steering::Opaque
            } else {
                Steering::None
            },
        };
        // With several ring pairs each queue registers its own; this one was only a probe.
        let first = (num_queues == 1).then_some(reg);
        Ok(NetmapDevice {
            info,
            port,
            config,
            first,
            taken: vec![false; num_queues],
        })
    }

    fn register_ring(
        port: &PortName,
        config: &Config,
        mode: RingMode,
    ) -> Result<Registration, NetmapError> {
        let fd = open_ctl(&config.device_path)?;
        let reg = register(
            &fd,
            &config.device_path,
            port,
            mode,
            config.queue.tx_pool,
            config.exclusive,
        )?;
        let mapping = map_region(fd, &reg)?;
        let sel = match mode {
            RingMode::AllNic => RingSel::Nic(0),
            RingMode::OneNic(k) => RingSel::Nic(u32::from(k)),
            RingMode::Host => RingSel::Host,
        };
        Ok(Registration { mapping, reg, sel })
    }
}

impl Device for NetmapDevice {
    type Queue = NetmapQueue<KernelSync>;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn queue(&mut self, index: usize) -> io::Result<NetmapQueue<KernelSync>> {
        let num_queues = self.info.num_queues;
        if self.taken.get(index).copied() != Some(false) {
            return Err(NetmapError::NoSuchQueue { index, num_queues }.into());
        }
        let reg = match self.first.take() {
            Some(reg) => reg,
            None => {
                let ring = u16::try_from(index)
                    .map_err(|_| NetmapError::NoSuchQueue { index, num_queues })?;
                Self::register_ring(&self.port, &self.config, RingMode::OneNic(ring))?
            }
        };
        let sync = KernelSync {
            fd: reg.mapping.fd.as_raw_fd(),
            _mapping: reg.mapping.clone(),
        };
        let region: Arc<dyn Region> = reg.mapping;
        let queue = NetmapQueue::new(
            region,
            reg.reg.nr_offset as usize,
            reg.sel,
            reg.reg.nr_extra_bufs,
            sync,
            self.config.queue,
        )?;
        self.taken[index] = true;
        Ok(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_is_a_clear_error() {
        let cfg = Config {
            device_path: "/nonexistent/netmap".into(),
            ..Config::default()
        };
        let Err(e) = NetmapDevice::open_with("vale0:a", cfg) else {
            panic!("opened a missing device")
        };
        assert!(matches!(e, NetmapError::NoDevice { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/netmap"));
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_non_netmap_device_is_a_clear_error() {
        let cfg = Config {
            device_path: "/dev/null".into(),
            ..Config::default()
        };
        let Err(e) = NetmapDevice::open_with("vale0:a", cfg) else {
            panic!("registered on /dev/null")
        };
        assert!(matches!(e, NetmapError::NotNetmap { .. }), "{e}");
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn register_errors_map_to_causes() {
        let os = io::Error::from_raw_os_error;
        let api = sys::NETMAP_API;
        assert!(matches!(
            register_error("/d", "p", os(libc::EINVAL), 11),
            NetmapError::ApiMismatch { kernel: 11, .. }
        ));
        assert!(matches!(
            register_error("/d", "p", os(libc::EINVAL), api),
            NetmapError::Os { .. }
        ));
        assert!(matches!(
            register_error("/d", "p", os(libc::ENXIO), api),
            NetmapError::UnknownPort { .. }
        ));
        assert!(matches!(
            register_error("/d", "p", os(libc::EBUSY), api),
            NetmapError::Busy { .. }
        ));
        assert!(matches!(
            register_error("/d", "p", os(libc::ENOTTY), api),
            NetmapError::NotNetmap { .. }
        ));
        let msg = register_error("/d", "p", os(libc::EINVAL), 13).to_string();
        assert!(msg.contains("13") && msg.contains("14"), "{msg}");
    }

    #[test]
    fn derived_macs_are_local_unicast_and_distinct() {
        let a = mac_from_name("vale0:a");
        let b = mac_from_name("vale0:b");
        assert_ne!(a, b);
        for m in [a, b] {
            assert_eq!(m.0[0] & 0x03, 0x02, "{m:?}");
        }
    }
}
