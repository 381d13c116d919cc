//! SYN cookies (RFC 4987): when a listener's SYN queue is full, the SYN-ACK's ISN encodes
//! what is needed to rebuild the connection from the handshake's final ACK.

use mtcp_wire::tcp::SeqNumber;

use crate::config::IPV6_MIN_MSS;
use crate::isn::{FourTuple, SecretHash};
use crate::time::Instant;

/// MSS values a SYN cookie can encode (3 bits).
const COOKIE_MSS: [u16; 8] = [536, 1200, 1300, 1360, 1400, 1440, 1460, 8960];
/// Length of one cookie time slot in milliseconds (64 s as in Linux).
const COOKIE_PERIOD_MS: u64 = 64_000;

impl SecretHash {
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
        let mss = COOKIE_MSS[idx as usize];
        // IPv6 links carry at least 1280 bytes (RFC 8200 §5): its MSS is never under 1220.
        let mss = if t.is_ipv6() {
            mss.max(IPV6_MIN_MSS)
        } else {
            mss
        };
        (h == cookie.0 & 0x00ff_ffff).then_some(mss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn tuple() -> FourTuple {
        FourTuple {
            local_addr: Ipv4Addr::new(198, 18, 0, 1).into(),
            local_port: 80,
            remote_addr: Ipv4Addr::new(198, 18, 0, 2).into(),
            remote_port: 40000,
        }
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

    #[test]
    fn cookie_over_ipv6_tuples() {
        use core::net::Ipv6Addr;
        let s = SecretHash::new([7; 16]);
        let t = FourTuple {
            local_addr: "2001:2::1".parse::<Ipv6Addr>().unwrap().into(),
            local_port: 80,
            remote_addr: "2001:2::2".parse::<Ipv6Addr>().unwrap().into(),
            remote_port: 40000,
        };
        let c = s.cookie(&t, SeqNumber(1000), 1440, Instant(5_000));
        assert_eq!(
            s.check_cookie(&t, SeqNumber(1001), c, Instant(6_000)),
            Some(1440)
        );
        let mut other = t;
        other.remote_addr = "2001:2::3".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(
            s.check_cookie(&other, SeqNumber(1001), c, Instant(6_000)),
            None
        );
        // IPv6's smallest MSS comes back as at least 1220 (the table's 1200 is IPv4's).
        let c = s.cookie(&t, SeqNumber(1000), 1220, Instant(5_000));
        assert_eq!(
            s.check_cookie(&t, SeqNumber(1001), c, Instant(6_000)),
            Some(1220)
        );
    }
}
