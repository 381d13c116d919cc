//! The packet-I/O layer of the mTCP toolkit: a burst-oriented device trait and its portable backends.
//!
//! A [`Device`] (a port) describes itself in [`DeviceInfo`] (MAC, MTU, queues, checksum offloads,
//! RSS steering) and hands out one [`Queue`] per core. A queue receives up to [`MAX_BURST`] frames at
//! a time into a caller-owned [`Burst`], and transmits a burst, leaving in it whatever the device did
//! not take. Frames are RAII handles: dropping one gives its buffer back to its pool, from any thread.
//!
//! ```text
//!            TCP/IP stack (one instance per core)
//!                 │  rx_burst / tx_alloc / tx_burst
//!   ┌─────────────▼──────────────────────────────────────────────┐
//!   │ mtcp-io:  Queue (per core) ◄── Device (per port)           │
//!   │   wrappers: Pcap<D> (capture)   Fault<D> (loss/dup/reorder/delay)
//!   │   backends: mem │ tap │ afpacket │ (netmap, dpdk: own crates)│
//!   └─────────────┬──────────────────────────────────────────────┘
//!                 ▼
//!   in-memory switch │ /dev/net/tun │ AF_PACKET rings │ NIC
//! ```
//!
//! | backend | crate/module | zero copy | queues | steering | checksum offload |
//! |---|---|---|---|---|---|
//! | in-memory switch | [`mem`] | yes (buffers move; floods and duplicates copy) | N per port | Toeplitz ([`Steering::Toeplitz`]), software | none |
//! | TAP | [`tap`] | no (one copy each way) | 1, or N with `IFF_MULTI_QUEUE` | kernel flow hash ([`Steering::Opaque`]) | none |
//! | AF_PACKET | [`afpacket`] | receive yes (TPACKET_V2 ring); transmit: the kernel copies once, gathered by `sendmmsg` from the pool buffers | 1, or N in a `PACKET_FANOUT` group | kernel flow hash ([`Steering::Opaque`]) | TCP transmit (the kernel completes it); receive reports kernel-validated checksums |
//! | AF_XDP | `mtcp-io-xdp` | receive yes (frames in UMEM; jumbo frames gathered once), transmit from UMEM; copy mode on veth | one socket per queue | kernel flow hash ([`Steering::Opaque`]) | none |
//! | netmap, DPDK | other crates | yes | NIC queues | NIC RSS | NIC |
//!
//! With several queues, a stack that keeps each flow on one core (mtcp-socket-api) trusts
//! [`Steering::Toeplitz`] (mem, NICs) and chooses client source ports by it; for
//! [`Steering::Opaque`] (TAP, AF_PACKET; the mem switch with [`mem::MemConfig::opaque`]) and
//! [`Steering::None`] it steers flows between its cores in software (its `mesh` module).
//!
//! The wrappers work over any backend: [`pcap::Pcap`] records both directions to a file tcpdump
//! reads, and [`fault::Fault`] impairs both directions with seeded loss, duplication, reordering and
//! delay (the way tests impair a link to a Linux peer, since the test kernel has no `tc netem`).
//! [`conformance`] is the suite every backend runs. Buffers come from fixed [`pool`]s: no heap
//! allocation per packet in steady state.
//!
//! # Example
//!
//! Two ports of the in-memory switch; one sends a burst, the other receives it.
//!
//! ```
//! use mtcp_io::mem::MemSwitch;
//! use mtcp_io::{Burst, Device, Queue, TxFrame};
//!
//! let (mut port_a, mut port_b) = MemSwitch::pair();
//! let (dst, src) = (port_b.info().mac, port_a.info().mac);
//! let mut a = port_a.queue(0).unwrap();
//! let mut b = port_b.queue(0).unwrap();
//!
//! let mut burst = Burst::new();
//! for i in 0..3u8 {
//!     let mut frame = a.tx_alloc().expect("pool has buffers");
//!     frame.set_len(60);
//!     frame[0..6].copy_from_slice(&dst.0);
//!     frame[6..12].copy_from_slice(&src.0);
//!     frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
//!     frame[14] = i;
//!     burst.push(frame).unwrap();
//! }
//! assert_eq!(a.tx_burst(&mut burst).unwrap(), 3);
//! assert!(burst.is_empty());
//!
//! let mut received = Burst::new();
//! assert_eq!(b.rx_burst(&mut received).unwrap(), 3);
//! assert_eq!(received[2][14], 2);
//! drop(received); // The buffers go back to port A's pool.
//! assert_eq!(a.pool().available(), a.pool().capacity());
//! ```

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::RawFd;
use std::time::Duration;

