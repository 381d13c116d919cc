//! Port set-up: queues, mbuf pools, RSS with mTCP's symmetric key, checksum offloads.

use std::ffi::{CStr, CString};
use std::io;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mtcp_io::{ChecksumOffload, Device, DeviceInfo, EthernetAddress, Steering};

use crate::config::DpdkConfig;
use crate::eal::Eal;
use crate::ffi::{self, RteMempool};
use crate::queue::DpdkQueue;
use crate::{Error, MTCP_RSS_KEY_BYTE};

/// Ports open in this process (a port is configured once; its pools live as long as the process).
static OPEN_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Makes mempool names unique.
static POOL_SERIAL: AtomicU32 = AtomicU32::new(0);

/// Ports running in this process (read by `DpdkQueue::wait_rx`, which may only wait on its own
/// ring while it is the only port a context polls).
pub(crate) static PORTS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// What the queues of one port share; the last one dropped stops the port.
pub(crate) struct PortShared {
    pub(crate) port: u16,
    pub(crate) pools: Vec<*mut RteMempool>,
    pub(crate) pool_size: u32,
    /// Receive flags every frame of this port gets (`trust_checksums`: checksums good).
    pub(crate) rx_flags: u64,
    /// Frames per transmit call (see [`tx_chunk`]).
    pub(crate) tx_chunk: usize,
}

/// Frames per transmit call on `net_memif`. Its transmit copies every frame of a call into the
/// shared ring and publishes the ring's tail once, at the end: the peer sees none of them before
/// the last is copied. With a whole burst at a time, the two sides of 64 echo connections settled into handing one
/// 64-frame batch back and forth, each polling an empty ring while the other worked (`perf`:
/// 48 % of the server's samples and 57 % of the client's in `wait_rx`), so a round cost the sum
/// of both sides' work rather than the larger. Published every 16 frames, the peer starts on the
/// first ones while the rest are copied, the batch splits, and both sides work at once, as over
/// the in-memory link, whose ring takes frames one at a time: echo64x64 over memif 0.83 M to
/// 1.65 M transactions/s (calls of 4, 8 and 32 frames did worse than 16 in two interleaved runs
/// each).
pub(crate) const MEMIF_TX_CHUNK: usize = 16;

/// Frames per transmit call for `driver`: [`MEMIF_TX_CHUNK`] for `net_memif`, a whole burst
/// elsewhere (a NIC's transmit ends in one doorbell write per call, which costs more than the
/// split gains).
pub(crate) fn tx_chunk(driver: &str) -> usize {
    if driver == "net_memif" {
        MEMIF_TX_CHUNK
    } else {
        crate::MAX_BURST
    }
}

// SAFETY: the mempool pointers are thread-safe DPDK objects (multi-producer/multi-consumer rings);
// PortShared only reads them.
unsafe impl Send for PortShared {}
// SAFETY: as above; no interior mutability on the Rust side.
unsafe impl Sync for PortShared {}

impl Drop for PortShared {
    fn drop(&mut self) {
        // The pools are never freed: frames handed out may still point into them. Stopping makes any
        // later burst on this port a no-op in DPDK (since 21.11).
        // SAFETY: the port was started by DpdkDevice::open.
        unsafe { ffi::rte_eth_dev_stop(self.port) };
        PORTS_RUNNING.fetch_sub(1, Ordering::Relaxed);
        let mut open = OPEN_PORTS.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|&p| p != self.port);
    }
}

/// A DPDK port with one rx/tx queue pair per core.
pub struct DpdkDevice {
    info: DeviceInfo,
    driver: String,
    shared: Arc<PortShared>,
    taken: Vec<bool>,
    /// The link comes up only when a peer that starts after us connects (a memif server).
    up_with_peer: bool,
}

struct Claim(u16);

impl Drop for Claim {
    fn drop(&mut self) {
        let mut open = OPEN_PORTS.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|&p| p != self.0);
    }
}

fn dev_info(port: u16) -> Result<ffi::ShimDevInfo, Error> {
    let mut raw = std::mem::MaybeUninit::<ffi::ShimDevInfo>::uninit();
    // SAFETY: raw is a valid out-pointer; the shim fills every field on success.
    let ret = unsafe { ffi::mtcp_shim_dev_info(port, raw.as_mut_ptr()) };
    if ret != 0 {
        return Err(Error::Port {
            port,
            driver: "?".into(),
            step: "rte_eth_dev_info_get",
            reason: ffi::strerror(ret),
        });
    }
    // SAFETY: the shim initialised the struct (ret == 0).
    Ok(unsafe { raw.assume_init() })
}

