/* The remaining helpers, recording only what is the same on every run: clocks move
 * forward and agree with each other, random numbers vary, the CPU and NUMA node are the
 * ones the run is on, trace_printk returns its output length, and a spin lock guards a
 * map value. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct locked {
    struct bpf_spin_lock lock;
    __u32 count;
    __u64 total;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, struct locked);
    __uint(max_entries, 4);
} guarded SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __s64);
    __uint(max_entries, 16);
} facts SEC(".maps");

static __always_inline void put(__u32 k, __s64 v)
{
    bpf_map_update_elem(&facts, &k, &v, BPF_ANY);
}

SEC("xdp")
int misc(struct xdp_md *ctx)
{
    __u32 len = ctx->data_end - ctx->data;
    __u64 t1 = bpf_ktime_get_ns();
    __u64 b1 = bpf_ktime_get_boot_ns();
    __u64 c1 = bpf_ktime_get_coarse_ns();
    __u64 j = bpf_jiffies64();
    __u64 t2 = bpf_ktime_get_ns();
    put(0, t2 >= t1);
    put(1, b1 >= t1);           /* boot time includes suspend: never behind */
    put(2, c1 > 0 && c1 <= t2 + 20000000); /* coarse lags by at most a tick or so */
    put(3, j > 0);

    __u32 r1 = bpf_get_prandom_u32(), r2 = bpf_get_prandom_u32(), r3 = bpf_get_prandom_u32();
    put(4, r1 != r2 || r2 != r3);
    put(5, bpf_get_smp_processor_id());
    put(6, bpf_get_numa_node_id());

    static const char fmt[] = "uxdp corpus: len %u\n";
    put(7, bpf_trace_printk(fmt, sizeof(fmt), len));

    __u32 k = len & 3;
    struct locked init = {}, *v = bpf_map_lookup_elem(&guarded, &k);
    if (!v) {
        bpf_map_update_elem(&guarded, &k, &init, BPF_NOEXIST);
        v = bpf_map_lookup_elem(&guarded, &k);
    }
    if (v) {
        bpf_spin_lock(&v->lock);
        v->count++;
        v->total += len;
        bpf_spin_unlock(&v->lock);
    }
    return len & 1 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
