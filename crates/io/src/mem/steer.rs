//! Receive-side scaling for the in-memory switch: the RSS input of a frame. The hash itself is
//! [`mtcp_wire::rss`]'s Toeplitz, and its input comes from [`rss::flow_tuple`] (wire's views).

use mtcp_wire::rss;

/// The RSS input of an IPv4 TCP or UDP frame (source address, destination address, source port,
/// destination port), or `None` for anything else, including fragments (those go to queue 0).
pub fn flow_tuple(frame: &[u8]) -> Option<[u8; 12]> {
    l4_tuple(frame).map(|(_, t)| t)
}

/// [`flow_tuple`] of an IPv4 TCP frame only (what a stack steers between its cores).
pub fn tcp_flow_tuple(frame: &[u8]) -> Option<[u8; 12]> {
    l4_tuple(frame).and_then(|(proto, t)| (proto == 6).then_some(t))
}

/// The RSS input (36 bytes: source, destination, ports) of an IPv6 TCP frame, extension headers
/// walked ([`rss::flow_tuple_ip`]); `None` for anything else, fragments included.
pub fn tcp_flow_tuple6(frame: &[u8]) -> Option<[u8; 36]> {
    match rss::flow_tuple_ip(frame)? {
        (mtcp_wire::IpProtocol::Tcp, rss::FlowTuple::V6(t)) => Some(t),
        _ => None,
    }
}

/// The RSS input of an IPv6 TCP or UDP frame (see [`tcp_flow_tuple6`]).
pub(crate) fn flow_tuple6(frame: &[u8]) -> Option<[u8; 36]> {
    match rss::flow_tuple_ip(frame)? {
        (_, rss::FlowTuple::V6(t)) => Some(t),
        _ => None,
    }
}

/// The IP protocol and RSS input of an unfragmented IPv4 TCP or UDP frame ([`rss::flow_tuple`]).
fn l4_tuple(frame: &[u8]) -> Option<(u8, [u8; 12])> {
    rss::flow_tuple(frame).map(|(proto, t)| (u8::from(proto), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_of_tcp_frame_and_not_of_others() {
        use mtcp_wire::{EthernetFrameMut, IpProtocol, Ipv4PacketMut, TcpPacketMut};
        let mut f = [0u8; 54];
        EthernetFrameMut::new_checked(&mut f)
            .unwrap()
            .set_ethertype(mtcp_wire::EtherType::Ipv4);
        f[14] = 0x45;
        let mut ip = Ipv4PacketMut::new_checked(&mut f[14..]).unwrap();
        ip.set_total_len(40);
        ip.set_protocol(IpProtocol::Tcp);
        ip.set_src_addr([198, 18, 0, 1].into());
        ip.set_dst_addr([198, 18, 0, 2].into());
        let mut tcp = TcpPacketMut::new_checked(&mut f[34..]).unwrap();
        tcp.set_src_port(0x3039);
        tcp.set_dst_port(80);
        assert_eq!(
            flow_tuple(&f),
            Some([198, 18, 0, 1, 198, 18, 0, 2, 0x30, 0x39, 0x00, 0x50])
        );
        let mut ip = Ipv4PacketMut::new_checked(&mut f[14..]).unwrap();
        ip.set_fragment(false, true, 0); // More fragments: not steered by ports.
        assert_eq!(flow_tuple(&f), None);
        let mut ip = Ipv4PacketMut::new_checked(&mut f[14..]).unwrap();
        ip.set_fragment(false, false, 0);
        ip.set_protocol(IpProtocol::Icmp);
        assert_eq!(flow_tuple(&f), None);
        assert_eq!(flow_tuple(&f[..20]), None);
    }
}
