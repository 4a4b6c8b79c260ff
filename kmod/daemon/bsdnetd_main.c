/*-
 * main(): the options every home takes (and the home's own), the manual,
 * start-up and shutdown.
 *
 * Start-up order: the home, the region (reuse or format), the vif slots,
 * the trap channel, the event loop, the pid file; then the loop attaches
 * the vifs the table already holds.  Shutdown (SIGTERM/SIGINT) reverses
 * it; the region stays, so the agent's tables and the flows survive a
 * restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bsdnetd.h"
#include "bsdnetd_compat.h"

#define BSDNETD_DEF_HOLD_SLOTS	1024u
/* Default nice value: a little ahead of guests, far from starving them. */
#define BSDNETD_DEF_NICE	(-5)
/* Room for a home's own options in the getopt_long() table. */
#define BSDNETD_HOME_OPTS_MAX	8

enum bsdnetd_longopt {
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
	OPT_NICE,
	OPT_HELP,
};

static const struct option bsdnetd_longopts[] = {
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
	{ "nice",		required_argument, NULL, OPT_NICE },
	{ "help",		no_argument,	   NULL, OPT_HELP },
};
#define BSDNETD_NLONGOPTS	(sizeof(bsdnetd_longopts) / \
				    sizeof(bsdnetd_longopts[0]))

static void
bsdnetd_usage(FILE *f)
{
	const struct bsdnetd_about *a = &bsdnetd_about;
	int w = (int)strlen(a->a_name);

	(void)fprintf(f,
"NAME\n"
"     %s - %s\n"
"\n"
"SYNOPSIS\n"
"     %s --shm NAME [--trap-socket PATH] [--agent-socket PATH]\n"
"     %*s [--pidfile PATH] [--log-level LEVEL] [--reformat]\n"
"     %*s [--nice N]%s%s\n",
	    a->a_name, a->a_summary, a->a_name, w, "", w, "",
	    a->a_synopsis[0] != '\0' ? " " : "", a->a_synopsis);
	(void)fprintf(f,
"     %*s [--vifs N] [--nexthops N] [--labels N] [--vrfs N]\n"
"     %*s [--rt-buckets N] [--flow-buckets N] [--overflow-buckets N]\n"
"     %*s [--max-hold N] [--hold-slots N]\n"
"\n"
"DESCRIPTION\n"
"%s"
"\n"
"     The tables live in the POSIX shared-memory object NAME (%sNAME),\n"
"     which the bsdnet agent maps and programs.  Every vif entry of type\n"
"     VIRTUAL or FABRIC that names an interface is attached.  The vif table\n"
"     is rescanned every 100 ms and on a VIF_SYNC control message, so vifs\n"
"     come and go while the datapath runs.\n"
"\n"
"     If NAME exists and holds a valid region it is reused as it is: a\n"
"     datapath restarted after a crash keeps forwarding the flows and\n"
"     routes already there.  Otherwise it is created (mode 0600) with the\n"
"     geometry options below and a fresh random hash key.  An object that\n"
"     exists but is not a valid region of this ABI version is refused\n"
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
"     --nice N\n"
"             Scheduling priority, as nice(1) counts it (-20 to 19; default\n"
"             %d): ahead of the guests whose traffic it forwards, as the\n"
"             kernel module forwards in interrupt context ahead of every\n"
"             process.  Without the privilege to raise it the daemon says so\n"
"             and runs at the priority it was started with.\n"
"     --hold-slots N\n"
"             Packets the datapath can queue on undecided flows\n"
"             (default %u, about 2 KiB each).\n"
"%s"
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
	    w, "", w, "", w, "", a->a_description, BSDNETD_SHM_SHOWN,
	    BSDNETD_DEF_NICE, BSDNETD_DEF_HOLD_SLOTS, a->a_options,
	    BSDNET_DEF_VIFS, BSDNET_DEF_NEXTHOPS, BSDNET_DEF_LABELS,
	    BSDNET_DEF_VRFS, BSDNET_DEF_RTBUCKETS, BSDNET_DEF_FLOWBUCKETS,
	    BSDNET_DEF_OVFBUCKETS, BSDNET_DEF_MAXHOLD);
}

static const char *
bsdnetd_optname(int val)
{
	size_t i;

	for (i = 0; i < BSDNETD_NLONGOPTS; i++)
		if (bsdnetd_longopts[i].val == val)
			return (bsdnetd_longopts[i].name);
	return ("?");
}

static int
bsdnetd_parse_u32(const char *name, const char *arg, uint32_t *out)
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
	(void)fprintf(stderr, "%s: --%s: not a 32-bit unsigned number: %s\n",
	    bsdnetd_about.a_name, name, arg);
	return (-1);
}

static int
bsdnetd_parse_level(const char *arg, int *out)
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
		*out = BSDNETD_LOG_WARN;
		return (0);
	}
	(void)fprintf(stderr, "%s: --log-level: expected error, warning, info "
	    "or debug: %s\n", bsdnetd_about.a_name, arg);
	return (-1);
}

