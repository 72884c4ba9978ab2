//! The BPF interpreter: runs a loaded program one instruction at a time
//! (kernel/bpf/core.c `___bpf_prog_run`), with eleven 64-bit registers, a
//! 512-byte stack, a context, and the map helpers.
//!
//! Memory is addressed through tagged pointers so that every access can be
//! checked: the stack, the context and each map value live in their own
//! regions, and anything else is an invalid access (a verified program never
//! makes one; the interpreter refuses instead of crashing).
//!
//! ```text
//!  opcode byte:  +--------+----+-----+   ALU/JMP: op(4) | source(1) | class(3)
//!                | op/mode|size|class|   LD/ST:   mode(3) | size(2) | class(3)
//!                +--------+----+-----+
//!  regs byte:    src(4) | dst(4);  then off (i16), imm (i32)
//! ```

use std::collections::BTreeMap;
use thiserror::Error;

/// Stack size of one BPF frame.
pub const STACK: usize = 512;
/// Frames of bpf-to-bpf calls (`MAX_CALL_FRAMES`), each with its own stack.
const FRAMES: usize = 8;
/// The most instructions one run may execute.
pub const MAX_INSNS: u64 = 1_000_000;

const STACK_BASE: u64 = 0x1_0000_0000;
const CTX_BASE: u64 = 0x2_0000_0000;
const MAP_VALUE: u64 = 0x3_0000_0000;
const MAP_PTR: u64 = 0x4_0000_0000;

/// Why a run stopped early.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum VmError {
    /// A memory access outside every region.
    #[error("insn {pc}: invalid memory access of {size} bytes at {addr:#x}")]
    BadAccess {
        /// Instruction index.
        pc: usize,
        /// Address.
        addr: u64,
        /// Size.
        size: usize,
    },
    /// An opcode the interpreter does not know.
    #[error("insn {pc}: unknown opcode {op:#04x}")]
    BadOpcode {
        /// Instruction index.
        pc: usize,
        /// Opcode.
        op: u8,
    },
    /// A jump or fall-through past the end.
    #[error("insn {pc}: jumped out of the program")]
    OutOfRange {
        /// Instruction index.
        pc: usize,
    },
    /// Division by zero is defined for BPF (result 0) — this variant is for
    /// helpers that do not exist.
    #[error("insn {pc}: unknown helper {id}")]
    BadHelper {
        /// Instruction index.
        pc: usize,
        /// Helper id.
        id: i32,
    },
    /// The instruction budget ran out.
    #[error("the program ran {MAX_INSNS} instructions without exiting")]
    Budget,
}

/// The result of ALU instruction `op` (class ALU64 or ALU32) on a register
/// holding `dst` with `src` in the source register, as `___bpf_prog_run`
/// computes it: 32-bit operations work on the low halves and zero-extend;
/// division by zero gives 0 and modulo by zero leaves the dividend, as the
/// kernel defines them. `None` for an opcode that is not an ALU operation.
pub fn alu(op: u8, imm: i32, dst: u64, src: u64) -> Option<u64> {
    let wide = op & 7 == 7;
    let x = if wide { dst } else { dst & 0xffff_ffff };
    let y = if op & 8 != 0 { src } else { imm as i64 as u64 };
    let y = if wide { y } else { y & 0xffff_ffff };
    let sh = if wide { 63 } else { 31 };
    let v = match op >> 4 {
        0x0 => x.wrapping_add(y),
        0x1 => x.wrapping_sub(y),
        0x2 => x.wrapping_mul(y),
        0x3 => x.checked_div(y).unwrap_or(0),
        0x4 => x | y,
        0x5 => x & y,
        0x6 => x.wrapping_shl((y & sh) as u32),
        0x7 => x.wrapping_shr((y & sh) as u32),
        0x8 => x.wrapping_neg(),
        0x9 => x.checked_rem(y).unwrap_or(x),
        0xa => x ^ y,
        0xb => y,
        0xc if wide => ((x as i64) >> (y & 63)) as u64,
        0xc => ((x as u32 as i32) >> (y & 31)) as u32 as u64,
        // BPF_END: byte swap to/from little (0) or big (8) endian.
        0xd => {
            return match (imm, op & 8 != 0) {
                (16, false) => Some(dst & 0xffff),
                (32, false) => Some(dst & 0xffff_ffff),
                (64, false) => Some(dst),
                (16, true) => Some(u64::from((dst as u16).swap_bytes())),
                (32, true) => Some(u64::from((dst as u32).swap_bytes())),
                (64, true) => Some(dst.swap_bytes()),
                _ => None,
            }
        }
        _ => return None,
    };
    Some(if wide { v } else { v & 0xffff_ffff })
}

