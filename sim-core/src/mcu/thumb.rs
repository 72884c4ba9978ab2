//! The Thumb (ARMv6-M) interpreter: one instruction decoded and executed
//! at a time, its effects on memory returned for the journal.

use super::*;

pub(super) const REG: [&str; 16] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"];
pub(super) const COND: [&str; 16] = ["eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv"];

pub(super) fn add_with_carry(x: u32, y: u32, carry: bool) -> (u32, bool, bool) {
    let sum = u64::from(x) + u64::from(y) + u64::from(carry);
    let r = sum as u32;
    let signed = i64::from(x as i32) + i64::from(y as i32) + i64::from(carry);
    (r, sum > u64::from(u32::MAX), i64::from(r as i32) != signed)
}

pub(super) fn reglist(list: u32, extra: Option<&str>) -> String {
    let mut v: Vec<String> = (0..8).filter(|i| list & (1 << i) != 0).map(|i| REG[i].to_string()).collect();
    if let Some(e) = extra {
        v.push(e.into());
    }
    format!("{{{}}}", v.join(", "))
}

/// Executes one instruction on a copy of the core. Returns the disassembly
/// and a description of what it did (both empty unless `t`), and the memory
/// it reads and writes; `Err` is a fault (or an instruction the simulator
/// does not model). Recording runs it with `t` false; showing the event runs
/// it again, with `t`, on the core as it was before ([`describe`]).
///
/// Inside an IT block (ARMv7-M A7.3.2) an instruction whose condition fails
/// is skipped, and a 16-bit data-processing instruction does not set the
/// flags (`adds` assembles as `add<c>` there); ITSTATE advances after each.
pub(super) fn execute(m: &McuState, cpu: &mut Cpu, t: bool) -> Result<(String, String, Vec<Effect>), Fault> {
    let pc = cpu.r[15];
    if cpu.t_clear {
        return Err(ThumbFault::InvState { pc });
    }
    let hw = m.fetch(pc & !1)?;
    let wide = hw >> 11 >= 0b11101;
    let lo = if wide { Some(m.fetch((pc & !1).wrapping_add(2))?) } else { None };
    let handler = cpu.ipsr != 0;
    let (text, note, effects) = conditional(m, cpu, hw, lo, t)?;
    // A handler branching to EXC_RETURN returns from the exception.
    if handler && cpu.r[15] >= 0xffff_fff0 {
        let back = exception_return(m, cpu)?;
        return Ok((text, txt!(t, "{}{}{back}", note, if note.is_empty() { "" } else { "; " }), effects));
    }
    Ok((text, note, effects))
}

