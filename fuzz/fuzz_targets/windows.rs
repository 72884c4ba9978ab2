//! Any call sequence against the Windows handle API: three processes, then
//! OpenProcess / Read / WriteProcessMemory / write-by-PID / CreateEvent /
//! CloseHandle / ExitProcess with parameters from the input. Every call
//! succeeds or fails with a Win32 error; counts stay consistent.
#![no_main]
use sim_core::{LinuxOp, NtOp};
use libfuzzer_sys::fuzz_target;
use sim_core::{Config, Machine, Pid};

const ACCESS: &[&str] = &[
    "PROCESS_VM_WRITE|PROCESS_VM_OPERATION",
    "PROCESS_VM_READ",
    "PROCESS_ALL_ACCESS",
    "PROCESS_QUERY_LIMITED_INFORMATION",
    "SYNCHRONIZE",
];

fuzz_target!(|data: &[u8]| {
    let mut m = Machine::new(&Config::default());
    for (name, user, debug) in [("a.exe", "alice", false), ("b.exe", "bob", false), ("dbg.exe", "alice", true)] {
        let op = NtOp::NtCreateProcess { name: name.into(), user: user.into(), debug_privilege: debug, dacl: vec![], parent: None };
        if m.apply(&op).is_err() {
            return;
        }
    }
    let pids: Vec<Pid> = m.state().linux.procs.keys().copied().collect();
    for (i, p) in pids.iter().enumerate() {
        let _ = m.apply(&LinuxOp::Mmap { pid: *p, addr: Some(0x10000 + 0x1000 * i as u64), len: 0x2000, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 });
    }
    let nt_pids: Vec<u32> = m.state().nt.cid.keys().copied().collect();
    for c in data.chunks(6).take(64) {
        let b = |i: usize| c.get(i).copied().unwrap_or(0);
        let pid = pids[b(1) as usize % pids.len()];
        let target = if b(2) < 200 { nt_pids.get(b(2) as usize % nt_pids.len().max(1)).copied().unwrap_or(4) } else { u32::from(b(2)) * 4 };
        let handle = u32::from(b(3)) * 4;
        let addr = 0x10000 + u64::from(b(4)) * 64;
        let op = match b(0) % 8 {
            0 => NtOp::OpenProcess { pid, target, access: ACCESS[b(5) as usize % ACCESS.len()].into(), inherit: b(5) & 0x80 != 0 },
            1 => NtOp::WriteProcessMemory { pid, handle, addr, value: Some(u64::from(b(5))), size: 1 + u64::from(b(5) % 8), text: None },
            2 => NtOp::ReadProcessMemory { pid, handle, addr, len: 1 + u64::from(b(5)) },
            3 => NtOp::WriteByPid { pid, target, addr, value: Some(1), size: 8, text: None },
            4 => NtOp::CreateEvent { pid, name: format!("ev{}", b(5)) },
            5 => NtOp::CloseHandle { pid, handle },
            6 => NtOp::ExitProcess { pid, code: u32::from(b(5)) },
            _ => NtOp::NtCreateProcess { name: "c.exe".into(), user: "carol".into(), debug_privilege: false, dacl: vec![], parent: Some(pid) },
        };
        let _ = m.apply(&op);
        // Every object's handle count equals the handle-table entries that name it.
        let nt = &m.state().nt;
        for (id, obj) in &nt.objects {
            let refs: u32 = nt
                .objects
                .values()
                .filter_map(|o| match &o.kind {
                    sim_core::windows::NtKind::Process { handles, .. } => Some(handles.values().filter(|h| h.object == *id).count() as u32),
                    _ => None,
                })
                .sum();
            assert_eq!(obj.handle_count, refs, "object {id}");
        }
    }
});
