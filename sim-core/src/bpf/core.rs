//! CO-RE: libbpf rewrites the offsets the compiler took from the program's
//! own idea of kernel structs (`vmlinux.h`, `preserve_access_index`) into
//! those of the running kernel, matching types by name in the kernel's BTF.
//!
//! A port of libbpf 1.x's tools/lib/bpf/relo_core.c (`bpf_core_parse_spec`,
//! `bpf_core_spec_match`, `bpf_core_calc_relo_insn`, `bpf_core_patch_insn`,
//! `bpf_core_format_spec`) and of the driver in libbpf.c
//! (`bpf_object__relocate_core`, `bpf_core_find_cands`,
//! `bpf_core_add_cands`). The target is the simulated kernel's BTF
//! ([`super::vmlinux`]); kernel modules have none, so the search stops at
//! vmlinux, as libbpf's does when vmlinux has a candidate.

use super::btf::{kind_name, Btf};
use super::btf_ext::CoreRelo;
use super::vmlinux::KernelBtf;
use serde::{Deserialize, Serialize};

/// `BPF_CORE_SPEC_MAX_LEN`.
const SPEC_MAX_LEN: usize = 64;
/// The recursion limit libbpf passes to `__bpf_core_types_are_compat` and
/// `__bpf_core_types_match`.
const LEVEL: i32 = 32;
/// `bpf_core_poison_insn`: the imm of the call that replaces an
/// instruction CO-RE could not relocate ("bad relo"); the verifier says
/// `invalid func unknown#195896080` if it is reachable.
pub const POISON_IMM: i32 = 0xbad2310;

/// `enum bpf_core_relo_kind`, by `core_relo_kind_str`'s names.
pub fn kind_str(kind: u32) -> &'static str {
    match kind {
        0 => "byte_off",
        1 => "byte_sz",
        2 => "field_exists",
        3 => "signed",
        4 => "lshift_u64",
        5 => "rshift_u64",
        6 => "local_type_id",
        7 => "target_type_id",
        8 => "type_exists",
        9 => "type_size",
        10 => "enumval_exists",
        11 => "enumval_value",
        12 => "type_matches",
        _ => "unknown",
    }
}

fn is_field(kind: u32) -> bool {
    kind <= 5
}
fn is_type(kind: u32) -> bool {
    matches!(kind, 6..=9 | 12)
}
fn is_enumval(kind: u32) -> bool {
    matches!(kind, 10 | 11)
}

/// What libbpf did with one CO-RE relocation: the data of its debug lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreDone {
    /// The program (or `.text` subprogram) the instruction belongs to.
    pub prog: String,
    /// The relocation's index in its section's records (`relo #N`).
    pub relo: usize,
    /// The instruction, counted from the program's first.
    pub insn: usize,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
    /// The local spec as `bpf_core_format_spec` prints it, e.g.
    /// `<byte_off> [12] struct task_struct.tgid (0:71 @ offset 2500)`.
    pub local: String,
    /// The matching kernel spec, in the same format (ids are the kernel's);
    /// `None` when no kernel type matched.
    pub target: Option<String>,
    /// The value the compiler wrote (from the local types).
    pub orig: u64,
    /// The value for this kernel.
    pub new: u64,
    /// No kernel type matched and the relocation needs one: the
    /// instruction became `call 0xbad2310`.
    pub poisoned: bool,
}

/// A CO-RE relocation libbpf refuses: its `pr_warn` lines (without the
/// `libbpf: ` prefix) and the error code `bpf_object__load` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreError {
    /// libbpf's warnings, in order.
    pub lines: Vec<String>,
    /// Negative errno.
    pub err: i32,
}

impl CoreError {
    /// The errno `bpf_object__load` fails with.
    pub fn errno(&self) -> crate::linux::Errno {
        match self.err {
            -2 => crate::linux::Errno::ENOENT,
            -95 => crate::linux::Errno::EOPNOTSUPP,
            _ => crate::linux::Errno::EINVAL,
        }
    }
}

// --- BTF access, with id 0 as `void` (kind UNKN) as libbpf has it.

