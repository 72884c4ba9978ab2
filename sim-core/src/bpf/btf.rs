//! The parts of BTF (include/uapi/linux/btf.h) the object reader needs:
//! types by id, names, sizes, the `.maps` variables and struct_ops types.

use super::*;

/// The parts of BTF the map reader needs.
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

    /// The maps of DATASEC `.maps`.
    pub(super) fn maps(&self) -> Result<Vec<MapDef>, BpfObjectError> {
        let mut out = Vec::new();
        for (i, (name, info, _, extra)) in self.types.iter().enumerate() {
            if (info >> 24) & 0x1f != 15 || self.name(*name) != ".maps" {
                continue;
            }
            let _ = i;
            for v in extra.chunks(3) {
                let var = self.ty(v[0]).map_err(BpfObjectError::Btf)?;
                let map_name = self.name(var.0);
                let err = |m: String| BpfObjectError::Map(map_name.clone(), m);
                let st = self.skip_mods(var.2).map_err(err)?;
                let (_, sinfo, _, members) = self.ty(st).map_err(err)?;
                if (sinfo >> 24) & 0x1f != 4 {
                    return Err(err("the map definition is not a struct".into()));
                }
                let (mut kind, mut key, mut value, mut max, mut pinning, mut typed) = (None, None, None, None, 0, false);
                for m in members.chunks(3) {
                    let field = self.name(m[0]);
                    match field.as_str() {
                        "type" => kind = Some(self.uint_member(m[1]).map_err(err)?),
                        "max_entries" => max = Some(self.uint_member(m[1]).map_err(err)?),
                        "pinning" => pinning = self.uint_member(m[1]).map_err(err)?,
                        "key_size" => key = Some(self.uint_member(m[1]).map_err(err)?),
                        "value_size" => value = Some(self.uint_member(m[1]).map_err(err)?),
                        "key" | "value" => {
                            typed = true;
                            let p = self.skip_mods(m[1]).map_err(err)?;
                            let size = self.size(self.ty(p).map_err(err)?.2).map_err(err)?;
                            if field == "key" {
                                key = Some(size)
                            } else {
                                value = Some(size)
                            }
                        }
                        _ => {}
                    }
                }
                let type_id = kind.ok_or_else(|| err("missing map type".into()))?;
                out.push(MapDef {
                    name: map_name.clone(),
                    kind: map_type_name(type_id).into(),
                    type_id,
                    key_size: key.ok_or_else(|| err("missing key size".into()))?,
                    value_size: value.ok_or_else(|| err("missing value size".into()))?,
                    max_entries: max.ok_or_else(|| err("missing max_entries".into()))?,
                    pinning,
                    btf_typed: typed,
                });
            }
        }
        Ok(out)
    }
}
