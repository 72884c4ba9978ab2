//! The kernel's BPF objects (kernel/bpf/syscall.c): maps, programs and
//! links with their ids and reference counts, bpffs pins, and how
//! `bpftool prog show` / `map show` print them.

use super::*;

/// A map in the kernel (`struct bpf_map`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KMap {
    /// Its definition.
    pub def: MapDef,
    /// All references.
    pub refcnt: u32,
    /// References from user space (fds, pins).
    pub usercnt: u32,
    /// Contents: key bytes to value bytes (an array map has every index).
    /// Empty for a map whose values live in `pages`.
    pub entries: OrdMap<Vec<u8>, Vec<u8>>,
    /// The frames holding the values of an array created with
    /// `BPF_F_MMAPABLE` (`bpf_map_area_mmapable_alloc`: vmalloc'd pages, the
    /// values page-aligned after the `struct bpf_array` header), which
    /// `mmap` of the map's fd maps into a process: element `i` at byte
    /// `i * elem_size`. Read and write them through [`KMap::value`],
    /// [`KMap::contents`] and [`Ctx::map_store`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<Pfn>,
    /// `BPF_MAP_FREEZE` was called: user space can no longer write it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frozen: bool,
    /// Maps in the slots of a map-in-map (it holds a reference on each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<u32>,
    /// For a struct_ops map: the programs its value points to; for a prog
    /// array, the programs in its slots (it holds a reference on each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progs: Vec<u32>,
}

impl KMap {
    /// A new map of `def`, its one reference and user reference the
    /// creator's fd; empty (its values, if any, are added by the caller).
    pub fn new(def: MapDef) -> KMap {
        KMap { def, refcnt: 1, usercnt: 1, entries: OrdMap::new(), frozen: false, inner: vec![], progs: vec![], pages: vec![] }
    }

    /// Where value `index` of a paged array starts: its byte offset in
    /// the values; `None` past `max_entries` or for a map without pages.
    fn value_offset(&self, key: &[u8]) -> Option<u64> {
        let index = u32::from_le_bytes(key.try_into().ok()?);
        (!self.pages.is_empty() && index < self.def.max_entries).then(|| u64::from(index) * self.def.elem_size())
    }

    /// The pieces of `len` bytes at byte `off` of the values: (frame,
    /// offset in it, length), a value straddling pages in two.
    fn spans(&self, mem: &LinuxState, off: u64, len: usize) -> Vec<(Pfn, usize, usize)> {
        let page = mem.format.page_size();
        let mut out = Vec::new();
        let (mut at, end) = (off, off + len as u64);
        while at < end {
            let Some(pfn) = self.pages.get((at / page) as usize) else { break };
            let n = (page - at % page).min(end - at);
            out.push((*pfn, (at % page) as usize, n as usize));
            at += n;
        }
        out
    }

    /// The value at `key` (`map->ops->map_lookup_elem`), from the map's
    /// pages or its entries.
    pub fn value(&self, mem: &LinuxState, key: &[u8]) -> Option<Vec<u8>> {
        if self.pages.is_empty() {
            return self.entries.get(key).cloned();
        }
        let off = self.value_offset(key)?;
        Some(self.spans(mem, off, self.def.value_size as usize).into_iter().flat_map(|(pfn, at, n)| mem.frame_bytes(pfn, at, n)).collect())
    }

    /// Every entry in key order, a paged array's read from its pages.
    pub fn contents(&self, mem: &LinuxState) -> OrdMap<Vec<u8>, Vec<u8>> {
        if self.pages.is_empty() {
            return self.entries.clone();
        }
        (0..self.def.max_entries)
            .filter_map(|i| {
                let k = i.to_le_bytes().to_vec();
                self.value(mem, &k).map(|v| (k, v))
            })
            .collect()
    }
}

impl Ctx<'_> {
    /// Writes `value` at `key` of map `id` (`map_update_elem` of an array
    /// or hash): into its pages (a store the processes that map them see at
    /// once) or its entries.
    pub fn map_store(&mut self, id: u32, key: &[u8], value: &[u8]) {
        let Some(m) = self.h.bpf.maps.get(&id) else { return };
        match m.value_offset(key) {
            Some(off) => {
                let spans = m.spans(self.linux, off, value.len());
                let mut at = 0;
                for (pfn, o, n) in spans {
                    self.k().phys_write(pfn, o, &value[at..at + n]);
                    at += n;
                }
            }
            None if !m.pages.is_empty() => {}
            None => {
                let (k, v) = (key.to_vec(), value.to_vec());
                self.bpf_update(|b| {
                    if let Some(m) = b.maps.get_mut(&id) {
                        m.entries.insert(k, v);
                    }
                });
            }
        }
    }
}