impl DpdkDevice {
    /// Configures and starts `port` (a name as [`Eal::port_id`] takes) with
    /// [`DpdkConfig::num_queues`] queue pairs, RSS over them when the driver supports it, and every
    /// checksum offload the driver offers.
    pub fn open(eal: &'static Eal, port: &str, config: &DpdkConfig) -> Result<DpdkDevice, Error> {
        config.validate()?;
        let port_id = eal.port_id(port)?;
        let claim = claim_port(port_id)?;
        let raw = dev_info(port_id)?;
        let driver = driver_name(&raw);
        let nq = config.num_queues();
        let max = usize::from(raw.max_rx_queues.min(raw.max_tx_queues));
        if nq > max || nq > usize::from(u16::MAX) {
            return Err(Error::TooManyQueues {
                port: port_id,
                driver,
                max,
                wanted: nq,
            });
        }
        // Refused before the port is touched (see DpdkConfig::trust_checksums).
        let trusted = if config.trust_checksums {
            Some(trusted_checksums(port, &driver)?)
        } else {
            None
        };
        let (offered, rss) = configure(port_id, &driver, &raw, nq)?;
        let checksum = trusted.unwrap_or(offered);
        let rx_flags = if trusted.is_some() {
            ffi::RTE_MBUF_F_RX_IP_CKSUM_GOOD | ffi::RTE_MBUF_F_RX_L4_CKSUM_GOOD
        } else {
            0
        };
        if let Some(mtu) = config.mtu {
            set_mtu(port_id, &driver, &raw, mtu)?;
        }
        let pools = setup_queues(port_id, &driver, config, nq)?;
        // SAFETY: the port is configured and all its queues are set up.
        let ret = unsafe { ffi::rte_eth_dev_start(port_id) };
        if ret != 0 {
            return Err(setup_error(port_id, &driver, "rte_eth_dev_start", ret));
        }
        // From here the port runs: PortShared's drop stops it and releases the claim.
        std::mem::forget(claim);
        let shared = Arc::new(PortShared {
            port: port_id,
            pools,
            pool_size: config.num_mbufs,
            rx_flags,
            tx_chunk: tx_chunk(&driver),
        });
        PORTS_RUNNING.fetch_add(1, Ordering::Relaxed);
        // mTCP runs its ports promiscuous; drivers without the mode (most vdevs) simply refuse.
        // SAFETY: a plain call on a started port.
        let _ = unsafe { ffi::rte_eth_promiscuous_enable(port_id) };
        let steering = match rss {
            None => Steering::None,
            Some(key) => program_reta(port_id, raw.reta_size, nq)
                .map(|reta| Steering::Toeplitz { key, reta })
                .unwrap_or(Steering::Opaque),
        };
        let (mac, driver_mtu) = mac_and_mtu(port_id, &driver)?;
        // The configured MTU was set, or (memif) the driver keeps none.
        let mtu = config.mtu.map_or(driver_mtu, usize::from);
        let info = DeviceInfo {
            name: port.to_owned(),
            mac,
            mtu,
            num_queues: nq,
            checksum,
            steering,
        };
        // memif's server (its default role) is up once a client connects: the client starts
        // after the server listens, so the server must not wait for it (it waited 5 s).
        let up_with_peer = driver == "net_memif" && config.vdev_arg(port, "role") != Some("client");
        Ok(DpdkDevice {
            info,
            driver,
            shared,
            taken: vec![false; nq],
            up_with_peer,
        })
    }

    /// DPDK's port id.
    pub fn port_id(&self) -> u16 {
        self.shared.port
    }

    /// The driver's name (`net_tap`, `net_ixgbe`, ...).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The link's speed in Mbit/s when it is up, `None` while it is down (or the driver cannot tell).
    pub fn link_speed_mbps(&self) -> Option<u32> {
        let mut speed = 0u32;
        // SAFETY: speed is a valid out-pointer; the query does not wait.
        let ret = unsafe { ffi::mtcp_shim_link_status(self.shared.port, &mut speed) };
        (ret == 1).then_some(speed)
    }

    /// Gives the port the address `mac` (mTCP's `<port>.mac` in mtcp.conf); the driver may refuse.
    pub fn set_mac(&mut self, mac: EthernetAddress) -> Result<(), Error> {
        let mut addr = ffi::RteEtherAddr { addr_bytes: mac.0 };
        // SAFETY: addr is a valid pointer for the call; the port is configured and started.
        let ret = unsafe { ffi::rte_eth_dev_default_mac_addr_set(self.shared.port, &mut addr) };
        if ret != 0 {
            return Err(Error::Port {
                port: self.shared.port,
                driver: self.driver.clone(),
                step: "rte_eth_dev_default_mac_addr_set",
                reason: ffi::strerror(ret),
            });
        }
        self.info.mac = mac;
        Ok(())
    }

