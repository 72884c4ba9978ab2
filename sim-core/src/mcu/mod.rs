//! A Cortex-M microcontroller on a board preset ([`BOARDS`]: flash, SRAM
//! and where reset reads the vector table, whose word 0 is the initial stack
//! pointer and word 1 the reset vector), and a Thumb interpreter that runs
//! the machine code a real compiler produced, one instruction per event:
//! ARMv6-M (Cortex-M0/M0+) and ARMv7-M's Thumb-2 (Cortex-M3/M4).
//!
//! Facts (ARMv6-M and ARMv7-M Architecture Reference Manuals; cortex-m-rt
//! 0.7's `link.x.in` and its Reset in `src/lib.rs`): on reset the core loads SP from the vector
//! table's word 0 and PC from word 1
//! (the reset vector must have bit 0 set: Thumb state); RAM holds whatever it
//! powered up with; a flasher writes each loadable segment at its load
//! address (`p_paddr`, the LMA), and only the startup code moves `.data` to
//! its run address (the VMA) and zeroes `.bss`.

use crate::fields::parse_num;
use crate::journal::ordmap::OrdMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;

/// Where SRAM starts on every board here (the ARMv6-M/ARMv7-M default
/// memory map's SRAM region).
pub const RAM_BASE: u32 = 0x2000_0000;
/// Most instructions one operation may run (a lesson's whole run is capped
/// at the same 10,000,000 events).
pub const MAX_STEPS: u64 = 10_000_000;

/// Text only when `$on`: formatting costs nothing when a run is recorded,
/// and the same code gives the words when the instruction is shown.
macro_rules! txt {
    ($on:expr, $($a:tt)*) => {
        if $on {
            format!($($a)*)
        } else {
            String::new()
        }
    };
}
mod board;
mod firmware;
pub mod loops;
pub mod nvic;
pub mod ops;
mod periph;
mod thumb;
mod thumb2;

pub use board::*;
pub use firmware::*;
pub use periph::{registers, Behaviour, Io, Register, SysTick};
use thumb::execute;

/// The system registers outside r0-r15 and the flags that an instruction
/// seldom changes (so a step that leaves them alone records only registers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysRegs {
    /// PRIMASK: all configurable-priority exceptions masked (`cpsid i`).
    pub primask: bool,
    /// FAULTMASK (ARMv7-M): everything but NMI masked (`cpsid f`).
    pub faultmask: bool,
    /// BASEPRI (ARMv7-M).
    pub basepri: u8,
    /// CONTROL: bit 1 SPSEL (thread mode on PSP), bit 0 nPRIV.
    pub control: u8,
    /// The stack pointer not in use (PSP while thread mode runs on MSP).
    pub other_sp: u32,
    /// CFSR at 0xE000ED28 (ARMv7-M): MMFSR, BFSR, UFSR.
    pub cfsr: u32,
    /// HFSR at 0xE000ED2C (ARMv7-M): FORCED (bit 30), VECTTBL (bit 1), DEBUGEVT (bit 31).
    pub hfsr: u32,
    /// BFAR at 0xE000ED38 (ARMv7-M), valid when CFSR.BFARVALID.
    pub bfar: u32,
    /// The local exclusive monitor (LDREX opens it, STREX and exception entry close it).
    pub monitor: bool,
    /// SHCSR at 0xE000ED24 (ARMv7-M): bits 16-18 enable MemManage, BusFault
    /// and UsageFault; 0 from reset, so those faults escalate to HardFault.
    pub shcsr: u32,
    /// VTOR at 0xE000ED08: where the vector table is.
    pub vtor: u32,
    /// CCR at 0xE000ED14: UNALIGN_TRP (bit 3), DIV_0_TRP (bit 4), STKALIGN
    /// (bit 9). Read-only 0x208 on ARMv6-M; 0x200 from reset on the
    /// Cortex-M3 r2p0 and later and the M4 (an r1p1 M3 resets STKALIGN to 0:
    /// not modelled).
    pub ccr: u32,
    /// The SysTick timer.
    pub systick: SysTick,
    /// The NVIC: exceptions enabled, pending and active, their priorities.
    pub nvic: nvic::Nvic,
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
    /// Sticky saturation (APSR.Q, ARMv7-M).
    pub q: bool,
    /// ITSTATE (EPSR.IT, ARMv7-M): the condition and mask of the IT block
    /// being executed, 0 outside one.
    pub it: u8,
    /// EPSR.T is 0 (reached through an address with bit 0 clear): the next
    /// instruction faults.
    pub t_clear: bool,
    /// The rest of the system registers.
    pub sys: SysRegs,
    /// The exception being handled (IPSR), 0 in thread mode.
    pub ipsr: u32,
    /// Why the core locked up, if it did.
    pub lockup: Option<String>,
    /// Instructions executed since reset.
    pub steps: u64,
}

impl Cpu {
    /// NZCV as bits 3..0, Q as bit 4, ITSTATE as bits 15..8.
    pub fn flags(&self) -> u16 {
        (u16::from(self.it) << 8)
            | (u16::from(self.q) << 4)
            | (u16::from(self.n) << 3)
            | (u16::from(self.z) << 2)
            | (u16::from(self.c) << 1)
            | u16::from(self.v)
    }

    fn set_flags(&mut self, f: u16) {
        (self.n, self.z, self.c, self.v, self.q) = (f & 8 != 0, f & 4 != 0, f & 2 != 0, f & 1 != 0, f & 16 != 0);
        self.it = (f >> 8) as u8;
    }

    /// The execution priority ([`nvic::Nvic::execution_priority`]): what a
    /// pending exception's group priority must be below to preempt.
    pub fn execution_priority(&self) -> i16 {
        self.sys.nvic.execution_priority(self.sys.primask, self.sys.faultmask, self.sys.basepri)
    }

    /// The mask exception entry aligns the frame with: 8 bytes with
    /// CCR.STKALIGN, else 4.
    pub fn stack_align(&self) -> u32 {
        if self.sys.ccr & 0x200 != 0 {
            !7
        } else {
            !3
        }
    }

    /// xPSR as the exception entry stacks it: NZCVQ, the IT bits (ICI/IT in
    /// bits 26:25 and 15:10), the Thumb bit and the exception number.
    pub fn xpsr(&self) -> u32 {
        let f = u32::from(self.flags());
        ((f & 0xf) << 28)
            | (u32::from(self.q) << 27)
            | ((u32::from(self.it) & 3) << 25)
            | ((u32::from(self.it) >> 2) << 10)
            | (u32::from(!self.t_clear) << 24)
            | self.ipsr
    }
}

/// Flash contents, shared by every copy of the board until reprogrammed;
/// recorded as their 1 KiB pieces that are not erased (0xff).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flash(pub Arc<Vec<u8>>);

impl std::ops::Deref for Flash {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl crate::wire::Wire for Flash {
    fn put(&self, out: &mut Vec<u8>) {
        crate::wire::put_sparse(out, &self.0, 1024, 0xff);
    }
    fn get(r: &mut crate::wire::Reader<'_>) -> Result<Self, crate::wire::WireError> {
        crate::wire::get_sparse(r, 1024, 0xff).map(|v| Flash(Arc::new(v)))
    }
}

/// Bytes in one page of [`Ram`].
pub const RAM_PAGE: usize = 1024;

/// RAM contents and the seed of their power-up pattern. Held as 1 KiB
/// pages shared between copies until one is written (a timeline's
/// checkpoints copy the board every 1,024 events; a delay loop writes no
/// RAM, so its checkpoints share every page). Recorded as the pages that
/// differ from the power-up pattern (power-up garbage does not compress,
/// and is the same for the same seed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ram {
    pages: Vec<Arc<[u8; RAM_PAGE]>>,
    /// The seed [`garbage`] made the bytes from at power-on.
    pub seed: u64,
}

