//! What the verifier makes of a program after checking it, as far as its
//! length goes: the program `bpftool prog show` counts as `xlated` and the
//! JIT compiles (Linux 6.18, x86-64, a loader with CAP_BPF and CAP_PERFMON,
//! as every simulated process is root).
//!
//! First the privileged verifier's dead-code passes (`bpf_check`, before
//! any other rewrite): a conditional jump one of whose ways no path took
//! becomes `goto` (`opt_hard_wire_dead_code_branches`), the instructions
//! no path reached go (`opt_remove_dead_code`), then the `goto +0` left
//! behind (`opt_remove_nops`). Code behind a `bpf_core_field_exists()` test
//! CO-RE resolved, or behind a constant the verifier followed, is not in
//! the xlated program. See [`remove_dead_code`].
//!
//! Then one rewrite that changes the length of the programs students
//! meet: `do_misc_fixups` (kernel/bpf/verifier.c) replaces each
//! `call bpf_map_lookup_elem` whose map is the same on every path (not
//! `bpf_map_ptr_poisoned`, see `record_func_map`) with the map type's own
//! lookup code, `map->ops->map_gen_lookup`, when the JIT is requested
//! (always: CONFIG_BPF_JIT_ALWAYS_ON). The block is spliced in by
//! `bpf_patch_insn_single`, which moves the jumps that cross it
//! (`bpf_adj_branches`). Other rewrites either do not change the length
//! (a helper call's new imm, a kfunc's address) or apply to instructions
//! these programs do not have (division by a register, tail calls for an
//! unprivileged loader, `bpf_loop` inlining).
//!
//! The instructions made here are only counted and compiled for their
//! size: the simulator's interpreter runs the program as loaded.

use super::types::{MapType, ProgType};
use super::vm::insn;
use super::MapDef;

/// `offsetof(struct bpf_array, value)` on the reference 6.18 kernel (the
/// `r1 += 312` of a dumped array lookup).
pub const BPF_ARRAY_VALUE: i32 = 312;
/// `offsetof(struct htab_elem, key)` on the reference 6.18 kernel (a hash
/// map's inlined lookup adds it plus the rounded key size: `r0 += 56` for
/// a 4-byte key).
pub const HTAB_ELEM_KEY: i32 = 48;
/// `offsetof(struct htab_elem, lru_node) + offsetof(struct bpf_lru_node, ref)`
/// (16 + 19 on 6.18).
const HTAB_LRU_REF: i16 = 35;
/// `BPF_F_INNER_MAP`: such an array's lookup is not inlined.
const BPF_F_INNER_MAP: u32 = 1 << 12;

/// `BPF_EMIT_CALL(__htab_map_lookup_elem)`: its imm is the function's
/// offset from `__bpf_call_base` on the reference build
/// ([`super::kallsyms`]).
fn call() -> [u8; 8] {
    insn(0x85, 0, 0, 0, super::kallsyms::offset("__htab_map_lookup_elem").unwrap_or(0))
}

/// One change of a program's length, in the order the verifier made it:
/// what `bpf_adj_linfo`, `bpf_adj_linfo_after_remove` and
/// `adjust_subprog_starts` follow to keep line info and function starts on
/// their instructions ([`adjust_line_info`], [`adjust_func_starts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// `bpf_patch_insn_single`: the instruction at `pos` became `len`.
    Patch {
        /// Where.
        pos: usize,
        /// How many instructions replace it.
        len: usize,
    },
    /// `verifier_remove_insns`: `cnt` instructions at `off` went.
    Remove {
        /// Where.
        off: usize,
        /// How many.
        cnt: usize,
    },
}

/// `array_map_gen_lookup` (kernel/bpf/arraymap.c): the index from the key,
/// bounds-checked, times the element size, plus the values' start. The
/// creator is root, so `bypass_spec_v1` holds and no index mask is added.
fn array_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    if m.map_flags & BPF_F_INNER_MAP != 0 {
        return None;
    }
    let elem = m.elem_size();
    let scale = if elem.is_power_of_two() {
        insn(0x67, 0, 0, 0, elem.trailing_zeros() as i32)
    } else {
        insn(0x27, 0, 0, 0, i32::try_from(elem).ok()?)
    };
    Some(vec![
        insn(0x07, 1, 0, 0, BPF_ARRAY_VALUE),      // r1 += offsetof(struct bpf_array, value)
        insn(0x61, 0, 2, 0, 0),                    // r0 = *(u32 *)(r2 + 0)
        insn(0x35, 0, 0, 3, m.max_entries as i32), // if r0 >= max_entries goto +3
        scale,                                     // r0 <<= ilog2(elem_size), or r0 *= elem_size
        insn(0x0f, 0, 1, 0, 0),                    // r0 += r1
        insn(0x05, 0, 0, 1, 0),                    // goto +1
        insn(0xb7, 0, 0, 0, 0),                    // r0 = 0
    ])
}

/// `offsetof(struct htab_elem, key) + round_up(key_size, 8)`: where the
/// value starts; None past what an imm holds (the map could not exist).
fn value_offset(m: &MapDef) -> Option<i32> {
    i32::try_from(i64::from(HTAB_ELEM_KEY) + (i64::from(m.key_size) + 7) / 8 * 8).ok()
}

/// `htab_map_gen_lookup` (kernel/bpf/hashtab.c): `__htab_map_lookup_elem`,
/// then the value's address past the element's key.
fn htab_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    Some(vec![call(), insn(0x15, 0, 0, 1, 0), insn(0x07, 0, 0, 0, value_offset(m)?)])
}

/// `htab_lru_map_gen_lookup`: as a hash map, and the element's LRU
/// reference bit set when it is clear.
fn htab_lru_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    Some(vec![
        call(),
        insn(0x15, 0, 0, 4, 0),            // if r0 == 0 goto +4
        insn(0x71, 1, 0, HTAB_LRU_REF, 0), // r1 = *(u8 *)(r0 + ref)
        insn(0x55, 1, 0, 1, 0),            // if r1 != 0 goto +1
        insn(0x72, 0, 0, HTAB_LRU_REF, 1), // *(u8 *)(r0 + ref) = 1
        insn(0x07, 0, 0, 0, value_offset(m)?),
    ])
}

/// `htab_of_map_gen_lookup`: a hash map's lookup, then the inner map's
/// pointer the value holds.
fn htab_of_maps_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    Some(vec![call(), insn(0x15, 0, 0, 2, 0), insn(0x07, 0, 0, 0, value_offset(m)?), insn(0x79, 0, 0, 0, 0)])
}

