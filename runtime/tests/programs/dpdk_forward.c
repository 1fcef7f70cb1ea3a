/* Forwarding over DPDK ports, chosen by UDP destination port: 7 swaps the MAC addresses
 * and sends the frame back (XDP_TX), 9 drops it, 100 redirects through devmap slot 0,
 * 101 through slot 1 (empty in the tests: the fallback XDP_ABORTED), 102 broadcasts to
 * every slot but the ingress port, 103 redirects with bpf_redirect to the ingress
 * ifindex plus one. Everything else (ARP, other IP) goes to the host (XDP_PASS). Every
 * packet is counted per CPU. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 4);
} ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} seen SEC(".maps");

SEC("xdp")
int forward(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&seen, &zero);
    if (n)
        *n += 1;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_ABORTED;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
        return XDP_PASS;
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end)
        return XDP_PASS;
    switch (bpf_ntohs(udp->dest)) {
    case 7: {
        __u8 tmp[ETH_ALEN];
        __builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
        __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
        __builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
        return XDP_TX;
    }
    case 9:
        return XDP_DROP;
    case 100:
        return bpf_redirect_map(&ports, 0, XDP_ABORTED);
    case 101:
        return bpf_redirect_map(&ports, 1, XDP_ABORTED);
    case 102:
        return bpf_redirect_map(&ports, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
    case 103:
        return bpf_redirect(ctx->ingress_ifindex + 1, 0);
    default:
        return XDP_PASS;
    }
}

char _license[] SEC("license") = "GPL";
