//! The real kernel as an oracle: load the same fixtures with the real
//! bpftool and compare what survives with the simulation. Skips (saying why)
//! where it is not allowed; removes every pin it makes.

use sim_core::BpfOp;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// The kernel's BPF objects are global: tests that list them run one at a time.
static KERNEL: Mutex<()> = Mutex::new(());

/// Whether `/sys/fs/bpf/shared` was there before these tests ran. The
/// fixtures with `LIBBPF_PIN_BY_NAME` (tc_shared.o and its kin) pin their
/// map there, outside any test's directory; a test's [`Pins`] removes it
/// again unless it was there already.
static SHARED_BEFORE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The pin a by-name map of the fixtures leaves.
const BY_NAME_PIN: &str = "/sys/fs/bpf/shared";

fn kernel() -> MutexGuard<'static, ()> {
    let guard = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    SHARED_BEFORE.get_or_init(|| std::path::Path::new(BY_NAME_PIN).exists());
    guard
}

/// A simulated machine with the object at `obj` installed as `/o`.
fn sim_with(obj: &std::path::Path) -> sim_core::Machine {
    let mut m = sim_core::Machine::new(&sim_core::Config::default());
    m.install_file("/o", std::sync::Arc::from(std::fs::read(obj).expect("fixture")));
    m
}

/// [`sim_with`], then `bpftool prog load /o /sys/fs/bpf/p` (today's libbpf).
fn sim_loaded(obj: &std::path::Path) -> sim_core::Machine {
    let mut m = sim_with(obj);
    m.apply(&BpfOp::BpftoolProgLoad { object: "/o".into(), pin: "/sys/fs/bpf/p".into(), args: vec![], libbpf: Default::default() })
        .expect("loads");
    m
}

fn sh(cmd: &str) -> (bool, String) {
    match Command::new("sh").arg("-c").arg(cmd).output() {
        Ok(o) => (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)),
        Err(e) => (false, e.to_string()),
    }
}

/// Whether bpftool, root and bpffs are here; says why not when they are not.
fn bpf_ready() -> bool {
    let ready = sh("command -v bpftool").0 && sh("test \"$(id -u)\" = 0").0 && sh("mount | grep -q ' /sys/fs/bpf type bpf'").0;
    if !ready {
        eprintln!("skipped: needs bpftool, root and bpffs at /sys/fs/bpf");
    }
    ready
}

/// bpffs paths a test made, removed when it ends, even when an assertion fails.
struct Pins(Vec<String>);

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = sh(&format!("rm -rf {}", self.0.join(" ")));
        if SHARED_BEFORE.get() == Some(&false) {
            let _ = sh(&format!("rm -f {BY_NAME_PIN}"));
        }
    }
}

