//! The kernel's numbers for BPF program and map types
//! (include/uapi/linux/bpf.h, `enum bpf_prog_type` and `enum bpf_map_type`)
//! and the names bpftool and libbpf print for them (libbpf.c's
//! `prog_type_name[]` and `map_type_name[]`, behind
//! `libbpf_bpf_prog_type_str` / `libbpf_bpf_map_type_str`).

use serde::{Deserialize, Serialize};

/// `enum bpf_prog_type` up to Linux 6.18, in order from 0.
const PROG_TYPES: &[&str] = &[
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
];

/// `enum bpf_map_type` up to Linux 6.18, in order from 0.
const MAP_TYPES: &[&str] = &[
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
    "arena",
];

macro_rules! numbered {
    ($(#[$m:meta])* $t:ident, $table:ident, { $($(#[$cm:meta])* $c:ident = $v:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $t(pub u32);

        impl $t {
            $( $(#[$cm])* pub const $c: $t = $t($v); )*

            /// The kernel's name, as bpftool prints it (`unknown` past the
            /// modelled kernel's last type).
            pub fn name(self) -> &'static str {
                $table.get(self.0 as usize).copied().unwrap_or("unknown")
            }

            /// From the name bpftool prints.
            pub fn from_name(name: &str) -> Option<$t> {
                $table.iter().position(|n| *n == name).map(|i| $t(i as u32))
            }

            /// Every name the modelled kernel has, for error messages.
            pub fn names() -> &'static [&'static str] {
                &$table[1..]
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.name() == *other
            }
        }

        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $t::from_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown type `{s}`; the kernel has: {}", $t::names().join(", "))))
            }
        }

        crate::wire_newtype!($t);
    };
}

numbered!(
    /// A program type (`enum bpf_prog_type`).
    ProgType, PROG_TYPES, {
    /// BPF_PROG_TYPE_SOCKET_FILTER
    SOCKET_FILTER = 1,
    /// BPF_PROG_TYPE_KPROBE
    KPROBE = 2,
    /// BPF_PROG_TYPE_SCHED_CLS
    SCHED_CLS = 3,
    /// BPF_PROG_TYPE_SCHED_ACT
    SCHED_ACT = 4,
    /// BPF_PROG_TYPE_TRACEPOINT
    TRACEPOINT = 5,
    /// BPF_PROG_TYPE_XDP
    XDP = 6,
    /// BPF_PROG_TYPE_PERF_EVENT
    PERF_EVENT = 7,
    /// BPF_PROG_TYPE_CGROUP_SKB
    CGROUP_SKB = 8,
    /// BPF_PROG_TYPE_CGROUP_SOCK
    CGROUP_SOCK = 9,
    /// BPF_PROG_TYPE_LWT_IN
    LWT_IN = 10,
    /// BPF_PROG_TYPE_LWT_OUT
    LWT_OUT = 11,
    /// BPF_PROG_TYPE_LWT_XMIT
    LWT_XMIT = 12,
    /// BPF_PROG_TYPE_SOCK_OPS
    SOCK_OPS = 13,
    /// BPF_PROG_TYPE_SK_SKB
    SK_SKB = 14,
    /// BPF_PROG_TYPE_CGROUP_DEVICE
    CGROUP_DEVICE = 15,
    /// BPF_PROG_TYPE_SK_MSG
    SK_MSG = 16,
    /// BPF_PROG_TYPE_RAW_TRACEPOINT
    RAW_TRACEPOINT = 17,
    /// BPF_PROG_TYPE_CGROUP_SOCK_ADDR
    CGROUP_SOCK_ADDR = 18,
    /// BPF_PROG_TYPE_LWT_SEG6LOCAL
    LWT_SEG6LOCAL = 19,
    /// BPF_PROG_TYPE_LIRC_MODE2
    LIRC_MODE2 = 20,
    /// BPF_PROG_TYPE_SK_REUSEPORT
    SK_REUSEPORT = 21,
    /// BPF_PROG_TYPE_FLOW_DISSECTOR
    FLOW_DISSECTOR = 22,
    /// BPF_PROG_TYPE_CGROUP_SYSCTL
    CGROUP_SYSCTL = 23,
    /// BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE
    RAW_TRACEPOINT_WRITABLE = 24,
    /// BPF_PROG_TYPE_CGROUP_SOCKOPT
    CGROUP_SOCKOPT = 25,
    /// BPF_PROG_TYPE_TRACING
    TRACING = 26,
    /// BPF_PROG_TYPE_STRUCT_OPS
    STRUCT_OPS = 27,
    /// BPF_PROG_TYPE_EXT
    EXT = 28,
    /// BPF_PROG_TYPE_LSM
    LSM = 29,
    /// BPF_PROG_TYPE_SK_LOOKUP
    SK_LOOKUP = 30,
    /// BPF_PROG_TYPE_SYSCALL
    SYSCALL = 31,
    /// BPF_PROG_TYPE_NETFILTER
    NETFILTER = 32,
});

numbered!(
    /// A map type (`enum bpf_map_type`).
    MapType, MAP_TYPES, {
    /// BPF_MAP_TYPE_HASH
    HASH = 1,
    /// BPF_MAP_TYPE_ARRAY
    ARRAY = 2,
    /// BPF_MAP_TYPE_PROG_ARRAY
    PROG_ARRAY = 3,
    /// BPF_MAP_TYPE_PERF_EVENT_ARRAY
    PERF_EVENT_ARRAY = 4,
    /// BPF_MAP_TYPE_PERCPU_HASH
    PERCPU_HASH = 5,
    /// BPF_MAP_TYPE_PERCPU_ARRAY
    PERCPU_ARRAY = 6,
    /// BPF_MAP_TYPE_LRU_HASH
    LRU_HASH = 9,
    /// BPF_MAP_TYPE_ARRAY_OF_MAPS
    ARRAY_OF_MAPS = 12,
    /// BPF_MAP_TYPE_HASH_OF_MAPS
    HASH_OF_MAPS = 13,
    /// BPF_MAP_TYPE_STRUCT_OPS
    STRUCT_OPS = 26,
    /// BPF_MAP_TYPE_RINGBUF
    RINGBUF = 27,
});

impl MapType {
    /// Whether values are indexed by a 4-byte index that always exists
    /// (`array_map_ops`, `percpu_array_map_ops`).
    pub fn is_array(self) -> bool {
        matches!(self, MapType::ARRAY | MapType::PERCPU_ARRAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_uapi_numbers() {
        assert_eq!(ProgType::SOCK_OPS.name(), "sock_ops");
        assert_eq!(ProgType::TRACING.name(), "tracing");
        assert_eq!(ProgType(99).name(), "unknown");
        assert_eq!(MapType::RINGBUF.name(), "ringbuf");
        assert_eq!(MapType::from_name("array_of_maps"), Some(MapType::ARRAY_OF_MAPS));
        assert_eq!(MapType(33).name(), "arena");
    }
}
