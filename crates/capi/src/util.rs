//! The helpers that mTCP's `libmtcp.a` exports beside the API and that its example programs
//! call through `util/include/cpu.h` and `util/include/rss.h`: `GetNumCPUs`, `CoreAffinitize`,
//! `GetRSSHash` and `GetRSSCPUCore`. Same signatures and results as mTCP's `src/cpu.c`,
//! `util/rss.c`; the hash is `mtcp_wire::rss::toeplitz` with mTCP's symmetric key.

use std::ffi::c_int;

use libc::{in_addr_t, in_port_t};
use mtcp_socket_api::Error;
use mtcp_wire::rss::{SYMMETRIC_KEY, toeplitz};

use crate::errno::guard;

/// `int GetNumCPUs(void)`: the online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`, as mTCP).
#[unsafe(no_mangle)]
pub extern "C" fn GetNumCPUs() -> c_int {
    // SAFETY: sysconf only reads a system value.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) as c_int }
}

/// `int CoreAffinitize(int cpu)` (mTCP's `util/cpu.c`): pins the calling thread to `cpu`, as
/// `mtcp_core_affinitize`. -1 with `EINVAL` for a CPU outside `0..GetNumCPUs()`.
#[unsafe(no_mangle)]
pub extern "C" fn CoreAffinitize(cpu: c_int) -> c_int {
    if cpu < 0 || cpu >= GetNumCPUs() {
        crate::errno::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: a plain int argument; the callee checks it again.
    unsafe { crate::global::mtcp_core_affinitize(cpu) }
}

/// The Toeplitz hash of the four values as mTCP computes it: each value's bits from the most
/// significant down, in the order sip, dip, sp, dp, under the key `0x05` repeated. The values
/// are hashed as given (mTCP's callers pass `s_addr`/`sin_port`, network order).
pub fn rss_hash(sip: u32, dip: u32, sp: u16, dp: u16) -> u32 {
    let mut input = [0u8; 12];
    input[..4].copy_from_slice(&sip.to_be_bytes());
    input[4..8].copy_from_slice(&dip.to_be_bytes());
    input[8..10].copy_from_slice(&sp.to_be_bytes());
    input[10..].copy_from_slice(&dp.to_be_bytes());
    toeplitz(&SYMMETRIC_KEY, &input)
}

/// The queue an ixgbe-style NIC picks for the hash (mTCP's `GetRSSCPUCore`): the hash's 7 low
/// bits, reordered within each group of four as Intel's little-endian redirection table
/// stores them (entry i holds `i ^ 3`), modulo the queue count. `None` for `num_queues <= 0`.
pub fn rss_cpu_core(sip: u32, dip: u32, sp: u16, dp: u16, num_queues: i32) -> Option<i32> {
    if num_queues <= 0 {
        return None;
    }
    let entry = rss_hash(sip, dip, sp, dp) & 0x7f;
    // mTCP adds {3, 1, -1, -3}[entry & 3]: the same as flipping the two low bits.
    let slot = entry ^ 3;
    Some((slot % num_queues as u32) as i32)
}

/// `uint32_t GetRSSHash(in_addr_t sip, in_addr_t dip, in_port_t sp, in_port_t dp)`.
#[unsafe(no_mangle)]
pub extern "C" fn GetRSSHash(sip: in_addr_t, dip: in_addr_t, sp: in_port_t, dp: in_port_t) -> u32 {
    rss_hash(sip, dip, sp, dp)
}

/// `int GetRSSCPUCore(in_addr_t sip, in_addr_t dip, in_port_t sp, in_port_t dp, int
/// num_queues)`: the receive queue (= core) of the flow. -1 with `EINVAL` for `num_queues <= 0`
/// (mTCP divides by zero).
#[unsafe(no_mangle)]
pub extern "C" fn GetRSSCPUCore(
    sip: in_addr_t,
    dip: in_addr_t,
    sp: in_port_t,
    dp: in_port_t,
    num_queues: c_int,
) -> c_int {
    guard(|| rss_cpu_core(sip, dip, sp, dp, num_queues).ok_or(Error::Inval))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mTCP's formula, written out as it is there (offsets added with wrap-around).
    fn mtcp_formula(hash: u32, n: u32) -> u32 {
        const OFF: [u32; 4] = [3, 1, 1u32.wrapping_neg(), 3u32.wrapping_neg()];
        let m = hash & 0x7f;
        m.wrapping_add(OFF[(m & 3) as usize]) % n
    }

    #[test]
    fn the_xor_matches_mtcps_offsets_and_the_hash_is_symmetric() {
        for h in 0..512u32 {
            for n in 1..9 {
                assert_eq!(((h & 0x7f) ^ 3) % n, mtcp_formula(h, n), "hash {h} n {n}");
            }
        }
        let (a, b) = (
            u32::from_ne_bytes([198, 18, 0, 1]),
            u32::from_ne_bytes([198, 18, 0, 2]),
        );
        for p in [1u16, 80, 4242, 65535] {
            assert_eq!(rss_hash(a, b, p, 80), rss_hash(b, a, 80, p));
        }
        assert_eq!(rss_cpu_core(a, b, 1, 2, 0), None);
        assert_eq!(rss_cpu_core(a, b, 1, 2, -4), None);
    }
}
