//! Setting up an AF_PACKET queue's socket: the receive and transmit rings' geometry, the
//! `PACKET_RX_RING`/`PACKET_TX_RING` requests and their mapping, the binding to the interface and
//! the fanout group.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::gso::VNET_HDR_LEN;
use super::{
    AfPacketConfig, AfPacketQueue, GSO_MIN_SLOT, RX_MAC_OFFSET, Ring, TPACKET_V2, TX_DATA_OFFSET,
    gather, setsockopt,
};
use crate::pool::Pool;
use crate::sys::check;

/// The receive ring's geometry: `block` bytes a block, `slot` bytes a frame slot.
pub(super) struct RxGeometry {
    block: usize,
    slot: usize,
    blocks: usize,
}

/// Receive slots hold an MTU-sized frame with a VLAN tag behind the kernel's header (rounded up to
/// a power of two, at least `rx_frame_size`); blocks grow to hold at least one slot. The ring
/// holds as many whole slots as `rx_ring_bytes` has room for, or `rx_frames` if that is more
/// and `rx_ring_limit` allows, rounded up to whole blocks (one at least).
pub(super) fn rx_geometry(cfg: &AfPacketConfig, mtu: usize) -> io::Result<RxGeometry> {
    const MAX_SLOT: usize = 1 << 20;
    let need = cfg
        .rx_frame_size
        .max(RX_MAC_OFFSET + VNET_HDR_LEN + mtu + 18);
    if need > MAX_SLOT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "receive slot size (rx_frame_size or MTU) above 1 MiB",
        ));
    }
    let slot = need.next_power_of_two();
    let block = cfg.block_size.max(slot);
    let frames = (cfg.rx_ring_bytes / slot).max(cfg.rx_frames.min(cfg.rx_ring_limit / slot));
    let blocks = frames.div_ceil(block / slot).max(1);
    // The kernel takes sizes and counts as u32 (`struct tpacket_req`).
    let fits = |n: usize| u32::try_from(n).is_ok();
    if !fits(block) || !fits(blocks.saturating_mul(block / slot)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "receive ring too large (rx_frames, rx_ring_bytes or block_size)",
        ));
    }
    Ok(RxGeometry {
        block,
        slot,
        blocks,
    })
}

pub(super) fn open_socket(
    cfg: &AfPacketConfig,
    ifindex: u32,
    fanout_id: Option<u16>,
    page: usize,
    rx: &RxGeometry,
    mtu: usize,
    gso: bool,
) -> io::Result<AfPacketQueue> {
    let (fd, tx_vnet) = packet_socket(cfg)?;
    let raw = fd.as_raw_fd();
    let gather = if cfg.tx_gather && tx_vnet > 0 {
        Some(gather::Gather::new(gather::socket(cfg, ifindex)?, gso))
    } else {
        None
    };
    let tx = request_rings(raw, cfg, page, rx, gather.is_none())?;
    let rx_len = rx.block * rx.blocks;
    let ring = map_rings(fd, rx, rx_len + tx.block * tx.blocks)?;
    bind_and_join(raw, ifindex, fanout_id)?;
    // A gathered frame is bounded by the MTU alone, a ring's by its slot too.
    let buf_size = if gather.is_some() {
        mtu + 18
    } else {
        (mtu + 18).min(cfg.tx_frame_size - TX_DATA_OFFSET - tx_vnet)
    };
    Ok(AfPacketQueue {
        // SAFETY: the tx ring (if any) starts right after the rx ring inside the mapping.
        tx_base: unsafe { ring.base.as_ptr().add(rx_len) },
        ring,
        rx_next: 0,
        tx_slot_size: cfg.tx_frame_size,
        tx_vnet,
        tx_gso: gso && tx_vnet > 0 && cfg.tx_frame_size >= GSO_MIN_SLOT,
        tx_slots: tx.frames,
        tx_head: 0,
        kick: false,
        large: gather
            .as_ref()
            .filter(|g| g.gso() && cfg.tso_buffers > 0)
            .map(|_| Pool::new(cfg.tso_buffers, gather::MAX_SUPER)),
        gather,
        pool: Pool::new(cfg.pool_size, buf_size),
    })
}

