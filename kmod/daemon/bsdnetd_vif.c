/*-
 * Vif attach and detach.
 *
 * The agent owns the vif table; we only read it (as untrusted input) and
 * write vif_os_index.  On every tick and on BSDNET_CTL_VIF_SYNC each
 * entry is copied under its seqlock and compared with what is attached:
 * a VIRTUAL or FABRIC entry with a name gets a port from the home,
 * anything else loses its port.  An interface that is not there yet is
 * retried on later scans; one that disappears is detached and retried
 * the same way.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bsdnetd.h"
#include "bsdnetd_compat.h"
#include "bsdnet_port.h"
#include "bsdnet_seqlock.h"

/* Re-check the ifindex of attached ports every this many ticks. */
#define BSDNETD_VIF_RECHECK_TICKS	10
/* IPv4's minimum MTU: a smaller vif_mtu or interface MTU is ignored. */
#define BSDNETD_MTU_MIN			576

static uint32_t bsdnetd_vif_ticks;

int
bsdnetd_vif_init(struct bsdnetd *d)
{

	d->d_vifs = calloc(d->d_nvifs, sizeof(*d->d_vifs));
	if (d->d_vifs == NULL) {
		bsdnetd_log(BSDNETD_LOG_ERR, "vif table: out of memory");
		return (-1);
	}
	return (0);
}

/* The interface's MTU, or 1500 when it cannot be had. */
static uint32_t
bsdnetd_if_mtu(const char *name)
{
	struct ifreq ifr;
	uint32_t mtu = 1500;
	size_t n;
	int fd;

	n = strnlen(name, IFNAMSIZ - 1);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, n);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 &&
		    ifr.ifr_mtu >= BSDNETD_MTU_MIN)
			mtu = (uint32_t)ifr.ifr_mtu;
		(void)close(fd);
	}
	return (mtu);
}

/* The MTUs of attached vif v: the interface's, and the one frames are cut
 * to (the vif's when set and smaller: the agent knows the network's). */
static void
bsdnetd_vif_mtu(struct bsdnetd_vif *v, uint32_t vif_mtu)
{

	v->v_ifmtu = bsdnetd_if_mtu(v->v_name);
	v->v_mtu = v->v_ifmtu;
	if (vif_mtu >= BSDNETD_MTU_MIN && vif_mtu < v->v_mtu)
		v->v_mtu = vif_mtu;
}

static void
bsdnetd_vif_set_index(struct bsdnetd *d, uint32_t vif, uint32_t ifindex)
{
	struct bsdnet_vif *v = &d->d_vtab[vif];

	if (bsdnet_load_rlx(&v->vif_os_index) != ifindex)
		bsdnet_store_rel(&v->vif_os_index, ifindex);
}

static void
bsdnetd_vif_detach(struct bsdnetd *d, uint32_t vif, const char *why)
{
	struct bsdnetd_vif *v = &d->d_vifs[vif];

	if (v->v_port == NULL)
		return;
	bsdnetd_log(BSDNETD_LOG_INFO, "vif %u: detached from %s (ifindex %u): "
	    "%s", vif, v->v_name, v->v_ifindex, why);
	bsdnetd_port_close(d, v->v_port);
	v->v_port = NULL;
	v->v_ifindex = 0;
	v->v_failed = false;
	v->v_name[0] = '\0';
	bsdnetd_vif_set_index(d, vif, 0);
}

/* The vif attached to ifindex, or UINT32_MAX. */
static uint32_t
bsdnetd_vif_by_ifindex(const struct bsdnetd *d, uint32_t ifindex)
{
	uint32_t i;

	for (i = 0; i < d->d_nvifs; i++)
		if (d->d_vifs[i].v_port != NULL &&
		    d->d_vifs[i].v_ifindex == ifindex)
			return (i);
	return (UINT32_MAX);
}

static void
bsdnetd_vif_attach(struct bsdnetd *d, uint32_t vif,
    const struct bsdnet_vif *e)
{
	struct bsdnetd_vif *v = &d->d_vifs[vif];
	struct bsdnetd_port *p;
	unsigned int ifindex;
	uint32_t other;

	ifindex = if_nametoindex(e->vif_name);
	if (ifindex == 0) {
		if (!v->v_failed)
			bsdnetd_log(BSDNETD_LOG_INFO, "vif %u: interface %s "
			    "not present yet, will retry", vif, e->vif_name);
		v->v_failed = true;
		return;
	}
	/* Two vifs on one interface would see every frame twice. */
	other = bsdnetd_vif_by_ifindex(d, ifindex);
	if (other != UINT32_MAX) {
		if (!v->v_failed)
			bsdnetd_log(BSDNETD_LOG_WARN, "vif %u: %s is already "
			    "attached as vif %u; ignoring this entry while it "
			    "is", vif, e->vif_name, other);
		v->v_failed = true;
		return;
	}
	memcpy(v->v_name, e->vif_name, sizeof(v->v_name));
	v->v_type = e->vif_type;
	bsdnetd_vif_mtu(v, e->vif_mtu);
	p = bsdnetd_port_open(d, vif, e->vif_type, ifindex);
	if (p == NULL) {
		if (!v->v_failed)
			bsdnetd_log(BSDNETD_LOG_WARN, "vif %u: cannot attach "
			    "%s: %s, will retry", vif, e->vif_name,
			    strerror(errno));
		v->v_failed = true;
		v->v_name[0] = '\0';
		return;
	}
	v->v_port = p;
	v->v_ifindex = ifindex;
	v->v_seq = e->vif_seq;
	v->v_failed = false;
	bsdnetd_port_update(d, p, e);
	bsdnetd_vif_set_index(d, vif, ifindex);
	bsdnetd_log(BSDNETD_LOG_INFO, "vif %u: attached to %s (ifindex %u, "
	    "%s)", vif, v->v_name, ifindex,
	    e->vif_type == BSDNET_VIF_FABRIC ? "fabric" : "virtual");
}

