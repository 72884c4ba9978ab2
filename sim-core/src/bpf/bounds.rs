//! What the verifier knows of a scalar it cannot pin to one value: its
//! unsigned bounds and which of its bits are known (`struct bpf_reg_state`'s
//! `umin_value`/`umax_value` and `var_off`, a tnum: kernel/bpf/tnum.c), the
//! arithmetic on them (`adjust_scalar_min_max_vals`), the branches they
//! decide (`is_scalar_branch_taken`) and what each way of a branch learns
//! (`regs_refine_cond_op`), as in Linux 6.18.
//!
//! This is a subset of the kernel's tracking: no signed or separate 32-bit
//! bounds (they are derived where the value is known to fit), no register
//! ids (`sync_linked_regs`), division and modulo give an unknown value. So
//! it may leave undecided a branch the kernel decides, never the other way
//! round: a branch decided here is decided by the kernel too.

/// A scalar's bounds: `umin <= v <= umax`, and `v & !mask == value` (a
/// tnum: the bits outside `mask` are known).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Bounds {
    pub umin: u64,
    pub umax: u64,
    pub value: u64,
    pub mask: u64,
}

const U32: u64 = u32::MAX as u64;

/// A `Bounds` made consistent, or `None` when no value satisfies it (the
/// way of a branch no value takes).
fn sync(b: Bounds) -> Option<Bounds> {
    // __update_reg_bounds: the tnum narrows the range; __reg_bound_offset:
    // the range narrows the tnum (tnum_range, tnum_intersect).
    let mut b = b;
    b.umin = b.umin.max(b.value);
    b.umax = b.umax.min(b.value | b.mask);
    if b.umin > b.umax {
        return None;
    }
    let (rv, rm) = range_tnum(b.umin, b.umax);
    let (v, m) = (b.value | rv, b.mask & rm);
    if (b.value ^ rv) & !b.mask & !rm != 0 {
        return None;
    }
    b.value = v & !m;
    b.mask = m;
    b.umin = b.umin.max(b.value);
    b.umax = b.umax.min(b.value | b.mask);
    (b.umin <= b.umax).then_some(b)
}

/// `tnum_range`: the bits every value in `[min, max]` shares.
fn range_tnum(min: u64, max: u64) -> (u64, u64) {
    let chi = min ^ max;
    let bits = 64 - chi.leading_zeros();
    if bits > 63 {
        return (0, u64::MAX);
    }
    let delta = (1u64 << bits) - 1;
    (min & !delta, delta)
}

impl Bounds {
    /// Any 64-bit value.
    pub const ANY: Bounds = Bounds { umin: 0, umax: u64::MAX, value: 0, mask: u64::MAX };

    /// Exactly `k`.
    pub fn known(k: u64) -> Bounds {
        Bounds { umin: k, umax: k, value: k, mask: 0 }
    }

    /// A value of `bytes` bytes, zero-extended (a narrow load, `coerce_reg_to_size`).
    pub fn of_size(bytes: u32) -> Bounds {
        let m = if bytes >= 8 { u64::MAX } else { (1u64 << (8 * bytes)) - 1 };
        Bounds { umin: 0, umax: m, value: 0, mask: m }
    }

    /// The one value it can be.
    pub fn constant(&self) -> Option<u64> {
        (self.umin == self.umax).then_some(self.umin)
    }

    /// The low 32 bits, zero-extended (a 32-bit operation's result, `zext_32_to_64`).
    pub fn low32(self) -> Bounds {
        if self.umax <= U32 {
            return self;
        }
        sync(Bounds { umin: 0, umax: U32, value: self.value & U32, mask: self.mask & U32 }).unwrap_or(Bounds::of_size(4))
    }

    /// Signed bounds, where the unsigned ones do not cross the sign bit.
    fn signed(&self) -> Option<(i64, i64)> {
        let same_half = (self.umin as i64 >= 0) == (self.umax as i64 >= 0);
        same_half.then_some((self.umin as i64, self.umax as i64))
    }
}

