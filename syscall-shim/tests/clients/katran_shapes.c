// The calls Katran's control plane (KatranLb, BpfLoader, BpfAdapter) makes, in its order,
// on programs/katran_shapes.c: raise RLIMIT_MEMLOCK, create per-CPU connection tables
// itself and make the first one the inner-map prototype of `lru_mapping`
// (bpf_map__set_inner_map_fd), load the object (its BTF `__array(values)` inner maps),
// put the tables into `lru_mapping`, give `vip_to_down_reals_map` a NO_PREALLOC inner
// hash (closing its own descriptor of it), recirculate through a program array, read
// inner maps back by id, put a perf event into `event_pipe`, test-run the
// program with repeats and a context, read results with batch lookups, pin and get, and
// ask for object information. Prints one line per step with what the kernel would let
// a caller see (no ids, no times). Run pinned to CPU 0 so that per-CPU answers agree.
//
//   katran_shapes OBJ PIN_DIR
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FLOW_KEY 40
#define REAL_POS 16

static int step(const char *what, int r)
{
	printf("%s %d\n", what, r < 0 ? -errno : r > 0 ? 1 : 0);
	return r;
}

static void memlock(void)
{
	struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY }, now;
	step("memlock_raise", setrlimit(RLIMIT_MEMLOCK, &inf));
	getrlimit(RLIMIT_MEMLOCK, &now);
	printf("memlock_now %s\n", now.rlim_cur == RLIM_INFINITY ? "infinity" : "limited");
}

// libbpf 1.4 and later ask for a BPF token first; the raw call works with any libbpf.
static void token(void)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = 0;
	int dir = open("/sys/fs/bpf", O_DIRECTORY | O_RDONLY);
	((__u32 *)&a)[1] = dir;
	long r = syscall(__NR_bpf, 36 /* BPF_TOKEN_CREATE */, &a, 8);
	printf("token_create %d\n", r < 0 ? -errno : 0);
	close(dir);
}

static void info(const char *what, int fd)
{
	struct bpf_map_info i;
	__u32 len = sizeof(i);
	memset(&i, 0, sizeof(i));
	int r = bpf_obj_get_info_by_fd(fd, &i, &len);
	printf("%s info %d type %u key %u value %u max %u flags %#x name %s\n", what,
	       r ? -errno : 0, i.type, i.key_size, i.value_size, i.max_entries, i.map_flags,
	       i.name);
}

// The inner map stored at `key` of `outer`, by id as Katran reads it back.
static void inner_back(const char *what, int outer, const void *key)
{
	__u32 id = 0;
	step(what, bpf_map_lookup_elem(outer, key, &id));
	int fd = bpf_map_get_fd_by_id(id);
	info(what, fd);
	close(fd);
}

static void perf_slots(int pipe, int not_perf)
{
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_SOFTWARE;
	pa.size = sizeof(pa);
	pa.config = PERF_COUNT_SW_BPF_OUTPUT;
	pa.sample_type = PERF_SAMPLE_RAW;
	pa.wakeup_events = 1;
	int pfd = syscall(__NR_perf_event_open, &pa, -1, 0, -1, 0);
	__u32 cpu = 0, value = 0;
	step("perf_open", pfd < 0 ? pfd : 0);
	step("perf_update", bpf_map_update_elem(pipe, &cpu, &pfd, BPF_ANY));
	step("perf_update_not_perf", bpf_map_update_elem(pipe, &cpu, &not_perf, BPF_ANY));
	step("perf_update_noexist", bpf_map_update_elem(pipe, &cpu, &pfd, BPF_NOEXIST));
	step("perf_lookup", bpf_map_lookup_elem(pipe, &cpu, &value));
	step("perf_delete", bpf_map_delete_elem(pipe, &cpu));
	step("perf_delete_again", bpf_map_delete_elem(pipe, &cpu));
	step("perf_update_again", bpf_map_update_elem(pipe, &cpu, &pfd, BPF_ANY));
	close(pfd);
}

static void test_run(const char *what, int prog, __u32 repeat, int with_ctx)
{
	unsigned char pkt[54] = { 0 }, out[128];
	pkt[12] = 0x08;
	pkt[14] = 0x45;
	pkt[23] = 6;
	for (int i = 0; i < 8; i++)
		pkt[26 + i] = 10 + i;
	struct xdp_md ctx = { .data = 0, .data_end = sizeof(pkt), .ingress_ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat,
		    .ctx_in = with_ctx ? &ctx : NULL, .ctx_size_in = with_ctx ? sizeof(ctx) : 0);
	int r = bpf_prog_test_run_opts(prog, &o);
	printf("%s %d ret %u out %u:", what, r ? -errno : 0, o.retval, o.data_size_out);
	for (__u32 i = 0; i < o.data_size_out && i < 40; i++)
		printf(" %02x", out[i]);
	printf("\n");
}

static void seen(int fd)
{
	__u32 keys[5], token = 0, count = 5;
	__u64 values[5] = { 0 };
	int r = bpf_map_lookup_batch(fd, NULL, &token, keys, values, &count, NULL);
	printf("seen batch %d count %u:", r ? -errno : 0, count);
	for (__u32 i = 0; i < count; i++)
		printf(" %u=%llu", keys[i], (unsigned long long)values[i]);
	printf("\n");
}

