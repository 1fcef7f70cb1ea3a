/* Subprograms: static and global functions, nested calls, a recursion-free call chain,
 * bpf_loop with a callback, and bpf_for_each_map_elem over an array (in key order, as the
 * kernel visits it) and a hash (commutative sums only: hash order is uxdp's own). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 8);
} arr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 32);
} h SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 8);
} results SEC(".maps");

static void put(__u32 k, __u64 v)
{
    bpf_map_update_elem(&results, &k, &v, BPF_ANY);
}

static __attribute__((noinline)) __u64 mix(__u64 a, __u64 b)
{
    return (a * 2654435761u) ^ (b + 0x9e37);
}

static __attribute__((noinline)) __u64 mix3(__u64 a, __u64 b, __u64 c)
{
    return mix(mix(a, b), c);
}

__attribute__((noinline)) int global_len(struct xdp_md *ctx)
{
    if (!ctx)
        return 0;
    return ctx->data_end - ctx->data;
}

struct loop_ctx {
    __u64 acc;
    __u32 stop_at;
};

static int step(__u32 i, struct loop_ctx *c)
{
    c->acc = mix(c->acc, i);
    return i + 1 >= c->stop_at; /* 1 stops the loop */
}

struct walk_ctx {
    __u64 sum;
    __u64 first_big;
    __u32 visited;
};

static __u64 visit_array(void *map, __u32 *key, __u64 *val, struct walk_ctx *w)
{
    w->visited++;
    w->sum += *val * (*key + 1);
    if (*val > 3 && !w->first_big)
        w->first_big = *key + 1;
    /* Stop after the fifth element: array order is the key order in both. */
    return *key == 4;
}

static __u64 visit_hash(void *map, __u32 *key, __u64 *val, struct walk_ctx *w)
{
    w->visited++;
    w->sum += *val ^ *key;
    *val += 1;
    return 0;
}

SEC("xdp")
int calls(struct xdp_md *ctx)
{
    int len = global_len(ctx);
    __u32 k = len & 7;
    __u64 *v = bpf_map_lookup_elem(&arr, &k);
    if (v)
        *v += 1;
    __u32 hk = (__u32)len % 13;
    __u64 init = len, *hv = bpf_map_lookup_elem(&h, &hk);
    if (hv)
        *hv += len;
    else
        bpf_map_update_elem(&h, &hk, &init, BPF_ANY);

    struct loop_ctx lc = { .acc = 1, .stop_at = (len & 31) + 1 };
    long n = bpf_loop(64, step, &lc, 0);
    put(0, lc.acc);
    put(1, n);

    struct walk_ctx wa = {};
    long na = bpf_for_each_map_elem(&arr, visit_array, &wa, 0);
    put(2, wa.sum);
    put(3, ((__u64)wa.visited << 32) | na);
    put(4, wa.first_big);

    struct walk_ctx wh = {};
    long nh = bpf_for_each_map_elem(&h, visit_hash, &wh, 0);
    put(5, wh.sum);
    put(6, ((__u64)wh.visited << 32) | nh);
    put(7, mix3(len, lc.acc, wa.sum));
    return len > 100 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
