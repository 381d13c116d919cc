//! Receive-side scaling for the in-memory switch: the RSS input of a frame. The hash itself is
//! [`mtcp_wire::rss`]'s Toeplitz.

/// The RSS input of an IPv4 TCP or UDP frame (source address, destination address, source port,
/// destination port), or `None` for anything else, including fragments (those go to queue 0).
pub fn flow_tuple(frame: &[u8]) -> Option<[u8; 12]> {
    l4_tuple(frame).map(|(_, t)| t)
}

/// [`flow_tuple`] of an IPv4 TCP frame only (what a stack steers between its cores).
pub fn tcp_flow_tuple(frame: &[u8]) -> Option<[u8; 12]> {
    l4_tuple(frame).and_then(|(proto, t)| (proto == 6).then_some(t))
}

/// The IP protocol and RSS input of an unfragmented IPv4 TCP or UDP frame.
fn l4_tuple(frame: &[u8]) -> Option<(u8, [u8; 12])> {
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
    Some((protocol, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_of_tcp_frame_and_not_of_others() {
        let mut f = [0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = 6;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 18, 0, 2]);
        f[34..38].copy_from_slice(&[0x30, 0x39, 0x00, 0x50]);
        assert_eq!(
            flow_tuple(&f),
            Some([198, 18, 0, 1, 198, 18, 0, 2, 0x30, 0x39, 0x00, 0x50])
        );
        f[20] = 0x20; // More fragments: not steered by ports.
        assert_eq!(flow_tuple(&f), None);
        f[20] = 0;
        f[23] = 1; // ICMP.
        assert_eq!(flow_tuple(&f), None);
        assert_eq!(flow_tuple(&f[..20]), None);
    }
}