/// The value of `"key":NUMBER` in bpftool's JSON.
fn json_num(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    text[at..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}

#[test]
fn map_survival_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !sh("command -v bpftool").0 {
        eprintln!("skipped: bpftool is not installed (cargo xtask setup installs it)");
        return;
    }
    if !sh("test \"$(id -u)\" = 0").0 {
        eprintln!("skipped: loading BPF programs needs root");
        return;
    }
    if !sh("mount | grep -q ' /sys/fs/bpf type bpf'").0 && !sh("mount -t bpf bpf /sys/fs/bpf").0 {
        eprintln!("skipped: no bpffs at /sys/fs/bpf and it cannot be mounted here");
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-tests-{}", std::process::id());
    let root = sim_tests::root().join("fixtures/bpf");
    let (ok, out) = sh(&format!("mkdir -p {dir} && bpftool prog load {}/sockops_lookup.o {dir}/lookup", root.display()));
    if !ok {
        let _ = sh(&format!("rm -rf {dir}"));
        eprintln!("skipped: the kernel refused to load a sockops program here: {out}");
        return;
    }
    let (_, prog) = sh(&format!("bpftool -j prog show pinned {dir}/lookup"));
    let map_id = json_num(&prog, "map_ids").or_else(|| {
        let at = prog.find("\"map_ids\":[")? + 11;
        prog[at..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
    });
    let (ok2, _) = sh(&format!("bpftool prog load {}/sockops_nolookup.o {dir}/nolookup", root.display()));
    let (_, prog2) = sh(&format!("bpftool -j prog show pinned {dir}/nolookup"));
    let (_, maps) = sh("bpftool -j map show");
    let (_, map) = sh(&format!("bpftool -j map show id {}", map_id.unwrap_or(0)));
    let _ = sh(&format!("rm -f {dir}/lookup"));
    // After the last reference goes, the id disappears (give RCU a moment).
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (gone_ok, _) = sh(&format!("bpftool map show id {}", map_id.unwrap_or(0)));
    let _ = sh(&format!("rm -rf {dir}"));

    // The real kernel:
    assert!(map_id.is_some(), "the program that looks the map up holds one map: {prog}");
    assert!(ok2, "the second object loads");
    assert!(!prog2.contains("map_ids"), "the program without the lookup holds no map: {prog2}");
    assert_eq!(json_num(&map, "bytes_key"), Some(4));
    assert_eq!(json_num(&map, "bytes_value"), Some(8));
    assert_eq!(json_num(&map, "max_entries"), Some(10));
    assert_eq!(maps.matches("\"name\":\"counters\"").count(), 1, "only the used map survived bpftool's exit: {maps}");
    assert!(!gone_ok, "after removing the pin the map's id is gone");

    // The simulation says the same.
    let lesson = scenarios::builtin("bpf-who-creates-map").expect("built in").expect("parses");
    let run = scenarios::run(&lesson).expect("runs");
    assert!(run.passed());
    let obj = sim_core::bpf::BpfObject::parse(include_bytes!("../../fixtures/bpf/sockops_lookup.o")).expect("parses");
    let m = &obj.maps[0];
    assert_eq!((m.key_size, m.value_size, m.max_entries), (4, 8, 10));
}

#[test]
fn map_sharing_through_a_pin_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    if sh("test -e /sys/fs/bpf/shared").0 {
        eprintln!("skipped: /sys/fs/bpf/shared exists already; not touching it");
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-share-{}", std::process::id());
    let root = sim_tests::root().join("fixtures/bpf");
    let load = |obj: &str, pin: &str| sh(&format!("bpftool prog load {}/{obj}.o {dir}/{pin}", root.display()));
    let ids = |pin: &str| -> Option<u64> {
        let (_, p) = sh(&format!("bpftool -j prog show pinned {dir}/{pin}"));
        let at = p.find("\"map_ids\":[")? + 11;
        p[at..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
    };
    let _ = sh(&format!("mkdir -p {dir}"));
    let a = load("tc_shared", "tc").0;
    let b = load("cgroup_shared", "cg").0;
    let c = load("cgroup_private", "cgp").0;
    let (d, msg) = load("cgroup_mismatch", "cgm");
    let (tc, cg, cgp) = (ids("tc"), ids("cg"), ids("cgp"));
    let _ = sh(&format!("rm -rf {dir} /sys/fs/bpf/shared"));
    if !a {
        eprintln!("skipped: the kernel refused a tc program here");
        return;
    }
    assert!(b && c, "the compatible objects load");
    assert!(tc.is_some() && tc == cg, "tc and cgroup programs share one map id: {tc:?} {cg:?}");
    assert!(cgp.is_some() && cgp != tc, "without pinning the loader made its own map: {cgp:?}");
    assert!(!d && msg.contains("couldn't reuse pinned map") && msg.contains("parameter mismatch"), "{msg}");
    // The simulation says the same.
    let lesson = scenarios::builtin("bpf-map-sharing").expect("built in").expect("parses");
    assert!(scenarios::run(&lesson).expect("runs").passed());
}

#[test]
fn verifier_verdicts_match_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-verify-{}", std::process::id());
    let root = sim_tests::root().join("fixtures/bpf");
    let _ = sh(&format!("mkdir -p {dir}"));
    // Only where the kernel loads a good program can its refusals be compared.
    let (ok, out) = sh(&format!("bpftool prog load {}/sockops_lookup.o {dir}/probe", root.display()));
    if !ok {
        let _ = sh(&format!("rm -rf {dir}"));
        eprintln!("skipped: the kernel refused even a valid sockops program here: {out}");
        return;
    }
    let _ = sh(&format!("rm -f {dir}/probe"));
    let mut checked = 0;
    for (obj, message) in [
        ("sockops_bad_helper", Some("program of this type cannot use helper bpf_skb_load_bytes#26")),
        ("sockops_bad_kfunc", Some("calling kernel function bpf_dynptr_from_xdp is not allowed")),
        ("xdp_kfunc", None),
        ("sockops_lookup", None),
    ] {
        let (ok, out) = sh(&format!("bpftool prog load {}/{obj}.o {dir}/{obj}", root.display()));
        let data = std::fs::read(root.join(format!("{obj}.o"))).expect("fixture");
        let o = sim_core::bpf::BpfObject::parse(&data).expect("parses");
        let verdict = sim_core::bpf::verify(&o.programs[0]);
        match message {
            Some(m) => {
                assert!(!ok && out.contains(m), "{obj}: the kernel says: {out}");
                assert_eq!(verdict.error.map(|e| e.message).as_deref(), Some(m), "{obj}: the simulator says the same");
            }
            None if ok => assert!(verdict.error.is_none(), "{obj}: accepted by both"),
            None => eprintln!("note: the kernel refused {obj} here: {out}"),
        }
        checked += 1;
    }
    let _ = sh(&format!("rm -rf {dir}"));
    assert_eq!(checked, 4);
}

/// What the page shows of the verifier's walk, against the real kernel's
/// log (bpftool -d, which asks for it): each refusal message is a line of
/// the log; each checked call (`4: (85) call bpf_skb_load_bytes#26`)
/// begins a line of it (the log adds the registers the call changed); each
/// C source line shown with it (`; … @ file.c:13`) is a line of it. The
/// simulator's own account of its walk (backward jumps, its processed
/// count) is narrated as such and not compared.
#[test]
fn what_the_page_calls_the_verifiers_log_is_in_the_kernels_log() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let root = sim_tests::root().join("fixtures/bpf");
    let dir = format!("/sys/fs/bpf/sim-log-{}", std::process::id());
    let _pins = Pins(vec![dir.clone()]);
    let mut compared = 0;
    for obj in [
        "sockops_bad_helper",
        "sockops_bad_kfunc",
        "sockops_lookup",
        "sockops_nolookup",
        "xdp_kfunc",
        "sockops_loop_bounded",
        "cgroup_private",
    ] {
        let _ = sh(&format!("rm -rf {dir}"));
        let out = sh(&format!("bpftool -d prog loadall {}/{obj}.o {dir}", root.display())).1;
        let data = std::fs::read(root.join(format!("{obj}.o"))).expect("fixture");
        let o = sim_core::bpf::BpfObject::parse(&data).expect("parses");
        for prog in &o.programs {
            // This program's log: between libbpf's BEGIN and END lines for it.
            let begin = format!("libbpf: prog '{}': -- BEGIN PROG LOAD LOG --", prog.name);
            let Some(log) = out.split(&begin).nth(1).and_then(|r| r.split("-- END PROG LOAD LOG --").next()) else {
                panic!("{obj}/{}: no verifier log from bpftool -d:\n{out}", prog.name);
            };
            let real: Vec<&str> = log.lines().collect();
            let linked = o.link(prog).expect("links");
            let lines = o.btf_info(prog, &linked).lines;
            let verdict = sim_core::bpf::verify(&linked.prog);
            let mut shown = 0;
            for l in &verdict.log {
                match l {
                    sim_core::bpf::LogLine::Insn { at, .. } => {
                        let at = *at;
                        let insn = l.text();
                        // A kfunc's BTF id is the reference build's.
                        let other_build = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                            .is_ok_and(|r| r.trim() != sim_core::bpf::REFERENCE_KERNEL_BUILD);
                        if other_build && linked.prog.kfunc_calls.iter().any(|(k, _)| *k == at) {
                            continue;
                        }
                        assert!(
                            real.iter().any(|r| r.starts_with(&insn)),
                            "{obj}/{}: {insn:?} is not in the kernel's log:\n{log}",
                            prog.name
                        );
                        if let Some(src) = sim_core::bpf::btf_ext::find_linfo(&lines, at).map(|l| l.log_text()) {
                            assert!(real.contains(&src.as_str()), "{obj}/{}: {src:?} is not in the kernel's log:\n{log}", prog.name);
                        }
                        shown += 1;
                    }
                    sim_core::bpf::LogLine::Error(m) => {
                        assert!(real.contains(&m.as_str()), "{obj}/{}: {m:?} is not in the kernel's log:\n{log}", prog.name);
                        shown += 1;
                    }
                    _ => {}
                }
            }
            compared += shown;
        }
    }
    assert!(compared >= 8, "only {compared} lines compared");
}

/// The map ids a program holds, from `bpftool -j prog show`.
fn map_ids(json: &str) -> Vec<u64> {
    let Some(at) = json.find("\"map_ids\":[").map(|a| a + 11) else { return Vec::new() };
    json[at..].split(']').next().unwrap_or("").split(',').filter_map(|n| n.trim().parse().ok()).collect()
}

#[test]
fn loader_options_match_the_real_kernel() {
    let _one_at_a_time = kernel();
    use sim_core::{Config, Machine, Outcome};
    use std::sync::Arc;
    if !bpf_ready() {
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-options-{}", std::process::id());
    let root = sim_tests::root().join("fixtures/bpf");
    let obj = root.join("sockops_lookup.o");
    let (ok, out) = sh(&format!("mkdir -p {dir} && bpftool prog load {} {dir}/a pinmaps {dir}/maps", obj.display()));
    if !ok {
        let _ = sh(&format!("rm -rf {dir}"));
        eprintln!("skipped: the kernel refused to load a sockops program here: {out}");
        return;
    }
    let first = map_ids(&sh(&format!("bpftool -j prog show pinned {dir}/a")).1);
    let pinned = sh(&format!("test -e {dir}/maps/counters")).0;
    let (ok_b, out_b) = sh(&format!("bpftool prog load {} {dir}/b map name counters pinned {dir}/maps/counters", obj.display()));
    let by_pin = map_ids(&sh(&format!("bpftool -j prog show pinned {dir}/b")).1);
    let id = first.first().copied().unwrap_or(0);
    let (ok_c, out_c) = sh(&format!("bpftool prog load {} {dir}/c map idx 0 id {id}", obj.display()));
    let by_id = map_ids(&sh(&format!("bpftool -j prog show pinned {dir}/c")).1);
    let (ok_bad, out_bad) = sh(&format!("bpftool prog load {} {dir}/d map idx 3 id {id}", obj.display()));
    let (ok_legacy, out_legacy) = sh(&format!("bpftool prog load {}/sockops_legacy.o {dir}/legacy", root.display()));
    let (ok_bounded, out_bounded) = sh(&format!("bpftool prog load {}/sockops_loop_bounded.o {dir}/bounded", root.display()));
    let (ok_unbounded, out_unbounded) = sh(&format!("bpftool prog load {}/sockops_loop_unbounded.o {dir}/unbounded", root.display()));
    let _ = sh(&format!("rm -rf {dir}"));

    // The real kernel and bpftool:
    assert_eq!(first.len(), 1, "{out}");
    assert!(pinned, "pinmaps pinned the map by its name");
    assert!(ok_b && ok_c, "{out_b} {out_c}");
    assert_eq!((&by_pin, &by_id), (&first, &first), "both options reuse the same map");
    assert!(!ok_bad && out_bad.contains("map idx '3' not used"), "{out_bad}");
    let legacy_msg = "legacy map definitions in 'maps' section are not supported by libbpf v1.0+";
    assert!(!ok_legacy && out_legacy.contains(legacy_msg), "{out_legacy}");
    assert!(ok_bounded, "a bounded loop is accepted: {out_bounded}");
    let budget_msg = "BPF program is too large. Processed 1000001 insn";
    assert!(!ok_unbounded && out_unbounded.contains(budget_msg), "{out_unbounded}");

    // The simulation, the same commands:
    let mut m = Machine::new(&Config::default());
    for f in ["sockops_lookup", "sockops_legacy", "sockops_loop_bounded", "sockops_loop_unbounded"] {
        m.install_file(&format!("/{f}.o"), Arc::from(std::fs::read(root.join(format!("{f}.o"))).expect("fixture")));
    }
    let load = |m: &mut Machine, obj: &str, pin: &str, args: &str| {
        let op = BpfOp::BpftoolProgLoad {
            object: format!("/{obj}.o"),
            pin: format!("/sys/fs/bpf/{pin}"),
            args: args.split_whitespace().map(String::from).collect(),
            libbpf: Default::default(),
        };
        let outcome = m.apply(&op).expect("runs").outcome;
        let maps = match m.state().bpf.pins.get(&format!("/sys/fs/bpf/{pin}")) {
            Some(sim_core::bpf::BpfRef::Prog(p)) => m.state().bpf.progs[p].map_ids.clone(),
            _ => Vec::new(),
        };
        (outcome, maps)
    };
    let (o, a) = load(&mut m, "sockops_lookup", "a", "pinmaps /sys/fs/bpf/maps");
    assert_eq!(o, Outcome::Ok);
    assert!(m.state().bpf.pins.contains_key("/sys/fs/bpf/maps/counters"));
    let (_, b) = load(&mut m, "sockops_lookup", "b", "map name counters pinned /sys/fs/bpf/maps/counters");
    let sim_id = a[0];
    let (_, c) = load(&mut m, "sockops_lookup", "c", &format!("map idx 0 id {sim_id}"));
    assert_eq!((b, c), (vec![sim_id], vec![sim_id]));
    assert_eq!(m.state().bpf.maps.len(), 1, "no second map was created");
    let (bad, _) = load(&mut m, "sockops_lookup", "d", &format!("map idx 3 id {sim_id}"));
    assert!(matches!(bad, Outcome::Failed { ref detail, .. } if detail.contains("map idx '3' not used")), "{bad:?}");
    let (legacy, _) = load(&mut m, "sockops_legacy", "legacy", "");
    assert!(matches!(legacy, Outcome::Failed { ref detail, .. } if detail.contains(legacy_msg)), "{legacy:?}");
    let (bounded, _) = load(&mut m, "sockops_loop_bounded", "bounded", "");
    assert_eq!(bounded, Outcome::Ok);
    let (unbounded, _) = load(&mut m, "sockops_loop_unbounded", "unbounded", "");
    assert!(matches!(unbounded, Outcome::Failed { ref detail, .. } if detail.contains(budget_msg)), "{unbounded:?}");
}

/// The keys of the first JSON object in `text`, in order (flat objects only).
fn json_keys(text: &str) -> Vec<String> {
    let Some(start) = text.find('{') else { return Vec::new() };
    let body = &text[start + 1..text[start..].find('}').map(|e| start + e).unwrap_or(text.len())];
    let mut keys = Vec::new();
    let mut depth = 0;
    let mut rest = body;
    while let Some(q) = rest.find('"') {
        let before = &rest[..q];
        depth += before.matches('[').count() as i32 - before.matches(']').count() as i32;
        let after = &rest[q + 1..];
        let Some(end) = after.find('"') else { break };
        let word = &after[..end];
        let tail = &after[end + 1..];
        if depth == 0 && tail.starts_with(':') {
            keys.push(word.to_string());
        }
        rest = tail;
    }
    keys
}

#[test]
fn json_output_uses_bpftools_names_in_bpftools_order() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-json-{}", std::process::id());
    let root = sim_tests::root().join("fixtures/bpf");
    let (ok, out) = sh(&format!("mkdir -p {dir} && bpftool prog load {}/sockops_lookup.o {dir}/p", root.display()));
    if !ok {
        let _ = sh(&format!("rm -rf {dir}"));
        eprintln!("skipped: the kernel refused to load a sockops program here: {out}");
        return;
    }
    let (_, prog) = sh(&format!("bpftool -j prog show pinned {dir}/p"));
    let id = map_ids(&prog).first().copied().unwrap_or(0);
    let (_, map) = sh(&format!("bpftool -j map show id {id}"));
    let _ = sh(&format!("rm -rf {dir}"));

    let m = sim_loaded(&root.join("sockops_lookup.o"));
    let b = &m.state().bpf;
    // The tag: bpf_prog_calc_tag over the same instructions, map fds zeroed.
    let tag = |j: &str| j.split("\"tag\":\"").nth(1).and_then(|t| t.get(..16)).map(str::to_string);
    assert_eq!(tag(&b.prog_show_json()), tag(&prog), "the program's tag, ours and the kernel's: {prog}");
    for (ours, real) in [(b.prog_show_json(), prog), (b.map_show_json(), map)] {
        let (ours, real) = (json_keys(&ours), json_keys(&real));
        assert!(ours.len() >= 6 && real.len() > ours.len(), "ours {ours:?}, bpftool's {real:?}");
        // Ours is a subset (no load time, uid, BTF id), in the same order.
        let mut at = real.iter();
        for k in &ours {
            assert!(at.any(|r| r == k), "`{k}` is not a bpftool key in this order: ours {ours:?}, bpftool's {real:?}");
        }
    }
}

/// `bpftool prog show`'s text, ours and the real tool's on the same
/// object: the same lines and words, the sizes (xlated after the kernel's
/// inlined map lookup, the JIT image) and the tag equal. What differs by
/// nature is normalised: ids, the load time (the simulated machine's
/// clock) and the `btf_id` line (the simulator has no BTF objects yet).
#[test]
fn prog_show_text_matches_bpftool() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-show-{}", std::process::id());
    let _pins = Pins(vec![dir.clone()]);
    let root = sim_tests::root().join("fixtures/bpf");
    for obj in ["sockops_lookup.o", "tc_shared.o", "sockops_loop_bounded.o", "xdp_kfunc.o"] {
        let (ok, out) = sh(&format!("mkdir -p {dir} && bpftool prog load {}/{obj} {dir}/p", root.display()));
        if !ok {
            eprintln!("skipped {obj}: the kernel refused it here: {out}");
            let _ = sh(&format!("rm -f {dir}/p"));
            continue;
        }
        let (_, real) = sh(&format!("bpftool prog show pinned {dir}/p"));
        let _ = sh(&format!("rm -f {dir}/p"));
        let m = sim_loaded(&root.join(obj));
        let ours = m.state().bpf.prog_show();
        let norm = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.trim_start().starts_with("btf_id "))
                .map(|l| {
                    let words: Vec<String> = l
                        .split("  ")
                        .map(|w| match w.split_once(' ') {
                            Some(("\tloaded_at" | "loaded_at" | "map_ids", _)) => w.split(' ').next().unwrap_or("").to_string(),
                            _ => w.to_string(),
                        })
                        .collect();
                    let l = words.join("  ");
                    match l.split_once(": ") {
                        Some((id, rest)) if id.chars().all(|c| c.is_ascii_digit()) => format!("ID: {rest}"),
                        _ => l,
                    }
                })
                .collect()
        };
        // The kfunc program's tag depends on the kernel build's BTF ids.
        if obj == "xdp_kfunc.o"
            && std::fs::read_to_string("/proc/sys/kernel/osrelease").is_ok_and(|r| r.trim() != sim_core::bpf::REFERENCE_KERNEL_BUILD)
        {
            eprintln!("{obj}: another kernel build than the reference one; its tag is not compared");
            continue;
        }
        assert_eq!(norm(&ours), norm(&real), "{obj}: ours\n{ours}\nbpftool's\n{real}");
    }
}

