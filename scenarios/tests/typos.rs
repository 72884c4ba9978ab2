//! Every field with a fixed form is read when the lesson is parsed: a typo
//! is an error at the typo's line and column, naming what is allowed,
//! never a surprise at step N (or, worse, a check that passes).

use scenarios::parse_lesson;

/// A lesson whose one step is `do` with checks `expect`.
fn lesson(op: &str, expect: &str) -> String {
    format!("id = \"t\"\ntitle = \"t\"\nsummary = \"s\"\n\n[[steps]]\nsay = \"s\"\ndo = {op}\nexpect = [{expect}]\n")
}

/// Parses `text` and checks the error is at the first `"typo"` and says `says`.
fn refused(text: &str, typo: &str, says: &str) {
    let err = parse_lesson(text).expect_err(&format!("`{typo}` must be refused:\n{text}"));
    let at = text.find(&format!("\"{typo}\"")).expect("the typo is quoted in the lesson");
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    assert_eq!((err.line, err.column), (line, column), "position of `{typo}`: {err}");
    assert!(err.message.contains(says), "`{typo}`: the message should say {says:?}: {err}");
}

const OK_OP: &str = r#"{ op = "spawn", name = "a" }"#;

#[test]
fn operation_fields_are_typed() {
    let cases = [
        (r#"{ op = "mmap", pid = 1, len = 4096, prot = "rw_" }"#, "rw_", "protection of the form rwx"),
        (r#"{ op = "mprotect", pid = 1, addr = 0x1000, len = 4096, prot = "rwq" }"#, "rwq", "protection of the form rwx"),
        (r#"{ op = "access", pid = 1, addr = 0x1000, access = "wirte" }"#, "wirte", "read, write or exec"),
        (r#"{ op = "open_process", pid = 4, target = 8, access = "PROCESS_VM_WIRTE" }"#, "PROCESS_VM_WIRTE", "not a set of process rights"),
        (r#"{ op = "nt_create_process", name = "x", dacl = ["alice:PROCESS_ALL"] }"#, "alice:PROCESS_ALL", "is not USER:RIGHTS"),
        (r#"{ op = "bpf_get_next_id", kind = "mapp" }"#, "mapp", "\"map\", \"prog\" or \"link\""),
        (r#"{ op = "bpftool_prog_load", object = "/o", pin = "/sys/fs/bpf/p", libbpf = "2.x" }"#, "2.x", "libbpf"),
    ];
    for (op, typo, says) in cases {
        refused(&lesson(op, ""), typo, says);
    }
}

#[test]
fn check_fields_are_typed() {
    let cases = [
        (r#"{ check = "frames", kind = "anonn", equals = 0 }"#, "anonn", "anon, page_table, page_cache, zero or map_values"),
        (r#"{ check = "vma", pid = 1, addr = 0x1000, prot = "r-w" }"#, "r-w", "protection of the form rwx"),
        (r#"{ check = "vma", pid = 1, addr = 0x1000, backing = "anonymous" }"#, "anonymous", "anon, file, special or driver"),
        (r#"{ check = "process", pid = 1, state = "zombi" }"#, "zombi", "running, zombie or gone"),
        (r#"{ check = "register", pid = 1, reg = "rip", equals = 0 }"#, "rip", "ip, sp or ax"),
        (r#"{ check = "mcu_reg", reg = "r13x", equals = 0 }"#, "r13x", "r12, sp, lr or pc"),
        (r#"{ check = "outcome", result = "fail" }"#, "fail", "ok, pid, fd"),
        (r#"{ check = "outcome", result = "failed", errno = "ENOENTT" }"#, "ENOENTT", "errno name"),
        (r#"{ check = "auxv", pid = 1, key = "AT_ENTRYY", equals = 0 }"#, "AT_ENTRYY", "auxiliary vector"),
        (r#"{ check = "handle", pid = 4, handle = 4, access = "PROCESS_VM_RAED" }"#, "PROCESS_VM_RAED", "process rights"),
    ];
    for (check, typo, says) in cases {
        refused(&lesson(OK_OP, check), typo, says);
    }
}

#[test]
fn the_typed_fields_still_accept_what_they_should() {
    let text = lesson(
        r#"{ op = "mmap", pid = 1, len = 4096, prot = "r-x" }"#,
        r#"{ check = "frames", kind = "page_table", equals = 1 }, { check = "vma", pid = 1, addr = 0x1000, prot = "r-x", backing = "anon" },
  { check = "process", pid = 1, state = "running" }, { check = "register", pid = 1, reg = "sp", equals = 0 },
  { check = "mcu_reg", reg = "pc", equals = 0 }, { check = "outcome", result = "win_error", errno = "ERROR_ACCESS_DENIED" },
  { check = "outcome", result = "failed", errno = "ENOENT" }, { check = "auxv", pid = 1, key = "AT_ENTRY", equals = 0 }"#,
    );
    let l = parse_lesson(&text).expect("valid lesson");
    assert_eq!(l.steps[0].expect.len(), 8);
}
