/*
 * bpf_open.c: what the real libbpf's bpf_object__open() reads from a BPF
 * object file, printed one line per map and program, for the simulator's
 * libbpf model to be compared with (tests/tests/libbpf_oracle.rs).
 *
 * Built by the test with: gcc -O1 -o bpf_open bpf_open.c -lbpf (libbpf-dev).
 *
 *   bpf_open FILE...
 *
 * For each FILE: "object NAME", then "map NAME type=N key=N value=N
 * max_entries=N flags=0xN" per map and "prog NAME section=S type=N
 * attach=N insns=N" per program (bpf_object__for_each_map / _program order),
 * or "error ERRNO MESSAGE" with libbpf's last warning when the open fails.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char last_warning[512];

static int print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_WARN) {
        vsnprintf(last_warning, sizeof(last_warning), fmt, ap);
        last_warning[strcspn(last_warning, "\n")] = 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    libbpf_set_print(print);
    for (int i = 1; i < argc; i++) {
        last_warning[0] = 0;
        struct bpf_object *obj = bpf_object__open(argv[i]);
        long err = libbpf_get_error(obj);
        if (err) {
            printf("error %ld %s\n", -err, last_warning);
            continue;
        }
        printf("object %s\n", bpf_object__name(obj));
        struct bpf_map *map;
        bpf_object__for_each_map(map, obj) {
            printf("map %s type=%d key=%u value=%u max_entries=%u flags=0x%x\n", bpf_map__name(map),
                   bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
                   bpf_map__max_entries(map), bpf_map__map_flags(map));
        }
        struct bpf_program *prog;
        bpf_object__for_each_program(prog, obj) {
            printf("prog %s section=%s type=%d attach=%d insns=%zu\n", bpf_program__name(prog),
                   bpf_program__section_name(prog), bpf_program__type(prog),
                   bpf_program__expected_attach_type(prog), bpf_program__insn_cnt(prog));
        }
        bpf_object__close(obj);
    }
    return 0;
}