/// The `memlock` of `bpftool map show`: each map type's `map_mem_usage` on
/// the reference machine, against maps `bpftool map create` makes here.
#[test]
fn map_memory_use_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    if std::fs::read_to_string("/sys/devices/system/cpu/possible").map(|s| s.trim().to_string()).ok().as_deref() != Some("0-1") {
        eprintln!("skipped: the model's memory use is the reference machine's, with 2 possible CPUs");
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-memlock-{}", std::process::id());
    let _pins = Pins(vec![dir.clone()]);
    let _ = sh(&format!("mkdir -p {dir}"));
    let _ = sh(&format!("bpftool map create {dir}/inner type array key 4 value 8 entries 1 name inner"));
    let mut compared = 0;
    for (kind, key, value, entries, flags) in [
        ("array", 4, 8, 10, 0),
        ("array", 4, 12, 10, 0),
        ("array", 4, 4, 1, 0x400),
        ("percpu_array", 4, 8, 10, 0),
        ("prog_array", 4, 4, 8, 0),
        ("perf_event_array", 4, 4, 8, 0),
        ("array_of_maps", 4, 4, 8, 0),
        ("hash", 4, 8, 16, 0),
        ("hash", 8, 16, 1000, 0),
        ("hash", 16, 24, 7, 0),
        ("hash", 4, 8, 16, 1),
        ("percpu_hash", 8, 24, 100, 0),
        ("lru_hash", 4, 8, 16, 0),
        ("hash_of_maps", 4, 4, 8, 0),
        ("ringbuf", 0, 0, 65536, 0),
    ] {
        let inner = if kind.ends_with("_of_maps") { format!(" inner pinned {dir}/inner") } else { String::new() };
        let (ok, out) =
            sh(&format!("bpftool map create {dir}/m type {kind} key {key} value {value} entries {entries} name m flags {flags}{inner}"));
        assert!(ok, "{kind}: {out}");
        let (_, shown) = sh(&format!("bpftool -j map show pinned {dir}/m"));
        let _ = sh(&format!("rm -f {dir}/m"));
        let kind_ = sim_core::bpf::MapType::from_name(kind).expect("a type the simulator has");
        let def = sim_core::bpf::MapDef { map_flags: flags, ..sim_core::bpf::MapDef::new("m", kind_, key, value, entries) };
        let m = sim_core::bpf::KMap::new(def);
        assert_eq!(
            Some(sim_core::bpf::map_memlock(&m)),
            json_num(&shown, "bytes_memlock"),
            "{kind} key {key} value {value} entries {entries} flags {flags:#x}: {shown}"
        );
        compared += 1;
    }
    assert_eq!(compared, 15);
}

