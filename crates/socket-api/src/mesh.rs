//! Software steering between the cores of one instance: the mesh.
//!
//! mTCP keeps every flow on one core: its connection lives in that core's engine, and only the
//! queue of that core may deliver its segments. A NIC with Toeplitz RSS and mTCP's symmetric key
//! does that by itself (and a client picks source ports whose replies hash to its own queue).
//! Devices that spread flows with a hash software cannot predict ([`Steering::Opaque`]: TAP
//! multi-queue, AF_PACKET fanout) or not at all ([`Steering::None`]) need help: every core
//! computes the flow's owner itself, with the same Toeplitz hash over a software redirection
//! table (cores round-robin), and hands frames of flows it does not own to their owner.
//!
//! | backend (`io`) | device steering | what the stack does with `num_cores > 1` |
//! |---|---|---|
//! | `dpdk` with a NIC whose RSS key and table we program | [`Steering::Toeplitz`] | trusts the NIC; clients pick source ports whose replies hash to their queue (`mtcp_init_rss`) |
//! | `dpdk` drivers that hash without a settable table (e.g. `net_tap`), `netmap` (the NIC's own RSS) | [`Steering::Opaque`] | software steering |
//! | `mem` | [`Steering::Toeplitz`] (switch RSS) | same as a NIC |
//! | `mem` with `MemConfig::opaque` | [`Steering::Opaque`] | software steering |
//! | `afpacket` (`PACKET_FANOUT` group) | [`Steering::Opaque`] (kernel flow hash) | software steering |
//! | `tap` (`IFF_MULTI_QUEUE`) | [`Steering::Opaque`] (kernel flow hash) | software steering |
//! | a device without steering (all frames on queue 0) | [`Steering::None`] | software steering: core 0 hands each flow to its owner |
//!
//! With software steering the source ports of clients follow the software table, so replies
//! are owned by the connecting core. Other IPv4 (ICMP echo, UDP) is handled by the core that
//! received it. ARP is copied to every core in all cases (non-IP frames
//! reach one queue only, even with a NIC's RSS). A device's Toeplitz table is trusted as it is:
//! it should name only queues that a core reads (`num_queues == num_cores`).
//!
//! Every core's context must keep polling while any core has flows, since any queue may
//! receive any flow's frames (and, even with hardware steering, ARP replies); frames handed to
//! a core whose context is gone or not created wait in its inbox and are dropped once it is
//! full.
//!
//! ```text
//!   core 0: rx_burst ─► owner(tuple) == 0 ? ─► interface/engine
//!                            │ no: copy into a mesh buffer
//!                            ▼
//!   core 1: inbox[1][port] (bounded, lock-free) ─► drained every poll turn ─► interface/engine
//! ```
//!
//! - **Inboxes**: one per (core, port), a [`crossbeam_queue::ArrayQueue`] of [`PoolBuf`]s. It is
//!   a plain bounded MPSC-capable ring with `push`/`pop` and no waiting side, which is all the
//!   mesh needs (crossbeam-channel would add wakers and disconnection that nobody uses here);
//!   the `mem` backend and the buffer pools use the same crate.
//! - **Buffers**: one shared [`Pool`] of frame-sized buffers allocated when the instance starts;
//!   a forwarded frame is copied once into one of them, and the buffer returns to the pool when
//!   the receiving core drops it. No heap allocation per frame, no lock.
//! - **Overload**: an empty pool or a full inbox drops the frame (TCP retransmits) and counts it
//!   in [`MeshCounters::dropped`]; nothing blocks and nothing panics.
//! - **ARP**: replies (and requests) reach one queue only, but every core's interface keeps its
//!   own ARP table. Every ARP frame is processed where it arrived and copied to every other
//!   core; requests are delivered to the others as replies, so they learn the sender without
//!   answering it a second time.
//! - **Latency**: a core drains its inboxes at every poll turn. An idle core naps at most 1 ms
//!   (run-to-completion `epoll_wait` waits on its device for at most 1 ms; the threaded stack
//!   thread's longest idle wait is 1 ms), so a forwarded frame waits at most about 1 ms; there is
//!   no extra wake-up signal, which keeps the fast path free of system calls.

