/* Counts every frame in its own `hits` map and redirects it (bpf_redirect) to the
 * interface a control plane writes into `out`; built with -DSWAP it also swaps the MACs,
 * under another name: two different programs for two interfaces. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} hits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} out SEC(".maps");

#ifdef SWAP
#define NAME redirect_swapped
#else
#define NAME redirect_as_is
#endif

SEC("xdp")
int NAME(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 zero = 0;
    __u64 *h = bpf_map_lookup_elem(&hits, &zero);
    __u32 *to = bpf_map_lookup_elem(&out, &zero);

    if ((void *)(eth + 1) > end || !h || !to || !*to)
        return XDP_PASS;
    __sync_fetch_and_add(h, 1);
#ifdef SWAP
    unsigned char tmp[ETH_ALEN];
    __builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
#endif
    return bpf_redirect(*to, 0);
}

char LICENSE[] SEC("license") = "GPL";
