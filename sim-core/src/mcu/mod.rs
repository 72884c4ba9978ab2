//! A Cortex-M0 microcontroller: flash at 0, RAM at 0x2000_0000, a vector
//! table whose word 0 is the initial stack pointer and word 1 the reset
//! vector, and a Thumb (ARMv6-M) interpreter that runs the machine code a
//! real compiler produced, one instruction per event.
//!
//! Facts (ARMv6-M Architecture Reference Manual; cortex-m-rt `link.x.in` and
//! `asm.S`): on reset the core loads SP from address 0 and PC from address 4
//! (the reset vector must have bit 0 set: Thumb state); RAM holds whatever it
//! powered up with; a flasher writes each loadable segment at its load
//! address (`p_paddr`, the LMA), and only the startup code moves `.data` to
//! its run address (the VMA) and zeroes `.bss`.

use crate::fields::parse_num;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// Where flash starts.
pub const FLASH_BASE: u32 = 0;
/// Where RAM starts.
pub const RAM_BASE: u32 = 0x2000_0000;
/// Most instructions one operation may run.
pub const MAX_STEPS: u64 = 250_000;

mod firmware;
pub mod ops;
mod thumb;

pub use firmware::*;
use thumb::execute;

/// Registers and flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// r0-r12, sp (13), lr (14), pc (15).
    pub r: [u32; 16],
    /// Negative.
    pub n: bool,
    /// Zero.
    pub z: bool,
    /// Carry.
    pub c: bool,
    /// Overflow.
    pub v: bool,
    /// The exception being handled (IPSR), 0 in thread mode.
    pub ipsr: u32,
    /// Why the core locked up, if it did.
    pub lockup: Option<String>,
    /// Instructions executed since reset.
    pub steps: u64,
}

impl Cpu {
    /// NZCV as bits 3..0.
    pub fn flags(&self) -> u8 {
        (u8::from(self.n) << 3) | (u8::from(self.z) << 2) | (u8::from(self.c) << 1) | u8::from(self.v)
    }

    fn set_flags(&mut self, f: u8) {
        (self.n, self.z, self.c, self.v) = (f & 8 != 0, f & 4 != 0, f & 2 != 0, f & 1 != 0);
    }
}

/// The microcontroller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct McuState {
    /// The firmware's path.
    pub firmware: String,
    /// What its ELF says.
    pub info: Firmware,
    /// Flash contents.
    #[serde(skip)]
    pub flash: Arc<Vec<u8>>,
    /// RAM contents.
    #[serde(skip)]
    pub ram: Vec<u8>,
    /// The core.
    pub cpu: Cpu,
}

