//! Cross-checks against the real thing: the machine's own kernel and readelf.

use scenarios::lesson::{FileSpec, Lesson, Step};
use sim_core::linux::Backing;
use sim_core::LinuxOp;
use sim_core::{Config, Pid};
use std::process::Command;

fn fixture_path() -> std::path::PathBuf {
    sim_tests::root().join("fixtures/exec/static_maps")
}

/// The mappings the simulated exec builds for the static fixture:
/// (start, end, perms like "r-xp", file-backed).
fn simulated_maps() -> Vec<(u64, u64, String, bool)> {
    let lesson = Lesson {
        id: "t".into(),
        title: "t".into(),
        summary: String::new(),
        question: String::new(),
        machine: Config::default(),
        system: None,
        files: vec![FileSpec { path: "/bin/static_maps".into(), fixture: Some("exec/static_maps".into()), text: None, src: None }],
        steps: vec![
            Step { say: String::new(), op: LinuxOp::Spawn { name: "sh".into() }.into(), expect: vec![], ask: None },
            Step {
                say: String::new(),
                op: LinuxOp::Exec { pid: Pid(1), path: "/bin/static_maps".into(), argv: vec![], envp: vec![] }.into(),
                expect: vec![],
                ask: None,
            },
        ],
        compare: Vec::new(),
    };
    let run = scenarios::run(&lesson).expect("runs");
    let st = run.timeline.state();
    let mm = st.linux.procs[&Pid(1)].mm.as_ref().expect("has an mm");
    mm.vmas
        .values()
        .filter(|v| v.name.is_none())
        .map(|v| (v.start, v.end, format!("{}p", v.prot), matches!(v.backing, Backing::File { .. })))
        .collect()
}

#[test]
fn exec_builds_the_same_elf_mappings_as_the_real_kernel() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("skipped: the real-kernel check needs x86-64 Linux");
        return;
    }
    let out = match Command::new(fixture_path()).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: cannot run the fixture here ({e})");
            return;
        }
    };
    assert!(out.status.success(), "the fixture exits 0 when its .data and .bss are right");
    let maps = String::from_utf8_lossy(&out.stdout);
    // ELF-backed lines name the file; the anonymous .bss line follows them.
    let mut real = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (range, perms) = (f[0], f[1]);
        let (s, e) = range.split_once('-').expect("range");
        let (s, e) = (u64::from_str_radix(s, 16).expect("hex"), u64::from_str_radix(e, 16).expect("hex"));
        let named = f.len() >= 6;
        let file = named && f[5].ends_with("static_maps");
        if file || (!named && real.last().is_some_and(|l: &(u64, u64, String, bool)| l.1 == s)) {
            real.push((s, e, perms.to_string(), file));
        }
    }
    assert!(real.len() >= 4, "found the fixture's mappings in:\n{maps}");
    assert_eq!(simulated_maps(), real, "simulated vs real /proc/self/maps");
}

/// A LOAD line: (offset, vaddr, filesz, memsz, flags).
type Load = (u64, u64, u64, u64, String);

/// readelf -lW's LOAD lines.
fn readelf_loads(path: &std::path::Path) -> Option<Vec<Load>> {
    let out = Command::new("readelf").arg("-lW").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
    Some(
        text.lines()
            .filter(|l| l.trim_start().starts_with("LOAD"))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
                let flags = f[6..f.len() - 1].join("");
                (hex(f[1]), hex(f[2]), hex(f[4]), hex(f[5]), flags)
            })
            .collect(),
    )
}

