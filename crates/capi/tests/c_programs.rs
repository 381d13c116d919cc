//! C programs compiled against `include/*.h` and linked with the built `libmtcp`: the header
//! ABI, errno from C, and an mTCP-style epoll echo server + client over the in-memory backend;
//! and (as root) write coalescing seen on the wire: a C server over AF_PACKET in a network
//! namespace, the Linux kernel as its peer, tcpdump counting the server's segments.

use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mtcp_socket_api::socket::SockType;
use mtcp_socket_api::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EpollEvent, MtcpConfC, events};

/// Where cargo put `libmtcp.so` and `libmtcp.a` for this test run: `target/<profile>/deps`
/// (beside this test executable; `cargo test` builds them there), else `target/<profile>`
/// (after `cargo build`).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
    let profile = deps.parent().map(Path::to_path_buf);
    let has_libs = |d: &Path| d.join("libmtcp.a").exists() && d.join("libmtcp.so").exists();
    std::iter::once(deps.clone())
        .chain(profile)
        .find(|d| has_libs(d))
        .unwrap_or_else(|| {
            panic!(
                "libmtcp.a / libmtcp.so not found in {} or its parent",
                deps.display()
            )
        })
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mtcp-capi-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `tests/c/<src>` into `out`, linked with the shared (`dynamic`) or static library.
fn compile(src: &str, out: &Path, dynamic: bool) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = lib_dir();
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(out)
        .arg(manifest.join("tests/c").join(src))
        .arg("-I")
        .arg(manifest.join("include"));
    if dynamic {
        cmd.arg("-L")
            .arg(&lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lmtcp");
    } else {
        // The AF_XDP backend's C shim calls libxdp and libbpf (shared libraries from Debian).
        cmd.arg(lib.join("libmtcp.a")).args(["-lxdp", "-lbpf"]);
    }
    cmd.args(["-lpthread", "-ldl", "-lm"]);
    let o = cmd.output().expect("run cc");
    assert!(
        o.status.success(),
        "compiling {src} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run(exe: &Path, args: &[&str]) -> Output {
    // Without cargo's LD_LIBRARY_PATH (it lists target/<profile>, where an older libmtcp.so
    // from `cargo build` may sit), so the rpath to the library just built is what counts.
    let o = Command::new(exe)
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run C program");
    eprintln!(
        "{} stdout:\n{}\nstderr:\n{}",
        exe.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// mtcp.conf (+ arp.conf, route.conf) for two in-memory ports: the server's address on mem0,
/// the client's on mem1, and a host route that sends the client's traffic to the server out
/// of mem1 (so it crosses the switch). Static ARP: each context answers only its own queue.
fn write_conf(dir: &Path, num_cores: usize, run_mode: &str) -> PathBuf {
    std::fs::write(
        dir.join("arp.conf"),
        "ARP_ENTRY 2\n198.18.0.1/32 02:00:00:00:00:01\n198.18.0.2/32 02:00:00:00:00:02\n",
    )
    .unwrap();
    std::fs::write(dir.join("route.conf"), "ROUTES 1\n198.18.0.1/32 mem1\n").unwrap();
    let conf = dir.join("mtcp.conf");
    std::fs::write(
        &conf,
        format!(
            "# test configuration\nio = mem\nnum_cores = {num_cores}\nport = mem0 mem1\n\
             mem0.ip = 198.18.0.1/24\nmem1.ip = 198.18.0.2/24\nmax_concurrency = 1000\n\
             rcvbuf = 16384\nsndbuf = 16384\ntcp_timewait = 0\ntcp_timeout = 30\n\
             run_mode = {run_mode}\narp_conf = {}\nroute_conf = {}\n",
            dir.join("arp.conf").display(),
            dir.join("route.conf").display()
        ),
    )
    .unwrap();
    conf
}

#[test]
fn header_abi_matches_the_library() {
    let s = Scratch::new("abi");
    let exe = s.0.join("abi_check");
    compile("abi_check.c", &exe, true);
    let o = run(&exe, &[]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let got: std::collections::HashMap<&str, i64> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.parse().ok()?))
        })
        .collect();
    let conf_fields = [
        ("off_num_cores", offset_of!(MtcpConfC, num_cores)),
        (
            "off_max_concurrency",
            offset_of!(MtcpConfC, max_concurrency),
        ),
        (
            "off_max_num_buffers",
            offset_of!(MtcpConfC, max_num_buffers),
        ),
        ("off_rcvbuf_size", offset_of!(MtcpConfC, rcvbuf_size)),
        ("off_sndbuf_size", offset_of!(MtcpConfC, sndbuf_size)),
        ("off_tcp_timewait", offset_of!(MtcpConfC, tcp_timewait)),
        ("off_tcp_timeout", offset_of!(MtcpConfC, tcp_timeout)),
    ];
    let mut want: Vec<(&str, i64)> = vec![
        ("sizeof_mtcp_conf", size_of::<MtcpConfC>() as i64),
        ("sizeof_epoll_event", size_of::<EpollEvent>() as i64),
        ("alignof_epoll_event", align_of::<EpollEvent>() as i64),
        ("off_events", offset_of!(EpollEvent, events) as i64),
        ("off_data", offset_of!(EpollEvent, data) as i64),
        ("sizeof_epoll_data", 8),
        ("sizeof_mctx_t", size_of::<usize>() as i64),
        ("off_cpu", 0),
        ("MTCP_EPOLL_CTL_ADD", EPOLL_CTL_ADD.into()),
        ("MTCP_EPOLL_CTL_DEL", EPOLL_CTL_DEL.into()),
        ("MTCP_EPOLL_CTL_MOD", EPOLL_CTL_MOD.into()),
        ("MTCP_EPOLLNONE", events::NONE.into()),
        ("MTCP_EPOLLIN", events::IN.into()),
        ("MTCP_EPOLLPRI", events::PRI.into()),
        ("MTCP_EPOLLOUT", events::OUT.into()),
        ("MTCP_EPOLLERR", events::ERR.into()),
        ("MTCP_EPOLLHUP", events::HUP.into()),
        ("MTCP_EPOLLRDNORM", events::RDNORM.into()),
        ("MTCP_EPOLLRDBAND", events::RDBAND.into()),
        ("MTCP_EPOLLWRNORM", events::WRNORM.into()),
        ("MTCP_EPOLLWRBAND", events::WRBAND.into()),
        ("MTCP_EPOLLMSG", events::MSG.into()),
        ("MTCP_EPOLLRDHUP", events::RDHUP.into()),
        ("MTCP_EPOLLONESHOT", events::ONESHOT.into()),
        ("MTCP_EPOLLET", events::ET.into()),
        ("MTCP_SOCK_UNUSED", SockType::Unused as i64),
        ("MTCP_SOCK_STREAM", SockType::Stream as i64),
        ("MTCP_SOCK_PROXY", SockType::Proxy as i64),
        ("MTCP_SOCK_LISTENER", SockType::Listener as i64),
        ("MTCP_SOCK_EPOLL", SockType::Epoll as i64),
        ("MTCP_SOCK_PIPE", SockType::Pipe as i64),
        ("INPORT_ANY", 0),
        ("ev_bytes_events", (events::IN | events::ET).into()),
        ("ev_bytes_data", 0x1122_3344_5566_7788),
        ("functions_linked", 33),
    ];
    want.extend(conf_fields.iter().map(|(k, v)| (*k, *v as i64)));
    // mtcp-api.md's facts, independent of the Rust definitions above.
    want.extend([
        ("sizeof_mtcp_conf", 28),
        ("sizeof_epoll_event", 16),
        ("off_data", 8),
    ]);
    for (k, v) in want {
        assert_eq!(got.get(k), Some(&v), "{k}");
    }
}

