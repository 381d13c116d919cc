//! The namespaces of the bench's links, made here and removed on drop (with their veth pairs):
//! a loopback namespace for the `kernel` and `memif` links, and two namespaces joined by a veth
//! pair (MTU 1500, offloads off) for `kernel-1500`, `afpacket` and the lossy workloads.

use mtcp_testkit::{Netns, unique_name};

/// One link's namespaces: the server's, and the client's (the same one for loopback links).
pub struct Topo {
    server: Netns,
    client: Option<Netns>,
    /// The server's end of the veth pair (empty for loopback).
    pub server_if: String,
    /// The client's end of the veth pair (empty for loopback).
    pub client_if: String,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Per-namespace settings that let Linux clients open connections at the bench's rates:
/// TIME-WAIT sockets reused for new outgoing connections and the whole port range, and
/// listen backlogs as long as our stack's.
fn tune(ns: &Netns) {
    for kv in [
        "net.ipv4.tcp_tw_reuse=1",
        "net.ipv4.ip_local_port_range=1024 65000",
        "net.core.somaxconn=4096",
        "net.ipv4.tcp_max_syn_backlog=16384",
    ] {
        let _ = ns.exec(&["sysctl", "-qw", kv]);
    }
}

impl Topo {
    /// One namespace, loopback up with `ip`/32 on it.
    pub fn loopback(tag: &str, ip: &str) -> Result<Topo, String> {
        let ns = Netns::new(&unique_name(tag)).map_err(err)?;
        ns.exec_ok(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"])
            .map_err(err)?;
        tune(&ns);
        Ok(Topo {
            server: ns,
            client: None,
            server_if: String::new(),
            client_if: String::new(),
        })
    }

    /// Two namespaces joined by a veth pair of MTU `mtu`, offloads off on both ends.
    pub fn veth(tag: &str, mtu: u32) -> Result<Topo, String> {
        let server = Netns::new(&unique_name(&format!("{tag}s"))).map_err(err)?;
        let client = Netns::new(&unique_name(&format!("{tag}c"))).map_err(err)?;
        let (a, b) = server.veth_pair("bva", "bvb").map_err(err)?;
        server.move_link(&b, &client).map_err(err)?;
        client
            .exec_ok(&["ip", "link", "set", &b, "up"])
            .map_err(err)?;
        let topo = Topo {
            server,
            client: Some(client),
            server_if: a,
            client_if: b,
        };
        topo.set_mtu(mtu)?;
        topo.server.disable_offloads(&topo.server_if).map_err(err)?;
        topo.client_ns()
            .disable_offloads(&topo.client_if)
            .map_err(err)?;
        tune(&topo.server);
        tune(topo.client_ns());
        Ok(topo)
    }

    /// Sets the veth pair's MTU (both ends).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), String> {
        let m = mtu.to_string();
        self.server
            .exec_ok(&["ip", "link", "set", &self.server_if, "mtu", &m])
            .map_err(err)?;
        self.client_ns()
            .exec_ok(&["ip", "link", "set", &self.client_if, "mtu", &m])
            .map_err(err)?;
        Ok(())
    }

    /// Gives the kernel addresses on the veth pair: `server_ip`/24 and `client_ip`/24.
    pub fn kernel_addrs(&self, server_ip: &str, client_ip: &str) -> Result<(), String> {
        self.server
            .exec_ok(&[
                "ip",
                "addr",
                "add",
                &format!("{server_ip}/24"),
                "dev",
                &self.server_if,
            ])
            .map_err(err)?;
        self.client_ns()
            .exec_ok(&[
                "ip",
                "addr",
                "add",
                &format!("{client_ip}/24"),
                "dev",
                &self.client_if,
            ])
            .map_err(err)?;
        Ok(())
    }

    /// The server's namespace.
    pub fn server_ns(&self) -> &Netns {
        &self.server
    }

    /// The client's namespace.
    pub fn client_ns(&self) -> &Netns {
        self.client.as_ref().unwrap_or(&self.server)
    }
}
