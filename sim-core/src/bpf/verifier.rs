//! The verifier's checks this simulator makes (kernel/bpf/verifier.c,
//! `bpf_check`): helpers and kfuncs allowed per program type, the path
//! explorer with its instruction budget, registers read before written.

use super::bounds::{self, Bounds};
use super::*;
use crate::linux::Errno;

/// Kernel structs BPF may implement (`bpf_struct_ops` registrations), with
/// the value size of their struct_ops map on the reference kernel.
pub const STRUCT_OPS_TYPES: &[(&str, u32)] = &[("tcp_congestion_ops", 256)];

/// The name of helper `id` (`bpf_map_lookup_elem` for 1), if the kernel has one.
pub fn helper_name(id: i32) -> Option<&'static str> {
    usize::try_from(id).ok().filter(|i| *i > 0).and_then(|i| super::helpers::NAMES.get(i).copied())
}

/// Whether a program of `prog_type` may call helper `id`: the type's
/// `get_func_proto` returns a prototype for it on the reference kernel
/// ([`super::helpers::ALLOWED`]).
pub fn helper_allowed(prog_type: &str, id: i32) -> bool {
    let Ok(i) = usize::try_from(id) else { return false };
    super::helpers::ALLOWED.iter().find(|(t, _)| *t == prog_type).is_some_and(|(_, set)| i < 256 && set[i / 64] >> (i % 64) & 1 == 1)
}

/// The build of the reference kernel whose BTF ids [`KFUNCS`] holds
/// (`uname -r`): a kfunc's id differs from one kernel build to another, and
/// with it the tag of a program calling it.
pub const REFERENCE_KERNEL_BUILD: &str = "6.18.44-fc-v1272";

/// Kernel functions the simulated kernel exports, with their BTF ids in the
/// reference kernel's vmlinux BTF (`bpftool btf dump file
/// /sys/kernel/btf/vmlinux` on [`REFERENCE_KERNEL_BUILD`]) and the program
/// types whose kfunc hook registers them (`bpf_prog_type_to_kfunc_hook`,
/// `register_btf_kfunc_id_set`).
pub const KFUNCS: &[(&str, u32, &[&str])] = &[
    ("bpf_dynptr_from_xdp", 63308, &["xdp"]),
    ("bpf_dynptr_from_skb", 63300, &["sched_cls", "socket_filter", "cgroup_skb"]),
    ("bpf_task_acquire", 65329, &["tracing", "lsm", "struct_ops", "sched_cls", "xdp"]),
    // bpf_tcp_ca_kfunc_set (net/ipv4/bpf_tcp_ca.c), registered for BPF_PROG_TYPE_STRUCT_OPS.
    ("tcp_reno_ssthresh", 113637, &["struct_ops"]),
    ("tcp_reno_undo_cwnd", 113639, &["struct_ops"]),
    ("tcp_reno_cong_avoid", 113635, &["struct_ops"]),
];

/// One thing the verifier's walk reports, as data: which of them are the
/// kernel's own log lines is in the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLine {
    /// An instruction the walk checked, in the kernel log's format
    /// (`4: (85) call bpf_skb_load_bytes#26`, [`super::disasm`]); the
    /// kernel's log line adds the registers the instruction changed.
    Insn {
        /// Its index.
        at: usize,
        /// `print_bpf_insn`'s text.
        text: String,
    },
    /// The simulator's account of a step of its walk (a loop's backward
    /// jump and what it knows there): not a line of the kernel's log.
    Walk(String),
    /// How many instructions the simulator's walk processed. The kernel's
    /// `processed N insns` can be lower: it also stops a path that reaches
    /// an instruction in a state it has already checked
    /// (`is_state_visited`), which the simulator does not model.
    Processed(usize),
    /// The message the kernel's log (or libbpf) gives for the refusal.
    Error(String),
}

impl LogLine {
    /// The text, for tests and the command line.
    pub fn text(&self) -> String {
        match self {
            LogLine::Insn { at, text } => format!("{at}: {text}"),
            LogLine::Walk(s) | LogLine::Error(s) => s.clone(),
            LogLine::Processed(n) => format!("processed {n} insns"),
        }
    }
}

/// A call instruction as the kernel's verifier log prints it (its copy of
/// disasm.c; a kfunc by its BTF name, `disasm_kfunc_name`).
fn call_line(insns: &[[u8; 8]], i: usize, kfunc: Option<&str>) -> LogLine {
    let name = |_: &[u8; 8]| kfunc.map(str::to_string);
    let cbs = super::disasm::Cbs { call: &name, imm: &|_, _, _| None };
    LogLine::Insn { at: i, text: super::disasm::insn_text(insns, i, super::disasm::Dialect::Linux618, &cbs) }
}

