//! Finding the netmap_if, one ring pair and the buffers inside a mapped region, with every offset
//! the kernel gave checked against the region's bounds before it is used.

use crate::error::NetmapError;
use crate::sys::{self, NetmapIf, NetmapRing, NetmapSlot};
use std::ptr;

/// Which ring pair of a registration a queue drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingSel {
    /// Hardware ring pair `k`.
    Nic(u32),
    /// The (first) host-stack ring pair.
    Host,
}

/// One ring, located and checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingRef {
    pub ring: *mut NetmapRing,
    pub slots: *mut NetmapSlot,
    pub num_slots: u32,
    /// Offset of buffer 0 from the region base.
    pub buf_base_offset: usize,
    pub buf_size: usize,
}

/// A registration's interface header and the ring pair a queue drives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PortLayout {
    pub nifp: *mut NetmapIf,
    pub tx: RingRef,
    pub rx: RingRef,
    /// Buffers `0..num_bufs` lie inside the region.
    pub num_bufs: u32,
}

fn fits(off: usize, size: usize, len: usize) -> bool {
    off.checked_add(size).is_some_and(|end| end <= len)
}

/// Reads a kernel-written header field once (the kernel does not change these after registration).
///
/// # Safety
/// `p` must be valid for reads and aligned.
unsafe fn rd<T: Copy>(p: *const T) -> T {
    // SAFETY: forwarded to the caller.
    unsafe { ptr::read_volatile(p) }
}

/// Locates the interface at `nifp_offset` and ring pair `sel` inside `base[..len]`.
///
/// # Safety
/// `base` must point to `len` readable and writable bytes that stay mapped while the result is
/// used, aligned to at least 8 bytes.
pub(crate) unsafe fn locate(
    base: *mut u8,
    len: usize,
    nifp_offset: usize,
    sel: RingSel,
) -> Result<PortLayout, NetmapError> {
    if !fits(nifp_offset, sys::IF_RING_OFS_OFFSET, len) || nifp_offset % 8 != 0 {
        return Err(NetmapError::BadLayout("netmap_if lies outside the region"));
    }
    // SAFETY: in bounds and aligned (checked above); the caller guarantees the mapping.
    let nifp = unsafe { base.add(nifp_offset) }.cast::<NetmapIf>();
    // SAFETY: `nifp` is in bounds and aligned.
    let (tx_rings, rx_rings, host_tx) = unsafe {
        (
            rd(ptr::addr_of!((*nifp).ni_tx_rings)),
            rd(ptr::addr_of!((*nifp).ni_rx_rings)),
            rd(ptr::addr_of!((*nifp).ni_host_tx_rings)),
        )
    };
    // Kernels before API 14 leave the field zero and always have one host ring pair.
    let host_tx = host_tx.max(1);
    let (tx_index, rx_index) = match sel {
        RingSel::Nic(k) if k < tx_rings && k < rx_rings => (k, tx_rings + host_tx + k),
        RingSel::Nic(_) => {
            return Err(NetmapError::BadLayout(
                "the bound ring is beyond the interface's rings",
            ));
        }
        RingSel::Host => (tx_rings, tx_rings + host_tx + rx_rings),
    };
    // SAFETY: forwarded from the caller; `nifp_offset` was checked above.
    let tx = unsafe { ring_at(base, len, nifp_offset, tx_index) }?;
    // SAFETY: as above.
    let rx = unsafe { ring_at(base, len, nifp_offset, rx_index) }?;
    if tx.buf_base_offset != rx.buf_base_offset || tx.buf_size != rx.buf_size {
        return Err(NetmapError::BadLayout(
            "tx and rx rings use different buffer pools",
        ));
    }
    let num_bufs = u32::try_from((len - tx.buf_base_offset) / tx.buf_size).unwrap_or(u32::MAX);
    Ok(PortLayout {
        nifp,
        tx,
        rx,
        num_bufs,
    })
}

