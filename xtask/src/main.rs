//! Project tasks, one command locally and in CI:
//!
//! - `cargo xtask serve`: build the web app and serve it on http://127.0.0.1:8080 (PORT overrides)
//! - `cargo xtask test`: every test: native, wasm in Node, wasm in headless Chromium, end to end
//! - `cargo xtask build-web`: build the site into web/dist and print its download size
//! - `cargo xtask bench`: native benchmarks (numbers for the README)
//! - `cargo xtask fuzz TARGET SECONDS`: one fuzz target for a long run (`cargo xtask fuzz list` names them)
//! - `cargo xtask system-image ROOT LABEL OUT`: the system image from an extracted package tree
//!   (`fixtures/system/build.sh` runs it)
//! - `cargo xtask kernel-btf [--force]`: the reference kernel's BTF, the subset CO-RE needs, into
//!   sim-core/data/vmlinux.kbtf (on kernel 6.18.44-fc-v1272 only, unless --force)
//! - `cargo xtask kallsyms [--force]`: where that kernel keeps the functions BPF calls reach, into
//!   sim-core/data/kallsyms (same rule)
//!
//! Each task installs what it needs when it is missing (the wasm32 target, the
//! wasm-bindgen CLI at the version Cargo.lock pins, Chromium and chromedriver
//! from Debian, npm packages into tools/) and downloads nothing else.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod kallsyms;
mod kernel_btf;

const WASM_BINDGEN_VERSION: &str = "0.2.130";
const TARGET: &str = "wasm32-unknown-unknown";
/// The cargo fuzz targets in fuzz/fuzz_targets/.
const FUZZ_TARGETS: &[&str] =
    &["exec_elf", "dynamic_elf", "bpf_object", "firmware", "lesson", "verifier_vm", "thumb", "windows", "recording"];
/// Seconds of each fuzz target in `cargo xtask test`.
const FUZZ_SHORT_RUN: u32 = 30;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

type R = Result<(), String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("serve") => build_web().and_then(|_| serve()),
        Some("build-web") => build_web(),
        Some("e2e") => e2e(),
        Some("bench") => bench(),
        Some("setup") => setup(true),
        Some("fuzz") if args.get(1).map(String::as_str) == Some("list") => {
            println!("{}", FUZZ_TARGETS.join("\n"));
            Ok(())
        }
        Some("fuzz") => match (args.get(1), args.get(2).and_then(|s| s.parse().ok())) {
            (Some(t), Some(secs)) if FUZZ_TARGETS.contains(&t.as_str()) => fuzz(t, secs).map(|_| ()),
            _ => Err(format!("usage: cargo xtask fuzz TARGET SECONDS; the targets are {}", FUZZ_TARGETS.join(", "))),
        },
        Some("system-image") => match (args.get(1), args.get(2), args.get(3)) {
            (Some(root), Some(label), Some(out)) => system_image(Path::new(root), label, Path::new(out)),
            _ => Err("usage: cargo xtask system-image ROOT LABEL OUT".into()),
        },
        Some("kernel-btf") => kernel_btf::run(&root(), &args[1..]),
        Some("kallsyms") => kallsyms::run(&root(), &args[1..]),
        _ => Err("usage: cargo xtask (serve | test | build-web | e2e | bench | setup | fuzz TARGET SECONDS | system-image ROOT LABEL OUT | kernel-btf [--force] | kallsyms [--force])"
            .into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: &mut Command) -> R {
    eprintln!("+ {cmd:?}");
    let st = cmd.current_dir(root()).status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({st})"))
    }
}

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    Command::new(cmd).args(args).output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn have(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Mounts the BPF file system at /sys/fs/bpf when it is not there (as
/// systemd does at boot; a fresh VM here may not have it): the kernel
/// oracles pin objects there and skip without it. Only as root; a failure
/// is reported, not fatal (the oracles then say they skipped).
fn mount_bpffs() {
    let mounted = std::fs::read_to_string("/proc/mounts").is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf ")));
    if mounted || output("id", &["-u"]).is_none_or(|u| u.trim() != "0") {
        return;
    }
    if !Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]).status().is_ok_and(|s| s.success()) {
        eprintln!("note: could not mount bpffs at /sys/fs/bpf; the kernel oracles will skip");
    }
}

