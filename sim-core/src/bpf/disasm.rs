//! One BPF instruction as text, the way kernel/bpf/disasm.c's
//! `print_bpf_insn` writes it: `(b7) r0 = 0`, `(85) call bpf_map_lookup_elem#1`,
//! `(18) r1 = map[id:5]`. The verifier's log uses the kernel's copy of the
//! file; bpftool carries its own copy from the kernel tree it was released
//! with, so `bpftool prog dump xlated` writes instructions newer than that
//! tree differently ([`Dialect`]).

/// Which copy of disasm.c prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Linux 6.18's (the verifier log of the modelled kernel): byte swaps,
    /// signed division and moves, sign-extending loads, `may_goto`,
    /// `gotol`, per-CPU address moves and address-space casts by name.
    Linux618,
    /// Linux 6.1's, as in Debian's bpftool 7.1.0 (the bpftool of this
    /// project's machines): none of the above; a byte swap is
    /// `BUG_alu64_d7`, a sign-extending load `BUG_ldx_..`, the other new
    /// forms print as the plain instruction they extend.
    Bpftool71,
}

/// `cb_imm`'s type: both halves of an `ld_imm64` and its full value.
pub type ImmName<'a> = &'a dyn Fn(&[u8; 8], &[u8; 8], u64) -> Option<String>;

/// The callbacks `struct bpf_insn_cbs` gives `print_bpf_insn`: the name of
/// a call's target (`cb_call`: None lets disasm.c fall back) and the text
/// of an `ld_imm64`'s value (`cb_imm`: None prints `0x…`).
#[allow(missing_debug_implementations)]
pub struct Cbs<'a> {
    /// `cb_call`.
    pub call: &'a dyn Fn(&[u8; 8]) -> Option<String>,
    /// `cb_imm`, given both halves and the full 64-bit value.
    pub imm: ImmName<'a>,
}

const ALU: [Option<&str>; 16] =
    [Some("+="), Some("-="), Some("*="), Some("/="), Some("|="), Some("&="), Some("<<="), Some(">>="), Some("neg"), Some("%="), Some("^="), Some("="), Some("s>>="), Some("endian"), None, None];
const JMP: [Option<&str>; 16] = [
    Some("jmp"),
    Some("=="),
    Some(">"),
    Some(">="),
    Some("&"),
    Some("!="),
    Some("s>"),
    Some("s>="),
    Some("call"),
    Some("exit"),
    Some("<"),
    Some("<="),
    Some("s<"),
    Some("s<="),
    None,
    None,
];
const LDST: [&str; 4] = ["u32", "u16", "u8", "u64"];
const LDSX: [&str; 4] = ["s32", "s16", "s8", "(null)"];

/// glibc's `printf("%s", NULL)`.
fn s(o: Option<&str>) -> &str {
    o.unwrap_or("(null)")
}

fn imm(i: &[u8; 8]) -> i32 {
    i32::from_le_bytes([i[4], i[5], i[6], i[7]])
}

fn off(i: &[u8; 8]) -> i16 {
    i16::from_le_bytes([i[2], i[3]])
}

/// `func_id_str`: the helper names of `__BPF_FUNC_MAPPER`.
fn func_id_str(id: i32) -> Option<String> {
    match id {
        0 => Some("bpf_unspec".into()),
        _ => super::verifier::helper_name(id).map(str::to_string),
    }
}

/// `__func_get_name`: a helper's name by id (when src_reg is 0), else
/// `cb_call`'s, else the relative target or "kernel-function".
fn func_get_name(cbs: &Cbs<'_>, i: &[u8; 8]) -> String {
    let src = i[1] >> 4;
    if src == 0 {
        if let Some(n) = func_id_str(imm(i)) {
            return n;
        }
    }
    if let Some(n) = (cbs.call)(i) {
        return n;
    }
    match src {
        1 => format!("{:+}", imm(i)),
        2 => "kernel-function".into(),
        _ => "unknown".into(),
    }
}

