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
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: None, seed: 1, keep_ram: false })
        .map(|a| a.outcome)
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
fn broken_vector_tables_fault_and_lock_up_only_when_the_hardfault_cannot_run() {
    // Reset itself never faults (TakeReset only loads SP, PC and EPSR.T);
    // the first instruction that uses a bad value does, through HardFault.
    // A reset vector with bit 0 clear: EPSR.T = 0, INVSTATE at the first
    // instruction. One in RAM, or where there is no memory: the fetch faults.
    for (value, what) in [(0x42, "INVSTATE"), (0x3000_0001, "fetch")] {
        let mut m = board(FW);
        load(&mut m).expect("load");
        flash(&mut m, 4, value);
        m.apply(&McuOp::McuReset {}).expect("reset");
        assert_eq!(cpu(&m).lockup, None, "{what}: reset does not lock up");
        let r = m.apply(&McuOp::McuRun { until: None, max: 10 }).expect("runs");
        let said: Vec<String> = r.events.iter().map(|e| e.text()).collect();
        assert!(said.iter().any(|t| t.starts_with("HardFault:") && t.contains(what)), "{what}: {said:#?}");
        let c = cpu(&m);
        assert_eq!((c.ipsr, c.lockup.is_none()), (3, true), "{what}: in the HardFault handler, which loops");
    }
    // An initial SP outside RAM: the Reset handler's first push faults; the
    // HardFault entry cannot stack there either, but the handler is entered
    // all the same (a derived fault, not a lockup), and Default_Handler loops.
    let mut m = board(FW);
    load(&mut m).expect("load");
    flash(&mut m, 0, 0x1000_0000);
    m.apply(&McuOp::McuReset {}).expect("reset");
    let r = m.apply(&McuOp::McuRun { until: None, max: 10 }).expect("runs");
    let said: Vec<String> = r.events.iter().map(|e| e.text()).collect();
    assert!(said.iter().any(|t| t.contains("cannot stack its 8 registers at 0xfffffe0")), "{said:#?}");
    assert_eq!((cpu(&m).ipsr, cpu(&m).lockup.is_none()), (3, true));
    // Every vector even (ARM's "Cortex-M locks up after reset" case): the
    // reset vector's INVSTATE is taken to a HardFault vector with bit 0
    // clear, whose first instruction faults again inside HardFault: lockup.
    let mut m = board(FW);
    load(&mut m).expect("load");
    flash(&mut m, 4, 0x42);
    flash(&mut m, 12, 0x40);
    m.apply(&McuOp::McuReset {}).expect("reset");
    let _ = run(&mut m, None, 10);
    assert!(
        cpu(&m).lockup.as_deref().is_some_and(|l| l.contains("inside the HardFault handler") && l.contains("INVSTATE")),
        "{:?}",
        cpu(&m).lockup
    );
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
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: Some(128), seed: 3, keep_ram: false })
        .expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    let r = m.apply(&McuOp::McuRun { until: Some("main".into()), max: 200_000 }).expect("runs");
    assert_eq!(r.outcome, Outcome::Ok);
    let mcu = m.state().mcu.as_ref().expect("mcu");
    assert_eq!(mcu.peek(0x2000_0000), Some(1));
    assert_eq!(mcu.peek(0x2000_0000 + 4 * 16383), Some(0), "the last word copied (zero-initialised in the table)");
    assert!(r.events.len() > 16384 * 4, "one event per instruction: {}", r.events.len());
}

/// Steps `m` along QEMU's trace `real`, comparing r0-r12, sp, pc and the
/// NZCVQ and IT bits before each instruction. With `flags_known` false the
/// flags are UNKNOWN after reset (QEMU starts with Z set, we with none) and
/// are compared once an instruction has made them agree.
fn step_along(m: &mut Machine, real: &[Vec<u32>], label: &str, flags_known: bool) {
    let mut known = flags_known;
    let mut before = String::new();
    for (i, r) in real.iter().enumerate() {
        let c = cpu(m);
        known |= c.xpsr() & 0xfe00_fc00 == r[15] & 0xfe00_fc00;
        let mask = if known { 0xfe00_fc00 } else { 0 };
        let mut ours: Vec<u32> = c.r[..13].to_vec();
        ours.extend([c.r[13], c.r[15], c.xpsr() & mask]);
        let mut theirs = r[..15].to_vec();
        theirs.push(r[15] & mask);
        if ours != theirs {
            let at = sim_core::mcu::describe(c.r[15], m.state().mcu.as_deref().expect("mcu"));
            panic!("{label}, after {i} instructions (the last: {before}), at {at}:\n ours   {ours:08x?}\n theirs {theirs:08x?}");
        }
        before = sim_core::mcu::describe(c.r[15], m.state().mcu.as_deref().expect("mcu"));
        if i + 1 < real.len() {
            run(m, None, 1).expect("one instruction");
        }
    }
}

