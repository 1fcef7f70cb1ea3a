// Counts the packets it sees in `hits` and returns the verdict a control plane keeps in
// `verdict` (XDP_PASS while that is 0): what the shim's attach tests drive and observe.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} verdict SEC(".maps");

SEC("xdp")
int count_verdict(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *h = bpf_map_lookup_elem(&hits, &zero);
	__u32 *v = bpf_map_lookup_elem(&verdict, &zero);

	if (h)
		__sync_fetch_and_add(h, 1);
	return v && *v ? *v : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
