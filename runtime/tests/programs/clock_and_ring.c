/* Writes what a balancer writes: a packet count beside the time it last saw a packet
 * (bpf_ktime_get_ns, which no two runs share) and one slot of a ring too big to read
 * element by element (4 Mi entries, as Katran's rings are 33.5 Mi). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct seen {
    __u64 packets;
    __u64 last_ns;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct seen);
    __uint(max_entries, 4);
} seen SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 4 << 20);
} ring SEC(".maps");

SEC("xdp")
int stamp(struct xdp_md *ctx)
{
    __u32 k = 1, slot = 3 << 20;
    struct seen *s = bpf_map_lookup_elem(&seen, &k);
    __u32 *r = bpf_map_lookup_elem(&ring, &slot);

    if (!s || !r)
        return XDP_ABORTED;
    s->packets += 1;
    s->last_ns = bpf_ktime_get_ns();
    *r = ctx->data_end - ctx->data;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
