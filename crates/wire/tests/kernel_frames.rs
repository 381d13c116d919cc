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
    assert!(
        PrettyFrame(&frames[0][..10])
            .to_string()
            .starts_with("[truncated packet] 10 bytes")
    );
}
