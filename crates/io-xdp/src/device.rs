//! Opening a port: look up the interface, attach the XDP program in the chosen mode, bind one
//! socket per queue (zero copy or copy), and describe the result.

use std::ffi::CString;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use mtcp_io::{ChecksumOffload, Device, DeviceInfo, Steering};

use crate::config::{XdpConfig, XdpMode, ZeroCopy};
use crate::error::{XdpError, errno};
use crate::ffi;
use crate::frame::{Program, Umem};
use crate::queue::XdpQueue;
use crate::sys;

/// What the kernel granted: where the program runs and how the sockets are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpBinding {
    /// `Native` or `Generic` (never `Auto`).
    pub mode: XdpMode,
    /// Whether the sockets are bound in zero-copy mode.
    pub zero_copy: bool,
}

/// An open AF_XDP port. Dropping it (and every queue and frame taken from it) closes the
/// sockets and detaches the XDP program; the program is attached through a bpf_link, so the
/// kernel detaches it also when the process dies without running destructors.
pub struct XdpDevice {
    info: DeviceInfo,
    binding: XdpBinding,
    queues: Vec<Option<XdpQueue>>,
}

impl std::fmt::Debug for XdpDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpDevice")
            .field("info", &self.info)
            .field("binding", &self.binding)
            .finish()
    }
}

/// How often a bind that finds the queue busy is retried, 10 ms apart.
const BUSY_RETRIES: u32 = 50;

fn os(ifname: &str, step: &'static str, source: io::Error) -> XdpError {
    XdpError::Os {
        ifname: ifname.to_owned(),
        step,
        source,
    }
}

fn attach_error(ifname: &str, what: &'static str, rc: i32) -> XdpError {
    let source = errno(rc);
    match -rc {
        libc::EPERM | libc::EACCES => XdpError::NoPrivilege(ifname.to_owned()),
        libc::EBUSY | libc::EEXIST => XdpError::AlreadyAttached(ifname.to_owned()),
        // veth refuses native XDP with ENOSPC when its peer has more TX queues than it has RX
        // queues, and with ERANGE when the MTU is too large for a page: both are "not in this
        // mode here", so `auto` falls back to generic for them too.
        libc::ENOSPC => XdpError::Unsupported {
            ifname: ifname.to_owned(),
            what: "native XDP with more peer TX queues than RX queues (veth)",
            source,
        },
        libc::EOPNOTSUPP | libc::EINVAL | libc::ERANGE => XdpError::Unsupported {
            ifname: ifname.to_owned(),
            what,
            source,
        },
        libc::ENOENT => XdpError::NoProgram(source),
        _ => os(ifname, what, source),
    }
}

fn attach(
    config: &XdpConfig,
    ifindex: u32,
    mode: XdpMode,
    frags: bool,
) -> Result<(Program, XdpMode), XdpError> {
    let ifname = config.ifname.as_str();
    let filter = if config.pass_foreign {
        let obj = ffi::FILTER_OBJ.ok_or_else(|| {
            XdpError::Config(
                "xdp_pass_foreign needs the filtering XDP program, and this build had no clang \
                 to compile it (Debian: apt-get install clang, then rebuild)"
                    .into(),
            )
        })?;
        // Network byte order, as the program compares them with the frame's bytes.
        let addrs: Vec<u32> = config
            .local_addrs
            .iter()
            .map(|a| u32::from_ne_bytes(a.octets()))
            .collect();
        Some((obj, addrs))
    } else {
        None
    };
    let try_mode = |flags: u32, what: &'static str| {
        let mut raw = std::ptr::null_mut();
        let rc = match &filter {
            // SAFETY: the object bytes and addresses outlive the call; `raw` is a valid
            // out-pointer the shim sets only on success.
            Some((obj, addrs)) => unsafe {
                ffi::mtcp_xdp_prog_attach_filter(
                    ifindex as i32,
                    flags,
                    i32::from(frags),
                    obj.as_ptr(),
                    obj.len(),
                    addrs.as_ptr(),
                    addrs.len().min(ffi::MAX_FILTER_ADDRS) as u32,
                    &mut raw,
                )
            },
            // SAFETY: `raw` is a valid out-pointer; the shim sets it only on success.
            None => unsafe {
                ffi::mtcp_xdp_prog_attach(ifindex as i32, flags, i32::from(frags), &mut raw)
            },
        };
        if rc == 0 {
            Ok(Program { raw })
        } else {
            Err(attach_error(ifname, what, rc))
        }
    };
    match mode {
        XdpMode::Native => Ok((try_mode(ffi::XDP_FLAGS_DRV_MODE, "native XDP")?, mode)),
        XdpMode::Generic => Ok((try_mode(ffi::XDP_FLAGS_SKB_MODE, "generic XDP")?, mode)),
        XdpMode::Auto => match try_mode(ffi::XDP_FLAGS_DRV_MODE, "native XDP") {
            Ok(p) => Ok((p, XdpMode::Native)),
            Err(XdpError::Unsupported { .. }) => Ok((
                try_mode(ffi::XDP_FLAGS_SKB_MODE, "generic XDP")?,
                XdpMode::Generic,
            )),
            Err(e) => Err(e),
        },
    }
}

