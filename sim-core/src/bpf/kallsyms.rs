//! Where a BPF call goes once the verifier is done with it, and what
//! `bpftool prog dump xlated` calls that place.
//!
//! `do_misc_fixups` (kernel/bpf/verifier.c, Linux 6.18) rewrites each
//! helper call's imm to `fn->func - __bpf_call_base` (`BPF_CALL_IMM`),
//! where `fn` is the prototype the program type's `get_func_proto`
//! returned: the same helper id reaches `bpf_perf_event_output_tp` from a
//! tracepoint and `bpf_perf_event_output` from a kprobe. A map helper
//! whose map is the same on every path calls the map type's own
//! operation (`ops->map_update_elem`: `htab_map_update_elem` for a hash
//! map); a kfunc call's imm becomes its address's offset too
//! (`fixup_kfunc_call`). bpftool finds the name by looking the address
//! `__bpf_call_base + imm` up in /proc/kallsyms (`print_call_helper`).
//!
//! The offsets are those of the reference build
//! ([`super::REFERENCE_KERNEL_BUILD`]), read from its /proc/kallsyms by
//! `cargo xtask kallsyms` into sim-core/data/kallsyms: one `NAME OFFSET`
//! line per function [`wanted`] names. Another build has other offsets.

use super::types::{MapType, ProgType};

/// `NAME OFFSET` lines, the offset from `__bpf_call_base` in decimal.
const DATA: &str = include_str!("../../data/kallsyms");

/// A function's offset from `__bpf_call_base` on the reference build.
pub fn offset(name: &str) -> Option<i32> {
    DATA.lines().find_map(|l| l.split_once(' ').filter(|(n, _)| *n == name).and_then(|(_, o)| o.parse().ok()))
}

/// The function at `__bpf_call_base + imm`, as bpftool's
/// `kernel_syms_search` finds it (an exact address).
pub fn name_at(imm: i32) -> Option<&'static str> {
    DATA.lines().find_map(|l| l.split_once(' ').filter(|(_, o)| o.parse() == Ok(imm)).map(|(n, _)| n))
}

/// Helpers whose prototype's function is not named as the helper, per
/// program type (kernel/trace/bpf_trace.c and net/core/filter.c, Linux
/// 6.18): `(helper id, types, function)`. An empty list of types means
/// every type. The rest call the function named as the helper
/// (`BPF_CALL_x(bpf_ktime_get_ns)` is `bpf_ktime_get_ns_proto.func`).
const RENAMED: &[(i32, &[ProgType], &str)] = &[
    // bpf_probe_read, bpf_probe_read_str: bpf_probe_read_compat_proto.
    (4, &[], "bpf_probe_read_compat"),
    (45, &[], "bpf_probe_read_compat_str"),
    // bpf_get_prandom_u32_proto (kernel/bpf/core.c): .func = bpf_user_rnd_u32.
    (7, &[], "bpf_user_rnd_u32"),
    // bpf_get_stackid / bpf_get_stack: tp_prog_func_proto, raw_tp_prog_func_proto, pe_prog_func_proto.
    (27, &[ProgType::TRACEPOINT], "bpf_get_stackid_tp"),
    (27, &[ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE, ProgType::TRACING], "bpf_get_stackid_raw_tp"),
    (27, &[ProgType::PERF_EVENT], "bpf_get_stackid_pe"),
    (67, &[ProgType::TRACEPOINT], "bpf_get_stack_tp"),
    (67, &[ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE, ProgType::TRACING], "bpf_get_stack_raw_tp"),
    (67, &[ProgType::PERF_EVENT], "bpf_get_stack_pe"),
    // bpf_perf_event_output: bpf_perf_event_output_proto_tp / _raw_tp, and the networking event outputs.
    (25, &[ProgType::TRACEPOINT], "bpf_perf_event_output_tp"),
    (25, &[ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE, ProgType::TRACING], "bpf_perf_event_output_raw_tp"),
    (25, &[ProgType::XDP], "bpf_xdp_event_output"),
    (
        25,
        &[ProgType::SOCKET_FILTER, ProgType::SCHED_CLS, ProgType::SCHED_ACT, ProgType::CGROUP_SKB, ProgType::LWT_IN, ProgType::LWT_OUT, ProgType::LWT_XMIT, ProgType::SK_SKB],
        "bpf_skb_event_output",
    ),
    // bpf_get_func_ip: kprobe_prog_func_proto / tracing_prog_func_proto.
    (173, &[ProgType::KPROBE], "bpf_get_func_ip_kprobe"),
    (173, &[ProgType::TRACING], "bpf_get_func_ip_tracing"),
    // bpf_get_attach_cookie.
    (174, &[ProgType::KPROBE, ProgType::TRACEPOINT], "bpf_get_attach_cookie_trace"),
    (174, &[ProgType::PERF_EVENT], "bpf_get_attach_cookie_pe"),
    (174, &[ProgType::TRACING, ProgType::RAW_TRACEPOINT], "bpf_get_attach_cookie_tracing"),
];

