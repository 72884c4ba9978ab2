//! The microcontroller: bad firmware and bad vector tables give clear errors
//! or the fault the hardware would take; and the interpreter agrees with a
//! real emulator (QEMU's micro:bit, a Cortex-M0) instruction by instruction.

use sim_core::mcu::Error as McuError;
use sim_core::mcu::{Firmware, FirmwareError, FitError};
use sim_core::McuOp;
use sim_core::{Config, Machine, Outcome, SimError};
use std::sync::Arc;

const FW: &[u8] = include_bytes!("../../fixtures/mcu/firmware.elf");
const EXE: &[u8] = include_bytes!("../../fixtures/exec/static_maps");

fn board(fw: &[u8]) -> Machine {
    let mut m = Machine::new(&Config::default());
    m.install_file("/fw", Arc::from(fw));
    m
}

fn load(m: &mut Machine) -> Result<Outcome, SimError> {
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: None, seed: 1 }).map(|a| a.outcome)
}

fn run(m: &mut Machine, until: Option<&str>, max: u64) -> Result<Outcome, SimError> {
    m.apply(&McuOp::McuRun { until: until.map(String::from), max }).map(|a| a.outcome)
}

fn flash(m: &mut Machine, addr: u32, value: u32) {
    m.apply(&McuOp::McuWriteFlash { addr, value }).expect("flash");
}

fn cpu(m: &Machine) -> sim_core::mcu::Cpu {
    m.state().mcu.as_ref().expect("mcu").cpu.clone()
}

#[test]
fn bad_firmware_files_are_refused_with_a_reason() {
    assert_eq!(Firmware::parse(EXE), Err(FirmwareError::WrongMachine(62)));
    assert!(matches!(Firmware::parse(b"not an elf"), Err(FirmwareError::NotElf(_))));
    // The catalogue (tests/src/catalogue.rs, `fw-*`) checks the messages; here, the variants.
    let by_name = |n: &str| sim_tests::catalogue::catalogue().into_iter().find(|b| b.name == n).expect("in the catalogue").bytes;
    assert!(matches!(Firmware::parse(&by_name("fw-truncated.elf")), Err(FirmwareError::NotElf(_))));
    let outside = Firmware::parse(&by_name("fw-outside-flash.elf")).expect("readable");
    let why = sim_core::mcu::pick(&outside, None, None).expect_err("fits no board");
    assert!(matches!(why[0], ("microbit", FitError::Segment { index: 1, lma: 0x3000_0000, .. })), "{why:?}");
    assert_eq!(Firmware::parse(&by_name("fw-big-endian.elf")), Err(FirmwareError::BigEndian));
    assert_eq!(Firmware::parse(&by_name("fw-a-profile.elf")), Err(FirmwareError::NotMProfile('A')));
    assert_eq!(Firmware::parse(&by_name("fw-no-load.elf")), Err(FirmwareError::Empty));
    // Found by the firmware fuzz target: a section address plus its
    // segment's size wrapped past 4 GiB, an overflow panic in the reader.
    let wraps = std::fs::read(sim_tests::root().join("tests/malformed/fuzz-firmware-section-wraps.elf")).expect("regression input");
    let _ = Firmware::parse(&wraps);
    let mut m = board(b"junk");
    assert!(matches!(load(&mut m), Err(SimError::Mcu(McuError::Firmware { error: sim_core::mcu::FirmwareError::NotElf(_), .. }))));
    let mut m = board(FW);
    assert!(matches!(run(&mut m, None, 10), Err(SimError::Mcu(McuError::NoBoard))));
}

#[test]
fn broken_vector_tables_lock_the_core_up() {
    for (word, value, why) in [(4, 0x42, "Thumb"), (4, 0x3000_0001, "outside flash"), (0, 0x1000_0000, "not in RAM")] {
        let mut m = board(FW);
        load(&mut m).expect("load");
        flash(&mut m, word, value);
        m.apply(&McuOp::McuReset {}).expect("reset");
        let c = cpu(&m);
        assert!(c.lockup.as_deref().is_some_and(|l| l.contains(why)), "{why}: {:?}", c.lockup);
        assert!(matches!(run(&mut m, None, 10), Ok(Outcome::Failed { .. })), "a locked core runs nothing");
    }
}

