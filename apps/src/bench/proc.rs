//! Child processes of the bench: this binary re-executed (`--as ...`) inside a namespace, with
//! its output forwarded line by line, a deadline on every wait, and SIGTERM then SIGKILL on
//! drop so that no process outlives the bench. With [`set_verbose`] every line a child writes
//! to stderr (its per-second statistics, `MTCP_XDP_STATS`, warnings) is also shown on the bench's
//! own stderr as it arrives, tagged with the child's program name.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// This binary's path (children re-execute it with `--as`).
pub fn self_exe() -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Ok(exe.to_string_lossy().into_owned())
}

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Shows the stderr lines of children started from now on (`mtcp-bench --verbose`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// A running child: `ip netns exec <ns> <this binary> --as <app> <args>`.
pub struct Child {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    /// Everything it printed so far (stdout and `stderr: ` lines).
    pub said: Vec<String>,
    what: String,
}

/// Sends each line of `out` to `tx`, prefixed with `tag`; with `show`, also writes it to stderr.
fn forward(
    out: impl std::io::Read + Send + 'static,
    tag: &'static str,
    show: Option<String>,
    tx: mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(app) = &show {
                eprintln!("mtcp-bench: [{app}] {line}");
            }
            if tx.send(format!("{tag}{line}")).is_err() {
                break;
            }
        }
    });
}

impl Child {
    /// Starts `app args...` in namespace `ns`.
    pub fn spawn(ns: &str, app: &str, args: &[String]) -> Result<Child, String> {
        let exe = self_exe()?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, &exe, "--as", app])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{app}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            forward(out, "", None, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            let show = VERBOSE.load(Ordering::Relaxed).then(|| app.to_string());
            forward(err, "stderr: ", show, tx);
        }
        Ok(Child {
            child,
            lines,
            said: Vec::new(),
            what: format!("{app} {}", args.join(" ")),
        })
    }

    /// Waits at most `timeout` for a line containing `needle`; returns it.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.failure(&format!("no `{needle}` within {timeout:?}")));
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.said.push(line.clone());
                    if hit {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(self.failure(&format!("exited before `{needle}`")));
                }
            }
        }
    }

    /// Waits at most `timeout` for the child to exit; its exit status and all it printed.
    /// Kills it at the deadline.
    pub fn finish(mut self, timeout: Duration) -> Result<(bool, Vec<String>), String> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.said.push(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // The forwarding threads end at EOF, right after the exit: read until both
                // have hung up (a loaded machine may take a while to schedule them; a fixed
                // short wait lost a client's result line once), bounded by a grace period.
                let grace = Instant::now() + Duration::from_secs(10);
                while let Ok(line) = self
                    .lines
                    .recv_timeout(grace.saturating_duration_since(Instant::now()))
                {
                    self.said.push(line);
                }
                return Ok((status.success(), std::mem::take(&mut self.said)));
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("still running after {timeout:?}, killed")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The child's exit status once it has exited (without waiting), `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn failure(&self, why: &str) -> String {
        let tail: Vec<_> = self.said.iter().rev().take(6).rev().cloned().collect();
        format!("{}: {why}; it said: {}", self.what, tail.join(" | "))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid (`ip netns exec` execs the program in place).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client to its end (at most `timeout`); its output if it exited 0, else an error with
/// what it printed.
pub fn run_client(
    ns: &str,
    app: &str,
    args: &[String],
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let what = format!("{app} {}", args.join(" "));
    let (ok, said) = Child::spawn(ns, app, args)?.finish(timeout)?;
    if ok {
        Ok(said)
    } else {
        Err(format!("{what} failed: {}", said.join(" | ")))
    }
}

/// Runs a command (not this binary) to its end; its stdout, or an error with its output.
pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{}: {}{}",
            args.join(" "),
            text,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
