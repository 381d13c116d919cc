//! Per-core counters and mTCP's per-second statistics lines.
//!
//! A context counts in plain integers ([`PortCounters`]) and publishes them once per poll into a
//! [`CoreStats`] of relaxed atomics, which any thread (the stats printer) may read.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one port on one core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames received that did not parse or were not for us.
    pub rx_errors: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames that could not be sent (no buffer, device full).
    pub tx_errors: u64,
    /// IPv6 TCP segments received (of `rx_packets`).
    pub rx_tcp6: u64,
    /// IPv6 TCP segments sent (of `tx_packets`).
    pub tx_tcp6: u64,
}

impl PortCounters {
    /// Adds `o` to these counters.
    pub(crate) fn add(&mut self, o: &PortCounters) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.rx_errors += o.rx_errors;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.tx_errors += o.tx_errors;
        self.rx_tcp6 += o.rx_tcp6;
        self.tx_tcp6 += o.tx_tcp6;
    }
}

/// A snapshot of one core: its counters summed over ports, and its live flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreSnapshot {
    /// Counters.
    pub counters: PortCounters,
    /// Live connections.
    pub flows: u64,
    /// Frames steered between this core and the others of the instance (all zero with one
    /// core). See [`crate::mesh`].
    pub mesh: crate::mesh::MeshCounters,
}

/// One core's counters, published for other threads.
#[derive(Debug, Default)]
pub struct CoreStats {
    values: [AtomicU64; 12],
}

impl CoreStats {
    /// Publishes `snap` (called by the owning context).
    pub fn publish(&self, snap: &CoreSnapshot) {
        let c = &snap.counters;
        let v = [
            c.rx_packets,
            c.rx_bytes,
            c.rx_errors,
            c.tx_packets,
            c.tx_bytes,
            c.tx_errors,
            snap.flows,
            snap.mesh.forwarded,
            snap.mesh.received,
            snap.mesh.dropped,
            c.rx_tcp6,
            c.tx_tcp6,
        ];
        for (a, v) in self.values.iter().zip(v) {
            a.store(v, Ordering::Relaxed);
        }
    }

    /// The last published snapshot.
    pub fn snapshot(&self) -> CoreSnapshot {
        let v: Vec<u64> = self
            .values
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        CoreSnapshot {
            counters: PortCounters {
                rx_packets: v[0],
                rx_bytes: v[1],
                rx_errors: v[2],
                tx_packets: v[3],
                tx_bytes: v[4],
                tx_errors: v[5],
                rx_tcp6: v[10],
                tx_tcp6: v[11],
            },
            flows: v[6],
            mesh: crate::mesh::MeshCounters {
                forwarded: v[7],
                received: v[8],
                dropped: v[9],
            },
        }
    }
}

fn add_mesh(a: &mut crate::mesh::MeshCounters, b: &crate::mesh::MeshCounters) {
    a.forwarded += b.forwarded;
    a.received += b.received;
    a.dropped += b.dropped;
}

fn line(
    out: &mut String,
    label: &str,
    port: &str,
    (now, prev): (&CoreSnapshot, &CoreSnapshot),
    secs: f64,
    mesh: bool,
) {
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    let (n, p) = (&now.counters, &prev.counters);
    let _ = write!(
        out,
        "{label} {port} flows: {:6}, RX: {:7}(pps) (err: {:5}), {:5.2}(Gbps), TX: {:7}(pps), {:5.2}(Gbps)",
        now.flows,
        d(n.rx_packets, p.rx_packets) as i64,
        d(n.rx_errors, p.rx_errors) as i64,
        d(n.rx_bytes, p.rx_bytes) * 8.0 / 1e9,
        d(n.tx_packets, p.tx_packets) as i64,
        d(n.tx_bytes, p.tx_bytes) * 8.0 / 1e9,
    );
    if n.rx_tcp6 > 0 || n.tx_tcp6 > 0 {
        // Only once IPv6 was seen: an IPv4 program's lines stay mTCP's.
        let _ = write!(
            out,
            ", IPv6 TCP RX: {:7}(pps) TX: {:7}(pps)",
            d(n.rx_tcp6, p.rx_tcp6) as i64,
            d(n.tx_tcp6, p.tx_tcp6) as i64,
        );
    }
    if mesh {
        // Software steering between the cores (see `crate::mesh`): frames handed to other
        // cores, taken from them, and dropped for want of room, per second.
        let (n, p) = (&now.mesh, &prev.mesh);
        let _ = write!(
            out,
            ", mesh fwd: {:6}(pps) in: {:6}(pps) drop: {:4}(pps)",
            d(n.forwarded, p.forwarded) as i64,
            d(n.received, p.received) as i64,
            d(n.dropped, p.dropped) as i64,
        );
    }
    out.push('\n');
}