pub use mtcp_wire::EthernetAddress;

pub mod conformance;
pub mod doorbell;
pub mod fault;
pub mod mem;
pub mod pcap;
pub mod pool;

#[cfg(target_os = "linux")]
pub mod afpacket;
#[cfg(target_os = "linux")]
pub mod tap;

#[cfg(target_os = "linux")]
mod sys;

/// Linux interface look-ups (`SIOCGIF*`) and a readable-wait on a descriptor, for backend crates
/// built on kernel interfaces (`mtcp-io-xdp`), so each does not carry its own copy.
#[cfg(target_os = "linux")]
pub mod netdev {
    pub use crate::sys::{if_hwaddr, if_index, if_mtu, poll_in};
}

/// The most frames one burst moves (mTCP's and DPDK's customary `MAX_PKT_BURST`).
pub const MAX_BURST: usize = 64;

/// A caller-owned array of up to [`MAX_BURST`] frames, reused from burst to burst (no heap allocation).
pub type Burst<T> = heapless::Vec<T, MAX_BURST>;

/// Checksums the device computes on transmit or verifies on receive; software does the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChecksumOffload {
    /// The device fills in IPv4 header checksums of frames marked with [`TxOffload`].
    pub ipv4_tx: bool,
    /// The device verifies IPv4 header checksums and reports them in [`RxMeta`].
    pub ipv4_rx: bool,
    /// The device fills in TCP checksums (the field must hold the pseudo-header sum).
    pub tcp_tx: bool,
    /// The device verifies TCP checksums and reports them in [`RxMeta`].
    pub tcp_rx: bool,
    /// The device fills in UDP checksums (the field must hold the pseudo-header sum).
    pub udp_tx: bool,
    /// The device verifies UDP checksums and reports them in [`RxMeta`].
    pub udp_rx: bool,
}

impl ChecksumOffload {
    /// Every checksum, both ways (an in-memory link, or two processes of ours that trust it).
    pub const ALL: ChecksumOffload = ChecksumOffload {
        ipv4_tx: true,
        ipv4_rx: true,
        tcp_tx: true,
        tcp_rx: true,
        udp_tx: true,
        udp_rx: true,
    };
}

/// How a device spreads received flows over its queues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Steering {
    /// Frames arrive on queue 0 only (one queue, or no steering).
    None,
    /// Toeplitz hash over the IPv4/TCP 4-tuple with this key, the low bits indexing the redirection
    /// table `reta` (queue numbers). With mTCP's symmetric key both directions of a flow meet on one queue.
    Toeplitz {
        /// The hash key (40 bytes for most NICs).
        key: Vec<u8>,
        /// Redirection table: `queue = reta[hash % reta.len()]`. NICs index it with the hash's low
        /// bits, which is the same thing for the power-of-two sizes they use (64, 128, 512); the
        /// `mem` switch accepts only powers of two, so it steers exactly as such a NIC would.
        reta: Vec<u16>,
    },
    /// The device spreads flows by a hash of its own that software cannot predict (e.g. the kernel's
    /// flow hash behind AF_PACKET fanout or multi-queue TAP); flows stay on one queue, but the stack
    /// cannot choose source ports that land on a given queue.
    Opaque,
}

