// Raw bpf() calls with bad input, each printed as "case result errno". Run against the
// kernel and under the shim, the two outputs must be the same.
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *const BAD = (void *)8;

static long sys_bpf(int cmd, void *attr, unsigned size)
{
	return syscall(__NR_bpf, cmd, attr, size);
}

static void report(const char *what, long r)
{
	printf("%s %ld %d\n", what, r < 0 ? -1 : (r > 2 ? 1 : r), r < 0 ? errno : 0);
	errno = 0;
}

static int map_of(__u32 type, __u32 key_size, __u32 value_size, __u32 max_entries)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key_size;
	a.value_size = value_size;
	a.max_entries = max_entries;
	return sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

// A devmap entry names an interface that must exist (lo is ifindex 1 in every namespace).
static void devmaps(void)
{
	int dm = map_of(BPF_MAP_TYPE_DEVMAP, 4, 4, 4), dh = map_of(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 4);
	__u32 key = 1, far = 4, lo = 1, none = 987654, zero = 0;
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = dm;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&none;
	report("devmap_no_such_interface", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.key = (uintptr_t)&far;
	report("devmap_no_such_interface_beyond_the_end", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.key = (uintptr_t)&key;
	a.flags = BPF_NOEXIST;
	report("devmap_no_such_interface_noexist", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.flags = 0;
	a.value = (uintptr_t)&lo;
	report("devmap_loopback", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.value = (uintptr_t)&zero;
	report("devmap_cleared", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.map_fd = dh;
	a.value = (uintptr_t)&none;
	report("devmap_hash_no_such_interface", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.value = (uintptr_t)&lo;
	report("devmap_hash_loopback", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	close(dm);
	close(dh);
}

static int hash_map(void)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 4;
	return sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

// Sizes from the caller that no buffer backs: a batch count of 2^32-1 (the buffers hold
// the map's 4 entries), an info buffer of 2 GiB, a query of a descriptor that is no cgroup.
static void untrusted_sizes(void)
{
	union bpf_attr a;
	static char keys[4 * 4], values[4 * 8];
	uint32_t token = 0, k;
	uint64_t v = 9;
	int m = hash_map(), arr = map_of(BPF_MAP_TYPE_ARRAY, 4, 8, 4);

	for (k = 0; k < 3; k++) {
		memset(&a, 0, sizeof(a));
		a.map_fd = m;
		a.key = (uintptr_t)&k;
		a.value = (uintptr_t)&v;
		sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a));
	}
	int fds[] = { m, arr };
	const char *names[] = { "hash", "array" };
	for (int i = 0; i < 2; i++) {
		char what[64];
		memset(&a, 0, sizeof(a));
		a.batch.map_fd = fds[i];
		a.batch.out_batch = (uintptr_t)&token;
		a.batch.keys = (uintptr_t)keys;
		a.batch.values = (uintptr_t)values;
		a.batch.count = UINT32_MAX;
		snprintf(what, sizeof(what), "lookup_batch_count_max_%s", names[i]);
		report(what, sys_bpf(BPF_MAP_LOOKUP_BATCH, &a, sizeof(a)));
		printf("%s_count %u\n", what, a.batch.count);
	}
	memset(&a, 0, sizeof(a));
	a.batch.map_fd = m;
	a.batch.out_batch = (uintptr_t)&token;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)values;
	a.batch.count = UINT32_MAX;
	report("lookup_and_delete_batch_count_max",
	       sys_bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH, &a, sizeof(a)));
	printf("lookup_and_delete_batch_count_max_count %u\n", a.batch.count);

	// Updates and deletes read their elements one by one: the fault ends them, counted.
	for (k = 0; k < 4; k++)
		((uint32_t *)keys)[k] = k;
	memset(&a, 0, sizeof(a));
	a.batch.map_fd = arr;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)values;
	a.batch.count = UINT32_MAX;
	report("update_batch_count_max", sys_bpf(BPF_MAP_UPDATE_BATCH, &a, sizeof(a)));
	printf("update_batch_count_max_done_at_least_4 %d\n", a.batch.count >= 4);
	memset(&a, 0, sizeof(a));
	a.batch.map_fd = m;
	a.batch.keys = (uintptr_t)keys;
	a.batch.count = UINT32_MAX;
	report("delete_batch_count_max", sys_bpf(BPF_MAP_DELETE_BATCH, &a, sizeof(a)));

	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = arr;
	a.info.info_len = 1u << 31;
	a.info.info = (uintptr_t)values;
	report("info_len_2_gib", sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)));

	memset(&a, 0, sizeof(a));
	report("prog_query_zero_attr", sys_bpf(BPF_PROG_QUERY, &a, sizeof(a)));

	// 32 GiB of array: more memory than this machine has.
	int big = map_of(BPF_MAP_TYPE_ARRAY, 4, 8, UINT32_MAX);
	report("array_larger_than_memory", big);
	if (big >= 0)
		close(big);
	close(m);
	close(arr);
}

