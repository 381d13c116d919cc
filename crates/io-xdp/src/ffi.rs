//! Declarations of the C shim (`shim/shim.h`) over libxdp and libbpf.

use std::ffi::c_char;

/// The attached XDP program (opaque).
#[repr(C)]
pub(crate) struct XdpProg {
    _private: [u8; 0],
}

/// One AF_XDP socket with its UMEM and four rings (opaque).
#[repr(C)]
pub(crate) struct Xsk {
    _private: [u8; 0],
}

/// `struct mtcp_xsk_config`.
#[repr(C)]
pub(crate) struct XskConfig {
    pub ifname: *const c_char,
    pub queue_id: u32,
    pub frame_count: u32,
    pub frame_size: u32,
    pub fill_size: u32,
    pub comp_size: u32,
    pub rx_size: u32,
    pub tx_size: u32,
    pub bind_flags: u16,
}

/// `XDP_FLAGS_SKB_MODE` (generic XDP).
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE` (native XDP in the driver).
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `XDP_COPY` bind flag.
pub(crate) const XDP_COPY: u16 = 1 << 1;
/// `XDP_ZEROCOPY` bind flag.
pub(crate) const XDP_ZEROCOPY: u16 = 1 << 2;
/// `XDP_USE_NEED_WAKEUP` bind flag.
pub(crate) const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
/// `XDP_USE_SG` bind flag: a frame may span several UMEM chunks (multi-buffer, Linux 6.6).
pub(crate) const XDP_USE_SG: u16 = 1 << 4;
/// `XDP_PKT_CONTD` descriptor option: more chunks of this frame follow.
pub(crate) const XDP_PKT_CONTD: u32 = 1;

unsafe extern "C" {
    pub(crate) fn mtcp_xdp_prog_attach(
        ifindex: i32,
        xdp_flags: u32,
        frags: i32,
        out: *mut *mut XdpProg,
    ) -> i32;
    pub(crate) fn mtcp_xdp_prog_detach(prog: *mut XdpProg);
    pub(crate) fn mtcp_xsk_open(
        config: *const XskConfig,
        prog: *mut XdpProg,
        out: *mut *mut Xsk,
    ) -> i32;
    pub(crate) fn mtcp_xsk_close(xsk: *mut Xsk);
    pub(crate) fn mtcp_xsk_area(xsk: *const Xsk) -> *mut u8;
    pub(crate) fn mtcp_xsk_fd(xsk: *const Xsk) -> i32;
    pub(crate) fn mtcp_xsk_fill(xsk: *mut Xsk, addrs: *const u64, n: u32) -> u32;
    pub(crate) fn mtcp_xsk_complete(xsk: *mut Xsk, addrs: *mut u64, n: u32) -> u32;
    pub(crate) fn mtcp_xsk_rx(
        xsk: *mut Xsk,
        addrs: *mut u64,
        lens: *mut u32,
        opts: *mut u32,
        n: u32,
        max_pkts: u32,
    ) -> u32;
    pub(crate) fn mtcp_xsk_tx(
        xsk: *mut Xsk,
        addrs: *const u64,
        lens: *const u32,
        opts: *const u32,
        n: u32,
    ) -> u32;
    pub(crate) fn mtcp_xsk_rx_ready(xsk: *mut Xsk) -> u32;
    pub(crate) fn mtcp_xsk_rx_backlog(xsk: *mut Xsk) -> u32;
    pub(crate) fn mtcp_xsk_fill_needs_wakeup(xsk: *const Xsk) -> i32;
    pub(crate) fn mtcp_xsk_tx_needs_wakeup(xsk: *const Xsk) -> i32;
    pub(crate) fn mtcp_xsk_tx_pending(xsk: *const Xsk) -> u32;
    pub(crate) fn mtcp_xsk_zero_copy(xsk: *const Xsk) -> i32;
    pub(crate) fn mtcp_xsk_kernel_stats(xsk: *const Xsk, out: *mut u64) -> i32;
}

/// Most addresses the filtering program knows (`MTCP_XDP_MAX_ADDRS`).
pub(crate) const MAX_FILTER_ADDRS: usize = 8;

unsafe extern "C" {
    pub(crate) fn mtcp_xdp_prog_attach_filter(
        ifindex: i32,
        xdp_flags: u32,
        frags: i32,
        obj_bytes: *const u8,
        obj_len: usize,
        addrs: *const u32,
        n_addrs: u32,
        out: *mut *mut XdpProg,
    ) -> i32;
}

/// The filtering program's object file, built by build.rs with clang.
#[cfg(not(mtcp_no_bpf_filter))]
pub(crate) const FILTER_OBJ: Option<&[u8]> =
    Some(include_bytes!(concat!(env!("OUT_DIR"), "/mtcp_xsk.bpf.o")));
/// Built without clang: no filtering program.
#[cfg(mtcp_no_bpf_filter)]
pub(crate) const FILTER_OBJ: Option<&[u8]> = None;
