//! The netmap kernel ABI: `#[repr(C)]` mirrors of `net/netmap.h` (API 14) and the ioctl numbers.
//!
//! Only 64-bit targets are supported: `struct netmap_ring` embeds a `struct timeval`, whose size
//! differs on 32-bit ones. Sizes and offsets are asserted at compile time here, and cross-checked
//! against the `netmap_sys` crate in this module's tests.

#![allow(missing_docs)] // Field names and meanings are the kernel header's.

#[cfg(not(target_pointer_width = "64"))]
compile_error!("mtcp-io-netmap supports 64-bit targets only (netmap_ring embeds a timeval)");

/// Length of the legacy interface-name fields.
pub const IFNAMSIZ: usize = 16;
/// Length of the port name in the new-API request header.
pub const NETMAP_REQ_IFNAMSIZ: usize = 64;

/// The API version this crate speaks (the new `NIOCCTRL` API). Kernels accept exactly their own
/// range (14..=15 for current netmap); API 13 modules have a shorter `nmreq_register` and answer
/// with `EINVAL` and their own version, which [`crate::NetmapError::ApiMismatch`] reports.
pub const NETMAP_API: u16 = 14;

/// Buffer indexes 0 and 1 are reserved by the allocator; 0 also terminates the extra-buffer list.
pub const NETMAP_RESERVED_BUFS: u32 = 2;

/// `slot.flags`: `buf_idx` changed (set by whoever swaps a buffer into the slot).
pub const NS_BUF_CHANGED: u16 = 0x0001;
/// `slot.flags`: ask for a completion report.
pub const NS_REPORT: u16 = 0x0002;
/// `slot.flags`: the frame continues in the next slot.
pub const NS_MOREFRAG: u16 = 0x0020;

/// `nr_mode`: all hardware ring pairs.
pub const NR_REG_ALL_NIC: u32 = 1;
/// `nr_mode`: the host-stack ring pair only.
pub const NR_REG_SW: u32 = 2;
/// `nr_mode`: hardware and host-stack rings.
pub const NR_REG_NIC_SW: u32 = 3;
/// `nr_mode`: one hardware ring pair, chosen by `nr_ringid`.
pub const NR_REG_ONE_NIC: u32 = 4;

/// `nr_flags`: request exclusive access to the bound rings.
pub const NR_EXCLUSIVE: u64 = 0x800;

/// `nr_reqtype`: bind a port to the file descriptor.
pub const NETMAP_REQ_REGISTER: u16 = 1;
/// `nr_reqtype`: describe a port without binding it.
pub const NETMAP_REQ_PORT_INFO_GET: u16 = 2;

/// One ring entry: a buffer index, a length and flags.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetmapSlot {
    pub buf_idx: u32,
    pub len: u16,
    pub flags: u16,
    pub ptr: u64,
}

/// A ring header; `num_slots` slots follow it at offset [`RING_SLOTS_OFFSET`].
#[repr(C)]
pub struct NetmapRing {
    pub buf_ofs: i64,
    pub num_slots: u32,
    pub nr_buf_size: u32,
    pub ringid: u16,
    pub dir: u16,
    pub head: u32,
    pub cur: u32,
    pub tail: u32,
    pub flags: u32,
    pub ts: libc::timeval,
    pub offset_mask: u64,
    pub buf_align: u64,
    /// Up to the 128-byte alignment the C header gives `sem`.
    pub pad: [u8; 56],
    pub sem: [u8; 128],
}

/// Where the slot array starts inside a ring.
pub const RING_SLOTS_OFFSET: usize = size_of::<NetmapRing>();

/// The per-file-descriptor interface header; ring offsets (`isize`, relative to it) follow.
#[repr(C)]
pub struct NetmapIf {
    pub ni_name: [u8; IFNAMSIZ],
    pub ni_version: u32,
    pub ni_flags: u32,
    pub ni_tx_rings: u32,
    pub ni_rx_rings: u32,
    pub ni_bufs_head: u32,
    /// Zero on kernels older than API 14, which always have exactly one host ring pair.
    pub ni_host_tx_rings: u32,
    pub ni_host_rx_rings: u32,
    pub ni_spare1: [u32; 3],
}

/// Where the `ring_ofs` array starts inside a `netmap_if`.
pub const IF_RING_OFS_OFFSET: usize = size_of::<NetmapIf>();

