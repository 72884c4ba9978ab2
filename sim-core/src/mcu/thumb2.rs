//! The 32-bit Thumb encodings: ARMv7-M's Thumb-2 (Cortex-M3, and the
//! ARMv7E-M extend-and-add, halfword multiply and saturating ones the
//! Cortex-M4 adds), and on ARMv6-M the few it has (BL, MSR, MRS, DMB, DSB,
//! ISB). The yaxpeax-arm crate decodes each instruction to an opcode and
//! operands; this file executes them (ARMv7-M Architecture Reference Manual,
//! A7.7, each instruction's "Operation"). yaxpeax-arm decodes MRS and MSR
//! as the A profile has them, so their M-profile form (B5.2.2, B5.2.3: a
//! SYSm number naming MSP, PSP, PRIMASK, ...) is decoded here first.

use super::thumb::{add_with_carry, mask, passed, COND, REG};
use super::*;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv7::{ConditionCode, InstDecoder, Instruction, Opcode as Op, Operand as O, Reg, RegShift, RegShiftStyle, ShiftStyle};

type Out = Result<(String, String, Vec<Effect>), Fault>;

/// Shift_C (A7.4.2): the shifted value and the carry out.
pub(super) fn shift_c(v: u32, style: ShiftStyle, n: u32, carry: bool) -> (u32, bool) {
    if n == 0 && style != ShiftStyle::RRX {
        return (v, carry);
    }
    match style {
        ShiftStyle::LSL => match n {
            1..=31 => (v << n, (v >> (32 - n)) & 1 == 1),
            32 => (0, v & 1 == 1),
            _ => (0, false),
        },
        ShiftStyle::LSR => match n {
            1..=31 => (v >> n, (v >> (n - 1)) & 1 == 1),
            32 => (0, v >> 31 == 1),
            _ => (0, false),
        },
        ShiftStyle::ASR => {
            let s = n.min(32);
            let r = if s == 32 { ((v as i32) >> 31) as u32 } else { ((v as i32) >> s) as u32 };
            (r, ((v as i32 >> (s - 1).min(31)) & 1) == 1)
        }
        ShiftStyle::ROR => {
            let r = v.rotate_right(n % 32);
            (r, r >> 31 == 1)
        }
        ShiftStyle::RRX => ((u32::from(carry) << 31) | (v >> 1), v & 1 == 1),
    }
}

fn shift_name(s: ShiftStyle) -> &'static str {
    match s {
        ShiftStyle::LSL => "lsl",
        ShiftStyle::LSR => "lsr",
        ShiftStyle::ASR => "asr",
        ShiftStyle::ROR => "ror",
        ShiftStyle::RRX => "rrx",
    }
}

fn cond_number(c: ConditionCode) -> u32 {
    match c {
        ConditionCode::EQ => 0,
        ConditionCode::NE => 1,
        ConditionCode::HS => 2,
        ConditionCode::LO => 3,
        ConditionCode::MI => 4,
        ConditionCode::PL => 5,
        ConditionCode::VS => 6,
        ConditionCode::VC => 7,
        ConditionCode::HI => 8,
        ConditionCode::LS => 9,
        ConditionCode::GE => 10,
        ConditionCode::LT => 11,
        ConditionCode::GT => 12,
        ConditionCode::LE => 13,
        _ => 14,
    }
}

/// The core being changed, and what the instruction needs to know.
struct X<'a> {
    m: &'a McuState,
    cpu: &'a mut Cpu,
    pc: u32,
    effects: Vec<Effect>,
    note: String,
    t: bool,
}

