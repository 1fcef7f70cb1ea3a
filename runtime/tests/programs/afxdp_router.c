/* An IPv4 router in the manner of a microVM host's XDP forwarder: bpf_fib_lookup on the
 * packet's addresses in the host's tables; on success the TTL is decremented, the MACs
 * rewritten from the lookup and the frame sent with bpf_redirect_map through `tx_port`,
 * a devmap_hash from egress ifindex to interface. Everything else (ARP, IPv6, no route,
 * no neighbour) goes to the host stack (XDP_PASS). Lookups are counted by result. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 16);
} tx_port SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 16);
} by_result SEC(".maps");

SEC("xdp")
int route(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct bpf_fib_lookup p = {};

    if ((void *)(eth + 1) > end)
        return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->ttl <= 1)
        return XDP_PASS;
    p.family = AF_INET;
    p.tos = ip->tos;
    p.l4_protocol = ip->protocol;
    p.tot_len = bpf_ntohs(ip->tot_len);
    p.ipv4_src = ip->saddr;
    p.ipv4_dst = ip->daddr;
    p.ifindex = ctx->ingress_ifindex;

    long rc = bpf_fib_lookup(ctx, &p, sizeof(p), 0);
    __u32 slot = rc & 15;
    __u64 *n = bpf_map_lookup_elem(&by_result, &slot);
    if (n)
        __sync_fetch_and_add(n, 1);
    if (rc != BPF_FIB_LKUP_RET_SUCCESS)
        return XDP_PASS;
    __u32 check = ip->check;
    check += bpf_htons(0x0100);
    ip->check = (__u16)(check + (check >= 0xffff));
    ip->ttl--;
    __builtin_memcpy(eth->h_dest, p.dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, p.smac, ETH_ALEN);
    return bpf_redirect_map(&tx_port, p.ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