/// mTCP's statistics lines for one interval: `[CPU%2d] <port> flows: ...` per core, then `[ ALL ]`.
/// `now` and `prev` are per-core snapshots (same order, cpu = index), `secs` the interval. With
/// more than one core, each line ends with the mesh counters (`mesh fwd: ... in: ... drop: ...`).
pub fn format_lines(port: &str, now: &[CoreSnapshot], prev: &[CoreSnapshot], secs: f64) -> String {
    let secs = if secs > 0.0 { secs } else { 1.0 };
    let mut out = String::new();
    let mut all_now = CoreSnapshot::default();
    let mut all_prev = CoreSnapshot::default();
    let mesh = now.len() > 1;
    for (cpu, (n, p)) in now.iter().zip(prev).enumerate() {
        line(&mut out, &format!("[CPU{cpu:2}]"), port, (n, p), secs, mesh);
        all_now.counters.add(&n.counters);
        all_now.flows += n.flows;
        add_mesh(&mut all_now.mesh, &n.mesh);
        all_prev.counters.add(&p.counters);
        add_mesh(&mut all_prev.mesh, &p.mesh);
    }
    line(&mut out, "[ ALL ]", port, (&all_now, &all_prev), secs, mesh);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_mtcps_format() {
        let one = format_lines(
            "mem0",
            &[CoreSnapshot::default()],
            &[CoreSnapshot::default()],
            1.0,
        );
        assert!(
            !one.contains("mesh"),
            "one core: mTCP's line exactly: {one}"
        );
        let prev = [CoreSnapshot::default(); 2];
        let mut now = prev;
        now[1].mesh.forwarded = 40;
        now[0].mesh.received = 40;
        now[0].mesh.dropped = 2;
        now[0].counters.rx_packets = 1000;
        now[0].counters.rx_bytes = 125_000_000;
        now[1].counters.tx_packets = 7;
        now[1].flows = 3;
        let text = format_lines("mem0", &now, &prev, 1.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "[CPU 0] mem0 flows:      0, RX:    1000(pps) (err:     0),  1.00(Gbps), TX:       0(pps),  0.00(Gbps), \
             mesh fwd:      0(pps) in:     40(pps) drop:    2(pps)"
        );
        assert!(
            lines[1].starts_with("[CPU 1] mem0 flows:      3,"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("[ ALL ] mem0 flows:      3, RX:    1000(pps)"),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].ends_with("mesh fwd:     40(pps) in:     40(pps) drop:    2(pps)"),
            "{}",
            lines[2]
        );
        assert!(!text.contains("IPv6"), "no IPv6 seen: mTCP's lines: {text}");
    }

    #[test]
    fn ipv6_segments_get_their_own_rates() {
        let prev = [CoreSnapshot::default()];
        let mut now = prev;
        now[0].counters.rx_packets = 1000;
        now[0].counters.rx_tcp6 = 600;
        now[0].counters.tx_tcp6 = 500;
        let text = format_lines("mem0", &now, &prev, 2.0);
        assert!(
            text.lines()
                .all(|l| l.ends_with(", IPv6 TCP RX:     300(pps) TX:     250(pps)")),
            "{text}"
        );
    }
}