/// The Debian package whose executables embed the BPF objects of bcc's
/// libbpf-tools (skeletons): objects nobody on the team wrote, for the
/// libbpf oracle test. Unpacked into target/corpus/libbpf-tools once.
const LIBBPF_TOOLS: &str = "libbpf-tools=0.26.0+ds-1";

fn libbpf_tools_corpus() -> R {
    let dir = root().join("target/corpus/libbpf-tools");
    if dir.join("usr/sbin/execsnoop").exists() {
        return Ok(());
    }
    let dl = root().join("target/corpus");
    std::fs::create_dir_all(&dl).map_err(|e| e.to_string())?;
    // apt-get download writes into the working directory.
    run(Command::new("sh").arg("-c").arg(format!("cd target/corpus && apt-get download {LIBBPF_TOOLS}")))?;
    let deb = std::fs::read_dir(&dl)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libbpf-tools_")))
        .ok_or("apt-get download left no libbpf-tools .deb")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))
}

/// Installs the toolchain pieces; `browser` adds Chromium, chromedriver and the npm tools.
fn setup(browser: bool) -> R {
    if !output("rustup", &["target", "list", "--installed"]).unwrap_or_default().contains(TARGET) {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    let v = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if !v.contains(WASM_BINDGEN_VERSION) {
        // --locked fails here (a locked prerelease dependency is not served).
        run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION]))?;
    }
    if browser {
        // Chromium for the browser tests; QEMU and gdb as the reference
        // Cortex-M0 the microcontroller interpreter is checked against;
        // bpftool to compare BPF lifetimes with the running kernel; gdb to
        // stop real programs at their first instruction (exec's oracle).
        // libbpf-dev: the real libbpf the object reader is compared with
        // (tests/oracle/bpf_open.c).
        let libbpf = std::path::Path::new("/usr/include/bpf/libbpf.h").exists();
        if !(libbpf
            && have("chromium")
            && have("chromedriver")
            && have("qemu-system-arm")
            && have("gdb-multiarch")
            && have("gdb")
            && have("bpftool")
            && have("arm-none-eabi-addr2line"))
        {
            run(Command::new("apt-get").arg("update"))?;
            run(Command::new("apt-get").args([
                "install",
                "-y",
                "chromium",
                "chromium-driver",
                "qemu-system-arm",
                "gdb-multiarch",
                "gdb",
                "bpftool",
                "libbpf-dev",
                // addr2line: the oracle for the firmware's DWARF line table.
                "binutils-arm-none-eabi",
            ]))?;
        }
        libbpf_tools_corpus()?;
        mount_bpffs();
    }
    // binaryen's wasm-opt: the page is size-optimised by every build
    // (`serve` as well as the tests), so it is installed by every setup;
    // playwright-core (and axe-core, the accessibility check) only for the
    // browser tests.
    let tools = root().join("tools");
    let want: &[&str] = if browser { &["binaryen@132", "playwright-core@1", "axe-core@4"] } else { &["binaryen@132"] };
    let missing = want.iter().any(|p| !tools.join("node_modules").join(p.split('@').next().unwrap_or(p)).exists());
    if missing {
        std::fs::create_dir_all(&tools).map_err(|e| e.to_string())?;
        run(Command::new("npm").args(["install", "--no-audit", "--no-fund", "--prefix", "tools"]).args(want))?;
    }
    Ok(())
}

