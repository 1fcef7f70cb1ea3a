/* uxdp's Katran-compatible L4 balancer (XDP). Written for uxdp; compatible with Katran's
 * default build: the same map names, types, key and value layouts and sizes, the same
 * flow hash and ring indexing, the same connection-table rules, the same IPIP and
 * IPv6 encapsulation and counters, so either control plane can drive either balancer.
 *
 * Per packet: parse Ethernet, IPv4 (no options, no fragments) or IPv6 (no fragment
 * header), ICMP/ICMPv6 (echo requests answered; errors mapped back to the flow they are
 * about), TCP or UDP ports; find the VIP (exact port, then port 0); find the real in the
 * CPU's connection table (or the shared fallback table), else on the VIP's Maglev ring by
 * a Jenkins hash of the source address and ports; encapsulate towards the real (IPIP for
 * an IPv4 real, IPv6 for an IPv6 real) with an outer source derived from the client, to
 * the gateway MAC, and send it back out (XDP_TX). Not for a VIP: XDP_PASS.
 *
 * Not implemented (VIPs with these flags take the plain path): QUIC connection-id
 * routing (F_QUIC_VIP). */
#include <linux/bpf.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Sizes (Katran's defaults). */
#define MAX_VIPS 512
#define MAX_REALS 4096
#define RING_SIZE 65537
#define CH_RINGS_SIZE (MAX_VIPS * RING_SIZE)
#define STATS_MAP_SIZE (MAX_VIPS * 2)
#define CTL_MAP_SIZE 16
#define MAX_SUPPORTED_CPUS 128
#ifndef DEFAULT_LRU_SIZE /* the fallback connection table; -D to change (benchmarks) */
#define DEFAULT_LRU_SIZE 1000
#endif
#define MAX_QUIC_REALS 0x00fffffe

/* Behaviour. */
#define ONE_SEC 1000000000ULL
#define LRU_UDP_TIMEOUT 30000000000ULL
#define MAX_CONN_RATE 125000
#define DEFAULT_TTL 64
#define MAX_PCKT_SIZE 1514
#define INIT_JHASH_SEED CH_RINGS_SIZE
#define INIT_JHASH_SEED_V6 MAX_VIPS
#define IPIP_V4_PREFIX 4268 /* bytes AC 10: 172.16.0.0/16 */
#define IPIP_V6_PREFIX1 1   /* 100::/64 */
#define MTU_IN_PTB_TO_COUNT 1280
#define MAC_ADDR_POS 0

/* VIP flags. */
#define F_HASH_NO_SRC_PORT (1 << 0)
#define F_LRU_BYPASS (1 << 1)
#define F_QUIC_VIP (1 << 2)
#define F_HASH_DPORT_ONLY (1 << 3)
#define F_HASH_SRC_DST_PORT (1 << 7)
#define F_UDP_FLOW_MIGRATION (1 << 9)
/* Real flags. */
#define F_IPV6 (1 << 0)
/* Packet flags. */
#define F_ICMP (1 << 0)
#define F_SYN_SET (1 << 1)
#define F_RST_SET (1 << 2)

/* Offsets of the global counters in `stats`, after the per-VIP ones. */
#define LRU_CNTRS 0
#define LRU_MISS_CNTR 1
#define NEW_CONN_RATE_CNTR 2
#define FALLBACK_LRU_CNTR 3
#define ENCAP_FAIL_CNTR 7
#define CH_DROP_STATS 9
#define ICMP_PTB_V6_STATS 12
#define ICMP_PTB_V4_STATS 13
#define UDP_FLOW_MIGRATION_STATS 15
#define XDP_TOTAL_CNTR 16
#define XDP_TX_CNTR 17
#define XDP_DROP_CNTR 18
#define XDP_PASS_CNTR 19

/* Keep going: the internal answer of a parsing step that decided nothing. */
#define FURTHER_PROCESSING -1

struct flow_key {
	union {
		__be32 src;
		__be32 srcv6[4];
	};
	union {
		__be32 dst;
		__be32 dstv6[4];
	};
	union {
		__u32 ports;
		__u16 port16[2];
	};
	__u8 proto;
};

struct packet_description {
	struct flow_key flow;
	__u32 real_index;
	__u8 flags;
	__u8 tos;
};

struct ctl_value {
	union {
		__u64 value;
		__u32 ifindex;
		__u8 mac[6];
	};
};