/// What a port is and can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Name, as given to the backend (`tap0`, `veth1`, `mem:0`, `0000:01:00.0`, ...).
    pub name: String,
    /// The port's Ethernet address.
    pub mac: EthernetAddress,
    /// IP MTU in bytes: the largest Ethernet payload (1500 on standard Ethernet).
    pub mtu: usize,
    /// Number of rx/tx queue pairs, that is, of handles [`Device::queue`] hands out.
    pub num_queues: usize,
    /// Checksum offloads.
    pub checksum: ChecksumOffload,
    /// How received flows are spread over the queues.
    pub steering: Steering,
}

/// What the device tells about a received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// The flow hash the device computed, if any.
    pub rss_hash: Option<u32>,
    /// IPv4 header checksum as verified by the device.
    pub ipv4_checksum: ChecksumStatus,
    /// TCP/UDP checksum as verified by the device.
    pub l4_checksum: ChecksumStatus,
}

/// Outcome of a device's checksum verification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// Not verified: software must check.
    #[default]
    Unknown,
    /// Verified good.
    Good,
    /// Verified bad.
    Bad,
}

/// The layer-4 checksum a frame asks the device to fill in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Checksum {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Checksum work a transmitted frame asks of the device (only what [`ChecksumOffload`] offers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// Length of the link-layer header (14, or 18 with an 802.1Q tag).
    pub l2_len: u8,
    /// Length of the IPv4 header.
    pub l3_len: u8,
    /// Fill in the IPv4 header checksum. The frame's IPv4 checksum field must be zero.
    pub ipv4_checksum: bool,
    /// Fill in this layer-4 checksum. The frame's TCP/UDP checksum field must hold the folded,
    /// uncomplemented pseudo-header sum (`mtcp_wire` emits exactly that when its
    /// `ChecksumCapabilities` say the device computes the checksum).
    pub l4_checksum: Option<L4Checksum>,
    /// TCP segmentation (TSO, or GSO in a kernel): cut the frame, a TCP segment longer than the
    /// link takes, into segments of this many payload bytes each (the last may be shorter), each
    /// with the headers copied, the sequence numbers, IPv4 identification and lengths advanced,
    /// FIN and PSH kept for the last, and both checksums completed. 0: send the frame as it is.
    /// Only for queues whose [`Queue::tcp_segmentation`] is not 0, with `l4_checksum` TCP.
    pub tcp_segment: u16,
}

/// Where [`Queue::rx_into`] puts received frames: a [`Burst`] of the queue's own frames, or a
/// [`WrapInto`] that wraps each frame into another type on the way in (how a run-time choice of
/// backend such as mtcp-socket-api's `AnyQueue` receives without a second burst).
pub trait RxSink<F> {
    /// How many more frames fit. A queue receives at most this many.
    fn room(&self) -> usize;
    /// Appends a frame. Callers check [`RxSink::room`] first; a frame put into a full sink is
    /// dropped (its buffer goes back to its pool).
    fn put(&mut self, frame: F);
}

impl<F> RxSink<F> for Burst<F> {
    fn room(&self) -> usize {
        self.capacity() - self.len()
    }

    fn put(&mut self, frame: F) {
        let _ = self.push(frame);
    }
}

/// A sink of `T` (such as a `Burst<T>`) that takes frames of another type through `wrap`.
pub struct WrapInto<'a, S, W> {
    /// Where the wrapped frames go.
    pub out: &'a mut S,
    /// Turns a queue's frame into the sink's.
    pub wrap: W,
}

impl<F, T, S: RxSink<T>, W: FnMut(F) -> T> RxSink<F> for WrapInto<'_, S, W> {
    fn room(&self) -> usize {
        self.out.room()
    }

    fn put(&mut self, frame: F) {
        self.out.put((self.wrap)(frame));
    }
}

