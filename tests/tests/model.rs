//! Random operation sequences across processes, files, BPF objects and the
//! Windows handle API, with the invariants checked after every step: every
//! count equals the references that exist, ids and fds are unique, nothing
//! remains once every process has exited and every pin is removed, and
//! rewinding to any step gives back the state recorded there.

use proptest::prelude::*;
use sim_core::bpf::{BpfKind, Libbpf};
use sim_core::linux::ProcState;
use sim_core::{BpfOp, LinuxOp, NtOp};
use sim_core::{Config, Fd, Machine, Op, Pid, State, Timeline};
use std::sync::Arc;

const OBJECTS: [&str; 4] = ["/o/lookup.o", "/o/nolookup.o", "/o/tc_shared.o", "/o/global_counter.o"];
const PINS: [&str; 4] = ["/sys/fs/bpf/a", "/sys/fs/bpf/b", "/sys/fs/bpf/c", "/sys/fs/bpf/shared"];

#[derive(Clone, Debug)]
enum Act {
    Spawn,
    Fork(usize),
    Exit(usize),
    Wait(usize),
    Exec(usize),
    Mmap(usize, u8),
    Write(usize, u8, u8),
    Munmap(usize, u8),
    Load(usize, usize, bool, bool),
    Unlink(usize),
    FdById(usize, u8, u32),
    ObjGet(usize, usize),
    ObjPin(usize, u32, usize),
    Link(usize, u32),
    Close(usize, u32),
    TestRun(usize),
    MapMmap(usize, u32, bool),
    Freeze(usize, u32),
    MunmapMap(usize),
    Register,
    Unregister,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        1 => Just(Act::Spawn),
        2 => (0..4usize).prop_map(Act::Fork),
        1 => (0..4usize).prop_map(Act::Exit),
        1 => (0..4usize).prop_map(Act::Wait),
        1 => (0..4usize).prop_map(Act::Exec),
        2 => (0..4usize, 0..4u8).prop_map(|(w, p)| Act::Mmap(w, p)),
        3 => (0..4usize, 0..4u8, any::<u8>()).prop_map(|(w, p, v)| Act::Write(w, p, v)),
        1 => (0..4usize, 0..4u8).prop_map(|(w, p)| Act::Munmap(w, p)),
        3 => (0..4usize, 0..4usize, any::<bool>(), any::<bool>()).prop_map(|(o, p, old, pinmaps)| Act::Load(o, p, old, pinmaps)),
        2 => (0..6usize).prop_map(Act::Unlink),
        2 => (0..4usize, 0..3u8, 0..6u32).prop_map(|(w, k, id)| Act::FdById(w, k, id)),
        1 => (0..4usize, 0..6usize).prop_map(|(w, p)| Act::ObjGet(w, p)),
        1 => (0..4usize, 0..8u32, 0..4usize).prop_map(|(w, fd, p)| Act::ObjPin(w, fd, p)),
        1 => (0..4usize, 0..8u32).prop_map(|(w, fd)| Act::Link(w, fd)),
        2 => (0..4usize, 0..8u32).prop_map(|(w, fd)| Act::Close(w, fd)),
        1 => (0..4usize).prop_map(Act::TestRun),
        3 => (0..4usize, 0..4u32, any::<bool>()).prop_map(|(w, k, write)| Act::MapMmap(w, k, write)),
        1 => (0..4usize).prop_map(Act::MunmapMap),
        1 => (0..4usize, 0..4u32).prop_map(|(w, k)| Act::Freeze(w, k)),
        1 => Just(Act::Register),
        1 => Just(Act::Unregister),
    ]
}

/// 48 cases per run in CI; PROPTEST_CASES=N for a longer search.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

fn running(st: &State) -> Vec<Pid> {
    st.linux.procs.values().filter(|p| p.state == ProcState::Running).map(|p| p.pid).collect()
}

