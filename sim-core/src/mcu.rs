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

use crate::event::{EventKind, Focus};
use crate::machine::{Machine, R};
use crate::ops::{Outcome, SimError};
use crate::state::Delta;
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader};
use object::{Object, ObjectSection, ObjectSymbol};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;

/// Where flash starts.
pub const FLASH_BASE: u32 = 0;
/// Where RAM starts.
pub const RAM_BASE: u32 = 0x2000_0000;
/// Most instructions one operation may run.
pub const MAX_STEPS: u64 = 250_000;

/// Why a firmware file cannot be loaded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FirmwareError {
    /// Not ELF, or not readable as ELF32.
    #[error("not a 32-bit ELF firmware file: {0}")]
    NotElf(String),
    /// Built for another architecture.
    #[error("built for another machine (e_machine = {0}), not ARM (40)")]
    WrongMachine(u16),
    /// A segment lies outside flash, or outside RAM.
    #[error("segment {index}: load address {lma:#x}+{size:#x} is outside flash ({flash:#x} bytes at 0)")]
    OutsideFlash {
        /// Program header index.
        index: usize,
        /// p_paddr
        lma: u32,
        /// p_filesz
        size: u32,
        /// Flash size.
        flash: u32,
    },
    /// No loadable segment.
    #[error("no PT_LOAD segment: nothing would be written to flash")]
    Empty,
}

/// A section as the linker placed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwSection {
    /// Name.
    pub name: String,
    /// Run address.
    pub vma: u32,
    /// Load address (where its bytes are stored in flash).
    pub lma: u32,
    /// Size in bytes.
    pub size: u32,
    /// `alloc`, `load` (has bytes in the file), `exec`, `write`.
    pub flags: String,
}

/// What the firmware ELF says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// Allocated sections.
    pub sections: Vec<FwSection>,
    /// Symbols the startup code uses (and main), with their values.
    pub symbols: Vec<(String, u32)>,
    /// (LMA, bytes) to program into flash.
    #[serde(skip)]
    pub image: Vec<(u32, Vec<u8>)>,
    /// e_entry.
    pub entry: u32,
}

/// Symbols worth showing.
const SHOWN: &[&str] = &[
    "vector_table",
    "Reset_Handler",
    "main",
    "__sidata",
    "__sdata",
    "__edata",
    "__sbss",
    "__ebss",
    "_stack_top",
    "x",
    "y",
    "seen_x",
    "seen_y",
];

impl Firmware {
    /// Reads a firmware ELF: sections with VMA and LMA (the LMA of a section is
    /// its segment's `p_paddr` plus its offset in the segment), symbols, and
    /// the image a flasher writes (each PT_LOAD's file bytes at `p_paddr`).
    pub fn parse(data: &[u8], flash_size: u32) -> Result<Firmware, FirmwareError> {
        if data.len() >= 20 && data.starts_with(b"\x7fELF") {
            let machine = u16::from_le_bytes([data[18], data[19]]);
            if machine != 40 {
                return Err(FirmwareError::WrongMachine(machine));
            }
        }
        let file = ElfFile32::<object::LittleEndian>::parse(data).map_err(|e| FirmwareError::NotElf(e.to_string()))?;
        let e = object::LittleEndian;
        let phdrs = file.elf_header().program_headers(e, data).map_err(|e| FirmwareError::NotElf(e.to_string()))?;
        let mut image = Vec::new();
        let mut segs = Vec::new();
        for (index, p) in phdrs.iter().enumerate() {
            if p.p_type(e) != object::elf::PT_LOAD {
                continue;
            }
            let (vaddr, paddr, filesz, memsz) = (p.p_vaddr(e), p.p_paddr(e), p.p_filesz(e), p.p_memsz(e));
            segs.push((vaddr, paddr, memsz));
            if filesz == 0 {
                continue;
            }
            if paddr.checked_add(filesz).is_none_or(|end| end > flash_size) {
                return Err(FirmwareError::OutsideFlash { index, lma: paddr, size: filesz, flash: flash_size });
            }
            let bytes = p.data(e, data).map_err(|_| FirmwareError::NotElf(format!("segment {index} runs past the end of the file")))?;
            image.push((paddr, bytes.to_vec()));
        }
        if image.is_empty() {
            return Err(FirmwareError::Empty);
        }
        let mut sections = Vec::new();
        for s in file.sections() {
            let flags = match s.flags() {
                object::SectionFlags::Elf { sh_flags } => sh_flags as u32,
                _ => 0,
            };
            if flags & object::elf::SHF_ALLOC == 0 {
                continue;
            }
            let vma = s.address() as u32;
            let lma =
                segs.iter().find(|(v, _, m)| vma >= *v && vma - v < (*m).max(1)).map(|(v, p, _)| p.wrapping_add(vma - v)).unwrap_or(vma);
            let mut f = vec!["alloc"];
            if s.kind() != object::SectionKind::UninitializedData {
                f.push("load");
            }
            if flags & object::elf::SHF_EXECINSTR != 0 {
                f.push("exec");
            }
            if flags & object::elf::SHF_WRITE != 0 {
                f.push("write");
            }
            sections.push(FwSection { name: s.name().unwrap_or("?").to_string(), vma, lma, size: s.size() as u32, flags: f.join(",") });
        }
        let mut symbols: Vec<(String, u32)> = file
            .symbols()
            // Function symbols carry the Thumb bit; the code itself starts at the even address.
            .filter_map(|s| {
                let addr = if s.kind() == object::SymbolKind::Text { s.address() as u32 & !1 } else { s.address() as u32 };
                s.name().ok().filter(|n| SHOWN.contains(n)).map(|n| (n.to_string(), addr))
            })
            .collect();
        symbols.sort_by_key(|(n, _)| SHOWN.iter().position(|x| x == n));
        symbols.dedup();
        Ok(Firmware { sections, symbols, image, entry: file.entry() as u32 })
    }

