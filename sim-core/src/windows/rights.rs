//! Process access rights and error codes (processthreadsapi.h, winnt.h,
//! winerror.h).

/// Process access rights (processthreadsapi.h / winnt.h).
pub const PROCESS_RIGHTS: &[(&str, u32)] = &[
    ("PROCESS_TERMINATE", 0x0001),
    ("PROCESS_CREATE_THREAD", 0x0002),
    ("PROCESS_SET_SESSIONID", 0x0004),
    ("PROCESS_VM_OPERATION", 0x0008),
    ("PROCESS_VM_READ", 0x0010),
    ("PROCESS_VM_WRITE", 0x0020),
    ("PROCESS_DUP_HANDLE", 0x0040),
    ("PROCESS_CREATE_PROCESS", 0x0080),
    ("PROCESS_SET_QUOTA", 0x0100),
    ("PROCESS_SET_INFORMATION", 0x0200),
    ("PROCESS_QUERY_INFORMATION", 0x0400),
    ("PROCESS_SUSPEND_RESUME", 0x0800),
    ("PROCESS_QUERY_LIMITED_INFORMATION", 0x1000),
    ("PROCESS_SET_LIMITED_INFORMATION", 0x2000),
    ("DELETE", 0x1_0000),
    ("READ_CONTROL", 0x2_0000),
    ("WRITE_DAC", 0x4_0000),
    ("WRITE_OWNER", 0x8_0000),
    ("SYNCHRONIZE", 0x10_0000),
];
/// `PROCESS_ALL_ACCESS` on Vista and later.
pub const PROCESS_ALL_ACCESS: u32 = 0x1F_FFFF;
/// What WriteProcessMemory needs.
pub const WRITE_NEEDS: u32 = 0x20 | 0x08;
/// What ReadProcessMemory needs.
pub const READ_NEEDS: u32 = 0x10;

/// Win32 error codes used here (winerror.h).
pub const ERROR_ACCESS_DENIED: u32 = 5;
/// The handle is not in the table, or names another kind of object.
pub const ERROR_INVALID_HANDLE: u32 = 6;
/// No such process.
pub const ERROR_INVALID_PARAMETER: u32 = 87;
/// Only part of the copy was done.
pub const ERROR_PARTIAL_COPY: u32 = 299;
/// The first byte could not be accessed.
pub const ERROR_NOACCESS: u32 = 998;

/// The error codes the API calls return, with their winerror.h names.
pub const ERRORS: &[(u32, &str)] = &[
    (ERROR_ACCESS_DENIED, "ERROR_ACCESS_DENIED"),
    (ERROR_INVALID_HANDLE, "ERROR_INVALID_HANDLE"),
    (ERROR_INVALID_PARAMETER, "ERROR_INVALID_PARAMETER"),
    (ERROR_PARTIAL_COPY, "ERROR_PARTIAL_COPY"),
    (ERROR_NOACCESS, "ERROR_NOACCESS"),
];

/// The name of error `code`.
pub(super) fn error_name(code: u32) -> &'static str {
    ERRORS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n).unwrap_or("ERROR_NOACCESS")
}

/// The code of the error named `name`.
pub fn error_code(name: &str) -> Option<u32> {
    ERRORS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

/// A mask decoded into right names (`PROCESS_VM_READ | PROCESS_VM_WRITE`),
/// with any unknown bits shown in hex.
pub fn rights_text(mask: u32) -> String {
    if mask == PROCESS_ALL_ACCESS {
        return "PROCESS_ALL_ACCESS".into();
    }
    let mut names: Vec<String> = PROCESS_RIGHTS.iter().filter(|(_, b)| mask & b != 0).map(|(n, _)| n.to_string()).collect();
    let known: u32 = PROCESS_RIGHTS.iter().map(|(_, b)| b).fold(0, |a, b| a | b);
    if mask & !known != 0 {
        names.push(format!("{:#x}", mask & !known));
    }
    if names.is_empty() {
        "0".into()
    } else {
        names.join(" | ")
    }
}

/// Parses `PROCESS_VM_READ|PROCESS_VM_WRITE`, `PROCESS_ALL_ACCESS` or a number.
pub fn parse_rights(s: &str) -> Option<u32> {
    let mut mask = 0;
    for part in s.split('|').map(str::trim) {
        mask |= match part {
            "PROCESS_ALL_ACCESS" => PROCESS_ALL_ACCESS,
            p => match PROCESS_RIGHTS.iter().find(|(n, _)| *n == p) {
                Some((_, b)) => *b,
                None => u32::try_from(crate::fields::parse_num(p)?).ok()?,
            },
        };
    }
    Some(mask)
}
