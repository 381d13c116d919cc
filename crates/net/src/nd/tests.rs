use super::*;

fn ip(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, last)
}

fn mac(last: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, last])
}

const SOLICITED: NeighborFlags = NeighborFlags {
    router: false,
    solicited: true,
    override_: true,
};

fn actions(c: &mut NeighborCache, now: u64) -> Vec<NdAction> {
    let mut out = Vec::new();
    c.poll(now, |a| {
        out.push(a);
        true
    });
    out
}

#[test]
fn actions_without_room_are_kept_for_the_next_poll() {
    let mut c = NeighborCache::new(NdConfig::default(), &[]);
    c.resolve(ip(2), 0);
    c.poll(1_000, |_| false);
    c.poll(2_000, |_| false);
    c.poll(3_000, |_| false);
    // Nothing was sent, so nothing was counted: two solicitations remain, then the failure.
    assert_eq!(actions(&mut c, 3_000).len(), 1);
    assert_eq!(actions(&mut c, 4_000).len(), 1);
    c.poll(5_000, |_| false);
    assert_eq!(c.len(), 1, "an unreported failure keeps the entry");
    assert_eq!(actions(&mut c, 5_000), [NdAction::Failed(ip(2))]);
    assert!(c.is_empty());
}

#[test]
fn resolution_retries_then_fails() {
    let mut c = NeighborCache::new(NdConfig::default(), &[]);
    assert_eq!(c.resolve(ip(2), 0), Resolution::Wait { solicit: true });
    assert_eq!(c.resolve(ip(2), 10), Resolution::Wait { solicit: false });
    assert_eq!(c.state(&ip(2), 10), Some(NeighborState::Incomplete));
    assert_eq!(c.lookup(&ip(2), 10), None);
    assert_eq!(c.poll_at(), Some(1_000));
    assert!(actions(&mut c, 999).is_empty());
    let solicit = NdAction::Solicit {
        target: ip(2),
        unicast: None,
    };
    assert_eq!(actions(&mut c, 1_000), [solicit]);
    assert_eq!(actions(&mut c, 2_000), [solicit]);
    // Three multicast solicitations in all (the first sent by the caller on `solicit: true`).
    assert_eq!(actions(&mut c, 3_000), [NdAction::Failed(ip(2))]);
    assert!(c.is_empty());
    assert_eq!(c.poll_at(), None);
}

#[test]
fn solicited_advertisement_makes_reachable_then_stale_delay_probe() {
    let mut c = NeighborCache::new(NdConfig::default(), &[]);
    c.resolve(ip(2), 0);
    // An advertisement without the link-layer address does not resolve.
    assert!(!c.on_advertisement(ip(2), None, SOLICITED, 5));
    assert!(c.on_advertisement(ip(2), Some(mac(2)), SOLICITED, 10));
    assert_eq!(
        c.lookup(&ip(2), 10),
        Some((mac(2), NeighborState::Reachable))
    );
    assert_eq!(c.resolve(ip(2), 20), Resolution::Mac(mac(2)));
    // Reachable time runs out: STALE, still usable; the next send starts DELAY.
    assert_eq!(c.state(&ip(2), 30_010), Some(NeighborState::Stale));
    assert_eq!(c.resolve(ip(2), 30_010), Resolution::Mac(mac(2)));
    assert_eq!(c.state(&ip(2), 30_010), Some(NeighborState::Delay));
    // Early (the resolution's old timer) until a poll finds nothing due, then exact.
    assert_eq!(c.poll_at(), Some(1_000));
    assert!(actions(&mut c, 30_010).is_empty());
    assert_eq!(c.poll_at(), Some(35_010));
    // No confirmation within the delay: PROBE with unicast solicitations.
    let probe = NdAction::Solicit {
        target: ip(2),
        unicast: Some(mac(2)),
    };
    assert_eq!(actions(&mut c, 35_010), [probe]);
    assert_eq!(c.state(&ip(2), 35_010), Some(NeighborState::Probe));
    assert_eq!(c.resolve(ip(2), 35_020), Resolution::Mac(mac(2)));
    assert_eq!(actions(&mut c, 36_010), [probe]);
    assert_eq!(actions(&mut c, 37_010), [probe]);
    // Unanswered probes remove the entry; nothing waits on it, so nothing "failed".
    assert!(actions(&mut c, 38_010).is_empty());
    assert!(c.is_empty());
}