/// A program in the kernel (`struct bpf_prog`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KProg {
    /// Name.
    pub name: String,
    /// Type as bpftool prints it.
    pub prog_type: ProgType,
    /// Ids of the maps it holds (`aux->used_maps`).
    pub map_ids: Vec<u32>,
    /// Bytes of translated instructions: the program as the verifier
    /// leaves it ([`super::fixups::misc_fixups`]).
    pub xlated: usize,
    /// Bytes of the x86-64 JIT's image ([`super::jit::jited_len_funcs`]), or
    /// None for a program whose image the simulator does not size (a tail
    /// call whose prog array or key the verifier does not know, arena,
    /// module kfuncs: see [`super::jit::JitError`]).
    pub jited: Option<u32>,
    /// Seconds after the simulated machine's boot the program was loaded
    /// ([`SIM_BOOT`]).
    pub load_time: u64,
    /// The program's tag: [`prog_tag`] of its instructions as loaded.
    pub tag: [u8; 8],
    /// The instructions as loaded, each map reference resolved to its id.
    #[serde(skip)]
    pub insns: Vec<[u8; 8]>,
    /// What `bpftool prog dump xlated` shows of it.
    #[serde(skip)]
    pub dump: std::sync::Arc<XlatedDump>,
    /// References.
    pub refcnt: u32,
}

/// The reference machine (x86-64, 4 KiB pages, `num_possible_cpus()` 2)
/// and its kernel's structure sizes, as its maps' memory use shows them.
mod usage {
    pub const PAGE: u64 = 4096;
    pub const CPUS: u64 = 2;
    /// `sizeof(struct bpf_array)`: the values start there (`r1 += 312`).
    pub const BPF_ARRAY: u64 = 312;
    /// `sizeof(struct bpf_htab)`.
    pub const BPF_HTAB: u64 = 832;
    /// `sizeof(struct bucket)`.
    pub const BUCKET: u64 = 16;
    /// `HASHTAB_MAP_LOCK_COUNT` ints per CPU.
    pub const HTAB_LOCKS: u64 = 8 * 4;
    /// `sizeof(struct htab_elem)` before its key.
    pub const HTAB_ELEM: u64 = 48;
    /// `sizeof(struct bpf_ringbuf_map)`.
    pub const RINGBUF_MAP: u64 = 304;
    /// `RINGBUF_NR_META_PAGES`: `RINGBUF_PGOFF` (1, the header before
    /// `consumer_pos`) and the consumer and producer position pages.
    pub const RINGBUF_META_PAGES: u64 = 3;
    /// `bpf_struct_ops_map_mem_usage` of a `tcp_congestion_ops` map,
    /// measured (`bpftool map show` after `bpftool struct_ops register`).
    pub const TCP_CONGESTION_OPS: u64 = 5264;
}

