//! Size-only port of the Linux 6.18 x86-64 BPF JIT (`arch/x86/net/bpf_jit_comp.c`).
//!
//! It computes `prog->jited_len` (`jited NB` in `bpftool prog show`) for a verified program,
//! following `do_jit` and `bpf_int_jit_compile` byte count by byte count (a program with
//! bpf-to-bpf calls as `jit_subprogs` JITs it, one image per function: [`jited_len_funcs`]),
//! for the reference machine: no `CONFIG_X86_KERNEL_IBT` and no CFI (no `endbr64`), RETHUNK on
//! (`emit_return` is a 5-byte `jmp __x86_return_thunk`), no call-depth tracking, `CONFIG_SMP=y`,
//! a CPU with BMI2 (AMD EPYC), the JIT always on and `bpf_jit_harden=0` (no constant blinding).
//!
//! The input may be the kernel's own instructions or the form `bpftool prog dump xlated` and
//! `bpf_prog_get_info_by_fd` return. The dump writes map pointers back as `src_reg = 1/2` with a
//! map id and a tail call as `call 12`; both are understood. The dump also turns `BPF_PROBE_MEM`
//! loads back into `BPF_MEM`, so a dumped tracing program that reads untrusted BTF pointers comes
//! out too small: pass those loads with mode `BPF_PROBE_MEM` (0x20) to count their checks.
//!
//! A program with a private stack (`aux->priv_stack_ptr`, see [`uses_private_stack`]) is sized as
//! `do_jit` emits it: no `sub rsp`, the frame pointer in r9 (`emit_priv_frame_ptr`), and r9 saved
//! around every call. The port assumes no arena (`aux->arena`) and no exception boundary
//! (`bpf_throw`).
//!
//! A tail call the verifier made direct (`BPF_TAIL_CALL` with a poke descriptor: its prog array
//! and key known) is `emit_bpf_tail_call_direct`, with the tail-call counter in the prologue of
//! every function that can reach one (`emit_prologue_tail_call`, and `LOAD_TAIL_CALL_CNT_PTR`
//! before each bpf-to-bpf call); an indirect one is not sized (its jump's form depends on the
//! CPU's retpoline mitigation).

use super::types::ProgType;

/// Why a program's JIT size cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JitError {
    /// An instruction needs something the port does not model, or the kernel JIT would fail on it.
    Unsupported {
        /// The 0-based index of the instruction, or `insns.len()` for the whole program.
        at: usize,
        /// The instruction's opcode byte (0 for the whole program).
        opcode: u8,
        /// What is not modelled, or why the kernel refuses.
        what: &'static str,
    },
}

/// `BPF_REG_AX`, x86 r10. The verifier's own rewrites (div/mod checks) use it.
const AX: u8 = 11;
/// `AUX_REG`, x86 r11.
const AUX: u8 = 13;
/// `X86_REG_R9`: with a private stack, every use of the frame pointer r10 becomes r9.
const R9: u8 = 14;
/// `BPF_REG_FP`.
const FP: u8 = 10;
/// `emit_priv_frame_ptr`: `movabs r9, priv_frame_ptr` (`emit_mov_imm64` of a per-CPU pointer,
/// which on the reference machine needs all 64 bits: 10 bytes, measured from the kernel's image),
/// then `add r9, gs:[this_cpu_off]` (9 bytes, `CONFIG_SMP`).
const PRIV_FRAME_PTR_LEN: i64 = 10 + 9;
/// `BPF_PRIV_STACK_MIN_SIZE` (kernel/bpf/verifier.c).
const BPF_PRIV_STACK_MIN_SIZE: u32 = 64;
/// `boot_cpu_has(X86_FEATURE_BMI2)` on the reference machine.
const HAS_BMI2: bool = true;
/// `BPF_MAX_INSN_SIZE`, `MAX_PASSES` and `PADDING_PASSES` of `bpf_jit_comp.c`.
const BPF_MAX_INSN_SIZE: i64 = 128;
const MAX_PASSES: u32 = 20;
const PADDING_PASSES: u32 = MAX_PASSES - 5;
/// The `BPF_SIZE` values W, H and B (DW is 0x18).
const SZ_W: u8 = 0x00;
const SZ_H: u8 = 0x08;
const SZ_B: u8 = 0x10;

/// Models `is_ereg`: the register maps to x86 r8..r15 and needs a REX bit.
fn is_ereg(r: u8) -> bool {
    matches!(r, 5 | 7 | 8 | 9 | AX | AUX | R9)
}
/// Models `is_ereg_8l`: its low byte needs a REX prefix (dil, sil, bpl).
fn is_ereg_8l(r: u8) -> bool {
    is_ereg(r) || matches!(r, 1 | 2 | 10)
}
/// Models `is_imm8`.
fn is_imm8(v: i64) -> bool {
    (-128..=127).contains(&v)
}
/// Models `is_imm8_jmp_offset`: rel8 jumps reach only +123 so that the passes converge.
fn is_imm8_jmp_offset(v: i64) -> bool {
    (-128..=123).contains(&v)
}
/// Models `is_simm32`.
fn is_simm32(v: i64) -> bool {
    v == v as i32 as i64
}
/// One byte if `c` holds.
fn one_if(c: bool) -> i64 {
    c as i64
}
/// Models `maybe_emit_mod`: a REX prefix for two registers.
fn rex2(a: u8, b: u8, is64: bool) -> i64 {
    one_if(is64 || is_ereg(a) || is_ereg(b))
}
/// Models `maybe_emit_1mod`: a REX prefix for one register.
fn rex1(r: u8, is64: bool) -> i64 {
    one_if(is64 || is_ereg(r))
}
/// Models `emit_insn_suffix`: ModRM plus disp8 or disp32.
fn suffix(off: i16) -> i64 {
    if is_imm8(off as i64) {
        2
    } else {
        5
    }
}
/// Models `EMIT_mov`: nothing when both registers are the same.
fn emit_mov(dst: u8, src: u8) -> i64 {
    if dst != src {
        3
    } else {
        0
    }
}
/// Models `emit_mov_reg`.
fn mov_reg(is64: bool, dst: u8, src: u8) -> i64 {
    if is64 {
        emit_mov(dst, src)
    } else {
        rex2(dst, src, false) + 2
    }
}
/// Models `emit_mov_imm32`: `mov r64, simm32`, `xor r32, r32` or `mov r32, imm32`.
fn mov_imm32(sign_propagate: bool, dst: u8, imm: u32) -> i64 {
    if sign_propagate && (imm as i32) < 0 {
        7
    } else {
        one_if(is_ereg(dst)) + if imm == 0 { 2 } else { 5 }
    }
}
/// Models `emit_mov_imm64`: a 32-bit form when the value fits, else a 10-byte `movabs`.
fn mov_imm64(dst: u8, hi: u32, lo: u32) -> i64 {
    let v = ((hi as u64) << 32) | lo as u64;
    if v == v as u32 as u64 {
        mov_imm32(false, dst, lo)
    } else if is_simm32(v as i64) {
        mov_imm32(true, dst, lo)
    } else {
        10
    }
}
/// Models `emit_movsx_reg`. `None` for a width the verifier rejects (the JIT would emit nothing).
fn movsx_reg(bits: i16, is64: bool, dst: u8, src: u8) -> Option<i64> {
    match (is64, bits) {
        (true, 8 | 16) | (false, 8) => Some(4),
        (true, 32) => Some(3),
        (false, 16) => Some(rex2(dst, src, false) + 3),
        _ => None,
    }
}
/// Models `emit_ldx`: `movzx` with REX.W for B and H, `mov` for W and DW.
fn ldx(size: u8, dst: u8, src: u8, off: i16) -> i64 {
    suffix(off)
        + match size {
            SZ_B | SZ_H => 3,
            SZ_W => rex2(dst, src, false) + 1,
            _ => 2,
        }
}
/// Models `emit_stx`: `mov [dst + off], src` (a 0x66 prefix for H, REX for sil/dil/bpl for B).
fn stx(size: u8, dst: u8, src: u8, off: i16) -> i64 {
    let rex = if size == SZ_B { one_if(is_ereg(dst) || is_ereg_8l(src)) } else { rex2(dst, src, false) };
    suffix(off)
        + match size {
            SZ_H => rex + 2,
            SZ_B | SZ_W => rex + 1,
            _ => 2,
        }
}
/// Models `emit_atomic_rmw`: `lock`, REX, the opcode (1 or 2 bytes) and the suffix.
fn atomic_rmw(op: i32, dst: u8, src: u8, off: i16, is64: bool) -> Option<i64> {
    let opcode = match op {
        0x00 | 0x40 | 0x50 | 0xa0 | 0xe1 => 1, // ADD, OR, AND, XOR, XCHG
        0x01 | 0xf1 => 2,                      // ADD | FETCH (xadd), CMPXCHG
        _ => return None,
    };
    Some(1 + rex2(dst, src, is64) + opcode + suffix(off))
}
/// Models `push_callee_regs` and `pop_callee_regs`: rbx takes 1 byte, r13..r15 take 2 each.
fn callee_regs_len(used: [bool; 4]) -> i64 {
    one_if(used[0]) + 2 * (one_if(used[1]) + one_if(used[2]) + one_if(used[3]))
}
/// Models `detect_reg_usage`: which of r6..r9 (rbx, r13, r14, r15) any instruction names.
fn detect_reg_usage(insns: &[[u8; 8]]) -> [bool; 4] {
    let names = |r: u8| insns.iter().any(|b| b[1] & 0x0f == r || b[1] >> 4 == r);
    [names(6), names(7), names(8), names(9)]
}

