//! QEMU's Cortex-M boards under gdb as the oracle for the Thumb
//! interpreter, and random instruction streams to run on both.

/// Whether a command is installed.
pub fn have(c: &str) -> bool {
    std::process::Command::new("sh").arg("-c").arg(format!("command -v {c}")).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Starts QEMU's `machine` on `elf`, stopped, with its gdb server on a
/// port of its own, runs the gdb commands `body` against it (after
/// connecting; `kill` is appended) and returns what gdb printed.
fn qemu_gdb(machine: &str, elf: &std::path::Path, body: &str) -> String {
    use std::process::{Command, Stdio};
    static PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let port = 20000 + (std::process::id() % 20000) as u16 + PORT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut qemu = Command::new("qemu-system-arm")
        .args([
            "-M",
            machine,
            "-display",
            "none",
            "-serial",
            "null",
            "-monitor",
            "none",
            "-S",
            "-gdb",
            &format!("tcp:127.0.0.1:{port}"),
            "-kernel",
        ])
        .arg(elf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu starts");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let script = std::env::temp_dir().join(format!("mcu-{port}.gdb"));
    std::fs::write(&script, format!("set pagination off\nset confirm off\ntarget remote 127.0.0.1:{port}\n{body}kill\n")).expect("script");
    let out =
        Command::new("timeout").args(["120", "gdb-multiarch", "-q", "-batch", "-x"]).arg(&script).arg(elf).output().expect("gdb runs");
    let _ = qemu.kill();
    let _ = qemu.wait();
    let _ = std::fs::remove_file(&script);
    format!("{}\n--- stderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// QEMU's registers (r0-r12, sp, pc, xPSR) before each of `steps`
/// instructions of `elf` on `machine`, from reset or from address `start`.
pub fn qemu_trace(machine: &str, elf: &std::path::Path, start: Option<u32>, steps: usize) -> Vec<Vec<u32>> {
    let goto = start.map(|a| format!("tbreak *{a:#x}\ncontinue\n")).unwrap_or_default();
    let text = qemu_gdb(
        machine,
        elf,
        &format!(
            "{goto}set $n = 0\nwhile $n < {steps}\n  printf \"\\nREGS %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x\\n\", $r0, $r1, $r2, $r3, $r4, $r5, $r6, $r7, $r8, $r9, $r10, $r11, $r12, $sp, $pc, $xpsr\n  stepi\n  set $n = $n + 1\nend\n"
        ),
    );
    let real: Vec<Vec<u32>> = text
        .lines()
        // (Each on a line of its own: gdb leaves a location whose source
        // file is missing, such as Rust's core library, without a newline.)
        .filter_map(|l| l.strip_prefix("REGS "))
        .map(|l| l.split_whitespace().map(|h| u32::from_str_radix(h, 16).expect("hex")).collect())
        .collect();
    assert_eq!(real.len(), steps, "gdb printed every step:\n{text}");
    real
}

/// Runs `elf` on QEMU's `machine` from reset to the function `stop` (a
/// temporary breakpoint there), then reads `count` words at each
/// `(address, count)` through gdb.
pub fn qemu_words_at(machine: &str, elf: &std::path::Path, stop: &str, reads: &[(u32, usize)]) -> Vec<Vec<u32>> {
    let x: String = reads
        .iter()
        .map(|(a, n)| format!("printf \"\\nWORDS\"\nset $i = 0\nwhile $i < {n}\n  printf \" %x\", *(unsigned int *)({a:#x} + 4 * $i)\n  set $i = $i + 1\nend\nprintf \"\\n\"\n"))
        .collect();
    let text = qemu_gdb(machine, elf, &format!("tbreak {stop}\ncontinue\n{x}"));
    let words: Vec<Vec<u32>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("WORDS"))
        .map(|l| l.split_whitespace().map(|h| u32::from_str_radix(h, 16).expect("hex")).collect())
        .collect();
    assert_eq!(words.len(), reads.len(), "gdb printed every read:\n{text}");
    words
}

/// A small deterministic generator (xorshift64).
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u32) -> u32 {
        (self.bits() % u64::from(n)) as u32
    }

    /// One of `xs`.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u32) as usize]
    }
}

/// Where the random stream's loads and stores point (r9 holds it).
pub const WINDOW: u32 = 0x2000_1000;

