// Counts its runs in a global (.bss) and returns the verdict a global in .data holds:
// what a skeleton-style control plane reads and writes through mmap of the maps.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 runs = 0;
__u32 verdict = XDP_PASS;

SEC("xdp")
int global_counter(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&runs, 1);
	return verdict;
}

char _license[] SEC("license") = "GPL";