/// The ring at slot `index` of the interface's ring offset table, checked to lie inside
/// `base[..len]` with a sane slot count and buffer area.
///
/// # Safety
/// As for [`locate`]; `nifp_offset` is in bounds and 8-aligned (checked by `locate`).
unsafe fn ring_at(
    base: *mut u8,
    len: usize,
    nifp_offset: usize,
    index: u32,
) -> Result<RingRef, NetmapError> {
    let ofs_at = nifp_offset + sys::IF_RING_OFS_OFFSET + index as usize * 8;
    if !fits(ofs_at, 8, len) {
        return Err(NetmapError::BadLayout(
            "ring offset table runs past the region",
        ));
    }
    // SAFETY: in bounds (checked) and 8-aligned (nifp_offset and the header size are).
    let ofs = unsafe { rd(base.add(ofs_at).cast::<isize>()) };
    let ring_offset = nifp_offset
        .checked_add_signed(ofs)
        .filter(|&o| ofs != 0 && o % 8 == 0 && fits(o, sys::RING_SLOTS_OFFSET, len))
        .ok_or(NetmapError::BadLayout(
            "a ring offset points outside the region",
        ))?;
    // SAFETY: in bounds and aligned (checked above).
    let ring = unsafe { base.add(ring_offset) }.cast::<NetmapRing>();
    // SAFETY: the ring header is in bounds.
    let (num_slots, buf_size, buf_ofs) = unsafe {
        (
            rd(ptr::addr_of!((*ring).num_slots)),
            rd(ptr::addr_of!((*ring).nr_buf_size)),
            rd(ptr::addr_of!((*ring).buf_ofs)),
        )
    };
    if num_slots < 2
        || !fits(
            ring_offset + sys::RING_SLOTS_OFFSET,
            num_slots as usize * size_of::<NetmapSlot>(),
            len,
        )
    {
        return Err(NetmapError::BadLayout("a ring's slots run past the region"));
    }
    if !(64..=65535).contains(&buf_size) {
        return Err(NetmapError::BadLayout("buffer size out of range"));
    }
    let buf_base_offset = isize::try_from(buf_ofs)
        .ok()
        .and_then(|o| ring_offset.checked_add_signed(o))
        .filter(|&o| o < len)
        .ok_or(NetmapError::BadLayout(
            "the buffer area lies outside the region",
        ))?;
    Ok(RingRef {
        ring,
        // SAFETY: in bounds (checked above).
        slots: unsafe { base.add(ring_offset + sys::RING_SLOTS_OFFSET) }.cast(),
        num_slots,
        buf_base_offset,
        buf_size: buf_size as usize,
    })
}

impl PortLayout {
    /// Address of buffer `idx`, if it lies inside the region.
    pub(crate) fn buf(&self, base: *mut u8, idx: u32) -> Option<*mut u8> {
        if idx >= self.num_bufs {
            return None;
        }
        // SAFETY: `idx < num_bufs` keeps the whole buffer inside the region.
        Some(unsafe { base.add(self.tx.buf_base_offset + idx as usize * self.tx.buf_size) })
    }

    /// Takes the list of extra buffers the kernel linked from `ni_bufs_head` (at most `granted`),
    /// leaving the list empty.
    pub(crate) fn take_extra_bufs(
        &self,
        base: *mut u8,
        granted: u32,
    ) -> Result<Vec<u32>, NetmapError> {
        let mut bufs = Vec::with_capacity(granted as usize);
        // SAFETY: `nifp` was checked to lie in the region.
        let mut next = unsafe { rd(ptr::addr_of!((*self.nifp).ni_bufs_head)) };
        while next != 0 && bufs.len() < granted as usize {
            if next < sys::NETMAP_RESERVED_BUFS {
                return Err(NetmapError::BadLayout(
                    "extra-buffer list names a reserved buffer",
                ));
            }
            let p = self.buf(base, next).ok_or(NetmapError::BadLayout(
                "extra-buffer list leaves the region",
            ))?;
            bufs.push(next);
            // SAFETY: `p` is a whole buffer (at least 64 bytes) inside the region, owned by the user
            // side while it is on the list; the read needs no alignment.
            next = unsafe { ptr::read_unaligned(p.cast::<u32>()) };
        }
        // SAFETY: `nifp` lies in the region; the user side owns ni_bufs_head.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!((*self.nifp).ni_bufs_head), 0) };
        Ok(bufs)
    }