/// The state `bpf_int_jit_compile` keeps across its calls of `do_jit`.
struct Jit<'a> {
    insns: &'a [[u8; 8]],
    /// `addrs[k]`: where instruction `k` (0-based) starts; `do_jit` updates it in place.
    addrs: Vec<i64>,
    /// `ctx->cleanup_addr`: the epilogue, which the first `exit` emits.
    cleanup_addr: i64,
    callee: [bool; 4],
    stack_depth: u32,
    /// `priv_frame_ptr != NULL`: the program runs on its private per-CPU stack.
    private_stack: bool,
    /// This is one function of a program with bpf-to-bpf calls (`func[i]` of `jit_subprogs`).
    in_subprogs: bool,
    /// `bpf_is_subprog`: a function other than the main program's.
    is_subprog: bool,
    /// `aux->tail_call_reachable`: the function makes a tail call, or calls one that does
    /// (`check_max_stack_depth_subprog`); the tail-call counter lives in its frame.
    tail_call_reachable: bool,
}

impl Jit<'_> {
    /// `addrs[i + delta]`, the target of a jump at 1-based instruction `i`.
    fn target(&self, i: usize, delta: i64) -> Result<i64, &'static str> {
        let t = i as i64 + delta;
        let addr = usize::try_from(t).ok().and_then(|t| self.addrs.get(t));
        addr.copied().ok_or("jump target outside the program (the verifier rejects it)")
    }
    /// Models `INSN_SZ_DIFF`: the previous pass's size of instruction `i` minus what is emitted so far.
    fn sz_diff(&self, i: usize, emitted: i64) -> i64 {
        self.addrs[i] - self.addrs[i - 1] - emitted
    }

    /// Models the `emit_cond_jmp` label: `jcc rel8` (after padding nops) or `jcc rel32`.
    fn cond_jmp(&self, i: usize, delta: i64, cmp: i64, padding: bool) -> Result<i64, &'static str> {
        let jmp_offset = self.target(i, delta)? - self.addrs[i];
        if is_imm8_jmp_offset(jmp_offset) {
            let nops = if padding { self.sz_diff(i, cmp) - 2 } else { 0 };
            if nops != 0 && nops != 4 {
                return Err("unexpected jmp_cond padding");
            }
            Ok(cmp + nops + 2)
        } else if is_simm32(jmp_offset) {
            Ok(cmp + 6)
        } else {
            Err("cond_jmp gen bug")
        }
    }
    /// Models the `emit_jmp` label: `jmp rel8` (after padding nops) or `jmp rel32`.
    fn emit_jmp(&self, i: usize, jmp_offset: i64, padding: bool) -> Result<i64, &'static str> {
        if is_imm8_jmp_offset(jmp_offset) {
            let nops = if padding { self.sz_diff(i, 0) - 2 } else { 0 };
            if nops != 0 && nops != 3 {
                return Err("unexpected jump padding");
            }
            Ok(nops + 2)
        } else if is_simm32(jmp_offset) {
            Ok(5)
        } else {
            Err("jmp gen bug")
        }
    }

    /// Models one turn of the `do_jit` loop, for 1-based instruction `*i`: the bytes it emits.
    /// It steps `*i` over the second half of an `ld_imm64`, as `do_jit` does.
    fn insn_len(&mut self, i: &mut usize, proglen: i64, seen_exit: &mut bool, padding: bool) -> Result<i64, &'static str> {
        let b = self.insns[*i - 1];
        let (code, mut dst, mut src) = (b[0], b[1] & 0x0f, b[1] >> 4);
        let off = i16::from_le_bytes([b[2], b[3]]);
        let imm = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        if dst > AX || (src > AX && code & 7 != 0 && code != 0x85) {
            return Err("register above BPF_REG_AX (the verifier rejects it)");
        }
        if self.private_stack {
            // do_jit: `if (src_reg == BPF_REG_FP) src_reg = X86_REG_R9;`, the same for dst_reg.
            (dst, src) = (if dst == FP { R9 } else { dst }, if src == FP { R9 } else { src });
        }
        // `push r9` and `pop r9` around a call on the private stack.
        let save_r9 = 4 * one_if(self.private_stack);
        let (class, op, is_x, size, mode) = (code & 7, code & 0xf0, code & 8 != 0, code & 0x18, code & 0xe0);
        let is64 = match class {
            0x05 | 0x07 => true,
            0x03 => size == 0x18,
            _ => false,
        };
        Ok(match class {
            // BPF_ALU and BPF_ALU64.
            0x04 | 0x07 => match (op, is_x) {
                (0x00 | 0x10 | 0x40 | 0x50 | 0xa0, true) => rex2(dst, src, is64) + 2,
                (0x00 | 0x10 | 0x40 | 0x50 | 0xa0, false) => {
                    rex1(dst, is64)
                        + if is_imm8(imm as i64) {
                            3
                        } else if dst == 0 {
                            5
                        } else {
                            6
                        }
                }
                (0xb0, true) if is64 && off == 1 => return Err("arena: addr_space_cast"),
                // insn_is_mov_percpu_addr: mov, then add dst, gs:[this_cpu_off].
                (0xb0, true) if is64 && off == -1 => emit_mov(dst, src) + 9,
                (0xb0, true) if off == 0 => mov_reg(is64, dst, src),
                (0xb0, true) => movsx_reg(off, is64, dst, src).ok_or("movsx of an invalid width")?,
                (0xb0, false) => mov_imm32(is64, dst, imm as u32),
                (0x80, false) => rex1(dst, is64) + 2,
                (0x30 | 0x90, _) => {
                    // DIV and MOD go through rax and rdx; r11 holds an imm or a divisor in rax/rdx.
                    let divisor = if !is_x || src == 0 || src == 3 { AUX } else { src };
                    let load_divisor = if is_x { emit_mov(divisor, src) } else { 7 };
                    let to_rax = if dst != 0 { mov_reg(is64, 0, dst) } else { 0 };
                    let widen = if off == 0 || is64 { 2 } else { 1 }; // xor edx, edx / cqo / cdq
                    let result = match op {
                        0x90 if dst != 3 => mov_reg(is64, dst, 3),
                        0x30 if dst != 0 => mov_reg(is64, dst, 0),
                        _ => 0,
                    };
                    2 * (one_if(dst != 0) + one_if(dst != 3)) + load_divisor + to_rax + widen + rex1(divisor, is64) + 2 + result
                }
                (0x20, false) => rex2(dst, dst, is64) + if is_imm8(imm as i64) { 3 } else { 6 },
                (0x20, true) => rex2(src, dst, is64) + 3,
                (0x60 | 0x70 | 0xc0, false) => rex1(dst, is64) + if imm == 1 { 2 } else { 3 },
                (0x60 | 0x70 | 0xc0, true) if HAS_BMI2 && src != 4 => 5, // emit_shiftx: VEX3, opcode, ModRM
                (0x60 | 0x70 | 0xc0, true) if src == 4 => rex1(dst, is64) + 2,
                (0x60 | 0x70 | 0xc0, true) if dst == 4 => 3 + emit_mov(4, src) + rex1(AUX, is64) + 2 + 3,
                (0x60 | 0x70 | 0xc0, true) => 1 + emit_mov(4, src) + rex1(dst, is64) + 2 + 1,
                // ALU | END | FROM_BE and ALU64 | END | FROM_LE (bswap) swap; ALU | END | FROM_LE zero-extends.
                (0xd0, _) => match (code, imm) {
                    (0xdc | 0xd7, 16) => 1 + one_if(is_ereg(dst)) + 3 + if is_ereg(dst) { 3 } else { 2 } + 1,
                    (0xdc | 0xd7, 32) => one_if(is_ereg(dst)) + 2,
                    (0xdc | 0xd7, 64) => 3,
                    (0xd4, 16) => one_if(is_ereg(dst)) + 3,
                    (0xd4, 32) => one_if(is_ereg(dst)) + 2,
                    (0xd4, 64) => 0,
                    (0xdc | 0xd7 | 0xd4, _) => return Err("byte swap of an invalid width"),
                    _ => return Err("unknown opcode"),
                },
                _ => return Err("unknown opcode"),
            },
            // BPF_LD | BPF_IMM | BPF_DW, the only BPF_LD form that reaches the JIT.
            0x00 if code == 0x18 => {
                let Some(next) = self.insns.get(*i) else { return Err("ld_imm64 without its second half") };
                let hi = u32::from_le_bytes([next[4], next[5], next[6], next[7]]);
                let len = match src {
                    0 => mov_imm64(dst, hi, imm as u32),
                    1 | 2 | 5 | 6 => 10, // a map or map value pointer: a kernel address, movabs
                    3 => return Err("ld_imm64 of a BTF ksym (address unknown, maybe per-CPU)"),
                    4 => return Err("ld_imm64 of a subprogram (bpf-to-bpf callback)"),
                    _ => return Err("ld_imm64 with an unknown src_reg"),
                };
                *i += 1;
                len
            }
            // BPF_LDX: MEM, or PROBE_MEM (check src + off against the user range, then load).
            0x01 => match mode {
                0x60 => ldx(size, dst, src, off),
                0x20 => {
                    let add_off = if off != 0 { rex1(AUX, true) + 6 } else { 0 };
                    mov_imm64(AX, 0xffff_ffff, 0xff60_0000)
                        + emit_mov(AUX, src)
                        + add_off
                        + rex2(AUX, AX, true)
                        + 2
                        + 10
                        + rex2(AUX, AX, true)
                        + 2
                        + 2
                        + mov_imm32(false, dst, 0)
                        + 2
                        + ldx(size, dst, src, off)
                }
                0x80 | 0x40 => return Err("LDSX (sign-extending load) is not modelled"),
                0xa0 | 0xc0 => return Err("arena: PROBE_MEM32 load"),
                _ => return Err("unknown opcode"),
            },
            // BPF_ST: mov [dst + off], imm; BPF_NOSPEC is lfence.
            0x02 => match mode {
                0x60 => {
                    let head = match size {
                        SZ_B | SZ_W => 1,
                        SZ_H => 2,
                        _ => 1,
                    } + one_if(size == 0x18 || is_ereg(dst));
                    head + suffix(off)
                        + match size {
                            SZ_B => 1,
                            SZ_H => 2,
                            _ => 4,
                        }
                }
                0xc0 if code == 0xc2 => 3,
                0xa0 => return Err("arena: PROBE_MEM32 store"),
                _ => return Err("unknown opcode"),
            },
            // BPF_STX: MEM and ATOMIC.
            0x03 => match (mode, imm) {
                (0x60, _) => stx(size, dst, src, off),
                (0xc0, 0x100) => ldx(size, dst, src, off), // BPF_LOAD_ACQ: a plain load on x86
                (0xc0, 0x110) => stx(size, dst, src, off), // BPF_STORE_REL: a plain store on x86
                (0xc0, _) if size == SZ_B || size == SZ_H => return Err("1- and 2-byte RMW atomics are not supported"),
                (0xc0, 0x41 | 0x51 | 0xa1) => {
                    // OR/AND/XOR with FETCH: a lock cmpxchg loop, with r0 kept in r10 meanwhile.
                    let (real_src, real_dst) = (if src == 0 { AX } else { src }, if dst == 0 { AX } else { dst });
                    let cmpxchg = atomic_rmw(0xf1, real_dst, AUX, off, is64).ok_or("unknown atomic opcode")?;
                    3 + ldx(size, 0, real_dst, off)
                        + mov_reg(is64, AUX, 0)
                        + rex2(AUX, real_src, is64)
                        + 2
                        + cmpxchg
                        + 2
                        + mov_reg(is64, real_src, 0)
                        + 3
                }
                (0xc0, _) => atomic_rmw(imm, dst, src, off, is64).ok_or("unknown atomic opcode")?,
                (0xa0 | 0xe0, _) => return Err("arena: PROBE_MEM32 or PROBE_ATOMIC store"),
                _ => return Err("unknown opcode"),
            },
            // BPF_JMP and BPF_JMP32.
            0x05 | 0x06 => match code {
                0x05 | 0x06 => {
                    let delta = if class == 0x05 { off as i64 } else { imm as i64 };
                    let jmp_offset = if delta == -1 { -2 } else { self.target(*i, delta)? - self.addrs[*i] };
                    if jmp_offset != 0 {
                        return self.emit_jmp(*i, jmp_offset, padding);
                    }
                    // A jump to the next instruction is dropped, or padded to its previous size.
                    let nops = if padding { self.sz_diff(*i, 0) } else { 0 };
                    if nops != 0 && nops != 2 && nops != 5 {
                        return Err("unexpected nop jump padding");
                    }
                    nops
                }
                0x85 => match (src, off, imm) {
                    (0, _, 12) => return Err("tail call (bpf_tail_call)"),
                    // jit_subprogs JITs each function on its own; a call of another is emit_call.
                    // With a tail-call counter, LOAD_TAIL_CALL_CNT_PTR first (7 bytes).
                    (1, _, _) if self.in_subprogs => 5 + save_r9 + if self.tail_call_reachable { 7 } else { 0 },
                    (1, _, _) => return Err("bpf-to-bpf call"),
                    (2, o, _) if o != 0 => return Err("kfunc with a BTF fd (module kfunc)"),
                    (0 | 2, _, 0) => return Err("call with imm 0 (the JIT returns -EINVAL)"),
                    (0 | 2, _, _) => 5 + save_r9, // emit_call: call rel32
                    _ => return Err("call with an unknown src_reg"),
                },
                // emit_bpf_tail_call_direct: mov rax, [rbp - tcc_ptr_off] (7), cmp qword [rax],
                // MAX_TAIL_CALL_CNT (4), jae out (2), jmp to the bypass (5, patched to the target),
                // add qword [rax], 1 (4), the callee-saved pops, pop rax twice (2),
                // add rsp, depth (7, with a stack), then the 5-byte nop the poke rewrites.
                0xf5 if imm != 0 => 7 + 4 + 2 + 5 + 4 + callee_regs_len(self.callee) + 2 + if self.stack_depth != 0 { 7 } else { 0 } + 5,
                0xf5 => return Err("indirect tail call: emit_indirect_jump's form depends on the CPU's retpoline mitigation"),
                0xe5 => return Err("may_goto (BPF_JCOND)"),
                0x95 if *seen_exit => return self.emit_jmp(*i, self.cleanup_addr - self.addrs[*i], padding),
                0x95 => {
                    *seen_exit = true;
                    self.cleanup_addr = proglen;
                    callee_regs_len(self.callee) + 1 + 5 // pops, leave, jmp __x86_return_thunk
                }
                _ if matches!(op, 0x10..=0x70 | 0xa0..=0xd0) => {
                    let cmp = match (op, is_x) {
                        (_, true) => rex2(dst, src, is64) + 2,              // cmp or test dst, src
                        (0x40, false) => rex1(dst, is64) + 6,               // JSET: test dst, imm32
                        (_, false) if imm == 0 => rex2(dst, dst, is64) + 2, // test dst, dst
                        (_, false) => rex1(dst, is64) + if is_imm8(imm as i64) { 3 } else { 6 },
                    };
                    self.cond_jmp(*i, off as i64, cmp, padding)?
                }
                _ => return Err("unknown opcode"),
            },
            _ => return Err("unknown opcode"),
        })
    }

    /// Models `do_jit`: one pass, returning `proglen`. With `image` set it also makes the checks
    /// of the final pass, where every `addrs[i]` must equal the previous pass's value.
    fn do_jit(&mut self, image: bool, oldproglen: i64, padding: bool) -> Result<i64, JitError> {
        // emit_prologue: nop5, nop3, push rbp, mov rbp, rsp, [sub rsp, imm32]; then
        // push_callee_regs. A private stack makes the depth 0 and adds emit_priv_frame_ptr.
        let frame = if self.private_stack {
            PRIV_FRAME_PTR_LEN
        } else if self.stack_depth != 0 {
            7
        } else {
            0
        };
        // emit_prologue_tail_call: cmp rax, MAX_TAIL_CALL_CNT; ja; push rax; mov rax, rsp; jmp;
        // push rax; push rax (14) in the main program, push rax twice (2) in a subprogram.
        let tail = match (self.tail_call_reachable, self.is_subprog) {
            (false, _) => 0,
            (true, false) => 14,
            (true, true) => 2,
        };
        let mut proglen = 5 + 3 + 1 + 3 + frame + tail + callee_regs_len(self.callee);
        self.addrs[0] = proglen;
        let (mut seen_exit, mut i) = (false, 1);
        while i <= self.insns.len() {
            let (at, opcode) = (i - 1, self.insns[i - 1][0]);
            let err = |what: &'static str| JitError::Unsupported { at, opcode, what };
            let ilen = self.insn_len(&mut i, proglen, &mut seen_exit, padding).map_err(err)?;
            if ilen > BPF_MAX_INSN_SIZE {
                return Err(err("fatal insn size error"));
            }
            if image && (proglen + ilen > oldproglen || proglen + ilen != self.addrs[i]) {
                return Err(err("bpf_jit: fatal error (the image pass differs from the one before)"));
            }
            proglen += ilen;
            self.addrs[i] = proglen;
            i += 1;
        }
        Ok(proglen)
    }
}

