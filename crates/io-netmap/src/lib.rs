//! The netmap backend of the mTCP toolkit's packet-I/O trait: each queue drives one rx/tx ring pair
//! that the kernel shares with user space, handing received buffers up without copying them.
//!
//! ```text
//!   mtcp stack (per core)          ── mtcp_io::{Device, Queue}
//!   ─────────────────────────────────────────────────────────────
//!   mtcp-io-netmap  NetmapDevice ─ queue(i) ─ NetmapQueue<KernelSync>
//!                        │ ring protocol (queue.rs)   │ NIOC{TX,RX}SYNC, poll
//!   ─────────────────────┼────────────────────────────┼──────────
//!   kernel          /dev/netmap: netmap_if, rings, buffers (mmap) ── NIC / VALE / pipe
//! ```
//!
//! The ring protocol ([`queue`]) is separate from the system calls ([`kernel`]): a queue calls a
//! [`RingSync`] when it needs the kernel. [`sim`] implements that trait on a memory region laid out
//! exactly as the kernel lays it out and plays the kernel's part, so the protocol is tested here
//! although the netmap module is not loaded on the machines this is written on.
//!
//! Port names follow netmap's syntax: `netmap:eth0` (all ring pairs, one queue each),
//! `netmap:eth0-2` (ring pair 2), `netmap:eth0^` (host rings), `vale0:p` (VALE port),
//! `netmap:x{1` / `netmap:x}1` (pipe ends). See [`name`] and the crate's README.
//!
//! # Example
//! Two simulated ports wired back to back; [`NetmapDevice::open`] is used the same way on a
//! machine with netmap (`NetmapDevice::open("vale0:a")`).
//! ```
//! use mtcp_io::{Burst, Device, Queue, TxFrame};
//! use mtcp_io_netmap::sim::{SimConfig, SimDevice};
//!
//! let (mut a, mut b) = SimDevice::pair(SimConfig::default());
//! let (mut qa, mut qb) = (a.queue(0)?, b.queue(0)?);
//!
//! let mut tx = Burst::new();
//! let mut frame = qa.tx_alloc().expect("a free buffer");
//! frame.set_len(60);
//! frame[..6].copy_from_slice(&[0xff; 6]);
//! tx.push(frame).ok();
//! assert_eq!(qa.tx_burst(&mut tx)?, 1);
//!
//! let mut rx = Burst::new();
//! assert_eq!(qb.rx_burst(&mut rx)?, 1);
//! assert_eq!(rx[0].len(), 60);
//! assert_eq!(&rx[0][..6], &[0xff; 6]);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod error;
pub mod kernel;
mod layout;
pub mod name;
pub mod queue;
pub mod sim;
pub mod sys;

pub use error::NetmapError;
pub use kernel::{Config, KernelSync, NetmapDevice};
pub use layout::RingSel;
pub use name::{PortKind, PortName, RingMode};
pub use queue::{
    NetmapQueue, NetmapRxFrame, NetmapTxFrame, QueueConfig, QueueStats, Region, RingSync,
};