static void table(const char *what, int fd)
{
	unsigned char key[FLOW_KEY], next[FLOW_KEY], value[REAL_POS];
	int n = 0;
	void *at = NULL;
	while (bpf_map_get_next_key(fd, at, next) == 0) {
		memcpy(key, next, sizeof(key));
		at = key;
		if (bpf_map_lookup_elem(fd, key, value) == 0)
			printf("%s flow %u.%u.%u.%u pos %u\n", what, key[0], key[1], key[2], key[3],
			       *(__u32 *)value);
		n++;
	}
	printf("%s entries %d\n", what, n);
}

static void pins(const char *dir, int prog, int map)
{
	char p[256], m[256];
	snprintf(p, sizeof(p), "%s/katran_prog", dir);
	snprintf(m, sizeof(m), "%s/katran_lru_mapping", dir);
	step("pin_prog", bpf_obj_pin(prog, p));
	step("pin_map", bpf_obj_pin(map, m));
	step("pin_again", bpf_obj_pin(map, m));
	struct bpf_prog_info a = { 0 }, b = { 0 };
	struct bpf_map_info c = { 0 }, d = { 0 };
	__u32 la = sizeof(a), lb = sizeof(b), lc = sizeof(c), ld = sizeof(d);
	int gp = bpf_obj_get(p), gm = bpf_obj_get(m);
	bpf_obj_get_info_by_fd(prog, &a, &la);
	bpf_obj_get_info_by_fd(gp, &b, &lb);
	bpf_obj_get_info_by_fd(map, &c, &lc);
	bpf_obj_get_info_by_fd(gm, &d, &ld);
	printf("pinned same prog %d map %d\n", a.id == b.id, c.id == d.id);
	printf("prog info type %u name %s maps %u\n", b.type, b.name, b.nr_map_ids);
	int by_id = bpf_prog_get_fd_by_id(a.id);
	step("prog_by_id", by_id < 0 ? by_id : 0);
	close(by_id);
	close(gp);
	close(gm);
	step("unpin_prog", unlink(p));
	step("unpin_map", unlink(m));
}

int main(int argc, char **argv)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3)
		return 2;
	memlock();
	token();

	int ncpus = libbpf_num_possible_cpus(), lru[64];
	if (ncpus > 64)
		ncpus = 64;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		char name[16];
		snprintf(name, sizeof(name), "katran_lru%d", cpu);
		lru[cpu] = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, FLOW_KEY, REAL_POS, 500 + cpu,
					  NULL);
		if (cpu == 0)
			step("lru_create", lru[cpu]);
	}

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return 1;
	struct bpf_map *mapping = bpf_object__find_map_by_name(obj, "lru_mapping");
	step("set_inner_map_fd", bpf_map__set_inner_map_fd(mapping, lru[0]));
	if (step("load", bpf_object__load(obj)))
		return 1;
	int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "katran_shapes"));
	int lru_mapping = bpf_map__fd(mapping);
	int down = bpf_object__find_map_fd_by_name(obj, "vip_to_down_reals_map");
	int pipe = bpf_object__find_map_fd_by_name(obj, "event_pipe");
	int seen_fd = bpf_object__find_map_fd_by_name(obj, "seen");
	info("lru_mapping", lru_mapping);
	info("vip_to_down_reals_map", down);
	info("event_pipe", pipe);

	for (__u32 cpu = 0; cpu < (__u32)ncpus; cpu++) {
		int r = bpf_map_update_elem(lru_mapping, &cpu, &lru[cpu], BPF_ANY);
		if (cpu == 0 || r)
			step("lru_attach", r);
	}
	int wrong = bpf_map_create(BPF_MAP_TYPE_HASH, "not_an_lru", FLOW_KEY, REAL_POS, 8, NULL);
	__u32 spare = 100;
	step("lru_attach_mismatch", bpf_map_update_elem(lru_mapping, &spare, &wrong, BPF_ANY));
	inner_back("lru_back", lru_mapping, &(__u32){ 0 });

	LIBBPF_OPTS(bpf_map_create_opts, no_prealloc, .map_flags = BPF_F_NO_PREALLOC);
	int reals = bpf_map_create(BPF_MAP_TYPE_HASH, "down_reals", 4, 1, 64, &no_prealloc);
	__u32 vip = 0, real = 1;
	__u8 one_byte = 1;
	step("down_real", bpf_map_update_elem(reals, &real, &one_byte, BPF_ANY));
	step("down_attach", bpf_map_update_elem(down, &vip, &reals, BPF_NOEXIST));
	// Katran closes its descriptor of the inner map once it is in the outer one.
	close(reals);
	step("down_attach_prealloc", bpf_map_update_elem(down, &(__u32){ 1 }, &wrong, BPF_ANY));
	inner_back("down_back", down, &vip);

	int subprograms = bpf_object__find_map_fd_by_name(obj, "subprograms");
	step("recirculation", bpf_map_update_elem(subprograms, &(__u32){ 0 }, &prog, BPF_ANY));
	perf_slots(pipe, lru[0]);
	step("perf_clear", bpf_map_delete_elem(pipe, &(__u32){ 0 }));

	test_run("run_once", prog, 1, 0);
	test_run("run_repeat", prog, 5, 0);
	test_run("run_ctx", prog, 2, 1);
	seen(seen_fd);
	table("lru0", lru[0]);

	unsigned char flows[4][FLOW_KEY], pos[4][REAL_POS], token[FLOW_KEY];
	__u32 count = 4;
	int r = bpf_map_lookup_and_delete_batch(lru[0], NULL, token, flows, pos, &count, NULL);
	printf("lru0 lookup_and_delete_batch %d count %u\n", r ? -errno : 0, count);
	table("lru0_after", lru[0]);

	pins(argv[2], prog, lru_mapping);
	bpf_object__close(obj);
	return 0;
}
