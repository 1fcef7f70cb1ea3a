/* Forwarding decisions: bpf_redirect to an ifindex, bpf_redirect_map through a devmap
 * with the fallback action in the flags' low bits, broadcast flags, and XDP_TX with the
 * MAC addresses swapped. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 8);
} tx_ports SEC(".maps");

__s64 results[4] = {};

SEC("xdp")
int forward(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_ABORTED;
    __u32 sel = eth->h_source[5] ^ (__u32)(end - data);
    results[0] = ctx->ingress_ifindex;
    results[1] = ctx->rx_queue_index;
    switch (sel & 3) {
    case 0:
        results[2] = bpf_redirect(sel & 7, 0);
        return results[2];
    case 1:
        results[2] = bpf_redirect(1, 1); /* flags other than 0 are refused */
        return results[2];
    case 2:
        results[2] = bpf_redirect_map(&tx_ports, sel & 7, XDP_DROP);
        results[3] = bpf_redirect_map(&tx_ports, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
        return results[2];
    default: {
        __u8 tmp[ETH_ALEN];
        __builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
        __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
        __builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
        return XDP_TX;
    }
    }
}

char _license[] SEC("license") = "GPL";