/// Whether conditional (or unconditional) jump `op` of class JMP or JMP32
/// is taken with `dst` and `src` in its registers. `None` for an opcode that
/// is not a jump with a condition (call, exit, unknown).
pub fn jump_taken(op: u8, imm: i32, dst: u64, src: u64) -> Option<bool> {
    let wide = op & 7 == 5;
    let (a, b) = if wide {
        (dst, if op & 8 != 0 { src } else { imm as i64 as u64 })
    } else {
        (dst & 0xffff_ffff, if op & 8 != 0 { src & 0xffff_ffff } else { imm as u32 as u64 })
    };
    let (sa, sb) = if wide { (a as i64, b as i64) } else { (a as u32 as i32 as i64, b as u32 as i32 as i64) };
    Some(match op >> 4 {
        0x0 if wide => true,
        0x1 => a == b,
        0x2 => a > b,
        0x3 => a >= b,
        0x4 => a & b != 0,
        0x5 => a != b,
        0x6 => sa > sb,
        0x7 => sa >= sb,
        0xa => a < b,
        0xb => a <= b,
        0xc => sa < sb,
        0xd => sa <= sb,
        _ => return None,
    })
}

/// Encodes one instruction: opcode, destination and source registers,
/// offset, immediate (the 8-byte layout drawn at the top of this module).
pub fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let (o, i) = (off.to_le_bytes(), imm.to_le_bytes());
    [op, (src << 4) | (dst & 0xf), o[0], o[1], i[0], i[1], i[2], i[3]]
}

/// The benchmark loop: r0 = sum of 1..=n, 3 instructions per iteration.
pub fn sum_loop(n: i32) -> Vec<[u8; 8]> {
    vec![
        insn(0xb7, 1, 0, 0, n),
        insn(0xb7, 0, 0, 0, 0),
        insn(0x0f, 0, 1, 0, 0),
        insn(0x17, 1, 0, 0, 1),
        insn(0x55, 1, 0, -3, 0),
        insn(0x95, 0, 0, 0, 0),
    ]
}

/// Map storage the helpers work on: map id to (value size, max entries,
/// is_array, key to value).
pub type Maps = BTreeMap<u32, (usize, usize, bool, crate::journal::ordmap::OrdMap<Vec<u8>, Vec<u8>>)>;

/// Bytes between consecutive values of a map in the value region.
fn value_stride(vsize: usize) -> u64 {
    (vsize as u64).div_ceil(8).max(1) * 8
}

/// How many tail calls one run may make (`MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALL_CNT: u32 = 33;

/// One executed instruction, for narration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Tail calls made before it (0: the program itself).
    pub tail: u32,
    /// Instruction index (in the program the tail calls reached).
    pub pc: usize,
    /// Registers after it.
    pub regs: [u64; 11],
}

/// A run's state.
#[derive(Debug)]
pub struct Vm<'a> {
    /// The program run.
    origin: &'a [[u8; 8]],
    /// The instructions running: the program's, or after a tail call another's.
    insns: std::borrow::Cow<'a, [[u8; 8]]>,
    /// Programs a tail call may reach, by id.
    progs: BTreeMap<u32, Vec<[u8; 8]>>,
    /// The programs the run's tail calls went to, in order.
    pub tail_path: Vec<u32>,
    /// Registers r0-r10.
    pub regs: [u64; 11],
    stack: Vec<u8>,
    /// Callers of the running subprogram: return pc and r6-r10.
    frames: Vec<(usize, [u64; 5])>,
    ctx: Vec<u8>,
    /// Maps by id (shared with the kernel state by the caller).
    pub maps: Maps,
    /// map fds (as patched into ld_imm64) to map ids.
    fd_to_map: BTreeMap<i32, u32>,
    /// Instructions executed.
    pub executed: u64,
}