/// A TPACKET_V2 socket that receives nothing yet (protocol 0 until bound, so no frame of another
/// interface slips in), ignoring its own outgoing frames, bypassing the qdisc when asked; and
/// the length of the `virtio_net_hdr` in front of each frame (0 if the kernel lacks it).
fn packet_socket(cfg: &AfPacketConfig) -> io::Result<(OwnedFd, usize)> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd =
        check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V2)?;
    let one: libc::c_int = 1;
    // Older kernels lack it; the pkttype check in rx_into filters outgoing frames anyway.
    let _ = setsockopt(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one);
    if cfg.qdisc_bypass {
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)?;
    }
    // Before the rings (the kernel refuses it once they exist).
    let vnet = match setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &one) {
        Ok(()) => VNET_HDR_LEN,
        Err(_) => 0,
    };
    Ok((fd, vnet))
}

/// The transmit ring's geometry.
struct TxGeometry {
    block: usize,
    blocks: usize,
    frames: usize,
}

/// Asks the kernel for the receive ring (as `rx` says) and, when `tx_ring`, the
/// transmit ring (at least `tx_frames` slots of `tx_frame_size`, in page-sized blocks).
fn request_rings(
    raw: RawFd,
    cfg: &AfPacketConfig,
    page: usize,
    rx: &RxGeometry,
    tx_ring: bool,
) -> io::Result<TxGeometry> {
    let rx_req = libc::tpacket_req {
        tp_block_size: rx.block as u32,
        tp_block_nr: rx.blocks as u32,
        tp_frame_size: rx.slot as u32,
        tp_frame_nr: (rx.block / rx.slot * rx.blocks) as u32,
    };
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &rx_req)?;
    if !tx_ring {
        return Ok(TxGeometry {
            block: 0,
            blocks: 0,
            frames: 0,
        });
    }
    let block = page.max(cfg.tx_frame_size);
    let blocks = (cfg.tx_frames * cfg.tx_frame_size).div_ceil(block);
    let frames = blocks * (block / cfg.tx_frame_size);
    let tx_req = libc::tpacket_req {
        tp_block_size: block as u32,
        tp_block_nr: blocks as u32,
        tp_frame_size: cfg.tx_frame_size as u32,
        tp_frame_nr: frames as u32,
    };
    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_TX_RING, &tx_req)?;
    Ok(TxGeometry {
        block,
        blocks,
        frames,
    })
}

/// Maps both rings (`len` bytes: receive ring, then transmit ring); the [`Ring`] owns the socket.
fn map_rings(fd: OwnedFd, rx: &RxGeometry, len: usize) -> io::Result<Arc<Ring>> {
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
    let per_block = rx.block / rx.slot;
    Ok(Arc::new(Ring {
        base,
        len,
        block_size: rx.block,
        slot_size: rx.slot,
        per_block,
        owned: (0..per_block * rx.blocks)
            .map(|_| AtomicBool::new(false))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// (slot, block, blocks) of the receive ring for `cfg` at `mtu`.
    fn geometry(cfg: &AfPacketConfig, mtu: usize) -> (usize, usize, usize) {
        let g = rx_geometry(cfg, mtu).unwrap();
        (g.slot, g.block, g.blocks)
    }

    #[test]
    fn the_receive_ring_holds_its_bytes_or_rx_frames_within_the_limit() {
        let mut cfg = AfPacketConfig::new("x");
        // 4 MiB: 2048 slots of 2 KiB in 64 blocks of 64 KiB; 256 slots of 16 KiB at MTU 9000.
        assert_eq!(geometry(&cfg, 1500), (2048, 1 << 16, 64));
        assert_eq!(geometry(&cfg, 9000), (1 << 14, 1 << 16, 64));
        // Fewer slots than the bytes give change nothing.
        cfg.rx_frames = 1024;
        assert_eq!(geometry(&cfg, 1500), (2048, 1 << 16, 64));
        cfg.rx_frames = 16384;
        assert_eq!(geometry(&cfg, 1500), (2048, 1 << 16, 512));
        // At MTU 9000 the limit's 64 MiB hold 4096 slots, without it all 16384 come.
        assert_eq!(geometry(&cfg, 9000), (1 << 14, 1 << 16, 1024));
        cfg.rx_ring_limit = usize::MAX;
        assert_eq!(geometry(&cfg, 9000), (1 << 14, 1 << 16, 4096));
        // Whole blocks, one at least.
        cfg.rx_ring_bytes = 0;
        cfg.rx_frames = 33;
        assert_eq!(geometry(&cfg, 1500), (2048, 1 << 16, 2));
        cfg.rx_frames = 0;
        assert_eq!(geometry(&cfg, 1500), (2048, 1 << 16, 1));
        // A ring whose slot count the kernel's u32 cannot hold is an error, not a wrap.
        cfg.rx_frames = 1 << 33;
        let err = rx_geometry(&cfg, 1500).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
}
