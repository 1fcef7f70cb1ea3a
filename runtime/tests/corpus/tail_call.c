/* Tail calls: a prog_array filled by `values`, a chain of three programs sharing a
 * counter, a missing slot (falls through), and a program that tail-calls itself until
 * the kernel's limit of 33 stops it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 hops = 0;
__u64 self_calls = 0;
__u64 fallthrough = 0;

int stage2(struct xdp_md *ctx);
int stage3(struct xdp_md *ctx);
int forever(struct xdp_md *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __array(values, int (void *));
} jump SEC(".maps") = {
    .values = {
        [1] = (void *)&stage2,
        [2] = (void *)&stage3,
        [5] = (void *)&forever,
    },
};

SEC("xdp")
int stage1(struct xdp_md *ctx)
{
    __u32 len = ctx->data_end - ctx->data;
    hops++;
    if (len > 1000)
        bpf_tail_call(ctx, &jump, 5);
    if (len & 1)
        bpf_tail_call(ctx, &jump, 3); /* empty slot */
    else
        bpf_tail_call(ctx, &jump, 1);
    fallthrough++;
    return XDP_PASS;
}

SEC("xdp")
int stage2(struct xdp_md *ctx)
{
    hops += 10;
    bpf_tail_call(ctx, &jump, 2);
    return XDP_ABORTED;
}

SEC("xdp")
int stage3(struct xdp_md *ctx)
{
    hops += 100;
    return XDP_TX;
}

SEC("xdp")
int forever(struct xdp_md *ctx)
{
    self_calls++;
    bpf_tail_call(ctx, &jump, 5);
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
