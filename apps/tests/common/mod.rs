//! Shared by the app tests: a namespace with a link to our stack (TAP or AF_PACKET over a veth),
//! an mtcp.conf for it, and app processes run inside the namespace that are killed on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

pub use mtcp_testkit::{Netns, have_program, require_root, unique_name};

/// The kernel's address in the namespace.
pub const KERNEL_IP: &str = "198.18.0.1";
/// Our stack's address.
pub const OUR_IP: &str = "198.18.0.2";
/// The kernel's IPv6 address (after [`Env::enable_ipv6`]), from the benchmarking range
/// 2001:2::/48.
pub const KERNEL_IP6: &str = "2001:2::1";
/// Our stack's IPv6 address (after [`Env::enable_ipv6`]).
pub const OUR_IP6: &str = "2001:2::2";

/// Which backend our side uses.
#[derive(Clone, Copy, Debug)]
pub enum Link {
    /// A TAP in the namespace; the kernel side is the TAP interface.
    Tap,
    /// AF_PACKET on one end of a veth pair; the kernel has the other end.
    AfPacket,
    /// AF_XDP on one end of a veth pair (a queue per core); the kernel has the other end.
    AfXdp,
}

/// A namespace, a link, a scratch directory and an mtcp.conf for our side.
pub struct Env {
    /// The namespace (deleted on drop, with its interfaces).
    pub ns: Netns,
    /// Scratch directory (removed on drop).
    pub dir: PathBuf,
    /// mtcp.conf for our side.
    pub conf: PathBuf,
    /// The kernel's interface.
    pub kernel_if: String,
    /// Our side's port (interface) name.
    pub ours: String,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Env {
    /// Sets up `link` with `extra` lines appended to mtcp.conf.
    pub fn new(tag: &str, link: Link, extra: &str) -> Env {
        Env::with_cores(tag, link, 1, extra)
    }

    /// [`Env::new`] with `num_cores = cores` (a queue per core on our side).
    pub fn with_cores(tag: &str, link: Link, cores: usize, extra: &str) -> Env {
        let ns = Netns::new(&unique_name(tag)).expect("netns");
        let (ours, kernel_if) = match link {
            Link::Tap => {
                let name = unique_name("tp");
                let mut cmd = vec!["ip", "tuntap", "add", "dev", &name, "mode", "tap"];
                if cores > 1 {
                    // A queue per core (IFF_MULTI_QUEUE).
                    cmd.push("multi_queue");
                }
                ns.exec_ok(&cmd).expect("tuntap");
                ns.exec_ok(&["ip", "link", "set", &name, "up"]).expect("up");
                (name.clone(), name)
            }
            Link::AfPacket => {
                let (a, b) = ns.veth_pair("va", "vb").expect("veth");
                ns.disable_offloads(&a).expect("offloads");
                ns.disable_offloads(&b).expect("offloads");
                (a, b)
            }
            Link::AfXdp => {
                let (a, b) = (unique_name("xa"), unique_name("xb"));
                let q = cores.to_string();
                ns.exec_ok(&[
                    "ip",
                    "link",
                    "add",
                    &a,
                    "numrxqueues",
                    &q,
                    "numtxqueues",
                    &q,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &b,
                    "numrxqueues",
                    &q,
                    "numtxqueues",
                    &q,
                ])
                .expect("veth");
                for dev in [&a, &b] {
                    ns.exec_ok(&["ip", "link", "set", dev, "up"]).expect("up");
                    ns.disable_offloads(dev).expect("offloads");
                }
                (a, b)
            }
        };
        ns.exec_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{KERNEL_IP}/24"),
            "dev",
            &kernel_if,
        ])
        .expect("addr");
        let dir = std::env::temp_dir().join(unique_name("mtcpapp"));
        std::fs::create_dir_all(&dir).expect("tempdir");
        let io = match link {
            Link::Tap => "tap",
            Link::AfPacket => "afpacket",
            Link::AfXdp => "afxdp",
        };
        let conf = dir.join("mtcp.conf");
        std::fs::write(
            &conf,
            format!(
                "io = {io}\nnum_cores = {cores}\nport = {ours}\n{ours}.ip = {OUR_IP}/24\n\
                 max_concurrency = 10000\nrcvbuf = 262144\nsndbuf = 262144\ntcp_timewait = 1\n{extra}"
            ),
        )
        .expect("conf");
        Env {
            ns,
            dir,
            conf,
            kernel_if,
            ours,
        }
    }

    /// Gives both sides an IPv6 address too: the kernel [`KERNEL_IP6`] (`nodad`: usable at once,
    /// no duplicate address detection), ours [`OUR_IP6`] (`<port>.ip6` in mtcp.conf).
    pub fn enable_ipv6(&self) {
        let k = &self.kernel_if;
        // `Netns::new` disabled IPv6; loopback needs it too (the kernel's own servers are
        // probed from inside the namespace).
        for key in ["all", "lo", k] {
            self.ns
                .exec_ok(&[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=0"),
                ])
                .expect("sysctl");
        }
        self.ns
            .exec_ok(&[
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{KERNEL_IP6}/64"),
                "dev",
                k,
                "nodad",
            ])
            .expect("ipv6 addr");
        let mut text = std::fs::read_to_string(&self.conf).expect("conf");
        text.push_str(&format!("{}.ip6 = {OUR_IP6}/64\n", self.ours));
        std::fs::write(&self.conf, text).expect("conf");
    }

    /// The conf path as text.
    pub fn conf(&self) -> &str {
        self.conf.to_str().expect("utf-8 path")
    }

    /// Runs `args` in the namespace to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ns.exec(args).expect("exec")
    }

    /// Runs `args` in the namespace; asserts it exits 0 and prints `want`. Its stderr (the
    /// stack's startup log).
    pub fn run_ok(&self, args: &[&str], want: &str) -> String {
        let out = self.run(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        println!("{}", text.trim());
        let log = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success() && text.contains(want),
            "{args:?}: {text}\n{log}"
        );
        log
    }

    /// mtcp-perf both ways against the kernel, `send` and `recv` bytes each time, every byte
    /// verified: our client against the kernel's server on `kernel_listen` port 5001 (reached as
    /// `kernel`), then our server on `ours_listen` (reached as `ours`) against a kernel client.
    /// Addresses as in [`Env::echo_both_ways`].
    pub fn perf_both_ways(
        &self,
        (ours_listen, ours): (&str, &str),
        (kernel_listen, kernel): (&str, &str),
        (send, recv): (&str, &str),
    ) {
        let perf = env!("CARGO_BIN_EXE_mtcp-perf");
        let server = self.spawn(perf, &["server", "--kernel", "-a", kernel_listen, "--once"]);
        server.wait_for("kernel server", 20);
        let target = format!("{kernel}:5001");
        let conf = self.conf();
        let ours_client = [
            perf, "client", &target, "-f", conf, "--send", send, "--recv", recv,
        ];
        self.run_ok(&ours_client, "verified");
        let (ok, lines) = server.finish(60);
        assert!(
            ok && lines.iter().any(|l| l.contains("verified")),
            "kernel server: {lines:?}"
        );
        let server = self.spawn(perf, &["server", "-f", conf, "-a", ours_listen, "--once"]);
        server.wait_for("server on", 20);
        let target = format!("{ours}:5001");
        let kernel_client = [
            perf, "client", &target, "--kernel", "--send", send, "--recv", recv,
        ];
        self.run_ok(&kernel_client, "verified");
        let (ok, lines) = server.finish(60);
        assert!(
            ok && lines.iter().any(|l| l.contains("verified")),
            "our server: {lines:?}"
        );
    }

    /// mtcp-echo both ways against the kernel: our server on `[ours]:7` (listening on
    /// `ours_listen`) with a kernel client, then the kernel's server on `kernel_listen` port
    /// 7007 with our client to `kernel`:7007; each with "errors 0". `ours` and `kernel` are
    /// addresses as a client names them (`198.18.0.2`, `[2001:2::2]`). Our client's startup log.
    pub fn echo_both_ways(
        &self,
        (ours_listen, ours): (&str, &str),
        (kernel_listen, kernel): (&str, &str),
    ) -> String {
        let echo = env!("CARGO_BIN_EXE_mtcp-echo");
        let server = self.spawn(
            echo,
            &["server", "-f", self.conf(), "-a", ours_listen, "-p", "7"],
        );
        server.wait_for("server on", 20);
        let target = format!("{ours}:7");
        self.run_ok(
            &[
                echo, "client", &target, "--kernel", "-n", "8", "-m", "300", "-t", "1",
            ],
            "errors 0",
        );
        drop(server);
        let server = self.spawn(
            echo,
            &["server", "--kernel", "-a", kernel_listen, "-p", "7007"],
        );
        server.wait_for("kernel server", 20);
        let target = format!("{kernel}:7007");
        self.run_ok(
            &[
                echo,
                "client",
                &target,
                "-f",
                self.conf(),
                "-n",
                "8",
                "-m",
                "3000",
                "-t",
                "1",
            ],
            "errors 0",
        )
    }

    /// Starts `program args` in the namespace; its stdout lines arrive on the returned channel.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Proc {
        spawn_in(&self.ns, program, args)
    }

    /// Writes a web root under the scratch directory: each `(name, bytes, seed)` becomes a file
    /// of `mtcp_apps::http::test_content(bytes, seed)`.
    pub fn site(&self, files: &[(&str, usize, u8)]) -> std::path::PathBuf {
        let www = self.dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        for &(name, bytes, seed) in files {
            std::fs::write(www.join(name), mtcp_apps::http::test_content(bytes, seed)).unwrap();
        }
        www
    }

    /// Polls `url` with the kernel's curl (inside the namespace) until it answers, up to 10 s.
    pub fn wait_http(&self, url: &str) {
        for _ in 0..100 {
            let out = self.run(&["curl", "-s", "-m", "1", "-o", "/dev/null", url]);
            if out.status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{url} never answered");
    }

    /// Starts nginx (one worker, everything under the scratch directory) on the kernel's side,
    /// listening on `listen` (`198.18.0.2:80`, `[2001:2::2]:8080`) with `www` as its root.
    pub fn nginx(&self, listen: &str, www: &std::path::Path) -> Proc {
        let d = self.dir.display();
        let conf = self.dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};\n\
                 uwsgi_temp_path {d}; scgi_temp_path {d};\n\
                 server {{ listen {listen}; root {}; }} }}\n",
                www.display()
            ),
        )
        .unwrap();
        let dir = self.dir.to_str().unwrap();
        self.spawn("nginx", &["-c", conf.to_str().unwrap(), "-p", dir])
    }

    /// Fetches `url` with the kernel's wget (one try, 30 s) into the scratch directory and checks
    /// the bytes are those of `expected`.
    pub fn wget_verified(&self, url: &str, expected: &std::path::Path) {
        let got = self.dir.join("wget.out");
        let out = self.run(&[
            "wget",
            "-q",
            "-T",
            "30",
            "-t",
            "1",
            "-O",
            got.to_str().unwrap(),
            url,
        ]);
        assert!(
            out.status.success(),
            "wget: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256(&got), sha256(expected), "wget {url}");
    }

    /// Starts `python3 -m http.server` on the kernel's side (`KERNEL_IP:port`) serving `www`,
    /// and waits until it answers for `probe` (a path under `www`).
    pub fn python_http_server(&self, www: &std::path::Path, port: u16, probe: &str) -> Proc {
        let port_text = port.to_string();
        let proc = self.spawn(
            "python3",
            &[
                "-m",
                "http.server",
                &port_text,
                "--bind",
                KERNEL_IP,
                "--directory",
                www.to_str().unwrap(),
            ],
        );
        self.wait_http(&format!("http://{KERNEL_IP}:{port}/{probe}"));
        proc
    }
}

