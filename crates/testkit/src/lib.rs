//! Shared helpers for tests that talk to the Linux kernel: network namespaces that clean up after
//! themselves, veth pairs, running code inside a namespace, and unique names.
//!
//! ```text
//!   test  ──►  mtcp-testkit ──► `ip netns add/exec/del`, setns(2)
//!    │                             │
//!    └── our stack (TAP / AF_PACKET) ◄──► Linux peer in the namespace (198.18.0.0/15 only)
//! ```
//!
//! Every test creates its own namespace with a unique name, and the [`Netns`] guard deletes it when it
//! goes out of scope, also when the test panics. Nothing here touches the root namespace's interfaces.
//!
//! ```no_run
//! use mtcp_testkit::{Netns, require_root, unique_name};
//!
//! require_root("example"); // panics with the reason unless root
//! let ns = Netns::new(&unique_name("ex")).unwrap();
//! let (a, b) = ns.veth_pair("exa", "exb").unwrap();
//! ns.exec_ok(&["ip", "addr", "add", "198.18.0.1/24", "dev", &b]).unwrap();
//! ns.exec_ok(&["ip", "link", "set", &a, "up"]).unwrap();
//! // Open a socket in the namespace from a dedicated thread.
//! let name = ns.run(|| std::fs::read_to_string("/proc/thread-self/net/dev")).unwrap().unwrap();
//! assert!(name.contains(&a));
//! ```

pub mod alloc;
pub mod attack;
pub mod responder;

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Errors from the helpers: a command that could not run or that failed.
#[derive(Debug)]
pub enum Error {
    /// The command could not be started (e.g. `ip` is missing).
    Spawn(String, io::Error),
    /// The command ran and failed.
    Failed {
        /// The command line.
        command: String,
        /// Its exit status and standard error.
        detail: String,
    },
    /// A system call failed.
    Sys(&'static str, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn(cmd, e) => write!(f, "cannot run `{cmd}`: {e}"),
            Error::Failed { command, detail } => write!(f, "`{command}` failed: {detail}"),
            Error::Sys(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// The result type of the helpers.
pub type Result<T> = std::result::Result<T, Error>;

/// Asserts that `test` can run: the process is root and the `ip` tool (iproute2) exists.
///
/// Tests that call this are marked `#[ignore = "needs root: ..."]`, so a run without root lists
/// them as ignored; a run with `--include-ignored` (as `scripts/test-all` does as root) runs them,
/// and one that cannot run fails here with the reason instead of passing silently.
///
/// # Panics
/// When not root or when `ip` is missing.
pub fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "{test} needs root (euid {euid}) to create network namespaces: run as root, or without \
         --include-ignored to list it as ignored"
    );
    assert!(
        Command::new("ip").arg("-V").output().is_ok(),
        "{test} needs the `ip` tool (iproute2): scripts/test-all installs it"
    );
}

/// True if `program` can be found and started (`program --version` or `-V` style probing is left to
/// the caller; this only checks `PATH`).
pub fn have_program(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A name unique within this machine for this run: `prefix`, then the process id and a per-process
/// counter in hex, cut to 15 characters (the kernel's interface name limit).
///
/// Keep `prefix` to 4 characters or fewer so that the unique part survives the cut.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("{prefix}{:x}x{n:x}", std::process::id());
    name.truncate(15);
    name
}

fn run(args: &[&str]) -> Result<Output> {
    let line = args.join(" ");
    let (program, rest) = args.split_first().ok_or_else(|| Error::Failed {
        command: String::new(),
        detail: "empty command".into(),
    })?;
    Command::new(program)
        .args(rest)
        .output()
        .map_err(|e| Error::Spawn(line, e))
}

fn run_ok(args: &[&str]) -> Result<Output> {
    let out = run(args)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Failed {
            command: args.join(" "),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// A network namespace that exists as long as this guard: `ip netns add` on creation, `ip netns del`
/// on drop (which also destroys the interfaces inside it).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up and IPv6 disabled (no router solicitations or
    /// MLD reports to disturb tests).
    pub fn new(name: &str) -> Result<Netns> {
        run_ok(&["ip", "netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"])?;
        for key in ["all", "default"] {
            let _ = ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
            ]);
        }
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `args` inside the namespace (`ip netns exec`), returning its output whatever its status.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs `args` inside the namespace and fails unless it exits successfully.
    pub fn exec_ok(&self, args: &[&str]) -> Result<Output> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run_ok(&full)
    }

