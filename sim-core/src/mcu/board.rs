//! Boards: the memory map a firmware is linked for and the core that runs
//! it. Each preset is its chip's datasheet memory map (flash and SRAM base
//! and size, where the core fetches its vector table at reset); the page and
//! the generated lesson pick the first preset that the ELF's architecture
//! attributes and segments fit ([`pick`]), and say why.

use super::*;

/// The core, and so the instruction set and fault model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Core {
    /// Cortex-M0: ARMv6-M (Thumb plus BL, MRS, MSR, DMB/DSB/ISB).
    M0,
    /// Cortex-M0+: ARMv6-M.
    M0Plus,
    /// Cortex-M3: ARMv7-M (Thumb-2).
    M3,
    /// Cortex-M4 (no FPU use modelled): ARMv7E-M (Thumb-2 and the DSP extension).
    M4,
}

impl Core {
    /// The core's name.
    pub fn name(self) -> &'static str {
        match self {
            Core::M0 => "Cortex-M0",
            Core::M0Plus => "Cortex-M0+",
            Core::M3 => "Cortex-M3",
            Core::M4 => "Cortex-M4",
        }
    }

    /// Its architecture.
    pub fn arch(self) -> &'static str {
        match self {
            Core::M0 | Core::M0Plus => "ARMv6-M",
            Core::M3 => "ARMv7-M",
            Core::M4 => "ARMv7E-M",
        }
    }

    /// ARMv7-M or later: Thumb-2, unaligned single loads and stores, the
    /// configurable faults (MemManage, BusFault, UsageFault) with CFSR/HFSR.
    pub fn v7(self) -> bool {
        matches!(self, Core::M3 | Core::M4)
    }

    /// The architecture an ELF's `Tag_CPU_arch` names runs on this core.
    fn runs(self, arch: CpuArch) -> bool {
        match arch {
            CpuArch::V6M => true,
            CpuArch::V7M => self.v7(),
            CpuArch::V7EM => self == Core::M4,
            CpuArch::Classic(_) => false,
        }
    }
}

/// A board preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// Its name on the command line and in lesson files (`--board`, `board =`).
    pub id: &'static str,
    /// What students call it.
    pub title: &'static str,
    /// The chip.
    pub chip: &'static str,
    /// Its core.
    pub core: Core,
    /// Where flash starts.
    pub flash_base: u32,
    /// Flash size in KiB.
    pub flash_kib: u32,
    /// Whether flash also appears at address 0 (the STM32's boot-from-flash alias).
    pub alias_zero: bool,
    /// Where SRAM starts.
    pub ram_base: u32,
    /// SRAM size in KiB.
    pub ram_kib: u32,
    /// Where the core reads the vector table at reset (VTOR as the boot code leaves it).
    pub vectors: u32,
    /// External interrupt lines the NVIC has (nRF51 and RP2040: 32, of
    /// which 26 are wired; QEMU's lm3s6965evb: 64; a medium-density
    /// STM32F103: 43, RM0008's vector table; nRF52840: 48; STM32F407: 82, RM0090).
    pub irqs: u16,
    /// Priority bits implemented, the top ones of each priority byte (2 on
    /// every Cortex-M0/M0+; the LM3S6965 and nRF52840 3; the STM32s 4).
    pub prio_bits: u8,
}

/// The presets, in the order [`pick`] tries them.
pub const BOARDS: &[Board] = &[
    Board {
        id: "microbit",
        title: "BBC micro:bit v1",
        chip: "nRF51822-QFAA",
        core: Core::M0,
        flash_base: 0,
        flash_kib: 256,
        alias_zero: false,
        ram_base: RAM_BASE,
        ram_kib: 16,
        vectors: 0,
        irqs: 32,
        prio_bits: 2,
    },
    Board {
        id: "rp2040",
        title: "Raspberry Pi Pico",
        chip: "RP2040",
        core: Core::M0Plus,
        flash_base: 0x1000_0000,
        flash_kib: 2048,
        alias_zero: false,
        ram_base: RAM_BASE,
        ram_kib: 264,
        vectors: 0x1000_0100,
        irqs: 32,
        prio_bits: 2,
    },
    Board {
        id: "lm3s6965",
        title: "QEMU lm3s6965evb",
        chip: "LM3S6965",
        core: Core::M3,
        flash_base: 0,
        flash_kib: 256,
        alias_zero: false,
        ram_base: RAM_BASE,
        ram_kib: 64,
        vectors: 0,
        irqs: 64,
        prio_bits: 3,
    },
    Board {
        id: "stm32f103",
        title: "STM32F103 \"blue pill\"",
        chip: "STM32F103C8",
        core: Core::M3,
        flash_base: 0x0800_0000,
        flash_kib: 64,
        alias_zero: true,
        ram_base: RAM_BASE,
        ram_kib: 20,
        vectors: 0,
        irqs: 43,
        prio_bits: 4,
    },
    Board {
        id: "nrf52840",
        title: "nRF52840 DK",
        chip: "nRF52840",
        core: Core::M4,
        flash_base: 0,
        flash_kib: 1024,
        alias_zero: false,
        ram_base: RAM_BASE,
        ram_kib: 256,
        vectors: 0,
        irqs: 48,
        prio_bits: 3,
    },
    Board {
        id: "stm32f4",
        title: "STM32F4 Discovery",
        chip: "STM32F407VG",
        core: Core::M4,
        flash_base: 0x0800_0000,
        flash_kib: 1024,
        alias_zero: true,
        ram_base: RAM_BASE,
        ram_kib: 128,
        vectors: 0,
        irqs: 82,
        prio_bits: 4,
    },
];

