//! libbpf's table of ELF section names (`section_defs[]` in
//! tools/lib/bpf/libbpf.c, as of libbpf 1.3–1.4): the program type and
//! expected attach type each `SEC()` name gives a program.
//!
//! Versions differ only by additions: libbpf 1.1 (Debian 12) lacks
//! `tcx/*`, `netkit/*`, `uprobe.multi*` and `cgroup/*_unix` (1.3); the rest
//! is the same there.

use super::types::ProgType;

/// `enum sec_def_flags`: attachable by bpftool/libbpf without options,
/// sleepable, XDP frags, USDT, BTF attach target.
pub mod flags {
    /// SEC_EXP_ATTACH_OPT: the expected attach type is dropped on kernels that lack it.
    pub const EXP_ATTACH_OPT: u8 = 1;
    /// SEC_ATTACHABLE.
    pub const ATTACHABLE: u8 = 2;
    /// SEC_ATTACH_BTF: the attach target is the part after the first `/`.
    pub const ATTACH_BTF: u8 = 4;
    /// SEC_SLEEPABLE: loaded with BPF_F_SLEEPABLE.
    pub const SLEEPABLE: u8 = 8;
    /// SEC_XDP_FRAGS: loaded with BPF_F_XDP_HAS_FRAGS.
    pub const XDP_FRAGS: u8 = 16;
    /// SEC_USDT.
    pub const USDT: u8 = 32;
}

/// One `SEC_DEF(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecDef {
    /// The pattern: exact, or with a trailing `+` (the name itself or the
    /// name followed by `/...`).
    pub sec: &'static str,
    /// Program type.
    pub prog_type: ProgType,
    /// `enum bpf_attach_type` number (0 where libbpf sets none).
    pub attach: u32,
    /// [`flags`].
    pub flags: u8,
}

macro_rules! defs {
    ($($sec:literal $t:ident $a:literal $f:expr;)*) => { &[$(SecDef { sec: $sec, prog_type: ProgType::$t, attach: $a, flags: $f }),*] };
}

use flags::*;
const NONE: u8 = 0;
const ATT_OPT: u8 = ATTACHABLE | EXP_ATTACH_OPT;