/// ExceptionReturn (ARMv6-M, ARMv7-M): EXC_RETURN 0xFFFFFFF1 returns to
/// handler mode on MSP, 0xFFFFFFF9 to thread mode on MSP, 0xFFFFFFFD to
/// thread mode on PSP; the 8 stacked words are restored (xPSR's flags, IT
/// bits and exception number) and the stack pointer moves past them (4 more
/// when xPSR bit 9 says the entry realigned it). Any other value is INVPC.
fn exception_return(m: &McuState, cpu: &mut Cpu) -> Result<String, Fault> {
    let ret = cpu.r[15] | 1;
    let (to_handler, psp) = match ret {
        0xffff_fff1 => (true, false),
        0xffff_fff9 => (false, false),
        0xffff_fffd => (false, true),
        _ => return Err(ThumbFault::InvPc { value: ret }),
    };
    let sp = if psp { cpu.sys.other_sp } else { cpu.r[13] };
    let mut w = [0u32; 8];
    for (i, v) in w.iter_mut().enumerate() {
        *v = m.read_aligned(sp.wrapping_add(4 * i as u32), 4)?;
    }
    let xpsr = w[7];
    cpu.r[..4].copy_from_slice(&w[..4]);
    cpu.r[12] = w[4];
    cpu.r[14] = w[5];
    cpu.r[15] = w[6] & !1;
    (cpu.n, cpu.z, cpu.c, cpu.v, cpu.q) =
        (xpsr >> 31 == 1, xpsr >> 30 & 1 == 1, xpsr >> 29 & 1 == 1, xpsr >> 28 & 1 == 1, xpsr >> 27 & 1 == 1);
    cpu.it = (((xpsr >> 25) & 3) | (((xpsr >> 10) & 0x3f) << 2)) as u8;
    cpu.t_clear = xpsr & (1 << 24) == 0;
    let after = sp.wrapping_add(32 + if xpsr & (1 << 9) != 0 { 4 } else { 0 });
    let from = cpu.ipsr;
    cpu.sys.nvic.deactivate(from);
    // Returning from any exception but NMI clears FAULTMASK (ARMv7-M).
    if from != 2 {
        cpu.sys.faultmask = false;
    }
    cpu.ipsr = if to_handler { xpsr & 0x1ff } else { 0 };
    // CONTROL.SPSEL: thread mode goes on with the stack EXC_RETURN names
    // (0xFFFFFFFD: PSP, as an RTOS starts its first task).
    if !to_handler {
        cpu.sys.control = (cpu.sys.control & !2) | if psp { 2 } else { 0 };
    }
    if psp {
        // Back on PSP: MSP (in r13 while handling) is kept aside.
        cpu.sys.other_sp = cpu.r[13];
        cpu.r[13] = after;
    } else {
        cpu.r[13] = after;
    }
    Ok(format!(
        "exception return from exception {from}: EXC_RETURN {ret:#x} unstacks 8 words at {sp:#x}, back to {} at {:#x}",
        if to_handler { "handler mode" } else { "thread mode" },
        cpu.r[15]
    ))
}

/// One instruction, under the IT block's condition if there is one.
fn conditional(m: &McuState, cpu: &mut Cpu, hw: u32, lo: Option<u32>, t: bool) -> Result<(String, String, Vec<Effect>), Fault> {
    let pc = cpu.r[15];
    let wide = lo.is_some();
    let it = cpu.it;
    if it & 0xf == 0 {
        return match lo {
            Some(lo) => thumb2::execute32(m, cpu, hw, lo, t),
            None => execute16(m, cpu, hw, t),
        };
    }
    let cond = u32::from(it >> 4);
    let size = if wide { 4 } else { 2 };
    if !passed(cpu, cond) {
        // Disassemble it on a scratch core, for the words only.
        let text = if t {
            let mut scratch = cpu.clone();
            scratch.it = 0;
            let r = match lo {
                Some(lo) => thumb2::execute32(m, &mut scratch, hw, lo, true),
                None => execute16(m, &mut scratch, hw, true),
            };
            r.map(|(text, _, _)| in_it(&text, cond, wide)).unwrap_or_else(|_| format!("{hw:#06x}"))
        } else {
            String::new()
        };
        cpu.r[15] = pc.wrapping_add(size);
        cpu.it = it_advance(it);
        cpu.steps += 1;
        return Ok((text, txt!(t, "condition {} fails: skipped (IT block)", COND[cond as usize & 15]), Vec::new()));
    }
    let flags = (cpu.n, cpu.z, cpu.c, cpu.v);
    let (text, note, effects) = match lo {
        Some(lo) => thumb2::execute32(m, cpu, hw, lo, t)?,
        None => {
            let r = execute16(m, cpu, hw, t)?;
            // CMP, CMN and TST set the flags in an IT block too.
            let compare = (hw >> 10 == 0b010000 && matches!((hw >> 6) & 15, 8 | 10 | 11)) || hw >> 11 == 0b00101 || hw >> 8 == 0b01000101;
            if !compare {
                (cpu.n, cpu.z, cpu.c, cpu.v) = flags;
            }
            r
        }
    };
    // IT itself set ITSTATE; a branch or exception leaves the block.
    if cpu.it == it {
        cpu.it = it_advance(it);
    }
    Ok((if t { in_it(&text, cond, wide) } else { text }, note, effects))
}

