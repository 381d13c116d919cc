//! Declarations of the DPDK functions we call directly and of the C shim (`shim/shim.c`).
//!
//! Exported DPDK functions with plain arguments are declared here as they are in the headers;
//! everything inline or struct-layout dependent goes through the shim, whose structs have `repr(C)`
//! twins below (their sizes are checked against C by a test).

use core::ffi::{c_char, c_int, c_uint};
use core::marker::{PhantomData, PhantomPinned};

/// `struct rte_mbuf`, only ever behind a pointer.
#[repr(C)]
pub(crate) struct RteMbuf {
    _opaque: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `struct rte_mempool`, only ever behind a pointer.
#[repr(C)]
pub(crate) struct RteMempool {
    _opaque: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `struct rte_ether_addr` (six octets, 2-byte aligned).
#[repr(C, align(2))]
#[derive(Clone, Copy, Default)]
pub(crate) struct RteEtherAddr {
    pub(crate) addr_bytes: [u8; 6],
}

/// Twin of `struct mtcp_shim_dev_info`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ShimDevInfo {
    pub(crate) driver_name: *const c_char,
    pub(crate) rx_offload_capa: u64,
    pub(crate) tx_offload_capa: u64,
    pub(crate) flow_type_rss_offloads: u64,
    pub(crate) max_rx_queues: u16,
    pub(crate) max_tx_queues: u16,
    pub(crate) reta_size: u16,
    pub(crate) hash_key_size: u8,
    pub(crate) _pad: u8,
    pub(crate) rx_desc_max: u16,
    pub(crate) rx_desc_min: u16,
    pub(crate) tx_desc_max: u16,
    pub(crate) tx_desc_min: u16,
    pub(crate) min_mtu: u16,
    pub(crate) max_mtu: u16,
}

/// Twin of `struct mtcp_shim_rx`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ShimRx {
    pub(crate) mbuf: *mut RteMbuf,
    pub(crate) data: *mut u8,
    pub(crate) ol_flags: u64,
    pub(crate) rss_hash: u32,
    pub(crate) len: u16,
    pub(crate) _pad: u16,
}

/// Twin of `struct mtcp_shim_buf`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ShimBuf {
    pub(crate) mbuf: *mut RteMbuf,
    pub(crate) data: *mut u8,
    pub(crate) capacity: u16,
    pub(crate) _pad: [u16; 3],
}

/// Twin of `struct mtcp_shim_tx`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ShimTx {
    pub(crate) mbuf: *mut RteMbuf,
    pub(crate) ol_flags: u64,
    pub(crate) len: u16,
    pub(crate) l2_len: u8,
    pub(crate) l3_len: u8,
    pub(crate) _pad: u32,
}

/// The most frames one shim burst moves (`MTCP_SHIM_MAX_BURST`).
pub(crate) const MAX_BURST: usize = 64;

