/*
 * bpf_core.c: what the real libbpf's bpf_object__load() does to each
 * program's instructions (CO-RE relocations against the kernel's BTF,
 * subprograms appended, map fds embedded in ldimm64), printed one line per
 * instruction, for the simulator's CO-RE and relocation model to be compared
 * with.
 *
 * Built with: gcc -O1 -Wall -o bpf_core bpf_core.c -lbpf (libbpf-dev).
 * Needs root: the programs are really loaded into the running kernel.
 *
 *   bpf_core FILE...
 *
 * Environment:
 *   BTF_CUSTOM_PATH=PATH  passed as bpf_object_open_opts.btf_custom_path, so
 *                         CO-RE relocates against that BTF instead of the
 *                         running kernel's /sys/kernel/btf/vmlinux.
 *   CORE_LOG=1            also print libbpf's DEBUG lines of the load phase
 *                         that contain "relo #", "CO-RE" or "candidate",
 *                         prefixed with "# " (libbpf's CO-RE decisions:
 *                         "relo #N: <kind> [id] spec", candidates matched,
 *                         "patched insn #I ...", "substituting insn #I w/
 *                         invalid insn" for a poisoned relocation).
 *
 * For each FILE: "object NAME" (or "error ERRNO MESSAGE" with libbpf's last
 * warning when the open fails), then "load ok" or "load error ERRNO FIRST
 * [| LAST]" with libbpf's first warning of the load and, when different, the
 * kernel verifier's error ("verifier: " and the log's last line before its
 * "processed N insns" summary; for a poisoned CO-RE relocation libbpf has
 * rewritten it to "failed to resolve CO-RE relocation <kind> ...") or else
 * the last warning before "failed to load object" (a multi-line warning is
 * cut to its first and last lines joined by " ... "). Then
 * per program (bpf_object__for_each_program order, subprograms are not
 * listed: they are appended to each main program that calls them) "prog NAME
 * insns=N" and one line per instruction "  IDX CODE DST SRC OFF IMM" (code
 * two hex digits, off and imm signed decimal). The first half of an ldimm64
 * (code 18) with src 1 (BPF_PSEUDO_MAP_FD) or 2 (BPF_PSEUDO_MAP_VALUE)
 * prints "map:NAME" for the imm, the map whose fd it is, or "fd:?".
 *
 * The instructions are printed after bpf_object__load() even when it fails.
 * libbpf 1.1's bpf_object_load() runs probe_loading, load_vmlinux_btf,
 * resolve_externs, sanitize_and_load_btf, sanitize_maps,
 * init_kern_struct_ops_maps, create_maps, relocate, load_progs in that order,
 * each only if all before it succeeded; relocate does CO-RE for every program
 * first, then appends subprograms to, then embeds map fds in, every autoload
 * main program, and only after that are programs loaded one by one. So:
 *   - a failure in a program's kernel load (the verifier) or later: every
 *     program's instructions are fully relocated as they were (or would have
 *     been) loaded;
 *   - a failure in relocate: programs may be partly relocated (CO-RE failure:
 *     none appended/fd-embedded; call or data relocation failure: those
 *     before the failing one done);
 *   - a failure before relocate (map creation, BTF, externs, kconfig): the
 *     instructions are those read at open, untouched: no CO-RE, no
 *     subprograms, ldimm64 still src 0 imm 0 as clang left them.
 * On failure libbpf closes every map fd before bpf_object__load() returns,
 * so map fds are also learned from libbpf's "map 'NAME': created
 * successfully, fd=N" debug lines; the names printed are right for that load.
 * Each object is closed before the next, leaving nothing loaded.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FDS 256

static char first_warning[1024], last_warning[1024];
static int in_load, core_log, verifier_seen;
static struct {
    char name[64];
    int fd;
} created[MAX_FDS];
static int nr_created;

/* One line: a multi-line message becomes "FIRST ... LAST" (non-empty lines). */
static void one_line(char *dst, size_t size, const char *msg)
{
    size_t first_len = strcspn(msg, "\n");
    const char *end = msg + strlen(msg), *last = NULL;
    while (end > msg && end[-1] == '\n')
        end--;
    if (msg + first_len < end) {
        last = end;
        while (last > msg && last[-1] != '\n')
            last--;
    }
    if (last && last > msg + first_len)
        snprintf(dst, size, "%.*s ... %.*s", (int)first_len, msg, (int)(end - last), last);
    else
        snprintf(dst, size, "%.*s", (int)first_len, msg);
}