impl Ram {
    /// `len` bytes (a multiple of [`RAM_PAGE`]) as they power up.
    pub fn power_on(len: usize, seed: u64) -> Ram {
        Ram::from_bytes(&garbage(len, seed), seed)
    }

    /// RAM holding `bytes` (padded with zeros to a whole page).
    pub fn from_bytes(bytes: &[u8], seed: u64) -> Ram {
        let pages = bytes
            .chunks(RAM_PAGE)
            .map(|c| {
                let mut p = [0u8; RAM_PAGE];
                p[..c.len()].copy_from_slice(c);
                Arc::new(p)
            })
            .collect();
        Ram { pages, seed }
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.pages.len() * RAM_PAGE
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// The `n` bytes at offset `off`, if they are inside.
    pub fn get(&self, off: usize, n: usize) -> Option<Vec<u8>> {
        if off.checked_add(n)? > self.len() {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        let mut at = off;
        while out.len() < n {
            let (page, o) = (at / RAM_PAGE, at % RAM_PAGE);
            let take = (n - out.len()).min(RAM_PAGE - o);
            out.extend_from_slice(&self.pages[page][o..o + take]);
            at += take;
        }
        Some(out)
    }

    /// The little-endian value of the `size` (1..=4) bytes at `off`, which
    /// the caller checked are inside.
    fn word(&self, off: usize, size: usize) -> u32 {
        let (page, o) = (off / RAM_PAGE, off % RAM_PAGE);
        if o + size <= RAM_PAGE {
            self.pages[page][o..o + size].iter().rev().fold(0, |a, b| (a << 8) | u32::from(*b))
        } else {
            self.get(off, size).unwrap_or_default().iter().rev().fold(0, |a, b| (a << 8) | u32::from(*b))
        }
    }

    /// Writes `bytes` at `off` (what does not fit is dropped), copying a
    /// page another copy of the board still shares.
    pub fn set(&mut self, off: usize, bytes: &[u8]) {
        let mut at = off;
        let mut rest = bytes;
        while !rest.is_empty() {
            let (page, o) = (at / RAM_PAGE, at % RAM_PAGE);
            let Some(p) = self.pages.get_mut(page) else { return };
            let take = rest.len().min(RAM_PAGE - o);
            Arc::make_mut(p)[o..o + take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
            at += take;
        }
    }

    /// Every byte, in order.
    pub fn to_vec(&self) -> Vec<u8> {
        self.pages.iter().flat_map(|p| p.iter().copied()).collect()
    }
}

impl crate::wire::Wire for Ram {
    fn put(&self, out: &mut Vec<u8>) {
        self.seed.put(out);
        let diff: Vec<u8> = self.to_vec().iter().zip(garbage(self.len(), self.seed)).map(|(a, b)| a ^ b).collect();
        crate::wire::put_sparse(out, &diff, RAM_PAGE, 0);
    }
    fn get(r: &mut crate::wire::Reader<'_>) -> Result<Self, crate::wire::WireError> {
        let seed = u64::get(r)?;
        let mut bytes = crate::wire::get_sparse(r, RAM_PAGE, 0)?;
        let pattern = garbage(bytes.len(), seed);
        for (a, b) in bytes.iter_mut().zip(pattern) {
            *a ^= b;
        }
        Ok(Ram::from_bytes(&bytes, seed))
    }
}

/// The microcontroller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct McuState {
    /// The firmware's path.
    pub firmware: String,
    /// The board preset's id.
    pub board: String,
    /// Its memory map.
    pub map: MemMap,
    /// What its ELF says.
    pub info: Arc<Firmware>,
    /// Flash contents.
    #[serde(skip)]
    pub flash: Flash,
    /// RAM contents.
    #[serde(skip)]
    pub ram: Ram,
    /// The peripherals' registers and the UART's output.
    pub io: Io,
    /// The core.
    pub cpu: Cpu,
}

/// Why an instruction faulted (ARMv6-M: every fault escalates to HardFault),
/// or why the simulator cannot execute it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ThumbFault {
    /// A load not aligned to its size (ARMv6-M faults on every unaligned access).
    #[error(
        "unaligned {size}-byte read at {addr:#010x} (ARMv6-M faults on every unaligned access, ARMv7-M on unaligned LDM, LDRD and LDREX)"
    )]
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
    /// An instruction with EPSR.T clear: a branch, a load into pc, the reset
    /// or an exception vector had bit 0 clear, and Cortex-M cores have no
    /// ARM state (INVSTATE).
    #[error("EPSR.T is 0 at {pc:#010x} (it was reached through an address with bit 0 clear): Cortex-M cores have no ARM state, so the instruction faults (INVSTATE)")]
    InvState {
        /// Where.
        pc: u32,
    },
    /// An exception return to a value that is no EXC_RETURN (INVPC).
    #[error("exception return to {value:#010x}, which is not a valid EXC_RETURN value (INVPC)")]
    InvPc {
        /// The value branched to.
        value: u32,
    },
    /// UDIV or SDIV by zero with CCR.DIV_0_TRP set.
    #[error("division by zero at {pc:#010x} with CCR.DIV_0_TRP set (DIVBYZERO)")]
    DivByZero {
        /// Where.
        pc: u32,
    },
    /// An instruction fetch from an Execute Never region of the default
    /// memory map (peripherals, devices, the system region).
    #[error("{addr:#010x} is in an Execute Never region of the memory map")]
    ExecuteNever {
        /// Where.
        addr: u32,
    },
    /// `bkpt` with no debugger attached.
    #[error("bkpt #{imm} at {pc:#010x}: no debugger attached, so the core takes a HardFault")]
    Bkpt {
        /// The immediate.
        imm: u32,
        /// Where.
        pc: u32,
    },
    /// `svc` while SVCall cannot be taken (PRIMASK set, or already in a
    /// handler: this model gives SVCall no priority above a handler's), so
    /// it escalates to HardFault.
    #[error("svc #{imm} at {pc:#010x} while SVCall is masked (PRIMASK set, or in a handler)")]
    Svc {
        /// The immediate.
        imm: u32,
        /// Where.
        pc: u32,
    },
    /// An encoding the core does not have: UNDEFINED (a Thumb-2 instruction
    /// on ARMv6-M, which has no UsageFault, is a HardFault).
    #[error("undefined instruction at {pc:#010x}: {hw:#06x}{}{}", lo.map(|l| format!(" {l:#06x}")).unwrap_or_default(), if *thumb2 { " (a Thumb-2 encoding: ARMv6-M does not have it)" } else { "" })]
    Undefined {
        /// Where.
        pc: u32,
        /// The first halfword.
        hw: u32,
        /// The second halfword of a 32-bit encoding.
        lo: Option<u32>,
        /// A 32-bit Thumb-2 encoding on an ARMv6-M core.
        thumb2: bool,
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
    /// A store to a peripheral register: its word address, the value
    /// moved to its byte lane, and the mask of the bytes stored.
    Io(u32, u32, u32),
}