fn test() -> R {
    setup(true)?;
    // Native: unit, golden, property, CLI and real-kernel tests.
    run(Command::new("cargo").args(["test", "--workspace", "--exclude", "web"]))?;
    // A short run of every fuzz target (a crash fails the build).
    match fuzz_setup() {
        Ok(()) => {
            for t in FUZZ_TARGETS {
                fuzz(t, FUZZ_SHORT_RUN)?;
            }
        }
        Err(e) => eprintln!("note: fuzzing skipped: {e}"),
    }
    // The same core and runner compiled to wasm32, run in Node.
    run(Command::new("cargo").args(["test", "--target", TARGET, "-p", "sim-core", "-p", "scenarios", "--tests", "--", "--nocapture"]))?;
    // An instructor's lesson with its own files, through the same wasm path
    // (LESSON_FILE, which build.rs embeds with the files it names).
    run(Command::new("cargo")
        .args(["test", "--target", TARGET, "-p", "scenarios", "--test", "wasm", "--", "the_instructors_lesson_file_holds"])
        .env("LESSON_FILE", root().join("examples/instructor/lesson.toml")))?;
    // Web components in headless Chromium.
    run(Command::new("cargo")
        .args(["test", "--target", TARGET, "-p", "web", "--features", "linked", "--tests"])
        .env("CHROMEDRIVER", "/usr/bin/chromedriver"))?;
    // Lints, native and wasm.
    run(Command::new("cargo").args(["clippy", "--workspace", "--exclude", "web", "--all-targets", "--", "-D", "warnings"]))?;
    run(Command::new("cargo").args([
        "clippy",
        "--target",
        TARGET,
        "-p",
        "web",
        "--features",
        "linked",
        "--tests",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(Command::new("cargo").args([
        "clippy",
        "--target",
        TARGET,
        "-p",
        "web",
        "-p",
        "engine",
        "-p",
        "narrator",
        "-p",
        "sim-core",
        "-p",
        "scenarios",
        "--",
        "-D",
        "warnings",
    ]))?;
    e2e()
}

/// End to end: the real page, built and served, driven in headless Chromium.
fn e2e() -> R {
    build_web()?;
    record_million(&root().join("web/dist/lessons"))?;
    let port = 18000 + (std::process::id() % 1000) as u16;
    let dist = root().join("web/dist");
    std::thread::spawn(move || {
        let _ = serve_dir(&dist, port);
    });
    run(Command::new("node").arg("web/e2e/e2e.mjs").env("BASE_URL", format!("http://127.0.0.1:{port}/")))?;
    npm_package(port)
}

/// The npm package: packed from web/dist, installed into a scratch course
/// site (target/npm/site), whose page embeds a lesson from
/// node_modules/memsim-lesson and is driven in Chromium; and `memsim
/// check` in Node on every built-in lesson and the instructor example,
/// compared with `scenarios run`.
fn npm_package(site_port: u16) -> R {
    let work = target_dir()?.join("npm");
    let _ = std::fs::remove_dir_all(&work);
    let site = work.join("site");
    std::fs::create_dir_all(&site).map_err(|e| e.to_string())?;
    run(Command::new("npm").args(["pack", "--silent", "--pack-destination"]).arg(&work).arg(root().join("web/dist")))?;
    let tarball = files_under(&work, "")?.into_iter().find(|f| f.ends_with(".tgz")).ok_or("npm pack wrote no tarball")?;
    std::fs::write(site.join("package.json"), "{ \"name\": \"course-site\", \"private\": true }\n").map_err(|e| e.to_string())?;
    run(Command::new("npm").args(["install", "--offline", "--no-audit", "--no-fund", "--prefix"]).arg(&site).arg(work.join(tarball)))?;
    std::fs::copy(root().join("web/e2e/npm-site.html"), site.join("index.html")).map_err(|e| format!("npm-site.html: {e}"))?;
    run(Command::new("cargo").args(["build", "-p", "scenarios", "--bin", "scenarios"]))?;
    let port = site_port + 1;
    let served = site.clone();
    std::thread::spawn(move || {
        let _ = serve_dir(&served, port);
    });
    run(Command::new("node")
        .arg("web/e2e/npm.mjs")
        .env("SITE_URL", format!("http://127.0.0.1:{port}/"))
        .env("SITE_DIR", &site)
        .env("SCENARIOS_BIN", target_dir()?.join("debug/scenarios")))
}

/// Where cargo puts build outputs: `target_directory` as `cargo metadata`
/// reports it (CARGO_TARGET_DIR, `build.target-dir` or ./target).
fn target_dir() -> Result<PathBuf, String> {
    let meta = output("cargo", &["metadata", "--format-version", "1", "--no-deps"]).ok_or("cargo metadata failed")?;
    let key = "\"target_directory\":\"";
    let start = meta.find(key).ok_or("cargo metadata: no target_directory")? + key.len();
    let end = meta[start..].find('"').ok_or("cargo metadata: unreadable target_directory")? + start;
    Ok(PathBuf::from(meta[start..end].replace("\\\\", "\\")))
}

/// Builds the site into web/dist: the viewer (the page's first download),
/// the narrator (the events' sentences, imported right after the first
/// render), the engine module (imported only when a student opens a file of
/// their own), and a recording of every built-in lesson with the picker's
/// index.
fn build_web() -> R {
    setup(false)?;
    run(Command::new("cargo").args(["build", "--release", "--target", TARGET, "-p", "web", "-p", "narrator"]))?;
    run(Command::new("cargo").args(["build", "--profile", "engine", "--target", TARGET, "-p", "engine"]))?;
    let target = target_dir()?;
    let dist = root().join("web/dist");
    let _ = std::fs::remove_dir_all(&dist);
    for (krate, profile, out) in
        [("web", "release", dist.clone()), ("narrator", "release", dist.join("narrator")), ("engine", "engine", dist.join("engine"))]
    {
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        let wasm = target.join(TARGET).join(format!("{profile}/{krate}.wasm"));
        run(Command::new("wasm-bindgen").arg(&wasm).args(["--target", "web", "--no-typescript", "--out-dir"]).arg(&out))?;
        optimise(&out.join(format!("{krate}_bg.wasm")))?;
    }
    for f in ["index.html", "course-example.html", "lesson.schema.json"] {
        std::fs::copy(root().join("web").join(f), dist.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    let css = std::fs::read_to_string(root().join("web/style.css")).map_err(|e| format!("style.css: {e}"))?;
    std::fs::write(dist.join("style.css"), minify_css(&css)).map_err(|e| format!("style.css: {e}"))?;
    // The <memsim-lesson> element and the npm package around the site:
    // `npm pack web/dist` makes it (memsim.js, its types, `memsim check`).
    std::fs::create_dir_all(dist.join("bin")).map_err(|e| e.to_string())?;
    for f in ["memsim.js", "memsim.d.ts", "package.json", "bin/memsim.mjs"] {
        std::fs::copy(root().join("web/npm").join(f), dist.join(f)).map_err(|e| format!("web/npm/{f}: {e}"))?;
    }
    // An instructor's lesson with its own files beside it (?src=examples/instructor/lesson.toml).
    let ex = dist.join("examples/instructor");
    std::fs::create_dir_all(&ex).map_err(|e| e.to_string())?;
    for f in ["lesson.toml", "hello", "blink.elf", "count.bpf.o", "hello.c", "blink.c", "blink.ld", "count.bpf.c"] {
        std::fs::copy(root().join("examples/instructor").join(f), ex.join(f)).map_err(|e| format!("examples/instructor/{f}: {e}"))?;
    }
    let lessons = record_lessons(&dist.join("lessons"))?;
    // The system image, fetched only for a dynamically linked program.
    std::fs::create_dir_all(dist.join("system")).map_err(|e| e.to_string())?;
    std::fs::copy(root().join("fixtures/system/debian-12.sysimg"), dist.join(scenarios::system::URL))
        .map_err(|e| format!("system image: {e}"))?;

    let size = |rel: &str| {
        let p = dist.join(rel);
        (std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0), gzip_size(&p))
    };
    let mut initial: Vec<String> = ["index.html", "style.css", "web.js", "web_bg.wasm"].map(String::from).to_vec();
    initial.extend(files_under(&dist, "snippets")?);
    let mut total = 0;
    let mut lines = Vec::new();
    for f in &initial {
        let (raw, gz) = size(f);
        total += gz;
        lines.push(format!("  {f:<44} {raw:>8} B raw {gz:>8} B gzip"));
    }
    let mut later = Vec::new();
    for f in ["narrator/narrator.js", "narrator/narrator_bg.wasm", "engine/engine.js", "engine/engine_bg.wasm", scenarios::system::URL] {
        let (raw, gz) = size(f);
        later.push(format!("  {f:<44} {raw:>8} B raw {gz:>8} B gzip"));
    }
    for id in &lessons {
        let (raw, gz) = size(&format!("lessons/{id}.trace"));
        later.push(format!("  lessons/{:<36} {raw:>8} B raw {gz:>8} B gzip", format!("{id}.trace")));
    }
    eprintln!(
        "initial download (the viewer):\n{}\n  total{:>53} B gzip ({:.1} KB; budget 250 KB)\n\
         fetched later (the narrator right after the first render; the engine when a student opens a file, the system image for a dynamic program; one recording per built-in lesson opened):\n{}",
        lines.join("\n"),
        total,
        total as f64 / 1024.0,
        later.join("\n")
    );
    Ok(())
}

/// Shrinks a wasm file with binaryen's wasm-opt (from npm, installed by setup).
fn optimise(wasm: &Path) -> R {
    let opt = root().join("tools/node_modules/.bin/wasm-opt");
    if !opt.exists() {
        eprintln!("note: wasm-opt not installed (run `cargo xtask setup`); the wasm is not size-optimised");
        return Ok(());
    }
    run(Command::new(&opt)
        .arg(wasm)
        .args([
            "-Oz",
            "--converge",
            // Rust's wasm32 puts nothing in the first 1 KiB of memory (the
            // stack grows down to it from 1 MiB): constant offsets fold into
            // loads and stores (-2 KB gzip in the viewer).
            "--low-memory-unused",
            "--strip-debug",
            "--strip-producers",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "-o",
        ])
        .arg(wasm))
}

/// Runs every built-in lesson and writes `ID.trace` (its recording), each
/// of its variants' (`ID.compare-N.trace`, N from 1) and
/// `index.txt` (id, title, summary: one lesson per line, tab-separated) into
/// `dir`. Returns the ids.
fn record_lessons(dir: &Path) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut index = String::new();
    let mut ids = Vec::new();
    for (id, _) in scenarios::lesson::BUILTIN {
        let run = scenarios::open::builtin(id)?;
        let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        index.push_str(&format!("{id}\t{}\t{}\n", one_line(&run.lesson.title), one_line(&run.lesson.summary)));
        // Its variants, run beside it in the page's compare mode.
        for k in 0..run.lesson.compare.len() {
            let other = scenarios::Recording::beside(&run, scenarios::open::builtin_variant(id, k)?);
            std::fs::write(dir.join(format!("{id}.compare-{}.trace", k + 1)), other.encode()).map_err(|e| format!("{id}: {e}"))?;
        }
        let rec = scenarios::Recording::from(run);
        std::fs::write(dir.join(format!("{id}.trace")), rec.encode()).map_err(|e| format!("{id}: {e}"))?;
        ids.push(id.to_string());
    }
    // The seeded exercises follow (made in the page by the engine module).
    for (id, what) in scenarios::exercise::EXERCISES {
        let l = scenarios::exercise::generate(id, 1)?;
        let title = l.title.split(" (seed").next().unwrap_or(&l.title).to_string();
        index.push_str(&format!("{id}\tExercise: {title}\tSeeded: {what}; ?lesson={id}&seed=N gives another\n"));
    }
    std::fs::write(dir.join("index.txt"), index).map_err(|e| e.to_string())?;
    Ok(ids)
}

/// Writes `e2e-1m.trace`, a recording of about a million events (the
/// Reset handler copying 64 KiB of .data, thirteen times), for the
/// end-to-end test's load and jumps and the load benchmark; only `cargo
/// xtask test` and `bench` write it.
fn record_million(dir: &Path) -> R {
    let fw = std::fs::read(root().join("fixtures/mcu/bigdata.elf")).map_err(|e| format!("bigdata.elf: {e}"))?;
    let mut toml = String::from("id = \"e2e-1m\"\ntitle = \"A million events\"\nsummary = \"s\"\n");
    toml += "[[steps]]\nsay = \"load\"\ndo = { op = \"mcu_load\", path = \"/fw/bigdata.elf\", ram_kib = 128 }\n";
    for _ in 0..13 {
        toml += "[[steps]]\nsay = \"reset\"\ndo = { op = \"mcu_reset\" }\n";
        toml += "[[steps]]\nsay = \"copy\"\ndo = { op = \"mcu_run\", until = \"main\", max = 100000 }\n";
    }
    let lesson = scenarios::parse_lesson(&toml).map_err(|e| e.to_string())?;
    let files = [("/fw/bigdata.elf".to_string(), std::sync::Arc::from(fw))].into_iter().collect();
    let run = scenarios::run_with_files(&lesson, &files).map_err(|e| e.to_string())?;
    let events = run.timeline.len();
    let bytes = scenarios::Recording::from(run).encode();
    eprintln!("e2e-1m.trace: {events} events, {} bytes", bytes.len());
    std::fs::write(dir.join("e2e-1m.trace"), bytes).map_err(|e| e.to_string())
}

/// Files under `dist/sub`, relative to `dist`.
fn files_under(dist: &Path, sub: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut todo = vec![dist.join(sub)];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(rel) = p.strip_prefix(dist) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn gzip_size(p: &Path) -> u64 {
    Command::new("gzip").args(["-9", "-c"]).arg(p).output().map(|o| o.stdout.len() as u64).unwrap_or(0)
}

/// The stylesheet without its comments and with runs of blanks made one
/// (part of the first download). Strings in the sheet keep their blanks.
fn minify_css(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '/') if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for d in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            (None, c) if c.is_whitespace() => {
                while chars.peek().is_some_and(|d| d.is_whitespace()) {
                    chars.next();
                }
                let prev = out.chars().last().unwrap_or('{');
                let next = chars.peek().copied().unwrap_or('}');
                if !"{};:,>".contains(prev) && !"{};,>".contains(next) {
                    out.push(' ');
                }
            }
            (None, c) => out.push(c),
        }
    }
    out
}

fn serve() -> R {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    eprintln!("serving web/dist on http://127.0.0.1:{port}/ (Ctrl-C to stop)");
    serve_dir(&root().join("web/dist"), port)
}

/// A tiny static file server (GET only), enough for the app and its tests.
fn serve_dir(dir: &Path, port: u16) -> R {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("port {port}: {e}"))?;
    for stream in listener.incoming().flatten() {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || handle(stream, &dir));
    }
    Ok(())
}

