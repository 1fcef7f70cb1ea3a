/* The real server's side of the balancer, for kernels without IPIP tunnels: an XDP
 * program that strips the outer IPv4 header of an IPIP packet (protocol 4) and passes the
 * inner packet to the host stack, as Katran's decapsulation does. Anything else passes
 * unchanged. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int decap_ipip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, *moved;
	struct iphdr *outer = data + sizeof(*eth);
	struct ethhdr copy;

	if ((void *)(outer + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (outer->protocol != IPPROTO_IPIP || outer->ihl != 5)
		return XDP_PASS;
	__builtin_memcpy(&copy, eth, sizeof(copy));
	if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	moved = data;
	if ((void *)(moved + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(moved, &copy, sizeof(copy));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
