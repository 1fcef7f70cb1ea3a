// A libbpf control plane that attaches over netlink: loads OBJ, pins its program at PIN,
// gets it back by path, attaches it to IFACE in generic mode, queries, tries a second
// attach that the kernel refuses, and detaches. Prints one "step value" line per step;
// the test compares them with what the kernel does.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: attach OBJ PIN IFACE\n");
		return 2;
	}
	const char *pin = argv[2];
	int ifindex = if_nametoindex(argv[3]);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	struct bpf_program *prog = bpf_object__next_program(obj, NULL);
	int fd = bpf_program__fd(prog);
	printf("pin %d\n", bpf_obj_pin(fd, pin));
	int again = bpf_obj_get(pin);
	struct bpf_prog_info a = {}, b = {};
	__u32 len = sizeof(a);
	bpf_obj_get_info_by_fd(fd, &a, &len);
	len = sizeof(b);
	bpf_obj_get_info_by_fd(again, &b, &len);
	printf("same_by_path %d\n", again >= 0 && a.id == b.id);
	printf("attach %d\n", bpf_xdp_attach(ifindex, again, XDP_FLAGS_SKB_MODE, NULL));
	__u32 id = 0;
	printf("query %d\n", bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &id));
	printf("attached_is_ours %d\n", id == a.id);
	printf("attach_again %d\n",
	       bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL));
	printf("native_beside_generic %d\n", bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL));
	LIBBPF_OPTS(bpf_xdp_attach_opts, wrong, .old_prog_fd = -1);
	printf("replace_expecting_none %d\n",
	       bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_REPLACE, &wrong));
	printf("detach %d\n", bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL));
	id = 1;
	printf("query_after %d %u\n", bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &id), id);
	printf("bad_ifindex %d\n", bpf_xdp_attach(1 << 30, fd, XDP_FLAGS_SKB_MODE, NULL));
	printf("unpin %d\n", unlink(pin));
	close(again);
	bpf_object__close(obj);
	return 0;
}
