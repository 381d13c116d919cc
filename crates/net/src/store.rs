//! Preallocated frame slots for what the interface sends on its own: control frames (ARP, ICMP)
//! ready to go, and datagrams waiting for ARP resolution. Nothing here allocates after
//! construction: slot memory is one block, and the queues of slot numbers have room for every
//! slot from the start.

use core::net::{IpAddr, Ipv4Addr};
use std::collections::VecDeque;

use mtcp_io::TxOffload;
use mtcp_wire::{EthernetAddress, EthernetFrameMut};

/// A datagram waiting for the MAC of `next_hop` (resolved by ARP or Neighbour Discovery); its
/// Ethernet destination is patched on flush.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    slot: u16,
    next_hop: IpAddr,
}

/// An address being resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resolving {
    pub ip: Ipv4Addr,
    pub requests_sent: u32,
    pub next_request_ms: u64,
}

#[derive(Debug)]
pub(crate) struct FrameStore {
    data: Vec<u8>,
    slot_len: usize,
    lens: Vec<usize>,
    offloads: Vec<TxOffload>,
    free: Vec<u16>,
    ready: VecDeque<u16>,
    waiting: Vec<Waiting>,
    max_waiting: usize,
    pub resolving: Vec<Resolving>,
}

impl FrameStore {
    /// `slots` slots of `slot_len` bytes, of which at most `max_waiting` hold waiting datagrams.
    pub fn new(slots: usize, slot_len: usize, max_waiting: usize) -> Self {
        let slots = slots.min(usize::from(u16::MAX));
        FrameStore {
            data: vec![0; slots * slot_len],
            slot_len,
            lens: vec![0; slots],
            offloads: vec![TxOffload::default(); slots],
            free: (0..slots as u16).rev().collect(),
            ready: VecDeque::with_capacity(slots),
            waiting: Vec::with_capacity(max_waiting),
            max_waiting: max_waiting.min(slots),
            // Resolutions with frames waiting, plus as many refreshes of entries in use.
            resolving: Vec::with_capacity(2 * max_waiting),
        }
    }

    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Takes a free slot for a control frame: its whole buffer.
    pub fn alloc(&mut self) -> Option<(u16, &mut [u8])> {
        let slot = self.free.pop()?;
        Some((slot, self.buf_mut(slot)))
    }

    /// Takes a free slot for a waiting datagram, if the waiting queue has room.
    pub fn alloc_waiting(&mut self) -> Option<(u16, &mut [u8])> {
        if self.waiting.len() >= self.max_waiting {
            return None;
        }
        self.alloc()
    }

    fn buf_mut(&mut self, slot: u16) -> &mut [u8] {
        let at = usize::from(slot) * self.slot_len;
        &mut self.data[at..at + self.slot_len]
    }

    /// Gives back a slot taken with `alloc` but not used.
    pub fn release(&mut self, slot: u16) {
        self.free.push(slot);
    }

    /// Queues a filled slot for transmission.
    pub fn push_ready(&mut self, slot: u16, len: usize, offload: TxOffload) {
        self.lens[usize::from(slot)] = len;
        self.offloads[usize::from(slot)] = offload;
        self.ready.push_back(slot);
    }

    /// Parks a filled slot until `next_hop` resolves.
    pub fn push_waiting(&mut self, slot: u16, len: usize, offload: TxOffload, next_hop: IpAddr) {
        self.lens[usize::from(slot)] = len;
        self.offloads[usize::from(slot)] = offload;
        self.waiting.push(Waiting { slot, next_hop });
    }

    /// Moves every datagram waiting for `ip` to the ready queue with Ethernet destination `mac`,
    /// in the order they were queued; returns how many.
    pub fn flush_waiting(&mut self, ip: IpAddr, mac: [u8; 6]) -> usize {
        let mut moved = 0;
        let mut i = 0;
        while i < self.waiting.len() {
            let w = self.waiting[i];
            if w.next_hop == ip {
                self.waiting.remove(i);
                if let Ok(mut eth) = EthernetFrameMut::new_checked(self.buf_mut(w.slot)) {
                    eth.set_dst_addr(EthernetAddress(mac));
                }
                self.ready.push_back(w.slot);
                moved += 1;
            } else {
                i += 1;
            }
        }
        moved
    }

    /// Frees every datagram waiting for `ip`; returns how many.
    pub fn drop_waiting(&mut self, ip: IpAddr) -> usize {
        let before = self.waiting.len();
        let free = &mut self.free;
        self.waiting.retain(|w| {
            if w.next_hop == ip {
                free.push(w.slot);
                false
            } else {
                true
            }
        });
        before - self.waiting.len()
    }

    /// Copies the oldest ready frame into `out`, frees its slot and returns its length and offload
    /// request; `Err(len)` if `out` is too small (the frame stays queued).
    pub fn pop_ready(&mut self, out: &mut [u8]) -> Option<Result<(usize, TxOffload), usize>> {
        let slot = *self.ready.front()?;
        let len = self.lens[usize::from(slot)];
        let Some(dst) = out.get_mut(..len) else {
            return Some(Err(len));
        };
        let at = usize::from(slot) * self.slot_len;
        dst.copy_from_slice(&self.data[at..at + len]);
        self.ready.pop_front();
        self.free.push(slot);
        Some(Ok((len, self.offloads[usize::from(slot)])))
    }

    /// Drops the oldest ready frame.
    pub fn discard_ready(&mut self) {
        if let Some(slot) = self.ready.pop_front() {
            self.free.push(slot);
        }
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn resolving_mut(&mut self, ip: Ipv4Addr) -> Option<&mut Resolving> {
        self.resolving.iter_mut().find(|r| r.ip == ip)
    }

    pub fn stop_resolving(&mut self, ip: Ipv4Addr) -> bool {
        let before = self.resolving.len();
        self.resolving.retain(|r| r.ip != ip);
        before != self.resolving.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_frames_flush_in_order_and_free_their_slots() {
        let mut s = FrameStore::new(4, 64, 2);
        let a = Ipv4Addr::new(198, 18, 0, 2);
        let b = Ipv4Addr::new(198, 18, 0, 3);
        for (n, hop) in [(1u8, a), (2, b)] {
            let (slot, buf) = s.alloc_waiting().unwrap();
            buf[6] = n;
            s.push_waiting(slot, 20, TxOffload::default(), hop.into());
        }
        assert!(s.alloc_waiting().is_none(), "waiting queue is bounded");
        let (slot, buf) = s.alloc().unwrap();
        buf[6] = 3;
        s.push_ready(slot, 20, TxOffload::default());
        assert_eq!(s.flush_waiting(a.into(), [9; 6]), 1);
        assert_eq!(s.drop_waiting(b.into()), 1);
        let mut out = [0u8; 64];
        assert_eq!(s.pop_ready(&mut out[..10]), Some(Err(20)));
        assert!(matches!(s.pop_ready(&mut out), Some(Ok((20, _)))));
        assert_eq!(out[6], 3);
        assert!(matches!(s.pop_ready(&mut out), Some(Ok((20, _)))));
        assert_eq!((out[0], out[6]), (9, 1));
        assert_eq!(s.pop_ready(&mut out), None);
        assert_eq!(s.free.len(), 4);
    }
}