/// `array_of_map_gen_lookup`: an array's lookup, then the inner map's
/// pointer the slot holds (NULL for an empty slot).
fn array_of_maps_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    if m.map_flags & BPF_F_INNER_MAP != 0 {
        return None;
    }
    Some(vec![
        insn(0x07, 1, 0, 0, BPF_ARRAY_VALUE),
        insn(0x61, 0, 2, 0, 0),
        insn(0x35, 0, 0, 5, m.max_entries as i32),
        insn(0x67, 0, 0, 0, 3), // elem_size: a pointer, 8
        insn(0x0f, 0, 1, 0, 0),
        insn(0x79, 0, 0, 0, 0), // r0 = *(u64 *)(r0 + 0)
        insn(0x15, 0, 0, 1, 0), // if r0 == 0 goto +1
        insn(0x05, 0, 0, 1, 0),
        insn(0xb7, 0, 0, 0, 0),
    ])
}

/// `BPF_MOV64_PERCPU_REG(dst, src)`: `mov` with `off = BPF_ADDR_PERCPU`
/// (-1), this CPU's address of a per-CPU pointer (x86-64:
/// `bpf_jit_supports_percpu_insn`).
fn percpu(dst: u8, src: u8) -> [u8; 8] {
    insn(0xbf, dst, src, -1, 0)
}

/// `percpu_array_map_gen_lookup`: as an array's, the slot holding the
/// value's per-CPU pointer, made this CPU's.
fn percpu_array_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    if m.map_flags & BPF_F_INNER_MAP != 0 {
        return None;
    }
    Some(vec![
        insn(0x07, 1, 0, 0, BPF_ARRAY_VALUE), // r1 += offsetof(struct bpf_array, pptrs)
        insn(0x61, 0, 2, 0, 0),
        insn(0x35, 0, 0, 5, m.max_entries as i32),
        insn(0x67, 0, 0, 0, 3),
        insn(0x0f, 0, 1, 0, 0),
        insn(0x79, 0, 0, 0, 0),
        percpu(0, 0),
        insn(0x05, 0, 0, 1, 0),
        insn(0xb7, 0, 0, 0, 0),
    ])
}

/// `htab_percpu_map_gen_lookup`: a hash map's lookup, then the per-CPU
/// pointer stored past the key, made this CPU's.
fn htab_percpu_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    Some(vec![call(), insn(0x15, 0, 0, 3, 0), insn(0x07, 0, 0, 0, value_offset(m)?), insn(0x79, 0, 0, 0, 0), percpu(0, 0)])
}

/// The imm of `r0 = &cpu_number` in the inlined `bpf_get_smp_processor_id`:
/// the per-CPU variable's offset on the reference kernel build (read from
/// its `bpftool prog dump xlated`; it differs between builds).
pub const CPU_NUMBER: i32 = 0x838f_e034_u32 as i32;

/// `do_misc_fixups` on x86-64 (CONFIG_SMP): `call bpf_get_smp_processor_id`
/// becomes a load of this CPU's `cpu_number`.
fn smp_processor_id() -> Vec<[u8; 8]> {
    vec![insn(0xb7, 0, 0, 0, CPU_NUMBER), percpu(0, 0), insn(0x61, 0, 0, 0, 0)]
}

/// `BPF_REG_AX`, the verifier's scratch register (`MAX_BPF_REG`).
const REG_AX: u8 = 11;

/// `do_misc_fixups`' "make divide-by-zero and divide-by-minus-one
/// exceptions impossible" (Linux 6.18): a division or modulo by a
/// register gets a test of the divisor first (`chk_and_div`,
/// `chk_and_mod`, and for the signed ones, `off == 1`, `chk_and_sdiv`,
/// `chk_and_smod`). None for any other instruction.
fn div_check(ins: &[u8; 8]) -> Option<Vec<[u8; 8]>> {
    let (op, class) = (ins[0] & 0xf0, ins[0] & 7);
    if !matches!(class, 4 | 7) || ins[0] & 8 == 0 || !matches!(op, 0x30 | 0x90) {
        return None;
    }
    let (is64, isdiv) = (class == 7, op == 0x30);
    let signed = i16::from_le_bytes([ins[2], ins[3]]) == 1;
    let (dst, src) = (ins[1] & 0xf, ins[1] >> 4);
    let (jmp, alu) = (if is64 { 0x05 } else { 0x06 }, if is64 { 0x07 } else { 0x04 });
    let block = match (isdiv, signed) {
        (true, false) => vec![insn(jmp | 0x50, src, 0, 2, 0), insn(0xac, dst, dst, 0, 0), insn(0x05, 0, 0, 1, 0), *ins],
        (false, false) => {
            let mut b =
                vec![insn(jmp | 0x10, src, 0, if is64 { 1 } else { 2 }, 0), *ins, insn(0x05, 0, 0, 1, 0), insn(0xbc, dst, dst, 0, 0)];
            b.truncate(if is64 { 2 } else { 4 });
            b
        }
        (true, true) => vec![
            insn(0xbf, REG_AX, src, 0, 0),
            insn(alu, REG_AX, 0, 0, 1),
            insn(jmp | 0x20, REG_AX, 0, 4, 1),
            insn(jmp | 0x10, REG_AX, 0, 1, 0),
            insn(alu | 0xb0, dst, 0, 0, 0),
            insn(alu | 0x80, dst, 0, 0, 0),
            insn(0x05, 0, 0, 1, 0),
            *ins,
        ],
        (false, true) => {
            let mut b = vec![
                insn(0xbf, REG_AX, src, 0, 0),
                insn(alu, REG_AX, 0, 0, 1),
                insn(jmp | 0x20, REG_AX, 0, 3, 1),
                insn(jmp | 0x10, REG_AX, 0, if is64 { 3 } else { 4 }, 1),
                insn(0xb4, dst, 0, 0, 0),
                insn(0x05, 0, 0, 1, 0),
                *ins,
                insn(0x05, 0, 0, 1, 0),
                insn(0xbc, dst, dst, 0, 0),
            ];
            b.truncate(if is64 { 7 } else { 9 });
            b
        }
    };
    Some(block)
}

