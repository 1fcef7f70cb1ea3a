// The event tests/programs/ring_events.c sends through its ring buffer.
#include <stdint.h>

struct event {
	uint32_t len;
	uint32_t kind; // 1: bpf_ringbuf_output; 2: reserved and submitted
	uint8_t head[8];
};
