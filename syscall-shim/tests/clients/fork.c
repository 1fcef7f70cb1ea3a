// Descriptors across fork: a child updates the parent's map through its copy of the
// descriptor and exits; the parent's map is still there with the child's value; a child
// that closes its copy does not take the map from the parent. Prints what it sees.
#include <bpf/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "fork_m", 4, 8, 8, NULL);
	uint32_t k = 1;
	uint64_t v = 0;
	pid_t pid = fork();
	if (pid == 0) {
		v = 42;
		return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? 1 : 0;
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child ok %d\n", WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int r = bpf_map_lookup_elem(fd, &k, &v);
	printf("lookup %d value %llu\n", r, (unsigned long long)v);
	pid = fork();
	if (pid == 0) {
		close(fd);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	v = 0;
	r = bpf_map_lookup_elem(fd, &k, &v);
	printf("after the child closed its copy %d value %llu\n", r, (unsigned long long)v);
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	printf("info %d name %s\n", bpf_obj_get_info_by_fd(fd, &info, &len), info.name);
	int again = bpf_map_get_fd_by_id(info.id);
	printf("by id %d\n", again >= 0);
	return 0;
}
