/*-
 * bsdnet-datapath: its name, its part of the manual, its own options
 * (--no-tx-batch, --steal), and what it sets up beside the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"

enum lnx_longopt {
	OPT_NOTXBATCH = BSDNETD_OPT_HOME,
	OPT_STEAL,
};

const struct option bsdnetd_home_options[] = {
	{ "no-tx-batch",	no_argument,	   NULL, OPT_NOTXBATCH },
	{ "steal",		required_argument, NULL, OPT_STEAL },
	{ NULL,			0,		   NULL, 0 },
};

const struct bsdnetd_about bsdnetd_about = {
	.a_name = "bsdnet-datapath",
	.a_summary = "bsdnet userspace forwarding datapath for Linux",
	.a_synopsis = "[--no-tx-batch] [--steal MODE]",
	.a_description =
"     Runs the bsdnet forwarding core over AF_PACKET (TPACKET_V3) sockets.\n"
"     An attached interface is put in promiscuous mode and its frames go\n"
"     through the core.\n",
	.a_options =
"     --no-tx-batch\n"
"             Transmit every frame with its own send() instead of queueing\n"
"             frames per port and sending each batch with one sendmmsg().\n"
"     --steal MODE\n"
"             How the host stack is kept from the frames the datapath takes\n"
"             (every frame of a VM interface; MPLS over GRE to the fabric\n"
"             address): auto (default) links a BPF program at tcx ingress\n"
"             (Linux 6.6 and later) and, where that fails, puts it in a tc\n"
"             filter (clsact ingress, priority 189); tcx or tc uses only\n"
"             that way; off leaves the host stack seeing every frame.  A\n"
"             tcx link goes when the daemon exits or dies; a tc filter is\n"
"             removed on a clean exit but stays after a crash, until the\n"
"             daemon is started again.\n",
};

struct bsdnetd_home bsdnetd_home = {
	.h_epfd = -1,
	.h_timerfd = -1,
	.h_sigfd = -1,
};

static int
lnx_parse_steal(const char *arg, enum lnx_steal_mode *out)
{
	static const char *const names[] = {
		[LNX_STEAL_AUTO] = "auto", [LNX_STEAL_TCX] = "tcx",
		[LNX_STEAL_TC] = "tc", [LNX_STEAL_OFF] = "off",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(arg, names[i]) == 0) {
			*out = (enum lnx_steal_mode)i;
			return (0);
		}
	(void)fprintf(stderr, "%s: --steal: expected auto, tcx, tc or off: "
	    "%s\n", bsdnetd_about.a_name, arg);
	return (-1);
}

int
bsdnetd_home_option(struct bsdnetd_home *h, int opt, const char *arg)
{

	switch (opt) {
	case OPT_NOTXBATCH:
		h->h_no_tx_batch = true;
		return (0);
	case OPT_STEAL:
		return (lnx_parse_steal(arg, &h->h_steal));
	default:
		return (-1);
	}
}

int
bsdnetd_home_init(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;

	h->h_tc_owner = lnx_tc_owner(d->d_opts.o_shm);
	h->h_seg = malloc(BSDNET_HEADROOM + BSDNETD_MAX_FRAME);
	if (h->h_seg == NULL) {
		bsdnetd_log(BSDNETD_LOG_ERR, "out of memory");
		return (-1);
	}
	return (0);
}

void
bsdnetd_home_fini(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;

	bsdnetd_log(BSDNETD_LOG_INFO, "AF_PACKET: rings took %ju frames, "
	    "dropped %ju for lack of room; %ju GSO frames cut",
	    (uintmax_t)h->h_ring_packets, (uintmax_t)h->h_ring_drops,
	    (uintmax_t)h->h_gso_frames);
	free(h->h_seg);
	h->h_seg = NULL;
	free(h->h_flush);
	h->h_flush = NULL;
	h->h_nflush = 0;
}