/// The verifier's verdict on a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What the walk reported, in order ([`LogLine`]).
    pub log: Vec<LogLine>,
    /// Why it was refused, if it was.
    pub error: Option<VerifierError>,
    /// Which instructions a path reached (`insn_aux_data[i].seen`); the
    /// rest is dead code, which the verifier removes from an accepted
    /// program ([`super::fixups::remove_dead_code`]). Empty when refused.
    pub seen: Vec<bool>,
    /// Each function's stack depth (`subprog_info[i].stack_depth`): the
    /// deepest byte below its r10 a visited load, store or helper argument
    /// reaches (`update_stack_depth`), by the function's first instruction,
    /// in order; the main program first. Empty when refused.
    pub subprog_depths: Vec<(usize, u32)>,
    /// A function calls `bpf_tail_call` (`subprog_info[i].has_tail_call`,
    /// set by `check_subprogs`): no private stack for the program.
    pub has_tail_call: bool,
    /// Which instructions load through the context pointer on a visited
    /// path (`insn_aux_data[i].ptr_type == PTR_TO_CTX`), for
    /// [`super::fixups::convert_ctx_accesses`]. Empty when refused.
    pub ctx_loads: Vec<bool>,
}

/// A refusal: the errno `bpf(BPF_PROG_LOAD)` (or libbpf before it) returns
/// and the message the kernel's log (or libbpf) prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierError {
    /// The errno.
    pub errno: Errno,
    /// The log's last line, in the kernel's (or libbpf's) words.
    pub message: String,
}

impl VerifierError {
    /// The negative errno as libbpf prints it (`failed to load: -13`).
    pub fn code(&self) -> i32 {
        -self.errno.code()
    }
}

/// The checks of `bpf_check()` this simulator makes: every instruction
/// decodes, jumps stay inside the program, the last instruction is an exit
/// or a jump, `ld_imm64` has its second half, each helper call is allowed for
/// the program type (`check_helper_call`), each kfunc is registered for it
/// (`check_kfunc_call`), and the 1,000,000-instruction budget.
pub fn verify(prog: &ProgDef) -> Verdict {
    verify_with(prog, &[])
}

/// [`verify`], knowing the frozen read-only map values `rdonly` the
/// program points into.
pub fn verify_with(prog: &ProgDef, rdonly: &[Rdonly]) -> Verdict {
    let mut log = Vec::new();
    let n = prog.insns.len();
    let fail = |log: Vec<LogLine>, errno: Errno, message: String| {
        let mut log = log;
        log.push(LogLine::Error(message.clone()));
        Verdict {
            log,
            error: Some(VerifierError { errno, message }),
            seen: vec![],
            subprog_depths: vec![],
            has_tail_call: false,
            ctx_loads: vec![],
        }
    };
    if n == 0 {
        return fail(log, Errno::EINVAL, "empty program".into());
    }
    if n > 1_000_000 {
        return fail(log, Errno::E2BIG, format!("BPF program is too large. Processed 1000001 insn (of {n})"));
    }
    let (mut i, mut has_tail_call) = (0, false);
    while i < n {
        let insn = prog.insns[i];
        let op = insn[0];
        let src = insn[1] >> 4;
        let off = i16::from_le_bytes([insn[2], insn[3]]) as i64;
        let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        let class = op & 7;
        if op == 0x18 {
            if i + 1 >= n {
                return fail(log, Errno::EINVAL, format!("{i}: invalid bpf_ld_imm64 insn (the second half is missing)"));
            }
            // resolve_pseudo_ldimm64: in an object, map references are
            // relocations (src_reg 0 until libbpf patches them); a src_reg of
            // 1 already there names an fd the loader never opened.
            match src {
                // 0: a constant or a relocation libbpf patches; 4: a subprogram's address.
                0 | 4 => {}
                1 => return fail(log, Errno::EBADF, format!("fd {imm} is not pointing to valid bpf_map")),
                _ => return fail(log, Errno::EINVAL, format!("{i}: unrecognized bpf_ld_imm64 insn")),
            }
            i += 2;
            continue;
        }
        if op == 0x85 {
            let kfunc = prog.kfunc_calls.iter().any(|(at, _)| *at == i);
            match if kfunc { 2 } else { src } {
                // A helper call is checked when a path reaches it
                // (check_helper_call, in do_check): an unknown id in dead
                // code, such as a call CO-RE poisoned behind a
                // bpf_core_field_exists() test, is never looked at.
                0 => {
                    has_tail_call |= imm == 12;
                    if helper_name(imm).is_some() {
                        log.push(call_line(&prog.insns, i, None));
                    }
                }
                2 => {
                    let name = prog.kfunc_calls.iter().find(|(at, _)| *at == i).map(|(_, n)| n.clone()).unwrap_or_default();
                    let Some((_, id, hooks)) = KFUNCS.iter().find(|(k, _, _)| *k == name) else {
                        return fail(log, Errno::ESRCH, format!("libbpf: extern (func ksym) '{name}': not found in kernel or module BTFs"));
                    };
                    // The call as libbpf left it: src_reg BPF_PSEUDO_KFUNC_CALL, imm the BTF id.
                    let mut call = prog.insns.clone();
                    call[i][1] = (call[i][1] & 0x0f) | 0x20;
                    call[i][4..8].copy_from_slice(&(*id as i32).to_le_bytes());
                    log.push(call_line(&call, i, Some(&name)));
                    if !hooks.contains(&prog.prog_type.name()) {
                        return fail(log, Errno::EACCES, format!("calling kernel function {name} is not allowed"));
                    }
                }
                _ => {
                    let t = i as i64 + 1 + i64::from(imm);
                    if t < 0 || t >= n as i64 {
                        return fail(log, Errno::EINVAL, format!("{i}: call to invalid destination {t}"));
                    }
                }
            }
        } else if (class == 5 || class == 6) && op != 0x95 {
            let t = i as i64 + 1 + off;
            if t < 0 || t >= n as i64 {
                return fail(log, Errno::EINVAL, format!("jump out of range from insn {i} to {t}"));
            }
        } else if !matches!(class, 0..=7) {
            return fail(log, Errno::EINVAL, format!("{i}: unknown opcode {op:#04x}"));
        }
        i += 1;
    }
    let last = prog.insns[n - 1][0];
    if last != 0x95 && last & 7 != 5 {
        return fail(log, Errno::EINVAL, "last insn is not an exit or jmp".into());
    }
    // do_check follows the paths the values allow; reads are checked on
    // what it visits (code behind a branch it knows is not taken is dead).
    let mut walked = Vec::new();
    let mut seen = vec![false; n];
    let (mut depths, mut ctx_loads) = (vec![(0, 0)], vec![false; n]);
    let explored = explore(prog, rdonly, &mut walked, &mut seen, &mut Found { stack_depths: &mut depths, ctx_loads: &mut ctx_loads });
    if let Err(msg) = check_reads(prog, &seen) {
        return fail(log, Errno::EACCES, msg);
    }
    log.extend(walked);
    match explored {
        Ok(processed) => {
            log.push(LogLine::Processed(processed));
            depths.sort_unstable();
            Verdict { log, error: None, seen, subprog_depths: depths, has_tail_call, ctx_loads }
        }
        Err(e) => fail(log, e.errno, e.message),
    }
}

