//! `Interface` against the Linux kernel over a TAP device inside a network namespace that each
//! test creates (and removes, through the `Netns` guard). Needs root; skipped with a message
//! otherwise. Addresses come from 198.18.0.0/15 only.

mod common;

use core::net::Ipv4Addr;
use std::time::Duration;

use common::link;
use mtcp_net::SendResult;
use mtcp_testkit::require_root;
use mtcp_wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn kernel_pings_the_interface() {
    require_root("kernel_pings_the_interface");
    let us = Ipv4Addr::new(198, 18, 20, 2);
    let mut l = link("nkp", "198.18.20.1", us);
    let (ok, received, text) = l.ping(&["-c", "4", "-i", "0.2", "-W", "2", "-s", "300"], us);
    assert!(ok, "ping failed: {text}");
    assert_eq!(received, 4, "{text}");
    let c = l.iface.counters().clone();
    assert!(c.arp_tx_replies >= 1, "{c:?}");
    assert_eq!(c.icmp_echo_replies, 4, "{c:?}");
    // The kernel told us its MAC when it asked for ours.
    assert!(
        l.iface
            .arp_table()
            .lookup(Ipv4Addr::new(198, 18, 20, 1), l.now_ms())
            .is_some()
    );
    // The largest datagram the MTU allows: 1472 + 8 + 20 = 1500 bytes.
    let (ok, received, text) = l.ping(&["-c", "1", "-W", "2", "-s", "1472", "-M", "do"], us);
    assert!(ok && received == 1, "full-size ping failed: {text}");
    // One byte more and the kernel fragments it: we count the fragments and do not answer.
    let (ok, received, text) = l.ping(&["-c", "2", "-i", "0.2", "-W", "1", "-s", "1473"], us);
    assert!(!ok && received == 0, "fragmented ping answered: {text}");
    let c = l.iface.counters();
    assert_eq!(c.fragments, 4, "{c:?}");
    assert_eq!(c.rx_dropped(mtcp_net::RxDrop::Fragment), 4);
    assert_eq!(c.icmp_echo_replies, 5);
}

#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn segment_to_the_kernel_waits_for_arp_and_a_closed_port_answers_rst() {
    require_root("segment_to_the_kernel_waits_for_arp_and_a_closed_port_answers_rst");
    let us = Ipv4Addr::new(198, 18, 21, 2);
    let kernel = Ipv4Addr::new(198, 18, 21, 1);
    let mut l = link("nks", "198.18.21.1", us);
    let syn = TcpRepr {
        src_port: 40001,
        dst_port: 9,
        seq_number: SeqNumber(0x1000_0000),
        ack_number: SeqNumber(0),
        flags: TcpFlags::SYN,
        window_len: 64240,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = [0u8; 1514];
    let now = l.now_ms();
    assert_eq!(
        l.iface.send_tcp(now, kernel, us, kernel, &syn, &mut buf),
        SendResult::Queued
    );
    let mut rst = None;
    let got = l.run(Duration::from_secs(5), |_, _, _, seg| {
        rst = Some((seg.flags, seg.ack_number, seg.dst_port));
        seg.flags.contains(TcpFlags::RST)
    });
    assert!(got, "no RST; counters {:?}", l.iface.counters());
    let (flags, ack, port) = rst.unwrap();
    assert!(flags.contains(TcpFlags::ACK));
    assert_eq!(ack, SeqNumber(0x1000_0001));
    assert_eq!(port, 40001);
    let c = l.iface.counters();
    assert_eq!((c.arp_resolved, c.tx_flushed), (1, 1), "{c:?}");
    // Now resolved: the next segment goes straight out.
    let now = l.now_ms();
    assert!(matches!(
        l.iface.send_tcp(now, kernel, us, kernel, &syn, &mut buf),
        SendResult::Sent(_)
    ));
}