#[test]
fn inspect_agrees_with_readelf_on_the_fixtures() {
    for name in ["static_maps", "dynamic_pie"] {
        let path = sim_tests::root().join("fixtures/exec").join(name);
        let Some(expected) = readelf_loads(&path) else {
            eprintln!("skipped: readelf is not installed");
            return;
        };
        let data = std::fs::read(&path).expect("fixture");
        let v = scenarios::inspect::inspect(&data).expect("inspects");
        let ours: Vec<Load> = v["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .filter(|s| s["type"] == "LOAD")
            .map(|s| {
                let n = |k: &str| s[k].as_u64().expect("number");
                (n("offset"), n("vaddr"), n("filesz"), n("memsz"), s["flags"].as_str().expect("flags").replace(' ', ""))
            })
            .collect();
        assert_eq!(ours, expected, "{name}");
        assert!(v["entry"].as_u64().is_some());
    }
}

/// The merged-/usr links a Debian 12 system has, through which
/// `/lib64/ld-linux-x86-64.so.2` (every program's PT_INTERP) reaches the
/// file /proc/PID/maps names.
const DEBIAN_LINKS: &[(&str, &str)] =
    &[("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")];
const LDSO: &str = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

/// `/proc/PID/maps` and `info auxv` of `prog` stopped at its first
/// instruction under gdb (`starti`; gdb turns randomisation off, as
/// `setarch -R` does). `None` where gdb cannot run it.
fn real_at_entry(prog: &str) -> Option<(String, String)> {
    let out = Command::new("gdb")
        // No shell in between and no environment, as the simulated exec
        // gets: the strings, and so the stack addresses, are the same.
        .args(["-q", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set startup-with-shell off", "-ex", "unset environment"])
        .args(["-ex", "starti", "-ex", "echo @@MAPS\\n"])
        .args(["-ex", "python print(open('/proc/%d/maps' % gdb.selected_inferior().pid).read())", "-ex", "echo @@AUXV\\n"])
        .args(["-ex", "info auxv", "-ex", "printf \"SP %#lx\\n\", $sp", "-ex", "echo @@END\\n", "-ex", "kill", prog])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let maps = text.split("@@MAPS\n").nth(1)?.split("@@AUXV\n").next()?.trim_end().to_string();
    let auxv = text.split("@@AUXV\n").nth(1)?.split("@@END").next()?.to_string();
    (!maps.is_empty()).then_some((maps, auxv))
}

/// The simulated machine after `execve(prog)`: its maps and auxv.
/// A process as exec left it: /proc/PID/maps, the auxv, the stack pointer.
type AtEntry = (String, Vec<(String, u64)>, u64);

/// A simulated machine with this machine's ld.so and Debian's links to it.
fn host_machine(config: &Config) -> Result<sim_core::Machine, String> {
    let mut m = sim_core::Machine::new(config);
    for (link, target) in DEBIAN_LINKS {
        m.install_link(link, target);
    }
    m.install_file(LDSO, std::sync::Arc::from(std::fs::read(LDSO).map_err(|e| format!("{LDSO}: {e}"))?));
    Ok(m)
}

fn simulated_at_entry(prog: &str) -> Result<AtEntry, String> {
    let mut m = host_machine(&Config::default())?;
    // A program that is a link on this machine (readelf) is one here too.
    let real = std::fs::canonicalize(prog).map_err(|e| e.to_string())?.display().to_string();
    if real != prog {
        m.install_link(prog, &real);
    }
    m.install_file(&real, std::sync::Arc::from(std::fs::read(&real).map_err(|e| e.to_string())?));
    m.apply(&LinuxOp::Spawn { name: "sh".into() }).map_err(|e| e.to_string())?;
    let r = m.apply(&LinuxOp::Exec { pid: Pid(1), path: prog.into(), argv: vec![prog.into()], envp: vec![] }).map_err(|e| e.to_string())?;
    if r.outcome != sim_core::Outcome::Ok {
        return Err(format!("{:?}", r.outcome));
    }
    let st = m.state();
    let auxv = st.linux.procs[&Pid(1)].mm.as_ref().map(|mm| mm.auxv.clone()).unwrap_or_default();
    Ok((st.linux.maps(Pid(1)).unwrap_or_default(), auxv, st.linux.procs[&Pid(1)].regs.sp))
}

/// A maps line without its device and inode, which are the disk's.
fn without_dev_inode(line: &str) -> String {
    let f: Vec<&str> = line.split_whitespace().collect();
    format!(
        "{} {} {} {}",
        f.first().unwrap_or(&""),
        f.get(1).unwrap_or(&""),
        f.get(2).unwrap_or(&""),
        f.get(5..).map(|n| n.join(" ")).unwrap_or_default()
    )
}

/// `info auxv`'s `NAME ... 0xVALUE` lines as (type number, value).
fn gdb_auxv(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.first()?.parse().ok()?;
            let v = f.iter().rev().find(|w| w.starts_with("0x") || w.parse::<u64>().is_ok())?;
            Some((n, v.to_string()))
        })
        .collect()
}

/// The programs a student runs, as the kernel leaves them at their first
/// instruction: for the fixtures and for programs in /usr/bin nobody here
/// wrote, every line of /proc/PID/maps (address, permissions, offset, path
/// or name; not device and inode), and the auxiliary vector's types in
/// order with the values that do not depend on the environment.
#[test]
fn exec_leaves_the_same_address_space_and_auxv_as_the_real_kernel() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) || Command::new("gdb").arg("--version").output().is_err() {
        eprintln!("skipped: needs x86-64 Linux and gdb (cargo xtask setup installs gdb)");
        return;
    }
    if !std::path::Path::new(LDSO).exists() {
        eprintln!("skipped: {LDSO} is not here");
        return;
    }
    let fixtures = ["static_maps", "dynamic_pie"]
        .map(|f| std::fs::canonicalize(sim_tests::root().join("fixtures/exec").join(f)).expect("fixture").display().to_string());
    let mut programs: Vec<String> = fixtures.to_vec();
    let wanted = [
        "ls", "cat", "cp", "mv", "grep", "sed", "tar", "gzip", "find", "sort", "uniq", "wc", "head", "tail", "env", "id", "date", "make",
        "gdb", "readelf", "objdump", "git", "perl", "python3", "bash", "dash", "less", "diff", "xz", "bpftool", "ldd", "setarch", "stat",
        "tr", "cut",
    ];
    programs.extend(wanted.iter().map(|p| format!("/usr/bin/{p}")).filter(|p| {
        std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF")) // ldd is a script
    }));
    assert!(programs.len() >= 30, "too few programs here: {programs:?}");
    let mut compared = 0;
    for prog in &programs {
        let Some((real, real_auxv)) = real_at_entry(prog) else {
            eprintln!("{prog}: gdb could not start it; not compared");
            continue;
        };
        let (sim, sim_auxv, sim_sp) = simulated_at_entry(prog).unwrap_or_else(|e| panic!("{prog}: the simulated exec failed: {e}"));
        let real: Vec<String> = real.lines().map(without_dev_inode).collect();
        let sim: Vec<String> = sim.lines().map(without_dev_inode).collect();
        assert_eq!(sim, real, "{prog}: /proc/PID/maps at the first instruction, simulated vs real");
        let types = |v: &[(u64, String)]| v.iter().map(|(n, _)| *n).collect::<Vec<_>>();
        let real_sp = real_auxv
            .lines()
            .find_map(|l| l.strip_prefix("SP "))
            .and_then(|v| u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok());
        let real_auxv = gdb_auxv(&real_auxv);
        let sim_auxv: Vec<(u64, String)> = sim_auxv
            .iter()
            .map(|(n, v)| (sim_core::linux::exec::AUXV.iter().find(|(a, _)| a == n).map(|(_, t)| *t).unwrap_or(999), format!("{v:#x}")))
            .collect();
        assert_eq!(types(&sim_auxv), types(&real_auxv), "{prog}: auxv types in order");
        for (n, v) in &sim_auxv {
            // Ids and AT_SECURE depend on who runs it (the simulated user is
            // 1000); AT_HWCAP, AT_HWCAP2 and AT_MINSIGSTKSZ on the CPU
            // (CPUID bits, XSAVE features: the model names its CPU, see
            // sim_core::linux::exec::AT_HWCAP), so only their places are compared.
            if [11, 12, 13, 14, 16, 23, 26, 51].contains(n) {
                continue;
            }
            let real_v = real_auxv.iter().find(|(r, _)| r == n).map(|(_, v)| v.clone()).unwrap_or_default();
            let as_num = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok().or_else(|| s.parse().ok());
            let same = as_num(v) == as_num(&real_v) || (real_v.parse::<u64>().ok() == as_num(v));
            assert!(same, "{prog}: auxv type {n}: simulated {v}, real {real_v}");
        }
        // The initial stack pointer (argc's address) too.
        assert_eq!(Some(sim_sp), real_sp, "{prog}: the stack pointer exec leaves");
        compared += 1;
    }
    assert!(compared >= 30, "compared only {compared} programs");
}

