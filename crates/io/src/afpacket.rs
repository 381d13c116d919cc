//! Linux AF_PACKET sockets with a TPACKET_V3 memory-mapped receive ring and a TPACKET_V3 transmit
//! ring; several queues join one `PACKET_FANOUT` group.
//!
//! ```text
//!   our stack ◄── AfRx (points into the rx ring: zero copy) ◄── kernel fills blocks ◄── veth/NIC
//!             ──► PoolBuf ──copy into tx ring slot──► send() ──► kernel ──────────────► veth/NIC
//! ```
//!
//! Receiving is zero-copy: a received frame is a view into a ring block, and the block goes back to
//! the kernel once every frame taken from it has been dropped (so holding frames for long stalls the
//! ring). Transmitting copies each frame once into a ring slot, because the kernel sends slots in
//! ring order and an application may drop a buffer it allocated. Outgoing frames of the socket
//! itself are not looped back (`PACKET_IGNORE_OUTGOING`). Open the device inside the network
//! namespace of the interface (e.g. from `mtcp_testkit::Netns::run`).
//!
//! Checksums: the kernel hands locally generated frames (e.g. from a veth peer) with the TCP/UDP
//! checksum not yet computed (`TP_STATUS_CSUMNOTREADY`); such frames, and those whose checksum the
//! driver validated (`TP_STATUS_CSUM_VALID`), report [`ChecksumStatus::Good`] in [`RxMeta`], so a
//! stack must trust that status instead of recomputing. A veth peer with default offloads also
//! hands over TSO/GSO super-frames larger than the MTU; tests that want plain, finished frames turn
//! the peer's offloads off (`ethtool -K <peer> tso off gso off gro off tx off`, as
//! `mtcp_testkit::Netns::disable_offloads` does).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
use std::time::Duration;

use crate::pool::{Pool, PoolBuf};
use crate::sys::{self, check};
use crate::{
    ChecksumOffload, ChecksumStatus, Device, DeviceInfo, Queue, RxFrame, RxMeta, RxSink, Steering,
    TxBatch,
};

/// How to open an AF_PACKET device.
#[derive(Clone, Debug)]
pub struct AfPacketConfig {
    /// Interface name.
    pub ifname: String,
    /// Queues: one socket each, joined in a fanout group when more than one.
    pub queues: usize,
    /// Receive ring block size in bytes (a power of two, multiple of the page size).
    pub block_size: usize,
    /// Receive ring blocks.
    pub block_count: usize,
    /// Milliseconds after which the kernel hands over a partly filled block.
    pub block_timeout_ms: u32,
    /// Transmit ring slot size in bytes (frame plus a 48-byte header).
    pub tx_frame_size: usize,
    /// Transmit ring slots.
    pub tx_frames: usize,
    /// Transmit buffers per queue.
    pub pool_size: usize,
    /// Bypass the kernel's queueing discipline on transmit.
    pub qdisc_bypass: bool,
}

impl AfPacketConfig {
    /// One queue, 64 KiB blocks x 64, 256 transmit slots of 2 KiB (jumbo frames need bigger slots).
    pub fn new(ifname: &str) -> AfPacketConfig {
        AfPacketConfig {
            ifname: ifname.to_owned(),
            queues: 1,
            block_size: 1 << 16,
            block_count: 64,
            block_timeout_ms: 1,
            tx_frame_size: 2048,
            tx_frames: 256,
            pool_size: 1024,
            qdisc_bypass: false,
        }
    }
}

/// Offset of the frame data in a transmit slot: `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`.
const TX_DATA_OFFSET: usize = 48;
/// Offsets inside `struct tpacket_block_desc` (version, offset_to_priv, then `tpacket_hdr_v1`).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
/// Offsets inside `struct tpacket3_hdr`.
const H_NEXT: usize = 0;
const H_SNAPLEN: usize = 12;
const H_LEN: usize = 16;
const H_STATUS: usize = 20;
const H_MAC: usize = 24;
/// `struct sockaddr_ll` follows the header at the aligned header size; `sll_pkttype` is its byte 10.
const SLL_PKTTYPE: usize = 48 + 10;
const TP_STATUS_SENDING: u32 = 1 << 1;
/// `enum tpacket_versions::TPACKET_V3`.
const TPACKET_V3: libc::c_int = 2;