/// Random streams of 200 instructions from `insn` (given the generator and
/// the instruction's index), run from the first random instruction on
/// QEMU's `machine` and on our `board`, compared at every step.
fn random_streams_agree(machine: &str, board: &str, seeds: &[u64], insn: impl Fn(&mut sim_tests::qemu::Rng, usize) -> Vec<u16>) {
    use sim_tests::qemu::{have, qemu_trace, thumb2_elf, thumb_v6m_elf, Rng};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    for &seed in seeds {
        let mut g = Rng(seed);
        let insns: Vec<Vec<u16>> = (0..200).map(|i| insn(&mut g, i)).collect();
        // Every instruction runs once (an IT block's skipped ones too), then the idle branch.
        let steps = insns.iter().map(|i| if i[0] >> 8 == 0xbf { i.len() } else { 1 }).sum::<usize>() + 1;
        let v6m = machine == "microbit";
        let (elf, start) = if v6m { thumb_v6m_elf(&mut g, &insns) } else { thumb2_elf(&mut g, &insns) };
        let path = std::env::temp_dir().join(format!("thumb2-{machine}-{seed:x}-{}.elf", std::process::id()));
        std::fs::write(&path, &elf).expect("write");
        let real = qemu_trace(machine, &path, Some(start), steps);
        let _ = std::fs::remove_file(&path);
        let mut m = self::board(&elf);
        m.apply(&McuOp::McuLoad {
            path: "/fw".into(),
            board: Some(board.into()),
            flash_kib: None,
            ram_kib: None,
            seed: 5,
            keep_ram: false,
        })
        .expect("load");
        m.apply(&McuOp::McuReset {}).expect("reset");
        run(&mut m, Some(&format!("{start:#x}")), 1000).expect("the prologue runs");
        step_along(&mut m, &real, &format!("seed {seed:#x} on {machine}"), true);
    }
}

#[test]
fn thumb2_matches_qemu_cortex_m4_on_random_dsp_instruction_streams() {
    // QEMU's mps2-an386 (a Cortex-M4: memory at 0 and at 0x20000000) and our
    // nRF52840 preset run the same image.
    use sim_tests::qemu::{thumb2_insn, thumb2_m4_insn};
    let seeds = [0x7f4a_7c15_9e37_79b9u64, 0x4f6c_dd1d_2545_f491];
    random_streams_agree("mps2-an386", "nrf52840", &seeds, |g, i| if i % 2 == 0 { thumb2_m4_insn(g) } else { thumb2_insn(g) });
}

#[test]
fn thumb_matches_qemu_cortex_m0_on_random_instruction_streams() {
    // QEMU's microbit (nRF51822, Cortex-M0) and our preset for it.
    let seeds = [
        0x3c6e_f372_fe94_f82bu64,
        0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1,
        0x9b05_688c_2b3e_6c1f,
        0x1f83_d9ab_fb41_bd6b,
        0x5be0_cd19_137e_2179,
    ];
    random_streams_agree("microbit", "microbit", &seeds, |g, _| sim_tests::qemu::thumb_v6m_insn(g));
}

#[test]
fn thumb2_matches_qemu_cortex_m3_on_random_instruction_streams() {
    let seeds = [
        0x9e37_79b9_7f4a_7c15u64,
        0x2545_f491_4f6c_dd1d,
        0x1405_7b7e_f767_814f,
        0xd1b5_4a32_d192_ed03,
        0x8cb9_2ba7_2f3d_8dd7,
        0x5851_f42d_4c95_7f2d,
    ];
    random_streams_agree("lm3s6965evb", "lm3s6965", &seeds, |g, _| sim_tests::qemu::thumb2_insn(g));
}

