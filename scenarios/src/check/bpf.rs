//! Checks on the kernel's BPF objects: maps, values, programs, links, struct_ops.

use super::*;

crate::checks! {
    /// A check on the kernel's BPF objects.
    pub enum BpfCheck (f, st, outcome) {
        /// A BPF map, by name, in the kernel.
        BpfMap = "bpf_map" {
            /// Its name.
            name: String = f.need_str("name")?,
            /// Its id (when several maps share the name).
            id: Option<u32> = f.int("id")?,
            /// Whether one is alive.
            exists: bool = f.bool("exists")?.unwrap_or(true),
            /// Its refcnt.
            refcnt: Option<u32> = f.int("refcnt")?,
            /// Its usercnt.
            usercnt: Option<u32> = f.int("usercnt")?,
        }
        eval {
            let m = st.bpf.maps.iter().find(|(i, m)| &m.def.name == name && id.is_none_or(|id| id == **i)).map(|(_, m)| m);
            let name = &match id {
                Some(id) => format!("{name} (id {id})"),
                None => name.clone(),
            };
            let mut want = if *exists { format!("map {name} is alive") } else { format!("no map {name} is alive") };
            let mut found = if m.is_some() { format!("map {name} is alive") } else { format!("no map {name} is alive") };
            if let Some(m) = m {
                if let Some(r) = refcnt {
                    want += &format!(", refcnt {r}");
                    found += &format!(", refcnt {}", m.refcnt);
                }
                if let Some(u) = usercnt {
                    want += &format!(", usercnt {u}");
                    found += &format!(", usercnt {}", m.usercnt);
                }
            }
            (want.clone(), eq(found, want))
        };

        /// A value in a BPF map (keys and values read as little-endian numbers).
        BpfMapValue = "bpf_map_value" {
            /// Map name.
            name: String = f.need_str("name")?,
            /// Key.
            key: u64 = f.need_u64("key")?,
            /// Expected value.
            value: u64 = f.need_u64("value")?,
        }
        eval {
            let what = format!("{name}[{key}] is {value}");
            let found = st.bpf.maps.values().find(|m| &m.def.name == name).map(|m| {
                let k: Vec<u8> = key.to_le_bytes()[..m.def.key_size.min(8) as usize].to_vec();
                m.value(&st.linux, &k).map(|v| v.iter().take(8).rev().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
            });
            match found {
                Some(Some(v)) => (what, eq(v.to_string(), value.to_string())),
                Some(None) => (what, Err("no such key".into())),
                None => (what, Err("no such map".into())),
            }
        };

        /// A BPF program, by name, in the kernel.
        BpfProg = "bpf_prog" {
            /// Its name.
            name: String = f.need_str("name")?,
            /// Whether one is loaded.
            exists: bool = f.bool("exists")?.unwrap_or(true),
            /// How many maps it holds.
            maps: Option<usize> = f.int("maps")?,
            /// The id of a map it must hold.
            map_id: Option<u32> = f.int("map_id")?,
            /// Its size after the verifier's rewrites, in bytes (`bpftool prog
            /// show`'s `xlated NB`: 8 per instruction slot).
            xlated: Option<usize> = f.int("xlated")?,
        }
        eval {
            // With map_id, the program of that name that holds it (names may repeat).
            let p = st.bpf.progs.values().find(|p| &p.name == name && map_id.is_none_or(|m| p.map_ids.contains(&m)));
            let mut want = if *exists { format!("program {name} is loaded") } else { format!("no program {name} is loaded") };
            let mut found = if p.is_some() { format!("program {name} is loaded") } else { format!("no program {name} is loaded") };
            if let (Some(p), Some(n)) = (p, maps) {
                want += &format!(" holding {n} map(s)");
                found += &format!(" holding {} map(s)", p.map_ids.len());
            }
            if let Some(m) = map_id {
                want += &format!(" using map {m}");
                if p.is_some() {
                    found += &format!(" using map {m}");
                }
            }
            if let (Some(p), Some(x)) = (p, xlated) {
                want += &format!(", xlated {x}B");
                found += &format!(", xlated {}B", p.xlated);
            }
            (want.clone(), eq(found, want))
        };

        /// A BPF link by id: whether it exists, which program it attaches, its refcnt.
        BpfLink = "bpf_link" {
            /// The link id.
            id: u32 = f.need_int("id")?,
            /// Whether it exists.
            exists: bool = f.bool("exists")?.unwrap_or(true),
            /// The program it holds.
            prog: Option<u32> = f.int("prog")?,
            /// Its reference count.
            refcnt: Option<u32> = f.int("refcnt")?,
        }
        eval {
            let l = st.bpf.links.get(id);
            let mut want = if *exists { format!("link {id} exists") } else { format!("no link {id}") };
            let mut found = if l.is_some() { format!("link {id} exists") } else { format!("no link {id}") };
            if let (Some(l), Some(p)) = (l, prog) {
                want += &format!(", attaching program {p}");
                found += &format!(", attaching program {}", l.prog);
            }
            if let (Some(l), Some(r)) = (l, refcnt) {
                want += &format!(", refcnt {r}");
                found += &format!(", refcnt {}", l.refcnt);
            }
            (want.clone(), eq(found, want))
        };

        /// Whether a struct_ops (a TCP congestion control, say) is registered under `name`.
        BpfStructOps = "bpf_struct_ops" {
            /// The registered name.
            name: String = f.need_str("name")?,
            /// Whether it is.
            registered: bool = f.bool("registered")?.unwrap_or(true),
        }
        eval {
            let is = st.bpf.struct_ops.contains_key(name);
            let say =
                |r: bool| if r { format!("struct_ops {name} is registered") } else { format!("no struct_ops {name} is registered") };
            (say(*registered), eq(say(is), say(*registered)))
        };
    }
}