/// An mmap'ed ring area, unmapped (and then its socket closed) when the last user goes.
struct Ring {
    base: NonNull<u8>,
    len: usize,
    block_size: usize,
    blocks: Box<[BlockState]>,
    // Declared last so that it is closed after the unmap in `drop`.
    fd: OwnedFd,
}

struct BlockState {
    /// Frames taken from the block and not yet dropped, plus one while the reader is inside it.
    refs: AtomicU32,
    /// Set while the block belongs to user space (from taking it until its last frame is dropped).
    owned: AtomicBool,
}

// SAFETY: the mapping is plain shared memory; all mutation of shared block state goes through
// atomics and volatile accesses, and each rx/tx region is touched by one queue at a time.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe our own mapping; no frame refers to it any more (they hold
        // an `Arc<Ring>`).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl Ring {
    fn block(&self, index: usize) -> *mut u8 {
        // SAFETY: `index < blocks.len()`, so the offset stays inside the rx part of the mapping.
        unsafe { self.base.as_ptr().add(index * self.block_size) }
    }

    fn read_u32(p: *const u8) -> u32 {
        // SAFETY: callers pass pointers inside the mapping, 4-byte aligned per the kernel ABI.
        unsafe { std::ptr::read_volatile(p.cast::<u32>()) }
    }

    /// Drops one reference to block `index`; the last hands the block back to the kernel.
    fn release(&self, index: usize) {
        let state = &self.blocks[index];
        if state.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            fence(Ordering::Release);
            // SAFETY: `block_status` lies inside block `index`, which user space owns right now.
            unsafe {
                std::ptr::write_volatile(
                    self.block(index).add(BLOCK_STATUS).cast::<u32>(),
                    libc::TP_STATUS_KERNEL,
                )
            };
            state.owned.store(false, Ordering::Release);
        }
    }
}

/// A received frame: a view into the receive ring (zero copy).
pub struct AfRx {
    ring: Arc<Ring>,
    block: usize,
    data: NonNull<u8>,
    len: usize,
    meta: RxMeta,
}

// SAFETY: the frame's bytes stay untouched by the kernel until `drop` releases the block, and
// releasing is atomic, so the frame may move to and be dropped on another thread.
unsafe impl Send for AfRx {}

impl std::ops::Deref for AfRx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `data..data+len` lies inside a block that stays ours until this frame is dropped.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }
}

impl RxFrame for AfRx {
    fn meta(&self) -> RxMeta {
        self.meta
    }
}

impl Drop for AfRx {
    fn drop(&mut self) {
        self.ring.release(self.block);
    }
}

/// An open AF_PACKET port.
pub struct AfPacketDevice {
    info: DeviceInfo,
    queues: Vec<Option<AfPacketQueue>>,
}

impl std::fmt::Debug for AfPacketDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketDevice")
            .field("info", &self.info)
            .finish()
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the given size for the duration of the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

impl AfPacketDevice {
    /// Opens `cfg.queues` sockets on the interface (in the calling thread's network namespace).
    pub fn open(cfg: &AfPacketConfig) -> io::Result<AfPacketDevice> {
        if cfg.queues == 0 || cfg.block_count == 0 || cfg.tx_frames == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "queues, blocks and tx slots must be > 0",
            ));
        }
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        if !cfg.block_size.is_power_of_two() || cfg.block_size % page != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "block size must be a power-of-two multiple of the page size",
            ));
        }
        let slot = cfg.tx_frame_size;
        let fits_pages = if slot <= page {
            page % slot == 0
        } else {
            slot % page == 0
        };
        if slot < TX_DATA_OFFSET + 64 || slot % 16 != 0 || !fits_pages {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tx slot size must be a multiple of 16 that divides the page size or is a multiple of it",
            ));
        }
        let ifindex = sys::if_index(&cfg.ifname)?;
        let mac = sys::if_hwaddr(&cfg.ifname)?;
        let mtu = sys::if_mtu(&cfg.ifname)?;
        let fanout_id = if cfg.queues > 1 {
            use std::sync::atomic::AtomicU16;
            static NEXT: AtomicU16 = AtomicU16::new(0);
            Some(
                (std::process::id() as u16)
                    .wrapping_mul(31)
                    .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)),
            )
        } else {
            None
        };
        let mut queues = Vec::with_capacity(cfg.queues);
        for _ in 0..cfg.queues {
            queues.push(Some(open_socket(cfg, ifindex, fanout_id, page, mtu)?));
        }
        let info = DeviceInfo {
            name: cfg.ifname.clone(),
            mac,
            mtu,
            num_queues: cfg.queues,
            checksum: ChecksumOffload::default(),
            steering: if cfg.queues > 1 {
                Steering::Opaque
            } else {
                Steering::None
            },
        };
        Ok(AfPacketDevice { info, queues })
    }
}