/// Loads `fw` on `board`, resets, and runs until `until` (or the idle loop).
fn boot(fw: &[u8], board: &str, until: Option<&str>) -> (Machine, Result<Outcome, SimError>) {
    let mut m = self::board(fw);
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: Some(board.into()), flash_kib: None, ram_kib: None, seed: 9, keep_ram: false })
        .expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    let r = run(&mut m, until, 200_000);
    (m, r)
}

/// The word at a symbol.
fn word(m: &Machine, name: &str) -> u32 {
    let mcu = m.state().mcu.as_deref().expect("mcu");
    let a = mcu.info.symbols.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no symbol {name}")).1;
    mcu.peek(a).unwrap_or_else(|| panic!("{name} at {a:#x} is not memory"))
}

const STM32F103: &[u8] = include_bytes!("../../fixtures/mcu/stm32f103/firmware.elf");
const NEWLIB: &[u8] = include_bytes!("../../fixtures/mcu/newlib/firmware.elf");

#[test]
fn boards_are_picked_from_the_elf() {
    let pick = |fw: &[u8]| sim_core::mcu::pick(&Firmware::parse(fw).expect("firmware"), None, None).map(|(b, _)| b.id);
    assert_eq!(pick(FW), Ok("microbit"), "ARMv6-M at 0 with 16 KiB of RAM");
    assert_eq!(pick(NEWLIB), Ok("lm3s6965"), "ARMv7-M at 0 with 64 KiB of RAM: not the M0 micro:bit");
    assert_eq!(pick(STM32F103), Ok("stm32f103"), "ARMv7-M at 0x08000000 with 20 KiB of RAM");
    // Each fits some presets and not others, with the reason named.
    let fw = Firmware::parse(STM32F103).expect("firmware");
    let microbit = sim_core::mcu::board("microbit").expect("preset");
    assert_eq!(
        microbit.fits(&fw, 256, 16).map_err(|e| e.to_string()),
        Err("it is built for v7-M (Tag_CPU_arch), which the Cortex-M0 does not execute".into())
    );
    let lm3s = sim_core::mcu::board("lm3s6965").expect("preset");
    assert!(matches!(lm3s.fits(&fw, 256, 64), Err(FitError::Segment { index: 0, lma: 0x0800_0000, .. })));
    // A firmware run on a board it does not fit is refused, naming segment and board.
    let mut m = board(STM32F103);
    let e = m
        .apply(&McuOp::McuLoad {
            path: "/fw".into(),
            board: Some("lm3s6965".into()),
            flash_kib: None,
            ram_kib: None,
            seed: 1,
            keep_ram: false,
        })
        .expect_err("does not fit");
    assert!(e.to_string().contains("does not fit the lm3s6965 board: segment 0's load address 0x8000000"), "{e}");
    let e = m
        .apply(&McuOp::McuLoad {
            path: "/fw".into(),
            board: Some("arduino".into()),
            flash_kib: None,
            ram_kib: None,
            seed: 1,
            keep_ram: false,
        })
        .expect_err("no such board");
    assert!(e.to_string().contains("no board preset is called `arduino`; the presets are microbit, rp2040"), "{e}");
}

#[test]
fn a_cmsis_style_stm32f103_firmware_boots_through_systeminit_to_main() {
    // CMSIS-style assembly startup, SystemInit polling RCC_CR's HSERDY and
    // PLLRDY and RCC_CFGR's SWS, newlib's __libc_init_array, then main.
    let (m, r) = boot(STM32F103, "stm32f103", None);
    assert_eq!(r.expect("runs"), Outcome::Ok, "idles in main's loop");
    assert_eq!(word(&m, "seen_counter"), 5, ".data copied by Reset_Handler");
    assert_eq!(word(&m, "seen_zero"), 0, ".bss zeroed");
    assert_eq!(word(&m, "seen_clock"), 72_000_000, "SystemInit saw HSERDY and PLLRDY and switched to the PLL");
    assert_eq!((word(&m, "quotient"), word(&m, "remainder_")), (714, 2), "udiv and mls");
    assert_eq!(word(&m, "squares_sum"), 1240, "the constructor ran before main");
    assert_eq!(word(&m, "kind"), 29, "the switch's TBB table");
    assert_eq!(word(&m, "field"), 100 + (3 << 8) + (9 << 12), "bitfield inserts and extracts");
    assert_eq!(word(&m, "product"), (-617_283_945i64) as u32, "smull's low word");
    let mcu = m.state().mcu.as_deref().expect("mcu");
    assert_eq!(mcu.io.console, "hi", "USART1_DR");
    assert_eq!(mcu.io.regs.get(&0x4001_100c), Some(&0), "GPIOC_ODR: BSRR cleared bit 13");
    assert_eq!(mcu.io.regs.get(&0x4001_1004), Some(&0x4424_4444), "PC13 configured as an output");
    // The same image fits the STM32F4 Discovery (flash at 0x08000000) and
    // reaches main, but its RCC is elsewhere: the F1's SystemInit times out
    // waiting for HSERDY and leaves the clock at 8 MHz.
    let (m, r) = boot(STM32F103, "stm32f4", Some("main"));
    assert_eq!(r.expect("reaches main"), Outcome::Ok);
    assert_eq!(word(&m, "SystemCoreClock"), 8_000_000, "no HSERDY at the F1's RCC_CR address on an F4");
}