/// The board `fw` (the file at `path`) runs on: the preset named, or the
/// first that it fits ([`pick`]), with the sizes a lesson may override;
/// with the presets tried before it (why each did not fit) and the flash
/// and RAM sizes. The one place both `mcu_load` and a
/// student's own file choose the board and word the refusal.
pub fn choose_board(fw: &Firmware, path: &str, board: Option<&str>, flash_kib: Option<u32>, ram_kib: Option<u32>) -> Result<Chosen, Error> {
    let (b, skipped) = match board {
        Some(id) => (self::board(id).ok_or_else(|| Error::UnknownBoard { board: id.into(), known: board_ids() })?, Vec::new()),
        None => pick(fw, flash_kib, ram_kib).map_err(|why| Error::NoFit { path: path.into(), why })?,
    };
    let flash_kib = flash_kib.unwrap_or(b.flash_kib).clamp(1, 4096);
    let ram_kib = ram_kib.unwrap_or(b.ram_kib).clamp(1, 1024);
    b.fits(fw, flash_kib, ram_kib).map_err(|why| Error::DoesNotFit { path: path.into(), board: b.id, why })?;
    Ok(Chosen { board: b, skipped, flash_kib, ram_kib })
}

/// What [`choose_board`] chose.
#[derive(Debug)]
pub struct Chosen {
    /// The preset.
    pub board: &'static Board,
    /// The presets tried before it, and why each did not fit.
    pub skipped: Vec<(&'static str, FitError)>,
    /// Flash size in KiB.
    pub flash_kib: u32,
    /// RAM size in KiB.
    pub ram_kib: u32,
}

impl McuState {
    /// The offset into flash of `size` bytes at `addr` (through the boot
    /// alias at 0 where the board has one).
    fn flash_offset(&self, addr: u32, size: u32) -> Option<usize> {
        let len = self.flash.len() as u64;
        let within = |base: u32| (addr >= base && u64::from(addr - base) + u64::from(size) <= len).then(|| (addr - base) as usize);
        within(self.map.flash_base).or_else(|| if self.map.alias_zero { within(0) } else { None })
    }

    /// The offset into RAM of `size` bytes at `addr`.
    fn ram_offset(&self, addr: u32, size: u32) -> Option<usize> {
        let o = addr.checked_sub(self.map.ram_base)?;
        (u64::from(o) + u64::from(size) <= self.ram.len() as u64).then_some(o as usize)
    }

    /// A load of `size` bytes. ARMv6-M faults on every unaligned access;
    /// ARMv7-M allows unaligned LDR/LDRH (CCR.UNALIGN_TRP is 0 from reset),
    /// but not the multiple and doubleword ones, which use [`Self::read_aligned`].
    fn read(&self, addr: u32, size: u32) -> Result<u32, Fault> {
        if self.map.core.v7() && self.cpu.sys.ccr & 8 == 0 {
            self.load(addr, size)
        } else {
            self.read_aligned(addr, size)
        }
    }

    /// An instruction fetch: flash or RAM only. The default memory map's
    /// peripheral, device and system regions are Execute Never; elsewhere
    /// there is no memory (a bus error).
    fn fetch(&self, addr: u32) -> Result<u32, Fault> {
        if self.flash_offset(addr, 2).is_some() || self.ram_offset(addr, 2).is_some() {
            return self.load(addr, 2);
        }
        Err(ThumbFault::Fetch(Box::new(if periph::device(addr) {
            ThumbFault::ExecuteNever { addr }
        } else {
            ThumbFault::NoMemoryRead(addr)
        })))
    }

    /// A load that faults when unaligned on every core (LDM, LDRD, LDREX, POP).
    fn read_aligned(&self, addr: u32, size: u32) -> Result<u32, Fault> {
        if addr % size != 0 {
            return Err(ThumbFault::UnalignedRead { size, addr });
        }
        self.load(addr, size)
    }

    fn load(&self, addr: u32, size: u32) -> Result<u32, Fault> {
        let bytes = if let Some(o) = self.flash_offset(addr, size) {
            &self.flash[o..o + size as usize]
        } else if let Some(o) = self.ram_offset(addr, size) {
            return Ok(self.ram.word(o, size as usize));
        } else if let Some(v) = self.system_register(addr, size) {
            return Ok(v);
        } else if periph::device(addr) {
            return Ok(self.device_read(addr, size));
        } else {
            return Err(ThumbFault::NoMemoryRead(addr));
        };
        Ok(bytes.iter().rev().fold(0, |a, b| (a << 8) | u32::from(*b)))
    }

    /// A load from the device regions: SysTick, the board's registers
    /// ([`periph::registers`], by word, halfword or byte), else 0 (not modelled).
    fn device_read(&self, addr: u32, size: u32) -> u32 {
        let word = addr & !3;
        let v = match word {
            periph::SYST_CSR => self.cpu.sys.systick.csr,
            periph::SYST_RVR => self.cpu.sys.systick.rvr,
            periph::SYST_CVR => self.cpu.sys.systick.cvr(self.cpu.steps),
            // SYST_CALIB: NOREF, no TENMS value.
            0xe000_e01c => 0x8000_0000,
            _ => periph::read_register(&self.board, &self.io, word).unwrap_or(0),
        };
        (v >> ((addr - word) * 8)) & thumb::mask(size)
    }

    /// What is at `addr`, for narration: flash, RAM, a named register, or
    /// a device address the simulator does not model.
    pub fn place(&self, addr: u32) -> String {
        let word = addr & !3;
        if let Some(r) = periph::register(&self.board, word) {
            return format!("peripheral register {}", r.name);
        }
        if let Some(n) = periph::systick_name(word) {
            return format!("SysTick {n}");
        }
        if let Some(n) = nvic::register_name(word) {
            return n;
        }
        match word {
            0xe000_ed08 => return "SCB VTOR".into(),
            0xe000_ed24 => return "SCB SHCSR".into(),
            0xe000_ed28 => return "SCB CFSR".into(),
            0xe000_ed2c => return "SCB HFSR".into(),
            0xe000_ed38 => return "SCB BFAR".into(),
            _ => {}
        }
        match self.region(addr) {
            "nothing" if periph::device(addr) => "a device address the simulator does not model: reads 0, writes are ignored".into(),
            r => r.into(),
        }
    }

    /// The NVIC's and SCB's exception registers ([`nvic::Nvic::read`]),
    /// CCR, and the ARMv7-M fault status registers in the System Control
    /// Block, read by word, halfword or byte (MMFSR 0xE000ED28, BFSR ED29,
    /// UFSR ED2A; HFSR ED2C; BFAR ED38), which ARMv6-M does not have.
    fn system_register(&self, addr: u32, size: u32) -> Option<u32> {
        if let Some(v) = self.cpu.sys.nvic.read(addr, size, &self.map, self.cpu.ipsr) {
            return Some(v);
        }
        if addr & !3 == 0xE000_ED14 {
            return Some((self.cpu.sys.ccr >> ((addr & 3) * 8)) & thumb::mask(size));
        }
        if !self.map.core.v7() {
            return None;
        }
        let (base, word) = match addr & !3 {
            0xE000_ED28 => (0xE000_ED28, self.cpu.sys.cfsr),
            0xE000_ED2C => (0xE000_ED2C, self.cpu.sys.hfsr),
            0xE000_ED38 => (0xE000_ED38, self.cpu.sys.bfar),
            _ => return None,
        };
        let shift = (addr - base) * 8;
        (shift + size * 8 <= 32).then(|| (word >> shift) & thumb::mask(size))
    }

