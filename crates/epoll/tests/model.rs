//! Random sequences of ctl / set_state / notify / forget / poll checked against a plain model
//! that recomputes readiness from scratch, which exercises the intrusive ready list (lazy
//! removal, re-queueing, partial polls) without sharing its bookkeeping.

use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Events};
use proptest::prelude::*;

const SOCKETS: u32 = 6;

#[derive(Clone, Debug)]
enum Op {
    Ctl(EpollOp, u32, Events),
    SetState(u32, Events),
    Notify(u32, Events),
    Forget(u32),
    Poll(usize),
}

#[derive(Clone, Copy, Debug, Default)]
struct ModelSocket {
    /// (registered mask, armed)
    interest: Option<(Events, bool)>,
    state: Events,
    pending: Events,
}

impl ModelSocket {
    fn report(&self) -> Events {
        let Some((mask, armed)) = self.interest else {
            return Events::empty();
        };
        if !armed {
            return Events::empty();
        }
        let wanted = (mask & Events::CONDITIONS) | Events::ERR | Events::HUP;
        if mask.contains(Events::ET) && (self.pending & wanted).is_empty() {
            return Events::empty();
        }
        self.state & wanted
    }
}

fn conditions() -> impl Strategy<Value = Events> {
    let bits = [
        Events::IN,
        Events::OUT,
        Events::ERR,
        Events::HUP,
        Events::RDHUP,
    ];
    proptest::sample::subsequence(bits.to_vec(), 0..=bits.len())
        .prop_map(|v| v.into_iter().fold(Events::empty(), |a, b| a | b))
}

fn mask() -> impl Strategy<Value = Events> {
    let modes = prop_oneof![
        Just(Events::empty()),
        Just(Events::ET),
        Just(Events::ONESHOT),
        Just(Events::ET | Events::ONESHOT)
    ];
    (conditions(), modes).prop_map(|(c, m)| c | m)
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..SOCKETS;
    let ctl = prop_oneof![Just(EpollOp::Add), Just(EpollOp::Mod), Just(EpollOp::Del)];
    prop_oneof![
        3 => (ctl, id.clone(), mask()).prop_map(|(o, i, m)| Op::Ctl(o, i, m)),
        4 => (id.clone(), conditions()).prop_map(|(i, c)| Op::SetState(i, c)),
        2 => (id.clone(), conditions()).prop_map(|(i, c)| Op::Notify(i, c)),
        1 => id.prop_map(Op::Forget),
        3 => (1usize..=8).prop_map(Op::Poll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn epoll_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut ep = Epoll::new(SOCKETS as usize);
        let mut model = [ModelSocket::default(); SOCKETS as usize];
        for op in ops {
            match op {
                Op::Ctl(o, id, m) => {
                    let s = &mut model[id as usize];
                    let expect = match (o, s.interest.is_some()) {
                        (EpollOp::Add, true) => Err(libc::EEXIST),
                        (EpollOp::Mod | EpollOp::Del, false) => Err(libc::ENOENT),
                        (EpollOp::Del, true) => { s.interest = None; s.pending = Events::empty(); Ok(()) }
                        _ => { s.interest = Some((m, true)); s.pending = s.state; Ok(()) }
                    };
                    prop_assert_eq!(ep.ctl(o, id, m, u64::from(id)).map_err(|e| e.errno()), expect);
                }
                Op::SetState(id, c) => {
                    let s = &mut model[id as usize];
                    if s.interest.is_some() { s.pending |= c - s.state; }
                    s.state = c;
                    ep.set_state(id, c).unwrap();
                }
                Op::Notify(id, c) => {
                    let s = &mut model[id as usize];
                    s.state |= c;
                    if s.interest.is_some() { s.pending |= c; }
                    ep.notify(id, c).unwrap();
                }
                Op::Forget(id) => {
                    model[id as usize] = ModelSocket::default();
                    ep.forget(id).unwrap();
                }
                Op::Poll(k) => {
                    let ready: Vec<(u64, Events)> = (0..SOCKETS)
                        .map(|id| (u64::from(id), model[id as usize].report()))
                        .filter(|(_, r)| !r.is_empty())
                        .collect();
                    let mut out = vec![EpollEvent::default(); k];
                    let n = ep.poll(&mut out);
                    prop_assert_eq!(n, k.min(ready.len()));
                    for e in &out[..n] {
                        prop_assert!(ready.contains(&(e.data, e.events)), "{:?} not in {:?}", e, ready);
                        let s = &mut model[e.data as usize];
                        s.pending = Events::empty();
                        if let Some((m, armed)) = s.interest.as_mut() {
                            if m.contains(Events::ONESHOT) { *armed = false; }
                        }
                    }
                    let distinct: std::collections::BTreeSet<u64> = out[..n].iter().map(|e| e.data).collect();
                    prop_assert_eq!(distinct.len(), n, "a socket reported twice in one poll");
                    // The real list drops the stale edges of the entries it pops with nothing to
                    // report; which ones a partial poll pops is not modelled, and it does not
                    // matter: such a stale edge can only count again together with a new one.
                    for s in model.iter_mut().filter(|s| s.report().is_empty()) {
                        s.pending = Events::empty();
                    }
                }
            }
        }
    }
}
