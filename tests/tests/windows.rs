//! The Windows handle API with bad input: each call gets the error Windows
//! returns, nothing panics, and nobody's memory changes by accident.

use sim_core::{Config, Machine, Outcome, Pid};
use sim_core::{LinuxOp, NtOp};

fn win(m: &mut Machine, op: impl sim_core::Operation + std::fmt::Debug) -> Outcome {
    m.apply(&op).unwrap_or_else(|e| panic!("{op:?}: {e}")).outcome
}

fn error_code(o: &Outcome) -> u32 {
    match o {
        Outcome::WinError { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A (pid 1000) and B (pid 1004, with a page at 0x10000 and a read-only page at 0x20000).
fn setup() -> Machine {
    let mut m = Machine::new(&Config::default());
    for name in ["a.exe", "b.exe"] {
        win(&mut m, NtOp::NtCreateProcess { name: name.into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent: None });
    }
    win(
        &mut m,
        LinuxOp::Mmap { pid: Pid(1004), addr: Some(0x10000), len: 4096, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 },
    );
    win(
        &mut m,
        LinuxOp::Mmap { pid: Pid(1004), addr: Some(0x11000), len: 4096, prot: sim_core::Prot::R, shared: false, file: None, offset: 0 },
    );
    win(
        &mut m,
        LinuxOp::Mmap { pid: Pid(1004), addr: Some(0x12000), len: 4096, prot: sim_core::Prot::RX, shared: false, file: None, offset: 0 },
    );
    m
}

fn open(m: &mut Machine, access: &str) -> u32 {
    match win(m, NtOp::OpenProcess { pid: Pid(1000), target: 1004, access: access.into(), inherit: false }) {
        Outcome::Handle { handle } => handle,
        other => panic!("{other:?}"),
    }
}

fn wpm(m: &mut Machine, handle: u32, addr: u64, text: &str) -> Outcome {
    win(m, NtOp::WriteProcessMemory { pid: Pid(1000), handle, addr, value: None, size: 8, text: Some(text.into()) })
}

#[test]
fn handle_values_are_multiples_of_four_and_counted() {
    let mut m = setup();
    let h1 = open(&mut m, "PROCESS_VM_READ");
    let h2 = open(&mut m, "PROCESS_ALL_ACCESS");
    assert_eq!((h1, h2), (4, 8));
    assert_eq!(m.state().nt.process(1004).map(|(_, o)| (o.handle_count, o.pointer_count)), Some((2, 3)));
}

#[test]
fn invalid_closed_and_wrong_type_handles() {
    let mut m = setup();
    assert_eq!(error_code(&wpm(&mut m, 0x40, 0x10000, "x")), 6, "never opened");
    assert_eq!(error_code(&wpm(&mut m, 5, 0x10000, "x")), 6, "not a multiple of 4");
    let h = open(&mut m, "PROCESS_VM_WRITE|PROCESS_VM_OPERATION");
    assert_eq!(win(&mut m, NtOp::CloseHandle { pid: Pid(1000), handle: h }), Outcome::Ok);
    assert_eq!(error_code(&wpm(&mut m, h, 0x10000, "x")), 6, "closed");
    assert_eq!(error_code(&win(&mut m, NtOp::CloseHandle { pid: Pid(1000), handle: h })), 6, "closed twice");
    let ev = match win(&mut m, NtOp::CreateEvent { pid: Pid(1000), name: "ready".into() }) {
        Outcome::Handle { handle } => handle,
        other => panic!("{other:?}"),
    };
    let o = wpm(&mut m, ev, 0x10000, "x");
    assert_eq!(error_code(&o), 6, "an event is not a process");
    assert!(matches!(&o, Outcome::WinError { detail, .. } if detail.contains("OBJECT_TYPE_MISMATCH")));
}

#[test]
fn access_masks_are_checked_at_open_and_at_use() {
    let mut m = setup();
    // Unknown bits cannot be granted by any DACL entry: denied at open.
    let o = win(&mut m, NtOp::OpenProcess { pid: Pid(1000), target: 1004, access: "0x400000".into(), inherit: false });
    assert_eq!(error_code(&o), 5);
    let o = win(&mut m, NtOp::OpenProcess { pid: Pid(1000), target: 4242, access: "PROCESS_VM_READ".into(), inherit: false });
    assert_eq!(error_code(&o), 87, "no such PID");
    let h = open(&mut m, "PROCESS_VM_WRITE");
    assert_eq!(error_code(&wpm(&mut m, h, 0x10000, "x")), 5, "VM_WRITE without VM_OPERATION");
    let r = win(&mut m, NtOp::ReadProcessMemory { pid: Pid(1000), handle: h, addr: 0x10000, len: 4 });
    assert_eq!(error_code(&r), 5, "no VM_READ");
    let bad = m.apply(&NtOp::OpenProcess { pid: Pid(1000), target: 1004, access: "PROCESS_FLY".into(), inherit: false });
    assert!(
        matches!(&bad, Err(sim_core::SimError::Linux(sim_core::linux::Error::NotRights(r))) if r == "PROCESS_FLY"),
        "an unknown right name is a lesson error: {bad:?}"
    );
}

#[test]
fn writes_stop_at_unmapped_and_read_only_pages_with_a_partial_count() {
    let mut m = setup();
    let h = open(&mut m, "PROCESS_VM_WRITE|PROCESS_VM_OPERATION|PROCESS_VM_READ");
    // Two bytes before the end of the writable page, spanning into the read-only one.
    let o = wpm(&mut m, h, 0x10ffe, "abcd");
    assert!(matches!(o, Outcome::WinError { code: 299, bytes: 2, .. }), "{o:?}");
    assert_eq!(error_code(&wpm(&mut m, h, 0x11000, "x")), 998, "PAGE_READONLY from the first byte");
    assert_eq!(error_code(&wpm(&mut m, h, 0x50000, "x")), 998, "nothing committed there");
    // Code pages are unprotected for the copy, like a debugger's breakpoint.
    assert!(matches!(wpm(&mut m, h, 0x12000, "\u{cc}"), Outcome::Copied { .. }));
    let vma = m.state().linux.procs[&Pid(1004)].mm.as_ref().and_then(|mm| mm.vmas.get(&0x12000).cloned()).expect("vma");
    assert_eq!(vma.prot, sim_core::Prot::RX, "protection restored");
    let r = win(&mut m, NtOp::ReadProcessMemory { pid: Pid(1000), handle: h, addr: 0x10ffe, len: 2 });
    assert_eq!(r, Outcome::Copied { bytes: 2, data: b"ab".to_vec() });
    let big = m.apply(&NtOp::ReadProcessMemory { pid: Pid(1000), handle: h, addr: 0x10000, len: 8192 });
    assert!(matches!(big, Err(sim_core::SimError::Linux(sim_core::linux::Error::Limit(_)))), "reads are bounded");
}

#[test]
fn a_handle_outlives_the_process_and_keeps_its_pid() {
    let mut m = setup();
    let h = open(&mut m, "PROCESS_VM_WRITE|PROCESS_VM_OPERATION");
    win(&mut m, NtOp::ExitProcess { pid: Pid(1004), code: 3 });
    assert!(m.apply(&NtOp::ExitProcess { pid: Pid(1004), code: 3 }).is_err(), "an exited process cannot exit again");
    let c = win(
        &mut m,
        NtOp::NtCreateProcess { name: "c.exe".into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent: None },
    );
    assert_eq!(c, Outcome::Pid { pid: Pid(1008) }, "1004 is still taken");
    assert_eq!(error_code(&wpm(&mut m, h, 0x10000, "x")), 5);
    win(&mut m, NtOp::CloseHandle { pid: Pid(1000), handle: h });
    let d = win(
        &mut m,
        NtOp::NtCreateProcess { name: "d.exe".into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent: None },
    );
    // PspCidTable is strict FIFO: the page's never-used entries (up to 1020)
    // go first, then the oldest freed PID, then a new page.
    assert_eq!(d, Outcome::Pid { pid: Pid(1012) }, "a never-used entry, not the freed 1004");
    let mut more = Vec::new();
    for _ in 0..3 {
        let o = win(
            &mut m,
            NtOp::NtCreateProcess { name: "e.exe".into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent: None },
        );
        more.push(o);
    }
    assert_eq!(
        more,
        vec![Outcome::Pid { pid: Pid(1016) }, Outcome::Pid { pid: Pid(1020) }, Outcome::Pid { pid: Pid(1004) }],
        "1004 comes back once the page's entries are gone"
    );
    let f = win(
        &mut m,
        NtOp::NtCreateProcess { name: "f.exe".into(), user: "alice".into(), debug_privilege: false, dacl: vec![], parent: None },
    );
    assert_eq!(f, Outcome::Pid { pid: Pid(1024) }, "nothing free: a new table page");
    // Everything exits: nothing is left but the zero page.
    for pid in [1000, 1008, 1004, 1012, 1016, 1020, 1024] {
        win(&mut m, NtOp::ExitProcess { pid: Pid(pid), code: 0 });
    }
    assert!(m.state().nt.objects.is_empty());
    assert!(m.state().linux.procs.is_empty());
    assert_eq!(m.state().linux.frames.len(), 1);
}

#[test]
fn the_creator_gets_a_handle_and_dacls_are_validated() {
    let mut m = setup();
    let o = win(
        &mut m,
        NtOp::NtCreateProcess {
            name: "child.exe".into(),
            user: "alice".into(),
            debug_privilege: false,
            dacl: vec![],
            parent: Some(Pid(1000)),
        },
    );
    assert_eq!(o, Outcome::Pid { pid: Pid(1008) });
    assert_eq!(m.state().nt.handles(1000).map(|t| t.len()), Some(1));
    // A DACL entry that is not USER:RIGHTS is refused when the lesson is read, where it is written.
    let bad = scenarios::parse_lesson(
        "id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"nt_create_process\", name = \"x\", dacl = [\"nobody\"] }\n",
    );
    assert!(matches!(&bad, Err(e) if e.line == 6 && e.message.contains("DACL entry `nobody`")), "{bad:?}");
    let bad = m.apply(&NtOp::WriteProcessMemory { pid: Pid(4), handle: 4, addr: 0, value: Some(1), size: 8, text: None });
    assert_eq!(bad, Err(sim_core::SimError::Linux(sim_core::linux::Error::NoSuchProcess(Pid(4)))));
}