/// The map type's `map_gen_lookup`, or None where the type has none (or
/// it declines): the call stays, with a new imm only. XSK maps'
/// (`xsk_map_gen_lookup`) is not modelled.
fn gen_lookup(m: &MapDef) -> Option<Vec<[u8; 8]>> {
    match m.kind {
        MapType::PERCPU_ARRAY => percpu_array_lookup(m),
        MapType::PERCPU_HASH => htab_percpu_lookup(m),
        MapType::ARRAY => array_lookup(m),
        MapType::HASH => htab_lookup(m),
        MapType::LRU_HASH => htab_lru_lookup(m),
        MapType::ARRAY_OF_MAPS => array_of_maps_lookup(m),
        MapType::HASH_OF_MAPS => htab_of_maps_lookup(m),
        _ => None,
    }
}

/// What a register holds, as far as the rewrite needs: a map (its id, as a
/// loaded program's `ld_imm64` names it), or anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Map(u32),
    /// A constant (`mov` of an imm, `ld_imm64` of a number).
    Const(u64),
    Other,
}

/// A jump's (or a bpf-to-bpf call's) relative target: `Some(true, off)`
/// where it is the imm (a pseudo call, JMP32's `gotol`), `Some(false, off)`
/// where it is the 16-bit offset; None for anything else (helper calls and
/// exit included).
fn relative(ins: &[u8; 8]) -> Option<(bool, i64)> {
    let op = ins[0];
    let class = op & 7;
    let pseudo_call = op == 0x85 && ins[1] >> 4 == 1;
    let jump = (class == 5 || class == 6) && !matches!(op, 0x85 | 0x95);
    if !jump && !pseudo_call {
        return None;
    }
    let in_imm = pseudo_call || op == 0x06;
    Some((in_imm, if in_imm { i64::from(imm(ins)) } else { i64::from(i16::from_le_bytes([ins[2], ins[3]])) }))
}

fn imm(ins: &[u8; 8]) -> i32 {
    i32::from_le_bytes([ins[4], ins[5], ins[6], ins[7]])
}

/// Where each instruction jumps besides the next one, and whether it falls
/// through (a call returns to the next one).
fn successors(insns: &[[u8; 8]], i: usize) -> (Option<usize>, bool) {
    let op = insns[i][0];
    if op == 0x95 {
        return (None, false);
    }
    match relative(&insns[i]) {
        Some((_, off)) if op != 0x85 => {
            let t = usize::try_from(i as i64 + 1 + off).ok().filter(|t| *t < insns.len());
            (t, op & 0xf0 != 0x00)
        }
        _ => (None, true),
    }
}

/// Merges `regs` into what instruction `t` has seen (a register that
/// differs between paths is Other) and queues `t` when that changed.
fn flow_into(at: &mut [Option<[Reg; 11]>], work: &mut Vec<usize>, t: usize, regs: [Reg; 11]) {
    let Some(slot) = at.get_mut(t) else { return };
    let merged = match *slot {
        None => regs,
        Some(old) => std::array::from_fn(|r| if old[r] == regs[r] { old[r] } else { Reg::Other }),
    };
    if *slot != Some(merged) {
        *slot = Some(merged);
        work.push(t);
    }
}

/// The map in r1 at each `call bpf_map_lookup_elem`, when every path
/// brings the same one (`record_func_map`: otherwise the call site is
/// poisoned and keeps its call). A forward data flow over the program's
/// jumps, each register a map or something else. A lookup in a map of
/// maps returns an inner map (`CONST_PTR_TO_MAP` of the outer map's
/// `inner_map_meta`, which every inner map must match): `inner(id)` names
/// one, and a lookup in it is inlined as the kernel inlines it.
fn lookup_maps(insns: &[[u8; 8]], inner: &dyn Fn(u32) -> Option<u32>) -> Vec<(usize, u32)> {
    map_calls(insns, inner, &[1])
}

/// [`lookup_maps`] for calls of any of `helpers` (`record_func_map` runs
/// for each map helper): the call and its map.
fn map_calls(insns: &[[u8; 8]], inner: &dyn Fn(u32) -> Option<u32>, helpers: &[i32]) -> Vec<(usize, u32)> {
    let (at, poisoned) = flow(insns, inner, helpers);
    (0..insns.len())
        .filter(|&i| insns[i][0] == 0x85 && insns[i][1] == 0 && helpers.contains(&imm(&insns[i])))
        .filter(|&i| !poisoned[i])
        .filter_map(|i| match at[i]?[1] {
            Reg::Map(id) => Some((i, id)),
            _ => None,
        })
        .collect()
}

/// Each `bpf_tail_call` (`call 12`) with its prog array and key when the
/// same on every path and the key a constant (`record_func_map`,
/// `record_func_key`: r2 and r3).
fn tail_calls(insns: &[[u8; 8]], inner: &dyn Fn(u32) -> Option<u32>) -> Vec<(usize, Option<(u32, u64)>)> {
    let (at, _) = flow(insns, inner, &[]);
    (0..insns.len())
        .filter(|&i| insns[i][0] == 0x85 && insns[i][1] == 0 && imm(&insns[i]) == 12)
        .map(|i| match at[i].map(|r| (r[2], r[3])) {
            Some((Reg::Map(m), Reg::Const(k))) => (i, Some((m, k))),
            _ => (i, None),
        })
        .collect()
}

