//! Initial sequence numbers (RFC 6528) from a keyed hash of the 4-tuple.

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

impl SecretHash {
    /// A hasher keyed with the caller's secret.
    pub fn new(key: [u8; 16]) -> SecretHash {
        SecretHash { key }
    }

    pub(crate) fn hash(&self, t: &FourTuple, extra: u32) -> u64 {
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
}
