/* A Katran-style L4 balancer's per-packet work, idempotent so that a repeated run (a
 * benchmark, BPF_PROG_TEST_RUN with repeat) takes the same path every time:
 * parse Ethernet/IPv4/UDP-or-TCP ports; look the VIP up in a hash map (miss: pass);
 * count the packet in per-CPU statistics; look the 5-tuple up in an LRU connection table;
 * on a miss hash the tuple onto the VIP's consistent-hashing ring (an array) and remember
 * the choice in the LRU table; fetch the real server (an array); rewrite the MACs to reach
 * it and recompute the IPv4 header checksum; send (XDP_TX). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define RING_SIZE 1024
#define MAX_VIPS 16
#define MAX_REALS 256

struct vip_key {
    __u32 addr;
    __u16 port;
    __u8 proto;
    __u8 pad;
};

struct vip_meta {
    __u32 flags;
    __u32 vip_num;
};

struct flow {
    __u32 saddr, daddr;
    __u16 sport, dport;
    __u32 proto;
};

struct real {
    __u32 addr;
    __u8 mac[ETH_ALEN];
    __u16 pad;
};

struct counters {
    __u64 packets, bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 512);
    __type(key, struct vip_key);
    __type(value, struct vip_meta);
} vip_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct flow);
    __type(value, __u32);
} conn_table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, RING_SIZE * MAX_VIPS);
    __type(key, __u32);
    __type(value, __u32);
} ch_rings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_REALS);
    __type(key, __u32);
    __type(value, struct real);
} reals SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MAX_VIPS + 1);
    __type(key, __u32);
    __type(value, struct counters);
} stats SEC(".maps");

static __always_inline __u32 mix(__u32 h, __u32 v)
{
    h ^= v;
    h *= 0x9e3779b1;
    return h ^ (h >> 15);
}

SEC("xdp")
int l4lb(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    __u16 *ports = (void *)(ip + 1);
    if ((void *)(ports + 2) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
        return XDP_PASS;
    if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
        return XDP_PASS;

    struct vip_key vk = { .addr = ip->daddr, .port = ports[1], .proto = ip->protocol };
    struct vip_meta *vip = bpf_map_lookup_elem(&vip_map, &vk);
    if (!vip)
        return XDP_PASS;
    __u32 vip_num = vip->vip_num % MAX_VIPS;

    struct counters *c = bpf_map_lookup_elem(&stats, &vip_num);
    if (c) {
        c->packets++;
        c->bytes += end - data;
    }

    struct flow f = {
        .saddr = ip->saddr,
        .daddr = ip->daddr,
        .sport = ports[0],
        .dport = ports[1],
        .proto = ip->protocol,
    };
    __u32 real_idx;
    __u32 *cached = bpf_map_lookup_elem(&conn_table, &f);
    if (cached) {
        real_idx = *cached;
    } else {
        __u32 h = mix(mix(mix(0, f.saddr), f.daddr), (__u32)f.sport << 16 | f.dport);
        __u32 slot = vip_num * RING_SIZE + h % RING_SIZE;
        __u32 *ring = bpf_map_lookup_elem(&ch_rings, &slot);
        if (!ring)
            return XDP_DROP;
        real_idx = *ring;
        bpf_map_update_elem(&conn_table, &f, &real_idx, BPF_ANY);
    }
    struct real *r = bpf_map_lookup_elem(&reals, &real_idx);
    if (!r)
        return XDP_DROP;

    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, r->mac, ETH_ALEN);
    ip->check = 0;
    __u32 sum = 0;
    __u16 *words = (__u16 *)ip;
#pragma unroll
    for (int i = 0; i < 10; i++)
        sum += words[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip->check = ~sum;
    return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
