//! `.BTF.ext`: what the compiler records about each instruction beside the
//! object's BTF (include/uapi/linux/btf.h has no struct for it; libbpf's
//! `struct btf_ext_header` in src/libbpf_internal.h does): function info,
//! line info and CO-RE relocations, each as per-section lists of records,
//! read as `btf_ext__new` (`btf_ext_parse_hdr`, `btf_ext_setup_info`) in
//! libbpf 1.x reads them.

use super::btf::Btf;
use thiserror::Error;

/// Why libbpf's `btf_ext__new` rejects a `.BTF.ext` section: its
/// `pr_debug` line. `bpf_object__init_btf` then warns "Error loading ELF
/// section .BTF.ext: -22. Ignored and continue." and opens the object
/// without it (no CO-RE relocation, no line info).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BtfExtError {
    /// Shorter than its fixed header, or than `hdr_len`.
    #[error("BTF.ext header not found")]
    NoHeader,
    /// Not 0xeb9f.
    #[error("Invalid BTF.ext magic:{0:x}")]
    Magic(u16),
    /// Not version 1.
    #[error("Unsupported BTF.ext version:{0}")]
    Version(u8),
    /// Flags are not zero.
    #[error("Unsupported BTF.ext flags:{0:x}")]
    Flags(u8),
    /// Only a header.
    #[error("BTF.ext has no data")]
    NoData,
    /// A subsection's offset is not 4-byte aligned.
    #[error(".BTF.ext {0} section is not aligned to 4 bytes")]
    Unaligned(&'static str),
    /// A subsection ends past the section.
    #[error("{what} section (off:{off} len:{len}) is beyond the end of the ELF section .BTF.ext")]
    Beyond {
        /// "func_info", "line_info" or "core_relo".
        what: &'static str,
        /// Its offset after the header.
        off: u32,
        /// Its length.
        len: u32,
    },
    /// No room for the record size.
    #[error(".BTF.ext {0} record size not found")]
    NoRecordSize(&'static str),
    /// Below the record's minimum size or not a multiple of 4.
    #[error("{what} section in .BTF.ext has invalid record size {size}")]
    RecordSize {
        /// Which subsection.
        what: &'static str,
        /// The size it gives.
        size: u32,
    },
    /// A record size and nothing else.
    #[error("{0} section in .BTF.ext has no records")]
    NoRecords(&'static str),
    /// A per-section header cut short.
    #[error("{0} section header is not found in .BTF.ext")]
    NoSecHeader(&'static str),
    /// A per-section header with no records, or more than there is room for.
    #[error("{0} section has incorrect num_records in .BTF.ext")]
    NumRecords(&'static str),
}

impl BtfExtError {
    /// What `btf_ext__new` returns: -ENOTSUP for a version or flags it does
    /// not know, -EINVAL otherwise.
    pub fn errno(&self) -> i32 {
        match self {
            BtfExtError::Version(_) | BtfExtError::Flags(_) => -95,
            _ => -22,
        }
    }
}

/// `struct bpf_line_info`: where in the C source an instruction comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction in its ELF section.
    pub insn_off: u32,
    /// The source file (`file_name_off` in the object's BTF strings).
    pub file: String,
    /// The source line's text (`line_off`): clang stores it whole.
    pub line: String,
    /// `BPF_LINE_INFO_LINE_NUM(line_col)`.
    pub line_no: u32,
    /// `BPF_LINE_INFO_LINE_COL(line_col)`.
    pub col: u32,
}

impl LineInfo {
    /// The line as the verifier's log prints it (`verbose_linfo`, Linux
    /// 6.5+): `; `, the source line without its leading blanks, ` @ `, the
    /// file's base name, `:`, the line number.
    pub fn log_text(&self) -> String {
        let file = self.file.rsplit('/').next().unwrap_or(&self.file);
        format!("; {} @ {file}:{}", self.line.trim_start(), self.line_no)
    }
}

/// The line record of instruction `at` (`find_linfo`): the last one at or
/// before it, of records sorted by instruction.
pub fn find_linfo(lines: &[(usize, LineInfo)], at: usize) -> Option<&LineInfo> {
    lines.iter().take_while(|(i, _)| *i <= at).last().map(|(_, l)| l)
}

/// `struct bpf_core_relo`: one CO-RE relocation, as the compiler wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction in its ELF section.
    pub insn_off: u32,
    /// The root type, in the object's BTF.
    pub type_id: u32,
    /// The access string ("0:1:2"), from the object's BTF strings.
    pub access: String,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// A `.BTF.ext` section, by ELF section name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfExt {
    /// `bpf_func_info` records: (section, [(insn_off, FUNC type id)]).
    pub func_info: Vec<(String, Vec<(u32, u32)>)>,
    /// `bpf_line_info` records per section.
    pub line_info: Vec<(String, Vec<LineInfo>)>,
    /// `bpf_core_relo` records per section.
    pub core_relo: Vec<(String, Vec<CoreRelo>)>,
}

fn u32_at(d: &[u8], o: usize) -> u32 {
    d.get(o..o + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// One section's records: its name offset and each record's bytes.
type Records<'d> = (u32, Vec<&'d [u8]>);

/// `btf_ext_setup_info`: the records of one subsection, each `rec_size`
/// bytes (at least `min`), grouped by section name.
fn setup_info<'d>(d: &'d [u8], hdr_len: usize, off: u32, len: u32, what: &'static str, min: u32) -> Result<Vec<Records<'d>>, BtfExtError> {
    if len == 0 {
        return Ok(vec![]);
    }
    if off & 3 != 0 {
        return Err(BtfExtError::Unaligned(what));
    }
    let start = hdr_len + off as usize;
    let end = start.checked_add(len as usize).filter(|e| *e <= d.len()).ok_or(BtfExtError::Beyond { what, off, len })?;
    let info = &d[start..end];
    if info.len() < 4 {
        return Err(BtfExtError::NoRecordSize(what));
    }
    let size = u32_at(info, 0);
    if size < min || size & 3 != 0 {
        return Err(BtfExtError::RecordSize { what, size });
    }
    let mut left = &info[4..];
    if left.is_empty() {
        return Err(BtfExtError::NoRecords(what));
    }
    let mut out = Vec::new();
    while !left.is_empty() {
        if left.len() < 8 {
            return Err(BtfExtError::NoSecHeader(what));
        }
        let (name, n) = (u32_at(left, 0), u32_at(left, 4));
        let total = 8 + u64::from(n) * u64::from(size);
        if n == 0 || (left.len() as u64) < total {
            return Err(BtfExtError::NumRecords(what));
        }
        let recs = left[8..total as usize].chunks(size as usize).collect();
        out.push((name, recs));
        left = &left[total as usize..];
    }
    Ok(out)
}

impl BtfExt {
    /// Parses `.BTF.ext`, its names looked up in the object's `.BTF`.
    pub(super) fn parse(d: &[u8], btf: &Btf) -> Result<BtfExt, BtfExtError> {
        if d.len() < 8 {
            return Err(BtfExtError::NoHeader);
        }
        let magic = u16::from_le_bytes([d[0], d[1]]);
        let hdr_len = u32_at(d, 4);
        if (d.len() as u64) < u64::from(hdr_len) {
            return Err(BtfExtError::NoHeader);
        }
        if magic != 0xeb9f {
            return Err(BtfExtError::Magic(magic));
        }
        if d[2] != 1 {
            return Err(BtfExtError::Version(d[2]));
        }
        if d[3] != 0 {
            return Err(BtfExtError::Flags(d[3]));
        }
        if d.len() == hdr_len as usize {
            return Err(BtfExtError::NoData);
        }
        // btf_ext__new: a header without the func and line info offsets is
        // an empty .BTF.ext; the CO-RE part of the header is optional.
        if hdr_len < 24 {
            return Ok(BtfExt::default());
        }
        let h = hdr_len as usize;
        let name = |off: u32| btf.name(off);
        let func_info = setup_info(d, h, u32_at(d, 8), u32_at(d, 12), "func_info", 8)?
            .into_iter()
            .map(|(s, recs)| (name(s), recs.iter().map(|r| (u32_at(r, 0), u32_at(r, 4))).collect()))
            .collect();
        let line_info = setup_info(d, h, u32_at(d, 16), u32_at(d, 20), "line_info", 16)?
            .into_iter()
            .map(|(s, recs)| {
                let lines = recs
                    .iter()
                    .map(|r| {
                        let lc = u32_at(r, 12);
                        LineInfo {
                            insn_off: u32_at(r, 0),
                            file: name(u32_at(r, 4)),
                            line: name(u32_at(r, 8)),
                            line_no: lc >> 10,
                            col: lc & 0x3ff,
                        }
                    })
                    .collect();
                (name(s), lines)
            })
            .collect();
        let core_relo = if hdr_len < 32 {
            vec![]
        } else {
            setup_info(d, h, u32_at(d, 24), u32_at(d, 28), "core_relo", 16)?
                .into_iter()
                .map(|(s, recs)| {
                    let relos = recs
                        .iter()
                        .map(|r| CoreRelo {
                            insn_off: u32_at(r, 0),
                            type_id: u32_at(r, 4),
                            access: name(u32_at(r, 8)),
                            kind: u32_at(r, 12),
                        })
                        .collect();
                    (name(s), relos)
                })
                .collect()
        };
        Ok(BtfExt { func_info, line_info, core_relo })
    }
}

crate::wire_struct! {
    LineInfo { insn_off, file, line, line_no, col }
}
