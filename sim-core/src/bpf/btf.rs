//! The parts of BTF (include/uapi/linux/btf.h) the object reader needs:
//! types by id, names, sizes, the `.maps` variables and struct_ops types.

use super::*;

/// The parts of BTF the map reader needs.
#[derive(Debug)]
pub(super) struct Btf {
    types: Vec<(u32, u32, u32, Vec<u32>)>, // (name_off, info, size_or_type, extra words)
    strings: Vec<u8>,
}

impl Btf {
    pub(super) fn parse(d: &[u8]) -> Result<Btf, String> {
        let u32_at = |o: usize| -> Result<u32, String> {
            d.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| format!("truncated at {o}"))
        };
        if d.len() < 24 || u16::from_le_bytes([d[0], d[1]]) != 0xeb9f {
            return Err("bad magic (expected 0xeb9f)".into());
        }
        let hdr = u32_at(4)? as usize;
        let (toff, tlen, soff, slen) = (u32_at(8)? as usize, u32_at(12)? as usize, u32_at(16)? as usize, u32_at(20)? as usize);
        let tstart = hdr.checked_add(toff).ok_or("bad type offset")?;
        let sstart = hdr.checked_add(soff).ok_or("bad string offset")?;
        let strings = d.get(sstart..sstart.checked_add(slen).ok_or("bad string length")?).ok_or("string section past the end")?.to_vec();
        let end = tstart.checked_add(tlen).filter(|e| *e <= d.len()).ok_or("type section past the end")?;
        let mut types = Vec::new();
        let mut o = tstart;
        while o < end {
            if types.len() > 100_000 {
                return Err("too many types".into());
            }
            let (name, info, st) = (u32_at(o)?, u32_at(o + 4)?, u32_at(o + 8)?);
            o += 12;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let words = match kind {
                1 | 14 | 17 => 1,
                3 => 3,
                4 | 5 => 3 * vlen,
                6 | 13 => 2 * vlen,
                15 | 19 => 3 * vlen,
                2 | 7..=12 | 16 | 18 => 0,
                k => return Err(format!("unknown BTF kind {k}")),
            };
            let mut extra = Vec::with_capacity(words);
            for i in 0..words {
                extra.push(u32_at(o + 4 * i)?);
            }
            o += 4 * words;
            types.push((name, info, st, extra));
        }
        Ok(Btf { types, strings })
    }

    /// A type as bpftool's `btf_dumper_type_only` writes it (the signature
    /// line of `bpftool prog dump xlated`: `int twice(int x)`, `void * ctx`
    /// with its spaces); None where bpftool writes nothing (a kind it does
    /// not print, or a chain too deep).
    pub(super) fn type_only(&self, id: u32) -> Option<String> {
        let mut out = String::new();
        self.type_only_into(id, &mut out, 0)?;
        Some(out)
    }

    /// `__btf_dumper_type_only`.
    fn type_only_into(&self, id: u32, out: &mut String, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        if id == 0 {
            out.push_str("void ");
            return Some(());
        }
        let (name_off, info, st, extra) = self.ty(id).ok()?;
        let name = self.name(*name_off);
        match (info >> 24) & 0x1f {
            1 | 8 | 16 => out.push_str(&format!("{name} ")),
            4 => out.push_str(&format!("struct {name} ")),
            5 => out.push_str(&format!("union {name} ")),
            6 | 19 => out.push_str(&format!("enum {name} ")),
            3 => {
                self.type_only_into(*extra.first()?, out, depth + 1)?;
                out.push_str(&format!("[{}]", extra.get(2)?));
            }
            2 => {
                self.type_only_into(*st, out, depth + 1)?;
                out.push_str("* ");
            }
            7 => out.push_str(&format!("{} {name} ", if info >> 31 == 1 { "union" } else { "struct" })),
            9..=11 => {
                out.push_str(["volatile ", "const ", "restrict "][((info >> 24) & 0x1f) as usize - 9]);
                self.type_only_into(*st, out, depth + 1)?;
            }
            13 => self.func_into(id, None, out, depth)?,
            12 => self.func_into(*st, Some(&name), out, depth)?,
            _ => return None,
        }
        Some(())
    }

    /// `btf_dump_func`: the return type, the name, the parameters.
    fn func_into(&self, proto: u32, name: Option<&str>, out: &mut String, depth: u32) -> Option<()> {
        let (_, info, ret, params) = self.ty(proto).ok()?;
        if (info >> 24) & 0x1f != 13 {
            return None;
        }
        self.type_only_into(*ret, out, depth + 1)?;
        out.push_str(&format!("{}(", name.unwrap_or("")));
        for (k, p) in params.chunks(2).enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let (pname, pty) = (p[0], *p.get(1)?);
            if pty == 0 {
                out.push_str("...");
                continue;
            }
            self.type_only_into(pty, out, depth + 1)?;
            if pname != 0 {
                out.push_str(&self.name(pname));
            } else if out.ends_with(' ') {
                out.pop();
            }
        }
        out.push(')');
        Some(())
    }

    /// The number of types (ids 1..=len).
    pub(super) fn len(&self) -> u32 {
        self.types.len() as u32
    }

    pub(super) fn name(&self, off: u32) -> String {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        String::from_utf8_lossy(&s[..s.iter().position(|b| *b == 0).unwrap_or(s.len())]).into_owned()
    }

    pub(super) fn ty(&self, id: u32) -> Result<&(u32, u32, u32, Vec<u32>), String> {
        id.checked_sub(1).and_then(|i| self.types.get(i as usize)).ok_or_else(|| format!("type id {id} does not exist"))
    }

    pub(super) fn kind(&self, id: u32) -> Result<u32, String> {
        Ok((self.ty(id)?.1 >> 24) & 0x1f)
    }

    /// Follows typedef/volatile/const/restrict/type_tag.
    pub(super) fn skip_mods(&self, mut id: u32) -> Result<u32, String> {
        for _ in 0..32 {
            match self.kind(id)? {
                8..=11 | 18 => id = self.ty(id)?.2,
                _ => return Ok(id),
            }
        }
        Err("modifier chain too long".into())
    }

    pub(super) fn size(&self, id: u32) -> Result<u32, String> {
        let id = self.skip_mods(id)?;
        let (_, _, st, extra) = self.ty(id)?;
        match self.kind(id)? {
            1 | 4 | 5 | 6 | 16 | 19 => Ok(*st),
            2 => Ok(8),
            3 => Ok(self.size(extra[0])?.saturating_mul(extra[2])),
            k => Err(format!("type of kind {k} has no size")),
        }
    }

    /// `__uint(name, N)` is `int (*name)[N]`: a pointer to an array of N.
    pub(super) fn uint_member(&self, ty: u32) -> Result<u32, String> {
        let p = self.skip_mods(ty)?;
        if self.kind(p)? != 2 {
            return Err("expected a pointer".into());
        }
        let a = self.skip_mods(self.ty(p)?.2)?;
        if self.kind(a)? != 3 {
            return Err("expected a pointer to an array".into());
        }
        Ok(self.ty(a)?.3[2])
    }

    /// The variables of DATASEC `.struct_ops`: (variable name, its struct's
    /// name, its offset and size in the section, the struct's members as
    /// (name, byte offset, whether it is a function pointer returning
    /// void)), as `bpf_object__init_struct_ops` reads them.
    #[allow(clippy::type_complexity)]
    pub(super) fn struct_ops_vars(&self) -> Result<Vec<(String, String, u32, u32, Vec<(String, u32, bool)>)>, String> {
        let mut out = Vec::new();
        for (name, info, _, extra) in &self.types {
            if (info >> 24) & 0x1f != 15 || self.name(*name) != ".struct_ops" {
                continue;
            }
            for v in extra.chunks(3) {
                let var = self.ty(v[0])?;
                let st = self.skip_mods(var.2)?;
                let (sname, sinfo, _, members) = self.ty(st)?;
                if (sinfo >> 24) & 0x1f != 4 {
                    return Err(format!("struct_ops {}: not a struct", self.name(var.0)));
                }
                let kflag = sinfo >> 31 == 1;
                let fields = members
                    .chunks(3)
                    .map(|m| (self.name(m[0]), if kflag { m[2] & 0xff_ffff } else { m[2] } / 8, self.returns_void(m[1])))
                    .collect();
                out.push((self.name(var.0), self.name(*sname), v[1], v[2], fields));
            }
        }
        Ok(out)
    }

    /// Whether `ty` is a pointer to a function returning void.
    pub(super) fn returns_void(&self, ty: u32) -> bool {
        let proto = self.skip_mods(ty).and_then(|p| if self.kind(p)? == 2 { self.skip_mods(self.ty(p)?.2) } else { Err(String::new()) });
        matches!(proto, Ok(f) if self.kind(f) == Ok(13) && self.ty(f).map(|t| t.2) == Ok(0))
    }

    /// The type ids named `name` (`btf__find_by_name`).
    fn find(&self, name: &str) -> impl Iterator<Item = u32> + '_ {
        let name = name.to_string();
        self.types.iter().enumerate().filter(move |(_, t)| self.name(t.0) == name).map(|(i, _)| i as u32 + 1)
    }

    /// The variables (type ids of their VARs, offset, size) of the DATASEC
    /// named `sec`, by offset as `btf_fixup_datasec` sorts them.
    fn datasec(&self, sec: &str) -> Vec<(u32, u32, u32)> {
        let Some(id) = self.find(sec).find(|id| self.kind(*id) == Ok(15)) else { return vec![] };
        let mut v: Vec<(u32, u32, u32)> = self.ty(id).map(|t| t.3.chunks(3).map(|c| (c[0], c[1], c[2])).collect()).unwrap_or_default();
        v.sort_by_key(|x| x.1);
        v
    }

    /// The variables of DATASEC `sec`: name, offset, size, signed integer.
    pub(super) fn datasec_vars(&self, sec: &str) -> Vec<DataVar> {
        self.datasec(sec)
            .iter()
            .filter_map(|(var, off, size)| {
                let t = self.ty(*var).ok()?;
                let signed = self.skip_mods(t.2).ok().and_then(|i| self.ty(i).ok().map(|x| (self.kind(i).ok(), x.3.first().copied())));
                let signed = matches!(signed, Some((Some(1), Some(enc))) if (enc >> 24) & 1 == 1);
                Some(DataVar { name: self.name(t.0), off: *off, size: *size, signed })
            })
            .collect()
    }

    /// `map_is_mmapable`: the section's DATASEC has a variable that is not
    /// static (and whose symbol is not hidden: `is_hidden`).
    pub(super) fn datasec_has_global(&self, sec: &str, is_hidden: impl Fn(&str) -> bool) -> bool {
        self.datasec(sec).iter().any(|(var, _, _)| {
            self.ty(*var).is_ok_and(|t| (t.1 >> 24) & 0x1f == 14 && t.3.first().is_some_and(|l| *l != 0) && !is_hidden(&self.name(t.0)))
        })
    }

    /// Whether `name` is an extern listed in DATASEC `sec`.
    pub(super) fn extern_in(&self, name: &str, sec: &str) -> bool {
        self.extern_section(name).is_some_and(|(s, _, _)| s == sec)
    }

    /// The DATASEC an extern VAR or FUNC `name` is listed in, with the
    /// variable's size and alignment (`btf__resolve_size`, `btf__align_of`).
    pub(super) fn extern_section(&self, name: &str) -> Option<(String, u32, u32)> {
        let ids: Vec<u32> = self.find(name).filter(|id| matches!(self.kind(*id), Ok(12 | 14))).collect();
        for (i, (sname, info, _, extra)) in self.types.iter().enumerate() {
            if (info >> 24) & 0x1f != 15 {
                continue;
            }
            if let Some(c) = extra.chunks(3).find(|c| ids.contains(&c[0])) {
                let var = self.ty(c[0]).ok()?;
                let (size, align) =
                    if (var.1 >> 24) & 0x1f == 14 { (self.size(var.2).unwrap_or(c[2]), self.align(var.2).unwrap_or(1)) } else { (0, 1) };
                let _ = i;
                return Some((self.name(*sname), size, align));
            }
        }
        None
    }

    /// `btf__align_of`: integers, enums and floats align to their size
    /// (at most 8), pointers to 8, arrays as their element, structs as
    /// their most aligned member.
    fn align(&self, id: u32) -> Result<u32, String> {
        let id = self.skip_mods(id)?;
        let (_, _, st, extra) = self.ty(id)?;
        match self.kind(id)? {
            1 | 6 | 16 | 19 => Ok((*st).clamp(1, 8)),
            2 => Ok(8),
            3 => self.align(extra[0]),
            4 | 5 => extra.chunks(3).try_fold(1, |a, m| Ok(a.max(self.align(m[1])?))),
            k => Err(format!("type of kind {k} has no alignment")),
        }
    }

    /// The struct of the `.maps` variable `map`.
    fn map_struct(&self, map: &str) -> Option<u32> {
        self.datasec(".maps").iter().find_map(|(var, _, _)| {
            let t = self.ty(*var).ok()?;
            (self.name(t.0) == map).then(|| self.skip_mods(t.2).ok()).flatten()
        })
    }

    /// The size of the `.maps` variable `map` as DATASEC `.maps` lists it
    /// (with its initial `values`, past the definition's struct).
    pub(super) fn map_def_size(&self, map: &str) -> u32 {
        self.datasec(".maps").iter().find(|(var, _, _)| self.ty(*var).is_ok_and(|t| self.name(t.0) == map)).map_or(0, |v| v.2)
    }

    /// The byte offset of the `values` member in `map`'s definition.
    pub(super) fn values_member_offset(&self, map: &str) -> Option<u32> {
        let (_, info, _, members) = self.ty(self.map_struct(map)?).ok()?;
        let kflag = info >> 31 == 1;
        members.chunks(3).find(|m| self.name(m[0]) == "values").map(|m| if kflag { m[2] & 0xff_ffff } else { m[2] } / 8)
    }

    /// The maps of DATASEC `.maps`, as `parse_btf_map_def` reads each
    /// definition: every attribute `__uint(name, N)` is a pointer to an
    /// array of N; `key`/`value` are pointers to the types; `values` (last)
    /// makes a prog array or map-in-map whose values are 4-byte ids; only
    /// the type is required; an unknown field is refused.
    pub(super) fn maps(&self) -> Result<Vec<MapDef>, BpfObjectError> {
        let mut out = Vec::new();
        for (var, _, _) in self.datasec(".maps") {
            let var = self.ty(var).map_err(BpfObjectError::Btf)?;
            let map_name = self.name(var.0);
            let err = |m: String| BpfObjectError::Map(map_name.clone(), m);
            let st = self.skip_mods(var.2).map_err(err)?;
            let (_, sinfo, _, members) = self.ty(st).map_err(err)?;
            if (sinfo >> 24) & 0x1f != 4 {
                return Err(err(format!("unexpected def kind {}.", kind_name((sinfo >> 24) & 0x1f))));
            }
            let mut m = MapDef::new(&map_name, MapType(0), 0, 0, 0);
            let n = members.len() / 3;
            for (i, mem) in members.chunks(3).enumerate() {
                let field = self.name(mem[0]);
                let int = |what: &str| self.uint_member(mem[1]).map_err(|e| err(format!("attr '{what}': {e}.")));
                match field.as_str() {
                    "type" => m.kind = MapType(int("type")?),
                    "max_entries" => m.max_entries = int("max_entries")?,
                    "map_flags" => m.map_flags = int("map_flags")?,
                    "numa_node" | "map_extra" => {
                        int(&field)?;
                    }
                    "key_size" => m.key_size = int("key_size")?,
                    "value_size" => m.value_size = int("value_size")?,
                    "pinning" => {
                        m.pinning = int("pinning")?;
                        if m.pinning > 1 {
                            return Err(err(format!("invalid pinning value {}.", m.pinning)));
                        }
                    }
                    "key" | "value" => {
                        m.btf_typed = true;
                        let p = self.skip_mods(mem[1]).map_err(err)?;
                        if self.kind(p).map_err(err)? != 2 {
                            return Err(err(format!("{field} spec is not PTR: {}.", kind_name(self.kind(p).unwrap_or(0)))));
                        }
                        let size = self.size(self.ty(p).map_err(err)?.2).map_err(|e| err(format!("can't determine {field} size: {e}.")))?;
                        let old = if field == "key" { &mut m.key_size } else { &mut m.value_size };
                        if *old != 0 && *old != size {
                            return Err(err(format!("conflicting {field} size {} != {size}.", *old)));
                        }
                        *old = size;
                    }
                    "values" => {
                        if i + 1 != n {
                            return Err(err("'values' member should be last.".into()));
                        }
                        if !matches!(m.kind, MapType::PROG_ARRAY | MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS) {
                            return Err(err("should be map-in-map or prog-array.".into()));
                        }
                        if m.value_size != 0 && m.value_size != 4 {
                            return Err(err(format!("conflicting value size {} != 4.", m.value_size)));
                        }
                        m.value_size = 4;
                    }
                    other => return Err(err(format!("unknown field '{other}'."))),
                }
            }
            if m.kind == MapType(0) {
                return Err(err("map type isn't specified.".into()));
            }
            // fill_map_from_def → adjust_ringbuf_sz: a ring buffer is a
            // power-of-2 number of pages.
            if matches!(m.kind, MapType::RINGBUF | MapType(31)) && m.max_entries != 0 {
                m.max_entries = adjust_ringbuf_sz(m.max_entries);
            }
            out.push(m);
        }
        Ok(out)
    }
}

/// `adjust_ringbuf_sz`: a multiple of the page size that is a power of two
/// pages stays; anything else becomes the next such size.
fn adjust_ringbuf_sz(sz: u32) -> u32 {
    const PAGE: u32 = 4096;
    if sz % PAGE == 0 && (sz / PAGE).is_power_of_two() {
        return sz;
    }
    let mut s = PAGE;
    while s <= sz && s < 1 << 31 {
        s <<= 1;
    }
    s
}

/// `btf_kind_str`.
pub(super) fn kind_name(k: u32) -> &'static str {
    [
        "void",
        "int",
        "ptr",
        "array",
        "struct",
        "union",
        "enum",
        "fwd",
        "typedef",
        "volatile",
        "const",
        "restrict",
        "func",
        "func_proto",
        "var",
        "datasec",
        "float",
        "decl_tag",
        "type_tag",
        "enum64",
    ]
    .get(k as usize)
    .copied()
    .unwrap_or("unknown")
}
