//! BPF objects: what libbpf reads from the clang-built fixtures, bad objects
//! refused with a reason, and the lifetime rules of maps and programs.

use sim_core::bpf::{BpfObject, BpfObjectError};
use sim_core::BpfOp;
use sim_core::{Config, Machine, Outcome};
use std::sync::Arc;

const LOOKUP: &[u8] = include_bytes!("../../fixtures/bpf/sockops_lookup.o");
const NOLOOKUP: &[u8] = include_bytes!("../../fixtures/bpf/sockops_nolookup.o");

#[test]
fn the_loader_reads_maps_programs_and_relocations_from_btf() {
    let o = BpfObject::parse(LOOKUP).expect("parses");
    assert_eq!(o.maps.len(), 1);
    let m = &o.maps[0];
    assert_eq!((m.name.as_str(), m.kind.name(), m.key_size, m.value_size, m.max_entries), ("counters", "array", 4, 8, 10));
    assert_eq!(o.programs[0].name, "count_ops");
    assert_eq!(o.programs[0].section, "sockops");
    assert_eq!(o.programs[0].insn_count, 13, "an ld_imm64 counts as two slots");
    assert_eq!(o.relocations.len(), 1);
    assert_eq!((o.relocations[0].insn_index, o.relocations[0].kind.map().unwrap_or("")), (4, "counters"));
    assert_eq!(o.license, "GPL");
    let n = BpfObject::parse(NOLOOKUP).expect("parses");
    assert_eq!(n.maps.len(), 1, "the map is still defined");
    assert!(n.relocations.is_empty(), "but nothing refers to it");
}

/// Objects libbpf cannot open are in the catalogue (tests/src/catalogue.rs,
/// `bpf-*`), checked for their messages; here, the error variants.
#[test]
fn bad_objects_are_refused_with_a_reason() {
    assert!(matches!(BpfObject::parse(b"nope"), Err(BpfObjectError::NotBpf(_))));
    let exe = include_bytes!("../../fixtures/exec/static_maps");
    assert!(matches!(BpfObject::parse(exe), Err(BpfObjectError::NotBpf(m)) if m.contains("not BPF")));
    let fw = include_bytes!("../../fixtures/mcu/firmware.elf");
    assert!(matches!(BpfObject::parse(fw), Err(BpfObjectError::NotBpf(_))), "ELF32 is not a BPF object");
    let by_name = |n: &str| sim_tests::catalogue::catalogue().into_iter().find(|b| b.name == n).expect("in the catalogue").bytes;
    assert_eq!(BpfObject::parse(&by_name("bpf-legacy-maps.o")), Err(BpfObjectError::LegacyMaps));
    let unknown = BpfObject::parse(&by_name("bpf-unknown-section.o")).expect("libbpf opens a program in an unknown section");
    assert_eq!((unknown.programs[0].section.as_str(), unknown.programs[0].prog_type.name()), ("sockopz", "unspec"));
    assert!(matches!(BpfObject::parse(&by_name("bpf-btf-magic.o")), Err(BpfObjectError::Btf(_))));
    assert!(matches!(
        BpfObject::parse(&by_name("bpf-reloc-not-ldimm64.o")),
        Err(BpfObjectError::Reloc { insn: 4, why: sim_core::bpf::RelocError::NotLdImm64OrCall { code: 0xb7, .. }, .. })
    ));
    // libbpf 0.8 reads the legacy section instead.
    let legacy = BpfObject::open(include_bytes!("../../fixtures/bpf/sockops_legacy.o"), sim_core::bpf::Libbpf::V0_8).expect("0.8 opens it");
    assert_eq!((legacy.maps[0].name.as_str(), legacy.maps[0].kind.name(), legacy.maps[0].value_size), ("my_map", "array", 8));
    assert_eq!(legacy.relocations.len(), 1);
}

fn load(m: &mut Machine, obj: &str, pin: &str) -> Outcome {
    m.apply(&BpfOp::BpftoolProgLoad { object: obj.into(), pin: pin.into(), args: vec![], libbpf: Default::default() })
        .expect("load")
        .outcome
}

