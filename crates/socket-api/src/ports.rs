//! The ports of one context: this core's queue and network layer of every port ([`NetIf`]), the
//! routes between them, and the RSS steering a client's source port must satisfy. Frames come in
//! here (`receive`: rx_burst, the mesh's inbox, the network layer, the engine) and go out here
//! (`transmit`: the engine's segments, routed to a port's batch, flushed to the device).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use mtcp_io::{Burst, Queue, RxFrame};
use mtcp_net::{NextHop, NextHop6, Route6, Route6Table, RouteTable};
use mtcp_tcp::{Engine, Instant, TxRoom};
use mtcp_wire::TcpRepr;

use crate::mesh::{CoreMesh, INBOX_BATCH};
use crate::netif::{Hop, NetIf};
use crate::rss::RssSteer;
use crate::stats::PortCounters;

/// This context's side of every port, in configuration order.
pub(crate) struct Ports<Q: Queue> {
    pub(crate) netifs: Vec<NetIf<Q>>,
    /// Routes to ports (route.conf, then each port's own subnet), longest prefix first.
    pub(crate) routes: RouteTable,
    /// IPv6 routes: mtcp.conf's `<port>.route6`, then each port's own prefixes.
    pub(crate) routes6: Route6Table,
    /// Per port: the steering a client's source port must satisfy so that replies come back to
    /// this core (the NIC's Toeplitz RSS, or the mesh's software steering), `None` for any port.
    pub(crate) rss: Vec<Option<Arc<RssSteer>>>,
    /// The next source port `connect` tries under RSS steering.
    pub(crate) rss_cursor: u16,
    /// The source address `mtcp_init_rss` set, `None` for each port's own.
    pub(crate) rss_base: Option<Ipv4Addr>,
}

impl<Q: Queue> Ports<Q> {
    /// Ports over `netifs`; `connect` under RSS steering tries source port `first_port`
    /// first.
    pub(crate) fn new(
        netifs: Vec<NetIf<Q>>,
        routes: RouteTable,
        rss: Vec<Option<Arc<RssSteer>>>,
        first_port: u16,
    ) -> Ports<Q> {
        let prefixes: Vec<&[(std::net::Ipv6Addr, u8)]> =
            netifs.iter().map(|p| p.iface.ipv6_addrs()).collect();
        let routes6 = Route6Table::from_ports(&prefixes);
        Ports {
            netifs,
            routes,
            routes6,
            rss,
            rss_cursor: first_port.max(1025),
            rss_base: None,
        }
    }

    /// How many ports.
    pub(crate) fn len(&self) -> usize {
        self.netifs.len()
    }

    /// The first port: the one an idle loop waits on for frames.
    pub(crate) fn first_mut(&mut self) -> Option<&mut NetIf<Q>> {
        self.netifs.first_mut()
    }

