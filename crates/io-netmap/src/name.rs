//! Port names in netmap's own syntax, split into what the registration request needs.
//!
//! | name            | what it binds                                        |
//! |-----------------|------------------------------------------------------|
//! | `netmap:eth0`   | every hardware ring pair of `eth0` (one queue each)  |
//! | `netmap:eth0-2` | hardware ring pair 2 only (one queue)                |
//! | `netmap:eth0^`  | the host-stack ring pair (one queue)                 |
//! | `vale0:p`       | port `p` of VALE switch `vale0`, created on demand   |
//! | `netmap:x{1`    | master end of pipe 1 of `x`; `netmap:x}1` the slave  |
//!
//! Options after `/` or `@` (libnetmap's extended syntax) and the `*` (NIC + host) suffix are
//! refused with a clear error rather than silently ignored.

use crate::error::NetmapError;
use crate::sys;

/// Which rings of the port a registration binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingMode {
    /// All hardware ring pairs (`NR_REG_ALL_NIC`).
    AllNic,
    /// One hardware ring pair (`NR_REG_ONE_NIC`).
    OneNic(u16),
    /// The host-stack ring pair (`NR_REG_SW`).
    Host,
}

/// What kind of port a name designates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A kernel network interface put in netmap mode.
    Nic {
        /// The interface name (`eth0`).
        ifname: String,
    },
    /// A port of a VALE software switch.
    Vale,
    /// One end of a netmap pipe.
    Pipe,
}

/// A parsed port name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortName {
    /// The name as given.
    pub original: String,
    /// The name the kernel gets in `nr_name` (`eth0`, `vale0:p`, `x{1`).
    pub request_name: String,
    /// The rings to bind.
    pub mode: RingMode,
    /// What kind of port it is.
    pub kind: PortKind,
}

fn bad(name: &str, reason: &'static str) -> NetmapError {
    NetmapError::BadPortName {
        name: name.to_owned(),
        reason,
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

impl PortName {
    /// Parses `netmap:IF[-k|^]`, `netmap:IF{k`, `netmap:IF}k` or `valeX:Y[-k|^]`.
    pub fn parse(name: &str) -> Result<PortName, NetmapError> {
        let (body, vale) = if let Some(rest) = name.strip_prefix("netmap:") {
            (rest, false)
        } else if name.starts_with("vale") {
            (name, true)
        } else {
            return Err(bad(name, "must start with \"netmap:\" or \"vale\""));
        };
        if body.contains(['/', '@']) {
            return Err(bad(name, "options after '/' or '@' are not supported"));
        }
        if body.contains('*') {
            return Err(bad(
                name,
                "the '*' (NIC + host rings) suffix is not supported; open the two separately",
            ));
        }
        let base_end = body.find(['-', '^', '{', '}']).unwrap_or(body.len());
        let (base, suffix) = body.split_at(base_end);
        if vale {
            let Some((switch, port)) = base.split_once(':') else {
                return Err(bad(name, "a VALE port is named valeX:Y"));
            };
            let switch_id = &switch["vale".len()..];
            if !(switch_id.is_empty() || is_ident(switch_id)) || !is_ident(port) {
                return Err(bad(
                    name,
                    "VALE switch and port names are letters, digits and '_'",
                ));
            }
        } else if !is_ident(base) {
            return Err(bad(name, "missing or malformed interface name"));
        }

        let (request_name, mode, pipe) = match suffix.chars().next() {
            None => (base.to_owned(), RingMode::AllNic, false),
            Some('^') if suffix.len() == 1 => (base.to_owned(), RingMode::Host, false),
            Some('^') => return Err(bad(name, "nothing may follow '^'")),
            Some('-') => {
                let ring: u16 = suffix[1..]
                    .parse()
                    .map_err(|_| bad(name, "'-' must be followed by a ring number (0..4095)"))?;
                if ring > 0x0fff {
                    return Err(bad(name, "ring numbers go up to 4095"));
                }
                (base.to_owned(), RingMode::OneNic(ring), false)
            }
            Some(_) => {
                // '{' or '}': a pipe; its identifier stays part of the kernel-side name.
                if !is_ident(&suffix[1..]) {
                    return Err(bad(name, "a pipe end is named IF{ID or IF}ID"));
                }
                (body.to_owned(), RingMode::AllNic, true)
            }
        };
        if request_name.len() >= sys::NETMAP_REQ_IFNAMSIZ {
            return Err(bad(name, "longer than netmap's 63-byte port names"));
        }
        let kind = if pipe {
            PortKind::Pipe
        } else if vale {
            PortKind::Vale
        } else {
            if base.len() >= sys::IFNAMSIZ {
                return Err(bad(name, "interface names are at most 15 bytes"));
            }
            PortKind::Nic {
                ifname: base.to_owned(),
            }
        };
        Ok(PortName {
            original: name.to_owned(),
            request_name,
            mode,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortName {
        PortName::parse(s).unwrap()
    }

    #[test]
    fn nic_names() {
        let n = p("netmap:eth0");
        assert_eq!(n.request_name, "eth0");
        assert_eq!(n.mode, RingMode::AllNic);
        assert_eq!(
            n.kind,
            PortKind::Nic {
                ifname: "eth0".into()
            }
        );
        assert_eq!(p("netmap:eth0-2").mode, RingMode::OneNic(2));
        assert_eq!(p("netmap:eth0-2").request_name, "eth0");
        assert_eq!(p("netmap:enp1s0f1^").mode, RingMode::Host);
    }

    #[test]
    fn vale_and_pipe_names() {
        let v = p("vale0:p");
        assert_eq!(
            (v.request_name.as_str(), v.mode, v.kind),
            ("vale0:p", RingMode::AllNic, PortKind::Vale)
        );
        assert_eq!(p("vale:x-1").mode, RingMode::OneNic(1));
        let m = p("netmap:x{1");
        assert_eq!((m.request_name.as_str(), m.kind), ("x{1", PortKind::Pipe));
        assert_eq!(p("netmap:x}1").request_name, "x}1");
        let vp = p("vale12p:a{7");
        assert_eq!(
            (vp.request_name.as_str(), vp.kind),
            ("vale12p:a{7", PortKind::Pipe)
        );
    }

    #[test]
    fn bad_names_are_errors() {
        for s in [
            "eth0",
            "netmap:",
            "netmap:-1",
            "netmap:eth0-",
            "netmap:eth0-x",
            "netmap:eth0-5000",
            "netmap:eth0^1",
            "netmap:eth0*",
            "netmap:eth0/R",
            "netmap:eth0@conf:rings=4",
            "netmap:x{",
            "vale0",
            "vale0:",
            "vale0:a b",
            "netmap:averyveryverylongifname",
        ] {
            let e = PortName::parse(s).unwrap_err();
            assert!(matches!(e, NetmapError::BadPortName { .. }), "{s}: {e}");
        }
    }
}
