//! Every frame the Linux kernel produced in `fixtures/kernel.pcap` (see `fixtures/capture.sh`)
//! parses with all checksums verified, and emitting the parsed representation gives back the
//! kernel's bytes exactly.

use std::fs::File;

use mtcp_wire::frame::{Frame, Network, Transport};
use mtcp_wire::{ArpOperation, ChecksumCapabilities, EtherType, Icmpv4Repr, PrettyFrame, TcpFlags};
use pcap_file::pcap::PcapReader;

fn kernel_frames() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kernel.pcap");
    let mut reader = PcapReader::new(File::open(path).expect("fixture")).expect("pcap header");
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap record");
        assert_eq!(
            packet.data.len() as u32,
            packet.orig_len,
            "capture was truncated"
        );
        frames.push(packet.data.into_owned());
    }
    frames
}

#[derive(Default, Debug)]
struct Seen {
    arp_request: usize,
    arp_reply: usize,
    echo_request: usize,
    echo_reply: usize,
    fragments: usize,
    time_exceeded: usize,
    unreachable: usize,
    udp: usize,
    syn_all_options: usize,
    syn_mss_only: usize,
    sack_blocks: usize,
    rst: usize,
    fin: usize,
    data: usize,
    other_ethertype: usize,
}

#[test]
fn kernel_frames_parse_and_emit_byte_exact() {
    let caps = ChecksumCapabilities::software();
    let mut seen = Seen::default();
    let frames = kernel_frames();
    assert!(frames.len() > 100, "fixture too small: {}", frames.len());
    for (i, bytes) in frames.iter().enumerate() {
        let frame =
            Frame::parse(bytes, &caps).unwrap_or_else(|e| panic!("frame {i}: {e}: {bytes:02x?}"));
        let mut out = vec![0u8; frame.buffer_len()];
        assert_eq!(frame.emit(&mut out, &caps), Ok(out.len()), "frame {i}");
        // Short frames carry Ethernet padding after the datagram; everything before it is exact.
        assert_eq!(
            &bytes[..out.len()],
            &out[..],
            "frame {i} re-emitted differently: {frame}"
        );
        assert!(
            bytes[out.len()..].iter().all(|b| *b == 0),
            "frame {i}: non-zero trailer"
        );
        let reparsed = Frame::parse(&out, &caps).expect("re-emitted frame parses");
        assert_eq!(reparsed, frame, "frame {i}");

        match &frame.network {
            Network::Arp(arp) => match arp.operation {
                ArpOperation::Request => seen.arp_request += 1,
                ArpOperation::Reply => seen.arp_reply += 1,
                ArpOperation::Unknown(_) => {}
            },
            Network::Other(_) => {
                assert_eq!(frame.ethernet.ethertype, EtherType::Ipv6);
                seen.other_ethertype += 1;
            }
            Network::Ipv4(ip, transport) => match transport {
                Transport::Raw(_) => {
                    assert!(ip.is_fragment());
                    seen.fragments += 1;
                }
                Transport::Icmp(Icmpv4Repr::EchoRequest { .. }) => seen.echo_request += 1,
                Transport::Icmp(Icmpv4Repr::EchoReply { .. }) => seen.echo_reply += 1,
                Transport::Icmp(Icmpv4Repr::TimeExceeded { header, .. }) => {
                    assert_eq!(header.ttl, 1);
                    seen.time_exceeded += 1;
                }
                Transport::Icmp(Icmpv4Repr::DstUnreachable { code, data, .. }) => {
                    assert_eq!(*code, 3);
                    assert_eq!(&data[2..4], &9999u16.to_be_bytes());
                    seen.unreachable += 1;
                }
                Transport::Udp(udp) => {
                    assert_eq!(udp.payload, b"hello\n");
                    seen.udp += 1;
                }
                Transport::Tcp(tcp) => {
                    let o = &tcp.options;
                    if tcp.flags.contains(TcpFlags::SYN) {
                        if o.sack_permitted && o.timestamps.is_some() && o.window_scale.is_some() {
                            assert_eq!(o.mss, Some(1460));
                            seen.syn_all_options += 1;
                        } else if o.mss.is_some() && !o.sack_permitted && o.timestamps.is_none() {
                            seen.syn_mss_only += 1;
                        }
                    }
                    seen.sack_blocks += usize::from(!o.sack_blocks.is_empty());
                    seen.rst += usize::from(tcp.flags.contains(TcpFlags::RST));
                    seen.fin += usize::from(tcp.flags.contains(TcpFlags::FIN));
                    seen.data += usize::from(!tcp.payload.is_empty());
                }
            },
        }
    }
    println!("{seen:#?}");
    let counts = [
        seen.arp_request,
        seen.arp_reply,
        seen.echo_request,
        seen.echo_reply,
        seen.fragments,
        seen.time_exceeded,
        seen.unreachable,
        seen.udp,
        seen.syn_all_options,
        seen.syn_mss_only,
        seen.sack_blocks,
        seen.rst,
        seen.fin,
        seen.data,
        seen.other_ethertype,
    ];
    assert!(
        counts.iter().all(|c| *c > 0),
        "the fixture lacks a kind of frame: {seen:#?}"
    );
}

