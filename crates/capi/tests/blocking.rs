//! mTCP's blocking calls (feature `blocking`): `tests/c/blocking_check.c` over AF_PACKET in a
//! network namespace, against the Linux kernel's sockets, in both run modes. The program says
//! what it waits for ("WAIT accept", "WAIT read", ...) and the peer acts only then, so each
//! call must block and wake; without the feature they return -1 with EAGAIN/EINPROGRESS and
//! the program fails. Needs root, `ethtool`.
//!
//! `cargo test -p mtcp-capi --features blocking --test blocking`

#![cfg(feature = "blocking")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use mtcp_testkit::{Netns, have_program, require_root, unique_name};

fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let profile = deps.parent().map(Path::to_path_buf);
    std::iter::once(deps.clone())
        .chain(profile)
        .find(|d| d.join("libmtcp.a").exists())
        .unwrap_or_else(|| panic!("libmtcp.a not found near {}", deps.display()))
}

struct Run {
    child: Child,
    lines: Receiver<String>,
    dir: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Run {
    /// The next line of the program; panics on a FAIL line or after 10 s.
    fn expect(&self, want: &str) {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no `{want}` from the program"));
        assert_eq!(line, want);
    }
}

const BULK: usize = 1 << 20;

fn blocking_calls(mode: &str) {
    let name = format!("blocking_calls_{mode}");
    require_root(&name);
    assert!(
        have_program("ethtool"),
        "{name} needs `ethtool`: scripts/test-all installs it"
    );
    let dir = std::env::temp_dir().join(unique_name("mtcpblk"));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("blocking_check");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&exe)
        .arg(manifest.join("tests/c/blocking_check.c"))
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(lib_dir().join("libmtcp.a"))
        .args(["-lxdp", "-lbpf", "-lpthread", "-ldl", "-lm"])
        .output()
        .expect("cc");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let ns = Netns::new(&unique_name("blk")).expect("netns");
    let (ours, kernel_if) = ns.veth_pair("ba", "bb").expect("veth");
    ns.disable_offloads(&ours).expect("offloads");
    ns.disable_offloads(&kernel_if).expect("offloads");
    ns.exec_ok(&["ip", "addr", "add", "198.18.0.1/24", "dev", &kernel_if])
        .expect("addr");
    let conf = dir.join("mtcp.conf");
    std::fs::write(
        &conf,
        format!(
            "io = afpacket\nnum_cores = 1\nport = {ours}\n{ours}.ip = 198.18.0.2/24\n\
             max_concurrency = 64\nsndbuf = 16384\nrcvbuf = 16384\ntcp_timewait = 0\n\
             run_mode = {mode}\ndrain_timeout_ms = 500\n"
        ),
    )
    .unwrap();
    let listener = ns
        .run(|| TcpListener::bind("198.18.0.1:9000"))
        .unwrap()
        .expect("kernel listener");

    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(&exe)
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start blocking_check");
    let out = child.stdout.take().unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("  | {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let run = Run { child, lines, dir };
    let timeout = Some(Duration::from_secs(10));

    run.expect("WAIT accept");
    let mut peer = ns
        .run(|| TcpStream::connect("198.18.0.2:80"))
        .unwrap()
        .expect("kernel connect");
    peer.set_read_timeout(timeout).unwrap();
    run.expect("OK accept");

    run.expect("WAIT read");
    peer.write_all(b"ping").unwrap();
    run.expect("OK read");

    run.expect("WAIT write");
    let mut got = vec![0u8; BULK];
    peer.read_exact(&mut got).unwrap();
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, b)| *b == (i as u32).wrapping_mul(7).wrapping_add(3) as u8),
        "bulk data differs"
    );
    run.expect("OK write");
    peer.shutdown(Shutdown::Write).unwrap();
    run.expect("OK eof");
    drop(peer);

    run.expect("WAIT connect");
    let (mut conn, _) = listener.accept().expect("kernel accept");
    conn.set_read_timeout(timeout).unwrap();
    let mut hi = [0u8; 2];
    conn.read_exact(&mut hi).unwrap();
    assert_eq!(&hi, b"hi");
    run.expect("OK connect");
    drop(conn);

    run.expect("OK refused");
    run.expect("OK nonblock");
    run.expect("DONE");
}

#[test]
fn blocking_calls_run_to_completion() {
    blocking_calls("rtc");
}

#[test]
fn blocking_calls_threaded() {
    blocking_calls("threaded");
}