/// `section_defs[]`, in libbpf's order (the first match wins).
pub const SECTION_DEFS: &[SecDef] = defs! {
    "socket" SOCKET_FILTER 0 NONE;
    "sk_reuseport/migrate" SK_REUSEPORT 40 ATTACHABLE;
    "sk_reuseport" SK_REUSEPORT 39 ATTACHABLE;
    "kprobe+" KPROBE 0 NONE;
    "uprobe+" KPROBE 0 NONE;
    "uprobe.s+" KPROBE 0 SLEEPABLE;
    "kretprobe+" KPROBE 0 NONE;
    "uretprobe+" KPROBE 0 NONE;
    "uretprobe.s+" KPROBE 0 SLEEPABLE;
    "kprobe.multi+" KPROBE 42 NONE;
    "kretprobe.multi+" KPROBE 42 NONE;
    "uprobe.multi+" KPROBE 48 NONE;
    "uretprobe.multi+" KPROBE 48 NONE;
    "uprobe.multi.s+" KPROBE 48 SLEEPABLE;
    "uretprobe.multi.s+" KPROBE 48 SLEEPABLE;
    "ksyscall+" KPROBE 0 NONE;
    "kretsyscall+" KPROBE 0 NONE;
    "usdt+" KPROBE 0 USDT;
    "usdt.s+" KPROBE 0 USDT | SLEEPABLE;
    "tc/ingress" SCHED_CLS 46 NONE;
    "tc/egress" SCHED_CLS 47 NONE;
    "tcx/ingress" SCHED_CLS 46 NONE;
    "tcx/egress" SCHED_CLS 47 NONE;
    "tc" SCHED_CLS 0 NONE;
    "classifier" SCHED_CLS 0 NONE;
    "action" SCHED_ACT 0 NONE;
    "netkit/primary" SCHED_CLS 54 NONE;
    "netkit/peer" SCHED_CLS 55 NONE;
    "tracepoint+" TRACEPOINT 0 NONE;
    "tp+" TRACEPOINT 0 NONE;
    "raw_tracepoint+" RAW_TRACEPOINT 0 NONE;
    "raw_tp+" RAW_TRACEPOINT 0 NONE;
    "raw_tracepoint.w+" RAW_TRACEPOINT_WRITABLE 0 NONE;
    "raw_tp.w+" RAW_TRACEPOINT_WRITABLE 0 NONE;
    "tp_btf+" TRACING 23 ATTACH_BTF;
    "fentry+" TRACING 24 ATTACH_BTF;
    "fmod_ret+" TRACING 26 ATTACH_BTF;
    "fexit+" TRACING 25 ATTACH_BTF;
    "fentry.s+" TRACING 24 ATTACH_BTF | SLEEPABLE;
    "fmod_ret.s+" TRACING 26 ATTACH_BTF | SLEEPABLE;
    "fexit.s+" TRACING 25 ATTACH_BTF | SLEEPABLE;
    "freplace+" EXT 0 ATTACH_BTF;
    "lsm+" LSM 27 ATTACH_BTF;
    "lsm.s+" LSM 27 ATTACH_BTF | SLEEPABLE;
    "lsm_cgroup+" LSM 43 ATTACH_BTF;
    "iter+" TRACING 28 ATTACH_BTF;
    "iter.s+" TRACING 28 ATTACH_BTF | SLEEPABLE;
    "syscall" SYSCALL 0 SLEEPABLE;
    "xdp.frags/devmap" XDP 33 XDP_FRAGS;
    "xdp/devmap" XDP 33 ATTACHABLE;
    "xdp.frags/cpumap" XDP 35 XDP_FRAGS;
    "xdp/cpumap" XDP 35 ATTACHABLE;
    "xdp.frags" XDP 37 XDP_FRAGS;
    "xdp" XDP 37 ATT_OPT;
    "perf_event" PERF_EVENT 0 NONE;
    "lwt_in" LWT_IN 0 NONE;
    "lwt_out" LWT_OUT 0 NONE;
    "lwt_xmit" LWT_XMIT 0 NONE;
    "lwt_seg6local" LWT_SEG6LOCAL 0 NONE;
    "sockops" SOCK_OPS 3 ATT_OPT;
    "sk_skb/stream_parser" SK_SKB 4 ATT_OPT;
    "sk_skb/stream_verdict" SK_SKB 5 ATT_OPT;
    "sk_skb" SK_SKB 0 NONE;
    "sk_msg" SK_MSG 7 ATT_OPT;
    "lirc_mode2" LIRC_MODE2 16 ATT_OPT;
    "flow_dissector" FLOW_DISSECTOR 17 ATT_OPT;
    "cgroup_skb/ingress" CGROUP_SKB 0 ATT_OPT;
    "cgroup_skb/egress" CGROUP_SKB 1 ATT_OPT;
    "cgroup/skb" CGROUP_SKB 0 NONE;
    "cgroup/sock_create" CGROUP_SOCK 2 ATTACHABLE;
    "cgroup/sock_release" CGROUP_SOCK 34 ATTACHABLE;
    "cgroup/sock" CGROUP_SOCK 2 ATT_OPT;
    "cgroup/post_bind4" CGROUP_SOCK 12 ATTACHABLE;
    "cgroup/post_bind6" CGROUP_SOCK 13 ATTACHABLE;
    "cgroup/bind4" CGROUP_SOCK_ADDR 8 ATTACHABLE;
    "cgroup/bind6" CGROUP_SOCK_ADDR 9 ATTACHABLE;
    "cgroup/connect4" CGROUP_SOCK_ADDR 10 ATTACHABLE;
    "cgroup/connect6" CGROUP_SOCK_ADDR 11 ATTACHABLE;
    "cgroup/connect_unix" CGROUP_SOCK_ADDR 49 ATTACHABLE;
    "cgroup/sendmsg4" CGROUP_SOCK_ADDR 14 ATTACHABLE;
    "cgroup/sendmsg6" CGROUP_SOCK_ADDR 15 ATTACHABLE;
    "cgroup/sendmsg_unix" CGROUP_SOCK_ADDR 50 ATTACHABLE;
    "cgroup/recvmsg4" CGROUP_SOCK_ADDR 19 ATTACHABLE;
    "cgroup/recvmsg6" CGROUP_SOCK_ADDR 20 ATTACHABLE;
    "cgroup/recvmsg_unix" CGROUP_SOCK_ADDR 51 ATTACHABLE;
    "cgroup/getpeername4" CGROUP_SOCK_ADDR 29 ATTACHABLE;
    "cgroup/getpeername6" CGROUP_SOCK_ADDR 30 ATTACHABLE;
    "cgroup/getpeername_unix" CGROUP_SOCK_ADDR 52 ATTACHABLE;
    "cgroup/getsockname4" CGROUP_SOCK_ADDR 31 ATTACHABLE;
    "cgroup/getsockname6" CGROUP_SOCK_ADDR 32 ATTACHABLE;
    "cgroup/getsockname_unix" CGROUP_SOCK_ADDR 53 ATTACHABLE;
    "cgroup/sysctl" CGROUP_SYSCTL 18 ATTACHABLE;
    "cgroup/getsockopt" CGROUP_SOCKOPT 21 ATTACHABLE;
    "cgroup/setsockopt" CGROUP_SOCKOPT 22 ATTACHABLE;
    "cgroup/dev" CGROUP_DEVICE 6 ATT_OPT;
    "struct_ops+" STRUCT_OPS 0 NONE;
    "struct_ops.s+" STRUCT_OPS 0 SLEEPABLE;
    "sk_lookup" SK_LOOKUP 36 ATTACHABLE;
    "netfilter" NETFILTER 45 NONE;
};

