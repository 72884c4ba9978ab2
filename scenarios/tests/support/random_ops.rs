//! Seeded random operation sequences (processes, memory, files, BPF objects,
//! Windows handles), run and rendered as text. The native golden test and
//! the wasm test both render them, so a trace that differs between the two
//! targets fails one of them.

use sim_core::bpf::{BpfKind, Libbpf};
use sim_core::{Access, Config, Fd, Machine, Op, Pid};
use sim_core::{BpfOp, LinuxOp, NtOp};
use std::fmt::Write as _;
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The trace of `n` random operations from `seed`, one line per event.
pub fn trace(seed: u64, n: usize) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut m = Machine::new(&Config::default());
    for (path, name) in [("/bin/prog", "exec/static_maps"), ("/o/lookup.o", "bpf/sockops_lookup.o"), ("/o/tc.o", "bpf/tc_shared.o")] {
        m.install_file(path, Arc::from(scenarios::fixtures::fixture(name).expect("fixture")));
    }
    let mut out = String::new();
    for i in 0..n {
        let pids: Vec<Pid> = m.state().linux.procs.keys().copied().collect();
        let pid = pids.get(r.below(pids.len() as u64) as usize).copied().unwrap_or(Pid(1));
        let addr = 0x1000_0000 + r.below(4) * 4096;
        let op = match r.below(16) {
            0 | 1 => Op::from(LinuxOp::Spawn { name: format!("p{i}") }),
            2 => Op::from(LinuxOp::Fork { pid }),
            3 => Op::from(LinuxOp::Exit { pid, code: 0 }),
            4 => {
                Op::from(LinuxOp::Mmap { pid, addr: Some(addr), len: 4096, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 })
            }
            5 => Op::from(LinuxOp::Write { pid, addr, value: Some(r.below(256)), size: 1, text: None }),
            6 => Op::from(LinuxOp::Access { pid, addr, access: Access::Read }),
            7 => Op::from(LinuxOp::Exec { pid, path: "/bin/prog".into(), argv: vec!["prog".into()], envp: vec![] }),
            8 => Op::from(BpfOp::BpftoolProgLoad {
                object: if r.below(2) == 0 { "/o/lookup.o".into() } else { "/o/tc.o".into() },
                pin: format!("/sys/fs/bpf/p{}", r.below(3)),
                args: vec![],
                libbpf: if r.below(2) == 0 { Libbpf::V1 } else { Libbpf::V0_8 },
            }),
            9 => Op::from(BpfOp::BpfUnlink { path: format!("/sys/fs/bpf/p{}", r.below(3)) }),
            10 => Op::from(BpfOp::BpfGetFdById { pid, kind: BpfKind::Prog, id: 1 + r.below(3) as u32 }),
            11 => Op::from(BpfOp::BpfLinkCreate { pid, prog_fd: Fd(3 + r.below(3) as u32), target: "cgroup /t".into() }),
            12 => Op::from(LinuxOp::Close { pid, fd: Fd(r.below(6) as u32) }),
            13 => Op::from(BpfOp::BpfTestRun { pin: format!("/sys/fs/bpf/p{}", r.below(3)), repeat: 1 }),
            14 => Op::from(NtOp::NtCreateProcess {
                name: "w.exe".into(),
                user: "alice".into(),
                debug_privilege: false,
                dacl: vec![],
                parent: None,
            }),
            _ => Op::from(BpfOp::BpfGetNextId { kind: BpfKind::Map, start: r.below(3) as u32 }),
        };
        let _ = writeln!(out, "op {i}: {}", op.describe());
        match m.apply(&op) {
            Ok(a) => {
                for e in a.events.iter() {
                    let _ = writeln!(out, "  {:?} {} [{}]", e.kind(), e.text(), e.mechanism());
                }
                let _ = writeln!(out, "  => {:?}", a.outcome);
            }
            Err(e) => {
                let _ = writeln!(out, "  refused: {e}");
            }
        }
    }
    out
}