/// Why an instruction faulted (ARMv6-M: every fault escalates to HardFault),
/// or why the simulator cannot execute it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ThumbFault {
    /// A load not aligned to its size (ARMv6-M faults on every unaligned access).
    #[error("unaligned {size}-byte read at {addr:#010x} (the Cortex-M0 faults on it)")]
    UnalignedRead {
        /// Bytes.
        size: u32,
        /// Address.
        addr: u32,
    },
    /// A store not aligned to its size.
    #[error("unaligned {size}-byte write at {addr:#010x}")]
    UnalignedWrite {
        /// Bytes.
        size: u32,
        /// Address.
        addr: u32,
    },
    /// A load where there is no memory (a bus error).
    #[error("read of {0:#010x}: no memory there (bus error)")]
    NoMemoryRead(u32),
    /// A store where there is no memory.
    #[error("write to {0:#010x}: no memory there (bus error)")]
    NoMemoryWrite(u32),
    /// A store to flash, which only the flash controller programs.
    #[error("write to flash at {0:#010x}: flash is not writable by stores (bus error)")]
    FlashWrite(u32),
    /// The instruction fetch itself faulted.
    #[error("instruction fetch failed: {0}")]
    Fetch(Box<ThumbFault>),
    /// `bx`/`blx` to an address without the Thumb bit (INVSTATE).
    #[error("{} to {target:#x} without the Thumb bit: the Cortex-M0 has no ARM state (INVSTATE)", if *link { "blx" } else { "bx" })]
    BranchNoThumb {
        /// `blx` (else `bx`).
        link: bool,
        /// The target.
        target: u32,
    },
    /// `pop {pc}` of an address without the Thumb bit (INVSTATE).
    #[error("pop {{pc}} of {0:#x} without the Thumb bit (INVSTATE)")]
    PopNoThumb(u32),
    /// `bkpt` with no debugger attached.
    #[error("bkpt #{imm} at {pc:#010x}: no debugger attached, so the core takes a HardFault")]
    Bkpt {
        /// The immediate.
        imm: u32,
        /// Where.
        pc: u32,
    },
    /// `svc` (the simulated firmware has no SVCall handler).
    #[error("svc #{imm} at {pc:#010x}: the firmware has no SVCall handler here; the simulator stops")]
    Svc {
        /// The immediate.
        imm: u32,
        /// Where.
        pc: u32,
    },
    /// `udf`, permanently undefined.
    #[error("permanently undefined instruction (udf) at {0:#010x}")]
    Udf(u32),
    /// An encoding this interpreter does not execute (not a fault of the
    /// firmware: the run stops with a lesson error).
    #[error("unsupported {}instruction at {pc:#010x}: {hw:#06x}{}{}", if lo.is_some() { "32-bit " } else { "" }, lo.map(|l| format!(" {l:#06x}")).unwrap_or_default(), if *thumb2 { " (Thumb-2, not in the Cortex-M0's ARMv6-M set)" } else { "" })]
    Unsupported {
        /// Where.
        pc: u32,
        /// The first halfword.
        hw: u32,
        /// The second halfword of a 32-bit encoding.
        lo: Option<u32>,
        /// A Thumb-2 encoding outside ARMv6-M.
        thumb2: bool,
    },
}

type Fault = ThumbFault;

/// What one instruction did to memory.
enum Effect {
    Store(u32, Vec<u8>),
    Load(u32),
}

impl McuState {
    fn read(&self, addr: u32, size: u32) -> Result<u32, Fault> {
        if addr % size != 0 {
            return Err(ThumbFault::UnalignedRead { size, addr });
        }
        let bytes = if addr < self.flash.len() as u32 {
            &self.flash[addr as usize..(addr + size) as usize]
        } else if addr >= RAM_BASE && addr - RAM_BASE + size <= self.ram.len() as u32 {
            let o = (addr - RAM_BASE) as usize;
            &self.ram[o..o + size as usize]
        } else {
            return Err(ThumbFault::NoMemoryRead(addr));
        };
        Ok(bytes.iter().rev().fold(0, |a, b| (a << 8) | u32::from(*b)))
    }

    fn check_store(&self, addr: u32, size: u32) -> Result<(), Fault> {
        if addr % size != 0 {
            return Err(ThumbFault::UnalignedWrite { size, addr });
        }
        if addr >= RAM_BASE && addr - RAM_BASE + size <= self.ram.len() as u32 {
            Ok(())
        } else if addr < self.flash.len() as u32 {
            Err(ThumbFault::FlashWrite(addr))
        } else {
            Err(ThumbFault::NoMemoryWrite(addr))
        }
    }

    /// A word of flash or RAM, if there is memory there.
    pub fn peek(&self, addr: u32) -> Option<u32> {
        self.read(addr, 4).ok()
    }

    /// The region name of an address, for narration.
    pub fn region(&self, addr: u32) -> &'static str {
        if addr < self.flash.len() as u32 {
            "flash"
        } else if addr >= RAM_BASE && addr - RAM_BASE < self.ram.len() as u32 {
            "RAM"
        } else {
            "nothing"
        }
    }

    /// The symbol at or just below `addr` in the same region, as `name+off`.
    pub fn symbolize(&self, addr: u32) -> String {
        let best = self
            .info
            .symbols
            .iter()
            .filter(|(_, v)| *v <= addr && addr - *v < 0x100 && (*v >= RAM_BASE) == (addr >= RAM_BASE))
            .max_by_key(|(_, v)| *v);
        match best {
            Some((n, v)) if *v == addr => n.clone(),
            Some((n, v)) => format!("{n}+{:#x}", addr - v),
            None => format!("{addr:#x}"),
        }
    }
}

