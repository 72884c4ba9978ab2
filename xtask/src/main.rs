//! Project tasks, one command locally and in CI:
//!
//! - `cargo xtask serve`: build the web app and serve it on http://127.0.0.1:8080 (PORT overrides)
//! - `cargo xtask test`: every test: native, wasm in Node, wasm in headless Chromium, end to end
//! - `cargo xtask build-web`: build the site into web/dist and print its download size
//! - `cargo xtask bench`: native benchmarks (numbers for the README)
//!
//! Each task installs what it needs when it is missing (the wasm32 target, the
//! wasm-bindgen CLI at the version Cargo.lock pins, Chromium and chromedriver
//! from Debian, npm packages into tools/) and downloads nothing else.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const WASM_BINDGEN_VERSION: &str = "0.2.130";
const TARGET: &str = "wasm32-unknown-unknown";

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
        Some("bench") => bench(),
        Some("setup") => setup(true),
        _ => Err("usage: cargo xtask (serve | test | build-web | bench | setup)".into()),
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
        // bpftool to compare BPF lifetimes with the running kernel.
        if !(have("chromium") && have("chromedriver") && have("qemu-system-arm") && have("gdb-multiarch") && have("bpftool")) {
            run(Command::new("apt-get").arg("update"))?;
            run(Command::new("apt-get").args([
                "install",
                "-y",
                "chromium",
                "chromium-driver",
                "qemu-system-arm",
                "gdb-multiarch",
                "bpftool",
            ]))?;
        }
        let tools = root().join("tools");
        if !tools.join("node_modules/playwright-core").exists() || !tools.join("node_modules/binaryen").exists() {
            std::fs::create_dir_all(&tools).map_err(|e| e.to_string())?;
            run(Command::new("npm").args([
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                "tools",
                "playwright-core@1",
                "binaryen@132",
            ]))?;
        }
    }
    Ok(())
}

fn test() -> R {
    setup(true)?;
    // Native: unit, golden, property, CLI and real-kernel tests.
    run(Command::new("cargo").args(["test", "--workspace", "--exclude", "web"]))?;
    // The same core and runner compiled to wasm32, run in Node.
    run(Command::new("cargo").args(["test", "--target", TARGET, "-p", "sim-core", "-p", "scenarios", "--tests", "--", "--nocapture"]))?;
    // Web components in headless Chromium.
    run(Command::new("cargo").args(["test", "--target", TARGET, "-p", "web", "--tests"]).env("CHROMEDRIVER", "/usr/bin/chromedriver"))?;
    // Lints, native and wasm.
    run(Command::new("cargo").args(["clippy", "--workspace", "--exclude", "web", "--all-targets", "--", "-D", "warnings"]))?;
    run(Command::new("cargo").args([
        "clippy",
        "--target",
        TARGET,
        "-p",
        "web",
        "-p",
        "sim-core",
        "-p",
        "scenarios",
        "--",
        "-D",
        "warnings",
    ]))?;
    // End to end: the real page, served, driven in headless Chromium.
    build_web()?;
    let port = 18000 + (std::process::id() % 1000) as u16;
    let dist = root().join("web/dist");
    std::thread::spawn(move || {
        let _ = serve_dir(&dist, port);
    });
    run(Command::new("node").arg("web/e2e/e2e.mjs").env("BASE_URL", format!("http://127.0.0.1:{port}/")))
}

fn build_web() -> R {
    setup(false)?;
    run(Command::new("cargo").args(["build", "--release", "--target", TARGET, "-p", "web"]))?;
    let dist = root().join("web/dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).map_err(|e| e.to_string())?;
    let wasm = root().join("target").join(TARGET).join("release/web.wasm");
    run(Command::new("wasm-bindgen").arg(&wasm).args(["--target", "web", "--no-typescript", "--out-dir"]).arg(&dist))?;
    let bg = dist.join("web_bg.wasm");
    let opt = root().join("tools/node_modules/.bin/wasm-opt");
    if opt.exists() {
        run(Command::new(&opt)
            .arg(&bg)
            .args([
                "-Oz",
                "--strip-debug",
                "--strip-producers",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "-o",
            ])
            .arg(&bg))?;
    } else {
        eprintln!("note: wasm-opt not installed (run `cargo xtask setup`); the wasm is not size-optimised");
    }
    for f in ["index.html", "style.css", "course-example.html"] {
        std::fs::copy(root().join("web").join(f), dist.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    let mut total = 0;
    let mut lines = Vec::new();
    for f in ["web_bg.wasm", "web.js", "style.css", "index.html"] {
        let raw = std::fs::metadata(dist.join(f)).map(|m| m.len()).unwrap_or(0);
        let gz = gzip_size(&dist.join(f));
        total += gz;
        lines.push(format!("  {f:<14} {raw:>8} B raw {gz:>8} B gzip"));
    }
    eprintln!(
        "initial download:\n{}\n  total          {total:>8} B gzip ({:.1} KB; budget 250 KB)",
        lines.join("\n"),
        total as f64 / 1024.0
    );
    Ok(())
}

fn gzip_size(p: &Path) -> u64 {
    Command::new("gzip").args(["-9", "-c"]).arg(p).output().map(|o| o.stdout.len() as u64).unwrap_or(0)
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
        Some("toml") => "text/plain; charset=utf-8",
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

fn bench() -> R {
    run(Command::new("cargo").args(["run", "--profile", "bench", "-p", "sim-tests", "--bin", "bench"]))
}
