//! A scripted peer: the test plays the remote TCP by hand against one engine.

use mtcp_tcp::{Config, Engine, Event, Handle, Instant, State};
use mtcp_wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use std::net::{IpAddr, Ipv6Addr};

use super::{A, B, Packet};

pub const PEER_ISS: u32 = 100_000;
pub const LOCAL_PORT: u16 = 40_000;
pub const PEER_PORT: u16 = 80;

/// Flags shorthands.
pub const SYN: TcpFlags = TcpFlags::SYN;
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const FIN: TcpFlags = TcpFlags::FIN;
pub const RST: TcpFlags = TcpFlags::RST;
pub const PSH: TcpFlags = TcpFlags::PSH;

/// The engine under test (at `A`) and the hand-played peer (at `B`).
pub struct Harness {
    pub e: Engine,
    pub now: u64,
    pub h: Option<Handle>,
    /// Our ISS as seen on the wire.
    pub iss: u32,
    /// Next sequence number the peer sends.
    pub peer_nxt: u32,
    /// The peer's TSval clock.
    pub peer_ts: u32,
    pub use_ts: bool,
    pub events: Vec<(Handle, Event)>,
    /// Source port of injected segments.
    pub peer_port: u16,
    /// The engine's address (`A`, or `A6` over IPv6).
    pub local: IpAddr,
    /// The peer's address (`B`, or `B6` over IPv6).
    pub remote: IpAddr,
}

/// The engine's and the peer's addresses when a harness runs over IPv6.
pub const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

pub fn full_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        ..TcpOptions::default()
    }
}

impl Harness {
    /// Over IPv6 (`A6`, `B6`) with the MTU raised by 20 bytes, so that the MSS and everything
    /// that follows from it are those of the IPv4 harness with `config`.
    pub fn new_ipv6(mut config: Config) -> Harness {
        config.mtu += 20;
        Harness {
            local: A6.into(),
            remote: B6.into(),
            ..Harness::new(config)
        }
    }