impl<'a> Vm<'a> {
    /// A VM for `insns` with context bytes `ctx`; `fd_to_map` resolves the
    /// `ld_imm64` map references (BPF_PSEUDO_MAP_FD).
    pub fn new(insns: &'a [[u8; 8]], ctx: Vec<u8>, maps: Maps, fd_to_map: BTreeMap<i32, u32>) -> Vm<'a> {
        let mut regs = [0; 11];
        regs[1] = CTX_BASE;
        regs[10] = STACK_BASE + (STACK * FRAMES) as u64;
        Vm {
            origin: insns,
            insns: std::borrow::Cow::Borrowed(insns),
            progs: BTreeMap::new(),
            tail_path: vec![],
            regs,
            stack: vec![0; STACK * FRAMES],
            frames: vec![],
            ctx,
            maps,
            fd_to_map,
            executed: 0,
        }
    }

    /// The programs a prog array's slots may name (by id), for
    /// `bpf_tail_call`.
    pub fn with_tail_calls(mut self, progs: BTreeMap<u32, Vec<[u8; 8]>>) -> Vm<'a> {
        self.progs = progs;
        self
    }

    /// `bpf_tail_call(ctx, prog_array, index)` as the interpreter's
    /// `JMP_TAIL_CALL` does it: an index past the array, an empty slot or a
    /// 34th tail call falls through to the next instruction; otherwise the
    /// run continues at the first instruction of the program in the slot,
    /// with the same registers, stack and context, and never comes back.
    fn tail_call(&mut self) -> bool {
        let Some(id) = (self.regs[2] >= MAP_PTR).then(|| (self.regs[2] - MAP_PTR) as u32) else { return false };
        let Some((_, max, _, entries)) = self.maps.get(&id) else { return false };
        let index = self.regs[3] as u32;
        if index as usize >= *max || self.tail_path.len() >= MAX_TAIL_CALL_CNT as usize {
            return false;
        }
        let Some(slot) = entries.get(&index.to_le_bytes().to_vec()) else { return false };
        let prog = slot.iter().take(4).rev().fold(0u32, |a, x| (a << 8) | u32::from(*x)); // the id, little-endian
        let Some(insns) = self.progs.get(&prog) else { return false };
        self.insns = std::borrow::Cow::Owned(insns.clone());
        self.tail_path.push(prog);
        true
    }

    fn region(&mut self, pc: usize, addr: u64, size: usize) -> Result<&mut [u8], VmError> {
        let bad = VmError::BadAccess { pc, addr, size };
        let (base, mem): (u64, &mut [u8]) = if (STACK_BASE..STACK_BASE + (STACK * FRAMES) as u64).contains(&addr) {
            (STACK_BASE, &mut self.stack[..])
        } else if (CTX_BASE..CTX_BASE + self.ctx.len() as u64).contains(&addr) {
            (CTX_BASE, &mut self.ctx[..])
        } else if (MAP_VALUE..MAP_PTR).contains(&addr) {
            // Map `id`'s values lie one after the other (rounded to 8 bytes)
            // from MAP_VALUE + id * 16 MiB.
            let id = ((addr - MAP_VALUE) >> 24) as u32;
            let (vsize, _, _, entries) = self.maps.get_mut(&id).ok_or(bad.clone())?;
            let stride = value_stride(*vsize);
            let slot = ((addr - MAP_VALUE) & 0xff_ffff) / stride;
            let base = MAP_VALUE + (u64::from(id) << 24) + slot * stride;
            let slot = slot as usize;
            let value = entries.values_mut().nth(slot).ok_or(bad.clone())?;
            (base, &mut value[..])
        } else {
            return Err(bad);
        };
        let off = (addr - base) as usize;
        mem.get_mut(off..off + size).ok_or(bad)
    }