/// `sec_def_matches()`: a pattern ending in `/` is a prefix; one ending in
/// `+` matches the name itself or the name followed by `/`; any other must
/// be equal.
pub fn sec_def_matches(def: &SecDef, name: &str) -> bool {
    if def.sec.ends_with('/') {
        return name.starts_with(def.sec);
    }
    match def.sec.strip_suffix('+') {
        Some(head) => name.strip_prefix(head).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        None => name == def.sec,
    }
}

/// `find_sec_def()`: the first entry of the table that matches.
pub fn find_sec_def(name: &str) -> Option<&'static SecDef> {
    SECTION_DEFS.iter().find(|d| sec_def_matches(d, name))
}

/// What libbpf looks up in the kernel's BTF for a program whose `SEC()`
/// name has an attach target (`SEC_ATTACH_BTF`): the part after the first
/// `/`, with the prefix and kind `btf_get_kernel_prefix_kind` gives its
/// attach type (`btf_trace_` TYPEDEF for tp_btf, `bpf_lsm_` FUNC for lsm,
/// `bpf_iter_` FUNC for iter, the FUNC itself for fentry/fexit/fmod_ret).
/// `None` when the section needs no lookup (or names no target: libbpf then
/// asks for `bpf_program__set_attach_target`).
pub fn kernel_attach_target(section: &str) -> Option<(String, u32)> {
    let def = find_sec_def(section)?;
    if def.flags & flags::ATTACH_BTF == 0 {
        return None;
    }
    let (_, name) = section.split_once('/')?;
    let (prefix, kind) = match def.attach {
        23 => ("btf_trace_", 8),
        27 | 43 => ("bpf_lsm_", 12),
        28 => ("bpf_iter_", 12),
        _ => ("", 12),
    };
    Some((format!("{prefix}{name}"), kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_match_wins_and_plus_means_name_or_name_slash() {
        assert_eq!(SECTION_DEFS.len(), 99);
        assert_eq!(find_sec_def("kprobe/do_unlinkat").map(|d| d.sec), Some("kprobe+"));
        assert_eq!(find_sec_def("kprobe.multi/do_*").map(|d| d.attach), Some(42));
        assert_eq!(find_sec_def("kprobefoo"), None);
        assert_eq!(find_sec_def("xdp/foo"), None, "xdp is exact");
        assert_eq!(find_sec_def("sk_reuseport/migrate").map(|d| d.attach), Some(40));
        assert_eq!(find_sec_def("tc").map(|d| d.prog_type), Some(ProgType::SCHED_CLS));
    }
}
