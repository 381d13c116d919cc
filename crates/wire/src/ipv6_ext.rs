//! Walking IPv6 extension headers (RFC 8200 §4) to the upper layer, deciding for each what a host
//! must do: skip it, drop the packet silently, drop it and answer with an ICMPv6 parameter
//! problem, or report a fragment (not reassembled here) for the caller to drop.
//!
//! Handled: hop-by-hop options (only first, §4.3), routing (§4.4: with segments left, refused as a
//! host that forwards nothing; type 0 refused as RFC 5095 says), fragment (§4.5: reported; an
//! atomic fragment, offset 0 without M, is walked through as RFC 6946 says), destination options
//! (§4.6), and "no next header" (59). Options are walked TLV by TLV and the two high bits of an
//! unknown option's type pick the action (§4.2). The walk never reads past the payload and stops
//! after [`MAX_EXTENSION_HEADERS`] headers.

use crate::ipv4::IpProtocol;
use crate::ipv6::{HEADER_LEN, Ipv6Packet};
use crate::{Error, Result};

/// Next-header values of the extension headers.
pub mod next_header {
    /// Hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment.
    pub const FRAGMENT: u8 = 44;
    /// No next header.
    pub const NO_NEXT_HEADER: u8 = 59;
    /// Destination options.
    pub const DESTINATION_OPTIONS: u8 = 60;
}

/// The most extension headers walked before a packet is dropped as malformed: a legitimate packet
/// carries a handful (RFC 8200 §4.1 recommends each at most once), and the bound keeps the work per
/// packet small whatever an attacker sends.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// ICMPv6 parameter-problem codes (RFC 4443 §3.4).
pub mod param_problem {
    /// Erroneous header field encountered.
    pub const ERRONEOUS_FIELD: u8 = 0;
    /// Unrecognized next header type encountered.
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    /// Unrecognized IPv6 option encountered.
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// What a fragment header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// The next header of the fragmentable part.
    pub next_header: IpProtocol,
    /// Fragment offset in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

/// The outcome of walking the extension headers of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Payload<'a> {
    /// The upper-layer header (or a protocol the walker does not know: it is up to the caller
    /// to answer [`param_problem::UNRECOGNIZED_NEXT_HEADER`] at `pointer` if it does not handle
    /// `protocol` either).
    Upper {
        /// The upper-layer protocol.
        protocol: IpProtocol,
        /// The offset, from the start of the IPv6 header, of the next-header field that named it.
        pointer: u32,
        /// The upper-layer header and payload.
        data: &'a [u8],
    },
    /// A fragment of a larger packet: drop it (no reassembly).
    Fragment(FragmentInfo),
    /// "No next header": nothing follows, nothing to do.
    NoNextHeader,
    /// Drop the packet and answer with an ICMPv6 parameter problem of `code` at `pointer` (the
    /// offset of the offending byte from the start of the IPv6 header).
    ParameterProblem {
        /// One of [`param_problem`].
        code: u8,
        /// The offset of the offending field.
        pointer: u32,
    },
    /// Drop the packet silently (an unknown option of type `01xxxxxx`, or `11xxxxxx` sent to a
    /// multicast address).
    Discard,
}

/// Walks the extension headers of `packet` to its upper layer. [`Error::Truncated`] when a header
/// runs past the payload, [`Error::Malformed`] when options overrun their header or the chain is
/// longer than [`MAX_EXTENSION_HEADERS`].
pub fn walk<'a>(packet: &Ipv6Packet<'a>) -> Result<Ipv6Payload<'a>> {
    let payload = packet.payload();
    let multicast_dst = packet.dst_addr().is_multicast();
    let mut next = packet.header().next_header;
    // Where the current next-header value lies, from the start of the IPv6 header.
    let mut pointer = 6u32;
    let mut at = 0usize;
    for count in 0..=MAX_EXTENSION_HEADERS {
        let base = (HEADER_LEN + at) as u32;
        let rest = &payload[at..];
        match next {
            next_header::HOP_BY_HOP if count > 0 => {
                return Ok(problem(param_problem::UNRECOGNIZED_NEXT_HEADER, pointer));
            }
            next_header::HOP_BY_HOP | next_header::DESTINATION_OPTIONS => {
                let len = ext_len(rest)?;
                if let Some(outcome) = walk_options(&rest[2..len], base + 2, multicast_dst)? {
                    return Ok(outcome);
                }
                (next, pointer, at) = (rest[0], base, at + len);
            }
            next_header::ROUTING => {
                let len = ext_len(rest)?;
                // Routing type at byte 2, segments left at byte 3 (ext_len checked 8 bytes).
                if rest[3] != 0 {
                    return Ok(problem(param_problem::ERRONEOUS_FIELD, base + 2));
                }
                (next, pointer, at) = (rest[0], base, at + len);
            }
            next_header::FRAGMENT => {
                let h: &[u8; 8] = rest
                    .get(..8)
                    .and_then(|h| h.try_into().ok())
                    .ok_or(Error::Truncated)?;
                let word = u16::from_be_bytes([h[2], h[3]]);
                let info = FragmentInfo {
                    next_header: h[0].into(),
                    offset: word & 0xfff8,
                    more_frags: word & 1 != 0,
                    ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                };
                if info.offset != 0 || info.more_frags {
                    return Ok(Ipv6Payload::Fragment(info));
                }
                (next, pointer, at) = (h[0], base, at + 8);
            }
            next_header::NO_NEXT_HEADER => return Ok(Ipv6Payload::NoNextHeader),
            protocol => {
                return Ok(Ipv6Payload::Upper {
                    protocol: protocol.into(),
                    pointer,
                    data: rest,
                });
            }
        }
    }
    Err(Error::Malformed)
}