#[test]
fn errno_from_c() {
    let s = Scratch::new("errno");
    let conf = write_conf(&s.0, 1, "rtc");
    let exe = s.0.join("errno_check");
    compile("errno_check.c", &exe, false);
    let o = run(&exe, &[conf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("FAIL"), "failed checks:\n{text}");
    assert!(text.contains("failures: 0"), "did not finish:\n{text}");
    assert!(text.lines().filter(|l| l.starts_with("ok ")).count() > 80);
    assert!(o.status.success());
}

fn echo(name: &str, cores: usize, run_mode: &str, conns: usize, bytes: usize) {
    let s = Scratch::new(name);
    // The file says one core; the program asks for `cores` with mtcp_setconf before mtcp_init.
    let conf = write_conf(&s.0, 1, run_mode);
    let exe = s.0.join("echo");
    compile("echo.c", &exe, false);
    let o = run(
        &exe,
        &[
            conf.to_str().unwrap(),
            &cores.to_string(),
            &conns.to_string(),
            &bytes.to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    for core in 0..cores {
        let line = format!("[CPU {core}] Completed {conns} connections, errors: 0");
        assert!(text.contains(&line), "missing `{line}` in:\n{text}");
    }
    assert!(o.status.success());
}

#[test]
fn c_echo_two_cores_run_to_completion() {
    echo("echo-rtc", 2, "rtc", 16, 3000);
}

#[test]
fn c_echo_one_core_large_transfers() {
    echo("echo-big", 1, "rtc", 4, 200_000);
}

#[test]
fn c_echo_two_cores_threaded() {
    echo("echo-thr", 2, "threaded", 8, 5000);
}

/// mTCP's Toeplitz hash written out independently of the library: the values' bits from the
/// most significant down, under the key 0x05 repeated.
fn mtcp_rss_hash(sip: u32, dip: u32, sp: u16, dp: u16) -> u32 {
    let mut input = Vec::with_capacity(12);
    input.extend_from_slice(&sip.to_be_bytes());
    input.extend_from_slice(&dip.to_be_bytes());
    input.extend_from_slice(&sp.to_be_bytes());
    input.extend_from_slice(&dp.to_be_bytes());
    mtcp_wire::rss::toeplitz(&[0x05; 40], &input)
}

#[test]
fn util_helpers_from_c_match_rust() {
    let s = Scratch::new("util");
    let exe = s.0.join("util_check");
    compile("util_check.c", &exe, true);
    let o = run(&exe, &[]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let (mut hashes, mut cores) = (0, 0);
    for line in text.lines() {
        let mut f = line.split(' ');
        let key = f.next().unwrap();
        let v: Vec<i64> = f.map(|x| x.parse().unwrap()).collect();
        match key {
            // SAFETY: sysconf only reads a system value.
            "cpus" => assert_eq!(v[0], unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }),
            "hash" => {
                let want = mtcp_rss_hash(v[0] as u32, v[1] as u32, v[2] as u16, v[3] as u16);
                assert_eq!(v[4], i64::from(want), "{line}");
                assert_eq!(
                    mtcp::util::rss_hash(v[0] as u32, v[1] as u32, v[2] as u16, v[3] as u16),
                    want
                );
                hashes += 1;
            }
            "core" => {
                // mTCP: masked = hash & 0x7f; masked += {3, 1, -1, -3}[masked & 3]; % n.
                let m = mtcp_rss_hash(v[0] as u32, v[1] as u32, v[2] as u16, v[3] as u16) & 0x7f;
                let off = [3i64, 1, -1, -3][(m & 3) as usize];
                assert_eq!(v[5], (i64::from(m) + off) % v[4], "{line}");
                cores += 1;
            }
            "zero_queues" | "affinitize_bad" => assert_eq!(v, [-1, 1], "{line}"),
            "affinitize_0" => assert_eq!(v, [0], "{line}"),
            _ => panic!("unexpected line {line}"),
        }
    }
    assert_eq!((hashes, cores), (12, 96));
}

#[test]
fn socket_ids_come_from_a_fifo_free_list() {
    let s = Scratch::new("ids");
    let conf = write_conf(&s.0, 1, "rtc");
    let exe = s.0.join("ids_check");
    compile("ids_check.c", &exe, false);
    let o = run(&exe, &[conf.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    // Ids 0 and 1; closing 0 does not make it the next id (mTCP's free_smap): 2 comes first.
    assert!(text.contains("first 0 1 2\n"), "{text}");
    assert!(!text.contains("unexpected"), "{text}");
    // max_concurrency = 1000 ids: after 3..999, the freed ones in the order freed: 0, 2, 1.
    assert!(text.contains("reused 0 2 1\n"), "{text}");
    assert!(text.contains("full -1\n"), "{text}");
}

/// Runs the C program `src` (statically linked) against the two-port mem config with IPv6 on
/// both ports (static neighbours: each context answers only its own queue; the client's traffic
/// to the server leaves by mem1), and checks that it succeeds and printed every line of `expect`.
fn ipv6_program(src: &str, expect: &[&str]) {
    let name = src.trim_end_matches(".c");
    let s = Scratch::new(name);
    let conf = write_conf(&s.0, 1, "rtc");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(
        "mem0.ip6 = 2001:2::1/64\nmem1.ip6 = 2001:2::2/64\nmem1.route6 = 2001:2::1/128\n\
         mem0.nd6 = 2001:2::2 02:00:00:00:00:02\nmem1.nd6 = 2001:2::1 02:00:00:00:00:01\n",
    );
    std::fs::write(&conf, text).unwrap();
    let exe = s.0.join(name);
    compile(src, &exe, false);
    let o = run(&exe, &[conf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    println!("{text}");
    assert!(o.status.success(), "{text}");
    for line in expect {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

/// AF_INET6 from C: a dual-stack listener takes an IPv6 and an IPv4 client (the latter as
/// `::ffff:198.18.0.2` in a `sockaddr_in6`), names come back as `sockaddr_in6`, bytes arrive.
#[test]
fn dual_stack_listener_from_c() {
    ipv6_program(
        "dual_stack_check.c",
        &[
            "accepted AF_INET6 2001:2::2\n",
            "accepted AF_INET6 ::ffff:198.18.0.2\n",
            "client6 name AF_INET6 2001:2::2\n",
            "client4 peer AF_INET 198.18.0.1\n",
            "read six\n",
            "read four\n",
            "done 2 2\n",
        ],
    );
}

/// Two listeners on one port from C, as on Linux: `0.0.0.0:7` and `[::]:7` with IPV6_V6ONLY,
/// each accepting its own family's client (a `sockaddr_in` from the first); a dual-stack `[::]:7`
/// beside them gets EADDRINUSE.
#[test]
fn ipv4_and_v6only_listeners_share_a_port_from_c() {
    ipv6_program(
        "two_listeners_check.c",
        &[
            "dual stack beside them: EADDRINUSE\n",
            "l4 accepted AF_INET 198.18.0.2\n",
            "l6 accepted AF_INET6 2001:2::2\n",
            "l4 read four\n",
            "l6 read six\n",
            "done 2 2\n",
        ],
    );
}

/// A child process (in a namespace) killed on drop, so a failed assertion leaves nothing running.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `stream` line by line until one contains `marker` (bounded by the stream's end).
fn wait_for_line(stream: impl std::io::Read, marker: &str) -> String {
    use std::io::BufRead;
    let mut seen = String::new();
    for line in std::io::BufReader::new(stream).lines() {
        let line = line.unwrap_or_default();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            break;
        }
    }
    seen
}

/// tcpdump recording TCP port 80 on one interface of a namespace into a pcap file, bounded in
/// count (and killed on drop).
struct Capture {
    child: Child,
    /// tcpdump's stderr, kept open until it ends: its exit statistics go there.
    _err: std::process::ChildStderr,
    pcap: PathBuf,
}

impl Capture {
    /// Starts tcpdump and waits until it captures. `--immediate-mode` and `-U` write every frame
    /// as it comes (libpcap's ring otherwise hands frames over in blocks, after a timeout).
    fn start(ns: &mtcp_testkit::Netns, ifname: &str, pcap: PathBuf) -> Capture {
        let mut child = Child(
            Command::new("ip")
                .args(["netns", "exec", ns.name(), "tcpdump", "-i", ifname])
                .args(["-U", "--immediate-mode", "-n", "-c", "400", "-w"])
                .arg(&pcap)
                .args(["tcp", "port", "80"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start tcpdump"),
        );
        let mut err = child.0.stderr.take().unwrap();
        let started = wait_for_line(&mut err, "listening on");
        assert!(started.contains("listening on"), "tcpdump: {started}");
        Capture {
            child,
            _err: err,
            pcap,
        }
    }

    /// Stops the capture (SIGINT: tcpdump closes the file) and returns `tcpdump -r`'s lines
    /// for the frames that `filter` selects.
    fn finish(mut self, filter: &[&str]) -> String {
        let pid = libc::pid_t::try_from(self.child.0.id()).expect("pid");
        // SAFETY: kill only sends a signal to the tcpdump child this Capture started.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let _ = self.child.0.wait();
        let read = Command::new("tcpdump")
            .arg("-r")
            .arg(&self.pcap)
            .args(["-n", "-S"])
            .args(filter)
            .output()
            .expect("tcpdump -r");
        assert!(
            read.status.success(),
            "tcpdump -r: {}",
            String::from_utf8_lossy(&read.stderr)
        );
        String::from_utf8_lossy(&read.stdout).into_owned()
    }
}

/// The payload lengths of the TCP segments in `tcpdump -n` lines that carry data.
fn data_segment_lengths(text: &str) -> Vec<usize> {
    text.lines()
        // "... Flags [P.], seq a:b, ack c, win w, options [...], length 61: HTTP: ..."
        .filter_map(|l| {
            let after = l.rsplit_once(", length ")?.1;
            let digits = after.split(|c: char| !c.is_ascii_digit()).next()?;
            digits.parse().ok()
        })
        .filter(|&n: &usize| n > 0)
        .collect()
}

const COALESCE_CONNS: usize = 3;
const COALESCE_REQUESTS: usize = 4;
/// `coalesce_server.c`'s header and body, as the peer must receive them.
const COALESCE_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\ncoalesced header+body\n";

/// The kernel's side: COALESCE_CONNS connections with COALESCE_REQUESTS keep-alive requests
/// each, every response read whole and checked before the next request.
fn kernel_requests(ns: &mtcp_testkit::Netns) {
    ns.run(|| -> std::io::Result<()> {
        use std::io::{Read, Write};
        for _ in 0..COALESCE_CONNS {
            let mut c = std::net::TcpStream::connect("198.18.0.2:80")?;
            c.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
            for _ in 0..COALESCE_REQUESTS {
                c.write_all(b"GET / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n")?;
                let mut resp = vec![0u8; COALESCE_RESPONSE.len()];
                c.read_exact(&mut resp)?;
                assert_eq!(resp, COALESCE_RESPONSE);
            }
        }
        Ok(())
    })
    .expect("peer thread")
    .expect("requests answered");
}

/// Issue 12: epserver writes the HTTP header and then the body in one event-loop turn, and mTCP
/// sends what one turn wrote together. `tests/c/coalesce_server.c` does the two `mtcp_write`s
/// (AF_PACKET on a veth in a namespace); the Linux kernel sends keep-alive requests, tcpdump
/// records the frames, and every response must be ONE data segment from the server carrying
/// header and body. With a flush after each write, the segments are 39 and 22 bytes and this
/// fails.
fn header_and_body_leave_in_one_segment(run_mode: &str) {
    let name = format!("c_header_and_body_leave_in_one_segment_{run_mode}");
    mtcp_testkit::require_root(&name);
    for p in ["tcpdump", "ethtool"] {
        assert!(mtcp_testkit::have_program(p), "{name} needs `{p}`");
    }
    let s = Scratch::new(&format!("coalesce-{run_mode}"));
    let exe = s.0.join("coalesce_server");
    compile("coalesce_server.c", &exe, true);

    let ns = mtcp_testkit::Netns::new(&mtcp_testkit::unique_name("coal")).expect("netns");
    let (ours, kernel_if) = ns.veth_pair("ca", "cb").expect("veth");
    ns.disable_offloads(&ours).expect("offloads");
    ns.disable_offloads(&kernel_if).expect("offloads");
    ns.exec_ok(&["ip", "addr", "add", "198.18.0.1/24", "dev", &kernel_if])
        .expect("addr");
    let conf = s.0.join("mtcp.conf");
    std::fs::write(
        &conf,
        format!(
            "io = afpacket\nnum_cores = 1\nport = {ours}\n{ours}.ip = 198.18.0.2/24\n\
             max_concurrency = 100\ntcp_timewait = 0\ndrain_timeout_ms = 500\n\
             run_mode = {run_mode}\n"
        ),
    )
    .unwrap();
    let capture = Capture::start(&ns, &kernel_if, s.0.join("frames.pcap"));

    let mut server = Child(
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(&exe)
            .arg(&conf)
            .arg(COALESCE_CONNS.to_string())
            .env_remove("LD_LIBRARY_PATH")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start coalesce_server"),
    );
    let mut out = server.0.stdout.take().unwrap();
    let head = wait_for_line(&mut out, "listening");
    let lens: Vec<usize> = head
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(lens.len(), 2, "server did not start:\n{head}");
    assert_eq!(lens[0] + lens[1], COALESCE_RESPONSE.len(), "{head}");

    kernel_requests(&ns);

    // The server exits by itself once the peer closed every connection (within 20 s).
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = server.0.wait().expect("server exit");
    let requests = COALESCE_CONNS * COALESCE_REQUESTS;
    let summary = format!("closed {COALESCE_CONNS} requests {requests} errors 0");
    assert!(rest.contains(&summary), "{rest}");
    assert!(status.success(), "server: {status:?}\n{rest}");

    let text = capture.finish(&["src", "host", "198.18.0.2"]);
    assert_eq!(
        data_segment_lengths(&text),
        vec![COALESCE_RESPONSE.len(); requests],
        "the server's data segments (header {} + body {} bytes each):\n{text}",
        lens[0],
        lens[1]
    );
}

#[test]
#[ignore = "needs root: a network namespace, a veth and tcpdump"]
fn c_header_and_body_leave_in_one_segment_run_to_completion() {
    header_and_body_leave_in_one_segment("rtc");
}

#[test]
#[ignore = "needs root: a network namespace, a veth and tcpdump"]
fn c_header_and_body_leave_in_one_segment_threaded() {
    header_and_body_leave_in_one_segment("threaded");
}
