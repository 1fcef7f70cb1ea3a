/* Packet geometry: bpf_xdp_adjust_head (push and pop an encapsulation header),
 * bpf_xdp_adjust_tail (trim and grow, including on multi-buffer packets), and
 * bpf_xdp_adjust_meta with metadata read back, plus bpf_xdp_get_buff_len and
 * bpf_xdp_load_bytes/store_bytes across fragments. The operation depends on the last
 * nibble of the length; every return code is recorded. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __s64);
    __uint(max_entries, 16);
} rc SEC(".maps");

static __always_inline void put(__u32 k, __s64 v)
{
    bpf_map_update_elem(&rc, &k, &v, BPF_ANY);
}

SEC("xdp")
int geometry(struct xdp_md *ctx)
{
    __u32 len = bpf_xdp_get_buff_len(ctx);
    __u32 linear = ctx->data_end - ctx->data;
    put(0, len);
    put(1, linear);
    switch (len & 7) {
    case 0: { /* push 8 bytes of header, then fill them */
        put(2, bpf_xdp_adjust_head(ctx, -8));
        void *d = (void *)(long)ctx->data, *e = (void *)(long)ctx->data_end;
        if (d + 8 > e)
            return XDP_ABORTED;
        __builtin_memset(d, 0xee, 8);
        break;
    }
    case 1: /* pop the Ethernet header: fails below 14 bytes left */
        put(2, bpf_xdp_adjust_head(ctx, 14));
        break;
    case 2: /* grow the tail, zero-filled, and too far */
        put(2, bpf_xdp_adjust_tail(ctx, 100));
        put(3, bpf_xdp_adjust_tail(ctx, 5000));
        break;
    case 3: /* trim the tail to 20 bytes */
        put(2, bpf_xdp_adjust_tail(ctx, 20 - (int)len));
        break;
#ifndef NO_ADJUST_META /* kernels that refuse the helper to XDP: see tests/common */
    case 4: { /* metadata: 8 bytes, written and read back; then too much */
        put(2, bpf_xdp_adjust_meta(ctx, -8));
        void *m = (void *)(long)ctx->data_meta, *d = (void *)(long)ctx->data;
        if (m + 8 <= d) {
            *(__u64 *)m = 0x1122334455667788ull;
            put(3, *(__u32 *)m);
        }
        put(4, bpf_xdp_adjust_meta(ctx, -300));
        put(5, bpf_xdp_adjust_meta(ctx, -2));
        break;
    }
#endif
    case 5: /* head as far as it goes, and one more */
        put(2, bpf_xdp_adjust_head(ctx, -216));
        put(3, bpf_xdp_adjust_head(ctx, -1));
        break;
    case 6: { /* load and store across the whole buffer (fragments included) */
        __u8 buf[16] = {};
        put(2, bpf_xdp_load_bytes(ctx, len - 16, buf, 16));
        put(3, *(__u64 *)buf ^ *(__u64 *)(buf + 8));
        __builtin_memset(buf, 0x77, 16);
        put(4, bpf_xdp_store_bytes(ctx, len / 2, buf, 16));
        put(5, bpf_xdp_load_bytes(ctx, len - 8, buf, 16)); /* beyond the end */
        put(6, bpf_xdp_store_bytes(ctx, 0x10000, buf, 4));
        break;
    }
    default: /* shrink by a little, then by a lot */
        put(2, bpf_xdp_adjust_tail(ctx, -3));
        put(3, bpf_xdp_adjust_tail(ctx, -4000));
        break;
    }
    put(7, bpf_xdp_get_buff_len(ctx));
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
