//! Collecting the engine's output: stateless replies, then each marked connection's control
//! segments and pure ACKs, then its data, within the room the transmit path gives (a number of
//! segments, some of which may be long for a device that cuts them).

use core::net::IpAddr;

use alloc::vec::Vec;
use mtcp_wire::tcp::TcpRepr;

use crate::config::Config;
use crate::conn::Conn;
use crate::engine::{Engine, rearm};
use crate::table::Handle;
use crate::time::Instant;

/// What a transmit path takes in one [`Engine::dispatch_room`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRoom {
    /// Segments at most (frames: a long segment is one).
    pub segments: usize,
    /// How many of them may be long: new data of several MSS in one IPv4 segment, which the
    /// device cuts (0: none; IPv6 segments are never long).
    pub long: usize,
    /// The most payload a long segment may carry (rounded down to whole MSS).
    pub long_payload: u32,
}

/// The round of [`Engine::dispatch_at_most`] in progress: the connections marked before it
/// began, the pass (pure ACKs and control first, then data) and the next connection.
#[derive(Debug, Default)]
pub(crate) struct Sending {
    pub(crate) list: Vec<Handle>,
    data_pass: bool,
    next: usize,
}

impl Sending {
    /// No round in progress, room for `n` connections in one without allocating.
    pub(crate) fn with_capacity(n: usize) -> Sending {
        Sending {
            list: Vec::with_capacity(n),
            ..Sending::default()
        }
    }
}

impl Engine {
    /// Emits every pending segment through `emit(src, dst, segment)`: stateless replies first,
    /// then control segments and pure ACKs, then data (mTCP's control > ACK > data order; when
    /// the room is limited, stateless replies get at most half of it while connections wait).
    /// Returns the number of segments emitted.
    pub fn dispatch<F>(&mut self, now: Instant, emit: F) -> usize
    where
        F: FnMut(IpAddr, IpAddr, &TcpRepr<'_>),
    {
        self.dispatch_at_most(now, usize::MAX, emit)
    }

    /// [`Engine::dispatch`], emitting at most `max_segments`: what is left stays queued, in
    /// order, for the next call (a device whose transmit ring is full takes no more this turn;
    /// segments built for it would only be lost and resent a timeout later, as mTCP keeps a
    /// connection on its send list until the NIC has room). Returns the number emitted; fewer
    /// than `max_segments` means nothing is left.
    pub fn dispatch_at_most<F>(&mut self, now: Instant, max_segments: usize, mut emit: F) -> usize
    where
        F: FnMut(IpAddr, IpAddr, &TcpRepr<'_>),
    {
        let room = TxRoom {
            segments: max_segments,
            ..TxRoom::default()
        };
        self.dispatch_room(now, room, |src, dst, seg, _| emit(src, dst, seg))
    }

    /// [`Engine::dispatch_at_most`] for a device that cuts long TCP segments itself (TSO, or a
    /// kernel's GSO): up to `room.long` of the segments may carry new data of several MSS (up
    /// to `room.long_payload` bytes), which `emit(src, dst, segment, mss)` receives with the
    /// MSS to cut them at (0 for every other segment). Each counts as one of `room.segments`.
    /// The connection's books are those of the segments the device makes (RACK, SACK and the
    /// retransmissions work on byte ranges; a resend is never longer than an MSS).
    pub fn dispatch_room<F>(&mut self, now: Instant, room: TxRoom, mut emit: F) -> usize
    where
        F: FnMut(IpAddr, IpAddr, &TcpRepr<'_>, u16),
    {
        self.now = now;
        // Once a second (a comparison otherwise): spare memory a past load left goes back.
        self.pool.trim_idle(now);
        let mut left = room;
        // Stateless replies (SYN-ACKs with cookies, RSTs) take at most half the room while
        // connections wait to send, the rest only after them: a SYN flood must not starve the
        // established connections (the flood's replies are the ones to hold back; a real
        // client resends its SYN).
        let waiting = !self.sending.list.is_empty() || !self.dirty.is_empty();
        let share = if waiting {
            left.segments.div_ceil(2)
        } else {
            left.segments
        };
        left.segments -= self.emit_control(share, &mut emit);
        if left.segments > 0 && self.connections_emit(now, &mut left, &mut emit) {
            left.segments -= self.emit_control(left.segments, &mut emit);
        }
        room.segments - left.segments
    }

    /// Emits the marked connections' segments, resuming the round in progress or starting one
    /// over the connections marked since the last; true when the round is done (every one
    /// emitted all it had), false when the room ran out first.
    fn connections_emit<F>(&mut self, now: Instant, left: &mut TxRoom, emit: &mut F) -> bool
    where
        F: FnMut(IpAddr, IpAddr, &TcpRepr<'_>, u16),
    {
        if self.sending.list.is_empty() {
            core::mem::swap(&mut self.sending.list, &mut self.dirty);
            self.sending.data_pass = false;
            self.sending.next = 0;
        }
        loop {
            let pass_data = self.sending.data_pass;
            while let Some(&h) = self.sending.list.get(self.sending.next) {
                let Engine {
                    table,
                    config,
                    scratch,
                    wheel,
                    ..
                } = self;
                if let Some(c) = table.get_mut(h) {
                    if !c.emit_pass(now, (config, scratch), pass_data, left, emit) {
                        // Resume with this connection next time.
                        return false;
                    }
                    if pass_data {
                        // Done with it: new output marks it again, for the next round.
                        c.dirty = false;
                        rearm(wheel, c, now);
                    }
                }
                self.sending.next += 1;
            }
            if pass_data {
                break;
            }
            self.sending.data_pass = true;
            self.sending.next = 0;
        }
        self.sending.list.clear();
        true
    }

    /// Emits at most `max` of the queued stateless replies, oldest first.
    fn emit_control<F>(&mut self, max: usize, emit: &mut F) -> usize
    where
        F: FnMut(IpAddr, IpAddr, &TcpRepr<'_>, u16),
    {
        let taken = self.control.len().min(max);
        for c in self.control.drain(..taken) {
            emit(c.src, c.dst, &c.repr(), 0);
        }
        taken
    }
}

impl Conn {
    /// Emits what this connection has for the pass (control and ACKs, or data too) within
    /// `left`, which it uses up; false when the room ran out before the connection was done.
    fn emit_pass<F>(
        &mut self,
        now: Instant,
        (config, scratch): (&Config, &mut [u8]),
        pass_data: bool,
        left: &mut TxRoom,
        emit: &mut F,
    ) -> bool
    where
        F: FnMut(IpAddr, IpAddr, &TcpRepr<'_>, u16),
    {
        let (src, dst) = (self.tuple.local_addr, self.tuple.remote_addr);
        let mss = self.snd.mss;
        loop {
            if left.segments == 0 {
                return false;
            }
            let long = if left.long > 0 && src.is_ipv4() {
                left.long_payload
            } else {
                0
            };
            // Filled in place by build_into; the slot lives one segment (its payload borrows
            // the connection).
            let mut seg = TcpRepr::default();
            if !self.build_into(now, config, scratch, pass_data, long, &mut seg) {
                return true;
            }
            let cut = if seg.payload.len() > mss as usize {
                left.long = left.long.saturating_sub(1);
                mss as u16
            } else {
                0
            };
            emit(src, dst, &seg, cut);
            left.segments -= 1;
        }
    }
}
