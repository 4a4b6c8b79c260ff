/*-
 * bsdnet-datapath: options, start-up and shutdown.
 *
 * Start-up order: region (reuse or format), trap channel, event loop,
 * pid file, then the loop attaches the vifs the table already holds.
 * Shutdown (SIGTERM/SIGINT) reverses it; the region stays, so the agent's
 * tables and the flows survive a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dpl.h"

#define DPL_DEF_HOLD_SLOTS	1024u
/* Default nice value: a little ahead of guests, far from starving them. */
#define DPL_DEF_NICE		(-5)

enum dpl_longopt {
	OPT_SHM = 256,
	OPT_VIFS,
	OPT_NEXTHOPS,
	OPT_LABELS,
	OPT_VRFS,
	OPT_RTBUCKETS,
	OPT_FLOWBUCKETS,
	OPT_OVFBUCKETS,
	OPT_MAXHOLD,
	OPT_HOLDSLOTS,
	OPT_TRAPSOCK,
	OPT_AGENTSOCK,
	OPT_PIDFILE,
	OPT_LOGLEVEL,
	OPT_REFORMAT,
	OPT_NOTXBATCH,
	OPT_NICE,
	OPT_STEAL,
	OPT_HELP,
};

static const struct option dpl_longopts[] = {
	{ "shm",		required_argument, NULL, OPT_SHM },
	{ "vifs",		required_argument, NULL, OPT_VIFS },
	{ "nexthops",		required_argument, NULL, OPT_NEXTHOPS },
	{ "labels",		required_argument, NULL, OPT_LABELS },
	{ "vrfs",		required_argument, NULL, OPT_VRFS },
	{ "rt-buckets",		required_argument, NULL, OPT_RTBUCKETS },
	{ "flow-buckets",	required_argument, NULL, OPT_FLOWBUCKETS },
	{ "overflow-buckets",	required_argument, NULL, OPT_OVFBUCKETS },
	{ "max-hold",		required_argument, NULL, OPT_MAXHOLD },
	{ "hold-slots",		required_argument, NULL, OPT_HOLDSLOTS },
	{ "trap-socket",	required_argument, NULL, OPT_TRAPSOCK },
	{ "agent-socket",	required_argument, NULL, OPT_AGENTSOCK },
	{ "pidfile",		required_argument, NULL, OPT_PIDFILE },
	{ "log-level",		required_argument, NULL, OPT_LOGLEVEL },
	{ "reformat",		no_argument,	   NULL, OPT_REFORMAT },
	{ "no-tx-batch",	no_argument,	   NULL, OPT_NOTXBATCH },
	{ "nice",		required_argument, NULL, OPT_NICE },
	{ "steal",		required_argument, NULL, OPT_STEAL },
	{ "help",		no_argument,	   NULL, OPT_HELP },
	{ NULL,			0,		   NULL, 0 },
};