#[test]
fn kernel_frames_print_like_tcpdump() {
    let frames = kernel_frames();
    let lines: Vec<String> = frames.iter().map(|f| PrettyFrame(f).to_string()).collect();
    let syn = lines
        .iter()
        .find(|l| l.contains("Flags [S], seq"))
        .expect("a SYN");
    assert!(
        syn.contains(".8080: Flags [S], seq ") || syn.contains(".9: Flags [S], seq "),
        "{syn}"
    );
    assert!(syn.contains("options [mss 1460,sackOK,TS val "), "{syn}");
    assert!(syn.contains(",wscale 10], length 0"), "{syn}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ARP, Request who-has 198.18.1.2 tell 198.18.1.1"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("IP 198.18.1.1 > 198.18.1.2: ICMP echo request, id "))
    );
    assert!(lines.iter().any(|l| l.contains("fragment id ")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ethertype IPv4 (0x0800), length 74: IP 198.18.1.1."))
    );
    assert!(lines.iter().any(|l| l.contains(
        "ethertype IPv6 (0x86dd), length 86: IP6 :: > ff02::1:ffd1:2c28: ICMP6, neighbor \
         solicitation, who has fe80::a8e5:95ff:fed1:2c28"
    )));
    assert!(
        PrettyFrame(&frames[0][..10])
            .to_string()
            .starts_with("[truncated packet] 10 bytes")
    );
}

/// The kernel's own IPv6 frames in the fixture (duplicate address detection, MLDv2 reports behind
/// a hop-by-hop header with a router alert, router solicitations): the IPv6 views, the
/// extension-header walk and the ICMPv6 checksum over the pseudo-header all accept them.
#[test]
fn kernel_ipv6_frames_parse_walk_and_verify() {
    use mtcp_wire::ipv6_ext::{self, Ipv6Payload};
    use mtcp_wire::{
        Checksum, EthernetFrame, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr,
    };
    let (mut dad, mut mld, mut rs) = (0, 0, 0);
    for bytes in kernel_frames() {
        let eth = EthernetFrame::new_checked(&bytes).unwrap();
        if eth.ethertype() != EtherType::Ipv6 {
            continue;
        }
        let packet = Ipv6Packet::new_checked(eth.payload()).expect("IPv6 view");
        let ip = Ipv6Repr::parse(&packet).expect("IPv6 header");
        assert!(ip.dst_addr.is_multicast(), "{ip}");
        assert_eq!(
            mtcp_wire::ipv6::multicast_mac(ip.dst_addr),
            Some(eth.dst_addr())
        );
        let Ok(Ipv6Payload::Upper {
            protocol: IpProtocol::Icmpv6,
            pointer,
            data,
        }) = ipv6_ext::walk(&packet)
        else {
            panic!("walk of {ip}");
        };
        let icmp = Icmpv6Packet::new_checked(data).unwrap();
        assert!(icmp.verify_checksum(&ip.src_addr, &ip.dst_addr), "{ip}");
        match icmp.header().msg_type {
            135 => {
                // DAD: from ::, to the target's solicited-node group, no link-layer address
                // (Linux adds a nonce option, RFC 7527, which is skipped).
                let repr = Icmpv6Repr::parse(&icmp, &ip.src_addr, &ip.dst_addr, Checksum::Both);
                let Ok(Icmpv6Repr::NeighborSolicit {
                    target_addr,
                    source_lladdr: None,
                }) = repr
                else {
                    panic!("{repr:?}");
                };
                assert!(ip.src_addr.is_unspecified());
                assert_eq!(ip.hop_limit, 255);
                assert_eq!(mtcp_wire::ipv6::solicited_node(target_addr), ip.dst_addr);
                dad += 1;
            }
            143 => {
                // MLDv2 report behind hop-by-hop options (router alert): the walk skipped it.
                assert_eq!(u8::from(packet.next_header()), 0);
                assert_eq!(pointer, 40);
                mld += 1;
            }
            133 => {
                let repr = Icmpv6Repr::parse(&icmp, &ip.src_addr, &ip.dst_addr, Checksum::Both);
                assert_eq!(repr, Err(mtcp_wire::Error::Unsupported));
                rs += 1;
            }
            other => panic!("unexpected ICMPv6 type {other}"),
        }
    }
    assert!(dad > 0 && mld > 0 && rs > 0, "{dad} {mld} {rs}");
}
