// Run statistics (BPF_ENABLE_STATS). `stats run OBJ`: test-runs OBJ's program with and
// without statistics enabled and prints the counts it sees. `stats hold`: enables
// statistics, says "ready", and keeps them on until its standard input closes.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void show(const char *when, int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bpf_obj_get_info_by_fd(fd, &info, &len);
	printf("%s run_cnt %llu timed %d\n", when, (unsigned long long)info.run_cnt,
	       info.run_time_ns > 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 2 && !strcmp(argv[1], "hold")) {
		int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		printf("%s\n", fd >= 0 ? "ready" : "failed");
		char c;
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	if (argc != 3)
		return 2;
	struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
	if (!obj || bpf_object__load(obj))
		return 1;
	int prog = bpf_program__fd(bpf_object__next_program(obj, NULL));
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = 5);
	bpf_prog_test_run_opts(prog, &opts);
	show("disabled", prog);
	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	printf("enable %d\n", stats >= 0);
	printf("enable_bad_type %d\n", bpf_enable_stats(7));
	bpf_prog_test_run_opts(prog, &opts);
	show("enabled", prog);
	close(stats);
	bpf_prog_test_run_opts(prog, &opts);
	show("disabled_again", prog);
	bpf_object__close(obj);
	return 0;
}
