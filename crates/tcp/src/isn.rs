//! Initial sequence numbers (RFC 6528) and SYN cookies (RFC 4987) from a keyed hash.

use core::hash::Hasher;
use core::net::Ipv4Addr;

use mtcp_wire::tcp::SeqNumber;
use siphasher::sip::SipHasher13;

use crate::time::Instant;

/// A connection's addresses and ports, local side first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address.
    pub local_addr: Ipv4Addr,
    /// Our port.
    pub local_port: u16,
    /// The peer's address.
    pub remote_addr: Ipv4Addr,
    /// The peer's port.
    pub remote_port: u16,
}

/// Keyed hashing for ISNs and cookies.
#[derive(Clone, Debug)]
pub struct SecretHash {
    key: [u8; 16],
}

/// MSS values a SYN cookie can encode (3 bits).
const COOKIE_MSS: [u16; 8] = [536, 1200, 1300, 1360, 1400, 1440, 1460, 8960];
/// Length of one cookie time slot in milliseconds (64 s as in Linux).
const COOKIE_PERIOD_MS: u64 = 64_000;

impl SecretHash {
    /// A hasher keyed with the caller's secret.
    pub fn new(key: [u8; 16]) -> SecretHash {
        SecretHash { key }
    }

    fn hash(&self, t: &FourTuple, extra: u32) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.key);
        h.write(&t.local_addr.octets());
        h.write(&t.remote_addr.octets());
        h.write_u16(t.local_port);
        h.write_u16(t.remote_port);
        h.write_u32(extra);
        h.finish()
    }

    /// RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock.
    pub fn isn(&self, t: &FourTuple, now: Instant) -> SeqNumber {
        let m = (now.0.wrapping_mul(250)) as u32;
        SeqNumber(m.wrapping_add(self.hash(t, 0) as u32))
    }

    /// A SYN cookie for a SYN with sequence `peer_isn` and MSS option `mss`: the ISN to send.
    /// Layout: 5 bits of time slot, 3 bits of MSS index, 24 bits of keyed hash.
    pub fn cookie(&self, t: &FourTuple, peer_isn: SeqNumber, mss: u16, now: Instant) -> SeqNumber {
        let slot = ((now.0 / COOKIE_PERIOD_MS) & 0x1f) as u32;
        let idx = COOKIE_MSS.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
        let h = self.hash(t, peer_isn.0 ^ (slot << 27) ^ (idx << 24) ^ 0x5a5a_0000) as u32
            & 0x00ff_ffff;
        SeqNumber((slot << 27) | (idx << 24) | h)
    }

    /// Checks a cookie echoed as `ack - 1` on an ACK with sequence `seq` (= peer ISN + 1).
    /// Returns the MSS it encodes when valid and at most one slot old.
    pub fn check_cookie(
        &self,
        t: &FourTuple,
        seq: SeqNumber,
        cookie: SeqNumber,
        now: Instant,
    ) -> Option<u16> {
        let slot = cookie.0 >> 27;
        let idx = (cookie.0 >> 24) & 0x7;
        let cur = ((now.0 / COOKIE_PERIOD_MS) & 0x1f) as u32;
        if cur.wrapping_sub(slot) & 0x1f > 1 {
            return None;
        }
        let peer_isn = SeqNumber(seq.0.wrapping_sub(1));
        let h = self.hash(t, peer_isn.0 ^ (slot << 27) ^ (idx << 24) ^ 0x5a5a_0000) as u32
            & 0x00ff_ffff;
        (h == cookie.0 & 0x00ff_ffff).then_some(COOKIE_MSS[idx as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> FourTuple {
        FourTuple {
            local_addr: Ipv4Addr::new(198, 18, 0, 1),
            local_port: 80,
            remote_addr: Ipv4Addr::new(198, 18, 0, 2),
            remote_port: 40000,
        }
    }

    #[test]
    fn isn_depends_on_key_tuple_and_time() {
        let a = SecretHash::new([1; 16]);
        let b = SecretHash::new([2; 16]);
        let t = tuple();
        assert_ne!(a.isn(&t, Instant(0)), b.isn(&t, Instant(0)));
        assert_eq!(
            a.isn(&t, Instant(1))
                .0
                .wrapping_sub(a.isn(&t, Instant(0)).0),
            250
        );
        let mut t2 = t;
        t2.remote_port += 1;
        assert_ne!(a.isn(&t, Instant(0)), a.isn(&t2, Instant(0)));
    }

    #[test]
    fn cookie_round_trip_and_expiry() {
        let s = SecretHash::new([7; 16]);
        let t = tuple();
        let c = s.cookie(&t, SeqNumber(1000), 1460, Instant(5_000));
        assert_eq!(
            s.check_cookie(&t, SeqNumber(1001), c, Instant(6_000)),
            Some(1460)
        );
        assert_eq!(
            s.check_cookie(&t, SeqNumber(1001), c, Instant(100_000)),
            Some(1460)
        );
        assert_eq!(
            s.check_cookie(&t, SeqNumber(1001), c, Instant(200_000)),
            None
        );
        assert_eq!(s.check_cookie(&t, SeqNumber(1002), c, Instant(6_000)), None);
        assert_eq!(
            s.check_cookie(&t, SeqNumber(1001), SeqNumber(c.0 ^ 1), Instant(6_000)),
            None
        );
    }
}
