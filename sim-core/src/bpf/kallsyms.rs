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
/// program type (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c and
/// net/core/filter.c, Linux 6.18): `(helper id, types, function)`, the
/// first match counting; an empty list of types means every type. The rest
/// call the function named as the helper (`BPF_CALL_x(bpf_ktime_get_ns)` is
/// `bpf_ktime_get_ns_proto.func`). Not modelled: the kprobe.multi and
/// uprobe.multi variants of bpf_get_func_ip and bpf_get_attach_cookie
/// (chosen by attach type), the sleepable bpf_get_stack and
/// bpf_get_task_stack, the `_recur` task storage helpers.
const RENAMED: &[(i32, &[ProgType], &str)] = &[
    // bpf_probe_read, bpf_probe_read_str: bpf_probe_read_compat_proto.
    (4, &[], "bpf_probe_read_compat"),
    (45, &[], "bpf_probe_read_compat_str"),
    // bpf_get_prandom_u32_proto (kernel/bpf/core.c): .func = bpf_user_rnd_u32.
    (7, &[], "bpf_user_rnd_u32"),
    // bpf_get_cgroup_classid: tc_cls_act_func_proto's own; bpf_base_func_proto's for the rest.
    (17, &[ProgType::SCHED_CLS, ProgType::SCHED_ACT], "bpf_get_cgroup_classid"),
    (17, &[], "bpf_get_cgroup_classid_curr"),
    // bpf_get_stackid / bpf_get_stack: tp_prog_func_proto, raw_tp_prog_func_proto, pe_prog_func_proto.
    (27, &[ProgType::TRACEPOINT], "bpf_get_stackid_tp"),
    (27, &[ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE, ProgType::TRACING], "bpf_get_stackid_raw_tp"),
    (27, &[ProgType::PERF_EVENT], "bpf_get_stackid_pe"),
    (67, &[ProgType::TRACEPOINT], "bpf_get_stack_tp"),
    (67, &[ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE, ProgType::TRACING], "bpf_get_stack_raw_tp"),
    (67, &[ProgType::PERF_EVENT], "bpf_get_stack_pe"),
    // bpf_perf_event_output: bpf_perf_event_output_proto_tp (tp_prog_func_proto and
    // pe_prog_func_proto) / _raw_tp, and the networking and socket event outputs.
    (25, &[ProgType::TRACEPOINT, ProgType::PERF_EVENT], "bpf_perf_event_output_tp"),
    (25, &[ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE, ProgType::TRACING], "bpf_perf_event_output_raw_tp"),
    (25, &[ProgType::XDP], "bpf_xdp_event_output"),
    (
        25,
        &[ProgType::SOCKET_FILTER, ProgType::SCHED_CLS, ProgType::SCHED_ACT, ProgType::CGROUP_SKB, ProgType::LWT_IN, ProgType::LWT_OUT, ProgType::LWT_XMIT, ProgType::SK_SKB],
        "bpf_skb_event_output",
    ),
    (25, &[ProgType::SOCK_OPS, ProgType::CGROUP_SOCK, ProgType::CGROUP_SOCK_ADDR, ProgType::SK_MSG], "bpf_event_output_data"),
    // bpf_get_func_ip for kprobes (kprobe_prog_func_proto; a tracing program's is inlined).
    (173, &[ProgType::KPROBE], "bpf_get_func_ip_kprobe"),
    // bpf_get_attach_cookie.
    (174, &[ProgType::KPROBE, ProgType::TRACEPOINT], "bpf_get_attach_cookie_trace"),
    (174, &[ProgType::PERF_EVENT], "bpf_get_attach_cookie_pe"),
    (174, &[ProgType::TRACING, ProgType::RAW_TRACEPOINT, ProgType::RAW_TRACEPOINT_WRITABLE], "bpf_get_attach_cookie_tracing"),
    // tracing_prog_func_proto (kernel/trace/bpf_trace.c).
    (107, &[ProgType::TRACING], "bpf_sk_storage_get_tracing"),
    (108, &[ProgType::TRACING], "bpf_sk_storage_delete_tracing"),
    (46, &[ProgType::TRACING], "bpf_get_socket_ptr_cookie"),
    (111, &[ProgType::TRACING], "bpf_skb_event_output"),
    (121, &[ProgType::TRACING], "bpf_xdp_event_output"),
    // sock_ops_func_proto (net/core/filter.c).
    (46, &[ProgType::SOCK_OPS], "bpf_get_socket_cookie_sock_ops"),
    (122, &[ProgType::SOCK_OPS], "bpf_get_netns_cookie_sock_ops"),
    (49, &[ProgType::SOCK_OPS], "bpf_sock_ops_setsockopt"),
    (57, &[ProgType::SOCK_OPS], "bpf_sock_ops_getsockopt"),
    (142, &[ProgType::SOCK_OPS], "bpf_sock_ops_load_hdr_opt"),
    (143, &[ProgType::SOCK_OPS], "bpf_sock_ops_store_hdr_opt"),
    (144, &[ProgType::SOCK_OPS], "bpf_sock_ops_reserve_hdr_opt"),
    // tc_cls_act_func_proto.
    (84, &[ProgType::SCHED_CLS, ProgType::SCHED_ACT], "bpf_tc_sk_lookup_tcp"),
    (85, &[ProgType::SCHED_CLS, ProgType::SCHED_ACT], "bpf_tc_sk_lookup_udp"),
    (99, &[ProgType::SCHED_CLS, ProgType::SCHED_ACT], "bpf_tc_skc_lookup_tcp"),
    (69, &[ProgType::SCHED_CLS, ProgType::SCHED_ACT], "bpf_skb_fib_lookup"),
    (163, &[ProgType::SCHED_CLS, ProgType::SCHED_ACT], "bpf_skb_check_mtu"),
    // xdp_func_proto.
    (84, &[ProgType::XDP], "bpf_xdp_sk_lookup_tcp"),
    (85, &[ProgType::XDP], "bpf_xdp_sk_lookup_udp"),
    (99, &[ProgType::XDP], "bpf_xdp_skc_lookup_tcp"),
    (23, &[ProgType::XDP], "bpf_xdp_redirect"),
    (69, &[ProgType::XDP], "bpf_xdp_fib_lookup"),
    (163, &[ProgType::XDP], "bpf_xdp_check_mtu"),
    (51, &[ProgType::XDP], "bpf_xdp_redirect_map"),
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
/// for_each, lookup_percpu, redirect])`, "" where the ops leave it NULL.
const MAP_OPS: &[(MapType, [&str; 9])] = &[
    (
        MapType::HASH,
        ["htab_map_lookup_elem", "htab_map_update_elem", "htab_map_delete_elem", "", "", "", "bpf_for_each_hash_elem", "", ""],
    ),
    (
        MapType::LRU_HASH,
        ["htab_lru_map_lookup_elem", "htab_lru_map_update_elem", "htab_lru_map_delete_elem", "", "", "", "bpf_for_each_hash_elem", "", ""],
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
            "htab_percpu_map_lookup_percpu_elem", ""],
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
            "htab_lru_percpu_map_lookup_percpu_elem", ""],
    ),
    (
        MapType::ARRAY,
        ["array_map_lookup_elem", "array_map_update_elem", "array_map_delete_elem", "", "", "", "bpf_for_each_array_elem", "", ""],
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
            "percpu_array_map_lookup_percpu_elem", ""],
    ),
    (MapType::HASH_OF_MAPS, ["htab_of_map_lookup_elem", "", "htab_map_delete_elem", "", "", "", "", "", ""]),
    (MapType::ARRAY_OF_MAPS, ["array_of_map_lookup_elem", "", "fd_array_map_delete_elem", "", "", "", "", "", ""]),
    (MapType::RINGBUF, ["ringbuf_map_lookup_elem", "ringbuf_map_update_elem", "ringbuf_map_delete_elem", "", "", "", "", "", ""]),
    (MapType(7), ["stack_map_lookup_elem", "stack_map_update_elem", "stack_map_delete_elem", "", "", "", "", "", ""]), // STACK_TRACE
    (MapType(11), ["trie_lookup_elem", "trie_update_elem", "trie_delete_elem", "", "", "", "", "", ""]), // LPM_TRIE
    (
        MapType(22), // QUEUE
        ["queue_stack_map_lookup_elem", "queue_stack_map_update_elem", "queue_stack_map_delete_elem", "queue_stack_map_push_elem", "queue_map_pop_elem", "queue_map_peek_elem", "", "", ""],
    ),
    (
        MapType(23), // STACK
        ["queue_stack_map_lookup_elem", "queue_stack_map_update_elem", "queue_stack_map_delete_elem", "queue_stack_map_push_elem", "stack_map_pop_elem", "stack_map_peek_elem", "", "", ""],
    ),
    (
        MapType(30), // BLOOM_FILTER
        ["bloom_map_lookup_elem", "bloom_map_update_elem", "bloom_map_delete_elem", "bloom_map_push_elem", "bloom_map_pop_elem", "bloom_map_peek_elem", "", "", ""],
    ),
    // kernel/bpf/devmap.c, cpumap.c, net/xdp/xskmap.c, net/core/sock_map.c.
    (MapType(14), ["dev_map_lookup_elem", "dev_map_update_elem", "dev_map_delete_elem", "", "", "", "", "", "dev_map_redirect"]), // DEVMAP
    (MapType(25), ["dev_map_hash_lookup_elem", "dev_map_hash_update_elem", "dev_map_hash_delete_elem", "", "", "", "", "", "dev_hash_map_redirect"]), // DEVMAP_HASH
    (MapType(16), ["cpu_map_lookup_elem", "cpu_map_update_elem", "cpu_map_delete_elem", "", "", "", "", "", "cpu_map_redirect"]), // CPUMAP
    (MapType(17), ["xsk_map_lookup_elem", "xsk_map_update_elem", "xsk_map_delete_elem", "", "", "", "", "", "xsk_map_redirect"]), // XSKMAP
    (MapType(15), ["sock_map_lookup", "sock_map_update_elem", "sock_map_delete_elem", "", "", "", "", "", ""]), // SOCKMAP
    (MapType(18), ["sock_hash_lookup", "sock_map_update_elem", "sock_hash_delete_elem", "", "", "", "", "", ""]), // SOCKHASH
];

/// The map operation helper `id` calls on a map of type `t`, if the
/// simulator knows that type's ops (for a type it does not, the program
/// type's helper function stands).
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
        51 => 8,
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
        assert_eq!(helper_target(ProgType::PERF_EVENT, 25), Some("bpf_perf_event_output_tp"), "pe_prog_func_proto");
        assert_eq!(helper_target(ProgType::SOCK_OPS, 49), Some("bpf_sock_ops_setsockopt"));
        assert_eq!(helper_target(ProgType::SCHED_CLS, 17), Some("bpf_get_cgroup_classid"));
        assert_eq!(helper_target(ProgType::KPROBE, 17), Some("bpf_get_cgroup_classid_curr"));
        assert_eq!(map_op_target(MapType::HASH, 2), Some("htab_map_update_elem"));
        assert_eq!(map_op_target(MapType(14), 51), Some("dev_map_redirect"), "a devmap's map_redirect");
        assert_eq!(map_op_target(MapType::ARRAY, 87), None);
        let o = offset("bpf_get_current_pid_tgid").expect("in the data");
        assert_eq!(name_at(o), Some("bpf_get_current_pid_tgid"));
        assert!(wanted().contains(&"__htab_map_lookup_elem"));
    }
}
