//! Frames as RAII handles on mbufs: dropping one gives its mbuf back to its pool.

use std::ops::{Deref, DerefMut};

use mtcp_io::{ChecksumStatus, L4Checksum, RxFrame, RxMeta, TxFrame, TxOffload};

use crate::ffi::{self, RteMbuf};

/// A received frame: one single-segment mbuf, freed on drop.
pub struct DpdkRxFrame {
    mbuf: *mut RteMbuf,
    data: *const u8,
    len: u16,
    rss_hash: u32,
    ol_flags: u64,
}

// SAFETY: the frame owns its mbuf exclusively; freeing from any thread is safe (mempool rings are
// multi-producer; per-lcore caches are only used by the thread of that lcore).
unsafe impl Send for DpdkRxFrame {}

impl DpdkRxFrame {
    /// The frame the shim received, with `extra_flags` added to its receive flags.
    pub(crate) fn from_shim(rx: &ffi::ShimRx, extra_flags: u64) -> DpdkRxFrame {
        DpdkRxFrame {
            mbuf: rx.mbuf,
            data: rx.data,
            len: rx.len,
            rss_hash: rx.rss_hash,
            ol_flags: rx.ol_flags | extra_flags,
        }
    }
}

impl Deref for DpdkRxFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: data points at len bytes of the mbuf's first (only) segment, owned by self.
        unsafe { std::slice::from_raw_parts(self.data, usize::from(self.len)) }
    }
}

impl Drop for DpdkRxFrame {
    fn drop(&mut self) {
        // SAFETY: self owns the mbuf and nothing uses it afterwards.
        unsafe { ffi::mtcp_shim_free(self.mbuf) }
    }
}

fn status(flags: u64, mask: u64, good: u64, bad: u64) -> ChecksumStatus {
    match flags & mask {
        f if f == good => ChecksumStatus::Good,
        f if f == bad => ChecksumStatus::Bad,
        // GOOD|BAD is DPDK's "NONE": the checksum field is not filled in but the data is intact.
        f if f == mask => ChecksumStatus::Good,
        _ => ChecksumStatus::Unknown,
    }
}

/// Decodes an mbuf's receive flags.
pub(crate) fn rx_meta(ol_flags: u64, rss_hash: u32) -> RxMeta {
    RxMeta {
        rss_hash: (ol_flags & ffi::RTE_MBUF_F_RX_RSS_HASH != 0).then_some(rss_hash),
        ipv4_checksum: status(
            ol_flags,
            ffi::RTE_MBUF_F_RX_IP_CKSUM_MASK,
            ffi::RTE_MBUF_F_RX_IP_CKSUM_GOOD,
            ffi::RTE_MBUF_F_RX_IP_CKSUM_BAD,
        ),
        l4_checksum: status(
            ol_flags,
            ffi::RTE_MBUF_F_RX_L4_CKSUM_MASK,
            ffi::RTE_MBUF_F_RX_L4_CKSUM_GOOD,
            ffi::RTE_MBUF_F_RX_L4_CKSUM_BAD,
        ),
    }
}

impl RxFrame for DpdkRxFrame {
    fn meta(&self) -> RxMeta {
        rx_meta(self.ol_flags, self.rss_hash)
    }
}

/// A frame being built: a fresh mbuf, freed on drop unless transmitted.
pub struct DpdkTxFrame {
    pub(crate) mbuf: *mut RteMbuf,
    data: *mut u8,
    capacity: u16,
    len: u16,
    ol_flags: u64,
    l2_len: u8,
    l3_len: u8,
}

// SAFETY: as for DpdkRxFrame.
unsafe impl Send for DpdkTxFrame {}

/// Encodes a transmit offload request as mbuf flags.
pub(crate) fn tx_flags(offload: &TxOffload) -> u64 {
    let mut flags = 0;
    if offload.ipv4_checksum {
        flags |= ffi::RTE_MBUF_F_TX_IPV4 | ffi::RTE_MBUF_F_TX_IP_CKSUM;
    }
    match offload.l4_checksum {
        Some(L4Checksum::Tcp) => flags |= ffi::RTE_MBUF_F_TX_IPV4 | ffi::RTE_MBUF_F_TX_TCP_CKSUM,
        Some(L4Checksum::Udp) => flags |= ffi::RTE_MBUF_F_TX_IPV4 | ffi::RTE_MBUF_F_TX_UDP_CKSUM,
        None => {}
    }
    flags
}

