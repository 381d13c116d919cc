//! The AF_XDP backend of the mTCP packet-I/O trait: one AF_XDP socket per queue, each with its
//! own UMEM, the kernel's XDP hook redirecting the port's frames into them.
//!
//! ```text
//!   our stack ◄── XdpRxFrame (a view into the UMEM: zero copy) ◄── RX ring ◄── XDP redirect ◄── NIC
//!             ──► XdpTxFrame (written in the UMEM in place) ──► TX ring ──► kernel/driver ──► NIC
//!   free list ──► fill ring (kept stocked)        completion ring ──► free list
//! ```
//!
//! The XDP program is libxdp's default AF_XDP program (`xsk_def_xdp_prog.o`, shipped by Debian's
//! `libxdp1`): a frame goes to the socket bound to its receive queue, or to the kernel when that
//! queue has none. It is loaded with libbpf and attached through a bpf_link, so the kernel
//! detaches it when the link's descriptor closes: on drop, on a panic that unwinds, and also when
//! the process dies from a signal. Sockets are libxdp's (`xsk_socket__create`), driven through a
//! small C shim because libxdp's ring accessors are inline functions.
//!
//! With [`XdpConfig::pass_foreign`] a program of our own (`bpf/mtcp_xsk.bpf.c`, compiled with
//! clang by build.rs) takes only IPv4 frames to our addresses and ARP for them, and passes the
//! rest to the kernel, so the host keeps using a shared interface.
//!
//! Modes: native XDP (`XdpMode::Native`, in the driver) or generic (`XdpMode::Generic`, any
//! driver, e.g. veth without a peer program); zero copy where the driver offers it, else copy.
//! `Auto` takes the best the driver grants; [`XdpDevice::binding`] tells what that was.
//!
//! With several queues, the interface's queues `0..n` each get a socket; the kernel or NIC spreads
//! flows over them by a hash the stack cannot predict, so the device reports
//! [`mtcp_io::Steering::Opaque`] and the stack steers in software.
//!
//! # Example
//!
//! ```no_run
//! use mtcp_io::{Burst, Device, Queue};
//! use mtcp_io_xdp::{XdpConfig, XdpDevice, XdpMode};
//!
//! let mut config = XdpConfig::new("veth0");
//! config.mode = XdpMode::Generic;
//! let mut port = XdpDevice::open(&config)?;
//! println!("{:?}", port.binding());
//! let mut queue = port.queue(0)?;
//! let mut burst = Burst::new();
//! queue.rx_burst(&mut burst)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod device;
mod error;
mod ffi;
mod frame;
mod queue;
mod stock;
mod sys;

pub use config::{BadValue, XdpConfig, XdpMode, ZeroCopy};
pub use device::{XdpBinding, XdpDevice};
pub use error::XdpError;
pub use frame::{XdpRxFrame, XdpTxFrame};
pub use queue::{XdpKernelStats, XdpQueue, XdpStats};
