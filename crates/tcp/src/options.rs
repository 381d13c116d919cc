//! Option negotiation (MSS, window scale, SACK-permitted, timestamps) and the options we send.

use mtcp_wire::tcp::{SackBlock, TcpOptions, Timestamps};

use crate::config::{Config, window_shift_for};
use crate::conn::Conn;
use crate::time::Instant;

/// Largest window scale shift (RFC 7323 §2.3).
pub const MAX_WINDOW_SHIFT: u8 = 14;
/// Bytes the timestamps option takes with its padding.
pub const TIMESTAMPS_LEN: u32 = 12;

/// Bytes the options of a non-SYN segment take, padded to 4: payload must shrink by this much
/// beyond the timestamps already excluded from `snd.mss`.
pub fn sack_len(options: &TcpOptions) -> u32 {
    let n = options.sack_blocks.len() as u32;
    if n == 0 {
        0
    } else {
        (2 + 8 * n).div_ceil(4) * 4
    }
}

/// The send MSS when the peer's SYN has no MSS option (RFC 9293 §3.7.1, MUST-15): 536 over IPv4,
/// 1220 over IPv6 (1280 - 60).
pub(crate) fn default_mss(ipv6: bool) -> u16 {
    if ipv6 {
        crate::config::IPV6_MIN_MSS
    } else {
        536
    }
}

impl Conn {
    /// Applies the options of the peer's SYN: each feature is used only if both sides offered it.
    /// `we_offered` is our own SYN's offer (the config for passive opens).
    pub(crate) fn negotiate(&mut self, peer: &TcpOptions, config: &Config) {
        let local_mss = u32::from(config.local_mss_for(self.tuple.is_ipv6()));
        // RFC 9293 §3.7.1: 536 (IPv4) or 1220 (IPv6) when absent; never above what our MTU
        // carries.
        let peer_mss = peer.mss.unwrap_or(default_mss(self.tuple.is_ipv6()));
        let peer_mss = u32::from(peer_mss).max(64);
        self.snd.mss = peer_mss.min(local_mss);
        match (config.window_scaling, peer.window_scale) {
            (true, Some(shift)) => {
                self.opts.wscale_ok = true;
                self.opts.snd_wscale = shift.min(MAX_WINDOW_SHIFT);
                self.opts.rcv_wscale = window_shift_for(self.recv_buf.capacity());
            }
            _ => {
                self.opts.wscale_ok = false;
                self.opts.snd_wscale = 0;
                self.opts.rcv_wscale = 0;
            }
        }
        self.opts.sack_ok = config.sack && peer.sack_permitted;
        self.opts.peer_offered_ts = peer.timestamps.is_some();
        self.opts.ts_ok = config.timestamps && peer.timestamps.is_some();
        if let Some(ts) = peer.timestamps {
            self.opts.ts_recent = ts.tsval;
        }
        if self.opts.ts_ok {
            // Every segment carries the 12-byte timestamps option (as Linux' mss_cache).
            self.snd.mss -= TIMESTAMPS_LEN;
        }
        // The initial window follows the negotiated MSS.
        self.cc = self.cc_algorithm.build(self.snd.mss);
    }

    /// Options of our SYN (active open) or SYN-ACK (passive open, after `negotiate`).
    pub(crate) fn syn_options(&self, config: &Config, now: Instant, syn_ack: bool) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(config.local_mss_for(self.tuple.is_ipv6())),
            ..TcpOptions::default()
        };
        let offer = |ours: bool, agreed: bool| if syn_ack { agreed } else { ours };
        if offer(config.window_scaling, self.opts.wscale_ok) {
            o.window_scale = Some(window_shift_for(self.recv_buf.capacity()));
        }
        o.sack_permitted = offer(config.sack, self.opts.sack_ok);
        if offer(config.timestamps, self.opts.ts_ok) {
            o.timestamps = Some(Timestamps {
                tsval: self.tsval(now),
                tsecr: if syn_ack { self.opts.ts_recent } else { 0 },
            });
        }
        o
    }

    /// Writes the options of a segment on a synchronized connection, timestamps and SACK
    /// blocks, into `o` in place (whatever it held is replaced): built by value, they were
    /// copied into the segment right after being written, a store-forwarding stall per segment.
    pub(crate) fn segment_options_into(&self, now: Instant, o: &mut TcpOptions) {
        o.mss = None;
        o.window_scale = None;
        o.sack_permitted = false;
        o.sack_blocks.clear();
        o.timestamps = self.opts.ts_ok.then(|| Timestamps {
            tsval: self.tsval(now),
            tsecr: self.opts.ts_recent,
        });
        let max = if self.opts.ts_ok { 3 } else { 4 };
        if let (true, Some((left, right))) = (self.opts.sack_ok, self.rcv.dsack) {
            // RFC 2883 §4: the duplicate first.
            let _ = o.sack_blocks.push(SackBlock { left, right });
        }
        if self.opts.sack_ok && !self.assembler.is_empty() {
            let base = self.rcv.nxt;
            let block = |(s, e): (u32, u32)| SackBlock {
                left: base + s,
                right: base + e,
            };
            // RFC 2018 §4: the most recently changed block first, then the others.
            let first = self.assembler.last_changed();
            if let Some(r) = first {
                let _ = o.sack_blocks.push(block(r));
            }
            for &r in self.assembler.ranges().iter().rev() {
                if o.sack_blocks.len() >= max {
                    break;
                }
                if Some(r) != first {
                    let _ = o.sack_blocks.push(block(r));
                }
            }
        }
    }
}
