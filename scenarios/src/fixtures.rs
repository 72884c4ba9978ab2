//! Real binaries built from the C sources in `fixtures/` by
//! `fixtures/build.sh`, embedded so lessons need no network and no compiler.

/// (name, bytes) of every built-in fixture.
pub const FIXTURES: &[(&str, &[u8])] = &[
    ("exec/static_maps", include_bytes!("../../fixtures/exec/static_maps")),
    ("exec/dynamic_pie", include_bytes!("../../fixtures/exec/dynamic_pie")),
    ("exec/static_pie", include_bytes!("../../fixtures/exec/static_pie")),
    ("exec/dynamic_nopie", include_bytes!("../../fixtures/exec/dynamic_nopie")),
    ("mcu/firmware.elf", include_bytes!("../../fixtures/mcu/firmware.elf")),
    ("mcu/nostartup.elf", include_bytes!("../../fixtures/mcu/nostartup.elf")),
    ("mcu/link.ld", include_bytes!("../../fixtures/mcu/link.ld")),
    ("bpf/sockops_lookup.o", include_bytes!("../../fixtures/bpf/sockops_lookup.o")),
    ("bpf/sockops_nolookup.o", include_bytes!("../../fixtures/bpf/sockops_nolookup.o")),
    ("bpf/tc_shared.o", include_bytes!("../../fixtures/bpf/tc_shared.o")),
    ("bpf/cgroup_shared.o", include_bytes!("../../fixtures/bpf/cgroup_shared.o")),
    ("bpf/cgroup_private.o", include_bytes!("../../fixtures/bpf/cgroup_private.o")),
    ("bpf/cgroup_mismatch.o", include_bytes!("../../fixtures/bpf/cgroup_mismatch.o")),
    ("bpf/sockops_bad_helper.o", include_bytes!("../../fixtures/bpf/sockops_bad_helper.o")),
    ("bpf/sockops_bad_kfunc.o", include_bytes!("../../fixtures/bpf/sockops_bad_kfunc.o")),
    ("bpf/xdp_kfunc.o", include_bytes!("../../fixtures/bpf/xdp_kfunc.o")),
    ("bpf/sockops_legacy.o", include_bytes!("../../fixtures/bpf/sockops_legacy.o")),
    ("bpf/sockops_loop_bounded.o", include_bytes!("../../fixtures/bpf/sockops_loop_bounded.o")),
    ("bpf/sockops_loop_unbounded.o", include_bytes!("../../fixtures/bpf/sockops_loop_unbounded.o")),
    ("bpf/struct_ops_ca.o", include_bytes!("../../fixtures/bpf/struct_ops_ca.o")),
    ("bpf/corpus/global_counter.o", include_bytes!("../../fixtures/bpf/corpus/global_counter.o")),
];

/// The bytes of fixture `name`.
pub fn fixture(name: &str) -> Option<&'static [u8]> {
    FIXTURES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
