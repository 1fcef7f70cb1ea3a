/* A parser for Ethernet, 802.1Q/802.1ad VLAN tags, IPv4 (with options), IPv6 (with
 * hop-by-hop, routing and destination options headers), TCP, UDP, ICMP and ICMPv6.
 * Counts frames per (L3, L4) class in a per-CPU array, counts destination ports in a hash,
 * drops telnet and IPv4 fragments, aborts on malformed headers, passes the rest. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum { C_OTHER, C_V4_TCP, C_V4_UDP, C_V4_ICMP, C_V4_OTHER, C_V6_TCP, C_V6_UDP, C_V6_ICMP,
       C_V6_OTHER, C_VLAN, C_MALFORMED, C_MAX };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, C_MAX);
} classes SEC(".maps");

struct port_key {
    __u8 proto;
    __u8 pad;
    __u16 port;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct port_key);
    __type(value, __u64);
    __uint(max_entries, 64);
} ports SEC(".maps");

struct cursor {
    void *pos;
    void *end;
};

static __always_inline void count(__u32 class)
{
    __u64 *v = bpf_map_lookup_elem(&classes, &class);
    if (v)
        *v += 1;
}

static __always_inline void count_port(__u8 proto, __u16 port)
{
    struct port_key k = { .proto = proto, .port = port };
    __u64 one = 1, *v = bpf_map_lookup_elem(&ports, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&ports, &k, &one, BPF_NOEXIST);
}

/* Returns the next protocol after Ethernet and up to two VLAN tags, or -1. */
static __always_inline int parse_eth(struct cursor *c)
{
    struct ethhdr *eth = c->pos;
    if ((void *)(eth + 1) > c->end)
        return -1;
    c->pos = eth + 1;
    __u16 proto = eth->h_proto;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        __u16 *tag = c->pos;
        if ((void *)(tag + 2) > c->end)
            return -1;
        proto = tag[1];
        c->pos = tag + 2;
        count(C_VLAN);
    }
    return bpf_ntohs(proto);
}

/* Returns the action for the L4 header at the cursor. */
static __always_inline int parse_l4(struct cursor *c, __u8 proto, int v6)
{
    if (proto == IPPROTO_TCP) {
        struct tcphdr *t = c->pos;
        if ((void *)(t + 1) > c->end)
            return -1;
        if (t->doff < 5 || c->pos + t->doff * 4 > c->end)
            return -1;
        count(v6 ? C_V6_TCP : C_V4_TCP);
        count_port(proto, bpf_ntohs(t->dest));
        return t->dest == bpf_htons(23) ? XDP_DROP : XDP_PASS;
    }
    if (proto == IPPROTO_UDP) {
        struct udphdr *u = c->pos;
        if ((void *)(u + 1) > c->end)
            return -1;
        count(v6 ? C_V6_UDP : C_V4_UDP);
        count_port(proto, bpf_ntohs(u->dest));
        return XDP_PASS;
    }
    if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
        struct icmphdr *i = c->pos;
        if ((void *)(i + 1) > c->end)
            return -1;
        count(v6 ? C_V6_ICMP : C_V4_ICMP);
        count_port(proto, i->type);
        return XDP_PASS;
    }
    count(v6 ? C_V6_OTHER : C_V4_OTHER);
    return XDP_PASS;
}

SEC("xdp")
int parse_all(struct xdp_md *ctx)
{
    struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
    int proto = parse_eth(&c);
    int action;
    if (proto < 0)
        goto malformed;
    if (proto == ETH_P_IP) {
        struct iphdr *ip = c.pos;
        if ((void *)(ip + 1) > c.end)
            goto malformed;
        if (ip->version != 4 || ip->ihl < 5)
            goto malformed;
        if (c.pos + ip->ihl * 4 > c.end)
            goto malformed;
        if (ip->frag_off & bpf_htons(0x3fff)) {
            count(C_V4_OTHER);
            return XDP_DROP;
        }
        c.pos += ip->ihl * 4;
        action = parse_l4(&c, ip->protocol, 0);
    } else if (proto == ETH_P_IPV6) {
        struct ipv6hdr *ip6 = c.pos;
        if ((void *)(ip6 + 1) > c.end)
            goto malformed;
        if (ip6->version != 6)
            goto malformed;
        __u8 next = ip6->nexthdr;
        c.pos = ip6 + 1;
#pragma unroll
        for (int i = 0; i < 3; i++) {
            if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS)
                break;
            __u8 *ext = c.pos;
            if ((void *)(ext + 2) > c.end)
                goto malformed;
            next = ext[0];
            c.pos += (ext[1] + 1) * 8;
        }
        action = parse_l4(&c, next, 1);
    } else {
        count(C_OTHER);
        return XDP_PASS;
    }
    if (action >= 0)
        return action;
malformed:
    count(C_MALFORMED);
    return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