/// `map->ops->map_mem_usage`: the `memlock` bpftool prints (from the map's
/// fdinfo, Linux 6.4+), on the reference machine ([`usage`]): each map
/// type's own count (`array_map_mem_usage`, `htab_map_mem_usage`,
/// `ringbuf_map_mem_usage`, `bpf_struct_ops_map_mem_usage`).
pub fn map_memlock(m: &KMap) -> u64 {
    use usage::*;
    let d = &m.def;
    // Saturating: a hostile object's sizes overflow no counter.
    let (entries, key, value) = (u64::from(d.max_entries), u64::from(d.key_size).div_ceil(8) * 8, u64::from(d.value_size).div_ceil(8) * 8);
    let mul = |a: u64, b: u64| a.saturating_mul(b);
    let page_align = |n: u64| n.div_ceil(PAGE).saturating_mul(PAGE);
    match d.kind {
        MapType::PERCPU_ARRAY => BPF_ARRAY.saturating_add(mul(entries, 8)).saturating_add(mul(mul(entries, value), CPUS)),
        // Arrays of values, and the fd arrays (a pointer per slot).
        MapType::ARRAY | MapType::PROG_ARRAY | MapType::PERF_EVENT_ARRAY | MapType::ARRAY_OF_MAPS => {
            let elem = if d.kind == MapType::ARRAY { value } else { 8 };
            if d.kind == MapType::ARRAY && d.map_flags & 0x400 != 0 {
                // BPF_F_MMAPABLE: the header and the values page-aligned.
                page_align(BPF_ARRAY).saturating_add(page_align(mul(entries, elem)))
            } else {
                BPF_ARRAY.saturating_add(mul(entries, elem))
            }
        }
        MapType::HASH | MapType::PERCPU_HASH | MapType::LRU_HASH | MapType::HASH_OF_MAPS => {
            let percpu = d.kind == MapType::PERCPU_HASH;
            let lru = d.kind == MapType::LRU_HASH;
            let fd = d.kind == MapType::HASH_OF_MAPS;
            // A per-CPU value and an inner map are held through a pointer.
            let elem = HTAB_ELEM.saturating_add(key).saturating_add(if percpu || fd { 8 } else { value });
            let buckets = entries.max(1).checked_next_power_of_two().unwrap_or(u64::MAX);
            let mut u = BPF_HTAB.saturating_add(mul(BUCKET, buckets)).saturating_add(HTAB_LOCKS * CPUS);
            // BPF_F_NO_PREALLOC: the elements there are, with a list node each.
            if d.map_flags & 1 != 0 && !lru {
                let n = m.entries.len() as u64;
                let per_cpu = if percpu { mul(16, n).saturating_add(mul(mul(value, CPUS), n)) } else { 0 };
                return u.saturating_add(mul(elem.saturating_add(8), n)).saturating_add(per_cpu);
            }
            // htab_has_extra_elems: a spare element per CPU for a plain hash.
            let n = entries.saturating_add(if !percpu && !lru && !fd { CPUS } else { 0 });
            u = u.saturating_add(mul(elem, n));
            if percpu {
                u = u.saturating_add(mul(mul(value, CPUS), n));
            } else if !lru {
                u = u.saturating_add(8 * CPUS);
            }
            u
        }
        MapType::RINGBUF => {
            let data = entries / PAGE;
            RINGBUF_MAP.saturating_add(mul(RINGBUF_META_PAGES + data, PAGE)).saturating_add(mul(RINGBUF_META_PAGES + mul(2, data), 8))
        }
        MapType::STRUCT_OPS => TCP_CONGESTION_OPS,
        _ => PAGE,
    }
}

/// The simulated machine's boot, in seconds since the epoch:
/// 2026-12-01T00:00:00+0000. Its clock is its own, as its ids are: the
/// n-th program is loaded n seconds after boot.
pub const SIM_BOOT: u64 = 1_796_083_200;

/// A load time as bpftool's `print_boot_time` prints it without `-j`: the
/// wall-clock time, `%FT%T%z`, in UTC (the simulated machine's zone).
pub fn boot_time(after_boot: u64) -> String {
    let t = SIM_BOOT + after_boot;
    let (days, rem) = (t / 86_400, t % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000", rem / 3600, rem / 60 % 60, rem % 60)
}

impl KProg {
    /// The tag as bpftool prints it (16 hex digits).
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A program's tag, as `bpf_prog_calc_tag` (kernel/bpf/core.c) computes it
/// when the program is loaded, before the verifier rewrites anything: the
/// first 8 bytes of the SHA-256 digest of its instructions (Linux 6.18,
/// "bpf: Update the bpf_prog_calc_tag to use SHA256"; SHA-1 until 6.17),
/// with each map reference of an ld_imm64 (BPF_PSEUDO_MAP_FD or
/// BPF_PSEUDO_MAP_VALUE) zeroed in both halves, since fds differ from load
/// to load. The same object loaded twice has the same tag.
pub fn prog_tag(insns: &[[u8; 8]]) -> [u8; 8] {
    let mut raw: Vec<u8> = Vec::with_capacity(insns.len() * 8);
    let mut was_ld_map = false;
    for i in insns {
        let mut i = *i;
        let (code, dst, src, off) = (i[0], i[1] & 0x0f, i[1] >> 4, i16::from_le_bytes([i[2], i[3]]));
        if !was_ld_map && code == 0x18 && (src == 1 || src == 2) {
            was_ld_map = true;
            i[4..8].fill(0);
        } else if was_ld_map && code == 0 && dst == 0 && src == 0 && off == 0 {
            was_ld_map = false;
            i[4..8].fill(0);
        } else {
            was_ld_map = false;
        }
        raw.extend_from_slice(&i);
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&raw);
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&digest[..8]);
    tag
}

/// What `bpf_prog_get_info_by_fd` gives bpftool for `prog dump xlated`
/// (Linux 6.18): the instructions as the verifier left them
/// (`bpf_insn_prepare_dump`: map references as map ids, a tail call as
/// `call 12`), the func_info and line_info the verifier moved with them
/// (`adjust_btf_func`, `bpf_adj_linfo`), and the kallsyms name of each
/// function's JIT image (`jited_ksyms`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XlatedDump {
    /// The instructions, each helper call's imm its function's offset
    /// from `__bpf_call_base`, each bpf-to-bpf call's imm still relative.
    pub insns: Vec<[u8; 8]>,
    /// Each function's first instruction and signature.
    pub funcs: Vec<(usize, Option<String>)>,
    /// Each function's image in /proc/kallsyms: `bpf_prog_TAG_NAME`
    /// (`bpf_get_prog_name`: the function's tag and its BTF name, or `F`).
    pub syms: Vec<String>,
    /// The line records, by instruction.
    pub lines: Vec<(usize, super::btf_ext::LineInfo)>,
    /// Why the simulator could not make the rewritten program (a call
    /// whose target it does not know), if so.
    pub unknown: Option<String>,
}

