/* Maps of maps: an array of maps and a hash of maps, each with inner arrays given by
 * `values`; the program picks an inner map by packet length and counts in it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
};

struct inner in_a SEC(".maps");
struct inner in_b SEC(".maps");
struct inner in_c SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, struct inner);
} outer_arr SEC(".maps") = {
    .values = { [0] = &in_a, [2] = &in_b },
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, struct inner);
} outer_hash SEC(".maps") = {
    .values = { [1] = &in_c, [3] = &in_a },
};

SEC("xdp")
int pick(struct xdp_md *ctx)
{
    __u32 len = ctx->data_end - ctx->data;
    __u32 slot = len & 3, idx = (len >> 2) & 3;
    int found = 0;
    void *m = bpf_map_lookup_elem(&outer_arr, &slot);
    if (m) {
        __u64 *v = bpf_map_lookup_elem(m, &idx);
        if (v) {
            *v += len;
            found |= 1;
        }
    }
    m = bpf_map_lookup_elem(&outer_hash, &slot);
    if (m) {
        __u64 one = 1;
        bpf_map_update_elem(m, &idx, &one, BPF_ANY);
        found |= 2;
    }
    return found == 3 ? XDP_TX : found ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