    /// A store of the low `size` bytes of `value`: RAM bytes become an
    /// [`Effect`]; the System Control Block registers modelled change in
    /// `cpu.sys` (SHCSR and VTOR are written, CFSR and HFSR are
    /// write-one-to-clear, B3.2). `aligned` for the stores that fault when
    /// unaligned on every core.
    fn store(&self, cpu: &mut Cpu, effects: &mut Vec<Effect>, addr: u32, size: u32, value: u32, aligned: bool) -> Result<(), Fault> {
        if (aligned || !self.map.core.v7() || cpu.sys.ccr & 8 != 0) && addr % size != 0 {
            return Err(ThumbFault::UnalignedWrite { size, addr });
        }
        if self.ram_offset(addr, size).is_some() {
            effects.push(Effect::Store(addr, value.to_le_bytes()[..size as usize].to_vec()));
            return Ok(());
        }
        if cpu.sys.nvic.write(addr, size, value, &self.map) {
            return Ok(());
        }
        let sys = &mut cpu.sys;
        match (addr, size, self.map.core) {
            (0xE000_ED08, 4, Core::M3 | Core::M4 | Core::M0Plus) => sys.vtor = value & !0x7f,
            (0xE000_ED24, 4, Core::M3 | Core::M4) => sys.shcsr = value & 0x0007_fd8b,
            (0xE000_ED14, 4, Core::M3 | Core::M4) => sys.ccr = value & 0x31b,
            (0xE000_ED28, 4, Core::M3 | Core::M4) => sys.cfsr &= !value,
            (0xE000_ED2C, 4, Core::M3 | Core::M4) => sys.hfsr &= !value,
            (periph::SYST_CSR, 4, _) => {
                let st = &mut sys.systick;
                if value & 1 != 0 && st.csr & 1 == 0 {
                    // Enabling counts on from the value held.
                    st.epoch = cpu.steps;
                } else if value & 1 == 0 && st.csr & 1 != 0 {
                    // Disabling holds the current value.
                    st.start = st.cvr(cpu.steps);
                }
                st.csr = (st.csr & (1 << 16)) | (value & 7);
            }
            (periph::SYST_RVR, 4, _) => sys.systick.rvr = value & 0x00ff_ffff,
            (periph::SYST_CVR, 4, _) => {
                // Any write clears the counter and COUNTFLAG; it reloads on the next count.
                sys.systick.start = 0;
                sys.systick.epoch = cpu.steps;
                sys.systick.csr &= !(1 << 16);
            }
            _ if periph::register(&self.board, addr & !3).is_some() => {
                let shift = (addr & 3) * 8;
                effects.push(Effect::Io(addr & !3, value << shift, thumb::mask(size) << shift))
            }
            _ if periph::device(addr) => {}
            _ => return self.check_store_at(addr, size),
        }
        Ok(())
    }

    /// A store that faults when unaligned on every core (STM, STRD, STREX, PUSH).
    fn check_store_aligned(&self, addr: u32, size: u32) -> Result<(), Fault> {
        if addr % size != 0 {
            return Err(ThumbFault::UnalignedWrite { size, addr });
        }
        self.check_store_at(addr, size)
    }