/// The forward data flow of [`map_calls`]: what each register holds at
/// each instruction (None where no path reaches it), and which calls of
/// `helpers` saw something other than a map in r1.
fn flow(insns: &[[u8; 8]], inner: &dyn Fn(u32) -> Option<u32>, helpers: &[i32]) -> (Vec<Option<[Reg; 11]>>, Vec<bool>) {
    let n = insns.len();
    let mut at: Vec<Option<[Reg; 11]>> = vec![None; n];
    let mut poisoned = vec![false; n];
    if n == 0 {
        return (at, poisoned);
    }
    at[0] = Some([Reg::Other; 11]);
    let mut work = vec![0usize];
    // Each instruction's state only ever moves towards Other: bounded.
    while let Some(i) = work.pop() {
        let Some(mut regs) = at[i] else { continue };
        let op = insns[i][0];
        let dst = (insns[i][1] & 0xf) as usize;
        let src = (insns[i][1] >> 4) as usize;
        let mut next = i + 1;
        match op {
            0x18 => {
                let id = imm(&insns[i]) as u32;
                if dst < 11 {
                    let hi = insns.get(i + 1).map_or(0, imm) as u32;
                    regs[dst] = match src {
                        1 => Reg::Map(id),
                        0 => Reg::Const(u64::from(hi) << 32 | u64::from(id)),
                        _ => Reg::Other,
                    };
                }
                next = i + 2;
            }
            0xb7 if dst < 11 => regs[dst] = Reg::Const(imm(&insns[i]) as i64 as u64),
            0xb4 if dst < 11 => regs[dst] = Reg::Const(u64::from(imm(&insns[i]) as u32)),
            0xbf if src < 11 && dst < 11 => regs[dst] = regs[src],
            // A bpf-to-bpf call: the callee starts with the caller's r1-r5.
            0x85 if src == 1 => {
                if let Ok(t) = usize::try_from(i as i64 + 1 + i64::from(imm(&insns[i]))) {
                    let mut callee = regs;
                    for r in &mut callee[6..] {
                        *r = Reg::Other;
                    }
                    flow_into(&mut at, &mut work, t, callee);
                }
                for r in regs.iter_mut().take(6) {
                    *r = Reg::Other;
                }
            }
            0x85 => {
                let imm = imm(&insns[i]);
                if src == 0 && helpers.contains(&imm) && !matches!(regs[1], Reg::Map(_)) {
                    poisoned[i] = true;
                }
                let returned = match regs[1] {
                    Reg::Map(outer) if imm == 1 && src == 0 => inner(outer).map_or(Reg::Other, Reg::Map),
                    _ => Reg::Other,
                };
                for r in regs.iter_mut().take(6) {
                    *r = Reg::Other;
                }
                regs[0] = returned;
            }
            _ => {
                let class = op & 7;
                // ALU, loads: the destination is no longer a map.
                if matches!(class, 0 | 1 | 4 | 7) && dst < 11 {
                    regs[dst] = Reg::Other;
                }
            }
        }
        let (jump, falls) = if op == 0x18 { (None, true) } else { successors(insns, i) };
        if let Some(t) = jump {
            flow_into(&mut at, &mut work, t, regs);
        }
        if falls {
            flow_into(&mut at, &mut work, next, regs);
        }
    }
    (at, poisoned)
}

/// Replaces instruction `pos` with `block`, moving the jumps that cross
/// it as `bpf_adj_branches` does: a jump from before `pos` to after it
/// goes `delta` further; one from after the block back to `pos` or before
/// goes `delta` further back. A jump that no longer fits its 16-bit
/// offset makes the kernel fail the load (`bpf_adj_delta_to_off`:
/// -ERANGE); here the program is left as it was (false).
fn patch(insns: &mut Vec<[u8; 8]>, pos: usize, block: Vec<[u8; 8]>, edits: &mut Vec<Edit>) -> bool {
    let delta = block.len() as i64 - 1;
    let mut out = insns.clone();
    for (i, ins) in insns.iter().enumerate() {
        let Some((in_imm, off)) = relative(ins).filter(|_| i != pos) else { continue };
        let target = i as i64 + 1 + off;
        let (i, pos) = (i as i64, pos as i64);
        let new = if i < pos && target > pos {
            off + delta
        } else if i > pos && target <= pos {
            off - delta
        } else {
            off
        };
        if new != off {
            let i = i as usize;
            if in_imm {
                let Ok(new) = i32::try_from(new) else { return false };
                out[i][4..8].copy_from_slice(&new.to_le_bytes());
            } else {
                let Ok(new) = i16::try_from(new) else { return false };
                out[i][2..4].copy_from_slice(&new.to_le_bytes());
            }
        }
    }
    edits.push(Edit::Patch { pos, len: block.len() });
    out.splice(pos..=pos, block);
    *insns = out;
    true
}

/// A relative target that `bpf_adj_branches` moves: a jump's offset, a
/// bpf-to-bpf call's imm, or a subprogram address's (`ld_imm64` with
/// `BPF_PSEUDO_FUNC`) imm.
fn branch(ins: &[u8; 8]) -> Option<(bool, i64)> {
    if ins[0] == 0x18 && ins[1] >> 4 == 4 {
        return Some((true, i64::from(imm(ins))));
    }
    relative(ins)
}

/// `bpf_remove_insns`: `cnt` instructions at `off` go, and
/// `bpf_adj_branches(prog, off, off + cnt, off)` moves the jumps across
/// them, as `bpf_adj_delta_to_off` computes it (on the shifted program: a
/// jump at or after `off` is tested with its new position).
fn remove_insns(insns: &mut Vec<[u8; 8]>, off: usize, cnt: usize, edits: &mut Vec<Edit>) {
    edits.push(Edit::Remove { off, cnt });
    insns.drain(off..off + cnt);
    let (pos, end_old, end_new) = (off as i64, (off + cnt) as i64, off as i64);
    let delta = end_new - end_old;
    for (curr, ins) in insns.iter_mut().enumerate() {
        let Some((in_imm, rel)) = branch(ins) else { continue };
        let curr = curr as i64;
        let new = if curr < pos && curr + rel + 1 >= end_old {
            rel + delta
        } else if curr >= end_new && curr + rel + 1 < end_new {
            rel - delta
        } else {
            continue;
        };
        if in_imm {
            ins[4..8].copy_from_slice(&(new as i32).to_le_bytes());
        } else {
            ins[2..4].copy_from_slice(&(new as i16).to_le_bytes());
        }
    }
}

/// `insn_is_cond_jump`.
fn is_cond_jump(op: u8) -> bool {
    match op & 7 {
        6 => op & 0xf0 != 0x00,
        5 => !matches!(op & 0xf0, 0x00 | 0x80 | 0x90),
        _ => false,
    }
}