#[test]
fn newlib_crt0_zeroes_bss_runs_constructors_but_copies_no_data() {
    for board in ["lm3s6965", "nrf52840"] {
        let (m, r) = boot(NEWLIB, board, None);
        assert_eq!(r.expect("runs"), Outcome::Ok, "{board}: ends idling");
        assert_ne!(word(&m, "seen_x"), 5, "{board}: _mainCRTStartup never copies .data: x is whatever RAM held");
        assert_eq!(word(&m, "seen_y"), 0, "{board}: memset zeroed .bss");
        assert_eq!(word(&m, "ctor_ran"), 42, "{board}: __libc_init_array ran the constructor");
        // exit() then reads newlib's own .data (impure_data's __cleanup), which
        // is RAM garbage too, and calls it: INVSTATE, escalated to HardFault.
        let c = cpu(&m);
        let at = m.state().mcu.as_deref().expect("mcu").symbolize(c.r[15]);
        // INVSTATE (an even garbage address), IBUSERR or IACCVIOL (an odd one where nothing runs).
        assert_eq!((c.ipsr, c.sys.hfsr), (3, 1 << 30), "{board}: a forced HardFault");
        assert!(c.sys.cfsr & ((1 << 17) | (1 << 8) | 1) != 0, "{board}: CFSR {:#x}", c.sys.cfsr);
        assert!(at.starts_with("Default_Handler"), "{board}: idles in {at}");
    }
}

const RUST: &[u8] = include_bytes!("../../fixtures/mcu/rust/firmware.elf");

#[test]
fn a_rust_cortex_m_rt_firmware_copies_data_and_zeroes_bss_before_main() {
    let (m, r) = boot(RUST, "lm3s6965", None);
    assert_eq!(r.expect("runs"), Outcome::Ok, "idles in main's loop");
    assert_eq!(word(&m, "SEEN_COUNTER"), 5, "cortex-m-rt's Reset copied .data");
    assert_eq!(word(&m, "SEEN_ZERO"), 0, "and zeroed .bss");
    assert_eq!(word(&m, "TOTAL"), 55, "1 + 4 + 9 + 16 + 25");
}

/// Runs `fw` from reset on our `board` and on QEMU's `machine`, comparing
/// r0-r12, sp, pc and NZCVQ/IT before each of the first `steps` instructions.
fn agrees_with_qemu(fw: &[u8], name: &str, board: &str, machine: &str, steps: usize) {
    use sim_tests::qemu::{have, qemu_trace};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    let real = qemu_trace(machine, &sim_tests::root().join(name), None, steps);
    let mut m = self::board(fw);
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: Some(board.into()), flash_kib: None, ram_kib: None, seed: 9, keep_ram: false })
        .expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    step_along(&mut m, &real, &format!("{name} on {machine}"), false);
}

