// XDP through BPF links: attach by link, refused netlink attach beside it, link info,
// pin, update to another program, the link kept by its pin after its descriptor closes,
// detach by unpin and close, and LINK_DETACH leaving a defunct link. Prints one
// "step value" line per step for comparison with the kernel.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <unistd.h>

static struct bpf_program *load(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj))
		return NULL;
	return bpf_object__next_program(obj, NULL);
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bpf_obj_get_info_by_fd(fd, &info, &len);
	return info.id;
}

static __u32 attached(int ifindex)
{
	__u32 id = 0;
	bpf_xdp_query_id(ifindex, 0, &id);
	return id;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *pin = argv[2];
	int ifindex = if_nametoindex(argv[3]);
	struct bpf_program *one = load(argv[1]), *two = load(argv[1]);
	if (!one || !two)
		return 1;
	__u32 id1 = prog_id(bpf_program__fd(one)), id2 = prog_id(bpf_program__fd(two));
	struct bpf_link *link = bpf_program__attach_xdp(one, ifindex);
	printf("attach_by_link %d\n", link ? 0 : -errno);
	printf("query_is_one %d\n", attached(ifindex) == id1);
	printf("netlink_beside_link %d\n", bpf_xdp_attach(ifindex, bpf_program__fd(two), 0, NULL));
	printf("second_link %d\n", bpf_program__attach_xdp(two, ifindex) ? 0 : -errno);
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	printf("info %d\n", bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len));
	printf("info_type %u prog_is_one %d ifindex_ok %d\n", info.type, info.prog_id == id1,
	       info.xdp.ifindex == (__u32)ifindex);
	printf("pin %d\n", bpf_link__pin(link, pin));
	printf("update %d\n", bpf_link__update_program(link, two));
	printf("query_is_two %d\n", attached(ifindex) == id2);
	LIBBPF_OPTS(bpf_link_update_opts, wrong, .flags = BPF_F_REPLACE,
		    .old_prog_fd = bpf_program__fd(one));
	printf("update_expecting_one %d\n",
	       bpf_link_update(bpf_link__fd(link), bpf_program__fd(one), &wrong) ? -errno : 0);
	int by_path = bpf_obj_get(pin);
	printf("get_by_path %d\n", by_path >= 0);
	bpf_link__destroy(link);
	printf("kept_by_pin %d\n", attached(ifindex) == id2);
	printf("unpin %d\n", unlink(pin));
	printf("kept_by_descriptor %d\n", attached(ifindex) == id2);
	close(by_path);
	printf("gone_with_last_holder %u\n", attached(ifindex));
	link = bpf_program__attach_xdp(one, ifindex);
	printf("attach_again %d\n", link ? 0 : -errno);
	if (!link)
		return 1;
	printf("detach %d\n", bpf_link__detach(link));
	printf("after_detach %u\n", attached(ifindex));
	len = sizeof(info);
	bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len);
	printf("defunct_ifindex %u prog_is_one %d\n", info.xdp.ifindex, info.prog_id == id1);
	printf("update_defunct %d\n", bpf_link__update_program(link, two));
	bpf_link__destroy(link);
	return 0;
}