/// The legacy (`NIOCREGIF`) request; kept for layout cross-checks and the ioctl numbers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Nmreq {
    pub nr_name: [u8; IFNAMSIZ],
    pub nr_version: u32,
    pub nr_offset: u32,
    pub nr_memsize: u32,
    pub nr_tx_slots: u32,
    pub nr_rx_slots: u32,
    pub nr_tx_rings: u16,
    pub nr_rx_rings: u16,
    pub nr_ringid: u16,
    pub nr_cmd: u16,
    pub nr_arg1: u16,
    pub nr_arg2: u16,
    pub nr_arg3: u32,
    pub nr_flags: u32,
    pub spare2: [u32; 1],
}

/// The header of every new-API (`NIOCCTRL`) request.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NmreqHeader {
    pub nr_version: u16,
    pub nr_reqtype: u16,
    pub nr_reserved: u32,
    pub nr_name: [u8; NETMAP_REQ_IFNAMSIZ],
    pub nr_options: u64,
    pub nr_body: u64,
}

/// The body of `NETMAP_REQ_REGISTER` (API 14: with the host ring counts; API 13 lacked them).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NmreqRegister {
    pub nr_offset: u64,
    pub nr_memsize: u64,
    pub nr_tx_slots: u32,
    pub nr_rx_slots: u32,
    pub nr_tx_rings: u16,
    pub nr_rx_rings: u16,
    pub nr_host_tx_rings: u16,
    pub nr_host_rx_rings: u16,
    pub nr_mem_id: u16,
    pub nr_ringid: u16,
    pub nr_mode: u32,
    pub nr_extra_bufs: u32,
    pub nr_flags: u64,
}

/// The body of `NETMAP_REQ_PORT_INFO_GET`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NmreqPortInfoGet {
    pub nr_memsize: u64,
    pub nr_tx_slots: u32,
    pub nr_rx_slots: u32,
    pub nr_tx_rings: u16,
    pub nr_rx_rings: u16,
    pub nr_host_tx_rings: u16,
    pub nr_host_rx_rings: u16,
    pub nr_mem_id: u16,
    pub pad: [u16; 3],
}

/// Linux `_IOC` encoding (x86, arm, riscv: 2 direction bits, 14 size bits).
const fn ioc(dir: u64, ty: u8, nr: u8, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64
}
const IOC_NONE: u64 = 0;
const IOC_READ_WRITE: u64 = 3;

/// `_IOWR('i', 146, struct nmreq)`: legacy registration.
pub const NIOCREGIF: u64 = ioc(IOC_READ_WRITE, b'i', 146, size_of::<Nmreq>());
/// `_IO('i', 148)`: synchronise the bound tx rings.
pub const NIOCTXSYNC: u64 = ioc(IOC_NONE, b'i', 148, 0);
/// `_IO('i', 149)`: synchronise the bound rx rings.
pub const NIOCRXSYNC: u64 = ioc(IOC_NONE, b'i', 149, 0);
/// `_IOWR('i', 151, struct nmreq_header)`: every new-API request.
pub const NIOCCTRL: u64 = ioc(IOC_READ_WRITE, b'i', 151, size_of::<NmreqHeader>());

const _: () = {
    assert!(size_of::<NetmapSlot>() == 16);
    assert!(size_of::<NetmapRing>() == 256);
    assert!(std::mem::offset_of!(NetmapRing, head) == 20);
    assert!(std::mem::offset_of!(NetmapRing, tail) == 28);
    assert!(std::mem::offset_of!(NetmapRing, ts) == 40);
    assert!(std::mem::offset_of!(NetmapRing, sem) == 128);
    assert!(size_of::<NetmapIf>() == 56);
    assert!(size_of::<Nmreq>() == 60);
    assert!(size_of::<NmreqHeader>() == 88);
    assert!(size_of::<NmreqRegister>() == 56);
    assert!(size_of::<NmreqPortInfoGet>() == 32);
};

#[cfg(test)]
mod tests {
    use super::*;
    use netmap_sys::netmap as c;
    use std::mem::offset_of;