#[test]
fn maps_live_exactly_as_long_as_something_holds_them() {
    let mut m = Machine::new(&Config::default());
    m.install_file("/l.o", Arc::from(LOOKUP));
    m.install_file("/n.o", Arc::from(NOLOOKUP));
    m.install_file("/bad.o", Arc::from(&b"junk"[..]));
    assert_eq!(load(&mut m, "/l.o", "/sys/fs/bpf/a"), Outcome::Ok);
    assert_eq!(load(&mut m, "/n.o", "/sys/fs/bpf/b"), Outcome::Ok);
    let b = &m.state().bpf;
    assert_eq!(b.maps.keys().copied().collect::<Vec<_>>(), vec![1], "map 2 died with the loader's fd");
    assert_eq!((b.maps[&1].refcnt, b.maps[&1].usercnt), (1, 0));
    assert!(matches!(load(&mut m, "/l.o", "/sys/fs/bpf/a"), Outcome::Failed { .. }), "the pin path is taken");
    assert!(
        matches!(load(&mut m, "/bad.o", "/sys/fs/bpf/c"), Outcome::Failed { detail, .. } if detail.contains("failed to open object file"))
    );
    m.apply(&BpfOp::BpfUnlink { path: "/sys/fs/bpf/a".into() }).expect("rm");
    assert!(m.state().bpf.maps.is_empty());
    m.apply(&BpfOp::BpfUnlink { path: "/sys/fs/bpf/b".into() }).expect("rm");
    assert!(m.state().bpf.progs.is_empty());
    assert!(matches!(m.apply(&BpfOp::BpfUnlink { path: "/sys/fs/bpf/b".into() }).expect("op").outcome, Outcome::Failed { .. }));
    // Ids are cyclic and never handed out twice soon: the load refused for
    // its taken pin path had created map 3 before bpf_obj_pin failed (as
    // bpftool does: it pins after bpf_object__load), so the next map is 4.
    load(&mut m, "/l.o", "/sys/fs/bpf/a");
    assert_eq!(m.state().bpf.maps.keys().copied().collect::<Vec<_>>(), vec![4]);
    assert!(m.state().linux.procs.is_empty(), "every loader exited");
    assert!(m.state().linux.ofds.is_empty(), "and closed every file");
}

#[test]
fn the_verifier_refuses_broken_programs() {
    // The last instruction is not exit.
    let mut o = BpfObject::parse(LOOKUP).expect("parses");
    o.programs[0].insns.pop();
    let v = sim_core::bpf::verify(&o.programs[0]);
    assert!(v.error.is_some_and(|e| e.message.contains("last insn")));
    // A jump out of range.
    let mut o = BpfObject::parse(LOOKUP).expect("parses");
    o.programs[0].insns[7][2] = 100;
    let v = sim_core::bpf::verify(&o.programs[0]);
    assert!(v.error.is_some_and(|e| e.message.contains("jump out of range")));
    // An ld_imm64 that already claims to hold a map fd (src_reg 1): no loader opened it.
    let mut o = BpfObject::parse(LOOKUP).expect("parses");
    o.programs[0].insns[4][1] |= 0x10;
    o.programs[0].insns[4][4] = 42;
    let v = sim_core::bpf::verify(&o.programs[0]);
    assert_eq!(v.error.map(|e| (e.code(), e.message)), Some((-9, "fd 42 is not pointing to valid bpf_map".to_string())));
    // An ld_imm64 of a kind the kernel does not know.
    let mut o = BpfObject::parse(LOOKUP).expect("parses");
    o.programs[0].insns[4][1] |= 0x70;
    let v = sim_core::bpf::verify(&o.programs[0]);
    assert!(v.error.is_some_and(|e| e.message.contains("unrecognized bpf_ld_imm64 insn")));
    // An unknown helper.
    let mut o = BpfObject::parse(LOOKUP).expect("parses");
    o.programs[0].insns[6][4] = 250;
    let v = sim_core::bpf::verify(&o.programs[0]);
    assert!(v.error.is_some_and(|e| e.message.contains("invalid func unknown#250")));
}

