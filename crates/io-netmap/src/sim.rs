//! A stand-in for the kernel: a region laid out as netmap lays it out, and a [`RingSync`] that plays
//! the kernel's side of the ring protocol on it, checking every rule the kernel checks.
//!
//! Layout of a [`SimPort`]'s region (offsets as the kernel reports them):
//! ```text
//!   0      128: netmap_if (ni_tx_rings = ni_rx_rings = 1, host rings 1, ring_ofs[4])
//!   ...    rings: NIC tx, host tx, NIC rx, host rx — header (256 bytes) + slots, 128-aligned
//!   ...    buffers: index 0 and 1 reserved, then one per slot, then the extra buffers
//!          (linked through their first u32 from ni_bufs_head, as the kernel links them)
//! ```
//! On txsync the simulated kernel checks `head`/`cur`, consumes slots from its `hwcur` up to
//! `head` (delivering the frames to the peer port or to a log, as long as the wire has room),
//! and moves `tail` to one slot behind what it consumed. On rxsync it takes back the slots
//! before `head`, fills free slots from its inbox (splitting frames larger than a buffer with
//! `NS_MOREFRAG`), and advances `tail`. Protocol violations are recorded and answered with
//! `EINVAL`, as the kernel does; [`SimPort::violations`] and [`SimPort::audit`] let tests see them.
//!
//! Simulation code allocates and locks freely: it stands for the kernel, not for the fast path.

use crate::layout::RingSel;
use crate::queue::{NetmapQueue, QueueConfig, Region, RingSync};
use crate::sys::{self, NetmapIf, NetmapRing, NetmapSlot};
use mtcp_io::{ChecksumOffload, Device, DeviceInfo, Steering};
use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::ptr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Where the simulated kernel puts the `netmap_if` (non-zero, as in a real region).
pub const NIFP_OFFSET: usize = 128;
const HOST_SLOTS: u32 = 4;

/// Shape of a simulated port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Slots in the tx ring.
    pub tx_slots: u32,
    /// Slots in the rx ring.
    pub rx_slots: u32,
    /// Bytes per buffer.
    pub buf_size: u32,
    /// Extra buffers the kernel grants (0: the queue falls back to copying).
    pub extra_bufs: u32,
    /// Frames the wire holds towards the receiver before transmit backs up.
    pub wire_capacity: usize,
    /// Fill `ni_host_tx_rings` (API 14) or leave it zero (older kernels).
    pub api14_if: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tx_slots: 64,
            rx_slots: 64,
            buf_size: 2048,
            extra_bufs: 256,
            wire_capacity: 1024,
            api14_if: true,
        }
    }
}

struct SimRegion {
    mem: *mut [u64],
}

// SAFETY: plain memory; access is governed by the ring protocol like the kernel's region.
unsafe impl Send for SimRegion {}
// SAFETY: as above.
unsafe impl Sync for SimRegion {}

impl Region for SimRegion {
    fn base(&self) -> *mut u8 {
        self.mem.cast()
    }
    fn len(&self) -> usize {
        self.mem.len() * 8
    }
}

impl Drop for SimRegion {
    fn drop(&mut self) {
        // SAFETY: `mem` came from `Box::into_raw` in `SimPort::new`, freed once.
        drop(unsafe { Box::from_raw(self.mem) });
    }
}

#[derive(Clone, Debug)]
struct KRing {
    offset: usize,
    num: u32,
    /// The last `head` the user published.
    rhead: u32,
    /// First slot not yet processed by the kernel.
    hwcur: u32,
    hwtail: u32,
    /// The buffer index the kernel last saw in each slot.
    shadow: Vec<u32>,
}

#[derive(Default)]
struct KState {
    violations: Vec<String>,
    sent: VecDeque<Vec<u8>>,
    txsyncs: u64,
    rxsyncs: u64,
}

/// One simulated port: its region, its kernel-side ring state and its inbox.
pub struct SimPort {
    region: Arc<SimRegion>,
    config: SimConfig,
    rings: Mutex<(KRing, KRing, KState)>,
    inbox: Mutex<VecDeque<Vec<u8>>>,
    inbox_ready: Condvar,
    peer: Mutex<Option<Weak<SimPort>>>,
    buf_base: usize,
    total_bufs: u32,
    granted: u32,
}