/// A register a random instruction may write or read: not r9 (the
/// memory window's base), sp or pc.
fn r(g: &mut Rng) -> u32 {
    g.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12])
}

/// A low register (16-bit encodings).
fn lo(g: &mut Rng) -> u32 {
    g.below(8)
}

/// One random instruction of the ARMv7-M classes the interpreter executes,
/// as halfwords: data processing (modified immediate, shifted register,
/// register-shifted), MOVW/MOVT, multiplies and long multiplies, divides,
/// bitfields, CLZ/RBIT/REV, extends, saturation, loads and stores off r9,
/// and IT blocks around 16-bit instructions that set flags outside one.
pub fn thumb2_insn(g: &mut Rng) -> Vec<u16> {
    let w = |hw: u32, lo: u32| vec![hw as u16, lo as u16];
    match g.below(16) {
        0 | 1 => {
            // Data processing, modified immediate: AND BIC ORR ORN EOR ADD ADC SBC SUB RSB, and TST TEQ CMN CMP.
            let op = g.pick(&[0, 1, 2, 3, 4, 8, 10, 11, 13, 14]);
            let compare = matches!(op, 0 | 4 | 8 | 13) && g.below(4) == 0;
            let s = if compare { 1 } else { g.below(2) };
            let rd = if compare { 15 } else { r(g) };
            let (i, imm3, imm8) = (g.below(2), g.below(8), g.below(256));
            w(0xf000 | (i << 10) | (op << 5) | (s << 4) | r(g), (imm3 << 12) | (rd << 8) | imm8)
        }
        2 | 3 => {
            // Data processing, shifted register (LSL/LSR/ASR/ROR #imm, RRX).
            let op = g.pick(&[0, 1, 2, 3, 4, 8, 10, 11, 13, 14]);
            let (imm3, imm2, ty) = (g.below(8), g.below(4), g.below(4));
            w(0xea00 | (op << 5) | (g.below(2) << 4) | r(g), (imm3 << 12) | (r(g) << 8) | (imm2 << 6) | (ty << 4) | r(g))
        }
        4 => {
            // MOV/MVN (immediate, and shifted register).
            match g.below(3) {
                0 => w(0xf04f | (g.below(2) << 10) | (g.below(2) << 4), (g.below(8) << 12) | (r(g) << 8) | g.below(256)),
                1 => w(0xf06f | (g.below(2) << 10) | (g.below(2) << 4), (g.below(8) << 12) | (r(g) << 8) | g.below(256)),
                _ => w(0xea4f | (g.below(2) << 4), (g.below(8) << 12) | (r(g) << 8) | (g.below(4) << 6) | (g.below(4) << 4) | r(g)),
            }
        }
        5 => {
            // MOVW, MOVT.
            let hw = if g.below(2) == 0 { 0xf240 } else { 0xf2c0 };
            w(hw | (g.below(2) << 10) | g.below(16), (g.below(8) << 12) | (r(g) << 8) | g.below(256))
        }
        6 => {
            // LSL/LSR/ASR/ROR by register.
            w(0xfa00 | (g.below(4) << 5) | (g.below(2) << 4) | r(g), 0xf000 | (r(g) << 8) | r(g))
        }
        7 => {
            // MUL, MLA, MLS, UDIV, SDIV.
            match g.below(5) {
                0 => w(0xfb00 | r(g), 0xf000 | (r(g) << 8) | r(g)),
                1 => w(0xfb00 | r(g), (r(g) << 12) | (r(g) << 8) | r(g)),
                2 => w(0xfb00 | r(g), (r(g) << 12) | (r(g) << 8) | 0x10 | r(g)),
                3 => w(0xfbb0 | r(g), 0xf0f0 | (r(g) << 8) | r(g)),
                _ => w(0xfb90 | r(g), 0xf0f0 | (r(g) << 8) | r(g)),
            }
        }
        8 => {
            // UMULL, SMULL, UMLAL, SMLAL (RdLo != RdHi).
            let hw = g.pick(&[0xfba0, 0xfb80, 0xfbe0, 0xfbc0]);
            let lo_r = r(g);
            let mut hi_r = r(g);
            while hi_r == lo_r {
                hi_r = r(g);
            }
            w(hw | r(g), (lo_r << 12) | (hi_r << 8) | r(g))
        }
        9 => {
            // UBFX, SBFX, BFI, BFC.
            let lsb = g.below(32);
            let width = 1 + g.below(32 - lsb);
            let (imm3, imm2) = (lsb >> 2, lsb & 3);
            match g.below(4) {
                0 => w(0xf3c0 | r(g), (imm3 << 12) | (r(g) << 8) | (imm2 << 6) | (width - 1)),
                1 => w(0xf340 | r(g), (imm3 << 12) | (r(g) << 8) | (imm2 << 6) | (width - 1)),
                2 => w(0xf360 | r(g), (imm3 << 12) | (r(g) << 8) | (imm2 << 6) | (lsb + width - 1)),
                _ => w(0xf36f, (imm3 << 12) | (r(g) << 8) | (imm2 << 6) | (lsb + width - 1)),
            }
        }
        10 => {
            // CLZ, RBIT, REV, REV16, REVSH; SXTH, UXTH, SXTB, UXTB with rotation.
            let m = r(g);
            match g.below(2) {
                0 => {
                    let (hw, op) = g.pick(&[(0xfab0, 0x80), (0xfa90, 0xa0), (0xfa90, 0x80), (0xfa90, 0x90), (0xfa90, 0xb0)]);
                    w(hw | m, 0xf000 | (r(g) << 8) | op | m)
                }
                _ => w(g.pick(&[0xfa0f, 0xfa1f, 0xfa4f, 0xfa5f]), 0xf080 | (r(g) << 8) | (g.below(4) << 4) | m),
            }
        }
        11 => {
            // SSAT, USAT (LSL or ASR #imm).
            let sh = g.below(2);
            let (imm3, imm2) = (g.below(8), g.below(4));
            let (imm3, imm2) = if sh == 1 && imm3 == 0 && imm2 == 0 { (0, 1) } else { (imm3, imm2) };
            let hw = if g.below(2) == 0 { 0xf300 } else { 0xf380 };
            w(hw | (sh << 5) | r(g), (imm3 << 12) | (r(g) << 8) | (imm2 << 6) | g.below(32))
        }
        12 | 13 => {
            // Loads and stores off r9: LDR/STR(B/H), LDRSB/LDRSH (imm12), unaligned
            // halfwords and words included (ARMv7-M allows them); LDRD/STRD aligned.
            let off = g.below(120);
            match g.below(9) {
                0 => w(0xf8d9, (r(g) << 12) | off),
                1 => w(0xf8c9, (r(g) << 12) | off),
                2 => w(0xf899, (r(g) << 12) | off),
                3 => w(0xf889, (r(g) << 12) | off),
                4 => w(0xf8b9, (r(g) << 12) | off),
                5 => w(0xf8a9, (r(g) << 12) | off),
                6 => w(0xf999, (r(g) << 12) | off),
                7 => w(0xf9b9, (r(g) << 12) | off),
                _ => {
                    let t1 = r(g);
                    let mut t2 = r(g);
                    while t2 == t1 {
                        t2 = r(g);
                    }
                    let load = g.below(2);
                    w(0xe9c9 | (load << 4) | (1 << 7), (t1 << 12) | (t2 << 8) | g.below(28))
                }
            }
        }
        14 => {
            // An IT block of 1-4 16-bit ADDS/SUBS/MOVS/ANDS (no flags inside it).
            let first = g.below(14);
            let n = 1 + g.below(4);
            let mut mask = 0u32;
            for i in 1..n {
                mask |= (if g.below(2) == 0 { first & 1 } else { !first & 1 }) << (4 - i);
            }
            mask |= 1 << (4 - n);
            let mut v = vec![(0xbf00 | (first << 4) | mask) as u16];
            for _ in 0..n {
                v.push(match g.below(4) {
                    0 => 0x1800 | (lo(g) << 6) | (lo(g) << 3) | lo(g),
                    1 => 0x1a00 | (lo(g) << 6) | (lo(g) << 3) | lo(g),
                    2 => 0x2000 | (lo(g) << 8) | g.below(256),
                    _ => 0x4000 | (lo(g) << 3) | lo(g),
                } as u16);
            }
            v
        }
        _ => {
            // CMP to set the flags for the IT blocks that follow.
            w(0xebb0 | r(g), 0x0f00 | (g.below(8) << 12) | (g.below(4) << 6) | (g.below(4) << 4) | r(g))
        }
    }
}

