//! Linux AF_PACKET sockets: a TPACKET_V2 memory-mapped receive ring per queue, transmission by
//! `sendmmsg(2)` straight from the pool buffers (or through a memory-mapped transmit ring);
//! several queues join one `PACKET_FANOUT` group.
//!
//! ```text
//!   our stack ◄── AfRx (points into the rx ring: zero copy) ◄── kernel fills slots ◄── veth/NIC
//!             ──► PoolBuf ──sendmmsg (iovecs: the kernel copies once)──► kernel ──► veth/NIC
//! ```
//!
//! Receiving is zero-copy: a received frame is a view into a ring slot, and the slot goes back to
//! the kernel when the frame is dropped (holding frames for long stalls the ring: the kernel drops
//! what arrives while the slot it would fill next is still held). The ring is TPACKET_V2, with a
//! status word per frame, so a frame is visible (and `poll()` wakes) as soon as the kernel wrote
//! it; TPACKET_V3 hands frames over a block at a time, when the block fills or its retire timer
//! (>= 1 ms) fires, which put milliseconds into every round trip of a lightly loaded link.
//! Batching is kept: one `rx_into` takes every frame that is ready, up to the caller's room.
//! A frame larger than a receive slot (`rx_frame_size`, at least the MTU plus headers), such as a
//! TSO/GSO super-frame from a veth peer with offloads on, arrives truncated and is dropped.
//!
//! Transmitting ([`AfPacketConfig::tx_gather`], the default) hands a burst to the kernel in one
//! `sendmmsg(2)` on a second socket of the queue, each frame's bytes gathered from its pool
//! buffer, so the kernel copies each byte once (`afpacket_gather.rs`, which says why the ring
//! costs more); runs of consecutive TCP/IPv4 segments of one flow go as GSO super-frames of up
//! to 64 KiB, and a stack may build such a segment itself (TCP segmentation,
//! [`crate::Queue::tcp_segmentation`]: one header and one buffer for up to 45 segments) in one
//! of the queue's large buffers ([`AfPacketConfig::tso_buffers`]). Without `PACKET_VNET_HDR`,
//! or with `tx_gather` off, frames go through the transmit ring instead, copied once into a ring slot each, because the kernel sends slots in
//! ring order and an application may drop a buffer it allocated. Each slot starts with a
//! `virtio_net_hdr` (`PACKET_VNET_HDR`) whose `hdr_len` is the whole frame, so the kernel copies
//! the frame into the socket buffer's linear part: without it the buffer points at the ring's
//! pages as zero-copy fragments, which a veth peer (`skb_orphan_frags_rx`), like any path that
//! keeps the buffer, copies again into pages it allocates (`skb_copy_ubufs`), costlier than
//! the one copy. A kernel without the option sends the slots' pages as before. Runs of
//! consecutive TCP/IPv4 segments of one flow in a burst share one slot as a GSO super-frame that
//! the kernel cuts back into the same segments (`afpacket_gso.rs`; 16 KiB slots hold 11 full
//! segments), when the interface segments in software (TCP segmentation offload off, as
//! `Netns::disable_offloads` sets it; with it on, a veth pair would hand the super-frame whole to
//! its peer): one socket buffer per run instead of one per frame. Outgoing frames of the socket
//! itself are not looped back (`PACKET_IGNORE_OUTGOING`). Open the device inside the network
//! namespace of the interface (e.g. from `mtcp_testkit::Netns::run`).
//!
//! Checksums: on transmit the port offers TCP checksum offload ([`ChecksumOffload::tcp_tx`],
//! when the kernel takes the `virtio_net_hdr`): a frame marked with [`crate::TxOffload`] carries
//! only the pseudo-header sum, and its header asks the kernel to complete the checksum
//! (`VIRTIO_NET_HDR_F_NEEDS_CSUM`), which it does once, in software if the interface cannot
//! (`tx off`). The kernel computes the checksums of a GSO super-frame's segments anyway, so a
//! stack that summed each payload itself did that work twice. On receive the kernel hands
//! locally generated frames (e.g. from a veth peer) with the TCP/UDP checksum not yet computed
//! (`TP_STATUS_CSUMNOTREADY`); such frames, and those whose checksum the driver validated
//! (`TP_STATUS_CSUM_VALID`), report [`ChecksumStatus::Good`] in [`RxMeta`], so a
//! stack must trust that status instead of recomputing. A veth peer with default offloads also
//! hands over TSO/GSO super-frames larger than the MTU; tests that want plain, finished frames turn
//! the peer's offloads off (`ethtool -K <peer> tso off gso off gro off tx off`, as
//! `mtcp_testkit::Netns::disable_offloads` does).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
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
    /// Receive ring block size in bytes (a power of two, multiple of the page size); raised to the
    /// slot size when a slot is bigger.
    pub block_size: usize,
    /// Receive ring size in bytes: the ring holds as many whole slots as fit (in whole blocks,
    /// one at least), or `rx_frames` if that is more.
    pub rx_ring_bytes: usize,
    /// Receive ring slots at least, however big a slot is, as `rx_ring_limit` allows: the
    /// frames the kernel can hold for us between two looks, one slot each however short the
    /// frame. A burst bigger than the free slots is dropped by the kernel (counted in
    /// `PACKET_STATISTICS`), so with many connections this should be about one per connection.
    pub rx_frames: usize,
    /// The most bytes `rx_frames` may make the receive ring take (a slot is 2 KiB at MTU 1500,
    /// 16 KiB at MTU 9000; the kernel allocates the ring up front).
    pub rx_ring_limit: usize,
    /// Minimum receive slot size in bytes (frame plus a 66-byte header); raised to the next power
    /// of two that holds an MTU-sized frame with a VLAN tag.
    pub rx_frame_size: usize,
    /// Transmit ring slot size in bytes (frame plus a 32-byte header).
    pub tx_frame_size: usize,
    /// Transmit ring slots.
    pub tx_frames: usize,
    /// Transmit buffers per queue.
    pub pool_size: usize,
    /// Bypass the kernel's queueing discipline on transmit. The kernel then drops a frame it
    /// would have to cut, so this turns `gso` (and TCP segmentation) off.
    pub qdisc_bypass: bool,
    /// Send runs of consecutive TCP/IPv4 segments of a burst as GSO super-frames (see the module
    /// docs) when transmit slots hold at least 16 KiB and the interface has TCP segmentation
    /// offload off (with it on, a veth pair would hand the super-frame whole to its peer).
    pub gso: bool,
    /// Transmit with `sendmmsg(2)` from the pool buffers on a second socket instead of through
    /// the transmit ring (see `afpacket_gather.rs`): the kernel copies each byte once, where the
    /// ring costs our copy into the slot and the kernel's of the slot. Needs `PACKET_VNET_HDR`
    /// (the ring is used without it); `tx_frame_size` and `tx_frames` then do not apply (no
    /// transmit ring is mapped).
    pub tx_gather: bool,
    /// Buffers of 64 KiB per queue for TCP segments the kernel cuts (TSO done by its GSO, see
    /// [`crate::Queue::tcp_segmentation`]), when transmission gathers with GSO on; 0 turns that
    /// off (runs of plain segments still merge).
    pub tso_buffers: usize,
}