/// `convert_ctx_accesses` for the program types whose context the
/// simulator rewrites, given which instructions load through the context
/// pointer ([`super::Verdict::ctx_loads`]) and which a path reached: the
/// instructions and the `seen` marks, with each rewritten load replaced by
/// its sequence (the new instructions are reached as the load was). The
/// kernel runs it after the dead-code passes; the result is the same, as
/// those only look at jumps and `seen`.
///
/// perf_event (`pe_prog_convert_ctx_access`, kernel/trace/bpf_trace.c): the
/// program sees `struct bpf_perf_event_data` (`regs` at 0, `sample_period`
/// at 168, `addr` at 176), the kernel passes `struct
/// bpf_perf_event_data_kern` (`regs` at 0, `data` at 8): `sample_period` is
/// `data->period` (offset 8 in 6.18's `perf_sample_data`), `addr` is
/// `data->addr` (184), a register is `regs->…` through the pointer. A
/// load narrower than the 8-byte field keeps its low bytes (`BPF_AND`, after
/// a shift for an upper part). Other types keep their loads (kprobe and
/// tracepoint contexts are the kernel's own layout).
pub fn convert_ctx_accesses(
    prog_type: ProgType,
    insns: &[[u8; 8]],
    seen: &[bool],
    ctx_loads: &[bool],
    edits: &mut Vec<Edit>,
) -> (Vec<[u8; 8]>, Vec<bool>) {
    let (mut out, mut marks) = (insns.to_vec(), seen.to_vec());
    if SKB_TYPES.contains(&prog_type) && ctx_loads.len() == insns.len() {
        for (ins, _) in out.iter_mut().zip(ctx_loads).filter(|(_, l)| **l) {
            // bpf_convert_ctx_access: __sk_buff.len (offset 0, u32) is sk_buff.len.
            if ins[0] == 0x61 && i16::from_le_bytes([ins[2], ins[3]]) == 0 {
                ins[2..4].copy_from_slice(&SK_BUFF_LEN.to_le_bytes());
            }
        }
        return (out, marks);
    }
    if prog_type != ProgType::PERF_EVENT || ctx_loads.len() != insns.len() || seen.len() != insns.len() {
        return (out, marks);
    }
    const LDX_DW: u8 = 0x79;
    for pos in (0..insns.len()).rev().filter(|&i| ctx_loads[i]) {
        let ins = insns[pos];
        let (dst, src) = (ins[1] & 0x0f, ins[1] >> 4);
        let off = i16::from_le_bytes([ins[2], ins[3]]);
        let size = [4i16, 2, 1, 8][usize::from((ins[0] >> 3) & 3)];
        let (field, data_off) = match off {
            168..=175 => (168, Some(8)),
            176..=183 => (176, Some(184)),
            _ => (off, None),
        };
        let mut block = match data_off {
            Some(at) => vec![insn(LDX_DW, dst, src, 8, 0), insn(LDX_DW, dst, dst, at, 0)],
            None => vec![insn(LDX_DW, dst, src, 0, 0), insn(LDX_DW, dst, dst, off, 0)],
        };
        // The narrow load of a u64 field (bpf_ctx_narrow_access_offset, little-endian).
        if data_off.is_some() && size < 8 {
            let shift = i32::from(off - field) * 8;
            if shift != 0 {
                block.push(insn(0x77, dst, 0, 0, shift)); // BPF_ALU64 | BPF_RSH | BPF_K
            }
            block.push(insn(0x54, dst, 0, 0, ((1u64 << (size * 8)) - 1) as u32 as i32));
            // BPF_ALU | BPF_AND | BPF_K
        }
        let n = block.len();
        let before = edits.len();
        if !patch(&mut out, pos, block, edits) {
            edits.truncate(before);
            return (insns.to_vec(), seen.to_vec());
        }
        let reached = marks[pos];
        marks.splice(pos..=pos, std::iter::repeat_n(reached, n));
    }
    (out, marks)
}

/// Program types whose context is a `struct __sk_buff` that
/// `bpf_convert_ctx_access` (net/core/filter.c) maps onto the kernel's
/// `struct sk_buff`.
const SKB_TYPES: &[ProgType] = &[
    ProgType::SOCKET_FILTER,
    ProgType::SCHED_CLS,
    ProgType::SCHED_ACT,
    ProgType::CGROUP_SKB,
    ProgType::SK_SKB,
    ProgType::LWT_IN,
    ProgType::LWT_OUT,
    ProgType::LWT_XMIT,
];

/// `offsetof(struct sk_buff, len)` on the reference build (bit 896 in
/// its BTF; the `r1 = *(u32 *)(r1 +112)` of a dumped `skb->len`). The
/// other `__sk_buff` fields are not rewritten here: those a one-load
/// rewrite would keep the length of, and the corpus reads only `len`.
const SK_BUFF_LEN: i16 = 112;

/// The privileged verifier's dead-code passes over an accepted program,
/// given which instructions its paths reached (`seen`, from the
/// [`super::Verdict`]): `opt_hard_wire_dead_code_branches`,
/// `opt_remove_dead_code`, `opt_remove_nops` (Linux 6.18 `bpf_check`, for
/// a loader with CAP_BPF; an unprivileged one gets `sanitize_dead_code`,
/// which keeps the length).
pub fn remove_dead_code(insns: &[[u8; 8]], seen: &[bool], edits: &mut Vec<Edit>) -> Vec<[u8; 8]> {
    if seen.len() != insns.len() {
        return insns.to_vec();
    }
    let mut out = insns.to_vec();
    let mut seen = seen.to_vec();
    let ja = |off: i16| insn(0x05, 0, 0, off, 0);
    for (i, ins) in out.iter_mut().enumerate() {
        if !is_cond_jump(ins[0]) {
            continue;
        }
        let off = i16::from_le_bytes([ins[2], ins[3]]);
        let taken = usize::try_from(i as i64 + 1 + i64::from(off)).ok();
        if !seen.get(i + 1).copied().unwrap_or(true) {
            *ins = ja(off);
        } else if taken.is_some_and(|t| !seen.get(t).copied().unwrap_or(true)) {
            *ins = ja(0);
        }
    }
    let mut i = 0;
    while i < out.len() {
        let j = seen[i..].iter().take_while(|s| !**s).count();
        if j > 0 {
            remove_insns(&mut out, i, j, edits);
            seen.drain(i..i + j);
        }
        i += 1;
    }
    let mut i = 0;
    while i < out.len() {
        if out[i] == ja(0) {
            remove_insns(&mut out, i, 1, edits);
            continue;
        }
        i += 1;
    }
    out
}

/// The program as the verifier leaves it (see the module's comment), given
/// the loaded instructions (maps named by id, `src_reg` 1), the maps, and
/// for a map of maps the id of an inner map (the one in its first filled
/// slot stands for the kernel's `inner_map_meta`).
pub fn misc_fixups<'a>(
    insns: &[[u8; 8]],
    map: impl Fn(u32) -> Option<&'a MapDef>,
    inner: impl Fn(u32) -> Option<u32>,
    edits: &mut Vec<Edit>,
) -> Vec<[u8; 8]> {
    let mut out = insns.to_vec();
    let mut blocks: Vec<(usize, Vec<[u8; 8]>)> =
        lookup_maps(insns, &inner).into_iter().filter_map(|(pos, id)| Some((pos, map(id).and_then(gen_lookup)?))).collect();
    // BPF_FUNC_get_smp_processor_id (8), a helper call.
    blocks.extend(
        (0..insns.len()).filter(|&i| insns[i][0] == 0x85 && insns[i][1] == 0 && imm(&insns[i]) == 8).map(|i| (i, smp_processor_id())),
    );
    blocks.extend(insns.iter().enumerate().filter_map(|(i, ins)| Some((i, div_check(ins)?))));
    blocks.sort_by_key(|(pos, _)| *pos);
    // From the last call back, so earlier positions stay where they are.
    let before = edits.len();
    for (pos, block) in blocks.into_iter().rev() {
        if !patch(&mut out, pos, block, edits) {
            edits.truncate(before);
            return insns.to_vec();
        }
    }
    out
}

