// A ring buffer consumer of a map it did not make: opens map ID (another process's, a
// data plane's) with bpf_map_get_fd_by_id, reads its events with libbpf's ring_buffer
// until COUNT have come (or 10 s have passed), and prints each event's length and kind.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_event.h"

static int seen;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	(void)size;
	seen++;
	printf("len %u kind %u\n", e->len, e->kind);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 3)
		return 2;
	int fd = bpf_map_get_fd_by_id(atoi(argv[1]));
	if (fd < 0) {
		fprintf(stderr, "map %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(fd, on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	int want = atoi(argv[2]);
	for (int tries = 0; seen < want && tries < 100; tries++)
		ring_buffer__poll(rb, 100);
	printf("events %d\n", seen);
	ring_buffer__free(rb);
	return 0;
}
