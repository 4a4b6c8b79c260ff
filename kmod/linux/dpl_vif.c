/*-
 * Vif attach and detach.
 *
 * The agent owns the vif table; we only read it (as untrusted input) and
 * write vif_os_index.  On every tick and on BSDNET_CTL_VIF_SYNC we copy
 * each entry under its sequence count and compare it with what we
 * attached: a VIRTUAL or FABRIC entry with a name gets a port, anything
 * else loses its port.  An interface that is not there yet is retried on
 * later scans; one that disappears is detached and retried the same way.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#ifdef __FreeBSD__
#include <sys/sockio.h>		/* SIOCGIFMTU; Linux has it in ioctl.h */
#endif
#include <unistd.h>

#include "dpl.h"
#include "bsdnet_port.h"
#include "bsdnet_seqlock.h"

/* Re-check the ifindex of attached ports every this many ticks. */
#define DPL_VIF_RECHECK_TICKS	10

static uint32_t dpl_vif_ticks;

int
dpl_vif_init(struct dpl *d)
{
	uint32_t i;

	d->d_nports = d->d_nvifs;
	d->d_ports = calloc(d->d_nports, sizeof(*d->d_ports));
	d->d_flush = calloc(d->d_nports, sizeof(*d->d_flush));
	d->d_nflush = 0;
	if (d->d_ports == NULL || d->d_flush == NULL) {
		dpl_log(DPL_LOG_ERR, "port table: out of memory");
		return (-1);
	}
	for (i = 0; i < d->d_nports; i++) {
		d->d_ports[i].po_fd = d->d_ports[i].po_txfd = -1;
		d->d_ports[i].po_steal_fd = -1;
	}
	return (0);
}

static void
dpl_vif_set_index(struct dpl *d, uint32_t vif, uint32_t ifindex)
{
	struct bsdnet_vif *v = dpl_region_vif(d, vif);

	if (v != NULL && bsdnet_load_rlx(&v->vif_os_index) != ifindex)
		bsdnet_store_rel(&v->vif_os_index, ifindex);
}

static void
dpl_vif_detach(struct dpl *d, uint32_t vif, const char *why)
{
	struct dpl_port *po = &d->d_ports[vif];

	if (!po->po_attached)
		return;
	dpl_log(DPL_LOG_INFO, "vif %u: detached from %s (ifindex %u): %s",
	    vif, po->po_name, po->po_ifindex, why);
	if (po->po_fd >= 0)
		dpl_loop_del_fd(d, po->po_fd);
	dpl_port_close(d, po);
	po->po_attached = false;
	po->po_failed = false;
	po->po_name[0] = '\0';
	dpl_vif_set_index(d, vif, 0);
}

/* The vif attached to ifindex, or UINT32_MAX. */
static uint32_t
dpl_vif_by_ifindex(const struct dpl *d, uint32_t ifindex)
{
	uint32_t i;

	for (i = 0; i < d->d_nports; i++)
		if (d->d_ports[i].po_attached &&
		    d->d_ports[i].po_ifindex == ifindex)
			return (i);
	return (UINT32_MAX);
}

static void
dpl_vif_attach(struct dpl *d, uint32_t vif, const struct bsdnet_vif *v)
{
	struct dpl_port *po = &d->d_ports[vif];
	unsigned int ifindex;
	uint32_t other;

	ifindex = if_nametoindex(v->vif_name);
	if (ifindex == 0) {
		if (!po->po_failed)
			dpl_log(DPL_LOG_INFO, "vif %u: interface %s not "
			    "present yet, will retry", vif, v->vif_name);
		po->po_failed = true;
		return;
	}
	/* Two vifs on one interface would see every frame twice. */
	other = dpl_vif_by_ifindex(d, ifindex);
	if (other != UINT32_MAX) {
		if (!po->po_failed)
			dpl_log(DPL_LOG_WARN, "vif %u: %s is already attached "
			    "as vif %u; ignoring this entry while it is",
			    vif, v->vif_name, other);
		po->po_failed = true;
		return;
	}
	if (dpl_port_open(d, po, v->vif_type, ifindex) != 0) {
		if (!po->po_failed)
			dpl_log(DPL_LOG_WARN, "vif %u: cannot attach %s: %s, "
			    "will retry", vif, v->vif_name, strerror(errno));
		po->po_failed = true;
		return;
	}
	if (dpl_loop_add_port(d, po->po_fd, vif) != 0) {
		dpl_log(DPL_LOG_WARN, "vif %u: epoll: %s", vif,
		    strerror(errno));
		dpl_port_close(d, po);
		po->po_failed = true;
		return;
	}
	memcpy(po->po_name, v->vif_name, sizeof(po->po_name));
	po->po_type = v->vif_type;
	po->po_mtu = dpl_port_mtu(po->po_name, v->vif_mtu);
	po->po_ifmtu = dpl_port_mtu(po->po_name, 0);
	po->po_seq = v->vif_seq;
	po->po_attached = true;
	po->po_failed = false;
	dpl_port_update(d, po, v);
	dpl_vif_set_index(d, vif, ifindex);
	dpl_log(DPL_LOG_INFO, "vif %u: attached to %s (ifindex %u, %s)", vif,
	    po->po_name, ifindex,
	    v->vif_type == BSDNET_VIF_FABRIC ? "fabric" : "virtual");
}

/*
 * Does entry v want a port?  Entries that cannot be trusted (unknown type,
 * name not terminated) are ignored and logged once per version.
 */