    /// Creates a veth pair `a`–`b` inside the namespace (names get a unique suffix and are cut to 15
    /// characters), both ends up. Returns the actual names.
    pub fn veth_pair(&self, a: &str, b: &str) -> Result<(String, String)> {
        let a = unique_name(a);
        let b = unique_name(b);
        self.exec_ok(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b])?;
        self.exec_ok(&["ip", "link", "set", &a, "up"])?;
        self.exec_ok(&["ip", "link", "set", &b, "up"])?;
        Ok((a, b))
    }

    /// Turns off the offloads of interface `ifname` that make the kernel hand unfinished frames to a
    /// packet socket on the other end of a veth: segmentation (TSO/GSO: frames larger than the MTU),
    /// GRO, and transmit checksumming (checksums left for the "hardware"). Needs `ethtool`.
    pub fn disable_offloads(&self, ifname: &str) -> Result<()> {
        self.exec_ok(&[
            "ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", "tx", "off",
        ])?;
        Ok(())
    }

    /// Moves interface `ifname` from this namespace into `other`.
    pub fn move_link(&self, ifname: &str, other: &Netns) -> Result<()> {
        self.exec_ok(&["ip", "link", "set", ifname, "netns", other.name()])?;
        Ok(())
    }

    /// Runs `f` on a fresh thread that has entered this namespace with setns(2), and returns its
    /// result. File descriptors it opens (sockets, TAP devices) stay bound to the namespace after the
    /// thread ends, so this is how a test opens a backend inside a namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|e| Error::Sys("open namespace", e))?;
        let handle = std::thread::spawn(move || -> Result<T> {
            // SAFETY: `file` is an open namespace file; setns only changes this thread's namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(Error::Sys("setns", io::Error::last_os_error()));
            }
            Ok(f())
        });
        handle.join().map_err(|_| Error::Failed {
            command: "thread in namespace".into(),
            detail: "panicked".into(),
        })?
    }

    /// Spawns a long-running thread inside the namespace (see [`Netns::run`]).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<Result<T>>> {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|e| Error::Sys("open namespace", e))?;
        Ok(std::thread::spawn(move || -> Result<T> {
            // SAFETY: as in `run`.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(Error::Sys("setns", io::Error::last_os_error()));
            }
            Ok(f())
        }))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_ok(&["ip", "netns", "del", &self.name]) {
            eprintln!("warning: could not delete namespace {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_fit() {
        let a = unique_name("abcd");
        let b = unique_name("abcd");
        assert_ne!(a, b);
        assert!(a.len() <= 15 && b.len() <= 15);
    }

    #[test]
    #[ignore = "needs root: a network namespace"]
    fn namespace_lives_and_dies_with_guard() {
        require_root("namespace_lives_and_dies_with_guard");
        let name = unique_name("tk");
        {
            let ns = Netns::new(&name).unwrap();
            let (a, _b) = ns.veth_pair("tka", "tkb").unwrap();
            let links = ns.exec_ok(&["ip", "-o", "link"]).unwrap();
            assert!(String::from_utf8_lossy(&links.stdout).contains(&a));
            let dev = ns
                .run(|| std::fs::read_to_string("/proc/thread-self/net/dev"))
                .unwrap()
                .unwrap();
            assert!(
                dev.contains(&a),
                "thread did not enter the namespace: {dev}"
            );
            assert!(std::path::Path::new(&format!("/run/netns/{name}")).exists());
        }
        assert!(!std::path::Path::new(&format!("/run/netns/{name}")).exists());
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