/// Opens the socket of queue `queue_id`, zero copy or copy as `zero_copy` asks; with
/// `slot_chunks > 1` (frames larger than a chunk) bound for multi-buffer (`XDP_USE_SG`).
fn open_socket(
    config: &XdpConfig,
    program: &Arc<Program>,
    queue_id: u32,
    zero_copy: ZeroCopy,
    slot_chunks: u32,
) -> Result<(Umem, bool), XdpError> {
    let sg = if slot_chunks > 1 { ffi::XDP_USE_SG } else { 0 };
    let ifname = CString::new(config.ifname.as_str())
        .map_err(|_| XdpError::Config("interface name holds a NUL byte".into()))?;
    let open = |bind: u16| {
        let cfg = ffi::XskConfig {
            ifname: ifname.as_ptr(),
            queue_id,
            frame_count: config.frame_count,
            frame_size: config.frame_size,
            fill_size: config.fill_size,
            comp_size: config.fill_size,
            rx_size: config.ring_size,
            tx_size: config.ring_size,
            bind_flags: bind | ffi::XDP_USE_NEED_WAKEUP | sg,
        };
        // A socket of this queue closed a moment ago (e.g. by a previous open in this process)
        // releases its hold on the queue in a kernel work item: the bind answers EBUSY until
        // then. Wait for that a bounded time (this is the open path, not the fast path).
        for _ in 0..BUSY_RETRIES {
            let mut raw = std::ptr::null_mut();
            // SAFETY: `cfg` and the name it points at outlive the call; the program is attached.
            let rc = unsafe { ffi::mtcp_xsk_open(&cfg, program.raw, &mut raw) };
            match rc {
                0 => return Ok(raw),
                rc if rc == -libc::EBUSY => std::thread::sleep(Duration::from_millis(10)),
                rc => return Err(rc),
            }
        }
        Err(-libc::EBUSY)
    };
    let busy = || XdpError::QueueBusy {
        ifname: config.ifname.clone(),
        queue: queue_id,
    };
    let socket_error = |rc: i32| match -rc {
        libc::EBUSY => busy(),
        _ => attach_error(&config.ifname, "AF_XDP socket", rc),
    };
    let raw = match zero_copy {
        ZeroCopy::Off => open(ffi::XDP_COPY).map_err(socket_error)?,
        ZeroCopy::On => open(ffi::XDP_ZEROCOPY).map_err(|rc| match -rc {
            libc::EOPNOTSUPP | libc::EINVAL | libc::EPROTONOSUPPORT => XdpError::NoZeroCopy {
                ifname: config.ifname.clone(),
                driver: sys::driver_name(&config.ifname).unwrap_or_else(|| "?".into()),
                source: errno(rc),
            },
            _ => socket_error(rc),
        })?,
        ZeroCopy::Auto => match open(ffi::XDP_ZEROCOPY) {
            Ok(raw) => raw,
            Err(_) => open(ffi::XDP_COPY).map_err(socket_error)?,
        },
    };
    // What the kernel granted, read back from the socket (`XDP_OPTIONS`).
    // SAFETY: `raw` is a freshly opened socket.
    let zc = unsafe { ffi::mtcp_xsk_zero_copy(raw) } == 1;
    let umem = Umem::new(
        raw,
        config.frame_count,
        config.frame_size,
        slot_chunks,
        Arc::clone(program),
    );
    Ok((umem, zc))
}

/// What the kernel keeps free at the start of every UMEM chunk it receives into
/// (`XDP_PACKET_HEADROOM`): a chunk holds this much less of a received frame.
const KERNEL_HEADROOM: usize = 256;

