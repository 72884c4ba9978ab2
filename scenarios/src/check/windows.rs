//! Checks on the Windows personality: handles and process objects.

use super::*;

crate::checks! {
    /// A check on the Windows object manager.
    pub enum NtCheck (f, st, outcome) {
        /// A Windows handle in `pid`'s handle table.
        Handle = "handle" {
            /// The owner.
            pid: Pid = Pid(f.need_int("pid")?),
            /// The handle value.
            handle: u32 = f.need_int("handle")?,
            /// Whether it exists.
            open: bool = f.bool("open")?.unwrap_or(true),
            /// The PID of the process it refers to.
            target: Option<u32> = f.int("target")?,
            /// The granted rights, e.g. `PROCESS_VM_READ | PROCESS_VM_WRITE`.
            access: Option<String> = f.parsed("access", rights, "a set of process rights (such as PROCESS_VM_READ|PROCESS_VM_WRITE)")?,
        }
        eval {
            let e = st.nt.handles(pid.0).and_then(|t| t.get(handle));
            let mut want = if *open { "open".to_string() } else { "not open".to_string() };
            let mut found = if e.is_some() { "open".to_string() } else { "not open".to_string() };
            if let Some(e) = e {
                if let Some(t) = target {
                    want += &format!(" -> PID {t}");
                    let tp = match st.nt.objects.get(&e.object).map(|o| &o.kind) {
                        Some(sim_core::windows::NtKind::Process { pid, .. }) => pid.to_string(),
                        _ => "not a process".into(),
                    };
                    found += &format!(" -> PID {tp}");
                }
                if let Some(a) = access {
                    let mask = sim_core::windows::parse_rights(a).map(sim_core::windows::rights_text).unwrap_or_else(|| a.clone());
                    want += &format!(" with {mask}");
                    found += &format!(" with {}", sim_core::windows::rights_text(e.access));
                }
            }
            (format!("handle {handle:#x} of process {pid} is {want}"), eq(found, want))
        };

        /// A Windows process object, found by PID in the CID table.
        NtProcess = "nt_process" {
            /// The PID.
            target: u32 = f.need_int("target")?,
            /// Whether the PID names an object.
            exists: bool = f.bool("exists")?.unwrap_or(true),
            /// Whether that process has exited (object kept alive by handles).
            exited: Option<bool> = f.bool("exited")?,
            /// Its handle count.
            handles: Option<u32> = f.int("handles")?,
            /// Its image name.
            name: Option<String> = f.str("name")?,
        }
        eval {
            let o = st.nt.process(*target).map(|(_, o)| o);
            let mut want = if *exists { "a process object".to_string() } else { "no process object".to_string() };
            let mut found = if o.is_some() { "a process object".to_string() } else { "no process object".to_string() };
            if let Some(o) = o {
                if let sim_core::windows::NtKind::Process { name: n, exit_code, .. } = &o.kind {
                    if let Some(x) = name {
                        want += &format!(" {x}");
                        found += &format!(" {n}");
                    }
                    if let Some(x) = exited {
                        want += if *x { " that has exited" } else { " that is running" };
                        found += if exit_code.is_some() { " that has exited" } else { " that is running" };
                    }
                }
                if let Some(h) = handles {
                    want += &format!(" with {h} handle(s)");
                    found += &format!(" with {} handle(s)", o.handle_count);
                }
            }
            (format!("PID {target} names {want}"), eq(found, want))
        };
    }
}