/// WFI: the core sleeps until an interrupt while SysTick goes on counting
/// (each count is one clock cycle here, as each instruction is one).
pub(super) fn wfi(cpu: &mut Cpu, t: bool) -> String {
    // A pending exception that could preempt were PRIMASK clear wakes it at once (B1.5.19).
    let unmasked = cpu.sys.nvic.execution_priority(false, cpu.sys.faultmask, cpu.sys.basepri);
    if cpu.sys.nvic.preempting(unmasked).is_some() {
        return txt!(t, "an exception is pending, so the core does not sleep");
    }
    match cpu.sys.systick.until_zero(cpu.steps) {
        Some(n) if n > 1 => {
            cpu.steps += n - 1;
            txt!(t, "the core sleeps {} clock cycles, until SysTick reaches 0", n - 1)
        }
        Some(_) => String::new(),
        None => txt!(t, "no interrupt can wake it here; the simulator goes on"),
    }
}

/// ITAdvance (ARMv7-M A7.3.2).
fn it_advance(it: u8) -> u8 {
    if it & 7 == 0 {
        0
    } else {
        (it & 0xe0) | ((it << 1) & 0x1f)
    }
}

/// ConditionPassed for a condition code 0-15 (A7.3.1).
pub(super) fn passed(cpu: &Cpu, cond: u32) -> bool {
    let r = match cond >> 1 {
        0 => cpu.z,
        1 => cpu.c,
        2 => cpu.n,
        3 => cpu.v,
        4 => cpu.c && !cpu.z,
        5 => cpu.n == cpu.v,
        6 => !cpu.z && cpu.n == cpu.v,
        _ => return true,
    };
    if cond & 1 == 1 && cond != 15 {
        !r
    } else {
        r
    }
}

/// An instruction's words inside an IT block: the condition after the
/// mnemonic, and no `s` on a 16-bit data-processing one.
fn in_it(text: &str, cond: u32, wide: bool) -> String {
    let (mn, rest) = text.split_once(' ').unwrap_or((text, ""));
    let (base, suffix) = match mn.find('.') {
        Some(i) => mn.split_at(i),
        None => (mn, ""),
    };
    const S16: &[&str] = &[
        "movs", "adds", "subs", "ands", "eors", "lsls", "lsrs", "asrs", "adcs", "sbcs", "rors", "rsbs", "negs", "orrs", "muls", "bics",
        "mvns",
    ];
    let base = if !wide && S16.contains(&base) { &base[..base.len() - 1] } else { base };
    let cc = if cond >= 14 { "" } else { COND[cond as usize] };
    if rest.is_empty() {
        format!("{base}{cc}{suffix}")
    } else {
        format!("{base}{cc}{suffix} {rest}")
    }
}