/// Found by the verifier_vm fuzz target: a loop storing through a pointer
/// that walks down the stack made the explorer's state grow without bound
/// (301 s for one program). The kernel refuses any stack access outside the
/// 512 bytes below r10; so does the verifier now, at once.
#[test]
fn stack_accesses_outside_512_bytes_are_refused_at_once() {
    use sim_core::bpf::vm::insn;
    let mk = |insns: Vec<[u8; 8]>| sim_core::bpf::ProgDef::from_insns(sim_core::bpf::ProgType::SOCK_OPS, insns);
    let data = std::fs::read(sim_tests::root().join("tests/malformed/fuzz-verifier-stack-walk.bin")).expect("regression input");
    let insns: Vec<[u8; 8]> = data[1..].chunks_exact(8).map(|c| c.try_into().expect("8 bytes")).collect();
    let t0 = std::time::Instant::now();
    let v = sim_core::bpf::verify(&mk(insns));
    assert!(v.error.is_some_and(|e| e.code() == -13 && e.message.starts_with("invalid write to stack R10 off=")));
    assert!(t0.elapsed().as_secs() < 5, "answered at once, not after exploring");
    let below = vec![insn(0x7a, 10, 0, -520, 1), insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)];
    assert_eq!(sim_core::bpf::verify(&mk(below)).error.map(|e| e.message), Some("invalid write to stack R10 off=-520 size=8".into()));
    let above = vec![insn(0xb7, 0, 0, 0, 0), insn(0x79, 1, 10, 0, 0), insn(0x95, 0, 0, 0, 0)];
    assert_eq!(sim_core::bpf::verify(&mk(above)).error.map(|e| e.message), Some("invalid read from stack R10 off=0 size=8".into()));
}

#[test]
fn registers_must_be_written_before_they_are_read() {
    let mk = |insns: Vec<[u8; 8]>| sim_core::bpf::ProgDef::from_insns(sim_core::bpf::ProgType::XDP, insns);
    let exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
    // exit without setting r0.
    let v = sim_core::bpf::verify(&mk(vec![exit]));
    assert!(v.error.is_some_and(|e| e.message.contains("R0 !read_ok")));
    // r0 = r2, but r2 was never written.
    let v = sim_core::bpf::verify(&mk(vec![[0xbf, 0x20, 0, 0, 0, 0, 0, 0], exit]));
    assert!(v.error.is_some_and(|e| e.message.contains("R2 !read_ok")));
    // r0 set on only one path of a branch: refused at the exit reached without it.
    let v = sim_core::bpf::verify(&mk(vec![[0x15, 0x01, 1, 0, 0, 0, 0, 0], [0xb7, 0, 0, 0, 1, 0, 0, 0], exit]));
    assert!(v.error.is_some_and(|e| e.message.contains("R0 !read_ok")));
    // After a helper call r1-r5 are unreadable: reading r1 is refused.
    let v = sim_core::bpf::verify(&mk(vec![[0x85, 0, 0, 0, 5, 0, 0, 0], [0xbf, 0x10, 0, 0, 0, 0, 0, 0], exit]));
    assert!(v.error.is_some_and(|e| e.message.contains("R1 !read_ok")));
    // r1 (the context) and r10 are readable at entry.
    let v = sim_core::bpf::verify(&mk(vec![[0xbf, 0x10, 0, 0, 0, 0, 0, 0], [0x0f, 0xa0, 0, 0, 0, 0, 0, 0], exit]));
    assert!(v.error.is_none(), "{:?}", v.error);
}