/// `BPF_JMP | BPF_TAIL_CALL`, the verifier's own opcode for a tail call.
pub const TAIL_CALL: u8 = 0xf5;

/// Why a call's target is not known to the model: the function the kernel
/// would call is not in sim-core/data/kallsyms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {insn}: the simulator does not know where the reference kernel keeps {function}")]
pub struct UnknownTarget {
    /// The call.
    pub insn: usize,
    /// What it calls.
    pub function: String,
}

/// The rest of `do_misc_fixups` and `fixup_kfunc_call`: each helper call's
/// imm becomes its function's offset from `__bpf_call_base`
/// ([`super::kallsyms`]): a map helper whose map is known calls the map
/// type's operation, any other the program type's prototype's function.
/// A kfunc call (src 2)
/// gets its function's offset, `kfunc(btf_id)` naming it. The length does
/// not change.
pub fn fixup_call_imms<'a>(
    insns: &mut [[u8; 8]],
    prog_type: ProgType,
    map: impl Fn(u32) -> Option<&'a MapDef>,
    inner: impl Fn(u32) -> Option<u32>,
    kfunc: impl Fn(i32) -> Option<&'static str>,
) -> Result<(), UnknownTarget> {
    let map_type = |m: u32| map(m).map(|d| d.kind);
    let maps = map_calls(insns, &inner, super::kallsyms::MAP_HELPERS);
    // bpf_tail_call becomes BPF_TAIL_CALL: with a poke descriptor (imm its
    // index + 1) when the prog array and a key below its max_entries are
    // known on every path (the JIT then jumps straight to the slot's
    // program, emit_bpf_tail_call_direct), else imm 0.
    let mut pokes = 0i32;
    for (at, known) in tail_calls(insns, &inner) {
        let direct = known.is_some_and(|(m, k)| map(m).is_some_and(|d| k < u64::from(d.max_entries)));
        insns[at][0] = TAIL_CALL;
        let poke = if direct {
            pokes += 1;
            pokes
        } else {
            0
        };
        insns[at][4..8].copy_from_slice(&poke.to_le_bytes());
    }
    let htab_lookup = super::kallsyms::offset("__htab_map_lookup_elem").unwrap_or(0);
    for (i, ins) in insns.iter_mut().enumerate() {
        let (op, src, id) = (ins[0], ins[1] >> 4, imm(ins));
        if op != 0x85 || (src != 0 && src != 2) || (src == 0 && id == htab_lookup) {
            continue;
        }
        let target = if src == 2 {
            kfunc(id).map(str::to_string)
        } else {
            let by_map = maps.iter().find(|(at, _)| *at == i).and_then(|(_, m)| super::kallsyms::map_op_target(map_type(*m)?, id));
            by_map.or_else(|| super::kallsyms::helper_target(prog_type, id)).map(str::to_string)
        };
        let function = target.clone().unwrap_or_else(|| format!("helper #{id}"));
        let off = target.as_deref().and_then(super::kallsyms::offset).ok_or(UnknownTarget { insn: i, function })?;
        ins[4..8].copy_from_slice(&off.to_le_bytes());
    }
    Ok(())
}

/// A patch's growth `by` for what sits past instruction `pos`: the same
/// rule in `bpf_adj_linfo` and `adjust_subprog_starts`.
fn shift_past<T>(v: &mut [(usize, T)], pos: usize, by: usize) {
    for (at, _) in v.iter_mut().filter(|(at, _)| *at > pos) {
        *at += by;
    }
}

/// Line info records' instructions after the verifier's edits: for a
/// patch, `bpf_adj_linfo` (records past the patched instruction move by
/// the growth); for a removal, `bpf_adj_linfo_after_remove` (records of
/// removed instructions go, except that the first live instruction after
/// them inherits the last one when it has none of its own, and the rest
/// move back). `linfo` is (instruction, record) sorted by instruction;
/// `len` the program's length before the edits.
pub fn adjust_line_info<T>(linfo: &mut Vec<(usize, T)>, edits: &[Edit], mut len: usize) {
    for e in edits {
        match *e {
            Edit::Patch { pos, len: n } => {
                len += n - 1;
                shift_past(linfo, pos, n - 1);
            }
            Edit::Remove { off, cnt } => {
                len -= cnt;
                let l_off = linfo.iter().position(|(at, _)| *at >= off).unwrap_or(linfo.len());
                let mut i = l_off;
                while i < linfo.len() && linfo[i].0 < off + cnt {
                    i += 1;
                }
                let mut l_cnt = i - l_off;
                if len != off && l_cnt > 0 && (i == linfo.len() || linfo[i].0 != off + cnt) {
                    l_cnt -= 1;
                    i -= 1;
                    linfo[i].0 = off + cnt;
                }
                linfo.drain(l_off..l_off + l_cnt);
                for (at, _) in linfo.iter_mut().skip(l_off) {
                    *at -= cnt;
                }
            }
        }
    }
}

