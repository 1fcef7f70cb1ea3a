// Batch commands through libbpf: update, lookup in chunks, lookup-and-delete and delete
// on a hash and an array, printing what the kernel would let a caller observe the same
// whatever its hash order: counts, errno, and sums of the keys and values seen.
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static void drain(const char *what, int fd, int del)
{
	uint32_t keys[8], token = 0, count;
	uint64_t values[8], ksum = 0, vsum = 0;
	int n = 0, calls = 0, r;
	void *in = NULL;
	do {
		count = 8;
		r = del ? bpf_map_lookup_and_delete_batch(fd, in, &token, keys, values, &count, NULL)
			: bpf_map_lookup_batch(fd, in, &token, keys, values, &count, NULL);
		for (uint32_t i = 0; i < count; i++) {
			ksum += keys[i];
			vsum += values[i];
		}
		n += count;
		in = &token;
		calls++;
	} while (r == 0 && calls < 100);
	printf("%s elements %d keys %llu values %llu end %d\n", what, n, (unsigned long long)ksum,
	       (unsigned long long)vsum, r < 0 ? errno : 0);
}

int main(void)
{
	uint32_t keys[20];
	uint64_t values[20];
	for (int i = 0; i < 20; i++) {
		keys[i] = i * 3 + 1;
		values[i] = 1000 + i;
	}
	int h = bpf_map_create(BPF_MAP_TYPE_HASH, "batch_h", 4, 8, 64, NULL);
	int a = bpf_map_create(BPF_MAP_TYPE_ARRAY, "batch_a", 4, 8, 16, NULL);
	uint32_t count = 20;
	int r = bpf_map_update_batch(h, keys, values, &count, NULL);
	printf("hash update %d %d count %u\n", r, r ? errno : 0, count);
	drain("hash lookup", h, 0);
	count = 20;
	r = bpf_map_update_batch(a, keys, values, &count, NULL);
	printf("array update beyond the end %d %d count %u\n", r, r ? errno : 0, count);
	drain("array lookup", a, 0);
	count = 2;
	r = bpf_map_delete_batch(h, keys, &count, NULL);
	printf("hash delete %d %d count %u\n", r, r ? errno : 0, count);
	count = 2;
	r = bpf_map_delete_batch(h, keys, &count, NULL);
	printf("hash delete again %d %d count %u\n", r, r ? errno : 0, count);
	drain("hash lookup and delete", h, 1);
	drain("hash after", h, 0);
	count = 1;
	r = bpf_map_delete_batch(a, keys, &count, NULL);
	printf("array delete %d %d count %u\n", r, r ? errno : 0, count);
	return 0;
}