static void
dpl_usage(FILE *f)
{
	(void)fprintf(f,
"NAME\n"
"     bsdnet-datapath - bsdnet userspace forwarding datapath for Linux\n"
"\n"
"SYNOPSIS\n"
"     bsdnet-datapath --shm NAME [--trap-socket PATH] [--agent-socket PATH]\n"
"                     [--pidfile PATH] [--log-level LEVEL] [--reformat]\n"
"                     [--no-tx-batch] [--nice N] [--steal MODE]\n"
"                     [--vifs N] [--nexthops N] [--labels N] [--vrfs N]\n"
"                     [--rt-buckets N] [--flow-buckets N]\n"
"                     [--overflow-buckets N] [--max-hold N] [--hold-slots N]\n"
"\n"
"DESCRIPTION\n"
"     Runs the bsdnet forwarding core over AF_PACKET (TPACKET_V3) sockets,\n"
"     with its tables in the POSIX shared-memory object /dev/shm/NAME, which\n"
"     the bsdnet agent maps and programs.  Every vif entry of type VIRTUAL\n"
"     or FABRIC that names an interface is attached: the interface is put\n"
"     in promiscuous mode and its frames go through the core.  The vif\n"
"     table is rescanned every 100 ms and on a VIF_SYNC control message,\n"
"     so vifs come and go while the datapath runs.\n"
"\n"
"     If /dev/shm/NAME exists and holds a valid region it is reused as it\n"
"     is: a datapath restarted after a crash keeps forwarding the flows\n"
"     and routes already there.  Otherwise it is created (mode 0600) with\n"
"     the geometry options below and a fresh random hash key.  An object\n"
"     that exists but is not a valid region of this ABI version is refused\n"
"     unless --reformat is given.\n"
"\n"
"OPTIONS\n"
"     --shm NAME\n"
"             Shared-memory object name, without slash (required).\n"
"     --trap-socket PATH\n"
"             Unix datagram socket to bind (mode 0600).  The agent sends\n"
"             control messages here (struct bsdnet_ctl_hdr + payload):\n"
"             RELEASE, XMIT, VIF_SYNC.\n"
"     --agent-socket PATH\n"
"             Unix datagram socket of the agent.  Trapped frames are sent\n"
"             there, one datagram each (struct bsdnet_trap_hdr + frame);\n"
"             without it every trap is counted as TRAP_FAILED.\n"
"     --pidfile PATH\n"
"             Write the process id here; removed on a clean exit.\n"
"     --log-level LEVEL\n"
"             error, warning, info (default) or debug, or 0 to 3.\n"
"     --reformat\n"
"             Replace an existing object that does not validate.  Its\n"
"             tables are lost.  A valid region is never reformatted.\n"
"     --no-tx-batch\n"
"             Transmit every frame with its own send() instead of queueing\n"
"             frames per port and sending each batch with one sendmmsg().\n"
"     --nice N\n"
"             Scheduling priority, as nice(1) counts it (-20 to 19; default\n"
"             %d): ahead of the guests whose traffic it forwards, as the\n"
"             kernel module forwards in interrupt context ahead of every\n"
"             process.  Without the privilege to raise it the daemon says so\n"
"             and runs at the priority it was started with.\n"
"     --steal MODE\n"
"             How the host stack is kept from the frames the datapath takes\n"
"             (every frame of a VM interface; MPLS over GRE to the fabric\n"
"             address): auto (default) links a BPF program at tcx ingress\n"
"             (Linux 6.6 and later) and, where that fails, puts it in a tc\n"
"             filter (clsact ingress, priority 189); tcx or tc uses only\n"
"             that way; off leaves the host stack seeing every frame.  A\n"
"             tcx link goes when the daemon exits or dies; a tc filter is\n"
"             removed on a clean exit but stays after a crash, until the\n"
"             daemon is started again.\n"
"     --hold-slots N\n"
"             Packets the datapath can queue on undecided flows\n"
"             (default %u, about 2 KiB each).\n"
"\n"
"     Geometry, used only when the region is created:\n"
"     --vifs N             vif table entries (default %d)\n"
"     --nexthops N         nexthop table entries (default %d)\n"
"     --labels N           MPLS label table entries (default %d)\n"
"     --vrfs N             VRFs (default %d)\n"
"     --rt-buckets N       route trie buckets (default %d)\n"
"     --flow-buckets N     flow buckets of 4, a power of two (default %d)\n"
"     --overflow-buckets N overflow flow buckets of 4 (default %d)\n"
"     --max-hold N         cap on undecided (HOLD) flows (default %d)\n"
"\n"
"SIGNALS\n"
"     SIGTERM, SIGINT  detach every interface, remove the pid file and the\n"
"                      trap socket, exit 0.  The region stays.\n"
"     SIGHUP           rescan the vif table now.\n"
"\n"
"EXIT STATUS\n"
"     0 after a clean stop, 1 when start-up fails, 2 on a usage error.\n",
	    DPL_DEF_NICE, DPL_DEF_HOLD_SLOTS, BSDNET_DEF_VIFS,
	    BSDNET_DEF_NEXTHOPS,
	    BSDNET_DEF_LABELS, BSDNET_DEF_VRFS, BSDNET_DEF_RTBUCKETS,
	    BSDNET_DEF_FLOWBUCKETS, BSDNET_DEF_OVFBUCKETS, BSDNET_DEF_MAXHOLD);
}

static const char *
dpl_optname(int val)
{
	const struct option *o;

	for (o = dpl_longopts; o->name != NULL; o++)
		if (o->val == val)
			return (o->name);
	return ("?");
}

static int
dpl_parse_u32(const char *name, const char *arg, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (arg[0] == '-' || arg[0] == '\0')
		goto bad;
	v = strtoull(arg, &end, 0);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return (0);
bad:
	(void)fprintf(stderr, "bsdnet-datapath: --%s: not a 32-bit unsigned "
	    "number: %s\n", name, arg);
	return (-1);
}