/// One random instruction for the Cortex-M4 (ARMv7E-M): the ARMv7-M
/// classes of [`thumb2_insn`], or one of the DSP extension's the
/// interpreter executes (extend-and-add, halfword multiplies and
/// multiply-accumulates, saturating adds and subtracts, setting Q).
pub fn thumb2_m4_insn(g: &mut Rng) -> Vec<u16> {
    let w = |hw: u32, lo: u32| vec![hw as u16, lo as u16];
    match g.below(3) {
        0 => {
            let hw = g.pick(&[0xfa00, 0xfa10, 0xfa40, 0xfa50]);
            w(hw | r(g), 0xf080 | (r(g) << 8) | (g.below(4) << 4) | r(g))
        }
        1 => {
            let (n, m) = (g.below(2), g.below(2));
            let ra = if g.below(2) == 0 { 15 } else { r(g) };
            w(0xfb10 | r(g), (ra << 12) | (r(g) << 8) | (n << 5) | (m << 4) | r(g))
        }
        _ => {
            let op = g.pick(&[0x80, 0x90, 0xa0, 0xb0]);
            w(0xfa80 | r(g), 0xf000 | op | (r(g) << 8) | r(g))
        }
    }
}

/// A firmware ELF for QEMU's lm3s6965evb and the simulator: vectors at 0
/// (SP at the top of its 64 KiB of RAM, reset at 0x40), then MOVW/MOVT
/// loading r0-r12 with random values and r9 with [`WINDOW`], a loop that
/// fills the window with a pattern (QEMU's RAM is zeros, the simulator's
/// garbage), then `insns`, then a branch to itself. Returns the ELF and
/// the address of the first random instruction.
pub fn thumb2_elf(g: &mut Rng, insns: &[Vec<u16>]) -> (Vec<u8>, u32) {
    let mut code: Vec<u16> = Vec::new();
    let movw = |code: &mut Vec<u16>, rd: u32, v: u32, top: bool| {
        let hw = if top { 0xf2c0 } else { 0xf240 };
        let imm = if top { v >> 16 } else { v & 0xffff };
        code.push((hw | (((imm >> 11) & 1) << 10) | (imm >> 12)) as u16);
        code.push(((((imm >> 8) & 7) << 12) | (rd << 8) | (imm & 0xff)) as u16);
    };
    // Fill [WINDOW, WINDOW + 256) with words from a counter: r0 the address, r1 the end, r2 the value.
    movw(&mut code, 0, WINDOW, false);
    movw(&mut code, 0, WINDOW, true);
    movw(&mut code, 1, WINDOW + 256, false);
    movw(&mut code, 1, WINDOW + 256, true);
    movw(&mut code, 2, 0x1234_5678, false);
    movw(&mut code, 2, 0x9abc_def0, true);
    // loop: str r2, [r0], #4 ; add r2, r2, r2, ror #7 ; cmp r0, r1 ; bne loop
    let top = code.len();
    code.extend([0xf840, 0x2b04, 0xeb02, 0x12f2, 0x4288]);
    let back = top as i32 - (code.len() as i32 + 2);
    code.push((0xd100 | (back as u32 & 0xff)) as u16);
    for rd in 0..13 {
        let v = if rd == 9 { WINDOW } else { g.bits() as u32 };
        movw(&mut code, rd, v, false);
        movw(&mut code, rd, v, true);
    }
    let start = 0x40 + 2 * code.len() as u32;
    for i in insns {
        code.extend(i);
    }
    code.push(0xe7fe);
    let mut image = vec![0u8; 0x40];
    image[0..4].copy_from_slice(&0x2001_0000u32.to_le_bytes());
    image[4..8].copy_from_slice(&0x41u32.to_le_bytes());
    for h in code {
        image.extend(h.to_le_bytes());
    }
    (elf32(&image), start)
}

