//! mTCP's socket and epoll API over per-core contexts: the crate that assembles packet I/O
//! (`mtcp-io`), the network layer (`mtcp-net`: Ethernet, ARP, IPv4 routes, ICMP echo), the wire
//! formats (`mtcp-wire`) and the TCP engine (`mtcp-tcp`) into the calls mTCP programs make
//! (`mtcp_socket`, `mtcp_accept`, `mtcp_epoll_wait`, ...).
//!
//! ```text
//!   application (epserver, epwget, ...)   ── or C programs through mtcp-capi
//!        │  Context::socket / connect / read / write / epoll_wait ...   (errno per mtcp-api.md)
//!   ┌────▼───────────────── Context (one per core) ─────────────────────┐
//!   │ Stack: the poll loop over its parts (see the `stack` module)      │
//!   │  Sockets: socket ids, mtcp-tcp Engine │ Epolls: epoll, pipes      │
//!   │  Ports: per port mtcp-net Interface (ARP, IPv4, ICMP) + tx batch, │
//!   │         routes, RSS steering          │ CoreMesh │ CoreStats      │
//!   └────┬──────────────────────────────────────────────────────────────┘
//!        │  rx_burst / tx_burst of this core's queue of every port (AnyQueue)
//!   mtcp-io: mem switch │ tap │ afpacket │ (dpdk, netmap: extension point in `backend`)
//! ```
//!
//! Two run modes (`run_mode` in mtcp.conf): run-to-completion, where `epoll_wait` drives the
//! stack on the application thread, and mTCP's threaded mode with a stack thread per context
//! that polls the ports; the two threads share the stack through a lock-free slot, the
//! application's calls run on its own thread, and `epoll_wait` hands the stack to the stack
//! thread: one hand-off per loop turn, not one per call (see [`Context`]).
//!
//! Several cores (`num_cores > 1`): each context owns one queue of every port, and a flow lives
//! on the core that owns it by mTCP's symmetric Toeplitz hash. Devices with Toeplitz RSS steer
//! flows there themselves (clients pick source ports by the device's table); for the others (TAP,
//! AF_PACKET fanout: `Steering::Opaque`; `Steering::None`) the cores hand each other the frames
//! of flows they do not own through lock-free inboxes, and copy ARP frames to every core: see
//! [`mesh`] for the per-backend rule, the buffers, and the latency bound.
//!
//! Destroying a context ([`Context::destroy`], [`Context::stop`], or dropping it) closes every
//! socket and keeps the stack running until the peers have acknowledged the data and FINs or
//! `drain_timeout_ms` (default 5 s) has passed, so data a program wrote just before exiting is
//! not lost; a stopped context answers every call with `EPERM`.
//!
//! Example: a server and a client, each an instance on one in-memory switch.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use mtcp_io::mem::{MemConfig, MemSwitch};
//! use mtcp_socket_api::{Error, EpollEvent, MtcpConf, Mtcp, events, EPOLL_CTL_ADD};
//!
//! // Dropping a context drains its connections (at most `drain_timeout_ms`): here both
//! // run-to-completion contexts live on one thread, so a dropped one's peer is not driven
//! // any more and cannot acknowledge; keep that wait short.
//! let conf = |ip: &str| MtcpConf::parse(&format!(
//!     "io = mem\nnum_cores = 1\nport = mem0\nmem0.ip = {ip}/24\nrun_mode = rtc\n\
//!      drain_timeout_ms = 100\n")).unwrap();
//! let switch = MemSwitch::new(MemConfig::default()).unwrap();
//! let server = Mtcp::with_switch(conf("198.18.0.1"), &switch, 0).unwrap();
//! let client = Mtcp::with_switch(conf("198.18.0.2"), &switch, 1).unwrap();
//! let (mut s, mut c) = (server.create_context(0).unwrap(), client.create_context(0).unwrap());
//!
//! let addr = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80);
//! let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
//! s.bind(l, addr).unwrap();
//! s.listen(l, 16).unwrap();
//! let sock = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
//! assert_eq!(c.connect(sock, addr), Err(Error::InProgress));
//! let ep = c.epoll_create(1).unwrap();
//! c.epoll_ctl(ep, EPOLL_CTL_ADD, sock, Some(EpollEvent { events: events::OUT, data: 7 })).unwrap();
//! let mut evs = [EpollEvent::default(); 4];
//! let accepted = loop {
//!     s.poll();
//!     c.epoll_wait(ep, &mut evs, 0).unwrap();
//!     if let Ok((id, _peer)) = s.accept(l) { break id; }
//! };
//! assert_eq!(c.write(sock, b"hello"), Ok(5));
//! let mut buf = [0u8; 8];
//! let n = loop {
//!     c.poll();
//!     s.poll();
//!     match s.read(accepted, &mut buf) { Err(Error::Again) => continue, r => break r.unwrap() }
//! };
//! assert_eq!(&buf[..n], b"hello");
//! ```

mod addr;
mod api;
mod api_epoll;
pub mod backend;
pub mod config;
mod context;
mod drain;
pub mod epoll;
mod epolls;
mod error;
mod heap;
pub mod mesh;
mod mtcp;
mod netif;
mod ports;
mod rss;
pub mod socket;
mod sockets;
mod stack;
pub mod stats;
mod threaded;
mod turnclock;

pub use api::MSG_PEEK;
pub use api_epoll::PIPE_CAPACITY;
pub use config::{
    DEFAULT_DRAIN_TIMEOUT, FaultConf, FaultDirection, IoBackend, MtcpConf, PortConf, RunMode,
};
pub use context::Context;
pub use epoll::{EpollEvent, EpollOp, event_to_string, events};
pub use error::{Error, InitError, Result};
pub use mtcp::{Mtcp, MtcpConfC};
pub use stack::Stack;

/// `MTCP_EPOLL_CTL_ADD`.
pub const EPOLL_CTL_ADD: i32 = EpollOp::Add as i32;
/// `MTCP_EPOLL_CTL_DEL`.
pub const EPOLL_CTL_DEL: i32 = EpollOp::Del as i32;
/// `MTCP_EPOLL_CTL_MOD`.
pub const EPOLL_CTL_MOD: i32 = EpollOp::Mod as i32;