fn open_socket(
    cfg: &AfPacketConfig,
    ifindex: u32,
    fanout_id: Option<u16>,
    page: usize,
    mtu: usize,
) -> io::Result<AfPacketQueue> {
    let fd = packet_socket(cfg)?;
    let raw = fd.as_raw_fd();
    let tx = request_rings(raw, cfg, page)?;
    let rx_len = cfg.block_size * cfg.block_count;
    let ring = map_rings(fd, cfg, rx_len + tx.block * tx.blocks)?;
    bind_and_join(raw, ifindex, fanout_id)?;
    Ok(AfPacketQueue {
        // SAFETY: the tx ring starts right after the rx ring inside the mapping.
        tx_base: unsafe { ring.base.as_ptr().add(rx_len) },
        ring,
        next_block: 0,
        cursor: None,
        tx_slot_size: cfg.tx_frame_size,
        tx_slots: tx.frames,
        tx_head: 0,
        kick: false,
        pool: Pool::new(
            cfg.pool_size,
            (mtu + 18).min(cfg.tx_frame_size - TX_DATA_OFFSET),
        ),
    })
}

/// A TPACKET_V3 socket that receives nothing yet (protocol 0 until bound, so no frame of another
/// interface slips in), ignoring its own outgoing frames, bypassing the qdisc when asked.
fn packet_socket(cfg: &AfPacketConfig) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd =
        check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)?;
    let one: libc::c_int = 1;
    // Older kernels lack it; the pkttype check in rx_into filters outgoing frames anyway.
    let _ = setsockopt(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one);
    if cfg.qdisc_bypass {
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)?;
    }
    Ok(fd)
}

/// The transmit ring's geometry.
struct TxGeometry {
    block: usize,
    blocks: usize,
    frames: usize,
}

/// Asks the kernel for the receive ring (`block_count` blocks) and the transmit ring (at least
/// `tx_frames` slots of `tx_frame_size`, in page-sized blocks).
fn request_rings(raw: RawFd, cfg: &AfPacketConfig, page: usize) -> io::Result<TxGeometry> {
    let rx_req = libc::tpacket_req3 {
        tp_block_size: cfg.block_size as u32,
        tp_block_nr: cfg.block_count as u32,
        tp_frame_size: 2048,
        tp_frame_nr: (cfg.block_size / 2048 * cfg.block_count) as u32,
        tp_retire_blk_tov: cfg.block_timeout_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &rx_req)?;
    let block = page.max(cfg.tx_frame_size);
    let blocks = (cfg.tx_frames * cfg.tx_frame_size).div_ceil(block);
    let frames = blocks * (block / cfg.tx_frame_size);
    let tx_req = libc::tpacket_req3 {
        tp_block_size: block as u32,
        tp_block_nr: blocks as u32,
        tp_frame_size: cfg.tx_frame_size as u32,
        tp_frame_nr: frames as u32,
        tp_retire_blk_tov: 0,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_TX_RING, &tx_req)?;
    Ok(TxGeometry {
        block,
        blocks,
        frames,
    })
}

