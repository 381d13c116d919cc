//! Helpers shared by the integration tests (each test file is its own process: DPDK's EAL starts
//! once per process).
#![allow(dead_code)]

/// Returns true (after saying why) when the test must skip: DPDK's EAL, TAPs and namespaces need root.
pub fn skip_unless_root(test: &str) -> bool {
    !mtcp_testkit::require_root(test)
}

/// A network namespace made for the test (mtcp-testkit's guard: deleted on drop, also on panic).
pub struct Netns {
    inner: mtcp_testkit::Netns,
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let inner =
            mtcp_testkit::Netns::new(&mtcp_testkit::unique_name(prefix)).expect("create netns");
        let name = inner.name().to_owned();
        Netns { inner, name }
    }

    /// Runs `ip ARGS...` inside the namespace; panics with its output when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip"];
        all.extend_from_slice(args);
        let out = self.inner.exec_ok(&all).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Moves the calling thread into this namespace for good. DPDK's EAL must start on a thread in
    /// the namespace (its vdevs open TAPs and packet sockets there) and keeps using that thread as
    /// its main lcore, so mtcp-testkit's run-on-a-fresh-thread does not fit here.
    pub fn enter_current_thread(&self) {
        use std::os::fd::AsRawFd;
        let path = format!("/run/netns/{}", self.name);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a valid namespace fd; setns affects only the calling thread.
        let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            ret,
            0,
            "setns {}: {}",
            self.name,
            std::io::Error::last_os_error()
        );
    }
}

/// A name for an interface, unique on this machine for this run (at most 15 characters).
pub fn ifname(prefix: &str) -> String {
    mtcp_testkit::unique_name(prefix)
}

/// A tiny ARP + ICMP echo responder for one IPv4 address, on raw Ethernet frames.
pub mod responder {
    /// What a received frame asks for.
    pub enum Reply {
        /// Nothing (not for us, or not ARP/ICMP echo request).
        None,
        /// Send this many bytes of the reply, built in the buffer given.
        Frame {
            len: usize,
            ip_checksum_offloaded: bool,
        },
    }