struct vip_definition {
	union {
		__be32 vip;
		__be32 vipv6[4];
	};
	__u16 port;
	__u8 proto;
};

struct vip_meta {
	__u32 flags;
	__u32 vip_num;
};

struct real_pos_lru {
	__u32 pos;
	__u64 atime;
};

struct real_definition {
	union {
		__be32 dst;
		__be32 dstv6[4];
	};
	__u8 flags;
};

struct lb_stats {
	__u64 v1;
	__u64 v2;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct vip_definition);
	__type(value, struct vip_meta);
	__uint(max_entries, MAX_VIPS);
} vip_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct real_pos_lru);
	__uint(max_entries, DEFAULT_LRU_SIZE);
} fallback_cache SEC(".maps");

struct lru_template {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct real_pos_lru);
	__uint(max_entries, DEFAULT_LRU_SIZE);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, MAX_SUPPORTED_CPUS);
	__array(values, struct lru_template);
} lru_mapping SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, CH_RINGS_SIZE);
} ch_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct real_definition);
	__uint(max_entries, MAX_REALS);
} reals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stats);
	__uint(max_entries, MAX_REALS);
} reals_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MAX_REALS);
} lru_miss_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct vip_definition);
	__uint(max_entries, 1);
} vip_miss_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stats);
	__uint(max_entries, STATS_MAP_SIZE);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MAX_QUIC_REALS);
} server_id_map SEC(".maps");

struct down_reals_template {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, MAX_REALS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, struct vip_definition);
	__uint(max_entries, MAX_VIPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__array(values, struct down_reals_template);
} vip_to_down_reals_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ctl_value);
	__uint(max_entries, CTL_MAP_SIZE);
} ctl_array SEC(".maps");

/* ---- Jenkins hash (the kernel's lookup3 variant) ---- */

static __always_inline __u32 rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> ((-shift) & 31));
}

#define JHASH_INITVAL 0xdeadbeef

#define jhash_mix(a, b, c)                     \
	do {                                   \
		a -= c;                        \
		a ^= rol32(c, 4);              \
		c += b;                        \
		b -= a;                        \
		b ^= rol32(a, 6);              \
		a += c;                        \
		c -= b;                        \
		c ^= rol32(b, 8);              \
		b += a;                        \
		a -= c;                        \
		a ^= rol32(c, 16);             \
		c += b;                        \
		b -= a;                        \
		b ^= rol32(a, 19);             \
		a += c;                        \
		c -= b;                        \
		c ^= rol32(b, 4);              \
		b += a;                        \
	} while (0)

#define jhash_final(a, b, c)                   \
	do {                                   \
		c ^= b;                        \
		c -= rol32(b, 14);             \
		a ^= c;                        \
		a -= rol32(c, 11);             \
		b ^= a;                        \
		b -= rol32(a, 25);             \
		c ^= b;                        \
		c -= rol32(b, 16);             \
		a ^= c;                        \
		a -= rol32(c, 4);              \
		b ^= a;                        \
		b -= rol32(a, 14);             \
		c ^= b;                        \
		c -= rol32(b, 24);             \
	} while (0)

/* jhash of the four 32-bit words of an IPv6 address (16 bytes). */
static __always_inline __u32 jhash_v6(const __u32 *k, __u32 initval)
{
	__u32 a, b, c;

	a = b = c = JHASH_INITVAL + 16 + initval;
	a += k[0];
	b += k[1];
	c += k[2];
	jhash_mix(a, b, c);
	a += k[3];
	jhash_final(a, b, c);
	return c;
}

static __always_inline __u32 jhash_2words(__u32 a, __u32 b, __u32 initval)
{
	__u32 c = initval + JHASH_INITVAL + 8;

	a += c;
	b += c;
	jhash_final(a, b, c);
	return c;
}

/* ---- helpers ---- */

static __always_inline struct lb_stats *counter(__u32 offset)
{
	__u32 key = MAX_VIPS + offset;

	return bpf_map_lookup_elem(&stats, &key);
}