fn dist(from: u32, to: u32, n: u32) -> u32 {
    (to + n - from) % n
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes what the kernel writes at registration: the interface header, the ring offset table,
/// the ring headers and their slots, and the extra buffers' free list.
///
/// # Safety
/// `base` points to a private, 8-aligned region large enough for every ring at `ring_offsets` with
/// `slot_counts` slots and for `total_bufs` buffers of `config.buf_size` bytes from `buf_base`.
unsafe fn write_layout(
    base: *mut u8,
    config: &SimConfig,
    ring_offsets: &[usize; 4],
    slot_counts: &[u32; 4],
    buf_base: usize,
    total_bufs: u32,
) {
    // SAFETY: every offset below lies inside the region (the caller's promise); structures are
    // 8-aligned by construction.
    unsafe {
        let nifp = base.add(NIFP_OFFSET).cast::<NetmapIf>();
        (*nifp).ni_name = *b"sim\0\0\0\0\0\0\0\0\0\0\0\0\0";
        (*nifp).ni_version = u32::from(sys::NETMAP_API);
        (*nifp).ni_tx_rings = 1;
        (*nifp).ni_rx_rings = 1;
        if config.api14_if {
            (*nifp).ni_host_tx_rings = 1;
            (*nifp).ni_host_rx_rings = 1;
        }
        let ofs = base
            .add(NIFP_OFFSET + sys::IF_RING_OFS_OFFSET)
            .cast::<isize>();
        let mut next_buf = sys::NETMAP_RESERVED_BUFS;
        for (i, (&ro, &slots)) in ring_offsets.iter().zip(slot_counts).enumerate() {
            *ofs.add(i) = ro as isize - NIFP_OFFSET as isize;
            let ring = base.add(ro).cast::<NetmapRing>();
            (*ring).buf_ofs = buf_base as i64 - ro as i64;
            (*ring).num_slots = slots;
            (*ring).nr_buf_size = config.buf_size;
            (*ring).dir = u16::from(i >= 2);
            let is_tx = i < 2;
            (*ring).tail = if is_tx { slots - 1 } else { 0 };
            let s = base.add(ro + sys::RING_SLOTS_OFFSET).cast::<NetmapSlot>();
            for j in 0..slots as usize {
                *s.add(j) = NetmapSlot {
                    buf_idx: next_buf,
                    len: 0,
                    flags: 0,
                    ptr: 0,
                };
                next_buf += 1;
            }
        }
        // Extra buffers, linked through their first word, head in ni_bufs_head.
        let mut head = 0u32;
        for idx in (next_buf..total_bufs).rev() {
            let b = base
                .add(buf_base + idx as usize * config.buf_size as usize)
                .cast::<u32>();
            *b = head;
            head = idx;
        }
        (*nifp).ni_bufs_head = head;
    }
}

impl SimPort {
    /// Builds a region laid out as the kernel lays it out after a registration.
    pub fn new(config: SimConfig) -> Arc<SimPort> {
        assert!(
            config.tx_slots >= 2 && config.rx_slots >= 2 && config.buf_size >= 64,
            "degenerate SimConfig"
        );
        let align = |x: usize, a: usize| x.div_ceil(a) * a;
        let ring_bytes =
            |slots: u32| sys::RING_SLOTS_OFFSET + slots as usize * size_of::<NetmapSlot>();
        let slot_counts = [config.tx_slots, HOST_SLOTS, config.rx_slots, HOST_SLOTS];
        let mut off = align(NIFP_OFFSET + sys::IF_RING_OFS_OFFSET + 4 * 8, 128);
        let mut ring_offsets = [0usize; 4];
        for (o, &slots) in ring_offsets.iter_mut().zip(&slot_counts) {
            *o = off;
            off = align(off + ring_bytes(slots), 128);
        }
        let buf_base = align(off, 4096);
        let ring_bufs: u32 = slot_counts.iter().sum();
        let total_bufs = sys::NETMAP_RESERVED_BUFS + ring_bufs + config.extra_bufs;
        let len = buf_base + total_bufs as usize * config.buf_size as usize;
        let mem = Box::into_raw(vec![0u64; len.div_ceil(8)].into_boxed_slice());
        let region = Arc::new(SimRegion { mem });
        let base = region.base();

        // SAFETY: the layout's offsets lie inside the freshly allocated region (its length was
        // computed from them above), which nobody else sees yet.
        unsafe {
            write_layout(
                base,
                &config,
                &ring_offsets,
                &slot_counts,
                buf_base,
                total_bufs,
            )
        };

        let kring = |offset: usize, num: u32, is_tx: bool| {
            // SAFETY: the slots were written above; the region is private still.
            let shadow = (0..num)
                .map(|j| unsafe {
                    (*base
                        .add(offset + sys::RING_SLOTS_OFFSET)
                        .cast::<NetmapSlot>()
                        .add(j as usize))
                    .buf_idx
                })
                .collect();
            KRing {
                offset,
                num,
                rhead: 0,
                hwcur: 0,
                hwtail: if is_tx { num - 1 } else { 0 },
                shadow,
            }
        };
        let tx = kring(ring_offsets[0], config.tx_slots, true);
        let rx = kring(ring_offsets[2], config.rx_slots, false);
        Arc::new(SimPort {
            region,
            config,
            rings: Mutex::new((tx, rx, KState::default())),
            inbox: Mutex::new(VecDeque::new()),
            inbox_ready: Condvar::new(),
            peer: Mutex::new(None),
            buf_base,
            total_bufs,
            granted: config.extra_bufs,
        })
    }

    /// Wires `a`'s transmit to `b`'s receive and back.
    pub fn connect(a: &Arc<SimPort>, b: &Arc<SimPort>) {
        *lock(&a.peer) = Some(Arc::downgrade(b));
        *lock(&b.peer) = Some(Arc::downgrade(a));
    }

    /// Puts a frame on the wire towards this port (it arrives on the next rxsync).
    pub fn inject(&self, frame: &[u8]) {
        lock(&self.inbox).push_back(frame.to_vec());
        self.inbox_ready.notify_all();
    }

    /// Frames this port transmitted while not connected to a peer, oldest first; clears the log.
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        lock(&self.rings).2.sent.drain(..).collect()
    }

    /// Protocol violations the simulated kernel saw (empty for a correct user side).
    pub fn violations(&self) -> Vec<String> {
        lock(&self.rings).2.violations.clone()
    }

    /// Numbers of txsync and rxsync calls so far.
    pub fn sync_counts(&self) -> (u64, u64) {
        let g = lock(&self.rings);
        (g.2.txsyncs, g.2.rxsyncs)
    }

    /// The user-visible (head, cur, tail) of the tx and rx rings.
    pub fn ring_pointers(&self) -> ([u32; 3], [u32; 3]) {
        let g = lock(&self.rings);
        (self.pointers(&g.0), self.pointers(&g.1))
    }

    /// The kernel-side slot ranges: tx slots handed over but not yet on the wire, rx slots filled
    /// and not yet returned.
    pub fn kernel_backlog(&self) -> (u32, u32) {
        let g = lock(&self.rings);
        (
            dist(g.0.hwcur, g.0.rhead, g.0.num),
            dist(g.1.rhead, g.1.hwtail, g.1.num),
        )
    }

    /// Checks buffer conservation: every buffer index is in exactly one ring slot or on the
    /// extra-buffer list, and none was lost. Meant for after all queues and frames are dropped.
    pub fn audit(&self) -> Result<(), String> {
        let _g = lock(&self.rings);
        let base = self.region.base();
        let mut seen = BTreeSet::new();
        // SAFETY: the offsets were laid out by `new`; no queue is using the region (documented).
        unsafe {
            let nifp = base.add(NIFP_OFFSET).cast::<NetmapIf>();
            let ofs = base
                .add(NIFP_OFFSET + sys::IF_RING_OFS_OFFSET)
                .cast::<isize>();
            for i in 0..4 {
                let ring = base
                    .add((NIFP_OFFSET as isize + *ofs.add(i)) as usize)
                    .cast::<NetmapRing>();
                let slots = ring
                    .cast::<u8>()
                    .add(sys::RING_SLOTS_OFFSET)
                    .cast::<NetmapSlot>();
                for j in 0..(*ring).num_slots as usize {
                    let idx = (*slots.add(j)).buf_idx;
                    if !seen.insert(idx) {
                        return Err(format!("buffer {idx} appears twice (ring {i} slot {j})"));
                    }
                }
            }
            let mut next = (*nifp).ni_bufs_head;
            while next != 0 {
                if next >= self.total_bufs || !seen.insert(next) {
                    return Err(format!(
                        "extra-buffer list has bad or repeated index {next}"
                    ));
                }
                next = *self.buf_ptr(next).cast::<u32>();
            }
        }
        let expected = (self.total_bufs - sys::NETMAP_RESERVED_BUFS) as usize;
        if seen.len() != expected
            || seen
                .iter()
                .any(|&i| i < sys::NETMAP_RESERVED_BUFS || i >= self.total_bufs)
        {
            return Err(format!(
                "{} buffers accounted for, {expected} expected",
                seen.len()
            ));
        }
        Ok(())
    }

    fn buf_ptr(&self, idx: u32) -> *mut u8 {
        // SAFETY: callers pass indexes below `total_bufs`.
        unsafe {
            self.region
                .base()
                .add(self.buf_base + idx as usize * self.config.buf_size as usize)
        }
    }

    fn ring(&self, k: &KRing) -> *mut NetmapRing {
        // SAFETY: `k.offset` is a ring laid out by `new`.
        unsafe { self.region.base().add(k.offset).cast() }
    }

    fn slot(&self, k: &KRing, i: u32) -> *mut NetmapSlot {
        // SAFETY: `i < k.num` at every call site.
        unsafe {
            self.region
                .base()
                .add(k.offset + sys::RING_SLOTS_OFFSET)
                .cast::<NetmapSlot>()
                .add(i as usize)
        }
    }

    fn pointers(&self, k: &KRing) -> [u32; 3] {
        let r = self.ring(k);
        // SAFETY: the ring header lies in the region.
        unsafe {
            [
                ptr::read_volatile(ptr::addr_of!((*r).head)),
                ptr::read_volatile(ptr::addr_of!((*r).cur)),
                ptr::read_volatile(ptr::addr_of!((*r).tail)),
            ]
        }
    }

    fn set_tail(&self, k: &KRing) {
        let r = self.ring(k);
        // SAFETY: the ring header lies in the region; tail is the kernel's field.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!((*r).tail), k.hwtail) };
    }

    /// The prologue both syncs share: `head` within `[rhead, hwtail]`, `cur` within `[head, hwtail]`.
    fn prologue(&self, k: &KRing, st: &mut KState, what: &str) -> io::Result<u32> {
        let [head, cur, _] = self.pointers(k);
        let span = dist(k.rhead, k.hwtail, k.num);
        if head >= k.num
            || cur >= k.num
            || dist(k.rhead, head, k.num) > span
            || dist(head, cur, k.num) > dist(head, k.hwtail, k.num)
        {
            st.violations.push(format!(
                "{what}: head {head} cur {cur} outside [{}, {}] of a {}-slot ring",
                k.rhead, k.hwtail, k.num
            ));
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(head)
    }

    /// Checks a slot the user hands back: its buffer valid, and flagged if it was swapped.
    fn check_slot(&self, k: &mut KRing, i: u32, st: &mut KState, what: &str) -> Option<NetmapSlot> {
        let sp = self.slot(k, i);
        // SAFETY: slot `i` was handed back to the kernel side; the user no longer touches it.
        let s = unsafe { ptr::read_volatile(sp) };
        if s.buf_idx < sys::NETMAP_RESERVED_BUFS || s.buf_idx >= self.total_bufs {
            st.violations
                .push(format!("{what}: slot {i} names buffer {}", s.buf_idx));
            return None;
        }
        if s.buf_idx != k.shadow[i as usize] {
            if s.flags & sys::NS_BUF_CHANGED == 0 {
                st.violations.push(format!(
                    "{what}: slot {i} buffer changed without NS_BUF_CHANGED"
                ));
            }
            k.shadow[i as usize] = s.buf_idx;
        }
        // SAFETY: as above; the kernel clears the flag once it has seen the change.
        unsafe {
            ptr::write_volatile(
                ptr::addr_of_mut!((*sp).flags),
                s.flags & !sys::NS_BUF_CHANGED,
            )
        };
        Some(s)
    }

    fn txsync(&self) -> io::Result<()> {
        let mut g = lock(&self.rings);
        let (tx, _, st) = &mut *g;
        st.txsyncs += 1;
        let head = self.prologue(tx, st, "txsync")?;
        tx.rhead = head;
        let peer = lock(&self.peer).as_ref().and_then(Weak::upgrade);
        let mut delivered = 0;
        while tx.hwcur != tx.rhead {
            let i = tx.hwcur;
            let Some(s) = self.check_slot(tx, i, st, "txsync") else {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            };
            if u32::from(s.len) > self.config.buf_size {
                st.violations.push(format!(
                    "txsync: slot {i} length {} beyond the buffer",
                    s.len
                ));
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let mut frame = vec![0u8; usize::from(s.len)];
            // SAFETY: the buffer index was checked; the slot now belongs to the kernel side.
            unsafe {
                ptr::copy_nonoverlapping(self.buf_ptr(s.buf_idx), frame.as_mut_ptr(), frame.len())
            };
            let room = match &peer {
                Some(p) => {
                    let mut inbox = lock(&p.inbox);
                    let room = inbox.len() < self.config.wire_capacity;
                    if room {
                        inbox.push_back(frame);
                    }
                    room
                }
                None => {
                    let room = st.sent.len() < self.config.wire_capacity;
                    if room {
                        st.sent.push_back(frame);
                    }
                    room
                }
            };
            if !room {
                break;
            }
            delivered += 1;
            tx.hwcur = (i + 1) % tx.num;
        }
        tx.hwtail = (tx.hwcur + tx.num - 1) % tx.num;
        self.set_tail(tx);
        drop(g);
        if let (Some(p), true) = (peer, delivered > 0) {
            p.inbox_ready.notify_all();
        }
        Ok(())
    }

    fn rxsync(&self) -> io::Result<()> {
        let mut g = lock(&self.rings);
        let (_, rx, st) = &mut *g;
        st.rxsyncs += 1;
        let head = self.prologue(rx, st, "rxsync")?;
        while rx.rhead != head {
            let i = rx.rhead;
            if self.check_slot(rx, i, st, "rxsync").is_none() {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            rx.rhead = (i + 1) % rx.num;
        }
        let mut inbox = lock(&self.inbox);
        let bs = self.config.buf_size as usize;
        while let Some(frame) = inbox.front() {
            let frags = frame.len().div_ceil(bs).max(1) as u32;
            // Kernel-owned free slots are [hwtail, rhead - 1): one stays empty.
            let free = dist(rx.hwtail, rx.rhead, rx.num)
                .checked_sub(1)
                .unwrap_or(rx.num - 1);
            if frags > free {
                break;
            }
            for (f, chunk) in (0..frags).zip(
                frame
                    .chunks(bs)
                    .chain(std::iter::once(&[][..]))
                    .take(frags as usize),
            ) {
                let sp = self.slot(rx, rx.hwtail);
                // SAFETY: the slot is kernel-owned; its buffer index is the one the kernel saw.
                unsafe {
                    let idx = (*sp).buf_idx;
                    ptr::copy_nonoverlapping(chunk.as_ptr(), self.buf_ptr(idx), chunk.len());
                    (*sp).len = chunk.len() as u16;
                    (*sp).flags = if f + 1 < frags { sys::NS_MOREFRAG } else { 0 };
                }
                rx.hwtail = (rx.hwtail + 1) % rx.num;
            }
            inbox.pop_front();
        }
        self.set_tail(rx);
        Ok(())
    }
}

/// [`RingSync`] played by a [`SimPort`].
pub struct SimSync {
    port: Arc<SimPort>,
}

impl SimSync {
    /// The simulated port behind this queue.
    pub fn port(&self) -> &Arc<SimPort> {
        &self.port
    }
}

impl RingSync for SimSync {
    fn txsync(&mut self) -> io::Result<()> {
        self.port.txsync()
    }
    fn rxsync(&mut self) -> io::Result<()> {
        self.port.rxsync()
    }
    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        // Like netmap's poll() without NR_NO_TX_POLL: pending transmissions are pushed too.
        self.port.txsync()?;
        let inbox = lock(&self.port.inbox);
        if inbox.is_empty() {
            let _ = self
                .port
                .inbox_ready
                .wait_timeout(inbox, timeout)
                .map_err(|e| e.into_inner());
        }
        Ok(())
    }
}

/// A [`Device`] with one queue on a [`SimPort`].
pub struct SimDevice {
    port: Arc<SimPort>,
    info: DeviceInfo,
    taken: bool,
}

impl SimDevice {
    /// A port whose transmitted frames go to a log ([`SimPort::take_sent`]).
    pub fn new(config: SimConfig) -> SimDevice {
        SimDevice::on(SimPort::new(config), "sim:0")
    }

    /// Two ports wired back to back.
    pub fn pair(config: SimConfig) -> (SimDevice, SimDevice) {
        let (a, b) = (SimPort::new(config), SimPort::new(config));
        SimPort::connect(&a, &b);
        (SimDevice::on(a, "sim:a"), SimDevice::on(b, "sim:b"))
    }

    fn on(port: Arc<SimPort>, name: &str) -> SimDevice {
        let info = DeviceInfo {
            name: name.into(),
            mac: crate::kernel::mac_from_name(name),
            mtu: (port.config.buf_size as usize - 14).min(1500),
            num_queues: 1,
            checksum: ChecksumOffload::default(),
            steering: Steering::None,
        };
        SimDevice {
            port,
            info,
            taken: false,
        }
    }

    /// The simulated port, for injecting frames and inspecting the kernel side.
    pub fn port(&self) -> &Arc<SimPort> {
        &self.port
    }
}

impl Device for SimDevice {
    type Queue = NetmapQueue<SimSync>;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn queue(&mut self, index: usize) -> io::Result<NetmapQueue<SimSync>> {
        if index != 0 || self.taken {
            return Err(crate::NetmapError::NoSuchQueue {
                index,
                num_queues: 1,
            }
            .into());
        }
        let region: Arc<dyn Region> = self.port.region.clone();
        let sync = SimSync {
            port: self.port.clone(),
        };
        let q = NetmapQueue::new(
            region,
            NIFP_OFFSET,
            RingSel::Nic(0),
            self.port.granted,
            sync,
            QueueConfig {
                tx_pool: self.port.config.extra_bufs.max(256),
            },
        )?;
        self.taken = true;
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx_ring(port: &SimPort) -> (*mut NetmapRing, KRing) {
        let g = lock(&port.rings);
        (port.ring(&g.0), g.0.clone())
    }

    #[test]
    fn head_moving_backwards_is_a_violation() {
        // A wire that takes nothing: handed-over slots stay with the kernel.
        let port = SimPort::new(SimConfig {
            tx_slots: 8,
            wire_capacity: 0,
            ..SimConfig::default()
        });
        let (ring, _) = tx_ring(&port);
        // SAFETY: test-only pokes at the simulated ring header.
        unsafe {
            (*ring).head = 3;
            (*ring).cur = 3;
        }
        port.txsync().unwrap();
        assert!(port.violations().is_empty());
        // The user owns [3, 7) now; head 3 -> 1 would take back slots the kernel holds.
        // SAFETY: as above.
        unsafe {
            (*ring).head = 1;
            (*ring).cur = 1;
        }
        assert_eq!(
            port.txsync().unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(port.violations().len(), 1, "{:?}", port.violations());
    }

    #[test]
    fn swapping_a_buffer_without_the_flag_is_a_violation() {
        let port = SimPort::new(SimConfig {
            tx_slots: 8,
            ..SimConfig::default()
        });
        let (ring, k) = tx_ring(&port);
        // SAFETY: test-only pokes at slot 0 and the ring header.
        unsafe {
            let s = port.slot(&k, 0);
            (*s).buf_idx = port.total_bufs - 1; // an extra buffer, swapped in silently
            (*s).len = 60;
            (*ring).head = 1;
            (*ring).cur = 1;
        }
        port.txsync().unwrap();
        assert!(
            port.violations()[0].contains("NS_BUF_CHANGED"),
            "{:?}",
            port.violations()
        );
        assert!(
            port.audit().is_err(),
            "the extra buffer is now both in a slot and on the list"
        );
    }

    #[test]
    fn frames_larger_than_a_buffer_are_split_with_morefrag() {
        let port = SimPort::new(SimConfig {
            rx_slots: 8,
            buf_size: 100,
            ..SimConfig::default()
        });
        port.inject(&[9u8; 250]);
        port.rxsync().unwrap();
        let g = lock(&port.rings);
        let rx = &g.1;
        assert_eq!(rx.hwtail, 3);
        // SAFETY: test-only reads of slots the simulated kernel just filled.
        let flags: Vec<(u16, u16)> = (0..3)
            .map(|i| unsafe { ((*port.slot(rx, i)).len, (*port.slot(rx, i)).flags) })
            .collect();
        assert_eq!(
            flags,
            vec![(100, sys::NS_MOREFRAG), (100, sys::NS_MOREFRAG), (50, 0)]
        );
    }
}