    /// Whether the link comes up only once a peer connects that normally starts after this
    /// process is ready: a memif server (memif's default role), whose client connects to its
    /// socket. A program should not [`DpdkDevice::wait_link_up`] for such a link before it
    /// serves (mtcp-bench's memif servers waited 5 s for nothing).
    pub fn link_waits_for_peer(&self) -> bool {
        self.up_with_peer
    }

    /// Waits up to `timeout` for the link to come up (real NICs take a moment after start, as mTCP
    /// knows); returns whether it is up.
    pub fn wait_link_up(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.link_speed_mbps().is_some() {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Mbufs in each queue's pool.
    pub fn pool_size(&self) -> u32 {
        self.shared.pool_size
    }

    /// Free mbufs in queue `index`'s pool right now (`rte_mempool_avail_count`): with no frame
    /// held anywhere, this returns to its value after start — a leak check.
    pub fn pool_available(&self, index: usize) -> Option<u32> {
        let pool = *self.shared.pools.get(index)?;
        // SAFETY: the pool lives as long as the process.
        Some(unsafe { ffi::rte_mempool_avail_count(pool) })
    }
}

/// A locally administered unicast address, different per process and port.
fn local_mac(port: u16) -> [u8; 6] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    let mix = pid.wrapping_mul(0x9e37_79b9) ^ nanos;
    let [a, b, c, d] = mix.to_be_bytes();
    [0x02, a, b, c, d, port as u8]
}

/// Marks `port_id` open in this process; `PortInUse` when it already is.
fn claim_port(port_id: u16) -> Result<Claim, Error> {
    let mut open = OPEN_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    if open.contains(&port_id) {
        return Err(Error::PortInUse(port_id));
    }
    open.push(port_id);
    Ok(Claim(port_id))
}

fn driver_name(raw: &ffi::ShimDevInfo) -> String {
    if raw.driver_name.is_null() {
        String::from("?")
    } else {
        // SAFETY: DPDK's driver names are static NUL-terminated strings.
        unsafe { CStr::from_ptr(raw.driver_name) }
            .to_string_lossy()
            .into_owned()
    }
}

fn port_error(port: u16, driver: &str, step: &'static str, ret: i32) -> Error {
    Error::Port {
        port,
        driver: driver.to_owned(),
        step,
        reason: ffi::strerror(ret),
    }
}

/// The offloads of a `net_memif` port with `trust_checksums = 1`: all of them, none computed
/// (see [`DpdkConfig::trust_checksums`]). Any other driver is refused: its frames may cross
/// a wire, or reach a peer that checks them.
fn trusted_checksums(port: &str, driver: &str) -> Result<ChecksumOffload, Error> {
    if driver != "net_memif" {
        return Err(Error::Config(format!(
            "trust_checksums = 1 on port {port} (driver {driver}): only net_memif ports \
             between two processes that both set it may skip checksums"
        )));
    }
    Ok(ChecksumOffload::ALL)
}

/// Configures `nq` queue pairs with every checksum offload the driver offers and, with more than
/// one queue, RSS with mTCP's symmetric key. Returns the offloads and the RSS key (if RSS is on).
fn configure(
    port_id: u16,
    driver: &str,
    raw: &ffi::ShimDevInfo,
    nq: usize,
) -> Result<(ChecksumOffload, Option<Vec<u8>>), Error> {
    let rx_offloads = raw.rx_offload_capa
        & (ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM
            | ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM
            | ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
    let tx_offloads = raw.tx_offload_capa
        & (ffi::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM
            | ffi::RTE_ETH_TX_OFFLOAD_TCP_CKSUM
            | ffi::RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
    let checksum = ChecksumOffload {
        ipv4_tx: tx_offloads & ffi::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM != 0,
        ipv4_rx: rx_offloads & ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM != 0,
        tcp_tx: tx_offloads & ffi::RTE_ETH_TX_OFFLOAD_TCP_CKSUM != 0,
        tcp_rx: rx_offloads & ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM != 0,
        udp_tx: tx_offloads & ffi::RTE_ETH_TX_OFFLOAD_UDP_CKSUM != 0,
        udp_rx: rx_offloads & ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM != 0,
    };
    let rss_hf = if nq > 1 {
        raw.flow_type_rss_offloads
            & (ffi::RTE_ETH_RSS_IPV4
                | ffi::RTE_ETH_RSS_FRAG_IPV4
                | ffi::RTE_ETH_RSS_NONFRAG_IPV4_TCP
                | ffi::RTE_ETH_RSS_NONFRAG_IPV4_UDP
                | ffi::RTE_ETH_RSS_NONFRAG_IPV4_OTHER
                // IPv6 too: the socket layer picks IPv6 source ports by the same hash.
                | ffi::RTE_ETH_RSS_IPV6
                | ffi::RTE_ETH_RSS_FRAG_IPV6
                | ffi::RTE_ETH_RSS_NONFRAG_IPV6_TCP
                | ffi::RTE_ETH_RSS_NONFRAG_IPV6_UDP
                | ffi::RTE_ETH_RSS_NONFRAG_IPV6_OTHER)
    } else {
        0
    };
    let key_len = if raw.hash_key_size == 0 {
        40
    } else {
        raw.hash_key_size
    };
    let key = vec![MTCP_RSS_KEY_BYTE; usize::from(key_len)];
    let rx_offloads = if rss_hf != 0 {
        rx_offloads | (raw.rx_offload_capa & ffi::RTE_ETH_RX_OFFLOAD_RSS_HASH)
    } else {
        rx_offloads
    };
    // SAFETY: key outlives the call, which copies it; the port is valid and stopped.
    let ret = unsafe {
        ffi::mtcp_shim_configure(
            port_id,
            nq as u16,
            rx_offloads,
            tx_offloads,
            rss_hf,
            key.as_ptr(),
            key_len,
        )
    };
    if ret != 0 {
        return Err(port_error(port_id, driver, "rte_eth_dev_configure", ret));
    }
    Ok((checksum, (rss_hf != 0).then_some(key)))
}

/// Sets the port's MTU (`mtu` of the configuration) on the configured, stopped port.
fn set_mtu(port_id: u16, driver: &str, raw: &ffi::ShimDevInfo, mtu: u16) -> Result<(), Error> {
    if mtu > raw.max_mtu || mtu < raw.min_mtu {
        return Err(Error::Port {
            port: port_id,
            driver: driver.to_owned(),
            step: "rte_eth_dev_set_mtu",
            reason: format!(
                "mtu = {mtu}: the driver takes {} to {}",
                raw.min_mtu, raw.max_mtu
            ),
        });
    }
    // SAFETY: a plain call on a configured port.
    let ret = unsafe { ffi::rte_eth_dev_set_mtu(port_id, mtu) };
    // memif keeps no MTU (DPDK 22.11 has no mtu_set for it): a frame moves in one of its shared
    // buffers, which the EAL arguments size for the MTU (`config::memif_bsize`), and the
    // receiver copies it into one mbuf (`data_room`). Both sides' MTU is then ours to set.
    if ret == -libc::ENOTSUP && driver == "net_memif" {
        return Ok(());
    }
    if ret != 0 {
        return Err(port_error(port_id, driver, "rte_eth_dev_set_mtu", ret));
    }
    Ok(())
}

/// Data room of an mbuf that holds a whole frame of `mtu` (Ethernet header, a VLAN tag, the CRC
/// some drivers keep) after DPDK's headroom; DPDK's default when that is enough.
fn data_room(mtu: Option<u16>) -> u16 {
    let default = ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16;
    mtu.map_or(default, |m| default.max(m + 14 + 4 + 4 + 128))
}

/// Sets up `nq` rx/tx queue pairs, each receiving into its own mbuf pool; returns the pools.
fn setup_queues(
    port_id: u16,
    driver: &str,
    config: &DpdkConfig,
    nq: usize,
) -> Result<Vec<*mut RteMempool>, Error> {
    let (mut nb_rx, mut nb_tx) = (config.rx_desc, config.tx_desc);
    // SAFETY: valid out-pointers to u16s.
    let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &mut nb_rx, &mut nb_tx) };
    if ret != 0 {
        return Err(port_error(
            port_id,
            driver,
            "rte_eth_dev_adjust_nb_rx_tx_desc",
            ret,
        ));
    }
    // SAFETY: a plain query on a valid port.
    let socket = unsafe { ffi::rte_eth_dev_socket_id(port_id) };
    let mut pools = Vec::with_capacity(nq);
    for q in 0..nq as u16 {
        // Names are unique per process even when an earlier open of this port failed half-way.
        let serial = POOL_SERIAL.fetch_add(1, Ordering::Relaxed);
        let name = CString::new(format!("mtcp_p{port_id}_{serial}")).expect("no NUL in pool name");
        let cache = (config.num_mbufs / 2).min(256);
        // SAFETY: name is NUL-terminated; DPDK copies it.
        let pool = unsafe {
            ffi::rte_pktmbuf_pool_create(
                name.as_ptr(),
                config.num_mbufs,
                cache,
                0,
                data_room(config.mtu),
                socket,
            )
        };
        if pool.is_null() {
            return Err(Error::NoMemory {
                what: format!(
                    "{} mbufs of queue {q} of port {port_id} ({driver})",
                    config.num_mbufs
                ),
                reason: ffi::strerror(ffi::rte_errno()),
            });
        }
        pools.push(pool);
        // SAFETY: the port is configured with nq queues, q < nq; pool is a valid mbuf pool;
        // a NULL rx_conf means the driver's defaults.
        let ret = unsafe {
            ffi::rte_eth_rx_queue_setup(port_id, q, nb_rx, socket as u32, std::ptr::null(), pool)
        };
        if ret != 0 {
            return Err(setup_error(port_id, driver, "rte_eth_rx_queue_setup", ret));
        }
        // SAFETY: as above; a NULL tx_conf means the driver's defaults.
        let ret = unsafe {
            ffi::rte_eth_tx_queue_setup(port_id, q, nb_tx, socket as u32, std::ptr::null())
        };
        if ret != 0 {
            return Err(setup_error(port_id, driver, "rte_eth_tx_queue_setup", ret));
        }
    }
    Ok(pools)
}

/// The port's MAC (a locally administered one for devices without an address) and its MTU.
fn mac_and_mtu(port_id: u16, driver: &str) -> Result<(EthernetAddress, usize), Error> {
    let mut mac = ffi::RteEtherAddr::default();
    // SAFETY: mac is a valid out-pointer.
    let ret = unsafe { ffi::rte_eth_macaddr_get(port_id, &mut mac) };
    if ret != 0 {
        return Err(port_error(port_id, driver, "rte_eth_macaddr_get", ret));
    }
    if mac.addr_bytes == [0; 6] {
        // Some virtual devices (net_ring) have no address; give the port a locally administered one.
        mac.addr_bytes = local_mac(port_id);
        // SAFETY: mac is a valid pointer; drivers without the operation refuse, which is fine.
        let _ = unsafe { ffi::rte_eth_dev_default_mac_addr_set(port_id, &mut mac) };
    }
    let mut mtu = ffi::RTE_ETHER_MTU as u16;
    // SAFETY: mtu is a valid out-pointer; on failure it keeps the Ethernet default.
    let _ = unsafe { ffi::rte_eth_dev_get_mtu(port_id, &mut mtu) };
    Ok((EthernetAddress(mac.addr_bytes), usize::from(mtu)))
}

fn setup_error(port: u16, driver: &str, step: &'static str, ret: i32) -> Error {
    if ret == -libc::ENOMEM {
        Error::NoMemory {
            what: format!("{step} on port {port} ({driver})"),
            reason: ffi::strerror(ret),
        }
    } else {
        Error::Port {
            port,
            driver: driver.to_owned(),
            step,
            reason: ffi::strerror(ret),
        }
    }
}

/// Spreads the redirection table round-robin over the queues; falls back to reading it.
fn program_reta(port: u16, reta_size: u16, nq: usize) -> Option<Vec<u16>> {
    if reta_size == 0 || reta_size > 512 {
        return None;
    }
    let reta: Vec<u16> = (0..reta_size).map(|i| i % nq as u16).collect();
    // SAFETY: reta holds reta_size entries.
    if unsafe { ffi::mtcp_shim_reta_update(port, reta.as_ptr(), reta_size) } == 0 {
        return Some(reta);
    }
    let mut read = vec![0u16; usize::from(reta_size)];
    // SAFETY: read holds reta_size entries.
    (unsafe { ffi::mtcp_shim_reta_query(port, read.as_mut_ptr(), reta_size) } == 0).then_some(read)
}

impl Device for DpdkDevice {
    type Queue = DpdkQueue;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn queue(&mut self, index: usize) -> io::Result<DpdkQueue> {
        let Some(taken) = self.taken.get_mut(index) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "port {} has {} queues, no queue {index}",
                    self.info.name, self.info.num_queues
                ),
            ));
        };
        if *taken {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("queue {index} of port {} is taken already", self.info.name),
            ));
        }
        *taken = true;
        Ok(DpdkQueue::new(Arc::clone(&self.shared), index as u16))
    }
}

impl std::fmt::Debug for DpdkDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkDevice")
            .field("port", &self.shared.port)
            .field("driver", &self.driver)
            .field("info", &self.info)
            .finish()
    }
}
