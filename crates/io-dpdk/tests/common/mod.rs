//! Helpers shared by the integration tests (each test file is its own process: DPDK's EAL starts
//! once per process).
#![allow(dead_code)]

/// Asserts that the test can run: DPDK's EAL, TAPs and namespaces need root (the tests calling this
/// are `#[ignore = "needs root: ..."]`).
pub fn require_root(test: &str) {
    mtcp_testkit::require_root(test)
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
    use mtcp_testkit::responder;
    let start = std::time::Instant::now();
    let mut served = Served::default();
    let mut rx = Burst::new();
    let mut tx: Burst<mtcp_io_dpdk::DpdkTxFrame> = Burst::new();
    let offload = info.checksum.ipv4_tx;
    let mut seen = responder::Answered::default();
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
                let before = seen;
                match responder::answer(frame, info.mac, ip.into(), &mut out, offload, &mut seen) {
                    None => {}
                    Some(len) => {
                        out.set_len(len);
                        let is_echo = seen.echo > before.echo;
                        if is_echo {
                            served.echo_replies += 1;
                            if frame.meta().ipv4_checksum == ChecksumStatus::Good {
                                served.ipv4_rx_good += 1;
                            }
                        } else {
                            served.arp_replies += 1;
                        }
                        if is_echo && offload {
                            out.set_offload(TxOffload {
                                l2_len: 14,
                                l3_len: (frame[14] & 0x0f) * 4,
                                ipv4_checksum: true,
                                l4_checksum: None,
                                tcp_segment: 0,
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

/// The memif tests' client process: opens `net_memif0` with `config` and echoes every frame back
/// until a frame of length 60 with byte 0xee at 14 arrives; panics after 30 s without it.
#[cfg(feature = "dpdk")]
pub fn memif_echo_client(config: &mtcp_io_dpdk::DpdkConfig) {
    use mtcp_io::{Burst, Device, Queue, TxFrame};
    use std::time::{Duration, Instant};
    let eal = mtcp_io_dpdk::Eal::init(config).unwrap_or_else(|e| panic!("{e}"));
    let mut port = eal
        .open("net_memif0", config)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut q = port.queue(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rx = Burst::new();
    let mut tx: Burst<mtcp_io_dpdk::DpdkTxFrame> = Burst::new();
    while Instant::now() < deadline {
        q.rx_burst(&mut rx).unwrap();
        for f in rx.iter() {
            if f.len() == 60 && f[14] == 0xee {
                return;
            }
            let mut out = q.tx_alloc().expect("client pool");
            out.set_len(f.len());
            out.copy_from_slice(f);
            let _ = tx.push(out);
        }
        rx.clear();
        while !tx.is_empty() && Instant::now() < deadline {
            q.tx_burst(&mut tx).unwrap();
        }
    }
    panic!("client: no stop frame within 30 s");
}

/// Runs this test binary again as the memif client (`env` holds the socket path: the test
/// function sees it and runs the client instead) and waits for `port`'s link; panics, the child
/// killed, when the link does not come up within 10 s.
#[cfg(feature = "dpdk")]
pub fn spawn_memif_client(
    test: &str,
    env: &str,
    socket: &str,
    port: &mtcp_io_dpdk::DpdkDevice,
) -> std::process::Child {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--include-ignored"])
        .env(env, socket)
        .spawn()
        .expect("spawn the client process");
    if !port.wait_link_up(std::time::Duration::from_secs(10)) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("memif link did not come up");
    }
    child
}

/// The memif tests' server side: sends `frames` frames numbered from 0 (each filled by
/// `fill`), at most `window` in flight, hands each echoed one to `check` with its number, in
/// order, until all came back, `check` says stop (false) or 20 s passed; then sends the client
/// its stop frame (60 bytes of 0xee). Returns how many came back.
#[cfg(feature = "dpdk")]
pub fn memif_echo_rounds(
    q: &mut mtcp_io_dpdk::DpdkQueue,
    frames: u32,
    window: u32,
    mut fill: impl FnMut(&mut mtcp_io_dpdk::DpdkTxFrame, u32),
    mut check: impl FnMut(&mtcp_io_dpdk::DpdkRxFrame, u32) -> bool,
) -> u32 {
    use mtcp_io::{Burst, Queue, TxFrame};
    use std::time::{Duration, Instant};
    let (mut next_tx, mut next_rx) = (0u32, 0u32);
    let mut tx: Burst<mtcp_io_dpdk::DpdkTxFrame> = Burst::new();
    let mut rx = Burst::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut going = true;
    while going && next_rx < frames && Instant::now() < deadline {
        while next_tx < frames && next_tx < next_rx + window && !tx.is_full() {
            let mut f = q.tx_alloc().expect("server pool");
            fill(&mut f, next_tx);
            let _ = tx.push(f);
            next_tx += 1;
        }
        q.tx_burst(&mut tx).unwrap();
        q.rx_burst(&mut rx).unwrap();
        for f in rx.iter() {
            going &= check(f, next_rx);
            next_rx += 1;
        }
        rx.clear();
    }
    let mut stop = q.tx_alloc().unwrap();
    stop.set_len(60);
    stop.fill(0xee);
    let _ = tx.push(stop);
    let stop_by = Instant::now() + Duration::from_secs(2);
    while !tx.is_empty() && Instant::now() < stop_by {
        q.tx_burst(&mut tx).unwrap();
    }
    next_rx
}