/// Maps both rings (`len` bytes: receive ring, then transmit ring); the [`Ring`] owns the socket.
fn map_rings(fd: OwnedFd, cfg: &AfPacketConfig, len: usize) -> io::Result<Arc<Ring>> {
    // SAFETY: mapping the socket's rings, as packet_mmap(7) describes; the result is checked.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base =
        NonNull::new(base.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
    Ok(Arc::new(Ring {
        base,
        len,
        block_size: cfg.block_size,
        blocks: (0..cfg.block_count)
            .map(|_| BlockState {
                refs: AtomicU32::new(0),
                owned: AtomicBool::new(false),
            })
            .collect(),
        fd,
    }))
}

/// Binds the socket to `ifindex` for every protocol, and joins fanout group `fanout_id` (spread
/// by flow hash, defragmenting first) when there is one.
fn bind_and_join(raw: RawFd, ifindex: u32, fanout_id: Option<u16>) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr_ll; we fill the fields bind needs.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the given size.
    check(unsafe {
        libc::bind(
            raw,
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    if let Some(id) = fanout_id {
        let arg: libc::c_int = libc::c_int::from(id)
            | (((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) as libc::c_int) << 16);
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
    }
    Ok(())
}

impl Device for AfPacketDevice {
    type Queue = AfPacketQueue;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn queue(&mut self, index: usize) -> io::Result<AfPacketQueue> {
        self.queues
            .get_mut(index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such queue"))?
            .take()
            .ok_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "queue already taken"))
    }
}

/// Where the reader is inside the current receive block.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    block: usize,
    left: u32,
    offset: usize,
}

/// One socket: its receive and transmit rings.
pub struct AfPacketQueue {
    ring: Arc<Ring>,
    next_block: usize,
    cursor: Option<Cursor>,
    tx_base: *mut u8,
    tx_slot_size: usize,
    tx_slots: usize,
    tx_head: usize,
    kick: bool,
    pool: Pool,
}

// SAFETY: `tx_base` points into the mapping kept alive by `ring`; only this queue touches the tx ring.
unsafe impl Send for AfPacketQueue {}

impl AfPacketQueue {
    /// The queue's transmit buffer pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn tx_slot(&self, index: usize) -> *mut u8 {
        // SAFETY: `index < tx_slots`, so the slot lies inside the tx part of the mapping.
        unsafe { self.tx_base.add(index * self.tx_slot_size) }
    }

    fn send_kick(&mut self) -> io::Result<()> {
        // SAFETY: send(2) with no data asks the kernel to transmit the ring's pending slots.
        let rc = unsafe {
            libc::send(
                self.ring.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => {
                    self.kick = true;
                    Ok(())
                }
                _ => Err(e),
            };
        }
        self.kick = false;
        Ok(())
    }

    /// Takes the next block from the kernel if it has handed it over.
    fn enter_block(&mut self) -> Option<Cursor> {
        let b = self.next_block;
        let state = &self.ring.blocks[b];
        if state.owned.load(Ordering::Acquire) {
            return None; // Frames of its previous round are still held.
        }
        let block = self.ring.block(b);
        // SAFETY: `block_status` lies inside block `b`.
        let status = Ring::read_u32(unsafe { block.add(BLOCK_STATUS) });
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        fence(Ordering::Acquire);
        state.owned.store(true, Ordering::Relaxed);
        state.refs.store(1, Ordering::Relaxed);
        // SAFETY: both fields lie inside block `b`, which is ours now.
        let (left, first) = unsafe {
            (
                Ring::read_u32(block.add(BLOCK_NUM_PKTS)),
                Ring::read_u32(block.add(BLOCK_FIRST_PKT)),
            )
        };
        Some(Cursor {
            block: b,
            left,
            offset: first as usize,
        })
    }
}

impl Queue for AfPacketQueue {
    type Rx = AfRx;
    type Tx = PoolBuf;

