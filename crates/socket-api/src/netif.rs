//! One port as a context sees it: its I/O queue, its network layer ([`mtcp_net::Interface`]:
//! Ethernet dispatch, ARP, IPv4, ICMP echo) and the batch of frames to transmit.
//!
//! This file is only glue between the two: it lends the queue's transmit buffers to the
//! interface, so that TCP segments are written straight into them, moves the frames the
//! interface queued on its own (ARP, ICMP replies, datagrams released by an ARP reply) into the
//! batch, and counts what the device refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use mtcp_io::{Burst, Queue, TxFrame};
use mtcp_net::{Interface, SendResult, Transmit};
use mtcp_wire::TcpRepr;

use crate::stats::PortCounters;

/// At most this many next hops being resolved at once is a backlog of real connections,
/// which limits a port's transmit room ([`NetIf::tx_room`]); more looks like a flood.
const FEW_RESOLUTIONS: usize = 4;

/// What happened between the interface and the device, which the interface cannot see.
#[derive(Clone, Copy, Debug, Default)]
struct IoCounters {
    /// `rx_burst` calls that failed.
    rx_failures: u64,
    /// Frames the interface built that never reached the device (batch full, device refused).
    tx_lost_packets: u64,
    /// Their bytes.
    tx_lost_bytes: u64,
    /// Segments lost for want of a transmit buffer, and `tx_burst` calls that failed (frames the
    /// interface queued on its own and found no buffer for wait there: not counted).
    tx_failures: u64,
}

/// Where a segment goes: its next hop, source and destination, all of one family (the family
/// is matched once, where the route is looked up).
#[derive(Clone, Copy, Debug)]
pub enum Hop {
    /// Over IPv4.
    V4 {
        /// The gateway, or the destination on the link.
        next_hop: Ipv4Addr,
        /// Our address.
        src: Ipv4Addr,
        /// The peer's.
        dst: Ipv4Addr,
    },
    /// Over IPv6.
    V6 {
        /// The gateway, or the destination on the link.
        next_hop: Ipv6Addr,
        /// Our address.
        src: Ipv6Addr,
        /// The peer's.
        dst: Ipv6Addr,
    },
}

/// One port of one context.
pub struct NetIf<Q: Queue> {
    /// Port name (from mtcp.conf).
    pub name: String,
    /// The network layer of the port.
    pub iface: Interface,
    /// The queue this context owns.
    pub queue: Q,
    tx: Burst<Q::Tx>,
    /// Transmit buffers taken from the queue and not yet filled: [`NetIf::tx_room`] takes as many
    /// as the room it reports, so every segment the engine is then asked for has a buffer (an
    /// empty pool pushes back as a full ring does, instead of losing segments already built).
    /// Also where a buffer goes back when the interface parked or dropped its segment.
    stash: Burst<Q::Tx>,
    /// Buffers for long segments the device cuts ([`NetIf::long_room`]), taken as `stash` is.
    long: Burst<Q::Tx>,
    io: IoCounters,
}

impl<Q: Queue> NetIf<Q> {
    /// A port with its queue and network layer.
    pub fn new(name: String, iface: Interface, queue: Q) -> NetIf<Q> {
        NetIf {
            name,
            iface,
            queue,
            tx: Burst::new(),
            stash: Burst::new(),
            long: Burst::new(),
            io: IoCounters::default(),
        }
    }

    /// Our address on this port.
    pub fn ip(&self) -> Ipv4Addr {
        self.iface.ip()
    }

    /// Prefix length of the port's subnet.
    pub fn prefix_len(&self) -> u8 {
        self.iface.config().prefix_len
    }

    /// Receives a burst into `rx` (counting a failure as a receive error); returns its size.
    pub fn rx_burst(&mut self, rx: &mut Burst<Q::Rx>) -> usize {
        self.queue.rx_burst(rx).unwrap_or_else(|_| {
            self.io.rx_failures += 1;
            0
        })
    }

    /// Runs the interface's ARP timers (retries, timeouts, refreshes).
    pub fn poll(&mut self, now_ms: u64) {
        if self.iface.poll_at().is_some_and(|at| at <= now_ms) {
            self.iface.poll(now_ms);
        }
    }

    /// A transmit buffer: a stashed one or a new one.
    fn take_buffer(&mut self) -> Option<Q::Tx> {
        self.stash.pop().or_else(|| self.queue.tx_alloc())
    }