impl AfPacketConfig {
    /// One queue, a 4 MiB receive ring in blocks of 64 KiB (2 048 slots at MTU 1500, 256 at MTU
    /// 9000, 32 of 128 KiB at MTU 65535; `rx_frames` may raise it to 64 MiB), transmission
    /// gathered with GSO on; for the transmit ring (`tx_gather` off), 128 slots of 16 KiB (2 MiB:
    /// a GSO super-frame of up to 11 full segments each, or one jumbo frame; receive slots grow
    /// with the MTU by themselves).
    pub fn new(ifname: &str) -> AfPacketConfig {
        AfPacketConfig {
            ifname: ifname.to_owned(),
            queues: 1,
            block_size: 1 << 16,
            rx_ring_bytes: 4 << 20,
            rx_frames: 0,
            rx_ring_limit: 64 << 20,
            rx_frame_size: 2048,
            tx_frame_size: 1 << 14,
            tx_frames: 128,
            pool_size: 1024,
            qdisc_bypass: false,
            gso: true,
            tx_gather: true,
            tso_buffers: 32,
        }
    }
}

/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`: where `struct sockaddr_ll` follows the header,
/// and the offset of the frame data in a transmit slot (`tp_hdrlen - sizeof(sockaddr_ll)`).
const HDR_LEN: usize = 32;
const TX_DATA_OFFSET: usize = HDR_LEN;
/// Where the kernel puts an Ethernet frame in a receive slot:
/// `TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14` (`TPACKET2_HDRLEN` = 32 + 20).
const RX_MAC_OFFSET: usize = 66;
#[path = "afpacket_gather.rs"]
mod gather;
#[path = "afpacket_gso.rs"]
mod gso;
#[path = "afpacket_setup.rs"]
mod setup;
/// `sizeof(struct virtio_net_hdr)`: in front of each transmitted frame, and of each received
/// frame (which moves the frame that much further into its receive slot), with `PACKET_VNET_HDR`.
use gso::VNET_HDR_LEN;
/// Transmit slots at least this large carry GSO super-frames (see [`gso`]).
const GSO_MIN_SLOT: usize = 16 << 10;
/// Offsets inside `struct tpacket2_hdr`.
const H_STATUS: usize = 0;
const H_LEN: usize = 4;
const H_SNAPLEN: usize = 8;
const H_MAC: usize = 12;
/// `sll_pkttype` is byte 10 of the `struct sockaddr_ll` after the header.
const SLL_PKTTYPE: usize = HDR_LEN + 10;
const TP_STATUS_SENDING: u32 = 1 << 1;
/// `enum tpacket_versions::TPACKET_V2`.
const TPACKET_V2: libc::c_int = 1;

/// An mmap'ed ring area, unmapped (and then its socket closed) when the last user goes.
struct Ring {
    base: NonNull<u8>,
    len: usize,
    /// Receive ring geometry: slots of `slot_size`, `per_block` of them in each `block_size` block.
    block_size: usize,
    slot_size: usize,
    per_block: usize,
    /// Per receive slot: set while user space holds it (from taking it until its frame is
    /// dropped), so that the reader, coming round the ring again, does not take a held slot (its
    /// status still says `TP_STATUS_USER`) a second time.
    owned: Box<[AtomicBool]>,
    // Declared last so that it is closed after the unmap in `drop`.
    fd: OwnedFd,
}

// SAFETY: the mapping is plain shared memory; all mutation of shared slot state goes through
// atomics and volatile accesses, and each rx/tx region is touched by one queue at a time.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// Frames the kernel dropped for a full receive ring since the last call
    /// (`PACKET_STATISTICS`' `tp_drops`; reading resets the kernel's counters).
    fn take_rx_drops(&self) -> io::Result<u64> {
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `stats`, a live tpacket_stats.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(u64::from(stats.tp_drops))
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Frames lost to a full ring are otherwise invisible (the kernel's copy of the frame
        // still reaches its own stack): say so once, when the socket closes.
        if let Ok(n @ 1..) = self.take_rx_drops() {
            eprintln!(
                "[mtcp] AF_PACKET: the kernel dropped {n} received frames for a full ring \
                 (a bigger one: `rx_frames`, mtcp.conf `afpacket_rx_frames`)"
            );
        }
        // SAFETY: `base`/`len` describe our own mapping; no frame refers to it any more (they hold
        // an `Arc<Ring>`).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl Ring {
    /// Receive slot `index` (`< owned.len()`); slots never straddle blocks.
    fn slot(&self, index: usize) -> *mut u8 {
        let offset =
            index / self.per_block * self.block_size + index % self.per_block * self.slot_size;
        // SAFETY: `index < owned.len()`, so the offset stays inside the rx part of the mapping.
        unsafe { self.base.as_ptr().add(offset) }
    }

    fn read_u32(p: *const u8) -> u32 {
        // SAFETY: callers pass pointers inside the mapping, 4-byte aligned per the kernel ABI.
        unsafe { std::ptr::read_volatile(p.cast::<u32>()) }
    }

    /// Whether receive slot `index` holds a frame user space has not taken yet.
    fn ready(&self, index: usize) -> bool {
        !self.owned[index].load(Ordering::Acquire)
            && Ring::read_u32(self.slot(index)) & libc::TP_STATUS_USER != 0
    }

    /// Hands receive slot `index` back to the kernel.
    fn release(&self, index: usize) {
        fence(Ordering::Release);
        // SAFETY: `tp_status` lies inside slot `index`, which user space owns right now.
        unsafe {
            std::ptr::write_volatile(
                self.slot(index).add(H_STATUS).cast::<u32>(),
                libc::TP_STATUS_KERNEL,
            )
        };
        // Only after the status: the reader must not see the slot free while it still says USER.
        self.owned[index].store(false, Ordering::Release);
    }
}

/// A received frame: a view into the receive ring (zero copy).
pub struct AfRx {
    ring: Arc<Ring>,
    slot: usize,
    data: NonNull<u8>,
    len: usize,
    meta: RxMeta,
}

// SAFETY: the frame's bytes stay untouched by the kernel until `drop` releases the slot, and
// releasing is atomic, so the frame may move to and be dropped on another thread.
unsafe impl Send for AfRx {}

impl std::ops::Deref for AfRx {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `data..data+len` lies inside a slot that stays ours until this frame is dropped.
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
        self.ring.release(self.slot);
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
        if cfg.queues == 0 || cfg.tx_frames == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "queues and tx slots must be > 0",
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
        let rx = setup::rx_geometry(cfg, mtu)?;
        // An interface whose offload we cannot read is taken to pass super-frames whole.
        // Bypassing the qdisc, the kernel hands a frame straight to the driver
        // (`__dev_direct_xmit`) and drops one it would have to cut first: no super-frames then.
        let gso = cfg.gso && !cfg.qdisc_bypass && !sys::if_tso(&cfg.ifname).unwrap_or(true);
        let mut queues = Vec::with_capacity(cfg.queues);
        for _ in 0..cfg.queues {
            queues.push(Some(setup::open_socket(
                cfg, ifindex, fanout_id, page, &rx, mtu, gso,
            )?));
        }
        // With a `virtio_net_hdr` in front of each frame the kernel completes TCP checksums it
        // is asked to (and computes those of GSO segments anyway).
        let tcp_tx = queues
            .iter()
            .flatten()
            .all(|q: &AfPacketQueue| q.tx_vnet > 0);
        let info = DeviceInfo {
            name: cfg.ifname.clone(),
            mac,
            mtu,
            num_queues: cfg.queues,
            checksum: ChecksumOffload {
                tcp_tx,
                ..ChecksumOffload::default()
            },
            steering: if cfg.queues > 1 {
                Steering::Opaque
            } else {
                Steering::None
            },
        };
        Ok(AfPacketDevice { info, queues })
    }
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

/// One socket: its receive and transmit rings.
pub struct AfPacketQueue {
    ring: Arc<Ring>,
    /// The receive slot the kernel fills after the last one read.
    rx_next: usize,
    tx_base: *mut u8,
    tx_slot_size: usize,
    /// Bytes of `virtio_net_hdr` in front of each transmitted frame (0 or [`VNET_HDR_LEN`]).
    tx_vnet: usize,
    /// Whether runs of TCP segments go out as GSO super-frames.
    tx_gso: bool,
    tx_slots: usize,
    tx_head: usize,
    kick: bool,
    /// The gathering transmitter, used instead of the ring when there is one.
    gather: Option<gather::Gather>,
    pool: Pool,
    /// Buffers for long TCP segments the kernel cuts (`tso_buffers`), when it does.
    large: Option<Pool>,
}

// SAFETY: `tx_base` points into the mapping kept alive by `ring`; only this queue touches the tx ring.
unsafe impl Send for AfPacketQueue {}

impl AfPacketQueue {
    /// The queue's transmit buffer pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Frames the kernel dropped because this queue's receive ring was full, since the last
    /// call (`PACKET_STATISTICS`, which reading resets; the rest are reported when the socket
    /// closes).
    pub fn take_rx_drops(&self) -> io::Result<u64> {
        self.ring.take_rx_drops()
    }

    fn tx_slot(&self, index: usize) -> *mut u8 {
        // SAFETY: `index < tx_slots`, so the slot lies inside the tx part of the mapping.
        unsafe { self.tx_base.add(index * self.tx_slot_size) }
    }

    /// Hands the head slot (`slot`, filled with `tp_len` bytes) to the kernel and moves on.
    fn submit(&mut self, slot: *mut u8, tp_len: u32) {
        // SAFETY: `slot` is the head slot, ours until its status says SEND_REQUEST; the header
        // fields lie inside it.
        unsafe {
            std::ptr::write_volatile(slot.add(H_LEN).cast::<u32>(), tp_len);
            std::ptr::write_volatile(slot.add(H_SNAPLEN).cast::<u32>(), tp_len);
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
            let i = self.rx_next;
            if !self.ring.ready(i) {
                break;
            }
            fence(Ordering::Acquire);
            self.ring.owned[i].store(true, Ordering::Relaxed);
            self.rx_next = (i + 1) % self.ring.owned.len();
            let hdr = self.ring.slot(i);
            // SAFETY: header fields, inside the slot, which is ours now.
            let (len, snaplen, status, mac, pkttype) = unsafe {
                (
                    Ring::read_u32(hdr.add(H_LEN)) as usize,
                    Ring::read_u32(hdr.add(H_SNAPLEN)) as usize,
                    Ring::read_u32(hdr.add(H_STATUS)),
                    usize::from(std::ptr::read_volatile(hdr.add(H_MAC).cast::<u16>())),
                    std::ptr::read_volatile(hdr.add(SLL_PKTTYPE)),
                )
            };
            // Outgoing frames (if PACKET_IGNORE_OUTGOING is missing), and frames cut short
            // because they did not fit the slot, go straight back.
            if pkttype == libc::PACKET_OUTGOING
                || snaplen < len
                || mac + snaplen > self.ring.slot_size
            {
                self.ring.release(i);
                continue;
            }
            let l4 = if status & (libc::TP_STATUS_CSUM_VALID | libc::TP_STATUS_CSUMNOTREADY) != 0 {
                ChecksumStatus::Good
            } else {
                ChecksumStatus::Unknown
            };
            // SAFETY: the frame data lies inside the slot (`tp_mac + tp_snaplen <= slot size`,
            // checked above).
            let data = unsafe { hdr.add(mac) };
            let frame = AfRx {
                ring: Arc::clone(&self.ring),
                slot: i,
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

    fn tcp_segmentation(&self) -> usize {
        if self.large.is_some() {
            gather::MAX_SUPER
        } else {
            0
        }
    }

    fn tx_alloc_large(&mut self) -> Option<PoolBuf> {
        self.large.as_ref()?.alloc()
    }

    fn tx_from<B: TxBatch<PoolBuf>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        if let Some(g) = &mut self.gather {
            return g.send(pkts);
        }
        let mut sent = 0;
        let vnet = self.tx_vnet;
        let room = self.tx_slot_size - TX_DATA_OFFSET - vnet;
        let gso = self.tx_gso;
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
            let merged = if gso {
                gso::run(|i| pkts.get(sent + i).map(|b| &b[..]), room)
            } else {
                None
            };
            if let Some(run) = merged {
                // SAFETY: the slot is ours (status available) and `vnet + run.len` bytes from
                // its data offset lie inside it (`run.len <= room`); nothing else refers to them.
                let out = unsafe {
                    std::slice::from_raw_parts_mut(slot.add(TX_DATA_OFFSET), vnet + run.len)
                };
                gso::write(|i| pkts.get(sent + i).map(|b| &b[..]), &run, out);
                self.submit(slot, (vnet + run.len) as u32);
                sent += run.count;
                continue;
            }
            let tp_len = (vnet + frame.len()) as u32;
            // SAFETY: the slot is ours (status available); the vnet header, data and header
            // fields lie inside it, since `vnet + frame.len() <= slot size - TX_DATA_OFFSET`.
            unsafe {
                let data = slot.add(TX_DATA_OFFSET);
                if vnet > 0 {
                    let hdr = gso::frame_header(frame.len(), frame.offload());
                    std::ptr::copy_nonoverlapping(hdr.as_ptr(), data, VNET_HDR_LEN);
                }
                std::ptr::copy_nonoverlapping(frame.as_ptr(), data.add(vnet), frame.len());
            }
            self.submit(slot, tp_len);
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
        if self.ring.ready(self.rx_next) {
            return Ok(());
        }
        sys::poll_in(self.ring.fd.as_raw_fd(), timeout)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.ring.fd.as_raw_fd())
    }
}
