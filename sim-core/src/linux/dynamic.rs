//! What the dynamic loader reads from a loaded ELF object: its dynamic
//! section (PT_DYNAMIC), the libraries it needs, its symbols with their
//! versions, and its relocations, as glibc's `elf_get_dynamic_info` and
//! `_dl_relocate_object` find them through the dynamic entries (not the
//! section headers, which ld.so never reads).

use super::elf::ExecImage;

/// `DT_*` tags (include/uapi/linux/elf.h, glibc's elf.h).
#[allow(missing_docs)]
pub mod dt {
    pub const NULL: u64 = 0;
    pub const HASH: u64 = 4;
    pub const PLTGOT: u64 = 3;
    pub const DEBUG: u64 = 21;
    pub const BIND_NOW: u64 = 24;
    pub const INIT_ARRAYSZ: u64 = 27;
    pub const FLAGS: u64 = 30;
    pub const FLAGS_1: u64 = 0x6fff_fffb;
    pub const NEEDED: u64 = 1;
    pub const PLTRELSZ: u64 = 2;
    pub const STRTAB: u64 = 5;
    pub const SYMTAB: u64 = 6;
    pub const RELA: u64 = 7;
    pub const RELASZ: u64 = 8;
    pub const STRSZ: u64 = 10;
    pub const SONAME: u64 = 14;
    pub const JMPREL: u64 = 23;
    pub const RELRSZ: u64 = 35;
    pub const RELR: u64 = 36;
    pub const GNU_HASH: u64 = 0x6fff_fef5;
    pub const VERSYM: u64 = 0x6fff_fff0;
    pub const VERDEF: u64 = 0x6fff_fffc;
    pub const VERDEFNUM: u64 = 0x6fff_fffd;
    pub const VERNEED: u64 = 0x6fff_fffe;
    pub const VERNEEDNUM: u64 = 0x6fff_ffff;
}

/// x86-64 relocation types (the System V x86-64 psABI).
pub mod r {
    /// S + A
    pub const R_64: u32 = 1;
    /// Copy the symbol's bytes from the library into the program.
    pub const COPY: u32 = 5;
    /// S: a GOT entry.
    pub const GLOB_DAT: u32 = 6;
    /// S: a PLT's GOT entry.
    pub const JUMP_SLOT: u32 = 7;
    /// B + A
    pub const RELATIVE: u32 = 8;
    /// The module id of a TLS symbol.
    pub const DTPMOD64: u32 = 16;
    /// A TLS symbol's offset in its module's block.
    pub const DTPOFF64: u32 = 17;
    /// A TLS symbol's offset from the thread pointer.
    pub const TPOFF64: u32 = 18;
    /// The result of calling the resolver at B + A (an ifunc).
    pub const IRELATIVE: u32 = 37;

    /// The psABI's name for a type.
    pub fn name(t: u32) -> &'static str {
        match t {
            R_64 => "R_X86_64_64",
            COPY => "R_X86_64_COPY",
            GLOB_DAT => "R_X86_64_GLOB_DAT",
            JUMP_SLOT => "R_X86_64_JUMP_SLOT",
            RELATIVE => "R_X86_64_RELATIVE",
            DTPMOD64 => "R_X86_64_DTPMOD64",
            DTPOFF64 => "R_X86_64_DTPOFF64",
            TPOFF64 => "R_X86_64_TPOFF64",
            IRELATIVE => "R_X86_64_IRELATIVE",
            _ => "R_X86_64_other",
        }
    }
}

/// A dynamic symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynSym {
    /// Its name.
    pub name: String,
    /// Its version (`GLIBC_2.2.5`), if versioned.
    pub version: Option<String>,
    /// Hidden version (`memcpy@GLIBC_2.2.5` beside the default `memcpy@@GLIBC_2.14`).
    pub hidden: bool,
    /// st_value (0 when undefined).
    pub value: u64,
    /// st_size.
    pub size: u64,
    /// Defined here (st_shndx != SHN_UNDEF).
    pub defined: bool,
    /// STT_TLS.
    pub tls: bool,
    /// STB_WEAK: an undefined weak reference resolves to 0.
    pub weak: bool,
}