#[test]
fn faults_budgets_and_unsupported_instructions() {
    // A store to flash is a bus error: HardFault, handled by Default_Handler.
    let mut m = board(FW);
    load(&mut m).expect("load");
    flash(&mut m, 0x44, 0x6001_2000); // movs r0, #0 ; str r1, [r0, #0]
    m.apply(&McuOp::McuReset {}).expect("reset");
    run(&mut m, None, 50).expect("runs into the handler's loop");
    let c = cpu(&m);
    assert_eq!((c.ipsr, c.r[15], c.r[14]), (3, 0x40, 0xffff_fff9), "in the HardFault handler");
    // A 32-bit Thumb-2 instruction on the M0: UNDEFINED in ARMv6-M, which
    // has no UsageFault, so a HardFault (not a simulator error).
    let mut m = board(FW);
    load(&mut m).expect("load");
    flash(&mut m, 0x44, 0x1000_f8d0); // ldr.w r1, [r0]
    m.apply(&McuOp::McuReset {}).expect("reset");
    let r = m.apply(&McuOp::McuRun { until: None, max: 5 }).expect("runs");
    let said: Vec<String> = r.events.iter().map(|e| e.text()).collect();
    assert!(
        said.iter().any(|t| t.starts_with("HardFault: undefined instruction at 0x00000044: 0xf8d0 0x1000 (a Thumb-2 encoding")),
        "{said:#?}"
    );
    assert_eq!(cpu(&m).ipsr, 3);
    // A Reset handler that never reaches main within the budget.
    let mut m = board(FW);
    load(&mut m).expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    assert!(matches!(run(&mut m, Some("main"), 5), Err(SimError::Mcu(McuError::NotReached { max: 5, .. }))));
    assert!(matches!(run(&mut m, Some("no_such_symbol"), 5), Err(SimError::Mcu(McuError::UnknownSymbol(_)))));
    // An unaligned word load faults on the M0.
    let mut m = board(FW);
    load(&mut m).expect("load");
    flash(&mut m, 0x44, 0x6808_2001); // movs r0, #1 ; ldr r0, [r1, #0] with r1 = 0 -> fine; use r0:
    flash(&mut m, 0x44, 0x6800_2001); // movs r0, #1 ; ldr r0, [r0, #0]: unaligned
    m.apply(&McuOp::McuReset {}).expect("reset");
    run(&mut m, None, 20).expect("runs");
    assert_eq!(cpu(&m).ipsr, 3, "HardFault");
}

#[test]
fn the_interpreter_matches_qemu_instruction_by_instruction() {
    use sim_tests::qemu::{have, qemu_trace};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    let steps = 45;
    let real = qemu_trace("microbit", &sim_tests::root().join("fixtures/mcu/firmware.elf"), None, steps);
    let mut m = board(FW);
    load(&mut m).expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    for (i, r) in real.iter().enumerate() {
        let c = cpu(&m);
        // The flags are UNKNOWN after reset (ARMv6-M ARM, TakeReset): compare
        // them from the first compare instruction on (the 4th instruction).
        let known = if i >= 4 { u32::MAX } else { 0 };
        let ours = vec![c.r[0], c.r[1], c.r[2], c.r[3], c.r[4], c.r[13], c.r[15], c.xpsr() & 0xf000_0000 & known];
        let theirs = vec![r[0], r[1], r[2], r[3], r[4], r[13], r[14], r[15] & 0xf000_0000 & known];
        assert_eq!(ours, theirs, "after {i} instructions (r0-r4, sp, pc, NZCV)");
        run(&mut m, None, 1).expect("one instruction");
    }
}

