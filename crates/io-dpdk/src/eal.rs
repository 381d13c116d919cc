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

static EAL: Mutex<Option<&'static Eal>> = Mutex::new(None);

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
        let mut running = EAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(eal) = *running {
            return if eal.args == args {
                Ok(eal)
            } else {
                Err(Error::EalAlreadyInitialised(eal.args.join(" ")))
            };
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
        // SAFETY: argv holds argc valid NUL-terminated strings that are never freed; the EAL is
        // started at most once (guarded by the EAL mutex we hold).
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::EalInit {
                reason: ffi::strerror(ffi::rte_errno()),
                args: joined,
            });
        }
        let eal: &'static Eal = Box::leak(Box::new(Eal {
            args,
            vdevs: config.vdevs(),
        }));
        *running = Some(eal);
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
        if let Some((device, driver)) = self.vdevs.iter().find(|(device, _)| device == name) {
            let known = installed_net_drivers();
            if !known.iter().any(|k| k == driver) {
                return Err(Error::UnknownDriver {
                    device: device.clone(),
                    driver: driver.clone(),
                    known: known.join(", "),
                });
            }
        }
        Err(Error::NoPort {
            name: name.to_owned(),
            available: port_names().join(", "),
        })
    }

    /// Number of ports DPDK found (`rte_eth_dev_count_avail`).
    pub fn port_count(&self) -> u16 {
        // SAFETY: a plain query, valid once the EAL runs (it does: `self` exists).
        unsafe { ffi::rte_eth_dev_count_avail() }
    }
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
