/*
 * noiouring - run a command under a seccomp filter that refuses
 * io_uring_setup, io_uring_enter and io_uring_register, the way the
 * container runtimes' default profiles now do (moby#46762): Docker and
 * containerd answer EPERM, podman ENOSYS. Everything else is allowed.
 *
 *   noiouring [-e EPERM|ENOSYS] COMMAND [ARGS...]
 *
 * The filter is inherited by COMMAND and everything it starts, and cannot
 * be lifted (no_new_privs), so what the test sees is what a container
 * would see. Uses libseccomp (Debian's libseccomp-dev).
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int err = EPERM, i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "-e")) {
		if (!strcmp(argv[i + 1], "ENOSYS"))
			err = ENOSYS;
		else if (strcmp(argv[i + 1], "EPERM")) {
			fprintf(stderr, "noiouring: -e takes EPERM or ENOSYS\n");
			return 2;
		}
		i += 2;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: noiouring [-e EPERM|ENOSYS] COMMAND [ARGS...]\n");
		return 2;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		fprintf(stderr, "noiouring: seccomp_init failed\n");
		return 1;
	}
	static const char *const calls[] = {"io_uring_setup", "io_uring_enter",
					    "io_uring_register"};
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		int nr = seccomp_syscall_resolve_name(calls[k]);
		int r = nr == __NR_SCMP_ERROR ? -EINVAL
					      : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
		if (r < 0) {
			fprintf(stderr, "noiouring: %s: %s\n", calls[k], strerror(-r));
			return 1;
		}
	}
	int r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		fprintf(stderr, "noiouring: seccomp_load: %s\n", strerror(-r));
		return 1;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "noiouring: %s: %s\n", argv[i], strerror(errno));
	return 127;
}