/// What a preset's memory map comes from, and what is not modelled (for
/// narration: kept out of [`BOARDS`], which the page's picker lists).
pub fn board_note(id: &str) -> &'static str {
    match id {
        "microbit" => "nRF51 Series Reference Manual, memory map: code flash at 0, RAM at 0x20000000",
        "rp2040" => "RP2040 datasheet, address map: XIP flash at 0x10000000, 264 KiB SRAM at 0x20000000. The boot ROM and the 256-byte boot2 (not simulated) set VTOR to 0x10000100 and load SP and PC from there; core 1 is not simulated",
        "lm3s6965" => "LM3S6965 datasheet: 256 KiB flash at 0, 64 KiB SRAM at 0x20000000 (the board QEMU's -M lm3s6965evb emulates)",
        "stm32f103" => "RM0008, memory map and boot configuration: main flash at 0x08000000, aliased at 0 when BOOT0 = 0 (boot from flash), so reset reads the vectors through the alias; 20 KiB SRAM at 0x20000000",
        "nrf52840" => "nRF52840 Product Specification, memory: 1 MiB flash at 0, 256 KiB RAM at 0x20000000",
        "stm32f4" => "RM0090, memory map and boot configuration: main flash at 0x08000000, aliased at 0 when booting from flash; SRAM1 and SRAM2 (128 KiB) at 0x20000000; the 64 KiB CCM RAM at 0x10000000 is not simulated",
        _ => "",
    }
}

/// A board by id.
pub fn board(id: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.id == id)
}

/// The ids, for error messages.
pub fn board_ids() -> String {
    BOARDS.iter().map(|b| b.id).collect::<Vec<_>>().join(", ")
}

/// The architecture an ELF's `.ARM.attributes` name (`Tag_CPU_arch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CpuArch {
    /// v6-M or v6S-M (Tag_CPU_arch 11, 12).
    V6M,
    /// v7 with profile M (10).
    V7M,
    /// v7E-M (13).
    V7EM,
    /// An architecture no Cortex-M executes, by its Tag_CPU_arch number
    /// (2 is v4T: ARM-state code for a classic ARM core such as the
    /// ARM7TDMI, arm-none-eabi-gcc's default target without -mcpu).
    Classic(u8),
}

impl CpuArch {
    /// As `readelf -A` prints it.
    pub fn name(self) -> &'static str {
        match self {
            CpuArch::V6M => "v6-M",
            CpuArch::V7M => "v7-M",
            CpuArch::V7EM => "v7E-M",
            CpuArch::Classic(n) => match n {
                0 => "pre-v4",
                1 => "v4",
                2 => "v4T",
                3 => "v5T",
                4 => "v5TE",
                5 => "v5TEJ",
                6 => "v6",
                7 => "v6KZ",
                8 => "v6T2",
                9 => "v6K",
                10 => "v7",
                14 => "v8-A",
                15 => "v8-R",
                16 => "v8-M.baseline",
                17 => "v8-M.mainline",
                _ => "an unknown architecture",
            },
        }
    }
}

/// The memory map a loaded board uses: copied out of its preset (with the
/// sizes a lesson may override) so that every access reads plain numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemMap {
    /// The core.
    pub core: Core,
    /// Where flash starts.
    pub flash_base: u32,
    /// Flash also at 0.
    pub alias_zero: bool,
    /// Where SRAM starts.
    pub ram_base: u32,
    /// Where reset reads the vector table.
    pub vectors: u32,
    /// External interrupt lines.
    pub irqs: u16,
    /// Priority bits implemented.
    pub prio_bits: u8,
}

impl Board {
    /// This board's memory map.
    pub fn map(&self) -> MemMap {
        MemMap {
            core: self.core,
            flash_base: self.flash_base,
            alias_zero: self.alias_zero,
            ram_base: self.ram_base,
            vectors: self.vectors,
            irqs: self.irqs,
            prio_bits: self.prio_bits,
        }
    }

