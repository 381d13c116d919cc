//! A context's network layer (`mtcp_net::Interface` under each port) seen from the wire: a raw
//! peer on the in-memory switch sends ARP and ICMP and corrupt frames, and watches what a
//! connecting context sends while the peer's address resolves, or never does.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemQueue, MemSwitch};
use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_socket_api::{Context, Mtcp, MtcpConf};
use mtcp_wire::{
    ArpOperation, ArpPacket, ArpRepr, ChecksumCapabilities, EtherType, EthernetAddress,
    EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpFlags, TcpPacket, TcpRepr,
};

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// The context under test on port 0, a raw queue on port 1 and the two MACs (ours, peer's).
struct Setup {
    _switch: MemSwitch,
    mtcp: Mtcp,
    ctx: Context,
    peer: MemQueue,
    us_mac: EthernetAddress,
    peer_mac: EthernetAddress,
}

fn setup() -> Setup {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let conf =
        MtcpConf::parse("io = mem\nnum_cores = 1\nport = mem0\nmem0.ip = 198.18.0.1/24\n").unwrap();
    let mtcp = Mtcp::with_switch(conf, &switch, 0).unwrap();
    let ctx = mtcp.create_context(0).unwrap();
    let us_mac = switch.port(0).info().mac;
    let mut port = switch.port(1);
    let peer_mac = port.info().mac;
    let peer = port.queue(0).unwrap();
    Setup {
        _switch: switch,
        mtcp,
        ctx,
        peer,
        us_mac,
        peer_mac,
    }
}

impl Setup {
    /// Sends one frame written by `fill` (which returns its length) from the peer.
    fn send(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) {
        let mut buf = self.peer.tx_alloc().unwrap();
        let cap = buf.capacity();
        buf.set_len(cap);
        let len = fill(&mut buf);
        buf.set_len(len);
        let mut burst = Burst::new();
        let _ = burst.push(buf);
        assert_eq!(self.peer.tx_burst(&mut burst).unwrap(), 1);
    }

    fn eth(&self, dst: EthernetAddress, ethertype: EtherType) -> EthernetRepr {
        EthernetRepr {
            src_addr: self.peer_mac,
            dst_addr: dst,
            vlan: None,
            ethertype,
        }
    }

    fn send_arp(&mut self, operation: ArpOperation, dst: EthernetAddress) {
        let eth = self.eth(dst, EtherType::Arp);
        let arp = ArpRepr {
            operation,
            source_hardware_addr: self.peer_mac,
            source_protocol_addr: PEER,
            target_hardware_addr: if operation == ArpOperation::Reply {
                self.us_mac
            } else {
                EthernetAddress::default()
            },
            target_protocol_addr: US,
        };
        self.send(|b| {
            let n = eth.emit(b).unwrap();
            n + arp.emit(&mut b[n..]).unwrap()
        });
    }

    /// Polls the context until the peer receives a frame `pick` keeps, or `limit` passes.
    fn expect<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.ctx.poll();
            let mut rx = Burst::new();
            self.peer.rx_burst(&mut rx).unwrap();
            for f in rx.iter() {
                if let Some(t) = pick(f) {
                    return Some(t);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }

    fn rx_errors(&self) -> u64 {
        self.mtcp.snapshots()[0].counters.rx_errors
    }
}

fn arp_of(frame: &[u8]) -> Option<ArpRepr> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    (eth.ethertype() == EtherType::Arp)
        .then(|| ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok())
        .flatten()
}

fn tcp_of(frame: &[u8]) -> Option<(EthernetAddress, TcpFlags)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let caps = ChecksumCapabilities::software();
    let ipr = Ipv4Repr::parse(&ip, caps.ipv4).ok()?;
    if ipr.protocol != IpProtocol::Tcp {
        return None;
    }
    let seg = TcpRepr::parse(
        &TcpPacket::new_checked(ip.payload()).ok()?,
        ipr.src_addr,
        ipr.dst_addr,
        caps.tcp,
    )
    .ok()?;
    Some((eth.dst_addr(), seg.flags))
}

