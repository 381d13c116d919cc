//! The DPDK backend of the mTCP packet-I/O layer: [`mtcp_io::Device`] on a DPDK port, one rx/tx
//! queue pair per core, RSS with mTCP's symmetric key, checksum offloads, mbufs as RAII frames.
//!
//! ```text
//!   mtcp (TCP stack, one thread per core)
//!        │  rx_burst / tx_burst, up to 64 frames
//!   mtcp-io  ── Device / Queue / RxFrame / TxFrame traits
//!        │
//!   mtcp-io-dpdk  ◄── this crate: Rust wrappers + a small C shim (shim/shim.c)
//!        │
//!   DPDK 22.11 (Debian libdpdk): EAL, ethdev, mbuf pools, PMDs (NIC on vfio-pci, net_tap, ...)
//! ```
//!
//! The backend needs the cargo feature `dpdk` (and DPDK found by `pkg-config libdpdk`). Without
//! it the crate holds only the DPDK-free [`DpdkConfig`], so the workspace builds anywhere.
//!
//! DPDK's EAL starts once per process: `Eal::init` starts it from the `mtcp.conf` keys in
//! [`DpdkConfig`] (with hugepages when the machine has them, without otherwise), then
//! `Eal::open` configures and starts a port. The thread that calls `Eal::init` becomes DPDK's
//! main lcore (pinned to the first configured core) and its network namespace is the one
//! virtual devices such as `net_tap` and `net_af_packet` are created or opened in.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mtcp_io_dpdk::DpdkConfig;
//! let config = DpdkConfig::parse(
//!     "num_cores = 1\nport = net_ring0\neal_args = --vdev=net_ring0\n",
//! )?;
//! # #[cfg(feature = "dpdk")]
//! # {
//! use mtcp_io::{Burst, Device, Queue, TxFrame};
//! let eal = mtcp_io_dpdk::Eal::init(&config)?;
//! let mut port = eal.open("net_ring0", &config)?;
//! let mut queue = port.queue(0)?;
//! let mut burst = Burst::new();
//! queue.tx_alloc_burst(&mut burst, 8);
//! for frame in burst.iter_mut() {
//!     frame.set_len(60);
//!     frame.fill(0xff);
//! }
//! queue.tx_burst(&mut burst)?; // frames not sent stay in `burst`
//! let mut received = Burst::new();
//! queue.rx_burst(&mut received)?; // net_ring loops back
//! # }
//! # Ok(())
//! # }
//! ```

mod config;
mod error;

pub use config::{DpdkConfig, Hugepages, MEMIF_DEFAULT_BSIZE, memif_bsize, memif_rsize};
pub use error::Error;

#[cfg(feature = "dpdk")]
mod device;
#[cfg(feature = "dpdk")]
mod eal;
#[cfg(feature = "dpdk")]
mod ffi;
#[cfg(feature = "dpdk")]
mod lcore;
#[cfg(feature = "dpdk")]
mod mbuf;
#[cfg(feature = "dpdk")]
mod queue;

#[cfg(feature = "dpdk")]
pub use device::DpdkDevice;
#[cfg(feature = "dpdk")]
pub use eal::Eal;
#[cfg(feature = "dpdk")]
pub use lcore::current_lcore;
#[cfg(feature = "dpdk")]
pub use mbuf::{DpdkRxFrame, DpdkTxFrame};
#[cfg(feature = "dpdk")]
pub use queue::DpdkQueue;

/// The most frames one burst moves.
pub const MAX_BURST: usize = mtcp_io::MAX_BURST;

/// mTCP's symmetric RSS key is this byte repeated (40 bytes, or the NIC's key size): with it the
/// Toeplitz hash of a flow is the same in both directions, so a connection stays on one core.
pub const MTCP_RSS_KEY_BYTE: u8 = 0x05;

/// Whether this build has the DPDK backend (the `dpdk` feature).
pub const ENABLED: bool = cfg!(feature = "dpdk");