    fn load(&mut self, pc: usize, addr: u64, size: usize) -> Result<u64, VmError> {
        let b = self.region(pc, addr, size)?;
        Ok(b.iter().rev().fold(0, |a, x| (a << 8) | u64::from(*x)))
    }

    fn store(&mut self, pc: usize, addr: u64, size: usize, v: u64) -> Result<(), VmError> {
        let b = self.region(pc, addr, size)?;
        b.copy_from_slice(&v.to_le_bytes()[..size]);
        Ok(())
    }

    fn bytes(&mut self, pc: usize, addr: u64, n: usize) -> Result<Vec<u8>, VmError> {
        self.region(pc, addr, n).map(|b| b.to_vec())
    }

    /// Helper calls: 1 `bpf_map_lookup_elem`, 2 `bpf_map_update_elem`,
    /// 3 `bpf_map_delete_elem`, 5 `bpf_ktime_get_ns` (deterministic), 7
    /// `bpf_get_prandom_u32` (deterministic).
    fn helper(&mut self, pc: usize, id: i32) -> Result<u64, VmError> {
        let map_of = |r: u64| -> Option<u32> { (r >= MAP_PTR).then(|| (r - MAP_PTR) as u32) };
        match id {
            1..=3 => {
                let Some(mid) = map_of(self.regs[1]) else { return Ok(0) };
                let Some((vsize, max, array, entries)) = self.maps.get(&mid).cloned() else { return Ok(0) };
                let ksize = if array { 4 } else { entries.keys().next().map(|k| k.len()).unwrap_or(4) };
                let key = self.bytes(pc, self.regs[2], ksize)?;
                let (_, _, _, e) = self.maps.get_mut(&mid).ok_or(VmError::BadHelper { pc, id })?;
                match id {
                    1 => Ok(e
                        .keys()
                        .position(|k| *k == key)
                        .map(|slot| MAP_VALUE + (u64::from(mid) << 24) + slot as u64 * value_stride(vsize))
                        .unwrap_or(0)),
                    2 => {
                        let value = self.bytes(pc, self.regs[3], vsize)?;
                        let (_, _, _, e) = self.maps.get_mut(&mid).ok_or(VmError::BadHelper { pc, id })?;
                        if !e.contains_key(&key) && (array || e.len() >= max) {
                            return Ok((-7i64) as u64); // -E2BIG
                        }
                        e.insert(key, value);
                        Ok(0)
                    }
                    _ => Ok(if !array && e.remove(&key).is_some() { 0 } else { (-2i64) as u64 }),
                }
            }
            5 => Ok(1_000_000 + self.executed),
            7 => Ok((self.executed.wrapping_mul(2654435761) >> 3) & 0xffff_ffff),
            _ => Err(VmError::BadHelper { pc, id }),
        }
    }