/// Puts this machine's file at `path` into the simulated one, at its real
/// path, with a link where `path` itself is one (`libpcre2-8.so.0 ->
/// libpcre2-8.so.0.11.2`, `/usr/bin/readelf -> x86_64-linux-gnu-readelf`).
fn install_host(m: &mut sim_core::Machine, path: &str) -> Result<String, String> {
    let p = std::path::Path::new(path);
    let real = std::fs::canonicalize(p).map_err(|e| format!("{path}: {e}"))?.display().to_string();
    let dir = p.parent().and_then(|d| std::fs::canonicalize(d).ok()).map(|d| d.display().to_string()).unwrap_or_default();
    let at = format!("{dir}/{}", p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    if at != real {
        m.install_link(&at, &real);
    }
    if at != path && !path.starts_with("/lib") {
        m.install_link(path, &real);
    }
    m.install_file(&real, std::sync::Arc::from(std::fs::read(&real).map_err(|e| format!("{real}: {e}"))?));
    Ok(real)
}

/// The libraries `prog` loads here, as ldd (this machine's ld.so) lists them.
fn host_libraries(prog: &str) -> Vec<String> {
    let out = Command::new("ldd").arg(prog).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    out.lines().filter_map(|l| l.split("=> ").nth(1)?.split(" (").next().map(str::to_string)).filter(|p| p.starts_with('/')).collect()
}

/// Maps lines (as [`without_dev_inode`] leaves them) with each object's
/// addresses relative to its first mapping: path, rights, offset, size,
/// place; an anonymous mapping right after a file's as that file's .bss;
/// named mappings as they are; other anonymous mappings left out.
fn relative(lines: &[String]) -> Vec<String> {
    let range = |l: &str| -> (u64, u64) {
        let r = l.split(' ').next().unwrap_or("");
        let mut it = r.split('-').map(|x| u64::from_str_radix(x, 16).unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    let mut base: std::collections::BTreeMap<String, u64> = Default::default();
    let mut out = Vec::new();
    let mut prev_file: Option<String> = None;
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        let (start, end) = range(l);
        let name = f.get(3..).map(|n| n.join(" ")).unwrap_or_default();
        let (perms, off) = (f.get(1).copied().unwrap_or(""), f.get(2).copied().unwrap_or(""));
        if name.starts_with('/') {
            let b = *base.entry(name.clone()).or_insert(start);
            out.push(format!("{name} {perms} {off} +{:#x} size {:#x}", start - b, end - start));
            prev_file = Some(name);
        } else if name.trim().is_empty() {
            // The .bss an object's ELF asks for, if this starts where the
            // object ends (an arena mapped just above can merge with it).
            if let Some(p) = prev_file.take() {
                let bss = bss_size(&p);
                if bss > 0 && end - start >= bss {
                    out.push(format!("{p} .bss {perms} +{:#x} size {bss:#x}", start - base[&p]));
                }
            }
        } else {
            prev_file = None;
            if name != "[heap]" {
                out.push(l.clone());
            }
        }
    }
    out
}

/// The anonymous pages past a file's last file-backed page (its .bss
/// beyond the page that holds the last file bytes).
fn bss_size(path: &str) -> u64 {
    let Ok(data) = std::fs::read(path) else { return 0 };
    let Ok(image) = sim_core::linux::elf::ExecImage::parse(&data, 1 << 47) else { return 0 };
    let up = |v: u64| (v + 0xfff) & !0xfff;
    image.loads().map(|s| up(s.vaddr + s.memsz).saturating_sub(up(s.vaddr + s.filesz))).sum()
}

/// /proc/PID/maps of `prog` stopped at `entry` (its _start, after ld.so).
fn real_at(prog: &str, entry: u64) -> Option<String> {
    let out = Command::new("gdb")
        .args([
            "-q",
            "-batch",
            "-nx",
            "-ex",
            "set pagination off",
            "-ex",
            "starti",
            "-ex",
            &format!("break *{entry:#x}"),
            "-ex",
            "continue",
        ])
        .args([
            "-ex",
            "echo @@MAPS\\n",
            "-ex",
            "python print(open('/proc/%d/maps' % gdb.selected_inferior().pid).read())",
            "-ex",
            "echo @@END\\n",
        ])
        .args(["-ex", "kill", prog])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(text.split("@@MAPS\n").nth(1)?.split("@@END").next()?.trim_end().to_string())
}

/// After ld.so: every library mapped where the real ld.so maps it, with
/// the same rights (RELRO read-only), the same .bss, TLS and malloc
/// mappings, and the cache unmapped; for the fixture and for programs in
/// /usr/bin nobody here wrote, with the libraries ldd names installed.
#[test]
fn ld_so_leaves_the_same_address_space_as_the_real_one() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) || Command::new("gdb").arg("--version").output().is_err() {
        eprintln!("skipped: needs x86-64 Linux and gdb");
        return;
    }
    if !std::path::Path::new(LDSO).exists() || !std::path::Path::new("/etc/ld.so.cache").exists() {
        eprintln!("skipped: no {LDSO} or /etc/ld.so.cache here");
        return;
    }
    let fixture = |f: &str| std::fs::canonicalize(sim_tests::root().join("fixtures/exec").join(f)).expect("fixture").display().to_string();
    let mut programs = vec![fixture("dynamic_pie"), fixture("dynamic_nopie")];
    for p in [
        "ls", "cat", "cp", "grep", "sed", "tar", "find", "sort", "date", "make", "gdb", "readelf", "git", "perl", "python3", "bash",
        "dash", "diff", "xz", "bpftool", "stat", "tr", "cut", "id", "env", "head", "wc", "gzip", "less", "objdump",
    ] {
        let path = format!("/usr/bin/{p}");
        if std::fs::read(&path).is_ok_and(|b| b.starts_with(b"\x7fELF")) {
            programs.push(path);
        }
    }
    let mut compared = 0;
    for prog in &programs {
        let mut m = host_machine(&Config::default()).expect("ld.so");
        m.install_file("/etc/ld.so.cache", std::sync::Arc::from(std::fs::read("/etc/ld.so.cache").expect("cache")));
        install_host(&mut m, prog).expect("program");
        for lib in host_libraries(prog) {
            install_host(&mut m, &lib).unwrap_or_else(|e| panic!("{prog}: {e}"));
        }
        m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
        m.apply(&LinuxOp::Exec { pid: Pid(1), path: prog.clone(), argv: vec![prog.clone()], envp: vec![] }).expect("exec");
        let r = m.apply(&LinuxOp::LdSo { pid: Pid(1) }).unwrap_or_else(|e| panic!("{prog}: ld.so: {e}"));
        assert_eq!(r.outcome, sim_core::Outcome::Ok, "{prog}");
        let st = m.state();
        let entry = st.linux.procs[&Pid(1)].regs.ip;
        let Some(real) = real_at(prog, entry) else {
            eprintln!("{prog}: gdb could not stop it at {entry:#x}; not compared");
            continue;
        };
        let sim: Vec<String> = st.linux.maps(Pid(1)).unwrap_or_default().lines().map(without_dev_inode).collect();
        let real: Vec<String> = real.lines().map(without_dev_inode).collect();
        // Where only libc is loaded, every line, addresses included. With
        // more libraries, where each library lands depends on the minimal
        // malloc's arenas, whose sizes follow every allocation ld.so makes
        // (the real placement differs even between a run under strace and
        // one under gdb); the simulator does not model them exactly. There,
        // each object's mappings are compared relative to its own first
        // mapping (its segments, RELRO and .bss exactly; which object lands
        // lower follows the arenas too), and the named mappings exactly; [heap] (libraries'
        // initialisers, code the simulator does not run, may allocate it)
        // and the arenas are left out.
        if host_libraries(prog).len() == 1 {
            assert_eq!(sim, real, "{prog}: /proc/PID/maps at the program's entry, after ld.so, simulated vs real");
        } else {
            let sorted = |l: &[String]| {
                let mut v = relative(l);
                v.sort();
                v
            };
            assert_eq!(sorted(&sim), sorted(&real), "{prog}: /proc/PID/maps at the program's entry, after ld.so, relative to each object");
        }
        // On to main: _start's code gives main's address; the real program
        // stops there under gdb with the same mappings.
        let r = m.apply(&LinuxOp::LibcStartMain { pid: Pid(1) }).unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert_eq!(r.outcome, sim_core::Outcome::Ok, "{prog}: to main");
        let main = m.state().linux.procs[&Pid(1)].regs.ip;
        let at_main = real_at(prog, main).unwrap_or_else(|| panic!("{prog}: gdb did not stop at main {main:#x}"));
        let sim: Vec<String> = m.state().linux.maps(Pid(1)).unwrap_or_default().lines().map(without_dev_inode).collect();
        let real: Vec<String> = at_main.lines().map(without_dev_inode).collect();
        let sorted = |l: &[String]| {
            let mut v = relative(l);
            v.sort();
            v
        };
        assert!(!real.is_empty(), "{prog}: gdb stopped at main {main:#x}");
        assert_eq!(sorted(&sim), sorted(&real), "{prog}: /proc/PID/maps at main, relative to each object");
        compared += 1;
    }
    assert!(compared >= 25, "compared only {compared} programs");
}

