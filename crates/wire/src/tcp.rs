//! TCP (RFC 9293) header with every option (RFC 7323, RFC 2018).
//!
//! CONTRACT (shared with `crates/tcp`): the names and shapes of `SeqNumber`, `TcpFlags`, `TcpOptions`,
//! `SackBlock`, `Timestamps` and `TcpRepr` below are what the TCP engine programs against. Add to them;
//! do not rename or reshape them without updating the engine.

use core::cmp::Ordering;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::{Add, AddAssign, Sub};

use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, Checksum};
use crate::{Error, Result};

/// A TCP sequence number: arithmetic wraps modulo 2^32 and comparison is by signed distance
/// (RFC 9293 §3.4), so `a < b` means "b lies within 2^31 after a".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self - other` as a signed distance.
    pub const fn distance(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.distance(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub for SeqNumber {
    type Output = i32;
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.distance(rhs)
    }
}

/// The TCP header's flag bits (the 12 low bits of bytes 12..14, NS included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// The urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// ECN nonce (RFC 3540, historic).
    pub const NS: TcpFlags = TcpFlags(0x100);

    /// No flag set.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }
    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether any flag of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

/// One SACK block (RFC 2018): the peer holds `[left, right)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNumber,
    /// Sequence number just past the block.
    pub right: SeqNumber,
}

/// The timestamps option (RFC 7323).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// TSval: the sender's clock.
    pub tsval: u32,
    /// TSecr: the most recent TSval received, echoed.
    pub tsecr: u32,
}

/// The options of one segment that TCP understands; unknown options are skipped when parsing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift count (SYN only).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks, at most 4 (3 when timestamps are present, for space).
    pub sack_blocks: heapless::Vec<SackBlock, 4>,
    /// Timestamps.
    pub timestamps: Option<Timestamps>,
}

/// A high-level representation of a TCP header and its payload. The default (all zero, no
/// options, no payload) is a slot for [`TcpRepr::parse_into`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first byte (or of the SYN).
    pub seq_number: SeqNumber,
    /// Acknowledgment number; meaningful only when `flags` has ACK.
    pub ack_number: SeqNumber,
    /// Flags, ACK included.
    pub flags: TcpFlags,
    /// Window field as sent (not scaled).
    pub window_len: u16,
    /// Urgent pointer; meaningful only with URG.
    pub urgent_pointer: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload.
    pub payload: &'a [u8],
}

/// The length of a header without options.
pub const HEADER_LEN: usize = 20;
/// The most option bytes a header can carry.
pub const MAX_OPTIONS_LEN: usize = 40;

/// The fixed part of a TCP header, as it lies on the wire.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Sequence number.
    pub seq: U32,
    /// Acknowledgment number.
    pub ack: U32,
    /// Data offset (high nibble, in 32-bit words), reserved bits and the NS flag (low bit).
    pub offset_ns: u8,
    /// The eight flags CWR..FIN.
    pub flags: u8,
    /// Window.
    pub window: U16,
    /// Checksum.
    pub checksum: U16,
    /// Urgent pointer.
    pub urgent: U16,
}

mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

impl TcpOptions {
    /// Parses the options area of a header. Unknown options are skipped; an option whose length
    /// byte is missing, too small, runs past the area, or does not fit its kind is rejected.
    pub fn parse(bytes: &[u8]) -> Result<TcpOptions> {
        let mut opts = TcpOptions::default();
        opts.parse_into(bytes)?;
        Ok(opts)
    }