/// One 16-bit instruction.
#[allow(clippy::needless_range_loop)] // register lists index r0..r7 by number
fn execute16(m: &McuState, cpu: &mut Cpu, hw: u32, t: bool) -> Result<(String, String, Vec<Effect>), Fault> {
    let pc = cpu.r[15];
    let v7 = m.map.core.v7();
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
                txt!(t, "movs {}, {}", REG[rd], REG[rn])
            } else {
                txt!(t, "{name} {}, {}, #{imm}", REG[rd], REG[rn])
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
                txt!(t, "{op} {}, {}, #{y}", REG[rd], REG[rn])
            } else {
                txt!(t, "{op} {}, {}, {}", REG[rd], REG[rn], REG[rm])
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
                    txt!(t, "movs {}, #{imm}", REG[r])
                }
                1 => {
                    let (res, c, v) = add_with_carry(cpu.r[r], !imm, true);
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    txt!(t, "cmp {}, #{imm}", REG[r])
                }
                2 => {
                    let (res, c, v) = add_with_carry(cpu.r[r], imm, false);
                    cpu.r[r] = res;
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    txt!(t, "adds {}, #{imm}", REG[r])
                }
                _ => {
                    let (res, c, v) = add_with_carry(cpu.r[r], !imm, true);
                    cpu.r[r] = res;
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    txt!(t, "subs {}, #{imm}", REG[r])
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
                9 => txt!(t, "rsbs {}, {}, #0", REG[rd], REG[rn]),
                _ => txt!(t, "{} {}, {}", names[op as usize], REG[rd], REG[rn]),
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
                    txt!(t, "add {}, {}", REG[rdn], REG[rm])
                }
                1 => {
                    let (res, c, v) = add_with_carry(val(cpu, rdn), !val(cpu, rm), true);
                    set_nz(cpu, res);
                    cpu.c = c;
                    cpu.v = v;
                    txt!(t, "cmp {}, {}", REG[rdn], REG[rm])
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
                        txt!(t, "mov {}, {}", REG[rdn], REG[rm])
                    }
                }
                _ => {
                    let target = val(cpu, rm);
                    let link = hw & 0x80 != 0;
                    if link {
                        cpu.r[14] = next | 1;
                    }
                    // BXWritePC: EPSR.T from bit 0 (clear: the next instruction faults).
                    cpu.t_clear = target & 1 == 0;
                    next = target & !1;
                    txt!(t, "{} {}", if link { "blx" } else { "bx" }, REG[rm])
                }
            }
        }
        0b01001 => {
            let r = ((hw >> 8) & 7) as usize;
            let addr = (pc_val & !3).wrapping_add((hw & 0xff) * 4);
            let v = m.read(addr, 4)?;
            cpu.r[r] = v;
            effects.push(Effect::Load(addr));
            note = txt!(t, "{} = {v:#x}, the literal stored in flash at {addr:#x}", REG[r]);
            txt!(t, "ldr {}, [pc, #{}]", REG[r], (hw & 0xff) * 4)
        }
        0b01010 | 0b01011 => {
            // Load/store register offset
            let rm = ((hw >> 6) & 7) as usize;
            let addr = cpu.r[rn].wrapping_add(cpu.r[rm]);
            let op = (hw >> 9) & 7;
            let names = ["str", "strh", "strb", "ldrsb", "ldr", "ldrh", "ldrb", "ldrsh"];
            let size = [4, 2, 1, 1, 4, 2, 1, 2][op as usize];
            if op < 3 {
                let v = cpu.r[rd];
                m.store(cpu, &mut effects, addr, size, v, false)?;
                note = txt!(t, "{} = {:#x} stored at {addr:#x} ({})", REG[rd], cpu.r[rd] & mask(size), m.place(addr));
            } else {
                let mut v = m.read(addr, size)?;
                if op == 3 {
                    v = v as u8 as i8 as i32 as u32;
                } else if op == 7 {
                    v = v as u16 as i16 as i32 as u32;
                }
                cpu.r[rd] = v;
                effects.push(Effect::Load(addr));
                note = txt!(t, "{} = {v:#x} loaded from {addr:#x} ({})", REG[rd], m.place(addr));
            }
            txt!(t, "{} {}, [{}, {}]", names[op as usize], REG[rd], REG[rn], REG[rm])
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
                effects.push(Effect::Load(addr));
                note = txt!(t, "{} = {v:#x} loaded from {addr:#x} ({}, {})", REG[rd], m.place(addr), m.symbolize(addr));
            } else {
                let v = cpu.r[rd];
                m.store(cpu, &mut effects, addr, size, v, false)?;
                note = txt!(t, "{:#x} stored at {addr:#x} ({}, {})", cpu.r[rd] & mask(size), m.place(addr), m.symbolize(addr));
            }
            txt!(t, "{name} {}, [{}, #{off}]", REG[rd], REG[rn])
        }
        0b10010 | 0b10011 => {
            // SP-relative load/store
            let r = ((hw >> 8) & 7) as usize;
            let addr = cpu.r[13].wrapping_add((hw & 0xff) * 4);
            if hw & (1 << 11) != 0 {
                cpu.r[r] = m.read(addr, 4)?;
                txt!(t, "ldr {}, [sp, #{}]", REG[r], (hw & 0xff) * 4)
            } else {
                let v = cpu.r[r];
                m.store(cpu, &mut effects, addr, 4, v, false)?;
                txt!(t, "str {}, [sp, #{}]", REG[r], (hw & 0xff) * 4)
            }
        }
        0b10100 | 0b10101 => {
            let r = ((hw >> 8) & 7) as usize;
            let imm = (hw & 0xff) * 4;
            if hw & (1 << 11) != 0 {
                cpu.r[r] = cpu.r[13].wrapping_add(imm);
                txt!(t, "add {}, sp, #{imm}", REG[r])
            } else {
                cpu.r[r] = (pc_val & !3).wrapping_add(imm);
                txt!(t, "adr {}, {:#x}", REG[r], cpu.r[r])
            }
        }
        0b10110 | 0b10111 => match (hw >> 8) & 15 {
            0 => {
                let imm = (hw & 0x7f) * 4;
                if hw & 0x80 != 0 {
                    cpu.r[13] = cpu.r[13].wrapping_sub(imm);
                    txt!(t, "sub sp, #{imm}")
                } else {
                    cpu.r[13] = cpu.r[13].wrapping_add(imm);
                    txt!(t, "add sp, #{imm}")
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
                txt!(t, "{name} {}, {}", REG[rd], REG[rn])
            }
            4 | 5 => {
                let list = hw & 0xff;
                let lr = hw & 0x100 != 0;
                let n = list.count_ones() + u32::from(lr);
                let base = cpu.r[13].wrapping_sub(4 * n);
                let mut a = base;
                for i in 0..8 {
                    if list & (1 << i) != 0 {
                        let v = cpu.r[i];
                        m.store(cpu, &mut effects, a, 4, v, true)?;
                        a = a.wrapping_add(4);
                    }
                }
                if lr {
                    let v = cpu.r[14];
                    m.store(cpu, &mut effects, a, 4, v, true)?;
                }
                cpu.r[13] = base;
                note = txt!(t, "{n} words pushed; sp = {base:#x}");
                txt!(t, "push {}", reglist(list, lr.then_some("lr")))
            }
            12 | 13 => {
                let list = hw & 0xff;
                let pcb = hw & 0x100 != 0;
                let mut a = cpu.r[13];
                for i in 0..8 {
                    if list & (1 << i) != 0 {
                        cpu.r[i] = m.read_aligned(a, 4)?;
                        a = a.wrapping_add(4);
                    }
                }
                if pcb {
                    let t = m.read_aligned(a, 4)?;
                    a = a.wrapping_add(4);
                    // LoadWritePC: EPSR.T from bit 0 (EXC_RETURN values have it set).
                    cpu.t_clear = t & 1 == 0;
                    next = t & !1;
                }
                cpu.r[13] = a;
                txt!(t, "pop {}", reglist(list, pcb.then_some("pc")))
            }
            10 => {
                let v = cpu.r[rn];
                let (res, name) = match (hw >> 6) & 3 {
                    0 => (v.swap_bytes(), "rev"),
                    1 => ((v & 0x00ff00ff) << 8 | (v & 0xff00ff00) >> 8, "rev16"),
                    3 => ((v as u16).swap_bytes() as i16 as i32 as u32, "revsh"),
                    _ => return Err(ThumbFault::Unsupported { pc, hw, lo: None, thumb2: false }),
                };
                cpu.r[rd] = res;
                txt!(t, "{name} {}, {}", REG[rd], REG[rn])
            }
            6 if hw & 0xffec == 0xb660 && (v7 || hw & 3 == 2) => {
                // CPS (B5.2.1): `i` is PRIMASK, `f` FAULTMASK (ARMv7-M).
                let disable = hw & 0x10 != 0;
                if hw & 2 != 0 {
                    cpu.sys.primask = disable;
                }
                if hw & 1 != 0 {
                    cpu.sys.faultmask = disable;
                }
                let which = if hw & 3 == 3 {
                    "if"
                } else if hw & 2 != 0 {
                    "i"
                } else {
                    "f"
                };
                txt!(t, "cps{} {which}", if disable { "id" } else { "ie" })
            }
            1 | 3 | 9 | 11 if v7 => {
                // CBZ/CBNZ (ARMv7-M): compare and branch forward, flags untouched.
                let nonzero = hw & 0x800 != 0;
                let off = (((hw >> 9) & 1) << 6) | (((hw >> 3) & 0x1f) << 1);
                let target = pc_val.wrapping_add(off);
                let taken = (cpu.r[rd] != 0) == nonzero;
                if taken {
                    next = target;
                }
                note = txt!(t, "{} = {:#x}: {}", REG[rd], cpu.r[rd], if taken { "taken" } else { "not taken" });
                txt!(t, "{} {}, {target:#x}", if nonzero { "cbnz" } else { "cbz" }, REG[rd])
            }
            15 if v7 && hw & 0xf != 0 => {
                // IT (A7.7.38): the next 1-4 instructions are conditional.
                if cpu.it & 0xf != 0 {
                    return Err(ThumbFault::Undefined { pc, hw, lo: None, thumb2: false });
                }
                cpu.it = (hw & 0xff) as u8;
                let first = (hw >> 4) & 15;
                let mask = hw & 15;
                let n = 4 - mask.trailing_zeros();
                let pattern: String = (1..n).map(|i| if (mask >> (4 - i)) & 1 == (first & 1) { 't' } else { 'e' }).collect();
                note = txt!(t, "the next {n} instruction{} run only if their condition holds", if n == 1 { "" } else { "s" });
                txt!(t, "it{pattern} {}", COND[first as usize & 15])
            }
            14 => return Err(ThumbFault::Bkpt { imm: hw & 0xff, pc }),
            15 if hw & 0xff == 0 => "nop".into(),
            15 if hw & 0xff == 0x30 => {
                note = wfi(cpu, t);
                "wfi".into()
            }
            15 if matches!(hw & 0xff, 0x10 | 0x20 | 0x40) => "hint (yield/wfe/sev: no effect here)".into(),
            _ => return Err(ThumbFault::Unsupported { pc, hw, lo: None, thumb2: false }),
        },
        0b11000 | 0b11001 => {
            let base_reg = ((hw >> 8) & 7) as usize;
            let list = hw & 0xff;
            let load = hw & (1 << 11) != 0;
            let mut a = cpu.r[base_reg];
            for i in 0..8 {
                if list & (1 << i) != 0 {
                    if load {
                        cpu.r[i] = m.read_aligned(a, 4)?;
                    } else {
                        let v = cpu.r[i];
                        m.store(cpu, &mut effects, a, 4, v, true)?;
                        note = txt!(t, "{} = {:#x} stored at {a:#x} ({}, {})", REG[i], cpu.r[i], m.place(a), m.symbolize(a));
                    }
                    a = a.wrapping_add(4);
                }
            }
            if !(load && list & (1 << base_reg) != 0) {
                cpu.r[base_reg] = a;
            }
            txt!(t, "{} {}!, {}", if load { "ldmia" } else { "stmia" }, REG[base_reg], reglist(list, None))
        }
        0b11010 | 0b11011 => {
            let cond = (hw >> 8) & 15;
            if cond == 15 {
                return Err(ThumbFault::Svc { imm: hw & 0xff, pc });
            }
            if cond == 14 {
                return Err(ThumbFault::Udf(pc));
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
            note = txt!(t, "{}", if taken { "taken" } else { "not taken" });
            txt!(t, "b{} {target:#x}", COND[cond as usize])
        }
        0b11100 => {
            let off = (((hw & 0x7ff) << 21) as i32 >> 20) as u32;
            next = pc_val.wrapping_add(off);
            txt!(t, "b {next:#x}")
        }
        _ => return Err(ThumbFault::Unsupported { pc, hw, lo: None, thumb2: false }),
    };
    cpu.r[15] = next;
    cpu.steps += 1;
    Ok((text, note, effects))
}

pub(super) fn mask(size: u32) -> u32 {
    if size == 4 {
        u32::MAX
    } else {
        (1 << (8 * size)) - 1
    }
}
