//! Initial sequence numbers (RFC 6528) from a keyed hash of the 4-tuple.

use core::hash::{Hash, Hasher};
use core::net::IpAddr;

use mtcp_wire::tcp::SeqNumber;
use siphasher::sip::SipHasher13;

use crate::time::Instant;

/// A connection's addresses and ports, local side first. Both addresses are of one family: an
/// IPv4 peer of a dual-stack listener has IPv4 addresses here (the socket layer shows them as
/// IPv4-mapped IPv6 addresses where the application asked for IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FourTuple {
    /// Our address.
    pub local_addr: IpAddr,
    /// Our port.
    pub local_port: u16,
    /// The peer's address.
    pub remote_addr: IpAddr,
    /// The peer's port.
    pub remote_port: u16,
}

impl FourTuple {
    /// Whether the connection runs over IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.remote_addr.is_ipv6()
    }
}

/// Hashes an IPv4 tuple as one `u64` and one `u32` write (the derived hash makes a call per
/// field and per array length): the connection table hashes a tuple per received segment.
impl Hash for FourTuple {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ports = (u32::from(self.local_port) << 16) | u32::from(self.remote_port);
        match (self.local_addr, self.remote_addr) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                state.write_u64((u64::from(l.to_bits()) << 32) | u64::from(r.to_bits()));
                state.write_u32(ports);
            }
            (l, r) => {
                state.write_u128(v6_bits(l));
                state.write_u128(v6_bits(r));
                state.write_u32(ports);
            }
        }
    }
}

/// An address as 128 bits, IPv4 in its IPv4-mapped form.
fn v6_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().to_bits(),
        IpAddr::V6(a) => a.to_bits(),
    }
}

/// An address's bytes as the keyed hash reads them: 4 for IPv4, 16 for IPv6.
fn write_addr(h: &mut SipHasher13, a: IpAddr) {
    match a {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => h.write(&a.octets()),
    }
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
        write_addr(&mut h, t.local_addr);
        write_addr(&mut h, t.remote_addr);
        h.write_u16(t.local_port);
        h.write_u16(t.remote_port);
        h.write_u32(extra);
        h.finish()
    }

    /// A secret offset for the first ephemeral port (a random start for RFC 6056 §2.2's
    /// sequential search): a client restarted against the same server is unlikely to reuse its
    /// last source port, whose server side may still be in TIME-WAIT and answer the new SYN
    /// with the old connection's ACK (a second's SYN timeout). Hashed, so the port does not
    /// reveal the key.
    pub(crate) fn port_offset(&self) -> u16 {
        let zero = FourTuple {
            local_addr: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
            local_port: 0,
            remote_addr: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
            remote_port: 0,
        };
        (self.hash(&zero, u32::from_be_bytes(*b"port")) >> 48) as u16
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
    fn ipv6_tuples_hash_apart_from_their_ipv4_mapped_twins() {
        use core::net::Ipv6Addr;
        let a = SecretHash::new([1; 16]);
        let v4 = tuple();
        let l6: Ipv6Addr = "2001:2::1".parse().unwrap();
        let r6: Ipv6Addr = "2001:2::2".parse().unwrap();
        let v6 = FourTuple {
            local_addr: l6.into(),
            remote_addr: r6.into(),
            ..v4
        };
        assert!(v6.is_ipv6() && !v4.is_ipv6());
        assert_ne!(a.isn(&v4, Instant(0)), a.isn(&v6, Instant(0)));
        let mut v6b = v6;
        v6b.remote_addr = "2001:2::3".parse::<Ipv6Addr>().unwrap().into();
        assert_ne!(a.isn(&v6, Instant(0)), a.isn(&v6b, Instant(0)));
        // The table's hash tells an IPv4 tuple from its IPv4-mapped IPv6 form only by
        // equality; both must still be usable as distinct keys.
        let mapped = FourTuple {
            local_addr: Ipv4Addr::new(198, 18, 0, 1).to_ipv6_mapped().into(),
            remote_addr: Ipv4Addr::new(198, 18, 0, 2).to_ipv6_mapped().into(),
            ..v4
        };
        let mut set = hashbrown::HashSet::new();
        assert!(set.insert(v4) && set.insert(mapped) && set.insert(v6));
        assert!(set.contains(&v4) && set.contains(&mapped) && set.contains(&v6));
    }
}