use std::sync::{Arc, OnceLock};
use std::thread::Thread;

use crossbeam_queue::ArrayQueue;
use mtcp_io::RxMeta;
use mtcp_io::pool::{Pool, PoolBuf};
use mtcp_wire::ethernet::{EtherType, EthernetFrame};
use mtcp_wire::{ArpOperation, ArpPacket, ArpPacketMut};

use crate::rss::RssSteer;

#[cfg(doc)]
use mtcp_io::Steering;

/// Frames each inbox (one per core and port) holds.
pub(crate) const INBOX_FRAMES: usize = 1024;
/// The most frames a core takes from one inbox per poll turn.
pub(crate) const INBOX_BATCH: usize = 256;

/// What the mesh did for one core, published with its statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshCounters {
    /// Frames this core handed to another core (TCP frames of flows it does not own, and ARP
    /// copies).
    pub forwarded: u64,
    /// Frames this core took from its inboxes.
    pub received: u64,
    /// Frames this core could not hand over (no free buffer, inbox full, frame too long).
    pub dropped: u64,
}

/// The inboxes and buffers shared by the cores of one instance.
pub(crate) struct Mesh {
    cores: usize,
    ports: usize,
    inboxes: Vec<ArrayQueue<PoolBuf>>,
    pool: Pool,
    /// Per core: the thread that polls its inboxes and its doorbell, rung (with an unpark) when
    /// a frame is pushed to it, so a core that waits for frames wakes for these too.
    wakers: Vec<OnceLock<(Thread, Arc<mtcp_io::doorbell::Bell>)>>,
}

impl Mesh {
    /// A mesh for `cores` cores of `ports` ports, whose frames hold up to `frame_size` bytes.
    pub fn new(cores: usize, ports: usize, frame_size: usize) -> Mesh {
        let cores = cores.max(1);
        let ports = ports.max(1);
        Mesh {
            cores,
            ports,
            inboxes: (0..cores * ports)
                .map(|_| ArrayQueue::new(INBOX_FRAMES))
                .collect(),
            wakers: (0..cores).map(|_| OnceLock::new()).collect(),
            // Half of what all inboxes hold (at least one inbox's worth): any inbox can fill
            // up, though not all at once.
            pool: Pool::new(
                (cores * ports * INBOX_FRAMES / 2).max(INBOX_FRAMES),
                frame_size,
            ),
        }
    }

    pub fn cores(&self) -> usize {
        self.cores
    }

    fn inbox(&self, core: usize, port: usize) -> Option<&ArrayQueue<PoolBuf>> {
        if core >= self.cores || port >= self.ports {
            return None;
        }
        self.inboxes.get(core * self.ports + port)
    }

    /// Copies `frame` into `core`'s inbox of `port`; `f` may rewrite the copy. `false` if dropped.
    fn send(
        &self,
        core: usize,
        port: usize,
        frame: &[u8],
        meta: RxMeta,
        f: impl FnOnce(&mut [u8]),
    ) -> bool {
        let Some(inbox) = self.inbox(core, port) else {
            return false;
        };
        let Some(mut buf) = self.pool.alloc_copy(frame) else {
            return false;
        };
        buf.set_meta(meta);
        f(&mut buf);
        // A full inbox gives the buffer back, and dropping it returns it to the pool.
        let pushed = inbox.push(buf).is_ok();
        if pushed {
            self.wake(core);
        }
        pushed
    }

    /// Makes the calling thread (and its doorbell) the one woken for frames pushed to `core`;
    /// the first caller stays (a core's stack is polled from one thread).
    pub fn register(&self, core: usize) {
        if let Some(w) = self.wakers.get(core) {
            if w.get().is_none() {
                let _ = w.set((std::thread::current(), mtcp_io::doorbell::current()));
            }
        }
    }

    fn wake(&self, core: usize) {
        if let Some((thread, bell)) = self.wakers.get(core).and_then(OnceLock::get) {
            mtcp_io::doorbell::ring(bell, thread);
        }
    }

    /// The next frame in `core`'s inbox of `port`.
    pub fn recv(&self, core: usize, port: usize) -> Option<PoolBuf> {
        self.inbox(core, port)?.pop()
    }
}

