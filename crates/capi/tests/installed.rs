//! libmtcp installed like a C library (`scripts/install-libmtcp` into a temporary prefix), and
//! a C program in mTCP's style (`tests/c/installed`: its own Makefile, `-Wall -Werror`, flags
//! from `pkg-config mtcp`) built against the installed files and run over AF_PACKET inside a
//! network namespace, serving the Linux kernel's curl. mtcp.conf says `num_cores = 2`; the
//! program asks for one core with `mtcp_setconf` (epserver's `-N 1`), which must override the
//! file: with two cores on AF_PACKET half of the flows would go to a core that nobody runs.
//! Needs root (namespaces), `make`, `pkg-config`, `curl`, `ethtool`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mtcp_testkit::{Netns, have_program, require_root, unique_name};

/// Where cargo put the freshly built `libmtcp.so`/`.a` (as in `c_programs.rs`).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let profile = deps.parent().map(Path::to_path_buf);
    std::iter::once(deps.clone())
        .chain(profile)
        .find(|d| d.join("libmtcp.a").exists() && d.join("libmtcp.so").exists())
        .unwrap_or_else(|| panic!("libmtcp not found near {}", deps.display()))
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server process: killed on drop, so a failed assertion leaves nothing running.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what} failed:\n{text}");
    text
}

const CONNECTIONS: usize = 20;

#[test]
#[ignore = "needs root: a network namespace, veth and AF_PACKET"]
fn installed_library_builds_and_serves_an_mtcp_style_program() {
    let name = "installed_library_builds_and_serves_an_mtcp_style_program";
    require_root(name);
    for p in ["make", "pkg-config", "curl", "ethtool"] {
        assert!(
            have_program(p),
            "{name} needs `{p}`: scripts/test-all installs it"
        );
    }
    let dir = Scratch(std::env::temp_dir().join(unique_name("mtcpinst")));
    std::fs::create_dir_all(&dir.0).unwrap();
    let prefix = dir.0.join("prefix");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");

    // 1. Install into the temporary prefix.
    ok(
        Command::new(root.join("scripts/install-libmtcp"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--from")
            .arg(lib_dir()),
        "install-libmtcp",
    );
    for f in [
        "lib/libmtcp.so",
        "lib/libmtcp.a",
        "lib/pkgconfig/mtcp.pc",
        "include/mtcp/mtcp_api.h",
        "include/mtcp/mtcp_epoll.h",
        "include/mtcp/cpu.h",
        "include/mtcp/rss.h",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }

    // 2. Build the program with its own Makefile, the library found through pkg-config only.
    let src = dir.0.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in ["Makefile", "webserver.c"] {
        std::fs::copy(manifest.join("tests/c/installed").join(f), src.join(f)).unwrap();
    }
    let build = ok(
        Command::new("make")
            .arg("-C")
            .arg(&src)
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .env_remove("LIBRARY_PATH")
            .env_remove("C_INCLUDE_PATH"),
        "make",
    );
    assert!(build.contains("-Wall -Werror"), "{build}");
    assert!(build.contains(&format!("-I{}", prefix.join("include/mtcp").display())));

    // 3. A namespace with a veth pair: the kernel on one end, our stack (AF_PACKET) on the other.
    let ns = Netns::new(&unique_name("inst")).expect("netns");
    let (ours, kernel_if) = ns.veth_pair("ia", "ib").expect("veth");
    ns.disable_offloads(&ours).expect("offloads");
    ns.disable_offloads(&kernel_if).expect("offloads");
    ns.exec_ok(&["ip", "addr", "add", "198.18.0.1/24", "dev", &kernel_if])
        .expect("addr");
    let conf = dir.0.join("mtcp.conf");
    std::fs::write(
        &conf,
        format!(
            "io = afpacket\nnum_cores = 2\nport = {ours}\n{ours}.ip = 198.18.0.2/24\n\
             max_concurrency = 1000\ntcp_timewait = 0\ndrain_timeout_ms = 500\n"
        ),
    )
    .unwrap();

    // 4. Run it with one core (-N 1 overrides the file's 2) and serve the kernel's curl.
    let lib = prefix.join("lib");
    let mut server = Server(
        Command::new("ip")
            .args(["netns", "exec", ns.name(), "env"])
            .arg(format!("LD_LIBRARY_PATH={}", lib.display()))
            .arg(src.join("webserver"))
            .arg("-f")
            .arg(&conf)
            .args(["-N", "1", "-n", &CONNECTIONS.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start webserver"),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut head = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        head.push_str(&line);
        head.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    assert!(
        head.contains("num_cores 1 "),
        "mtcp_setconf ignored:\n{head}"
    );
    assert!(head.contains("listening"), "server did not start:\n{head}");
    let url = format!("http://198.18.0.2/[1-{CONNECTIONS}]");
    let out = ns
        .exec(&[
            "curl",
            "-s",
            "-m",
            "3",
            "--retry",
            "0",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\n",
            &url,
        ])
        .expect("curl");
    let codes = String::from_utf8_lossy(&out.stdout).to_string();
    let good = codes.lines().filter(|l| *l == "200").count();

    // 5. The server exits by itself after CONNECTIONS (bounded wait; killed otherwise).
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        drop(server);
    }
    let tail: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(good, CONNECTIONS, "curl status codes:\n{codes}");
    assert!(
        tail.iter().any(|l| *l == format!("served {CONNECTIONS}")),
        "{tail:?}"
    );
    assert!(status.is_some_and(|s| s.success()), "server: {status:?}");
}