impl XlatedDump {
    /// The function whose first instruction is `at`.
    fn func_at(&self, at: i64) -> Option<usize> {
        self.funcs.iter().position(|(s, _)| *s as i64 == at)
    }

    /// The instructions as the kernel hands them to bpftool: a bpf-to-bpf
    /// call's relative target in `off` and its callee's index in `imm`
    /// (the last loop of `jit_subprogs`).
    pub fn dumped(&self) -> Vec<[u8; 8]> {
        let mut out = self.insns.clone();
        for (i, ins) in out.iter_mut().enumerate() {
            // bpf_insn_prepare_dump: BPF_TAIL_CALL is shown as the helper call.
            if ins[0] == super::fixups::TAIL_CALL {
                ins[0] = 0x85;
                ins[4..8].copy_from_slice(&12i32.to_le_bytes());
            }
            if ins[0] == 0x85 && ins[1] >> 4 == 1 {
                let rel = i32::from_le_bytes([ins[4], ins[5], ins[6], ins[7]]);
                let callee = self.func_at(i as i64 + 1 + i64::from(rel)).unwrap_or(0) as i32;
                ins[2..4].copy_from_slice(&(rel as i16).to_le_bytes());
                ins[4..8].copy_from_slice(&callee.to_le_bytes());
            }
        }
        out
    }

    /// `bpftool prog dump xlated` (`dump_xlated_plain` of bpftool 7.1.0):
    /// a function's signature line where it starts, a `; ` source line
    /// where a line record starts (`bpf_prog_linfo__lfind`; with `linum`
    /// the file, line and column too), then `%4u: ` and the instruction
    /// ([`super::disasm`], bpftool's copy), with `opcodes` its bytes.
    pub fn text(&self, linum: bool, opcodes: bool) -> String {
        use super::disasm::{insn_text, Cbs, Dialect};
        let insns = self.dumped();
        let call = |i: &[u8; 8]| -> Option<String> {
            let imm = i32::from_le_bytes([i[4], i[5], i[6], i[7]]);
            if i[1] >> 4 == 1 {
                let off = i16::from_le_bytes([i[2], i[3]]);
                return Some(match self.syms.get(imm as usize) {
                    Some(sym) => format!("{off:+}#{sym}"),
                    None => format!("{off:+}"),
                });
            }
            super::kallsyms::name_at(imm).map(str::to_string)
        };
        let imm = |i: &[u8; 8], next: &[u8; 8], full: u64| -> Option<String> {
            let (a, b) = (i32::from_le_bytes([i[4], i[5], i[6], i[7]]), i32::from_le_bytes([next[4], next[5], next[6], next[7]]));
            Some(match i[1] >> 4 {
                1 => format!("map[id:{a}]"),
                2 => format!("map[id:{a}][0]+{b}"),
                5 => format!("map[idx:{a}]+{b}"),
                4 => format!("subprog[{a:+}]"),
                _ => format!("0x{full:x}"),
            })
        };
        let cbs = Cbs { call: &call, imm: &imm };
        let mut out = String::new();
        let mut func = self.funcs.iter().peekable();
        let mut nr_skip = 0usize;
        let mut i = 0;
        while i < insns.len() {
            if let Some((_, sig)) = func.next_if(|(s, _)| *s == i) {
                if let Some(sig) = sig.as_deref().filter(|s| !s.is_empty()) {
                    out.push_str(&format!("{sig}:\n"));
                }
            }
            // bpf_prog_linfo__lfind(prog_linfo, i, nr_skip).
            if let Some(first) = self.lines.get(nr_skip).filter(|(at, _)| i >= *at) {
                let last = self.lines[nr_skip..].iter().take_while(|(at, _)| i >= *at).last().unwrap_or(first);
                let l = &last.1;
                let text = l.line.trim_start();
                if linum {
                    out.push_str(&format!("; {text} [file:{} line_num:{} line_col:{}]\n", l.file, l.line_no, l.col));
                } else {
                    out.push_str(&format!("; {text}\n"));
                }
                nr_skip += 1;
            }
            let double = insns[i][0] == 0x18;
            out.push_str(&format!("{i:4}: {}\n", insn_text(&insns, i, Dialect::Bpftool71, &cbs)));
            if opcodes {
                let hex = |b: &[u8; 8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
                out.push_str(&format!("       {}", hex(&insns[i])));
                if let Some(next) = insns.get(i + 1).filter(|_| double) {
                    out.push_str(&format!(" {}", hex(next)));
                }
                out.push('\n');
            }
            i += if double { 2 } else { 1 };
        }
        out
    }
}

/// What a bpffs pin or an fd refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum BpfRef {
    /// A map id.
    Map(u32),
    /// A program id.
    Prog(u32),
    /// A link id.
    Link(u32),
}

