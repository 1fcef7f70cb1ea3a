// A ring buffer consumer as libbpf programs write one: loads OBJ, opens a ring_buffer
// on its `events` map (libbpf maps the consumer and producer pages and waits with epoll),
// test-runs the program on packets of several lengths, polls until every event has come,
// and prints each event; then the kernel's refusals of mappings it does not allow.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring_event.h"

static int seen;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	seen++;
	printf("event size %zu len %u kind %u head %02x%02x\n", size, e->len, e->kind,
	       e->head[0], e->head[7]);
	return 0;
}

static void try_map(int fd, size_t len, int prot, off_t off, const char *what)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);
	printf("mmap %s: %s\n", what, p == MAP_FAILED ? strerror(errno) : "ok");
	if (p != MAP_FAILED)
		munmap(p, len);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 2)
		return 2;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	int prog = bpf_program__fd(bpf_object__next_program(obj, NULL));
	int map = bpf_object__find_map_fd_by_name(obj, "events");
	struct ring_buffer *rb = ring_buffer__new(map, on_event, NULL, NULL);
	printf("ring_buffer__new %s\n", rb ? "ok" : strerror(errno));
	if (!rb)
		return 1;
	printf("nothing yet: poll %d\n", ring_buffer__poll(rb, 20));
	int want = 0;
	for (int len = 60; len < 70; len++) {
		uint8_t pkt[128];
		for (int i = 0; i < len; i++)
			pkt[i] = (uint8_t)(len + i);
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .repeat = 1);
		int r = bpf_prog_test_run_opts(prog, &o);
		printf("run len %d: %d retval %u\n", len, r, o.retval);
		want += (len & 1) ? 2 : 1;
	}
	for (int tries = 0; seen < want && tries < 100; tries++)
		ring_buffer__poll(rb, 100);
	printf("events %d of %d\n", seen, want);
	printf("then: poll %d\n", ring_buffer__poll(rb, 20));

	long page = sysconf(_SC_PAGESIZE);
	try_map(map, page, PROT_READ | PROT_WRITE, 0, "consumer page, writable");
	try_map(map, page, PROT_READ | PROT_WRITE, page, "producer page, writable");
	try_map(map, 2 * page, PROT_READ | PROT_WRITE, 0, "two pages writable");
	try_map(map, page + 2 * 4096, PROT_READ, page, "producer and data twice");
	try_map(map, page + 4 * 4096, PROT_READ, page, "beyond the data");
	void *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE, map, 0);
	printf("mmap private: %s\n", p == MAP_FAILED ? strerror(errno) : "ok");
	ring_buffer__free(rb);
	return 0;
}