/// One relocation: where (a vaddr of the object), its type, symbol, addend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// r_offset.
    pub offset: u64,
    /// ELF64_R_TYPE.
    pub kind: u32,
    /// ELF64_R_SYM (0: none).
    pub sym: u32,
    /// r_addend.
    pub addend: i64,
    /// From DT_JMPREL (the PLT's relocations), which lazy binding defers.
    pub plt: bool,
}

/// What ld.so reads of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_SONAME.
    pub soname: Option<String>,
    /// The dynamic symbols (DT_SYMTAB; as many as DT_GNU_HASH counts).
    pub symbols: Vec<DynSym>,
    /// DT_RELA and DT_JMPREL entries.
    pub relocs: Vec<Reloc>,
    /// Addresses DT_RELR relocates by the load bias.
    pub relr: Vec<u64>,
    /// PT_GNU_RELRO: vaddr and memsz.
    pub relro: Option<(u64, u64)>,
    /// PT_TLS: memsz and alignment.
    pub tls: Option<(u64, u64)>,
    /// Every entry of the dynamic section: its vaddr, tag and value.
    pub entries: Vec<(u64, u64, u64)>,
    /// DT_INIT_ARRAYSZ: bytes of the initialiser pointers.
    pub init_array_len: u64,
    /// DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW: PLT slots are bound at load
    /// time, not lazily at the first call.
    pub bind_now: bool,
}

/// Why an object's dynamic information cannot be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DynamicError {
    /// No PT_DYNAMIC segment.
    #[error("no PT_DYNAMIC segment: not a dynamically linked object")]
    NoDynamic,
    /// A dynamic entry points outside every PT_LOAD or past the file.
    #[error("dynamic entry {tag:#x} points at {vaddr:#x}, outside the file's loaded bytes")]
    Outside {
        /// The tag.
        tag: u64,
        /// Where it points.
        vaddr: u64,
    },
}

fn le64(d: &[u8], at: u64) -> Option<u64> {
    let at = usize::try_from(at).ok()?;
    d.get(at..at.checked_add(8)?).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}
fn le32(d: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    d.get(at..at.checked_add(4)?).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
}
fn le16(d: &[u8], at: u64) -> Option<u16> {
    let at = usize::try_from(at).ok()?;
    d.get(at..at.checked_add(2)?).map(|b| u16::from_le_bytes([b[0], b[1]]))
}
fn cstr(d: &[u8], at: u64) -> Option<String> {
    let s = d.get(usize::try_from(at).ok()?..)?;
    let n = s.iter().position(|b| *b == 0)?;
    Some(String::from_utf8_lossy(&s[..n]).into_owned())
}

/// The most entries of any one table read (a bound against hostile files).
const MAX_ENTRIES: u64 = 1 << 20;