#[test]
fn struct_ops_registration_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !sh("command -v bpftool").0 || !sh("test \"$(id -u)\" = 0").0 || !sh("test -r /sys/kernel/btf/vmlinux").0 {
        eprintln!("skipped: needs root, bpftool and the kernel's BTF");
        return;
    }
    let obj = sim_tests::root().join("fixtures/bpf/struct_ops_ca.o");
    let (ok, out) = sh(&format!("bpftool struct_ops register {}", obj.display()));
    if !ok {
        eprintln!("skipped: the kernel refused to register a TCP congestion control here: {out}");
        return;
    }
    let available = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap_or_default();
    let (_, maps) = sh("bpftool -j map show");
    let (_, progs) = sh("bpftool -j prog show");
    let (gone, out2) = sh("bpftool struct_ops unregister name sim_ca");
    // The programs go after an RCU (tasks trace) grace period and a
    // workqueue: on a busy machine that takes more than a moment, so wait
    // for them up to 10 s.
    let ours = |progs: &str| ["sim_ssthresh", "sim_cong_avoid", "sim_undo_cwnd"].iter().any(|p| progs.contains(&format!("\"name\":\"{p}\"")));
    let mut progs_after = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        progs_after = sh("bpftool -j prog show").1;
        if !ours(&progs_after) {
            break;
        }
    }
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap_or_default();

    // The real kernel:
    assert!(out.contains("Registered tcp_congestion_ops sim_ca id"), "{out}");
    assert!(available.split_whitespace().any(|a| a == "sim_ca"), "{available}");
    assert!(maps.contains("\"type\":\"struct_ops\",\"name\":\"sim_ca\""), "{maps}");
    assert!(maps.contains("\"bytes_value\":256"), "the value size the simulator uses: {maps}");
    for p in ["sim_ssthresh", "sim_cong_avoid", "sim_undo_cwnd"] {
        assert!(progs.contains(&format!("\"type\":\"struct_ops\",\"name\":\"{p}\"")), "{p}: {progs}");
        assert!(!progs_after.contains(&format!("\"name\":\"{p}\"")), "{p} is freed after unregistering");
    }
    assert!(gone && !after.split_whitespace().any(|a| a == "sim_ca"), "{out2} {after}");

    // The simulation:
    let mut m = sim_with(&obj);
    let o = m.apply(&sim_core::BpfOp::BpftoolStructOpsRegister { object: "/o".into() }).expect("runs").outcome;
    assert_eq!(o, sim_core::Outcome::Ok);
    let b = &m.state().bpf;
    let map = b.struct_ops.get("sim_ca").copied().expect("registered");
    assert_eq!((b.maps[&map].def.kind.name(), b.maps[&map].def.value_size), ("struct_ops", 256));
    let mut names: Vec<&str> = b.progs.values().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["sim_cong_avoid", "sim_ssthresh", "sim_undo_cwnd"]);
    assert!(b.progs.values().all(|p| p.prog_type == "struct_ops"));
    m.apply(&sim_core::BpfOp::BpftoolStructOpsUnregister { name: "sim_ca".into() }).expect("runs");
    let b = &m.state().bpf;
    assert!(b.struct_ops.is_empty() && b.maps.is_empty() && b.progs.is_empty());
}

/// `BPF_MAP_CREATE`'s checks of a map's attributes: the simulator's verdict
/// (`map_alloc_check`) and the real kernel's, through `bpftool map create`,
/// for each boundary the kernel draws.
#[test]
fn map_create_checks_match_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let cases: &[(&str, u32, u32, u32, u32)] = &[
        ("array", 2, 4, 4, 1),
        ("array", 2, 4, u32::MAX, 1),
        ("array", 2, 4, i32::MAX as u32, 4096),
        ("array", 2, 4, 0, 1),
        ("array", 2, 8, 4, 1),
        ("array", 2, 4, 4, 0),
        ("percpu_array", 6, 4, 32768, 1),
        ("percpu_array", 6, 4, 32769, 1),
        ("hash", 1, 4, 4194252 - 1, 1),
        ("hash", 1, 4, 4194252, 1),
        ("hash", 1, 600, 4, 1),
        ("hash", 1, 0, 4, 1),
        ("hash", 1, 4, u32::MAX, 1),
        ("prog_array", 3, 4, 8, 1),
    ];
    let pin = format!("/sys/fs/bpf/sim-tests-create-{}", std::process::id());
    for &(kind, type_id, key, value, entries) in cases {
        let (ok, out) = sh(&format!("bpftool map create {pin} type {kind} key {key} value {value} entries {entries} name sim_t"));
        let _ = sh(&format!("rm -f {pin}"));
        let def = sim_core::bpf::MapDef::new("sim_t", sim_core::bpf::MapType(type_id), key, value, entries);
        let sim = sim_core::bpf::map_alloc_check(&def, 4 << 30);
        match sim {
            Ok(()) => assert!(ok, "{kind} key {key} value {value} entries {entries}: the kernel refused ({out}), the simulator creates it"),
            Err(errno) => assert!(
                !ok && out.contains(errno.message()),
                "{kind} key {key} value {value} entries {entries}: the simulator says {errno:?}, the kernel: {out}"
            ),
        }
    }
}

/// `bpftool prog run` on a sock_ops program: the real kernel has no
/// test_run for the type (ENOTSUPP, "Unknown error 524"); so does the simulator.
#[test]
fn a_test_run_of_a_sock_ops_program_is_refused_like_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let pin = format!("/sys/fs/bpf/sim-tests-run-{}", std::process::id());
    let root = sim_tests::root().join("fixtures/bpf");
    let (loaded, out) = sh(&format!("bpftool prog load {}/sockops_lookup.o {pin}", root.display()));
    if !loaded {
        eprintln!("skipped: the kernel refused to load a sockops program here: {out}");
        return;
    }
    let (ok, real) = sh(&format!("bpftool prog run pinned {pin} repeat 2"));
    let _ = sh(&format!("rm -f {pin}"));
    let mut m = sim_loaded(&root.join("sockops_lookup.o"));
    let r = m.apply(&BpfOp::BpfTestRun { pin: "/sys/fs/bpf/p".into(), repeat: 2 }).expect("runs");
    let sim_core::Outcome::Failed { errno, detail } = r.outcome else { panic!("{:?}", r.outcome) };
    assert!(!ok, "the real kernel ran it: {real}");
    assert_eq!(errno, sim_core::Errno::ENOTSUPP);
    assert_eq!(detail.trim(), real.trim(), "bpftool's message");
}