/// Bytes of stack a program has below its frame pointer (`MAX_BPF_STACK`).
pub const MAX_BPF_STACK: i64 = 512;

/// A stack access must stay inside the 512 bytes below the frame pointer
/// (`check_stack_access_within_bounds`).
/// Frame `k` (of a bpf-to-bpf call chain) has its 512 bytes below
/// `-512 * k` in the explorer's one address space of stack slots.
pub(super) fn stack_in_bounds(base: i64, off: i64, op: u8, what: &str, reg: usize) -> Result<(), VerifierError> {
    let size = [4, 2, 1, 8][((op >> 3) & 3) as usize];
    let at = base.saturating_add(off);
    let frame = (-base).max(0) / MAX_BPF_STACK;
    let top = -frame * MAX_BPF_STACK;
    if at < top - MAX_BPF_STACK || at.saturating_add(size) > top {
        return Err(VerifierError { errno: Errno::EACCES, message: format!("invalid {what} stack R{reg} off={at} size={size}") });
    }
    Ok(())
}

/// The verifier's budget of processed instructions (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const COMPLEXITY_LIMIT_INSNS: usize = 1_000_000;

/// What the path explorer knows of a register or an 8-byte stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Val {
    /// Never written (or clobbered by a call).
    Uninit,
    /// A scalar whose value is known.
    Known(u64),
    /// A scalar, or a pointer other than to the stack, whose value is not known.
    Unknown,
    /// A scalar known only by its bounds ([`super::bounds`]): a narrow
    /// load, a masked or shifted value, or one a branch has bounded.
    Range(Bounds),
    /// The frame pointer plus this offset.
    Stack(i64),
    /// The context pointer the program was called with (`PTR_TO_CTX`),
    /// unmodified: a load through it is a context access the verifier
    /// rewrites (`convert_ctx_accesses`).
    Ctx,
    /// A pointer into the value of a frozen read-only map (`.rodata`,
    /// `.kconfig`): which of [`Rdonly`] and the offset in it.
    Rdonly(u16, i64),
}

/// The value of a map the verifier may read at verification time
/// (`bpf_map_is_rdonly`: `BPF_F_RDONLY_PROG` and frozen), for the
/// `ld_imm64` at `insn` that points `off` bytes into it: a load through it
/// gives a known scalar (`bpf_map_direct_read`), so a test of a `const
/// volatile` setting is decided, and its other way is dead code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rdonly {
    /// The `ld_imm64`.
    pub insn: usize,
    /// Where in the value it points.
    pub off: u32,
    /// The map's value.
    pub value: Vec<u8>,
}

/// One path's state: registers, the 8-byte stack slots written with known
/// values, and the callers' frames of a bpf-to-bpf call (`struct
/// bpf_func_state` per frame: where to return, the callee-saved r6-r9 and
/// the frame pointer).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PathState {
    regs: [Val; 11],
    stack: BTreeMap<i64, Val>,
    /// Per caller: where to return, its r6-r10, and its function's first instruction.
    frames: Vec<(usize, [Val; 5], usize)>,
    /// The first instruction of the function this path is in (0: the main program).
    func: usize,
}

