//! Linux TAP devices through `/dev/net/tun` (`IFF_TAP | IFF_NO_PI`, optionally `IFF_MULTI_QUEUE`).
//!
//! ```text
//!   our stack ──► TapQueue ──write()──► /dev/net/tun ──► kernel interface `tapX` ──► Linux stack
//!             ◄──          ◄──read()──                ◄──
//! ```
//!
//! The kernel side of the TAP is an ordinary interface (`tapX`, with the kernel's own MAC); this side
//! is the wire behind it, so the port gets its own locally administered MAC (or the one you pass).
//! Each queue is one file descriptor; with several queues the kernel spreads flows by its own hash
//! ([`Steering::Opaque`]). Frames are copied between the kernel and fixed pool buffers
//! (not zero-copy). The device is created in the network namespace of the calling thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::pool::{Pool, PoolBuf};
use crate::sys::{self, IfReq, check};
use crate::{
    ChecksumOffload, Device, DeviceInfo, EthernetAddress, Queue, RxSink, Steering, TxBatch, TxFrame,
};

/// How to open a TAP device.
#[derive(Clone, Debug)]
pub struct TapConfig {
    /// Interface name (created if missing; the kernel fills in `%d` patterns).
    pub name: String,
    /// Queues (1 = a single-queue TAP).
    pub queues: usize,
    /// Buffers per queue (shared by received and transmitted frames).
    pub pool_size: usize,
    /// This port's MAC; `None` picks a random locally administered one.
    pub mac: Option<EthernetAddress>,
}

impl TapConfig {
    /// One queue, 1024 buffers, a random MAC.
    pub fn new(name: &str) -> TapConfig {
        TapConfig {
            name: name.to_owned(),
            queues: 1,
            pool_size: 1024,
            mac: None,
        }
    }
}

/// An open TAP device.
#[derive(Debug)]
pub struct TapDevice {
    info: DeviceInfo,
    fds: Vec<Option<OwnedFd>>,
    pool_size: usize,
}

fn open_queue(name: &str, multi: bool) -> io::Result<(OwnedFd, String)> {
    let mut req = IfReq::new(name)?;
    // SAFETY: open(2) with a constant NUL-terminated path; the result is checked.
    let fd = check(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if multi {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    req.data[..2].copy_from_slice(&(flags as libc::c_short).to_ne_bytes());
    // SAFETY: `req` is a valid ifreq for TUNSETIFF, alive for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) })?;
    Ok((fd, req.name()))
}

impl TapDevice {
    /// Creates (or attaches to) the TAP device in the calling thread's network namespace.
    pub fn open(cfg: &TapConfig) -> io::Result<TapDevice> {
        if cfg.queues == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TAP needs at least one queue",
            ));
        }
        let multi = cfg.queues > 1;
        let (first, name) = open_queue(&cfg.name, multi)?;
        let mut fds = vec![Some(first)];
        for _ in 1..cfg.queues {
            fds.push(Some(open_queue(&name, true)?.0));
        }
        let mtu = sys::if_mtu(&name)?;
        let info = DeviceInfo {
            name,
            mac: cfg.mac.unwrap_or_else(sys::local_mac),
            mtu,
            num_queues: cfg.queues,
            checksum: ChecksumOffload::default(),
            steering: if multi {
                Steering::Opaque
            } else {
                Steering::None
            },
        };
        Ok(TapDevice {
            info,
            fds,
            pool_size: cfg.pool_size,
        })
    }
}

impl Device for TapDevice {
    type Queue = TapQueue;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn queue(&mut self, index: usize) -> io::Result<TapQueue> {
        let slot = self
            .fds
            .get_mut(index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such queue"))?;
        let fd = slot
            .take()
            .ok_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "queue already taken"))?;
        // Room for the Ethernet header and one VLAN tag beyond the MTU.
        let pool = Pool::new(self.pool_size, (self.info.mtu + 18).max(64));
        Ok(TapQueue { fd, pool })
    }
}

/// One queue (file descriptor) of a TAP device.
#[derive(Debug)]
pub struct TapQueue {
    fd: OwnedFd,
    pool: Pool,
}

impl TapQueue {
    /// The queue's buffer pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Queue for TapQueue {
    type Rx = PoolBuf;
    type Tx = PoolBuf;

    fn rx_into<S: RxSink<PoolBuf>>(&mut self, out: &mut S) -> io::Result<usize> {
        let mut n = 0;
        while out.room() > 0 {
            let Some(mut buf) = self.pool.alloc() else {
                break;
            };
            let whole = buf.whole_mut();
            // SAFETY: `whole` is a writable buffer of `whole.len()` bytes.
            let rc =
                unsafe { libc::read(self.fd.as_raw_fd(), whole.as_mut_ptr().cast(), whole.len()) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted {
                    break;
                }
                return if n > 0 { Ok(n) } else { Err(e) };
            }
            buf.set_len(rc as usize);
            out.put(buf);
            n += 1;
        }
        Ok(n)
    }

    fn tx_alloc(&mut self) -> Option<PoolBuf> {
        self.pool.alloc()
    }

    fn tx_from<B: TxBatch<PoolBuf>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        let mut sent = 0;
        let mut error = None;
        while let Some(frame) = pkts.get(sent) {
            // SAFETY: `frame` is a readable buffer of `frame.len()` bytes.
            let rc =
                unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                    error = Some(e);
                }
                break;
            }
            sent += 1;
        }
        pkts.consume(sent);
        match error {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        sys::poll_in(self.fd.as_raw_fd(), timeout)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }
}