/// Global data, subprograms, prog arrays and map-in-map as the kernel ends
/// up holding them after `bpftool prog load OBJ PIN` (which loads every
/// program and pins the first): the pinned program's name and instruction
/// count, and its maps in `used_maps` order with their type, sizes, whether
/// they are frozen and what their slots hold. Flags are compared without
/// BPF_F_MMAPABLE: Debian 12's bpftool carries the libbpf of Linux 6.1's
/// tree, which sets it on every global-data map, where libbpf 1.1+ sets it
/// only for a section with a non-static variable (`map_is_mmapable`).
#[test]
fn global_data_and_subprograms_load_as_in_the_real_kernel() {
    let _one_at_a_time = kernel();
    use sim_core::{Config, Machine};
    use std::sync::Arc;
    if !bpf_ready() {
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-corpus-{}", std::process::id());
    let _ = sh(&format!("mkdir -p {dir}"));
    let _pins = Pins(vec![dir.clone()]);
    let corpus = sim_tests::root().join("fixtures/bpf/corpus");
    let mut checked = 0;
    let mut jited = 0;
    for name in [
        "global_data",
        "custom_data",
        "static_only_bss",
        "strings",
        "kconfig",
        "subprog_static",
        "subprog_global",
        "multi_prog",
        "prog_array",
        "map_in_map",
    ] {
        let obj = corpus.join(format!("{name}.o"));
        let (ok, out) = sh(&format!("bpftool prog load {} {dir}/{name}", obj.display()));
        assert!(ok, "{name}: the kernel refused it: {out}");
        let prog = sh(&format!("bpftool -j prog show pinned {dir}/{name}")).1;
        let mut real = vec![format!("prog {} {}", json_str(&prog, "name"), json_num(&prog, "bytes_xlated").map_or(0, |b| b / 8))];
        let real_jited = json_num(&prog, "bytes_jited");
        for id in map_ids(&prog) {
            let m = sh(&format!("bpftool -j map show id {id}")).1;
            let entries = sh(&format!("bpftool -j map dump id {id}")).1.matches("\"key\"").count();
            real.push(format!(
                "map {} {} key {} value {} max {} flags {:#x} frozen {} slots {}",
                json_str(&m, "name"),
                json_str(&m, "type"),
                json_num(&m, "bytes_key").unwrap_or(0),
                json_num(&m, "bytes_value").unwrap_or(0),
                json_num(&m, "max_entries").unwrap_or(0),
                json_num(&m, "flags").unwrap_or(0) & !0x400,
                json_num(&m, "frozen").unwrap_or(0),
                if SLOTTED.contains(&json_str(&m, "type").as_str()) { entries } else { 0 },
            ));
        }
        let _ = sh(&format!("rm -f {dir}/{name}"));
        // The simulator, the same command on the same file.
        let mut mach = Machine::new(&Config::default());
        let path = format!("/root/{name}.o");
        mach.install_file(&path, Arc::from(std::fs::read(&obj).expect("fixture")));
        let op = BpfOp::BpftoolProgLoad { object: path, pin: "/sys/fs/bpf/p".into(), args: vec![], libbpf: Default::default() };
        let r = mach.apply(&op).expect("runs");
        assert_eq!(r.outcome, sim_core::Outcome::Ok, "{name}");
        let b = &mach.state().bpf;
        let Some(sim_core::bpf::BpfRef::Prog(pid)) = b.pins.get("/sys/fs/bpf/p").copied() else { panic!("{name}: nothing pinned") };
        let p = &b.progs[&pid];
        let mut sim = vec![format!("prog {} {}", p.name, p.xlated / 8)];
        // The JIT's image size, where the simulator sizes it (not for tail
        // calls or bpf-to-bpf calls).
        if let Some(j) = p.jited {
            assert_eq!(Some(u64::from(j)), real_jited, "{name}: bytes_jited, ours and the kernel's: {prog}");
            jited += 1;
        }
        for id in &p.map_ids {
            let m = &b.maps[id];
            let slots = if SLOTTED.contains(&m.def.kind.name()) { m.entries.len() } else { 0 };
            sim.push(format!(
                "map {} {} key {} value {} max {} flags {:#x} frozen {} slots {}",
                m.def.name.replace("yours", &name[..name.len().min(8)]),
                m.def.kind,
                m.def.key_size,
                m.def.value_size,
                m.def.max_entries,
                m.def.map_flags & !0x400,
                u8::from(m.frozen),
                slots
            ));
        }
        // The counts are compared for every program: dead code after a
        // branch on a frozen .rodata value goes (opt_remove_dead_code:
        // global_data), lookups are inlined (do_misc_fixups/map_gen_lookup:
        // map_in_map).
        assert_eq!(sim, real, "{name}: the simulator and the kernel");
        checked += 1;
    }
    assert_eq!(checked, 10);
    assert!(jited >= 6, "programs whose JIT size was compared: {jited}");
}

/// The value `bpftool prog run` reports ("Return value: 2, duration ...").
fn return_value(out: &str) -> Option<u64> {
    out.split("Return value: ").nth(1).and_then(|r| r.split(',').next()).and_then(|r| r.trim().parse().ok())
}

/// Map types whose values are slots holding other objects.
const SLOTTED: &[&str] = &["prog_array", "array_of_maps", "hash_of_maps"];

/// The value of `"key":"STRING"` in bpftool's JSON.
fn json_str(text: &str, key: &str) -> String {
    let Some(at) = text.find(&format!("\"{key}\":\"")).map(|a| a + key.len() + 4) else { return String::new() };
    text[at..].split('"').next().unwrap_or("").to_string()
}

/// The helper table against the running kernel: tests/oracle/helper_probe.py
/// loads `call N` for every program type it can load without an attach
/// target and every helper; the simulator allows exactly what it accepts.
#[test]
fn helpers_per_program_type_match_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let script = sim_tests::root().join("tests/oracle/helper_probe.py");
    let (ok, out) = sh(&format!("python3 {}", script.display()));
    assert!(ok, "the probe fails: {out}");
    let mut differ = Vec::new();
    let mut types = 0;
    for line in out.lines() {
        let Some((ty, ids)) = line.split_once(':') else { continue };
        let real: Vec<i32> = ids.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        for id in 1..212 {
            if real.contains(&id) != sim_core::bpf::helper_allowed(ty, id) {
                differ.push(format!("{ty}: {} ({id}) kernel {}", sim_core::bpf::helper_name(id).unwrap_or("?"), real.contains(&id)));
            }
        }
        types += 1;
    }
    assert!(types >= 25, "{out}");
    assert!(differ.is_empty(), "{} differences:\n{}", differ.len(), differ.join("\n"));
}