#[test]
fn real_runtimes_match_qemu_instruction_by_instruction() {
    // cortex-m-rt's Reset to main's loop: every instruction.
    agrees_with_qemu(RUST, "fixtures/mcu/rust/firmware.elf", "lm3s6965", "lm3s6965evb", 75);
    // newlib's crt0 through memset, atexit and __libc_init_array into main,
    // up to main's load of x (QEMU's RAM is zeros, ours power-up garbage).
    agrees_with_qemu(NEWLIB, "fixtures/mcu/newlib/firmware.elf", "lm3s6965", "lm3s6965evb", 229);
    // The STM32F103 image on QEMU's netduino2 (an STM32F205: flash at
    // 0x08000000 aliased at 0) through the .data copy and .bss loops, up to
    // SystemInit's first RCC access (the F2's RCC is elsewhere).
    agrees_with_qemu(STM32F103, "fixtures/mcu/stm32f103/firmware.elf", "stm32f103", "netduino2", 225);
}

#[test]
fn source_lines_agree_with_addr2line() {
    use sim_tests::qemu::have;
    if !have("arm-none-eabi-addr2line") {
        eprintln!("skipped: arm-none-eabi-addr2line is not installed (cargo xtask setup installs binutils-arm-none-eabi)");
        return;
    }
    for (fw, name) in [
        (STM32F103, "fixtures/mcu/stm32f103/firmware.elf"),
        (RUST, "fixtures/mcu/rust/firmware.elf"),
        (NEWLIB, "fixtures/mcu/newlib/firmware.elf"),
    ] {
        let info = Firmware::parse(fw).expect("firmware");
        assert!(!info.lines.is_empty(), "{name} is built with -g");
        // Every instruction the run executes, in our main and startup code.
        let (m, _) = boot(fw, sim_core::mcu::pick(&info, None, None).expect("fits").0.id, Some("main"));
        let mcu = m.state().mcu.as_deref().expect("mcu");
        let main = mcu.info.symbols.iter().find(|(n, _)| n == "main").expect("main").1;
        let addrs: Vec<u32> = (0..24).map(|i| main + 2 * i).collect();
        let out = std::process::Command::new("arm-none-eabi-addr2line")
            .arg("-e")
            .arg(sim_tests::root().join(name))
            .args(addrs.iter().map(|a| format!("{a:#x}")))
            .output()
            .expect("addr2line runs");
        let theirs: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split(" (").next().unwrap_or(l).to_string()).collect();
        for (a, t) in addrs.iter().zip(&theirs) {
            let file_line = t.rsplit('/').next().unwrap_or(t);
            let ours =
                info.source_line(*a).map(|(f, l)| format!("{}:{l}", f.rsplit('/').next().unwrap_or(f))).unwrap_or_else(|| "??:0".into());
            if file_line.ends_with(":?") || file_line.starts_with("??") {
                continue;
            }
            assert_eq!(ours, file_line, "{name} at {a:#x}");
        }
    }
}

/// `fw` with the word at load address `addr` replaced (in the file).
fn patch_word(fw: &[u8], addr: u32, value: u32) -> Vec<u8> {
    let r32 = |at: usize| u32::from_le_bytes([fw[at], fw[at + 1], fw[at + 2], fw[at + 3]]);
    let (phoff, phnum) = (r32(28) as usize, u16::from_le_bytes([fw[44], fw[45]]) as usize);
    let mut out = fw.to_vec();
    for i in 0..phnum {
        let ph = phoff + 32 * i;
        let (off, paddr, filesz) = (r32(ph + 4), r32(ph + 12), r32(ph + 16));
        if r32(ph) == 1 && addr >= paddr && addr + 4 <= paddr + filesz {
            let at = (off + addr - paddr) as usize;
            out[at..at + 4].copy_from_slice(&value.to_le_bytes());
            return out;
        }
    }
    panic!("no segment holds {addr:#x}");
}

#[test]
fn an_even_reset_vector_faults_at_the_first_instruction_as_on_qemu() {
    // QEMU's micro:bit (Cortex-M0) and lm3s6965evb (Cortex-M3): reset with
    // EPSR.T = 0, then INVSTATE taken as a HardFault (escalated on the M3).
    use sim_tests::qemu::{have, qemu_trace};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    for (fw, board, machine) in [(FW, "microbit", "microbit"), (NEWLIB, "lm3s6965", "lm3s6965evb")] {
        let info = Firmware::parse(fw).expect("firmware");
        let entry = info.word_at(4).expect("reset vector");
        let bad = patch_word(fw, 4, entry & !1);
        let path = std::env::temp_dir().join(format!("even-reset-{board}-{}.elf", std::process::id()));
        std::fs::write(&path, &bad).expect("write");
        let real = qemu_trace(machine, &path, None, 3);
        let _ = std::fs::remove_file(&path);
        let mut m = self::board(&bad);
        m.apply(&McuOp::McuLoad {
            path: "/fw".into(),
            board: Some(board.into()),
            flash_kib: None,
            ram_kib: None,
            seed: 9,
            keep_ram: false,
        })
        .expect("load");
        m.apply(&McuOp::McuReset {}).expect("reset");
        for (i, r) in real.iter().enumerate() {
            let c = cpu(&m);
            // pc, sp, EPSR.T and IPSR.
            let ours = [c.r[15], c.r[13], c.xpsr() & 0x0100_01ff];
            let theirs = [r[14], r[13], r[15] & 0x0100_01ff];
            assert_eq!(ours, theirs, "{board}: after {i} instructions (pc, sp, T and IPSR)");
            run(&mut m, None, 1).expect("one instruction");
        }
    }
}