fn machine() -> Machine {
    let mut m = Machine::new(&Config::default());
    m.install_file("/bin/prog", Arc::from(&include_bytes!("../../fixtures/exec/static_maps")[..]));
    m.install_file(OBJECTS[0], Arc::from(&include_bytes!("../../fixtures/bpf/sockops_lookup.o")[..]));
    m.install_file(OBJECTS[1], Arc::from(&include_bytes!("../../fixtures/bpf/sockops_nolookup.o")[..]));
    m.install_file(OBJECTS[2], Arc::from(&include_bytes!("../../fixtures/bpf/tc_shared.o")[..]));
    m.install_file("/o/ca.o", Arc::from(&include_bytes!("../../fixtures/bpf/struct_ops_ca.o")[..]));
    m.install_file(OBJECTS[3], Arc::from(&include_bytes!("../../fixtures/bpf/corpus/global_counter.o")[..]));
    m
}

fn op_for(a: &Act, st: &State) -> Option<Op> {
    let live = running(st);
    let pick = |w: usize| live.get(w % live.len().max(1)).copied();
    Some(match *a {
        Act::Spawn => Op::from(LinuxOp::Spawn { name: "p".into() }),
        Act::Fork(w) => Op::from(LinuxOp::Fork { pid: pick(w)? }),
        Act::Exit(w) => Op::from(LinuxOp::Exit { pid: pick(w)?, code: 0 }),
        Act::Wait(w) => Op::from(LinuxOp::Wait { pid: pick(w)? }),
        Act::Exec(w) => Op::from(LinuxOp::Exec { pid: pick(w)?, path: "/bin/prog".into(), argv: vec!["prog".into()], envp: vec![] }),
        Act::Mmap(w, p) => Op::from(LinuxOp::Mmap {
            pid: pick(w)?,
            addr: Some(0x1000_0000 + u64::from(p) * 4096),
            len: 4096,
            prot: sim_core::Prot::RW,
            shared: false,
            file: None,
            offset: 0,
        }),
        Act::Write(w, p, v) => Op::from(LinuxOp::Write {
            pid: pick(w)?,
            addr: 0x1000_0000 + u64::from(p) * 4096 + u64::from(v),
            value: Some(u64::from(v)),
            size: 1,
            text: None,
        }),
        Act::Munmap(w, p) => Op::from(LinuxOp::Munmap { pid: pick(w)?, addr: 0x1000_0000 + u64::from(p) * 4096, len: 4096 }),
        Act::Load(o, p, old, pinmaps) => Op::from(BpfOp::BpftoolProgLoad {
            object: OBJECTS[o].into(),
            pin: PINS[p].into(),
            args: if pinmaps { vec!["pinmaps".into(), "/sys/fs/bpf/maps".into()] } else { vec![] },
            libbpf: if old { Libbpf::V0_8 } else { Libbpf::V1 },
        }),
        Act::Unlink(p) => Op::from(BpfOp::BpfUnlink { path: st.bpf.pins.keys().nth(p % st.bpf.pins.len().max(1))?.clone() }),
        Act::FdById(w, k, id) => {
            Op::from(BpfOp::BpfGetFdById { pid: pick(w)?, kind: [BpfKind::Map, BpfKind::Prog, BpfKind::Link][k as usize % 3], id })
        }
        Act::ObjGet(w, p) => {
            Op::from(BpfOp::BpfObjGet { pid: pick(w)?, path: st.bpf.pins.keys().nth(p % st.bpf.pins.len().max(1))?.clone() })
        }
        Act::ObjPin(w, fd, p) => Op::from(BpfOp::BpfObjPin { pid: pick(w)?, fd: Fd(fd), path: format!("/sys/fs/bpf/x{p}") }),
        Act::Link(w, fd) => Op::from(BpfOp::BpfLinkCreate { pid: pick(w)?, prog_fd: Fd(fd), target: "cgroup /sys/fs/cgroup/t".into() }),
        Act::Close(w, fd) => Op::from(LinuxOp::Close { pid: pick(w)?, fd: Fd(fd) }),
        // Two operations (see ops_for).
        Act::MapMmap(..) | Act::Freeze(..) => return None,
        Act::MunmapMap(w) => {
            let pid = pick(w)?;
            let mm = st.linux.procs.get(&pid)?.mm.as_ref()?;
            let v = mm.vmas.values().find(|v| matches!(v.backing, sim_core::linux::Backing::Driver { .. }))?;
            Op::from(LinuxOp::Munmap { pid, addr: v.start, len: v.end - v.start })
        }
        Act::Register => Op::from(BpfOp::BpftoolStructOpsRegister { object: "/o/ca.o".into() }),
        Act::Unregister => Op::from(BpfOp::BpftoolStructOpsUnregister { name: "sim_ca".into() }),
        Act::TestRun(p) => Op::from(BpfOp::BpfTestRun { pin: st.bpf.pins.keys().nth(p % st.bpf.pins.len().max(1))?.clone(), repeat: 1 }),
    })
}