    /// [`TcpOptions::parse`] into `self`, in place (what it held before is gone; after an error
    /// it holds part of the options). Built where the caller keeps it, the options are not
    /// copied again: a copy of a freshly written struct reads it back in wider loads than it
    /// was written with, which the CPU cannot forward from its store buffer (a stall per copy,
    /// measured on the receive path of every segment).
    pub fn parse_into(&mut self, bytes: &[u8]) -> Result<()> {
        // The layout nearly every segment of an established connection carries, Linux's and
        // ours: NOP, NOP, timestamps (Linux's tcp_parse_aligned_timestamp takes the same
        // shortcut).
        if let [
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMPS,
            10,
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
        ] = *bytes
        {
            *self = TcpOptions {
                timestamps: Some(Timestamps {
                    tsval: u32::from_be_bytes([a, b, c, d]),
                    tsecr: u32::from_be_bytes([e, f, g, h]),
                }),
                ..TcpOptions::default()
            };
            return Ok(());
        }
        *self = TcpOptions::default();
        self.parse_walk(bytes)
    }

    /// Walks the options area, kind by kind, into `self` (default before).
    fn parse_walk(&mut self, mut bytes: &[u8]) -> Result<()> {
        let opts = self;
        while let [kind, rest @ ..] = bytes {
            match *kind {
                kind::EOL => break,
                kind::NOP => {
                    bytes = rest;
                    continue;
                }
                _ => {}
            }
            let [len, ..] = rest else {
                return Err(Error::Malformed);
            };
            let len = usize::from(*len);
            if len < 2 || len > bytes.len() {
                return Err(Error::Malformed);
            }
            let data = &bytes[2..len];
            match (*kind, data) {
                (kind::MSS, [a, b]) => opts.mss = Some(u16::from_be_bytes([*a, *b])),
                (kind::WINDOW_SCALE, [shift]) => opts.window_scale = Some(*shift),
                (kind::SACK_PERMITTED, []) => opts.sack_permitted = true,
                (kind::SACK, blocks) if !blocks.is_empty() && blocks.len() % 8 == 0 => {
                    opts.sack_blocks.clear();
                    for b in blocks.chunks_exact(8) {
                        let left = SeqNumber(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        let right = SeqNumber(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
                        // At most 4 blocks fit in 40 bytes, so this never overflows.
                        opts.sack_blocks
                            .push(SackBlock { left, right })
                            .map_err(|_| Error::Malformed)?;
                    }
                }
                (kind::TIMESTAMPS, [a, b, c, d, e, f, g, h]) => {
                    opts.timestamps = Some(Timestamps {
                        tsval: u32::from_be_bytes([*a, *b, *c, *d]),
                        tsecr: u32::from_be_bytes([*e, *f, *g, *h]),
                    })
                }
                (
                    kind::MSS
                    | kind::WINDOW_SCALE
                    | kind::SACK_PERMITTED
                    | kind::SACK
                    | kind::TIMESTAMPS,
                    _,
                ) => {
                    return Err(Error::Malformed);
                }
                _ => {} // Unknown option: skipped.
            }
            bytes = &bytes[len..];
        }
        Ok(())
    }

    /// The number of bytes [`TcpOptions::emit`] writes, padded to a multiple of 4.
    pub fn buffer_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        len += match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        if !self.sack_blocks.is_empty() {
            len += 4 + 8 * self.sack_blocks.len();
        }
        len
    }

    /// Writes the options in the order Linux uses (MSS, SACK-permitted with timestamps, window
    /// scale, SACK blocks), NOP-padded to 32-bit alignment; returns the length written. Options
    /// that do not fit in 40 bytes are rejected as [`Error::Malformed`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if len > MAX_OPTIONS_LEN {
            return Err(Error::Malformed);
        }
        let buf = buf.get_mut(..len).ok_or(Error::Truncated)?;
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            put(&[kind::MSS, 4, a, b]);
        }
        match (self.sack_permitted, self.timestamps) {
            (sack, Some(ts)) => {
                if sack {
                    put(&[kind::SACK_PERMITTED, 2]);
                } else {
                    put(&[kind::NOP, kind::NOP]);
                }
                put(&[kind::TIMESTAMPS, 10]);
                put(&ts.tsval.to_be_bytes());
                put(&ts.tsecr.to_be_bytes());
            }
            (true, None) => put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            put(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
        }
        if !self.sack_blocks.is_empty() {
            put(&[
                kind::NOP,
                kind::NOP,
                kind::SACK,
                2 + 8 * self.sack_blocks.len() as u8,
            ]);
            for block in &self.sack_blocks {
                put(&block.left.0.to_be_bytes());
                put(&block.right.0.to_be_bytes());
            }
        }
        Ok(len)
    }
}