/// A minimal little-endian ARM ELF32: one PT_LOAD of `image` at 0.
pub fn elf32(image: &[u8]) -> Vec<u8> {
    let mut e = vec![0u8; 0x100];
    e[..16].copy_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
    let put16 = |e: &mut Vec<u8>, at: usize, v: u16| e[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |e: &mut Vec<u8>, at: usize, v: u32| e[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(&mut e, 16, 2); // ET_EXEC
    put16(&mut e, 18, 40); // EM_ARM
    put32(&mut e, 20, 1);
    put32(&mut e, 24, 0x41); // e_entry
    put32(&mut e, 28, 52); // e_phoff
    put32(&mut e, 36, 0x0500_0200); // EF_ARM_EABI_VER5, soft float
    put16(&mut e, 40, 52);
    put16(&mut e, 42, 32);
    put16(&mut e, 44, 1);
    put16(&mut e, 46, 40);
    let ph = 52;
    put32(&mut e, ph, 1); // PT_LOAD
    put32(&mut e, ph + 4, 0x100);
    put32(&mut e, ph + 16, image.len() as u32);
    put32(&mut e, ph + 20, image.len() as u32);
    put32(&mut e, ph + 24, 5); // R+X
    put32(&mut e, ph + 28, 4);
    e.extend_from_slice(image);
    e
}

/// A low register a random ARMv6-M instruction may write: not r7 (the
/// memory window's base in [`thumb_v6m_elf`]).
fn lo_w(g: &mut Rng) -> u32 {
    g.below(7)
}

/// One random 16-bit ARMv6-M instruction (Cortex-M0) of the classes the
/// interpreter executes: shifts by immediate, add/subtract with a register
/// or 3-bit immediate, MOV/CMP/ADD/SUB with an 8-bit immediate, the 16
/// data-processing operations, high-register ADD/CMP/MOV, loads and stores
/// with an immediate offset off r7 (words, halfwords, bytes, aligned),
/// extends and byte reversals, ADD/ADR off SP and PC, and a conditional
/// branch over the next instruction.
pub fn thumb_v6m_insn(g: &mut Rng) -> Vec<u16> {
    let h = |v: u32| vec![v as u16];
    match g.below(11) {
        // LSL/LSR/ASR #imm5 (LSL #0 is MOVS).
        0 => h((g.below(3) << 11) | (g.below(32) << 6) | (lo(g) << 3) | lo_w(g)),
        // ADDS/SUBS Rd, Rn, Rm / #imm3.
        1 => h(0x1800 | (g.below(4) << 9) | (lo(g) << 6) | (lo(g) << 3) | lo_w(g)),
        // MOVS/CMP/ADDS/SUBS Rd, #imm8 (CMP leaves Rd alone; any Rd).
        2 => {
            let op = g.below(4);
            let rd = if op == 1 { lo(g) } else { lo_w(g) };
            h(0x2000 | (op << 11) | (rd << 8) | g.below(256))
        }
        // Data processing: AND EOR LSL LSR ASR ADC SBC ROR TST RSB CMP CMN ORR MUL BIC MVN.
        3 | 4 => {
            let op = g.below(16);
            let rdn = if matches!(op, 8 | 10 | 11) { lo(g) } else { lo_w(g) };
            h(0x4000 | (op << 6) | (lo(g) << 3) | rdn)
        }
        // ADD/CMP/MOV with high registers (r8-r12 and low ones, not sp, pc or r7 as Rd).
        5 => {
            let op = g.below(3);
            let regs = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12];
            let (rd, rm) = (g.pick(&regs), g.pick(&regs));
            // CMP needs one high register; ADD/MOV are fine with any.
            let rd = if op == 1 && rd < 8 && rm < 8 { 8 + g.below(5) } else { rd };
            h(0x4400 | (op << 8) | ((rd >> 3) << 7) | (rm << 3) | (rd & 7))
        }
        // LDR/STR/LDRB/STRB/LDRH/STRH Rt, [r7, #imm] inside the 256-byte window.
        6 | 7 => {
            let (op, imm) = match g.below(6) {
                0 => (0x6000, g.below(32)),
                1 => (0x6800, g.below(32)),
                2 => (0x7000, g.below(32)),
                3 => (0x7800, g.below(32)),
                4 => (0x8000, g.below(32)),
                _ => (0x8800, g.below(32)),
            };
            let load = op & 0x0800 != 0;
            let rt = if load { lo_w(g) } else { lo(g) };
            h(op | (imm << 6) | (7 << 3) | rt)
        }
        // SXTH SXTB UXTH UXTB; REV REV16 REVSH.
        8 => {
            let (base, ops) = if g.below(2) == 0 { (0xb200, [0, 1, 2, 3]) } else { (0xba00, [0, 1, 3, 0]) };
            h(base | (g.pick(&ops) << 6) | (lo(g) << 3) | lo_w(g))
        }
        // ADD Rd, SP, #imm8*4 / ADR Rd, #imm8*4.
        9 => h(if g.below(2) == 0 { 0xa800 } else { 0xa000 } | (lo_w(g) << 8) | g.below(256)),
        // B<cond> over the next instruction (conditions 0-13).
        _ => h(0xd000 | (g.below(14) << 8)),
    }
}

/// A firmware ELF for QEMU's microbit (Cortex-M0) and the simulator, with
/// ARMv6-M instructions only: vectors at 0 (SP at the top of 16 KiB of RAM,
/// reset at 0x41), a loop filling the 256-byte window at [`WINDOW`] with a
/// pattern, r0-r12 loaded with random values from a literal pool (jumped
/// over) and r7 with [`WINDOW`], then `insns`, then two branches to themselves.
/// Returns the ELF and the address of the first random instruction.
pub fn thumb_v6m_elf(g: &mut Rng, insns: &[Vec<u16>]) -> (Vec<u8>, u32) {
    // The window, its end, the pattern's seed, then a value for each of r0-r12.
    let mut pool = vec![WINDOW, WINDOW + 256, 0x1234_5678];
    pool.extend((0..13).map(|_| g.bits() as u32));
    pool[3 + 7] = WINDOW;
    // The prologue: 3 loads, the 7-instruction loop, 5 x (load, mov), 8 loads, a branch.
    const PROLOGUE: u32 = 3 + 7 + 10 + 8 + 1;
    let pool_at = (0x40 + 2 * PROLOGUE + 3) & !3;
    let start = pool_at + 4 * pool.len() as u32;
    let mut code: Vec<u16> = Vec::new();
    // ldr rd, [pc, #imm]: pc is this instruction's address + 4, word-aligned.
    let ldr = |code: &mut Vec<u16>, rd: u32, k: usize| {
        let here = 0x40 + 2 * code.len() as u32;
        let imm = (pool_at + 4 * k as u32 - ((here + 4) & !3)) / 4;
        code.push((0x4800 | (rd << 8) | imm) as u16);
    };
    ldr(&mut code, 0, 0);
    ldr(&mut code, 1, 1);
    ldr(&mut code, 2, 2);
    // loop: str r2, [r0]; adds r0, #4; lsls r3, r2, #7; eors r2, r3; adds r2, #77; cmp r0, r1; bne loop
    let top = code.len();
    code.extend([0x6002, 0x3004, 0x01d3, 0x405a, 0x324d, 0x4288]);
    let back = top as i32 - (code.len() as i32 + 2);
    code.push((0xd100 | (back as u32 & 0xff)) as u16);
    // r8-r12 through r0, then r0-r7.
    for rd in 8..13u32 {
        ldr(&mut code, 0, 3 + rd as usize);
        code.push((0x4600 | ((rd >> 3) << 7) | (rd & 7)) as u16);
    }
    for rd in 0..8u32 {
        ldr(&mut code, rd, 3 + rd as usize);
    }
    // b over the pool.
    let here = 0x40 + 2 * code.len() as u32;
    code.push((0xe000 | ((start - (here + 4)) / 2)) as u16);
    assert_eq!(code.len() as u32, PROLOGUE);
    let mut image = vec![0u8; 0x40];
    image[0..4].copy_from_slice(&0x2000_4000u32.to_le_bytes());
    image[4..8].copy_from_slice(&0x41u32.to_le_bytes());
    for h in code {
        image.extend(h.to_le_bytes());
    }
    image.resize(pool_at as usize, 0);
    for w in pool {
        image.extend(w.to_le_bytes());
    }
    // Two branches to themselves: a last random branch may skip one.
    for h in insns.iter().flatten().chain(&[0xe7fe, 0xe7fe]) {
        image.extend(h.to_le_bytes());
    }
    (elf32(&image), start)
}
