//! Receiving data: in-order delivery into the receive ring, out-of-order data kept in place with
//! its ranges in the assembler (bounded holes), and the delayed-ACK policy (RFC 9293 §3.8.6.3:
//! ACK every second full segment, at most `Config::delayed_ack` late, at once on out-of-order or
//! hole-filling data).

use mtcp_wire::tcp::{SeqNumber, TcpRepr};

use crate::conn::{Conn, Cx};
use crate::state::Event;

impl Conn {
    /// Remembers `[start, end)` as received twice, for the next ACK's first SACK block
    /// (D-SACK, RFC 2883), and sends that ACK at once.
    pub(crate) fn report_duplicate(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.opts.sack_ok && start < end {
            self.rcv.dsack = Some((start, end));
            self.ack_now = true;
        }
    }

    pub(crate) fn process_data(&mut self, cx: &mut Cx<'_>, seg: &TcpRepr<'_>) {
        let mut seq = seg.seq_number;
        let mut data = seg.payload;
        if seq < self.rcv.nxt {
            let skip = (self.rcv.nxt - seq) as usize;
            // Partly old: report the duplicate part (RFC 2883 §4.1.1).
            self.report_duplicate(seq, seq + skip.min(data.len()) as u32);
            data = if skip >= data.len() {
                &[]
            } else {
                &data[skip..]
            };
            seq = self.rcv.nxt;
        }
        if data.is_empty() {
            return;
        }
        let offset = (seq - self.rcv.nxt) as usize;
        if offset == 0 {
            let n = self.recv_buf.write_at(0, data);
            if n == 0 {
                self.ack_now = true;
                return;
            }
            let had_holes = !self.assembler.is_empty();
            let advance = if self.assembler.add(0, n as u32) {
                self.assembler.take_front() as usize
            } else {
                self.assembler.shift(n as u32);
                n
            };
            let was_empty = self.recv_buf.is_empty();
            self.recv_buf.commit(advance);
            self.rcv.nxt += advance as u32;
            self.stats.bytes_received += advance as u64;
            if had_holes || n < data.len() {
                self.ack_now = true;
            } else {
                self.segs_unacked += 1;
                if self.segs_unacked >= 2 || n as u32 >= 2 * self.snd.mss.max(536) {
                    self.ack_now = true;
                } else if self.timers.delack_at.is_none() {
                    self.timers.delack_at = Some(cx.now + cx.config.delayed_ack);
                }
            }
            if was_empty {
                self.push_event(cx, Event::Readable);
            }
        } else {
            let (start, end) = (offset as u32, (offset + data.len()) as u32);
            if self
                .assembler
                .ranges()
                .iter()
                .any(|&(s, e)| s <= start && end <= e)
            {
                // Already held out of order: a duplicate (RFC 2883 §4.2).
                self.report_duplicate(seq, seq + data.len() as u32);
            }
            let n = self.recv_buf.write_at(offset, data);
            if n > 0 {
                let _ = self.assembler.add(offset as u32, (offset + n) as u32);
            }
            // Out-of-order data: ACK at once so the sender sees duplicate ACKs (RFC 5681 §4.2).
            self.ack_now = true;
        }
    }
}
