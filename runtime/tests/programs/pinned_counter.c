/* Counts frames in a map pinned by name (LIBBPF_PIN_BY_NAME), as control planes share
 * maps with their data planes; -DOTHER_SIZE gives the same pinned name another size. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifdef OTHER_SIZE
#define ENTRIES 8
#else
#define ENTRIES 4
#endif

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, ENTRIES);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} frames_seen SEC(".maps");

SEC("xdp")
int count(struct xdp_md *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&frames_seen, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