#[test]
fn arp_requests_and_pings_are_answered_and_damaged_frames_counted() {
    let mut s = setup();
    s.send_arp(ArpOperation::Request, EthernetAddress::BROADCAST);
    let reply = s
        .expect(Duration::from_secs(5), arp_of)
        .expect("an ARP reply");
    assert_eq!(reply.operation, ArpOperation::Reply);
    assert_eq!(
        (reply.source_hardware_addr, reply.source_protocol_addr),
        (s.us_mac, US)
    );
    assert_eq!(reply.target_protocol_addr, PEER);

    let data = b"ping through mtcp_net";
    let echo = Icmpv4Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data,
    };
    let ip = Ipv4Repr::new(PEER, US, IpProtocol::Icmp, echo.buffer_len());
    let eth = s.eth(s.us_mac, EtherType::Ipv4);
    let caps = ChecksumCapabilities::software();
    let write_ping = |b: &mut [u8]| {
        let n = eth.emit(b).unwrap();
        ip.emit(&mut b[n..], caps.ipv4).unwrap();
        echo.emit(&mut b[n + 20..], caps.icmpv4).unwrap();
        n + 20 + echo.buffer_len()
    };
    s.send(write_ping);
    let got = s.expect(Duration::from_secs(5), |f| {
        let eth = EthernetFrame::new_checked(f).ok()?;
        let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
        let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
        match Icmpv4Repr::parse(&icmp, caps.icmpv4).ok()? {
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => Some((eth.dst_addr(), ip.dst_addr(), ident, seq_no, data.to_vec())),
            _ => None,
        }
    });
    assert_eq!(
        got,
        Some((s.peer_mac, PEER, 0x1234, 7, data.to_vec())),
        "an echo reply with the request's data"
    );
    assert_eq!(s.rx_errors(), 0);

    // A ping with a broken IPv4 checksum is a receive error; a frame for another MAC is not.
    s.send(|b| {
        let n = write_ping(b);
        b[14 + 10] ^= 0xff;
        n
    });
    let other = EthernetAddress([2, 0, 0, 0, 0, 0x77]);
    let eth_other = s.eth(other, EtherType::Ipv4);
    s.send(|b| {
        let n = eth_other.emit(b).unwrap();
        ip.emit(&mut b[n..], caps.ipv4).unwrap();
        echo.emit(&mut b[n + 20..], caps.icmpv4).unwrap();
        n + 20 + echo.buffer_len()
    });
    assert!(
        s.expect(Duration::from_millis(300), |f| {
            let eth = EthernetFrame::new_checked(f).ok()?;
            (eth.ethertype() == EtherType::Ipv4).then_some(())
        })
        .is_none(),
        "neither frame is answered"
    );
    assert_eq!(s.rx_errors(), 1);
    let snap = s.mtcp.snapshots()[0].counters;
    assert!(snap.rx_packets >= 3 && snap.tx_packets >= 2, "{snap:?}");
}

#[test]
fn a_syn_waits_for_arp_through_retries_and_goes_out_once_resolved() {
    let mut s = setup();
    let sock = s.ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let _ = s.ctx.connect(sock, SocketAddrV4::new(PEER, 80));
    // The SYN is parked: only ARP requests for the peer come out, the first and a retry.
    let mut requests = 0;
    let mut saw_tcp = false;
    s.expect(Duration::from_secs(5), |f| {
        saw_tcp |= tcp_of(f).is_some();
        let arp = arp_of(f)?;
        assert_eq!(arp.operation, ArpOperation::Request);
        assert_eq!(arp.target_protocol_addr, PEER);
        requests += 1;
        (requests == 2).then_some(())
    })
    .expect("a first ARP request and a retry");
    assert!(!saw_tcp, "no segment leaves before the peer's MAC is known");
    s.send_arp(ArpOperation::Reply, s.us_mac);
    let (dst, flags) = s
        .expect(Duration::from_secs(5), tcp_of)
        .expect("the parked SYN");
    assert_eq!(dst, s.peer_mac);
    assert!(flags.contains(TcpFlags::SYN), "{flags:?}");
}

#[test]
fn an_unanswered_resolution_gives_up_and_counts_the_dropped_syns() {
    let mut s = setup();
    let sock = s.ctx.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let _ = s.ctx.connect(sock, SocketAddrV4::new(PEER, 80));
    let start = s.mtcp.snapshots()[0].counters.tx_errors;
    // Requests a second apart; after the last one the waiting SYN is dropped and counted.
    let end = Instant::now() + Duration::from_secs(10);
    let mut requests = 0;
    while s.mtcp.snapshots()[0].counters.tx_errors == start {
        assert!(Instant::now() < end, "the resolution never gave up");
        s.expect(Duration::from_millis(20), |f| {
            assert!(tcp_of(f).is_none(), "no segment leaves unresolved");
            requests += usize::from(arp_of(f).is_some());
            None::<()>
        });
    }
    assert!(requests >= 3, "every retry is sent first: {requests}");
}
