//! What differs between the IPv4 and the IPv6 run of the scripts against Linux: the addresses
//! (198.18.0.1/.2, or 2001:2::1/::2 as the engine's IPv6 replay uses), the frames the runner
//! reads and writes on the TAP, the kernel's connection table (`/proc/net/tcp` or `tcp6`), the
//! listed differences (`DIFFERENCES`, over IPv6 also `DIFFERENCES-ipv6`) and the link set-up.
//! Segments reach the script shown with the IPv4 addresses either way, as the engine's IPv6
//! replay shows them: scripts check TCP only.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use mtcp_testkit::Netns;
use mtcp_wire::ethernet::EthernetFrame;
use mtcp_wire::{
    Checksum, ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, Frame, IpProtocol,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, Network, TcpPacket, TcpRepr, Transport,
};
use socket2::Domain;

use crate::common::peer::{A6, B6};
use crate::common::{A, B, Packet};

/// The MTU over IPv6 is the script's plus 20 bytes, so that the MSS (and all that follows from
/// it) is the IPv4 run's, as in the engine's replay (`Harness::new_ipv6`).
pub const IPV6_EXTRA_MTU: u16 = 20;

/// The address family a run of the scripts uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The kernel's address (the system under test).
    pub fn kernel(self) -> IpAddr {
        match self {
            Family::V4 => A.into(),
            Family::V6 => A6.into(),
        }
    }

    /// The script's peer's address.
    pub fn peer(self) -> IpAddr {
        match self {
            Family::V4 => B.into(),
            Family::V6 => B6.into(),
        }
    }

    pub fn domain(self) -> Domain {
        match self {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        }
    }

    pub fn kernel_at(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.kernel(), port)
    }

    pub fn peer_at(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.peer(), port)
    }

    /// The kernel's TCP segment to the peer in `frame`, if it is one (shown with `A`, `B`).
    pub fn parse(self, frame: &[u8], caps: &ChecksumCapabilities) -> Option<Packet> {
        let (kernel, peer) = (self.kernel(), self.peer());
        match self {
            Family::V4 => match Frame::parse(frame, caps).ok()?.network {
                Network::Ipv4(ip, Transport::Tcp(seg))
                    if IpAddr::V4(ip.src_addr) == kernel && IpAddr::V4(ip.dst_addr) == peer =>
                {
                    Some(Packet::from(A, B, &seg))
                }
                _ => None,
            },
            Family::V6 => {
                let eth = EthernetFrame::new_checked(frame).ok()?;
                if eth.ethertype() != EtherType::Ipv6 {
                    return None;
                }
                let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
                let (src, dst) = (ip.src_addr(), ip.dst_addr());
                if ip.next_header() != IpProtocol::Tcp || (src, dst) != (A6, B6) {
                    return None;
                }
                let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
                let seg = TcpRepr::parse_ipv6(&tcp, &src, &dst, Checksum::Both).ok()?;
                Some(Packet::from(A, B, &seg))
            }
        }
    }

    /// Writes the peer's segment `seg` to the kernel as an Ethernet frame into `buf`; returns
    /// its length.
    pub fn emit(
        self,
        buf: &mut [u8],
        eth: EthernetAddress,
        kernel_mac: EthernetAddress,
        seg: &TcpRepr<'_>,
        caps: &ChecksumCapabilities,
    ) -> usize {
        let mut ethernet = EthernetRepr {
            src_addr: eth,
            dst_addr: kernel_mac,
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        match self {
            Family::V4 => {
                let ip = Ipv4Repr::new(B, A, IpProtocol::Tcp, seg.buffer_len());
                let frame = Frame {
                    ethernet,
                    network: Network::Ipv4(ip, Transport::Tcp(seg.clone())),
                };
                frame.emit(buf, caps).expect("emit frame")
            }
            Family::V6 => {
                ethernet.ethertype = EtherType::Ipv6;
                let ip = Ipv6Repr::new(B6, A6, IpProtocol::Tcp, seg.buffer_len());
                let mut at = ethernet.emit(buf).expect("Ethernet header");
                at += ip.emit(&mut buf[at..]).expect("IPv6 header");
                at + seg
                    .emit_ipv6(&mut buf[at..], &B6, &A6, Checksum::Both)
                    .expect("TCP segment")
            }
        }
    }

    /// `tests/scripts/DIFFERENCES`, and over IPv6 also `DIFFERENCES-ipv6`: script name → reason.
    pub fn differences(self) -> HashMap<String, String> {
        let files: &[&str] = match self {
            Family::V4 => &["DIFFERENCES"],
            Family::V6 => &["DIFFERENCES", "DIFFERENCES-ipv6"],
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
        let mut listed = HashMap::new();
        for file in files {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            for l in text.lines().map(|l| l.trim()) {
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let (name, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                assert!(!why.trim().is_empty(), "{file}: {name} has no reason");
                listed.insert(name.to_string(), why.trim().to_string());
            }
        }
        listed
    }

    /// The kernel's state of the connection kernel:`local_port` – peer:`port`, from the
    /// namespace's `/proc/net/tcp` or `tcp6` (the calling thread must be inside the namespace).
    pub fn kernel_state(self, local_port: u16, port: u16) -> Option<&'static str> {
        let file = match self {
            Family::V4 => "/proc/thread-self/net/tcp",
            Family::V6 => "/proc/thread-self/net/tcp6",
        };
        let table = std::fs::read_to_string(file).unwrap();
        let want = (self.kernel_at(local_port), self.peer_at(port));
        table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if (proc_addr(f[1]), proc_addr(f[2])) != (Some(want.0), Some(want.1)) {
                return None;
            }
            Some(match f[3] {
                "01" => "Established",
                "02" => "SynSent",
                "03" | "0C" => "SynReceived",
                "04" => "FinWait1",
                "05" => "FinWait2",
                "06" => "TimeWait",
                "07" => "Closed",
                "08" => "CloseWait",
                "09" => "LastAck",
                "0B" => "Closing",
                _ => "Listen",
            })
        })
    }

    /// Gives the TAP `tap` (MTU `mtu` as the script sets it) the kernel's address and a
    /// permanent neighbour entry for the peer at `peer_mac`. Over IPv6 the namespace's IPv6 is
    /// turned on (`Netns::new` turns it off), the address needs no duplicate address detection,
    /// and router solicitations are off: only the kernel's TCP segments cross the link.
    pub fn set_up_link(self, ns: &Netns, tap: &str, mtu: u16, peer_mac: &str) {
        let ip = |args: &[&str]| {
            let mut full = vec!["ip"];
            full.extend_from_slice(args);
            ns.exec_ok(&full).unwrap();
        };
        let (kernel, peer) = (self.kernel().to_string(), self.peer().to_string());
        match self {
            Family::V4 => {
                ip(&["link", "set", tap, "mtu", &mtu.to_string()]);
                ip(&["addr", "add", &format!("{kernel}/24"), "dev", tap]);
            }
            Family::V6 => {
                for key in ["all", "default", tap] {
                    for (k, v) in [("disable_ipv6", "0"), ("router_solicitations", "0")] {
                        let set = format!("net.ipv6.conf.{key}.{k}={v}");
                        ns.exec_ok(&["sysctl", "-qw", &set]).unwrap();
                    }
                }
                let mtu = (mtu + IPV6_EXTRA_MTU).to_string();
                ip(&["link", "set", tap, "mtu", &mtu]);
                ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("{kernel}/64"),
                    "dev",
                    tap,
                    "nodad",
                ]);
            }
        }
        ip(&["link", "set", tap, "up"]);
        let neigh = ["neigh", "replace", &peer, "lladdr", peer_mac];
        ip(&[&neigh[..], &["dev", tap, "nud", "permanent"]].concat());
    }
}

/// An address of `/proc/net/tcp` (`0100A8C0:0050`) or `tcp6` (four 32-bit words, each in the
/// host's byte order).
fn proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip: IpAddr = match ip.len() {
        8 => Ipv4Addr::from(word(0)?).into(),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Ipv6Addr::from(b).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[test]
fn proc_addresses_of_both_families() {
    assert_eq!(
        proc_addr("010012C6:9C40"),
        Some("198.18.0.1:40000".parse().unwrap())
    );
    assert_eq!(
        proc_addr("02000120000000000000000001000000:0050"),
        Some("[2001:2::1]:80".parse().unwrap())
    );
}
