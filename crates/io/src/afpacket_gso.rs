//! Generic segmentation offload for the AF_PACKET transmit ring: consecutive TCP/IPv4 segments
//! of one flow in a burst go to the kernel as one super-frame with a `virtio_net_hdr` asking it
//! to cut them again (`VIRTIO_NET_HDR_GSO_TCPV4`, checksums by the kernel), the way Linux's own
//! TCP hands 64 KB buffers to a device without TSO. The kernel then allocates, copies and
//! checksums each segment once while cutting (`skb_segment`), instead of building a socket
//! buffer per frame.
//!
//! The kernel rebuilds exactly the frames we merged: the same headers (the first frame's, with
//! the sequence number advanced by the payload before each cut; IPv4 identifiers counting up from
//! the first's), the same payloads; PSH (or FIN, which never merges here) only on the last. So a
//! run merges only frames that differ in nothing else: one flow, the same acknowledgment,
//! window, options (timestamps included) and TOS/TTL, in-order contiguous sequence numbers, flags
//! ACK (PSH on the last only), every payload but the last of the first one's size.

use crate::{L4Checksum, TxOffload};
use mtcp_wire::checksum;

/// `sizeof(struct virtio_net_hdr)`.
pub(super) const VNET_HDR_LEN: usize = 10;
/// `virtio_net_hdr` field offsets.
const V_FLAGS: usize = 0;
const V_GSO_TYPE: usize = 1;
const V_HDR_LEN: usize = 2;
const V_GSO_SIZE: usize = 4;
const V_CSUM_START: usize = 6;
const V_CSUM_OFFSET: usize = 8;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;

/// Where the IPv4 header starts (Ethernet without a VLAN tag) and the TCP header (no IP options).
const IP: usize = 14;
const TCP: usize = IP + 20;
/// Where the checksum lies in a TCP header.
const TCP_CSUM_FIELD: u16 = 16;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// What merging needs to know of one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seg {
    /// Ethernet, IPv4 and TCP headers (options included).
    hdr_len: usize,
    seq: u32,
    payload: usize,
    flags: u8,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A TCP/IPv4 segment with data and flags ACK or ACK|PSH, no IP options, not a fragment.
fn tcp4(f: &[u8]) -> Option<Seg> {
    if f.len() < TCP + 20 || be16(f, 12) != 0x0800 || f[IP] != 0x45 || f[IP + 9] != 6 {
        return None;
    }
    // The IPv4 length covers the rest of the frame exactly (no Ethernet padding), no MF, offset 0.
    if usize::from(be16(f, IP + 2)) != f.len() - IP || be16(f, IP + 6) & 0x3fff != 0 {
        return None;
    }
    let hdr_len = TCP + usize::from(f[TCP + 12] >> 4) * 4;
    let flags = f[TCP + 13];
    if hdr_len < TCP + 20 || hdr_len >= f.len() || flags & !PSH != ACK {
        return None;
    }
    Some(Seg {
        hdr_len,
        seq: be32(f, TCP + 4),
        payload: f.len() - hdr_len,
        flags,
    })
}

/// Whether `f` has `first`'s headers but for what the kernel rewrites per segment (IPv4 length,
/// identifier and checksum; TCP sequence number, flags and checksum).
fn same_headers(first: &[u8], f: &[u8], hdr_len: usize) -> bool {
    first[..IP + 2] == f[..IP + 2]
        && first[IP + 6..IP + 10] == f[IP + 6..IP + 10]
        && first[IP + 12..TCP + 4] == f[IP + 12..TCP + 4]
        && first[TCP + 8..TCP + 13] == f[TCP + 8..TCP + 13]
        && first[TCP + 14..TCP + 16] == f[TCP + 14..TCP + 16]
        && first[TCP + 18..hdr_len] == f[TCP + 18..hdr_len]
}

/// A run of frames one super-frame carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Run {
    /// Frames merged (at least 2).
    pub count: usize,
    /// Headers of each frame.
    pub hdr_len: usize,
    /// The payload of every frame but the last (the kernel's `gso_size`).
    pub mss: usize,
    /// Bytes of the super-frame (headers once, every payload).
    pub len: usize,
}