/// `get_func_proto(id)->func` for a program of type `t`: the function a
/// helper call reaches.
pub fn helper_target(t: ProgType, id: i32) -> Option<&'static str> {
    let renamed = RENAMED.iter().find(|(h, types, _)| *h == id && (types.is_empty() || types.contains(&t)));
    renamed.map(|(_, _, f)| *f).or_else(|| super::verifier::helper_name(id))
}

/// The map helpers `do_misc_fixups` turns into a call of the map's own
/// operation when `record_func_map` saw one map on every path.
pub const MAP_HELPERS: &[i32] = &[1, 2, 3, 87, 88, 89, 51, 164, 195];

/// The `bpf_map_ops` member a map helper calls (`map_lookup_elem` for 1).
/// Map types in the order of their `bpf_map_ops` (kernel/bpf/hashtab.c,
/// arraymap.c, ringbuf.c, stackmap.c, queue_stack_maps.c, lpm_trie.c,
/// bloom_filter.c): `(type, [lookup, update, delete, push, pop, peek,
/// for_each, lookup_percpu])`, "" where the ops leave it NULL.
const MAP_OPS: &[(MapType, [&str; 8])] = &[
    (
        MapType::HASH,
        ["htab_map_lookup_elem", "htab_map_update_elem", "htab_map_delete_elem", "", "", "", "bpf_for_each_hash_elem", ""],
    ),
    (
        MapType::LRU_HASH,
        ["htab_lru_map_lookup_elem", "htab_lru_map_update_elem", "htab_lru_map_delete_elem", "", "", "", "bpf_for_each_hash_elem", ""],
    ),
    (
        MapType::PERCPU_HASH,
        [
            "htab_percpu_map_lookup_elem",
            "htab_percpu_map_update_elem",
            "htab_map_delete_elem",
            "",
            "",
            "",
            "bpf_for_each_hash_elem",
            "htab_percpu_map_lookup_percpu_elem",
        ],
    ),
    (
        MapType(10), // BPF_MAP_TYPE_LRU_PERCPU_HASH
        [
            "htab_lru_percpu_map_lookup_elem",
            "htab_lru_percpu_map_update_elem",
            "htab_lru_map_delete_elem",
            "",
            "",
            "",
            "bpf_for_each_hash_elem",
            "htab_lru_percpu_map_lookup_percpu_elem",
        ],
    ),
    (
        MapType::ARRAY,
        ["array_map_lookup_elem", "array_map_update_elem", "array_map_delete_elem", "", "", "", "bpf_for_each_array_elem", ""],
    ),
    (
        MapType::PERCPU_ARRAY,
        [
            "percpu_array_map_lookup_elem",
            "array_map_update_elem",
            "array_map_delete_elem",
            "",
            "",
            "",
            "bpf_for_each_array_elem",
            "percpu_array_map_lookup_percpu_elem",
        ],
    ),
    (MapType::HASH_OF_MAPS, ["htab_of_map_lookup_elem", "", "htab_map_delete_elem", "", "", "", "", ""]),
    (MapType::ARRAY_OF_MAPS, ["array_of_map_lookup_elem", "", "fd_array_map_delete_elem", "", "", "", "", ""]),
    (MapType::RINGBUF, ["ringbuf_map_lookup_elem", "ringbuf_map_update_elem", "ringbuf_map_delete_elem", "", "", "", "", ""]),
    (MapType(7), ["stack_map_lookup_elem", "stack_map_update_elem", "stack_map_delete_elem", "", "", "", "", ""]), // STACK_TRACE
    (MapType(11), ["trie_lookup_elem", "trie_update_elem", "trie_delete_elem", "", "", "", "", ""]), // LPM_TRIE
    (
        MapType(22), // QUEUE
        ["queue_stack_map_lookup_elem", "queue_stack_map_update_elem", "queue_stack_map_delete_elem", "queue_stack_map_push_elem", "queue_map_pop_elem", "queue_map_peek_elem", "", ""],
    ),
    (
        MapType(23), // STACK
        ["queue_stack_map_lookup_elem", "queue_stack_map_update_elem", "queue_stack_map_delete_elem", "queue_stack_map_push_elem", "stack_map_pop_elem", "stack_map_peek_elem", "", ""],
    ),
    (MapType(30), ["bloom_map_lookup_elem", "bloom_map_update_elem", "", "bloom_map_push_elem", "bloom_map_pop_elem", "bloom_map_peek_elem", "", ""]), // BLOOM_FILTER
];