/// The operations of one act: most are one; `MapMmap` opens the k-th live
/// map by id in the process (BPF_MAP_GET_FD_BY_ID, at its lowest free fd)
/// and maps that fd, as a skeleton's loader maps its global data.
fn ops_for(a: &Act, st: &State) -> Vec<Op> {
    let (w, k, write, freeze) = match *a {
        Act::MapMmap(w, k, write) => (w, k, write, false),
        Act::Freeze(w, k) => (w, k, false, true),
        _ => return op_for(a, st).into_iter().collect(),
    };
    let live = running(st);
    let Some(pid) = live.get(w % live.len().max(1)).copied() else { return vec![] };
    let Some(id) = st.bpf.maps.keys().nth(k as usize % st.bpf.maps.len().max(1)).copied() else { return vec![] };
    let Some(p) = st.linux.procs.get(&pid) else { return vec![] };
    let fd = (0..).map(Fd).find(|f| !p.fds.contains_key(f)).unwrap_or(Fd(0));
    let prot = if write { sim_core::Prot::RW } else { sim_core::Prot::parse("r--").unwrap_or(sim_core::Prot::RW) };
    let then = if freeze { Op::from(BpfOp::BpfMapFreeze { pid, fd }) } else { Op::from(BpfOp::BpfMapMmap { pid, fd, len: None, prot, shared: true }) };
    vec![Op::from(BpfOp::BpfGetFdById { pid, kind: BpfKind::Map, id }), then]
}