impl BpfRef {
    /// The name of the anonymous inode behind an fd on this object, as
    /// /proc/PID/fd shows it (`anon_inode:bpf-map`).
    pub fn inode(self) -> &'static str {
        match self {
            BpfRef::Map(_) => "bpf-map",
            BpfRef::Prog(_) => "bpf-prog",
            BpfRef::Link(_) => "bpf_link",
        }
    }

    /// The object's id.
    pub fn id(self) -> u32 {
        match self {
            BpfRef::Map(id) | BpfRef::Prog(id) | BpfRef::Link(id) => id,
        }
    }

    /// The BPF object an open file refers to, if it is one of ours.
    pub fn of_file(kind: &OfdKind) -> Option<BpfRef> {
        match kind {
            OfdKind::Anon { inode, id } => Self::of_inode(inode, *id),
            _ => None,
        }
    }

    pub(super) fn of_inode(inode: &str, id: u32) -> Option<BpfRef> {
        match inode {
            "bpf-map" => Some(BpfRef::Map(id)),
            "bpf-prog" => Some(BpfRef::Prog(id)),
            "bpf_link" => Some(BpfRef::Link(id)),
            _ => None,
        }
    }
}

impl std::fmt::Display for BpfRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BpfRef::Map(id) => write!(f, "map {id}"),
            BpfRef::Prog(id) => write!(f, "program {id}"),
            BpfRef::Link(id) => write!(f, "link {id}"),
        }
    }
}

/// Which kind of BPF object an id names (each kind has its own IDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpfKind {
    /// Maps (`map_idr`).
    Map,
    /// Programs (`prog_idr`).
    Prog,
    /// Links (`link_idr`).
    Link,
}

impl BpfKind {
    /// From a lesson file's `kind = "map" | "prog" | "link"`.
    pub fn parse(s: &str) -> Result<BpfKind, String> {
        match s {
            "map" => Ok(BpfKind::Map),
            "prog" => Ok(BpfKind::Prog),
            "link" => Ok(BpfKind::Link),
            other => Err(format!("kind `{other}`: use \"map\", \"prog\" or \"link\"")),
        }
    }

    /// The command's name part: `MAP`, `PROG`, `LINK`.
    pub fn cmd(self) -> &'static str {
        match self {
            BpfKind::Map => "MAP",
            BpfKind::Prog => "PROG",
            BpfKind::Link => "LINK",
        }
    }
}

/// A link (`struct bpf_link`): a program attached to a hook. The link holds
/// a reference on its program; the program stays attached while the link
/// lives (its fd, a pin), and is detached when the link is released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KLink {
    /// The attached program.
    pub prog: u32,
    /// Where it is attached (a cgroup path, an interface...).
    pub target: String,
    /// References (fds, pins).
    pub refcnt: u32,
}