/// A zero-copy view of a checked TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpPacket<'a> {
    header: &'a TcpHeader,
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> TcpPacket<'a> {
    /// Checks that `buf` holds the header and the options its data offset claims.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (header, _) = TcpHeader::ref_from_prefix(buf).map_err(|_| Error::Truncated)?;
        let header_len = usize::from(header.offset_ns >> 4) * 4;
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        Ok(TcpPacket {
            header,
            options: &buf[HEADER_LEN..header_len],
            payload: &buf[header_len..],
        })
    }
    /// The fixed header as it lies on the wire.
    pub fn header(&self) -> &'a TcpHeader {
        self.header
    }
    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }
    /// The raw options area.
    pub fn options(&self) -> &'a [u8] {
        self.options
    }
    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.header.src_port.get()
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.header.dst_port.get()
    }
    /// All flags, NS included.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(u16::from(self.header.offset_ns & 1) << 8 | u16::from(self.header.flags))
    }
    /// Whether the checksum verifies against the pseudo-header of `src` and `dst`.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let len = self.header_len() + self.payload.len();
        let Ok(len) = u16::try_from(len) else {
            return false;
        };
        self.verify_with(checksum::pseudo_header_sum(src, dst, 6, len))
    }
    /// Whether the checksum verifies against the IPv6 pseudo-header of `src` and `dst`.
    pub fn verify_checksum_ipv6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let len = self.header_len() + self.payload.len();
        let Ok(len) = u32::try_from(len) else {
            return false;
        };
        self.verify_with(checksum::pseudo_header_sum_ipv6(src, dst, 6, len))
    }
    #[inline]
    fn verify_with(&self, pseudo: u32) -> bool {
        let s = pseudo
            + checksum::sum(self.header.as_bytes())
            + checksum::sum(self.options)
            + checksum::sum(self.payload);
        checksum::fold(s) == 0xffff
    }
}

impl<'a> TcpRepr<'a> {
    /// Reads the representation of a checked segment carried from `src` to `dst`, verifying the
    /// checksum if `checksum.rx()`.
    pub fn parse(
        packet: &TcpPacket<'a>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Self::parse_verified(packet)
    }

    /// Like [`TcpRepr::parse`], for a segment carried over IPv6.
    pub fn parse_ipv6(
        packet: &TcpPacket<'a>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        checksum: Checksum,
    ) -> Result<Self> {
        if checksum.rx() && !packet.verify_checksum_ipv6(src, dst) {
            return Err(Error::Checksum);
        }
        Self::parse_verified(packet)
    }