impl X<'_> {
    /// A register as an operand: pc reads as the instruction's address + 4.
    fn r(&self, reg: Reg) -> u32 {
        match reg.number() {
            15 => self.pc.wrapping_add(4),
            n => self.cpu.r[n as usize],
        }
    }

    fn set(&mut self, reg: Reg, v: u32) {
        self.cpu.r[reg.number() as usize & 15] = v;
    }

    /// A data-processing result into its destination (pc as one is not
    /// executed here: interworking through ALU writes is left out).
    fn set_result(&mut self, reg: Reg, v: u32) -> Result<(), Stop> {
        if reg.number() == 15 {
            return Err(Stop::Unsupported);
        }
        self.set(reg, v);
        Ok(())
    }

    fn nz(&mut self, v: u32) {
        self.cpu.n = v >> 31 == 1;
        self.cpu.z = v == 0;
    }

    /// A shifted register operand's value and carry out.
    fn shifted(&self, s: &RegShift) -> (u32, bool) {
        match s.into_shift() {
            RegShiftStyle::RegImm(x) => shift_c(self.r(x.shiftee()), x.stype(), u32::from(x.imm()), self.cpu.c),
            RegShiftStyle::RegReg(x) => shift_c(self.r(x.shiftee()), x.stype(), self.r(x.shifter()) & 0xff, self.cpu.c),
        }
    }

    /// A flexible second operand's value and the carry a logical
    /// instruction sets from it. `imm_carry` is the carry of a modified
    /// immediate (ThumbExpandImm_C), which the decoded value has lost.
    fn op2(&self, o: &O, imm_carry: bool) -> Option<(u32, bool)> {
        Some(match o {
            O::Reg(r) => (self.r(*r), self.cpu.c),
            O::RegShift(s) => self.shifted(s),
            O::Imm32(v) => (*v, imm_carry),
            O::Imm12(v) => (u32::from(*v), imm_carry),
            _ => return None,
        })
    }

    /// A memory operand's address and the base register's new value, if it
    /// writes back. The pc as a base is Align(pc + 4, 4).
    fn address(&self, o: &O) -> Option<(u32, Option<(Reg, u32)>)> {
        let base = |r: &Reg| if r.number() == 15 { self.pc.wrapping_add(4) & !3 } else { self.r(*r) };
        let off = |b: u32, add: bool, x: u32| if add { b.wrapping_add(x) } else { b.wrapping_sub(x) };
        Some(match o {
            O::RegDeref(r) => (base(r), None),
            O::RegDerefPreindexOffset(r, x, add, wb) => {
                let a = off(base(r), *add, u32::from(*x));
                (a, wb.then_some((*r, a)))
            }
            O::RegDerefPostindexOffset(r, x, add, _) => (base(r), Some((*r, off(base(r), *add, u32::from(*x))))),
            O::RegDerefPreindexReg(r, rm, add, wb) => {
                let a = off(base(r), *add, self.r(*rm));
                (a, wb.then_some((*r, a)))
            }
            O::RegDerefPreindexRegShift(r, s, add, wb) => {
                let a = off(base(r), *add, self.shifted(s).0);
                (a, wb.then_some((*r, a)))
            }
            O::RegDerefPostindexReg(r, rm, add, _) => (base(r), Some((*r, off(base(r), *add, self.r(*rm))))),
            O::RegDerefPostindexRegShift(r, s, add, _) => (base(r), Some((*r, off(base(r), *add, self.shifted(s).0)))),
            _ => return None,
        })
    }

    fn load(&mut self, addr: u32, size: u32, aligned: bool) -> Result<u32, Fault> {
        let v = if aligned { self.m.read_aligned(addr, size)? } else { self.m.read(addr, size)? };
        self.effects.push(Effect::Load(addr));
        if self.t && self.note.is_empty() {
            self.note = format!("read {v:#x} from {addr:#x} ({}, {})", self.m.place(addr), self.m.symbolize(addr));
        }
        Ok(v)
    }

    fn store(&mut self, addr: u32, size: u32, value: u32, aligned: bool) -> Result<(), Fault> {
        self.m.store(self.cpu, &mut self.effects, addr, size, value & mask(size), aligned)?;
        if self.t {
            self.note = format!("{:#x} stored at {addr:#x} ({}, {})", value & mask(size), self.m.place(addr), self.m.symbolize(addr));
        }
        Ok(())
    }

    /// LoadWritePC / BXWritePC: EPSR.T from the value's bit 0 (clear: the
    /// next instruction faults, INVSTATE); pc the value without it.
    fn write_pc(&mut self, v: u32) -> u32 {
        self.cpu.t_clear = v & 1 == 0;
        v & !1
    }
}

/// The decoder: ARMv7 Thumb.
fn decoder() -> InstDecoder {
    InstDecoder::armv7_thumb()
}

/// Opcodes of the DSP extension (ARMv7E-M: the Cortex-M4, not the M3).
fn dsp(op: Op) -> bool {
    matches!(
        op,
        Op::SXTAB
            | Op::SXTAH
            | Op::UXTAB
            | Op::UXTAH
            | Op::SMUL(..)
            | Op::SMLA(..)
            | Op::SMLAW(..)
            | Op::SMULW(..)
            | Op::SMAL(..)
            | Op::UMAAL
            | Op::QADD
            | Op::QSUB
            | Op::QDADD
            | Op::QDSUB
            | Op::PKHBT
            | Op::PKHTB
            | Op::SEL
            | Op::SMMUL
            | Op::SMMLA
            | Op::SMMLS
            | Op::SMMLAR
            | Op::SMMLSR
            | Op::SMUAD
            | Op::SMUSD
            | Op::SMLAD
            | Op::SMLSD
            | Op::SMLALD(..)
            | Op::SMLSLD(..)
    )
}