#[test]
fn loops_are_accepted_only_when_every_path_ends() {
    use sim_core::bpf::vm::insn;
    let mk = |insns: Vec<[u8; 8]>| sim_core::bpf::ProgDef::from_insns(sim_core::bpf::ProgType::XDP, insns);
    let exit = insn(0x95, 0, 0, 0, 0);
    // r0 = 0; r1 = 0; loop: r0 += r1; r1 += 1; if r1 < 10 goto loop; exit
    let counted = vec![
        insn(0xb7, 0, 0, 0, 0),
        insn(0xb7, 1, 0, 0, 0),
        insn(0x0f, 0, 1, 0, 0),
        insn(0x07, 1, 0, 0, 1),
        insn(0xa5, 1, 0, -3, 10),
        exit,
    ];
    let v = sim_core::bpf::verify(&mk(counted));
    assert!(v.error.is_none(), "{:?}", v.error);
    assert_eq!(v.log.iter().filter(|l| l.text().contains("another iteration")).count(), 9, "{:#?}", v.log);
    assert!(v.log.iter().any(|l| l.text().contains("the loop ends")));
    // The same loop with the bound read from the context: never provably done.
    let unknown_bound = vec![
        insn(0x61, 2, 1, 0, 0), // r2 = *(u32 *)(r1 + 0)
        insn(0xb7, 0, 0, 0, 0),
        insn(0xb7, 1, 0, 0, 0),
        insn(0x0f, 0, 1, 0, 0),
        insn(0x07, 1, 0, 0, 1),
        insn(0xad, 1, 2, -3, 0), // if r1 < r2 goto loop
        exit,
    ];
    let v = sim_core::bpf::verify(&mk(unknown_bound));
    let e = v.error.expect("refused");
    let (code, msg) = (e.code(), e.message);
    assert_eq!((code, msg.as_str()), (-7, "BPF program is too large. Processed 1000001 insn"));
    // A jump to itself with nothing changing: the same state on the same path.
    let spin = vec![insn(0xb7, 0, 0, 0, 0), insn(0x05, 0, 0, -1, 0), exit];
    let v = sim_core::bpf::verify(&mk(spin));
    assert_eq!(v.error.map(|e| e.message), Some("infinite loop detected at insn 1".to_string()));
    // A counter kept on the stack is followed too.
    let on_stack = vec![
        insn(0x7a, 10, 0, -8, 0), // *(u64 *)(r10 - 8) = 0
        insn(0x79, 1, 10, -8, 0), // loop: r1 = *(u64 *)(r10 - 8)
        insn(0x07, 1, 0, 0, 1),   // r1 += 1
        insn(0x7b, 10, 1, -8, 0), // *(u64 *)(r10 - 8) = r1
        insn(0xa5, 1, 0, -4, 4),  // if r1 < 4 goto loop
        insn(0xb7, 0, 0, 0, 0),
        exit,
    ];
    let v = sim_core::bpf::verify(&mk(on_stack));
    assert!(v.error.is_none(), "{:?}", v.error);
}

#[test]
fn the_clang_built_loops_get_the_kernels_verdicts() {
    let bounded = BpfObject::parse(include_bytes!("../../fixtures/bpf/sockops_loop_bounded.o")).expect("parses");
    let v = sim_core::bpf::verify(&bounded.programs[0]);
    assert!(v.error.is_none(), "{:?}", v.error);
    assert_eq!(v.log.iter().filter(|l| l.text().contains("another iteration")).count(), 7, "{:#?}", v.log);
    let unbounded = BpfObject::parse(include_bytes!("../../fixtures/bpf/sockops_loop_unbounded.o")).expect("parses");
    let v = sim_core::bpf::verify(&unbounded.programs[0]);
    assert_eq!(v.error.map(|e| e.code()), Some(-7));
}

