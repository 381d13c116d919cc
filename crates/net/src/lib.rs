//! The network layer of the mTCP toolkit, sans I/O: Ethernet dispatch, ARP, IPv4 routing and
//! checks, ICMP echo, and the hand-off of TCP segments to the TCP engine.
//!
//! ```text
//!   apps ─ socket-api / capi ─ epoll
//!                 │
//!   context (one per core): Interfaces, RouteTable, TCP engine
//!         │ rx frames     ▲ (src, dst, TcpRepr)   │ (src, dst, TcpRepr)
//!   ┌─────▼───────────────┴───────────────────────▼──────────────────┐
//!   │ net (this crate): no I/O, no clock, no per-packet allocation   │
//!   │   receive ──► ARP and ICMP answered, TCP passed up             │
//!   │   send_tcp ─► frame in the caller's tx buffer, or parked       │
//!   │               until ARP resolves                               │
//!   │   poll ─────► ARP retries and timeouts                         │
//!   │   transmit_ready ─► queued frames out                          │
//!   └─────┬──────────────────────────────────────────────────────────┘
//!         │ tx frames: io (rx_burst / tx_burst); wire (parse / emit)
//! ```
//!
//! An [`Interface`] is one port as seen by one core. It never reads a clock: every call that
//! depends on time takes `now_ms`, a millisecond count from any fixed origin. It never allocates
//! per packet: its ARP cache, its queue of datagrams waiting for ARP and its queue of control
//! frames are sized by [`InterfaceConfig`] and allocated in [`Interface::new`].
//!
//! - **Receive**: [`Interface::receive`] takes a frame and the device's checksum verdicts
//!   ([`mtcp_io::RxMeta`]) and returns [`Received::Tcp`] for the TCP engine (checksum checked;
//!   [`Interface::read_tcp`] reads it into the caller's `TcpRepr` in place), [`Received::Handled`]
//!   (ARP, ICMP echo: a reply may now wait in the control queue) or [`Received::Dropped`] with
//!   the reason, also counted in [`Counters`].
//! - **Send**: [`RouteTable::lookup`] picks the port and next hop (longest prefix; the ports'
//!   own subnets are on-link routes; `/0` is the default route); [`Interface::send_tcp`] writes
//!   Ethernet + IPv4 + TCP straight into the caller's transmit buffer when the next hop's MAC is
//!   known, or parks a copy and sends an ARP request, retried every
//!   [`ArpConfig::retry_interval_ms`] up to [`ArpConfig::max_requests`] times.
//! - **Drain**: after each receive burst and each [`Interface::poll`] (the ARP timers, due at
//!   [`Interface::poll_at`]), [`Interface::transmit_ready`] copies queued frames (ARP, ICMP,
//!   datagrams released by an ARP reply) into transmit buffers.
//! - **Configuration**: [`parse_arp_conf`] and [`parse_route_conf`] read mTCP's `arp.conf` and
//!   `route.conf`; errors name the line and the problem.
//!
//! Checksums follow [`mtcp_wire::ChecksumCapabilities`]: on receive, a device verdict of good or
//! bad is trusted, and software verifies only where the capabilities say so; on transmit, what
//! software leaves to the device is requested in [`Transmit::offload`].
//!
//! ```
//! use core::net::Ipv4Addr;
//! use mtcp_io::RxMeta;
//! use mtcp_net::{Interface, InterfaceConfig, Received, SendResult, parse_arp_conf};
//! use mtcp_wire::{
//!     ArpOperation, ArpRepr, EtherType, EthernetAddress, EthernetRepr, SeqNumber, TcpFlags,
//!     TcpRepr,
//! };
//!
//! let (our_mac, peer_mac) = (EthernetAddress([2, 0, 0, 0, 0, 1]), EthernetAddress([2, 0, 0, 0, 0, 2]));
//! let (us, peer) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
//! let mut config = InterfaceConfig::new(our_mac, us, 24);
//! config.static_arp = parse_arp_conf("ARP_ENTRY 0\n")?;
//! let mut iface = Interface::new(config);
//!
//! // The first segment to an unknown peer waits for ARP; the request is ready to go.
//! let syn = TcpRepr {
//!     src_port: 40000, dst_port: 80, seq_number: SeqNumber(1), ack_number: SeqNumber(0),
//!     flags: TcpFlags::SYN, window_len: 65535, urgent_pointer: 0,
//!     options: Default::default(), payload: &[],
//! };
//! let mut tx = [0u8; 1514];
//! assert_eq!(iface.send_tcp(0, peer, us, peer, &syn, &mut tx), SendResult::Queued);
//! let request = iface.transmit_ready(&mut tx).unwrap();
//! assert_eq!(request.len, 60);
//!
//! // The peer answers; the parked SYN comes out addressed to it.
//! let mut reply = [0u8; 42];
//! EthernetRepr { src_addr: peer_mac, dst_addr: our_mac, vlan: None, ethertype: EtherType::Arp }
//!     .emit(&mut reply)?;
//! ArpRepr {
//!     operation: ArpOperation::Reply,
//!     source_hardware_addr: peer_mac, source_protocol_addr: peer,
//!     target_hardware_addr: our_mac, target_protocol_addr: us,
//! }
//! .emit(&mut reply[14..])?;
//! assert_eq!(iface.receive(5, &reply, RxMeta::default()), Received::Handled);
//! let sent = iface.transmit_ready(&mut tx).unwrap();
//! assert_eq!(&tx[..6], &peer_mac.0);
//! assert_eq!(sent.len, 14 + 20 + 20);
//! assert_eq!(iface.counters().arp_resolved, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - **IPv6**: with addresses in [`InterfaceConfig::ipv6`], the interface answers Neighbour
//!   Discovery (RFC 4861) and ICMPv6 echo, walks extension headers as RFC 8200 §4 says (with
//!   parameter problems), passes TCP up as [`Received::Tcp6`], and sends with
//!   [`Interface::send_tcp_ipv6`] through the [`NeighborCache`] (INCOMPLETE, REACHABLE, STALE,
//!   DELAY, PROBE; static entries; the same bounded queue of waiting frames as ARP).
//!   [`Route6Table`] is the IPv6 longest-prefix table.
//!
//! Not implemented: IPv4 reassembly (fragments are counted and dropped), IP options on
//! transmit, VLAN tags (tagged frames are dropped), ICMP errors (destination unreachable, path
//! MTU) in either direction, UDP, forwarding.

mod arp;
mod config;
mod counters;
mod iface;
mod iface6;
mod nd;
mod route;
mod route6;
mod rx;
mod rx6;
mod store;

pub use arp::{ArpConfig, ArpTable};
pub use config::{
    ArpEntry, ConfigError, ConfigErrorKind, RouteEntry, parse_arp_conf, parse_route_conf,
};
pub use counters::{Counters, RxDrop, TxDrop};
pub use iface::{
    ETHERNET_HEADER_LEN, IPV4_HEADER_LEN, Interface, InterfaceConfig, SendResult, Transmit,
    capabilities_from_offload,
};
pub use iface6::IPV6_HEADER_LEN;
pub use nd::{NdAction, NdConfig, NeighborCache, NeighborState, Resolution};
pub use route::{
    NextHop, NoRoute, PortAddr, Route, RouteAddr, RouteTable, mask, network, prefix_len_of,
};
pub use route6::{NextHop6, NoRoute6, Route6, Route6Table, mask6, network6};
pub use rx::Received;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