/// The kernel's BPF objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfState {
    /// Live maps by id.
    pub maps: OrdMap<u32, KMap>,
    /// Live programs by id.
    pub progs: OrdMap<u32, KProg>,
    /// The last map id handed out (`idr_alloc_cyclic` cursor).
    pub last_map_id: u32,
    /// The last program id handed out.
    pub last_prog_id: u32,
    /// bpffs: path to object.
    pub pins: OrdMap<String, BpfRef>,
    /// Live links by id.
    #[serde(default)]
    pub links: OrdMap<u32, KLink>,
    /// The last link id handed out.
    #[serde(default)]
    pub last_link_id: u32,
    /// Registered struct_ops by the name the kernel knows them by (a TCP
    /// congestion control algorithm, say): the struct_ops map, which the
    /// registration holds.
    #[serde(default)]
    pub struct_ops: OrdMap<String, u32>,
}

impl BpfState {
    /// One more reference on `r`, and a user reference on a map when `uref`
    /// (`bpf_map_inc` / `bpf_map_inc_with_uref`, `bpf_prog_inc`, `bpf_link_inc`).
    pub(super) fn take_ref(&mut self, r: BpfRef, uref: bool) {
        match r {
            BpfRef::Map(id) => {
                if let Some(m) = self.maps.get_mut(&id) {
                    m.refcnt += 1;
                    m.usercnt += u32::from(uref);
                }
            }
            BpfRef::Prog(id) => {
                if let Some(p) = self.progs.get_mut(&id) {
                    p.refcnt += 1;
                }
            }
            BpfRef::Link(id) => {
                if let Some(l) = self.links.get_mut(&id) {
                    l.refcnt += 1;
                }
            }
        }
    }

    /// One reference fewer on `r` (and a user reference on a map when
    /// `uref`); the object leaves its table when no reference is left.
    /// Returns the (refcnt, usercnt) left, or None if `r` did not exist.
    pub(super) fn drop_ref(&mut self, r: BpfRef, uref: bool) -> Option<(u32, u32)> {
        let left = match r {
            BpfRef::Map(id) => self.maps.get_mut(&id).map(|m| {
                m.refcnt = m.refcnt.saturating_sub(1);
                m.usercnt = m.usercnt.saturating_sub(u32::from(uref));
                (m.refcnt, m.usercnt)
            }),
            BpfRef::Prog(id) => self.progs.get_mut(&id).map(|p| {
                p.refcnt = p.refcnt.saturating_sub(1);
                (p.refcnt, 0)
            }),
            BpfRef::Link(id) => self.links.get_mut(&id).map(|l| {
                l.refcnt = l.refcnt.saturating_sub(1);
                (l.refcnt, 0)
            }),
        }?;
        if left.0 == 0 {
            match r {
                BpfRef::Map(id) => drop(self.maps.remove(&id)),
                BpfRef::Prog(id) => drop(self.progs.remove(&id)),
                BpfRef::Link(id) => drop(self.links.remove(&id)),
            }
        }
        Some(left)
    }