/// One core's view of the mesh.
pub(crate) struct CoreMesh {
    pub mesh: Arc<Mesh>,
    pub cpu: usize,
    pub counters: MeshCounters,
}

impl CoreMesh {
    /// Looks at a frame received on `port`, whose flows `soft` steers in software (`None`
    /// where the device steers them itself): `true` if it belongs to another core and was
    /// handed over (or dropped trying); ARP frames are copied to every other core and `false`
    /// is returned, so this core processes them as well.
    pub fn steer(
        &mut self,
        soft: Option<&RssSteer>,
        port: usize,
        frame: &[u8],
        meta: RxMeta,
    ) -> bool {
        if let Some(soft) = soft {
            let owner = match mtcp_io::mem::tcp_flow_tuple(frame) {
                Some(tuple) => Some(soft.owner(&tuple)),
                None => mtcp_io::mem::tcp_flow_tuple6(frame).map(|t| soft.owner6(&t)),
            };
            if let Some(owner) = owner {
                let owner = usize::from(owner);
                if owner == self.cpu {
                    return false;
                }
                self.count(self.mesh.send(owner, port, frame, meta, |_| {}));
                return true;
            }
        }
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return false;
        };
        if eth.ethertype() == EtherType::Ipv6 && is_neighbor_advertisement(eth.payload()) {
            // Every core keeps its own neighbour cache: the one that solicited may not be the
            // one the advertisement arrived on.
            for core in 0..self.mesh.cores() {
                if core != self.cpu {
                    let sent = self.mesh.send(core, port, frame, meta, |_| {});
                    self.count(sent);
                }
            }
        }
        if eth.ethertype() == EtherType::Arp {
            let op = eth.header_len();
            for core in 0..self.mesh.cores() {
                if core != self.cpu {
                    let sent = self
                        .mesh
                        .send(core, port, frame, meta, |copy| request_to_reply(copy, op));
                    self.count(sent);
                }
            }
        }
        false
    }

    fn count(&mut self, sent: bool) {
        if sent {
            self.counters.forwarded += 1;
        } else {
            self.counters.dropped += 1;
        }
    }
}

/// Whether an IPv6 packet is an ICMPv6 neighbour advertisement (no extension headers: ND
/// messages carry none).
fn is_neighbor_advertisement(ip: &[u8]) -> bool {
    const NEXT_HEADER: usize = 6;
    const ICMPV6: u8 = 58;
    const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    ip.len() > 40 && ip[NEXT_HEADER] == ICMPV6 && ip[40] == NEIGHBOR_ADVERTISEMENT
}