// DPDK constants, checked against the headers by `tests::constants_match_dpdk`.
pub(crate) const RTE_MBUF_F_RX_RSS_HASH: u64 = 1 << 1;
pub(crate) const RTE_MBUF_F_RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
pub(crate) const RTE_MBUF_F_RX_IP_CKSUM_GOOD: u64 = 1 << 7;
pub(crate) const RTE_MBUF_F_RX_IP_CKSUM_BAD: u64 = 1 << 4;
pub(crate) const RTE_MBUF_F_RX_L4_CKSUM_MASK: u64 = (1 << 3) | (1 << 8);
pub(crate) const RTE_MBUF_F_RX_L4_CKSUM_GOOD: u64 = 1 << 8;
pub(crate) const RTE_MBUF_F_RX_L4_CKSUM_BAD: u64 = 1 << 3;
pub(crate) const RTE_MBUF_F_TX_IPV4: u64 = 1 << 55;
pub(crate) const RTE_MBUF_F_TX_IP_CKSUM: u64 = 1 << 54;
pub(crate) const RTE_MBUF_F_TX_TCP_CKSUM: u64 = 1 << 52;
pub(crate) const RTE_MBUF_F_TX_UDP_CKSUM: u64 = 3 << 52;
pub(crate) const RTE_ETH_RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
pub(crate) const RTE_ETH_RX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
pub(crate) const RTE_ETH_RX_OFFLOAD_TCP_CKSUM: u64 = 1 << 3;
pub(crate) const RTE_ETH_RX_OFFLOAD_RSS_HASH: u64 = 1 << 19;
pub(crate) const RTE_ETH_TX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
pub(crate) const RTE_ETH_TX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
pub(crate) const RTE_ETH_TX_OFFLOAD_TCP_CKSUM: u64 = 1 << 3;
pub(crate) const RTE_ETH_RSS_IPV4: u64 = 1 << 2;
pub(crate) const RTE_ETH_RSS_FRAG_IPV4: u64 = 1 << 3;
pub(crate) const RTE_ETH_RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
pub(crate) const RTE_ETH_RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
pub(crate) const RTE_ETH_RSS_NONFRAG_IPV4_OTHER: u64 = 1 << 7;
pub(crate) const RTE_ETH_RSS_IPV6: u64 = 1 << 8;
pub(crate) const RTE_ETH_RSS_FRAG_IPV6: u64 = 1 << 9;
pub(crate) const RTE_ETH_RSS_NONFRAG_IPV6_TCP: u64 = 1 << 10;
pub(crate) const RTE_ETH_RSS_NONFRAG_IPV6_UDP: u64 = 1 << 11;
pub(crate) const RTE_ETH_RSS_NONFRAG_IPV6_OTHER: u64 = 1 << 13;
pub(crate) const RTE_MBUF_DEFAULT_BUF_SIZE: u32 = 2048 + 128;
pub(crate) const RTE_ETHER_MTU: u32 = 1500;
pub(crate) const RTE_MAX_ETHPORTS: u32 = 32;

unsafe extern "C" {
    pub(crate) fn rte_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    pub(crate) fn rte_eal_get_runtime_dir() -> *const c_char;
    pub(crate) fn rte_strerror(errnum: c_int) -> *const c_char;
    pub(crate) fn rte_eth_dev_count_avail() -> u16;
    pub(crate) fn rte_eth_dev_is_valid_port(port_id: u16) -> c_int;
    pub(crate) fn rte_eth_dev_get_port_by_name(name: *const c_char, port_id: *mut u16) -> c_int;
    pub(crate) fn rte_eth_dev_get_name_by_port(port_id: u16, name: *mut c_char) -> c_int;
    pub(crate) fn rte_eth_dev_socket_id(port_id: u16) -> c_int;
    pub(crate) fn rte_eth_dev_adjust_nb_rx_tx_desc(
        port_id: u16,
        nb_rx_desc: *mut u16,
        nb_tx_desc: *mut u16,
    ) -> c_int;
    pub(crate) fn rte_eth_rx_queue_setup(
        port_id: u16,
        rx_queue_id: u16,
        nb_rx_desc: u16,
        socket_id: c_uint,
        rx_conf: *const core::ffi::c_void,
        mb_pool: *mut RteMempool,
    ) -> c_int;
    pub(crate) fn rte_eth_tx_queue_setup(
        port_id: u16,
        tx_queue_id: u16,
        nb_tx_desc: u16,
        socket_id: c_uint,
        tx_conf: *const core::ffi::c_void,
    ) -> c_int;
    pub(crate) fn rte_eth_dev_start(port_id: u16) -> c_int;
    pub(crate) fn rte_eth_dev_stop(port_id: u16) -> c_int;
    pub(crate) fn rte_eth_promiscuous_enable(port_id: u16) -> c_int;
    pub(crate) fn rte_eth_macaddr_get(port_id: u16, mac_addr: *mut RteEtherAddr) -> c_int;
    pub(crate) fn rte_eth_dev_default_mac_addr_set(
        port_id: u16,
        mac_addr: *mut RteEtherAddr,
    ) -> c_int;
    pub(crate) fn rte_eth_dev_get_mtu(port_id: u16, mtu: *mut u16) -> c_int;
    pub(crate) fn rte_eth_dev_set_mtu(port_id: u16, mtu: u16) -> c_int;
    pub(crate) fn rte_pktmbuf_pool_create(
        name: *const c_char,
        n: c_uint,
        cache_size: c_uint,
        priv_size: u16,
        data_room_size: u16,
        socket_id: c_int,
    ) -> *mut RteMempool;
    pub(crate) fn rte_mempool_avail_count(mp: *const RteMempool) -> c_uint;

    pub(crate) fn mtcp_shim_errno() -> c_int;
    pub(crate) fn mtcp_shim_ring_pair(
        name_a: *const c_char,
        name_b: *const c_char,
        nb_queues: u16,
        ring_size: c_uint,
    ) -> c_int;
    pub(crate) fn mtcp_shim_link_status(port: u16, speed_mbps: *mut u32) -> c_int;
    pub(crate) fn mtcp_shim_dev_info(port: u16, out: *mut ShimDevInfo) -> c_int;
    pub(crate) fn mtcp_shim_configure(
        port: u16,
        nb_queues: u16,
        rx_offloads: u64,
        tx_offloads: u64,
        rss_hf: u64,
        rss_key: *const u8,
        rss_key_len: u8,
    ) -> c_int;
    pub(crate) fn mtcp_shim_reta_update(port: u16, reta: *const u16, reta_size: u16) -> c_int;
    pub(crate) fn mtcp_shim_reta_query(port: u16, reta: *mut u16, reta_size: u16) -> c_int;
    pub(crate) fn mtcp_shim_rx_burst(
        port: u16,
        queue: u16,
        out: *mut ShimRx,
        n: u16,
        dropped: *mut u16,
    ) -> u16;
    pub(crate) fn mtcp_shim_tx_burst(port: u16, queue: u16, pkts: *const ShimTx, n: u16) -> u16;
    pub(crate) fn mtcp_shim_alloc_bulk(mp: *mut RteMempool, out: *mut ShimBuf, n: u16) -> c_int;
    pub(crate) fn mtcp_shim_free(m: *mut RteMbuf);
    pub(crate) fn mtcp_shim_lcore_register() -> c_int;
    pub(crate) fn mtcp_shim_lcore_unregister();
    pub(crate) fn mtcp_shim_lcore_id() -> c_uint;
}