/// The global-variables lesson's commands on the real kernel and bpftool:
/// the pins pinmaps makes, the return values of the test runs, what `map
/// dump` prints for .bss, and the refusal to update the frozen .rodata.
#[test]
fn global_variables_lesson_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let obj = sim_tests::root().join("fixtures/bpf/corpus/global_counter.o");
    let (dir, maps) = (format!("/sys/fs/bpf/sim-gc-{}", std::process::id()), format!("/sys/fs/bpf/sim-gc-maps-{}", std::process::id()));
    let _pins = Pins(vec![dir.clone(), maps.clone()]);
    let pkt = std::env::temp_dir().join(format!("sim-gc-pkt-{}", std::process::id()));
    std::fs::write(&pkt, [0u8; 64]).expect("packet");
    let run = |n: u32| {
        let out = sh(&format!("bpftool prog run pinned {dir} data_in {} repeat {n}", pkt.display())).1;
        return_value(&out)
    };
    let (ok, out) = sh(&format!("bpftool prog load {} {dir} pinmaps {maps}", obj.display()));
    assert!(ok, "{out}");
    let pins = sh(&format!("ls {maps}")).1;
    let xlated = sh(&format!("bpftool prog dump xlated pinned {dir}")).1;
    let first = run(3);
    let dump = sh(&format!("bpftool map dump pinned {maps}/global_c_bss")).1;
    let (ok_bss, _) = sh(&format!("bpftool map update pinned {maps}/global_c_bss key 0 0 0 0 value 0 0 0 0 0 0 0 0"));
    let (ok_ro, out_ro) = sh(&format!("bpftool map update pinned {maps}/global_c_rodata key 0 0 0 0 value 9 0 0 0"));
    let second = run(1);
    let _ = std::fs::remove_file(&pkt);
    // The lesson's last program: the branch behind the frozen filter_pid is gone.
    let gd = format!("/sys/fs/bpf/sim-gd-{}", std::process::id());
    let _gd_pin = Pins(vec![gd.clone()]);
    let (ok_gd, out_gd) = sh(&format!("bpftool prog load {} {gd}", sim_tests::root().join("fixtures/bpf/corpus/global_data.o").display()));
    assert!(ok_gd, "{out_gd}");
    let gd_xlated = sh(&format!("bpftool prog dump xlated pinned {gd}")).1;
    let gd_show = sh(&format!("bpftool prog show pinned {gd}")).1;

    // The simulator, through the lesson itself.
    let r = scenarios::open::builtin("bpf-global-variables").expect("the lesson runs");
    let text = |i: usize| {
        let s = &r.steps[i];
        r.timeline.events(s.first_event, s.first_event + s.event_count).map(|e| e.text()).collect::<Vec<_>>().join("\n")
    };
    let retval = |i: usize| match r.steps[i].outcome {
        sim_core::Outcome::Retval { value } => Some(value),
        _ => None,
    };
    assert_eq!(pins.split_whitespace().collect::<Vec<_>>(), ["global_c_bss", "global_c_data", "global_c_rodata"], "pinmaps' names");
    assert_eq!((first, second), (retval(3), retval(7)), "the runs' return values");
    assert!(
        norm_maps(&text(2)).contains(&norm_maps(xlated.trim_end())),
        "bpftool prog dump xlated prints\n{xlated}\nthe simulator:\n{}",
        text(2)
    );
    assert!(text(4).contains(dump.trim()), "bpftool map dump prints\n{dump}\nthe simulator:\n{}", text(4));
    let last = r.steps.len() - 1;
    assert!(
        norm_maps(&text(last)).contains(&norm_maps(gd_xlated.trim_end())),
        "bpftool prints\n{gd_xlated}\nthe simulator:\n{}",
        text(last)
    );
    assert!(gd_show.contains("xlated 128B"), "the lesson's answer, 128 bytes: {gd_show}");
    assert!(ok_bss && !ok_ro, "only the frozen map refuses the update");
    assert!(out_ro.contains("Error: update failed: Operation not permitted"), "{out_ro}");
    assert!(text(6).contains("Error: update failed: Operation not permitted"), "{}", text(6));
}

/// One request of [`compare_mmaps`]; a map is named by its pin under the
/// pinmaps directory (empty: the program's pin).
enum Req {
    /// mmap of its fd: the protection, MAP_SHARED or not, the length, and
    /// a page to munmap from the new mapping.
    Map(&'static str, &'static str, bool, u64, Option<u64>),
    /// BPF_MAP_FREEZE of its fd.
    Freeze(&'static str),
    /// munmap of the n-th mapping that worked, whole.
    Unmap(usize),
}

/// Loads `obj` with `bpftool prog loadall ... pinmaps` on the real kernel
/// and in the simulator, then makes the same mmap requests in a process of
/// each (tests/oracle/bpf_mmap.py there, `bpf_map_mmap` here): which are
/// refused with which errno, what a load through each mapping reads, and
/// the /proc/PID/maps line of each mapping, addresses aside.
fn compare_mmaps(obj: &std::path::Path, cases: &[Req], fork: bool) {
    let name = obj.file_name().and_then(|n| n.to_str()).expect("a file name").to_string();
    let base = format!("/sys/fs/bpf/sim-mmap-{}", std::process::id());
    let (prog, maps) = (format!("{base}-p"), format!("{base}-m"));
    let _pins = Pins(vec![prog.clone(), maps.clone()]);
    let (ok, out) = sh(&format!("bpftool prog loadall {} {prog} pinmaps {maps}", obj.display()));
    assert!(ok, "{name}: {out}");
    let first_prog = sh(&format!("ls {prog}")).1.split_whitespace().next().map(String::from).unwrap_or_default();
    let pin = |dir: &str, map: &str, p: &str| if map.is_empty() { format!("{p}/{first_prog}") } else { format!("{dir}/{map}") };
    let args: Vec<String> = cases
        .iter()
        .map(|r| match r {
            Req::Map(m, prot, shared, len, hole) => {
                let hole = hole.map(|h| format!(":{h}")).unwrap_or_default();
                format!("{}:{prot}:{}:{len}{hole}", pin(&maps, m, &prog), if *shared { "shared" } else { "private" })
            }
            Req::Freeze(m) => format!("freeze:{}", pin(&maps, m, &prog)),
            Req::Unmap(n) => format!("unmap:{n}"),
        })
        .collect();
    let script = sim_tests::root().join("tests/oracle/bpf_mmap.py");
    let (ok, real) = sh(&format!("FORK={} python3 {} {}", u8::from(fork), script.display(), args.join(" ")));
    assert!(ok, "{name}: {real}");
    let real: Vec<String> = real.lines().map(|l| l.replace(&maps, "M").replace(&prog, "P")).collect();

    // Installed under its own name: libbpf names the global-data maps after the object.
    let mut m = sim_core::Machine::new(&sim_core::Config::default());
    m.install_file(&format!("/{name}"), std::sync::Arc::from(std::fs::read(obj).expect("fixture")));
    let load = BpfOp::BpftoolProgLoadall {
        object: format!("/{name}"),
        dir: "/sys/fs/bpf/p".into(),
        args: vec!["pinmaps".into(), "/sys/fs/bpf/m".into()],
        libbpf: Default::default(),
    };
    let loaded = m.apply(&load).expect("loads").outcome;
    assert_eq!(loaded, sim_core::Outcome::Ok, "{name}: bpftool prog loadall in the simulator");
    let pid = match m.apply(&sim_core::LinuxOp::Spawn { name: "reader".into() }).expect("spawns").outcome {
        sim_core::Outcome::Pid { pid } => pid,
        o => panic!("spawn: {o:?}"),
    };
    let mut fds = std::collections::BTreeMap::new();
    let mut sim = Vec::new();
    let mut mapped = Vec::new();
    let mut made: Vec<(u64, u64)> = Vec::new();
    for r in cases {
        let map = match r {
            Req::Map(map, ..) | Req::Freeze(map) => *map,
            Req::Unmap(n) => {
                let (a, len) = made[*n];
                assert_eq!(m.apply(&sim_core::LinuxOp::Munmap { pid, addr: a, len }).expect("munmap").outcome, sim_core::Outcome::Ok);
                mapped.retain(|(_, at, _)| *at != a);
                sim.push(format!("unmap {n}"));
                continue;
            }
        };
        let path = pin("/sys/fs/bpf/m", map, "/sys/fs/bpf/p");
        let fd = *fds.entry(path.clone()).or_insert_with(|| match m.apply(&BpfOp::BpfObjGet { pid, path: path.clone() }).expect("obj_get").outcome {
            sim_core::Outcome::Fd { fd } => fd,
            o => panic!("BPF_OBJ_GET {path}: {o:?}"),
        });
        let shown = path.replace("/sys/fs/bpf/m", "M").replace("/sys/fs/bpf/p", "P");
        let &Req::Map(_, prot, shared, len, hole) = r else {
            let result = match m.apply(&BpfOp::BpfMapFreeze { pid, fd }).expect("freeze").outcome {
                sim_core::Outcome::Ok => "ok".to_string(),
                sim_core::Outcome::Failed { errno, .. } => format!("{errno:?}"),
                o => panic!("freeze: {o:?}"),
            };
            sim.push(format!("freeze {shown} -> {result}"));
            continue;
        };
        let op = BpfOp::BpfMapMmap { pid, fd, len: Some(len), prot: sim_core::Prot::parse(prot).expect("prot"), shared };
        let result = match m.apply(&op).expect("mmap").outcome {
            sim_core::Outcome::Addr { addr } => {
                made.push((addr.0, len));
                let mut at = addr.0;
                if let Some(h) = hole {
                    let out = m.apply(&sim_core::LinuxOp::Munmap { pid, addr: at + h, len: 4096 }).expect("munmap").outcome;
                    assert_eq!(out, sim_core::Outcome::Ok, "munmap");
                    if h == 0 {
                        at += 4096;
                    }
                }
                mapped.push((shown.clone(), at, prot.starts_with("rw")));
                "ok".to_string()
            }
            sim_core::Outcome::Failed { errno, .. } => format!("{errno:?}"),
            o => panic!("mmap: {o:?}"),
        };
        sim.push(format!("{shown} {prot} {} {len} -> {result}", if shared { "shared" } else { "private" }));
    }
    let values = |m: &sim_core::Machine, who: &str, pid: sim_core::Pid, sim: &mut Vec<String>| {
        for (shown, addr, _) in &mapped {
            let b = m.state().linux.peek(pid, *addr, 8).expect("mapped");
            sim.push(format!("{who}{shown} {}", u64::from_le_bytes(b.try_into().expect("8 bytes"))));
        }
    };
    let maps_of = |m: &sim_core::Machine, pid: sim_core::Pid| -> Vec<String> {
        m.state().linux.maps(pid).unwrap_or_default().lines().filter(|l| l.contains("anon_inode:bpf-map")).map(String::from).collect()
    };
    values(&m, "value ", pid, &mut sim);
    sim.extend(maps_of(&m, pid));
    if fork {
        // dup_mmap: the child gets the mapping, its entries (VM_MIXEDMAP)
        // and a reference on the file; a store through it is the map's.
        let child = match m.apply(&sim_core::LinuxOp::Fork { pid }).expect("fork").outcome {
            sim_core::Outcome::Pid { pid } => pid,
            o => panic!("fork: {o:?}"),
        };
        values(&m, "child value ", child, &mut sim);
        for (_, addr, writable) in &mapped {
            if *writable {
                let store = sim_core::LinuxOp::Write { pid: child, addr: *addr, value: Some(9), size: 8, text: None };
                assert_eq!(m.apply(&store).expect("store").outcome, sim_core::Outcome::Ok, "the child's store");
            }
        }
        sim.extend(maps_of(&m, child));
        m.apply(&sim_core::LinuxOp::Exit { pid: child, code: 0 }).expect("the child exits");
        values(&m, "parent value ", pid, &mut sim);
    }
    // Addresses differ (ASLR, the reader's other mappings); the rest of each line must not.
    let unaddr =
        |l: &String| if l.contains("anon_inode:") { l.split_once(' ').map_or(l.clone(), |(_, rest)| rest.to_string()) } else { l.clone() };
    let (real, sim): (Vec<String>, Vec<String>) = (real.iter().map(unaddr).collect(), sim.iter().map(unaddr).collect());
    assert_eq!(sim, real, "{name}: the simulator's mmap of the maps, and the kernel's");
    // Every count still adds up in the simulator, and the reader's exit
    // (its mappings, then its fds) leaves the maps to their pins.
    sim_tests::frame_refcounts(&m).expect("frame counts");
    sim_tests::bpf_and_fd_counts(m.state()).expect("file and map counts");
    m.apply(&sim_core::LinuxOp::Exit { pid, code: 0 }).expect("exit");
    sim_tests::frame_refcounts(&m).expect("frame counts after exit");
    sim_tests::bpf_and_fd_counts(m.state()).expect("file and map counts after exit");
}

/// mmap of a BPF map's fd, as the global-variables lesson's reader does it:
/// a frozen map writable, PROT_EXEC, MAP_PRIVATE, past the values, length 0
/// and a program's fd are refused as the kernel refuses them; after fork
/// the child shares the mappings, and its store is what the parent reads.
#[test]
fn mmap_of_a_maps_values_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    compare_mmaps(
        &sim_tests::root().join("fixtures/bpf/corpus/global_counter.o"),
        &[
            Req::Map("global_c_bss", "rw-", true, 4096, None),
            Req::Map("global_c_rodata", "rw-", true, 4096, None),
            Req::Map("global_c_rodata", "r--", true, 4096, None),
            Req::Map("global_c_bss", "rw-", false, 4096, None),
            Req::Map("global_c_bss", "r--", true, 8192, None),
            Req::Map("global_c_rodata", "r-x", true, 4096, None),
            Req::Map("global_c_data", "rw-", true, 0, None),
            Req::Map("", "r--", true, 4096, None),
            Req::Map("", "r-x", true, 4096, None),
            Req::Map("", "r--", true, 0, None),
            // BPF_MAP_FREEZE: refused while a writable mapping exists (EBUSY),
            // allowed with a read-only one, then refused again (EPERM: a
            // frozen map's files lose write permission), and a writable
            // mmap is refused after it; a program's fd is not a map's.
            Req::Map("global_c_data", "rw-", true, 4096, None),
            Req::Freeze("global_c_data"),
            Req::Map("global_c_data", "r--", true, 4096, None),
            Req::Unmap(2),
            Req::Freeze("global_c_data"),
            Req::Freeze("global_c_data"),
            Req::Map("global_c_data", "rw-", true, 4096, None),
            Req::Freeze(""),
        ],
        true,
    );
}

