/* A libbpf client: opens and loads an object file (libbpf's whole load path: feature
 * probes, global data maps with their initial images, BTF, relocations, program loads),
 * test-runs every program on each packet of an optional packet file (records of a
 * little-endian u16 length and the bytes), and prints what resulted, without ids or
 * descriptors so two runs compare: each run's return value and output bytes, then each
 * map's name, type, sizes, flags and entries (sorted), and each program's name and type.
 * It runs on CPU 0, so per-CPU values land in one place. With "wait" as the last
 * argument it waits for a line on stdin before exiting. */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of a map with keys, as sorted "key=value" lines. */
static void dump(int fd, const struct bpf_map_info *info)
{
    size_t vlen = info->value_size;
    if (info->type == BPF_MAP_TYPE_PERCPU_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_HASH ||
        info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
        vlen = ((info->value_size + 7) / 8 * 8) * libbpf_num_possible_cpus();
    unsigned char *k = calloc(1, info->key_size + 1), *next = calloc(1, info->key_size + 1);
    unsigned char *v = calloc(1, vlen + 1);
    char **lines = NULL;
    size_t n = 0;
    void *prev = NULL;
    while (info->key_size && bpf_map_get_next_key(fd, prev, next) == 0 && n < 100000) {
        memcpy(k, next, info->key_size);
        prev = k;
        if (bpf_map_lookup_elem(fd, k, v))
            continue;
        char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        for (unsigned i = 0; i < info->key_size; i++)
            fprintf(f, "%02x", k[i]);
        fprintf(f, "=");
        for (size_t i = 0; i < vlen; i++)
            fprintf(f, "%02x", v[i]);
        fclose(f);
        lines = realloc(lines, (n + 1) * sizeof(*lines));
        lines[n++] = line;
    }
    qsort(lines, n, sizeof(*lines), cmp);
    for (size_t i = 0; i < n; i++) {
        printf("  %s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    free(k);
    free(next);
    free(v);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int wait = strcmp(argv[argc - 1], "wait") == 0;
    const char *packets = argc > 2 && strcmp(argv[2], "wait") != 0 ? argv[2] : NULL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
    libbpf_set_print(NULL);
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj) {
        perror("bpf_object__open_file");
        return 1;
    }
    int err = bpf_object__load(obj);
    if (err) {
        fprintf(stderr, "bpf_object__load: %d\n", err);
        return 1;
    }
    struct bpf_program *p;
    if (packets) {
        FILE *f = fopen(packets, "rb");
        unsigned char lenb[2], in[8192], out[16384];
        while (f && fread(lenb, 1, 2, f) == 2) {
            size_t len = lenb[0] | lenb[1] << 8;
            if (fread(in, 1, len, f) != len)
                break;
            bpf_object__for_each_program(p, obj)
            {
                LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len,
                            .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
                printf("run %s ", bpf_program__name(p));
                if (bpf_prog_test_run_opts(bpf_program__fd(p), &o)) {
                    printf("error\n");
                    continue;
                }
                printf("%u ", o.retval);
                hex(out, o.data_size_out);
                printf("\n");
            }
        }
        if (f)
            fclose(f);
    }
    struct bpf_map *m;
    bpf_object__for_each_map(m, obj)
    {
        int fd = bpf_map__fd(m);
        struct bpf_map_info info;
        __u32 len = sizeof(info);
        memset(&info, 0, sizeof(info));
        if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
            perror("map info");
            return 1;
        }
        printf("map %s type %u key %u value %u entries %u flags %#x\n", info.name, info.type,
               info.key_size, info.value_size, info.max_entries, info.map_flags);
        if (info.type != BPF_MAP_TYPE_RINGBUF && info.type != BPF_MAP_TYPE_QUEUE &&
            info.type != BPF_MAP_TYPE_STACK && info.type != BPF_MAP_TYPE_BLOOM_FILTER &&
            info.type != BPF_MAP_TYPE_PROG_ARRAY && info.type != BPF_MAP_TYPE_ARRAY_OF_MAPS &&
            info.type != BPF_MAP_TYPE_HASH_OF_MAPS)
            dump(fd, &info);
    }
    bpf_object__for_each_program(p, obj)
    {
        struct bpf_prog_info info;
        __u32 len = sizeof(info);
        memset(&info, 0, sizeof(info));
        if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len)) {
            perror("program info");
            return 1;
        }
        printf("program %s type %u\n", info.name, info.type);
    }
    fflush(stdout);
    if (wait)
        getchar();
    bpf_object__close(obj);
    return 0;
}
