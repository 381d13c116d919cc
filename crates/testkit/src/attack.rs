//! Damaged frames for the adversarial tests: every header corner the robustness issue lists,
//! made from one good Ethernet + IPv4 + TCP frame (built by `mtcp-wire`), with the checksums
//! fixed up after each edit where the damage is meant to get past them.
//!
//! ```
//! // A good frame: 14 + 20 + 20 bytes, no options (the option variants then set bad flags).
//! let mut good = vec![0u8; 54];
//! good[12] = 0x08; // IPv4
//! good[14] = 0x45;
//! good[16..18].copy_from_slice(&40u16.to_be_bytes());
//! good[14 + 9] = 6; // TCP
//! good[34 + 12] = 5 << 4;
//! for kind in 0..mtcp_testkit::attack::KINDS {
//!     assert!(!mtcp_testkit::attack::damaged(&good, kind).is_empty());
//! }
//! ```

use std::net::Ipv4Addr;

use mtcp_wire::checksum::{fold, pseudo_header_sum, sum};

/// Kinds of damage [`damaged`] knows (`kind` is taken modulo this).
pub const KINDS: usize = 15;

const ETH: usize = 14;
const TCP: usize = ETH + 20;

/// Copies of `good` damaged the `kind` way: TCP data offset 0, 4 and 15 (0-2); IHL 0, 4 and 15
/// (3-5); IP total length below the headers and past the frame (6-7); a first and a later
/// fragment (8-9); a bad TCP and a bad IP checksum (10-11); runts cut in the Ethernet, IP and
/// TCP headers (12); stacked VLAN tags, 802.1ad outside 802.1Q (13); and options of length 0,
/// 1, past the header, an MSS of length 3 and timestamps of length 2 when `good` carries at
/// least 4 bytes of options, every TCP flag at once otherwise (14).
///
/// `good` is an Ethernet frame with an IPv4 header of 20 bytes and a TCP segment whose checksums
/// are right.
pub fn damaged(good: &[u8], kind: usize) -> Vec<Vec<u8>> {
    assert!(good.len() >= TCP + 20, "not an Ethernet + IPv4 + TCP frame");
    let mut out = Vec::new();
    let mut variant = |edit: &dyn Fn(&mut Vec<u8>), tcp_sum: bool| {
        let mut f = good.to_vec();
        edit(&mut f);
        if tcp_sum {
            fix_tcp_checksum(&mut f);
        }
        fix_ip_checksum(&mut f);
        out.push(f);
    };
    let opts = TCP + 20;
    let has_opts = usize::from(good[TCP + 12] >> 4) * 4 >= 24;
    match kind % KINDS {
        0 => variant(&|f| f[TCP + 12] &= 0x0f, true),
        1 => variant(&|f| f[TCP + 12] = 4 << 4 | (f[TCP + 12] & 0x0f), true),
        2 => variant(&|f| f[TCP + 12] = 15 << 4 | (f[TCP + 12] & 0x0f), true),
        3 => variant(&|f| f[ETH] = 0x40, false),
        4 => variant(&|f| f[ETH] = 0x44, false),
        5 => variant(&|f| f[ETH] = 0x4f, false),
        6 => variant(
            &|f| f[ETH + 2..ETH + 4].copy_from_slice(&30u16.to_be_bytes()),
            false,
        ),
        7 => variant(
            &|f| f[ETH + 2..ETH + 4].copy_from_slice(&9000u16.to_be_bytes()),
            false,
        ),
        8 => variant(&|f| f[ETH + 6] = 0x20, false),
        9 => variant(&|f| f[ETH + 7] = 0x10, false),
        10 => variant(&|f| f[TCP + 16] ^= 0x5a, false),
        11 => {
            let mut f = good.to_vec();
            f[ETH + 10] ^= 0x5a;
            out.push(f);
        }
        12 => {
            for cut in [10, ETH + 8, TCP + 6] {
                out.push(good[..cut].to_vec());
            }
        }
        13 => {
            let mut f = good[..12].to_vec();
            f.extend_from_slice(&[0x88, 0xa8, 0, 5, 0x81, 0, 0, 7]);
            f.extend_from_slice(&good[12..]);
            out.push(f);
        }
        _ if has_opts => {
            for bad in [
                [2u8, 0, 5, 0xb4],
                [3, 1, 7, 1],
                [8, 40, 0, 0],
                [2, 3, 5, 1],
                [8, 2, 1, 1],
            ] {
                variant(&|f| f[opts..opts + 4].copy_from_slice(&bad), true);
            }
        }
        _ => variant(&|f| f[TCP + 13] = 0xff, true),
    }
    out
}

/// Writes the TCP checksum of a frame whose IP total length may lie (the sum covers what the
/// length claims, cut at the frame's end); a frame too short to hold the checksum is left alone.
fn fix_tcp_checksum(f: &mut [u8]) {
    let end = f
        .len()
        .min(ETH + usize::from(u16::from_be_bytes([f[16], f[17]])));
    if end < TCP + 18 {
        return;
    }
    let addr = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
    let (src, dst) = (addr(ETH + 12), addr(ETH + 16));
    f[TCP + 16] = 0;
    f[TCP + 17] = 0;
    let s = pseudo_header_sum(src, dst, 6, (end - TCP) as u16) + sum(&f[TCP..end]);
    let c = !fold(s);
    f[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
}

/// Writes the IPv4 header checksum over the header length the frame claims (20 bytes at least).
fn fix_ip_checksum(f: &mut [u8]) {
    let ihl = usize::from(f[ETH] & 0xf) * 4;
    let end = (ETH + ihl.max(20)).min(f.len());
    f[ETH + 10] = 0;
    f[ETH + 11] = 0;
    let c = !fold(sum(&f[ETH..end]));
    f[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
}
