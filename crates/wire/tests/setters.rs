//! The mutable views: a field set through a setter reads back through the view (and the
//! representation) with the new value, the rest unchanged; checksums filled after edits verify.

use core::net::Ipv4Addr;

use mtcp_wire::rss::flow_tuple;
use mtcp_wire::*;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 9);

fn tcp_frame(buf: &mut [u8]) -> usize {
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
        vlan: None,
        ethertype: EtherType::Ipv4,
    };
    let l3 = eth.emit(buf).unwrap();
    let ip = Ipv4Repr::new(A, B, IpProtocol::Tcp, 24);
    let l4 = l3 + ip.emit(&mut buf[l3..], Checksum::Both).unwrap();
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: SeqNumber(7),
        ack_number: SeqNumber(9),
        flags: TcpFlags::ACK,
        window_len: 512,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload: b"data",
    };
    l4 + tcp.emit(&mut buf[l4..], A, B, Checksum::Both).unwrap()
}

#[test]
fn ethernet_ipv4_tcp_setters() {
    let mut f = [0u8; 64];
    let len = tcp_frame(&mut f);
    let mut eth = EthernetFrameMut::new_checked(&mut f).unwrap();
    eth.set_dst_addr(EthernetAddress([2, 0, 0, 0, 0, 9]));
    let mut ip = Ipv4PacketMut::new_checked(&mut f[14..len]).unwrap();
    ip.set_dst_addr(C);
    ip.set_ttl(3);
    ip.fill_checksum();
    let mut tcp = TcpPacketMut::new_checked(&mut f[34..len]).unwrap();
    tcp.set_dst_port(8080);
    tcp.set_seq_number(SeqNumber(1000));
    tcp.set_flags(TcpFlags::ACK | TcpFlags::PSH);
    tcp.set_checksum(0);

    let eth = EthernetFrame::new_checked(&f[..len]).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress([2, 0, 0, 0, 0, 9]));
    assert_eq!(eth.src_addr(), EthernetAddress([2, 0, 0, 0, 0, 1]));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum(), "filled checksum verifies");
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.header().ttl), (A, C, 3));
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    let repr = TcpRepr::parse(&tcp, A, C, Checksum::None).unwrap();
    assert_eq!((repr.src_port, repr.dst_port), (40000, 8080));
    assert_eq!(
        (repr.seq_number, repr.ack_number),
        (SeqNumber(1000), SeqNumber(9))
    );
    assert_eq!(repr.flags, TcpFlags::ACK | TcpFlags::PSH);
    assert_eq!(repr.payload, b"data");
    assert_eq!(tcp.header().checksum.get(), 0);
}

#[test]
fn flow_tuple_reads_through_the_views() {
    let mut f = [0u8; 64];
    let len = tcp_frame(&mut f);
    assert_eq!(
        flow_tuple(&f[..len]),
        Some((IpProtocol::Tcp, rss::ipv4_tuple(A, B, 40000, 80)))
    );
    let mut ip = Ipv4PacketMut::new_checked(&mut f[14..len]).unwrap();
    ip.set_fragment(false, false, 8);
    assert_eq!(flow_tuple(&f[..len]), None, "a later fragment has no ports");
    let mut ip = Ipv4PacketMut::new_checked(&mut f[14..len]).unwrap();
    ip.set_fragment(true, false, 0);
    ip.set_protocol(IpProtocol::Icmp);
    assert_eq!(flow_tuple(&f[..len]), None);
    assert_eq!(flow_tuple(&f[..30]), None, "truncated");
}

#[test]
fn udp_icmp_arp_setters() {
    let mut u = [0u8; 12];
    let mut udp = UdpPacketMut::new_checked(&mut u).unwrap();
    udp.set_src_port(53);
    udp.set_dst_port(5353);
    udp.set_len(12);
    let p = UdpPacket::new_checked(&u).unwrap();
    assert_eq!(
        (p.header().src_port.get(), p.header().dst_port.get()),
        (53, 5353)
    );
    assert_eq!(p.payload().len(), 4);

    let mut m = [0u8; 12];
    let mut icmp = Icmpv4PacketMut::new_checked(&mut m).unwrap();
    icmp.set_type_code(8, 0);
    icmp.set_echo_ident_seq(0x1234, 7);
    icmp.fill_checksum();
    let p = Icmpv4Packet::new_checked(&m).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&p, Checksum::Both).unwrap(),
        Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 7,
            data: &[0; 4]
        }
    );

    let mut a = [0u8; 28];
    let repr = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        source_protocol_addr: A,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: B,
    };
    repr.emit(&mut a).unwrap();
    let mut arp = ArpPacketMut::new_checked(&mut a).unwrap();
    arp.set_operation(ArpOperation::Reply);
    arp.set_target(EthernetAddress([2, 0, 0, 0, 0, 7]), C);
    let back = ArpRepr::parse(&ArpPacket::new_checked(&a).unwrap()).unwrap();
    assert_eq!(back.operation, ArpOperation::Reply);
    assert_eq!(back.target_protocol_addr, C);
    assert_eq!(back.source_protocol_addr, A);
    assert!(
        ArpPacketMut::new_checked(&mut [0u8; 28]).is_err(),
        "not Ethernet/IPv4"
    );
}
