//! Every malformed input the project knows of, with the error a user must
//! see for it. The page, the engine module and the command line all open
//! files through [`scenarios::open::bytes`], recordings through
//! [`scenarios::Recording::decode`]; the catalogue test feeds each entry to
//! the same function, and the end-to-end test feeds the same files to the
//! real page (through the file picker and `?src=`) after the catalogue test
//! has written them to `target/malformed/`.

const STATIC: &[u8] = include_bytes!("../../fixtures/exec/static_maps");
const DYNAMIC: &[u8] = include_bytes!("../../fixtures/exec/dynamic_pie");
const LOOKUP: &[u8] = include_bytes!("../../fixtures/bpf/sockops_lookup.o");
const GLOBAL_DATA: &[u8] = include_bytes!("../../fixtures/bpf/corpus/global_data.o");
const SUBPROG: &[u8] = include_bytes!("../../fixtures/bpf/corpus/subprog_static.o");
const PROG_ARRAY: &[u8] = include_bytes!("../../fixtures/bpf/corpus/prog_array.o");
const CORE: &[u8] = include_bytes!("../../fixtures/bpf/corpus/core_task.o");
const FW: &[u8] = include_bytes!("../../fixtures/mcu/firmware.elf");
const SUM_ARRAY_DEFAULT: &[u8] = include_bytes!("../../fixtures/mcu/sum_array_default.elf");
const LESSON: &str = include_str!("../../scenarios/lessons/fork-cow.toml");

/// How an entry is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A file a student opens: an ELF executable, ARM firmware, a BPF
    /// object or a lesson file (`scenarios::open::bytes`).
    File,
    /// A recording, as the page fetches it (`Recording::decode`).
    Recording,
    /// A file that opens and whose run ends in a failure the student sees
    /// in the lesson (a dynamic program whose library is missing): the
    /// error is the first failed step's.
    Run,
    /// A file that opens and runs to the end, with a warning among its
    /// events (libbpf ignoring a `.BTF.ext` it cannot read).
    Warn,
}

/// One malformed input.
#[derive(Clone, Debug)]
pub struct Bad {
    /// A file name for it (also its name in `target/malformed/`).
    pub name: String,
    /// How it is opened.
    pub kind: Kind,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Text the error must contain.
    pub error: &'static str,
}

fn bad(name: &str, kind: Kind, bytes: Vec<u8>, error: &'static str) -> Bad {
    Bad { name: name.to_string(), kind, bytes, error }
}

fn patched(base: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = base.to_vec();
    f(&mut v);
    v
}

fn put16(v: &mut [u8], at: usize, x: u16) {
    v[at..at + 2].copy_from_slice(&x.to_le_bytes());
}

fn put32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

fn put64(v: &mut [u8], at: usize, x: u64) {
    v[at..at + 8].copy_from_slice(&x.to_le_bytes());
}

/// Field `off` of 64-bit program header `i` (e_phoff is 64 in the fixture).
fn ph64(i: usize, off: usize) -> usize {
    64 + 56 * i + off
}

/// Field `off` of 32-bit program header `i` of an ARM ELF.
fn ph32(fw: &[u8], i: usize, off: usize) -> usize {
    u32::from_le_bytes([fw[28], fw[29], fw[30], fw[31]]) as usize + 32 * i + off
}