/// Function starts after the verifier's edits (`adjust_subprog_starts`,
/// `adjust_subprog_starts_after_remove`): `starts` in order, the main
/// program's first; a function all of whose instructions went is dropped
/// with its func_info. `len` the program's length before the edits (the
/// fake "exit" function's start).
pub fn adjust_func_starts<T>(starts: &mut Vec<(usize, T)>, edits: &[Edit], mut len: usize) {
    for e in edits {
        match *e {
            Edit::Patch { pos, len: n } => {
                len += n - 1;
                shift_past(starts, pos, n - 1);
            }
            Edit::Remove { off, cnt } => {
                let start = |k: usize, s: &Vec<(usize, T)>| if k < s.len() { s[k].0 } else { len };
                let cnt_funcs = starts.len();
                let i = (0..=cnt_funcs).find(|&k| start(k, starts) >= off).unwrap_or(cnt_funcs);
                let mut j = (i..=cnt_funcs).find(|&k| start(k, starts) >= off + cnt).unwrap_or(cnt_funcs);
                if start(j, starts) != off + cnt {
                    j = j.saturating_sub(1);
                }
                let mut first = i;
                if j > i {
                    starts.drain(i..j.min(cnt_funcs));
                } else if start(i, starts) == off {
                    first = i + 1;
                }
                for (at, _) in starts.iter_mut().skip(first) {
                    *at -= cnt;
                }
                len -= cnt;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bpf_adj_linfo` and `bpf_adj_linfo_after_remove` on small cases: a
    /// patch moves the records after it; a removal drops the records of
    /// the removed instructions, except that the first live instruction
    /// after them inherits the last one when it has none of its own.
    #[test]
    fn line_records_follow_the_verifiers_edits() {
        let mut l = vec![(0, 'a'), (3, 'b')];
        adjust_line_info(&mut l, &[Edit::Patch { pos: 1, len: 3 }], 5);
        assert_eq!(l, [(0, 'a'), (5, 'b')]);
        // Instructions 2 and 3 go; 4 has no record, so it takes 'b' (at 2).
        let mut l = vec![(0, 'a'), (2, 'b'), (5, 'c')];
        adjust_line_info(&mut l, &[Edit::Remove { off: 2, cnt: 2 }], 8);
        assert_eq!(l, [(0, 'a'), (2, 'b'), (3, 'c')]);
        // 4 has a record of its own: 'b' goes.
        let mut l = vec![(0, 'a'), (2, 'b'), (4, 'c')];
        adjust_line_info(&mut l, &[Edit::Remove { off: 2, cnt: 2 }], 8);
        assert_eq!(l, [(0, 'a'), (2, 'c')]);
        // The tail of the program goes: nothing inherits.
        let mut l = vec![(0, 'a'), (6, 'b')];
        adjust_line_info(&mut l, &[Edit::Remove { off: 6, cnt: 2 }], 8);
        assert_eq!(l, [(0, 'a')]);
        // A function wholly removed goes with its func_info; the next one moves back.
        let mut f = vec![(0, 'm'), (4, 'f'), (6, 'g')];
        adjust_func_starts(&mut f, &[Edit::Remove { off: 4, cnt: 2 }], 8);
        assert_eq!(f, [(0, 'm'), (4, 'g')]);
        // Only its front removed: it starts where the removal was.
        let mut f = vec![(0, 'm'), (4, 'f')];
        adjust_func_starts(&mut f, &[Edit::Remove { off: 4, cnt: 1 }], 8);
        assert_eq!(f, [(0, 'm'), (4, 'f')]);
    }

    /// llcstat's `ctx->sample_period`, the upper half of `addr` and a
    /// register: the perf_event context loads as 6.18 rewrites them
    /// (`bpftool prog dump xlated` of llcstat on the reference kernel
    /// shows the first: `r7 = *(u64 *)(r1 +8); r7 = *(u64 *)(r7 +8)`).
    #[test]
    fn perf_event_context_loads_are_rewritten() {
        let prog =
            [insn(0x79, 7, 1, 168, 0), insn(0x61, 2, 1, 180, 0), insn(0x79, 3, 1, 16, 0), insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)];
        let def = crate::bpf::ProgDef::from_insns(ProgType::PERF_EVENT, prog.to_vec());
        let v = crate::bpf::verify(&def);
        assert_eq!(v.error, None);
        assert_eq!(v.ctx_loads, [true, true, true, false, false]);
        let (out, seen) = convert_ctx_accesses(ProgType::PERF_EVENT, &prog, &v.seen, &v.ctx_loads, &mut vec![]);
        assert_eq!(
            out,
            [
                insn(0x79, 7, 1, 8, 0),
                insn(0x79, 7, 7, 8, 0),
                insn(0x79, 2, 1, 8, 0),
                insn(0x79, 2, 2, 184, 0),
                insn(0x77, 2, 0, 0, 32),
                insn(0x54, 2, 0, 0, -1),
                insn(0x79, 3, 1, 0, 0),
                insn(0x79, 3, 3, 16, 0),
                prog[3],
                prog[4],
            ]
        );
        assert_eq!(seen, vec![true; 10]);
        let kprobe = convert_ctx_accesses(ProgType::KPROBE, &prog, &v.seen, &v.ctx_loads, &mut vec![]);
        assert_eq!(kprobe.0, prog, "a kprobe's context is the kernel's pt_regs: nothing to rewrite");
    }

    fn def(kind: MapType, max_entries: u32, value_size: u32) -> MapDef {
        MapDef::new("m", kind, 4, value_size, max_entries)
    }

    fn array(max_entries: u32, value_size: u32) -> MapDef {
        def(MapType::ARRAY, max_entries, value_size)
    }

    /// sockops_lookup.o's count_ops as loaded (map id 7), and what Linux
    /// 6.18 made of it: `bpftool prog dump xlated` on this machine
    /// (/tmp/xlated/real-sockops_lookup.txt of session 10's notes).
    #[test]
    fn an_array_lookup_becomes_the_arrays_own_code() {
        let prog = vec![
            insn(0xb7, 1, 0, 0, 1),
            insn(0x63, 10, 1, -4, 0),
            insn(0xbf, 2, 10, 0, 0),
            insn(0x07, 2, 0, 0, -4),
            insn(0x18, 1, 1, 0, 7),
            insn(0, 0, 0, 0, 0),
            insn(0x85, 0, 0, 0, 1),
            insn(0x15, 0, 0, 3, 0),
            insn(0xb7, 1, 0, 0, 1),
            insn(0xdb, 0, 1, 0, 0),
            insn(0xb7, 0, 0, 0, 1),
            insn(0x95, 0, 0, 0, 0),
            insn(0x05, 0, 0, -5, 0),
        ];
        let m = array(10, 8);
        let out = misc_fixups(&prog, |id| (id == 7).then_some(&m), |_| None, &mut vec![]);
        assert_eq!(out.len(), 19, "13 + 6: 152 bytes, as bpftool shows");
        assert_eq!(out[6], insn(0x07, 1, 0, 0, 312));
        assert_eq!(out[8], insn(0x35, 0, 0, 3, 10));
        assert_eq!(out[9], insn(0x67, 0, 0, 0, 3));
        assert_eq!(out[13], prog[7], "the null check follows the block");
        // The backward jump at the end crossed nothing; one into the
        // start moves back by the block's growth.
        assert_eq!(out[18], prog[12]);
    }

    #[test]
    fn jumps_across_the_call_move_by_the_blocks_growth() {
        let prog = vec![
            insn(0x15, 1, 0, 4, 0), // 0: if r1 == 0 goto 5 (past the call)
            insn(0x18, 1, 1, 0, 3),
            insn(0, 0, 0, 0, 0),
            insn(0x85, 0, 0, 0, 1),  // 3: the lookup
            insn(0x05, 0, 0, -5, 0), // 4: goto 0 (before it)
            insn(0x95, 0, 0, 0, 0),
        ];
        let m = def(MapType::HASH, 4, 8);
        let out = misc_fixups(&prog, |_| Some(&m), |_| None, &mut vec![]);
        assert_eq!(out.len(), 8);
        assert_eq!(out[0], insn(0x15, 1, 0, 6, 0));
        assert_eq!(out[6], insn(0x05, 0, 0, -7, 0));
        assert_eq!(out[5], insn(0x07, 0, 0, 0, 56), "48 + the key rounded to 8");
    }

    #[test]
    fn two_maps_reaching_one_call_keep_the_call() {
        let prog = vec![
            insn(0x15, 6, 0, 3, 0), // if r6 == 0 goto 4
            insn(0x18, 1, 1, 0, 1),
            insn(0, 0, 0, 0, 0),
            insn(0x05, 0, 0, 2, 0), // goto 6
            insn(0x18, 1, 1, 0, 2),
            insn(0, 0, 0, 0, 0),
            insn(0x85, 0, 0, 0, 1),
            insn(0x95, 0, 0, 0, 0),
        ];
        let m = array(4, 8);
        assert_eq!(misc_fixups(&prog, |_| Some(&m), |_| None, &mut vec![]), prog, "poisoned: record_func_map saw two maps");
    }

    #[test]
    fn other_map_types_and_inner_arrays_keep_the_call() {
        let prog = vec![insn(0x18, 1, 1, 0, 1), insn(0, 0, 0, 0, 0), insn(0x85, 0, 0, 0, 1), insn(0x95, 0, 0, 0, 0)];
        let ringbuf = def(MapType::from_name("ringbuf").expect("a map type"), 4096, 0);
        assert_eq!(misc_fixups(&prog, |_| Some(&ringbuf), |_| None, &mut vec![]), prog);
        let inner = MapDef { map_flags: BPF_F_INNER_MAP, ..array(4, 8) };
        assert_eq!(misc_fixups(&prog, |_| Some(&inner), |_| None, &mut vec![]), prog);
        let odd = array(4, 12);
        assert_eq!(
            misc_fixups(&prog, |_| Some(&odd), |_| None, &mut vec![])[5],
            insn(0x67, 0, 0, 0, 4),
            "12-byte values, 16-byte elements: a shift"
        );
        let three = array(4, 20);
        assert_eq!(misc_fixups(&prog, |_| Some(&three), |_| None, &mut vec![])[5], insn(0x27, 0, 0, 0, 24), "24-byte elements: a multiply");
    }

    /// map_in_map.o's lookup_inner: the outer lookup is an array of maps'
    /// own code, and the lookup in the inner map it returns is inlined too
    /// (32 instructions, 256 bytes, as this machine's kernel dumps it).
    #[test]
    fn a_lookup_in_an_inner_map_is_inlined_as_its_type_is() {
        let prog = vec![
            insn(0xb7, 1, 0, 0, 0),
            insn(0x63, 10, 1, -4, 0),
            insn(0xbf, 2, 10, 0, 0),
            insn(0x07, 2, 0, 0, -4),
            insn(0x18, 1, 1, 0, 1),
            insn(0, 0, 0, 0, 0),
            insn(0x85, 0, 0, 0, 1),
            insn(0x15, 0, 0, 8, 0),
            insn(0xbf, 2, 10, 0, 0),
            insn(0x07, 2, 0, 0, -4),
            insn(0xbf, 1, 0, 0, 0),
            insn(0x85, 0, 0, 0, 1),
            insn(0x15, 0, 0, 3, 0),
            insn(0x79, 1, 0, 0, 0),
            insn(0x07, 1, 0, 0, 1),
            insn(0x7b, 0, 1, 0, 0),
            insn(0xb7, 0, 0, 0, 0),
            insn(0x95, 0, 0, 0, 0),
        ];
        let outer = def(MapType::ARRAY_OF_MAPS, 2, 4);
        let inner = array(1, 8);
        let out = misc_fixups(&prog, |id| if id == 1 { Some(&outer) } else { Some(&inner) }, |id| (id == 1).then_some(2), &mut vec![]);
        assert_eq!(out.len(), 32);
        assert_eq!(out[8], insn(0x35, 0, 0, 5, 2));
        assert_eq!(out[15], insn(0x15, 0, 0, 14, 0), "the null check jumps past both blocks");
        assert_eq!(out[21], insn(0x35, 0, 0, 3, 1));
        assert_eq!(out[26], insn(0x15, 0, 0, 3, 0));
    }

    /// A hostile object's map sizes (the fuzzer's): no overflow, no panic.
    #[test]
    fn huge_maps_never_panic() {
        let prog = vec![insn(0x18, 1, 1, 0, 1), insn(0, 0, 0, 0, 0), insn(0x85, 0, 0, 0, 1), insn(0x95, 0, 0, 0, 0)];
        for kind in [MapType::ARRAY, MapType::HASH, MapType::LRU_HASH, MapType::ARRAY_OF_MAPS, MapType::HASH_OF_MAPS] {
            let huge = MapDef { key_size: u32::MAX, value_size: u32::MAX, ..def(kind, u32::MAX, u32::MAX) };
            let out = misc_fixups(&prog, |_| Some(&huge), |_| Some(1), &mut vec![]);
            assert!(out.len() >= prog.len());
        }
    }

    #[test]
    fn random_programs_never_panic() {
        let mut seed = 1u64;
        for _ in 0..2000 {
            let n = (seed % 40) as usize + 1;
            let prog: Vec<[u8; 8]> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 8).to_le_bytes()
                })
                .collect();
            let m = array(4, 8);
            let _ = misc_fixups(&prog, |_| Some(&m), |_| None, &mut vec![]);
            let huge = MapDef { key_size: u32::MAX, value_size: u32::MAX, ..def(MapType::HASH_OF_MAPS, u32::MAX, 4) };
            let _ = misc_fixups(&prog, |_| Some(&huge), |_| Some(1), &mut vec![]);
            let big_array = MapDef { value_size: u32::MAX, ..array(u32::MAX, 8) };
            let _ = misc_fixups(&prog, |_| Some(&big_array), |_| None, &mut vec![]);
        }
    }
}
