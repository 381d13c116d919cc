//! Starting DPDK's Environment Abstraction Layer, once per process.

use std::ffi::{CStr, CString, c_char};
use std::sync::Mutex;

use crate::config::{DpdkConfig, Hugepages};
use crate::device::DpdkDevice;
use crate::{Error, ffi};

/// The running EAL. There is at most one per process; [`Eal::init`] hands out a `'static` reference.
#[derive(Debug)]
pub struct Eal {
    args: Vec<String>,
    vdevs: Vec<(String, String)>,
}

/// The EAL's state: not started, running, or failed (DPDK cannot retry a failed start).
enum State {
    NotStarted,
    Running(&'static Eal),
    Failed(Error),
}

static EAL: Mutex<State> = Mutex::new(State::NotStarted);

/// The directory Debian's DPDK loads its drivers from (`RTE_EAL_PMD_PATH`).
pub(crate) fn pmd_dir() -> String {
    #[allow(non_upper_case_globals)]
    unsafe extern "C" {
        static mtcp_shim_RTE_EAL_PMD_PATH: [c_char; 0];
    }
    // SAFETY: a NUL-terminated string constant defined in shim.c.
    let path = unsafe { CStr::from_ptr(mtcp_shim_RTE_EAL_PMD_PATH.as_ptr()) };
    path.to_string_lossy().into_owned()
}

/// Network drivers installed as plugins: `librte_net_tap.so` gives `net_tap`.
pub(crate) fn installed_net_drivers() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pmd_dir())
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let file = e.file_name().into_string().ok()?;
                    let stem = file.strip_prefix("librte_")?.strip_suffix(".so")?;
                    stem.starts_with("net_").then(|| stem.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Eal {
    /// Starts the EAL with the arguments [`DpdkConfig::eal_argv`] builds for this machine.
    ///
    /// A second call returns the running EAL when the arguments are the same, and
    /// [`Error::EalAlreadyInitialised`] when they differ (DPDK cannot restart its EAL).
    pub fn init(config: &DpdkConfig) -> Result<&'static Eal, Error> {
        let args = config.eal_argv(Hugepages::detect())?;
        let mut state = EAL.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            State::NotStarted => {}
            State::Running(eal) if eal.args == args => return Ok(eal),
            State::Running(eal) => return Err(Error::EalAlreadyInitialised(eal.args.join(" "))),
            State::Failed(e) => {
                return Err(Error::EalInit {
                    reason: format!("an earlier start in this process failed: {e}"),
                    args: args.join(" "),
                });
            }
        }
        let joined = args.join(" ");
        let mut owned = Vec::with_capacity(args.len() + 1);
        for arg in std::iter::once("mtcp-rs").chain(args.iter().map(String::as_str)) {
            let c = CString::new(arg)
                .map_err(|_| Error::Config(format!("EAL argument {arg:?} holds a NUL byte")))?;
            owned.push(c);
        }
        // The EAL may keep pointers into argv, so argv lives as long as the process.
        let argv: &'static mut [*mut c_char] =
            Vec::leak(owned.into_iter().map(CString::into_raw).collect::<Vec<_>>());
        let argc = argv.len() as i32;
        remove_runtime_dir_at_exit();
        // SAFETY: argv holds argc valid NUL-terminated strings that are never freed; the EAL is
        // started at most once (guarded by the EAL mutex we hold).
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        // SAFETY: a static buffer in the EAL, empty until it made the directory; copied at once.
        let dir = unsafe { CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) }.to_owned();
        let _ = RUNTIME_DIR.set(dir);
        if ret < 0 {
            let reason = ffi::strerror(ffi::rte_errno());
            let e = unknown_driver(&config.vdevs()).unwrap_or(Error::EalInit {
                reason: reason.clone(),
                args: joined.clone(),
            });
            // Keep a copy for later calls: the EAL cannot be started again.
            *state = State::Failed(match &e {
                Error::UnknownDriver {
                    device,
                    driver,
                    known,
                } => Error::UnknownDriver {
                    device: device.clone(),
                    driver: driver.clone(),
                    known: known.clone(),
                },
                _ => Error::EalInit {
                    reason,
                    args: joined,
                },
            });
            return Err(e);
        }
        let eal: &'static Eal = Box::leak(Box::new(Eal {
            args,
            vdevs: config.vdevs(),
        }));
        *state = State::Running(eal);
        Ok(eal)
    }

    /// The arguments the EAL was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Opens a port with one rx/tx queue pair per configured core (see [`DpdkDevice::open`]).
    pub fn open(&'static self, port: &str, config: &DpdkConfig) -> Result<DpdkDevice, Error> {
        DpdkDevice::open(self, port, config)
    }

    /// Finds a port id by name: `dpdkN` (mTCP's naming) is port N, anything else is DPDK's device name
    /// (a PCI address, or a virtual device such as `net_tap0`).
    pub fn port_id(&self, name: &str) -> Result<u16, Error> {
        if let Some(n) = name
            .strip_prefix("dpdk")
            .and_then(|n| n.parse::<u16>().ok())
        {
            // SAFETY: a plain query on any number.
            if unsafe { ffi::rte_eth_dev_is_valid_port(n) } != 0 {
                return Ok(n);
            }
        } else if let Ok(c_name) = CString::new(name) {
            let mut port = 0u16;
            // SAFETY: c_name is NUL-terminated, port is a valid out-pointer.
            if unsafe { ffi::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut port) } == 0 {
                return Ok(port);
            }
        }
        let asked: Vec<_> = self
            .vdevs
            .iter()
            .filter(|(device, _)| device == name)
            .cloned()
            .collect();
        if let Some(e) = unknown_driver(&asked) {
            return Err(e);
        }
        Err(Error::NoPort {
            name: name.to_owned(),
            available: port_names().join(", "),
        })
    }

    /// Creates two `net_ring` ports named `a` and `b`, wired back to back with `queues` queue pairs
    /// (queue i of one feeds queue i of the other through a ring of `ring_size` slots): a pure-DPDK
    /// link inside one process, for tests. Returns DPDK's names of the two ports (`net_ring_A`,
    /// `net_ring_B`), to open with [`Eal::open`].
    pub fn ring_pair(
        &self,
        a: &str,
        b: &str,
        queues: u16,
        ring_size: u32,
    ) -> Result<(String, String), Error> {
        let bad = |what: &str| Error::Config(format!("ring_pair: {what}"));
        if queues == 0 || queues > 16 {
            return Err(bad("1 to 16 queues"));
        }
        if !ring_size.is_power_of_two() || ring_size < 2 {
            return Err(bad("ring_size must be a power of two"));
        }
        let ca = CString::new(a).map_err(|_| bad("NUL in name"))?;
        let cb = CString::new(b).map_err(|_| bad("NUL in name"))?;
        // SAFETY: both names are NUL-terminated; DPDK copies them.
        let ret = unsafe { ffi::mtcp_shim_ring_pair(ca.as_ptr(), cb.as_ptr(), queues, ring_size) };
        match ret {
            0 => Ok((format!("net_ring_{a}"), format!("net_ring_{b}"))),
            r if r == -libc::ENOMEM => Err(Error::NoMemory {
                what: format!("rings of {a}/{b}"),
                reason: ffi::strerror(r),
            }),
            r => Err(Error::Config(format!(
                "ring_pair {a}/{b}: {}",
                ffi::strerror(r)
            ))),
        }
    }

    /// Number of ports DPDK found (`rte_eth_dev_count_avail`).
    pub fn port_count(&self) -> u16 {
        // SAFETY: a plain query, valid once the EAL runs (it does: `self` exists).
        unsafe { ffi::rte_eth_dev_count_avail() }
    }
}