/// What the walk records for the rewrites after it.
pub(super) struct Found<'a> {
    /// Each function's stack depth ([`Verdict::subprog_depths`]).
    pub stack_depths: &'a mut Vec<(usize, u32)>,
    /// The context loads ([`Verdict::ctx_loads`]).
    pub ctx_loads: &'a mut [bool],
}

/// `update_stack_depth`: an access at `at` (in the explorer's one address
/// space of frames, see [`stack_in_bounds`]) makes the stack of the frame it
/// falls in at least that deep, counted for the function that frame runs
/// (`env->subprog_info[func->subprogno]`): a callee writing through a
/// pointer to its caller's stack deepens the caller's.
fn reach(depths: &mut Vec<(usize, u32)>, st: &PathState, at: i64) {
    if at >= 0 {
        return;
    }
    let k = ((-at - 1) / MAX_BPF_STACK) as usize;
    let func = match st.frames.get(k) {
        Some((_, _, f)) => *f,
        None if k == st.frames.len() => st.func,
        None => return,
    };
    let depth = (at + MAX_BPF_STACK * k as i64).unsigned_abs() as u32;
    match depths.iter_mut().find(|(f, _)| *f == func) {
        Some((_, d)) => *d = (*d).max(depth),
        None => depths.push((func, depth)),
    }
}

/// The deepest chain of bpf-to-bpf calls (`MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;

