//! RSS steering of a port, as one core sees it: which flows land on its queue. The ports use it
//! to pick client source ports (`mtcp_init_rss`), the mesh to find a frame's owner core. IPv6
//! flows hash their 36-byte 4-tuple under the same key (as NICs' TCP_IPV6 RSS).

use std::net::IpAddr;
use std::sync::OnceLock;

use mtcp_wire::rss::{Toeplitz, Toeplitz6};

/// RSS steering of a port: which source ports make replies land on this core's queue.
#[derive(Clone, Debug)]
pub(crate) struct RssSteer {
    pub hasher: Toeplitz,
    /// The same key's hasher for IPv6 4-tuples, built when first needed (36 KiB, about 15 M
    /// instructions: IPv4-only programs do not pay for it).
    hasher6: OnceLock<Toeplitz6>,
    key: Vec<u8>,
    pub reta: Vec<u16>,
    pub queue: u16,
    /// Steering the mesh does in software (the device's own steering is unknown or absent).
    pub software: bool,
}

/// Entries of the software redirection table (cores round-robin).
const SOFT_RETA_SIZE: usize = 128;

impl RssSteer {
    /// Steering by `key` and `reta`, as the core owning `queue` sees it.
    pub fn new(key: &[u8], reta: Vec<u16>, queue: u16, software: bool) -> RssSteer {
        RssSteer {
            hasher: Toeplitz::new(key),
            hasher6: OnceLock::new(),
            key: key.to_vec(),
            reta,
            queue,
            software,
        }
    }

    /// Software steering over `cores` cores, as core `cpu` sees it: mTCP's symmetric Toeplitz
    /// key, a redirection table naming the cores round-robin.
    pub fn software(cores: usize, cpu: usize) -> RssSteer {
        RssSteer::new(
            &mtcp_wire::rss::SYMMETRIC_KEY,
            (0..SOFT_RETA_SIZE)
                .map(|i| (i % cores.max(1)) as u16)
                .collect(),
            cpu as u16,
            true,
        )
    }

    fn hasher6(&self) -> &Toeplitz6 {
        self.hasher6.get_or_init(|| Toeplitz6::new(&self.key))
    }

    /// The queue (core) a received frame with RSS input `tuple` belongs to.
    pub fn owner(&self, tuple: &[u8; 12]) -> u16 {
        let h = self.hasher.hash_tuple(tuple);
        self.reta[h as usize % self.reta.len()]
    }

    /// The queue (core) a received IPv6 frame with RSS input `tuple` belongs to.
    pub fn owner6(&self, tuple: &[u8; 36]) -> u16 {
        let h = self.hasher6().hash_tuple(tuple);
        self.reta[h as usize % self.reta.len()]
    }

    /// Whether the replies of a flow from `local`:`lport` to `remote`:`rport` land on this core
    /// (addresses of one family; two families never do).
    pub fn lands_here(&self, local: IpAddr, lport: u16, remote: IpAddr, rport: u16) -> bool {
        let h = match (local, remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) => self.hasher.hash_ipv4(r, l, rport, lport),
            (IpAddr::V6(l), IpAddr::V6(r)) => self.hasher6().hash_ipv6(&r, &l, rport, lport),
            _ => return false,
        };
        self.reta[h as usize % self.reta.len()] == self.queue
    }
}