/// `dst op= src` for the ALU operation `op` (the high nibble of the
/// opcode), 64-bit, on scalars: `None` when the kernel marks the result
/// unknown (`is_safe_to_compute_dst_reg_range` refuses, or an overflow).
pub(super) fn alu(op: u8, a: Bounds, b: Bounds) -> Option<Bounds> {
    let r = match op {
        // scalar_min_max_add / tnum_add
        0x0 => {
            let (sv, sm) = (a.value.wrapping_add(b.value), a.mask.wrapping_add(b.mask));
            let sigma = sv.wrapping_add(sm);
            let chi = sigma ^ sv;
            let mu = chi | a.mask | b.mask;
            let (umin, umax) = match (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax)) {
                (Some(lo), Some(hi)) => (lo, hi),
                _ => (0, u64::MAX),
            };
            Bounds { umin, umax, value: sv & !mu, mask: mu }
        }
        // scalar_min_max_sub / tnum_sub
        0x1 => {
            let dv = a.value.wrapping_sub(b.value);
            let alpha = dv.wrapping_add(a.mask);
            let beta = dv.wrapping_sub(b.mask);
            let chi = alpha ^ beta;
            let mu = chi | a.mask | b.mask;
            let (umin, umax) = if a.umin < b.umax { (0, u64::MAX) } else { (a.umin - b.umax, a.umax - b.umin) };
            Bounds { umin, umax, value: dv & !mu, mask: mu }
        }
        // scalar_min_max_mul: the products of the bounds, if they fit.
        0x2 => match (a.umin.checked_mul(b.umin), a.umax.checked_mul(b.umax)) {
            (Some(lo), Some(hi)) => Bounds { umin: lo, umax: hi, ..Bounds::ANY },
            _ => Bounds::ANY,
        },
        // scalar_min_max_or / tnum_or
        0x4 => {
            let v = a.value | b.value;
            let m = a.mask | b.mask;
            Bounds { umin: a.umin.max(b.umin), umax: u64::MAX, value: v, mask: m & !v }
        }
        // scalar_min_max_and / tnum_and
        0x5 => {
            let alpha = a.value | a.mask;
            let beta = b.value | b.mask;
            let v = a.value & b.value;
            Bounds { umin: 0, umax: a.umax.min(b.umax), value: v, mask: alpha & beta & !v }
        }
        // Shifts by a constant below 64 only.
        0x6 | 0x7 | 0xc => {
            let k = b.constant().filter(|k| *k < 64)? as u32;
            match op {
                // scalar_min_max_lsh: the bounds if nothing is shifted out.
                0x6 => {
                    let (umin, umax) = if a.umax.leading_zeros() >= k { (a.umin << k, a.umax << k) } else { (0, u64::MAX) };
                    Bounds { umin, umax, value: a.value << k, mask: a.mask << k }
                }
                0x7 => Bounds { umin: a.umin >> k, umax: a.umax >> k, value: a.value >> k, mask: a.mask >> k },
                // An arithmetic shift of a value known not negative is a logical one.
                _ if (a.umax as i64) >= 0 => Bounds { umin: a.umin >> k, umax: a.umax >> k, value: a.value >> k, mask: a.mask >> k },
                _ => return None,
            }
        }
        // scalar_min_max_xor / tnum_xor
        0xa => {
            let v = a.value ^ b.value;
            let m = a.mask | b.mask;
            Bounds { umin: 0, umax: u64::MAX, value: v & !m, mask: m }
        }
        // div, mod, neg, byte swaps: unknown.
        _ => return None,
    };
    sync(r)
}

/// `is_scalar_branch_taken`: whether the jump `op` (its high nibble) of
/// `a` against `b` is always taken (`Some(true)`), never (`Some(false)`),
/// or either way.
pub(super) fn branch_taken(op: u8, a: Bounds, b: Bounds) -> Option<bool> {
    let signed = || Some((a.signed()?, b.signed()?));
    match op {
        // JEQ, JNE
        0x1 | 0x5 => {
            let differ = a.umin > b.umax || a.umax < b.umin || (a.value ^ b.value) & !a.mask & !b.mask != 0;
            let same = a.constant().is_some() && a.constant() == b.constant();
            let eq = if differ {
                Some(false)
            } else if same {
                Some(true)
            } else {
                None
            };
            eq.map(|e| if op == 0x1 { e } else { !e })
        }
        // JSET: a & b
        0x4 => {
            if a.value & b.value != 0 {
                Some(true)
            } else if (a.value | a.mask) & (b.value | b.mask) == 0 {
                Some(false)
            } else {
                None
            }
        }
        // JGT, JGE, JLT, JLE
        0x2 => decide(a.umin > b.umax, a.umax <= b.umin),
        0x3 => decide(a.umin >= b.umax, a.umax < b.umin),
        0xa => decide(a.umax < b.umin, a.umin >= b.umax),
        0xb => decide(a.umax <= b.umin, a.umin > b.umax),
        // JSGT, JSGE, JSLT, JSLE
        0x6 => signed().and_then(|((l1, h1), (l2, h2))| decide(l1 > h2, h1 <= l2)),
        0x7 => signed().and_then(|((l1, h1), (l2, h2))| decide(l1 >= h2, h1 < l2)),
        0xc => signed().and_then(|((l1, h1), (l2, h2))| decide(h1 < l2, l1 >= h2)),
        0xd => signed().and_then(|((l1, h1), (l2, h2))| decide(h1 <= l2, l1 > h2)),
        _ => None,
    }
}

