//! Any bytes as what ld.so loads: as libc.so.6 under a real dynamic
//! program, or as the dynamic program itself, with the system image
//! installed. Exec and ld.so either finish or end with a typed error or a
//! failed outcome; nothing panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sim_core::LinuxOp;
use sim_core::{Config, Machine, Pid};
use std::sync::Arc;

const PROGRAM: &[u8] = include_bytes!("../../fixtures/exec/dynamic_pie");

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = data.split_first() else { return };
    let image = scenarios::system::get(scenarios::system::DEBIAN_12).expect("the built-in image");
    let mut m = Machine::new(&Config { frames: 4096, ..Config::default() });
    m.install_image(&image);
    let _ = sim_core::linux::elf::ExecImage::parse(bytes, 0x7fff_ffff_f000)
        .map(|i| sim_core::linux::dynamic::Dynamic::parse(bytes, &i));
    if mode & 1 == 0 {
        m.install_file("/usr/lib/x86_64-linux-gnu/libc.so.6", Arc::from(bytes));
        m.install_file("/bin/x", Arc::from(PROGRAM));
    } else {
        m.install_file("/bin/x", Arc::from(bytes));
    }
    let _ = m.apply(&LinuxOp::Spawn { name: "sh".into() });
    let exec = LinuxOp::Exec { pid: Pid(1), path: "/bin/x".into(), argv: vec!["x".into()], envp: vec![] };
    if let Ok(a) = m.apply(&exec) {
        if a.outcome == sim_core::Outcome::Ok {
            let _ = m.apply(&LinuxOp::LdSo { pid: Pid(1) });
        }
    }
    let _ = m.apply(&LinuxOp::Exit { pid: Pid(1), code: 0 });
});
