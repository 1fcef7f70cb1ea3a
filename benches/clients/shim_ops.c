// Control-plane operations through libbpf, timed: the same program runs against the
// kernel and under libuxdp_shim.so (benches/shim_ops.py). Prints one line per
// operation: "name ns_per_op".
#include <bpf/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ENTRIES 4096

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "shim_ops", 4, 8, ENTRIES, NULL);
	int arr = bpf_map_create(BPF_MAP_TYPE_ARRAY, "shim_ops_a", 4, 8, ENTRIES, NULL);
	if (fd < 0 || arr < 0) {
		perror("map create");
		return 1;
	}
	uint64_t v = 1;
	for (uint32_t k = 0; k < ENTRIES / 2; k++)
		bpf_map_update_elem(fd, &k, &v, BPF_ANY);
	double t = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t k = (i * 7919) % (ENTRIES / 2);
		bpf_map_lookup_elem(fd, &k, &v);
	}
	printf("hash_lookup %.1f\n", (now_ns() - t) / n);
	t = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t k = (i * 7919) % (ENTRIES / 2);
		v = i;
		bpf_map_update_elem(fd, &k, &v, BPF_EXIST);
	}
	printf("hash_update %.1f\n", (now_ns() - t) / n);
	t = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t k = (i * 7919) % ENTRIES;
		bpf_map_lookup_elem(arr, &k, &v);
	}
	printf("array_lookup %.1f\n", (now_ns() - t) / n);
	t = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t k = (i * 7919) % ENTRIES;
		v = i;
		bpf_map_update_elem(arr, &k, &v, BPF_ANY);
	}
	printf("array_update %.1f\n", (now_ns() - t) / n);
	uint32_t keys[256];
	uint64_t values[256];
	uint32_t token, count;
	long rounds = n / 256;
	t = now_ns();
	for (long r = 0; r < rounds; r++) {
		void *in = NULL;
		long got = 0;
		while (got < ENTRIES / 2) {
			count = 256;
			int e = bpf_map_lookup_batch(fd, in, &token, keys, values, &count, NULL);
			got += count;
			in = &token;
			if (e)
				break;
		}
	}
	printf("hash_dump_per_entry %.1f\n", (now_ns() - t) / (rounds * (double)(ENTRIES / 2)));
	return 0;
}
