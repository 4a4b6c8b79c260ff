/*-
 * What an interface needs before netmap takes it (bsdnet-netmap only;
 * the kernel module sees frames before the NIC's or tap's filters).
 *
 *  - A VM's tap: promiscuous.  The tap drops unicast frames not addressed
 *    to its own MAC before netmap's emulated adapter sees them, and a VM
 *    sends to the router MAC.  FreeBSD: IFF_PPROMISC (the administrative
 *    flag ifconfig sets); Linux: IFF_PROMISC.
 *  - The fabric: checksum and segmentation offloads off (txcsum, tso,
 *    lro, vlanhwtso).  The host's own traffic crosses netmap's host rings
 *    to the NIC, where nothing computes the checksums the stack left to
 *    the hardware or splits its TSO super-frames, and LRO-merged frames
 *    are too large for a ring slot: with them on, the host's TCP over the
 *    fabric dies.  FreeBSD: SIOCSIFCAP; Linux: the offloads are ethtool's
 *    (-K), which this daemon does not drive: it says so in its log.
 * Both are put back when the port closes.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "nmd.h"

#ifdef __FreeBSD__
#define	NMD_CAPS_OFF	(IFCAP_TXCSUM | IFCAP_TXCSUM_IPV6 | \
			    IFCAP_TSO4 | IFCAP_TSO6 | IFCAP_LRO | \
			    IFCAP_VLAN_HWTSO)
#endif

static int
nmd_ifreq(unsigned long req, const char *name, struct ifreq *ifr)
{
	int s, rc, saved;

	memset(ifr->ifr_name, 0, sizeof(ifr->ifr_name));
	strncpy(ifr->ifr_name, name, sizeof(ifr->ifr_name) - 1);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return (-1);
	rc = ioctl(s, req, ifr);
	saved = errno;
	(void)close(s);
	errno = saved;
	return (rc);
}

static int
nmd_promisc(const char *name, bool on, bool *was)
{
	struct ifreq ifr;
	int flags;

	memset(&ifr, 0, sizeof(ifr));
	if (nmd_ifreq(SIOCGIFFLAGS, name, &ifr) != 0)
		return (-1);
#ifdef __FreeBSD__
	flags = (ifr.ifr_flags & 0xffff) | (ifr.ifr_flagshigh << 16);
	*was = (flags & IFF_PPROMISC) != 0;
	flags = on ? flags | IFF_PPROMISC : flags & ~IFF_PPROMISC;
	ifr.ifr_flags = (short)(flags & 0xffff);
	ifr.ifr_flagshigh = (short)(flags >> 16);
#else
	flags = ifr.ifr_flags;
	*was = (flags & IFF_PROMISC) != 0;
	ifr.ifr_flags = (short)(on ? flags | IFF_PROMISC : flags & ~IFF_PROMISC);
#endif
	return (nmd_ifreq(SIOCSIFFLAGS, name, &ifr));
}

int
nmd_ifcfg_enter(const char *name, uint16_t type, struct nmd_ifsave *save)
{
#ifdef __FreeBSD__
	struct ifreq ifr;
#endif

	memset(save, 0, sizeof(*save));
	if (type != BSDNET_VIF_FABRIC) {
		if (nmd_promisc(name, true, &save->is_promisc) != 0)
			return (-1);
		save->is_set_promisc = !save->is_promisc;
		return (0);
	}
#ifdef __FreeBSD__
	memset(&ifr, 0, sizeof(ifr));
	if (nmd_ifreq(SIOCGIFCAP, name, &ifr) != 0)
		return (-1);
	save->is_caps = ifr.ifr_curcap;
	if ((ifr.ifr_curcap & NMD_CAPS_OFF) == 0)
		return (0);
	ifr.ifr_reqcap = ifr.ifr_curcap & ~NMD_CAPS_OFF;
	if (nmd_ifreq(SIOCSIFCAP, name, &ifr) != 0)
		return (-1);
	save->is_set_caps = true;
	bsdnetd_log(BSDNETD_LOG_INFO, "%s: checksum/TSO/LRO offloads off while "
	    "in netmap mode", name);
#else
	bsdnetd_log(BSDNETD_LOG_WARN, "%s: turn its offloads off (ethtool "
	    "-K %s tx off tso off gso off gro off lro off): netmap's host "
	    "rings do not complete them", name, name);
#endif
	return (0);
}

void
nmd_ifcfg_leave(const char *name, const struct nmd_ifsave *save)
{
#ifdef __FreeBSD__
	struct ifreq ifr;
#endif
	bool was;

	if (save->is_set_promisc)
		(void)nmd_promisc(name, false, &was);
#ifdef __FreeBSD__
	if (save->is_set_caps) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_reqcap = save->is_caps;
		(void)nmd_ifreq(SIOCSIFCAP, name, &ifr);
	}
#endif
}