static bool
dpl_vif_wanted(struct dpl *d, uint32_t vif, const struct bsdnet_vif *v)
{
	struct dpl_port *po = &d->d_ports[vif];
	const char *bad = NULL;

	if (v->vif_type > BSDNET_VIF_AGENT)
		bad = "unknown vif type";
	else if (memchr(v->vif_name, '\0', sizeof(v->vif_name)) == NULL)
		bad = "name not NUL-terminated";
	if (bad != NULL) {
		if (!po->po_bad || po->po_bad_seq != v->vif_seq)
			dpl_log(DPL_LOG_WARN, "vif %u: ignoring entry (seq %u, "
			    "type %u): %s", vif, v->vif_seq, v->vif_type,
			    bad);
		po->po_bad = true;
		po->po_bad_seq = v->vif_seq;
		return (false);
	}
	po->po_bad = false;
	if (v->vif_type != BSDNET_VIF_VIRTUAL &&
	    v->vif_type != BSDNET_VIF_FABRIC)
		return (false);
	return (v->vif_name[0] != '\0');
}

static void
dpl_vif_scan_one(struct dpl *d, uint32_t vif, bool recheck)
{
	struct dpl_port *po = &d->d_ports[vif];
	struct bsdnet_vif *shared, v;
	bool want;

	shared = dpl_region_vif(d, vif);
	if (shared == NULL)
		return;
	/* Fast path for the common case: nothing here, nothing attached. */
	if (!po->po_attached && bsdnet_load_rlx(&shared->vif_type) ==
	    BSDNET_VIF_NONE && !po->po_bad) {
		if (bsdnet_load_rlx(&shared->vif_os_index) != 0)
			dpl_vif_set_index(d, vif, 0);
		po->po_failed = false;	/* a new entry gets its own log */
		return;
	}
	if (!bsdnet_seq_read(&shared->vif_seq, &v, shared, sizeof(v)))
		return;		/* being written: next scan */
	if (po->po_attached && v.vif_seq == po->po_seq && !recheck) {
		if (v.vif_os_index != po->po_ifindex)
			dpl_vif_set_index(d, vif, po->po_ifindex);
		return;
	}
	want = dpl_vif_wanted(d, vif, &v);
	if (po->po_attached) {
		if (!want)
			dpl_vif_detach(d, vif, "vif entry removed");
		else if (v.vif_type != po->po_type ||
		    strcmp(v.vif_name, po->po_name) != 0)
			dpl_vif_detach(d, vif, "vif entry changed");
		else if (if_nametoindex(po->po_name) != po->po_ifindex)
			dpl_vif_detach(d, vif, "interface disappeared");
		else {
			po->po_seq = v.vif_seq;
			po->po_mtu = dpl_port_mtu(po->po_name, v.vif_mtu);
			po->po_ifmtu = dpl_port_mtu(po->po_name, 0);
			dpl_port_update(d, po, &v);
			dpl_vif_set_index(d, vif, po->po_ifindex);
			return;
		}
	}
	if (want)
		dpl_vif_attach(d, vif, &v);
	else
		dpl_vif_set_index(d, vif, 0);
}

/* Called on every tick and on VIF_SYNC. */
void
dpl_vif_scan(struct dpl *d)
{
	uint32_t i;
	bool recheck;

	recheck = (++dpl_vif_ticks % DPL_VIF_RECHECK_TICKS) == 0;
	for (i = 0; i < d->d_nports; i++)
		dpl_vif_scan_one(d, i, recheck);
}

/* The socket of vif reported an error (interface down or gone). */
void
dpl_vif_error(struct dpl *d, uint32_t vif)
{
	struct dpl_port *po;
	socklen_t len;
	int err = 0;

	if (vif >= d->d_nports || !d->d_ports[vif].po_attached)
		return;
	po = &d->d_ports[vif];
	len = sizeof(err);
	(void)getsockopt(po->po_fd, SOL_SOCKET, SO_ERROR, &err, &len);
	/* Down but still there: the kernel resumes delivery when it comes
	 * back up, so keep the port. */
	if (if_nametoindex(po->po_name) == po->po_ifindex) {
		dpl_log(DPL_LOG_DEBUG, "vif %u: %s reports %s", vif,
		    po->po_name, strerror(err));
		return;
	}
	dpl_vif_detach(d, vif, err != 0 ? strerror(err) :
	    "interface disappeared");
}

void
dpl_vif_detach_all(struct dpl *d)
{
	uint32_t i;

	for (i = 0; i < d->d_nports; i++)
		dpl_vif_detach(d, i, "shutting down");
}

void
dpl_vif_fini(struct dpl *d)
{
	free(d->d_ports);
	d->d_ports = NULL;
	free(d->d_flush);
	d->d_flush = NULL;
	d->d_nflush = 0;
	d->d_nports = 0;
}

/*
 * The MTU frames from this port are cut to: the vif's (the agent knows
 * the network's) when set and smaller, else the interface's (a vif_mtu
 * below IPv4's 576 is ignored).  Shared by the Linux and netmap homes.
 */
uint32_t
dpl_port_mtu(const char *name, uint32_t vif_mtu)
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
		if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu >= 576)
			mtu = (uint32_t)ifr.ifr_mtu;
		(void)close(fd);
	}
	if (vif_mtu >= 576 && vif_mtu < mtu)
		mtu = vif_mtu;
	return (mtu);
}
