// Lets an instructor check their own lesson file under wasm32:
// `LESSON_FILE=/path/to/lesson.toml cargo test --target wasm32-unknown-unknown -p scenarios --test wasm`
// copies the file into the build so the wasm test can run it, and with it
// each file it brings beside it (`src = "hello"`), found by a scan of its
// text (a src the scan misses is reported as not embedded when it runs).
fn main() {
    println!("cargo:rerun-if-env-changed=LESSON_FILE");
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let (text, path) = match std::env::var("LESSON_FILE") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            (std::fs::read_to_string(&path).unwrap_or_else(|e| format!("# LESSON_FILE {path}: {e}")), path)
        }
        _ => (String::new(), String::new()),
    };
    let dir = std::path::Path::new(&path).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let mut files = String::from("&[\n");
    for src in sources(&text) {
        let p = dir.join(&src);
        if p.is_file() {
            println!("cargo:rerun-if-changed={}", p.display());
            files.push_str(&format!("    ({src:?}, include_bytes!({:?})),\n", p.display().to_string()));
        }
    }
    files.push(']');
    let _ = std::fs::write(out_dir.join("extra_lesson.txt"), &text);
    let _ = std::fs::write(out_dir.join("extra_files.rs"), files);
    println!("cargo:rustc-env=LESSON_FILE_NAME={path}");
}

/// Every string value of a `src` key: `src = "..."` (TOML) or `"src": "..."` (JSON).
fn sources(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("src") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 3..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let t = rest.trim_start_matches('"').trim_start();
        let Some(t) = t.strip_prefix('=').or_else(|| t.strip_prefix(':')) else { continue };
        let Some(t) = t.trim_start().strip_prefix('"') else { continue };
        if let Some(end) = t.find('"') {
            out.push(t[..end].to_string());
        }
    }
    out
}
