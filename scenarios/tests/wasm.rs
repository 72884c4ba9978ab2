//! Under wasm32 every built-in lesson must produce the byte-identical trace
//! that the native golden test checks (tests/golden/ID.txt).
#![cfg(target_arch = "wasm32")]

use scenarios::render::trace_text;
use sim_core::{LinuxOp, McuOp};
use wasm_bindgen_test::wasm_bindgen_test;

const GOLDEN: &[(&str, &str)] = &[
    ("paging-walk", include_str!("../../tests/golden/paging-walk.txt")),
    ("fork-cow", include_str!("../../tests/golden/fork-cow.txt")),
    ("exec-elf", include_str!("../../tests/golden/exec-elf.txt")),
    ("who-maps-libc", include_str!("../../tests/golden/who-maps-libc.txt")),
    ("mcu-startup", include_str!("../../tests/golden/mcu-startup.txt")),
    ("mcu-runtimes", include_str!("../../tests/golden/mcu-runtimes.txt")),
    ("mcu-interrupts", include_str!("../../tests/golden/mcu-interrupts.txt")),
    ("bpf-who-creates-map", include_str!("../../tests/golden/bpf-who-creates-map.txt")),
    ("bpf-map-sharing", include_str!("../../tests/golden/bpf-map-sharing.txt")),
    ("bpf-verifier-calls", include_str!("../../tests/golden/bpf-verifier-calls.txt")),
    ("bpf-ids-and-links", include_str!("../../tests/golden/bpf-ids-and-links.txt")),
    ("bpf-global-variables", include_str!("../../tests/golden/bpf-global-variables.txt")),
    ("handles-vs-pids", include_str!("../../tests/golden/handles-vs-pids.txt")),
];

#[wasm_bindgen_test]
fn every_lesson_trace_is_identical_to_the_native_golden() {
    assert_eq!(GOLDEN.len(), scenarios::lesson::BUILTIN.len(), "a golden for every lesson");
    // The page hands the engine the system image it fetched; so does this test.
    scenarios::system::provide(scenarios::system::DEBIAN_12, include_bytes!("../../fixtures/system/debian-12.sysimg")).expect("image");
    for (id, golden) in GOLDEN {
        let lesson = scenarios::builtin(id).expect("built in").expect("parses");
        let run = scenarios::run(&lesson).expect("runs");
        assert!(run.passed(), "{id}");
        assert_eq!(&trace_text(&run), golden, "{id}");
    }
}

/// The lesson named by `LESSON_FILE` at build time, if any, and the files
/// beside it that it names (see build.rs).
const EXTRA: &str = include_str!(concat!(env!("OUT_DIR"), "/extra_lesson.txt"));
const EXTRA_FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/extra_files.rs"));

#[wasm_bindgen_test]
fn the_instructors_lesson_file_holds() {
    if EXTRA.is_empty() {
        return;
    }
    // As `scenarios run LESSON_FILE` checks it: the same trace and messages.
    let read = |src: &str| {
        EXTRA_FILES
            .iter()
            .find(|(s, _)| *s == src)
            .map(|(_, b)| b.to_vec())
            .ok_or_else(|| format!("not embedded by build.rs (no file {src} beside the lesson)"))
    };
    let c = scenarios::open::check_text(env!("LESSON_FILE_NAME"), EXTRA, read);
    wasm_bindgen_test::console_log!("{}", c.stdout);
    assert!(c.code == 0, "{}", c.stderr);
}

