//! A sans-I/O TCP engine (RFC 9293): segments and the current time go in; segments to send,
//! events and the next deadline come out. It holds no sockets, threads or clocks, so any event
//! loop can drive it, and mTCP-style per-core contexts are built on it.
//!
//! ```text
//!   application ── send / recv / connect / listen / close ──┐
//!                                                            ▼
//!                          ┌──────────── mtcp-tcp Engine ────────────┐
//!   poll_timers(now) ────► │ connection table · listeners · timers   │ ──► events, next_deadline
//!                          └─────────────────────────────────────────┘
//!          on_segment(TcpRepr) ▲                      │ dispatch(emit(TcpRepr))
//!                          mtcp-wire (parse / emit TCP, IPv4, IPv6, Ethernet)
//!                          mtcp-io   (DPDK, AF_PACKET, TAP, in-memory link)
//! ```
//!
//! Implemented: every state with passive, active and simultaneous open and close, half-close;
//! listeners with SYN and accept queues bounded by the backlog and SYN cookies (RFC 4987) when
//! the SYN queue is full; MSS (clamped to the MTU), window scaling, SACK and timestamps
//! (RFC 7323, RFC 2018), each used only when both sides offered it; Nagle with a no-delay
//! switch and SWS avoidance on both sides; initial window 10; NewReno and CUBIC behind
//! [`cc::CongestionControl`]; RTO per RFC 6298 with Karn's rule, backoff and a configurable
//! minimum; fast retransmit and recovery (RFC 5681/6582) and SACK-based loss recovery
//! (RFC 6675) with limited transmit, proportional rate reduction, lost-retransmission
//! detection and tail loss probes (simplified RFC 8985); retry limits; persist timer with
//! zero-window probes; keepalive; reassembly with a bounded number of holes; a receive window
//! whose right edge never moves left; delayed ACKs; RFC 5961 RST/SYN/ACK checks with
//! rate-limited challenge ACKs; PAWS; RFC 6528 ISNs; TIME-WAIT with safe reuse; idle timeout;
//! per-connection statistics. Connections run over IPv4 or IPv6 (4-tuples of [`core::net::IpAddr`],
//! the MSS from the IPv6 MTU with its 1220-byte floor, ISNs and SYN cookies over IPv6 tuples) and
//! a listener on `::` takes both families unless [`Engine::set_v6only`].
//!
//! Example: two engines connected back to back.
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use mtcp_tcp::{Config, Engine, Event, Instant};
//! use mtcp_wire::tcp::TcpRepr;
//!
//! let (a_ip, b_ip) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
//! let mut client = Engine::new(Config::default(), [1; 16]);
//! let mut server = Engine::new(Config::default(), [2; 16]);
//! server.listen(b_ip, 80, 16).unwrap();
//! let now = Instant::from_millis(0);
//! let conn = client.connect(now, a_ip, 0, b_ip, 80).unwrap();
//! client.send(conn, b"hello").unwrap();
//!
//! // Shuttle segments until both sides are quiet. A real program sends them to a NIC
//! // (serialised with mtcp-wire) and sleeps until `next_deadline()`.
//! let mut wire: Vec<(IpAddr, IpAddr, TcpRepr<'static>)> = Vec::new();
//! for _ in 0..10 {
//!     for engine in [&mut client, &mut server] {
//!         for (src, dst, seg) in wire.drain(..) {
//!             engine.on_segment(now, src, dst, &seg);
//!         }
//!         engine.dispatch(now, |src, dst, seg| {
//!             let payload: &'static [u8] = Vec::leak(seg.payload.to_vec());
//!             wire.push((src, dst, TcpRepr { payload, ..seg.clone() }));
//!         });
//!     }
//! }
//! let accepted = server.accept(80).expect("handshake completed");
//! let mut buf = [0u8; 16];
//! assert_eq!(server.recv(accepted, &mut buf), Ok(5));
//! assert_eq!(&buf[..5], b"hello");
//! assert!(client.events().any(|e| e == (conn, Event::Connected)));
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod ack;
mod assembler;
pub mod cc;
mod config;
mod conn;
mod dispatch;
mod engine;
mod input;
mod isn;
mod listener;
mod options;
mod output;
mod rack;
mod recv;
mod ring;
mod rtt;
mod sack;
mod state;
mod syncookie;
mod table;
mod time;
mod timer;
mod unread;

pub use config::{Config, ConnOptions, IPV6_MIN_MSS, Keepalive};
pub use dispatch::TxRoom;
pub use engine::Engine;
pub use isn::FourTuple;
pub use listener::ListenerKey;
pub use state::{Error, Event, State, TcpInfo};
pub use table::Handle;
pub use time::{Duration, Instant};

#[doc(hidden)]
pub mod internals {
    //! Building blocks exposed for property tests; not a stable API.
    pub use crate::assembler::{Assembler, MAX_RANGES};
    pub use crate::ring::{BufferBudget, RingBuffer, RingPool};
    pub use crate::timer::{TimerId, TimerWheel};
}
