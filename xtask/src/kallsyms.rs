//! `cargo xtask kallsyms [--force]`: where the reference kernel keeps the
//! functions a BPF call can reach, as offsets from `__bpf_call_base` (the
//! imm `do_misc_fixups` gives a call), from /proc/kallsyms, into
//! sim-core/data/kallsyms. The names are `sim_core::bpf::kallsyms::wanted()`;
//! one `NAME OFFSET` line each (decimal), sorted by name; a name the kernel
//! does not have is left out. Run as root (kallsyms shows zeros otherwise).

use std::collections::BTreeMap;
use std::path::Path;

const OUT: &str = "sim-core/data/kallsyms";

pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let force = match args {
        [] => false,
        [f] if f == "--force" => true,
        _ => return Err("usage: cargo xtask kallsyms [--force]".into()),
    };
    let release = super::output("uname", &["-r"]).unwrap_or_default().trim().to_string();
    let reference = sim_core::bpf::REFERENCE_KERNEL_BUILD;
    if release != reference && !force {
        return Err(format!("kallsyms: this machine runs {release:?}, not the reference kernel {reference} (--force to read it anyway)"));
    }
    let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| format!("/proc/kallsyms: {e}"))?;
    // Text symbols of the kernel proper (no module), first one of a name.
    let mut addr: BTreeMap<&str, u64> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 3 && matches!(f[1], "T" | "t" | "W" | "w") {
            if let Ok(a) = u64::from_str_radix(f[0], 16) {
                addr.entry(f[2]).or_insert(a);
            }
        }
    }
    let base = *addr.get("__bpf_call_base").filter(|a| **a != 0).ok_or("kallsyms: no __bpf_call_base address (not root, or kptr_restrict)")?;
    let mut out = String::new();
    let mut missing = Vec::new();
    for name in sim_core::bpf::kallsyms::wanted() {
        match addr.get(name) {
            Some(a) => {
                let off = i32::try_from(*a as i64 - base as i64).map_err(|_| format!("{name}: too far from __bpf_call_base"))?;
                out.push_str(&format!("{name} {off}\n"));
            }
            None => missing.push(name),
        }
    }
    std::fs::write(root.join(OUT), &out).map_err(|e| format!("{OUT}: {e}"))?;
    eprintln!("{OUT}: {} functions; not in this kernel ({}): {}", out.lines().count(), missing.len(), missing.join(" "));
    Ok(())
}