    /// `bpftool prog show` text (bpftool's `print_prog_header_plain` and
    /// `print_prog_plain`, v7): the header, `loaded_at` and `uid`, then the
    /// sizes. The reference kernel has CONFIG_BPF_JIT_ALWAYS_ON, so every
    /// loaded program is JIT-compiled; a program whose image the simulator
    /// does not size says so in words where bpftool prints its size.
    pub fn prog_show(&self) -> String {
        let mut s = String::new();
        for (id, p) in &self.progs {
            let jited = match p.jited {
                Some(n) => format!("jited {n}B"),
                None => "jited (size not simulated)".to_string(),
            };
            s += &format!(
                "{id}: {}  name {}  tag {}  gpl\n\tloaded_at {}  uid 0\n\txlated {}B  {jited}  memlock 4096B",
                p.prog_type,
                p.name,
                p.tag_hex(),
                boot_time(p.load_time),
                p.xlated
            );
            if !p.map_ids.is_empty() {
                s += &format!("  map_ids {}", p.map_ids.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","));
            }
            s += "\n";
        }
        s
    }

    /// `bpftool -j prog show`: one JSON array, the fields bpftool prints that
    /// the simulator knows, with bpftool's names.
    pub fn prog_show_json(&self) -> String {
        let items: Vec<String> = self
            .progs
            .iter()
            .map(|(id, p)| {
                let maps = if p.map_ids.is_empty() {
                    String::new()
                } else {
                    format!(",\"map_ids\":[{}]", p.map_ids.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","))
                };
                let jited = p.jited.map(|n| format!(",\"bytes_jited\":{n}")).unwrap_or_default();
                format!(
                    "{{\"id\":{id},\"type\":{},\"name\":{},\"tag\":\"{}\",\"gpl_compatible\":true,\"loaded_at\":{},\"uid\":0,\"bytes_xlated\":{},\"jited\":true{jited},\"bytes_memlock\":4096{maps}}}",
                    json_str(p.prog_type.name()),
                    json_str(&p.name),
                    p.tag_hex(),
                    SIM_BOOT + p.load_time,
                    p.xlated
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    /// `bpftool -j map show`.
    pub fn map_show_json(&self) -> String {
        let items: Vec<String> = self
            .maps
            .iter()
            .map(|(id, m)| {
                format!(
                    "{{\"id\":{id},\"type\":{},\"name\":{},\"flags\":{},\"bytes_key\":{},\"bytes_value\":{},\"max_entries\":{},\"bytes_memlock\":{},\"frozen\":{}}}",
                    json_str(m.def.kind.name()),
                    json_str(&m.def.name),
                    m.def.map_flags,
                    m.def.key_size,
                    m.def.value_size,
                    m.def.max_entries,
                    map_memlock(m),
                    u8::from(m.frozen)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    /// `bpftool link show` text.
    pub fn link_show(&self) -> String {
        self.links.iter().map(|(id, l)| format!("{id}: link  prog {}\n\tattached to {}\n", l.prog, l.target)).collect()
    }

    /// `bpftool -j link show`.
    pub fn link_show_json(&self) -> String {
        let items: Vec<String> =
            self.links.iter().map(|(id, l)| format!("{{\"id\":{id},\"prog_id\":{},\"target\":{}}}", l.prog, json_str(&l.target))).collect();
        format!("[{}]", items.join(","))
    }

    /// `bpftool map show` text.
    pub fn map_show(&self) -> String {
        let mut s = String::new();
        for (id, m) in &self.maps {
            s += &format!(
                "{id}: {}  name {}  flags {:#x}\n\tkey {}B  value {}B  max_entries {}  memlock {}B\n",
                m.def.kind,
                m.def.name,
                m.def.map_flags,
                m.def.key_size,
                m.def.value_size,
                m.def.max_entries,
                map_memlock(m)
            );
            // show_map_close_plain: `frozen` from the map's fdinfo.
            if m.frozen {
                s += "\tfrozen\n";
            }
        }
        s
    }
}

impl BpfState {
    /// `bpftool map dump`'s text for map `id`: a global-data map (its value
    /// described by BTF) by its variables, as `btf_dumper` prints a DATASEC;
    /// any other map as `key: .. value: ..` lines and the count.
    pub fn map_dump(&self, mem: &LinuxState, id: u32) -> String {
        let Some(m) = self.maps.get(&id) else { return String::new() };
        if let (Some(int), Some(value)) = (&m.def.internal, m.value(mem, &0u32.to_le_bytes())) {
            let vars: Vec<String> = int
                .vars
                .iter()
                .map(|v| {
                    let b = value.get(v.off as usize..(v.off + v.size) as usize).unwrap_or(&[]);
                    let n = le(b);
                    let shown = match (v.size, v.signed) {
                        (1 | 2 | 4 | 8, true) => {
                            let shift = 64 - 8 * v.size;
                            (((n << shift) as i64) >> shift).to_string()
                        }
                        (1 | 2 | 4 | 8, false) => n.to_string(),
                        _ => format!("[{}]", b.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")),
                    };
                    format!("{{\n                    \"{}\": {shown}\n                }}", v.name)
                })
                .collect();
            return format!(
                "[{{\n        \"value\": {{\n            \"{}\": [{}\n            ]\n        }}\n    }}\n]",
                int.section,
                vars.join(",")
            );
        }
        let entries = m.contents(mem);
        let mut s: String = entries.iter().map(|(k, v)| format!("key: {}  value: {}\n", hex(k), hex(v))).collect();
        s += &match entries.len() {
            1 => "Found 1 element".to_string(),
            n => format!("Found {n} elements"),
        };
        s
    }
}

/// Little-endian bytes as a number (keys and values of up to 8 bytes).
/// `KMALLOC_MAX_SIZE` on x86_64 with SLUB: `1 << (PAGE_SHIFT + MAX_PAGE_ORDER)`.
const KMALLOC_MAX_SIZE: u64 = 1 << 22;
/// `sizeof(struct htab_elem)` on x86_64 (kernel/bpf/hashtab.c).
const HTAB_ELEM_SIZE: u64 = 48;
/// `PCPU_MIN_UNIT_SIZE` (include/linux/percpu.h): 32 KiB.
const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;

/// CPUs the simulated machine can have (`/sys/devices/system/cpu/possible`
/// reads `0-1`), which libbpf reads to size a perf event array.
pub const POSSIBLE_CPUS: u32 = 2;

/// What `map_create()` (kernel/bpf/syscall.c, Linux 6.x) asks of a map's
/// attributes before it allocates the map, for the map types the simulator
/// creates: `array_map_alloc_check` (arraymap.c; `fd_array_map_alloc_check`
/// first asks a prog or perf-event array for 4-byte values),
/// `htab_map_alloc_check` (hashtab.c) and `ringbuf_map_alloc` (ringbuf.c);
/// then whether `bpf_map_area_alloc` finds the memory for an array, which
/// is allocated whole (`memory` bytes of RAM). Checked on Linux 6.18 with
/// `bpftool map create`: E2BIG for a value over `INT_MAX` (array) or a key
/// and value within 48 bytes of 4 MiB (hash), ENOMEM for 4096 values of
/// 2 GiB, EINVAL for a zero size or an array key that is not 4 bytes.
pub fn map_alloc_check(def: &MapDef, memory: u64) -> Result<(), linux::Errno> {
    use linux::Errno::{E2BIG, EINVAL, ENOMEM};
    let (key, value, entries) = (u64::from(def.key_size), u64::from(def.value_size), u64::from(def.max_entries));
    let elem = def.elem_size();
    match def.kind.0 {
        // array, prog_array, perf_event_array, percpu_array
        2..=4 | 6 => {
            let percpu = def.kind == MapType::PERCPU_ARRAY;
            if matches!(def.kind, MapType::PROG_ARRAY | MapType::PERF_EVENT_ARRAY) && value != 4 {
                return Err(EINVAL);
            }
            if entries == 0 || key != 4 || value == 0 {
                return Err(EINVAL);
            }
            if value > i32::MAX as u64 || (percpu && elem > PCPU_MIN_UNIT_SIZE) {
                return Err(E2BIG);
            }
            // array_map_alloc: the values are allocated with the map.
            if entries * elem > memory {
                return Err(ENOMEM);
            }
        }
        // hash, percpu_hash, lru_hash
        1 | 5 | 9 => {
            if entries == 0 || key == 0 || value == 0 {
                return Err(EINVAL);
            }
            if key + value >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE || (def.kind == MapType::PERCPU_HASH && elem > PCPU_MIN_UNIT_SIZE) {
                return Err(E2BIG);
            }
        }
        // stack_map_alloc: u32 keys, values of whole u64 instruction
        // pointers (or 32-byte build-id records with BPF_F_STACK_BUILD_ID),
        // at most kernel.perf_event_max_stack (127) of them.
        7 => {
            let build_id = def.map_flags & (1 << 5) != 0;
            let (unit, ok) = if build_id { (32, value % 32 == 0) } else { (8, value >= 8 && value % 8 == 0) };
            if entries == 0 || key != 4 || !ok || value / unit > PERF_EVENT_MAX_STACK {
                return Err(EINVAL);
            }
        }
        // ringbuf: no key or value; a power-of-2 number of pages.
        27 if key != 0 || value != 0 || !entries.is_power_of_two() || entries % 4096 != 0 => return Err(EINVAL),
        // BPF_MAP_TYPE_UNSPEC has no ops: find_and_alloc_map refuses it.
        0 => return Err(EINVAL),
        _ => {}
    }
    Ok(())
}

/// `sysctl_perf_event_max_stack`'s default (`PERF_MAX_STACK_DEPTH`).
pub const PERF_EVENT_MAX_STACK: u64 = 127;

/// The most array-map values the simulator holds at once, over all maps
/// (it keeps every value, as the kernel does): entries and bytes.
pub const ARRAY_HELD: (u32, u64) = (1 << 16, 16 << 20);

pub(super) fn le(b: &[u8]) -> u64 {
    b.iter().take(8).rev().fold(0, |a, x| (a << 8) | u64::from(*x))
}

/// Bytes as bpftool prints and takes them (`00 01 ff`).
pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// `idr_alloc_cyclic(idr, obj, 1, INT_MAX)`: the first free id after the
/// last one handed out, wrapping to 1 (so a freed id is not reused soon).
pub(super) fn next_id(last: u32, used: impl Fn(u32) -> bool) -> u32 {
    let mut id = last;
    loop {
        id = if id >= i32::MAX as u32 { 1 } else { id + 1 };
        if !used(id) {
            return id;
        }
    }
}

/// A JSON string literal.
pub(super) fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