    /// Sends `seg` along `hop`: written straight into a transmit buffer when the next hop's
    /// MAC is known, else parked by the interface until ARP or Neighbour Discovery resolves it.
    ///
    /// The buffer goes into the batch first and the frame is built there, its length and
    /// offload set in place: a frame handle (56 bytes) written with narrow stores and then
    /// moved is read back in wide loads the store buffer cannot forward, a stall per move (about
    /// 3 % of a 64 B echo's CPU in the moves between the buffer's allocation, this and `push_tx`).
    ///
    /// A long segment (`cut` > 0, see [`NetIf::long_room`]) goes in one of the long buffers,
    /// for the device to cut into segments of `cut` payload bytes.
    pub fn send_tcp(&mut self, now_ms: u64, hop: Hop, seg: &TcpRepr<'_>, cut: u16) {
        if self.tx.is_full() {
            self.flush();
        }
        let buf = if cut > 0 {
            self.long.pop()
        } else {
            self.take_buffer()
        };
        let Some(buf) = buf else {
            // Lost (`tx_room` took buffers for every segment it let the engine build: only a
            // frame the interface queued in between can have taken this one).
            self.io.tx_failures += 1;
            return;
        };
        match self.tx.push(buf) {
            Ok(()) => {
                if let Some(slot) = self.tx.last_mut() {
                    whole(slot);
                    match build_tcp(&mut self.iface, (now_ms, hop, seg, cut), &mut slot[..]) {
                        SendResult::Sent(t) => {
                            slot.set_len(t.len);
                            slot.set_offload(t.offload);
                        }
                        // Parked (copied into the interface's own slots) or dropped and counted
                        // there: the buffer is kept for the next frame.
                        SendResult::Queued | SendResult::Dropped(_) => {
                            if let Some(buf) = self.tx.pop() {
                                self.unused(buf);
                            }
                        }
                    }
                }
            }
            // The device refuses the whole batch: built all the same (a parked segment waits
            // for its next hop), and lost if it was ready to go (TCP resends it).
            Err(mut buf) => {
                whole(&mut buf);
                let sent = build_tcp(&mut self.iface, (now_ms, hop, seg, cut), &mut buf[..]);
                if let SendResult::Sent(t) = sent {
                    self.lost(t.len);
                }
                self.unused(buf);
            }
        }
        // A parked segment may have started a resolution: its ARP request is ready now.
        self.drain();
    }

    /// Moves the frames the interface queued on its own (ARP requests and replies, ICMP echo
    /// replies, datagrams released by an ARP reply) into the transmit batch. They are copied once,
    /// from the interface's preallocated slots into the queue's buffers.
    pub fn drain(&mut self) {
        while self.iface.ready_len() > 0 {
            if self.tx.is_full() {
                self.flush();
                if self.tx.is_full() {
                    // The device takes nothing now: they stay queued in the interface.
                    return;
                }
            }
            let Some(mut buf) = self.take_buffer() else {
                // They stay queued in the interface until a buffer is free.
                return;
            };
            whole(&mut buf);
            match self.iface.transmit_ready(&mut buf[..]) {
                Some(t) => self.push_tx(buf, t),
                None => {
                    self.unused(buf);
                    return;
                }
            }
        }
    }

    /// Keeps a buffer taken but not filled for the next frame (or, the stash full, gives it back).
    fn unused(&mut self, buf: Q::Tx) {
        let _ = self.stash.push(buf);
    }

    fn push_tx(&mut self, mut buf: Q::Tx, t: Transmit) {
        buf.set_len(t.len);
        buf.set_offload(t.offload);
        if self.tx.is_full() {
            self.flush();
        }
        // A batch the device still refuses whole: this frame is dropped (TCP resends it).
        if let Err(buf) = self.tx.push(buf) {
            self.lost(buf.len());
        }
    }

    /// How many more segments this port should be given before its next flush: none while
    /// the device still holds back frames of the batch (its ring is full: more segments would
    /// only be dropped and resent a timeout later), less the frames the interface has queued
    /// for the batch, and no more than the interface can park while a few next hops are being
    /// resolved; and no more than the transmit buffers the queue can give now, taken here (see
    /// `stash`: in conns10k on the `mem` link a pool that ran dry lost segments as they were
    /// built, thousands a run, and their retransmissions made a 200 ms tail).
    pub fn tx_room(&mut self) -> usize {
        let room = self.room_for_segments();
        let have = self.stash.len();
        if have < room {
            self.queue.tx_alloc_burst(&mut self.stash, room - have);
        }
        room.min(self.stash.len())
    }

