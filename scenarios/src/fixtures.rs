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
    ("mcu/main.c", include_bytes!("../../fixtures/mcu/main.c")),
    ("mcu/startup.c", include_bytes!("../../fixtures/mcu/startup.c")),
    ("mcu/sum_array.elf", include_bytes!("../../fixtures/mcu/sum_array.elf")),
    ("mcu/bigdata.elf", include_bytes!("../../fixtures/mcu/bigdata.elf")),
    ("mcu/stm32f103/firmware.elf", include_bytes!("../../fixtures/mcu/stm32f103/firmware.elf")),
    ("mcu/stm32f103/main.c", include_bytes!("../../fixtures/mcu/stm32f103/main.c")),
    ("mcu/stm32f103/startup_stm32f103.s", include_bytes!("../../fixtures/mcu/stm32f103/startup_stm32f103.s")),
    ("mcu/stm32f103/system_stm32f1xx.c", include_bytes!("../../fixtures/mcu/stm32f103/system_stm32f1xx.c")),
    ("mcu/stm32f103/stm32f103.ld", include_bytes!("../../fixtures/mcu/stm32f103/stm32f103.ld")),
    ("mcu/newlib/firmware.elf", include_bytes!("../../fixtures/mcu/newlib/firmware.elf")),
    ("mcu/newlib/main.c", include_bytes!("../../fixtures/mcu/newlib/main.c")),
    ("mcu/newlib/lm3s6965.ld", include_bytes!("../../fixtures/mcu/newlib/lm3s6965.ld")),
    ("mcu/nvic/firmware.elf", include_bytes!("../../fixtures/mcu/nvic/firmware.elf")),
    ("mcu/nvic/nvic.c", include_bytes!("../../fixtures/mcu/nvic/nvic.c")),
    ("mcu/rust/firmware.elf", include_bytes!("../../fixtures/mcu/rust/firmware.elf")),
    ("mcu/rust/main.rs", include_bytes!("../../fixtures/mcu/rust/src/main.rs")),
    ("mcu/rust/memory.x", include_bytes!("../../fixtures/mcu/rust/memory.x")),
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
    ("bpf/corpus/global_data.o", include_bytes!("../../fixtures/bpf/corpus/global_data.o")),
];

/// The bytes of fixture `name`.
pub fn fixture(name: &str) -> Option<&'static [u8]> {
    FIXTURES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