    /// Names of the ports, in configuration order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.netifs.iter().map(|p| p.name.clone()).collect()
    }

    /// The port of the longest-prefix route to `dst`.
    pub(crate) fn route(&self, dst: IpAddr) -> Option<usize> {
        match dst {
            IpAddr::V4(d) => self.routes.route(d).ok().map(|r| r.iface),
            IpAddr::V6(d) => self.routes6.route(d).ok().map(|r| r.iface),
        }
    }

    /// Sets the configured IPv6 routes: they come before the ports' own prefixes (among equal
    /// prefixes the first added wins).
    pub(crate) fn set_routes6(&mut self, configured: &[Route6]) {
        let mut table = Route6Table::new();
        for r in configured {
            table.add(*r);
        }
        for r in self.routes6.routes().iter().filter(|r| r.gateway.is_none()) {
            table.add(*r);
        }
        self.routes6 = table;
    }

    /// The address to connect from to `dst` through port `p`: `mtcp_init_rss`'s base or the
    /// port's address for IPv4, the port's IPv6 address in `dst`'s prefix (else its first) for
    /// IPv6; `None` when the port has no address of that family.
    pub(crate) fn source_for(&self, p: usize, dst: IpAddr) -> Option<IpAddr> {
        let port = self.netifs.get(p)?;
        match dst {
            IpAddr::V4(_) => Some(self.rss_base.unwrap_or(port.ip()).into()),
            IpAddr::V6(d) => port.iface.ipv6_source_for(&d).map(IpAddr::V6),
        }
    }

    /// Receives a burst on port `p` and what the other cores handed to this one for it, and feeds
    /// the TCP segments to `engine`. Returns the frames received.
    pub(crate) fn receive(
        &mut self,
        p: usize,
        engine: &mut Engine,
        mut mesh: Option<&mut CoreMesh>,
        now_ms: u64,
    ) -> usize {
        let now = Instant::from_millis(now_ms);
        let mut work = 0;
        let mut rx: Burst<Q::Rx> = Burst::new();
        work += self.netifs[p].rx_burst(&mut rx);
        touch_headers(&rx);
        let Ports { netifs, rss, .. } = self;
        let NetIf { iface, queue, .. } = &mut netifs[p];
        // The segment is read into a slot of this frame and handed on by reference: no copy of
        // the representation on the way (each one a store-forwarding stall, see `read_tcp`).
        let mut deliver = |frame: &[u8], meta| {
            let received = iface.receive(now_ms, frame, meta);
            let mut repr = TcpRepr::default();
            if let Some((src, dst)) = iface.read_tcp(&received, &mut repr) {
                engine.on_segment(now, src, dst, &repr);
            }
        };
        let soft = rss[p].as_deref().filter(|r| r.software);
        for frame in rx.iter() {
            // Frames of flows another core owns go to it (software steering), ARP to all.
            if mesh
                .as_mut()
                .is_some_and(|m| m.steer(soft, p, frame, frame.meta()))
            {
                continue;
            }
            deliver(frame, frame.meta());
        }
        // Done with them: the queue may reuse their buffers for its next transmissions. Taken
        // out in place: `for frame in rx` moved the whole burst (64 slots, 3 KiB) into its
        // iterator on every turn, empty or not, a tenth of a one-connection ping-pong's CPU.
        while let Some(frame) = rx.pop() {
            queue.recycle(frame);
        }
        // What the other cores handed to this one.
        if let Some(m) = mesh.as_mut() {
            m.mesh.register(m.cpu);
            let mut n = 0;
            while n < INBOX_BATCH {
                let Some(frame) = m.mesh.recv(m.cpu, p) else {
                    break;
                };
                n += 1;
                deliver(&frame, frame.meta());
            }
            m.counters.received += n as u64;
            work += n;
        }
        // ARP and ICMP replies, and datagrams an ARP reply released, go out before newer
        // segments.
        netifs[p].drain();
        work
    }

    /// Runs the ports' timers (ARP), routes the segments `engine` has to send to their ports and
    /// flushes every port's batch, a batch at a time while the ports take it: a full transmit
    /// ring leaves the rest queued in the engine for the next turn (as mTCP's send lists),
    /// instead of segments built only to be dropped. Returns the segments sent.
    pub(crate) fn transmit(&mut self, engine: &mut Engine, now_ms: u64) -> usize {
        let Ports {
            netifs,
            routes,
            routes6,
            ..
        } = self;
        for port in netifs.iter_mut() {
            port.poll(now_ms);
        }
        let now = Instant::from_millis(now_ms);
        let mut sent = 0;
        loop {
            let room = netifs
                .iter_mut()
                .map(NetIf::tx_room)
                .min()
                .unwrap_or(mtcp_io::MAX_BURST);
            // Long segments only as many, and as long, as every port takes.
            let (long, long_payload) = netifs
                .iter_mut()
                .map(|p| p.long_room(room))
                .reduce(|(n, b), (pn, pb)| (n.min(pn), b.min(pb)))
                .unwrap_or((0, 0));
            let room = TxRoom {
                segments: room,
                long,
                long_payload: if long > 0 { long_payload } else { 0 },
            };
            let n = if room.segments == 0 {
                0
            } else {
                engine.dispatch_room(now, room, |src, dst, seg, cut| {
                    // connect() refuses destinations without a route; a peer that reached us
                    // from outside every route (no default route) is answered through the first
                    // port, on the link.
                    let (iface, hop) = match (src, dst) {
                        (IpAddr::V4(src), IpAddr::V4(dst)) => {
                            let r = routes.lookup(dst).unwrap_or(NextHop {
                                iface: 0,
                                next_hop: dst,
                            });
                            let next_hop = r.next_hop;
                            (r.iface, Hop::V4 { next_hop, src, dst })
                        }
                        (IpAddr::V6(src), IpAddr::V6(dst)) => {
                            let r = routes6.lookup(dst).unwrap_or(NextHop6 {
                                iface: 0,
                                next_hop: dst,
                            });
                            let next_hop = r.next_hop;
                            (r.iface, Hop::V6 { next_hop, src, dst })
                        }
                        // The engine's tuples are of one family.
                        _ => return,
                    };
                    if let Some(port) = netifs.get_mut(iface) {
                        port.send_tcp(now_ms, hop, seg, cut);
                    }
                })
            };
            sent += n;
            for port in netifs.iter_mut() {
                port.drain();
                port.flush();
            }
            if n < room.segments || room.segments == 0 {
                return sent;
            }
        }
    }

    /// The counters of all ports, summed.
    pub(crate) fn counters(&self) -> PortCounters {
        let mut c = PortCounters::default();
        for p in &self.netifs {
            c.add(&p.counters());
        }
        c
    }
}

/// Reads the first three cache lines of every frame of the burst (headers, and a small
/// segment's payload: 64 bytes of it end on the third), before any is processed. A frame another core just wrote (the
/// in-memory link, or a NIC's DMA) misses this core's caches; read one at a time, between the
/// processing of frames, every miss is waited for in turn, while these independent loads
/// overlap (as DPDK applications prefetch the next frames).
fn touch_headers<F: std::ops::Deref<Target = [u8]>>(burst: &[F]) {
    let mut acc = 0u8;
    for frame in burst {
        acc ^= frame.first().copied().unwrap_or(0);
        acc ^= frame.get(64).copied().unwrap_or(0);
        acc ^= frame.get(128).copied().unwrap_or(0);
    }
    std::hint::black_box(acc);
}