    /// Runs to `exit`; returns r0 and the instructions executed, in order.
    pub fn run(&mut self, trace: bool) -> Result<(u64, Vec<Trace>), VmError> {
        // Each run starts as the kernel starts a program: r1 = context, r10 = stack top.
        self.regs = [0; 11];
        self.regs[1] = CTX_BASE;
        self.regs[10] = STACK_BASE + (STACK * FRAMES) as u64;
        self.frames.clear();
        self.executed = 0;
        self.tail_path.clear();
        self.insns = std::borrow::Cow::Borrowed(self.origin);
        let mut pc = 0usize;
        let mut out = Vec::new();
        loop {
            let insn = *self.insns.get(pc).ok_or(VmError::OutOfRange { pc })?;
            self.executed += 1;
            if self.executed > MAX_INSNS {
                return Err(VmError::Budget);
            }
            let op = insn[0];
            let dst = (insn[1] & 0xf) as usize;
            let src = (insn[1] >> 4) as usize;
            let off = i16::from_le_bytes([insn[2], insn[3]]) as i64;
            let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
            if dst > 10 || src > 10 {
                return Err(VmError::BadOpcode { pc, op });
            }
            let class = op & 7;
            let mut next = pc + 1;
            match class {
                // ALU64 (7) and ALU (4)
                4 | 7 => self.regs[dst] = alu(op, imm, self.regs[dst], self.regs[src]).ok_or(VmError::BadOpcode { pc, op })?,
                // JMP (5) and JMP32 (6)
                5 | 6 => {
                    if op == 0x95 {
                        if let Some((ret, saved)) = self.frames.pop() {
                            // Return from a subprogram: the caller's r6-r10 back.
                            self.regs[6..=10].copy_from_slice(&saved);
                            next = ret;
                        } else {
                            if trace {
                                out.push(Trace { tail: self.tail_path.len() as u32, pc, regs: self.regs });
                            }
                            return Ok((self.regs[0], out));
                        }
                    } else if op == 0x85 && src == 1 {
                        // bpf-to-bpf call: a new frame with its own stack.
                        if self.frames.len() + 1 >= FRAMES {
                            return Err(VmError::BadOpcode { pc, op });
                        }
                        let mut saved = [0; 5];
                        saved.copy_from_slice(&self.regs[6..=10]);
                        self.frames.push((pc + 1, saved));
                        self.regs[10] -= STACK as u64;
                        let t = pc as i64 + 1 + i64::from(imm);
                        next = usize::try_from(t).map_err(|_| VmError::OutOfRange { pc })?;
                    } else if op == 0x85 && imm == 12 {
                        let before = self.tail_path.len() as u32;
                        if self.tail_call() {
                            if trace {
                                out.push(Trace { tail: before, pc, regs: self.regs });
                            }
                            pc = 0;
                            continue;
                        }
                    } else if op == 0x85 {
                        self.regs[0] = self.helper(pc, imm)?;
                    } else {
                        let taken = jump_taken(op, imm, self.regs[dst], self.regs[src]).ok_or(VmError::BadOpcode { pc, op })?;
                        if taken {
                            let t = pc as i64 + 1 + off;
                            next = usize::try_from(t).map_err(|_| VmError::OutOfRange { pc })?;
                        }
                    }
                }
                // LD: only ld_imm64.
                0 => {
                    if op != 0x18 {
                        return Err(VmError::BadOpcode { pc, op });
                    }
                    let hi = self.insns.get(pc + 1).ok_or(VmError::OutOfRange { pc })?;
                    let imm2 = i32::from_le_bytes([hi[4], hi[5], hi[6], hi[7]]);
                    let map = |imm: i32| self.fd_to_map.get(&imm).copied().ok_or(VmError::BadAccess { pc, addr: imm as u64, size: 0 });
                    self.regs[dst] = if src == 1 {
                        MAP_PTR + u64::from(map(imm)?)
                    } else if src == 2 {
                        // BPF_PSEUDO_MAP_VALUE: the address of the value (key 0) at an offset.
                        MAP_VALUE + (u64::from(map(imm)?) << 24) + u64::from(imm2 as u32)
                    } else {
                        (imm as u32 as u64) | ((imm2 as u32 as u64) << 32)
                    };
                    next = pc + 2;
                }
                // LDX (1), ST (2), STX (3)
                1..=3 => {
                    let size = [4, 2, 1, 8][((op >> 3) & 3) as usize];
                    if op >> 5 != 3 {
                        return Err(VmError::BadOpcode { pc, op }); // only BPF_MEM
                    }
                    match class {
                        1 => {
                            let addr = self.regs[src].wrapping_add(off as u64);
                            self.regs[dst] = self.load(pc, addr, size)?;
                        }
                        2 => {
                            let addr = self.regs[dst].wrapping_add(off as u64);
                            self.store(pc, addr, size, imm as i64 as u64)?;
                        }
                        _ => {
                            let addr = self.regs[dst].wrapping_add(off as u64);
                            self.store(pc, addr, size, self.regs[src])?;
                        }
                    }
                }
                _ => return Err(VmError::BadOpcode { pc, op }),
            }
            if trace {
                out.push(Trace { tail: self.tail_path.len() as u32, pc, regs: self.regs });
            }
            pc = next;
        }
    }
}