/// `x > y` (`gap` 1) or `x >= y` (`gap` 0): `x` is at least `y`'s least
/// (plus the gap), `y` at most `x`'s most (minus it).
fn above(x: &mut Bounds, y: &mut Bounds, gap: u64) -> Option<()> {
    x.umin = x.umin.max(y.umin.checked_add(gap)?);
    y.umax = y.umax.min(x.umax.checked_sub(gap)?);
    Some(())
}

/// `x != y` with `y` a constant at one end of `x`'s range: that end moves in.
fn ne_const(x: &mut Bounds, y: Bounds) -> Option<()> {
    let Some(k) = y.constant() else { return Some(()) };
    if x.constant() == Some(k) {
        return None;
    }
    if x.umin == k {
        x.umin += 1;
    } else if x.umax == k {
        x.umax -= 1;
    }
    Some(())
}

fn decide(yes: bool, no: bool) -> Option<bool> {
    if yes {
        Some(true)
    } else if no {
        Some(false)
    } else {
        None
    }
}

/// `regs_refine_cond_op`: what `a op b` being `taken` (or not) says of
/// both, for the unsigned comparisons and equality; `None` when it cannot
/// hold. Signed comparisons refine only values known not negative, where
/// they are the unsigned ones.
pub(super) fn refine(op: u8, taken: bool, a: Bounds, b: Bounds) -> Option<(Bounds, Bounds)> {
    let nonneg = (a.umax as i64) >= 0 && (b.umax as i64) >= 0;
    let unsigned = match op {
        0x6 | 0x7 | 0xc | 0xd if !nonneg => return Some((a, b)),
        0x6 => 0x2,
        0x7 => 0x3,
        0xc => 0xa,
        0xd => 0xb,
        o => o,
    };
    // The way not taken is the opposite comparison, taken.
    let op = if taken {
        unsigned
    } else {
        match unsigned {
            0x1 => 0x5,
            0x5 => 0x1,
            0x2 => 0xb,
            0xb => 0x2,
            0x3 => 0xa,
            0xa => 0x3,
            _ => return Some((a, b)),
        }
    };
    let (mut a, mut b) = (a, b);
    match op {
        // a == b: both in the intersection.
        0x1 => {
            let m = Bounds { umin: a.umin.max(b.umin), umax: a.umax.min(b.umax), value: a.value | b.value, mask: a.mask & b.mask };
            if (a.value ^ b.value) & !a.mask & !b.mask != 0 {
                return None;
            }
            let m = sync(m)?;
            return Some((m, m));
        }
        // a != b: a constant at one end of the other's range moves that end.
        0x5 => {
            let (a0, b0) = (a, b);
            ne_const(&mut a, b0)?;
            ne_const(&mut b, a0)?;
        }
        // a > b, a >= b, a < b (b > a), a <= b (b >= a)
        0x2 => above(&mut a, &mut b, 1)?,
        0x3 => above(&mut a, &mut b, 0)?,
        0xa => above(&mut b, &mut a, 1)?,
        0xb => above(&mut b, &mut a, 0)?,
        _ => {}
    }
    Some((sync(a)?, sync(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::vm::insn;

    fn contains(b: &Bounds, v: u64) -> bool {
        b.umin <= v && v <= b.umax && v & !b.mask == b.value
    }

    #[test]
    fn a_zero_extension_bounds_a_value_to_32_bits_and_a_branch_refines_it() {
        // r7 = r0; r7 <<= 32; r7 >>= 32 (cpufreq's do_sample)
        let shifted = alu(0x6, Bounds::ANY, Bounds::known(32)).expect("lsh");
        let r7 = alu(0x7, shifted, Bounds::known(32)).expect("rsh");
        assert_eq!((r7.umin, r7.umax), (0, u32::MAX as u64));
        // if r7 > 127 goto: either way
        assert_eq!(branch_taken(0x2, r7, Bounds::known(127)), None);
        // falling through, r7 <= 127, so `if r7 <= 127` is always taken
        let (fell, _) = refine(0x2, false, r7, Bounds::known(127)).expect("feasible");
        assert_eq!(fell.umax, 127);
        assert_eq!(branch_taken(0xb, fell, Bounds::known(127)), Some(true));
    }

    /// cpufreq's do_sample (libbpf-tools 0.26): after `if (cpu >= 128)
    /// return`, clang's `if (cpu > 127) cpu = 127` is dead code the kernel
    /// removes (its `bytes_xlated` is 2 instructions shorter); a branch a
    /// bounded value cannot decide is still followed both ways.
    #[test]
    fn the_verifier_drops_a_clamp_a_bounds_check_made_dead() {
        let prog = vec![
            insn(0x85, 0, 0, 0, 8),   // 0: call bpf_get_smp_processor_id
            insn(0xbf, 7, 0, 0, 0),   // 1: r7 = r0
            insn(0x67, 7, 0, 0, 32),  // 2: r7 <<= 32
            insn(0x77, 7, 0, 0, 32),  // 3: r7 >>= 32
            insn(0x25, 7, 0, 4, 127), // 4: if r7 > 127 goto 9
            insn(0xb5, 7, 0, 1, 127), // 5: if r7 <= 127 goto 7
            insn(0xb7, 7, 0, 0, 127), // 6: r7 = 127 (dead)
            insn(0x65, 7, 0, 1, 100), // 7: if r7 s> 100 goto 9 (either way)
            insn(0xb7, 7, 0, 0, 0),   // 8: r7 = 0
            insn(0xb7, 0, 0, 0, 0),   // 9: r0 = 0
            insn(0x95, 0, 0, 0, 0),   // 10: exit
        ];
        let def = crate::bpf::ProgDef::from_insns(crate::bpf::ProgType::PERF_EVENT, prog);
        let v = crate::bpf::verify(&def);
        assert_eq!(v.error, None);
        let dead: Vec<usize> = (0..v.seen.len()).filter(|i| !v.seen[*i]).collect();
        assert_eq!(dead, [6]);
    }

    /// Every result holds every value the operation can give on values the
    /// operands hold (checked on samples): the bounds are sound.
    #[test]
    fn bounds_hold_every_possible_result() {
        let samples = [
            Bounds::known(5),
            Bounds::of_size(1),
            sync(Bounds { umin: 3, umax: 200, ..Bounds::ANY }).expect("ok"),
            sync(Bounds { umin: u64::MAX - 10, umax: u64::MAX, ..Bounds::ANY }).expect("ok"),
            Bounds::known(63),
        ];
        let values = |b: &Bounds| -> Vec<u64> {
            let mut v = vec![b.umin, b.umax, b.value, b.value | b.mask, b.umin.saturating_add(1), b.umax.saturating_sub(1)];
            v.retain(|x| contains(b, *x));
            v
        };
        for op in [0x0u8, 0x1, 0x2, 0x4, 0x5, 0x6, 0x7, 0xa] {
            for a in &samples {
                for b in &samples {
                    let Some(r) = alu(op, *a, *b) else { continue };
                    for x in values(a) {
                        for y in values(b) {
                            let z = match op {
                                0x0 => x.wrapping_add(y),
                                0x1 => x.wrapping_sub(y),
                                0x2 => x.wrapping_mul(y),
                                0x4 => x | y,
                                0x5 => x & y,
                                0x6 => x << (y & 63),
                                0x7 => x >> (y & 63),
                                _ => x ^ y,
                            };
                            assert!(contains(&r, z), "{op:#x}: {x} op {y} = {z} outside {r:?}");
                        }
                    }
                    for jop in [0x1u8, 0x2, 0x3, 0x5, 0xa, 0xb] {
                        for x in values(a) {
                            for y in values(b) {
                                let holds = match jop {
                                    0x1 => x == y,
                                    0x5 => x != y,
                                    0x2 => x > y,
                                    0x3 => x >= y,
                                    0xa => x < y,
                                    _ => x <= y,
                                };
                                if let Some(t) = branch_taken(jop, *a, *b) {
                                    assert_eq!(t, holds, "{jop:#x} {x} {y}");
                                }
                                match refine(jop, holds, *a, *b) {
                                    Some((ra, rb)) => assert!(contains(&ra, x) && contains(&rb, y), "{jop:#x} {holds} {x} {y}"),
                                    None => panic!("{jop:#x}: {x}, {y} make it {holds}, refined as impossible"),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