/// The map operation helper `id` calls on a map of type `t`, if the
/// simulator knows that type's ops (`bpf_map_redirect` and the rest it
/// does not model keep the generic helper).
pub fn map_op_target(t: MapType, id: i32) -> Option<&'static str> {
    let slot = match id {
        1 => 0,
        2 => 1,
        3 => 2,
        87 => 3,
        88 => 4,
        89 => 5,
        164 => 6,
        195 => 7,
        _ => return None,
    };
    MAP_OPS.iter().find(|(m, _)| *m == t).map(|(_, ops)| ops[slot]).filter(|f| !f.is_empty())
}

/// Every function a call can reach in this model: the names
/// sim-core/data/kallsyms keeps (helpers named as themselves, the
/// renamed ones, the map operations, `__htab_map_lookup_elem` that the
/// inlined hash lookups call, and the kfuncs).
pub fn wanted() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = super::helpers::NAMES[1..].to_vec();
    v.extend(RENAMED.iter().map(|(_, _, f)| *f));
    v.extend(MAP_OPS.iter().flat_map(|(_, ops)| ops.iter().copied()).filter(|f| !f.is_empty()));
    v.push("__htab_map_lookup_elem");
    v.extend(super::verifier::KFUNCS.iter().map(|(n, _, _)| *n));
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reference kernel's xlated dumps show (tests/tests/bpf_kernel.rs
    /// compares every program of the corpus).
    #[test]
    fn a_helper_reaches_its_types_function() {
        assert_eq!(helper_target(ProgType::TRACEPOINT, 25), Some("bpf_perf_event_output_tp"));
        assert_eq!(helper_target(ProgType::KPROBE, 25), Some("bpf_perf_event_output"));
        assert_eq!(helper_target(ProgType::KPROBE, 14), Some("bpf_get_current_pid_tgid"));
        assert_eq!(map_op_target(MapType::HASH, 2), Some("htab_map_update_elem"));
        assert_eq!(map_op_target(MapType::ARRAY, 87), None);
        let o = offset("bpf_get_current_pid_tgid").expect("in the data");
        assert_eq!(name_at(o), Some("bpf_get_current_pid_tgid"));
        assert!(wanted().contains(&"__htab_map_lookup_elem"));
    }
}