static int
dpl_parse_level(const char *arg, int *out)
{
	static const char *const names[] = { "error", "warning", "info",
	    "debug" };
	int i;

	for (i = 0; i < 4; i++) {
		if (strcmp(arg, names[i]) == 0 ||
		    (arg[0] == '0' + i && arg[1] == '\0')) {
			*out = i;
			return (0);
		}
	}
	if (strcmp(arg, "warn") == 0) {
		*out = DPL_LOG_WARN;
		return (0);
	}
	(void)fprintf(stderr, "bsdnet-datapath: --log-level: expected error, "
	    "warning, info or debug: %s\n", arg);
	return (-1);
}

static int
dpl_parse_steal(const char *arg, enum dpl_steal_mode *out)
{
	static const char *const names[] = {
		[DPL_STEAL_AUTO] = "auto", [DPL_STEAL_TCX] = "tcx",
		[DPL_STEAL_TC] = "tc", [DPL_STEAL_OFF] = "off",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(arg, names[i]) == 0) {
			*out = (enum dpl_steal_mode)i;
			return (0);
		}
	(void)fprintf(stderr, "bsdnet-datapath: --steal: expected auto, tcx, "
	    "tc or off: %s\n", arg);
	return (-1);
}

static int
dpl_parse_nice(const char *arg, int *out)
{
	long v;
	char *end;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < -20 || v > 19) {
		(void)fprintf(stderr, "bsdnet-datapath: --nice: expected -20 "
		    "to 19: %s\n", arg);
		return (-1);
	}
	*out = (int)v;
	return (0);
}

/* Run at o_nice; a failure (no privilege) costs speed, not service. */
static void
dpl_set_priority(const struct dpl_opts *o)
{

	errno = 0;
	if (setpriority(PRIO_PROCESS, 0, o->o_nice) != 0)
		dpl_log(DPL_LOG_WARN, "cannot set priority (nice) %d: %s; "
		    "running at %d", o->o_nice, strerror(errno),
		    getpriority(PRIO_PROCESS, 0));
}

static int
dpl_parse(int argc, char **argv, struct dpl_opts *o)
{
	uint32_t *u;
	int c;

	memset(o, 0, sizeof(*o));
	bsdnet_geometry_default(&o->o_geom);
	o->o_hold_slots = DPL_DEF_HOLD_SLOTS;
	o->o_nice = DPL_DEF_NICE;
	o->o_log_level = DPL_LOG_INFO;
	while ((c = getopt_long(argc, argv, "h", dpl_longopts, NULL)) != -1) {
		u = NULL;
		switch (c) {
		case OPT_SHM:		o->o_shm = optarg; break;
		case OPT_TRAPSOCK:	o->o_trap_socket = optarg; break;
		case OPT_AGENTSOCK:	o->o_agent_socket = optarg; break;
		case OPT_PIDFILE:	o->o_pidfile = optarg; break;
		case OPT_REFORMAT:	o->o_reformat = true; break;
		case OPT_NOTXBATCH:	o->o_no_tx_batch = true; break;
		case OPT_NICE:
			if (dpl_parse_nice(optarg, &o->o_nice) != 0)
				return (2);
			break;
		case OPT_STEAL:
			if (dpl_parse_steal(optarg, &o->o_steal) != 0)
				return (2);
			break;
		case OPT_VIFS:		u = &o->o_geom.g_nvifs; break;
		case OPT_NEXTHOPS:	u = &o->o_geom.g_nnexthops; break;
		case OPT_LABELS:	u = &o->o_geom.g_nlabels; break;
		case OPT_VRFS:		u = &o->o_geom.g_nvrfs; break;
		case OPT_RTBUCKETS:	u = &o->o_geom.g_nrtbuckets; break;
		case OPT_FLOWBUCKETS:	u = &o->o_geom.g_nflowbuckets; break;
		case OPT_OVFBUCKETS:	u = &o->o_geom.g_novfbuckets; break;
		case OPT_MAXHOLD:	u = &o->o_geom.g_maxhold; break;
		case OPT_HOLDSLOTS:	u = &o->o_hold_slots; break;
		case OPT_LOGLEVEL:
			if (dpl_parse_level(optarg, &o->o_log_level) != 0)
				return (2);
			break;
		case 'h':
		case OPT_HELP:
			dpl_usage(stdout);
			return (0);
		default:
			(void)fprintf(stderr,
			    "Try 'bsdnet-datapath --help'.\n");
			return (2);
		}
		if (u != NULL && dpl_parse_u32(dpl_optname(c), optarg, u) != 0)
			return (2);
	}
	if (optind < argc) {
		(void)fprintf(stderr, "bsdnet-datapath: unexpected argument: "
		    "%s\n", argv[optind]);
		return (2);
	}
	if (o->o_shm == NULL || o->o_shm[0] == '\0' ||
	    strchr(o->o_shm, '/') != NULL || strlen(o->o_shm) > NAME_MAX) {
		(void)fprintf(stderr, "bsdnet-datapath: --shm NAME is required "
		    "(a name without '/', e.g. bsdnet-node1)\n");
		return (2);
	}
	if (bsdnet_layout(&o->o_geom, NULL, NULL) != BSDNET_OK) {
		(void)fprintf(stderr, "bsdnet-datapath: geometry out of range "
		    "(--flow-buckets must be a power of two, --labels > %d, "
		    "--max-hold <= 4 * all flow buckets)\n",
		    (int)BSDNET_LABEL_MIN);
		return (2);
	}
	return (-1);
}

