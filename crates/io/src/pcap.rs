//! A wrapper that records every frame a device sends and receives to a pcap file (tcpdump,
//! Wireshark and tshark read it).
//!
//! The classic pcap format is 24 bytes of file header and 16 bytes per record, so it is written
//! here directly rather than through the `pcap-file` crate: one dependency less, and the records of
//! a whole burst go out in one `write`. Timestamps have microsecond resolution; the link type is
//! Ethernet.
//!
//! This is a debugging aid, not a fast path: all queues share one file behind a mutex, taken once
//! per burst, and the file is written (not just buffered) after every burst so that a hung test
//! still leaves a readable capture. Transmitted frames are recorded only if the device took them.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Device, DeviceInfo, MAX_BURST, Queue, RxSink, TxBatch};

/// Bytes of a frame kept in the capture (longer frames are cut, as tcpdump's `-s`).
pub const SNAPLEN: u32 = 65535;

/// The pcap file header: magic, version 2.4, zone 0, accuracy 0, snap length, link type 1 (Ethernet).
fn file_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h
}

/// A sink that records each frame before passing it on.
struct Recording<'a, S> {
    out: &'a mut S,
    stage: &'a mut Vec<u8>,
    ts: Duration,
}

impl<F: std::ops::Deref<Target = [u8]>, S: RxSink<F>> RxSink<F> for Recording<'_, S> {
    fn room(&self) -> usize {
        self.out.room()
    }

    fn put(&mut self, frame: F) {
        record(self.stage, self.ts, &frame);
        self.out.put(frame);
    }
}

/// Appends one record (header and data) to `out`.
fn record(out: &mut Vec<u8>, ts: Duration, frame: &[u8]) {
    let caplen = frame.len().min(SNAPLEN as usize);
    out.extend_from_slice(&(ts.as_secs() as u32).to_le_bytes());
    out.extend_from_slice(&ts.subsec_micros().to_le_bytes());
    out.extend_from_slice(&(caplen as u32).to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(&frame[..caplen]);
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Wraps device `D`, writing the traffic of all its queues to one pcap file.
#[derive(Debug)]
pub struct Pcap<D> {
    inner: D,
    file: Arc<Mutex<File>>,
}

impl<D: Device> Pcap<D> {
    /// Creates (truncates) `path`, writes the pcap header, and wraps `inner`.
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Pcap<D>> {
        let mut file = File::create(path)?;
        file.write_all(&file_header())?;
        Ok(Pcap {
            inner,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Device> Device for Pcap<D> {
    type Queue = PcapQueue<D::Queue>;

    fn info(&self) -> &DeviceInfo {
        self.inner.info()
    }

    fn queue(&mut self, index: usize) -> io::Result<Self::Queue> {
        Ok(PcapQueue {
            inner: self.inner.queue(index)?,
            file: Arc::clone(&self.file),
            stage: Vec::with_capacity(MAX_BURST * (16 + self.inner.info().mtu + 18)),
            ends: [0; MAX_BURST],
        })
    }
}

/// One queue of a [`Pcap`] device.
pub struct PcapQueue<Q> {
    inner: Q,
    file: Arc<Mutex<File>>,
    /// Records of the current burst, written in one go (reused: no allocation in steady state).
    stage: Vec<u8>,
    ends: [usize; MAX_BURST],
}

impl<Q: Queue> PcapQueue<Q> {
    fn write_stage(&mut self, upto: usize) -> io::Result<()> {
        if upto == 0 {
            return Ok(());
        }
        let mut file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("pcap writer poisoned"))?;
        file.write_all(&self.stage[..upto])
    }
}

impl<Q: Queue> Queue for PcapQueue<Q> {
    type Rx = Q::Rx;
    type Tx = Q::Tx;

    fn rx_into<S: RxSink<Self::Rx>>(&mut self, out: &mut S) -> io::Result<usize> {
        self.stage.clear();
        let mut tee = Recording {
            out,
            stage: &mut self.stage,
            ts: now(),
        };
        let n = self.inner.rx_into(&mut tee)?;
        if n > 0 {
            self.write_stage(self.stage.len())?;
        }
        Ok(n)
    }

    fn tx_alloc(&mut self) -> Option<Self::Tx> {
        self.inner.tx_alloc()
    }

    fn tx_from<B: TxBatch<Self::Tx>>(&mut self, pkts: &mut B) -> io::Result<usize> {
        let ts = now();
        self.stage.clear();
        let mut i = 0;
        while let (Some(frame), true) = (pkts.get(i), i < MAX_BURST) {
            record(&mut self.stage, ts, frame);
            self.ends[i] = self.stage.len();
            i += 1;
        }
        let n = self.inner.tx_from(pkts)?.min(i);
        if n > 0 {
            self.write_stage(self.ends[n - 1])?;
        }
        Ok(n)
    }

    fn wait_rx(&mut self, timeout: Duration) -> io::Result<()> {
        self.inner.wait_rx(timeout)
    }

    fn rx_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.rx_fd()
    }
}

/// One record read back by [`read`]: timestamp and frame bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Time since the Unix epoch.
    pub ts: Duration,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// Reads a little-endian microsecond pcap file as written by [`Pcap`] (for tests and tools).
pub fn read(bytes: &[u8]) -> io::Result<Vec<Record>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("pcap: {what}"));
    let header = bytes.get(..24).ok_or_else(|| bad("short file header"))?;
    if header[..4] != 0xa1b2_c3d4u32.to_le_bytes() || header[20..24] != 1u32.to_le_bytes() {
        return Err(bad("not a little-endian Ethernet pcap file"));
    }
    let mut records = Vec::new();
    let mut rest = &bytes[24..];
    while !rest.is_empty() {
        let h = rest.get(..16).ok_or_else(|| bad("short record header"))?;
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let caplen = word(8) as usize;
        let data = rest
            .get(16..16 + caplen)
            .ok_or_else(|| bad("short record"))?;
        records.push(Record {
            ts: Duration::new(u64::from(word(0)), word(4).saturating_mul(1000)),
            orig_len: word(12),
            data: data.to_vec(),
        });
        rest = &rest[16 + caplen..];
    }
    Ok(records)
}