/// The frames [`Queue::tx_from`] transmits, seen in place: a [`Burst`] of the queue's own frames,
/// or a burst of a wrapping type through a view (how mtcp-socket-api's `AnyQueue` transmits
/// without moving its frames into a second burst).
pub trait TxBatch<F> {
    /// Frames waiting, sent front to back.
    fn len(&self) -> usize;
    /// Whether none is waiting.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Frame `i` (`i < len()`); `None` for a frame that is not this queue's type (a caller bug:
    /// such a frame stops the burst).
    fn get(&self, i: usize) -> Option<&F>;
    /// Frame `i`, mutably.
    fn get_mut(&mut self, i: usize) -> Option<&mut F>;
    /// Removes the first `n` frames: they went out (or their ownership passed to the device).
    fn consume(&mut self, n: usize);
    /// Hands the frames to `take` by value, front to back, until it gives one back (`Some`):
    /// that one and those after it stay, in order. Returns how many were taken.
    fn take_while(&mut self, take: &mut dyn FnMut(F) -> Option<F>) -> usize;
}

impl<F> TxBatch<F> for Burst<F> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn get(&self, i: usize) -> Option<&F> {
        self.as_slice().get(i)
    }
    fn get_mut(&mut self, i: usize) -> Option<&mut F> {
        self.as_mut_slice().get_mut(i)
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.as_slice().len());
        self.drain(..n);
    }
    fn take_while(&mut self, take: &mut dyn FnMut(F) -> Option<F>) -> usize {
        take_while_mapped(self, &mut Some, &mut |f| f, take)
    }
}

/// [`TxBatch::take_while`] over a burst of `T` holding frames `F`: `unwrap` gets the frame out
/// (`None`: a foreign frame, dropped), `wrap` puts one given back in. Frames move once; only a
/// tail given back (the device was full) is set aside and pushed back, in order.
pub fn take_while_mapped<T, F>(
    burst: &mut Burst<T>,
    unwrap: &mut dyn FnMut(T) -> Option<F>,
    wrap: &mut dyn FnMut(F) -> T,
    take: &mut dyn FnMut(F) -> Option<F>,
) -> usize {
    let mut taken = 0;
    let mut rest: Burst<T> = Burst::new();
    let mut frames = burst.drain(..);
    for t in frames.by_ref() {
        let Some(f) = unwrap(t) else { continue };
        if let Some(back) = take(f) {
            // Cannot fail: `rest` has the capacity of the burst these came from.
            let _ = rest.push(wrap(back));
            for t in frames.by_ref() {
                let _ = rest.push(t);
            }
            break;
        }
        taken += 1;
    }
    drop(frames);
    for t in rest {
        let _ = burst.push(t);
    }
    taken
}

/// A received frame. It owns its buffer and gives it back to the backend when dropped.
pub trait RxFrame: Deref<Target = [u8]> + Send {
    /// What the device tells about the frame.
    fn meta(&self) -> RxMeta {
        RxMeta::default()
    }
}

/// A frame being built for transmission. It owns its buffer and gives it back when dropped unsent.
///
/// A fresh buffer has length 0; [`TxFrame::set_len`] sets how many bytes of it are the frame, and the
/// `Deref` views show exactly those bytes.
pub trait TxFrame: DerefMut<Target = [u8]> + Send {
    /// The most bytes the frame can hold.
    fn capacity(&self) -> usize;
    /// Sets the frame length; bytes beyond the previous length hold unspecified (but initialised) data.
    ///
    /// # Panics
    /// If `len > self.capacity()`: a bug in the caller, not a run-time condition.
    fn set_len(&mut self, len: usize);
    /// Asks the device for checksum work on this frame. The default ignores it: devices that offer no
    /// offload never receive such requests from a correct caller.
    fn set_offload(&mut self, offload: TxOffload) {
        let _ = offload;
    }
}

/// One rx/tx queue pair of a device, owned by one core.
pub trait Queue: Send {
    /// Received frames.
    type Rx: RxFrame;
    /// Frames to transmit.
    type Tx: TxFrame;

