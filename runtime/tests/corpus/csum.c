/* Checksums: rewrite the IPv4 destination address and TTL, updating the IPv4 header
 * checksum and the TCP/UDP checksum incrementally with bpf_csum_diff, and recompute the
 * IPv4 header checksum from scratch. Malformed packets are passed untouched. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__s64 last_diff = 0;
__u32 full_sum = 0;

static __always_inline __u16 fold(__u64 s)
{
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return ~s;
}

SEC("xdp")
int nat(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl != 5)
        return XDP_PASS;
    __be32 old = ip->daddr, new = bpf_htonl(0xc0a80001);
    __s64 d = bpf_csum_diff(&old, 4, &new, 4, ~ip->check & 0xffff);
    last_diff = d;
    ip->daddr = new;
    ip->check = fold(d);
    if (ip->protocol == IPPROTO_UDP) {
        struct udphdr *u = (void *)(ip + 1);
        if ((void *)(u + 1) <= end && u->check)
            u->check = fold(bpf_csum_diff(&old, 4, &new, 4, ~u->check & 0xffff));
    } else if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *t = (void *)(ip + 1);
        if ((void *)(t + 1) <= end)
            t->check = fold(bpf_csum_diff(&old, 4, &new, 4, ~t->check & 0xffff));
    }
    /* TTL down by one, and the header checksum recomputed from scratch. */
    ip->ttl--;
    ip->check = 0;
    __s64 s = bpf_csum_diff(0, 0, (void *)ip, sizeof(*ip), 0);
    full_sum = s;
    ip->check = fold(s);
    /* Error paths: sizes not a multiple of 4. */
    last_diff ^= bpf_csum_diff(&old, 3, &new, 4, 0) << 20;
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