fn kind(b: &Btf, id: u32) -> u32 {
    if id == 0 {
        0
    } else {
        b.kind(id).unwrap_or(0)
    }
}
fn info(b: &Btf, id: u32) -> u32 {
    b.ty(id).map_or(0, |t| t.1)
}
fn vlen(b: &Btf, id: u32) -> u32 {
    info(b, id) & 0xffff
}
fn kflag(b: &Btf, id: u32) -> bool {
    info(b, id) >> 31 == 1
}
fn name_of(b: &Btf, id: u32) -> String {
    b.ty(id).map(|t| b.name(t.0)).unwrap_or_default()
}
fn size_or_type(b: &Btf, id: u32) -> u32 {
    b.ty(id).map_or(0, |t| t.2)
}
fn extra(b: &Btf, id: u32) -> &[u32] {
    b.ty(id).map_or(&[][..], |t| &t.3[..])
}
/// `skip_mods_and_typedefs`; `None` for an id that does not exist.
fn skip(b: &Btf, id: u32) -> Option<u32> {
    if id == 0 {
        return Some(0);
    }
    b.skip_mods(id).ok()
}
fn is_composite(k: u32) -> bool {
    k == 4 || k == 5
}
fn is_any_enum(k: u32) -> bool {
    k == 6 || k == 19
}
/// `btf_kind_core_compat`.
fn core_compat(a: u32, b: u32) -> bool {
    a == b || (is_any_enum(a) && is_any_enum(b))
}
/// `btf__resolve_size`.
fn resolve_size(b: &Btf, id: u32) -> Option<u64> {
    if id == 0 {
        return None;
    }
    b.size(id).ok().map(u64::from)
}
/// A member of a struct or union: (name offset, type, bit offset, bitfield size).
fn member(b: &Btf, id: u32, i: u32) -> Option<(u32, u32, u32, u32)> {
    let m = extra(b, id).chunks(3).nth(i as usize)?;
    Some(if kflag(b, id) { (m[0], m[1], m[2] & 0xff_ffff, m[2] >> 24) } else { (m[0], m[1], m[2], 0) })
}
/// An INT's encoding word: (encoding, offset, bits).
fn int_enc(b: &Btf, id: u32) -> (u32, u32, u32) {
    let v = extra(b, id).first().copied().unwrap_or(0);
    ((v >> 24) & 0x0f, (v >> 16) & 0xff, v & 0xff)
}
/// The name offset of an enum's (or enum64's) i-th value.
fn enum_name_off(b: &Btf, id: u32, i: u32) -> u32 {
    let per = if kind(b, id) == 6 { 2 } else { 3 };
    extra(b, id).get(i as usize * per).copied().unwrap_or(0)
}
fn enum_value(b: &Btf, id: u32, i: u32) -> u64 {
    let e = extra(b, id);
    if kind(b, id) == 6 {
        // btf_enum: a 32-bit value, signed if kflag (libbpf reads it as __u32
        // into a u64 for ENUMVAL_VALUE).
        u64::from(e.get(i as usize * 2 + 1).copied().unwrap_or(0))
    } else {
        let lo = e.get(i as usize * 3 + 1).copied().unwrap_or(0);
        let hi = e.get(i as usize * 3 + 2).copied().unwrap_or(0);
        u64::from(lo) | (u64::from(hi) << 32)
    }
}

/// `bpf_core_essential_name_len`: the name without a `___flavor` suffix.
pub fn essential_name(name: &str) -> &str {
    let s = name.as_bytes();
    let n = s.len();
    if n >= 5 {
        for i in (0..=n - 5).rev() {
            if s[i] != b'_' && &s[i + 1..i + 4] == b"___" && s[i + 4] != b'_' {
                return &name[..=i];
            }
        }
    }
    name
}

#[derive(Clone, Debug, Default)]
struct Acc {
    type_id: u32,
    idx: u32,
    name: Option<String>,
}

/// `struct bpf_core_spec`.
#[derive(Clone, Debug, Default)]
struct Spec {
    root: u32,
    kind: u32,
    acc: Vec<Acc>,
    raw: Vec<u32>,
    bit_offset: u32,
}

/// `is_flex_arr`: a zero-length array that is the last member of its struct.
fn is_flex_arr(b: &Btf, acc: Option<&Acc>, nelems: u32) -> bool {
    let Some(acc) = acc else { return false };
    if acc.name.is_none() || nelems > 0 {
        return false;
    }
    acc.idx + 1 == vlen(b, acc.type_id)
}

/// `bpf_core_parse_spec`.
fn parse_spec(b: &Btf, relo: &CoreRelo, warn: &mut Vec<String>, prog: &str) -> Result<Spec, i32> {
    let s = relo.access.as_str();
    if s.is_empty() || s.starts_with(':') {
        return Err(-22);
    }
    let mut spec = Spec { root: relo.type_id, kind: relo.kind, ..Spec::default() };
    if is_type(relo.kind) {
        return if s == "0" { Ok(spec) } else { Err(-22) };
    }
    for part in s.split(':') {
        // sscanf("%d"): an optional sign, then digits; anything else fails.
        let v: i64 = part.parse().map_err(|_| -22)?;
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(-7);
        }
        spec.raw.push(v as u32);
    }
    let mut id = skip(b, relo.type_id).ok_or(-22)?;
    let access = spec.raw[0];
    spec.acc.push(Acc { type_id: id, idx: access, name: None });
    if is_enumval(relo.kind) {
        if !is_any_enum(kind(b, id)) || spec.raw.len() > 1 || access >= vlen(b, id) {
            return Err(-22);
        }
        spec.acc[0].name = Some(b.name(enum_name_off(b, id, access)));
        return Ok(spec);
    }
    if !is_field(relo.kind) {
        return Err(-22);
    }
    let sz = resolve_size(b, id).ok_or(-22)?;
    spec.bit_offset = (u64::from(access) * sz * 8) as u32;
    for i in 1..spec.raw.len() {
        id = skip(b, id).ok_or(-22)?;
        let access = spec.raw[i];
        let k = kind(b, id);
        if is_composite(k) {
            if access >= vlen(b, id) {
                return Err(-22);
            }
            let (name_off, ty, bit, _) = member(b, id, access).ok_or(-22)?;
            spec.bit_offset = spec.bit_offset.wrapping_add(bit);
            if name_off != 0 {
                let name = b.name(name_off);
                if name.is_empty() {
                    return Err(-22);
                }
                spec.acc.push(Acc { type_id: id, idx: access, name: Some(name) });
            }
            id = ty;
        } else if k == 3 {
            let a = extra(b, id);
            let (elem, nelems) = (a[0], a[2]);
            id = skip(b, elem).ok_or(-22)?;
            let flex = is_flex_arr(b, spec.acc.last(), nelems);
            if !flex && access >= nelems {
                return Err(-22);
            }
            spec.acc.push(Acc { type_id: id, idx: access, name: None });
            let sz = resolve_size(b, id).ok_or(-22)?;
            spec.bit_offset = spec.bit_offset.wrapping_add((u64::from(access) * sz * 8) as u32);
        } else {
            warn.push(format!(
                "prog '{prog}': relo for [{}] {} (at idx {i}) captures type [{id}] of unexpected kind {}",
                relo.type_id,
                relo.access,
                kind_name(k)
            ));
            return Err(-22);
        }
    }
    Ok(spec)
}