static int
bsdnetd_parse_nice(const char *arg, int *out)
{
	long v;
	char *end;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < -20 || v > 19) {
		(void)fprintf(stderr, "%s: --nice: expected -20 to 19: %s\n",
		    bsdnetd_about.a_name, arg);
		return (-1);
	}
	*out = (int)v;
	return (0);
}

/* Run at o_nice; a failure (no privilege) costs speed, not service. */
static void
bsdnetd_set_priority(const struct bsdnetd_opts *o)
{

	errno = 0;
	if (setpriority(PRIO_PROCESS, 0, o->o_nice) != 0)
		bsdnetd_log(BSDNETD_LOG_WARN, "cannot set priority (nice) %d: "
		    "%s; running at %d", o->o_nice, strerror(errno),
		    getpriority(PRIO_PROCESS, 0));
}

/* The common options and the home's, in one getopt_long() table. */
static int
bsdnetd_options(struct option *all, size_t room)
{
	size_t n = 0, i;

	for (i = 0; i < BSDNETD_NLONGOPTS; i++)
		all[n++] = bsdnetd_longopts[i];
	for (i = 0; bsdnetd_home_options[i].name != NULL; i++) {
		if (n + 1 >= room)
			return (-1);
		all[n++] = bsdnetd_home_options[i];
	}
	memset(&all[n], 0, sizeof(all[n]));
	return (0);
}

/* The value an option sets, or NULL. */
static uint32_t *
bsdnetd_u32_opt(struct bsdnetd_opts *o, int c)
{

	switch (c) {
	case OPT_VIFS:		return (&o->o_geom.g_nvifs);
	case OPT_NEXTHOPS:	return (&o->o_geom.g_nnexthops);
	case OPT_LABELS:	return (&o->o_geom.g_nlabels);
	case OPT_VRFS:		return (&o->o_geom.g_nvrfs);
	case OPT_RTBUCKETS:	return (&o->o_geom.g_nrtbuckets);
	case OPT_FLOWBUCKETS:	return (&o->o_geom.g_nflowbuckets);
	case OPT_OVFBUCKETS:	return (&o->o_geom.g_novfbuckets);
	case OPT_MAXHOLD:	return (&o->o_geom.g_maxhold);
	case OPT_HOLDSLOTS:	return (&o->o_hold_slots);
	default:		return (NULL);
	}
}

/* One option: 0, or the exit status (2) of a usage error. */
static int
bsdnetd_option(struct bsdnetd *d, int c)
{
	struct bsdnetd_opts *o = &d->d_opts;
	uint32_t *u;

	if ((u = bsdnetd_u32_opt(o, c)) != NULL)
		return (bsdnetd_parse_u32(bsdnetd_optname(c), optarg, u) != 0 ?
		    2 : 0);
	switch (c) {
	case OPT_SHM:		o->o_shm = optarg; break;
	case OPT_TRAPSOCK:	o->o_trap_socket = optarg; break;
	case OPT_AGENTSOCK:	o->o_agent_socket = optarg; break;
	case OPT_PIDFILE:	o->o_pidfile = optarg; break;
	case OPT_REFORMAT:	o->o_reformat = true; break;
	case OPT_NICE:
		return (bsdnetd_parse_nice(optarg, &o->o_nice) != 0 ? 2 : 0);
	case OPT_LOGLEVEL:
		return (bsdnetd_parse_level(optarg, &o->o_log_level) != 0 ?
		    2 : 0);
	default:
		if (c < BSDNETD_OPT_HOME)
			return (2);
		return (bsdnetd_home_option(d->d_home, c, optarg) != 0 ? 2 : 0);
	}
	return (0);
}

