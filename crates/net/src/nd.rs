//! The IPv6 neighbour cache of Neighbour Discovery (RFC 4861 §7.3): static entries from the
//! configuration, and learned entries moving through INCOMPLETE, REACHABLE, STALE, DELAY and
//! PROBE. The cache decides; the interface sends the solicitations it asks for and keeps the
//! datagrams waiting for an INCOMPLETE entry (in its bounded frame store).

use core::net::Ipv6Addr;
use std::collections::HashMap;

use mtcp_wire::{EthernetAddress, NeighborFlags};

/// Timing and size of Neighbour Discovery (RFC 4861 §10 defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdConfig {
    /// How long a neighbour stays REACHABLE after a confirmation (REACHABLE_TIME).
    pub reachable_time_ms: u64,
    /// Time between two solicitations for the same address (RETRANS_TIMER).
    pub retrans_timer_ms: u64,
    /// Time in DELAY before the first unicast probe (DELAY_FIRST_PROBE_TIME).
    pub delay_first_probe_ms: u64,
    /// Multicast solicitations before an INCOMPLETE entry gives up (MAX_MULTICAST_SOLICIT).
    pub max_multicast_solicit: u32,
    /// Unicast probes before a PROBE entry is removed (MAX_UNICAST_SOLICIT).
    pub max_unicast_solicit: u32,
    /// The most learned entries kept.
    pub max_entries: usize,
}

impl Default for NdConfig {
    /// 30 s reachable, 1 s between solicitations, 5 s delay, 3 and 3 solicitations, 1024 entries.
    fn default() -> Self {
        NdConfig {
            reachable_time_ms: 30_000,
            retrans_timer_ms: 1_000,
            delay_first_probe_ms: 5_000,
            max_multicast_solicit: 3,
            max_unicast_solicit: 3,
            max_entries: 1024,
        }
    }
}

/// The reachability state of a learned neighbour (RFC 4861 §7.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeighborState {
    /// Resolution in progress: solicitations sent, no link-layer address yet.
    Incomplete,
    /// Confirmed reachable recently.
    Reachable,
    /// The address is known but reachability is not confirmed; used as is until traffic flows.
    Stale,
    /// Traffic was sent to a STALE neighbour; waiting for an upper-layer confirmation.
    Delay,
    /// Probing with unicast solicitations.
    Probe,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: EthernetAddress,
    state: NeighborState,
    /// When the state's timer fires (REACHABLE: turns STALE; DELAY: first probe; INCOMPLETE and
    /// PROBE: next solicitation). Unused in STALE.
    timer_ms: u64,
    solicits_sent: u32,
    is_router: bool,
}

/// What the interface must do for a datagram to `ip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Send it to this address.
    Mac(EthernetAddress),
    /// Park it until the neighbour resolves; `solicit` when a new resolution started and the
    /// first solicitation should go out now.
    Wait {
        /// A new INCOMPLETE entry: send a multicast solicitation now.
        solicit: bool,
    },
    /// The cache is full of resolutions in progress: drop it.
    Full,
}

/// A timer's consequence, from [`NeighborCache::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdAction {
    /// Send a neighbour solicitation for `target`: to its solicited-node group when `unicast` is
    /// `None`, to that MAC (and the target address) otherwise.
    Solicit {
        /// The address asked about.
        target: Ipv6Addr,
        /// The cached MAC for a reachability probe.
        unicast: Option<EthernetAddress>,
    },
    /// Resolution of `target` failed: drop what waits for it.
    Failed(Ipv6Addr),
}

/// Maps IPv6 next hops to Ethernet addresses: static entries first, then learned ones.
#[derive(Clone, Debug)]
pub struct NeighborCache {
    statics: Vec<(Ipv6Addr, EthernetAddress)>,
    entries: HashMap<Ipv6Addr, Entry>,
    config: NdConfig,
    /// No INCOMPLETE, DELAY or PROBE timer fires before this (`u64::MAX`: none runs), so that
    /// `poll` and `poll_at`, called every loop turn, do not scan the table for nothing. It may be
    /// early (an entry resolved since), never late.
    next_due_ms: u64,
}

