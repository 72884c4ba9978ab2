//! Any bytes as a BPF object: libbpf 1.x's and 0.8's readers (with
//! `.BTF.ext`), CO-RE against the kernel's BTF, the verifier on every
//! program, and the whole `bpftool prog load` in the machine.
#![no_main]
use sim_core::{BpfOp};
use libfuzzer_sys::fuzz_target;
use sim_core::bpf::{BpfObject, Libbpf};
use sim_core::{Config, Machine};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    for libbpf in [Libbpf::V1, Libbpf::V0_8] {
        if let Ok(obj) = BpfObject::open(data, libbpf) {
            for p in &obj.programs {
                let _ = sim_core::bpf::verify(p);
            }
            if let Ok((relocated, _)) = obj.relocate_core() {
                for p in &relocated.programs {
                    if let Ok(l) = relocated.link(p) {
                        let _ = sim_core::bpf::verify(&l.prog);
                    }
                }
            }
        }
        let mut m = Machine::new(&Config::default());
        m.install_file("/o", Arc::from(data));
        let load = BpfOp::BpftoolProgLoad { object: "/o".into(), pin: "/sys/fs/bpf/p".into(), args: vec![], libbpf };
        if let Ok(a) = m.apply(&load) {
            if a.outcome == sim_core::Outcome::Ok {
                let _ = m.apply(&BpfOp::BpfTestRun { pin: "/sys/fs/bpf/p".into(), repeat: 2 });
                let _ = m.apply(&BpfOp::BpfUnlink { path: "/sys/fs/bpf/p".into() });
            }
        }
    }
});
