//! Transmitting by gathering: a burst goes to the kernel in one `sendmmsg(2)` on a second packet
//! socket of the queue (no transmit ring), each message a `virtio_net_hdr` followed by the
//! frames' bytes straight from their pool buffers (an `iovec` each), so the kernel copies each
//! byte once, into socket buffers of its own pages.
//!
//! Why not the transmit ring: a slot's bytes reach the kernel as zero-copy fragments
//! (`skb_zcopy_set_nouarg` in `tpacket_fill_skb`), which every path that keeps or cuts the
//! buffer copies first (`skb_copy_ubufs` from `skb_segment` for a GSO super-frame, from the veth
//! peer for the rest), after our own copy into the slot; asking the kernel to copy a slot
//! whole into the linear part instead (`hdr_len` = the frame) makes GSO copy every segment out
//! of it again. Gathered, a super-frame's payload lies in the socket buffer's page fragments,
//! which the cut segments share (only their checksums are computed): the path Linux's own TCP
//! takes with a device without TSO. The price is a system call per burst, as with the ring's
//! kick.
//!
//! Runs of consecutive TCP/IPv4 segments of one flow (see `afpacket_gso.rs`) go as one
//! message of up to 64 KiB, a single rewritten copy of the first frame's headers (kept in a
//! scratch buffer: the frames stay as built, so that a burst the kernel refuses can be sent
//! again) followed by each frame's payload.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::gso::{self, VNET_HDR_LEN};
use super::{AfPacketConfig, setsockopt};
use crate::TxBatch;
use crate::pool::PoolBuf;
use crate::sys;

/// Messages one `sendmmsg` carries at most: a burst's frames, each its own message at worst.
const MAX_MSGS: usize = crate::MAX_BURST;
/// Scratch bytes per message: the `virtio_net_hdr` and a run's rewritten headers (Ethernet,
/// IPv4 without options, TCP with up to 40 bytes of options: 94 bytes).
const SCRATCH: usize = 112;
/// The largest super-frame: an IPv4 datagram of 64 KiB behind its Ethernet header.
pub(super) const MAX_SUPER: usize = 14 + u16::MAX as usize;