impl Dynamic {
    /// Reads `data`'s dynamic section through its program headers.
    pub fn parse(data: &[u8], image: &ExecImage) -> Result<Dynamic, DynamicError> {
        let seg = |t: u32| image.segments.iter().find(|s| s.p_type == t);
        let dynamic = seg(object::elf::PT_DYNAMIC).ok_or(DynamicError::NoDynamic)?;
        // A vaddr's file offset, through the PT_LOAD that holds it.
        let off = |tag: u64, vaddr: u64| -> Result<u64, DynamicError> {
            image
                .loads()
                .find(|s| s.vaddr <= vaddr && vaddr < s.vaddr.saturating_add(s.filesz))
                .map(|s| vaddr - s.vaddr + s.offset)
                .filter(|o| *o < data.len() as u64)
                .ok_or(DynamicError::Outside { tag, vaddr })
        };
        let mut tags: Vec<(u64, u64)> = Vec::new();
        let mut entries = Vec::new();
        for i in 0..(dynamic.filesz / 16).min(MAX_ENTRIES) {
            let (Some(tag), Some(val)) = (le64(data, dynamic.offset + i * 16), le64(data, dynamic.offset + i * 16 + 8)) else { break };
            if tag == dt::NULL {
                break;
            }
            tags.push((tag, val));
            entries.push((dynamic.vaddr + i * 16, tag, val));
        }
        let get = |t: u64| tags.iter().find(|(tag, _)| *tag == t).map(|(_, v)| *v);
        let mut out = Dynamic {
            relro: seg(object::elf::PT_GNU_RELRO).map(|s| (s.vaddr, s.memsz)),
            tls: seg(object::elf::PT_TLS).map(|s| (s.memsz, s.align)),
            entries,
            ..Dynamic::default()
        };
        let strtab = match get(dt::STRTAB) {
            Some(v) => off(dt::STRTAB, v)?,
            None => return Ok(out),
        };
        let _ = get(dt::STRSZ);
        let name = |at: u64| cstr(data, strtab.saturating_add(at)).unwrap_or_default();
        out.needed = tags.iter().filter(|(t, _)| *t == dt::NEEDED).map(|(_, v)| name(*v)).collect();
        out.soname = get(dt::SONAME).map(name);

        // Versions: index to name (DT_VERDEF defines, DT_VERNEED requires).
        let mut versions: Vec<(u16, String)> = Vec::new();
        if let Some(v) = get(dt::VERDEF) {
            let mut at = off(dt::VERDEF, v)?;
            for _ in 0..get(dt::VERDEFNUM).unwrap_or(0).min(MAX_ENTRIES) {
                let (Some(ndx), Some(aux), Some(next)) = (le16(data, at + 4), le32(data, at + 12), le32(data, at + 16)) else { break };
                if let Some(n) = le32(data, at + u64::from(aux)) {
                    versions.push((ndx, name(u64::from(n))));
                }
                if next == 0 {
                    break;
                }
                at += u64::from(next);
            }
        }
        if let Some(v) = get(dt::VERNEED) {
            let mut at = off(dt::VERNEED, v)?;
            for _ in 0..get(dt::VERNEEDNUM).unwrap_or(0).min(MAX_ENTRIES) {
                let (Some(cnt), Some(aux), Some(next)) = (le16(data, at + 2), le32(data, at + 8), le32(data, at + 12)) else { break };
                let mut a = at + u64::from(aux);
                for _ in 0..cnt {
                    let (Some(other), Some(n), Some(anext)) = (le16(data, a + 6), le32(data, a + 8), le32(data, a + 12)) else { break };
                    versions.push((other, name(u64::from(n))));
                    if anext == 0 {
                        break;
                    }
                    a += u64::from(anext);
                }
                if next == 0 {
                    break;
                }
                at += u64::from(next);
            }
        }

        // Relocations first: they bound the symbols referenced.
        out.init_array_len = get(dt::INIT_ARRAYSZ).unwrap_or(0);
        out.bind_now =
            get(dt::BIND_NOW).is_some() || get(dt::FLAGS).is_some_and(|f| f & 8 != 0) || get(dt::FLAGS_1).is_some_and(|f| f & 1 != 0);
        let mut read_rela = |tag: u64, size_tag: u64| -> Result<(), DynamicError> {
            let (Some(v), Some(size)) = (get(tag), get(size_tag)) else { return Ok(()) };
            let at = off(tag, v)?;
            for i in 0..(size / 24).min(MAX_ENTRIES) {
                let (Some(offset), Some(info), Some(addend)) =
                    (le64(data, at + i * 24), le64(data, at + i * 24 + 8), le64(data, at + i * 24 + 16))
                else {
                    break;
                };
                out.relocs.push(Reloc {
                    offset,
                    kind: info as u32,
                    sym: (info >> 32) as u32,
                    addend: addend as i64,
                    plt: tag == dt::JMPREL,
                });
            }
            Ok(())
        };
        read_rela(dt::RELA, dt::RELASZ)?;
        read_rela(dt::JMPREL, dt::PLTRELSZ)?;
        if let (Some(v), Some(size)) = (get(dt::RELR), get(dt::RELRSZ)) {
            // An address, then bitmaps of the 63 words after it.
            let at = off(dt::RELR, v)?;
            let mut base = 0u64;
            for i in 0..(size / 8).min(MAX_ENTRIES) {
                let Some(e) = le64(data, at + i * 8) else { break };
                if e & 1 == 0 {
                    out.relr.push(e);
                    base = e.wrapping_add(8);
                } else {
                    for bit in 0..63 {
                        if (e >> (bit + 1)) & 1 != 0 {
                            out.relr.push(base.wrapping_add(bit * 8));
                        }
                    }
                    base = base.wrapping_add(63 * 8);
                }
            }
        }

        // Symbols: DT_GNU_HASH counts them (the last chain's end).
        if let Some(v) = get(dt::SYMTAB) {
            let symtab = off(dt::SYMTAB, v)?;
            let mut count = out.relocs.iter().map(|r| u64::from(r.sym) + 1).max().unwrap_or(0);
            if let Some(h) = get(dt::GNU_HASH).map(|h| off(dt::GNU_HASH, h)).transpose()? {
                count = count.max(gnu_hash_count(data, h).unwrap_or(0));
            }
            let versym = get(dt::VERSYM).map(|v| off(dt::VERSYM, v)).transpose()?;
            for i in 0..count.min(MAX_ENTRIES) {
                let at = symtab + i * 24;
                let (Some(n), Some(info), Some(shndx), Some(value), Some(size)) =
                    (le32(data, at), data.get(at as usize + 4).copied(), le16(data, at + 6), le64(data, at + 8), le64(data, at + 16))
                else {
                    break;
                };
                let vs = versym.and_then(|v| le16(data, v + i * 2)).unwrap_or(1);
                let version = versions.iter().find(|(ndx, _)| *ndx == vs & 0x7fff).map(|(_, n)| n.clone()).filter(|_| vs & 0x7fff > 1);
                out.symbols.push(DynSym {
                    name: name(u64::from(n)),
                    version,
                    hidden: vs & 0x8000 != 0,
                    value,
                    size,
                    defined: shndx != 0,
                    tls: info & 0xf == 6,
                    weak: info >> 4 == 2,
                });
            }
        }
        Ok(out)
    }

