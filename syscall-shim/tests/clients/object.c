/* A libbpf client: opens and loads an object file (libbpf's whole load path: feature
 * probes, global data maps with their initial images, relocations, program loads) and
 * prints what resulted, without ids or descriptors so two runs compare: each map's name,
 * type, sizes, flags and, for arrays, every value; each program's name and type. With a
 * second argument "wait" it waits for a line on stdin before exiting. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
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
        if (info.type != BPF_MAP_TYPE_ARRAY)
            continue;
        unsigned char *v = malloc(info.value_size);
        for (__u32 k = 0; k < info.max_entries; k++) {
            if (bpf_map_lookup_elem(fd, &k, v))
                continue;
            printf("  [%u]", k);
            for (__u32 i = 0; i < info.value_size; i++)
                printf(" %02x", v[i]);
            printf("\n");
        }
        free(v);
    }
    struct bpf_program *p;
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
    if (argc > 2 && strcmp(argv[2], "wait") == 0)
        getchar();
    bpf_object__close(obj);
    return 0;
}