impl NeighborCache {
    /// A cache with `statics` and room for `config.max_entries` learned entries, allocated now.
    pub fn new(config: NdConfig, statics: &[(Ipv6Addr, EthernetAddress)]) -> Self {
        NeighborCache {
            statics: statics.to_vec(),
            entries: HashMap::with_capacity(config.max_entries.max(1) * 2),
            config,
            next_due_ms: u64::MAX,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NdConfig {
        &self.config
    }

    /// The static entry for `ip`, if any.
    fn static_mac(&self, ip: &Ipv6Addr) -> Option<EthernetAddress> {
        self.statics.iter().find(|(a, _)| a == ip).map(|(_, m)| *m)
    }

    /// The link-layer address and state of `ip` as cached (static entries report REACHABLE), with
    /// a REACHABLE entry whose time ran out reported STALE.
    pub fn lookup(&self, ip: &Ipv6Addr, now_ms: u64) -> Option<(EthernetAddress, NeighborState)> {
        if let Some(mac) = self.static_mac(ip) {
            return Some((mac, NeighborState::Reachable));
        }
        let e = self.entries.get(ip)?;
        match e.state {
            NeighborState::Incomplete => None,
            NeighborState::Reachable if e.timer_ms <= now_ms => Some((e.mac, NeighborState::Stale)),
            state => Some((e.mac, state)),
        }
    }

    /// The state of a learned entry (`None` for static and unknown addresses).
    pub fn state(&self, ip: &Ipv6Addr, now_ms: u64) -> Option<NeighborState> {
        let e = self.entries.get(ip)?;
        Some(match e.state {
            NeighborState::Reachable if e.timer_ms <= now_ms => NeighborState::Stale,
            state => state,
        })
    }

    /// Whether the neighbour announced itself as a router.
    pub fn is_router(&self, ip: &Ipv6Addr) -> bool {
        self.entries.get(ip).is_some_and(|e| e.is_router)
    }

    /// For a datagram to `ip` (RFC 4861 §7.3.3): a known address is used at once (a STALE entry
    /// moves to DELAY); an unknown one becomes INCOMPLETE and the datagram waits.
    pub fn resolve(&mut self, ip: Ipv6Addr, now_ms: u64) -> Resolution {
        if let Some(mac) = self.static_mac(&ip) {
            return Resolution::Mac(mac);
        }
        let cfg = self.config;
        if let Some(e) = self.entries.get_mut(&ip) {
            if e.state == NeighborState::Reachable && e.timer_ms <= now_ms {
                e.state = NeighborState::Stale;
            }
            return match e.state {
                NeighborState::Incomplete => Resolution::Wait { solicit: false },
                NeighborState::Stale => {
                    e.state = NeighborState::Delay;
                    e.timer_ms = now_ms.saturating_add(cfg.delay_first_probe_ms);
                    self.next_due_ms = self.next_due_ms.min(e.timer_ms);
                    Resolution::Mac(e.mac)
                }
                _ => Resolution::Mac(e.mac),
            };
        }
        if !self.make_room(now_ms) {
            return Resolution::Full;
        }
        let timer_ms = now_ms.saturating_add(cfg.retrans_timer_ms.max(1));
        self.next_due_ms = self.next_due_ms.min(timer_ms);
        self.entries.insert(
            ip,
            Entry {
                mac: EthernetAddress::default(),
                state: NeighborState::Incomplete,
                timer_ms,
                solicits_sent: 1,
                is_router: false,
            },
        );
        Resolution::Wait { solicit: true }
    }

    /// Frees a slot when the cache is full by evicting the resolved entry whose timer is oldest;
    /// false when every entry is a resolution in progress.
    fn make_room(&mut self, now_ms: u64) -> bool {
        if self.entries.len() < self.config.max_entries.max(1) {
            return true;
        }
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| e.state != NeighborState::Incomplete)
            .min_by_key(|(_, e)| {
                // STALE entries have no running timer: they go first.
                if e.state == NeighborState::Stale {
                    0
                } else {
                    e.timer_ms.max(now_ms)
                }
            })
            .map(|(ip, _)| *ip);
        victim.is_some_and(|ip| self.entries.remove(&ip).is_some())
    }

    /// A neighbour solicitation from unicast `src` carrying its link-layer address (RFC 4861
    /// §7.2.3): the sender is cached STALE, or its address updated. True when this resolved an
    /// INCOMPLETE entry, whose waiting datagrams can now go.
    pub fn on_solicitation(&mut self, src: Ipv6Addr, lladdr: EthernetAddress, now_ms: u64) -> bool {
        if self.static_mac(&src).is_some() {
            return false;
        }
        match self.entries.get_mut(&src) {
            Some(e) => {
                let resolved = e.state == NeighborState::Incomplete;
                if resolved || e.mac != lladdr {
                    e.mac = lladdr;
                    e.state = NeighborState::Stale;
                    e.solicits_sent = 0;
                }
                resolved
            }
            None => {
                if self.make_room(now_ms) {
                    self.entries.insert(
                        src,
                        Entry {
                            mac: lladdr,
                            state: NeighborState::Stale,
                            timer_ms: now_ms,
                            solicits_sent: 0,
                            is_router: false,
                        },
                    );
                }
                false
            }
        }
    }

    /// A neighbour advertisement for `target` (RFC 4861 §7.2.5). Unknown targets are ignored
    /// (advertisements create no entries). True when this resolved an INCOMPLETE entry.
    pub fn on_advertisement(
        &mut self,
        target: Ipv6Addr,
        lladdr: Option<EthernetAddress>,
        flags: NeighborFlags,
        now_ms: u64,
    ) -> bool {
        let reachable_until = now_ms.saturating_add(self.config.reachable_time_ms);
        let Some(e) = self.entries.get_mut(&target) else {
            return false;
        };
        if e.state == NeighborState::Incomplete {
            let Some(mac) = lladdr else {
                return false;
            };
            e.mac = mac;
            e.is_router = flags.router;
            e.solicits_sent = 0;
            if flags.solicited {
                e.state = NeighborState::Reachable;
                e.timer_ms = reachable_until;
            } else {
                e.state = NeighborState::Stale;
            }
            return true;
        }
        let changed = lladdr.is_some_and(|m| m != e.mac);
        if !flags.override_ && changed {
            // A different address without O: do not believe it, but stop trusting the old one.
            if e.state == NeighborState::Reachable {
                e.state = NeighborState::Stale;
            }
            return false;
        }
        if let Some(mac) = lladdr {
            e.mac = mac;
        }
        e.is_router = flags.router;
        if flags.solicited {
            e.state = NeighborState::Reachable;
            e.timer_ms = reachable_until;
            e.solicits_sent = 0;
        } else if changed {
            e.state = NeighborState::Stale;
        }
        false
    }

    /// An upper-layer hint that `ip` is reachable (a TCP acknowledgement of new data, RFC 4861
    /// §7.3.1): a known entry becomes REACHABLE again without a probe.
    pub fn confirm_reachable(&mut self, ip: &Ipv6Addr, now_ms: u64) {
        if let Some(e) = self.entries.get_mut(ip)
            && e.state != NeighborState::Incomplete
        {
            e.state = NeighborState::Reachable;
            e.timer_ms = now_ms.saturating_add(self.config.reachable_time_ms);
            e.solicits_sent = 0;
        }
    }

    /// Runs the timers due at `now_ms`, reporting each solicitation to send and each resolution
    /// that failed to `act`. Entries whose probes went unanswered are removed. When `act` returns
    /// false (no room for the action), the entry is left as it was, for the next poll.
    pub fn poll(&mut self, now_ms: u64, mut act: impl FnMut(NdAction) -> bool) {
        if now_ms < self.next_due_ms {
            return;
        }
        let cfg = self.config;
        let retrans = cfg.retrans_timer_ms.max(1);
        let mut next_due_ms = u64::MAX;
        self.entries.retain(|ip, e| {
            let keep = Self::fire(e, ip, now_ms, cfg, retrans, &mut act);
            if keep && !matches!(e.state, NeighborState::Stale | NeighborState::Reachable) {
                next_due_ms = next_due_ms.min(e.timer_ms);
            }
            keep
        });
        self.next_due_ms = next_due_ms;
    }

    /// Runs `e`'s timer if due; false when the entry goes.
    fn fire(
        e: &mut Entry,
        ip: &Ipv6Addr,
        now_ms: u64,
        cfg: NdConfig,
        retrans: u64,
        act: &mut impl FnMut(NdAction) -> bool,
    ) -> bool {
        if e.timer_ms > now_ms || e.state == NeighborState::Stale {
            return true;
        }
        match e.state {
            NeighborState::Reachable => e.state = NeighborState::Stale,
            NeighborState::Incomplete | NeighborState::Probe => {
                let incomplete = e.state == NeighborState::Incomplete;
                let limit = if incomplete {
                    cfg.max_multicast_solicit
                } else {
                    cfg.max_unicast_solicit
                };
                if e.solicits_sent >= limit.max(1) {
                    // Keep the entry if the failure could not be reported.
                    return incomplete && !act(NdAction::Failed(*ip));
                }
                let unicast = (!incomplete).then_some(e.mac);
                if act(NdAction::Solicit {
                    target: *ip,
                    unicast,
                }) {
                    e.solicits_sent += 1;
                    e.timer_ms = now_ms.saturating_add(retrans);
                }
            }
            NeighborState::Delay => {
                if act(NdAction::Solicit {
                    target: *ip,
                    unicast: Some(e.mac),
                }) {
                    e.state = NeighborState::Probe;
                    e.solicits_sent = 1;
                    e.timer_ms = now_ms.saturating_add(retrans);
                }
            }
            NeighborState::Stale => {}
        }
        true
    }

    /// When [`NeighborCache::poll`] next has work, if ever (REACHABLE entries turn STALE lazily:
    /// nothing is sent when their time runs out). Never late; early at most once after a
    /// neighbour resolved.
    pub fn poll_at(&self) -> Option<u64> {
        (self.next_due_ms != u64::MAX).then_some(self.next_due_ms)
    }

    /// The number of learned entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry was learned.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[path = "nd/tests.rs"]
mod tests;