static __always_inline __u16 ipv4_csum(struct iphdr *iph)
{
	__u16 *w = (__u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(struct iphdr) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

/* ---- ICMP ---- */

/* ICMPv4 at offset 34: echo requests answered; destination-unreachable errors become the
 * flow of the packet they carry (addresses and, later, ports reversed). */
static __always_inline int parse_icmp(void *data, void *data_end, struct packet_description *pckt)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct icmphdr *icmp = (void *)(iph + 1);
	struct iphdr *inner;

	if ((void *)(icmp + 1) > data_end)
		return XDP_DROP;
	if (icmp->type == ICMP_ECHO) {
		__be32 tmp = iph->saddr;

		icmp->type = ICMP_ECHOREPLY;
		/* The checksum patched as Katran patches it: 8 added to the field read as a
		 * host (little-endian) 16-bit word. */
		icmp->checksum += 0x0008;
		iph->ttl = DEFAULT_TTL;
		iph->saddr = iph->daddr;
		iph->daddr = tmp;
		iph->check = 0;
		iph->check = ipv4_csum(iph);
		swap_macs(eth);
		return XDP_TX;
	}
	if (icmp->type != ICMP_DEST_UNREACH)
		return XDP_PASS;
	if (icmp->code == ICMP_FRAG_NEEDED) {
		struct lb_stats *ptb = counter(ICMP_PTB_V4_STATS);

		if (!ptb)
			return XDP_DROP;
		ptb->v1 += 1;
		if (bpf_ntohs(icmp->un.frag.mtu) < MTU_IN_PTB_TO_COUNT)
			ptb->v2 += 1;
	}
	inner = (void *)(icmp + 1);
	if ((void *)(inner + 1) > data_end)
		return XDP_DROP;
	if (inner->ihl != 5)
		return XDP_DROP;
	pckt->flow.proto = inner->protocol;
	pckt->flags |= F_ICMP;
	pckt->flow.src = inner->daddr;
	pckt->flow.dst = inner->saddr;
	return FURTHER_PROCESSING;
}

/* ICMPv6 at offset 54: echo requests answered; destination-unreachable and packet-too-big
 * errors become the flow of the packet they carry. */
static __always_inline int parse_icmpv6(void *data, void *data_end, struct packet_description *pckt)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6h = data + sizeof(struct ethhdr);
	struct icmp6hdr *icmp = (void *)(ip6h + 1);
	struct ipv6hdr *inner;

	if ((void *)(icmp + 1) > data_end)
		return XDP_DROP;
	if (icmp->icmp6_type == ICMPV6_ECHO_REQUEST) {
		struct in6_addr tmp = ip6h->saddr;

		icmp->icmp6_type = ICMPV6_ECHO_REPLY;
		/* 1 taken from the field read as a host 16-bit word, as Katran does. */
		icmp->icmp6_cksum -= 0x0001;
		ip6h->hop_limit = DEFAULT_TTL;
		ip6h->saddr = ip6h->daddr;
		ip6h->daddr = tmp;
		swap_macs(eth);
		return XDP_TX;
	}
	if (icmp->icmp6_type != ICMPV6_DEST_UNREACH && icmp->icmp6_type != ICMPV6_PKT_TOOBIG)
		return XDP_PASS;
	if (icmp->icmp6_type == ICMPV6_PKT_TOOBIG) {
		struct lb_stats *ptb = counter(ICMP_PTB_V6_STATS);

		if (!ptb)
			return XDP_DROP;
		ptb->v1 += 1;
		if (bpf_ntohl(icmp->icmp6_mtu) < MTU_IN_PTB_TO_COUNT)
			ptb->v2 += 1;
	}
	inner = (void *)(icmp + 1);
	if ((void *)(inner + 1) > data_end)
		return XDP_DROP;
	pckt->flow.proto = inner->nexthdr;
	pckt->flags |= F_ICMP;
	__builtin_memcpy(pckt->flow.srcv6, inner->daddr.s6_addr32, 16);
	__builtin_memcpy(pckt->flow.dstv6, inner->saddr.s6_addr32, 16);
	return FURTHER_PROCESSING;
}

/* ---- L4 ---- */

/* Where the L4 header is: after the IP header, or after the ICMP error's headers. */
static __always_inline __u32 l4_offset(int is_ipv6, __u8 flags)
{
	__u32 off = sizeof(struct ethhdr) + (is_ipv6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));

	if (flags & F_ICMP)
		off += sizeof(struct icmphdr) + (is_ipv6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
	return off;
}