/*
 * Does entry e want a port?  Entries that cannot be trusted (unknown type,
 * name not terminated) are ignored and logged once per version.
 */
static bool
bsdnetd_vif_wanted(struct bsdnetd *d, uint32_t vif,
    const struct bsdnet_vif *e)
{
	struct bsdnetd_vif *v = &d->d_vifs[vif];
	const char *bad = NULL;

	if (e->vif_type > BSDNET_VIF_AGENT)
		bad = "unknown vif type";
	else if (memchr(e->vif_name, '\0', sizeof(e->vif_name)) == NULL)
		bad = "name not NUL-terminated";
	if (bad != NULL) {
		if (!v->v_bad || v->v_bad_seq != e->vif_seq)
			bsdnetd_log(BSDNETD_LOG_WARN, "vif %u: ignoring entry "
			    "(seq %u, type %u): %s", vif, e->vif_seq,
			    e->vif_type, bad);
		v->v_bad = true;
		v->v_bad_seq = e->vif_seq;
		return (false);
	}
	v->v_bad = false;
	if (e->vif_type != BSDNET_VIF_VIRTUAL &&
	    e->vif_type != BSDNET_VIF_FABRIC)
		return (false);
	return (e->vif_name[0] != '\0');
}

static void
bsdnetd_vif_scan_one(struct bsdnetd *d, uint32_t vif, bool recheck)
{
	struct bsdnetd_vif *v = &d->d_vifs[vif];
	struct bsdnet_vif *shared = &d->d_vtab[vif], e;
	bool want;

	/* Fast path for the common case: nothing here, nothing attached. */
	if (v->v_port == NULL && bsdnet_load_rlx(&shared->vif_type) ==
	    BSDNET_VIF_NONE && !v->v_bad) {
		if (bsdnet_load_rlx(&shared->vif_os_index) != 0)
			bsdnetd_vif_set_index(d, vif, 0);
		v->v_failed = false;	/* a new entry gets its own log */
		return;
	}
	if (!bsdnet_seq_read(&shared->vif_seq, &e, shared, sizeof(e)))
		return;		/* being written: next scan */
	if (v->v_port != NULL && e.vif_seq == v->v_seq && !recheck) {
		if (e.vif_os_index != v->v_ifindex)
			bsdnetd_vif_set_index(d, vif, v->v_ifindex);
		return;
	}
	want = bsdnetd_vif_wanted(d, vif, &e);
	if (v->v_port != NULL) {
		if (!want)
			bsdnetd_vif_detach(d, vif, "vif entry removed");
		else if (e.vif_type != v->v_type ||
		    strcmp(e.vif_name, v->v_name) != 0)
			bsdnetd_vif_detach(d, vif, "vif entry changed");
		else if (if_nametoindex(v->v_name) != v->v_ifindex)
			bsdnetd_vif_detach(d, vif, "interface disappeared");
		else {
			v->v_seq = e.vif_seq;
			bsdnetd_vif_mtu(v, e.vif_mtu);
			bsdnetd_port_update(d, v->v_port, &e);
			bsdnetd_vif_set_index(d, vif, v->v_ifindex);
			return;
		}
	}
	if (want)
		bsdnetd_vif_attach(d, vif, &e);
	else
		bsdnetd_vif_set_index(d, vif, 0);
}

void
bsdnetd_vif_scan(struct bsdnetd *d)
{
	uint32_t i;
	bool recheck;

	recheck = (++bsdnetd_vif_ticks % BSDNETD_VIF_RECHECK_TICKS) == 0;
	for (i = 0; i < d->d_nvifs; i++)
		bsdnetd_vif_scan_one(d, i, recheck);
}

void
bsdnetd_vif_error(struct bsdnetd *d, uint32_t vif, int err)
{
	struct bsdnetd_vif *v;

	if (bsdnetd_vif_port(d, vif) == NULL)
		return;
	v = &d->d_vifs[vif];
	/* Down but still there: the kernel resumes delivery when it comes
	 * back up, so keep the port. */
	if (if_nametoindex(v->v_name) == v->v_ifindex) {
		bsdnetd_log(BSDNETD_LOG_DEBUG, "vif %u: %s reports %s", vif,
		    v->v_name, strerror(err));
		return;
	}
	bsdnetd_vif_detach(d, vif, err != 0 ? strerror(err) :
	    "interface disappeared");
}

void
bsdnetd_vif_detach_all(struct bsdnetd *d)
{
	uint32_t i;

	for (i = 0; i < d->d_nvifs && d->d_vifs != NULL; i++)
		bsdnetd_vif_detach(d, i, "shutting down");
}

void
bsdnetd_vif_fini(struct bsdnetd *d)
{

	free(d->d_vifs);
	d->d_vifs = NULL;
}