    /// Whether the harness runs over IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.local.is_ipv6()
    }

    pub fn new(config: Config) -> Harness {
        Harness {
            local: A.into(),
            remote: B.into(),
            e: Engine::new(config, [9; 16]),
            now: 10_000,
            h: None,
            iss: 0,
            peer_nxt: PEER_ISS,
            peer_ts: 1,
            use_ts: false,
            events: Vec::new(),
            peer_port: PEER_PORT,
        }
    }

    pub fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    pub fn handle(&self) -> Handle {
        self.h.expect("connection")
    }

    pub fn state(&self) -> Option<State> {
        self.e.state(self.handle()).ok()
    }

    /// Segments the engine emits now.
    pub fn output(&mut self) -> Vec<Packet> {
        let mut out = Vec::new();
        let now = self.instant();
        // Segments are shown with the IPv4 harness' addresses: scripts check TCP, and the engine
        // under test sends only from its one address to the peer's.
        let (local, remote) = (self.local, self.remote);
        self.e.dispatch(now, |s, d, seg| {
            assert_eq!((s, d), (local, remote), "a segment to a stranger");
            out.push(Packet::from(A, B, seg))
        });
        self.events.extend(self.e.events());
        out
    }

    /// Exactly one segment, which must be emitted now.
    pub fn expect_one(&mut self) -> Packet {
        let mut out = self.output();
        assert_eq!(out.len(), 1, "expected one segment, got {out:#?}");
        out.pop().unwrap()
    }

    pub fn expect_none(&mut self) {
        let out = self.output();
        assert!(out.is_empty(), "expected silence, got {out:#?}");
    }

    /// Advances the clock by `ms` and runs timers.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        let now = self.instant();
        self.e.poll_timers(now);
        self.events.extend(self.e.events());
    }

    /// Runs timers until the next deadline (at most `max_ms` ahead); returns the time waited.
    pub fn wait_deadline(&mut self, max_ms: u64) -> u64 {
        let Some(d) = self.e.next_deadline() else {
            return 0;
        };
        let wait = d.millis().saturating_sub(self.now).min(max_ms);
        self.advance(wait);
        wait
    }

    /// The peer sends a segment with explicit fields.
    pub fn inject(
        &mut self,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        window: u16,
        options: TcpOptions,
        payload: &[u8],
    ) {
        let repr = TcpRepr {
            src_port: self.peer_port,
            dst_port: LOCAL_PORT,
            seq_number: SeqNumber(seq),
            ack_number: SeqNumber(ack),
            flags,
            window_len: window,
            urgent_pointer: 0,
            options,
            payload,
        };
        let now = self.instant();
        self.e.on_segment(now, self.remote, self.local, &repr);
        self.events.extend(self.e.events());
    }

    fn opts(&mut self) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.use_ts {
            self.peer_ts += 1;
            o.timestamps = Some(Timestamps {
                tsval: self.peer_ts,
                tsecr: 0,
            });
        }
        o
    }

    /// The peer sends in-sequence `flags` + `payload`, acknowledging `ack`, and advances its
    /// sequence number.
    pub fn send(&mut self, flags: TcpFlags, ack: u32, payload: &[u8]) {
        let o = self.opts();
        let seq = self.peer_nxt;
        self.inject(flags, seq, ack, 65_535, o, payload);
        self.peer_nxt = self
            .peer_nxt
            .wrapping_add(payload.len() as u32 + u32::from(flags.contains(FIN)));
    }

    /// Like `send` with SACK blocks.
    pub fn send_sack(&mut self, ack: u32, blocks: &[(u32, u32)]) {
        let mut o = self.opts();
        for &(l, r) in blocks {
            o.sack_blocks
                .push(SackBlock {
                    left: SeqNumber(l),
                    right: SeqNumber(r),
                })
                .unwrap();
        }
        let seq = self.peer_nxt;
        self.inject(ACK, seq, ack, 65_535, o, &[]);
    }

    pub fn took_event(&mut self, ev: Event) -> bool {
        let h = self.h;
        let before = self.events.len();
        self.events.retain(|&(eh, e)| !(Some(eh) == h && e == ev));
        self.events.len() != before
    }

    /// Active open completed with the given peer SYN-ACK options; the engine's ACK is consumed.
    pub fn established_with(config: Config, peer_options: TcpOptions) -> Harness {
        let mut t = Harness::new(config);
        let now = t.instant();
        t.h = Some(
            t.e.connect(now, t.local, LOCAL_PORT, t.remote, PEER_PORT)
                .unwrap(),
        );
        let syn = t.expect_one();
        assert_eq!(syn.repr.flags, SYN);
        t.iss = syn.repr.seq_number.0;
        t.use_ts = peer_options.timestamps.is_some();
        let iss = t.iss;
        t.inject(
            SYN | ACK,
            PEER_ISS,
            iss.wrapping_add(1),
            65_535,
            peer_options,
            &[],
        );
        t.peer_nxt = PEER_ISS + 1;
        let ack = t.expect_one();
        assert_eq!(ack.repr.flags, ACK);
        assert_eq!(ack.repr.ack_number.0, PEER_ISS + 1);
        assert!(t.took_event(Event::Connected));
        t
    }

    /// An established connection without options (MSS 536, no scaling, SACK or timestamps).
    pub fn established(config: Config) -> Harness {
        Harness::established_with(
            config,
            TcpOptions {
                mss: Some(1000),
                ..TcpOptions::default()
            },
        )
    }

    /// Our next sequence number (ISS + 1 + `sent` data bytes).
    pub fn our(&self, offset: u32) -> u32 {
        self.iss.wrapping_add(1).wrapping_add(offset)
    }

    /// A connection in `state`, reached through real segments. `Listen` and `SynReceived`
    /// are reached with the engine as the server (port `PEER_PORT` swapped: see `passive`).
    pub fn in_state(config: Config, state: State) -> Harness {
        match state {
            State::SynSent => {
                let mut t = Harness::new(config);
                let now = t.instant();
                t.h = Some(
                    t.e.connect(now, t.local, LOCAL_PORT, t.remote, PEER_PORT)
                        .unwrap(),
                );
                let syn = t.expect_one();
                t.iss = syn.repr.seq_number.0;
                t
            }
            State::Established => Harness::established(config),
            State::FinWait1 => {
                let mut t = Harness::established(config);
                t.e.close(t.handle()).unwrap();
                let fin = t.expect_one();
                assert!(fin.repr.flags.contains(FIN));
                t
            }
            State::FinWait2 => {
                let mut t = Harness::in_state(config, State::FinWait1);
                let fin_ack = t.our(1);
                t.send(ACK, fin_ack, &[]);
                t.expect_none();
                t
            }
            State::Closing => {
                let mut t = Harness::in_state(config, State::FinWait1);
                let una = t.our(0);
                t.send(FIN | ACK, una, &[]);
                let _ack = t.expect_one();
                t
            }
            State::TimeWait => {
                let mut t = Harness::in_state(config, State::FinWait2);
                let una = t.our(1);
                t.send(FIN | ACK, una, &[]);
                let _ack = t.expect_one();
                t
            }
            State::CloseWait => {
                let mut t = Harness::established(config);
                let una = t.our(0);
                t.send(FIN | ACK, una, &[]);
                let _ack = t.expect_one();
                t
            }
            State::LastAck => {
                let mut t = Harness::in_state(config, State::CloseWait);
                t.e.close(t.handle()).unwrap();
                let fin = t.expect_one();
                assert!(fin.repr.flags.contains(FIN));
                t
            }
            s => panic!("in_state({s:?}) not supported"),
        }
    }
}