static int
dpl_pidfile_write(struct dpl *d)
{
	char buf[32];
	int fd, n;

	if (d->d_opts.o_pidfile == NULL)
		return (0);
	fd = open(d->d_opts.o_pidfile, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		dpl_log(DPL_LOG_ERR, "pid file %s: %s", d->d_opts.o_pidfile,
		    strerror(errno));
		return (-1);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		dpl_log(DPL_LOG_ERR, "pid file %s: %s", d->d_opts.o_pidfile,
		    strerror(errno));
		(void)close(fd);
		return (-1);
	}
	(void)close(fd);
	d->d_pidfile_written = true;
	return (0);
}

static void
dpl_shutdown(struct dpl *d)
{
	dpl_vif_detach_all(d);
	dpl_vif_fini(d);
	dpl_loop_fini(d);
	dpl_trap_close(d);
	dpl_log(DPL_LOG_INFO, "exiting: control messages %ju ok, %ju "
	    "malformed; rings took %ju frames, dropped %ju for lack of room, "
	    "%ju too large; %ju GSO frames cut; %ju tx errors, %ju trap send "
	    "errors", (uintmax_t)d->d_cnt.c_ctl_ok,
	    (uintmax_t)d->d_cnt.c_ctl_bad,
	    (uintmax_t)d->d_cnt.c_ring_packets,
	    (uintmax_t)d->d_cnt.c_ring_drops,
	    (uintmax_t)d->d_cnt.c_rx_truncated,
	    (uintmax_t)d->d_cnt.c_gso_frames,
	    (uintmax_t)d->d_cnt.c_tx_errors,
	    (uintmax_t)d->d_cnt.c_trap_errors);
	dpl_region_close(d);
	if (d->d_pidfile_written)
		(void)unlink(d->d_opts.o_pidfile);
	free(d->d_frame);
	d->d_frame = NULL;
	free(d->d_seg);
	d->d_seg = NULL;
	dpl_burst_fini(d);
}

int
main(int argc, char **argv)
{
	static struct dpl dpl;
	struct dpl *d = &dpl;
	int rc;

	rc = dpl_parse(argc, argv, &d->d_opts);
	if (rc >= 0)
		return (rc);
	dpl_log_level = d->d_opts.o_log_level;
	d->d_shm_fd = d->d_ctl_fd = d->d_epfd = -1;
	d->d_timerfd = d->d_sigfd = -1;
	rc = 1;
	d->d_frame = malloc(BSDNET_HEADROOM + DPL_MAX_FRAME);
	d->d_seg = malloc(BSDNET_HEADROOM + DPL_MAX_FRAME);
	if (d->d_frame == NULL || d->d_seg == NULL || dpl_burst_init(d) != 0) {
		dpl_log(DPL_LOG_ERR, "out of memory");
		goto out;
	}
	if (dpl_region_open(d) != 0 || dpl_vif_init(d) != 0 ||
	    dpl_trap_open(d) != 0 || dpl_loop_init(d) != 0 ||
	    dpl_pidfile_write(d) != 0)
		goto out;
	dpl_region_publish_pid(d);
	dpl_set_priority(&d->d_opts);
	dpl_log(DPL_LOG_INFO, "running: pid %ld, region /dev/shm/%s, trap "
	    "socket %s, agent socket %s, nice %d", (long)getpid(),
	    d->d_opts.o_shm,
	    d->d_opts.o_trap_socket ? d->d_opts.o_trap_socket : "(none)",
	    d->d_opts.o_agent_socket ? d->d_opts.o_agent_socket : "(none)",
	    getpriority(PRIO_PROCESS, 0));
	if (dpl_loop_run(d) == 0)
		rc = 0;
out:
	dpl_shutdown(d);
	return (rc);
}
