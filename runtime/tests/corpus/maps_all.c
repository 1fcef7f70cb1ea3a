/* Every map type a program can use, driven by the packet: keys come from the frame's
 * length and bytes. Results of every call go to `out` so the kernel and uxdp must agree
 * on return codes as well as on contents. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAP(T, K, V, N, name)                                                                \
    struct {                                                                                 \
        __uint(type, T);                                                                     \
        __type(key, K);                                                                      \
        __type(value, V);                                                                    \
        __uint(max_entries, N);                                                              \
    } name SEC(".maps")

MAP(BPF_MAP_TYPE_HASH, __u32, __u64, 64, hash);
MAP(BPF_MAP_TYPE_PERCPU_HASH, __u32, __u64, 64, pc_hash);
MAP(BPF_MAP_TYPE_LRU_HASH, __u32, __u64, 256, lru);
MAP(BPF_MAP_TYPE_LRU_PERCPU_HASH, __u32, __u32, 256, lru_pc);
MAP(BPF_MAP_TYPE_PERCPU_ARRAY, __u32, __u64, 4, pc_arr);
MAP(BPF_MAP_TYPE_ARRAY, __u32, __s64, 32, out);
MAP(BPF_MAP_TYPE_DEVMAP, __u32, __u32, 4, devs);
MAP(BPF_MAP_TYPE_DEVMAP_HASH, __u32, __u32, 4, devs_hash);
MAP(BPF_MAP_TYPE_CPUMAP, __u32, __u32, 2, cpus);
MAP(BPF_MAP_TYPE_XSKMAP, __u32, __u32, 2, xsks);

struct lpm_key {
    __u32 prefixlen;
    __u8 addr[4];
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __type(key, struct lpm_key);
    __type(value, __u32);
    __uint(max_entries, 16);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} lpm SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __type(value, __u32);
    __uint(max_entries, 4);
} queue SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_STACK);
    __type(value, __u64);
    __uint(max_entries, 3);
} stack SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
    __type(value, __u32);
    __uint(max_entries, 1024);
    __uint(map_extra, 3);
} bloom SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} ring SEC(".maps");

__u32 n = 0;

static __always_inline void put(__u32 k, __s64 v)
{
    bpf_map_update_elem(&out, &k, &v, BPF_ANY);
}

SEC("xdp")
int use_maps(struct xdp_md *ctx)
{
    __u32 len = ctx->data_end - ctx->data;
    __u32 k = len & 15, seq = ++n;
    __u64 v64 = len, *p;
    __u32 v32 = len;

    /* Hash family: NOEXIST/EXIST flags, lookups, deletes every fourth packet. */
    put(0, bpf_map_update_elem(&hash, &k, &v64, BPF_NOEXIST));
    put(1, bpf_map_update_elem(&hash, &seq, &v64, BPF_EXIST));
    if ((p = bpf_map_lookup_elem(&hash, &k)))
        *p += seq;
    if (seq % 4 == 0)
        put(2, bpf_map_delete_elem(&hash, &k));
    put(3, bpf_map_delete_elem(&hash, &seq));
    put(4, bpf_map_update_elem(&pc_hash, &k, &v64, BPF_ANY));
    if ((p = bpf_map_lookup_elem(&pc_hash, &k)))
        *p *= 3;
    put(5, bpf_map_update_elem(&lru, &seq, &v64, BPF_ANY));
    put(6, bpf_map_update_elem(&lru_pc, &k, &v32, BPF_ANY));
    __u32 z = 0;
    if ((p = bpf_map_lookup_elem(&pc_arr, &z)))
        *p += len;

    /* LPM: the first packet installs prefixes; every packet looks up an address. */
    if (seq == 1) {
        struct lpm_key a = { 8, { 10, 0, 0, 0 } }, b = { 24, { 10, 0, 0, 0 } },
                       c = { 32, { 10, 0, 0, 2 } };
        __u32 va = 8, vb = 24, vc = 32;
        bpf_map_update_elem(&lpm, &a, &va, BPF_ANY);
        bpf_map_update_elem(&lpm, &b, &vb, BPF_ANY);
        bpf_map_update_elem(&lpm, &c, &vc, BPF_ANY);
    }
    struct lpm_key q = { 32, { 10, 0, (len >> 8) & 1, len & 3 } };
    __u32 *hit = bpf_map_lookup_elem(&lpm, &q);
    put(7, hit ? *hit : -1);
    if (seq == 20) {
        struct lpm_key b = { 24, { 10, 0, 0, 0 } };
        put(8, bpf_map_delete_elem(&lpm, &b));
    }

    /* Queue and stack: overflow, peek, pop, and BPF_EXIST to overwrite. */
    put(9, bpf_map_push_elem(&queue, &v32, 0));
    put(10, bpf_map_push_elem(&stack, &v64, seq % 5 == 0 ? BPF_EXIST : 0));
    __u32 qv = 0;
    __u64 sv = 0;
    put(11, bpf_map_peek_elem(&queue, &qv));
    put(12, qv);
    if (seq % 3 == 0) {
        put(13, bpf_map_pop_elem(&stack, &sv));
        put(14, sv);
    }

    /* Bloom filter: what was added is found; a value never added is (almost surely) not. */
    put(15, bpf_map_push_elem(&bloom, &v32, 0));
    put(16, bpf_map_peek_elem(&bloom, &v32));
    __u32 absent = 0xdeadbeef;
    put(17, bpf_map_peek_elem(&bloom, &absent));

    /* Ring buffer: output, reserve+submit, reserve+discard, and queries. */
    put(18, bpf_ringbuf_output(&ring, &v64, sizeof(v64), 0));
    __u32 *r = bpf_ringbuf_reserve(&ring, 12, 0);
    if (r) {
        r[0] = seq;
        r[1] = len;
        r[2] = 0x5a5a5a5a;
        if (len & 1)
            bpf_ringbuf_discard(r, 0);
        else
            bpf_ringbuf_submit(r, 0);
    }
    put(19, bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA));
    put(20, bpf_ringbuf_query(&ring, BPF_RB_RING_SIZE));
    void *big = bpf_ringbuf_reserve(&ring, 8192, 0);
    put(21, big != 0);
    if (big)
        bpf_ringbuf_discard(big, 0);

    /* Device, CPU and socket maps, all empty: lookups miss, redirects take the flags. */
    put(22, bpf_map_lookup_elem(&devs, &z) != 0);
    put(23, bpf_map_lookup_elem(&devs_hash, &z) != 0);
    put(24, bpf_map_lookup_elem(&xsks, &z) != 0);
    switch (len % 4) {
    case 0:
        return bpf_redirect_map(&devs, k, XDP_PASS);
    case 1:
        return bpf_redirect_map(&devs_hash, k, XDP_DROP);
    case 2:
        return bpf_redirect_map(&cpus, k & 1, XDP_TX);
    default:
        return bpf_redirect_map(&xsks, k & 1, XDP_PASS);
    }
}

char _license[] SEC("license") = "GPL";