fn handle(mut s: TcpStream, dir: &Path) {
    let mut reader = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
    let rel = if path == "/" { "index.html".to_string() } else { path.trim_start_matches('/').to_string() };
    let file = dir.join(&rel);
    let ok = !rel.contains("..") && file.is_file();
    let (status, body) = if ok {
        let mut b = Vec::new();
        let _ = std::fs::File::open(&file).and_then(|mut f| f.read_to_end(&mut b));
        ("200 OK", b)
    } else {
        ("404 Not Found", b"not found".to_vec())
    };
    let ctype = match rel.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("toml" | "txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(&body);
}

/// cargo-fuzz needs libFuzzer's compiler flags, which rustc accepts only on
/// nightly; this machine has one stable toolchain, so the fuzz builds set
/// RUSTC_BOOTSTRAP=1 (the way rustc's own build uses unstable flags), with
/// no sanitizer (the code has no `unsafe`), debug assertions and overflow
/// checks on.
fn fuzz_setup() -> R {
    if output("cargo", &["fuzz", "--version"]).is_none() {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--version", "0.13.2"]))?;
    }
    Ok(())
}

/// Runs fuzz target `t` for `secs` seconds on its corpus (fuzz/corpus/T,
/// grown by runs, not committed) seeded from fuzz/seeds/T (committed).
/// Returns libFuzzer's final line (runs, coverage).
fn fuzz(t: &str, secs: u32) -> Result<String, String> {
    fuzz_setup()?;
    let dir = root().join("fuzz");
    std::fs::create_dir_all(dir.join("corpus").join(t)).map_err(|e| e.to_string())?;
    eprintln!("+ cargo fuzz run {t} ({secs} s)");
    let out = Command::new("cargo")
        .current_dir(&dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--sanitizer", "none", t])
        .arg(format!("corpus/{t}"))
        .arg(format!("seeds/{t}"))
        .args(["--", &format!("-max_total_time={secs}"), "-timeout=20", "-rss_limit_mb=2048", "-print_final_stats=1"])
        .output()
        .map_err(|e| format!("cargo fuzz: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let last_cov = log.lines().rfind(|l| l.contains(" cov: ")).unwrap_or("");
    let done = log.lines().find(|l| l.starts_with("Done ")).unwrap_or("");
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!("fuzz target {t} failed:\n{}", tail.join("\n")));
    }
    let line = format!("{t}: {done}; last status: {}", last_cov.trim());
    eprintln!("{line}");
    Ok(line)
}

/// Native numbers, then the same core in wasm (Node), built as the page's
/// engine module is, so the two can be read side by side.
fn bench() -> R {
    setup(false)?;
    let dir = root().join("target/bench-data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    record_million(&dir)?;
    run(Command::new("cargo")
        .args(["run", "--profile", "bench", "-p", "sim-tests", "--bin", "bench"])
        .env("BENCH_TRACE", dir.join("e2e-1m.trace")))?;
    eprintln!("wasm (Node, the engine's profile):");
    run(Command::new("cargo").args([
        "test",
        "--profile",
        "engine",
        "--target",
        TARGET,
        "-p",
        "scenarios",
        "--test",
        "wasm",
        "--",
        "--nocapture",
        "rate_in_wasm",
    ]))
}

/// Where the system image's libraries are in Debian's libc6 package, and
/// where a merged-/usr system (Debian 12) has them.
const IMAGE_LIBS: (&str, &str) = ("lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu");

/// Sections whose bytes the image does not ship: code, read-only data and
/// unwind tables, which the simulator never runs or reads. Everything else
/// (headers, program headers, .dynamic, .dynsym, .dynstr, hash, version
/// and relocation tables, .data, the GOT) is shipped byte for byte.
const NOT_SHIPPED: &[&str] = &[".text", ".rodata", ".eh_frame", ".eh_frame_hdr", ".gcc_except_table", "__libc_freeres_fn"];

/// Builds the system image from `root`, an extracted package tree.
fn system_image(root: &Path, label: &str, out: &Path) -> R {
    use object::{Object, ObjectSection, SectionKind};
    use sim_core::linux::sysimage::{ImageFile, SystemImage};
    let mut image = SystemImage { label: label.to_string(), ..Default::default() };
    // The merged-/usr links, then the package's own (/lib64/ld-linux-x86-64.so.2).
    image.links.push(("/lib".into(), "usr/lib".into()));
    image.links.push(("/lib64".into(), "usr/lib64".into()));
    let ldso_link = std::fs::read_link(root.join("lib64/ld-linux-x86-64.so.2")).map_err(|e| format!("lib64/ld-linux-x86-64.so.2: {e}"))?;
    image.links.push(("/usr/lib64/ld-linux-x86-64.so.2".into(), ldso_link.display().to_string()));
    // Every ELF file of the package's library directory, in part; then the
    // cache ldconfig made for them (build.sh), whole.
    let dir = root.join(IMAGE_LIBS.0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let from = format!("{}/{name}", IMAGE_LIBS.0);
        let to = format!("{}/{name}", IMAGE_LIBS.1);
        let data = std::fs::read(root.join(&from)).map_err(|e| format!("{from}: {e}"))?;
        let Ok(elf) = object::File::parse(&*data) else { continue };
        let mut holes: Vec<(u64, u64)> = elf
            .sections()
            .filter(|s| s.kind() != SectionKind::UninitializedData && NOT_SHIPPED.contains(&s.name().unwrap_or("")))
            .filter_map(|s| s.file_range())
            .map(|(off, len)| (off, off + len))
            .collect();
        holes.sort();
        let mut extents = Vec::new();
        let mut at = 0u64;
        for (start, end) in holes.into_iter().chain([(data.len() as u64, data.len() as u64)]) {
            if start > at {
                extents.push((at, data[at as usize..start as usize].to_vec()));
            }
            at = at.max(end);
        }
        let shipped: usize = extents.iter().map(|(_, b)| b.len()).sum();
        eprintln!("{to}: {} bytes, {shipped} shipped in {} extents", data.len(), extents.len());
        image.files.push(ImageFile { path: to, size: data.len() as u64, extents });
    }
    let cache = std::fs::read(root.join("etc/ld.so.cache")).map_err(|e| format!("etc/ld.so.cache (build.sh runs ldconfig): {e}"))?;
    image.files.push(ImageFile { path: "/etc/ld.so.cache".into(), size: cache.len() as u64, extents: vec![(0, cache)] });
    let bytes = image.encode();
    SystemImage::decode(&bytes).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("{}: {} bytes", out.display(), bytes.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stylesheet_keeps_its_rules_without_comments_and_blanks() {
        let css = "/* a */\n.a > .b:hover { color: red; content: \"x  /* y */\"; }\n@media (max-width: 900px) { .c  .d { margin: 0 calc(1px + 2px); } }\n";
        assert_eq!(
            super::minify_css(css),
            ".a>.b:hover{color:red;content:\"x  /* y */\";}@media (max-width:900px){.c .d{margin:0 calc(1px + 2px);}}"
        );
    }
}
