//! Interoperability with the Linux kernel TCP: the engine speaks through a TAP device inside a
//! network namespace the test creates (198.18.7.0/24 only) and removes afterwards.
//! Needs root; prints why it skips otherwise.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use mtcp_io::tap::{TapConfig, TapDevice, TapQueue};
use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_tcp::{Config, Engine, Event, Handle, Instant, State};
use mtcp_testkit::{Netns, require_root, unique_name};
use mtcp_wire::{
    ArpOperation, ArpRepr, ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, Frame,
    IpProtocol, Ipv4Repr, Network, TcpRepr, Transport,
};

const LINUX_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 7, 1);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 7, 2);

/// Our side of the TAP: ARP plus TCP through the engine.
struct Host {
    q: TapQueue,
    mac: EthernetAddress,
    peer_mac: Option<EthernetAddress>,
    engine: Engine,
    start: StdInstant,
    caps: ChecksumCapabilities,
    /// Share of TCP frames dropped in each direction (fault injection), with a seeded generator.
    loss: f64,
    rng: u64,
}

impl Host {
    fn lose(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ((self.rng >> 11) as f64 / (1u64 << 53) as f64) < self.loss
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    fn send_frame(&mut self, frame: &Frame<'_>) {
        let Some(mut buf) = self.q.tx_alloc() else {
            return;
        };
        let n = frame.emit(buf.whole_mut(), &self.caps).expect("emit frame");
        buf.set_len(n.max(60));
        let mut burst: Burst<_> = Burst::new();
        let _ = burst.push(buf);
        let _ = self.q.tx_burst(&mut burst);
    }

    fn arp(&mut self, operation: ArpOperation, target_mac: EthernetAddress, dst: EthernetAddress) {
        let arp = ArpRepr {
            operation,
            source_hardware_addr: self.mac,
            source_protocol_addr: OUR_IP,
            target_hardware_addr: target_mac,
            target_protocol_addr: LINUX_IP,
        };
        let eth = EthernetRepr {
            src_addr: self.mac,
            dst_addr: dst,
            vlan: None,
            ethertype: EtherType::Arp,
        };
        self.send_frame(&Frame {
            ethernet: eth,
            network: Network::Arp(arp),
        });
    }

    /// Receives, feeds the engine, runs timers and emits.
    fn poll(&mut self) {
        let mut rx: Burst<_> = Burst::new();
        let _ = self.q.wait_rx(StdDuration::from_millis(1));
        let _ = self.q.rx_burst(&mut rx);
        let now = self.now();
        for buf in rx.iter() {
            let Ok(frame) = Frame::parse(buf, &self.caps) else {
                continue;
            };
            match frame.network {
                Network::Arp(a) if a.target_protocol_addr == OUR_IP => {
                    self.peer_mac = Some(a.source_hardware_addr);
                    if a.operation == ArpOperation::Request {
                        let (m, d) = (a.source_hardware_addr, a.source_hardware_addr);
                        self.arp(ArpOperation::Reply, m, d);
                    }
                }
                Network::Ipv4(ip, Transport::Tcp(seg)) if ip.dst_addr == OUR_IP => {
                    if self.lose() {
                        continue;
                    }
                    self.engine.on_segment(now, ip.src_addr, ip.dst_addr, &seg);
                }
                _ => {}
            }
        }
        self.engine.poll_timers(now);
        let Some(peer_mac) = self.peer_mac else {
            self.arp(
                ArpOperation::Request,
                EthernetAddress([0; 6]),
                EthernetAddress::BROADCAST,
            );
            return;
        };
        let mut out: Vec<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>, Vec<u8>)> = Vec::new();
        self.engine.dispatch(now, |s, d, seg| {
            let (IpAddr::V4(s), IpAddr::V4(d)) = (s, d) else {
                panic!("an IPv4 engine emitted an IPv6 segment");
            };
            out.push((
                s,
                d,
                TcpRepr {
                    payload: &[],
                    ..seg.clone()
                },
                seg.payload.to_vec(),
            ))
        });
        for (s, d, seg, payload) in &out {
            if self.lose() {
                continue;
            }
            let tcp = TcpRepr {
                payload,
                ..seg.clone()
            };
            let ip = Ipv4Repr::new(*s, *d, IpProtocol::Tcp, tcp.buffer_len());
            let eth = EthernetRepr {
                src_addr: self.mac,
                dst_addr: peer_mac,
                vlan: None,
                ethertype: EtherType::Ipv4,
            };
            self.send_frame(&Frame {
                ethernet: eth,
                network: Network::Ipv4(ip, Transport::Tcp(tcp)),
            });
        }
    }
}