#[test]
fn fuzz_found_inputs_run_without_panicking() {
    // An STMIA whose address wrapped past 4 GiB once the system region's
    // stores were accepted (found by the thumb fuzz target).
    let data = std::fs::read(sim_tests::root().join("tests/malformed/fuzz-thumb-stm-wraps.bin")).expect("regression input");
    let mut code = 0x2000_4000u32.to_le_bytes().to_vec();
    code.extend(9u32.to_le_bytes());
    code.extend(&data[..data.len().min(4096)]);
    for b in ["microbit", "nrf52840"] {
        let mut m = self::board(&sim_tests::qemu::elf32(&code));
        m.apply(&McuOp::McuLoad { path: "/fw".into(), board: Some(b.into()), flash_kib: None, ram_kib: None, seed: 7, keep_ram: false })
            .expect("load");
        m.apply(&McuOp::McuReset {}).expect("reset");
        let _ = m.apply(&McuOp::McuRun { until: None, max: 3_000 });
    }
}

const BLINKY: &[u8] = include_bytes!("../../fixtures/mcu/blinky/firmware.elf");

#[test]
fn an_interrupt_driven_blinky_takes_systick_every_reload_and_returns() {
    let (mut m, r) = boot(BLINKY, "stm32f103", Some("main"));
    r.expect("reaches main");
    let r = m.apply(&McuOp::McuRun { until: None, max: 2_000 }).expect("runs");
    let c = cpu(&m);
    let ticks = word(&m, "ticks");
    let entries: Vec<sim_core::Event> = r.events.iter().filter(|e| e.text().starts_with("SysTick (the counter reached 0")).collect();
    assert!(ticks >= 10 && entries.len() as u32 >= ticks - 1, "ticks {ticks}, {} entries", entries.len());
    // Each handler ends in an exception return to thread mode (a bad one would fault).
    assert!(!r.events.iter().any(|e| e.text().starts_with("HardFault")) && c.lockup.is_none());
    assert!(c.ipsr == 0 || c.ipsr == 15, "thread mode or in the handler: {}", c.ipsr);
    // WFI sleeps until the next zero: SysTick every RVR + 1 = 100 clock cycles.
    let mcu = m.state().mcu.as_deref().expect("mcu");
    assert_eq!(mcu.cpu.sys.systick.rvr, 99);
    let odr = mcu.io.regs.get(&0x4001_100c).copied().unwrap_or(0);
    assert_eq!(odr >> 13 & 1, ticks & 1, "the LED toggles on every tick (ODR bit 13 after {ticks} toggles)");
}