/// Starts `program args` in namespace `ns`; its stdout lines arrive on the returned channel.
pub fn spawn_in(ns: &Netns, program: &str, args: &[&str]) -> Proc {
    {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), program])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let (tx, rx) = channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("  | {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines: rx }
    }
}

/// A process inside the namespace; SIGTERM then SIGKILL on drop.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Its stdout, line by line.
    pub lines: Receiver<String>,
}

impl Proc {
    /// Waits for a line containing `text`; panics after `secs`.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(text) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line with `{text}` within {secs} s"),
            }
        }
    }

    /// Waits for the process to exit (at most `secs`); its status and remaining lines.
    pub fn finish(mut self, secs: u64) -> (bool, Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "did not exit within {secs} s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status.success(), self.lines.try_iter().collect())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            for _ in 0..40 {
                if self.child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Asserts (panics with the reason otherwise) that the process is root and that every program in
/// `programs` exists; the tests calling it are `#[ignore = "needs root: ..."]`.
pub fn can_run(test: &str, programs: &[&str]) {
    require_root(test);
    for p in programs {
        assert!(
            have_program(p),
            "{test} needs `{p}`: scripts/test-all installs it"
        );
    }
}

/// Runs `ab` in `env`'s peer namespace against `url` (`n` requests, `c` at a time, keep-alive
/// or not) and asserts that every request completed with a 2xx answer.
pub fn ab_no_failures(env: &Env, url: &str, n: u32, c: u32, keep_alive: bool) {
    let k = if keep_alive { "-k " } else { "" };
    let cmd = format!("ulimit -n 8192; ab -q -r -s 30 -n {n} -c {c} {k}{url}");
    let out = env.run(&["sh", "-c", &cmd]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("ab -n {n} -c {c} -k={keep_alive}:\n{text}");
    assert!(
        out.status.success(),
        "ab failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("Complete requests:      {n}")),
        "{text}"
    );
    assert!(text.contains("Failed requests:        0"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
}

/// SHA-256 of a file, by `sha256sum`.
pub fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}
