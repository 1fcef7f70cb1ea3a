// The map shapes of Katran's balancer that libbpf loads differently from plain maps: an
// ARRAY_OF_MAPS of per-CPU connection tables whose inner LRU_HASH is declared in BTF with
// `__array(values, ...)` (`lru_mapping`, which the control plane fills with tables it
// creates itself), a HASH_OF_MAPS with BPF_F_NO_PREALLOC and a NO_PREALLOC inner hash
// (`vip_to_down_reals_map`), and a PERF_EVENT_ARRAY (`event_pipe`). The program finds its
// CPU's table (or the fallback one), counts the flow in it, checks whether real 1 of VIP
// 0 is down, and records what an event to an empty perf slot returned; it goes round
// once through a program array first, as Katran recirculates a decapsulated packet.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
	__u32 src[4];
	__u32 dst[4];
	__u32 ports;
	__u8 proto;
	__u8 pad[3];
};

struct real_pos_lru {
	__u32 pos;
	__u32 pad;
	__u64 atime;
};

// The connection table CPUs without one of their own share (Katran's `fallback_cache`).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct real_pos_lru);
	__uint(max_entries, 1000);
} fallback_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 128);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LRU_HASH);
		__type(key, struct flow_key);
		__type(value, struct real_pos_lru);
		__uint(max_entries, 1000);
	});
} lru_mapping SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__type(key, __u32);
		__type(value, __u8);
		__uint(max_entries, 64);
		__uint(map_flags, BPF_F_NO_PREALLOC);
	});
} vip_to_down_reals_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, __u32);
	__uint(max_entries, 4);
} event_pipe SEC(".maps");

// [0] packets that found their CPU's table, [1] real 1 of VIP 0 down, [2] the perf
// event's return value (negated), [3] flows already in the table, [4] recirculations.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 5);
} seen SEC(".maps");

// Katran's recirculation: the control plane puts the balancer itself in slot 0.
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 2);
} subprograms SEC(".maps");

static void bump(__u32 at, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&seen, &at);
	if (v)
		__sync_fetch_and_add(v, by);
}

SEC("xdp")
int katran_shapes(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct flow_key key = {};
	struct real_pos_lru pos = { .pos = 7 };
	__u32 cpu = bpf_get_smp_processor_id(), vip = 0, real = 1;

	if (data + 34 > end)
		return XDP_DROP;
	// First pass: mark the frame and go round again through the program array.
	if (*(__u8 *)data == 0) {
		*(__u8 *)data = 1;
		bump(4, 1);
		bpf_tail_call(ctx, &subprograms, 0);
	}
	__builtin_memcpy(&key.src[0], data + 26, 4);
	__builtin_memcpy(&key.dst[0], data + 30, 4);
	key.proto = *(__u8 *)(data + 23);
	// The fallback table is named first: clang then writes flow_key's whole BTF before it
	// meets the nested inner definition (where it would write a forward declaration).
	void *lru = &fallback_cache;
	void *own = bpf_map_lookup_elem(&lru_mapping, &cpu);
	if (own) {
		bump(0, 1);
		lru = own;
	}
	{
		if (bpf_map_lookup_elem(lru, &key))
			bump(3, 1);
		else
			bpf_map_update_elem(lru, &key, &pos, BPF_ANY);
	}
	void *down = bpf_map_lookup_elem(&vip_to_down_reals_map, &vip);
	if (down && bpf_map_lookup_elem(down, &real))
		bump(1, 1);
	long r = bpf_perf_event_output(ctx, &event_pipe, 3, &key, sizeof(key));
	bump(2, (__u64)-r);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
