/* A libbpf client: creates a hash map, fills and reads it through libbpf's low-level API,
 * reads its info, finds it again by id, loads an XDP program using the map, and prints
 * "MAP_ID PROG_ID TAG". Under the shim this all lands in uxdp's store. With the argument
 * "once" it exits at once; otherwise it waits for a line on stdin first. Exit status 0
 * when every step answered as the kernel would. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond, what)                                                  \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s failed: %s\n", what, strerror(errno));     \
            return 1;                                                      \
        }                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "shim_test_m", 4, 8, 16, NULL);
    CHECK(fd >= 0, "bpf_map_create");
    for (unsigned k = 1; k <= 3; k++) {
        unsigned long long v = k * 100;
        CHECK(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) == 0, "update");
    }
    unsigned k = 2;
    unsigned long long v = 0;
    CHECK(bpf_map_lookup_elem(fd, &k, &v) == 0 && v == 200, "lookup");
    v = 1;
    CHECK(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) < 0 && errno == EEXIST, "EEXIST");
    k = 9;
    CHECK(bpf_map_lookup_elem(fd, &k, &v) < 0 && errno == ENOENT, "ENOENT");
    k = 3;
    CHECK(bpf_map_delete_elem(fd, &k) == 0, "delete");
    unsigned next, n = 0;
    void *prev = NULL;
    unsigned cur;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        n++;
        cur = next;
        prev = &cur;
    }
    CHECK(n == 2 && errno == ENOENT, "iteration");
    struct bpf_map_info info;
    __u32 len = sizeof(info);
    memset(&info, 0, sizeof(info));
    CHECK(bpf_obj_get_info_by_fd(fd, &info, &len) == 0, "info");
    CHECK(info.type == BPF_MAP_TYPE_HASH && info.key_size == 4 && info.value_size == 8 &&
              info.max_entries == 16 && strcmp(info.name, "shim_test_m") == 0,
          "info fields");
    int again = bpf_map_get_fd_by_id(info.id);
    CHECK(again >= 0 && again != fd, "get_fd_by_id");
    k = 1;
    CHECK(bpf_map_lookup_elem(again, &k, &v) == 0 && v == 100, "lookup by the second fd");
    CHECK(bpf_map_lookup_elem(12345, &k, &v) < 0 && errno == EBADF, "EBADF");
    /* r1 = the map (lddw, map fd); r0 = XDP_PASS; exit. */
    struct bpf_insn prog[4];
    memset(prog, 0, sizeof(prog));
    prog[0].code = 0x18;
    prog[0].dst_reg = 1;
    prog[0].src_reg = 1;
    prog[0].imm = fd;
    prog[2].code = 0xb7;
    prog[2].imm = 2;
    prog[3].code = 0x95;
    char log[4096];
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof(log),
                .log_level = 1);
    int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "shim_test_p", "GPL", prog, 4, &opts);
    CHECK(pfd >= 0, "bpf_prog_load");
    struct bpf_prog_info pinfo;
    __u32 ids[4];
    memset(&pinfo, 0, sizeof(pinfo));
    pinfo.nr_map_ids = 4;
    pinfo.map_ids = (__u64)(unsigned long)ids;
    len = sizeof(pinfo);
    CHECK(bpf_obj_get_info_by_fd(pfd, &pinfo, &len) == 0, "program info");
    CHECK(pinfo.type == BPF_PROG_TYPE_XDP && strcmp(pinfo.name, "shim_test_p") == 0 &&
              pinfo.nr_map_ids == 1 && ids[0] == info.id,
          "program info fields");
    printf("%u %u ", info.id, pinfo.id);
    for (int i = 0; i < 8; i++)
        printf("%02x", pinfo.tag[i]);
    printf("\n");
    fflush(stdout);
    close(again);
    /* Keep the objects: the test reads them from the store while the client waits. */
    if (argc < 2 || strcmp(argv[1], "once") != 0)
        getchar();
    close(pfd);
    close(fd);
    return 0;
}
