//! RSS steering of a port, as one core sees it: which flows land on its queue. The ports use it
//! to pick client source ports (`mtcp_init_rss`), the mesh to find a frame's owner core.

use std::net::Ipv4Addr;

/// RSS steering of a port: which source ports make replies land on this core's queue.
#[derive(Clone, Debug)]
pub(crate) struct RssSteer {
    pub hasher: mtcp_wire::rss::Toeplitz,
    pub reta: Vec<u16>,
    pub queue: u16,
    /// Steering the mesh does in software (the device's own steering is unknown or absent).
    pub software: bool,
}

/// Entries of the software redirection table (cores round-robin).
const SOFT_RETA_SIZE: usize = 128;

impl RssSteer {
    /// Software steering over `cores` cores, as core `cpu` sees it: mTCP's symmetric Toeplitz
    /// key, a redirection table naming the cores round-robin.
    pub fn software(cores: usize, cpu: usize) -> RssSteer {
        RssSteer {
            hasher: mtcp_wire::rss::Toeplitz::new(&mtcp_wire::rss::SYMMETRIC_KEY),
            reta: (0..SOFT_RETA_SIZE)
                .map(|i| (i % cores.max(1)) as u16)
                .collect(),
            queue: cpu as u16,
            software: true,
        }
    }

    /// The queue (core) a received frame with RSS input `tuple` belongs to.
    pub fn owner(&self, tuple: &[u8; 12]) -> u16 {
        let h = self.hasher.hash_tuple(tuple);
        self.reta[h as usize % self.reta.len()]
    }

    pub fn lands_here(&self, local: Ipv4Addr, lport: u16, remote: Ipv4Addr, rport: u16) -> bool {
        let h = self.hasher.hash_ipv4(remote, local, rport, lport);
        self.reta[h as usize % self.reta.len()] == self.queue
    }
}
