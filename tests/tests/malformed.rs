//! Bad input: malformed ELF files and lesson files give typed errors, never
//! panics, and leave the machine as it was.

use sim_core::elf::{ElfError, ExecImage};
use sim_core::{Config, Errno, Machine, Op, Outcome, Pid};
use std::sync::Arc;

const STATIC: &[u8] = include_bytes!("../../fixtures/exec/static_maps");
const TASK: u64 = 0x7fff_ffff_f000;

fn patched(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = STATIC.to_vec();
    f(&mut v);
    v
}
fn put16(v: &mut [u8], at: usize, x: u16) {
    v[at..at + 2].copy_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut [u8], at: usize, x: u64) {
    v[at..at + 8].copy_from_slice(&x.to_le_bytes());
}
/// Offset of field `off` in program header `i` (e_phoff is 64 in the fixture).
fn ph(i: usize, off: usize) -> usize {
    64 + 56 * i + off
}

/// (name, file bytes, the error it must give).
type Case = (&'static str, Vec<u8>, fn(&ElfError) -> bool);

fn cases() -> Vec<Case> {
    vec![
        ("empty file", vec![], |e| matches!(e, ElfError::Truncated(0))),
        ("three bytes", b"\x7fEL".to_vec(), |e| matches!(e, ElfError::Truncated(3))),
        ("a shell script", b"#!/bin/sh\necho hi\n".to_vec(), |e| *e == ElfError::BadMagic),
        ("truncated header", STATIC[..40].to_vec(), |e| matches!(e, ElfError::Truncated(40))),
        ("ELF32 class", patched(|v| v[4] = 1), |e| *e == ElfError::WrongClass(1)),
        ("big-endian", patched(|v| v[5] = 2), |e| *e == ElfError::WrongEndian(2)),
        ("ARM machine", patched(|v| put16(v, 18, 40)), |e| *e == ElfError::WrongMachine(40)),
        ("relocatable object", patched(|v| put16(v, 16, 1)), |e| matches!(e, ElfError::NotExecutable(1, _))),
        ("core file", patched(|v| put16(v, 16, 4)), |e| matches!(e, ElfError::NotExecutable(4, _))),
        ("bad e_phentsize", patched(|v| put16(v, 54, 32)), |e| *e == ElfError::BadPhentsize(32)),
        ("no program headers", patched(|v| put16(v, 56, 0)), |e| *e == ElfError::BadPhnum(0)),
        ("65 program headers", patched(|v| put16(v, 56, 65)), |e| *e == ElfError::BadPhnum(65)),
        ("phdrs past the end", patched(|v| put64(v, 32, 9000)), |e| matches!(e, ElfError::PhdrsPastEnd { .. })),
        ("segment past the end", patched(|v| put64(v, ph(3, 32), 0x100000)), |e| matches!(e, ElfError::SegmentPastEnd { index: 3, .. })),
        ("offset overflow", patched(|v| put64(v, ph(1, 8), u64::MAX - 4)), |e| matches!(e, ElfError::SegmentPastEnd { index: 1, .. })),
        ("memsz < filesz", patched(|v| put64(v, ph(3, 40), 4)), |e| matches!(e, ElfError::MemszLessThanFilesz { index: 3, .. })),
        ("absurd memsz", patched(|v| put64(v, ph(3, 40), 1 << 60)), |e| matches!(e, ElfError::SegmentTooLarge { index: 3, .. })),
        ("kernel-space vaddr", patched(|v| put64(v, ph(1, 16), 0xffff_8000_0000_0000)), |e| {
            matches!(e, ElfError::SegmentTooLarge { index: 1, .. })
        }),
        ("misaligned vaddr", patched(|v| put64(v, ph(1, 16), 0x401234)), |e| matches!(e, ElfError::Misaligned { index: 1, .. })),
        ("overlapping loads", patched(|v| put64(v, ph(2, 16), 0x401000)), |e| matches!(e, ElfError::Overlap { a: 1, b: 2, .. })),
        ("no PT_LOAD", patched(|v| (0..5).for_each(|i| v[ph(i, 0)..ph(i, 4)].copy_from_slice(&4u32.to_le_bytes()))), |e| {
            *e == ElfError::NoLoad
        }),
    ]
}

#[test]
fn every_malformed_executable_gets_its_typed_error() {
    let cases = cases();
    assert!(cases.len() >= 15);
    for (name, bytes, ok) in cases {
        match ExecImage::parse(&bytes, TASK) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => {
                assert!(ok(&e), "{name}: unexpected error {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn exec_of_a_malformed_file_fails_with_enoexec_and_keeps_the_old_image() {
    for (name, bytes, _) in cases() {
        let mut m = Machine::new(&Config::default());
        m.install_file("/bad", Arc::from(bytes));
        m.apply(&Op::Spawn { name: "sh".into() }).expect("spawn");
        m.apply(&Op::Mmap { pid: Pid(1), addr: Some(0x10000000), len: 4096, prot: "rw-".into(), shared: false, file: None, offset: 0 })
            .expect("mmap");
        m.apply(&Op::Write { pid: Pid(1), addr: 0x10000000, value: Some(7), size: 8, text: None }).expect("write");
        let before = m.state().clone();
        let r = m.apply(&Op::Exec { pid: Pid(1), path: "/bad".into(), argv: vec![], envp: vec![] }).expect("exec is a valid op");
        assert!(matches!(r.outcome, Outcome::Failed { errno: Errno::ENOEXEC, .. }), "{name}: {:?}", r.outcome);
        let after = m.state();
        assert_eq!(before.procs, after.procs, "{name}: the process is untouched");
        assert_eq!(before.frames, after.frames, "{name}: memory is untouched");
    }
}

#[test]
fn a_failing_operation_leaves_the_state_exactly_as_it_was() {
    // Eight frames: the fourth level of tables cannot be allocated.
    let mut m = Machine::new(&Config { frames: 8, ..Config::default() });
    m.apply(&Op::Spawn { name: "a".into() }).expect("spawn");
    m.apply(&Op::Mmap { pid: Pid(1), addr: Some(0x10000000), len: 1 << 20, prot: "rw-".into(), shared: false, file: None, offset: 0 })
        .expect("mmap");
    let mut last_ok = m.state().clone();
    let mut failed = false;
    for page in 0..16u64 {
        match m.apply(&Op::Write { pid: Pid(1), addr: 0x10000000 + page * 4096, value: Some(1), size: 1, text: None }) {
            Ok(_) => last_ok = m.state().clone(),
            Err(e) => {
                assert!(matches!(e, sim_core::SimError::OutOfFrames(8)), "{e}");
                assert_eq!(&last_ok, m.state(), "rolled back");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "memory ran out");
}

#[test]
fn operations_on_missing_processes_are_refused() {
    let mut m = Machine::new(&Config::default());
    let e = m.apply(&Op::Fork { pid: Pid(9) }).expect_err("no such process");
    assert_eq!(e, sim_core::SimError::NoSuchProcess(Pid(9)));
    let e = m.apply(&Op::Mprotect { pid: Pid(1), addr: 0, len: 1, prot: "rwz".into() }).expect_err("bad prot");
    assert!(matches!(e, sim_core::SimError::BadArgument(_)));
}

#[test]
fn json_lessons_parse_to_the_same_lesson_as_toml() {
    for (id, src) in scenarios::lesson::BUILTIN {
        let lesson = scenarios::parse_lesson(src).expect("toml");
        let json = serde_json::to_string_pretty(&lesson).expect("serialize");
        let again = scenarios::parse_lesson(&json).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(lesson, again, "{id}");
    }
    let bad = "{\n  \"id\": \"x\", \"title\": \"t\", \"summary\": \"s\",\n  \"steps\": [{\"say\": \"a\", \"do\": {\"op\": \"spwan\", \"name\": \"p\"}}]\n}";
    let e = scenarios::parse_lesson(bad).expect_err("unknown op");
    assert_eq!((e.line, e.column), (3, 39), "the column of \"spwan\": {e}");
    assert!(e.message.contains("spwan"), "{e}");
    let e = scenarios::parse_lesson("{\"id\": \"x\",\n \"title\": }").expect_err("syntax");
    assert_eq!(e.line, 2, "{e}");
}
