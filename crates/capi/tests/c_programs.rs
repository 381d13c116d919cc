//! C programs compiled against `include/*.h` and linked with the built `libmtcp`: the header
//! ABI, errno from C, and an mTCP-style epoll echo server + client over the in-memory backend.

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