fn invariants(m: &Machine) -> Result<(), String> {
    sim_tests::frame_refcounts(m)?;
    sim_tests::bpf_and_fd_counts(m.state())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn processes_files_and_bpf_objects_keep_their_counts(acts in proptest::collection::vec(act(), 1..36)) {
        let mut m = machine();
        let mut timeline = Timeline::new(m.state().clone());
        let mut states = vec![m.state().clone()];
        let step = |m: &mut Machine, op: &Op, timeline: &mut Timeline, states: &mut Vec<State>| -> Result<(), TestCaseError> {
            match m.apply(op) {
                Ok(r) => {
                    timeline.record(states.len() - 1, r.events);
                    states.push(m.state().clone());
                }
                // A refused operation changes nothing.
                Err(_) => prop_assert_eq!(m.state(), states.last().expect("initial state")),
            }
            invariants(m).map_err(|e| TestCaseError::fail(format!("after {op:?}: {e}")))?;
            Ok(())
        };
        step(&mut m, &Op::from(LinuxOp::Spawn { name: "init".into() }), &mut timeline, &mut states)?;
        for a in &acts {
            for op in ops_for(a, m.state()) {
                step(&mut m, &op, &mut timeline, &mut states)?;
            }
        }
        // Rewinding to each operation's end gives back the state recorded there.
        for (i, want) in states.iter().enumerate().skip(1) {
            timeline.seek(timeline.first_event_of(i));
            prop_assert_eq!(timeline.state(), want, "rewound to the end of operation {}", i - 1);
        }
        // Everything exits and every pin goes: nothing remains.
        while let Some(pid) = running(m.state()).first().copied() {
            step(&mut m, &Op::from(LinuxOp::Exit { pid, code: 0 }), &mut timeline, &mut states)?;
        }
        while let Some(path) = m.state().bpf.pins.keys().next().cloned() {
            step(&mut m, &Op::from(BpfOp::BpfUnlink { path }), &mut timeline, &mut states)?;
        }
        if m.state().bpf.struct_ops.contains_key("sim_ca") {
            step(&mut m, &Op::from(BpfOp::BpftoolStructOpsUnregister { name: "sim_ca".into() }), &mut timeline, &mut states)?;
        }
        while let Some(pid) = running(m.state()).first().copied() {
            step(&mut m, &Op::from(LinuxOp::Exit { pid, code: 0 }), &mut timeline, &mut states)?;
        }
        let st = m.state();
        prop_assert!(st.bpf.maps.is_empty() && st.bpf.progs.is_empty() && st.bpf.links.is_empty(), "{:?}", st.bpf);
        prop_assert!(st.linux.ofds.is_empty(), "open files remain: {:?}", st.linux.ofds);
        let kept = st.linux.frames.values().filter(|f| !matches!(f.kind, sim_core::linux::FrameKind::Zero | sim_core::linux::FrameKind::PageCache { .. })).count();
        prop_assert_eq!(kept, 0, "frames remain besides the zero page and the page cache");
    }
}

#[derive(Clone, Debug)]
enum Win {
    Create(usize),
    Open(usize, usize, u8),
    Write(usize, u32),
    Read(usize, u32),
    ByPid(usize, usize),
    Event(usize),
    Close(usize, u32),
    Exit(usize),
}

fn win() -> impl Strategy<Value = Win> {
    prop_oneof![
        1 => (0..4usize).prop_map(Win::Create),
        3 => (0..4usize, 0..6usize, 0..4u8).prop_map(|(w, t, a)| Win::Open(w, t, a)),
        2 => (0..4usize, 0..6u32).prop_map(|(w, h)| Win::Write(w, h)),
        1 => (0..4usize, 0..6u32).prop_map(|(w, h)| Win::Read(w, h)),
        1 => (0..4usize, 0..6usize).prop_map(|(w, t)| Win::ByPid(w, t)),
        1 => (0..4usize).prop_map(Win::Event),
        2 => (0..4usize, 0..6u32).prop_map(|(w, h)| Win::Close(w, h)),
        1 => (0..4usize).prop_map(Win::Exit),
    ]
}