int main(void)
{
	union bpf_attr a;
	static char page[8192];
	uint32_t key = 1;
	uint64_t value = 7;

	memset(&a, 0, sizeof(a));
	report("unknown_command", sys_bpf(9999, &a, sizeof(a)));
	report("attr_pointer_garbage", sys_bpf(BPF_MAP_CREATE, BAD, 72));
	report("attr_bigger_than_a_page", sys_bpf(BPF_MAP_CREATE, page, 4097));
	page[4095] = 1;
	report("attr_tail_not_zero", sys_bpf(BPF_MAP_CREATE, page, 4096));

	memset(&a, 0, sizeof(a));
	a.map_type = 9999;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 1;
	report("map_type_unknown", sys_bpf(BPF_MAP_CREATE, &a, sizeof(a)));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 0;
	report("hash_key_size_zero", sys_bpf(BPF_MAP_CREATE, &a, sizeof(a)));
	a.key_size = 4;
	a.max_entries = 0;
	report("max_entries_zero", sys_bpf(BPF_MAP_CREATE, &a, sizeof(a)));

	int m = hash_map();
	report("map_create", m);
	memset(&a, 0, sizeof(a));
	a.map_fd = m;
	a.key = (uintptr_t)BAD;
	a.value = (uintptr_t)&value;
	report("update_key_garbage", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.key = (uintptr_t)&key;
	a.flags = 99;
	report("update_flags_unknown", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.flags = BPF_EXIST;
	report("update_exist_missing", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.flags = BPF_ANY;
	report("update", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.value = (uintptr_t)BAD;
	report("lookup_value_garbage", sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)));
	key = 2;
	report("lookup_missing_value_garbage", sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)));
	report("delete_missing", sys_bpf(BPF_MAP_DELETE_ELEM, &a, sizeof(a)));
	a.map_fd = 0;
	report("lookup_on_stdin", sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)));
	a.map_fd = 987;
	report("lookup_on_fd_not_open", sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)));

	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = m;
	a.info.info_len = 88;
	a.info.info = (uintptr_t)BAD;
	report("info_pointer_garbage", sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)));
	a.info.bpf_fd = 987;
	report("info_fd_not_open", sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)));

	struct bpf_insn ok[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 2 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_XDP;
	a.insn_cnt = 2;
	a.insns = (uintptr_t)BAD;
	a.license = (uintptr_t) "GPL";
	report("prog_insns_garbage", sys_bpf(BPF_PROG_LOAD, &a, sizeof(a)));
	a.insns = (uintptr_t)ok;
	a.insn_cnt = 0;
	report("prog_no_insns", sys_bpf(BPF_PROG_LOAD, &a, sizeof(a)));
	a.insn_cnt = 2;
	a.license = (uintptr_t)BAD;
	report("prog_license_garbage", sys_bpf(BPF_PROG_LOAD, &a, sizeof(a)));
	a.license = (uintptr_t) "GPL";
	int p = sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	report("prog_load", p);

	char in[64] = { 0 }, out[64];
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = m;
	a.test.data_in = (uintptr_t)in;
	a.test.data_size_in = sizeof(in);
	report("test_run_on_a_map", sys_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a)));
	a.test.prog_fd = p;
	a.test.data_out = (uintptr_t)out;
	a.test.data_size_out = 10;
	report("test_run_out_too_small", sys_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a)));
	a.test.data_in = (uintptr_t)BAD;
	report("test_run_in_garbage", sys_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a)));

	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t) "/sys/fs/bpf/uxdp_no_such_pin";
	report("obj_get_missing", sys_bpf(BPF_OBJ_GET, &a, sizeof(a)));
	a.pathname = (uintptr_t)BAD;
	report("obj_get_path_garbage", sys_bpf(BPF_OBJ_GET, &a, sizeof(a)));

	close(m);
	memset(&a, 0, sizeof(a));
	a.map_fd = m;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&value;
	report("lookup_after_close", sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)));
	memset(&a, 0, sizeof(a));
	a.map_id = 0x7fffffff;
	report("map_by_missing_id", sys_bpf(BPF_MAP_GET_FD_BY_ID, &a, sizeof(a)));
	close(p);
	devmaps();
	untrusted_sizes();
	return 0;
}