#[test]
fn svc_takes_svcall_and_returns_after_it() {
    // Vectors: SP, reset at 0x41, SVCall (word 11) at 0x51. Code at 0x40:
    // movs r0, #1; svc #5; movs r2, #3; b . ; handler at 0x50: movs r1, #7; bx lr.
    let mut image = vec![0u8; 0x40];
    image[0..4].copy_from_slice(&0x2000_4000u32.to_le_bytes());
    image[4..8].copy_from_slice(&0x41u32.to_le_bytes());
    image[44..48].copy_from_slice(&0x51u32.to_le_bytes());
    for h in [0x2001u16, 0xdf05, 0x2203, 0xe7fe, 0, 0, 0, 0, 0x2107, 0x4770] {
        image.extend(h.to_le_bytes());
    }
    for b in ["microbit", "lm3s6965"] {
        let mut m = self::board(&sim_tests::qemu::elf32(&image));
        m.apply(&McuOp::McuLoad { path: "/fw".into(), board: Some(b.into()), flash_kib: None, ram_kib: None, seed: 2, keep_ram: false })
            .expect("load");
        m.apply(&McuOp::McuReset {}).expect("reset");
        run(&mut m, None, 2).expect("movs, svc");
        let c = cpu(&m);
        assert_eq!((c.ipsr, c.r[15], c.r[14]), (11, 0x50, 0xffff_fff9), "{b}: in SVC_Handler");
        let r = m.apply(&McuOp::McuRun { until: None, max: 10 }).expect("runs");
        let c = cpu(&m);
        // r1 = 7 was the handler's own: the return unstacks r0-r3, so r1 is
        // the caller's 0 again (a handler returns values through the frame).
        assert_eq!((c.ipsr, c.r[0], c.r[1], c.r[2], c.r[15]), (0, 1, 0, 3, 0x46), "{b}: back after the svc, then idling");
        assert!(r.outcome == Outcome::Ok);
    }
}

#[test]
fn ccr_div_0_trp_makes_a_division_by_zero_fault_as_on_qemu() {
    // Set CCR (0xE000ED14) to UNALIGN_TRP | DIV_0_TRP, then divide by zero:
    // a UsageFault (DIVBYZERO), escalated to HardFault; the handler loops.
    let mut image = vec![0u8; 0x40];
    image[0..4].copy_from_slice(&0x2000_4000u32.to_le_bytes());
    image[4..8].copy_from_slice(&0x41u32.to_le_bytes());
    image[12..16].copy_from_slice(&0x57u32.to_le_bytes());
    // movw r0, #0xed14; movt r0, #0xe000; movs r1, #0x18; str r1, [r0]; movs r2, #5; movs r3, #0;
    // udiv r4, r2, r3; b . ; handler: b .
    for h in [0xf64eu16, 0x5014, 0xf2ce, 0x0000, 0x2118, 0x6001, 0x2205, 0x2300, 0xfbb2, 0xf4f3, 0xe7fe, 0xe7fe] {
        image.extend(h.to_le_bytes());
    }
    let elf = sim_tests::qemu::elf32(&image);
    let mut m = self::board(&elf);
    m.apply(&McuOp::McuLoad {
        path: "/fw".into(),
        board: Some("lm3s6965".into()),
        flash_kib: None,
        ram_kib: None,
        seed: 2,
        keep_ram: false,
    })
    .expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    assert_eq!(cpu(&m).sys.ccr, 0x200, "STKALIGN from reset");
    let mut ours = Vec::new();
    for _ in 0..9 {
        let c = cpu(&m);
        ours.push((c.r[15], c.r[13], c.ipsr));
        run(&mut m, None, 1).expect("one step");
    }
    let c = cpu(&m);
    assert_eq!((c.ipsr, c.r[15], c.sys.ccr), (3, 0x56, 0x18), "the write replaced STKALIGN too");
    assert_eq!((c.sys.cfsr, c.sys.hfsr), (1 << 25, 1 << 30), "DIVBYZERO, FORCED");
    use sim_tests::qemu::{have, qemu_trace};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    let path = std::env::temp_dir().join(format!("ccr-{}.elf", std::process::id()));
    std::fs::write(&path, &elf).expect("write");
    let real = qemu_trace("lm3s6965evb", &path, None, 9);
    let _ = std::fs::remove_file(&path);
    let theirs: Vec<(u32, u32, u32)> = real.iter().map(|r| (r[14], r[13], r[15] & 0x1ff)).collect();
    assert_eq!(ours, theirs, "pc, sp (a 4-byte aligned frame: STKALIGN cleared) and IPSR before each step");
}

const NVIC: &[u8] = include_bytes!("../../fixtures/mcu/nvic/firmware.elf");