    fn rx_into<S: RxSink<AfRx>>(&mut self, out: &mut S) -> io::Result<usize> {
        if self.kick {
            self.send_kick()?;
        }
        let mut n = 0;
        while out.room() > 0 {
            let mut cur = match self.cursor {
                Some(c) => c,
                None => match self.enter_block() {
                    Some(c) => c,
                    None => break,
                },
            };
            if cur.left == 0 || cur.offset >= self.ring.block_size {
                self.cursor = None;
                self.next_block = (cur.block + 1) % self.ring.blocks.len();
                self.ring.release(cur.block);
                continue;
            }
            let block = self.ring.block(cur.block);
            // SAFETY: the kernel guarantees packet headers lie inside the block it handed over.
            let hdr = unsafe { block.add(cur.offset) };
            // SAFETY: header fields, inside the block as above.
            let (next, snaplen, status, mac, pkttype) = unsafe {
                (
                    Ring::read_u32(hdr.add(H_NEXT)),
                    Ring::read_u32(hdr.add(H_SNAPLEN)) as usize,
                    Ring::read_u32(hdr.add(H_STATUS)),
                    usize::from(std::ptr::read_volatile(hdr.add(H_MAC).cast::<u16>())),
                    std::ptr::read_volatile(hdr.add(SLL_PKTTYPE)),
                )
            };
            cur.left -= 1;
            cur.offset += next as usize;
            self.cursor = Some(cur);
            if pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let l4 = if status & (libc::TP_STATUS_CSUM_VALID | libc::TP_STATUS_CSUMNOTREADY) != 0 {
                ChecksumStatus::Good
            } else {
                ChecksumStatus::Unknown
            };
            // SAFETY: the frame data lies inside the block (`tp_mac + tp_snaplen <= block size`).
            let data = unsafe { hdr.add(mac) };
            self.ring.blocks[cur.block]
                .refs
                .fetch_add(1, Ordering::Relaxed);
            let frame = AfRx {
                ring: Arc::clone(&self.ring),
                block: cur.block,
                data: NonNull::new(data).ok_or_else(|| io::Error::other("null frame"))?,
                len: snaplen,
                meta: RxMeta {
                    rss_hash: None,
                    ipv4_checksum: ChecksumStatus::Unknown,
                    l4_checksum: l4,
                },
            };
            out.put(frame);
            n += 1;
        }
        Ok(n)
    }

    fn tx_alloc(&mut self) -> Option<PoolBuf> {
        self.pool.alloc()
    }

    fn tx_from<B: TxBatch<PoolBuf>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        let mut sent = 0;
        let room = self.tx_slot_size - TX_DATA_OFFSET;
        while let Some(frame) = pkts.get(sent) {
            if frame.len() > room {
                break;
            }
            let slot = self.tx_slot(self.tx_head);
            // SAFETY: `tp_status` lies inside the slot.
            let status = Ring::read_u32(unsafe { slot.add(H_STATUS) });
            if status & (libc::TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
                break; // Ring full: the kernel has not sent this slot yet.
            }
            fence(Ordering::Acquire);
            // SAFETY: the slot is ours (status available); data and header fields lie inside it,
            // and `frame.len() <= room` was checked.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    frame.as_ptr(),
                    slot.add(TX_DATA_OFFSET),
                    frame.len(),
                );
                std::ptr::write_volatile(slot.add(H_NEXT).cast::<u32>(), 0);
                std::ptr::write_volatile(slot.add(H_LEN).cast::<u32>(), frame.len() as u32);
                std::ptr::write_volatile(slot.add(H_SNAPLEN).cast::<u32>(), frame.len() as u32);
            }
            fence(Ordering::Release);
            // SAFETY: as above.
            unsafe {
                std::ptr::write_volatile(
                    slot.add(H_STATUS).cast::<u32>(),
                    libc::TP_STATUS_SEND_REQUEST,
                )
            };
            self.tx_head = (self.tx_head + 1) % self.tx_slots;
            sent += 1;
        }
        if sent == 0 && pkts.get(0).is_some_and(|f| f.len() > room) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame larger than a transmit slot",
            ));
        }
        pkts.consume(sent);
        if sent > 0 || self.kick {
            self.send_kick()?;
        }
        Ok(sent)
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        if self.kick {
            self.send_kick()?;
        }
        if self.cursor.is_some() {
            return Ok(());
        }
        sys::poll_in(self.ring.fd.as_raw_fd(), timeout)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.ring.fd.as_raw_fd())
    }
}