fn setup(test: &str) -> Option<(Netns, Host)> {
    require_root(test);
    let ns = Netns::new(&unique_name("tcpl")).expect("netns");
    let tap = unique_name("tcptap");
    let name = tap.clone();
    let mut dev = ns
        .run(move || TapDevice::open(&TapConfig::new(&name)))
        .expect("run")
        .expect("tap");
    ns.exec_ok(&["ip", "addr", "add", "198.18.7.1/24", "dev", &tap])
        .unwrap();
    ns.exec_ok(&["ip", "link", "set", &tap, "up"]).unwrap();
    ns.exec_ok(&["ip", "link", "set", "lo", "up"]).unwrap();
    let mac = dev.info().mac;
    let q = dev.queue(0).expect("queue");
    let config = Config {
        min_rto: mtcp_tcp::Duration::from_millis(200),
        ..Config::default()
    };
    let engine = Engine::new(config, *b"linux-interop-ky");
    Some((
        ns,
        Host {
            q,
            mac,
            peer_mac: None,
            engine,
            start: StdInstant::now(),
            caps: ChecksumCapabilities::software(),
            loss: 0.0,
            rng: 0x9E37_79B9_7F4A_7C15,
        },
    ))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// We connect to a Linux echo server, send 1 MB, read it back, and close.
#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn active_open_echo_with_linux() {
    echo_with_linux("active_open_echo_with_linux", 0.0);
}

/// The same with 2 % of the frames dropped in each direction: both stacks recover.
#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn lossy_echo_with_linux() {
    echo_with_linux("lossy_echo_with_linux", 0.02);
}

fn echo_with_linux(test: &str, loss: f64) {
    let Some((ns, mut host)) = setup(test) else {
        return;
    };
    host.loss = loss;
    let server = ns
        .spawn(|| {
            let l = TcpListener::bind((LINUX_IP, 5001)).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let mut total = 0;
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).unwrap();
                total += n;
            }
            s.shutdown(Shutdown::Write).unwrap();
            total
        })
        .unwrap();
    std::thread::sleep(StdDuration::from_millis(100));
    let data = pattern(1 << 20);
    let now = host.now();
    let h: Handle = host.engine.connect(now, OUR_IP, 0, LINUX_IP, 5001).unwrap();
    let (mut sent, mut echoed, mut shut) = (0, Vec::new(), false);
    let mut buf = vec![0u8; 65536];
    let deadline = StdInstant::now() + StdDuration::from_secs(60);
    let mut closed = false;
    while StdInstant::now() < deadline && !closed {
        host.poll();
        if host.engine.state(h).is_ok_and(|s| s == State::Established) && sent < data.len() {
            sent += host.engine.send(h, &data[sent..]).unwrap_or(0);
        }
        if sent == data.len() && !shut {
            shut = host.engine.shutdown_write(h).is_ok();
        }
        while let Ok(n) = host.engine.recv(h, &mut buf) {
            if n == 0 {
                break;
            }
            echoed.extend_from_slice(&buf[..n]);
        }
        for (eh, ev) in host.engine.events() {
            assert!(!matches!(ev, Event::Reset | Event::Error(_)), "{ev:?}");
            if eh == h && ev == Event::Closed {
                closed = true;
            }
        }
        if echoed.len() == data.len() && host.engine.state(h).is_ok_and(|s| s == State::TimeWait) {
            break;
        }
    }
    assert_eq!(echoed.len(), data.len(), "echo incomplete");
    assert!(echoed == data, "echo differs");
    assert_eq!(server.join().unwrap().unwrap(), data.len());
    let info = host.engine.info(h).unwrap();
    assert_eq!(info.state, State::TimeWait);
    assert!(
        info.timestamps && info.sack && info.window_scaling,
        "options with Linux: {info:?}"
    );
    if loss > 0.0 {
        assert!(
            info.total_retrans > 0,
            "drops without retransmissions: {info:?}"
        );
    }
    eprintln!("{test}: {info:?}");
}

/// Linux connects to our listener, sends 512 KB, and we answer with its length.
#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn passive_open_from_linux() {
    let Some((ns, mut host)) = setup("passive_open_from_linux") else {
        return;
    };
    host.engine.listen(OUR_IP, 6000, 8).unwrap();
    let data = pattern(512 << 10);
    let expect = data.clone();
    let client = ns
        .spawn(move || {
            let mut s =
                TcpStream::connect_timeout(&(OUR_IP, 6000).into(), StdDuration::from_secs(10))
                    .unwrap();
            s.set_read_timeout(Some(StdDuration::from_secs(20)))
                .unwrap();
            s.write_all(&expect).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).unwrap();
            reply
        })
        .unwrap();
    let mut conn = None;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = StdInstant::now() + StdDuration::from_secs(30);
    let mut replied = false;
    while StdInstant::now() < deadline {
        host.poll();
        if conn.is_none() {
            conn = host.engine.accept(6000);
        }
        let Some(h) = conn else { continue };
        while let Ok(n) = host.engine.recv(h, &mut buf) {
            if n == 0 {
                if !replied {
                    let msg = format!("{}", got.len());
                    host.engine.send(h, msg.as_bytes()).unwrap();
                    host.engine.close(h).unwrap();
                    replied = true;
                }
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let _ = host.engine.events().count();
        if replied && client.is_finished() {
            break;
        }
    }
    assert!(got == data, "received {} bytes", got.len());
    assert_eq!(client.join().unwrap().unwrap(), data.len().to_string());
}