/// Found by the model test: a program pinned where a map's
/// LIBBPF_PIN_BY_NAME path is. libbpf opens what is pinned there, finds no
/// map parameters (map_is_reuse_compat) and fails; the program's pin stays.
#[test]
fn a_program_pinned_at_a_maps_pin_path_makes_the_load_fail() {
    let mut m = Machine::new(&Config::default());
    m.install_file("/l.o", Arc::from(LOOKUP));
    m.install_file("/tc.o", Arc::from(&include_bytes!("../../fixtures/bpf/tc_shared.o")[..]));
    assert_eq!(load(&mut m, "/l.o", "/sys/fs/bpf/shared"), Outcome::Ok);
    let before = m.state().bpf.clone();
    let o = load(&mut m, "/tc.o", "/sys/fs/bpf/tc");
    assert!(
        matches!(o, Outcome::Failed { ref detail, .. } if detail.contains("couldn't reuse pinned map at '/sys/fs/bpf/shared'")),
        "{o:?}"
    );
    assert_eq!(m.state().bpf.pins, before.pins, "the program's pin is untouched");
    assert_eq!(m.state().bpf.progs, before.progs);
}

/// Found by the bpf_object fuzz target: an array map whose BTF gives a
/// value of 4 GiB made the simulator allocate its values (4096 of them)
/// and run out of memory. The kernel's `array_map_alloc_check` refuses a
/// value over `INT_MAX` with E2BIG; so does the simulator, before
/// allocating anything, and bpftool prints libbpf's messages.
#[test]
fn a_map_the_kernel_cannot_create_fails_the_load_with_its_errno() {
    let data = std::fs::read(sim_tests::root().join("tests/malformed/fuzz-bpf-map-huge-value.o")).expect("regression input");
    let obj = sim_core::bpf::BpfObject::open(&data, sim_core::bpf::Libbpf::V1).expect("opens");
    let big = obj.maps.iter().find(|m| m.value_size > i32::MAX as u32).expect("the map with a 4 GiB value");
    let mut m = Machine::new(&Config::default());
    m.install_file("/o", std::sync::Arc::from(data));
    let load = BpfOp::BpftoolProgLoad { object: "/o".into(), pin: "/sys/fs/bpf/p".into(), args: vec![], libbpf: sim_core::bpf::Libbpf::V1 };
    let r = m.apply(&load).expect("runs");
    let sim_core::Outcome::Failed { errno, detail } = r.outcome else { panic!("{:?}", r.outcome) };
    assert_eq!(errno, sim_core::Errno::E2BIG);
    let want = format!("libbpf: map '{}': failed to create: Argument list too long(-7); libbpf: failed to load object '/o'", big.name);
    assert!(detail.contains(&want), "{detail}");
    assert!(m.state().bpf.maps.is_empty(), "no map is left behind");
}