/// Executes the 32-bit instruction `hw`, `lo` at pc.
pub(super) fn execute32(m: &McuState, cpu: &mut Cpu, hw: u32, lo: u32, t: bool) -> Out {
    let pc = cpu.r[15];
    let core = m.map.core;
    let undefined = ThumbFault::Undefined { pc, hw, lo: Some(lo), thumb2: !core.v7() };
    let mut x = X { m, cpu, pc, effects: Vec::new(), note: String::new(), t };
    if let Some(text) = system(&mut x, hw, lo)? {
        return finish(x, pc.wrapping_add(4), text);
    }
    let bytes = [hw as u8, (hw >> 8) as u8, lo as u8, (lo >> 8) as u8];
    let Ok(inst) = decoder().decode(&mut U8Reader::new(&bytes)) else { return Err(undefined) };
    if !inst.wide {
        return Err(undefined);
    }
    if !core.v7() && !matches!(inst.opcode, Op::BL | Op::DMB | Op::DSB | Op::ISB) {
        return Err(undefined);
    }
    if dsp(inst.opcode) && core != Core::M4 {
        return Err(undefined);
    }
    let text = if t { disassemble(m, &inst, pc, lo) } else { String::new() };
    let next = run(&mut x, &inst, hw, lo).map_err(|e| match e {
        Stop::Fault(f) => f,
        Stop::Undefined => undefined.clone(),
        Stop::Unsupported => ThumbFault::Unsupported { pc, hw, lo: Some(lo), thumb2: true },
    })?;
    finish(x, next, text)
}

fn finish(x: X<'_>, next: u32, text: String) -> Out {
    x.cpu.r[15] = next;
    x.cpu.steps += 1;
    Ok((text, x.note, x.effects))
}

/// Why an instruction did not complete.
enum Stop {
    Fault(Fault),
    Undefined,
    Unsupported,
}

impl From<Fault> for Stop {
    fn from(f: Fault) -> Stop {
        Stop::Fault(f)
    }
}

/// MRS and MSR as ARMv6-M and ARMv7-M encode them (B5.2.2, B5.2.3): SYSm
/// 0-3 the xPSR views, 5 IPSR, 8 MSP, 9 PSP, 16 PRIMASK, 17 BASEPRI, 18
/// BASEPRI_MAX, 19 FAULTMASK, 20 CONTROL. Returns None for other encodings.
fn system(x: &mut X<'_>, hw: u32, lo: u32) -> Result<Option<String>, Fault> {
    let v7 = x.m.map.core.v7();
    let mrs = hw == 0xf3ef && lo & 0xf000 == 0x8000;
    let msr = hw & 0xfff0 == 0xf380 && lo & 0xff00 == 0x8800;
    if !mrs && !msr {
        return Ok(None);
    }
    let sysm = lo & 0xff;
    let name = match sysm {
        0 => "apsr",
        1 => "iapsr",
        2 => "eapsr",
        3 => "xpsr",
        5 => "ipsr",
        6 => "epsr",
        7 => "iepsr",
        8 => "msp",
        9 => "psp",
        16 => "primask",
        17 if v7 => "basepri",
        18 if v7 => "basepri_max",
        19 if v7 => "faultmask",
        20 => "control",
        _ => return Err(ThumbFault::Undefined { pc: x.pc, hw, lo: Some(lo), thumb2: false }),
    };
    let psp_active = x.cpu.sys.control & 2 != 0 && x.cpu.ipsr == 0;
    if mrs {
        let rd = ((lo >> 8) & 15) as usize;
        let c = &*x.cpu;
        let apsr = (u32::from(c.flags()) & 0xf) << 28 | u32::from(c.q) << 27;
        let v = match sysm {
            0..=3 | 5..=7 => (if sysm & 4 == 0 { apsr } else { 0 }) | (if sysm & 1 != 0 { c.ipsr } else { 0 }),
            8 => {
                if psp_active {
                    c.sys.other_sp
                } else {
                    c.r[13]
                }
            }
            9 => {
                if psp_active {
                    c.r[13]
                } else {
                    c.sys.other_sp
                }
            }
            16 => u32::from(c.sys.primask),
            17 | 18 => u32::from(c.sys.basepri),
            19 => u32::from(c.sys.faultmask),
            _ => u32::from(c.sys.control),
        };
        x.cpu.r[rd] = v;
        return Ok(Some(txt!(x.t, "mrs {}, {name}", REG[rd])));
    }
    let rn = (hw & 15) as usize;
    let v = x.cpu.r[rn];
    let privileged = x.cpu.ipsr != 0 || x.cpu.sys.control & 1 == 0;
    match sysm {
        // APSR_nzcvq (mask bit 11): the flags.
        0..=3 if lo & 0x800 != 0 => {
            (x.cpu.n, x.cpu.z, x.cpu.c, x.cpu.v, x.cpu.q) =
                (v >> 31 == 1, v >> 30 & 1 == 1, v >> 29 & 1 == 1, v >> 28 & 1 == 1, v >> 27 & 1 == 1);
        }
        8 | 9 if privileged => {
            let active = (sysm == 9) == psp_active;
            if active {
                x.cpu.r[13] = v & !3;
            } else {
                x.cpu.sys.other_sp = v & !3;
            }
        }
        16 if privileged => x.cpu.sys.primask = v & 1 == 1,
        17 if privileged => x.cpu.sys.basepri = v as u8,
        // BASEPRI_MAX only raises the priority mask.
        18 if privileged && v as u8 != 0 && (x.cpu.sys.basepri == 0 || (v as u8) < x.cpu.sys.basepri) => x.cpu.sys.basepri = v as u8,
        19 if privileged => x.cpu.sys.faultmask = v & 1 == 1,
        20 if privileged => {
            // SPSEL can change only in thread mode; changing it swaps the stack pointers.
            let new = (v & 3) as u8;
            if x.cpu.ipsr == 0 && (new ^ x.cpu.sys.control) & 2 != 0 {
                std::mem::swap(&mut x.cpu.r[13], &mut x.cpu.sys.other_sp);
            }
            x.cpu.sys.control = if x.cpu.ipsr == 0 { new } else { (x.cpu.sys.control & 2) | (new & 1) };
        }
        _ => {}
    }
    let target = if sysm <= 3 { "apsr_nzcvq" } else { name };
    Ok(Some(txt!(x.t, "msr {target}, {}", REG[rn])))
}