/// RAM contents at power-up: not zeros, but a pattern that depends on the seed.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A lesson's mistake or a limit: the operation cannot be applied and the
/// board is left as it was.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Error {
    /// No firmware has been loaded.
    #[error("invalid argument: no microcontroller: load a firmware first (mcu_load)")]
    NoBoard,
    /// The firmware file is not in the file system.
    #[error("invalid argument: {0} does not exist")]
    NoSuchFile(String),
    /// The firmware file cannot be flashed.
    #[error("invalid argument: {path}: {error}")]
    Firmware {
        /// The file.
        path: String,
        /// Why.
        error: FirmwareError,
    },
    /// An address that is not a word of flash.
    #[error("invalid argument: {0:#x} is not a word in flash")]
    NotFlashWord(u32),
    /// `until` names neither a symbol nor an address.
    #[error("invalid argument: `{0}` is neither a symbol of the firmware nor an address")]
    UnknownSymbol(String),
    /// An instruction this interpreter does not execute.
    #[error("invalid argument: {0}")]
    Unsupported(ThumbFault),
    /// The run ended before PC reached `until`.
    #[error("limit reached: PC did not reach {until:#x} within {max} instructions")]
    NotReached {
        /// Where it was to stop.
        until: u32,
        /// The instructions it ran.
        max: u64,
    },
}

type R<T> = Result<T, Error>;

/// What an operation on the board ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ran.
    Ok,
    /// The core is locked up and executes nothing.
    LockedUp(String),
}

/// A microcontroller address an instruction read or wrote.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Focus {
    /// An address in flash or RAM.
    McuAddr {
        /// The address.
        addr: u32,
        /// Whether it was written.
        write: bool,
    },
}

/// One reversible change to the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// A board was loaded, or its flash reprogrammed.
    Load {
        /// Before.
        old: Option<Box<McuState>>,
        /// After.
        new: Option<Box<McuState>>,
    },
    /// The core's registers changed.
    Cpu {
        /// Before.
        old: Box<Cpu>,
        /// After.
        new: Box<Cpu>,
    },
    /// One instruction's change to the core: the registers it wrote
    /// (number, before, after), the NZCV flags before and after (bits 3..0)
    /// and one more instruction executed. A few bytes instead of two copies
    /// of the core.
    Step {
        /// (register, before, after) for each register written.
        regs: Box<[(u8, u32, u32)]>,
        /// NZCV before and after.
        flags: [u8; 2],
    },
    /// Bytes of RAM changed.
    Ram {
        /// Offset from the start of RAM.
        offset: usize,
        /// Before.
        old: Vec<u8>,
        /// After.
        new: Vec<u8>,
    },
}

impl crate::journal::Undo<Option<Box<McuState>>> for Delta {
    fn apply(&self, st: &mut Option<Box<McuState>>, forward: bool) {
        use crate::journal::pick;
        match self {
            Delta::Load { old, new } => *st = pick(old, new, forward).clone(),
            Delta::Cpu { old, new } => {
                if let Some(m) = st.as_mut() {
                    m.cpu = (**pick(old, new, forward)).clone();
                }
            }
            Delta::Step { regs, flags } => {
                if let Some(m) = st.as_mut() {
                    for (r, old, new) in regs.iter() {
                        m.cpu.r[*r as usize & 15] = *pick(old, new, forward);
                    }
                    m.cpu.set_flags(*pick(&flags[0], &flags[1], forward));
                    m.cpu.steps = if forward { m.cpu.steps.saturating_add(1) } else { m.cpu.steps.saturating_sub(1) };
                }
            }
            Delta::Ram { offset, old, new } => {
                if let Some(m) = st.as_mut() {
                    let b = pick(old, new, forward);
                    if let Some(dst) = m.ram.get_mut(*offset..offset.saturating_add(b.len())) {
                        dst.copy_from_slice(b);
                    }
                }
            }
        }
    }
}