/// The run starting at `frame(0)` that fits `room` bytes, if two frames or more merge.
pub(super) fn run<'a>(frame: impl Fn(usize) -> Option<&'a [u8]>, room: usize) -> Option<Run> {
    let first = frame(0)?;
    let s0 = tcp4(first)?;
    if s0.flags & PSH != 0 {
        return None;
    }
    let (mut count, mut len, mut next_seq) =
        (1, first.len(), s0.seq.wrapping_add(s0.payload as u32));
    while let Some(f) = frame(count) {
        let Some(s) = tcp4(f) else { break };
        if s.hdr_len != s0.hdr_len
            || s.seq != next_seq
            || s.payload > s0.payload
            || len + s.payload > room.min(IP + usize::from(u16::MAX))
            || !same_headers(first, f, s0.hdr_len)
        {
            break;
        }
        count += 1;
        len += s.payload;
        next_seq = next_seq.wrapping_add(s.payload as u32);
        if s.payload < s0.payload || s.flags & PSH != 0 {
            break;
        }
    }
    (count > 1).then_some(Run {
        count,
        hdr_len: s0.hdr_len,
        mss: s0.payload,
        len,
    })
}

/// The `virtio_net_hdr` of a single frame: `hdr_len`, the bytes the kernel copies into the
/// socket buffer's linear part (the whole frame, or its first 64 KiB), and, when the frame asks
/// for its TCP checksum (`offload`, whose checksum field then holds the pseudo-header sum), the
/// checksum request (`VIRTIO_NET_HDR_F_NEEDS_CSUM` from the TCP header on), which the kernel
/// completes on its way out. Native byte order, as the kernel's `vio_le()` reads it.
pub(super) fn frame_header(frame_len: usize, offload: TxOffload) -> [u8; VNET_HDR_LEN] {
    let copy = u16::try_from(frame_len).unwrap_or(u16::MAX);
    let mut hdr = [0u8; VNET_HDR_LEN];
    hdr[V_HDR_LEN..V_HDR_LEN + 2].copy_from_slice(&copy.to_ne_bytes());
    if offload.l4_checksum == Some(L4Checksum::Tcp) {
        let start = u16::from(offload.l2_len) + u16::from(offload.l3_len);
        hdr[V_FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        hdr[V_CSUM_START..V_CSUM_START + 2].copy_from_slice(&start.to_ne_bytes());
        hdr[V_CSUM_OFFSET..V_CSUM_OFFSET + 2].copy_from_slice(&TCP_CSUM_FIELD.to_ne_bytes());
    }
    hdr
}

/// The `virtio_net_hdr` of a frame the stack built as one long TCP segment for the kernel to cut
/// ([`TxOffload::tcp_segment`] payload bytes a piece): `hdr_len` its headers (the linear part
/// the kernel copies; the payload goes into page fragments that the cut segments share), GSO
/// TCPv4 and the checksum request, as [`write_headers`] asks for a merged run. `None` for a
/// frame that asks for no cutting, or is not TCP over IPv4 as the offload describes it.
pub(super) fn tso_header(frame: &[u8], offload: TxOffload) -> Option<[u8; VNET_HDR_LEN]> {
    // Most frames ask for no cutting: that answer reads no byte of them.
    if offload.tcp_segment == 0 || offload.l4_checksum != Some(L4Checksum::Tcp) {
        return None;
    }
    let l3 = usize::from(offload.l2_len);
    let l4 = l3 + usize::from(offload.l3_len);
    let data_offset = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
    let hdr_len = l4 + data_offset;
    if data_offset < 20 || hdr_len >= frame.len() || frame.get(l3)? >> 4 != 4 {
        return None;
    }
    let mut vnet = [0u8; VNET_HDR_LEN];
    vnet[V_FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vnet[V_GSO_TYPE] = VIRTIO_NET_HDR_GSO_TCPV4;
    for (at, v) in [
        (V_HDR_LEN, hdr_len as u16),
        (V_GSO_SIZE, offload.tcp_segment),
        (V_CSUM_START, l4 as u16),
        (V_CSUM_OFFSET, TCP_CSUM_FIELD),
    ] {
        vnet[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }
    Some(vnet)
}

/// Writes `run`'s `virtio_net_hdr` and super-frame into `out` (at least `VNET_HDR_LEN +
/// run.len` bytes): [`write_headers`], then every payload in order.
pub(super) fn write<'a>(frame: impl Fn(usize) -> Option<&'a [u8]>, run: &Run, out: &mut [u8]) {
    let h = run.hdr_len;
    let (Some(first), Some(last)) = (frame(0), frame(run.count - 1)) else {
        return;
    };
    write_headers(first, last, run, &mut out[..VNET_HDR_LEN + h]);
    let body = &mut out[VNET_HDR_LEN..];
    body[h..first.len()].copy_from_slice(&first[h..]);
    let mut at = first.len();
    for i in 1..run.count {
        let Some(f) = frame(i) else { break };
        body[at..at + f.len() - h].copy_from_slice(&f[h..]);
        at += f.len() - h;
    }
}

/// Writes `run`'s `virtio_net_hdr` and the super-frame's headers into `out` (`VNET_HDR_LEN +
/// run.hdr_len` bytes): the first frame's headers (`first`) with the whole length, the last
/// frame's flags (`last`) and the pseudo-header checksum the kernel completes per segment. The
/// payloads follow them in the super-frame.
pub(super) fn write_headers(first: &[u8], last: &[u8], run: &Run, out: &mut [u8]) {
    let (vnet, body) = out.split_at_mut(VNET_HDR_LEN);
    vnet.fill(0);
    vnet[V_FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vnet[V_GSO_TYPE] = VIRTIO_NET_HDR_GSO_TCPV4;
    // Native byte order, as the kernel's `vio_le()` reads it.
    for (at, v) in [
        (V_HDR_LEN, run.hdr_len),
        (V_GSO_SIZE, run.mss),
        (V_CSUM_START, TCP),
        (V_CSUM_OFFSET, usize::from(TCP_CSUM_FIELD)),
    ] {
        vnet[at..at + 2].copy_from_slice(&(v as u16).to_ne_bytes());
    }
    body[..run.hdr_len].copy_from_slice(&first[..run.hdr_len]);
    body[TCP + 13] = last[TCP + 13];
    let ip_len = (run.len - IP) as u16;
    body[IP + 2..IP + 4].copy_from_slice(&ip_len.to_be_bytes());
    body[IP + 10..IP + 12].fill(0);
    let ip_sum = checksum::checksum(&body[IP..TCP]);
    body[IP + 10..IP + 12].copy_from_slice(&ip_sum.to_be_bytes());
    let tcp_len = (run.len - TCP) as u32;
    let pseudo = checksum::sum(&body[IP + 12..TCP]) + 6 + tcp_len;
    body[TCP + 16..TCP + 18].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtcp_wire::checksum::{fold, sum};

    /// A TCP/IPv4 frame of `payload` bytes at `seq` with `flags` and a timestamp option.
    fn frame(seq: u32, payload: usize, flags: u8, tsval: u32) -> Vec<u8> {
        let mut f = vec![0u8; TCP + 32 + payload];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[IP] = 0x45;
        f[IP + 2..IP + 4].copy_from_slice(&((20 + 32 + payload) as u16).to_be_bytes());
        f[IP + 6] = 0x40;
        f[IP + 8] = 64;
        f[IP + 9] = 6;
        f[IP + 12..IP + 16].copy_from_slice(&[198, 18, 0, 2]);
        f[IP + 16..IP + 20].copy_from_slice(&[198, 18, 0, 1]);
        f[TCP..TCP + 4].copy_from_slice(&[0x9c, 0x40, 0x13, 0x89]);
        f[TCP + 4..TCP + 8].copy_from_slice(&seq.to_be_bytes());
        f[TCP + 8..TCP + 12].copy_from_slice(&7u32.to_be_bytes());
        f[TCP + 12] = 8 << 4;
        f[TCP + 13] = flags;
        f[TCP + 14..TCP + 16].copy_from_slice(&[0xff, 0xff]);
        f[TCP + 20..TCP + 24].copy_from_slice(&[1, 1, 8, 10]);
        f[TCP + 24..TCP + 28].copy_from_slice(&tsval.to_be_bytes());
        for (i, b) in f[TCP + 32..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        f
    }

    fn run_of(frames: &[Vec<u8>], room: usize) -> Option<Run> {
        run(|i| frames.get(i).map(|f| &f[..]), room)
    }

    #[test]
    fn a_full_run_merges_and_stops_after_the_short_or_pushed_frame() {
        let f = [
            frame(1000, 1448, ACK, 5),
            frame(2448, 1448, ACK, 5),
            frame(3896, 100, ACK | PSH, 5),
            frame(3996, 1448, ACK, 5),
        ];
        let r = run_of(&f, 1 << 16).unwrap();
        assert_eq!((r.count, r.hdr_len, r.mss), (3, TCP + 32, 1448));
        assert_eq!(r.len, TCP + 32 + 1448 * 2 + 100);
        let mut out = vec![0u8; VNET_HDR_LEN + r.len];
        write(|i| f.get(i).map(|f| &f[..]), &r, &mut out);
        let body = &out[VNET_HDR_LEN..];
        assert_eq!(usize::from(be16(body, IP + 2)), r.len - IP);
        assert_eq!(body[TCP + 13], ACK | PSH, "the last frame's flags");
        assert_eq!(fold(sum(&body[IP..TCP])), 0xffff, "IPv4 checksum");
        assert_eq!(&body[TCP + 32..TCP + 32 + 1448], &f[0][TCP + 32..]);
        assert_eq!(&body[r.len - 100..r.len], &f[2][TCP + 32..]);
        assert_eq!(out[V_GSO_TYPE], VIRTIO_NET_HDR_GSO_TCPV4);
        assert_eq!(
            u16::from_ne_bytes([out[V_GSO_SIZE], out[V_GSO_SIZE + 1]]),
            1448
        );
        // The kernel completes the checksum over the whole TCP length from this partial sum:
        // with the payload's sum folded in, the segment checks out.
        let whole = u32::from(be16(body, TCP + 16))
            + sum(&{
                let mut t = body[TCP..r.len].to_vec();
                t[16..18].fill(0);
                t
            });
        let check = !fold(whole);
        let mut seg = body[IP + 12..TCP].to_vec();
        seg.extend_from_slice(&[0, 6]);
        seg.extend_from_slice(&((r.len - TCP) as u16).to_be_bytes());
        let mut t = body[TCP..r.len].to_vec();
        t[16..18].copy_from_slice(&check.to_be_bytes());
        seg.extend_from_slice(&t);
        assert_eq!(
            fold(sum(&seg)),
            0xffff,
            "the completed TCP checksum verifies"
        );
    }

    #[test]
    fn frames_that_differ_do_not_merge() {
        let base = frame(1000, 1448, ACK, 5);
        let cases = [
            frame(2449, 1448, ACK, 5),     // a gap in the sequence
            frame(2448, 1448, ACK, 6),     // another timestamp
            frame(2448, 1448, ACK | 1, 5), // FIN
            frame(2448, 1449, ACK, 5),     // longer than the first
        ];
        for c in cases {
            assert_eq!(
                run_of(&[base.clone(), c.clone()], 1 << 16),
                None,
                "{:?}",
                &c[TCP..TCP + 32]
            );
        }
        assert_eq!(
            run_of(
                &[frame(1000, 1448, ACK | PSH, 5), frame(2448, 1448, ACK, 5)],
                1 << 16
            ),
            None
        );
        let mut other_ack = frame(2448, 1448, ACK, 5);
        other_ack[TCP + 11] = 8;
        assert_eq!(run_of(&[base.clone(), other_ack], 1 << 16), None);
        // Room for the first and one more payload only.
        let f = [
            base.clone(),
            frame(2448, 1448, ACK, 5),
            frame(3896, 1448, ACK, 5),
        ];
        assert_eq!(run_of(&f, base.len() + 1448).map(|r| r.count), Some(2));
        assert_eq!(run_of(&f[..1], 1 << 16), None);
    }
}
