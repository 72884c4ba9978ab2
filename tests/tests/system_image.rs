//! The system image is Debian's libc6, shipped in part: what it ships is the
//! real files' bytes, and what it leaves out is only code, read-only data and
//! unwind tables.

use object::{Object, ObjectSection};
use sim_core::linux::sysimage::SystemImage;

fn image() -> SystemImage {
    let bytes = std::fs::read(sim_tests::root().join("fixtures/system/debian-12.sysimg")).expect("the image is committed");
    SystemImage::decode(&bytes).expect("decodes")
}

/// The libc6 version the image says it is, and the one installed here.
fn versions(image: &SystemImage) -> (String, Option<String>) {
    let ours = image.label.split("libc6 ").nth(1).and_then(|v| v.split(' ').next()).unwrap_or("").to_string();
    let here = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "libc6"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    (ours, here)
}

#[test]
fn the_image_ships_every_table_and_no_code() {
    let image = image();
    assert!(image.label.starts_with("Debian 12 (bookworm), libc6 2.36-"), "{}", image.label);
    for f in image.files.iter().filter(|f| f.path.ends_with(".so") || f.path.contains(".so.")) {
        let data = f.contents();
        if f.path == "/etc/ld.so.cache" {
            assert!(f.holes().is_empty() && data.starts_with(b"glibc-ld.so.cache1.1"), "the cache is shipped whole");
            continue;
        }
        let elf = object::File::parse(&*data).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        let holes = f.holes();
        for s in elf.sections() {
            let Some((off, len)) = s.file_range() else { continue };
            let name = s.name().unwrap_or("");
            let missing: u64 = holes.iter().map(|(a, b)| (*b).min(off + len).saturating_sub((*a).max(off))).sum();
            let code = [".text", ".rodata", ".eh_frame", ".eh_frame_hdr", ".gcc_except_table", "__libc_freeres_fn"].contains(&name);
            if code {
                assert_eq!(missing, len, "{}: {name} is not shipped", f.path);
            } else {
                assert_eq!(missing, 0, "{}: {name} is shipped whole", f.path);
            }
        }
        // The ELF and program headers too.
        let phnum = u64::from(u16::from_le_bytes([data[56], data[57]]));
        let phoff = u64::from_le_bytes(data[32..40].try_into().expect("8 bytes"));
        assert!(holes.iter().all(|(a, _)| *a >= phoff + 56 * phnum), "{}: headers", f.path);
    }
    let paths: Vec<&str> = image.files.iter().map(|f| f.path.as_str()).collect();
    for p in [
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/etc/ld.so.cache",
    ] {
        assert!(paths.contains(&p), "{p} is in the image: {paths:?}");
    }
}

/// Where this machine runs the same libc6, the shipped bytes are its files' bytes.
#[test]
fn what_the_image_ships_is_the_real_files_bytes() {
    let image = image();
    let (ours, here) = versions(&image);
    if here.as_deref() != Some(ours.as_str()) {
        eprintln!("skipped: libc6 here is {here:?}, the image is {ours} (fixtures/system/build.sh rebuilds it)");
        return;
    }
    for f in image.files.iter().filter(|f| f.path != "/etc/ld.so.cache") {
        let real = std::fs::read(&f.path).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        assert_eq!(real.len() as u64, f.size, "{}", f.path);
        for (off, bytes) in &f.extents {
            assert!(real[*off as usize..*off as usize + bytes.len()] == bytes[..], "{} at {off:#x}", f.path);
        }
    }
}

#[test]
fn a_damaged_image_is_refused_with_a_reason() {
    let good = image().encode();
    assert!(SystemImage::decode(&good[..good.len() - 1]).is_err(), "truncated");
    assert!(SystemImage::decode(b"SIMTRC\0\x04").is_err(), "another format");
    let mut bad = image();
    bad.files[0].extents.swap(0, 1);
    let e = SystemImage::decode(&bad.encode()).expect_err("extents out of order");
    assert!(e.to_string().contains("overlaps another or runs past"), "{e}");
    let mut bad = image();
    bad.files[0].path = "usr/lib/x".into();
    assert!(SystemImage::decode(&bad.encode()).expect_err("relative path").to_string().contains("not an absolute path"));
}

/// A read of bytes the image does not ship says so, in the page-cache
/// read and in the load itself: never a silent zero.
#[test]
fn reading_unshipped_code_says_it_is_not_shipped() {
    use sim_core::{Config, LinuxOp, Machine, Pid};
    let mut m = Machine::new(&Config::default());
    m.install_image(&image());
    m.install_file("/bin/p", std::sync::Arc::from(&include_bytes!("../../fixtures/exec/dynamic_pie")[..]));
    m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
    m.apply(&LinuxOp::Exec { pid: Pid(1), path: "/bin/p".into(), argv: vec![], envp: vec![] }).expect("exec");
    let entry = m.state().linux.procs[&Pid(1)].regs.ip; // ld.so's _start, in its .text
    let r = m.apply(&LinuxOp::Read { pid: Pid(1), addr: entry, len: 16 }).expect("reads");
    let texts: Vec<String> = r.events.iter().map(|e| e.text()).collect();
    assert!(texts.iter().any(|t| t.starts_with("page cache miss") && t.contains("not shipped")), "{texts:#?}");
    assert!(
        texts.iter().any(|t| t.starts_with("load ") && t.contains("16 of these bytes are not in the simulator's system image")),
        "{texts:#?}"
    );
    // The program's own file is whole: reading its code says nothing of the kind.
    let own = m.apply(&LinuxOp::Read { pid: Pid(1), addr: 0x5555_5555_5050, len: 16 }).expect("reads");
    assert!(own.events.iter().all(|e| !e.text().contains("not shipped") && !e.text().contains("system image")));
}