impl DpdkTxFrame {
    pub(crate) fn from_shim(buf: &ffi::ShimBuf) -> DpdkTxFrame {
        DpdkTxFrame {
            mbuf: buf.mbuf,
            data: buf.data,
            capacity: buf.capacity,
            len: 0,
            ol_flags: 0,
            l2_len: 0,
            l3_len: 0,
        }
    }

    /// What the shim writes into the mbuf before handing it to the driver.
    pub(crate) fn to_shim(&self) -> ffi::ShimTx {
        ffi::ShimTx {
            mbuf: self.mbuf,
            ol_flags: self.ol_flags,
            len: self.len,
            l2_len: self.l2_len,
            l3_len: self.l3_len,
            _pad: 0,
        }
    }

    /// Gives up ownership: the driver has the mbuf now.
    pub(crate) fn forget_sent(&mut self) {
        self.mbuf = std::ptr::null_mut();
    }
}

impl Deref for DpdkTxFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: data points at capacity >= len bytes of the mbuf's buffer, owned by self.
        unsafe { std::slice::from_raw_parts(self.data, usize::from(self.len)) }
    }
}

impl DerefMut for DpdkTxFrame {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.data, usize::from(self.len)) }
    }
}

impl TxFrame for DpdkTxFrame {
    fn capacity(&self) -> usize {
        usize::from(self.capacity)
    }

    fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "frame length {len} beyond mbuf capacity {}",
            self.capacity
        );
        self.len = len as u16;
    }

    fn set_offload(&mut self, offload: TxOffload) {
        self.ol_flags = tx_flags(&offload);
        self.l2_len = offload.l2_len;
        self.l3_len = offload.l3_len;
    }
}

impl Drop for DpdkTxFrame {
    fn drop(&mut self) {
        if !self.mbuf.is_null() {
            // SAFETY: self owns the mbuf (not handed to the driver) and nothing uses it afterwards.
            unsafe { ffi::mtcp_shim_free(self.mbuf) }
        }
    }
}

impl std::fmt::Debug for DpdkRxFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkRxFrame")
            .field("len", &self.len)
            .field("meta", &self.meta())
            .finish()
    }
}

impl std::fmt::Debug for DpdkTxFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkTxFrame")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("ol_flags", &format_args!("{:#x}", self.ol_flags))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_flags_decode() {
        let m = rx_meta(
            ffi::RTE_MBUF_F_RX_RSS_HASH | ffi::RTE_MBUF_F_RX_IP_CKSUM_GOOD,
            7,
        );
        assert_eq!(m.rss_hash, Some(7));
        assert_eq!(m.ipv4_checksum, ChecksumStatus::Good);
        assert_eq!(m.l4_checksum, ChecksumStatus::Unknown);
        let m = rx_meta(
            ffi::RTE_MBUF_F_RX_L4_CKSUM_BAD | ffi::RTE_MBUF_F_RX_IP_CKSUM_BAD,
            7,
        );
        assert_eq!(m.rss_hash, None);
        assert_eq!(m.ipv4_checksum, ChecksumStatus::Bad);
        assert_eq!(m.l4_checksum, ChecksumStatus::Bad);
    }

    #[test]
    fn tx_flags_encode() {
        let o = TxOffload {
            l2_len: 14,
            l3_len: 20,
            ipv4_checksum: true,
            l4_checksum: Some(L4Checksum::Udp),
            tcp_segment: 0,
        };
        let f = tx_flags(&o);
        assert_eq!(f & ffi::RTE_MBUF_F_TX_IP_CKSUM, ffi::RTE_MBUF_F_TX_IP_CKSUM);
        assert_eq!(f & (3 << 52), ffi::RTE_MBUF_F_TX_UDP_CKSUM);
        assert_eq!(tx_flags(&TxOffload::default()), 0);
    }
}