    fn check_store_at(&self, addr: u32, size: u32) -> Result<(), Fault> {
        if self.ram_offset(addr, size).is_some() {
            Ok(())
        } else if self.flash_offset(addr, size).is_some() {
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
        if self.flash_offset(addr, 1).is_some() {
            "flash"
        } else if self.ram_offset(addr, 1).is_some() {
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
            .chain(&self.info.functions)
            .filter(|(_, v)| *v <= addr && addr - *v < 0x100 && (*v >= self.map.ram_base) == (addr >= self.map.ram_base))
            .max_by_key(|(_, v)| *v);
        match best {
            Some((n, v)) if *v == addr => n.clone(),
            Some((n, v)) => format!("{n}+{:#x}", addr - v),
            None => format!("{addr:#x}"),
        }
    }
}

/// RAM contents at power-up: not zeros, but a pattern that depends on the seed.
pub fn garbage(len: usize, seed: u64) -> Vec<u8> {
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
    /// `board` names no preset.
    #[error("invalid argument: no board preset is called `{board}`; the presets are {known}")]
    UnknownBoard {
        /// What the lesson said.
        board: String,
        /// The presets.
        known: String,
    },
    /// The firmware fits no preset.
    #[error("invalid argument: {path} fits no board preset: {}", why.iter().map(|(b, e)| format!("{b}: {e}")).collect::<Vec<_>>().join("; "))]
    NoFit {
        /// The file.
        path: String,
        /// Each preset and why not.
        why: Vec<(&'static str, FitError)>,
    },
    /// The firmware does not fit the board the lesson chose.
    #[error("invalid argument: {path} does not fit the {board} board: {why}")]
    DoesNotFit {
        /// The file.
        path: String,
        /// The preset.
        board: &'static str,
        /// Why.
        why: FitError,
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

/// The registers one instruction wrote, (number, before, after): held in
/// place for up to [`RegWrites::INLINE`] (nearly every instruction writes
/// pc and one or two more), boxed beyond (LDM, POP), so a recorded
/// instruction costs no allocation. Encoded as a list either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegWrites {
    /// `n` writes in place.
    Inline(u8, [(u8, u32, u32); RegWrites::INLINE]),
    /// More.
    Boxed(Box<[(u8, u32, u32)]>),
}

impl RegWrites {
    /// Writes held in place.
    pub const INLINE: usize = 4;

    /// The writes.
    pub fn as_slice(&self) -> &[(u8, u32, u32)] {
        match self {
            RegWrites::Inline(n, w) => &w[..usize::from(*n).min(RegWrites::INLINE)],
            RegWrites::Boxed(w) => w,
        }
    }
}

impl FromIterator<(u8, u32, u32)> for RegWrites {
    fn from_iter<I: IntoIterator<Item = (u8, u32, u32)>>(writes: I) -> RegWrites {
        let mut inline = [(0, 0, 0); RegWrites::INLINE];
        let mut n = 0;
        let mut more = Vec::new();
        for w in writes {
            if n < RegWrites::INLINE {
                inline[n] = w;
                n += 1;
            } else {
                if more.is_empty() {
                    more.extend_from_slice(&inline);
                }
                more.push(w);
            }
        }
        if more.is_empty() {
            RegWrites::Inline(n as u8, inline)
        } else {
            RegWrites::Boxed(more.into_boxed_slice())
        }
    }
}

impl crate::wire::Wire for RegWrites {
    fn put(&self, out: &mut Vec<u8>) {
        let w = self.as_slice();
        crate::wire::put_varint(out, w.len() as u64);
        w.iter().for_each(|x| x.put(out));
    }
    fn get(r: &mut crate::wire::Reader<'_>) -> Result<Self, crate::wire::WireError> {
        let n = r.length()?;
        if n <= RegWrites::INLINE {
            let mut inline = [(0, 0, 0); RegWrites::INLINE];
            for w in inline.iter_mut().take(n) {
                *w = crate::wire::Wire::get(r)?;
            }
            Ok(RegWrites::Inline(n as u8, inline))
        } else {
            (0..n).map(|_| crate::wire::Wire::get(r)).collect::<Result<Vec<_>, _>>().map(|v| RegWrites::Boxed(v.into_boxed_slice()))
        }
    }
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
        regs: RegWrites,
        /// NZCV, Q and ITSTATE before and after ([`Cpu::flags`]).
        flags: [u16; 2],
    },
    /// A peripheral register changed (None: at its reset value).
    Io {
        /// Its address.
        addr: u32,
        /// Before.
        old: Option<u32>,
        /// After.
        new: Option<u32>,
    },
    /// The UART sent a byte to the console.
    Console {
        /// The byte.
        byte: u8,
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
                    for (r, old, new) in regs.as_slice() {
                        m.cpu.r[*r as usize & 15] = *pick(old, new, forward);
                    }
                    m.cpu.set_flags(*pick(&flags[0], &flags[1], forward));
                    m.cpu.steps = if forward { m.cpu.steps.saturating_add(1) } else { m.cpu.steps.saturating_sub(1) };
                }
            }
            Delta::Io { addr, old, new } => {
                if let Some(m) = st.as_mut() {
                    match pick(old, new, forward) {
                        Some(v) => m.io.regs.insert(*addr, *v),
                        None => m.io.regs.remove(addr),
                    };
                }
            }
            Delta::Console { byte } => {
                if let Some(m) = st.as_mut() {
                    if forward {
                        m.io.console.push(char::from(*byte));
                    } else {
                        m.io.console.pop();
                    }
                }
            }
            Delta::Ram { offset, old, new } => {
                if let Some(m) = st.as_mut() {
                    let b = pick(old, new, forward);
                    m.ram.set(*offset, b);
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

/// An exception's name by number.
pub fn exception_name(n: u32) -> &'static str {
    match n {
        1 => "Reset",
        2 => "NMI",
        3 => "HardFault",
        4 => "MemManage",
        5 => "BusFault",
        6 => "UsageFault",
        11 => "SVCall",
        14 => "PendSV",
        15 => "SysTick",
        _ => "an interrupt",
    }
}

/// What the fault status registers say, and why a fault became a
/// HardFault.
fn status_text(status: &Option<(u32, u32)>, exc: u32, fault: &ThumbFault) -> String {
    match status {
        None => " ARMv6-M has one fault exception, HardFault, and no fault status registers.".into(),
        Some((cfsr, hfsr)) if exc == 3 && matches!(fault, ThumbFault::Svc { .. }) => {
            format!(" {}: SVCall cannot be taken at the current priority, so it escalates to HardFault.", status_bits(*cfsr, *hfsr))
        }
        Some((cfsr, hfsr)) if exc == 3 && hfsr & (1 << 30) != 0 => format!(
            " {}: the fault's own exception is disabled in SHCSR (as from reset) or cannot preempt the current priority, so it escalates to HardFault.",
            status_bits(*cfsr, *hfsr)
        ),
        Some((cfsr, hfsr)) => format!(" {}.", status_bits(*cfsr, *hfsr)),
    }
}

/// What the entry did with the 8-word frame.
fn stacking(sp: u32, realigned: bool, stacked: bool) -> String {
    if !stacked {
        return format!("The core cannot stack its 8 registers at {sp:#x} (no RAM there: a derived fault), enters the handler anyway with nothing saved,");
    }
    format!("The core stacks 8 registers at {sp:#x}{}", if realigned { " (realigned to 8 bytes: xPSR bit 9 set)" } else { "" })
}

/// The board, where its memory is, and why it was chosen.
fn board_text(id: &str, picked: bool, skipped: &[(String, FitError)]) -> String {
    let Some(b) = board(id) else { return format!("board {id}") };
    let alias = if b.alias_zero { " (aliased at 0: boot from flash)" } else { "" };
    let why = if !picked {
        "as the lesson chose".to_string()
    } else if skipped.is_empty() {
        "the first preset the firmware fits".to_string()
    } else {
        format!(
            "the first preset the firmware fits ({})",
            skipped.iter().map(|(id, e)| format!("not {id}: {e}")).collect::<Vec<_>>().join("; ")
        )
    };
    format!(
        "board: {} ({}, {} {}), {why}: {} KiB of flash at {:#x}{alias}, {} KiB of SRAM at {:#x}, vectors at {:#x}. {}",
        b.title,
        b.chip,
        b.core.name(),
        b.core.arch(),
        b.flash_kib,
        b.flash_base,
        b.ram_kib,
        b.ram_base,
        b.vectors,
        board_note(b.id)
    )
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
        Insn { pc: u32 } = 0, Copy, "Thumb instruction (ARMv6-M, ARMv7-M)", [], "the instruction at {pc:#06x}";
        /// Flash was programmed from a firmware file.
        Flashed { path: String, parts: Vec<(u32, u32)>, used: u32 } = 1, Alloc, "flasher: PT_LOAD at p_paddr (LMA)", [],
            "flash programmed from {path}: {} (the image objcopy -O binary makes is these {used} bytes); unused flash reads 0xff",
            parts_text(parts);
        /// Power on: RAM holds its power-up pattern.
        PoweredOn { ram_kib: u32, seed: u64 } = 2, Alloc, "SRAM power-up state", [],
            "power on: {ram_kib} KiB of RAM at {:#x} hold whatever the cells powered up with (here a pattern from seed {seed}), not zeros",
            RAM_BASE;
        /// Flash was reprogrammed with the power on: RAM kept its contents.
        RamKept { ram_kib: u32 } = 14, Copy, "SRAM retention across a reset", [],
            "no power cycle (a debugger's load, then reset): the {ram_kib} KiB of RAM keep whatever the last program left in them";
        /// One word of flash was reprogrammed.
        FlashWord { addr: u32, value: u32 } = 3, Copy, "flasher", [], "flash word {addr:#x} reprogrammed to {value:#010x}";
        /// Reset read the initial SP.
        ResetSp { sp: u32, at: u32 } = 4, Process, "TakeReset (ARMv6-M, ARMv7-M)", [],
            "reset: the core reads word 0 of the vector table at {at:#x}, {sp:#010x}, into SP{}{}",
            if sp & 3 != 0 { format!(" (as {:#010x}: SP's bits 1:0 are always 0)", sp & !3) } else { String::new() },
            if *at == 0 { String::new() } else { format!(" (VTOR = {at:#x})") };
        /// Reset read the reset vector into PC.
        ResetPc { reset: u32, sym: String } = 6, Process, "TakeReset (ARMv6-M, ARMv7-M)", [],
            "and word 1, {reset:#010x}, into PC: execution starts at {:#x} <{sym}>{}", reset & !1,
            if reset & 1 == 1 {
                " (bit 0 set: EPSR.T = 1, Thumb state)".to_string()
            } else {
                " with EPSR.T = 0, since bit 0 is clear: Cortex-M has no ARM state, so that first instruction will fault (INVSTATE), not the reset itself".to_string()
            };
        /// The program branches to itself.
        Idle { pc: u32 } = 7, Process, "", [], "{pc:#x} branches to itself: the program is idling in its endless loop";
        /// A fault inside the HardFault handler: lockup.
        DoubleFault { fault: ThumbFault } = 8, Error, "Lockup (ARMv6-M, ARMv7-M)", [], "LOCKUP: {fault}, while already handling a HardFault";
        /// A fault taken through its exception's vector.
        Exception { fault: ThumbFault, exc: u32, sp: u32, vector: u32, handler: String, status: Option<(u32, u32)>, realigned: bool, stacked: bool } = 10, Error,
            "ExceptionEntry (ARMv6-M, ARMv7-M)", [],
            "{}: {fault}.{} {} and jumps to vector {exc}, {:#x} <{handler}>",
            exception_name(*exc), status_text(status, *exc, fault), stacking(*sp, *realigned, *stacked), vector & !1;
        /// An interrupt taken through its vector.
        Interrupt { exc: u32, sp: u32, vector: u32, handler: String, priority: i32, was: i32 } = 12, Process, "ExceptionEntry (ARMv6-M, ARMv7-M)", [],
            "{}{}: pending at priority {}, above the execution priority {}, so it is taken: the core stacks 8 registers at {sp:#x} and jumps to vector {exc}, {:#x} <{handler}>",
            nvic::exception_name(*exc), nvic::pended_by(*exc), nvic::priority_text(*priority), nvic::priority_text(*was), vector & !1;
        /// `svc` took the SVCall exception.
        SvCall { imm: u32, pc: u32, sp: u32, vector: u32, handler: String } = 15, Process, "ExceptionEntry (ARMv6-M, ARMv7-M)", [],
            "svc #{imm} at {pc:#x}: the SVCall exception (11), the way an OS's system calls enter it; the core stacks 8 registers at {sp:#x} (the return address is the next instruction) and jumps to vector 11, {:#x} <{handler}>", vector & !1;
        /// Bytes the UART sent.
        Console { text: String } = 13, Syscall, "UART transmit data register", [], "the UART sends {text:?} to the console";
        /// The board the firmware runs on.
        BoardChosen { board: String, picked: bool, skipped: Vec<(String, FitError)> } = 11, Alloc, "board preset", [],
            "{}", board_text(board, *picked, skipped);
    }
}

crate::wire_enum! {
    ThumbFault {
        UnalignedRead { size, addr } = 0,
        UnalignedWrite { size, addr } = 1,
        NoMemoryRead(a) = 2,
        NoMemoryWrite(a) = 3,
        FlashWrite(a) = 4,
        Fetch(f) = 5,
        InvState { pc } = 6,
        InvPc { value } = 7,
        ExecuteNever { addr } = 13,
        DivByZero { pc } = 14,
        Bkpt { imm, pc } = 8,
        Svc { imm, pc } = 9,
        Udf(a) = 10,
        Unsupported { pc, hw, lo, thumb2 } = 11,
        Undefined { pc, hw, lo, thumb2 } = 12,
    }
}

/// What the instruction at `pc` of `before` (the board just before it ran)
/// does, in words: its address and symbol, the disassembly, what it did.
pub fn describe(pc: u32, before: &McuState) -> String {
    let mut cpu = before.cpu.clone();
    match execute(before, &mut cpu, true) {
        Ok((text, note, _)) => {
            let note = if note.is_empty() { String::new() } else { format!(": {note}") };
            format!("{pc:#06x} <{}>{}  {text}{note}", before.symbolize(pc), source_of(before, pc))
        }
        Err(fault) => format!("{pc:#06x} <{}>{}  {fault}", before.symbolize(pc), source_of(before, pc)),
    }
}

/// " main.c:21" when the firmware's line table knows the instruction's line.
fn source_of(m: &McuState, pc: u32) -> String {
    m.info.source_line(pc).map(|(f, l)| format!(" {}:{l}", f.rsplit(['/', '\\']).next().unwrap_or(f))).unwrap_or_default()
}

/// What the board's code works on: the board (if one is loaded), the
/// files a firmware can be flashed from, and the journal.
pub struct Ctx<'a> {
    /// The board.
    pub mcu: &'a mut Option<Box<McuState>>,
    /// Files by path (the host's, where firmware images come from).
    pub files: &'a OrdMap<String, Arc<[u8]>>,
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
    /// writes them; RAM holds garbage. The board is `board`, or the first
    /// preset the firmware fits ([`pick`]); `flash_kib` and `ram_kib`
    /// override the preset's sizes.
    pub fn mcu_load(
        &mut self,
        path: &str,
        board: Option<&str>,
        flash_kib: Option<u32>,
        ram_kib: Option<u32>,
        seed: u64,
        keep_ram: bool,
    ) -> R<Outcome> {
        let Some(data) = self.files.get(path).cloned() else {
            return Err(Error::NoSuchFile(path.into()));
        };
        let info = Firmware::parse(&data).map_err(|error| Error::Firmware { path: path.into(), error })?;
        let Chosen { board: b, skipped, flash_kib, ram_kib } = choose_board(&info, path, board, flash_kib, ram_kib)?;
        let mut flash = vec![0xff; flash_kib as usize * 1024];
        for (lma, bytes) in &info.image {
            // fits() put every byte in flash.
            let o = (lma - b.flash_base) as usize;
            flash[o..o + bytes.len()].copy_from_slice(bytes);
        }
        // objcopy -O binary writes from the lowest load address to the highest end.
        let first = info.image.iter().map(|(a, _)| *a).min().unwrap_or(0);
        let used = info.image.iter().map(|(a, b)| a + b.len() as u32).max().unwrap_or(0) - first;
        let parts: Vec<(u32, u32)> = info.image.iter().map(|(a, b)| (*a, b.len() as u32)).collect();
        // Without a power cycle the same RAM keeps its contents.
        let kept =
            self.mcu.as_deref().filter(|m| keep_ram && m.board == b.id && m.ram.len() == ram_kib as usize * 1024).map(|m| m.ram.clone());
        let ram = kept.clone().unwrap_or_else(|| Ram::power_on(ram_kib as usize * 1024, seed));
        let st = McuState {
            firmware: path.into(),
            board: b.id.into(),
            map: b.map(),
            info: Arc::new(info),
            flash: Flash(Arc::new(flash)),
            ram,
            io: Io::default(),
            cpu: Cpu::default(),
        };
        let old = self.mcu.clone();
        self.delta(Delta::Load { old, new: Some(Box::new(st)) });
        self.event(Ev::BoardChosen {
            board: b.id.into(),
            picked: board.is_none(),
            skipped: skipped.into_iter().map(|(id, e)| (id.to_string(), e)).collect(),
        });
        self.event(Ev::Flashed { path: path.into(), parts, used });
        if kept.is_some() {
            self.event(Ev::RamKept { ram_kib });
        } else {
            self.event(Ev::PoweredOn { ram_kib, seed });
        }
        Ok(Outcome::Ok)
    }

    /// Puts one word into flash, as reprogramming it would (to show what a
    /// broken image does).
    pub fn mcu_write_flash(&mut self, addr: u32, value: u32) -> R<Outcome> {
        let mut st = self.mcu()?.clone();
        let Some(o) = st.flash_offset(addr, 4).filter(|_| addr % 4 == 0) else {
            return Err(Error::NotFlashWord(addr));
        };
        let mut flash = st.flash.to_vec();
        flash[o..o + 4].copy_from_slice(&value.to_le_bytes());
        st.flash = Flash(Arc::new(flash));
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
        if old.ipsr != cpu.ipsr || old.lockup != cpu.lockup || cpu.steps != old.steps.wrapping_add(1) || old.sys != cpu.sys {
            return self.set_cpu(cpu);
        }
        let regs: RegWrites =
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

    /// Reset (TakeReset in the ARMv6-M and ARMv7-M manuals): VTOR to the
    /// board's vector table, SP from its word 0, PC from word 1.
    pub fn mcu_reset(&mut self) -> R<Outcome> {
        let st = self.mcu()?.clone();
        let at = st.map.vectors;
        let sp = st.load(at, 4).unwrap_or(0);
        let reset = st.load(at.wrapping_add(4), 4).unwrap_or(0);
        let mut cpu = Cpu::default();
        cpu.r[13] = sp & !3;
        cpu.r[14] = 0xffff_ffff;
        cpu.sys.vtor = at;
        cpu.sys.ccr = if st.map.core.v7() { 0x200 } else { 0x208 };
        // EPSR.T comes from bit 0; nothing is checked here: a bad SP or PC
        // faults at the first instruction that uses it.
        cpu.t_clear = reset & 1 == 0;
        cpu.r[15] = reset & !1;
        let sym = st.symbolize(reset & !1);
        self.event(Ev::ResetSp { sp, at });
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
            if st.cpu.sys.nvic.any_pending() && self.take_interrupt()? {
                continue;
            }
            let st = self.mcu()?;
            let mut cpu = st.cpu.clone();
            let pc = cpu.r[15];
            let step = execute(st, &mut cpu, false).map(|(_, _, effects)| {
                let mut load = None;
                let mut stores: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
                let mut io: Vec<Delta> = Vec::new();
                let mut read_csr = false;
                for e in effects {
                    match e {
                        Effect::Store(addr, bytes) => {
                            // execute() checked that these bytes are RAM.
                            if let Some(off) = st.ram_offset(addr, bytes.len() as u32) {
                                stores.push((off, st.ram.get(off, bytes.len()).unwrap_or_default(), bytes));
                            }
                        }
                        Effect::Load(addr) => {
                            load = Some(addr);
                            read_csr |= addr & !3 == periph::SYST_CSR;
                        }
                        Effect::Io(addr, value, mask) => {
                            let old = periph::read_register(&st.board, &st.io, addr).unwrap_or(0);
                            let (changes, byte) = periph::write_register(&st.board, &st.io, addr, (old & !mask) | (value & mask));
                            for (a, v) in changes {
                                io.push(Delta::Io { addr: a, old: st.io.regs.get(&a).copied(), new: Some(v) });
                            }
                            io.extend(byte.map(|byte| Delta::Console { byte }));
                        }
                    }
                }
                (load, stores, io, read_csr)
            });
            let ram_base = st.map.ram_base;
            match step {
                Ok((load, stores, io, read_csr)) => {
                    if read_csr {
                        // Reading SYST_CSR clears COUNTFLAG.
                        cpu.sys.systick.csr &= !(1 << 16);
                    }
                    let idle = cpu.r[15] == pc;
                    let mut focus: Vec<Focus> =
                        stores.iter().map(|(off, _, _)| Focus::McuAddr { addr: ram_base + *off as u32, write: true }).collect();
                    if let Some(addr) = load {
                        focus.push(Focus::McuAddr { addr, write: false });
                    }
                    for (offset, old, new) in stores {
                        self.delta(Delta::Ram { offset, old, new });
                    }
                    let printed: Vec<u8> =
                        io.iter().filter_map(|d| if let Delta::Console { byte } = d { Some(*byte) } else { None }).collect();
                    for d in io {
                        self.delta(d);
                    }
                    if cpu.sys.systick.wraps_at(cpu.steps) {
                        // The counter reached 0: COUNTFLAG, and with TICKINT the exception pends.
                        cpu.sys.systick.csr |= 1 << 16;
                        if cpu.sys.systick.csr & 2 != 0 {
                            cpu.sys.nvic.set_pending(15);
                        }
                    }
                    self.step_cpu(cpu);
                    self.j.event(Ev::Insn { pc }, focus);
                    if !printed.is_empty() {
                        self.event(Ev::Console { text: String::from_utf8_lossy(&printed).into_owned() });
                    }
                    if idle && stop.is_none() {
                        self.event(Ev::Idle { pc });
                        return Ok(Outcome::Ok);
                    }
                }
                Err(fault @ ThumbFault::Unsupported { .. }) => return Err(Error::Unsupported(fault)),
                Err(ThumbFault::Svc { imm, pc }) => self.mcu_svc(imm, pc)?,
                Err(fault) => self.mcu_fault(fault)?,
            }
        }
        match stop {
            Some(until) => Err(Error::NotReached { until, max }),
            None => Ok(Outcome::Ok),
        }
    }

    /// A fault: on ARMv7-M the fault status bits are set ([`fault_status`])
    /// and, the configurable fault being disabled in SHCSR (as from reset),
    /// it escalates to HardFault with HFSR.FORCED; an enabled one is taken
    /// through its own vector. On ARMv6-M every fault is a HardFault.
    /// The exception is entered by [`Ctx::enter`]; a fault inside the
    /// HardFault handler (or with FAULTMASK set) locks up instead.
    fn mcu_fault(&mut self, fault: ThumbFault) -> R<()> {
        let st = self.mcu()?;
        let mut cpu = st.cpu.clone();
        let mut exc = 3;
        let mut status = None;
        if st.map.core.v7() {
            let (cfsr, bfar, hfsr, own) = fault_status(&fault);
            cpu.sys.cfsr |= cfsr;
            if let Some(a) = bfar {
                cpu.sys.bfar = a;
            }
            let exec = cpu.execution_priority();
            match own {
                // SHCSR bits 16 (MemManage, 4), 17 (BusFault, 5), 18 (UsageFault, 6):
                // enabled, and of a priority above the execution priority.
                Some(n) if cpu.sys.shcsr & (1 << (12 + n)) != 0 && cpu.sys.nvic.can_preempt(n, exec) => exc = n,
                Some(_) => cpu.sys.hfsr |= 1 << 30,
                None => cpu.sys.hfsr |= hfsr,
            }
            status = Some((cpu.sys.cfsr, cpu.sys.hfsr));
        }
        let v7 = st.map.core.v7();
        // HardFault (-1) cannot preempt at -1 (in the HardFault handler, or FAULTMASK set).
        if exc == 3 && !cpu.sys.nvic.can_preempt(3, cpu.execution_priority()) {
            cpu.lockup = Some(format!("a fault inside the HardFault handler: {fault}"));
            self.set_cpu(cpu);
            self.event(Ev::DoubleFault { fault });
            return Ok(());
        }
        let Entry { sp, realigned, vector, handler, stacked } = self.enter(&mut cpu, exc);
        // A frame that cannot be stacked (no RAM there) is a derived fault
        // (STKERR on ARMv7-M), but the handler is entered all the same, with
        // nothing saved (Cortex-M3 TRM, "Fault handling"; not a lockup).
        if !stacked && v7 {
            cpu.sys.cfsr |= 1 << 12;
            status = Some((cpu.sys.cfsr, cpu.sys.hfsr));
        }
        self.set_cpu(cpu);
        self.event(Ev::Exception { fault, exc, sp, vector, handler, status, realigned, stacked });
        Ok(())
    }

    /// Enters exception `exc` from `cpu` (PushStack and ExceptionTaken in
    /// the ARMv7-M manual): the 8-word frame below SP, aligned as
    /// [`Cpu::stack_align`] says, stacked where there is RAM (else nothing is
    /// saved); LR = EXC_RETURN (0xFFFFFFFD when thread mode ran on PSP, so
    /// the handler switches to MSP; else 0xFFFFFFF9, or 0xFFFFFFF1 from a
    /// handler); PC and EPSR.T from the vector; IPSR = exc; ITSTATE cleared;
    /// the exclusive monitor closed.
    fn enter(&mut self, cpu: &mut Cpu, exc: u32) -> Entry {
        let frame_sp = cpu.r[13].wrapping_sub(32);
        let sp = frame_sp & cpu.stack_align();
        let realigned = sp != frame_sp;
        let Some(st) = self.mcu.as_deref() else {
            return Entry { sp, realigned, vector: 0, handler: String::new(), stacked: false };
        };
        let vector = st.load(cpu.sys.vtor.wrapping_add(4 * exc), 4).unwrap_or(0);
        let handler = st.symbolize(vector & !1);
        let stacked = st.check_store_aligned(sp, 4).is_ok() && st.check_store_aligned(sp.wrapping_add(28), 4).is_ok();
        if let (true, Some(off)) = (stacked, st.ram_offset(sp, 32)) {
            let old_frame = st.ram.get(off, 32).unwrap_or_default();
            let xpsr = cpu.xpsr() | (u32::from(realigned) << 9);
            let frame = [cpu.r[0], cpu.r[1], cpu.r[2], cpu.r[3], cpu.r[12], cpu.r[14], cpu.r[15], xpsr];
            let bytes: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
            self.delta(Delta::Ram { offset: off, old: old_frame, new: bytes });
        }
        let on_psp = cpu.ipsr == 0 && cpu.sys.control & 2 != 0;
        cpu.r[14] = if cpu.ipsr != 0 {
            0xffff_fff1
        } else if on_psp {
            0xffff_fffd
        } else {
            0xffff_fff9
        };
        cpu.r[13] = sp;
        if on_psp {
            // Handler mode runs on MSP.
            std::mem::swap(&mut cpu.r[13], &mut cpu.sys.other_sp);
        }
        // ExceptionEntry: CONTROL.SPSEL = 0 (the return's EXC_RETURN says which stack thread mode resumes on).
        cpu.sys.control &= !2;
        cpu.r[15] = vector & !1;
        // EPSR.T from the vector's bit 0: an even vector faults (INVSTATE) at the handler's first instruction.
        cpu.t_clear = vector & 1 == 0;
        cpu.ipsr = exc;
        cpu.sys.nvic.activate(exc);
        cpu.it = 0;
        cpu.sys.monitor = false;
        Entry { sp, realigned, vector, handler, stacked }
    }

    /// SVC: the SVCall exception (11), taken at once with the next
    /// instruction as its return address when its priority is above the
    /// execution priority; else (PRIMASK set, or in a handler of the same
    /// or higher priority) it escalates to HardFault.
    fn mcu_svc(&mut self, imm: u32, pc: u32) -> R<()> {
        let st = self.mcu()?;
        if !st.cpu.sys.nvic.can_preempt(11, st.cpu.execution_priority()) {
            // The svc completes and SVCall escalates to HardFault: the
            // frame's return address is the next instruction, as for SVCall.
            let mut cpu = st.cpu.clone();
            cpu.r[15] = pc.wrapping_add(2);
            cpu.steps += 1;
            self.set_cpu(cpu);
            return self.mcu_fault(ThumbFault::Svc { imm, pc });
        }
        let mut cpu = st.cpu.clone();
        cpu.r[15] = pc.wrapping_add(2);
        cpu.steps += 1;
        let Entry { sp, vector, handler, .. } = self.enter(&mut cpu, 11);
        self.set_cpu(cpu);
        self.event(Ev::SvCall { imm, pc, sp, vector, handler });
        Ok(())
    }

    /// Takes the pending exception that can preempt, if one can
    /// ([`nvic::Nvic::preempting`]: the highest-priority pending one whose
    /// group priority is above the execution priority). Returns whether it did.
    fn take_interrupt(&mut self) -> R<bool> {
        let st = self.mcu()?;
        let c = &st.cpu;
        let exec = c.execution_priority();
        let Some(exc) = c.sys.nvic.preempting(exec) else {
            return Ok(false);
        };
        let mut cpu = c.clone();
        let Entry { sp, vector, handler, .. } = self.enter(&mut cpu, exc);
        let (priority, was) = (i32::from(cpu.sys.nvic.priority(exc)), i32::from(exec));
        self.set_cpu(cpu);
        self.event(Ev::Interrupt { exc, sp, vector, handler, priority, was });
        Ok(true)
    }
}

/// What [`Ctx::enter`] did: the frame's address, whether it was realigned
/// and stacked, and the vector taken.
struct Entry {
    sp: u32,
    realigned: bool,
    vector: u32,
    handler: String,
    stacked: bool,
}

/// What a fault sets on ARMv7-M (the CFSR, HFSR and
/// BFAR registers): CFSR bits, the address BFAR latches, HFSR bits for a fault that
/// is a HardFault itself, and the configurable exception (4 MemManage, 5
/// BusFault, 6 UsageFault) the fault belongs to.
fn fault_status(f: &ThumbFault) -> (u32, Option<u32>, u32, Option<u32>) {
    const PRECISERR: u32 = 1 << 9;
    const BFARVALID: u32 = 1 << 15;
    match f {
        ThumbFault::UnalignedRead { .. } | ThumbFault::UnalignedWrite { .. } => (1 << 24, None, 0, Some(6)),
        ThumbFault::NoMemoryRead(a) | ThumbFault::NoMemoryWrite(a) | ThumbFault::FlashWrite(a) => {
            (PRECISERR | BFARVALID, Some(*a), 0, Some(5))
        }
        // IBUSERR: the fetch itself.
        ThumbFault::Fetch(_) => (1 << 8, None, 0, Some(5)),
        ThumbFault::InvState { .. } => (1 << 17, None, 0, Some(6)),
        ThumbFault::InvPc { .. } => (1 << 18, None, 0, Some(6)),
        // IACCVIOL: MemManage, though the MPU is off (the default map's XN regions).
        ThumbFault::ExecuteNever { .. } => (1 << 0, None, 0, Some(4)),
        ThumbFault::Udf(_) | ThumbFault::Undefined { .. } => (1 << 16, None, 0, Some(6)),
        ThumbFault::DivByZero { .. } => (1 << 25, None, 0, Some(6)),
        // BKPT with halting debug off: HardFault with HFSR.DEBUGEVT (C1.5).
        ThumbFault::Bkpt { .. } => (0, None, 1 << 31, None),
        // A masked SVC escalates: HardFault with FORCED.
        ThumbFault::Svc { .. } => (0, None, 1 << 30, None),
        ThumbFault::Unsupported { .. } => (0, None, 0, None),
    }
}

/// The names of the fault status bits set in CFSR and HFSR.
pub fn status_bits(cfsr: u32, hfsr: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (1 << 0, "IACCVIOL"),
        (1 << 1, "DACCVIOL"),
        (1 << 8, "IBUSERR"),
        (1 << 9, "PRECISERR"),
        (1 << 10, "IMPRECISERR"),
        (1 << 12, "STKERR"),
        (1 << 15, "BFARVALID"),
        (1 << 16, "UNDEFINSTR"),
        (1 << 17, "INVSTATE"),
        (1 << 18, "INVPC"),
        (1 << 19, "NOCP"),
        (1 << 24, "UNALIGNED"),
        (1 << 25, "DIVBYZERO"),
    ];
    let c: Vec<&str> = NAMES.iter().filter(|(b, _)| cfsr & b != 0).map(|(_, n)| *n).collect();
    let h: Vec<&str> = [(1 << 1, "VECTTBL"), (1 << 30, "FORCED"), (1u32 << 31, "DEBUGEVT")]
        .iter()
        .filter(|(b, _)| hfsr & b != 0)
        .map(|(_, n)| *n)
        .collect();
    format!(
        "CFSR = {cfsr:#010x} ({}), HFSR = {hfsr:#010x} ({})",
        if c.is_empty() { "none".into() } else { c.join(", ") },
        if h.is_empty() { "none".into() } else { h.join(", ") }
    )
}

crate::wire_struct! {
    FwSection { name, vma, lma, size, flags }
    Firmware { sections, symbols, functions, image, entry, arch, segments, files, lines }
    SysRegs { primask, faultmask, basepri, control, other_sp, cfsr, hfsr, bfar, monitor, shcsr, vtor, ccr, systick, nvic }
    Cpu { r, n, z, c, v, q, it, t_clear, sys, ipsr, lockup, steps }
    McuState { firmware, board, map, info, flash, ram, io, cpu }
}

crate::wire_enum! {
    Focus { McuAddr { addr, write } = 0 }
    Delta { Load { old, new } = 0, Cpu { old, new } = 1, Ram { offset, old, new } = 2, Step { regs, flags } = 3, Io { addr, old, new } = 4, Console { byte } = 5 }
}