    /// The definition of `name` (with `version` if the reference names
    /// one, else the default), as `do_lookup_x` accepts it: defined, and a
    /// hidden version only when asked for by name.
    pub fn lookup(&self, name: &str, version: Option<&str>) -> Option<&DynSym> {
        self.symbols.iter().find(|s| {
            s.defined
                && s.name == name
                && match (version, s.version.as_deref()) {
                    (Some(want), Some(have)) => want == have,
                    _ => !s.hidden,
                }
        })
    }
}

/// The number of symbols DT_GNU_HASH covers: past the highest bucket's
/// chain, whose last entry has bit 0 set.
fn gnu_hash_count(d: &[u8], at: u64) -> Option<u64> {
    let nbuckets = u64::from(le32(d, at)?);
    let symoffset = u64::from(le32(d, at + 4)?);
    let bloom = u64::from(le32(d, at + 8)?);
    let buckets = at + 16 + bloom * 8;
    let max = (0..nbuckets.min(MAX_ENTRIES)).filter_map(|i| le32(d, buckets + i * 4)).max()?;
    if u64::from(max) < symoffset {
        return Some(symoffset);
    }
    let chains = buckets + nbuckets * 4;
    let mut i = u64::from(max);
    while i < MAX_ENTRIES {
        if le32(d, chains + (i - symoffset) * 4)? & 1 != 0 {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}