/// The x86-64 JIT's image size for `insns` (8-byte BPF instructions as the kernel holds them after
/// the verifier, little-endian), with `stack_depth` the verifier's stack depth for the program.
///
/// This models `bpf_int_jit_compile`. It starts `addrs[]` at 64 bytes per instruction, then calls
/// `do_jit` until `proglen` stops changing; from pass 15 on, jumps that would shrink are padded
/// with nops. After convergence one more pass emits the image. If the size has not converged in 20
/// passes the kernel gives up (and the load fails under JIT_ALWAYS_ON), and so does this function.
/// The result is `proglen - cfi_get_offset()`, where the offset is 0 without CFI.
///
/// # Errors
///
/// [`JitError::Unsupported`] names the first instruction the port does not model or the kernel
/// JIT refuses (tail calls, bpf-to-bpf calls, module kfuncs, arena, LDSX, may_goto, ...), or the
/// whole program when it is empty or its size does not converge in 20 passes.
pub fn jited_len(insns: &[[u8; 8]], stack_depth: u32, private_stack: bool) -> Result<u32, JitError> {
    jit_one(insns, stack_depth, private_stack, Role { in_subprogs: false, is_subprog: false, tail_call_reachable: has_tail_call(insns) })
}

/// A `BPF_TAIL_CALL` (or a tail call as a dump shows it, `call 12`) among `insns`.
fn has_tail_call(insns: &[[u8; 8]]) -> bool {
    insns.iter().any(|b| b[0] == 0xf5 || (b[0] == 0x85 && b[1] >> 4 == 0 && b[4..8] == 12i32.to_le_bytes()))
}

