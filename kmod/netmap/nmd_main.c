/*-
 * bsdnet-netmap: its name and its part of the manual.  It has no options
 * of its own.
 */
#include <getopt.h>
#include <stddef.h>

#include "nmd.h"

const struct option bsdnetd_home_options[] = {
	{ NULL,			0,		   NULL, 0 },
};

const struct bsdnetd_about bsdnetd_about = {
	.a_name = "bsdnet-netmap",
	.a_summary = "bsdnet userspace forwarding datapath over netmap",
	.a_synopsis = "",
	.a_description =
"     Runs the bsdnet forwarding core over netmap(4) ports.  The fabric is\n"
"     opened in native mode with its host rings: the host stack keeps its\n"
"     own traffic, everything but MPLS over GRE.  A VM's tap goes through\n"
"     netmap's emulated adapter and is made promiscuous while attached.\n"
"     On FreeBSD the fabric's checksum and segmentation offloads are\n"
"     turned off while it is attached; on Linux the daemon says which to\n"
"     turn off (ethtool -K).\n",
	.a_options = "",
};

struct bsdnetd_home bsdnetd_home;

int
bsdnetd_home_option(struct bsdnetd_home *h, int opt, const char *arg)
{

	(void)h, (void)opt, (void)arg;
	return (-1);
}

int
bsdnetd_home_init(struct bsdnetd *d)
{

	(void)d;
	return (0);
}

void
bsdnetd_home_fini(struct bsdnetd *d)
{

	(void)d;
}
