// Writes what its context says into the packet's first word: the metadata's first word
// plus 1000 times the ingress ifindex plus the receive queue; then grows the metadata by
// 4 bytes (so the context out moves). Drives the shim's test runs with a context.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int ctx_echo(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *meta = (void *)(long)ctx->data_meta;
	void *end = (void *)(long)ctx->data_end;
	__u32 m = 0;

	if (meta + 4 <= data)
		m = *(__u32 *)meta;
	if (data + 4 > end)
		return XDP_ABORTED;
	*(__u32 *)data = m + ctx->ingress_ifindex * 1000 + ctx->rx_queue_index;
#ifndef NO_ADJUST_META /* kernels that refuse the helper to XDP: tests/common */
	if (bpf_xdp_adjust_meta(ctx, -4))
		return XDP_DROP;
#endif
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