/// Turns the copy of an ARP request (the ARP packet at `arp_at`) into a reply, so that the other
/// cores learn the sender as from a reply and do not answer the request a second time.
fn request_to_reply(frame: &mut [u8], arp_at: usize) {
    let Some(arp) = frame.get_mut(arp_at..) else {
        return;
    };
    let is_request = ArpPacket::new_checked(&*arp)
        .is_ok_and(|p| ArpOperation::from(p.header().oper.get()) == ArpOperation::Request);
    if let (true, Ok(mut p)) = (is_request, ArpPacketMut::new_checked(arp)) {
        p.set_operation(ArpOperation::Reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use mtcp_wire::{
        ArpRepr, Checksum, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr, SeqNumber,
        TcpFlags, TcpRepr,
    };

    fn tcp_frame(sport: u16, dport: u16) -> Vec<u8> {
        let (src, dst) = ([198, 18, 0, 2].into(), [198, 18, 0, 1].into());
        let mut f = vec![0u8; 54];
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        let l3 = eth.emit(&mut f).unwrap();
        let ip = Ipv4Repr::new(src, dst, IpProtocol::Tcp, 20);
        let l4 = l3 + ip.emit(&mut f[l3..], Checksum::Both).unwrap();
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq_number: SeqNumber(1),
            ack_number: SeqNumber(0),
            flags: TcpFlags::SYN,
            window_len: 1000,
            urgent_pointer: 0,
            options: Default::default(),
            payload: &[],
        };
        tcp.emit(&mut f[l4..], src, dst, Checksum::Both).unwrap();
        f
    }

    fn arp_request() -> Vec<u8> {
        let mut f = vec![0u8; 42];
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            dst_addr: EthernetAddress([0xff; 6]),
            vlan: None,
            ethertype: EtherType::Arp,
        };
        let at = eth.emit(&mut f).unwrap();
        let arp = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            source_protocol_addr: [198, 18, 0, 2].into(),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: [198, 18, 0, 1].into(),
        };
        arp.emit(&mut f[at..]).unwrap();
        f
    }

    fn core(mesh: &Arc<Mesh>, cpu: usize) -> CoreMesh {
        CoreMesh {
            mesh: Arc::clone(mesh),
            cpu,
            counters: MeshCounters::default(),
        }
    }

    #[test]
    fn tcp_frames_go_to_their_owner_and_arp_to_everyone() {
        let mesh = Arc::new(Mesh::new(2, 1, 1518));
        let mut c0 = core(&mesh, 0);
        let soft = RssSteer::software(2, 0);
        let (mut here, mut away) = (0, 0);
        for sport in 1000..1100 {
            let f = tcp_frame(sport, 80);
            if c0.steer(Some(&soft), 0, &f, RxMeta::default()) {
                away += 1;
                let got = mesh.recv(1, 0).expect("forwarded to core 1");
                assert_eq!(&got[..], &f[..]);
            } else {
                here += 1;
            }
        }
        assert!(here > 0 && away > 0, "{here} {away}");
        assert_eq!(c0.counters.forwarded, away);
        assert!(!c0.steer(Some(&soft), 0, &arp_request(), RxMeta::default()));
        let copy = mesh.recv(1, 0).expect("ARP copied");
        assert_eq!(&copy[20..22], &[0, 2]);
        assert!(mesh.recv(0, 0).is_none());
    }

    #[test]
    fn a_full_inbox_or_pool_drops_and_counts() {
        let mesh = Arc::new(Mesh::new(2, 1, 1518));
        let mut c0 = core(&mesh, 0);
        let soft = RssSteer::software(2, 0);
        let sport = (1000..)
            .find(|&p| RssSteer::software(2, 0).owner(&tuple(p)) == 1)
            .unwrap_or(0);
        for _ in 0..INBOX_FRAMES + 10 {
            assert!(c0.steer(Some(&soft), 0, &tcp_frame(sport, 80), RxMeta::default()));
        }
        assert_eq!(c0.counters.forwarded, INBOX_FRAMES as u64);
        assert_eq!(c0.counters.dropped, 10);
        // Too long for a buffer: dropped, counted.
        let mut long = tcp_frame(sport, 80);
        long.resize(4000, 0);
        while mesh.recv(1, 0).is_some() {}
        assert!(c0.steer(Some(&soft), 0, &long, RxMeta::default()));
        assert_eq!(c0.counters.dropped, 11);
    }

    #[test]
    fn a_forwarded_frame_wakes_the_owner_core() {
        let mesh = Arc::new(Mesh::new(2, 1, 1518));
        let soft = RssSteer::software(2, 0);
        let sport = (1000..)
            .find(|&p| RssSteer::software(2, 0).owner(&tuple(p)) == 1)
            .unwrap_or(0);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let owner_mesh = Arc::clone(&mesh);
        let owner = std::thread::spawn(move || {
            owner_mesh.register(1);
            mtcp_io::doorbell::clear();
            ready_tx.send(()).unwrap();
            // Parks as a waiting core does; only the doorbell (or 10 s) ends the wait.
            let start = std::time::Instant::now();
            while !mtcp_io::doorbell::rung() && start.elapsed() < Duration::from_secs(10) {
                std::thread::park_timeout(Duration::from_secs(10));
            }
            (mtcp_io::doorbell::rung(), owner_mesh.recv(1, 0).is_some())
        });
        ready_rx.recv().unwrap();
        let mut c0 = core(&mesh, 0);
        assert!(c0.steer(Some(&soft), 0, &tcp_frame(sport, 80), RxMeta::default()));
        assert_eq!(owner.join().unwrap(), (true, true));
    }

    fn tuple(sport: u16) -> [u8; 12] {
        mtcp_io::mem::tcp_flow_tuple(&tcp_frame(sport, 80)).unwrap_or_default()
    }
}