    /// Asserts that our struct and netmap_sys's have the same size and that each listed field
    /// sits at the same offset (`renamed` pairs: our name = netmap_sys's name).
    macro_rules! same_layout {
        ($ours:ty, $theirs:ty, [$($field:ident),* $(,)?] $(, renamed [$($of:ident = $tf:ident),*])?) => {{
            assert_eq!(size_of::<$ours>(), size_of::<$theirs>(), "size of {}", stringify!($ours));
            $(assert_eq!(
                offset_of!($ours, $field),
                offset_of!($theirs, $field),
                "offset of {}::{}",
                stringify!($ours),
                stringify!($field),
            );)*
            $($(assert_eq!(
                offset_of!($ours, $of),
                offset_of!($theirs, $tf),
                "offset of {}::{}",
                stringify!($ours),
                stringify!($of),
            );)*)?
        }};
    }

    #[test]
    fn slot_matches_netmap_sys() {
        same_layout!(NetmapSlot, c::netmap_slot, [buf_idx, len, flags, ptr]);
        assert_eq!(NS_BUF_CHANGED, c::NS_BUF_CHANGED);
        assert_eq!(NS_REPORT, c::NS_REPORT);
        assert_eq!(NS_MOREFRAG, c::NS_MOREFRAG);
    }

    #[test]
    fn ring_matches_netmap_sys() {
        same_layout!(
            NetmapRing,
            c::netmap_ring,
            [
                buf_ofs,
                num_slots,
                nr_buf_size,
                ringid,
                dir,
                head,
                cur,
                tail,
                flags,
                ts,
                sem
            ]
        );
        assert_eq!(RING_SLOTS_OFFSET, offset_of!(c::netmap_ring, slot));
    }

    #[test]
    fn if_matches_netmap_sys() {
        // netmap_sys predates API 14 and calls ni_host_*_rings "spare"; the offsets agree.
        same_layout!(
            NetmapIf,
            c::netmap_if,
            [ni_name, ni_version, ni_tx_rings, ni_rx_rings, ni_bufs_head],
            renamed[ni_host_tx_rings = ni_spare1]
        );
        assert_eq!(IF_RING_OFS_OFFSET, offset_of!(c::netmap_if, ring_ofs));
    }

    #[test]
    fn legacy_request_and_ioctls_match_netmap_sys() {
        same_layout!(
            Nmreq,
            c::nmreq,
            [nr_offset, nr_memsize, nr_ringid, nr_arg3, nr_flags]
        );
        assert_eq!(NIOCREGIF, c::NIOCREGIF);
        assert_eq!(NIOCTXSYNC, u64::from(c::NIOCTXSYNC));
        assert_eq!(NIOCRXSYNC, u64::from(c::NIOCRXSYNC));
        assert_eq!(u64::from(NR_REG_ALL_NIC), u64::from(c::NR_REG_ALL_NIC));
        assert_eq!(u64::from(NR_REG_ONE_NIC), u64::from(c::NR_REG_ONE_NIC));
        assert_eq!(u64::from(NR_REG_SW), u64::from(c::NR_REG_SW));
        assert_eq!(u64::from(NR_REG_NIC_SW), u64::from(c::NR_REG_NIC_SW));
    }

    #[test]
    fn new_api_layout_follows_the_header() {
        // Offsets as written in net/netmap.h (API 14); netmap_sys has no new-API structs.
        assert_eq!(offset_of!(NmreqHeader, nr_reqtype), 2);
        assert_eq!(offset_of!(NmreqHeader, nr_name), 8);
        assert_eq!(offset_of!(NmreqHeader, nr_options), 72);
        assert_eq!(offset_of!(NmreqHeader, nr_body), 80);
        assert_eq!(offset_of!(NmreqRegister, nr_tx_slots), 16);
        assert_eq!(offset_of!(NmreqRegister, nr_tx_rings), 24);
        assert_eq!(offset_of!(NmreqRegister, nr_host_tx_rings), 28);
        assert_eq!(offset_of!(NmreqRegister, nr_host_rx_rings), 30);
        assert_eq!(offset_of!(NmreqRegister, nr_mem_id), 32);
        assert_eq!(offset_of!(NmreqRegister, nr_ringid), 34);
        assert_eq!(offset_of!(NmreqRegister, nr_mode), 36);
        assert_eq!(offset_of!(NmreqRegister, nr_extra_bufs), 40);
        assert_eq!(offset_of!(NmreqRegister, nr_flags), 48);
        assert_eq!(offset_of!(NmreqPortInfoGet, nr_host_tx_rings), 20);
        assert_eq!(offset_of!(NmreqPortInfoGet, nr_mem_id), 24);
        assert_eq!(NIOCCTRL, 0xC058_6997);
    }
}
