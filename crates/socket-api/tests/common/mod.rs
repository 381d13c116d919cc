//! Shared setup: two instances (server 198.18.0.1, client 198.18.0.2) on one in-memory switch.

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

/// An mtcp.conf for one port with one core. Its drain on destroy is short: these tests drop
/// their run-to-completion contexts one after the other from one thread, so a dropped
/// context's peer is no longer driven and could not acknowledge its FIN anyway.
pub fn conf(port: &str, ip: &str, mode: &str) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 64\nrcvbuf = 16384\nrun_mode = {mode}\ndrain_timeout_ms = 200\n"
    ))
    .unwrap()
}

/// The switch, the server instance (port 0) and the client instance (port 1).
pub fn pair(mode: &str) -> (MemSwitch, Mtcp, Mtcp) {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let s = Mtcp::with_switch(conf("mem0", "198.18.0.1", mode), &switch, 0).unwrap();
    let c = Mtcp::with_switch(conf("mem1", "198.18.0.2", mode), &switch, 1).unwrap();
    (switch, s, c)
}