/// The carry a modified immediate sets (ThumbExpandImm_C, A5.3.2), for
/// the data-processing (modified immediate) encodings.
fn imm_carry(hw: u32, lo: u32, c: bool, value: u32) -> bool {
    let modified = hw & 0xfa00 == 0xf000 && lo & 0x8000 == 0;
    let imm12 = (((hw >> 10) & 1) << 11) | (((lo >> 12) & 7) << 8) | (lo & 0xff);
    if modified && imm12 >> 10 != 0 {
        value >> 31 == 1
    } else {
        c
    }
}

/// Executes a decoded instruction; returns the next pc.
#[allow(clippy::too_many_lines)]
fn run(x: &mut X<'_>, i: &Instruction, hw: u32, lo: u32) -> Result<u32, Stop> {
    let pc = x.pc;
    let next = pc.wrapping_add(4);
    let ops = &i.operands;
    let reg = |o: &O| match o {
        O::Reg(r) | O::RegWBack(r, _) => Some(*r),
        _ => None,
    };
    let need = |o: &O| reg(o).ok_or(Stop::Unsupported);
    match i.opcode {
        Op::AND | Op::ORR | Op::EOR | Op::BIC | Op::ORN | Op::TST | Op::TEQ | Op::MOV | Op::MVN => {
            let (d, n, src) = match i.opcode {
                Op::TST | Op::TEQ => (None, Some(need(&ops[0])?), &ops[1]),
                Op::MOV | Op::MVN => (Some(need(&ops[0])?), None, &ops[1]),
                _ => (Some(need(&ops[0])?), Some(need(&ops[1])?), &ops[2]),
            };
            let (b, carry) = x.op2(src, x.cpu.c).ok_or(Stop::Unsupported)?;
            let carry = if matches!(src, O::Imm32(_)) { imm_carry(hw, lo, x.cpu.c, b) } else { carry };
            let a = n.map(|n| x.r(n)).unwrap_or(0);
            let r = match i.opcode {
                Op::AND | Op::TST => a & b,
                Op::ORR => a | b,
                Op::EOR | Op::TEQ => a ^ b,
                Op::BIC => a & !b,
                Op::ORN => a | !b,
                Op::MOV => b,
                _ => !b,
            };
            if let Some(d) = d {
                x.set_result(d, r)?;
            }
            if i.s || d.is_none() {
                x.nz(r);
                x.cpu.c = carry;
            }
        }
        Op::MOVT => {
            let d = need(&ops[0])?;
            let O::Imm32(v) = ops[1] else { return Err(Stop::Unsupported) };
            let r = (x.r(d) & 0xffff) | (v << 16);
            x.set(d, r);
        }
        Op::ADD | Op::ADC | Op::SUB | Op::SBC | Op::RSB | Op::CMP | Op::CMN => {
            let (d, n, src) = match i.opcode {
                Op::CMP | Op::CMN => (None, need(&ops[0])?, &ops[1]),
                _ => (Some(need(&ops[0])?), need(&ops[1])?, &ops[2]),
            };
            let (b, _) = x.op2(src, x.cpu.c).ok_or(Stop::Unsupported)?;
            // ADDW/SUBW from pc (ADR) use Align(pc, 4).
            let a = if n.number() == 15 { pc.wrapping_add(4) & !3 } else { x.r(n) };
            let (r, c, v) = match i.opcode {
                Op::ADD | Op::CMN => add_with_carry(a, b, false),
                Op::ADC => add_with_carry(a, b, x.cpu.c),
                Op::SUB | Op::CMP => add_with_carry(a, !b, true),
                Op::SBC => add_with_carry(a, !b, x.cpu.c),
                _ => add_with_carry(!a, b, true),
            };
            if let Some(d) = d {
                x.set_result(d, r)?;
            }
            if i.s || d.is_none() {
                x.nz(r);
                x.cpu.c = c;
                x.cpu.v = v;
            }
        }
        Op::LSL | Op::LSR | Op::ASR | Op::ROR | Op::RRX => {
            let d = need(&ops[0])?;
            let m = need(&ops[1])?;
            let style = match i.opcode {
                Op::LSL => ShiftStyle::LSL,
                Op::LSR => ShiftStyle::LSR,
                Op::ASR => ShiftStyle::ASR,
                Op::ROR => ShiftStyle::ROR,
                _ => ShiftStyle::RRX,
            };
            let n = match &ops[2] {
                O::Reg(s) => x.r(*s) & 0xff,
                O::Imm12(v) => u32::from(*v),
                O::Imm32(v) => *v,
                O::Nothing => 1,
                _ => return Err(Stop::Unsupported),
            };
            // An immediate LSR/ASR of 0 encodes 32 (DecodeImmShift).
            let n = if matches!(ops[2], O::Imm12(0) | O::Imm32(0)) && matches!(style, ShiftStyle::LSR | ShiftStyle::ASR) { 32 } else { n };
            let (r, c) = shift_c(x.r(m), style, n, x.cpu.c);
            x.set(d, r);
            if i.s {
                x.nz(r);
                x.cpu.c = c;
            }
        }
        Op::MUL | Op::MLA | Op::MLS => {
            let (d, n, m) = (need(&ops[0])?, need(&ops[1])?, need(&ops[2])?);
            let p = x.r(n).wrapping_mul(x.r(m));
            let r = match i.opcode {
                Op::MUL => p,
                Op::MLA => p.wrapping_add(x.r(need(&ops[3])?)),
                _ => x.r(need(&ops[3])?).wrapping_sub(p),
            };
            x.set(d, r);
            if i.s {
                x.nz(r);
            }
        }
        Op::UMULL | Op::SMULL | Op::UMLAL | Op::SMLAL | Op::UMAAL => {
            let (lo_r, hi_r, n, m) = (need(&ops[0])?, need(&ops[1])?, need(&ops[2])?, need(&ops[3])?);
            let (a, b) = (x.r(n), x.r(m));
            let acc = (u64::from(x.r(hi_r)) << 32) | u64::from(x.r(lo_r));
            let r: u64 = match i.opcode {
                Op::UMULL => u64::from(a) * u64::from(b),
                Op::SMULL => (i64::from(a as i32) * i64::from(b as i32)) as u64,
                Op::UMLAL => (u64::from(a) * u64::from(b)).wrapping_add(acc),
                Op::SMLAL => ((i64::from(a as i32) * i64::from(b as i32)) as u64).wrapping_add(acc),
                _ => u64::from(a) * u64::from(b) + u64::from(x.r(lo_r)) + u64::from(x.r(hi_r)),
            };
            x.set(lo_r, r as u32);
            x.set(hi_r, (r >> 32) as u32);
        }
        Op::UDIV | Op::SDIV => {
            // Division by zero gives 0, unless CCR.DIV_0_TRP (0 from reset) makes it a UsageFault.
            let (d, n, m) = (need(&ops[0])?, need(&ops[1])?, need(&ops[2])?);
            let (a, b) = (x.r(n), x.r(m));
            if b == 0 && x.cpu.sys.ccr & 0x10 != 0 {
                return Err(Stop::Fault(ThumbFault::DivByZero { pc }));
            }
            let r = match (i.opcode, b) {
                (_, 0) => 0,
                (Op::UDIV, _) => a / b,
                _ => (a as i32).wrapping_div(b as i32) as u32,
            };
            x.set(d, r);
        }
        Op::CLZ | Op::RBIT | Op::REV | Op::REV16 | Op::REVSH => {
            let (d, m) = (need(&ops[0])?, need(&ops[1])?);
            let v = x.r(m);
            let r = match i.opcode {
                Op::CLZ => v.leading_zeros(),
                Op::RBIT => v.reverse_bits(),
                Op::REV => v.swap_bytes(),
                Op::REV16 => ((v & 0x00ff_00ff) << 8) | ((v & 0xff00_ff00) >> 8),
                _ => (v as u16).swap_bytes() as i16 as i32 as u32,
            };
            x.set(d, r);
        }
        Op::SXTB | Op::SXTH | Op::UXTB | Op::UXTH | Op::SXTAB | Op::SXTAH | Op::UXTAB | Op::UXTAH => {
            let add = matches!(i.opcode, Op::SXTAB | Op::SXTAH | Op::UXTAB | Op::UXTAH);
            let d = need(&ops[0])?;
            let (n, m, rot) = if add { (Some(need(&ops[1])?), need(&ops[2])?, &ops[3]) } else { (None, need(&ops[1])?, &ops[2]) };
            let rot = match rot {
                O::Ror(r) => u32::from(*r),
                _ => 0,
            };
            let v = x.r(m).rotate_right(rot);
            let e = match i.opcode {
                Op::SXTB | Op::SXTAB => v as u8 as i8 as i32 as u32,
                Op::SXTH | Op::SXTAH => v as u16 as i16 as i32 as u32,
                Op::UXTB | Op::UXTAB => v & 0xff,
                _ => v & 0xffff,
            };
            x.set(d, n.map(|n| x.r(n).wrapping_add(e)).unwrap_or(e));
        }
        Op::BFI | Op::BFC | Op::UBFX | Op::SBFX => {
            let d = need(&ops[0])?;
            let imm = |o: &O| match o {
                O::Imm12(v) => Some(u32::from(*v)),
                O::Imm32(v) => Some(*v),
                _ => None,
            };
            let lsb = imm(&ops[2]).ok_or(Stop::Unsupported)?;
            // yaxpeax-arm 0.5 keeps 4 of BFC's 5 msb bits: read them from the encoding.
            let last = if i.opcode == Op::BFC { lo & 0x1f } else { imm(&ops[3]).ok_or(Stop::Unsupported)? };
            match i.opcode {
                Op::BFI | Op::BFC => {
                    // The decoder gives lsb and msb.
                    if last < lsb || last > 31 {
                        return Err(Stop::Undefined);
                    }
                    let width = last - lsb + 1;
                    let field = if width == 32 { u32::MAX } else { ((1u32 << width) - 1) << lsb };
                    let src = if i.opcode == Op::BFI { x.r(need(&ops[1])?) << lsb } else { 0 };
                    let r = (x.r(d) & !field) | (src & field);
                    x.set(d, r);
                }
                _ => {
                    // The decoder gives lsb and width.
                    let width = last;
                    if width == 0 || lsb + width > 32 {
                        return Err(Stop::Undefined);
                    }
                    let v = x.r(need(&ops[1])?) >> lsb;
                    let r = if width == 32 {
                        v
                    } else if i.opcode == Op::UBFX {
                        v & ((1 << width) - 1)
                    } else {
                        (((v << (32 - width)) as i32) >> (32 - width)) as u32
                    };
                    x.set(d, r);
                }
            }
        }
        Op::SSAT | Op::USAT => {
            let d = need(&ops[0])?;
            let O::Imm32(bits) = ops[1] else { return Err(Stop::Unsupported) };
            let O::RegShift(s) = &ops[2] else { return Err(Stop::Unsupported) };
            let v = i64::from(x.shifted(s).0 as i32);
            let (lo_v, hi_v) =
                if i.opcode == Op::SSAT { (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1) } else { (0, (1i64 << bits) - 1) };
            let r = v.clamp(lo_v, hi_v);
            if r != v {
                x.cpu.q = true;
            }
            x.set(d, r as u32);
        }
        Op::QADD | Op::QSUB | Op::QDADD | Op::QDSUB => {
            let (d, m, n) = (need(&ops[0])?, need(&ops[1])?, need(&ops[2])?);
            let sat = |v: i64, q: &mut bool| {
                let r = v.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                if r != v {
                    *q = true;
                }
                r
            };
            let mut q = x.cpu.q;
            let (a, b) = (i64::from(x.r(m) as i32), i64::from(x.r(n) as i32));
            let b = if matches!(i.opcode, Op::QDADD | Op::QDSUB) { sat(2 * b, &mut q) } else { b };
            let r = if matches!(i.opcode, Op::QADD | Op::QDADD) { sat(a + b, &mut q) } else { sat(a - b, &mut q) };
            x.cpu.q = q;
            x.set(d, r as u32);
        }
        Op::SMUL(nt, mt) | Op::SMLA(nt, mt) => {
            let (d, n, m) = (need(&ops[0])?, need(&ops[1])?, need(&ops[2])?);
            let half = |v: u32, top: bool| i64::from(if top { (v >> 16) as i16 } else { v as i16 });
            let p = half(x.r(n), nt) * half(x.r(m), mt);
            let r = if let Op::SMLA(..) = i.opcode {
                let s = p + i64::from(x.r(need(&ops[3])?) as i32);
                if s != i64::from(s as i32) {
                    x.cpu.q = true;
                }
                s
            } else {
                p
            };
            x.set(d, r as u32);
        }
        Op::B | Op::BL => {
            let O::BranchThumbOffset(off) = ops[0] else { return Err(Stop::Unsupported) };
            let target = next.wrapping_add((off as u32).wrapping_mul(2));
            if i.opcode == Op::BL {
                x.cpu.r[14] = next | 1;
                return Ok(target);
            }
            let cond = cond_number(i.condition);
            let taken = passed(x.cpu, cond);
            if cond != 14 {
                x.note = txt!(x.t, "{}", if taken { "taken" } else { "not taken" });
            }
            return Ok(if taken { target } else { next });
        }
        Op::TBB | Op::TBH => {
            let (a, _) = x.address(&ops[0]).ok_or(Stop::Unsupported)?;
            // The table's base is pc (+4), not word-aligned; TBH's index is shifted by 1.
            let a = match &ops[0] {
                O::RegDerefPreindexReg(r, rm, ..) if r.number() == 15 => next.wrapping_add(x.r(*rm)),
                O::RegDerefPreindexRegShift(r, s, ..) if r.number() == 15 => next.wrapping_add(x.shifted(s).0),
                _ => a,
            };
            let size = if i.opcode == Op::TBB { 1 } else { 2 };
            let h = x.load(a, size, false)?;
            if x.t {
                x.note = format!("table entry {h} at {a:#x}: branch forward {} bytes", 2 * h);
            }
            return Ok(next.wrapping_add(2 * h));
        }
        Op::LDR
        | Op::LDRB
        | Op::LDRH
        | Op::LDRSB
        | Op::LDRSH
        | Op::LDRT
        | Op::LDRBT
        | Op::LDRHT
        | Op::LDRSBT
        | Op::LDRSHT
        | Op::LDREX
        | Op::LDREXB
        | Op::LDREXH => {
            let d = need(&ops[0])?;
            let (a, wb) = x.address(&ops[1]).ok_or(Stop::Unsupported)?;
            let (size, signed) = match i.opcode {
                Op::LDRB | Op::LDRBT | Op::LDREXB => (1, false),
                Op::LDRSB | Op::LDRSBT => (1, true),
                Op::LDRH | Op::LDRHT | Op::LDREXH => (2, false),
                Op::LDRSH | Op::LDRSHT => (2, true),
                _ => (4, false),
            };
            let excl = matches!(i.opcode, Op::LDREX | Op::LDREXB | Op::LDREXH);
            let v = x.load(a, size, excl)?;
            let v = match (size, signed) {
                (1, true) => v as u8 as i8 as i32 as u32,
                (2, true) => v as u16 as i16 as i32 as u32,
                _ => v,
            };
            if excl {
                x.cpu.sys.monitor = true;
            }
            if let Some((r, nb)) = wb {
                x.set(r, nb);
            }
            if d.number() == 15 {
                return Ok(x.write_pc(v));
            }
            x.set(d, v);
        }
        Op::STR | Op::STRB | Op::STRH | Op::STRT | Op::STRBT | Op::STRHT => {
            let d = need(&ops[0])?;
            let (a, wb) = x.address(&ops[1]).ok_or(Stop::Unsupported)?;
            let size = match i.opcode {
                Op::STRB | Op::STRBT => 1,
                Op::STRH | Op::STRHT => 2,
                _ => 4,
            };
            let v = x.r(d);
            x.store(a, size, v, false)?;
            if let Some((r, nb)) = wb {
                x.set(r, nb);
            }
        }
        Op::STREX | Op::STREXB | Op::STREXH => {
            let (status, src) = (need(&ops[0])?, need(&ops[1])?);
            let (a, _) = x.address(&ops[2]).ok_or(Stop::Unsupported)?;
            let size = match i.opcode {
                Op::STREXB => 1,
                Op::STREXH => 2,
                _ => 4,
            };
            // One core: the store succeeds (0) while the local monitor is open.
            let ok = x.cpu.sys.monitor;
            if ok {
                let v = x.r(src);
                x.store(a, size, v, true)?;
            }
            x.cpu.sys.monitor = false;
            x.set(status, u32::from(!ok));
        }
        Op::CLREX => x.cpu.sys.monitor = false,
        Op::LDRD | Op::STRD => {
            let (t1, t2) = (need(&ops[0])?, need(&ops[1])?);
            let (a, wb) = x.address(&ops[2]).ok_or(Stop::Unsupported)?;
            if i.opcode == Op::LDRD {
                let v1 = x.load(a, 4, true)?;
                let v2 = x.load(a.wrapping_add(4), 4, true)?;
                x.set(t1, v1);
                x.set(t2, v2);
            } else {
                let (v1, v2) = (x.r(t1), x.r(t2));
                x.store(a, 4, v1, true)?;
                x.store(a.wrapping_add(4), 4, v2, true)?;
            }
            if let Some((r, nb)) = wb {
                x.set(r, nb);
            }
        }
        Op::PUSH | Op::POP | Op::LDM(..) | Op::STM(..) => {
            let (base, list, wback, up) = match i.opcode {
                Op::PUSH => (13, ops[0], true, false),
                Op::POP => (13, ops[0], true, true),
                Op::LDM(add, _, w, _) | Op::STM(add, _, w, _) => (need(&ops[0])?.number() as usize, ops[1], w, add),
                _ => return Err(Stop::Unsupported),
            };
            let O::RegList(list) = list else { return Err(Stop::Unsupported) };
            let list = u32::from(list);
            let n = list.count_ones();
            let load = matches!(i.opcode, Op::POP | Op::LDM(..));
            let b = x.cpu.r[base];
            let start = if up { b } else { b.wrapping_sub(4 * n) };
            let end = if up { b.wrapping_add(4 * n) } else { start };
            let mut a = start;
            let mut new_pc = None;
            for r in 0..16 {
                if list & (1 << r) == 0 {
                    continue;
                }
                if load {
                    let v = x.load(a, 4, true)?;
                    if r == 15 {
                        new_pc = Some(x.write_pc(v));
                    } else {
                        x.cpu.r[r] = v;
                    }
                } else {
                    let v = x.cpu.r[r];
                    x.store(a, 4, v, true)?;
                }
                a = a.wrapping_add(4);
            }
            if wback && !(load && list & (1 << base) != 0) {
                x.cpu.r[base] = end;
            }
            if x.t {
                x.note = format!("{n} word{} {} {start:#x}", if n == 1 { "" } else { "s" }, if load { "loaded from" } else { "stored at" });
            }
            if let Some(p) = new_pc {
                return Ok(p);
            }
        }
        Op::WFI => x.note = super::thumb::wfi(x.cpu, x.t),
        Op::NOP | Op::WFE | Op::SEV | Op::YIELD | Op::DMB | Op::DSB | Op::ISB | Op::PLD | Op::PLI | Op::HINT => {}
        Op::UDF => return Err(Stop::Fault(ThumbFault::Udf(pc))),
        _ => return Err(Stop::Unsupported),
    }
    Ok(next)
}