/// `__bpf_core_types_are_compat`.
fn types_are_compat(lb: &Btf, mut lid: u32, tb: &Btf, mut tid: u32, level: i32) -> Result<bool, i32> {
    if !core_compat(kind(lb, lid), kind(tb, tid)) {
        return Ok(false);
    }
    let mut depth = 32;
    loop {
        depth -= 1;
        if depth < 0 {
            return Err(-22);
        }
        lid = skip(lb, lid).ok_or(-22)?;
        tid = skip(tb, tid).ok_or(-22)?;
        let (lk, tk) = (kind(lb, lid), kind(tb, tid));
        if !core_compat(lk, tk) {
            return Ok(false);
        }
        match lk {
            0 | 4 | 5 | 6 | 7 | 19 => return Ok(true),
            1 => return Ok(int_enc(lb, lid).1 == 0 && int_enc(tb, tid).1 == 0),
            2 => {
                lid = size_or_type(lb, lid);
                tid = size_or_type(tb, tid);
            }
            3 => {
                lid = extra(lb, lid)[0];
                tid = extra(tb, tid)[0];
            }
            13 => {
                let (lp, tp) = (extra(lb, lid).to_vec(), extra(tb, tid).to_vec());
                if vlen(lb, lid) != vlen(tb, tid) {
                    return Ok(false);
                }
                for (l, t) in lp.chunks(2).zip(tp.chunks(2)) {
                    if level <= 0 {
                        return Err(-22);
                    }
                    let (l, t) = (skip(lb, l[1]).ok_or(-22)?, skip(tb, t[1]).ok_or(-22)?);
                    if !types_are_compat(lb, l, tb, t, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = skip(lb, size_or_type(lb, lid)).ok_or(-22)?;
                tid = skip(tb, size_or_type(tb, tid)).ok_or(-22)?;
            }
            _ => return Ok(false),
        }
    }
}

/// `bpf_core_names_match`.
fn names_match(lb: &Btf, loff: u32, tb: &Btf, toff: u32) -> bool {
    let (l, t) = (lb.name(loff), tb.name(toff));
    if t.is_empty() {
        return l.is_empty();
    }
    essential_name(&l) == essential_name(&t)
}

/// `__bpf_core_types_match` (TYPE_MATCHES, libbpf 1.0+).
fn types_match(lb: &Btf, mut lid: u32, tb: &Btf, mut tid: u32, mut behind_ptr: bool, level: i32) -> Result<bool, i32> {
    if level <= 0 {
        return Err(-22);
    }
    let mut depth = 32;
    loop {
        depth -= 1;
        if depth < 0 {
            return Err(-22);
        }
        lid = skip(lb, lid).ok_or(-22)?;
        tid = skip(tb, tid).ok_or(-22)?;
        let lname = lb.ty(lid).map_or(0, |t| t.0);
        let tname = tb.ty(tid).map_or(0, |t| t.0);
        if !names_match(lb, lname, tb, tname) {
            return Ok(false);
        }
        let (lk, tk) = (kind(lb, lid), kind(tb, tid));
        match lk {
            0 => return Ok(lk == tk),
            7 => {
                let lf = kflag(lb, lid);
                return Ok(if behind_ptr {
                    if lk == tk {
                        lf == kflag(tb, tid)
                    } else {
                        (tk == 4 && !lf) || (tk == 5 && lf)
                    }
                } else {
                    lk == tk && lf == kflag(tb, tid)
                });
            }
            6 | 19 => {
                if !is_any_enum(tk) {
                    return Ok(false);
                }
                // bpf_core_enums_match
                if size_or_type(lb, lid) != size_or_type(tb, tid) || vlen(lb, lid) > vlen(tb, tid) {
                    return Ok(false);
                }
                let all = (0..vlen(lb, lid))
                    .all(|i| (0..vlen(tb, tid)).any(|j| names_match(lb, enum_name_off(lb, lid, i), tb, enum_name_off(tb, tid, j))));
                return Ok(all);
            }
            4 | 5 => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    return Ok(tk == 7 && (lk == 5) == kflag(tb, tid));
                }
                if lk != tk {
                    return Ok(false);
                }
                // bpf_core_composites_match
                if vlen(lb, lid) > vlen(tb, tid) {
                    return Ok(false);
                }
                for lm in extra(lb, lid).chunks(3) {
                    let mut matched = false;
                    for tm in extra(tb, tid).chunks(3) {
                        if !names_match(lb, lm[0], tb, tm[0]) {
                            continue;
                        }
                        if types_match(lb, lm[1], tb, tm[1], behind_ptr, level - 1)? {
                            matched = true;
                            break;
                        }
                    }
                    if !matched {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            1 => {
                if lk != tk {
                    return Ok(false);
                }
                let (ls, ts) = (int_enc(lb, lid).0 & 1, int_enc(tb, tid).0 & 1);
                return Ok(size_or_type(lb, lid) == size_or_type(tb, tid) && ls == ts);
            }
            2 => {
                if lk != tk {
                    return Ok(false);
                }
                behind_ptr = true;
                lid = size_or_type(lb, lid);
                tid = size_or_type(tb, tid);
            }
            3 => {
                if lk != tk || extra(lb, lid)[2] != extra(tb, tid)[2] {
                    return Ok(false);
                }
                lid = extra(lb, lid)[0];
                tid = extra(tb, tid)[0];
            }
            13 => {
                if lk != tk || vlen(lb, lid) != vlen(tb, tid) {
                    return Ok(false);
                }
                let (lp, tp) = (extra(lb, lid).to_vec(), extra(tb, tid).to_vec());
                for (l, t) in lp.chunks(2).zip(tp.chunks(2)) {
                    if !types_match(lb, l[1], tb, t[1], behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = size_or_type(lb, lid);
                tid = size_or_type(tb, tid);
            }
            _ => return Ok(false),
        }
    }
}

/// `bpf_core_fields_are_compat`.
fn fields_are_compat(lb: &Btf, mut lid: u32, tb: &Btf, mut tid: u32) -> Result<bool, i32> {
    loop {
        lid = skip(lb, lid).ok_or(-22)?;
        tid = skip(tb, tid).ok_or(-22)?;
        let (lk, tk) = (kind(lb, lid), kind(tb, tid));
        if is_composite(lk) && is_composite(tk) {
            return Ok(true);
        }
        if !core_compat(lk, tk) {
            return Ok(false);
        }
        match lk {
            2 | 16 => return Ok(true),
            7 | 6 | 19 => {
                let (l, t) = (name_of(lb, lid), name_of(tb, tid));
                let (l, t) = (essential_name(&l), essential_name(&t));
                return Ok(l.is_empty() || t.is_empty() || l == t);
            }
            1 => return Ok(int_enc(lb, lid).1 == 0 && int_enc(tb, tid).1 == 0),
            3 => {
                lid = extra(lb, lid)[0];
                tid = extra(tb, tid)[0];
            }
            _ => return Ok(false),
        }
    }
}

/// `bpf_core_match_member`: finds the local accessor's field by name in
/// the target struct, through anonymous members, extending `spec`.
fn match_member(lb: &Btf, lacc: &Acc, tb: &Btf, tid: u32, spec: &mut Spec, next: &mut u32) -> Result<bool, i32> {
    let tid = skip(tb, tid).ok_or(-22)?;
    if !is_composite(kind(tb, tid)) {
        return Ok(false);
    }
    let (lname_off, lty, _, _) = member(lb, lacc.type_id, lacc.idx).ok_or(-22)?;
    let lname = lb.name(lname_off);
    for i in 0..vlen(tb, tid) {
        let (tname_off, tty, bit, _) = member(tb, tid, i).ok_or(-22)?;
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(-7);
        }
        spec.bit_offset = spec.bit_offset.wrapping_add(bit);
        spec.raw.push(i);
        let tname = tb.name(tname_off);
        if tname.is_empty() {
            if match_member(lb, lacc, tb, tty, spec, next)? {
                return Ok(true);
            }
        } else if tname == lname {
            spec.acc.push(Acc { type_id: tid, idx: i, name: Some(tname) });
            *next = tty;
            let ok = fields_are_compat(lb, lty, tb, tty)?;
            if !ok {
                spec.acc.pop();
            }
            return Ok(ok);
        }
        spec.bit_offset = spec.bit_offset.wrapping_sub(bit);
        spec.raw.pop();
    }
    Ok(false)
}

/// `bpf_core_spec_match`.
fn spec_match(local: &Spec, lb: &Btf, tb: &Btf, mut tid: u32) -> Result<Option<Spec>, i32> {
    let mut t = Spec { root: tid, kind: local.kind, ..Spec::default() };
    let found = |ok: bool, t: Spec| if ok { Some(t) } else { None };
    if is_type(local.kind) {
        let ok = if local.kind == 12 {
            types_match(lb, local.root, tb, tid, false, LEVEL)?
        } else {
            types_are_compat(lb, local.root, tb, tid, LEVEL)?
        };
        return Ok(found(ok, t));
    }
    if is_enumval(local.kind) {
        let tid = skip(tb, tid).ok_or(-22)?;
        if !is_any_enum(kind(tb, tid)) {
            return Ok(None);
        }
        let lname = local.acc[0].name.clone().unwrap_or_default();
        for i in 0..vlen(tb, tid) {
            let tname = tb.name(enum_name_off(tb, tid, i));
            if essential_name(&tname) == essential_name(&lname) {
                t.acc.push(Acc { type_id: tid, idx: i, name: Some(tname) });
                t.raw.push(i);
                return Ok(Some(t));
            }
        }
        return Ok(None);
    }
    if !is_field(local.kind) {
        return Err(-22);
    }
    for (i, lacc) in local.acc.iter().enumerate() {
        tid = skip(tb, tid).ok_or(-22)?;
        if lacc.name.is_some() {
            let mut next = tid;
            if !match_member(lb, lacc, tb, tid, &mut t, &mut next)? {
                return Ok(None);
            }
            tid = next;
        } else {
            if i > 0 {
                if kind(tb, tid) != 3 {
                    return Ok(None);
                }
                let a = extra(tb, tid).to_vec();
                let flex = is_flex_arr(tb, t.acc.last(), a[2]);
                if !flex && lacc.idx >= a[2] {
                    return Ok(None);
                }
                tid = skip(tb, a[0]).ok_or(-22)?;
            }
            if t.raw.len() == SPEC_MAX_LEN {
                return Err(-7);
            }
            t.acc.push(Acc { type_id: tid, idx: lacc.idx, name: None });
            t.raw.push(lacc.idx);
            let sz = resolve_size(tb, tid).ok_or(-22)?;
            t.bit_offset = t.bit_offset.wrapping_add((u64::from(lacc.idx) * sz * 8) as u32);
        }
    }
    Ok(Some(t))
}

/// `struct bpf_core_relo_res`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Res {
    orig: u64,
    new: u64,
    poison: bool,
    validate: bool,
    fail_memsz_adjust: bool,
    orig_sz: u32,
    new_sz: u32,
    orig_type: u32,
    new_type: u32,
}

/// `bpf_core_calc_field_relo`: (value, field size, field type, validate).
/// `Err(-117)` (EUCLEAN) asks for poisoning.
fn calc_field(
    b: &Btf,
    kind: u32,
    spec: Option<&Spec>,
    warn: &mut Vec<String>,
    prog: &str,
    insn: usize,
) -> Result<(u64, u32, u32, bool), i32> {
    if kind == 2 {
        return Ok((u64::from(spec.is_some()), 0, 0, true));
    }
    let spec = spec.ok_or(-117)?;
    let acc = spec.acc.last().ok_or(-22)?;
    if acc.name.is_none() {
        return match kind {
            0 => {
                let sz = resolve_size(b, acc.type_id).ok_or(-22)?;
                Ok((u64::from(spec.bit_offset / 8), sz as u32, acc.type_id, true))
            }
            1 => Ok((resolve_size(b, acc.type_id).ok_or(-22)?, 0, 0, true)),
            _ => {
                warn.push(format!("prog '{prog}': relo {kind} at insn #{insn} can't be applied to array access"));
                Err(-22)
            }
        };
    }
    let (_, mty, _, bit_sz) = member(b, acc.type_id, acc.idx).ok_or(-22)?;
    let field_type = skip(b, mty).ok_or(-22)?;
    let bit_off = spec.bit_offset;
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz, bit_sz) = if bitfield {
        let mut byte_sz = size_or_type(b, field_type);
        if byte_sz == 0 {
            return Err(-22);
        }
        let mut byte_off = bit_off / 8 / byte_sz * byte_sz;
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8 {
            if byte_sz >= 8 {
                warn.push(format!("prog '{prog}': relo {kind} at insn #{insn} can't be satisfied for bitfield"));
                return Err(-7);
            }
            byte_sz *= 2;
            byte_off = bit_off / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz, bit_sz)
    } else {
        let sz = resolve_size(b, field_type).ok_or(-22)? as u32;
        (bit_off / 8, sz, sz * 8)
    };
    let mut validate = !bitfield;
    let mut field = (0, 0);
    let val = match kind {
        0 => {
            if !bitfield {
                field = (byte_sz, field_type);
            }
            u64::from(byte_off)
        }
        1 => u64::from(byte_sz),
        3 => {
            validate = true;
            let k = self::kind(b, field_type);
            u64::from((is_any_enum(k) && kflag(b, field_type)) || (k == 1 && int_enc(b, field_type).0 & 1 == 1))
        }
        4 => u64::from(64 - (bit_off + bit_sz - byte_off * 8)),
        5 => {
            validate = true;
            u64::from(64 - bit_sz)
        }
        _ => return Err(-95),
    };
    Ok((val, field.0, field.1, validate))
}

/// `bpf_core_calc_type_relo`.
fn calc_type(b: &Btf, kind: u32, spec: Option<&Spec>, real_id: &dyn Fn(u32) -> u32) -> Result<(u64, bool), i32> {
    let Some(spec) = spec else { return Ok((0, true)) };
    match kind {
        7 => Ok((u64::from(real_id(spec.root)), false)),
        8 | 12 => Ok((1, true)),
        9 => Ok((resolve_size(b, spec.root).ok_or(-22)?, true)),
        _ => Err(-95),
    }
}

/// `bpf_core_calc_enumval_relo`.
fn calc_enumval(b: &Btf, kind: u32, spec: Option<&Spec>) -> Result<u64, i32> {
    match kind {
        10 => Ok(u64::from(spec.is_some())),
        11 => {
            let spec = spec.ok_or(-117)?;
            Ok(enum_value(b, spec.acc[0].type_id, spec.acc[0].idx))
        }
        _ => Err(-95),
    }
}

/// What `bpf_core_calc_relo` needs of the two sides.
struct Side<'a> {
    btf: &'a Btf,
    spec: Option<&'a Spec>,
    real_id: &'a dyn Fn(u32) -> u32,
}

/// `bpf_core_calc_relo`.
fn calc_relo(relo: &CoreRelo, n: usize, local: Side<'_>, targ: Side<'_>, warn: &mut Vec<String>, prog: &str) -> Result<Res, i32> {
    let mut res = Res { validate: true, ..Res::default() };
    let insn = (relo.insn_off / 8) as usize;
    let r: Result<(), i32> = (|| {
        if is_field(relo.kind) {
            let (o, osz, oty, v) = calc_field(local.btf, relo.kind, local.spec, warn, prog, insn)?;
            (res.orig, res.orig_sz, res.orig_type, res.validate) = (o, osz, oty, v);
            let (nv, nsz, nty, _) = calc_field(targ.btf, relo.kind, targ.spec, warn, prog, insn)?;
            (res.new, res.new_sz, res.new_type) = (nv, nsz, nty);
            if res.orig_sz != res.new_sz {
                let (ok, nk) = (kind(local.btf, res.orig_type), kind(targ.btf, res.new_type));
                let unsigned = |b: &Btf, id| int_enc(b, id).0 != 1;
                let safe =
                    (ok == 2 && nk == 2) || (ok == 1 && nk == 1 && unsigned(local.btf, res.orig_type) && unsigned(targ.btf, res.new_type));
                res.fail_memsz_adjust = !safe;
            }
        } else if is_type(relo.kind) {
            (res.orig, res.validate) = calc_type(local.btf, relo.kind, local.spec, local.real_id)?;
            res.new = calc_type(targ.btf, relo.kind, targ.spec, targ.real_id)?.0;
        } else if is_enumval(relo.kind) {
            res.orig = calc_enumval(local.btf, relo.kind, local.spec)?;
            res.new = calc_enumval(targ.btf, relo.kind, targ.spec)?;
        } else {
            return Err(-95);
        }
        Ok(())
    })();
    match r {
        Ok(()) => Ok(res),
        Err(-117) => {
            res.poison = true;
            Ok(res)
        }
        Err(-95) => {
            warn.push(format!(
                "prog '{prog}': relo #{n}: unrecognized CO-RE relocation {} ({}) at insn #{insn}",
                kind_str(relo.kind),
                relo.kind
            ));
            Err(-95)
        }
        Err(e) => Err(e),
    }
}

/// `bpf_core_format_spec`, with type ids shown through `real_id`.
fn format_spec(b: &Btf, spec: &Spec, real_id: &dyn Fn(u32) -> u32) -> String {
    let name = name_of(b, spec.root);
    let mut s = format!(
        "<{}> [{}] {} {}",
        kind_str(spec.kind),
        real_id(spec.root),
        kind_name(kind(b, spec.root)),
        if name.is_empty() { "<anon>" } else { &name }
    );
    if is_type(spec.kind) {
        return s;
    }
    if is_enumval(spec.kind) {
        let t = skip(b, spec.root).unwrap_or(0);
        let i = spec.raw.first().copied().unwrap_or(0);
        let v = enum_value(b, t, i);
        let n = b.name(enum_name_off(b, t, i));
        let signed = kflag(b, t);
        let v = match (kind(b, t) == 6, signed) {
            (true, true) => (v as u32 as i32).to_string(),
            (false, true) => (v as i64).to_string(),
            _ => v.to_string(),
        };
        s.push_str(&format!("::{n} = {v}"));
        return s;
    }
    for (i, a) in spec.acc.iter().enumerate() {
        match &a.name {
            Some(n) => s.push_str(&format!(".{n}")),
            None if i > 0 || a.idx > 0 => s.push_str(&format!("[{}]", a.idx)),
            None => {}
        }
    }
    let raw: Vec<String> = spec.raw.iter().map(|r| (*r as i32).to_string()).collect();
    s.push_str(&format!(" ({}", raw.join(":")));
    if spec.bit_offset % 8 != 0 {
        s.push_str(&format!(" @ offset {}.{})", spec.bit_offset / 8, spec.bit_offset % 8));
    } else {
        s.push_str(&format!(" @ offset {})", spec.bit_offset / 8));
    }
    s
}

/// The kernel types that are candidates for local type `id`
/// (`bpf_core_find_cands` over vmlinux: same kind, same essential name).
fn find_cands(lb: &Btf, id: u32, k: &KernelBtf) -> Result<Vec<u32>, i32> {
    let lname = name_of(lb, id);
    if lb.ty(id).is_err() || lname.is_empty() {
        return Err(-22);
    }
    let lk = kind(lb, id);
    let ess = essential_name(&lname);
    Ok((1..=k.btf.len())
        .filter(|t| core_compat(kind(&k.btf, *t), lk))
        .filter(|t| {
            let n = name_of(&k.btf, *t);
            !n.is_empty() && essential_name(&n) == ess
        })
        .collect())
}

/// `bpf_core_calc_relo_insn` for one relocation, with the candidate list
/// cached per local root type (and pruned as libbpf prunes it).
#[allow(clippy::too_many_arguments)]
fn calc_relo_insn(
    prog: &str,
    relo: &CoreRelo,
    n: usize,
    lb: &Btf,
    k: &KernelBtf,
    cands: &mut Vec<(u32, Vec<u32>)>,
    warn: &mut Vec<String>,
) -> Result<(Res, String, Option<String>), i32> {
    let local_id = relo.type_id;
    let lname = name_of(lb, local_id);
    if lb.ty(local_id).is_err() {
        return Err(-22);
    }
    let ident = |i: u32| i;
    let real = |i: u32| k.real_id(i);
    // bpf_core_resolve_relo: the candidates (not for TYPE_ID_LOCAL), found
    // once per local type, before the spec is parsed.
    let mut slot = None;
    if relo.kind != 6 {
        slot = Some(match cands.iter().position(|(id, _)| *id == local_id) {
            Some(i) => i,
            None => {
                let found = find_cands(lb, local_id, k).inspect_err(|e| {
                    warn.push(format!(
                        "prog '{prog}': relo #{n}: target candidate search failed for [{local_id}] {} {}: {e}",
                        kind_name(kind(lb, local_id)),
                        lname
                    ));
                })?;
                cands.push((local_id, found));
                cands.len() - 1
            }
        });
    }
    let local = match parse_spec(lb, relo, warn, prog) {
        Ok(s) => s,
        Err(e) => {
            warn.push(format!(
                "prog '{prog}': relo #{n}: parsing [{local_id}] {} {} + {} failed: {e}",
                kind_name(kind(lb, local_id)),
                if lname.is_empty() { "<anon>" } else { &lname },
                relo.access
            ));
            return Err(-22);
        }
    };
    let local_text = format_spec(lb, &local, &ident);
    let Some(slot) = slot else {
        let id = u64::from(local.root);
        return Ok((Res { orig: id, new: id, validate: false, ..Res::default() }, local_text, None));
    };
    if lname.is_empty() {
        warn.push(format!(
            "prog '{prog}': relo #{n}: <{}> ({}) relocation doesn't support anonymous types",
            kind_str(relo.kind),
            relo.kind
        ));
        return Err(-95);
    }
    let mut chosen: Option<(Res, Spec)> = None;
    let mut kept = Vec::new();
    for &c in &cands[slot].1 {
        let Some(cand) = spec_match(&local, lb, &k.btf, c).inspect_err(|e| {
            warn.push(format!("prog '{prog}': relo #{n}: error matching candidate #{} : {e}", kept.len()));
        })?
        else {
            continue;
        };
        let res = calc_relo(
            relo,
            n,
            Side { btf: lb, spec: Some(&local), real_id: &ident },
            Side { btf: &k.btf, spec: Some(&cand), real_id: &real },
            warn,
            prog,
        )?;
        match &chosen {
            None => chosen = Some((res, cand)),
            Some((r, s)) => {
                if cand.bit_offset != s.bit_offset {
                    warn.push(format!("prog '{prog}': relo #{n}: field offset ambiguity: {} != {}", cand.bit_offset, s.bit_offset));
                    return Err(-22);
                }
                if res.poison != r.poison || res.new != r.new {
                    let word = |p: bool| if p { "failure" } else { "success" };
                    warn.push(format!(
                        "prog '{prog}': relo #{n}: relocation decision ambiguity: {} {} != {} {}",
                        word(res.poison),
                        res.new,
                        word(r.poison),
                        r.new
                    ));
                    return Err(-22);
                }
            }
        }
        kept.push(c);
    }
    if !kept.is_empty() {
        cands[slot].1 = kept;
    }
    match chosen {
        Some((res, spec)) => {
            let t = format_spec(&k.btf, &spec, &real);
            Ok((res, local_text, Some(t)))
        }
        None => {
            let res = calc_relo(
                relo,
                n,
                Side { btf: lb, spec: Some(&local), real_id: &ident },
                Side { btf: &k.btf, spec: None, real_id: &real },
                warn,
                prog,
            )?;
            Ok((res, local_text, None))
        }
    }
}

/// `bpf_core_poison_insn`.
fn poison(insn: &mut [u8; 8]) {
    *insn = [0x85, 0, 0, 0, 0, 0, 0, 0];
    insn[4..8].copy_from_slice(&POISON_IMM.to_le_bytes());
}

fn imm(i: &[u8; 8]) -> i32 {
    i32::from_le_bytes([i[4], i[5], i[6], i[7]])
}
fn off(i: &[u8; 8]) -> i16 {
    i16::from_le_bytes([i[2], i[3]])
}

/// `bpf_core_patch_insn`: writes the new value into the instruction (an
/// ALU imm, a load/store offset and possibly its size, or an ld_imm64),
/// after checking that it holds the value the compiler computed.
fn patch_insn(prog: &str, insns: &mut [[u8; 8]], at: usize, n: usize, res: &Res, warn: &mut Vec<String>) -> Result<(), i32> {
    let poison_at = |insns: &mut [[u8; 8]]| {
        if insns[at][0] == 0x18 && at + 1 < insns.len() {
            poison(&mut insns[at + 1]);
        }
        poison(&mut insns[at]);
    };
    if res.poison {
        poison_at(insns);
        return Ok(());
    }
    let insn = insns[at];
    let class = insn[0] & 0x07;
    match class {
        // BPF_ALU, BPF_ALU64
        0x04 | 0x07 => {
            if insn[0] & 0x08 != 0 {
                return Err(-22);
            }
            if res.validate && i64::from(imm(&insn)) as u64 != res.orig {
                warn.push(format!(
                    "prog '{prog}': relo #{n}: unexpected insn #{at} (ALU/ALU64) value: got {}, exp {} -> {}",
                    imm(&insn) as u32,
                    res.orig,
                    res.new
                ));
                return Err(-22);
            }
            insns[at][4..8].copy_from_slice(&(res.new as u32).to_le_bytes());
        }
        // BPF_LDX, BPF_ST, BPF_STX
        0x01..=0x03 => {
            if res.validate && i64::from(off(&insn)) as u64 != res.orig {
                warn.push(format!(
                    "prog '{prog}': relo #{n}: unexpected insn #{at} (LDX/ST/STX) value: got {}, exp {} -> {}",
                    i32::from(off(&insn)) as u32,
                    res.orig,
                    res.new
                ));
                return Err(-22);
            }
            if res.new > i16::MAX as u64 {
                warn.push(format!("prog '{prog}': relo #{n}: insn #{at} (LDX/ST/STX) value too big: {}", res.new));
                return Err(-34);
            }
            if res.fail_memsz_adjust {
                warn.push(format!(
                    "prog '{prog}': relo #{n}: insn #{at} (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing pointers, unsigned integers, or fields of matching type and size."
                ));
                poison_at(insns);
                return Ok(());
            }
            insns[at][2..4].copy_from_slice(&(res.new as i16).to_le_bytes());
            if res.new_sz != res.orig_sz {
                let bytes = match insn[0] & 0x18 {
                    0x18 => 8,
                    0x00 => 4,
                    0x08 => 2,
                    _ => 1,
                };
                if bytes != res.orig_sz {
                    warn.push(format!(
                        "prog '{prog}': relo #{n}: insn #{at} (LDX/ST/STX) unexpected mem size: got {bytes}, exp {}",
                        res.orig_sz
                    ));
                    return Err(-22);
                }
                let size = match res.new_sz {
                    8 => 0x18,
                    4 => 0x00,
                    2 => 0x08,
                    1 => 0x10,
                    s => {
                        warn.push(format!("prog '{prog}': relo #{n}: insn #{at} (LDX/ST/STX) invalid new mem size: {s}"));
                        return Err(-22);
                    }
                };
                insns[at][0] = (insn[0] & 0xe7) | size;
            }
        }
        // BPF_LD
        0x00 => {
            let next = insns.get(at + 1).copied();
            let ok =
                insn[0] == 0x18 && insn[1] >> 4 == 0 && off(&insn) == 0 && next.is_some_and(|x| x[0] == 0 && x[1] == 0 && off(&x) == 0);
            let Some(next) = next.filter(|_| ok) else {
                warn.push(format!("prog '{prog}': relo #{n}: insn #{at} (LDIMM64) has unexpected form"));
                return Err(-22);
            };
            let v = u64::from(imm(&insn) as u32) | (u64::from(imm(&next) as u32) << 32);
            if res.validate && v != res.orig {
                warn.push(format!(
                    "prog '{prog}': relo #{n}: unexpected insn #{at} (LDIMM64) value: got {v}, exp {} -> {}",
                    res.orig, res.new
                ));
                return Err(-22);
            }
            insns[at][4..8].copy_from_slice(&(res.new as u32).to_le_bytes());
            insns[at + 1][4..8].copy_from_slice(&((res.new >> 32) as u32).to_le_bytes());
        }
        _ => {
            warn.push(format!(
                "prog '{prog}': relo #{n}: trying to relocate unrecognized insn #{at}, code:0x{:x}, src:0x{:x}, dst:0x{:x}, off:0x{:x}, imm:0x{:x}",
                insn[0],
                insn[1] >> 4,
                insn[1] & 0xf,
                off(&insn),
                imm(&insn)
            ));
            return Err(-22);
        }
    }
    Ok(())
}

/// A program or subprogram CO-RE patches: its name, ELF section (as the
/// object has it, `?` included), first instruction in the section, whether
/// libbpf loads it, and its instructions.
#[derive(Debug)]
pub struct Target<'a> {
    /// Function name.
    pub name: &'a str,
    /// ELF section name.
    pub section: String,
    /// `sec_insn_off`.
    pub start: usize,
    /// `prog->autoload`.
    pub autoload: bool,
    /// The instructions, patched in place.
    pub insns: &'a mut Vec<[u8; 8]>,
}

