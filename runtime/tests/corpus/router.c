/* An IPv4/IPv6 router: bpf_fib_lookup on the packet's addresses; on success the TTL or
 * hop limit is decremented, the MACs rewritten and the packet redirected to the next
 * hop's interface; blackhole, unreachable and prohibit routes drop; the rest pass.
 *
 * A control block in the UDP payload (magic "FIBC") lets a test drive every flag and
 * error path: lookup flags, ifindex, tbid (or mark), plen, family and tot_len overrides,
 * and a dry run that decides without rewriting (so a repeated run, as in a benchmark,
 * keeps taking the same path).
 * The helper's return value and the whole struct it wrote are kept in .bss,
 * with a count per return value. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define AF_INET6 10
#define CTL_MAGIC 0x46494243 /* "FIBC" */
/* Newer than Debian 12's UAPI headers: the flag, and `mark` sharing bytes with smac. */
#define FIB_LOOKUP_MARK (1U << 5)

struct ctl {
    __u32 magic;
    __u32 flags;
    __u32 ifindex;
    __u32 tbid;
    __s32 plen;
    __u32 family;
    __u16 tot_len;
    __u16 dry_run;
};

/* One global, so its layout in .bss is fixed. */
struct {
    __s64 rc;
    struct bpf_fib_lookup params;
    __u64 by_rc[16];
} last;

static __always_inline void decrease_ttl(struct iphdr *iph)
{
    __u32 check = iph->check;
    check += bpf_htons(0x0100);
    iph->check = (__u16)(check + (check >= 0xffff));
    iph->ttl--;
}

SEC("xdp")
int route(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *iph = 0;
    struct ipv6hdr *ip6h = 0;
    struct udphdr *udp = 0;
    struct bpf_fib_lookup p;
    __u32 flags = 0;
    int short_plen = 0, dry_run = 0;
    long rc;

    __builtin_memset(&p, 0, sizeof(p));
    if ((void *)(eth + 1) > end)
        return XDP_ABORTED;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        iph = (void *)(eth + 1);
        if ((void *)(iph + 1) > end || iph->ihl != 5 || iph->ttl <= 1)
            return XDP_PASS;
        p.family = AF_INET;
        p.tos = iph->tos;
        p.l4_protocol = iph->protocol;
        p.tot_len = bpf_ntohs(iph->tot_len);
        p.ipv4_src = iph->saddr;
        p.ipv4_dst = iph->daddr;
        if (iph->protocol == IPPROTO_UDP)
            udp = (void *)(iph + 1);
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        ip6h = (void *)(eth + 1);
        if ((void *)(ip6h + 1) > end || ip6h->hop_limit <= 1)
            return XDP_PASS;
        p.family = AF_INET6;
        p.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0fffffff);
        p.l4_protocol = ip6h->nexthdr;
        p.tot_len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
        __builtin_memcpy(p.ipv6_src, &ip6h->saddr, 16);
        __builtin_memcpy(p.ipv6_dst, &ip6h->daddr, 16);
        if (ip6h->nexthdr == IPPROTO_UDP)
            udp = (void *)(ip6h + 1);
    } else {
        return XDP_PASS;
    }
    p.ifindex = ctx->ingress_ifindex;

    if (udp) {
        struct ctl *c = (void *)(udp + 1);
        if ((void *)(udp + 1) > end)
            return XDP_PASS;
        p.sport = udp->source;
        p.dport = udp->dest;
        if ((void *)(c + 1) <= end && c->magic == bpf_htonl(CTL_MAGIC)) {
            flags = c->flags;
            if (c->ifindex)
                p.ifindex = c->ifindex;
            if (flags & BPF_FIB_LOOKUP_TBID)
                p.tbid = c->tbid;
            else if (flags & FIB_LOOKUP_MARK)
                __builtin_memcpy(p.smac, &c->tbid, sizeof(c->tbid));
            if (c->family)
                p.family = c->family;
            if (c->tot_len)
                p.tot_len = c->tot_len;
            short_plen = c->plen == 60;
            dry_run = c->dry_run;
        }
    }

    if (short_plen)
        rc = bpf_fib_lookup(ctx, &p, 60, flags);
    else
        rc = bpf_fib_lookup(ctx, &p, sizeof(p), flags);
    last.rc = rc;
    __builtin_memcpy(&last.params, &p, sizeof(p));
    last.by_rc[rc & 15]++;

    switch (rc) {
    case BPF_FIB_LKUP_RET_SUCCESS:
        if (dry_run)
            return XDP_REDIRECT;
        if (iph)
            decrease_ttl(iph);
        else if (ip6h)
            ip6h->hop_limit--;
        __builtin_memcpy(eth->h_dest, p.dmac, ETH_ALEN);
        __builtin_memcpy(eth->h_source, p.smac, ETH_ALEN);
        return bpf_redirect(p.ifindex, 0);
    case BPF_FIB_LKUP_RET_BLACKHOLE:
    case BPF_FIB_LKUP_RET_UNREACHABLE:
    case BPF_FIB_LKUP_RET_PROHIBIT:
        return XDP_DROP;
    default:
        return XDP_PASS;
    }
}

char _license[] SEC("license") = "GPL";