/* -1 to go on, else the exit status (0 after --help). */
static int
bsdnetd_parse(struct bsdnetd *d, int argc, char **argv)
{
	struct option all[BSDNETD_NLONGOPTS + BSDNETD_HOME_OPTS_MAX + 1];
	struct bsdnetd_opts *o = &d->d_opts;
	const char *name = bsdnetd_about.a_name;
	int c, rc;

	memset(o, 0, sizeof(*o));
	bsdnet_geometry_default(&o->o_geom);
	o->o_hold_slots = BSDNETD_DEF_HOLD_SLOTS;
	o->o_nice = BSDNETD_DEF_NICE;
	o->o_log_level = BSDNETD_LOG_INFO;
	if (bsdnetd_options(all, sizeof(all) / sizeof(all[0])) != 0) {
		(void)fprintf(stderr, "%s: too many options\n", name);
		return (1);
	}
	while ((c = getopt_long(argc, argv, "h", all, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			bsdnetd_usage(stdout);
			return (0);
		}
		if ((rc = bsdnetd_option(d, c)) != 0) {
			if (c == '?' || c < OPT_SHM)
				(void)fprintf(stderr, "Try '%s --help'.\n",
				    name);
			return (rc);
		}
	}
	if (optind < argc) {
		(void)fprintf(stderr, "%s: unexpected argument: %s\n", name,
		    argv[optind]);
		return (2);
	}
	if (o->o_shm == NULL || o->o_shm[0] == '\0' ||
	    strchr(o->o_shm, '/') != NULL || strlen(o->o_shm) > NAME_MAX) {
		(void)fprintf(stderr, "%s: --shm NAME is required (a name "
		    "without '/', e.g. bsdnet-node1)\n", name);
		return (2);
	}
	if (bsdnet_layout(&o->o_geom, NULL, NULL) != BSDNET_OK) {
		(void)fprintf(stderr, "%s: geometry out of range "
		    "(--flow-buckets must be a power of two, --labels > %d, "
		    "--max-hold <= 4 * all flow buckets)\n", name,
		    (int)BSDNET_LABEL_MIN);
		return (2);
	}
	return (-1);
}

static int
bsdnetd_pidfile_write(struct bsdnetd *d)
{
	char buf[32];
	int fd, n;

	if (d->d_opts.o_pidfile == NULL)
		return (0);
	fd = open(d->d_opts.o_pidfile, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "pid file %s: %s",
		    d->d_opts.o_pidfile, strerror(errno));
		return (-1);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		bsdnetd_log(BSDNETD_LOG_ERR, "pid file %s: %s",
		    d->d_opts.o_pidfile, strerror(errno));
		(void)close(fd);
		return (-1);
	}
	(void)close(fd);
	d->d_pidfile_written = true;
	return (0);
}

void
bsdnetd_tick(struct bsdnetd *d)
{

	bsdnet_dp_tick(&d->d_dp);
	bsdnetd_trap_tick(d);
	bsdnetd_vif_scan(d);
}

void
bsdnetd_signal(struct bsdnetd *d, int sig)
{

	if (sig == SIGHUP) {
		bsdnetd_log(BSDNETD_LOG_INFO, "SIGHUP: rescanning vifs");
		bsdnetd_vif_scan(d);
		return;
	}
	bsdnetd_log(BSDNETD_LOG_INFO, "%s: stopping",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	d->d_stop = true;
}

static void
bsdnetd_shutdown(struct bsdnetd *d)
{

	bsdnetd_vif_detach_all(d);
	bsdnetd_vif_fini(d);
	bsdnetd_loop_fini(d);
	bsdnetd_trap_close(d);
	bsdnetd_log(BSDNETD_LOG_INFO, "exiting: control messages %ju ok, %ju "
	    "malformed; %ju frames too large; %ju tx errors, %ju trap send "
	    "errors", (uintmax_t)d->d_cnt.c_ctl_ok,
	    (uintmax_t)d->d_cnt.c_ctl_bad,
	    (uintmax_t)d->d_cnt.c_rx_truncated,
	    (uintmax_t)d->d_cnt.c_tx_errors,
	    (uintmax_t)d->d_cnt.c_trap_errors);
	bsdnetd_home_fini(d);
	bsdnetd_region_close(d);
	if (d->d_pidfile_written)
		(void)unlink(d->d_opts.o_pidfile);
	free(d->d_frame);
	d->d_frame = NULL;
	bsdnetd_burst_fini(d);
}

int
main(int argc, char **argv)
{
	static struct bsdnetd daemon;
	struct bsdnetd *d = &daemon;
	int rc;

	d->d_home = &bsdnetd_home;
	rc = bsdnetd_parse(d, argc, argv);
	if (rc >= 0)
		return (rc);
	bsdnetd_log_level = d->d_opts.o_log_level;
	d->d_shm_fd = d->d_ctl_fd = -1;
	rc = 1;
	d->d_frame = malloc(BSDNET_HEADROOM + BSDNETD_MAX_FRAME);
	if (d->d_frame == NULL || bsdnetd_burst_init(d) != 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "out of memory");
		goto out;
	}
	if (bsdnetd_home_init(d) != 0 || bsdnetd_region_open(d) != 0 ||
	    bsdnetd_vif_init(d) != 0 || bsdnetd_trap_open(d) != 0 ||
	    bsdnetd_loop_init(d) != 0 || bsdnetd_pidfile_write(d) != 0)
		goto out;
	bsdnetd_region_publish_pid(d);
	bsdnetd_set_priority(&d->d_opts);
	bsdnetd_log(BSDNETD_LOG_INFO, "running: pid %ld, region %s, trap "
	    "socket %s, agent socket %s, nice %d", (long)getpid(), d->d_shown,
	    d->d_opts.o_trap_socket ? d->d_opts.o_trap_socket : "(none)",
	    d->d_opts.o_agent_socket ? d->d_opts.o_agent_socket : "(none)",
	    getpriority(PRIO_PROCESS, 0));
	if (bsdnetd_loop_run(d) == 0)
		rc = 0;
out:
	bsdnetd_shutdown(d);
	return (rc);
}