/// A map whose values take two pages, from a tool nobody here wrote
/// (libbpf-tools' execsnoop, its 7732-byte .rodata): its first page
/// unmapped, the rest keeps its file offset (vm_pgoff: `00001000` in
/// /proc/PID/maps), a second mapping fills the gap, a writable one is
/// refused (frozen), a longer one too. (filetop's 4160-byte .bss would not
/// do: the machine's bpftool, Debian 12's 7.1.0, links Linux 6.1's copy of
/// libbpf ("v1.1"), which still makes every global-data map BPF_F_MMAPABLE;
/// libbpf's map_is_mmapable (October 2022, in the simulator's 1.4+) does
/// only for a section with a global variable, and filetop's has a static one.)
#[test]
fn mmap_of_a_two_page_map_matches_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let obj = sim_tests::root().join("target/corpus/libbpf-tools-objects/execsnoop.bpf.o");
    if !obj.exists() {
        eprintln!("skipped: {} is missing (cargo xtask setup fetches Debian's libbpf-tools)", obj.display());
        return;
    }
    compare_mmaps(
        &obj,
        &[
            Req::Map("execsnoo_rodata", "r--", true, 8192, Some(0)),
            Req::Map("execsnoo_rodata", "r--", true, 8192, None),
            Req::Map("execsnoo_rodata", "rw-", true, 8192, None),
            Req::Map("execsnoo_rodata", "r--", true, 12288, None),
        ],
        false,
    );
}

/// A tail call through a prog array libbpf filled from `.values`: with the
/// prog array pinned (so that bpftool's exit does not empty it), the entry
/// program's test run ends in the program in the slot (XDP_PASS, 2), on the
/// real kernel and in the simulator.
#[test]
fn tail_calls_match_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() {
        return;
    }
    let obj = sim_tests::root().join("fixtures/bpf/corpus/prog_array.o");
    let (dir, maps) = (format!("/sys/fs/bpf/sim-pa-{}", std::process::id()), format!("/sys/fs/bpf/sim-pa-maps-{}", std::process::id()));
    let _pins = Pins(vec![dir.clone(), maps.clone()]);
    let pkt = std::env::temp_dir().join(format!("sim-pa-pkt-{}", std::process::id()));
    std::fs::write(&pkt, [0u8; 64]).expect("packet");
    let (ok, out) = sh(&format!("bpftool prog loadall {} {dir} pinmaps {maps}", obj.display()));
    assert!(ok, "{out}");
    let out = sh(&format!("bpftool prog run pinned {dir}/entry data_in {} repeat 1", pkt.display())).1;
    let _ = std::fs::remove_file(&pkt);
    let real = return_value(&out);

    let mut m = sim_with(&obj);
    let load = BpfOp::BpftoolProgLoadall {
        object: "/o".into(),
        dir: "/sys/fs/bpf/pa".into(),
        args: vec!["pinmaps".into(), "/sys/fs/bpf/pam".into()],
        libbpf: Default::default(),
    };
    assert_eq!(m.apply(&load).expect("loads").outcome, sim_core::Outcome::Ok);
    let run = m.apply(&BpfOp::BpfTestRun { pin: "/sys/fs/bpf/pa/entry".into(), repeat: 1 }).expect("runs").outcome;
    assert_eq!(real, Some(2), "the kernel: {out}");
    assert_eq!(run, sim_core::Outcome::Retval { value: 2 });
}

/// Programs whose rewrite (`bytes_xlated`) the simulator does not yet get
/// right, with the reason; the test fails when one of them starts to match,
/// so that the list stays true.
const XLATED_GAPS: &[(&str, &str)] = &[];

