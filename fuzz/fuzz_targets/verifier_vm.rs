//! Any bytes as BPF instructions: the verifier accepts or refuses them; an
//! accepted program runs in the interpreter to completion or to a clear
//! error within its instruction budget. Every instruction also prints as
//! disasm.c would (both dialects), whatever its bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sim_core::bpf::{ProgDef, ProgType};
use std::collections::BTreeMap;

const TYPES: &[ProgType] =
    &[ProgType::SOCK_OPS, ProgType::XDP, ProgType::SCHED_CLS, ProgType::CGROUP_SKB, ProgType::KPROBE, ProgType::SOCKET_FILTER];

fuzz_target!(|data: &[u8]| {
    let Some((&t, code)) = data.split_first() else { return };
    let insns: Vec<[u8; 8]> = code.chunks_exact(8).map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]).collect();
    let prog = ProgDef::from_insns(TYPES[t as usize % TYPES.len()], insns);
    let none = |_: &[u8; 8]| None;
    let cbs = sim_core::bpf::disasm::Cbs { call: &none, imm: &|_, _, _| None };
    for i in 0..prog.insns.len() {
        for d in [sim_core::bpf::disasm::Dialect::Linux618, sim_core::bpf::disasm::Dialect::Bpftool71] {
            let _ = sim_core::bpf::disasm::insn_text(&prog.insns, i, d, &cbs);
        }
    }
    let verdict = sim_core::bpf::verify(&prog);
    if verdict.error.is_none() {
        let mut vm = sim_core::bpf::vm::Vm::new(&prog.insns, vec![0; 256], sim_core::bpf::vm::Maps::new(), BTreeMap::new());
        let _ = vm.run(false);
    }
});
