/* Global data: .data, .rodata, .bss and a custom .data.* section, read and written by two
 * programs. The verdict and the rewritten MAC address come from the constants. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

const volatile __u8 new_src[ETH_ALEN] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
const volatile __u32 pass_every = 3;
__u64 packets = 0;
__u64 bytes = 0;
__u32 last_len = 7;
__u16 histogram[16] = { 1, 2, 3 };
__u64 custom_counter SEC(".data.custom") = 100;
static __u32 hidden_state = 5;

SEC("xdp")
int rewrite_src(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 len = end - data;
    packets++;
    bytes += len;
    last_len = len;
    histogram[(len >> 6) & 15]++;
    hidden_state = hidden_state * 31 + len;
    custom_counter += hidden_state & 7;
    if ((void *)(eth + 1) > end)
        return XDP_ABORTED;
    for (int i = 0; i < ETH_ALEN; i++)
        eth->h_source[i] = new_src[i];
    return packets % pass_every == 0 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int read_only(struct xdp_md *ctx)
{
    return custom_counter > 100 + pass_every ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