    /// Receives up to `out.capacity() - out.len()` frames, appending them to `out`; returns how many.
    fn rx_burst(&mut self, out: &mut Burst<Self::Rx>) -> io::Result<usize> {
        self.rx_into(out)
    }

    /// Receives up to `out.room()` frames into any [`RxSink`]; returns how many. Frames that do not
    /// fit stay queued for the next call. Backends implement this one; [`Queue::rx_burst`] calls it.
    fn rx_into<S: RxSink<Self::Rx>>(&mut self, out: &mut S) -> io::Result<usize>;

    /// Takes an empty transmit buffer from the queue's pool, or `None` if the pool is exhausted.
    fn tx_alloc(&mut self) -> Option<Self::Tx>;

    /// The longest frame (from the link-layer header on) the queue cuts into TCP segments
    /// itself when the frame asks ([`TxOffload::tcp_segment`]): a NIC's TSO, or a kernel's GSO
    /// behind a packet socket. 0 (the default) when it cannot: every frame fits the link.
    fn tcp_segmentation(&self) -> usize {
        0
    }

    /// An empty transmit buffer of at least [`Queue::tcp_segmentation`] bytes, for one such
    /// frame, or `None` if there is none now (or the queue cannot segment: the default).
    fn tx_alloc_large(&mut self) -> Option<Self::Tx> {
        None
    }

    /// Fills `out` with up to `n` empty transmit buffers; returns how many it added.
    fn tx_alloc_burst(&mut self, out: &mut Burst<Self::Tx>, n: usize) -> usize {
        let mut added = 0;
        while added < n && !out.is_full() {
            match self.tx_alloc() {
                Some(buf) => {
                    // Cannot fail: `out` is not full.
                    let _ = out.push(buf);
                    added += 1;
                }
                None => break,
            }
        }
        added
    }

    /// Transmits frames from the front of `pkts`, removing those that went out; returns how many.
    /// Frames left in `pkts` were not sent (the device was full); the caller may retry or drop them.
    fn tx_burst(&mut self, pkts: &mut Burst<Self::Tx>) -> io::Result<usize> {
        self.tx_from(pkts)
    }

    /// [`Queue::tx_burst`] from any [`TxBatch`]. Backends implement this one.
    fn tx_from<B: TxBatch<Self::Tx>>(&mut self, pkts: &mut B) -> io::Result<usize>;

    /// Blocks for at most `timeout` until frames may be ready to receive. Backends that can only be
    /// polled return at once (the default).
    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// A file descriptor that polls readable when frames may be ready, for backends built on one.
    fn rx_fd(&self) -> Option<RawFd> {
        None
    }

    /// Hands back a received frame the caller is done with. A backend whose received and
    /// transmitted frames are the same kind of buffer may keep it for its next transmission (the
    /// in-memory link: a received buffer is reused at once, still in this core's cache, instead
    /// of travelling back to the sender's pool). The default drops it.
    fn recycle(&mut self, frame: Self::Rx) {
        drop(frame);
    }
}

/// A port: its description and its queues.
pub trait Device {
    /// The per-queue handle.
    type Queue: Queue;

    /// What the port is and can do.
    fn info(&self) -> &DeviceInfo;

    /// Takes the handle of queue `index` (`0..info().num_queues`); each handle can be taken once.
    fn queue(&mut self, index: usize) -> io::Result<Self::Queue>;
}

#[cfg(test)]
mod tests {
    /// Queue handles and frames move to the core (thread) that owns them.
    #[test]
    fn queues_and_frames_are_send() {
        fn send<T: Send>() {}
        send::<crate::mem::MemQueue>();
        send::<crate::pool::PoolBuf>();
        send::<crate::fault::FaultQueue<crate::mem::MemQueue>>();
        send::<crate::pcap::PcapQueue<crate::mem::MemQueue>>();
        #[cfg(target_os = "linux")]
        {
            send::<crate::tap::TapQueue>();
            send::<crate::afpacket::AfPacketQueue>();
            send::<crate::afpacket::AfRx>();
        }
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