/// The EAL's runtime directory (`/var/run/dpdk/PREFIX`), kept for removal at exit.
static RUNTIME_DIR: std::sync::OnceLock<CString> = std::sync::OnceLock::new();

extern "C" fn remove_runtime_dir() {
    if let Some(dir) = RUNTIME_DIR.get() {
        // SAFETY: dir is NUL-terminated; rmdir only removes an empty directory, so anything DPDK
        // left in it (sockets of a multi-process set-up) keeps it.
        unsafe { libc::rmdir(dir.as_ptr()) };
    }
}

/// Every process gets its own `--file-prefix`, so without this each run would leave an empty
/// `/var/run/dpdk/PREFIX` behind. Registered before `rte_eal_init` so that it runs after the exit
/// handlers DPDK registers (telemetry removes its socket from the directory in one).
fn remove_runtime_dir_at_exit() {
    // SAFETY: registers a plain extern "C" function without arguments.
    unsafe { libc::atexit(remove_runtime_dir) };
}

/// The first virtual device whose driver is not installed, as an error. Used to explain failures
/// only: DPDK also knows drivers under other names (`eth_ring` for `net_ring`).
fn unknown_driver(vdevs: &[(String, String)]) -> Option<Error> {
    let known = installed_net_drivers();
    vdevs
        .iter()
        .find(|(_, driver)| !known.iter().any(|k| k == driver))
        .map(|(device, driver)| Error::UnknownDriver {
            device: device.clone(),
            driver: driver.clone(),
            known: known.join(", "),
        })
}

/// Names of all ports, for error messages.
pub(crate) fn port_names() -> Vec<String> {
    let mut names = Vec::new();
    for port in 0..ffi::RTE_MAX_ETHPORTS as u16 {
        // SAFETY: a plain query on any number.
        if unsafe { ffi::rte_eth_dev_is_valid_port(port) } == 0 {
            continue;
        }
        let mut buf = [0 as c_char; 64];
        // SAFETY: buf has RTE_ETH_NAME_MAX_LEN (64) bytes, as the function requires.
        if unsafe { ffi::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) } == 0 {
            // SAFETY: the function wrote a NUL-terminated name into buf.
            let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
            names.push(format!("{} (dpdk{port})", name.to_string_lossy()));
        }
    }
    names
}