/// Where the board records its changes.
pub trait Sink {
    /// Records a delta already applied to the board.
    fn record(&mut self, d: Delta);
    /// Closes the deltas recorded since the last event into the event `ev`.
    fn event(&mut self, ev: Ev, focus: Vec<Focus>);
}

/// Why a reset cannot start the firmware: the core locks up at once.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ResetProblem {
    /// The reset vector is not a Thumb address.
    #[error("the reset vector {0:#010x} has bit 0 clear: it is not a Thumb address, so the very first instruction fetch faults; a fault this early cannot be handled, and the core locks up")]
    NotThumb(u32),
    /// The reset vector points outside flash.
    #[error("the reset vector {0:#010x} points outside flash; the first fetch faults and the core locks up")]
    OutsideFlash(u32),
    /// The initial stack pointer is not in RAM.
    #[error("the initial stack pointer {0:#010x} is not in RAM: the first push will fault and the HardFault entry cannot stack either, so the core locks up")]
    SpNotInRam(u32),
}

/// "N bytes at A and M bytes at B": the image a flasher writes.
fn parts_text(parts: &[(u32, u32)]) -> String {
    parts.iter().map(|(a, n)| format!("{n} bytes at {a:#x}")).collect::<Vec<_>>().join(" and ")
}

crate::events! {
    /// A microcontroller event record.
    pub enum Ev: Focus {
        /// One instruction executed (its words come from running it again, with
        /// text, on the core as it was before: [`describe`]).
        Insn { pc: u32 } = 0, Copy, "Thumb instruction (ARMv6-M)", [], "the instruction at {pc:#06x}";
        /// Flash was programmed from a firmware file.
        Flashed { path: String, parts: Vec<(u32, u32)>, used: u32 } = 1, Alloc, "flasher: PT_LOAD at p_paddr (LMA)", [],
            "flash programmed from {path}: {} (the image objcopy -O binary makes is these {used} bytes); unused flash reads 0xff",
            parts_text(parts);
        /// Power on: RAM holds its power-up pattern.
        PoweredOn { ram_kib: u32, seed: u64 } = 2, Alloc, "SRAM power-up state", [],
            "power on: {ram_kib} KiB of RAM at {:#x} hold whatever the cells powered up with (here a pattern from seed {seed}), not zeros",
            RAM_BASE;
        /// One word of flash was reprogrammed.
        FlashWord { addr: u32, value: u32 } = 3, Copy, "flasher", [], "flash word {addr:#x} reprogrammed to {value:#010x}";
        /// Reset read the initial SP.
        ResetSp { sp: u32 } = 4, Process, "ARMv6-M TakeReset", [], "reset: the core reads word 0 of the vector table, {sp:#010x}, into SP";
        /// Reset cannot start the firmware: lockup.
        ResetLockup { problem: ResetProblem } = 5, Error, "ARMv6-M lockup", [], "LOCKUP: {problem}";
        /// Reset read the reset vector into PC.
        ResetPc { reset: u32, sym: String } = 6, Process, "ARMv6-M TakeReset", [],
            "and word 1, {reset:#010x}, into PC (bit 0 set = Thumb): execution starts at {:#x} <{sym}>", reset & !1;
        /// The program branches to itself.
        Idle { pc: u32 } = 7, Process, "", [], "{pc:#x} branches to itself: the program is idling in its endless loop";
        /// A fault inside the HardFault handler: lockup.
        DoubleFault { fault: ThumbFault } = 8, Error, "ARMv6-M lockup", [], "LOCKUP: {fault}, while already handling a HardFault";
        /// The HardFault entry itself failed: lockup.
        EntryFailed { fault: ThumbFault } = 9, Error, "ARMv6-M lockup", [], "LOCKUP: {fault}; the HardFault entry cannot stack or has no handler";
        /// A fault taken through the HardFault vector.
        HardFault { fault: ThumbFault, sp: u32, vector: u32, handler: String } = 10, Error, "ARMv6-M ExceptionEntry (HardFault)", [],
            "HardFault: {fault}. The core stacks 8 registers at {sp:#x} and jumps to the HardFault vector {:#x} <{handler}>", vector & !1;
    }
}