/// `print_bpf_insn` for the instruction at `insns[at]` (the next one is
/// the second half of an `ld_imm64`), without the trailing newline.
pub fn insn_text(insns: &[[u8; 8]], at: usize, d: Dialect, cbs: &Cbs<'_>) -> String {
    let Some(i) = insns.get(at) else { return String::new() };
    let (code, dst, src) = (i[0], i[1] & 0x0f, i[1] >> 4);
    let class = code & 7;
    let new = d == Dialect::Linux618;
    match class {
        4 | 7 => {
            let w = if class == 4 { 'w' } else { 'r' };
            let op = code & 0xf0;
            if op == 0xd0 {
                if class == 7 {
                    return if new { format!("({code:02x}) r{dst} = bswap{} r{dst}", imm(i)) } else { format!("BUG_alu64_{code:02x}") };
                }
                return format!("({code:02x}) r{dst} = {}{} r{dst}", if code & 8 != 0 { "be" } else { "le" }, imm(i));
            }
            if op == 0x80 {
                return format!("({code:02x}) {w}{dst} = -{w}{dst}");
            }
            if new && code == 0xbf && off(i) == 1 {
                return format!("({code:02x}) r{dst} = addr_space_cast(r{src}, {}, {})", (imm(i) as u32) >> 16, imm(i) as u16);
            }
            if new && code == 0xbf && off(i) == -1 {
                return format!("({code:02x}) r{dst} = &(void __percpu *)(r{src})");
            }
            let sdiv = new && matches!(op, 0x30 | 0x90) && off(i) == 1;
            let name = if sdiv { if op == 0x30 { "s/=" } else { "s%=" } } else { s(ALU[usize::from(op >> 4)]) };
            if code & 8 != 0 {
                let movsx = new && op == 0xb0 && matches!(off(i), 8 | 16 | 32);
                let cast = if movsx { ["(s8)", "(s16)", "", "(s32)"][usize::from((off(i) >> 3) as u8 - 1)] } else { "" };
                format!("({code:02x}) {w}{dst} {name} {cast}{w}{src}")
            } else {
                format!("({code:02x}) {w}{dst} {name} {}", imm(i))
            }
        }
        3 => {
            let size = LDST[usize::from((code >> 3) & 3)];
            match code & 0xe0 {
                0x60 => format!("({code:02x}) *({size} *)(r{dst} {:+}) = r{src}", off(i)),
                0xc0 => {
                    let a = imm(i);
                    let bits = if (code >> 3) & 3 == 3 { "64" } else { "" };
                    let alu = |o: i32| match o {
                        0x00 => "add",
                        0x50 => "and",
                        0x40 => "or",
                        0xa0 => "xor",
                        _ => "",
                    };
                    match a {
                        0x00 | 0x50 | 0x40 | 0xa0 => {
                            format!("({code:02x}) lock *({size} *)(r{dst} {:+}) {} r{src}", off(i), s(ALU[(a >> 4) as usize]))
                        }
                        0x01 | 0x51 | 0x41 | 0xa1 => {
                            format!("({code:02x}) r{src} = atomic{bits}_fetch_{}(({size} *)(r{dst} {:+}), r{src})", alu(a & 0xf0), off(i))
                        }
                        0xf1 => format!("({code:02x}) r0 = atomic{bits}_cmpxchg(({size} *)(r{dst} {:+}), r0, r{src})", off(i)),
                        0xe1 => format!("({code:02x}) r{src} = atomic{bits}_xchg(({size} *)(r{dst} {:+}), r{src})", off(i)),
                        _ => format!("BUG_{code:02x}"),
                    }
                }
                _ => format!("BUG_{code:02x}"),
            }
        }
        2 => match code & 0xe0 {
            0x60 => format!("({code:02x}) *({} *)(r{dst} {:+}) = {}", LDST[usize::from((code >> 3) & 3)], off(i), imm(i)),
            0xc0 => format!("({code:02x}) nospec"),
            _ => format!("BUG_st_{code:02x}"),
        },
        1 => {
            let mode = code & 0xe0;
            let size = usize::from((code >> 3) & 3);
            if mode == 0x60 || (new && mode == 0x80) {
                let t = if mode == 0x60 { LDST[size] } else { LDSX[size] };
                format!("({code:02x}) r{dst} = *({t} *)(r{src} {:+})", off(i))
            } else {
                format!("BUG_ldx_{code:02x}")
            }
        }
        0 => {
            let size = LDST[usize::from((code >> 3) & 3)];
            match code & 0xe0 {
                0x20 => format!("({code:02x}) r0 = *({size} *)skb[{}]", imm(i)),
                0x40 => format!("({code:02x}) r0 = *({size} *)skb[r{src} + {}]", imm(i)),
                0x00 if code == 0x18 => {
                    let next = insns.get(at + 1).copied().unwrap_or([0; 8]);
                    let full = (u64::from(imm(&next) as u32) << 32) | u64::from(imm(i) as u32);
                    let text = (cbs.imm)(i, &next, full).unwrap_or_else(|| format!("0x{full:x}"));
                    format!("({code:02x}) r{dst} = {text}")
                }
                _ => format!("BUG_ld_{code:02x}"),
            }
        }
        _ => {
            let w = if class == 6 { 'w' } else { 'r' };
            let op = code & 0xf0;
            if op == 0x80 {
                return if src == 1 {
                    format!("({code:02x}) call pc{}", func_get_name(cbs, i))
                } else {
                    format!("({code:02x}) call {}#{}", func_get_name(cbs, i), imm(i))
                };
            }
            if code == 0x05 {
                return format!("({code:02x}) goto pc{:+}", off(i));
            }
            if new && code == 0xe5 && src == 0 {
                return format!("({code:02x}) may_goto pc{:+}", off(i));
            }
            if new && code == 0x06 {
                return format!("({code:02x}) gotol pc{:+}", imm(i));
            }
            if code == 0x95 {
                return format!("({code:02x}) exit");
            }
            let name = s(JMP[usize::from(op >> 4)]);
            if code & 8 != 0 {
                format!("({code:02x}) if {w}{dst} {name} {w}{src} goto pc{:+}", off(i))
            } else {
                format!("({code:02x}) if {w}{dst} {name} 0x{:x} goto pc{:+}", imm(i) as u32, off(i))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::vm::insn;

    fn plain(i: [u8; 8], d: Dialect) -> String {
        insn_text(&[i, [0; 8]], 0, d, &Cbs { call: &|_| None, imm: &|_, _, _| None })
    }

    /// Lines of `bpftool prog dump xlated` on this project's machines (bpftool 7.1.0).
    #[test]
    fn instructions_print_as_disasm_c_prints_them() {
        let b = Dialect::Bpftool71;
        assert_eq!(plain(insn(0xb7, 0, 0, 0, 0), b), "(b7) r0 = 0");
        assert_eq!(plain(insn(0x61, 2, 1, 0, 0), b), "(61) r2 = *(u32 *)(r1 +0)");
        assert_eq!(plain(insn(0x7b, 1, 2, -8, 0), b), "(7b) *(u64 *)(r1 -8) = r2");
        assert_eq!(plain(insn(0x65, 1, 0, 1, 100), b), "(65) if r1 s> 0x64 goto pc+1");
        assert_eq!(plain(insn(0xc7, 1, 0, 0, 32), b), "(c7) r1 s>>= 32");
        assert_eq!(plain(insn(0x85, 0, 0, 0, 12), b), "(85) call bpf_tail_call#12");
        assert_eq!(plain(insn(0xdb, 1, 2, 0, 0x01), b), "(db) r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)");
        assert_eq!(plain(insn(0xc3, 1, 2, 4, 0), b), "(c3) lock *(u32 *)(r1 +4) += r2");
        assert_eq!(plain(insn(0x18, 1, 0, 0, 7), b), "(18) r1 = 0x7");
        // bpftool 7.1 predates per-CPU moves; the kernel's log names them.
        assert_eq!(plain(insn(0xbf, 0, 0, -1, 0), b), "(bf) r0 = r0");
        assert_eq!(plain(insn(0xbf, 0, 0, -1, 0), Dialect::Linux618), "(bf) r0 = &(void __percpu *)(r0)");
        assert_eq!(plain(insn(0xd7, 1, 0, 0, 16), b), "BUG_alu64_d7");
        assert_eq!(plain(insn(0x91, 1, 2, 0, 0), Dialect::Linux618), "(91) r1 = *(s8 *)(r2 +0)");
    }
}
