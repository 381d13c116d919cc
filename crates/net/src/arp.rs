//! The ARP cache: static entries from `arp.conf` (prefixes, longest wins) and entries learned from
//! received ARP packets, which expire.

use core::hash::{BuildHasher, Hasher};
use core::net::Ipv4Addr;
use std::collections::HashMap;
use std::hash::RandomState;

use mtcp_wire::EthernetAddress;

use crate::config::ArpEntry;
use crate::route::mask;

/// Timing and size of ARP resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpConfig {
    /// How long a learned entry is trusted, in milliseconds.
    pub entry_lifetime_ms: u64,
    /// Time between two requests for the same address, in milliseconds.
    pub retry_interval_ms: u64,
    /// Requests sent for one address before its waiting packets are dropped.
    pub max_requests: u32,
    /// The most learned entries kept; when full, the entry closest to expiry makes room.
    pub max_entries: usize,
}

impl Default for ArpConfig {
    /// 60 s lifetime, a request every second, 3 requests, 1024 entries.
    fn default() -> Self {
        ArpConfig {
            entry_lifetime_ms: 60_000,
            retry_interval_ms: 1_000,
            max_requests: 3,
            max_entries: 1024,
        }
    }
}

/// A multiplicative hash of the address with a per-table random seed: one multiplication per
/// lookup instead of SipHash's rounds, and the seed keeps a sender on the link from choosing
/// addresses that collide.
#[derive(Clone, Copy, Debug)]
struct SeededIpHash(u64);

impl BuildHasher for SeededIpHash {
    type Hasher = IpHasher;
    fn build_hasher(&self) -> IpHasher {
        IpHasher(self.0)
    }
}

#[derive(Clone, Copy, Debug)]
struct IpHasher(u64);

impl Hasher for IpHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0 ^ u64::from(v)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        // The high bits are the well-mixed ones; hashbrown takes its control bits from the top
        // and the bucket from the bottom, so fold them together.
        self.0 ^ (self.0 >> 29)
    }
}

#[derive(Clone, Copy, Debug)]
struct Learned {
    mac: EthernetAddress,
    expires_at_ms: u64,
}

/// Maps next-hop IPv4 addresses to Ethernet addresses.
///
/// A lookup prefers, in order: a static `/32` entry, a learned entry that has not expired, the
/// longest static prefix. So an administrator's host entry beats what the wire says, and what the
/// wire says about a host beats a static entry for a whole network (such as `0.0.0.0/0 <gateway
/// MAC>`, mTCP's way of sending everything off-link to a gateway).
#[derive(Clone, Debug)]
pub struct ArpTable {
    /// Longest prefix first.
    statics: Vec<ArpEntry>,
    learned: HashMap<u32, Learned, SeededIpHash>,
    config: ArpConfig,
}

impl ArpTable {
    /// A table with `statics` (from [`crate::parse_arp_conf`]) and room for
    /// `config.max_entries` learned entries, allocated now.
    pub fn new(config: ArpConfig, statics: &[ArpEntry]) -> Self {
        let mut statics = statics.to_vec();
        for e in &mut statics {
            e.prefix_len = e.prefix_len.min(32);
            e.addr = Ipv4Addr::from(u32::from(e.addr) & mask(e.prefix_len));
        }
        // Stable: among equal prefixes the first in the file wins.
        statics.sort_by_key(|e| core::cmp::Reverse(e.prefix_len));
        ArpTable {
            statics,
            // Twice the bound, so that removals followed by insertions rehash in place instead
            // of growing the table.
            learned: HashMap::with_capacity_and_hasher(
                config.max_entries.max(1) * 2,
                SeededIpHash(RandomState::new().hash_one(0x6d74_6370u32)),
            ),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ArpConfig {
        &self.config
    }

    fn static_match(&self, ip: Ipv4Addr) -> Option<&ArpEntry> {
        let ip = u32::from(ip);
        self.statics
            .iter()
            .find(|e| ip & mask(e.prefix_len) == u32::from(e.addr))
    }

    /// The Ethernet address of `ip` at time `now_ms`, if known.
    pub fn lookup(&self, ip: Ipv4Addr, now_ms: u64) -> Option<EthernetAddress> {
        self.lookup_entry(ip, now_ms).map(|(mac, _)| mac)
    }

    /// Like [`ArpTable::lookup`], also telling when the answer expires: `Some(ms)` for a learned
    /// entry, `None` for a static one.
    pub fn lookup_entry(
        &self,
        ip: Ipv4Addr,
        now_ms: u64,
    ) -> Option<(EthernetAddress, Option<u64>)> {
        let fixed = self.static_match(ip);
        if let Some(e) = fixed.filter(|e| e.prefix_len == 32) {
            return Some((e.mac, None));
        }
        match self.learned.get(&u32::from(ip)) {
            Some(l) if l.expires_at_ms > now_ms => Some((l.mac, Some(l.expires_at_ms))),
            _ => fixed.map(|e| (e.mac, None)),
        }
    }

    /// Whether a learned (not static) entry exists for `ip`, expired or not.
    pub fn has_learned(&self, ip: Ipv4Addr) -> bool {
        self.learned.contains_key(&u32::from(ip))
    }

    /// Records that `ip` is at `mac`, valid for the configured lifetime. When the table is full,
    /// the entry closest to expiry is evicted.
    pub fn learn(&mut self, ip: Ipv4Addr, mac: EthernetAddress, now_ms: u64) {
        let entry = Learned {
            mac,
            expires_at_ms: now_ms.saturating_add(self.config.entry_lifetime_ms),
        };
        let ip = u32::from(ip);
        if let Some(e) = self.learned.get_mut(&ip) {
            *e = entry;
            return;
        }
        if self.learned.len() >= self.config.max_entries.max(1) {
            self.expire(now_ms);
        }
        if self.learned.len() >= self.config.max_entries.max(1) {
            let oldest = self
                .learned
                .iter()
                .min_by_key(|(_, l)| l.expires_at_ms)
                .map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                self.learned.remove(&oldest);
            }
        }
        self.learned.insert(ip, entry);
    }

    /// Removes learned entries that expired by `now_ms`; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let before = self.learned.len();
        self.learned.retain(|_, l| l.expires_at_ms > now_ms);
        before - self.learned.len()
    }

