// A skeleton-style control plane: loads OBJ, maps its .bss and .data arrays with mmap,
// sets the verdict through the mapping, test-runs the program and reads the run count
// back through the mapping, as libbpf skeletons do. Prints what it observed.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static void *map_of(struct bpf_object *obj, const char *suffix, int prot)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t l = strlen(n), s = strlen(suffix);
		if (l >= s && !strcmp(n + l - s, suffix)) {
			void *p = mmap(NULL, 4096, prot, MAP_SHARED, bpf_map__fd(m), 0);
			printf("mmap %s %s\n", suffix, p == MAP_FAILED ? strerror(errno) : "ok");
			return p == MAP_FAILED ? NULL : p;
		}
	}
	printf("no map %s\n", suffix);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	int prog = bpf_program__fd(bpf_object__next_program(obj, NULL));
	volatile uint64_t *bss = map_of(obj, ".bss", PROT_READ | PROT_WRITE);
	volatile uint32_t *data = map_of(obj, ".data", PROT_READ | PROT_WRITE);
	if (!bss || !data)
		return 1;
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt));
	bpf_prog_test_run_opts(prog, &opts);
	printf("first verdict %u runs %llu\n", opts.retval, (unsigned long long)*bss);
	*data = XDP_DROP;
	bpf_prog_test_run_opts(prog, &opts);
	bpf_prog_test_run_opts(prog, &opts);
	printf("after the write verdict %u runs %llu\n", opts.retval, (unsigned long long)*bss);
	uint32_t zero = 0, seen = 0;
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		if (strstr(bpf_map__name(m), ".data"))
			bpf_map_lookup_elem(bpf_map__fd(m), &zero, &seen);
	}
	printf("lookup sees %u\n", seen);
	bpf_object__for_each_map(m, obj) {
		if (strstr(bpf_map__name(m), ".data")) {
			bpf_map__fd(m);
			void *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, bpf_map__fd(m), 0);
			printf("mmap beyond the values %s\n", p == MAP_FAILED ? strerror(errno) : "ok");
			p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, bpf_map__fd(m), 0);
			printf("mmap private %s\n", p == MAP_FAILED ? strerror(errno) : "ok");
		}
	}
	bpf_object__close(obj);
	return 0;
}
