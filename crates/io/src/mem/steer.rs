//! Receive-side scaling for the in-memory switch: which queue of a port a frame lands on.
//!
//! The Toeplitz hash here is a stand-in until `mtcp_wire::rss` lands on main; it computes the same
//! function (Microsoft RSS spec), so swapping it is a one-line change in [`toeplitz`].

/// mTCP's symmetric RSS key (0x6d5a repeated): both directions of a flow hash alike.
pub const SYMMETRIC_KEY: [u8; 40] = {
    let mut k = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// The Toeplitz hash of `input` under `key` (the key must be at least `input.len() + 4` bytes).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    // The 32-bit window of the key that lines up with the current input bit.
    let mut window = u32::from_be_bytes([
        key.first().copied().unwrap_or(0),
        key.get(1).copied().unwrap_or(0),
        key.get(2).copied().unwrap_or(0),
        key.get(3).copied().unwrap_or(0),
    ]);
    for (i, &byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    hash
}

/// The RSS input of an IPv4 TCP or UDP frame (source address, destination address, source port,
/// destination port), or `None` for anything else (those go to queue 0).
pub fn flow_tuple(frame: &[u8]) -> Option<[u8; 12]> {
    let mut l3 = 14;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype == 0x8100 {
        ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 = 18;
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = frame.get(l3..)?;
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    let protocol = *ip.get(9)?;
    let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff;
    if ihl < 20 || (protocol != 6 && protocol != 17) || fragment != 0 {
        return None;
    }
    let mut t = [0u8; 12];
    t[..8].copy_from_slice(ip.get(12..20)?);
    t[8..].copy_from_slice(ip.get(ihl..ihl + 4)?);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verification suite of the Microsoft RSS specification (IPv4 with TCP ports).
    #[test]
    fn microsoft_rss_vectors() {
        let key: [u8; 40] = [
            0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
            0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
            0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
        ];
        let cases: [([u8; 4], u16, [u8; 4], u16, u32); 3] = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0x5c2b_394a,
            ),
        ];
        for (src, sport, dst, dport, want) in cases {
            let mut input = [0u8; 12];
            input[..4].copy_from_slice(&src);
            input[4..8].copy_from_slice(&dst);
            input[8..10].copy_from_slice(&sport.to_be_bytes());
            input[10..].copy_from_slice(&dport.to_be_bytes());
            assert_eq!(toeplitz(&key, &input), want);
        }
    }

    #[test]
    fn symmetric_key_is_symmetric() {
        let a = [198, 18, 0, 1, 198, 18, 0, 2, 0x30, 0x39, 0x00, 0x50];
        let b = [198, 18, 0, 2, 198, 18, 0, 1, 0x00, 0x50, 0x30, 0x39];
        assert_eq!(toeplitz(&SYMMETRIC_KEY, &a), toeplitz(&SYMMETRIC_KEY, &b));
    }
}