/// Handle counts equal the handle-table entries that name each object;
/// pointer counts add one for a process that is still running; PIDs name
/// live process objects only, each once.
fn nt_counts(st: &State) -> Result<(), String> {
    use sim_core::windows::NtKind;
    let nt = &st.nt;
    for (id, o) in &nt.objects {
        let handles: u32 = nt
            .objects
            .values()
            .map(|p| match &p.kind {
                NtKind::Process { handles, .. } => handles.values().filter(|h| h.object == *id).count() as u32,
                _ => 0,
            })
            .sum();
        let running = matches!(&o.kind, NtKind::Process { exit_code: None, .. }) as u32;
        if o.handle_count != handles || o.pointer_count != handles + running {
            return Err(format!(
                "object {id}: handle_count {} pointer_count {}, but {handles} handles (running: {running})",
                o.handle_count, o.pointer_count
            ));
        }
        if o.pointer_count == 0 {
            return Err(format!("object {id} has no reference and still exists"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (pid, obj) in &nt.cid {
        if !seen.insert(*obj) || !nt.objects.contains_key(obj) {
            return Err(format!("PID {pid} names object {obj}, which is gone or has another PID"));
        }
    }
    Ok(())
}

const ACCESS: [&str; 4] = ["PROCESS_VM_WRITE|PROCESS_VM_OPERATION", "PROCESS_VM_READ", "PROCESS_ALL_ACCESS", "SYNCHRONIZE"];

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn windows_handles_keep_objects_and_pids_alive_exactly_as_long_as_needed(acts in proptest::collection::vec(win(), 1..40)) {
        let mut m = Machine::new(&Config::default());
        let create = |m: &mut Machine, parent: Option<Pid>| {
            let op = Op::from(NtOp::NtCreateProcess { name: "p.exe".into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent });
            m.apply(&op).map(|r| r.outcome)
        };
        create(&mut m, None).expect("first process");
        let live = |st: &State| -> Vec<Pid> { running(st) };
        for a in &acts {
            let pids = live(m.state());
            if pids.is_empty() { break; }
            let pick = |w: usize| pids[w % pids.len()];
            let cids: Vec<u32> = m.state().nt.cid.keys().copied().collect();
            let target = |t: usize| cids.get(t % cids.len().max(1)).copied().unwrap_or(4);
            let op = match *a {
                Win::Create(w) => Op::from(NtOp::NtCreateProcess { name: "c.exe".into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent: Some(pick(w)) }),
                Win::Open(w, t, acc) => Op::from(NtOp::OpenProcess { pid: pick(w), target: target(t), access: ACCESS[acc as usize].into(), inherit: false }),
                Win::Write(w, h) => Op::from(NtOp::WriteProcessMemory { pid: pick(w), handle: 4 * h, addr: 0x10000, value: Some(1), size: 8, text: None }),
                Win::Read(w, h) => Op::from(NtOp::ReadProcessMemory { pid: pick(w), handle: 4 * h, addr: 0x10000, len: 8 }),
                Win::ByPid(w, t) => Op::from(NtOp::WriteByPid { pid: pick(w), target: target(t), addr: 0x10000, value: Some(2), size: 8, text: None }),
                Win::Event(w) => Op::from(NtOp::CreateEvent { pid: pick(w), name: "e".into() }),
                Win::Close(w, h) => Op::from(NtOp::CloseHandle { pid: pick(w), handle: 4 * h }),
                Win::Exit(w) => Op::from(NtOp::ExitProcess { pid: pick(w), code: 0 }),
            };
            let before = m.state().clone();
            if m.apply(&op).is_err() {
                prop_assert_eq!(m.state(), &before, "a refused call changes nothing");
            }
            nt_counts(m.state()).map_err(|e| TestCaseError::fail(format!("after {op:?}: {e}")))?;
        }
        // Close every handle and end every process: no object and no PID remains.
        loop {
            let handle = m.state().nt.objects.values().find_map(|o| match &o.kind {
                sim_core::windows::NtKind::Process { pid, handles, exit_code: None, .. } => handles.keys().next().map(|h| (*pid, *h)),
                _ => None,
            });
            let Some((nt_pid, h)) = handle else { break };
            let owner = m.state().linux.procs.keys().copied().find(|p| p.0 == nt_pid).expect("a live process");
            m.apply(&Op::from(NtOp::CloseHandle { pid: owner, handle: h })).expect("close");
            nt_counts(m.state()).map_err(TestCaseError::fail)?;
        }
        while let Some(pid) = live(m.state()).first().copied() {
            m.apply(&Op::from(NtOp::ExitProcess { pid, code: 0 })).expect("exit");
            nt_counts(m.state()).map_err(TestCaseError::fail)?;
        }
        prop_assert!(m.state().nt.cid.is_empty(), "PIDs remain: {:?}", m.state().nt.cid);
        prop_assert!(m.state().nt.objects.is_empty(), "objects remain: {:?}", m.state().nt.objects.keys().collect::<Vec<_>>());
    }
}