/// Found by the bpf_object fuzz target: a .bss section (SHT_NOBITS, so its
/// size costs the file nothing) of 2^56 bytes made the simulator allocate
/// the map's value at open. A section over what the simulator holds is
/// refused at open, with its size; nothing is allocated.
#[test]
fn a_huge_bss_is_refused_at_open() {
    let data = std::fs::read(sim_tests::root().join("tests/malformed/fuzz-bpf-huge-bss.o")).expect("regression input");
    for libbpf in [sim_core::bpf::Libbpf::V1, sim_core::bpf::Libbpf::V0_8] {
        match sim_core::bpf::BpfObject::open(&data, libbpf) {
            Err(sim_core::bpf::BpfObjectError::Limit(m)) => assert!(m.contains("the simulator holds global data up to 16 MiB"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

/// Found on the libbpf-tools corpus: `goto` (BPF_JA) reads no register, so
/// one before r0 is set is not "R0 !read_ok" (three of bcc's tools were
/// refused for it).
#[test]
fn an_unconditional_jump_reads_no_register() {
    use sim_core::bpf::vm::insn;
    let prog = sim_core::bpf::ProgDef::from_insns(
        sim_core::bpf::ProgType::XDP,
        vec![insn(0x05, 0, 0, 0, 0), insn(0xb7, 0, 0, 0, 2), insn(0x95, 0, 0, 0, 0)],
    );
    assert_eq!(sim_core::bpf::verify(&prog).error, None);
}

/// Found on the libbpf-tools corpus (klockstat): a static void subprogram
/// returns without setting r0; only the main program's exit must leave a
/// return value (check_return_code), a subprogram's goes back to its caller.
#[test]
fn a_void_subprogram_needs_no_return_value() {
    use sim_core::bpf::vm::insn;
    let prog = sim_core::bpf::ProgDef::from_insns(
        sim_core::bpf::ProgType::XDP,
        vec![insn(0x85, 0, 1, 0, 2), insn(0xb7, 0, 0, 0, 2), insn(0x95, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)],
    );
    assert_eq!(sim_core::bpf::verify(&prog).error, None);
    let main_without_r0 = sim_core::bpf::ProgDef::from_insns(sim_core::bpf::ProgType::XDP, vec![insn(0x95, 0, 0, 0, 0)]);
    assert!(
        sim_core::bpf::verify(&main_without_r0).error.is_some_and(|e| e.message.contains("R0 !read_ok")),
        "the main exit still needs r0"
    );
}

/// `bpftool prog dump xlated` of something that is not a program fails as
/// bpftool 7.1 does and changes nothing; of a program, it prints its
/// rewritten instructions with their source lines (tests/tests/bpf_kernel.rs
/// compares the text with the real bpftool's on the whole corpus).
#[test]
fn a_dump_of_a_pin_that_is_not_a_program_fails_as_bpftool_does() {
    let mut m = Machine::new(&Config::default());
    m.install_file("/l.o", Arc::from(LOOKUP));
    assert_eq!(
        m.apply(&BpfOp::BpftoolProgLoad { object: "/l.o".into(), pin: "/sys/fs/bpf/p".into(), args: vec!["pinmaps".into(), "/sys/fs/bpf/m".into()], libbpf: Default::default() })
            .expect("load")
            .outcome,
        Outcome::Ok
    );
    let dump = |m: &mut Machine, pin: &str, linum: bool, opcodes: bool| {
        m.apply(&BpfOp::BpftoolProgDumpXlated { pin: pin.into(), linum, opcodes }).expect("runs").outcome
    };
    let before = m.state().bpf.clone();
    for (pin, linum, opcodes, says) in [
        ("/sys/fs/bpf/m/counters", false, false, "Error: incorrect object type: map"),
        ("/sys/fs/bpf/none", false, false, "Error: bpf obj get (/sys/fs/bpf/none): No such file or directory"),
        ("/sys/fs/bpf/p", true, true, "Usage: bpftool prog dump xlated PROG"),
    ] {
        let o = dump(&mut m, pin, linum, opcodes);
        assert!(matches!(o, Outcome::Failed { ref detail, .. } if detail.contains(says)), "{pin}: {o:?}");
        assert_eq!(m.state().bpf, before, "{pin}: nothing changed");
    }
    assert_eq!(dump(&mut m, "/sys/fs/bpf/p", true, false), Outcome::Ok);
    let id = m.state().bpf.last_prog_id;
    let text = m.state().bpf.progs[&id].dump.text(false, false);
    assert!(text.starts_with("int count_ops(struct bpf_sock_ops * skops):\n"), "{text}");
    assert!(text.contains("r1 = map[id:1]"), "the map by its id: {text}");
    assert!(text.lines().any(|l| l.starts_with("; ")), "C source lines: {text}");
}

/// A two-page mapping of a map's values split by mprotect and munmap
/// (libbpf-tools' execsnoop, its 7732-byte frozen .rodata, mapped
/// read-only): each piece holds the open file (`__split_vma` → `get_file`),
/// the mapping may never gain PROT_WRITE or PROT_EXEC (`bpf_map_mmap`
/// cleared VM_MAYWRITE and VM_MAYEXEC: EACCES), an mprotect to the rights a
/// piece has already leaves it whole (`mprotect_fixup` returns early), and
/// when the reader exits every count is back: the map is held by its pin.
#[test]
fn a_split_mapping_of_a_map_holds_its_file_once_per_piece() {
    let obj = sim_tests::root().join("target/corpus/libbpf-tools-objects/execsnoop.bpf.o");
    let Ok(bytes) = std::fs::read(&obj) else {
        eprintln!("skipped: {} is missing (cargo xtask setup fetches Debian's libbpf-tools)", obj.display());
        return;
    };
    use sim_core::LinuxOp;
    let mut m = Machine::new(&Config::default());
    m.install_file("/execsnoop.bpf.o", Arc::from(bytes));
    let loadall = BpfOp::BpftoolProgLoadall {
        object: "/execsnoop.bpf.o".into(),
        dir: "/sys/fs/bpf/p".into(),
        args: vec!["pinmaps".into(), "/sys/fs/bpf/m".into()],
        libbpf: Default::default(),
    };
    assert_eq!(m.apply(&loadall).expect("loads").outcome, Outcome::Ok);
    let Outcome::Pid { pid } = m.apply(&LinuxOp::Spawn { name: "reader".into() }).expect("spawn").outcome else { panic!("spawn") };
    let get = BpfOp::BpfObjGet { pid, path: "/sys/fs/bpf/m/execsnoo_rodata".into() };
    let Outcome::Fd { fd } = m.apply(&get).expect("obj_get").outcome else { panic!("obj_get") };
    let r = sim_core::Prot::parse("r--").expect("prot");
    let Outcome::Addr { addr } = m.apply(&BpfOp::BpfMapMmap { pid, fd, len: None, prot: r, shared: true }).expect("mmap").outcome else {
        panic!("mmap")
    };
    let a = addr.0;
    let file_refs = |m: &Machine| {
        let ofd = m.state().linux.procs[&pid].fds[&fd].ofd;
        m.state().linux.ofds[&ofd].refcount
    };
    let vmas = |m: &Machine| m.state().linux.procs[&pid].mm.as_ref().map_or(0, |mm| mm.vmas.len());
    assert_eq!((file_refs(&m), vmas(&m)), (2, 1), "the fd and the mapping");
    let mprotect = |m: &mut Machine, addr: u64, prot: &str| {
        m.apply(&LinuxOp::Mprotect { pid, addr, len: 4096, prot: sim_core::Prot::parse(prot).expect("prot") }).expect("mprotect").outcome
    };
    assert_eq!(mprotect(&mut m, a, "r--"), Outcome::Ok);
    assert_eq!((file_refs(&m), vmas(&m)), (2, 1), "the same rights: nothing split");
    assert_eq!(mprotect(&mut m, a + 4096, "---"), Outcome::Ok);
    assert_eq!((file_refs(&m), vmas(&m)), (3, 2), "split in two, each piece holding the file");
    for prot in ["rw-", "r-x"] {
        let out = mprotect(&mut m, a, prot);
        assert!(matches!(out, Outcome::Failed { errno: sim_core::Errno::EACCES, .. }), "{prot}: {out:?}");
    }
    let maps = m.state().linux.maps(pid).unwrap_or_default();
    assert!(maps.contains("---s 00001000 00:10 1038"), "the tail keeps its file offset:\n{maps}");
    assert_eq!(m.apply(&LinuxOp::Munmap { pid, addr: a, len: 4096 }).expect("munmap").outcome, Outcome::Ok);
    assert_eq!((file_refs(&m), vmas(&m)), (2, 1), "the first piece gone, and its reference");
    sim_tests::frame_refcounts(&m).expect("frames");
    sim_tests::bpf_and_fd_counts(m.state()).expect("files and maps");
    m.apply(&LinuxOp::Exit { pid, code: 0 }).expect("exit");
    sim_tests::frame_refcounts(&m).expect("frames after exit");
    sim_tests::bpf_and_fd_counts(m.state()).expect("files and maps after exit");
    let (id, map) = m.state().bpf.maps.iter().find(|(_, k)| k.def.name == "execsnoo.rodata").expect("the map stays");
    let progs = m.state().bpf.progs.values().filter(|p| p.map_ids.contains(id)).count() as u32;
    assert_eq!((map.refcnt, map.usercnt), (1 + progs, 1), "its pin and the programs that use it");
}
