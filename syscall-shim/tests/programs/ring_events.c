// Sends an event for every packet through a ring buffer: its length and first 8 bytes
// with bpf_ringbuf_output, and for packets of an odd length a second, reserved and
// submitted event. Drives a libbpf ring buffer consumer under the shim.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 len;
	__u32 kind;
	__u8 head[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int ring_events(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct event e = { .len = end - data, .kind = 1 };

	if (data + 8 > end)
		return XDP_ABORTED;
	__builtin_memcpy(e.head, data, 8);
	if (bpf_ringbuf_output(&events, &e, sizeof(e), 0))
		return XDP_DROP;
	if (e.len & 1) {
		struct event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (!r)
			return XDP_DROP;
		r->len = e.len;
		r->kind = 2;
		__builtin_memcpy(r->head, e.head, 8);
		bpf_ringbuf_submit(r, 0);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