    /// How many of the next `room` segments may be long, new data of several MSS that the
    /// device cuts itself ([`mtcp_io::Queue::tcp_segmentation`]), and the payload each may
    /// carry: none when the device cannot. Takes their buffers, as [`NetIf::tx_room`] does.
    pub fn long_room(&mut self, room: usize) -> (usize, u32) {
        let frame = self.queue.tcp_segmentation();
        // Headers at their longest: Ethernet with a VLAN tag, IPv4 and TCP with options.
        let Some(payload) = frame.checked_sub(18 + 60 + 60).filter(|_| room > 0) else {
            return (0, 0);
        };
        while self.long.len() < room && !self.long.is_full() {
            match self.queue.tx_alloc_large() {
                Some(buf) => {
                    // Cannot fail: not full.
                    let _ = self.long.push(buf);
                }
                None => break,
            }
        }
        let payload = payload.min(usize::from(u16::MAX)) as u32;
        (self.long.len().min(room), payload)
    }

    /// [`NetIf::tx_room`] as the batch and the interface allow it, buffers apart.
    fn room_for_segments(&self) -> usize {
        if !self.tx.is_empty() {
            return 0;
        }
        // Frames the interface queued itself (ARP, ICMP, datagrams an ARP reply released) join
        // the batch first.
        let room = self.tx.capacity().saturating_sub(self.iface.ready_len());
        // Frames parked for ARP limit the room while they are the backlog of a few
        // resolutions (connections opened at once to one next hop: more would overflow the
        // queue and be lost). Many resolutions at once is what a SYN flood from spoofed on-link
        // sources looks like: its replies never resolve, and limiting the room by them would
        // stop every connection's output; such frames beyond the queue are dropped (a real
        // peer resends). A per-next-hop queue, as Linux's neighbour table keeps, would make
        // this one rule.
        match self.iface.waiting_len() {
            0 => room,
            w if self.iface.resolving_len() <= FEW_RESOLUTIONS => {
                room.min(self.iface.config().max_waiting.saturating_sub(w))
            }
            _ => room,
        }
    }

    fn lost(&mut self, bytes: usize) {
        self.io.tx_lost_packets += 1;
        self.io.tx_lost_bytes += bytes as u64;
    }

    /// Transmits the batch. Frames the device refuses stay, in order, for the next flush
    /// ([`NetIf::tx_room`] is 0 meanwhile, so the engine holds back its segments).
    pub fn flush(&mut self) {
        if self.tx.is_empty() {
            return;
        }
        if self.queue.tx_burst(&mut self.tx).is_err() {
            self.io.tx_failures += 1;
        }
    }

    /// The port's counters for the statistics lines: the interface's, less what the device did
    /// not take. Receive errors are damaged frames ([`mtcp_net::RxDrop::is_error`]) and failed
    /// receive calls; transmit errors are datagrams the interface dropped (no ARP answer, wait
    /// queue full, ...) and frames that never reached the device.
    pub fn counters(&self) -> PortCounters {
        let c = self.iface.counters();

        PortCounters {
            rx_packets: c.rx_packets,
            rx_bytes: c.rx_bytes,
            rx_errors: c.rx_errors() + self.io.rx_failures,
            tx_packets: c.tx_packets.saturating_sub(self.io.tx_lost_packets),
            tx_bytes: c.tx_bytes.saturating_sub(self.io.tx_lost_bytes),
            tx_errors: c.tx_dropped_total() + self.io.tx_lost_packets + self.io.tx_failures,
            rx_tcp6: c.rx_tcp6,
            tx_tcp6: c.tx_tcp6,
        }
    }
}

/// Gives `buf` its whole capacity as length, for a frame to be written into it.
#[inline]
fn whole<T: TxFrame>(buf: &mut T) {
    let cap = buf.capacity();
    buf.set_len(cap);
}

/// Writes `seg` along `hop` into `buf` (or parks it in `iface` until its next hop is known).
fn build_tcp(
    iface: &mut Interface,
    (now_ms, hop, seg, cut): (u64, Hop, &TcpRepr<'_>, u16),
    buf: &mut [u8],
) -> SendResult {
    match hop {
        Hop::V4 { next_hop, src, dst } => {
            iface.send_tcp_segmented(now_ms, next_hop, src, dst, seg, cut, buf)
        }
        Hop::V6 { next_hop, src, dst } => iface.send_tcp_ipv6(now_ms, next_hop, src, dst, seg, buf),
    }
}