static __always_inline int parse_tcp(void *data, void *data_end, int is_ipv6,
				     struct packet_description *pckt)
{
	struct tcphdr *tcp = data + l4_offset(is_ipv6, pckt->flags);

	if ((void *)(tcp + 1) > data_end)
		return 0;
	if (tcp->syn)
		pckt->flags |= F_SYN_SET;
	if (tcp->rst)
		pckt->flags |= F_RST_SET;
	if (pckt->flags & F_ICMP) {
		pckt->flow.port16[0] = tcp->dest;
		pckt->flow.port16[1] = tcp->source;
	} else {
		pckt->flow.port16[0] = tcp->source;
		pckt->flow.port16[1] = tcp->dest;
	}
	return 1;
}

static __always_inline int parse_udp(void *data, void *data_end, int is_ipv6,
				     struct packet_description *pckt)
{
	struct udphdr *udp = data + l4_offset(is_ipv6, pckt->flags);

	if ((void *)(udp + 1) > data_end)
		return 0;
	if (pckt->flags & F_ICMP) {
		pckt->flow.port16[0] = udp->dest;
		pckt->flow.port16[1] = udp->source;
	} else {
		pckt->flow.port16[0] = udp->source;
		pckt->flow.port16[1] = udp->dest;
	}
	return 1;
}

/* ---- connection table and ring ---- */

/* The new-connection rate of this CPU over a tumbling one-second window; true while it is
 * above MAX_CONN_RATE (no connection-table inserts then). */
static __always_inline int is_under_flood(__u64 *now)
{
	struct lb_stats *rate = counter(NEW_CONN_RATE_CNTR);

	if (!rate)
		return 1;
	*now = bpf_ktime_get_ns();
	if (*now - rate->v2 > ONE_SEC) {
		rate->v1 = 1;
		rate->v2 = *now;
	} else {
		rate->v1 += 1;
		if (rate->v1 > MAX_CONN_RATE)
			return 1;
	}
	return 0;
}

static __always_inline __u32 flow_hash(struct packet_description *pckt, int is_ipv6)
{
	if (is_ipv6)
		return jhash_2words(jhash_v6(pckt->flow.srcv6, INIT_JHASH_SEED_V6), pckt->flow.ports,
				    INIT_JHASH_SEED);
	return jhash_2words(pckt->flow.src, pckt->flow.ports, INIT_JHASH_SEED);
}

static __always_inline void connection_table_lookup(struct real_definition **real,
						    struct packet_description *pckt, void *lru_map)
{
	struct real_pos_lru *entry = bpf_map_lookup_elem(lru_map, &pckt->flow);
	__u32 key;

	if (!entry)
		return;
	if (pckt->flow.proto == IPPROTO_UDP) {
		__u64 now = bpf_ktime_get_ns();

		if (now - entry->atime > LRU_UDP_TIMEOUT)
			return;
		entry->atime = now;
	}
	key = entry->pos;
	pckt->real_index = key;
	*real = bpf_map_lookup_elem(&reals, &key);
}

/* Consistent hashing: the real on the VIP's ring for this flow, remembered in the
 * connection table unless bypassed, flooded or a reset. */
static __always_inline int get_packet_dst(struct real_definition **real, struct packet_description *pckt,
					  struct vip_meta *vip_info, int is_ipv6, void *lru_map)
{
	struct real_pos_lru entry;
	struct lb_stats *drops;
	__u64 now = 0;
	__u32 key, *slot;
	int flooded = is_under_flood(&now);

	__builtin_memset(&entry, 0, sizeof(entry));

	if (vip_info->flags & F_HASH_DPORT_ONLY) {
		pckt->flow.port16[0] = pckt->flow.port16[1];
		__builtin_memset(pckt->flow.srcv6, 0, 16);
	}
	key = RING_SIZE * vip_info->vip_num + flow_hash(pckt, is_ipv6) % RING_SIZE;
	slot = bpf_map_lookup_elem(&ch_rings, &key);
	if (!slot)
		return 0;
	key = *slot;
	if (key == 0) {
		drops = counter(CH_DROP_STATS);
		if (drops)
			drops->v2 += 1;
		return 0;
	}
	pckt->real_index = key;
	*real = bpf_map_lookup_elem(&reals, &key);
	if (!*real) {
		drops = counter(CH_DROP_STATS);
		if (drops)
			drops->v1 += 1;
		return 0;
	}
	if (!(vip_info->flags & F_LRU_BYPASS) && !flooded && !(pckt->flags & F_RST_SET)) {
		if (pckt->flow.proto == IPPROTO_UDP)
			entry.atime = now;
		entry.pos = key;
		bpf_map_update_elem(lru_map, &pckt->flow, &entry, BPF_ANY);
	}
	return 1;
}

