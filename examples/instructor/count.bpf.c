/* count.bpf.c: a sockops program counting callbacks in a BTF-defined array
 * map. Built by fixtures/build.sh: clang -target bpf -O2 -g -c, then
 * llvm-strip -g (BTF kept). */
#include "../../fixtures/bpf/bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
} calls SEC(".maps");

SEC("sockops")
int count_calls(struct bpf_sock_ops *skops)
{
    __u32 key = 0;
    __u64 *n = bpf_map_lookup_elem(&calls, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
    return 1;
}

char _license[] SEC("license") = "GPL";