/// DPDK's description of an error number (`rte_strerror`, which also knows DPDK's own numbers).
pub(crate) fn strerror(errnum: c_int) -> String {
    let errnum = errnum.abs();
    // SAFETY: rte_strerror accepts any number and returns a NUL-terminated string that stays valid
    // at least until the next call on this thread; we copy it at once.
    let text = unsafe { core::ffi::CStr::from_ptr(rte_strerror(errnum)) };
    format!("{} ({errnum})", text.to_string_lossy())
}

/// The calling thread's `rte_errno`.
pub(crate) fn rte_errno() -> c_int {
    // SAFETY: reads a thread-local integer.
    unsafe { mtcp_shim_errno() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(non_upper_case_globals)]
    unsafe extern "C" {
        static mtcp_shim_RTE_MBUF_F_RX_RSS_HASH: u64;
        static mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_MASK: u64;
        static mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_GOOD: u64;
        static mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_BAD: u64;
        static mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_MASK: u64;
        static mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_GOOD: u64;
        static mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_BAD: u64;
        static mtcp_shim_RTE_MBUF_F_TX_IPV4: u64;
        static mtcp_shim_RTE_MBUF_F_TX_IP_CKSUM: u64;
        static mtcp_shim_RTE_MBUF_F_TX_TCP_CKSUM: u64;
        static mtcp_shim_RTE_MBUF_F_TX_UDP_CKSUM: u64;
        static mtcp_shim_RTE_ETH_RX_OFFLOAD_IPV4_CKSUM: u64;
        static mtcp_shim_RTE_ETH_RX_OFFLOAD_TCP_CKSUM: u64;
        static mtcp_shim_RTE_ETH_RX_OFFLOAD_UDP_CKSUM: u64;
        static mtcp_shim_RTE_ETH_RX_OFFLOAD_RSS_HASH: u64;
        static mtcp_shim_RTE_ETH_TX_OFFLOAD_IPV4_CKSUM: u64;
        static mtcp_shim_RTE_ETH_TX_OFFLOAD_TCP_CKSUM: u64;
        static mtcp_shim_RTE_ETH_TX_OFFLOAD_UDP_CKSUM: u64;
        static mtcp_shim_RTE_ETH_RSS_IPV4: u64;
        static mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_TCP: u64;
        static mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_UDP: u64;
        static mtcp_shim_RTE_ETH_RSS_FRAG_IPV4: u64;
        static mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_OTHER: u64;
        static mtcp_shim_RTE_MBUF_DEFAULT_BUF_SIZE: u32;
        static mtcp_shim_RTE_ETHER_MTU: u32;
        static mtcp_shim_RTE_MAX_ETHPORTS: u32;
        static mtcp_shim_MAX_BURST: u32;
        static mtcp_shim_sizeof_dev_info: u32;
        static mtcp_shim_sizeof_rx: u32;
        static mtcp_shim_sizeof_buf: u32;
        static mtcp_shim_sizeof_tx: u32;
    }

    #[test]
    fn constants_match_dpdk() {
        // SAFETY: plain `const` integers defined in shim.c, initialised at load time.
        let pairs: [(&str, u64, u64); 31] = unsafe {
            [
                (
                    "RTE_MBUF_F_RX_RSS_HASH",
                    RTE_MBUF_F_RX_RSS_HASH,
                    mtcp_shim_RTE_MBUF_F_RX_RSS_HASH,
                ),
                (
                    "RTE_MBUF_F_RX_IP_CKSUM_MASK",
                    RTE_MBUF_F_RX_IP_CKSUM_MASK,
                    mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_MASK,
                ),
                (
                    "RTE_MBUF_F_RX_IP_CKSUM_GOOD",
                    RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                    mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                ),
                (
                    "RTE_MBUF_F_RX_IP_CKSUM_BAD",
                    RTE_MBUF_F_RX_IP_CKSUM_BAD,
                    mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_BAD,
                ),
                (
                    "RTE_MBUF_F_RX_L4_CKSUM_MASK",
                    RTE_MBUF_F_RX_L4_CKSUM_MASK,
                    mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_MASK,
                ),
                (
                    "RTE_MBUF_F_RX_L4_CKSUM_GOOD",
                    RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                    mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                ),
                (
                    "RTE_MBUF_F_RX_L4_CKSUM_BAD",
                    RTE_MBUF_F_RX_L4_CKSUM_BAD,
                    mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_BAD,
                ),
                (
                    "RTE_MBUF_F_TX_IPV4",
                    RTE_MBUF_F_TX_IPV4,
                    mtcp_shim_RTE_MBUF_F_TX_IPV4,
                ),
                (
                    "RTE_MBUF_F_TX_IP_CKSUM",
                    RTE_MBUF_F_TX_IP_CKSUM,
                    mtcp_shim_RTE_MBUF_F_TX_IP_CKSUM,
                ),
                (
                    "RTE_MBUF_F_TX_TCP_CKSUM",
                    RTE_MBUF_F_TX_TCP_CKSUM,
                    mtcp_shim_RTE_MBUF_F_TX_TCP_CKSUM,
                ),
                (
                    "RTE_MBUF_F_TX_UDP_CKSUM",
                    RTE_MBUF_F_TX_UDP_CKSUM,
                    mtcp_shim_RTE_MBUF_F_TX_UDP_CKSUM,
                ),
                (
                    "RTE_ETH_RX_OFFLOAD_IPV4_CKSUM",
                    RTE_ETH_RX_OFFLOAD_IPV4_CKSUM,
                    mtcp_shim_RTE_ETH_RX_OFFLOAD_IPV4_CKSUM,
                ),
                (
                    "RTE_ETH_RX_OFFLOAD_TCP_CKSUM",
                    RTE_ETH_RX_OFFLOAD_TCP_CKSUM,
                    mtcp_shim_RTE_ETH_RX_OFFLOAD_TCP_CKSUM,
                ),
                (
                    "RTE_ETH_RX_OFFLOAD_UDP_CKSUM",
                    RTE_ETH_RX_OFFLOAD_UDP_CKSUM,
                    mtcp_shim_RTE_ETH_RX_OFFLOAD_UDP_CKSUM,
                ),
                (
                    "RTE_ETH_RX_OFFLOAD_RSS_HASH",
                    RTE_ETH_RX_OFFLOAD_RSS_HASH,
                    mtcp_shim_RTE_ETH_RX_OFFLOAD_RSS_HASH,
                ),
                (
                    "RTE_ETH_TX_OFFLOAD_IPV4_CKSUM",
                    RTE_ETH_TX_OFFLOAD_IPV4_CKSUM,
                    mtcp_shim_RTE_ETH_TX_OFFLOAD_IPV4_CKSUM,
                ),
                (
                    "RTE_ETH_TX_OFFLOAD_TCP_CKSUM",
                    RTE_ETH_TX_OFFLOAD_TCP_CKSUM,
                    mtcp_shim_RTE_ETH_TX_OFFLOAD_TCP_CKSUM,
                ),
                (
                    "RTE_ETH_TX_OFFLOAD_UDP_CKSUM",
                    RTE_ETH_TX_OFFLOAD_UDP_CKSUM,
                    mtcp_shim_RTE_ETH_TX_OFFLOAD_UDP_CKSUM,
                ),
                (
                    "RTE_ETH_RSS_IPV4",
                    RTE_ETH_RSS_IPV4,
                    mtcp_shim_RTE_ETH_RSS_IPV4,
                ),
                (
                    "RTE_ETH_RSS_NONFRAG_IPV4_TCP",
                    RTE_ETH_RSS_NONFRAG_IPV4_TCP,
                    mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_TCP,
                ),
                (
                    "RTE_ETH_RSS_NONFRAG_IPV4_UDP",
                    RTE_ETH_RSS_NONFRAG_IPV4_UDP,
                    mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_UDP,
                ),
                (
                    "RTE_ETH_RSS_FRAG_IPV4",
                    RTE_ETH_RSS_FRAG_IPV4,
                    mtcp_shim_RTE_ETH_RSS_FRAG_IPV4,
                ),
                (
                    "RTE_ETH_RSS_NONFRAG_IPV4_OTHER",
                    RTE_ETH_RSS_NONFRAG_IPV4_OTHER,
                    mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_OTHER,
                ),
                (
                    "RTE_MBUF_DEFAULT_BUF_SIZE",
                    RTE_MBUF_DEFAULT_BUF_SIZE.into(),
                    mtcp_shim_RTE_MBUF_DEFAULT_BUF_SIZE.into(),
                ),
                (
                    "RTE_ETHER_MTU",
                    RTE_ETHER_MTU.into(),
                    mtcp_shim_RTE_ETHER_MTU.into(),
                ),
                (
                    "RTE_MAX_ETHPORTS",
                    RTE_MAX_ETHPORTS.into(),
                    mtcp_shim_RTE_MAX_ETHPORTS.into(),
                ),
                (
                    "MTCP_SHIM_MAX_BURST",
                    MAX_BURST as u64,
                    mtcp_shim_MAX_BURST.into(),
                ),
                (
                    "sizeof(mtcp_shim_dev_info)",
                    size_of::<ShimDevInfo>() as u64,
                    mtcp_shim_sizeof_dev_info.into(),
                ),
                (
                    "sizeof(mtcp_shim_rx)",
                    size_of::<ShimRx>() as u64,
                    mtcp_shim_sizeof_rx.into(),
                ),
                (
                    "sizeof(mtcp_shim_buf)",
                    size_of::<ShimBuf>() as u64,
                    mtcp_shim_sizeof_buf.into(),
                ),
                (
                    "sizeof(mtcp_shim_tx)",
                    size_of::<ShimTx>() as u64,
                    mtcp_shim_sizeof_tx.into(),
                ),
            ]
        };
        for (name, rust, c) in pairs {
            assert_eq!(rust, c, "{name}: Rust has {rust:#x}, DPDK's headers {c:#x}");
        }
        assert_eq!(MAX_BURST, mtcp_io::MAX_BURST);
    }

    #[test]
    fn pmd_path_is_exported() {
        let dir = crate::eal::pmd_dir();
        assert!(dir.starts_with('/'), "RTE_EAL_PMD_PATH = {dir:?}");
    }
}