crate::wire_enum! {
    ResetProblem { NotThumb(a) = 0, OutsideFlash(a) = 1, SpNotInRam(a) = 2 }
    ThumbFault {
        UnalignedRead { size, addr } = 0,
        UnalignedWrite { size, addr } = 1,
        NoMemoryRead(a) = 2,
        NoMemoryWrite(a) = 3,
        FlashWrite(a) = 4,
        Fetch(f) = 5,
        BranchNoThumb { link, target } = 6,
        PopNoThumb(a) = 7,
        Bkpt { imm, pc } = 8,
        Svc { imm, pc } = 9,
        Udf(a) = 10,
        Unsupported { pc, hw, lo, thumb2 } = 11,
    }
}

/// What the instruction at `pc` of `before` (the board just before it ran)
/// does, in words: its address and symbol, the disassembly, what it did.
pub fn describe(pc: u32, before: &McuState) -> String {
    let mut cpu = before.cpu.clone();
    match execute(before, &mut cpu, true) {
        Ok((text, note, _)) => {
            let note = if note.is_empty() { String::new() } else { format!(": {note}") };
            format!("{pc:#06x} <{}>  {text}{note}", before.symbolize(pc))
        }
        Err(fault) => format!("{pc:#06x} <{}>  {fault}", before.symbolize(pc)),
    }
}