    fn csum(data: &[u8]) -> u16 {
        let mut sum = 0u32;
        for chunk in data.chunks(2) {
            let word = if chunk.len() == 2 {
                u16::from_be_bytes([chunk[0], chunk[1]])
            } else {
                u16::from(chunk[0]) << 8
            };
            sum += u32::from(word);
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// Builds in `out` the reply to `frame` for a host with `mac`/`ip`. With `offload_ip_checksum`
    /// the IPv4 header checksum is left at zero for the device to fill.
    pub fn answer(
        frame: &[u8],
        mac: [u8; 6],
        ip: [u8; 4],
        out: &mut [u8],
        offload_ip_checksum: bool,
    ) -> Reply {
        if frame.len() < 14 {
            return Reply::None;
        }
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        match ethertype {
            0x0806 if frame.len() >= 42 => {
                let arp = &frame[14..42];
                // Ethernet/IPv4 request for our address.
                if arp[0..8] != [0, 1, 8, 0, 6, 4, 0, 1] || arp[24..28] != ip {
                    return Reply::None;
                }
                out[0..6].copy_from_slice(&arp[8..14]);
                out[6..12].copy_from_slice(&mac);
                out[12..14].copy_from_slice(&[0x08, 0x06]);
                let r = &mut out[14..42];
                r[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
                r[8..14].copy_from_slice(&mac);
                r[14..18].copy_from_slice(&ip);
                r[18..28].copy_from_slice(&arp[8..18]);
                out[42..60].fill(0);
                Reply::Frame {
                    len: 60,
                    ip_checksum_offloaded: false,
                }
            }
            0x0800 if frame.len() >= 34 => {
                let ihl = usize::from(frame[14] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
                if frame[14] >> 4 != 4 || ihl < 20 || total < ihl + 8 || 14 + total > frame.len() {
                    return Reply::None;
                }
                let ip_hdr = &frame[14..14 + ihl];
                if ip_hdr[9] != 1 || ip_hdr[16..20] != ip || frame[14 + ihl] != 8 {
                    return Reply::None;
                }
                let len = 14 + total;
                out[..len].copy_from_slice(&frame[..len]);
                out[0..6].copy_from_slice(&frame[6..12]);
                out[6..12].copy_from_slice(&mac);
                {
                    let h = &mut out[14..14 + ihl];
                    h[12..16].copy_from_slice(&ip_hdr[16..20]);
                    h[16..20].copy_from_slice(&ip_hdr[12..16]);
                    h[8] = 64;
                    h[10..12].fill(0);
                    if !offload_ip_checksum {
                        let c = csum(h);
                        h[10..12].copy_from_slice(&c.to_be_bytes());
                    }
                }
                let icmp = &mut out[14 + ihl..len];
                icmp[0] = 0; // echo reply
                icmp[2..4].fill(0);
                let c = csum(icmp);
                icmp[2..4].copy_from_slice(&c.to_be_bytes());
                if len < 60 {
                    out[len..60].fill(0);
                }
                Reply::Frame {
                    len: len.max(60),
                    ip_checksum_offloaded: offload_ip_checksum,
                }
            }
            _ => Reply::None,
        }
    }
}

/// What the responder saw and did.
#[derive(Debug, Default)]
pub struct Served {
    pub arp_replies: usize,
    pub echo_replies: usize,
    pub frames_seen: usize,
    /// Echo requests whose IPv4 checksum the device reported verified good.
    pub ipv4_rx_good: usize,
    /// Replies whose IPv4 checksum the device was asked to fill.
    pub ipv4_tx_offloaded: usize,
}

/// Answers ARP and ICMP echo for `ip` on all `queues` until `child` exits (or `limit` passes);
/// returns the child's success and what was served.
pub fn serve_until(
    queues: &mut [mtcp_io_dpdk::DpdkQueue],
    info: &mtcp_io::DeviceInfo,
    ip: [u8; 4],
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> (bool, Served) {
    use mtcp_io::{Burst, ChecksumStatus, Queue, RxFrame, TxFrame, TxOffload};
    let start = std::time::Instant::now();
    let mut served = Served::default();
    let mut rx = Burst::new();
    let mut tx: Burst<mtcp_io_dpdk::DpdkTxFrame> = Burst::new();
    let offload = info.checksum.ipv4_tx;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return (status.success(), served);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (false, served);
        }
        let mut idle = true;
        for q in queues.iter_mut() {
            q.rx_burst(&mut rx).expect("rx_burst");
            for frame in rx.iter() {
                idle = false;
                served.frames_seen += 1;
                let Some(mut out) = q.tx_alloc() else {
                    continue;
                };
                out.set_len(out.capacity().min(1514));
                match responder::answer(frame, info.mac.0, ip, &mut out, offload) {
                    responder::Reply::None => {}
                    responder::Reply::Frame {
                        len,
                        ip_checksum_offloaded,
                    } => {
                        out.set_len(len);
                        if frame[12..14] == [0x08, 0x06] {
                            served.arp_replies += 1;
                        } else {
                            served.echo_replies += 1;
                            if frame.meta().ipv4_checksum == ChecksumStatus::Good {
                                served.ipv4_rx_good += 1;
                            }
                        }
                        if ip_checksum_offloaded {
                            out.set_offload(TxOffload {
                                l2_len: 14,
                                l3_len: (frame[14] & 0x0f) * 4,
                                ipv4_checksum: true,
                                l4_checksum: None,
                            });
                            served.ipv4_tx_offloaded += 1;
                        }
                        let _ = tx.push(out);
                    }
                }
            }
            rx.clear();
            if !tx.is_empty() {
                q.tx_burst(&mut tx).expect("tx_burst");
                tx.clear(); // anything unsent is dropped (freed), as a stack would under pressure
            }
        }
        if idle {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