/// The UMEM chunk size for `mtu` when the configuration leaves it to us (0): 2 KiB when a
/// received frame (Ethernet and VLAN headers included) fits one after the kernel's headroom,
/// else 4 KiB (a page, the most the kernel takes; larger frames then span several chunks).
fn frame_size_for(config: &XdpConfig, mtu: usize) -> u32 {
    match config.frame_size {
        0 if mtu + 18 + KERNEL_HEADROOM <= 2048 => 2048,
        0 => 4096,
        size => size,
    }
}

/// How many UMEM chunks a frame of `mtu` needs (Ethernet and VLAN headers included, and the
/// kernel's headroom in front of a received one): 1 keeps one chunk per frame; more means
/// multi-buffer with slots of that many chunks (see `Umem`).
fn slot_chunks(config: &XdpConfig, mtu: usize) -> Result<u32, XdpError> {
    let chunks = (mtu + 18).div_ceil(config.frame_size as usize - KERNEL_HEADROOM);
    // A frame of up to 17 fragments (the kernel's MAX_SKB_FRAGS), and at least 16 slots.
    let slots = (config.frame_count / 2) as usize / chunks.max(1);
    if chunks > 16 || (chunks > 1 && slots < 16) {
        return Err(XdpError::Config(format!(
            "MTU {mtu} of `{}` needs {chunks} UMEM chunks of {} bytes per frame: at most 16, \
             with xdp_frames ({}) giving at least 16 frames of that size in half the UMEM",
            config.ifname, config.frame_size, config.frame_count
        )));
    }
    Ok(chunks as u32)
}

impl XdpDevice {
    /// Opens `config.ifname` in the calling thread's network namespace.
    pub fn open(config: &XdpConfig) -> Result<XdpDevice, XdpError> {
        config.validate().map_err(XdpError::Config)?;
        let ifname = config.ifname.as_str();
        if !sys::valid_ifname(ifname) {
            return Err(XdpError::Config(format!("bad interface name {ifname:?}")));
        }
        let ifindex = sys::if_index(ifname).map_err(|e| match e.raw_os_error() {
            Some(libc::ENODEV) => XdpError::NoInterface(ifname.to_owned()),
            _ => os(ifname, "SIOCGIFINDEX", e),
        })?;
        let mac = sys::if_hwaddr(ifname).map_err(|e| os(ifname, "SIOCGIFHWADDR", e))?;
        let mtu = sys::if_mtu(ifname).map_err(|e| os(ifname, "SIOCGIFMTU", e))?;
        let config = &XdpConfig {
            frame_size: frame_size_for(config, mtu),
            ..config.clone()
        };
        let slot_chunks = slot_chunks(config, mtu)?;
        let (program, mode) = attach(config, ifindex, config.mode, slot_chunks > 1)?;
        let program = Arc::new(program);
        let mut queues = Vec::with_capacity(config.queues);
        let mut zero_copy = config.zero_copy != ZeroCopy::Off;
        for q in 0..config.queues {
            // Every queue binds as the first one did.
            let ask = match (q, zero_copy) {
                (0, _) => config.zero_copy,
                (_, true) => ZeroCopy::On,
                (_, false) => ZeroCopy::Off,
            };
            let (umem, zc) = open_socket(config, &program, q as u32, ask, slot_chunks)?;
            zero_copy = zc;
            // Half the receive chunks stocked in the fill ring, the rest for frames the stack
            // holds (and, without slots, for transmit frames).
            let chunks = if slot_chunks > 1 {
                config.frame_count / 2
            } else {
                config.frame_count
            };
            queues.push(Some(XdpQueue::new(Arc::new(umem), chunks / 2)));
        }
        let binding = XdpBinding { mode, zero_copy };
        let steering = if config.queues > 1 {
            Steering::Opaque
        } else {
            Steering::None
        };
        Ok(XdpDevice {
            info: DeviceInfo {
                name: ifname.to_owned(),
                mac,
                mtu,
                num_queues: config.queues,
                checksum: ChecksumOffload::default(),
                steering,
            },
            binding,
            queues,
        })
    }

    /// Where the program runs and whether the sockets are zero copy.
    pub fn binding(&self) -> XdpBinding {
        self.binding
    }
}

impl Device for XdpDevice {
    type Queue = XdpQueue;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn queue(&mut self, index: usize) -> io::Result<XdpQueue> {
        self.queues
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("afxdp queue {index} does not exist or was taken already"),
                )
            })
    }
}
