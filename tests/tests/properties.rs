//! Property checks over random operation sequences: refcounts equal the
//! references that exist, nothing leaks, a child's writes are never visible
//! to its parent (or the reverse), and rewinding reproduces every state.

use proptest::prelude::*;
use sim_core::linux::ProcState;
use sim_core::LinuxOp;
use sim_core::State;
use sim_core::{Config, Machine, Outcome, Pid, Timeline};
use std::collections::BTreeMap;
use std::sync::Arc;

const BASE: u64 = 0x1000_0000;
const PAGES: u64 = 6;

#[derive(Clone, Debug)]
enum Action {
    Write { who: usize, page: u64, off: u64, value: u8 },
    Read { who: usize, page: u64 },
    Fork { who: usize },
    Exit { who: usize },
    Wait { who: usize },
    Munmap { who: usize, page: u64 },
    Protect { who: usize, page: u64, writable: bool },
    Exec { who: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..4usize, 0..PAGES, 0..4096u64, any::<u8>()).prop_map(|(who, page, off, value)| Action::Write { who, page, off, value }),
        2 => (0..4usize, 0..PAGES).prop_map(|(who, page)| Action::Read { who, page }),
        3 => (0..4usize).prop_map(|who| Action::Fork { who }),
        1 => (0..4usize).prop_map(|who| Action::Exit { who }),
        1 => (0..4usize).prop_map(|who| Action::Wait { who }),
        1 => (0..4usize, 0..PAGES).prop_map(|(who, page)| Action::Munmap { who, page }),
        1 => (0..4usize, 0..PAGES, any::<bool>()).prop_map(|(who, page, writable)| Action::Protect { who, page, writable }),
        1 => (0..4usize).prop_map(|who| Action::Exec { who }),
    ]
}

fn running(st: &State) -> Vec<Pid> {
    st.linux.procs.values().filter(|p| p.state == ProcState::Running).map(|p| p.pid).collect()
}