#[test]
fn nvic_priorities_preempt_mask_and_order_exceptions_as_on_qemu() {
    // fixtures/mcu/nvic/nvic.c: each handler and main append a mark to
    // trail[] (IRQ0 0x20, IRQ1 0x40, IRQ2 0x60, SVCall 0x80, PendSV 0xE0).
    let (m, r) = boot(NVIC, "lm3s6965", Some("done"));
    r.expect("reaches done");
    let mcu = m.state().mcu.as_deref().expect("mcu");
    let at = |name: &str| mcu.info.symbols.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no symbol {name}")).1;
    let n = word(&m, "n") as usize;
    let trail: Vec<u32> = (0..n).map(|i| mcu.peek(at("trail") + 4 * i as u32).expect("RAM")).collect();
    let regs: Vec<u32> =
        ["icsr_masked", "ispr_disabled", "ispr_cleared", "icsr_idle", "shpr3", "ipr0"].iter().map(|s| word(&m, s)).collect();
    #[rustfmt::skip]
    let expected = [
        // svc: SVCall; IRQ1 preempts it, IRQ0 preempts IRQ1; PendSV and IRQ2 wait
        // for their turn (IRQ2 tail-chains before SVCall resumes), PendSV last.
        0xa0, 0x81, 0x11, 0x01, 0x02, 0x12, 0x13, 0x21, 0x82, 0xe1, 0xa1,
        // PRIMASK: IRQ2 waits for cpsie.
        0xa2, 0x21, 0xa3,
        // BASEPRI 0x40: IRQ0 is taken, IRQ1 and PendSV wait until BASEPRI is 0.
        0x01, 0x02, 0xa4, 0x11, 0x01, 0x02, 0x12, 0x13, 0x21, 0xe1, 0xa5,
        // A disabled IRQ stays pending, untaken; then PRIGROUP 6: IRQ0 and
        // IRQ1 in one group, taken by subpriority, neither preempting the other.
        0xa6, 0x01, 0x02, 0x11, 0x12, 0x13, 0x01, 0x02, 0x21, 0xe1, 0xa7,
    ];
    assert_eq!(trail, expected, "the order the handlers ran in");
    // ICSR with IRQ2 pending under PRIMASK: ISRPENDING, VECTPENDING 18, and
    // RETTOBASE (QEMU sets it in thread mode, where it is UNKNOWN); ISPR0
    // with IRQ2 disabled and pending, then cleared; SHPR3 and IPR0 as written.
    assert_eq!(regs, [0x0041_2800, 4, 0, 0x800, 0x00e0_0000, 0x0060_4020]);
    use sim_tests::qemu::{have, qemu_words_at};
    if !(have("qemu-system-arm") && have("gdb-multiarch")) {
        eprintln!("skipped the QEMU comparison: qemu-system-arm and gdb-multiarch are not installed (cargo xtask setup installs them)");
        return;
    }
    let real =
        qemu_words_at("lm3s6965evb", &sim_tests::root().join("fixtures/mcu/nvic/firmware.elf"), "done", &[(at("n"), 1), (at("trail"), n)]);
    assert_eq!(real, vec![vec![n as u32], trail], "QEMU's lm3s6965evb: n and trail[]");
    let names = ["icsr_masked", "ispr_disabled", "ispr_cleared", "icsr_idle", "shpr3", "ipr0"];
    let reads: Vec<(u32, usize)> = names.iter().map(|s| (at(s), 1)).collect();
    let real = qemu_words_at("lm3s6965evb", &sim_tests::root().join("fixtures/mcu/nvic/firmware.elf"), "done", &reads);
    assert_eq!(real.concat(), regs, "QEMU's lm3s6965evb: {names:?}");
}

#[test]
fn an_rtos_starts_its_task_on_psp_and_the_task_s_exceptions_stack_there_as_on_qemu() {
    // fixtures/mcu/nvic/rtos.s: SVC's handler returns with EXC_RETURN
    // 0xFFFFFFFD (CONTROL.SPSEL set: thread mode on PSP); the task's own svc
    // is stacked on PSP with LR = 0xFFFFFFFD, the handler on MSP.
    const RTOS: &[u8] = include_bytes!("../../fixtures/mcu/nvic/rtos.elf");
    let (m, r) = boot(RTOS, "lm3s6965", Some("done"));
    r.expect("reaches done");
    let c = cpu(&m);
    assert_eq!((c.r[4], c.r[5], c.r[13], c.sys.control & 2), (2, 0xffff_fffd, 0x2000_8000, 2), "the task ran twice, on PSP");
    // Every instruction, through both svcs and their returns, as QEMU runs it.
    agrees_with_qemu(RTOS, "fixtures/mcu/nvic/rtos.elf", "lm3s6965", "lm3s6965evb", 40);
}
