/*
 * khtest: runs one scenario of the kernel harness (see kh_user.h).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kh_user.h"

#define	KH_MAXSCEN	64
static struct {
	const char	*s_name;
	kh_scen_fn	 s_fn;
} kh_scen[KH_MAXSCEN];
static int kh_nscen;
int th_failed;

void
kh_scen_register(const char *name, kh_scen_fn fn)
{
	if (kh_nscen < KH_MAXSCEN) {
		kh_scen[kh_nscen].s_name = name;
		kh_scen[kh_nscen].s_fn = fn;
		kh_nscen++;
	}
}

void
kh_sync(int sync)
{
	char c = 0;

	if (write(sync, &c, 1) != 1 || read(sync, &c, 1) != 1) {
		NOTE("the other host is gone");
		th_failed = 1;
		exit(1);
	}
}

void
kh_two_hosts(void (*fn)(int host, int wire, int sync))
{
	int wire[2], sync[2], status;
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, wire) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sync) != 0) {
		perror("socketpair");
		exit(2);
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("fork");
		exit(2);
	}
	if (child == 0) {
		close(wire[0]);
		close(sync[0]);
		fn(2, wire[1], sync[1]);
		fflush(stdout);
		_exit(th_failed ? 1 : 0);
	}
	close(wire[1]);
	close(sync[1]);
	fn(1, wire[0], sync[0]);
	close(sync[0]);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		NOTE("host 2 failed (status 0x%x)", status);
		th_failed = 1;
	}
}

int
main(int argc, char **argv)
{
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: khtest SCENARIO | selftest:CASE\n"
		    "scenarios:");
		for (i = 0; i < kh_nscen; i++)
			fprintf(stderr, " %s", kh_scen[i].s_name);
		fprintf(stderr, "\n");
		return (2);
	}
	if (strncmp(argv[1], "selftest:", 9) == 0) {
		kh_boot();
		return (kh_selftest(argv[1] + 9) == 0 ? 0 : 1);
	}
	for (i = 0; i < kh_nscen; i++)
		if (strcmp(argv[1], kh_scen[i].s_name) == 0)
			break;
	if (i == kh_nscen) {
		fprintf(stderr, "khtest: no scenario %s\n", argv[1]);
		return (2);
	}
	kh_scen[i].s_fn();
	printf("%s %s\n", th_failed ? "FAIL" : "PASS", argv[1]);
	return (th_failed ? 1 : 0);
}