/// Translation speed in wasm, for the README's wasm/native ratio (the
/// native figure comes from `cargo xtask bench`). Reports, never asserts.
#[wasm_bindgen_test]
fn translation_rate_in_wasm() {
    use sim_core::{Access, Config, Machine, Pid};
    let now = || js_sys::Date::now();
    let mut m = Machine::new(&Config::default());
    m.apply(&LinuxOp::Spawn { name: "t".into() }).expect("spawn");
    let base = 0x1000_0000u64;
    m.apply(&LinuxOp::Mmap {
        pid: Pid(1),
        addr: Some(base),
        len: 64 * 4096,
        prot: sim_core::Prot::RW,
        shared: false,
        file: None,
        offset: 0,
    })
    .expect("mmap");
    for i in 0..64u64 {
        m.apply(&LinuxOp::Write { pid: Pid(1), addr: base + i * 4096, value: Some(1), size: 1, text: None }).expect("write");
    }
    // Node compiles wasm first with its baseline compiler and optimises hot
    // code later: warm up, then measure long enough to see the optimised code.
    for i in 0..100_000u64 {
        m.apply(&LinuxOp::Access { pid: Pid(1), addr: base + (i * 4096) % (64 * 4096), access: Access::Read }).expect("access");
    }
    for (name, stride) in [("TLB hits", 0u64), ("TLB misses", 4096)] {
        let n = 400_000u64;
        let t = now();
        for i in 0..n {
            m.apply(&LinuxOp::Access { pid: Pid(1), addr: base + (i * stride) % (64 * 4096), access: Access::Read }).expect("access");
        }
        let secs = (now() - t) / 1e3;
        wasm_bindgen_test::console_log!("wasm translations, {name}: {:.0} per second", n as f64 / secs);
    }
}

/// The Thumb interpreter in wasm: the 64 KiB .data copy (reports, never asserts).
#[wasm_bindgen_test]
fn thumb_rate_in_wasm() {
    use sim_core::{Config, Machine};
    let mut m = Machine::new(&Config::default());
    m.install_file("/fw", std::sync::Arc::from(&include_bytes!("../../fixtures/mcu/bigdata.elf")[..]));
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: Some(128), seed: 3, keep_ram: false })
        .expect("load");
    // A first run warms the wasm engine up (see translation_rate_in_wasm).
    m.apply(&McuOp::McuReset {}).expect("reset");
    m.apply(&McuOp::McuRun { until: Some("main".into()), max: 200_000 }).expect("warm-up run");
    m.apply(&McuOp::McuReset {}).expect("reset");
    let t = js_sys::Date::now();
    let r = m.apply(&McuOp::McuRun { until: Some("main".into()), max: 200_000 }).expect("run");
    let secs = (js_sys::Date::now() - t) / 1e3;
    wasm_bindgen_test::console_log!(
        "wasm 64 KiB .data copy: {} instructions in {:.0} ms = {:.2} M instructions/s",
        r.events.len(),
        secs * 1e3,
        r.events.len() as f64 / secs / 1e6
    );
}

/// The BPF interpreter in wasm: ns per instruction on a 100,000-iteration loop
/// (the native figure, beside rbpf's, comes from `cargo xtask bench`).
#[wasm_bindgen_test]
fn bpf_interpreter_rate_in_wasm() {
    let prog = sim_core::bpf::vm::sum_loop(100_000);
    // A first run warms the wasm engine up (see translation_rate_in_wasm).
    let mut warm = sim_core::bpf::vm::Vm::new(&prog, vec![], Default::default(), Default::default());
    warm.run(false).expect("warm-up run");
    let mut vm = sim_core::bpf::vm::Vm::new(&prog, vec![], Default::default(), Default::default());
    let t = js_sys::Date::now();
    let (r0, _) = vm.run(false).expect("runs");
    let ms = js_sys::Date::now() - t;
    assert_eq!(r0, 5_000_050_000);
    wasm_bindgen_test::console_log!("wasm BPF interpreter: 300003 instructions in {ms:.0} ms = {:.1} ns/insn", ms * 1e6 / 300_003.0);
}

#[path = "support/random_ops.rs"]
mod random_ops;

/// Random operation sequences give the same trace as natively (tests/golden/random-ops.txt).
#[wasm_bindgen_test]
fn random_operations_trace_as_natively() {
    let golden = include_str!("../../tests/golden/random-ops.txt");
    let ours: String = (1..=4).map(|seed| random_ops::trace(seed, 60)).collect();
    assert_eq!(ours, golden);
}