/* The verifier's error: the last line of the log before its "processed N insns" summary. */
static int verifier_error(char *dst, size_t size, const char *msg)
{
    const char *log = strstr(msg, "-- BEGIN PROG LOAD LOG --\n"), *found = NULL;
    size_t found_len = 0;
    if (!log)
        return 0;
    for (const char *line = log + strlen("-- BEGIN PROG LOAD LOG --\n"); *line;) {
        size_t len = strcspn(line, "\n");
        if (len && strncmp(line, "-- END PROG LOAD LOG --", 23) != 0 &&
            strncmp(line, "processed ", 10) != 0 && strncmp(line, "verification time", 17) != 0 &&
            strncmp(line, "stack depth", 11) != 0) {
            found = line;
            found_len = len;
        }
        line += len;
        if (*line)
            line++;
    }
    if (!found)
        return 0;
    snprintf(dst, size, "verifier: %.*s", (int)found_len, found);
    return 1;
}

static int print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    static char msg[65536];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (level == LIBBPF_WARN) {
        char line[sizeof(last_warning)];
        if (in_load && strstr(msg, "failed to load object '"))
            return 0;
        if (in_load && verifier_error(line, sizeof(line), msg)) {
            snprintf(last_warning, sizeof(last_warning), "%s", line);
            verifier_seen = 1;
            return 0;
        }
        one_line(line, sizeof(line), msg);
        if (!first_warning[0])
            snprintf(first_warning, sizeof(first_warning), "%s", line);
        if (!verifier_seen)
            snprintf(last_warning, sizeof(last_warning), "%s", line);
        return 0;
    }
    if (level != LIBBPF_DEBUG || !in_load)
        return 0;
    char name[64];
    int fd;
    if ((sscanf(msg, "libbpf: map '%63[^']': created successfully, fd=%d", name, &fd) == 2 ||
         sscanf(msg, "libbpf: map '%63[^']': skipping creation (preset fd=%d)", name, &fd) == 2) &&
        nr_created < MAX_FDS) {
        snprintf(created[nr_created].name, sizeof(created[nr_created].name), "%s", name);
        created[nr_created++].fd = fd;
    }
    if (core_log && (strstr(msg, "relo #") || strstr(msg, "CO-RE") || strstr(msg, "candidate"))) {
        msg[strcspn(msg, "\n")] = 0;
        printf("# %s\n", msg);
    }
    return 0;
}

static const char *map_by_fd(struct bpf_object *obj, int fd)
{
    struct bpf_map *map;
    bpf_object__for_each_map(map, obj) {
        if (bpf_map__fd(map) == fd)
            return bpf_map__name(map);
    }
    for (int i = nr_created - 1; i >= 0; i--)
        if (created[i].fd == fd)
            return created[i].name;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *btf_path = getenv("BTF_CUSTOM_PATH");
    const char *log_env = getenv("CORE_LOG");
    core_log = log_env && strcmp(log_env, "1") == 0;
    libbpf_set_print(print);
    for (int i = 1; i < argc; i++) {
        LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
        first_warning[0] = last_warning[0] = 0;
        nr_created = 0;
        struct bpf_object *obj = bpf_object__open_file(argv[i], &opts);
        long err = libbpf_get_error(obj);
        if (err) {
            printf("error %ld %s\n", -err, last_warning);
            fflush(stdout);
            continue;
        }
        printf("object %s\n", bpf_object__name(obj));
        first_warning[0] = last_warning[0] = 0;
        verifier_seen = 0;
        in_load = 1;
        err = bpf_object__load(obj);
        in_load = 0;
        if (err == 0)
            printf("load ok\n");
        else if (last_warning[0] && strcmp(first_warning, last_warning) != 0)
            printf("load error %ld %s | %s\n", -err, first_warning, last_warning);
        else
            printf("load error %ld %s\n", -err, first_warning);
        struct bpf_program *prog;
        bpf_object__for_each_program(prog, obj) {
            const struct bpf_insn *insns = bpf_program__insns(prog);
            size_t cnt = bpf_program__insn_cnt(prog);
            printf("prog %s insns=%zu\n", bpf_program__name(prog), cnt);
            for (size_t j = 0; j < cnt; j++) {
                const struct bpf_insn *insn = &insns[j];
                printf("  %zu %02x %d %d %d ", j, insn->code, insn->dst_reg, insn->src_reg, insn->off);
                if (insn->code == (BPF_LD | BPF_IMM | BPF_DW) &&
                    (insn->src_reg == BPF_PSEUDO_MAP_FD || insn->src_reg == BPF_PSEUDO_MAP_VALUE)) {
                    const char *name = map_by_fd(obj, insn->imm);
                    if (name)
                        printf("map:%s\n", name);
                    else
                        printf("fd:?\n");
                } else {
                    printf("%d\n", insn->imm);
                }
                /* the second half of an ldimm64 is printed as is on the next line */
            }
        }
        fflush(stdout);
        bpf_object__close(obj);
    }
    return 0;
}
