//! How to open an AF_XDP port: mode, zero copy, UMEM and ring sizes.

use std::fmt;
use std::str::FromStr;

/// Where the XDP program runs (`xdp_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// Native if the driver has it, else generic.
    #[default]
    Auto,
    /// In the driver (`XDP_DRV`): fails on drivers without native XDP.
    Native,
    /// In the kernel's generic receive path (`XDP_SKB`): any driver, frames copied.
    Generic,
}

/// Whether sockets bind in zero-copy mode (`xdp_zero_copy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Zero copy if the driver has it, else copy.
    #[default]
    Auto,
    /// Zero copy or fail.
    On,
    /// Copy mode.
    Off,
}

/// A value of a mode key that is none of its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for XdpMode {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<XdpMode, BadValue> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "native" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            other => Err(BadValue(format!(
                "bad xdp_mode `{other}` (auto, native, generic)"
            ))),
        }
    }
}

impl FromStr for ZeroCopy {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<ZeroCopy, BadValue> {
        match s {
            "auto" => Ok(ZeroCopy::Auto),
            "on" | "1" | "yes" => Ok(ZeroCopy::On),
            "off" | "0" | "no" => Ok(ZeroCopy::Off),
            other => Err(BadValue(format!(
                "bad xdp_zero_copy `{other}` (auto, on, off)"
            ))),
        }
    }
}

/// How to open an AF_XDP device. Memory per queue: `frame_count * frame_size` bytes of UMEM
/// (pinned by the kernel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpConfig {
    /// Interface name.
    pub ifname: String,
    /// Queues: one AF_XDP socket (and UMEM) each, bound to the interface's queues `0..queues`.
    pub queues: usize,
    /// Native or generic XDP.
    pub mode: XdpMode,
    /// Zero copy or copy.
    pub zero_copy: ZeroCopy,
    /// UMEM frames per queue (a power of two); half at most are lent to the fill ring. The fill
    /// ring's stock is how many frames the port can take while its core is busy: a frame that
    /// finds it empty is dropped by the kernel (`rx_fill_ring_empty`), and the flow waits a
    /// retransmission timeout. With N connections each with a request in flight, up to N frames
    /// arrive while the core works through the previous ones.
    pub frame_count: u32,
    /// UMEM frame size in bytes: 2048, 4096, or 0 (the default) for 2048 when a frame of the
    /// interface's MTU fits a 2 KiB chunk after the kernel's 256-byte headroom (MTU up to 1774),
    /// else 4096.
    pub frame_size: u32,
    /// Fill and completion ring entries (a power of two).
    pub fill_size: u32,
    /// RX and TX ring entries (a power of two).
    pub ring_size: u32,
    /// Share the interface with the host: only IPv4 frames to `local_addrs` and ARP asking for
    /// them come to us, everything else goes to the kernel (`XDP_PASS`). Needs the filtering
    /// program, which build.rs compiles when clang is installed. Off: every frame is ours.
    pub pass_foreign: bool,
    /// Our IPv4 addresses on this interface (for `pass_foreign`; at most 8).
    pub local_addrs: Vec<std::net::Ipv4Addr>,
}

impl XdpConfig {
    /// One queue, auto mode, 32768 frames (64 MiB of UMEM at MTU 1500 with 2 KiB frames, 128
    /// MiB with 4 KiB ones), fill and RX/TX rings of 16384 entries: room for the frames of
    /// 10 000 connections in flight at once (mTCP's many-connection workloads).
    pub fn new(ifname: &str) -> XdpConfig {
        XdpConfig {
            ifname: ifname.to_owned(),
            queues: 1,
            mode: XdpMode::Auto,
            zero_copy: ZeroCopy::Auto,
            frame_count: 32768,
            frame_size: 0,
            fill_size: 16384,
            ring_size: 16384,
            pass_foreign: false,
            local_addrs: Vec::new(),
        }
    }

    /// Checks the sizes; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let pow2 = |v: u32| v.is_power_of_two();
        if !(1..=64).contains(&self.queues) {
            return Err(format!("xdp queues {} out of 1..=64", self.queues));
        }
        if !pow2(self.frame_count) || !(64..=1 << 20).contains(&self.frame_count) {
            return Err(format!(
                "xdp_frames {} must be a power of two in 64..=1048576",
                self.frame_count
            ));
        }
        if ![0, 2048, 4096].contains(&self.frame_size) {
            return Err(format!(
                "xdp frame size {} (2048, 4096, or 0 for the MTU's)",
                self.frame_size
            ));
        }
        for (name, v) in [
            ("xdp_fill_size", self.fill_size),
            ("xdp_ring_size", self.ring_size),
        ] {
            if !pow2(v) || !(64..=1 << 16).contains(&v) {
                return Err(format!("{name} {v} must be a power of two in 64..=65536"));
            }
        }
        if self.pass_foreign && !(1..=8).contains(&self.local_addrs.len()) {
            return Err(format!(
                "xdp_pass_foreign needs 1 to 8 addresses of our own on the port (has {})",
                self.local_addrs.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_words_parse_and_bad_ones_are_named() {
        assert_eq!("native".parse(), Ok(XdpMode::Native));
        assert_eq!("skb".parse(), Ok(XdpMode::Generic));
        assert_eq!("off".parse(), Ok(ZeroCopy::Off));
        let err = "fast".parse::<XdpMode>().unwrap_err();
        assert!(
            err.0.contains("`fast`") && err.0.contains("generic"),
            "{err}"
        );
        assert!("sometimes".parse::<ZeroCopy>().is_err());
    }

    #[test]
    fn sizes_are_checked() {
        let ok = XdpConfig::new("veth0");
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            XdpConfig {
                queues: 0,
                ..ok.clone()
            },
            XdpConfig {
                frame_count: 3000,
                ..ok.clone()
            },
            XdpConfig {
                frame_size: 1500,
                ..ok.clone()
            },
            XdpConfig {
                fill_size: 100,
                ..ok.clone()
            },
            XdpConfig {
                ring_size: 1 << 17,
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
