/* Map-heavy: per packet, a hash lookup (an ACL keyed by source address), an LRU hash
 * flow table keyed by the 5-tuple (counted in place when present, inserted when not), and
 * per-CPU statistics in a per-CPU array. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct flow {
    __u32 saddr, daddr;
    __u16 sport, dport;
    __u32 proto;
};

struct counters {
    __u64 packets, bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u32);
} acl SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct flow);
    __type(value, struct counters);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, struct counters);
} stats SEC(".maps");

static __always_inline void count(__u32 slot, __u64 len)
{
    struct counters *c = bpf_map_lookup_elem(&stats, &slot);
    if (c) {
        c->packets++;
        c->bytes += len;
    }
}

SEC("xdp")
int flow_stats(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    __u64 len = end - data;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5) {
        count(0, len);
        return XDP_PASS;
    }
    __u32 *verdict = bpf_map_lookup_elem(&acl, &ip->saddr);
    if (verdict && *verdict == XDP_DROP) {
        count(1, len);
        return XDP_DROP;
    }
    struct flow f = {
        .saddr = ip->saddr,
        .daddr = ip->daddr,
        .sport = udp->source,
        .dport = udp->dest,
        .proto = ip->protocol,
    };
    struct counters *c = bpf_map_lookup_elem(&flows, &f);
    if (c) {
        __sync_fetch_and_add(&c->packets, 1);
        __sync_fetch_and_add(&c->bytes, len);
    } else {
        struct counters fresh = { 1, len };
        bpf_map_update_elem(&flows, &f, &fresh, BPF_NOEXIST);
    }
    count(2, len);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