/// `bpf_object__relocate_core`: every CO-RE relocation of `relos` (by ELF
/// section) applied to the instructions of `progs` against kernel `k`.
/// Relocations of programs libbpf does not load are skipped; one it
/// cannot resolve or patch fails the whole object, as in libbpf.
pub(super) fn relocate_core(
    lb: &Btf,
    relos: &[(String, Vec<CoreRelo>)],
    progs: &mut [Target<'_>],
    k: &KernelBtf,
) -> Result<Vec<CoreDone>, CoreError> {
    let mut warn = Vec::new();
    let mut done = Vec::new();
    let mut cands: Vec<(u32, Vec<u32>)> = Vec::new();
    let fail = |mut lines: Vec<String>, err: i32| {
        lines.push(format!("failed to perform CO-RE relocations: {err}"));
        CoreError { lines, err }
    };
    for (sec, recs) in relos {
        if sec.is_empty() {
            return Err(fail(warn, -22));
        }
        if !progs.iter().any(|p| p.section == *sec) {
            warn.push(format!("sec '{sec}': failed to find a BPF program"));
            return Err(fail(warn, -2));
        }
        for (n, r) in recs.iter().enumerate() {
            if r.insn_off % 8 != 0 {
                return Err(fail(warn, -22));
            }
            let idx = (r.insn_off / 8) as usize;
            // find_prog_by_sec_insn; an instruction of no program belonged
            // to an eliminated weak subprogram and is skipped.
            let Some(p) = progs.iter_mut().find(|p| p.section == *sec && (p.start..p.start + p.insns.len()).contains(&idx)) else {
                continue;
            };
            if !p.autoload {
                continue;
            }
            let at = idx - p.start;
            let name = p.name.to_string();
            let (res, local, target) = match calc_relo_insn(&name, r, n, lb, k, &mut cands, &mut warn) {
                Ok(x) => x,
                Err(e) => {
                    warn.push(format!("prog '{name}': relo #{n}: failed to relocate: {e}"));
                    return Err(fail(warn, e));
                }
            };
            if let Err(e) = patch_insn(&name, p.insns, at, n, &res, &mut warn) {
                warn.push(format!("prog '{name}': relo #{n}: failed to patch insn #{at}: {e}"));
                return Err(fail(warn, e));
            }
            done.push(CoreDone {
                prog: name,
                relo: n,
                insn: at,
                kind: r.kind,
                local,
                target,
                orig: res.orig,
                new: res.new,
                poisoned: res.poison,
            });
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flavor_suffix_is_not_part_of_the_name() {
        assert_eq!(essential_name("task_struct___x"), "task_struct");
        assert_eq!(essential_name("task_struct"), "task_struct");
        assert_eq!(essential_name("a___b___c"), "a___b");
        // X and Y must not be underscores themselves.
        assert_eq!(essential_name("a____b"), "a____b");
        assert_eq!(essential_name("___b"), "___b");
    }
}