/* A UDP flow whose remembered real is marked down for the VIP forgets it (the flow is
 * hashed again). */
static __always_inline int real_is_down(struct vip_definition *vip, __u32 real_index)
{
	void *down = bpf_map_lookup_elem(&vip_to_down_reals_map, vip);

	return down && bpf_map_lookup_elem(down, &real_index);
}

/* Counts the real chosen for a connection-table miss of the VIP being watched
 * (vip_miss_stats[0]). */
static __always_inline int count_lru_miss(struct vip_definition *vip, __u32 real_index)
{
	__u32 zero = 0;
	struct vip_definition *watched = bpf_map_lookup_elem(&vip_miss_stats, &zero);
	__u32 *count;

	if (!watched)
		return 0;
	if (watched->vipv6[0] != vip->vipv6[0] || watched->vipv6[1] != vip->vipv6[1] ||
	    watched->vipv6[2] != vip->vipv6[2] || watched->vipv6[3] != vip->vipv6[3] ||
	    watched->port != vip->port || watched->proto != vip->proto)
		return 1;
	count = bpf_map_lookup_elem(&lru_miss_stats, &real_index);
	if (!count)
		return 0;
	*count += 1;
	return 1;
}

/* ---- encapsulation ---- */

static __always_inline void new_eth(struct ethhdr *eth, struct ethhdr *old, struct ctl_value *gw,
				    __u16 proto)
{
	__builtin_memcpy(eth->h_source, old->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, gw->mac, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
}

/* IPIP towards an IPv4 real: outer source 172.16.(c2 ^ port lo).(c3 ^ port hi). */
static __always_inline int encap_v4(struct xdp_md *xdp, struct ctl_value *gw, struct packet_description *pckt,
				    struct real_definition *real, __u16 pkt_bytes)
{
	void *data, *data_end;
	struct ethhdr *eth, *old;
	struct iphdr *iph;
	__u32 suffix;

	if (bpf_xdp_adjust_head(xdp, 0 - (int)sizeof(struct iphdr)))
		return 0;
	data = (void *)(long)xdp->data;
	data_end = (void *)(long)xdp->data_end;
	eth = data;
	iph = data + sizeof(struct ethhdr);
	old = data + sizeof(struct iphdr);
	if ((void *)(eth + 1) > data_end || (void *)(old + 1) > data_end || (void *)(iph + 1) > data_end)
		return 0;
	new_eth(eth, old, gw, ETH_P_IP);
	suffix = bpf_htons(pckt->flow.port16[0]);
	suffix <<= 16;
	suffix ^= pckt->flow.src;
	iph->version = 4;
	iph->ihl = 5;
	iph->frag_off = 0;
	iph->protocol = IPPROTO_IPIP;
	iph->check = 0;
	iph->tos = pckt->tos;
	iph->tot_len = bpf_htons(pkt_bytes + sizeof(struct iphdr));
	iph->id = 0;
	iph->daddr = real->dst;
	iph->saddr = (suffix & 0xffff0000) | IPIP_V4_PREFIX;
	iph->ttl = DEFAULT_TTL;
	iph->check = ipv4_csum(iph);
	return 1;
}

/* IPv6 towards an IPv6 real (the inner packet IPv6 or IPv4): outer source 100::/64 with
 * the client's last word XORed with the source port. */
static __always_inline int encap_v6(struct xdp_md *xdp, struct ctl_value *gw, int is_ipv6,
				    struct packet_description *pckt, struct real_definition *real,
				    __u16 pkt_bytes)
{
	void *data, *data_end;
	struct ethhdr *eth, *old;
	struct ipv6hdr *ip6h;
	__u16 payload_len = pkt_bytes;
	__u8 nexthdr = IPPROTO_IPIP;
	__u32 client = pckt->flow.src;

	if (is_ipv6) {
		payload_len = pkt_bytes + sizeof(struct ipv6hdr);
		nexthdr = IPPROTO_IPV6;
		client = pckt->flow.srcv6[3];
	}
	if (bpf_xdp_adjust_head(xdp, 0 - (int)sizeof(struct ipv6hdr)))
		return 0;
	data = (void *)(long)xdp->data;
	data_end = (void *)(long)xdp->data_end;
	eth = data;
	ip6h = data + sizeof(struct ethhdr);
	old = data + sizeof(struct ipv6hdr);
	if ((void *)(eth + 1) > data_end || (void *)(old + 1) > data_end || (void *)(ip6h + 1) > data_end)
		return 0;
	new_eth(eth, old, gw, ETH_P_IPV6);
	ip6h->version = 6;
	ip6h->priority = (pckt->tos & 0xf0) >> 4;
	ip6h->flow_lbl[0] = (pckt->tos & 0x0f) << 4;
	ip6h->flow_lbl[1] = 0;
	ip6h->flow_lbl[2] = 0;
	ip6h->nexthdr = nexthdr;
	ip6h->payload_len = bpf_htons(payload_len);
	ip6h->hop_limit = DEFAULT_TTL;
	ip6h->saddr.s6_addr32[0] = IPIP_V6_PREFIX1;
	ip6h->saddr.s6_addr32[1] = 0;
	ip6h->saddr.s6_addr32[2] = 0;
	ip6h->saddr.s6_addr32[3] = client ^ pckt->flow.port16[0];
	__builtin_memcpy(ip6h->daddr.s6_addr32, real->dstv6, 16);
	return 1;
}

/* ---- the packet ---- */

static __always_inline int process_packet(struct xdp_md *xdp, int is_ipv6)
{
	void *data = (void *)(long)xdp->data;
	void *data_end = (void *)(long)xdp->data_end;
	struct packet_description pckt;
	struct vip_definition vip;
	struct real_definition *dst = 0;
	struct vip_meta *vip_info;
	struct lb_stats *lru_stats, *st;
	struct ctl_value *gw;
	void *lru_map;
	__u16 pkt_bytes, original_sport;
	__u32 key, cpu;
	__u8 proto;
	int action;

	/* Keys are hashed whole: their padding must be zero. */
	__builtin_memset(&pckt, 0, sizeof(pckt));
	__builtin_memset(&vip, 0, sizeof(vip));
	if (is_ipv6) {
		struct ipv6hdr *ip6h = data + sizeof(struct ethhdr);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_DROP;
		proto = ip6h->nexthdr;
		pckt.tos = (ip6h->priority << 4) | (ip6h->flow_lbl[0] >> 4);
		pkt_bytes = bpf_ntohs(ip6h->payload_len);
		if (proto == IPPROTO_FRAGMENT)
			return XDP_DROP;
		if (proto == IPPROTO_ICMPV6) {
			action = parse_icmpv6(data, data_end, &pckt);
			if (action >= 0)
				return action;
		} else {
			__builtin_memcpy(pckt.flow.srcv6, ip6h->saddr.s6_addr32, 16);
			__builtin_memcpy(pckt.flow.dstv6, ip6h->daddr.s6_addr32, 16);
			pckt.flow.proto = proto;
		}
	} else {
		struct iphdr *iph = data + sizeof(struct ethhdr);

		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
		if (iph->ihl != 5)
			return XDP_DROP;
		pckt.tos = iph->tos;
		proto = iph->protocol;
		pkt_bytes = bpf_ntohs(iph->tot_len);
		if (iph->frag_off & bpf_htons(0x3fff))
			return XDP_DROP;
		if (proto == IPPROTO_ICMP) {
			action = parse_icmp(data, data_end, &pckt);
			if (action >= 0)
				return action;
		} else {
			pckt.flow.src = iph->saddr;
			pckt.flow.dst = iph->daddr;
			pckt.flow.proto = proto;
		}
	}
	proto = pckt.flow.proto;
	if (proto == IPPROTO_TCP) {
		if (!parse_tcp(data, data_end, is_ipv6, &pckt))
			return XDP_DROP;
	} else if (proto == IPPROTO_UDP) {
		if (!parse_udp(data, data_end, is_ipv6, &pckt))
			return XDP_DROP;
	} else {
		return XDP_PASS;
	}

	/* The VIP: its exact port, else port 0 (any port). */
	__builtin_memcpy(vip.vipv6, pckt.flow.dstv6, 16);
	vip.port = pckt.flow.port16[1];
	vip.proto = pckt.flow.proto;
	vip_info = bpf_map_lookup_elem(&vip_map, &vip);
	if (!vip_info) {
		vip.port = 0;
		vip_info = bpf_map_lookup_elem(&vip_map, &vip);
		if (!vip_info)
			return XDP_PASS;
		if (!(vip_info->flags & (F_HASH_DPORT_ONLY | F_HASH_SRC_DST_PORT)))
			pckt.flow.port16[1] = 0;
	}
	if (data_end - data > MAX_PCKT_SIZE)
		return XDP_DROP;
	lru_stats = counter(LRU_CNTRS);
	if (!lru_stats)
		return XDP_DROP;
	lru_stats->v1 += 1;
	if (vip_info->flags & F_HASH_NO_SRC_PORT)
		pckt.flow.port16[0] = 0;

	/* This CPU's connection table, else the shared fallback. */
	cpu = bpf_get_smp_processor_id();
	lru_map = bpf_map_lookup_elem(&lru_mapping, &cpu);
	if (!lru_map) {
		st = counter(FALLBACK_LRU_CNTR);
		if (!st)
			return XDP_DROP;
		st->v1 += 1;
		lru_map = &fallback_cache;
	}
	original_sport = pckt.flow.port16[0];

	if (!(pckt.flags & F_SYN_SET) && !(vip_info->flags & F_LRU_BYPASS))
		connection_table_lookup(&dst, &pckt, lru_map);
	if (dst && (vip_info->flags & F_UDP_FLOW_MIGRATION) && pckt.flow.proto == IPPROTO_UDP) {
		__u64 now;

		if (!is_under_flood(&now) && real_is_down(&vip, pckt.real_index)) {
			dst = 0;
			st = counter(UDP_FLOW_MIGRATION_STATS);
			if (st)
				st->v1 += 1;
		}
	}
	if (!dst) {
		if (pckt.flow.proto == IPPROTO_TCP) {
			st = counter(LRU_MISS_CNTR);
			if (!st)
				return XDP_DROP;
			if (pckt.flags & F_SYN_SET)
				st->v1 += 1;
			else
				st->v2 += 1;
		}
		if (!get_packet_dst(&dst, &pckt, vip_info, is_ipv6, lru_map))
			return XDP_DROP;
		if (!count_lru_miss(&vip, pckt.real_index))
			return XDP_DROP;
		lru_stats->v2 += 1;
	}

	key = MAC_ADDR_POS;
	gw = bpf_map_lookup_elem(&ctl_array, &key);
	if (!gw)
		return XDP_DROP;
	key = vip_info->vip_num;
	st = bpf_map_lookup_elem(&stats, &key);
	if (!st)
		return XDP_DROP;
	st->v1 += 1;
	st->v2 += pkt_bytes;
	key = pckt.real_index;
	st = bpf_map_lookup_elem(&reals_stats, &key);
	if (!st)
		return XDP_DROP;
	st->v1 += 1;
	st->v2 += pkt_bytes;
	pckt.flow.port16[0] = original_sport;

	if (dst->flags & F_IPV6) {
		if (!encap_v6(xdp, gw, is_ipv6, &pckt, dst, pkt_bytes)) {
			st = counter(ENCAP_FAIL_CNTR);
			if (st)
				st->v2 += 1;
			return XDP_DROP;
		}
	} else {
		if (!encap_v4(xdp, gw, &pckt, dst, pkt_bytes)) {
			st = counter(ENCAP_FAIL_CNTR);
			if (st)
				st->v1 += 1;
			return XDP_DROP;
		}
	}
	return XDP_TX;
}

SEC("xdp")
int balancer_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 data_len = data_end - data;
	struct lb_stats *total, *st;
	int action;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	total = counter(XDP_TOTAL_CNTR);
	if (total) {
		total->v1 += 1;
		total->v2 += data_len;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		action = process_packet(ctx, 0);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		action = process_packet(ctx, 1);
	else
		action = XDP_PASS;
	st = counter(action == XDP_TX ? XDP_TX_CNTR : action == XDP_DROP ? XDP_DROP_CNTR : XDP_PASS_CNTR);
	if (st && (action == XDP_TX || action == XDP_DROP || action == XDP_PASS)) {
		st->v1 += 1;
		st->v2 += data_len;
	}
	return action;
}

char _license[] SEC("license") = "GPL";
