/*-
 * bsdnetctl: drive /dev/bsdnet by hand (bring-up, rc.d, debugging).  The
 * agent does the same through the ioctls of bsdnet_ioctl.h.
 *
 *   bsdnetctl create [vifs nexthops labels vrfs rtbuckets flowbuckets
 *                     ovfbuckets maxhold]      (defaults of bsdnet_abi.h)
 *   bsdnetctl geometry
 *   bsdnetctl attach IFNAME VIF [router-mac]  (router-mac: VM taps)
 *   bsdnetctl detach VIF [IFNAME]
 *   bsdnetctl stats
 *   bsdnetctl destroy
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bsdnet_abi.h"
#include "bsdnet_ioctl.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bsdnetctl create [vifs nexthops labels vrfs rtbuckets "
	    "flowbuckets ovfbuckets maxhold]\n"
	    "       bsdnetctl geometry | stats | destroy\n"
	    "       bsdnetctl attach ifname vif [router-mac]\n"
	    "       bsdnetctl detach vif [ifname]\n");
	exit(EX_USAGE);
}

static uint32_t
number(const char *what, const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *s == '\0' || *end != '\0' || v > UINT32_MAX)
		errx(EX_USAGE, "%s: not a 32-bit number: %s", what, s);
	return ((uint32_t)v);
}

static void
print_geometry(const struct bsdnet_ioc_geometry *ig)
{
	printf("size %" PRIu64 " instance %#" PRIx64 "\n", ig->ig_size,
	    ig->ig_instance);
	printf("vifs %u nexthops %u labels %u vrfs %u rtbuckets %u "
	    "flowbuckets %u ovfbuckets %u maxhold %u\n", ig->ig_nvifs,
	    ig->ig_nnexthops, ig->ig_nlabels, ig->ig_nvrfs,
	    ig->ig_nrtbuckets, ig->ig_nflowbuckets, ig->ig_novfbuckets,
	    ig->ig_maxhold);
}

static int
cmd_create(int fd, int argc, char **argv)
{
	struct bsdnet_ioc_geometry ig;
	uint32_t *f[] = { &ig.ig_nvifs, &ig.ig_nnexthops, &ig.ig_nlabels,
	    &ig.ig_nvrfs, &ig.ig_nrtbuckets, &ig.ig_nflowbuckets,
	    &ig.ig_novfbuckets, &ig.ig_maxhold };
	int i;

	memset(&ig, 0, sizeof(ig));
	ig.ig_nvifs = BSDNET_DEF_VIFS;
	ig.ig_nnexthops = BSDNET_DEF_NEXTHOPS;
	ig.ig_nlabels = BSDNET_DEF_LABELS;
	ig.ig_nvrfs = BSDNET_DEF_VRFS;
	ig.ig_nrtbuckets = BSDNET_DEF_RTBUCKETS;
	ig.ig_nflowbuckets = BSDNET_DEF_FLOWBUCKETS;
	ig.ig_novfbuckets = BSDNET_DEF_OVFBUCKETS;
	ig.ig_maxhold = BSDNET_DEF_MAXHOLD;
	if (argc != 0 && argc != 8)
		usage();
	for (i = 0; i < argc; i++)
		*f[i] = number("geometry", argv[i]);
	if (ioctl(fd, BSDNET_IOC_CREATE, &ig) != 0)
		err(EX_OSERR, "BSDNET_IOC_CREATE");
	print_geometry(&ig);
	return (0);
}

static void
fill_attach(struct bsdnet_ioc_attach *ia, const char *ifname,
    const char *vif)
{
	memset(ia, 0, sizeof(*ia));
	if (ifname != NULL) {
		if (strlen(ifname) >= sizeof(ia->ia_ifname))
			errx(EX_USAGE, "interface name too long: %s", ifname);
		strlcpy(ia->ia_ifname, ifname, sizeof(ia->ia_ifname));
	}
	ia->ia_vif = number("vif", vif);
}

int
main(int argc, char **argv)
{
	struct bsdnet_ioc_geometry ig;
	struct bsdnet_ioc_attach ia;
	struct bsdnet_ioc_stats is;
	int fd;

	if (argc < 2)
		usage();
	fd = open("/dev/" BSDNET_DEVNAME, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		err(EX_UNAVAILABLE, "/dev/%s (is bsdnet.ko loaded?)",
		    BSDNET_DEVNAME);
	if (strcmp(argv[1], "create") == 0)
		return (cmd_create(fd, argc - 2, argv + 2));
	if (strcmp(argv[1], "geometry") == 0 && argc == 2) {
		if (ioctl(fd, BSDNET_IOC_GEOMETRY, &ig) != 0)
			err(EX_OSERR, "BSDNET_IOC_GEOMETRY");
		print_geometry(&ig);
	} else if (strcmp(argv[1], "destroy") == 0 && argc == 2) {
		if (ioctl(fd, BSDNET_IOC_DESTROY) != 0)
			err(EX_OSERR, "BSDNET_IOC_DESTROY");
	} else if (strcmp(argv[1], "attach") == 0 &&
	    (argc == 4 || argc == 5)) {
		fill_attach(&ia, argv[2], argv[3]);
		if (argc == 5) {
			if (strcmp(argv[4], "router-mac") != 0)
				usage();
			ia.ia_flags |= BSDNET_IOC_F_ROUTER_MAC;
		}
		if (ioctl(fd, BSDNET_IOC_ATTACH, &ia) != 0)
			err(EX_OSERR, "attach %s to vif %u", argv[2],
			    ia.ia_vif);
	} else if (strcmp(argv[1], "detach") == 0 &&
	    (argc == 3 || argc == 4)) {
		fill_attach(&ia, argc == 4 ? argv[3] : NULL, argv[2]);
		if (ioctl(fd, BSDNET_IOC_DETACH, &ia) != 0)
			err(EX_OSERR, "detach vif %u", ia.ia_vif);
	} else if (strcmp(argv[1], "stats") == 0 && argc == 2) {
		if (ioctl(fd, BSDNET_IOC_STATS, &is) != 0)
			err(EX_OSERR, "BSDNET_IOC_STATS");
		printf("rx %" PRIu64 " tx %" PRIu64 " tx_errors %" PRIu64
		    " traps %" PRIu64 " trap_drops %" PRIu64 " copies %"
		    PRIu64 " ctl %" PRIu64 " ports %u mapped %u\n",
		    is.is_rx_pkts, is.is_tx_pkts, is.is_tx_errors,
		    is.is_traps, is.is_trap_drops, is.is_copies,
		    is.is_ctl_msgs, is.is_nports, is.is_mapped);
	} else {
		usage();
	}
	(void)close(fd);
	return (0);
}