/// Programs whose JIT image size (`bytes_jited`) the simulator gets wrong,
/// with the reason (same rule as [`XLATED_GAPS`]).
const JITED_GAPS: &[(&str, &str)] = &[];

/// Programs the simulator's JIT model gives no size (`bytes_jited`), with
/// the reason (same rule as [`XLATED_GAPS`]).
const UNSIZED: &[(&str, &str)] = &[];

/// Programs whose `bpftool prog dump xlated` the simulator does not yet
/// write as bpftool does, with the reason (same rule as [`XLATED_GAPS`]).
const DUMP_GAPS: &[(&str, &str)] = &[];

/// `map[id:N]` with each distinct id replaced by its order of appearance.
fn norm_maps(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("map[id:") {
        out.push_str(&rest[..at + 7]);
        rest = &rest[at + 7..];
        let end = rest.find(']').unwrap_or(rest.len());
        let id = rest[..end].to_string();
        let k = seen.iter().position(|s| *s == id).unwrap_or_else(|| {
            seen.push(id.clone());
            seen.len() - 1
        });
        out.push_str(&format!("M{k}"));
        rest = &rest[end..];
    }
    out.push_str(rest);
    // The opcodes of an ld_imm64 of a map hold its id too.
    out.lines().filter(|l| !l.starts_with("       18 ")).collect::<Vec<_>>().join("\n")
}

/// The first line where two texts differ, with its neighbours.
fn first_difference(ours: &str, real: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), real.lines().collect());
    let k = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)).unwrap_or(0);
    let from = k.saturating_sub(2);
    format!("  ours: {:?}\n  real: {:?}", &a[from..(k + 2).min(a.len())], &b[from..(k + 2).min(b.len())])
}

/// Every program of the corpus (Debian's libbpf-tools and the project's
/// fixtures: XDP, tc, cgroup, socket and the rest of `sections.o` among
/// them), loaded by the real `bpftool prog loadall` and by the simulator's: the instructions the kernel keeps after
/// the verifier's rewrites (`bytes_xlated`: dead code removed, lookups
/// inlined, divisions checked) and the x86-64 JIT's image size
/// (`bytes_jited`, where the simulator sizes it) are the same, and so is
/// what `bpftool prog dump xlated` prints of each, plain, with `linum` and
/// with `opcodes`: every instruction after the rewrites, each call's
/// kernel function, each bpf-to-bpf call's JIT image name (its tag), the
/// signatures from func_info and the C source lines from line_info where
/// the verifier moved them.
#[test]
fn corpus_programs_are_rewritten_jited_and_dumped_as_by_the_real_kernel() {
    let _one_at_a_time = kernel();
    if !bpf_ready() || !std::fs::read_to_string("/proc/sys/kernel/osrelease").is_ok_and(|r| r.starts_with("6.18.44-")) {
        eprintln!("skipped: needs Linux 6.18.44, the modelled kernel (the sizes are that version's)");
        return;
    }
    let dir = format!("/sys/fs/bpf/sim-tools-{}", std::process::id());
    let _pins = Pins(vec![dir.clone()]);
    let (mut progs, mut jited, mut dumped, mut problems, mut still_gaps) = (0, 0, 0, Vec::new(), Vec::new());
    let tools: Vec<_> = sim_tests::bpf_corpus();
    for obj in &tools {
        let tool = obj.file_name().expect("name").to_string_lossy().into_owned();
        let _ = sh(&format!("rm -rf {dir}"));
        // Objects the kernel refuses are compared by libbpf_core.rs.
        if !sh(&format!("bpftool prog loadall {} {dir}", obj.display())).0 {
            continue;
        }
        let mut real = std::collections::BTreeMap::new();
        let mut real_dumps = std::collections::BTreeMap::new();
        for name in sh(&format!("ls {dir}")).1.split_whitespace() {
            let j = sh(&format!("bpftool -j prog show pinned {dir}/{name}")).1;
            real.insert(name.to_string(), (json_num(&j, "bytes_xlated").unwrap_or(0), json_num(&j, "bytes_jited")));
            let plain = sh(&format!("bpftool prog dump xlated pinned {dir}/{name}")).1;
            let linum = sh(&format!("bpftool prog dump xlated pinned {dir}/{name} linum")).1;
            let opcodes = sh(&format!("bpftool prog dump xlated pinned {dir}/{name} opcodes")).1;
            real_dumps.insert(name.to_string(), [plain, linum, opcodes]);
        }
        let _ = sh(&format!("rm -rf {dir}"));
        let mut m = sim_with(obj);
        let load = BpfOp::BpftoolProgLoadall {
            object: "/o".into(),
            dir: "/sys/fs/bpf/t".into(),
            args: vec![],
            libbpf: sim_core::bpf::Libbpf::V1_0,
        };
        let outcome = m.apply(&load).map(|a| a.outcome);
        if outcome != Ok(sim_core::Outcome::Ok) {
            problems.push(format!("{tool}: the kernel loads it, the simulator: {outcome:?}"));
            continue;
        }
        let b = &m.state().bpf;
        for (name, (xlated, real_jited)) in real {
            let Some(sim_core::bpf::BpfRef::Prog(id)) = b.pins.get(&format!("/sys/fs/bpf/t/{name}")).copied() else {
                problems.push(format!("{tool}/{name}: not pinned by the simulator"));
                continue;
            };
            let p = &b.progs[&id];
            progs += 1;
            // bpftool prog dump xlated, plain and with linum and opcodes:
            // the same text, map ids aside (each side's own, numbered in
            // order of appearance).
            let real_dump = &real_dumps[&name];
            let in_gaps = DUMP_GAPS.iter().any(|(n, _)| *n == format!("{tool}/{name}"));
            match (p.dump.unknown.as_ref(), in_gaps) {
                (Some(why), false) => problems.push(format!("{tool}/{name}: no dump: {why}")),
                (Some(_), true) => {}
                (None, gap) => {
                    let ours = [p.dump.text(false, false), p.dump.text(true, false), p.dump.text(false, true)];
                    let differs = (0..3).find(|&k| norm_maps(&ours[k]) != norm_maps(&real_dump[k]));
                    match (differs.is_none(), gap) {
                        (false, false) => {
                            let k = differs.unwrap_or(0);
                            problems.push(format!(
                                "{tool}/{name}: xlated dump{} differs:\n{}",
                                ["", " linum", " opcodes"][k],
                                first_difference(&norm_maps(&ours[k]), &norm_maps(&real_dump[k]))
                            ))
                        }
                        (true, true) => still_gaps.push(format!("{tool}/{name} (dump)")),
                        _ => dumped += 1,
                    }
                }
            }
            let gap = |list: &[(&str, &str)]| list.iter().any(|(n, _)| *n == format!("{tool}/{name}"));
            match (p.xlated as u64 == xlated, gap(XLATED_GAPS)) {
                (false, false) => problems.push(format!("{tool}/{name}: bytes_xlated {} (kernel {xlated})", p.xlated)),
                (true, true) => still_gaps.push(format!("{tool}/{name} (xlated)")),
                _ => {}
            }
            let unsized_ok = UNSIZED.iter().any(|(n, _)| *n == format!("{tool}/{name}"));
            match (p.jited.is_none(), unsized_ok) {
                (true, false) => problems.push(format!("{tool}/{name}: no JIT size (kernel {real_jited:?})")),
                (false, true) => still_gaps.push(format!("{tool}/{name} (unsized)")),
                _ => {}
            }
            if let Some(j) = p.jited {
                jited += 1;
                match (Some(u64::from(j)) == real_jited, gap(JITED_GAPS)) {
                    (false, false) => problems.push(format!("{tool}/{name}: bytes_jited {j} (kernel {real_jited:?})")),
                    (true, true) => still_gaps.push(format!("{tool}/{name} (jited)")),
                    _ => {}
                }
            }
        }
    }
    eprintln!("{progs} programs compared, {jited} with a JIT size, {dumped} dumps equal");
    assert!(progs >= 130, "only {progs} programs of {} objects loaded", tools.len());
    // Programs with bpf-to-bpf calls are sized too (jit_subprogs, one image per function).
    assert_eq!(jited + UNSIZED.len(), progs, "every program but those listed gets a JIT size");
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
    assert!(still_gaps.is_empty(), "listed as gaps but now equal to the kernel's (remove them from the list): {still_gaps:?}");
}