fn problem(code: u8, pointer: u32) -> Ipv6Payload<'static> {
    Ipv6Payload::ParameterProblem { code, pointer }
}

/// The length of the extension header at the front of `rest` (`(hdr ext len + 1) * 8`), checked
/// against `rest`.
fn ext_len(rest: &[u8]) -> Result<usize> {
    let units = rest.get(1).ok_or(Error::Truncated)?;
    let len = (usize::from(*units) + 1) * 8;
    if rest.len() < len {
        return Err(Error::Truncated);
    }
    Ok(len)
}

/// Walks the TLV options of a hop-by-hop or destination options header whose options area starts
/// at offset `base` of the packet. `Some` when an option decides the packet's fate.
fn walk_options(
    mut options: &[u8],
    base: u32,
    multicast_dst: bool,
) -> Result<Option<Ipv6Payload<'static>>> {
    let mut offset = base;
    while let Some(&kind) = options.first() {
        let len = match kind {
            0 => 1, // Pad1
            _ => 2 + usize::from(*options.get(1).ok_or(Error::Malformed)?),
        };
        if options.len() < len {
            return Err(Error::Malformed);
        }
        // PadN (1) and options a host may meet and skip without understanding them: anything
        // whose action bits are 00. Router alert (5), jumbo payload (0xc2) and the rest of the
        // recognised ones change nothing for a host without forwarding or jumbograms.
        let action = match kind {
            0 | 1 | 5 => 0,
            _ => kind >> 6,
        };
        match action {
            0 => {}
            1 => return Ok(Some(Ipv6Payload::Discard)),
            2 => return Ok(Some(problem(param_problem::UNRECOGNIZED_OPTION, offset))),
            _ if multicast_dst => return Ok(Some(Ipv6Payload::Discard)),
            _ => return Ok(Some(problem(param_problem::UNRECOGNIZED_OPTION, offset))),
        }
        options = &options[len..];
        offset += len as u32;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv6::Ipv6Repr;
    use core::net::Ipv6Addr;

    const TCP: u8 = 6;

    /// A packet from 2001:2::1 to `dst` whose payload is `ext` followed by b"tcp!".
    fn packet(first: u8, dst: &str, ext: &[u8]) -> Vec<u8> {
        let dst: Ipv6Addr = dst.parse().unwrap();
        let mut repr = Ipv6Repr::new(
            "2001:2::1".parse().unwrap(),
            dst,
            first.into(),
            ext.len() + 4,
        );
        repr.hop_limit = 255;
        let mut buf = vec![0u8; 40 + ext.len() + 4];
        repr.emit(&mut buf).unwrap();
        buf[40..40 + ext.len()].copy_from_slice(ext);
        buf[40 + ext.len()..].copy_from_slice(b"tcp!");
        buf
    }

    fn walked(first: u8, ext: &[u8]) -> Result<Ipv6Payload<'static>> {
        walked_to(first, "2001:2::2", ext)
    }

    fn walked_to(first: u8, dst: &str, ext: &[u8]) -> Result<Ipv6Payload<'static>> {
        let buf = packet(first, dst, ext).leak();
        walk(&Ipv6Packet::new_checked(buf).unwrap())
    }

    fn upper(pointer: u32) -> Result<Ipv6Payload<'static>> {
        Ok(Ipv6Payload::Upper {
            protocol: IpProtocol::Tcp,
            pointer,
            data: b"tcp!",
        })
    }

    #[test]
    fn no_extension_headers() {
        assert_eq!(walked(TCP, &[]), upper(6));
    }

    #[test]
    fn options_are_skipped_in_hop_by_hop_and_destination_options() {
        // Hop-by-hop: PadN(0), router alert(0), then destination options with an unknown
        // skippable option (type 0x1e) and padding; and one made of Pad1 alone.
        assert_eq!(walked(0, &[TCP, 0, 0, 0, 0, 0, 0, 0]), upper(40));
        let ext = [
            60, 0, 1, 0, 5, 2, 0, 0, //
            TCP, 0, 0x1e, 2, 9, 9, 1, 0,
        ];
        assert_eq!(walked(0, &ext), upper(48));
    }

    #[test]
    fn unknown_options_act_by_their_high_bits() {
        let with = |kind: u8| [TCP, 0, 1, 0, kind, 1, 0, 0];
        assert_eq!(walked(60, &with(0x41)), Ok(Ipv6Payload::Discard));
        let problem = Ok(Ipv6Payload::ParameterProblem {
            code: param_problem::UNRECOGNIZED_OPTION,
            pointer: 44,
        });
        assert_eq!(walked(60, &with(0x81)), problem);
        assert_eq!(walked(60, &with(0xc1)), problem);
        assert_eq!(walked_to(60, "ff02::1", &with(0x81)), problem);
        assert_eq!(
            walked_to(60, "ff02::1", &with(0xc1)),
            Ok(Ipv6Payload::Discard)
        );
    }

    #[test]
    fn hop_by_hop_only_first() {
        let ext = [0, 0, 1, 4, 0, 0, 0, 0, TCP, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(
            walked(60, &ext),
            Ok(Ipv6Payload::ParameterProblem {
                code: param_problem::UNRECOGNIZED_NEXT_HEADER,
                pointer: 40,
            })
        );
    }

    #[test]
    fn routing_headers_with_segments_left_are_refused() {
        // Type 0 (RFC 5095) and type 4 (SRH) with one segment left: we forward nothing.
        for kind in [0u8, 4] {
            let ext = [
                TCP, 2, kind, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            assert_eq!(
                walked(43, &ext),
                Ok(Ipv6Payload::ParameterProblem {
                    code: param_problem::ERRONEOUS_FIELD,
                    pointer: 42,
                })
            );
        }
        // Segments left 0: ignored, the walk goes on.
        let ext = [TCP, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(walked(43, &ext), upper(40));
    }

    #[test]
    fn fragments_are_reported_and_atomic_ones_walked_through() {
        let ext = [TCP, 0, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(
            walked(44, &ext),
            Ok(Ipv6Payload::Fragment(FragmentInfo {
                next_header: IpProtocol::Tcp,
                offset: 0x5c8,
                more_frags: true,
                ident: 0xdead_beef,
            }))
        );
        let atomic = [TCP, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(walked(44, &atomic), upper(40));
    }

    #[test]
    fn no_next_header_and_unknown_protocols() {
        assert_eq!(walked(59, &[]), Ok(Ipv6Payload::NoNextHeader));
        assert_eq!(
            walked(253, &[]),
            Ok(Ipv6Payload::Upper {
                protocol: IpProtocol::Unknown(253),
                pointer: 6,
                data: b"tcp!",
            })
        );
    }

    #[test]
    fn malformed_chains_are_errors_not_panics() {
        // A header longer than the payload.
        assert_eq!(
            walked(60, &[TCP, 3, 1, 2, 0, 0, 0, 0]),
            Err(Error::Truncated)
        );
        // Only the next-header byte present (the payload ends after "tcp!" in the helper, so
        // build this one by hand).
        let mut buf = packet(60, "2001:2::2", &[]);
        buf.truncate(41);
        buf[4..6].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(
            walk(&Ipv6Packet::new_checked(&buf).unwrap()),
            Err(Error::Truncated)
        );
        // An option running past its header.
        assert_eq!(
            walked(60, &[TCP, 0, 1, 9, 0, 0, 0, 0]),
            Err(Error::Malformed)
        );
        // An option type without its length byte.
        assert_eq!(
            walked(60, &[TCP, 0, 1, 3, 0, 0, 0, 0x22]),
            Err(Error::Malformed)
        );
        // A fragment header cut short.
        assert_eq!(walked(44, &[TCP, 0, 0]), Err(Error::Truncated));
        // A loop of destination options headers, each naming the next.
        let chain: Vec<u8> = (0..MAX_EXTENSION_HEADERS + 1)
            .flat_map(|_| [60, 0, 1, 4, 0, 0, 0, 0])
            .collect();
        assert_eq!(walked(60, &chain), Err(Error::Malformed));
        let mut ok = chain.clone();
        let last = (MAX_EXTENSION_HEADERS - 1) * 8;
        ok.truncate(last + 8);
        ok[last] = TCP;
        assert_eq!(walked(60, &ok), upper(40 + last as u32));
    }
}