    /// Links `bufs` back into `ni_bufs_head` so the kernel frees them when the port closes.
    pub(crate) fn give_back_extra_bufs(&self, base: *mut u8, bufs: impl Iterator<Item = u32>) {
        // SAFETY: `nifp` lies in the region.
        let mut head = unsafe { rd(ptr::addr_of!((*self.nifp).ni_bufs_head)) };
        for idx in bufs {
            if let Some(p) = self.buf(base, idx) {
                // SAFETY: `p` is a whole buffer inside the region, owned by us.
                unsafe { ptr::write_unaligned(p.cast::<u32>(), head) };
                head = idx;
            }
        }
        // SAFETY: `nifp` lies in the region.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!((*self.nifp).ni_bufs_head), head) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RING_SPACE: usize = 1024;

    /// A region with `tx`/`rx` NIC rings and `host` host rings of each kind; ring `i` of the
    /// offset table has `2 + i` slots so tests can tell which one was found.
    fn region(tx: u32, rx: u32, host_field: u32, host_real: u32) -> (Vec<u64>, usize) {
        let rings = (tx + rx + 2 * host_real) as usize;
        let first_ring = 256;
        let buf_base = first_ring + rings * RING_SPACE;
        let len = buf_base + 16 * 2048;
        let mut mem = vec![0u64; len / 8];
        let base = mem.as_mut_ptr().cast::<u8>();
        // SAFETY: all writes below stay inside `mem` (sizes computed above).
        unsafe {
            let nifp = base.cast::<NetmapIf>();
            (*nifp).ni_tx_rings = tx;
            (*nifp).ni_rx_rings = rx;
            (*nifp).ni_host_tx_rings = host_field;
            (*nifp).ni_host_rx_rings = host_field;
            for i in 0..rings {
                let off = first_ring + i * RING_SPACE;
                *base.add(sys::IF_RING_OFS_OFFSET + i * 8).cast::<isize>() = off as isize;
                let ring = base.add(off).cast::<NetmapRing>();
                (*ring).num_slots = 2 + i as u32;
                (*ring).nr_buf_size = 2048;
                (*ring).buf_ofs = (buf_base - off) as i64;
            }
        }
        (mem, len)
    }

    fn find(mem: &mut [u64], len: usize, sel: RingSel) -> Result<(u32, u32), NetmapError> {
        // SAFETY: `mem` is a live, 8-aligned allocation of `len` bytes.
        let l = unsafe { locate(mem.as_mut_ptr().cast(), len, 0, sel)? };
        Ok((l.tx.num_slots - 2, l.rx.num_slots - 2))
    }

    #[test]
    fn rings_are_found_by_kind_and_index() {
        // Table: tx0 tx1 tx2 htx0 rx0 rx1 rx2 hrx0.
        let (mut mem, len) = region(3, 3, 1, 1);
        assert_eq!(find(&mut mem, len, RingSel::Nic(0)).unwrap(), (0, 4));
        assert_eq!(find(&mut mem, len, RingSel::Nic(2)).unwrap(), (2, 6));
        assert_eq!(find(&mut mem, len, RingSel::Host).unwrap(), (3, 7));
        assert!(matches!(
            find(&mut mem, len, RingSel::Nic(3)),
            Err(NetmapError::BadLayout(_))
        ));
        // Two host rings (API 14): rx rings start one entry later.
        let (mut mem, len) = region(2, 2, 2, 2);
        assert_eq!(find(&mut mem, len, RingSel::Nic(1)).unwrap(), (1, 5));
        assert_eq!(find(&mut mem, len, RingSel::Host).unwrap(), (2, 6));
    }

    #[test]
    fn bad_offsets_are_errors_not_crashes() {
        let (mut mem, len) = region(1, 1, 1, 1);
        let base = mem.as_mut_ptr().cast::<u8>();
        // SAFETY: rewriting the offset table entry of rx0 (index 2) inside `mem`.
        unsafe { *base.add(sys::IF_RING_OFS_OFFSET + 16).cast::<isize>() = len as isize };
        assert!(matches!(
            find(&mut mem, len, RingSel::Nic(0)),
            Err(NetmapError::BadLayout(_))
        ));
        // SAFETY: as above; a zero offset means "ring not bound".
        unsafe { *base.add(sys::IF_RING_OFS_OFFSET + 16).cast::<isize>() = 0 };
        assert!(matches!(
            find(&mut mem, len, RingSel::Nic(0)),
            Err(NetmapError::BadLayout(_))
        ));
        let (mut mem, len) = region(1, 1, 1, 1);
        // SAFETY: giving ring 0 more slots than the region holds.
        unsafe {
            (*mem.as_mut_ptr().cast::<u8>().add(256).cast::<NetmapRing>()).num_slots = u32::MAX
        };
        assert!(matches!(
            find(&mut mem, len, RingSel::Nic(0)),
            Err(NetmapError::BadLayout(_))
        ));
        // A netmap_if offset beyond the region.
        // SAFETY: `mem` is live; `locate` must refuse before reading.
        let r = unsafe { locate(mem.as_mut_ptr().cast(), len, len, RingSel::Nic(0)) };
        assert!(r.is_err());
    }
}