    /// A symbol's value.
    pub fn symbol(&self, name: &str) -> Option<u32> {
        self.symbols.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

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

/// A fault: the access or instruction that caused it.
type Fault = String;

/// What one instruction did to memory.
enum Effect {
    Store(u32, Vec<u8>),
}

impl McuState {
    fn read(&self, addr: u32, size: u32) -> Result<u32, Fault> {
        if addr % size != 0 {
            return Err(format!("unaligned {size}-byte read at {addr:#010x} (the Cortex-M0 faults on it)"));
        }
        let bytes = if addr < self.flash.len() as u32 {
            &self.flash[addr as usize..(addr + size) as usize]
        } else if addr >= RAM_BASE && addr - RAM_BASE + size <= self.ram.len() as u32 {
            let o = (addr - RAM_BASE) as usize;
            &self.ram[o..o + size as usize]
        } else {
            return Err(format!("read of {addr:#010x}: no memory there (bus error)"));
        };
        Ok(bytes.iter().rev().fold(0, |a, b| (a << 8) | u32::from(*b)))
    }

    fn check_store(&self, addr: u32, size: u32) -> Result<(), Fault> {
        if addr % size != 0 {
            return Err(format!("unaligned {size}-byte write at {addr:#010x}"));
        }
        if addr >= RAM_BASE && addr - RAM_BASE + size <= self.ram.len() as u32 {
            Ok(())
        } else if addr < self.flash.len() as u32 {
            Err(format!("write to flash at {addr:#010x}: flash is not writable by stores (bus error)"))
        } else {
            Err(format!("write to {addr:#010x}: no memory there (bus error)"))
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

const REG: [&str; 16] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"];
const COND: [&str; 14] = ["eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"];

fn add_with_carry(x: u32, y: u32, carry: bool) -> (u32, bool, bool) {
    let sum = u64::from(x) + u64::from(y) + u64::from(carry);
    let r = sum as u32;
    let signed = i64::from(x as i32) + i64::from(y as i32) + i64::from(carry);
    (r, sum > u64::from(u32::MAX), i64::from(r as i32) != signed)
}

fn reglist(list: u32, extra: Option<&str>) -> String {
    let mut v: Vec<String> = (0..8).filter(|i| list & (1 << i) != 0).map(|i| REG[i].to_string()).collect();
    if let Some(e) = extra {
        v.push(e.into());
    }
    format!("{{{}}}", v.join(", "))
}

/// Executes one instruction on a copy of the core. Returns the disassembly,
/// a description of what it did, and the memory it writes; `Err` is a fault
/// (or an instruction the simulator does not model).
#[allow(clippy::needless_range_loop)] // register lists index r0..r7 by number
fn execute(m: &McuState, cpu: &mut Cpu) -> Result<(String, String, Vec<Effect>), Fault> {
    let pc = cpu.r[15];
    let hw = m.read(pc & !1, 2).map_err(|e| format!("instruction fetch failed: {e}"))?;
    let mut next = pc.wrapping_add(2);
    let mut effects = Vec::new();
    let mut note = String::new();
    let rd = (hw & 7) as usize;
    let rn = ((hw >> 3) & 7) as usize;
    let set_nz = |cpu: &mut Cpu, v: u32| {
        cpu.n = v >> 31 == 1;
        cpu.z = v == 0;
    };
    // The value of pc as an operand: the instruction's address + 4.
    let pc_val = pc.wrapping_add(4);
    let text: String = match hw >> 11 {
        // LSL/LSR/ASR (immediate)
        0b00000..=0b00010 => {
            let imm = (hw >> 6) & 31;
            let v = cpu.r[rn];
            let op = hw >> 11;
            let (res, carry, name) = match op {
                0 if imm == 0 => (v, cpu.c, "movs"),
                0 => (v << imm, (v >> (32 - imm)) & 1 == 1, "lsls"),
                1 => {
                    let s = if imm == 0 { 32 } else { imm };
                    (if s == 32 { 0 } else { v >> s }, (v >> (s - 1)) & 1 == 1, "lsrs")
                }
                _ => {
                    let s = if imm == 0 { 32 } else { imm };
                    (((v as i32) >> s.min(31)) as u32, ((v as i32 >> (s - 1).min(31)) & 1) == 1, "asrs")
                }
            };
            cpu.r[rd] = res;
            set_nz(cpu, res);
            cpu.c = carry;
            if name == "movs" {
                format!("movs {}, {}", REG[rd], REG[rn])
            } else {
                format!("{name} {}, {}, #{imm}", REG[rd], REG[rn])
            }
        }
        // ADD/SUB register or 3-bit immediate
        0b00011 => {
            let imm = hw & (1 << 10) != 0;
            let sub = hw & (1 << 9) != 0;
            let rm = ((hw >> 6) & 7) as usize;
            let y = if imm { rm as u32 } else { cpu.r[rm] };
            let (res, c, v) = if sub { add_with_carry(cpu.r[rn], !y, true) } else { add_with_carry(cpu.r[rn], y, false) };
            cpu.r[rd] = res;
            set_nz(cpu, res);
            cpu.c = c;
            cpu.v = v;
            let op = if sub { "subs" } else { "adds" };
            if imm {
                format!("{op} {}, {}, #{y}", REG[rd], REG[rn])
            } else {
                format!("{op} {}, {}, {}", REG[rd], REG[rn], REG[rm])
            }
        }
        // MOV/CMP/ADD/SUB 8-bit immediate
        0b00100..=0b00111 => {
            let r = ((hw >> 8) & 7) as usize;
            let imm = hw & 0xff;
            match (hw >> 11) & 3 {
                0 => {
                    cpu.r[r] = imm;
                    set_nz(cpu, imm);
                    format!("movs {}, #{imm}", REG[r])
                }
                1 => {
                    let (res, c, v) = add_with_carry(cpu.r[r], !imm, true);
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    format!("cmp {}, #{imm}", REG[r])
                }
                2 => {
                    let (res, c, v) = add_with_carry(cpu.r[r], imm, false);
                    cpu.r[r] = res;
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    format!("adds {}, #{imm}", REG[r])
                }
                _ => {
                    let (res, c, v) = add_with_carry(cpu.r[r], !imm, true);
                    cpu.r[r] = res;
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    format!("subs {}, #{imm}", REG[r])
                }
            }
        }
        0b01000 if hw & (1 << 10) == 0 => {
            // Data processing (register)
            let op = (hw >> 6) & 15;
            let (a, b) = (cpu.r[rd], cpu.r[rn]);
            let names = [
                "ands", "eors", "lsls", "lsrs", "asrs", "adcs", "sbcs", "rors", "tst", "rsbs", "cmp", "cmn", "orrs", "muls", "bics", "mvns",
            ];
            let mut write = true;
            let res = match op {
                0 | 8 => a & b,
                1 => a ^ b,
                2..=4 | 7 => {
                    let s = b & 0xff;
                    let (r, c) = match op {
                        2 if s == 0 => (a, cpu.c),
                        2 => (if s < 32 { a << s } else { 0 }, if s <= 32 { (u64::from(a) << s >> 32) & 1 == 1 } else { false }),
                        3 if s == 0 => (a, cpu.c),
                        3 => (if s < 32 { a >> s } else { 0 }, if s <= 32 { (a >> (s - 1)) & 1 == 1 } else { false }),
                        4 if s == 0 => (a, cpu.c),
                        4 => ((a as i32 >> s.min(31)) as u32, (a as i32 >> (s - 1).min(31)) & 1 == 1),
                        _ if s == 0 => (a, cpu.c),
                        _ => (a.rotate_right(s % 32), a.rotate_right(s % 32) >> 31 == 1),
                    };
                    cpu.c = c;
                    r
                }
                5 | 6 | 9 | 10 | 11 => {
                    let (x, y, carry) = match op {
                        5 => (a, b, cpu.c),
                        6 => (a, !b, cpu.c),
                        9 => (0, !b, true),
                        10 => (a, !b, true),
                        _ => (a, b, false),
                    };
                    let (r, c, v) = add_with_carry(x, y, carry);
                    cpu.c = c;
                    cpu.v = v;
                    r
                }
                12 => a | b,
                13 => a.wrapping_mul(b),
                14 => a & !b,
                _ => !b,
            };
            if matches!(op, 8 | 10 | 11) {
                write = false;
            }
            set_nz(cpu, res);
            if write {
                cpu.r[rd] = res;
            }
            match op {
                9 => format!("rsbs {}, {}, #0", REG[rd], REG[rn]),
                _ => format!("{} {}, {}", names[op as usize], REG[rd], REG[rn]),
            }
        }
        0b01000 => {
            // Special data processing and branch/exchange
            let op = (hw >> 8) & 3;
            let rdn = ((hw & 7) | ((hw >> 4) & 8)) as usize;
            let rm = ((hw >> 3) & 15) as usize;
            let val = |cpu: &Cpu, r: usize| if r == 15 { pc_val } else { cpu.r[r] };
            match op {
                0 => {
                    let res = val(cpu, rdn).wrapping_add(val(cpu, rm));
                    if rdn == 15 {
                        next = res & !1;
                    } else {
                        cpu.r[rdn] = res;
                    }
                    format!("add {}, {}", REG[rdn], REG[rm])
                }
                1 => {
                    let (res, c, v) = add_with_carry(val(cpu, rdn), !val(cpu, rm), true);
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    format!("cmp {}, {}", REG[rdn], REG[rm])
                }
                2 => {
                    let v = val(cpu, rm);
                    if rdn == 15 {
                        next = v & !1;
                    } else {
                        cpu.r[rdn] = v;
                    }
                    if rdn == 8 && rm == 8 {
                        "nop (mov r8, r8)".into()
                    } else {
                        format!("mov {}, {}", REG[rdn], REG[rm])
                    }
                }
                _ => {
                    let target = val(cpu, rm);
                    let link = hw & 0x80 != 0;
                    if link {
                        cpu.r[14] = next | 1;
                    }
                    if target & 1 == 0 {
                        return Err(format!(
                            "{} to {target:#x} without the Thumb bit: the Cortex-M0 has no ARM state (INVSTATE)",
                            if link { "blx" } else { "bx" }
                        ));
                    }
                    next = target & !1;
                    format!("{} {}", if link { "blx" } else { "bx" }, REG[rm])
                }
            }
        }
        0b01001 => {
            let r = ((hw >> 8) & 7) as usize;
            let addr = (pc_val & !3).wrapping_add((hw & 0xff) * 4);
            let v = m.read(addr, 4)?;
            cpu.r[r] = v;
            note = format!("{} = {v:#x}, the literal stored in flash at {addr:#x}", REG[r]);
            format!("ldr {}, [pc, #{}]", REG[r], (hw & 0xff) * 4)
        }
        0b01010 | 0b01011 => {
            // Load/store register offset
            let rm = ((hw >> 6) & 7) as usize;
            let addr = cpu.r[rn].wrapping_add(cpu.r[rm]);
            let op = (hw >> 9) & 7;
            let names = ["str", "strh", "strb", "ldrsb", "ldr", "ldrh", "ldrb", "ldrsh"];
            let size = [4, 2, 1, 1, 4, 2, 1, 2][op as usize];
            if op < 3 {
                m.check_store(addr, size)?;
                effects.push(Effect::Store(addr, cpu.r[rd].to_le_bytes()[..size as usize].to_vec()));
                note = format!("{} = {:#x} stored at {addr:#x} ({})", REG[rd], cpu.r[rd] & mask(size), m.region(addr));
            } else {
                let mut v = m.read(addr, size)?;
                if op == 3 {
                    v = v as u8 as i8 as i32 as u32;
                } else if op == 7 {
                    v = v as u16 as i16 as i32 as u32;
                }
                cpu.r[rd] = v;
                note = format!("{} = {v:#x} loaded from {addr:#x} ({})", REG[rd], m.region(addr));
            }
            format!("{} {}, [{}, {}]", names[op as usize], REG[rd], REG[rn], REG[rm])
        }
        0b01100..=0b10001 => {
            // Load/store immediate offset: word, byte, halfword
            let (size, load) = match hw >> 11 {
                0b01100 => (4, false),
                0b01101 => (4, true),
                0b01110 => (1, false),
                0b01111 => (1, true),
                0b10000 => (2, false),
                _ => (2, true),
            };
            let off = ((hw >> 6) & 31) * size;
            let addr = cpu.r[rn].wrapping_add(off);
            let name = match (size, load) {
                (4, false) => "str",
                (4, true) => "ldr",
                (1, false) => "strb",
                (1, true) => "ldrb",
                (_, false) => "strh",
                _ => "ldrh",
            };
            if load {
                let v = m.read(addr, size)?;
                cpu.r[rd] = v;
                note = format!("{} = {v:#x} loaded from {addr:#x} ({}, {})", REG[rd], m.region(addr), m.symbolize(addr));
            } else {
                m.check_store(addr, size)?;
                effects.push(Effect::Store(addr, cpu.r[rd].to_le_bytes()[..size as usize].to_vec()));
                note = format!("{:#x} stored at {addr:#x} ({}, {})", cpu.r[rd] & mask(size), m.region(addr), m.symbolize(addr));
            }
            format!("{name} {}, [{}, #{off}]", REG[rd], REG[rn])
        }
        0b10010 | 0b10011 => {
            // SP-relative load/store
            let r = ((hw >> 8) & 7) as usize;
            let addr = cpu.r[13].wrapping_add((hw & 0xff) * 4);
            if hw & (1 << 11) != 0 {
                cpu.r[r] = m.read(addr, 4)?;
                format!("ldr {}, [sp, #{}]", REG[r], (hw & 0xff) * 4)
            } else {
                m.check_store(addr, 4)?;
                effects.push(Effect::Store(addr, cpu.r[r].to_le_bytes().to_vec()));
                format!("str {}, [sp, #{}]", REG[r], (hw & 0xff) * 4)
            }
        }
        0b10100 | 0b10101 => {
            let r = ((hw >> 8) & 7) as usize;
            let imm = (hw & 0xff) * 4;
            if hw & (1 << 11) != 0 {
                cpu.r[r] = cpu.r[13].wrapping_add(imm);
                format!("add {}, sp, #{imm}", REG[r])
            } else {
                cpu.r[r] = (pc_val & !3).wrapping_add(imm);
                format!("adr {}, {:#x}", REG[r], cpu.r[r])
            }
        }
        0b10110 | 0b10111 => match (hw >> 8) & 15 {
            0 => {
                let imm = (hw & 0x7f) * 4;
                if hw & 0x80 != 0 {
                    cpu.r[13] = cpu.r[13].wrapping_sub(imm);
                    format!("sub sp, #{imm}")
                } else {
                    cpu.r[13] = cpu.r[13].wrapping_add(imm);
                    format!("add sp, #{imm}")
                }
            }
            2 => {
                let rm = cpu.r[rn];
                let (v, name) = match (hw >> 6) & 3 {
                    0 => (rm as i16 as i32 as u32, "sxth"),
                    1 => (rm as i8 as i32 as u32, "sxtb"),
                    2 => (rm & 0xffff, "uxth"),
                    _ => (rm & 0xff, "uxtb"),
                };
                cpu.r[rd] = v;
                format!("{name} {}, {}", REG[rd], REG[rn])
            }
            4 | 5 => {
                let list = hw & 0xff;
                let lr = hw & 0x100 != 0;
                let n = list.count_ones() + u32::from(lr);
                let base = cpu.r[13].wrapping_sub(4 * n);
                let mut a = base;
                for i in 0..8 {
                    if list & (1 << i) != 0 {
                        m.check_store(a, 4)?;
                        effects.push(Effect::Store(a, cpu.r[i].to_le_bytes().to_vec()));
                        a += 4;
                    }
                }
                if lr {
                    m.check_store(a, 4)?;
                    effects.push(Effect::Store(a, cpu.r[14].to_le_bytes().to_vec()));
                }
                cpu.r[13] = base;
                note = format!("{n} words pushed; sp = {base:#x}");
                format!("push {}", reglist(list, lr.then_some("lr")))
            }
            12 | 13 => {
                let list = hw & 0xff;
                let pcb = hw & 0x100 != 0;
                let mut a = cpu.r[13];
                for i in 0..8 {
                    if list & (1 << i) != 0 {
                        cpu.r[i] = m.read(a, 4)?;
                        a += 4;
                    }
                }
                if pcb {
                    let t = m.read(a, 4)?;
                    a += 4;
                    if t & 1 == 0 && t >> 28 != 0xf {
                        return Err(format!("pop {{pc}} of {t:#x} without the Thumb bit (INVSTATE)"));
                    }
                    next = t & !1;
                }
                cpu.r[13] = a;
                format!("pop {}", reglist(list, pcb.then_some("pc")))
            }
            10 => {
                let v = cpu.r[rn];
                let (res, name) = match (hw >> 6) & 3 {
                    0 => (v.swap_bytes(), "rev"),
                    1 => ((v & 0x00ff00ff) << 8 | (v & 0xff00ff00) >> 8, "rev16"),
                    3 => ((v as u16).swap_bytes() as i16 as i32 as u32, "revsh"),
                    _ => return Err(format!("unsupported instruction at {pc:#010x}: {hw:#06x}")),
                };
                cpu.r[rd] = res;
                format!("{name} {}, {}", REG[rd], REG[rn])
            }
            6 if hw & 0xffe8 == 0xb660 => format!("cps{} i", if hw & 0x10 != 0 { "id" } else { "ie" }),
            14 => return Err(format!("bkpt #{} at {pc:#010x}: no debugger attached, so the core takes a HardFault", hw & 0xff)),
            15 if hw & 0xff == 0 => "nop".into(),
            15 if matches!(hw & 0xff, 0x10 | 0x20 | 0x30 | 0x40) => "hint (wfi/wfe/sev/yield: no effect here)".into(),
            _ => return Err(format!("unsupported instruction at {pc:#010x}: {hw:#06x}")),
        },
        0b11000 | 0b11001 => {
            let base_reg = ((hw >> 8) & 7) as usize;
            let list = hw & 0xff;
            let load = hw & (1 << 11) != 0;
            let mut a = cpu.r[base_reg];
            for i in 0..8 {
                if list & (1 << i) != 0 {
                    if load {
                        cpu.r[i] = m.read(a, 4)?;
                    } else {
                        m.check_store(a, 4)?;
                        effects.push(Effect::Store(a, cpu.r[i].to_le_bytes().to_vec()));
                        note = format!("{} = {:#x} stored at {a:#x} ({}, {})", REG[i], cpu.r[i], m.region(a), m.symbolize(a));
                    }
                    a += 4;
                }
            }
            if !(load && list & (1 << base_reg) != 0) {
                cpu.r[base_reg] = a;
            }
            format!("{} {}!, {}", if load { "ldmia" } else { "stmia" }, REG[base_reg], reglist(list, None))
        }
        0b11010 | 0b11011 => {
            let cond = (hw >> 8) & 15;
            if cond == 15 {
                return Err(format!("svc #{} at {pc:#010x}: the firmware has no SVCall handler here; the simulator stops", hw & 0xff));
            }
            if cond == 14 {
                return Err(format!("permanently undefined instruction (udf) at {pc:#010x}"));
            }
            let off = ((hw & 0xff) as i8 as i32) * 2;
            let target = pc_val.wrapping_add(off as u32);
            let taken = match cond {
                0 => cpu.z,
                1 => !cpu.z,
                2 => cpu.c,
                3 => !cpu.c,
                4 => cpu.n,
                5 => !cpu.n,
                6 => cpu.v,
                7 => !cpu.v,
                8 => cpu.c && !cpu.z,
                9 => !cpu.c || cpu.z,
                10 => cpu.n == cpu.v,
                11 => cpu.n != cpu.v,
                12 => !cpu.z && cpu.n == cpu.v,
                _ => cpu.z || cpu.n != cpu.v,
            };
            if taken {
                next = target;
            }
            note = if taken { "taken".into() } else { "not taken".into() };
            format!("b{} {target:#x}", COND[cond as usize])
        }
        0b11100 => {
            let off = (((hw & 0x7ff) << 21) as i32 >> 20) as u32;
            next = pc_val.wrapping_add(off);
            format!("b {next:#x}")
        }
        0b11110 => {
            let lo = m.read((pc & !1) + 2, 2)?;
            if lo & 0xd000 != 0xd000 {
                return Err(format!("unsupported 32-bit instruction at {pc:#010x}: {hw:#06x} {lo:#06x}"));
            }
            let s = (hw >> 10) & 1;
            let (j1, j2) = ((lo >> 13) & 1, (lo >> 11) & 1);
            let (i1, i2) = (!(j1 ^ s) & 1, !(j2 ^ s) & 1);
            let imm = (s << 24) | (i1 << 23) | (i2 << 22) | ((hw & 0x3ff) << 12) | ((lo & 0x7ff) << 1);
            let off = ((imm << 7) as i32 >> 7) as u32;
            let target = pc_val.wrapping_add(off);
            cpu.r[14] = pc.wrapping_add(4) | 1;
            next = target;
            format!("bl {target:#x} <{}>", m.symbolize(target))
        }
        0b11101 | 0b11111 => {
            let lo = m.read((pc & !1) + 2, 2).unwrap_or(0);
            return Err(format!(
                "unsupported 32-bit instruction at {pc:#010x}: {hw:#06x} {lo:#06x} (Thumb-2, not in the Cortex-M0's ARMv6-M set)"
            ));
        }
        _ => return Err(format!("unsupported instruction at {pc:#010x}: {hw:#06x}")),
    };
    cpu.r[15] = next;
    cpu.steps += 1;
    Ok((text, note, effects))
}

fn mask(size: u32) -> u32 {
    if size == 4 {
        u32::MAX
    } else {
        (1 << (8 * size)) - 1
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

impl Machine {
    fn mcu(&self) -> R<&McuState> {
        self.st.mcu.as_deref().ok_or_else(|| SimError::BadArgument("no microcontroller: load a firmware first (mcu_load)".into()))
    }

    /// Powers the board up with `path` programmed into flash: every PT_LOAD's
    /// file bytes at its load address, as a flasher (or `objcopy -O binary`)
    /// writes them; RAM holds garbage.
    pub(crate) fn mcu_load(&mut self, path: &str, flash_kib: u32, ram_kib: u32, seed: u64) -> R<Outcome> {
        let Some(data) = self.st.files.get(path).cloned() else {
            return Err(SimError::BadArgument(format!("{path} does not exist")));
        };
        let flash_size = flash_kib.clamp(1, 1024) * 1024;
        let info = Firmware::parse(&data, flash_size).map_err(|e| SimError::BadArgument(format!("{path}: {e}")))?;
        let mut flash = vec![0xff; flash_size as usize];
        for (lma, bytes) in &info.image {
            flash[*lma as usize..*lma as usize + bytes.len()].copy_from_slice(bytes);
        }
        let used = info.image.iter().map(|(a, b)| a + b.len() as u32).max().unwrap_or(0);
        let parts: Vec<String> = info.image.iter().map(|(a, b)| format!("{} bytes at {a:#x}", b.len())).collect();
        let ram = garbage(ram_kib.clamp(1, 256) as usize * 1024, seed);
        let st = McuState { firmware: path.into(), info, flash: Arc::new(flash), ram, cpu: Cpu::default() };
        let old = self.st.mcu.clone();
        self.delta(Delta::Mcu { old, new: Some(Box::new(st)) });
        self.emit(
            EventKind::Alloc,
            format!(
                "flash programmed from {path}: {} (the image objcopy -O binary makes is these {used} bytes); unused flash reads 0xff",
                parts.join(" and ")
            ),
            "flasher: PT_LOAD at p_paddr (LMA)",
            vec![],
        );
        self.emit(
            EventKind::Alloc,
            format!("power on: {ram_kib} KiB of RAM at {RAM_BASE:#x} hold whatever the cells powered up with (here a pattern from seed {seed}), not zeros"),
            "SRAM power-up state",
            vec![],
        );
        Ok(Outcome::Ok)
    }

    /// Puts one word into flash, as reprogramming it would (to show what a
    /// broken image does).
    pub(crate) fn mcu_write_flash(&mut self, addr: u32, value: u32) -> R<Outcome> {
        let mut st = self.mcu()?.clone();
        if addr % 4 != 0 || addr as usize + 4 > st.flash.len() {
            return Err(SimError::BadArgument(format!("{addr:#x} is not a word in flash")));
        }
        let mut flash = (*st.flash).clone();
        flash[addr as usize..addr as usize + 4].copy_from_slice(&value.to_le_bytes());
        st.flash = Arc::new(flash);
        let old = self.st.mcu.clone();
        self.delta(Delta::Mcu { old, new: Some(Box::new(st)) });
        self.emit(EventKind::Copy, format!("flash word {addr:#x} reprogrammed to {value:#010x}"), "flasher", vec![]);
        Ok(Outcome::Ok)
    }

    fn set_cpu(&mut self, cpu: Cpu) {
        if let Some(st) = self.st.mcu.as_deref() {
            let old = st.cpu.clone();
            self.delta(Delta::McuCpu { old: Box::new(old), new: Box::new(cpu) });
        }
    }

    /// Reset: SP from word 0 of the vector table, PC from word 1.
    pub(crate) fn mcu_reset(&mut self) -> R<Outcome> {
        let st = self.mcu()?.clone();
        let sp = st.read(0, 4).unwrap_or(0);
        let reset = st.read(4, 4).unwrap_or(0);
        let mut cpu = Cpu::default();
        cpu.r[13] = sp & !3;
        cpu.r[14] = 0xffff_ffff;
        let problem = if reset & 1 == 0 {
            Some(format!("the reset vector {reset:#010x} has bit 0 clear: it is not a Thumb address, so the very first instruction fetch faults; a fault this early cannot be handled, and the core locks up"))
        } else if st.region(reset & !1) != "flash" {
            Some(format!("the reset vector {reset:#010x} points outside flash; the first fetch faults and the core locks up"))
        } else if sp < RAM_BASE || sp - RAM_BASE > st.ram.len() as u32 {
            Some(format!("the initial stack pointer {sp:#010x} is not in RAM: the first push will fault and the HardFault entry cannot stack either, so the core locks up"))
        } else {
            None
        };
        cpu.r[15] = reset & !1;
        let sym = st.symbolize(reset & !1);
        self.emit(
            EventKind::Process,
            format!("reset: the core reads word 0 of the vector table, {sp:#010x}, into SP"),
            "ARMv6-M TakeReset",
            vec![],
        );
        if let Some(p) = problem {
            cpu.lockup = Some(p.clone());
            self.set_cpu(cpu);
            self.emit(EventKind::Error, format!("LOCKUP: {p}"), "ARMv6-M lockup", vec![]);
            return Ok(Outcome::Ok);
        }
        self.set_cpu(cpu);
        self.emit(
            EventKind::Process,
            format!("and word 1, {reset:#010x}, into PC (bit 0 set = Thumb): execution starts at {:#x} <{sym}>", reset & !1),
            "ARMv6-M TakeReset",
            vec![],
        );
        Ok(Outcome::Ok)
    }

    /// Runs instructions, one event each, until PC reaches `until` (or a
    /// branch-to-self idle loop when `until` is None), or `max` instructions.
    pub(crate) fn mcu_run(&mut self, until: Option<&str>, max: u64) -> R<Outcome> {
        let st = self.mcu()?;
        let stop = match until {
            Some(s) => Some(match st.info.symbol(s) {
                Some(v) => v & !1,
                None => crate::ops::parse_num(s)
                    .map(|v| v as u32)
                    .ok_or_else(|| SimError::BadArgument(format!("`{s}` is neither a symbol of the firmware nor an address")))?,
            }),
            None => None,
        };
        let max = max.min(MAX_STEPS);
        for _ in 0..max {
            // Borrow the board for this instruction; copy only the registers.
            let st = self.mcu()?;
            if let Some(why) = &st.cpu.lockup {
                return Ok(Outcome::Failed { errno: crate::ops::Errno::EFAULT, detail: format!("the core is locked up: {why}") });
            }
            if stop == Some(st.cpu.r[15]) {
                return Ok(Outcome::Ok);
            }
            let mut cpu = st.cpu.clone();
            let pc = cpu.r[15];
            let step = execute(st, &mut cpu).map(|(text, note, effects)| {
                let stores: Vec<(usize, Vec<u8>, Vec<u8>)> = effects
                    .into_iter()
                    .map(|Effect::Store(addr, bytes)| {
                        let off = (addr - RAM_BASE) as usize;
                        (off, st.ram[off..off + bytes.len()].to_vec(), bytes)
                    })
                    .collect();
                (format!("{pc:#06x} <{}>  {text}", st.symbolize(pc)), note, stores)
            });
            match step {
                Ok((text, note, stores)) => {
                    let idle = cpu.r[15] == pc;
                    let mut focus: Vec<Focus> =
                        stores.iter().map(|(off, _, _)| Focus::McuAddr { addr: RAM_BASE + *off as u32, write: true }).collect();
                    // Loads: the address named in the note ("loaded from 0x..").
                    if let Some(a) = note.split("loaded from ").nth(1).or_else(|| note.split("stored in flash at ").nth(1)) {
                        if let Some(addr) = a.split_whitespace().next().and_then(crate::ops::parse_num) {
                            focus.push(Focus::McuAddr { addr: addr as u32, write: false });
                        }
                    }
                    for (offset, old, new) in stores {
                        self.delta(Delta::McuRam { offset, old, new });
                    }
                    self.set_cpu(cpu);
                    let note = if note.is_empty() { String::new() } else { format!(": {note}") };
                    self.emit(EventKind::Copy, format!("{text}{note}"), "Thumb instruction (ARMv6-M)", focus);
                    if idle && stop.is_none() {
                        self.emit(
                            EventKind::Process,
                            format!("{pc:#x} branches to itself: the program is idling in its endless loop"),
                            "",
                            vec![],
                        );
                        return Ok(Outcome::Ok);
                    }
                }
                Err(fault) if fault.starts_with("unsupported") => return Err(SimError::BadArgument(fault)),
                Err(fault) => self.mcu_hardfault(fault)?,
            }
        }
        match stop {
            Some(s) => Err(SimError::Limit(format!("PC did not reach {s:#x} within {max} instructions"))),
            None => Ok(Outcome::Ok),
        }
    }

    /// Exception entry to HardFault: stack r0-r3, r12, lr, pc, xPSR; LR =
    /// EXC_RETURN; PC = vector 3. A fault while handling a fault locks up.
    fn mcu_hardfault(&mut self, fault: String) -> R<()> {
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
            self.emit(EventKind::Error, format!("LOCKUP: {fault}, while already handling a HardFault"), "ARMv6-M lockup", vec![]);
            return Ok(());
        }
        if !stack_ok || vector & 1 == 0 {
            cpu.lockup = Some(format!("{fault}; and the exception entry itself failed (stack at {sp:#x}, HardFault vector {vector:#x})"));
            self.set_cpu(cpu);
            self.emit(
                EventKind::Error,
                format!("LOCKUP: {fault}; the HardFault entry cannot stack or has no handler"),
                "ARMv6-M lockup",
                vec![],
            );
            return Ok(());
        }
        let xpsr = (u32::from(cpu.n) << 31) | (u32::from(cpu.z) << 30) | (u32::from(cpu.c) << 29) | (u32::from(cpu.v) << 28) | (1 << 24);
        let frame = [cpu.r[0], cpu.r[1], cpu.r[2], cpu.r[3], cpu.r[12], cpu.r[14], cpu.r[15], xpsr];
        let bytes: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
        let off = (sp - RAM_BASE) as usize;
        self.delta(Delta::McuRam { offset: off, old: old_frame, new: bytes });
        cpu.r[13] = sp;
        cpu.r[14] = 0xffff_fff9;
        cpu.r[15] = vector & !1;
        cpu.ipsr = 3;
        self.set_cpu(cpu);
        self.emit(
            EventKind::Error,
            format!(
                "HardFault: {fault}. The core stacks 8 registers at {sp:#x} and jumps to the HardFault vector {:#x} <{handler}>",
                vector & !1
            ),
            "ARMv6-M ExceptionEntry (HardFault)",
            vec![],
        );
        Ok(())
    }
}