    /// Whether `fw` fits: its architecture runs on the core, every loadable
    /// segment's bytes lie in flash at its own addresses (at `p_paddr`, the
    /// LMA; a flasher does not write through the boot alias), every writable
    /// section's run address lies in SRAM, and the initial stack pointer is
    /// in SRAM or one past its end (the full-descending stack's usual top).
    pub fn fits(&self, fw: &Firmware, flash_kib: u32, ram_kib: u32) -> Result<(), FitError> {
        if let Some(arch) = fw.arch {
            if !self.core.runs(arch) {
                return Err(FitError::Arch { arch, core: self.core });
            }
        }
        let (flash, ram) = (flash_kib * 1024, ram_kib * 1024);
        // A flasher programs flash at its own addresses, never through the boot alias.
        let in_flash =
            |a: u32, n: u32| a >= self.flash_base && u64::from(a) + u64::from(n) <= u64::from(self.flash_base) + u64::from(flash);
        for (index, lma, n) in &fw.segments {
            if *n > 0 && !in_flash(*lma, *n) {
                return Err(FitError::Segment { index: *index, lma: *lma, size: *n, base: self.flash_base, flash });
            }
        }
        let in_ram = |a: u32, n: u32| a >= self.ram_base && u64::from(a) + u64::from(n) <= u64::from(self.ram_base) + u64::from(ram);
        for s in &fw.sections {
            // A writable section may also stay in flash (newlib's .init_array is "WA").
            if s.flags.contains("write") && s.size > 0 && !in_ram(s.vma, s.size) && !in_flash(s.vma, s.size) {
                return Err(FitError::Section { name: s.name.clone(), vma: s.vma, size: s.size, base: self.ram_base, ram });
            }
        }
        // Without a vector table where reset reads it (a program linked with
        // no linker script), reset loads erased flash: it fits, and fails as
        // the hardware does.
        let vectors = if self.alias_zero && self.vectors < flash { self.flash_base + self.vectors } else { self.vectors };
        if let Some(sp) = fw.word_at(vectors) {
            if !in_ram(sp.wrapping_sub(4), 4) {
                return Err(FitError::Stack { sp, base: self.ram_base, ram });
            }
        }
        Ok(())
    }
}

/// Why a firmware does not fit a board.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FitError {
    /// Built for a later architecture than the core's.
    #[error("it is built for {} (Tag_CPU_arch), which the {} does not execute{}", arch.name(), core.name(),
        if matches!(arch, CpuArch::Classic(_)) { ": that is ARM-state code for a classic ARM core, what arm-none-eabi-gcc makes without -mcpu=cortex-m0/m3/m4 -mthumb" } else { "" })]
    Arch {
        /// What the ELF says.
        arch: CpuArch,
        /// The board's core.
        core: Core,
    },
    /// A segment's bytes lie outside flash.
    #[error("segment {index}'s load address {lma:#x}+{size:#x} is outside its flash ({flash:#x} bytes at {base:#x})")]
    Segment {
        /// Program header index.
        index: usize,
        /// p_paddr.
        lma: u32,
        /// p_filesz.
        size: u32,
        /// Flash base.
        base: u32,
        /// Flash size.
        flash: u32,
    },
    /// A writable section runs outside SRAM.
    #[error("section {name} at {vma:#x}+{size:#x} is outside its RAM ({ram:#x} bytes at {base:#x})")]
    Section {
        /// Its name.
        name: String,
        /// Run address.
        vma: u32,
        /// Size.
        size: u32,
        /// RAM base.
        base: u32,
        /// RAM size.
        ram: u32,
    },
    /// The initial stack pointer is not in SRAM (nor one past its end).
    #[error("the initial stack pointer {sp:#x} is outside its RAM ({ram:#x} bytes at {base:#x})")]
    Stack {
        /// Word 0 of the vector table.
        sp: u32,
        /// RAM base.
        base: u32,
        /// RAM size.
        ram: u32,
    },
}

/// Each preset passed over, and why.
pub type Skipped = Vec<(&'static str, FitError)>;

/// The first preset `fw` fits (with the flash and RAM sizes a lesson
/// gives instead of the presets'), with why each earlier one did not; or
/// every preset's reason when none fits.
pub fn pick(fw: &Firmware, flash_kib: Option<u32>, ram_kib: Option<u32>) -> Result<(&'static Board, Skipped), Skipped> {
    let mut skipped = Vec::new();
    for b in BOARDS {
        match b.fits(fw, flash_kib.unwrap_or(b.flash_kib), ram_kib.unwrap_or(b.ram_kib)) {
            Ok(()) => return Ok((b, skipped)),
            Err(e) => skipped.push((b.id, e)),
        }
    }
    Err(skipped)
}

crate::wire_enum! {
    Core { M0 = 0, M0Plus = 1, M3 = 2, M4 = 3 }
    CpuArch { V6M = 0, V7M = 1, V7EM = 2, Classic(n) = 3 }
}

crate::wire_enum! {
    FitError {
        Arch { arch, core } = 0,
        Segment { index, lma, size, base, flash } = 1,
        Section { name, vma, size, base, ram } = 2,
        Stack { sp, base, ram } = 3,
    }
}

crate::wire_struct! {
    MemMap { core, flash_base, alias_zero, ram_base, vectors, irqs, prio_bits }
}