impl PathState {
    pub(super) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same on every platform.
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// Follows every path through the program as `do_check()` does, with the
/// values it can know (constants, stack offsets), so that a loop is accepted
/// exactly when each of its paths ends (bounded loops, Linux 5.3+). A
/// conditional jump whose outcome is known follows one branch; otherwise
/// the fall-through is explored first and the taken branch later
/// (`push_stack`). At the target of each backward jump the state is
/// remembered (`is_state_visited`): the same state again on the same path
/// is an infinite loop; seen on another path, the rest was explored there
/// (pruned). Every instruction visited counts against
/// [`COMPLEXITY_LIMIT_INSNS`]. Writes its log lines to `log`; returns the
/// count processed, or the error (negative errno, message); marks in
/// `seen` each instruction it visits.
pub(super) fn explore(
    prog: &ProgDef,
    rdonly: &[Rdonly],
    log: &mut Vec<LogLine>,
    seen: &mut [bool],
    found: &mut Found,
) -> Result<usize, VerifierError> {
    use super::vm::{alu, jump_taken};
    let insns = &prog.insns;
    let n = insns.len();
    let mut loop_heads = vec![false; n];
    // Where is_state_visited looks for an equal state (mark_prune_point):
    // jump targets and conditional jumps.
    let mut prune = vec![false; n];
    for (i, insn) in insns.iter().enumerate() {
        let class = insn[0] & 7;
        if (class == 5 || class == 6) && !matches!(insn[0], 0x85 | 0x95) {
            let t = i as i64 + 1 + i64::from(i16::from_le_bytes([insn[2], insn[3]]));
            if (0..=i as i64).contains(&t) {
                loop_heads[t as usize] = true;
            }
            if (0..n as i64).contains(&t) {
                prune[t as usize] = true;
            }
            if insn[0] != 0x05 {
                prune[i] = true;
            }
        }
    }
    let mut regs = [Val::Uninit; 11];
    regs[1] = Val::Ctx;
    regs[10] = Val::Stack(0);
    // (pc, state, length of the path when this branch was pushed)
    let mut branches: Vec<(usize, PathState, usize)> = vec![(0, PathState { regs, stack: BTreeMap::new(), frames: vec![], func: 0 }, 0)];
    // A global function is verified on its own (do_check_subprogs), with
    // arguments it knows nothing of.
    for &g in prog.global_funcs.iter().filter(|g| **g < n) {
        let mut regs = [Val::Uninit; 11];
        regs[1..=5].fill(Val::Unknown);
        regs[10] = Val::Stack(0);
        branches.insert(0, (g, PathState { regs, stack: BTreeMap::new(), frames: vec![], func: g }, 0));
    }
    let mut path: Vec<(usize, u64)> = Vec::new();
    let mut on_path: std::collections::HashSet<(usize, u64)> = Default::default();
    let mut visited: std::collections::HashSet<(usize, u64)> = Default::default();
    let mut processed = 0usize;
    let mut loop_lines = 0;
    while let Some((mut pc, mut st, depth)) = branches.pop() {
        for k in path.drain(depth..) {
            on_path.remove(&k);
        }
        loop {
            if pc >= n {
                return Err(VerifierError { errno: Errno::EINVAL, message: format!("jump out of range to insn {pc}") });
            }
            if loop_heads[pc] {
                let key = (pc, st.fingerprint());
                if on_path.contains(&key) {
                    return Err(VerifierError { errno: Errno::EINVAL, message: format!("infinite loop detected at insn {pc}") });
                }
                if !visited.insert(key) {
                    break; // explored from here with this very state before
                }
                on_path.insert(key);
                path.push(key);
            } else if prune[pc] && !visited.insert((pc, st.fingerprint())) {
                break; // this state was explored from here on another path
            }
            processed += 1;
            seen[pc] = true;
            if processed > COMPLEXITY_LIMIT_INSNS {
                log.push(LogLine::Processed(processed));
                return Err(VerifierError {
                    errno: Errno::E2BIG,
                    message: format!("BPF program is too large. Processed {processed} insn"),
                });
            }
            let insn = insns[pc];
            let (op, dst, src) = (insn[0], (insn[1] & 0xf) as usize, (insn[1] >> 4) as usize);
            let off = i64::from(i16::from_le_bytes([insn[2], insn[3]]));
            let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
            let (dst, src) = (dst.min(10), src.min(10));
            let mut next = pc + 1;
            match op & 7 {
                4 | 7 => {
                    let y = if op & 8 != 0 { st.regs[src] } else { Val::Known(imm as i64 as u64) };
                    let wide = op & 7 == 7;
                    let known = |v: Option<u64>| v.map_or(Val::Unknown, Val::Known);
                    st.regs[dst] = match (op >> 4, st.regs[dst], y) {
                        // mov64 copies whatever the source is; mov32 only a scalar.
                        (0xb, _, v) if wide => v,
                        (0xb, _, Val::Known(b)) => known(alu(op, imm, 0, b)),
                        // neg and byte swaps read only the destination.
                        (0x8 | 0xd, Val::Known(a), _) => known(alu(op, imm, a, 0)),
                        // Pointer arithmetic on the frame pointer stays on the stack.
                        (0x0, Val::Stack(o), Val::Known(k)) if wide => Val::Stack(o.wrapping_add(k as i64)),
                        (0x1, Val::Stack(o), Val::Known(k)) if wide => Val::Stack(o.wrapping_sub(k as i64)),
                        (0x0, Val::Rdonly(m, o), Val::Known(k)) if wide => Val::Rdonly(m, o.wrapping_add(k as i64)),
                        (0x1, Val::Rdonly(m, o), Val::Known(k)) if wide => Val::Rdonly(m, o.wrapping_sub(k as i64)),
                        (_, Val::Known(a), Val::Known(b)) => known(alu(op, imm, a, b)),
                        (o, d, y) => scalar_alu(o, wide, d, y),
                    };
                }
                0 => {
                    // sanitize_mark_insn_seen: the second half too.
                    if let Some(s) = seen.get_mut(pc + 1) {
                        *s = true;
                    }
                    // ld_imm64: a constant, or a map reference (not a scalar we follow).
                    let hi = insns.get(pc + 1).map(|h| i32::from_le_bytes([h[4], h[5], h[6], h[7]])).unwrap_or(0);
                    st.regs[dst] = match rdonly.iter().position(|r| r.insn == pc) {
                        Some(m) => Val::Rdonly(m as u16, i64::from(rdonly[m].off)),
                        None if src == 0 => Val::Known((imm as u32 as u64) | ((hi as u32 as u64) << 32)),
                        None => Val::Unknown,
                    };
                    next = pc + 2;
                }
                1 => {
                    let size8 = (op >> 3) & 3 == 3;
                    if let Val::Stack(o) = st.regs[src] {
                        stack_in_bounds(o, off, op, "read from", src)?;
                        reach(found.stack_depths, &st, o + off);
                    }
                    if st.regs[src] == Val::Ctx && op & 0xe0 == 0x60 {
                        if let Some(c) = found.ctx_loads.get_mut(pc) {
                            *c = true;
                        }
                    }
                    st.regs[dst] = match st.regs[src] {
                        Val::Stack(o) if size8 => st.stack.get(&(o + off)).copied().unwrap_or(Val::Unknown),
                        // bpf_map_direct_read: 1, 2, 4 or 8 bytes, little-endian, zero-extended.
                        Val::Rdonly(m, o) if op & 0xe0 == 0x60 => {
                            let size = [4usize, 2, 1, 8][usize::from((op >> 3) & 3)];
                            let at = usize::try_from(o + off).ok();
                            match at.and_then(|a| rdonly[usize::from(m)].value.get(a..a.checked_add(size)?)) {
                                Some(b) => Val::Known(b.iter().rev().fold(0u64, |v, x| (v << 8) | u64::from(*x))),
                                None => Val::Unknown,
                            }
                        }
                        // A narrow load zero-extends (coerce_reg_to_size): a scalar below 2^(8*size).
                        _ if op & 0xe0 == 0x60 && !size8 => Val::Range(Bounds::of_size([4, 2, 1, 8][usize::from((op >> 3) & 3)])),
                        _ => Val::Unknown,
                    };
                }
                2 | 3 => {
                    // An atomic operation leaves its slot holding what no
                    // one knows; with BPF_FETCH it writes the old value to
                    // src, a compare-and-exchange to r0.
                    let atomic = op & 7 == 3 && op & 0xe0 == 0xc0;
                    if atomic && imm == 0xf1 {
                        st.regs[0] = Val::Unknown;
                    } else if atomic && imm & 1 != 0 {
                        st.regs[src] = Val::Unknown;
                    }
                    if let Val::Stack(o) = st.regs[dst] {
                        stack_in_bounds(o, off, op, "write to", dst)?;
                        reach(found.stack_depths, &st, o + off);
                        let v = if atomic {
                            Val::Unknown
                        } else if op & 7 == 3 {
                            st.regs[src]
                        } else {
                            Val::Known(imm as i64 as u64)
                        };
                        let at = o + off;
                        if (op >> 3) & 3 == 3 {
                            st.stack.insert(at, v);
                        } else {
                            // A narrower store spoils the slot it lands in.
                            st.stack.insert(at - at.rem_euclid(8), Val::Unknown);
                        }
                    }
                }
                _ => match op {
                    // exit from a subprogram: back to the caller (prepare_func_exit).
                    0x95 if !st.frames.is_empty() => {
                        let Some((ret, saved, caller)) = st.frames.pop() else { break };
                        st.regs[6..=10].copy_from_slice(&saved);
                        st.func = caller;
                        for r in &mut st.regs[1..=5] {
                            *r = Val::Uninit;
                        }
                        next = ret;
                    }
                    0x95 => break,
                    // bpf-to-bpf call (check_func_call): a new frame; the
                    // callee sees r1-r5, its own r10, and no r6-r9.
                    // A call of a global function: checked separately; r0
                    // is some scalar (check_func_call, subprog_is_global).
                    0x85 if src == 1 && prog.global_funcs.contains(&((pc as i64 + 1 + i64::from(imm)) as usize)) => {
                        st.regs[0] = Val::Unknown;
                        for r in &mut st.regs[1..=5] {
                            *r = Val::Uninit;
                        }
                    }
                    0x85 if src == 1 && !prog.kfunc_calls.iter().any(|(at, _)| *at == pc) => {
                        if st.frames.len() + 1 >= MAX_CALL_FRAMES {
                            return Err(VerifierError {
                                errno: Errno::E2BIG,
                                message: format!("the call stack of {} frames is too deep !", st.frames.len() + 2),
                            });
                        }
                        let mut saved = [Val::Uninit; 5];
                        saved.copy_from_slice(&st.regs[6..=10]);
                        st.frames.push((pc + 1, saved, st.func));
                        for r in &mut st.regs[6..=9] {
                            *r = Val::Uninit;
                        }
                        st.regs[10] = Val::Stack(-(st.frames.len() as i64) * MAX_BPF_STACK);
                        next = (pc as i64 + 1 + i64::from(imm)) as usize;
                        st.func = next;
                        // check_subprogs: every function is in subprog_info, used stack or not.
                        if !found.stack_depths.iter().any(|(f, _)| *f == next) {
                            found.stack_depths.push((next, 0));
                        }
                    }
                    0x85 => {
                        if src == 0 {
                            check_helper_call(prog, pc, imm)?;
                        }
                        // A helper (or kfunc) given stack memory may write it
                        // (ARG_PTR_TO_UNINIT_MEM: the slots become STACK_MISC):
                        // what was known there is not any more. The map
                        // helpers only read their key and value.
                        for r in 1..=5 {
                            if let Val::Stack(o) = st.regs[r] {
                                reach(found.stack_depths, &st, o);
                            }
                        }
                        if src != 0 || !matches!(imm, 1..=3) {
                            for r in 1..=5 {
                                let Val::Stack(o) = st.regs[r] else { continue };
                                let end = match st.regs.get(r + 1) {
                                    Some(Val::Known(n)) if r < 5 => o.saturating_add(*n as i64),
                                    _ => 0,
                                };
                                let first = o - o.rem_euclid(8);
                                st.stack.retain(|at, _| *at < first || *at >= end);
                            }
                        }
                        st.regs[0] = Val::Unknown;
                        for r in &mut st.regs[1..=5] {
                            *r = Val::Uninit;
                        }
                    }
                    _ => {
                        let target = (pc as i64 + 1 + off) as usize;
                        let y = if op & 8 != 0 { st.regs[src] } else { Val::Known(imm as i64 as u64) };
                        let jmp32 = op & 7 == 6;
                        let mut known = match (st.regs[dst], y) {
                            (_, _) if op == 0x05 => Some(true),
                            (Val::Known(a), Val::Known(b)) => jump_taken(op, imm, a, b),
                            (a, b) => scalar_pair(a, b, jmp32)
                                .filter(|(a, b)| refinable(op, jmp32, a, b))
                                .and_then(|(a, b)| bounds::branch_taken(op >> 4, a, b)),
                        };
                        // Each way learns what its comparison says
                        // (reg_set_min_max); a way no value takes is not followed.
                        let mut ways = None;
                        if known.is_none() {
                            if let Some((a, b)) = scalar_pair(st.regs[dst], y, false).filter(|(a, b)| refinable(op, jmp32, a, b)) {
                                let way = |taken| {
                                    bounds::refine(op >> 4, taken, a, b).map(|(ra, rb)| {
                                        let mut s = st.clone();
                                        s.regs[dst] = scalar_val(ra);
                                        if op & 8 != 0 && src != dst {
                                            s.regs[src] = scalar_val(rb);
                                        }
                                        s
                                    })
                                };
                                match (way(true), way(false)) {
                                    (Some(t), Some(f)) => ways = Some((t, f)),
                                    (t, _) => known = Some(t.is_some()),
                                }
                            }
                        }
                        let back = target <= pc;
                        match known {
                            Some(taken) => {
                                if back && loop_lines < 12 {
                                    loop_lines += 1;
                                    let what = if taken { "taken: another iteration" } else { "not taken: the loop ends" };
                                    let v = match st.regs[dst] {
                                        Val::Known(v) => format!("{}", v as i64),
                                        other => format!("{other:?}"),
                                    };
                                    log.push(LogLine::Walk(format!("{pc}: backward jump to {target}: r{dst} = {v} is known, {what}")));
                                }
                                if taken {
                                    next = target;
                                }
                            }
                            None => {
                                if back && loop_lines < 12 {
                                    loop_lines += 1;
                                    let show = |r: usize, v: Val| match v {
                                        Val::Known(k) => format!("r{r} = {}", k as i64),
                                        Val::Range(b) => format!("r{r} is in [{}, {}]", b.umin, b.umax),
                                        _ => format!("r{r} is not known"),
                                    };
                                    let other = if op & 8 != 0 { format!(", {}", show(src, st.regs[src])) } else { String::new() };
                                    log.push(LogLine::Walk(format!(
                                        "{pc}: backward jump to {target}: {}{other}: both the next iteration and the exit are followed",
                                        show(dst, st.regs[dst])
                                    )));
                                    if loop_lines == 12 {
                                        log.push(LogLine::Walk("... (and so on at every iteration; the account stops here)".into()));
                                    }
                                }
                                match ways {
                                    Some((taken, fall)) => {
                                        branches.push((target, taken, path.len()));
                                        st = fall;
                                    }
                                    None => branches.push((target, st.clone(), path.len())),
                                }
                            }
                        }
                    }
                },
            }
            pc = next;
        }
    }
    Ok(processed)
}

/// What the bounds domain knows of a value, if it is a scalar: a constant,
/// a range, or (for an operation only a scalar may undergo) anything.
fn as_scalar(v: Val, any: bool) -> Option<Bounds> {
    match v {
        Val::Known(k) => Some(Bounds::known(k)),
        Val::Range(b) => Some(b),
        Val::Unknown if any => Some(Bounds::ANY),
        _ => None,
    }
}

/// A bounded scalar as the explorer holds it: a constant is `Known`, no
/// bound at all `Unknown`.
fn scalar_val(b: Bounds) -> Val {
    match b.constant() {
        Some(k) => Val::Known(k),
        None if b == Bounds::ANY => Val::Unknown,
        None => Val::Range(b),
    }
}

/// `dst op= src` on scalars (`adjust_scalar_min_max_vals`), where one side
/// is not a constant. Only addition and subtraction may be pointer
/// arithmetic (an unknown operand keeps the result unknown); the other
/// operations, and every 32-bit one, are refused on pointers by the
/// kernel, so in a program it accepts their operands are scalars. A 32-bit
/// operation works on the low halves and zero-extends.
fn scalar_alu(code: u8, wide: bool, d: Val, y: Val) -> Val {
    let any = !wide || !matches!(code, 0x0 | 0x1);
    let fallback = if wide { Val::Unknown } else { Val::Range(Bounds::of_size(4)) };
    let (Some(a), Some(b)) = (as_scalar(d, any), as_scalar(y, any)) else { return fallback };
    let r = match code {
        // mov32: the low half of the source.
        0xb => Some(b.low32()),
        _ if wide => bounds::alu(code, a, b),
        _ => bounds::alu(code, a.low32(), b.low32()).map(Bounds::low32),
    };
    r.map_or(fallback, scalar_val)
}

/// Both sides of a comparison as bounds, when both are scalars the
/// explorer bounds (a constant or a range, one of them a range): a
/// 32-bit jump compares the low halves.
fn scalar_pair(a: Val, b: Val, jmp32: bool) -> Option<(Bounds, Bounds)> {
    if !matches!(a, Val::Range(_)) && !matches!(b, Val::Range(_)) {
        return None;
    }
    let (a, b) = (as_scalar(a, false)?, as_scalar(b, false)?);
    Some(if jmp32 { (a.low32(), b.low32()) } else { (a, b) })
}

/// Whether a branch's comparison may refine its operands: a 32-bit jump
/// only where both low halves are the whole values (and, signed, not
/// negative as 32-bit numbers), so that refining the low half is refining
/// the register.
fn refinable(op: u8, jmp32: bool, a: &Bounds, b: &Bounds) -> bool {
    let signed = matches!(op >> 4, 0x6 | 0x7 | 0xc | 0xd);
    if !jmp32 {
        return true;
    }
    let lim = if signed { i32::MAX as u64 } else { u32::MAX as u64 };
    a.umax <= lim && b.umax <= lim
}

/// `check_helper_call`: the helper must exist (`invalid func`) and the
/// program's type must offer it (`get_func_proto`).
fn check_helper_call(prog: &ProgDef, pc: usize, imm: i32) -> Result<(), VerifierError> {
    let Some(name) = helper_name(imm) else {
        return Err(VerifierError { errno: Errno::EINVAL, message: format!("{pc}: (85) call unknown#{imm}\ninvalid func unknown#{imm}") });
    };
    if !helper_allowed(prog.prog_type.name(), imm) {
        return Err(VerifierError { errno: Errno::EINVAL, message: format!("program of this type cannot use helper {name}#{imm}") });
    }
    Ok(())
}

/// Registers must be written before they are read, on every path
/// (`check_reg_arg`: "R2 !read_ok"); r0 must be set before `exit`. At entry
/// only r1 (the context) and r10 (the frame pointer) hold values; a helper
/// or kfunc call sets r0 and leaves r1-r5 unreadable. Paths are explored to
/// a fixed point over the instruction graph, on the instructions `seen`
/// marks as visited by [`explore`] (dead code is not checked).
pub(super) fn check_reads(prog: &ProgDef, seen: &[bool]) -> Result<(), String> {
    let n = prog.insns.len();
    // libbpf appends subprograms after the program: the first call target starts them.
    let first_subprog = (0..n)
        .filter(|i| prog.insns[*i][0] == 0x85 && prog.insns[*i][1] >> 4 == 1 && !prog.kfunc_calls.iter().any(|(at, _)| at == i))
        .map(|i| i as i64 + 1 + i64::from(i32::from_le_bytes([prog.insns[i][4], prog.insns[i][5], prog.insns[i][6], prog.insns[i][7]])))
        .filter(|t| *t > 0)
        .min()
        .map_or(n, |t| t as usize);
    let mut state: Vec<Option<u16>> = vec![None; n];
    let mut work = vec![(0usize, (1u16 << 1) | (1 << 10))];
    let mut steps = 0u32;
    while let Some((i, init)) = work.pop() {
        // An instruction no path reaches (do_check never visits it).
        if !seen.get(i).copied().unwrap_or(true) {
            continue;
        }
        steps += 1;
        if steps > 1_000_000 {
            return Err("the program is too complex to check".into());
        }
        // Merge: a register is known-written only if written on every path here.
        let merged = match state[i] {
            Some(old) if old & init == old => continue,
            Some(old) => old & init,
            None => init,
        };
        state[i] = Some(merged);
        let insn = prog.insns[i];
        let (op, dst, src) = (insn[0], (insn[1] & 0xf) as usize, (insn[1] >> 4) as usize);
        let off = i16::from_le_bytes([insn[2], insn[3]]) as i64;
        let has = |r: usize| merged & (1 << r) != 0;
        let need = |r: usize| if has(r) { Ok(()) } else { Err(format!("{i}: R{r} !read_ok")) };
        let class = op & 7;
        let mut out = merged;
        let mut succ = vec![i + 1];
        match class {
            4 | 7 => {
                if op >> 4 != 0xb {
                    need(dst)?;
                }
                if op & 8 != 0 && op >> 4 != 0xd {
                    need(src)?;
                }
                out |= 1 << dst;
            }
            0 => {
                out |= 1 << dst;
                succ = vec![i + 2];
            }
            1 => {
                need(src)?;
                out |= 1 << dst;
            }
            2 => need(dst)?,
            3 => {
                need(dst)?;
                need(src)?;
            }
            _ if op == 0x85 && src == 1 && !prog.kfunc_calls.iter().any(|(at, _)| *at == i) => {
                // The callee starts with the caller's r1-r5 and its own r10;
                // after it returns, r0 is its result and r1-r5 are gone.
                let t = (i as i64 + 1 + i64::from(i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]))) as usize;
                if t < n {
                    work.push((t, (merged & 0b11_1110) | (1 << 10)));
                }
                out = (out & !0b11_1110) | 1;
            }
            _ if op == 0x95 => {
                // Only the main program's exit must leave a return value
                // (check_return_code); a subprogram's exit goes back to its
                // caller (prepare_func_exit), r0 or not.
                if !prog.void_return && i < first_subprog {
                    need(0).map_err(|_| format!("{i}: R0 !read_ok (r0 must hold the return value at exit)"))?;
                }
                succ.clear();
            }
            _ if op == 0x85 => {
                out = (out & !0b11_1110) | 1;
            }
            _ => {
                // `goto` (BPF_JA, and gotol in JMP32) reads no register.
                if !matches!(op, 0x05 | 0x06) {
                    need(dst)?;
                    if op & 8 != 0 {
                        need(src)?;
                    }
                }
                let t = (i as i64 + 1 + off) as usize;
                succ = if op == 0x05 { vec![t] } else { vec![i + 1, t] };
            }
        }
        for s in succ {
            if s < n {
                work.push((s, out));
            }
        }
    }
    Ok(())
}