/// The gathering transmitter of one queue: its socket and the arrays each burst fills (sized
/// once, at open: no allocation per burst).
pub(super) struct Gather {
    fd: OwnedFd,
    gso: bool,
    scratch: Box<[[u8; SCRATCH]; MAX_MSGS]>,
    /// Per message: frames it carries, its first `iovec`, and how many.
    msg_frames: Vec<(usize, usize, usize)>,
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Gather {
    /// A transmitter on `fd` (a packet socket with `PACKET_VNET_HDR`, bound to the interface
    /// with protocol 0 so that it receives nothing); `gso` merges runs into super-frames.
    pub(super) fn new(fd: OwnedFd, gso: bool) -> Gather {
        Gather {
            fd,
            gso,
            scratch: Box::new([[0; SCRATCH]; MAX_MSGS]),
            msg_frames: Vec::with_capacity(MAX_MSGS),
            iov: Vec::with_capacity(2 * MAX_MSGS + crate::MAX_BURST),
            msgs: Vec::with_capacity(MAX_MSGS),
        }
    }

    /// Whether runs go as super-frames, and so whether the kernel cuts long segments for us.
    pub(super) fn gso(&self) -> bool {
        self.gso
    }

    /// Sends frames from the front of `pkts` (at most a burst); returns how many the kernel
    /// took. A message the kernel refuses for good (a frame longer than the MTU, say) is dropped
    /// with its frames and reported as the error, after the messages before it went out.
    pub(super) fn send<B: TxBatch<PoolBuf>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        let planned = self.plan(pkts);
        if planned == 0 {
            return Ok(0);
        }
        self.msgs.clear();
        for &(_, first_iov, iovs) in &self.msg_frames {
            // SAFETY: all-zero is a valid msghdr (no name, no control data).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            // `iov` is complete and not resized again before the call: the pointer stays valid.
            m.msg_hdr.msg_iov = self.iov[first_iov..].as_mut_ptr();
            m.msg_hdr.msg_iovlen = iovs;
            self.msgs.push(m);
        }
        // SAFETY: `msgs` holds `msgs.len()` initialised headers whose iovecs point into the
        // scratch buffers and the frames of `pkts`, all alive and unchanged for the call.
        let rc = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        let (took, err) = if rc >= 0 {
            (rc as usize, None)
        } else {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR) => (0, None),
                // The first message is refused for good: it is dropped.
                _ => (1, Some(e)),
            }
        };
        let frames: usize = self.msg_frames[..took].iter().map(|m| m.0).sum();
        pkts.consume(frames);
        match err {
            Some(e) => Err(e),
            None => Ok(frames),
        }
    }

    /// Lays out the messages for the front of `pkts`: `msg_frames` and `iov`. Returns the
    /// frames planned.
    fn plan<B: TxBatch<PoolBuf>>(&mut self, pkts: &B) -> usize {
        self.msg_frames.clear();
        self.iov.clear();
        let mut next = 0;
        while self.msg_frames.len() < MAX_MSGS {
            let Some(frame) = pkts.get(next) else { break };
            let m = self.msg_frames.len();
            let first_iov = self.iov.len();
            let scratch = &mut self.scratch[m];
            // A segment the stack left for the kernel to cut goes whole, with its own header.
            if let Some(hdr) = gso::tso_header(frame, frame.offload()) {
                scratch[..VNET_HDR_LEN].copy_from_slice(&hdr);
                self.iov.push(iovec(&scratch[..VNET_HDR_LEN]));
                self.iov.push(iovec(frame));
                self.msg_frames.push((1, first_iov, 2));
                next += 1;
                continue;
            }
            // Runs merge plain frames only (a long segment ends one).
            let plain = |i| {
                pkts.get(next + i)
                    .filter(|b| b.offload().tcp_segment == 0)
                    .map(|b| &b[..])
            };
            let run = if self.gso {
                gso::run(plain, MAX_SUPER)
            } else {
                None
            };
            let count = match run {
                Some(run) if VNET_HDR_LEN + run.hdr_len <= SCRATCH => {
                    let last = pkts
                        .get(next + run.count - 1)
                        .map_or(&frame[..], |b| &b[..]);
                    let head = &mut scratch[..VNET_HDR_LEN + run.hdr_len];
                    gso::write_headers(frame, last, &run, head);
                    self.iov.push(iovec(head));
                    for i in 0..run.count {
                        if let Some(f) = pkts.get(next + i) {
                            self.iov.push(iovec(&f[run.hdr_len..]));
                        }
                    }
                    run.count
                }
                _ => {
                    let hdr = gso::frame_header(frame.len(), frame.offload());
                    scratch[..VNET_HDR_LEN].copy_from_slice(&hdr);
                    self.iov.push(iovec(&scratch[..VNET_HDR_LEN]));
                    self.iov.push(iovec(frame));
                    1
                }
            };
            self.msg_frames
                .push((count, first_iov, self.iov.len() - first_iov));
            next += count;
        }
        next
    }
}

/// The gathering transmitter's socket: a packet socket with `PACKET_VNET_HDR` bound to
/// `ifindex` with protocol 0, so that it receives nothing (the queue's other socket receives).
pub(super) fn socket(cfg: &AfPacketConfig, ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = sys::check(unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    let one: libc::c_int = 1;
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &one)?;
    if cfg.qdisc_bypass {
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)?;
    }
    // Frames a device still holds (a NIC's transmit ring, a qdisc) count against the socket's
    // send buffer; past it `sendmmsg` takes nothing (EAGAIN) until they are freed. Room for as
    // many bytes as the transmit ring would hold, where allowed (SO_SNDBUFFORCE needs
    // CAP_NET_ADMIN, SO_SNDBUF is capped by net.core.wmem_max).
    let bytes =
        libc::c_int::try_from(cfg.tx_frames * cfg.tx_frame_size).unwrap_or(libc::c_int::MAX);
    if setsockopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &bytes).is_err() {
        let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, &bytes);
    }
    // SAFETY: all-zero is a valid sockaddr_ll; we fill the fields bind needs.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the given size.
    sys::check(unsafe {
        libc::bind(
            raw,
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// An `iovec` naming `bytes` (which the kernel only reads).
fn iovec(bytes: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    }
}