/// Where a function sits in its program, for [`jit_one`].
#[derive(Clone, Copy)]
struct Role {
    in_subprogs: bool,
    is_subprog: bool,
    tail_call_reachable: bool,
}

/// The first instruction of each function of `insns`: the main program (0) and every target of a
/// bpf-to-bpf call or of a callback's `ld_imm64` (`add_subprog` in `check_subprogs`), in order.
pub fn function_starts(insns: &[[u8; 8]]) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, b) in insns.iter().enumerate() {
        let (code, src) = (b[0], b[1] >> 4);
        if (code == 0x85 && src == 1) || (code == 0x18 && src == 4) {
            let t = i as i64 + 1 + i64::from(i32::from_le_bytes([b[4], b[5], b[6], b[7]]));
            if let Ok(t) = usize::try_from(t) {
                starts.push(t);
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// `jited_prog_len` of a program with bpf-to-bpf calls: `jit_subprogs` cuts it at
/// [`function_starts`] and JITs each function as its own program (its own prologue and
/// epilogue, its own `subprog_info[i].stack_depth` and private stack), and `bpf_prog_get_info_by_fd`
/// adds up `func[i]->jited_len`. `funcs` gives each function's (stack depth, private stack), in
/// order. A call of another function is a 5-byte `call rel32`; the sizes converge before the
/// extra pass writes the real addresses, which does not change them.
///
/// # Errors
///
/// As [`jited_len`], for the first function that fails (tail calls among them, as there); also
/// for a callback (`ld_imm64` of a function's address, whose `movabs` size depends on where the
/// callee lands), not modelled.
pub fn jited_len_funcs(insns: &[[u8; 8]], funcs: &[(u32, bool)]) -> Result<u32, JitError> {
    let starts = function_starts(insns);
    let whole = |what| JitError::Unsupported { at: insns.len(), opcode: 0, what };
    if starts.len() != funcs.len() || starts.last().is_some_and(|s| *s >= insns.len()) {
        return Err(whole("functions and stack depths do not match"));
    }
    let body = |k: usize| insns.get(starts[k]..starts.get(k + 1).copied().unwrap_or(insns.len())).unwrap_or_default();
    // tail_call_reachable: a function with a tail call, and every function that calls one
    // (check_max_stack_depth_subprog marks the frames on the way down to it).
    let mut reach: Vec<bool> = (0..starts.len()).map(|k| has_tail_call(body(k))).collect();
    for _ in 0..starts.len() {
        for k in 0..starts.len() {
            let calls = body(k).iter().enumerate().filter(|(_, b)| b[0] == 0x85 && b[1] >> 4 == 1).filter_map(|(i, b)| {
                let t = starts[k] as i64 + i as i64 + 1 + i64::from(i32::from_le_bytes([b[4], b[5], b[6], b[7]]));
                starts.iter().position(|s| *s as i64 == t)
            });
            let any: Vec<usize> = calls.collect();
            if any.iter().any(|c| reach[*c]) {
                reach[k] = true;
            }
        }
    }
    let mut total = 0u32;
    for (k, (start, (depth, private))) in starts.iter().zip(funcs).enumerate() {
        let f = body(k);
        let role = Role { in_subprogs: true, is_subprog: k > 0, tail_call_reachable: reach[k] };
        let len = jit_one(f, *depth, *private, role).map_err(|JitError::Unsupported { at, opcode, what }| JitError::Unsupported {
            at: start + at,
            opcode,
            what,
        })?;
        total = total.checked_add(len).ok_or_else(|| whole("image larger than 4 GiB"))?;
    }
    Ok(total)
}

fn jit_one(insns: &[[u8; 8]], stack_depth: u32, private_stack: bool, role: Role) -> Result<u32, JitError> {
    let n = insns.len();
    let whole = |what| JitError::Unsupported { at: n, opcode: 0, what };
    if n == 0 {
        return Err(JitError::Unsupported { at: 0, opcode: 0, what: "empty program (BPF_PROG_LOAD rejects it)" });
    }
    let mut jit = Jit {
        insns,
        addrs: (1..=n as i64 + 1).map(|k| 64 * k).collect(),
        cleanup_addr: 64 * (n as i64 + 1),
        callee: detect_reg_usage(insns),
        stack_depth,
        private_stack,
        in_subprogs: role.in_subprogs,
        is_subprog: role.is_subprog,
        tail_call_reachable: role.tail_call_reachable,
    };
    let (mut oldproglen, mut image, mut padding, mut pass) = (0, false, false, 0);
    while pass < MAX_PASSES || image {
        padding |= pass >= PADDING_PASSES;
        let proglen = jit.do_jit(image, oldproglen, padding)?;
        if image {
            if proglen != oldproglen {
                return Err(whole("bpf_jit: proglen != oldproglen"));
            }
            return u32::try_from(proglen).map_err(|_| whole("image larger than 4 GiB"));
        }
        image = proglen == oldproglen;
        oldproglen = proglen;
        pass += 1;
    }
    Err(whole("JIT did not converge in 20 passes"))
}

/// Whether the reference kernel build gives any program a private stack. 6.18.44-fc-v1272 gives
/// none: every corpus program's `bytes_jited` equals the kernel's only without one (measured
/// 2026-12-04 on all 133), where the earlier build fc-v1147 gave tracepoint, perf_event, raw
/// tracepoint and tracing programs of 64 bytes of stack or more one. What in the build turns it
/// off is not known here (its kconfig differs from v1147's in no BPF or JIT option), so the rule
/// below is kept, and used where this is true.
pub const REFERENCE_BUILD_PRIV_STACK: bool = false;

/// Whether the verifier gives the program a private per-CPU stack (`jits_use_priv_stack`), as
/// `check_max_stack_depth` decides for a program without subprograms: no tail call in it,
/// `bpf_enable_priv_stack` says the type may (`PRIV_STACK_ADAPTIVE`), and the stack rounded up
/// to 16 (`round_up_stack_depth` with the JIT on) is at least `BPF_PRIV_STACK_MIN_SIZE`.
///
/// `bpf_enable_priv_stack` in the 6.18 source lists kprobe, tracepoint, perf_event and raw
/// tracepoint programs, and tracing ones that detect recursion (`bpf_prog_check_recur`: all but
/// iterators). The reference kernel build gives kprobe programs no private stack: their images
/// keep `sub rsp` at every depth (measured with `bpf_prog_get_info_by_fd`'s
/// `jited_prog_insns`), so kprobe is left out here. Since Linux 6.13; before, no program had one.
pub fn uses_private_stack(prog_type: ProgType, expected_attach_type: u32, stack_depth: u32, has_tail_call: bool) -> bool {
    /// `BPF_TRACE_ITER` in `enum bpf_attach_type`.
    const BPF_TRACE_ITER: u32 = 28;
    let adaptive = [ProgType::TRACEPOINT, ProgType::PERF_EVENT, ProgType::RAW_TRACEPOINT].contains(&prog_type)
        || (prog_type == ProgType::TRACING && expected_attach_type != BPF_TRACE_ITER);
    adaptive && !has_tail_call && stack_depth.div_ceil(16) * 16 >= BPF_PRIV_STACK_MIN_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
        let (o, m) = (off.to_le_bytes(), imm.to_le_bytes());
        [code, dst | (src << 4), o[0], o[1], m[0], m[1], m[2], m[3]]
    }
    const EXIT: [u8; 8] = [0x95, 0, 0, 0, 0, 0, 0, 0];

    /// Checks rows of (instructions, bytes they add to `insns; exit` over its 18-byte frame, rule).
    fn check(rows: &[(&[[u8; 8]], u32, &str)]) {
        for (v, want, rule) in rows {
            let p: Vec<[u8; 8]> = v.iter().copied().chain([EXIT]).collect();
            assert_eq!(jited_len(&p, 0, false), Ok(18 + want), "{rule}");
        }
    }

    /// One test per real program of /tmp/xlated/jit: dumped xlated bytes, stack depth, jited size.
    macro_rules! real {
        ($name:ident, $stack:expr, $size:expr, [$($b:expr),* $(,)?]) => {
            #[test]
            fn $name() {
                let bytes: &[u8] = &[$($b),*];
                let insns: Vec<[u8; 8]> = bytes.chunks_exact(8).map(|c| { let mut a = [0; 8]; a.copy_from_slice(c); a }).collect();
                assert_eq!(jited_len(&insns, $stack, false), Ok($size));
            }
        };
    }

    // count_ops, sockops_lookup.o (array lookup inlined); stack r10-4.
    // `bpftool prog load obj/sockops_lookup.o /sys/fs/bpf/xl_sockops_lookup`; jit/dumpjit: 99 B.
    real!(
        sockops_lookup,
        8,
        99,
        [
            0xb7, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x63, 0x1a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xbf, 0xa2, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0x18, 0x11, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x38, 0x01, 0x00, 0x00, 0x61, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x35, 0x00, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x67, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0f, 0x10, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15,
            0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00,
            0x00, 0x00, 0x7b, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x95, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // count_ops, sockops_nolookup.o; no stack.
    // `bpftool prog load obj/sockops_nolookup.o /sys/fs/bpf/xl_nolookup`; jit/dumpjit: 23 B.
    real!(sockops_nolookup, 0, 23, [0xb7, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,]);
    // add_eight, sockops_loop_bounded.o (backward jne); stack r10-4.
    // `bpftool prog load obj/sockops_loop_bounded.o /sys/fs/bpf/xl_loop_bounded`; jit/dumpjit: 129 B.
    real!(
        sockops_loop_bounded,
        8,
        129,
        [
            0xb7, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x63, 0x1a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xbf, 0xa2, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0x18, 0x11, 0x00, 0x00, 0x9b, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x38, 0x01, 0x00, 0x00, 0x61, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x35, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x67, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0f, 0x10, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15,
            0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x79, 0x02, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0xbf, 0x23, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0xbf, 0x12, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x55, 0x01, 0xf9, 0xff, 0x07, 0x00, 0x00, 0x00, 0x0f, 0x13, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x7b, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x95, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // count, corpus/global_counter.o (3 data maps, ld_imm64 src=2); no stack.
    // `bpftool prog load obj/global_counter.o /sys/fs/bpf/xl_gc pinmaps /sys/fs/bpf/xl_gc_maps`; jit/dumpjit: 88 B.
    real!(
        global_counter,
        0,
        88,
        [
            0x18, 0x21, 0x00, 0x00, 0x9f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0x12, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x63, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x00,
            0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x18, 0x21, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x79, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x23, 0x00, 0x00, 0x9e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x61, 0x33, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x32, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
            0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7b, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7, 0x00, 0x00, 0x00, 0x02, 0x00,
            0x00, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // good_kfunc, xdp_kfunc.o (kfunc, src=2 off=0); stack r3 = r10; r3 += -16.
    // `bpftool prog load obj/xdp_kfunc.o /sys/fs/bpf/xl_xdp`; jit/dumpjit: 44 B.
    real!(
        xdp_kfunc,
        16,
        44,
        [
            0xbf, 0xa3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x03, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xb7, 0x02, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x85, 0x20, 0x00, 0x00, 0x20, 0x51, 0xa1, 0x00, 0xb7, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x95, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // count_tc, tc_shared.o (hash lookup inlined); stack r10-4.
    // `bpftool prog load obj/tc_shared.o /sys/fs/bpf/xl_tc`; jit/dumpjit: 80 B.
    real!(
        tc_shared,
        8,
        80,
        [
            0xb7, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x63, 0x1a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xbf, 0xa2, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0x18, 0x11, 0x00, 0x00, 0xa2, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x85, 0x00, 0x00, 0x00, 0xf0, 0x3c, 0x05, 0x00, 0x15, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x07, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x15, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7b, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // count_cgroup, cgroup_shared.o (hash lookup inlined); stack r10-4.
    // `bpftool prog load obj/cgroup_shared.o /sys/fs/bpf/xl_cgroup`; jit/dumpjit: 83 B.
    real!(
        cgroup_shared,
        8,
        83,
        [
            0xb7, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x63, 0x1a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xbf, 0xa2, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0x18, 0x11, 0x00, 0x00, 0xa2, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x85, 0x00, 0x00, 0x00, 0xf0, 0x3c, 0x05, 0x00, 0x15, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x07, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x15, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7b, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7,
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // count_cgroup, cgroup_private.o; stack r10-4.
    // `bpftool prog load obj/cgroup_private.o /sys/fs/bpf/xl_cgroup_private`; jit/dumpjit: 83 B.
    real!(
        cgroup_private,
        8,
        83,
        [
            0xb7, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x63, 0x1a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xbf, 0xa2, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0x18, 0x11, 0x00, 0x00, 0xa3, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x85, 0x00, 0x00, 0x00, 0xf0, 0x3c, 0x05, 0x00, 0x15, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x07, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x15, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7b, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb7,
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
    );
    // sim_ssthresh (prog 2312), struct_ops_ca.o (kfunc call); no stack.
    // `bpftool struct_ops register obj/struct_ops_ca.o`; jit/dumpjit: 27 B.
    real!(
        struct_ops_ssthresh,
        0,
        27,
        [
            0x79, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x85, 0x20, 0x00, 0x00, 0x00, 0x92, 0xbb, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00,
        ]
    );
    // sim_cong_avoid (prog 2313), struct_ops_ca.o (lone exit); no stack.
    // `bpftool struct_ops register obj/struct_ops_ca.o`; jit/dumpjit: 18 B.
    real!(struct_ops_cong_avoid, 0, 18, [0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,]);
    // sim_undo_cwnd (prog 2314), struct_ops_ca.o (kfunc call); no stack.
    // `bpftool struct_ops register obj/struct_ops_ca.o`; jit/dumpjit: 27 B.
    real!(
        struct_ops_undo_cwnd,
        0,
        27,
        [
            0x79, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x85, 0x20, 0x00, 0x00, 0x30, 0x92, 0xbb, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00,
        ]
    );

    #[test]
    fn alu_forms() {
        check(&[
            (&[ins(0xbf, 1, 1, 0, 0)], 0, "EMIT_mov: r1 = r1 emits nothing"),
            (&[ins(0xbc, 1, 1, 0, 0)], 2, "emit_mov_reg 32-bit: mov edi, edi is kept (zero-extension)"),
            (&[ins(0x07, 0, 0, 0, 0x1000)], 6, "ALU K imm32 on rax: short form 48 05 imm32"),
            (&[ins(0x07, 5, 0, 0, 0x1000)], 7, "is_axreg is r0 only: r5 (r8) takes 49 81 c0 imm32"),
            (&[ins(0x07, 1, 0, 0, -128)], 4, "is_imm8: 48 83 c7 imm8"),
            (&[ins(0xb7, 1, 0, 0, -1)], 7, "emit_mov_imm32 sign_propagate: 48 c7 c7 imm32"),
            (&[ins(0xb4, 1, 0, 0, -1)], 5, "ALU32 mov imm: bf imm32, no sign propagation"),
            (&[ins(0x2f, 1, 2, 0, 0)], 4, "imul rdi, rsi: 48 0f af f7"),
            (&[ins(0x27, 1, 0, 0, 1000)], 7, "imul rdi, rdi, imm32"),
            (&[ins(0xbf, 1, 2, 8, 0)], 4, "emit_movsx_reg: movsbq"),
            (&[ins(0xbc, 5, 2, 16, 0)], 4, "emit_movsx_reg: movswl with REX"),
            (&[ins(0xbf, 1, 0, -1, 0)], 12, "insn_is_mov_percpu_addr: mov, add rdi, gs:[this_cpu_off]"),
            (&[ins(0x3f, 1, 2, 0, 0)], 15, "div: push rax, rdx; mov rax; xor edx; div rsi; mov rdi, rax; pops"),
            (&[ins(0x37, 0, 0, 0, 10)], 14, "div r0 by K: only rdx saved; mov r11, imm32"),
            (&[ins(0x9c, 3, 0, 0, 0)], 12, "mod w3 by w0: divisor moved to r11, rdx not saved"),
            (&[ins(0x3c, 1, 2, 1, 0)], 11, "signed 32-bit div (off=1): cdq; idiv"),
            (&[ins(0x6f, 1, 2, 0, 0)], 5, "BMI2 shlx: 3-byte VEX, opcode, ModRM"),
            (&[ins(0x6f, 1, 4, 0, 0)], 3, "count already in rcx: shl rdi, cl"),
            (&[ins(0xdc, 5, 0, 0, 16)], 9, "be16 on r8: ror r8w, 8 and movzwl, each with REX"),
            (&[ins(0xd7, 1, 0, 0, 16)], 7, "bswap16 (ALU64 END) is emitted like be16"),
            (&[ins(0xd4, 5, 0, 0, 32)], 3, "le32 on r8: mov r8d, r8d"),
            (&[ins(0xd4, 1, 0, 0, 64)], 0, "le64 is a nop"),
        ]);
    }

    #[test]
    fn memory_atomic_jump_and_ld_imm64_forms() {
        let ld = |dst, src, lo: i32, hi: i32| [ins(0x18, dst, src, 0, lo), ins(0, 0, 0, 0, hi)];
        check(&[
            (&[ins(0x71, 0, 1, 0, 0)], 5, "ldxb: movzx with REX.W, disp8"),
            (&[ins(0x73, 10, 1, -1, 0)], 4, "stxb from dil needs REX (is_ereg_8l)"),
            (&[ins(0x6b, 10, 5, -2, 0)], 5, "stxh from r8: 66 44 89 45 fe"),
            (&[ins(0x6a, 10, 0, -2, 5)], 6, "sth: 66 c7 45 fe imm16"),
            (&[ins(0x7a, 10, 0, -8, 5)], 8, "stdw: 48 c7 45 f8 imm32"),
            (&[ins(0xc2, 0, 0, 0, 0)], 3, "BPF_NOSPEC: lfence"),
            (&[ins(0x39, 0, 1, 8, 0)], 43, "PROBE_MEM: address check (32 B + add r11, off 7 B), then the load"),
            (&[ins(0xc3, 1, 2, 0, 0x00)], 4, "lock add [rdi], esi"),
            (&[ins(0xdb, 1, 2, 0, 0x01)], 6, "lock xadd with REX.W: 0f c1"),
            (&[ins(0xdb, 1, 2, 0, 0x41)], 27, "fetch_or: mov r10, rax; load; mov; or; lock cmpxchg; jne; 2 movs"),
            (&[ins(0xdb, 0, 1, 0, 0x100)], 4, "load-acquire is a plain mov on x86"),
            (&[ins(0x25, 1, 0, 0, 0)], 5, "imm 0 takes test for every condition: test rdi, rdi; ja rel8"),
            (&[ins(0x45, 1, 0, 0, 0)], 9, "JSET K is always test rdi, imm32"),
            (&[ins(0x16, 1, 0, 0, 5)], 5, "JMP32: cmp edi, imm8 without REX"),
            (&[ins(0x05, 0, 0, 0, 0)], 0, "a jump to the next insn is dropped"),
            (&[ins(0x05, 0, 0, -1, 0)], 2, "goto -1 is always jmp rel8 -2"),
            (&[ins(0x85, 0, 2, 0, 99)], 5, "vmlinux kfunc: call rel32"),
            (&ld(1, 0, 0, 0), 2, "emit_mov_imm64: zero is xor edi, edi"),
            (&ld(1, 0, i32::MIN, -1), 7, "a simm32 value: mov rdi, imm32 sign-extended"),
            (&ld(1, 0, i32::MIN, 0), 5, "0x80000000 is a u32: mov edi, imm32"),
            (&ld(1, 0, 0, 1), 10, "movabs"),
            (&ld(1, 1, 153, 0), 10, "map pointer (dump form src=1): movabs"),
        ]);
    }

    /// The first exit emits pop_callee_regs, leave and the thunk jmp; later exits jump back to it.
    #[test]
    fn exits_stack_and_callee_saved_registers() {
        let r9 = [ins(0xbf, 9, 1, 0, 0), ins(0x15, 9, 0, 1, 0), EXIT, ins(0xb7, 0, 0, 0, 0), EXIT];
        assert_eq!(jited_len(&r9, 0, false), Ok(12 + 2 + 3 + 5 + (2 + 1 + 5) + 2 + 2));
        assert_eq!(jited_len(&[EXIT], 512, false), Ok(12 + 7 + 6), "sub rsp, imm32");
    }

    /// A private stack: no `sub rsp` but `movabs r9` and `add r9, gs:[..]` (19 bytes), r10 read
    /// as r9 (a 32-bit store gains a REX prefix: `41 89 41 fc` for `mov [r9-4], eax`, as in
    /// mountsnoop's image on the reference kernel), and `push r9`/`pop r9` around each call.
    #[test]
    fn each_function_of_a_program_with_calls_is_its_own_image() {
        // main: call sub; exit. sub: *(u64 *)(r10 - 8) = 0; r0 = 0; exit.
        let sub = [ins(0x7a, 10, 0, -8, 0), ins(0xb7, 0, 0, 0, 0), EXIT];
        let p: Vec<[u8; 8]> = [ins(0x85, 0, 1, 0, 1), EXIT].into_iter().chain(sub).collect();
        assert_eq!(function_starts(&p), vec![0, 2]);
        // The call costs what a helper call costs; each function has its own frame and depth.
        let main = jited_len(&[ins(0x85, 0, 0, 0, 1), EXIT], 0, false).expect("main");
        let with_stack = jited_len(&sub, 8, false).expect("sub");
        assert_eq!(jited_len_funcs(&p, &[(0, false), (8, false)]), Ok(main + with_stack));
        // On a private stack the caller saves r9 around the call (4 bytes more).
        let priv_main = jited_len(&[ins(0x85, 0, 0, 0, 1), EXIT], 64, true).expect("main");
        assert_eq!(jited_len_funcs(&p, &[(64, true), (8, false)]), Ok(priv_main + with_stack));
        // The whole program in one image is refused, and so is a tail call beside calls.
        assert!(jited_len(&p, 0, false).is_err());
        let tail: Vec<[u8; 8]> = [ins(0x85, 0, 1, 0, 1), EXIT, ins(0x85, 0, 0, 0, 12), EXIT].to_vec();
        assert!(jited_len_funcs(&tail, &[(0, false), (0, false)]).is_err());
        assert!(jited_len_funcs(&p, &[(0, false)]).is_err(), "one depth per function");
    }

    #[test]
    fn private_stack_frames() {
        let p = [ins(0x63, 10, 0, -4, 0), ins(0x7b, 10, 1, -64, 0), ins(0x85, 0, 0, 0, 5), EXIT];
        assert_eq!(jited_len(&p, 64, false), Ok(12 + 7 + 3 + 4 + 5 + 6));
        assert_eq!(jited_len(&p, 64, true), Ok(12 + 19 + 4 + 4 + 9 + 6));
        // Measured on the reference kernel: tracepoint, perf_event, raw_tp and tp_btf programs
        // with 64 bytes of stack have one; kprobe, raw_tp.w and socket programs do not.
        assert!(uses_private_stack(ProgType::TRACEPOINT, 0, 64, false));
        assert!(uses_private_stack(ProgType::PERF_EVENT, 0, 49, false), "64 once rounded up to 16");
        assert!(uses_private_stack(ProgType::TRACING, 24, 64, false), "tp_btf");
        assert!(!uses_private_stack(ProgType::TRACING, 28, 64, false), "an iterator");
        assert!(!uses_private_stack(ProgType::TRACEPOINT, 0, 48, false));
        assert!(!uses_private_stack(ProgType::TRACEPOINT, 0, 64, true), "a tail call");
        assert!(!uses_private_stack(ProgType::KPROBE, 0, 256, false));
        assert!(!uses_private_stack(ProgType::SOCKET_FILTER, 0, 256, false));
    }

    /// Sizes measured on this kernel: /tmp/jit/live/load.py and chain.py load each program as a
    /// socket filter (BPF_PROG_LOAD) and read jited_prog_len; the instructions are its xlated dump.
    #[test]
    fn measured_jump_convergence() {
        let fill = |v: &mut Vec<[u8; 8]>, fives, twos| {
            v.extend((0..fives).map(|_| ins(0xb7, 1, 0, 0, 1)).chain((0..twos).map(|_| ins(0xb7, 1, 0, 0, 0))));
        };
        // is_imm8_jmp_offset: a forward jcc over 123 bytes is rel8 (149 B), over 124 rel32 (154 B).
        for (fives, twos, real) in [(23, 4, 149), (24, 2, 154)] {
            let mut v = vec![ins(0x61, 0, 1, 112, 0), ins(0x15, 0, 0, fives + twos, 0)];
            fill(&mut v, fives, twos);
            v.push(EXIT);
            assert_eq!(jited_len(&v, 0, false), Ok(real));
        }
        // A loop jcc 125 bytes back stays rel32 (151 B): its own end comes from the previous pass,
        // and addrs start at 64 B per instruction (jitsize.py starts at 0 and says 147).
        let mut v = vec![ins(0xb7, 0, 0, 0, 0), ins(0xb7, 2, 0, 0, 0)];
        fill(&mut v, 23, 0);
        v.extend([ins(0x07, 2, 0, 0, 1), ins(0xa5, 2, 0, -25, 3), EXIT]);
        assert_eq!(jited_len(&v, 0, false), Ok(151));
        // 30 chained jcc that shrink one per pass: padding starts at pass 15 (3724 B; jitsize.py 3658).
        let mut v = vec![ins(0xb7, 0, 0, 0, 0), ins(0x61, 7, 1, 112, 0), ins(0xb7, 1, 0, 0, 0)];
        for k in 0..30 {
            v.push(ins(0x15, 7, 0, if k == 29 { 25 } else { 26 }, 0));
            fill(&mut v, 22, 3);
        }
        v.push(EXIT);
        assert_eq!(jited_len(&v, 0, false), Ok(3724));
    }

    #[test]
    fn refused_forms() {
        let refused = |v: &[[u8; 8]], what: &str| match jited_len(v, 0, false) {
            Err(JitError::Unsupported { what: w, .. }) => assert!(w.contains(what), "{w}"),
            r => panic!("{r:?}"),
        };
        refused(&[ins(0x85, 0, 0, 0, 12), EXIT], "tail call");
        refused(&[ins(0xf5, 0, 0, 0, 0), EXIT], "tail call");
        refused(&[ins(0x85, 0, 1, 0, 3), EXIT], "bpf-to-bpf");
        refused(&[ins(0x85, 0, 2, 1, 99), EXIT], "BTF fd");
        refused(&[ins(0xe5, 0, 0, 0, 0), EXIT], "may_goto");
        refused(&[ins(0x81, 0, 1, 0, 0), EXIT], "LDSX");
        refused(&[ins(0xa1, 0, 1, 0, 0), EXIT], "arena");
        refused(&[ins(0xbf, 1, 1, 1, 1 << 16), EXIT], "arena");
        refused(&[ins(0x18, 1, 4, 0, 5), ins(0, 0, 0, 0, 0), EXIT], "subprogram");
        refused(&[ins(0x18, 1, 0, 0, 5)], "second half");
        refused(&[ins(0x96, 0, 0, 0, 0)], "unknown opcode");
        refused(&[ins(0x05, 0, 0, 5, 0), EXIT], "outside");
        refused(&[], "empty");
    }

    /// Arbitrary bytes, and random programs of plausible opcodes, give Ok or Err: no panic, no hang.
    #[test]
    fn random_programs_never_panic() {
        const CODES: [u8; 16] = [0x07, 0x15, 0x2d, 0x05, 0x06, 0x95, 0x85, 0x18, 0x61, 0x7b, 0xb7, 0xbf, 0x3f, 0x6f, 0xdb, 0xdc];
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for round in 0..20_000 {
            let n = 1 + (next() % 48) as usize;
            let prog: Vec<[u8; 8]> = (0..n)
                .map(|_| {
                    let mut b = next().to_le_bytes();
                    if round % 2 == 1 {
                        b[0] = CODES[b[0] as usize % CODES.len()];
                        b[1] = ((b[1] & 0x0f) % 11) | (((b[1] >> 4) % 11) << 4);
                        let off = ((b[2] as i8 as i16) % (n as i16 + 1)).to_le_bytes();
                        b[2..4].copy_from_slice(&off);
                    }
                    b
                })
                .collect();
            let _ = jited_len(&prog, (next() % 600) as u32, false);
        }
    }

    /// prog_array.o's `entry` (r2 = the prog array, r3 = 1, tail call, r0 = 1, exit): a tail
    /// call whose map and key are known is emit_bpf_tail_call_direct, and the prologue keeps the
    /// tail-call counter (emit_prologue_tail_call). The reference kernel: `jited 81B`.
    #[test]
    fn a_direct_tail_call_is_sized_as_the_kernel_jits_it() {
        let mut map = [0u8; 8];
        map[0] = 0x18;
        map[1] = 0x12;
        let prog = [map, [0; 8], ins(0xb7, 3, 0, 0, 1), ins(0xf5, 0, 0, 0, 1), ins(0xb7, 0, 0, 0, 1), EXIT];
        assert_eq!(jited_len(&prog, 0, false), Ok(81));
        let indirect = [map, [0; 8], ins(0xb7, 3, 0, 0, 1), ins(0xf5, 0, 0, 0, 0), ins(0xb7, 0, 0, 0, 1), EXIT];
        assert!(jited_len(&indirect, 0, false).is_err(), "the indirect form is not sized");
    }
}