/// What the board's code works on: the board (if one is loaded), the
/// files a firmware can be flashed from, and the journal.
pub struct Ctx<'a> {
    /// The board.
    pub mcu: &'a mut Option<Box<McuState>>,
    /// Files by path (the host's, where firmware images come from).
    pub files: &'a BTreeMap<String, Arc<[u8]>>,
    /// The journal.
    pub j: &'a mut dyn Sink,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mcu::Ctx").finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    fn delta(&mut self, d: Delta) {
        crate::journal::Undo::apply(&d, self.mcu, true);
        self.j.record(d);
    }

    fn event(&mut self, ev: Ev) {
        self.j.event(ev, Vec::new());
    }

    fn mcu(&self) -> R<&McuState> {
        self.mcu.as_deref().ok_or(Error::NoBoard)
    }

    /// Powers the board up with `path` programmed into flash: every PT_LOAD's
    /// file bytes at its load address, as a flasher (or `objcopy -O binary`)
    /// writes them; RAM holds garbage.
    pub fn mcu_load(&mut self, path: &str, flash_kib: u32, ram_kib: u32, seed: u64) -> R<Outcome> {
        let Some(data) = self.files.get(path).cloned() else {
            return Err(Error::NoSuchFile(path.into()));
        };
        let flash_size = flash_kib.clamp(1, 1024) * 1024;
        let info = Firmware::parse(&data, flash_size).map_err(|error| Error::Firmware { path: path.into(), error })?;
        let mut flash = vec![0xff; flash_size as usize];
        for (lma, bytes) in &info.image {
            flash[*lma as usize..*lma as usize + bytes.len()].copy_from_slice(bytes);
        }
        let used = info.image.iter().map(|(a, b)| a + b.len() as u32).max().unwrap_or(0);
        let parts: Vec<(u32, u32)> = info.image.iter().map(|(a, b)| (*a, b.len() as u32)).collect();
        let ram = garbage(ram_kib.clamp(1, 256) as usize * 1024, seed);
        let st = McuState { firmware: path.into(), info, flash: Arc::new(flash), ram, cpu: Cpu::default() };
        let old = self.mcu.clone();
        self.delta(Delta::Load { old, new: Some(Box::new(st)) });
        self.event(Ev::Flashed { path: path.into(), parts, used });
        self.event(Ev::PoweredOn { ram_kib, seed });
        Ok(Outcome::Ok)
    }

    /// Puts one word into flash, as reprogramming it would (to show what a
    /// broken image does).
    pub fn mcu_write_flash(&mut self, addr: u32, value: u32) -> R<Outcome> {
        let mut st = self.mcu()?.clone();
        if addr % 4 != 0 || addr as usize + 4 > st.flash.len() {
            return Err(Error::NotFlashWord(addr));
        }
        let mut flash = (*st.flash).clone();
        flash[addr as usize..addr as usize + 4].copy_from_slice(&value.to_le_bytes());
        st.flash = Arc::new(flash);
        let old = self.mcu.clone();
        self.delta(Delta::Load { old, new: Some(Box::new(st)) });
        self.event(Ev::FlashWord { addr, value });
        Ok(Outcome::Ok)
    }

    /// One instruction's change to the core, as a [`Delta::Step`] when only
    /// registers and flags changed (and the count by one).
    fn step_cpu(&mut self, cpu: Cpu) {
        let Some(st) = self.mcu.as_deref() else { return };
        let old = &st.cpu;
        if old.ipsr != cpu.ipsr || old.lockup != cpu.lockup || cpu.steps != old.steps.wrapping_add(1) {
            return self.set_cpu(cpu);
        }
        let regs: Box<[(u8, u32, u32)]> =
            (0..16u8).filter(|r| old.r[*r as usize] != cpu.r[*r as usize]).map(|r| (r, old.r[r as usize], cpu.r[r as usize])).collect();
        let flags = [old.flags(), cpu.flags()];
        self.delta(Delta::Step { regs, flags });
    }

    fn set_cpu(&mut self, cpu: Cpu) {
        if let Some(st) = self.mcu.as_deref() {
            let old = st.cpu.clone();
            self.delta(Delta::Cpu { old: Box::new(old), new: Box::new(cpu) });
        }
    }

    /// Reset: SP from word 0 of the vector table, PC from word 1.
    pub fn mcu_reset(&mut self) -> R<Outcome> {
        let st = self.mcu()?.clone();
        let sp = st.read(0, 4).unwrap_or(0);
        let reset = st.read(4, 4).unwrap_or(0);
        let mut cpu = Cpu::default();
        cpu.r[13] = sp & !3;
        cpu.r[14] = 0xffff_ffff;
        let problem = if reset & 1 == 0 {
            Some(ResetProblem::NotThumb(reset))
        } else if st.region(reset & !1) != "flash" {
            Some(ResetProblem::OutsideFlash(reset))
        } else if sp < RAM_BASE || sp - RAM_BASE > st.ram.len() as u32 {
            Some(ResetProblem::SpNotInRam(sp))
        } else {
            None
        };
        cpu.r[15] = reset & !1;
        let sym = st.symbolize(reset & !1);
        self.event(Ev::ResetSp { sp });
        if let Some(problem) = problem {
            cpu.lockup = Some(problem.to_string());
            self.set_cpu(cpu);
            self.event(Ev::ResetLockup { problem });
            return Ok(Outcome::Ok);
        }
        self.set_cpu(cpu);
        self.event(Ev::ResetPc { reset, sym });
        Ok(Outcome::Ok)
    }

    /// Runs instructions, one event each, until PC reaches `until` (or a
    /// branch-to-self idle loop when `until` is None), or `max` instructions.
    pub fn mcu_run(&mut self, until: Option<&str>, max: u64) -> R<Outcome> {
        let st = self.mcu()?;
        let stop = match until {
            Some(s) => Some(match st.info.symbol(s) {
                Some(v) => v & !1,
                None => parse_num(s).map(|v| v as u32).ok_or_else(|| Error::UnknownSymbol(s.to_string()))?,
            }),
            None => None,
        };
        let max = max.min(MAX_STEPS);
        for _ in 0..max {
            // Borrow the board for this instruction; copy only the registers.
            let st = self.mcu()?;
            if let Some(why) = &st.cpu.lockup {
                return Ok(Outcome::LockedUp(why.clone()));
            }
            if stop == Some(st.cpu.r[15]) {
                return Ok(Outcome::Ok);
            }
            let mut cpu = st.cpu.clone();
            let pc = cpu.r[15];
            let step = execute(st, &mut cpu, false).map(|(_, _, effects)| {
                let mut load = None;
                let mut stores: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
                for e in effects {
                    match e {
                        Effect::Store(addr, bytes) => {
                            let off = (addr - RAM_BASE) as usize;
                            stores.push((off, st.ram[off..off + bytes.len()].to_vec(), bytes));
                        }
                        Effect::Load(addr) => load = Some(addr),
                    }
                }
                (load, stores)
            });
            match step {
                Ok((load, stores)) => {
                    let idle = cpu.r[15] == pc;
                    let mut focus: Vec<Focus> =
                        stores.iter().map(|(off, _, _)| Focus::McuAddr { addr: RAM_BASE + *off as u32, write: true }).collect();
                    if let Some(addr) = load {
                        focus.push(Focus::McuAddr { addr, write: false });
                    }
                    for (offset, old, new) in stores {
                        self.delta(Delta::Ram { offset, old, new });
                    }
                    self.step_cpu(cpu);
                    self.j.event(Ev::Insn { pc }, focus);
                    if idle && stop.is_none() {
                        self.event(Ev::Idle { pc });
                        return Ok(Outcome::Ok);
                    }
                }
                Err(fault @ ThumbFault::Unsupported { .. }) => return Err(Error::Unsupported(fault)),
                Err(fault) => self.mcu_hardfault(fault)?,
            }
        }
        match stop {
            Some(until) => Err(Error::NotReached { until, max }),
            None => Ok(Outcome::Ok),
        }
    }

    /// Exception entry to HardFault: stack r0-r3, r12, lr, pc, xPSR; LR =
    /// EXC_RETURN; PC = vector 3. A fault while handling a fault locks up.
    fn mcu_hardfault(&mut self, fault: ThumbFault) -> R<()> {
        let st = self.mcu()?;
        let mut cpu = st.cpu.clone();
        let sp = cpu.r[13].wrapping_sub(32) & !7;
        let vector = st.read(12, 4).unwrap_or(0);
        let handler = st.symbolize(vector & !1);
        let stack_ok = st.check_store(sp, 4).is_ok() && st.check_store(sp + 28, 4).is_ok();
        let old_frame = if stack_ok { st.ram[(sp - RAM_BASE) as usize..(sp - RAM_BASE) as usize + 32].to_vec() } else { Vec::new() };
        if cpu.ipsr == 3 {
            cpu.lockup = Some(format!("a fault inside the HardFault handler: {fault}"));
            self.set_cpu(cpu);
            self.event(Ev::DoubleFault { fault });
            return Ok(());
        }
        if !stack_ok || vector & 1 == 0 {
            cpu.lockup = Some(format!("{fault}; and the exception entry itself failed (stack at {sp:#x}, HardFault vector {vector:#x})"));
            self.set_cpu(cpu);
            self.event(Ev::EntryFailed { fault });
            return Ok(());
        }
        let xpsr = (u32::from(cpu.n) << 31) | (u32::from(cpu.z) << 30) | (u32::from(cpu.c) << 29) | (u32::from(cpu.v) << 28) | (1 << 24);
        let frame = [cpu.r[0], cpu.r[1], cpu.r[2], cpu.r[3], cpu.r[12], cpu.r[14], cpu.r[15], xpsr];
        let bytes: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
        let off = (sp - RAM_BASE) as usize;
        self.delta(Delta::Ram { offset: off, old: old_frame, new: bytes });
        cpu.r[13] = sp;
        cpu.r[14] = 0xffff_fff9;
        cpu.r[15] = vector & !1;
        cpu.ipsr = 3;
        self.set_cpu(cpu);
        self.event(Ev::HardFault { fault, sp, vector, handler });
        Ok(())
    }
}

crate::wire_struct! {
    FwSection { name, vma, lma, size, flags }
    Firmware { sections, symbols, image, entry }
    Cpu { r, n, z, c, v, ipsr, lockup, steps }
    McuState { firmware, info, flash, ram, cpu }
}

crate::wire_enum! {
    Focus { McuAddr { addr, write } = 0 }
    Delta { Load { old, new } = 0, Cpu { old, new } = 1, Ram { offset, old, new } = 2, Step { regs, flags } = 3 }
}