#[test]
fn probe_answered_and_upper_layer_confirmation() {
    let mut c = NeighborCache::new(NdConfig::default(), &[]);
    c.on_solicitation(ip(3), mac(3), 0);
    assert_eq!(c.state(&ip(3), 0), Some(NeighborState::Stale));
    c.resolve(ip(3), 1);
    actions(&mut c, 5_001);
    assert_eq!(c.state(&ip(3), 5_001), Some(NeighborState::Probe));
    assert!(!c.on_advertisement(ip(3), None, SOLICITED, 5_100));
    assert_eq!(c.state(&ip(3), 5_100), Some(NeighborState::Reachable));
    // DELAY ended by a TCP acknowledgement instead of a probe.
    c.resolve(ip(3), 40_000);
    assert_eq!(c.state(&ip(3), 40_000), Some(NeighborState::Delay));
    c.confirm_reachable(&ip(3), 40_001);
    assert_eq!(c.state(&ip(3), 40_001), Some(NeighborState::Reachable));
    assert!(actions(&mut c, 45_001).is_empty());
}

#[test]
fn advertisement_rules_for_known_entries() {
    let mut c = NeighborCache::new(NdConfig::default(), &[]);
    c.resolve(ip(4), 0);
    c.on_advertisement(ip(4), Some(mac(4)), SOLICITED, 0);
    // Unsolicited, no override, a different address: not believed, but REACHABLE drops to STALE.
    let gossip = NeighborFlags {
        router: false,
        solicited: false,
        override_: false,
    };
    assert!(!c.on_advertisement(ip(4), Some(mac(9)), gossip, 10));
    assert_eq!(c.lookup(&ip(4), 10), Some((mac(4), NeighborState::Stale)));
    // With override: the new address is taken, STALE (unsolicited).
    let moved = NeighborFlags {
        router: true,
        override_: true,
        ..gossip
    };
    c.on_advertisement(ip(4), Some(mac(9)), moved, 20);
    assert_eq!(c.lookup(&ip(4), 20), Some((mac(9), NeighborState::Stale)));
    assert!(c.is_router(&ip(4)));
    // Advertisements for unknown targets create nothing.
    assert!(!c.on_advertisement(ip(5), Some(mac(5)), SOLICITED, 30));
    assert_eq!(c.len(), 1);
}

#[test]
fn solicitation_resolves_an_incomplete_entry() {
    let mut c = NeighborCache::new(NdConfig::default(), &[]);
    c.resolve(ip(6), 0);
    assert!(c.on_solicitation(ip(6), mac(6), 100));
    assert_eq!(c.lookup(&ip(6), 100), Some((mac(6), NeighborState::Stale)));
    assert!(!c.on_solicitation(ip(6), mac(6), 200), "already resolved");
    assert!(actions(&mut c, 2_000).is_empty(), "no more solicitations");
}

#[test]
fn static_entries_win_and_are_never_solicited() {
    let mut c = NeighborCache::new(NdConfig::default(), &[(ip(7), mac(7))]);
    assert_eq!(c.resolve(ip(7), 0), Resolution::Mac(mac(7)));
    assert!(!c.on_solicitation(ip(7), mac(8), 0));
    c.on_advertisement(ip(7), Some(mac(8)), SOLICITED, 0);
    assert_eq!(
        c.lookup(&ip(7), 0),
        Some((mac(7), NeighborState::Reachable))
    );
    assert!(c.is_empty());
    assert!(actions(&mut c, 100_000).is_empty());
}

#[test]
fn the_cache_is_bounded() {
    let cfg = NdConfig {
        max_entries: 2,
        ..NdConfig::default()
    };
    let mut c = NeighborCache::new(cfg, &[]);
    assert_eq!(c.resolve(ip(1), 0), Resolution::Wait { solicit: true });
    assert_eq!(c.resolve(ip(2), 0), Resolution::Wait { solicit: true });
    // Two resolutions in progress fill it: a third is refused, not grown into.
    assert_eq!(c.resolve(ip(3), 0), Resolution::Full);
    c.on_solicitation(ip(4), mac(4), 0);
    assert_eq!(c.len(), 2);
    // A resolved entry can make room.
    c.on_advertisement(ip(1), Some(mac(1)), SOLICITED, 10);
    assert_eq!(c.resolve(ip(3), 20), Resolution::Wait { solicit: true });
    assert_eq!(c.len(), 2);
    assert_eq!(c.lookup(&ip(1), 20), None);
}