/// The instruction in GNU assembler syntax (as `arm-none-eabi-objdump -d`
/// writes it, without the encoding): registers by name, `#` immediates in
/// decimal, branch targets with their symbol.
fn disassemble(m: &McuState, i: &Instruction, pc: u32, lo: u32) -> String {
    let cond = match i.opcode {
        Op::B if cond_number(i.condition) != 14 => COND[cond_number(i.condition) as usize],
        _ => "",
    };
    // BL has only a 32-bit form: objdump writes no .w.
    let wide = i.thumb_w && i.opcode != Op::BL;
    let mn = format!("{}{}{cond}{}", i.opcode, if i.s { "s" } else { "" }, if wide { ".w" } else { "" });
    let reg = |r: &Reg| REG[r.number() as usize & 15].to_string();
    // objdump adds the hex of an immediate past a byte as a comment.
    let imm = |v: i64| if (-255..=255).contains(&v) { format!("#{v}") } else { format!("#{v}  @ {:#x}", v as u32) };
    let shift = |s: &RegShift| match s.into_shift() {
        RegShiftStyle::RegImm(x) if x.stype() == ShiftStyle::LSL && x.imm() == 0 => reg(&x.shiftee()),
        RegShiftStyle::RegImm(x) if x.stype() == ShiftStyle::RRX => format!("{}, rrx", reg(&x.shiftee())),
        RegShiftStyle::RegImm(x) => format!("{}, {} #{}", reg(&x.shiftee()), shift_name(x.stype()), x.imm()),
        RegShiftStyle::RegReg(x) => format!("{}, {} {}", reg(&x.shiftee()), shift_name(x.stype()), reg(&x.shifter())),
    };
    let sign = |add: bool| if add { "" } else { "-" };
    let ops: Vec<String> = i
        .operands
        .iter()
        .filter(|o| !matches!(o, O::Nothing))
        .filter_map(|o| {
            Some(match o {
                O::Reg(r) => reg(r),
                O::RegWBack(r, wb) => format!("{}{}", reg(r), if *wb { "!" } else { "" }),
                O::RegList(l) => format!("{{{}}}", (0..16).filter(|b| l & (1 << b) != 0).map(|b| REG[b]).collect::<Vec<_>>().join(", ")),
                O::RegDeref(r) => format!("[{}]", reg(r)),
                O::RegShift(s) => shift(s),
                O::RegDerefPreindexOffset(r, 0, true, false) => format!("[{}]", reg(r)),
                O::RegDerefPreindexOffset(r, x, add, wb) => {
                    format!("[{}, #{}{x}]{}", reg(r), sign(*add), if *wb { "!" } else { "" })
                }
                O::RegDerefPostindexOffset(r, x, add, _) => format!("[{}], #{}{x}", reg(r), sign(*add)),
                O::RegDerefPreindexReg(r, rm, add, wb) => format!("[{}, {}{}]{}", reg(r), sign(*add), reg(rm), if *wb { "!" } else { "" }),
                O::RegDerefPreindexRegShift(r, s, add, wb) => {
                    format!("[{}, {}{}]{}", reg(r), sign(*add), shift(s), if *wb { "!" } else { "" })
                }
                O::RegDerefPostindexReg(r, rm, add, _) => format!("[{}], {}{}", reg(r), sign(*add), reg(rm)),
                O::RegDerefPostindexRegShift(r, s, add, _) => format!("[{}], {}{}", reg(r), sign(*add), shift(s)),
                O::Imm12(v) => imm(i64::from(*v)),
                O::Imm32(v) => imm(i64::from(*v)),
                O::BranchThumbOffset(off) => {
                    let target = pc.wrapping_add(4).wrapping_add((*off as u32).wrapping_mul(2));
                    format!("{target:#x} <{}>", m.symbolize(target))
                }
                O::Ror(r) => format!("ror #{r}"),
                _ => return None,
            })
        })
        .collect();
    let ops = match i.opcode {
        // BFC's decoded operands hold pc and the msb; GNU writes lsb and width.
        Op::BFC | Op::BFI => {
            let lsb = match &i.operands[2] {
                O::Imm12(l) => u32::from(*l),
                _ => 0,
            };
            let msb = lo & 0x1f;
            let width = (msb + 1).saturating_sub(lsb);
            if i.opcode == Op::BFC {
                vec![ops[0].clone(), format!("#{lsb}"), format!("#{width}")]
            } else {
                vec![ops[0].clone(), ops[1].clone(), format!("#{lsb}"), format!("#{width}")]
            }
        }
        _ => ops,
    };
    if ops.is_empty() {
        mn
    } else {
        format!("{mn} {}", ops.join(", "))
    }
}