    /// The number of learned entries (expired ones included until [`ArpTable::expire`]).
    pub fn learned_len(&self) -> usize {
        self.learned.len()
    }

    /// The static entries, longest prefix first.
    pub fn statics(&self) -> &[ArpEntry] {
        &self.statics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_arp_conf;

    fn mac(last: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 0, last])
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn static_prefixes_learned_entries_and_precedence() {
        let statics = parse_arp_conf(
            "ARP_ENTRY 3\n0.0.0.0/0 02:00:00:00:00:fe\n198.18.0.0/24 02:00:00:00:00:18\n\
             198.18.0.9/32 02:00:00:00:00:09\n",
        )
        .unwrap();
        let mut t = ArpTable::new(ArpConfig::default(), &statics);
        assert_eq!(t.statics()[0].prefix_len, 32);
        assert_eq!(t.lookup(ip("198.18.0.9"), 0), Some(mac(9)));
        assert_eq!(t.lookup(ip("198.18.0.5"), 0), Some(mac(0x18)));
        assert_eq!(t.lookup(ip("198.19.1.1"), 0), Some(mac(0xfe)));
        // A learned host entry beats a static network entry but not a static host entry.
        t.learn(ip("198.18.0.5"), mac(5), 0);
        t.learn(ip("198.18.0.9"), mac(99), 0);
        assert_eq!(t.lookup(ip("198.18.0.5"), 10), Some(mac(5)));
        assert_eq!(t.lookup(ip("198.18.0.9"), 10), Some(mac(9)));
        // Once expired, the static prefix answers again.
        assert_eq!(t.lookup(ip("198.18.0.5"), 60_000), Some(mac(0x18)));
    }

    #[test]
    fn learned_entries_expire_and_refresh() {
        let mut t = ArpTable::new(ArpConfig::default(), &[]);
        assert_eq!(t.lookup(ip("198.18.0.2"), 0), None);
        t.learn(ip("198.18.0.2"), mac(2), 1_000);
        assert_eq!(t.lookup(ip("198.18.0.2"), 60_999), Some(mac(2)));
        assert_eq!(t.lookup(ip("198.18.0.2"), 61_000), None);
        t.learn(ip("198.18.0.2"), mac(3), 61_000);
        assert_eq!(t.lookup(ip("198.18.0.2"), 100_000), Some(mac(3)));
        assert_eq!(t.expire(121_000), 1);
        assert_eq!(t.learned_len(), 0);
    }

    #[test]
    fn a_full_table_evicts_the_entry_closest_to_expiry() {
        let cfg = ArpConfig {
            max_entries: 2,
            ..ArpConfig::default()
        };
        let mut t = ArpTable::new(cfg, &[]);
        t.learn(ip("198.18.0.1"), mac(1), 0);
        t.learn(ip("198.18.0.2"), mac(2), 10);
        t.learn(ip("198.18.0.3"), mac(3), 20);
        assert_eq!(t.learned_len(), 2);
        assert_eq!(t.lookup(ip("198.18.0.1"), 30), None);
        assert_eq!(t.lookup(ip("198.18.0.2"), 30), Some(mac(2)));
        assert_eq!(t.lookup(ip("198.18.0.3"), 30), Some(mac(3)));
    }
}
