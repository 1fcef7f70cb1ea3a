/* An XDP program in a section named the old way (xdp-tutorial's `xdp_router`), which
 * names no program type: bpftool loads it with `type xdp`, and `uxdp run --prog` too. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp_router")
int xdp_router_func(struct xdp_md *ctx)
{
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
