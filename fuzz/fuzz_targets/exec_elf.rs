//! Any bytes as an executable: the ELF reader and a full exec in a fresh
//! process either load it or refuse it with a typed error (ENOEXEC), and the
//! machine stays consistent enough to keep running.
#![no_main]
use sim_core::{LinuxOp};
use libfuzzer_sys::fuzz_target;
use sim_core::{Config, Machine, Pid};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let _ = sim_core::linux::elf::ExecImage::parse(data, 0x7fff_ffff_f000);
    let mut m = Machine::new(&Config { frames: 4096, ..Config::default() });
    m.install_file("/bin/x", Arc::from(data));
    let _ = m.apply(&LinuxOp::Spawn { name: "sh".into() });
    let exec = LinuxOp::Exec { pid: Pid(1), path: "/bin/x".into(), argv: vec!["x".into()], envp: vec![] };
    if let Ok(a) = m.apply(&exec) {
        if matches!(a.outcome, sim_core::Outcome::Ok) {
            // Touch the entry point and the stack as the CPU would.
            let entry = m.state().linux.procs.get(&Pid(1)).map(|p| p.regs.ip).unwrap_or(0);
            let _ = m.apply(&LinuxOp::Access { pid: Pid(1), addr: entry, access: sim_core::Access::Exec });
        }
    }
    let _ = m.apply(&LinuxOp::Exit { pid: Pid(1), code: 0 });
});
