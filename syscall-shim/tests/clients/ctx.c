// Test runs with a context (struct xdp_md): metadata in front of the packet, an ingress
// device and queue, the context written back, and the kernel's refusals. Prints one
// "case result errno retval out-bytes ctx-out" line per case.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int prog;

static void run(const char *name, struct xdp_md *in, __u32 in_size, __u32 out_size)
{
	unsigned char pkt[64], out[128];
	struct xdp_md ctx_out;
	memset(pkt, 0, sizeof(pkt));
	for (int i = 0; i < 8; i++)
		pkt[i] = i + 1;
	memset(out, 0, sizeof(out));
	memset(&ctx_out, 0xff, sizeof(ctx_out));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = in,
		    .ctx_size_in = in_size, .ctx_out = out_size ? &ctx_out : NULL,
		    .ctx_size_out = out_size);
	int r = bpf_prog_test_run_opts(prog, &o);
	printf("%s %d %d ret %u out %u:", name, r, r ? errno : 0, o.retval, o.data_size_out);
	for (int i = 0; i < 16; i++)
		printf(" %02x", out[i]);
	printf(" ctx %u %u %u %u %u %u size %u\n", ctx_out.data, ctx_out.data_end,
	       ctx_out.data_meta, ctx_out.ingress_ifindex, ctx_out.rx_queue_index,
	       ctx_out.egress_ifindex, o.ctx_size_out);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj))
		return 1;
	prog = bpf_program__fd(bpf_object__next_program(obj, NULL));
	run("no_context", NULL, 0, 0);
	struct xdp_md md = { .data = 8, .data_end = 64 };
	run("metadata_8", &md, sizeof(md), sizeof(md));
	md.ingress_ifindex = 1;
	run("ingress_lo", &md, sizeof(md), sizeof(md));
	md.data = 0;
	run("no_metadata_lo", &md, sizeof(md), sizeof(md));
	run("context_out_small", &md, sizeof(md), 8);
	run("context_out_only", NULL, 0, sizeof(md));
	struct xdp_md bad = md;
	bad.data_meta = 4;
	run("data_meta_set", &bad, sizeof(bad), 0);
	bad = md;
	bad.data_end = 60;
	run("data_end_short", &bad, sizeof(bad), 0);
	bad = md;
	bad.data = 6;
	run("metadata_unaligned", &bad, sizeof(bad), 0);
	bad = md;
	bad.data = 40;
	run("metadata_too_long", &bad, sizeof(bad), 0);
	bad = md;
	bad.egress_ifindex = 1;
	run("egress_set", &bad, sizeof(bad), 0);
	bad = md;
	bad.ingress_ifindex = 999999;
	run("no_such_device", &bad, sizeof(bad), 0);
	bad = md;
	bad.rx_queue_index = 5;
	run("no_such_queue", &bad, sizeof(bad), 0);
	bad = md;
	bad.ingress_ifindex = 0;
	bad.rx_queue_index = 1;
	run("queue_without_device", &bad, sizeof(bad), 0);
	struct {
		struct xdp_md md;
		__u32 extra;
	} longer = { md, 7 };
	run("context_tail_not_zero", &longer.md, sizeof(longer), 0);
	longer.extra = 0;
	run("context_tail_zero", &longer.md, sizeof(longer), 0);
	run("context_short", &md, 8, 0);
	bpf_object__close(obj);
	return 0;
}