/// (file offset, size, section header offset) of section `name` in a 64-bit ELF.
pub fn section64(data: &[u8], name: &str) -> Option<(usize, usize, usize)> {
    let u16_at = |at: usize| u16::from_le_bytes([data[at], data[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?).try_into().ok();
    let shoff: usize = u64_at(0x28)?;
    let (n, strndx) = (u16_at(0x3c), u16_at(0x3e));
    let stroff: usize = u64_at(shoff + strndx * 64 + 24)?;
    (0..n).map(|i| shoff + i * 64).find_map(|h| {
        let at = stroff + u32::from_le_bytes(data.get(h..h + 4)?.try_into().ok()?) as usize;
        let end = at + data[at..].iter().position(|b| *b == 0)?;
        (&data[at..end] == name.as_bytes()).then(|| Some((u64_at(h + 24)?, u64_at(h + 32)?, h)))?
    })
}

/// Renames the last occurrence of `from` (with its NUL) in the string table.
fn renamed(base: &[u8], from: &str, to: &str) -> Vec<u8> {
    let needle: Vec<u8> = from.bytes().chain([0]).collect();
    let pos = base.windows(needle.len()).rposition(|w| w == needle.as_slice()).expect("name in the string table");
    patched(base, |v| v[pos..pos + to.len()].copy_from_slice(to.as_bytes()))
}

/// The dynamic fixture with the string `from` replaced by `to` (same length).
fn respelled(from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = DYNAMIC.windows(from.len()).position(|w| w == from.as_bytes()).expect("string in the fixture");
    patched(DYNAMIC, |v| v[at..at + to.len()].copy_from_slice(to.as_bytes()))
}

/// Dynamic programs the system cannot start, as the student's lesson
/// shows them (messages as Linux 6.18 and glibc 2.36 give them).
fn dynamic_programs() -> Vec<Bad> {
    let r = Kind::Run;
    vec![
        // DT_NEEDED names a library the system does not have: ld.so's message, status 127.
        bad(
            "dyn-missing-library.elf",
            r,
            respelled("libc.so.6\0", "libq.so.6\0"),
            "error while loading shared libraries: libq.so.6: cannot open shared object file: No such file or directory",
        ),
        // PT_INTERP names a file that is not ELF (the ld.so cache): ELIBBAD.
        bad("dyn-interp-not-elf.elf", r, respelled("/lib64/ld-linux-x86-64.so.2", "/etc/ld.so.cache\0\0\0\0\0\0\0\0\0\0\0"), "ELIBBAD"),
        // PT_INTERP names nothing that exists: ENOENT although the program exists.
        bad(
            "dyn-interp-missing.elf",
            r,
            respelled("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.9"),
            "ld-linux-x86-64.so.9 (PT_INTERP), which does not exist",
        ),
    ]
}

fn executables() -> Vec<Bad> {
    let f = Kind::File;
    vec![
        bad("exec-wrong-class.elf", f, patched(STATIC, |v| v[4] = 1), "wrong ELF class 1"),
        bad("exec-big-endian.elf", f, patched(STATIC, |v| v[5] = 2), "wrong byte order (EI_DATA = 2)"),
        bad("exec-riscv.elf", f, patched(STATIC, |v| put16(v, 18, 243)), "e_machine = 243), not x86-64 (62)"),
        bad("exec-relocatable.elf", f, patched(STATIC, |v| put16(v, 16, 1)), "not an executable: e_type = 1"),
        bad("exec-core.elf", f, patched(STATIC, |v| put16(v, 16, 4)), "not an executable: e_type = 4"),
        bad("exec-bad-phentsize.elf", f, patched(STATIC, |v| put16(v, 54, 32)), "e_phentsize is 32, not 56"),
        bad("exec-no-phdrs.elf", f, patched(STATIC, |v| put16(v, 56, 0)), "0 program headers"),
        bad("exec-65-phdrs.elf", f, patched(STATIC, |v| put16(v, 56, 65)), "65 program headers"),
        bad("exec-phdrs-past-end.elf", f, patched(STATIC, |v| put64(v, 32, 9000)), "runs past the end of the file"),
        bad("exec-segment-past-end.elf", f, patched(STATIC, |v| put64(v, ph64(3, 32), 0x100000)), "segment 3 wants file bytes"),
        bad("exec-offset-overflow.elf", f, patched(STATIC, |v| put64(v, ph64(1, 8), u64::MAX - 4)), "segment 1 wants file bytes"),
        bad("exec-memsz-lt-filesz.elf", f, patched(STATIC, |v| put64(v, ph64(3, 40), 4)), "smaller than p_filesz"),
        bad("exec-absurd-memsz.elf", f, patched(STATIC, |v| put64(v, ph64(3, 40), 1 << 60)), "does not fit below TASK_SIZE"),
        bad("exec-kernel-vaddr.elf", f, patched(STATIC, |v| put64(v, ph64(1, 16), 0xffff_8000_0000_0000)), "does not fit below TASK_SIZE"),
        bad("exec-misaligned.elf", f, patched(STATIC, |v| put64(v, ph64(1, 16), 0x401234)), "differ modulo the page size"),
        bad("exec-overlapping.elf", f, patched(STATIC, |v| put64(v, ph64(2, 16), 0x401000)), "PT_LOAD segments 1 and 2 overlap"),
        bad(
            "exec-no-load.elf",
            f,
            patched(STATIC, |v| (0..5).for_each(|i| put32(v, ph64(i, 0), 4))),
            "no PT_LOAD segment: there is nothing to map",
        ),
        bad("exec-truncated.elf", f, STATIC[..40].to_vec(), "too short for an ELF header"),
        bad("exec-too-large.elf", f, patched(STATIC, |v| v.resize(scenarios::open::MAX_FILE + 1, 0)), "files up to 8 MiB can be opened"),
    ]
}

fn bpf_objects() -> Vec<Bad> {
    let f = Kind::File;
    let (btf, _, _) = section64(LOOKUP, ".BTF").expect("the fixture has BTF");
    let (_, code_size, code_hdr) = section64(LOOKUP, "sockops").expect("the fixture has a sockops section");
    let (code, _, _) = section64(LOOKUP, "sockops").expect("code");
    let hdr = u32::from_le_bytes(LOOKUP[btf + 4..btf + 8].try_into().expect("4 bytes")) as usize;
    let toff = u32::from_le_bytes(LOOKUP[btf + 8..btf + 12].try_into().expect("4 bytes")) as usize;
    vec![
        bad("bpf-truncated.o", f, LOOKUP[..100].to_vec(), "libbpf: not a BPF object file"),
        bad("bpf-btf-magic.o", f, patched(LOOKUP, |v| v[btf] = 0), "malformed BTF: bad magic"),
        bad("bpf-btf-types-past-end.o", f, patched(LOOKUP, |v| put32(v, btf + 12, 0x7fff_ffff)), "malformed BTF"),
        bad("bpf-btf-unknown-kind.o", f, patched(LOOKUP, |v| put32(v, btf + hdr + toff + 4, 31 << 24)), "unknown BTF kind"),
        bad("bpf-btf-strings-past-end.o", f, patched(LOOKUP, |v| put32(v, btf + 20, 0x00ff_ffff)), "malformed BTF"),
        bad(
            "bpf-legacy-maps.o",
            f,
            renamed(LOOKUP, ".maps", "maps\0"),
            "legacy map definitions in 'maps' section are not supported by libbpf v1.0+",
        ),
        // libbpf opens it (the program's type is unspec); the load refuses it.
        bad(
            "bpf-unknown-section.o",
            Kind::Run,
            renamed(LOOKUP, "sockops", "sockopz"),
            "prog 'count_ops': missing BPF prog type, check ELF section name 'sockopz'",
        ),
        bad(
            "bpf-reloc-not-ldimm64.o",
            f,
            patched(LOOKUP, |v| v[code + 4 * 8] = 0xb7),
            "invalid relo against 'counters' for insns[4].code 0xb7",
        ),
        bad(
            "bpf-odd-code-size.o",
            f,
            patched(LOOKUP, |v| put64(v, code_hdr + 32, (code_size - 4) as u64)),
            "sec 'sockops': program at offset 0 crosses section boundary",
        ),
        bad("bpf-maps-without-btf.o", f, renamed(LOOKUP, ".BTF", ".XYZ"), "BTF is required, but is missing or corrupted."),
        // A global's ld_imm64 pointing past its section (imm 100 in a 4-byte .data): libbpf
        // relocates it, the kernel refuses it (resolve_pseudo_ldimm64).
        bad(
            "bpf-data-reloc-past-end.o",
            Kind::Run,
            patched(GLOBAL_DATA, |v| {
                let (code, _, _) = section64(GLOBAL_DATA, "tracepoint/syscalls/sys_enter_openat").expect("code");
                put32(v, code + 8 + 4, 100)
            }),
            "invalid access to map value pointer, value_size=4 off=100",
        ),
        // A prog array initialised with something that is no program: its `.rel.maps`
        // entry names the LICENSE variable (symbol 5) instead of tail_target (2).
        bad(
            "bpf-prog-array-not-a-program.o",
            f,
            patched(PROG_ARRAY, |v| {
                let (rel, _, _) = section64(PROG_ARRAY, ".rel.maps").expect(".rel.maps");
                put64(v, rel + 8, (5 << 32) | 2)
            }),
            ".maps relo #0: 'LICENSE' isn't a valid program reference",
        ),
        // A call into .text past every function there.
        bad(
            "bpf-call-missing-subprog.o",
            Kind::Run,
            patched(SUBPROG, |v| {
                let (code, _, _) = section64(SUBPROG, "tc").expect("code");
                put32(v, code + 8 + 4, 50)
            }),
            "prog 'call_static': no .text section found yet sub-program call exists",
        ),
    ]
}

/// `.BTF.ext` and CO-RE: (offset of the section, of its first CO-RE
/// record) in `data`, from its header.
fn btf_ext(data: &[u8]) -> (usize, usize, usize) {
    let (ext, _, _) = section64(data, ".BTF.ext").expect("the fixture has .BTF.ext");
    let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
    let hdr = word(ext + 4);
    // record size, then the first section's name and count, then records
    let core = ext + hdr + word(ext + 24);
    (ext, ext + hdr + word(ext + 8), core)
}

/// Malformed `.BTF.ext` and CO-RE relocations, each as the real libbpf
/// 1.1 reports it (checked with tests/oracle/bpf_core.c).
fn co_re() -> Vec<Bad> {
    let (_, _, core) = btf_ext(CORE);
    let rec0 = core + 12;
    let (btf, _, _) = section64(CORE, ".BTF").expect("BTF");
    let word = |at: usize| u32::from_le_bytes(CORE[btf + at..btf + at + 4].try_into().expect("4 bytes")) as usize;
    let strings = btf + word(4) + word(16);
    let type_name = CORE[strings..].windows(12).position(|w| w == b"task_struct\0").expect("a type name") as u32;
    let (_, func_info, _) = btf_ext(SUBPROG);
    vec![
        // A record size below libbpf's minimum: .BTF.ext is ignored, and
        // an object that needs BTF (it has .maps) is refused.
        bad(
            "bpf-btf-ext-record-size.o",
            Kind::File,
            patched(CORE, |v| put32(v, core, 12)),
            "Error loading ELF section .BTF.ext: -22. Ignored and continue.; libbpf: BTF is required, but is missing or corrupted.",
        ),
        // The same in an object without maps: libbpf goes on without it.
        bad(
            "bpf-btf-ext-ignored.o",
            Kind::Warn,
            patched(SUBPROG, |v| put32(v, func_info, 4)),
            "libbpf: Error loading ELF section .BTF.ext: -22. Ignored and continue.",
        ),
        // A field relocation on a call instruction.
        bad(
            "bpf-core-relo-on-a-call.o",
            Kind::Run,
            patched(CORE, |v| put32(v, rec0, 0)),
            "prog 'on_exec': relo #0: trying to relocate unrecognized insn #0, code:0x85, src:0x0, dst:0x0, off:0x0, imm:0x23",
        ),
        // An instruction offset that is not a whole instruction.
        bad("bpf-core-relo-misaligned.o", Kind::Run, patched(CORE, |v| put32(v, rec0, 17)), "failed to perform CO-RE relocations: -22"),
        // An access string that is not one.
        bad(
            "bpf-core-relo-bad-access.o",
            Kind::Run,
            patched(CORE, |v| put32(v, rec0 + 8, type_name)),
            "prog 'on_exec': relo #0: parsing [13] struct task_struct + task_struct failed: -22",
        ),
        // A relocation kind libbpf does not know.
        bad(
            "bpf-core-relo-unknown-kind.o",
            Kind::Run,
            patched(CORE, |v| put32(v, rec0 + 12, 99)),
            "prog 'on_exec': relo #0: parsing [13] struct task_struct + 0:2 failed: -22",
        ),
    ]
}

fn firmware() -> Vec<Bad> {
    let f = Kind::File;
    vec![
        bad("fw-truncated.elf", f, FW[..60].to_vec(), "not a 32-bit ELF firmware file"),
        bad(
            "fw-outside-flash.elf",
            f,
            patched(FW, |v| put32(v, ph32(FW, 1, 12), 0x3000_0000)),
            "segment 1's load address 0x30000000+0x4 is outside its flash",
        ),
        bad("fw-big-endian.elf", f, patched(FW, |v| v[5] = 2), "a big-endian ELF (ELFDATA2MSB)"),
        // The question's `arm-none-eabi-gcc -nostdlib -o sum_array.elf sum_array.c`: ARM state for an ARM7TDMI.
        bad(
            "fw-classic-arm.elf",
            f,
            SUM_ARRAY_DEFAULT.to_vec(),
            "microbit: it is built for v4T (Tag_CPU_arch), which the Cortex-M0 does not execute: that is ARM-state code",
        ),
        // Tag_CPU_arch_profile (7) 'M' made 'A': a Cortex-A object.
        bad(
            "fw-a-profile.elf",
            f,
            patched(FW, |v| {
                let at = v.windows(4).position(|w| w == b"\x06\x0c\x07M").expect("Tag_CPU_arch v6S-M, profile M");
                v[at + 3] = b'A';
            }),
            "built for an A-profile core (Tag_CPU_arch_profile), not a microcontroller",
        ),
        bad("fw-no-load.elf", f, patched(FW, |v| (0..2).for_each(|i| put32(v, ph32(FW, i, 0), 0))), "nothing would be written to flash"),
    ]
}

fn lessons() -> Vec<Bad> {
    let f = Kind::File;
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        bad("lesson-empty.toml", f, vec![], "missing field `id`"),
        bad("lesson-syntax.toml", f, text("id = \"x\"\ntitle = \n"), "2:"),
        bad("lesson-unknown-op.toml", f, text(&LESSON.replacen("op = \"fork\"", "op = \"teleport\"", 1)), "unknown op `teleport`"),
        bad("lesson-missing-field.toml", f, text(&LESSON.replacen("op = \"fork\", pid = 1", "op = \"fork\"", 1)), "pid"),
        bad("lesson-unknown-check.toml", f, text(&LESSON.replacen("check = \"", "check = \"nonsense_", 1)), "unknown check"),
        bad(
            "lesson-missing-fixture.toml",
            f,
            text("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[files]]\npath = \"/bin/a\"\nfixture = \"nowhere/a\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"spawn\", name = \"a\" }\n"),
            "6:12: unknown fixture `nowhere/a`",
        ),
        bad("lesson-no-such-process.toml", f, text(&LESSON.replacen("op = \"fork\", pid = 1", "op = \"fork\", pid = 9", 1)), "there is no process 9"),
        bad("lesson-json-wrong-type.json", f, text("{\"id\": 5, \"title\": \"t\", \"summary\": \"s\", \"steps\": []}"), "id"),
        bad(
            "lesson-firmware-wrong-board.toml",
            f,
            text("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[files]]\npath = \"/fw/f.elf\"\nfixture = \"mcu/firmware.elf\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"mcu_load\", path = \"/fw/f.elf\", board = \"stm32f103\" }\n"),
            "does not fit the stm32f103 board: segment 0's load address 0x0+0xc0 is outside its flash (0x10000 bytes at 0x8000000)",
        ),
        bad("lesson-unknown-board.toml", f, text("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[files]]\npath = \"/fw/f.elf\"\nfixture = \"mcu/firmware.elf\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"mcu_load\", path = \"/fw/f.elf\", board = \"bluepill\" }\n"), "9:53: op `mcu_load`: `board` = `bluepill` is not a board preset (microbit, rp2040, lm3s6965, stm32f103, nrf52840, stm32f4)"),
        bad("lesson-binary.bin", f, vec![0xff, 0xfe, 0x00, 0x80], "neither an ELF file nor a UTF-8 lesson file"),
        bad(
            "lesson-src-absolute.toml",
            f,
            text("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[files]]\npath = \"/bin/a\"\nsrc = \"/etc/passwd\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"spawn\", name = \"a\" }\n"),
            "6:8: src `/etc/passwd` must be a relative path",
        ),
        // Opened from a disk (or pasted), a lesson cannot reach files beside it;
        // by URL, the file beside it is not there (404).
        bad(
            "lesson-src-unreachable.toml",
            f,
            text("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[files]]\npath = \"/bin/a\"\nsrc = \"hello\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"spawn\", name = \"a\" }\n"),
            "src `hello`: ",
        ),
        // A question needs two choices or more, each with its words and a check.
        bad("lesson-ask-one-choice.toml", f, text(&ask_lesson("{ text = \"none\", check = \"frames\", kind = \"anon\", equals = 0 }")), "10:13: `ask`: a question offers 2 to 9 choices; this one has 1"),
        bad(
            "lesson-ask-choice-without-text.toml",
            f,
            text(&ask_lesson("{ check = \"frames\", kind = \"anon\", equals = 0 }, { text = \"one\", check = \"frames\", kind = \"anon\", equals = 1 }")),
            "missing field `text`",
        ),
        bad(
            "lesson-ask-choice-typo.toml",
            f,
            text(&ask_lesson("{ text = \"none\", check = \"frames\", kind = \"anonn\", equals = 0 }, { text = \"one\", check = \"frames\", kind = \"anon\", equals = 1 }")),
            "9:54: check `frames`: `kind` = `anonn` is not a frame kind; use anon, page_table, page_cache, zero or map_values",
        ),
    ]
}

/// A one-step lesson whose step asks a question with `choices`.
fn ask_lesson(choices: &str) -> String {
    format!("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[steps]]\nsay = \"s\"\ndo = {{ op = \"spawn\", name = \"a\" }}\n[steps.ask]\nwhy = \"w\"\nchoices = [{choices}]\nquestion = \"How many frames?\"\n")
}

fn recordings() -> Vec<Bad> {
    let r = Kind::Recording;
    let lesson = scenarios::builtin("paging-walk").expect("built in").expect("parses");
    let good = scenarios::Recording::from(scenarios::run(&lesson).expect("runs")).encode();
    vec![
        bad("recording-not-one.trace", r, b"<html>not found</html>".to_vec(), "not a recording of this simulator version"),
        bad("recording-truncated.trace", r, good[..good.len() / 2].to_vec(), "longer than the rest of the recording"),
        bad("recording-trailing.trace", r, [good.as_slice(), b"xx"].concat(), "2 unexpected bytes after the recording"),
    ]
}

/// The whole catalogue.
pub fn catalogue() -> Vec<Bad> {
    [executables(), dynamic_programs(), bpf_objects(), co_re(), firmware(), lessons(), recordings()].concat()
}

/// What opening `b` gives: the error text, or None if it was accepted.
pub fn open(b: &Bad) -> Option<String> {
    match b.kind {
        Kind::File => scenarios::open::bytes(&b.name, &b.bytes).err(),
        Kind::Recording => scenarios::Recording::decode(&b.bytes).err().map(|e| e.to_string()),
        Kind::Run => match scenarios::open::bytes(&b.name, &b.bytes) {
            Err(e) => Some(e),
            Ok(run) => run.steps.iter().find_map(|s| match &s.outcome {
                sim_core::Outcome::Failed { errno, detail } => Some(format!("{}: {errno}: {detail}", b.name)),
                _ => None,
            }),
        },
        Kind::Warn => match scenarios::open::bytes(&b.name, &b.bytes) {
            Err(e) => Some(e),
            Ok(run) => run.timeline.events(0, run.timeline.len()).map(|e| e.text()).find(|t| t.contains(b.error)),
        },
    }
}
