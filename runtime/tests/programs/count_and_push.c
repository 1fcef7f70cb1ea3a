/* Counts IPv4 and other frames in an array, counts every frame in .bss, drops the EtherType
 * a .rodata constant names (IPv6), and pushes 4 bytes of 0xab in front of everything else
 * with bpf_xdp_adjust_head. Exercises a .text subprogram, BTF maps, .bss and .rodata. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
} counts SEC(".maps");

__u64 seen = 0;
const volatile __u32 drop_proto = 0x86dd;

static __attribute__((noinline)) int classify(struct xdp_md *ctx, __u16 *proto)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return -1;
    *proto = bpf_ntohs(eth->h_proto);
    return 0;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
    __u16 proto = 0;
    __u32 k = 0;
    if (classify(ctx, &proto) < 0)
        return XDP_ABORTED;
    seen++;
    k = proto == 0x0800 ? 1 : 2;
    __u64 *v = bpf_map_lookup_elem(&counts, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    if (proto == drop_proto)
        return XDP_DROP;
    if (bpf_xdp_adjust_head(ctx, -4))
        return XDP_ABORTED;
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    if (data + 4 > end)
        return XDP_ABORTED;
    __builtin_memset(data, 0xab, 4);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