    /// [`TcpRepr::parse`] or [`TcpRepr::parse_ipv6`] by the addresses' family; addresses of
    /// two families are [`Error::Malformed`].
    pub fn parse_ip(
        packet: &TcpPacket<'a>,
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<Self> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Self::parse(packet, s, d, checksum),
            (IpAddr::V6(s), IpAddr::V6(d)) => Self::parse_ipv6(packet, &s, &d, checksum),
            _ => Err(Error::Malformed),
        }
    }

    #[inline]
    fn parse_verified(packet: &TcpPacket<'a>) -> Result<Self> {
        let mut repr = TcpRepr::default();
        repr.parse_into(packet)?;
        Ok(repr)
    }

    /// Reads a checked segment into `self`, in place, without looking at its checksum: for a
    /// segment whose checksum was verified ([`TcpPacket::verify_checksum`]) or left to the
    /// device. The same checks as [`TcpRepr::parse`] otherwise (after an error `self` holds part
    /// of the segment). A receive path that keeps one slot per frame and hands it on by
    /// reference copies the representation (about 100 bytes) nowhere: each copy of a freshly
    /// built one stalls on the store buffer (see [`TcpOptions::parse_into`]).
    pub fn parse_into(&mut self, packet: &TcpPacket<'a>) -> Result<()> {
        let h = packet.header;
        if h.src_port.get() == 0 || h.dst_port.get() == 0 {
            return Err(Error::Malformed);
        }
        self.src_port = h.src_port.get();
        self.dst_port = h.dst_port.get();
        self.seq_number = SeqNumber(h.seq.get());
        self.ack_number = SeqNumber(h.ack.get());
        self.flags = packet.flags();
        self.window_len = h.window.get();
        self.urgent_pointer = h.urgent.get();
        self.payload = packet.payload;
        self.options.parse_into(packet.options)
    }

    /// The header length this representation emits, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// The header and payload length this representation emits.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The sequence space the segment occupies: payload bytes plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes header, options and payload to the front of `buf` for a segment from `src` to `dst`.
    /// With `checksum.tx()` the checksum is computed; otherwise the field holds the pseudo-header
    /// sum, which is what NICs that offload the TCP checksum expect. Returns the length written.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<usize> {
        let header_len = self.header_len();
        let total16 =
            u16::try_from(header_len + self.payload.len()).map_err(|_| Error::Malformed)?;
        let pseudo = checksum::pseudo_header_sum(src, dst, 6, total16);
        self.emit_with(buf, header_len, pseudo, checksum)
    }

    /// Like [`TcpRepr::emit`], for a segment carried over IPv6.
    pub fn emit_ipv6(
        &self,
        buf: &mut [u8],
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        checksum: Checksum,
    ) -> Result<usize> {
        let header_len = self.header_len();
        // A segment larger than 64 KiB needs a jumbogram, which is not supported.
        let total16 =
            u16::try_from(header_len + self.payload.len()).map_err(|_| Error::Malformed)?;
        let pseudo = checksum::pseudo_header_sum_ipv6(src, dst, 6, u32::from(total16));
        self.emit_with(buf, header_len, pseudo, checksum)
    }

    /// [`TcpRepr::emit`] or [`TcpRepr::emit_ipv6`] by the addresses' family; addresses of two
    /// families are [`Error::Malformed`].
    pub fn emit_ip(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<usize> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.emit(buf, s, d, checksum),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.emit_ipv6(buf, &s, &d, checksum),
            _ => Err(Error::Malformed),
        }
    }

    /// The body of both emits: `header_len` is [`TcpRepr::header_len`], computed once by the
    /// caller, and `pseudo` the pseudo-header sum of the caller's IP version.
    #[inline]
    fn emit_with(
        &self,
        buf: &mut [u8],
        header_len: usize,
        pseudo: u32,
        checksum: Checksum,
    ) -> Result<usize> {
        let total = header_len + self.payload.len();
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let (h, rest) = TcpHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        h.src_port.set(self.src_port);
        h.dst_port.set(self.dst_port);
        h.seq.set(self.seq_number.0);
        h.ack.set(self.ack_number.0);
        h.offset_ns = ((header_len / 4) as u8) << 4 | (self.flags.0 >> 8) as u8 & 1;
        h.flags = self.flags.0 as u8;
        h.window.set(self.window_len);
        h.checksum.set(0);
        h.urgent.set(self.urgent_pointer);
        let options_len = self.options.emit(rest)?;
        rest[options_len..].copy_from_slice(self.payload);
        let field = if checksum.tx() {
            !checksum::fold(pseudo + checksum::sum(buf))
        } else {
            checksum::fold(pseudo)
        };
        TcpPacketMut::new_checked(buf)?.set_checksum(field);
        Ok(total)
    }
}