#[test]
fn flash_holds_what_objcopy_o_binary_writes() {
    // fixtures/mcu/firmware.bin is `arm-none-eabi-objcopy -O binary firmware.elf`.
    let bin = include_bytes!("../../fixtures/mcu/firmware.bin");
    let mut m = board(FW);
    load(&mut m).expect("load");
    let flash = &m.state().mcu.as_ref().expect("mcu").flash;
    assert_eq!(&flash[..bin.len()], &bin[..], "the same bytes at the same load addresses");
    assert_eq!(&bin[0xc0..0xc4], &5u32.to_le_bytes(), "x's initial value at its LMA");
    assert!(flash[bin.len()..].iter().all(|b| *b == 0xff), "erased flash beyond the image");
}

#[test]
fn a_64_kib_data_copy_runs_to_main() {
    let big = include_bytes!("../../fixtures/mcu/bigdata.elf");
    let mut m = board(big);
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: Some(128), seed: 3 }).expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    let r = m.apply(&McuOp::McuRun { until: Some("main".into()), max: 200_000 }).expect("runs");
    assert_eq!(r.outcome, Outcome::Ok);
    let mcu = m.state().mcu.as_ref().expect("mcu");
    assert_eq!(mcu.peek(0x2000_0000), Some(1));
    assert_eq!(mcu.peek(0x2000_0000 + 4 * 16383), Some(0), "the last word copied (zero-initialised in the table)");
    assert!(r.events.len() > 16384 * 4, "one event per instruction: {}", r.events.len());
}

#[test]
fn thumb2_matches_qemu_cortex_m3_on_random_instruction_streams() {
    use sim_tests::qemu::{have, qemu_trace, thumb2_elf, thumb2_insn, Rng};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    for seed in [0x9e37_79b9_7f4a_7c15u64, 0x2545_f491_4f6c_dd1d, 0x1405_7b7e_f767_814f, 0xd1b5_4a32_d192_ed03, 0x8cb9_2ba7_2f3d_8dd7, 0x5851_f42d_4c95_7f2d] {
        let mut g = Rng(seed);
        let insns: Vec<Vec<u16>> = (0..200).map(|_| thumb2_insn(&mut g)).collect();
        // Every instruction runs once (an IT block's skipped ones too), then the idle branch.
        let steps = insns.iter().map(|i| if i[0] >> 8 == 0xbf { 1 + (i.len() - 1) } else { 1 }).sum::<usize>() + 1;
        let (elf, start) = thumb2_elf(&mut g, &insns);
        let path = std::env::temp_dir().join(format!("thumb2-{seed:x}-{}.elf", std::process::id()));
        std::fs::write(&path, &elf).expect("write");
        let real = qemu_trace("lm3s6965evb", &path, Some(start), steps);
        let _ = std::fs::remove_file(&path);
        let mut m = board(&elf);
        m.apply(&McuOp::McuLoad { path: "/fw".into(), board: Some("lm3s6965".into()), flash_kib: None, ram_kib: None, seed: 5 }).expect("load");
        m.apply(&McuOp::McuReset {}).expect("reset");
        run(&mut m, Some(&format!("{start:#x}")), 1000).expect("the prologue runs");
        let mask = 0xfe00_fc00; // NZCVQ and the IT bits
        for (i, r) in real.iter().enumerate() {
            let c = cpu(&m);
            let mut ours: Vec<u32> = c.r[..13].to_vec();
            ours.extend([c.r[13], c.r[15], c.xpsr() & mask]);
            let mut theirs = r[..15].to_vec();
            theirs.push(r[15] & mask);
            if ours != theirs {
                let st = m.state().mcu.as_ref().expect("mcu");
                let before = sim_core::mcu::describe(c.r[15], st);
                panic!("seed {seed:#x}, after {i} instructions, at {before}:\n ours   {ours:08x?}\n theirs {theirs:08x?}");
            }
            if i + 1 < real.len() {
                run(&mut m, None, 1).expect("one instruction");
            }
        }
    }
}