/// The relocated words: after ld.so, the fixture's GOT and data pages hold
/// what the real ld.so wrote there (libc's functions at their addresses,
/// the program's own pointers moved by its load bias), word for word.
#[test]
fn ld_so_writes_the_same_got_as_the_real_one() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) || Command::new("gdb").arg("--version").output().is_err() {
        eprintln!("skipped: needs x86-64 Linux and gdb");
        return;
    }
    let image = scenarios::system::get(scenarios::system::DEBIAN_12).expect("image");
    let here =
        Command::new("dpkg-query").args(["-W", "-f=${Version}", "libc6"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if !here.as_ref().is_ok_and(|v| image.label.contains(v.as_str())) {
        eprintln!("skipped: this machine's libc6 ({here:?}) is not the image's ({})", image.label);
        return;
    }
    // (fixture, its data pages, its .got.plt)
    for (fixture, start, end, got_plt) in
        [("dynamic_pie", 0x5555_5555_7000u64, 0x5555_5555_9000u64, 0x5555_5555_7fe8u64), ("dynamic_nopie", 0x40_3000, 0x40_5000, 0x40_3fe8)]
    {
        let prog = std::fs::canonicalize(sim_tests::root().join("fixtures/exec").join(fixture)).expect("fixture").display().to_string();
        let mut m = sim_core::Machine::new(&Config::default());
        m.install_image(&image);
        // This machine's cache (more libraries than the image's): its size
        // decides where libc lands, below the cache's mapping.
        m.install_file("/etc/ld.so.cache", std::sync::Arc::from(std::fs::read("/etc/ld.so.cache").expect("cache")));
        m.install_file(&prog, std::sync::Arc::from(std::fs::read(&prog).expect("fixture")));
        m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
        m.apply(&LinuxOp::Exec { pid: Pid(1), path: prog.clone(), argv: vec![prog.clone()], envp: vec![] }).expect("exec");
        assert_eq!(m.apply(&LinuxOp::LdSo { pid: Pid(1) }).expect("ld.so").outcome, sim_core::Outcome::Ok);
        let st = m.state();
        let entry = st.linux.procs[&Pid(1)].regs.ip;
        let sim: Vec<u8> =
            (start..end).step_by(4096).flat_map(|va| st.linux.peek(Pid(1), va, 4096).unwrap_or_else(|_| vec![0xee; 4096])).collect();
        let dump = std::env::temp_dir().join(format!("sim-got-{}-{fixture}.bin", std::process::id()));
        let _ = Command::new("gdb")
            .args(["-q", "-batch", "-nx", "-ex", "starti", "-ex", &format!("break *{entry:#x}"), "-ex", "continue"])
            .args(["-ex", &format!("dump binary memory {} {start:#x} {end:#x}", dump.display()), "-ex", "kill", &prog])
            .output();
        let real = std::fs::read(&dump).expect("gdb dumped the pages");
        let _ = std::fs::remove_file(&dump);
        // Both bind lazily: GOT[1] and GOT[2] get ld.so's link map and
        // resolver, internal addresses the simulator does not know (the
        // event says so).
        for (i, (s, r)) in sim.chunks(8).zip(real.chunks(8)).enumerate() {
            let at = start + 8 * i as u64;
            if at == got_plt + 8 || at == got_plt + 16 {
                assert_eq!(s, &[0; 8][..], "{fixture}: GOT[1], GOT[2] are left as the file has them");
                continue;
            }
            assert_eq!(s, r, "{fixture}: the word at {at:#x}: simulated {s:02x?}, real {r:02x?}");
        }
    }
}

/// With a seed, exec randomises as Linux does (`randomize_va_space = 2`):
/// the same seed gives the same layout, and the ranges each place is
/// drawn from hold the real kernel's own choices (`cat /proc/self/maps`
/// run ten times here, randomisation on).
#[test]
fn randomised_layouts_fall_where_the_real_kernels_do() {
    let cat = "/usr/bin/cat";
    let seen = |seed: Option<u64>| -> Option<(u64, u64, u64)> {
        let mut m = host_machine(&Config { aslr_seed: seed, ..Config::default() }).ok()?;
        m.install_file(cat, std::sync::Arc::from(std::fs::read(cat).ok()?));
        m.apply(&LinuxOp::Spawn { name: "sh".into() }).ok()?;
        m.apply(&LinuxOp::Exec { pid: Pid(1), path: cat.into(), argv: vec![cat.into()], envp: vec![] }).ok()?;
        places(&m.state().linux.maps(Pid(1))?, cat)
    };
    let Some(fixed) = seen(None) else {
        eprintln!("skipped: {cat} or {LDSO} is not here");
        return;
    };
    assert_eq!(fixed, (0x5555_5555_4000, 0x7fff_f7ff_f000, 0x7fff_ffff_f000), "randomisation off: setarch -R's places");
    assert_eq!(seen(Some(7)), seen(Some(7)), "a seed repeats");
    assert_ne!(seen(Some(7)), seen(Some(8)), "another seed moves things");
    // Ranges, from the 6.18 sources: PIE base ELF_ET_DYN_BASE + 28 bits of
    // pages; ld.so's end (mmap_base) TASK_SIZE less the gap (8 MiB + 16 GiB +
    // 1 MiB) less 28 bits of pages; the stack top STACK_TOP less 22 bits of pages.
    let gap = (8u64 << 20) + (0x3f_ffff << 12) + (1 << 20);
    let ranges = [
        (0x5555_5555_4000u64, 0x5555_5555_4000 + (1u64 << 40)),
        (0x7fff_ffff_f000 - gap - (1 << 40), 0x7fff_ffff_f000 - gap),
        (0x7fff_ffff_f000 - (1 << 34), 0x7fff_ffff_f000),
    ];
    let inside = |p: (u64, u64, u64), who: &str| {
        for (v, (lo, hi)) in [p.0, p.1, p.2].iter().zip(ranges) {
            assert!((lo..=hi).contains(v), "{who}: {v:#x} outside {lo:#x}..={hi:#x}");
        }
    };
    for seed in 0..50 {
        inside(seen(Some(seed)).expect("runs"), &format!("simulated, seed {seed}"));
    }
    if std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").map(|s| s.trim() == "2").unwrap_or(false) {
        for _ in 0..10 {
            let out = Command::new(cat).arg("/proc/self/maps").output().expect("cat runs");
            let real = places(&String::from_utf8_lossy(&out.stdout), cat).expect("cat's own maps");
            inside(real, "the real kernel");
        }
    }
}

/// (the program's first address, ld.so's end, the stack's end) in a maps text.
fn places(maps: &str, prog: &str) -> Option<(u64, u64, u64)> {
    let range = |l: &str| {
        let r = l.split(' ').next()?;
        let (a, b) = r.split_once('-')?;
        Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?))
    };
    let prog_start = maps.lines().find(|l| l.ends_with(prog)).and_then(range)?.0;
    let ld_end = maps.lines().filter(|l| l.ends_with("ld-linux-x86-64.so.2")).filter_map(range).map(|r| r.1).max()?;
    let stack_end = maps.lines().find(|l| l.ends_with("[stack]")).and_then(range)?.1;
    Some((prog_start, ld_end, stack_end))
}