/// A mutable view of a TCP header, for editing fields in place (smoltcp-style setters). Edits
/// leave the checksum to the caller (the pseudo-header needs the IP addresses).
#[derive(Debug)]
pub struct TcpPacketMut<'a> {
    header: &'a mut TcpHeader,
}

impl<'a> TcpPacketMut<'a> {
    /// Checks that `buf` holds the fixed header and returns a mutable view of it.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self> {
        let (header, _) = TcpHeader::mut_from_prefix(buf).map_err(|_| Error::Truncated)?;
        Ok(TcpPacketMut { header })
    }
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        self.header.src_port.set(port);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        self.header.dst_port.set(port);
    }
    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, seq: SeqNumber) {
        self.header.seq.set(seq.0);
    }
    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, ack: SeqNumber) {
        self.header.ack.set(ack.0);
    }
    /// Sets the nine flags (NS included), keeping the data offset.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.header.offset_ns = (self.header.offset_ns & 0xf0) | (flags.0 >> 8) as u8 & 1;
        self.header.flags = flags.0 as u8;
    }
    /// Sets the window field (unscaled).
    pub fn set_window_len(&mut self, window: u16) {
        self.header.window.set(window);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        self.header.checksum.set(checksum);
    }
    /// Sets the urgent pointer.
    pub fn set_urgent_pointer(&mut self, urgent: u16) {
        self.header.urgent.set(urgent);
    }
}

impl core::fmt::Display for TcpFlags {
    /// tcpdump's notation: `S`, `S.`, `P.`, `F.`, `R`, with `E`/`W`/`U` for ECE/CWR/URG.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use core::fmt::Write;
        for (flag, c) in [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ] {
            if self.contains(flag) {
                f.write_char(c)?;
            }
        }
        if self.contains(TcpFlags::ACK) {
            f.write_char('.')?;
        }
        if self.0 & 0x1ff == 0 {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl core::fmt::Display for TcpOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut sep = "";
        let mut item = |f: &mut core::fmt::Formatter<'_>, args: core::fmt::Arguments<'_>| {
            let r = write!(f, "{sep}{args}");
            sep = ",";
            r
        };
        if let Some(mss) = self.mss {
            item(f, format_args!("mss {mss}"))?;
        }
        if self.sack_permitted {
            item(f, format_args!("sackOK"))?;
        }
        if let Some(ts) = self.timestamps {
            item(f, format_args!("TS val {} ecr {}", ts.tsval, ts.tsecr))?;
        }
        if let Some(shift) = self.window_scale {
            item(f, format_args!("wscale {shift}"))?;
        }
        if !self.sack_blocks.is_empty() {
            item(f, format_args!("sack {}", self.sack_blocks.len()))?;
            for b in &self.sack_blocks {
                write!(f, " {{{}:{}}}", b.left.0, b.right.0)?;
            }
        }
        Ok(())
    }
}

impl core::fmt::Display for TcpRepr<'_> {
    /// tcpdump-like, without addresses: `Flags [S.], seq 1, ack 2, win 3, options [...], length 0`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Flags [{}], seq {}", self.flags, self.seq_number.0)?;
        if !self.payload.is_empty() {
            write!(
                f,
                ":{}",
                self.seq_number.0.wrapping_add(self.payload.len() as u32)
            )?;
        }
        if self.flags.contains(TcpFlags::ACK) {
            write!(f, ", ack {}", self.ack_number.0)?;
        }
        write!(f, ", win {}", self.window_len)?;
        if self.flags.contains(TcpFlags::URG) {
            write!(f, ", urg {}", self.urgent_pointer)?;
        }
        if self.options != TcpOptions::default() {
            write!(f, ", options [{}]", self.options)?;
        }
        write!(f, ", length {}", self.payload.len())
    }
}

#[cfg(test)]
mod tests;