fn peek(st: &State, pid: Pid, va: u64) -> Option<u8> {
    scenarios::check::peek(st, pid, va, 1).ok().map(|b| b[0])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_invariant(actions in proptest::collection::vec(action(), 1..40)) {
        let mut m = Machine::new(&Config::default());
        m.install_file("/bin/prog", Arc::from(&include_bytes!("../../fixtures/exec/static_maps")[..]));
        let mut timeline = Timeline::new(m.state().clone());
        let mut states = vec![m.state().clone()];
        // What each process must see: (pid, va) -> byte, for pages it wrote.
        let mut shadow: BTreeMap<Pid, BTreeMap<u64, u8>> = BTreeMap::new();
        let apply = |m: &mut Machine, op: LinuxOp, timeline: &mut Timeline, states: &mut Vec<State>| -> Outcome {
            let r = m.apply(&op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
            timeline.record(states.len() - 1, r.events);
            states.push(m.state().clone());
            r.outcome
        };
        apply(&mut m, LinuxOp::Spawn { name: "p".into() }, &mut timeline, &mut states);
        apply(&mut m, LinuxOp::Mmap { pid: Pid(1), addr: Some(BASE), len: PAGES * 4096, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 }, &mut timeline, &mut states);
        shadow.insert(Pid(1), BTreeMap::new());
        for a in actions {
            let live = running(m.state());
            if live.is_empty() { break; }
            let pick = |who: usize| live[who % live.len()];
            match a {
                Action::Write { who, page, off, value } => {
                    let pid = pick(who);
                    let va = BASE + page * 4096 + off;
                    let o = apply(&mut m, LinuxOp::Write { pid, addr: va, value: Some(u64::from(value)), size: 1, text: None }, &mut timeline, &mut states);
                    match o {
                        Outcome::Ok => { shadow.entry(pid).or_default().insert(va, value); }
                        Outcome::Segv { .. } => { shadow.remove(&pid); }
                        other => prop_assert!(false, "write returned {other:?}"),
                    }
                }
                Action::Read { who, page } => {
                    let pid = pick(who);
                    if let Outcome::Segv { .. } = apply(&mut m, LinuxOp::Read { pid, addr: BASE + page * 4096, len: 8 }, &mut timeline, &mut states) {
                        shadow.remove(&pid);
                    }
                }
                Action::Fork { who } => {
                    let pid = pick(who);
                    if let Outcome::Pid { pid: child } = apply(&mut m, LinuxOp::Fork { pid }, &mut timeline, &mut states) {
                        let copy = shadow.get(&pid).cloned().unwrap_or_default();
                        shadow.insert(child, copy);
                    }
                }
                Action::Exit { who } => {
                    let pid = pick(who);
                    apply(&mut m, LinuxOp::Exit { pid, code: 0 }, &mut timeline, &mut states);
                    shadow.remove(&pid);
                }
                Action::Wait { who } => {
                    let pid = pick(who);
                    let has_zombie = m.state().linux.procs.values().any(|c| c.ppid == pid && matches!(c.state, ProcState::Zombie { .. }));
                    if has_zombie {
                        apply(&mut m, LinuxOp::Wait { pid }, &mut timeline, &mut states);
                    }
                }
                Action::Munmap { who, page } => {
                    let pid = pick(who);
                    let va = BASE + page * 4096;
                    apply(&mut m, LinuxOp::Munmap { pid, addr: va, len: 4096 }, &mut timeline, &mut states);
                    if let Some(s) = shadow.get_mut(&pid) { s.retain(|a, _| *a < va || *a >= va + 4096); }
                }
                Action::Protect { who, page, writable } => {
                    let pid = pick(who);
                    let prot = if writable { sim_core::Prot::RW } else { sim_core::Prot::R };
                    apply(&mut m, LinuxOp::Mprotect { pid, addr: BASE + page * 4096, len: 4096, prot }, &mut timeline, &mut states);
                }
                Action::Exec { who } => {
                    let pid = pick(who);
                    apply(&mut m, LinuxOp::Exec { pid, path: "/bin/prog".into(), argv: vec![], envp: vec![] }, &mut timeline, &mut states);
                    shadow.insert(pid, BTreeMap::new());
                }
            }
            if let Err(e) = sim_tests::frame_refcounts(&m) { prop_assert!(false, "{}", e); }
            // Isolation: every process still sees exactly what it wrote last.
            for (pid, bytes) in &shadow {
                for (va, v) in bytes {
                    prop_assert_eq!(peek(m.state(), *pid, *va), Some(*v), "process {} at {:#x}", pid, va);
                }
            }
        }
        // Tear everything down: exit all, reap all. Only the zero page and
        // page-cache pages remain, and drop_caches frees the latter.
        while let Some(pid) = running(m.state()).first().copied() {
            apply(&mut m, LinuxOp::Exit { pid, code: 0 }, &mut timeline, &mut states);
        }
        prop_assert!(m.state().linux.procs.is_empty(), "zombies without a parent are released: {:?}", m.state().linux.procs.keys().collect::<Vec<_>>());
        apply(&mut m, LinuxOp::DropCaches {}, &mut timeline, &mut states);
        prop_assert_eq!(m.state().linux.frames.len(), 1, "only the zero page is left: {:?}", m.state().linux.frames);
        prop_assert!(m.state().linux.ofds.is_empty());
        // Rewinding: every operation boundary reproduces the recorded state,
        // visited in a scrambled order.
        let n = states.len() - 1;
        let mut order: Vec<usize> = (0..=n).collect();
        order.reverse();
        order.extend((0..=n).step_by(3));
        for i in order {
            let at = if i == 0 { 0 } else { timeline.first_event_of(i) };
            timeline.seek(at);
            prop_assert!(timeline.state() == &states[i], "state after {} operations differs when rewound", i);
        }
    }
}
