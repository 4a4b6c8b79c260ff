/*-
 * Interposition: how frames from VM taps and the fabric reach the core.
 *
 * We hook the link-layer pfil(9) head, "ethernet" (V_link_pfil_head,
 * PFIL_TYPE_ETHERNET), inbound only: a supported KPI (the one pf(4) uses
 * for its "ether" rules), so nothing of the ifnet is replaced.
 *  - ether_demux() runs the head inside the network epoch, so the lookup
 *    of the ifnet -> port hash is an epoch reader; attach publishes with
 *    CK_SLIST (release), detach unlinks, then NET_EPOCH_WAIT() before the
 *    port is freed and the ifnet released.  Detaching is the unlink
 *    itself: one store, after which the interface is plain again.
 *  - Unload and region destroy remove the hook and wait for the epoch
 *    once more, so no packet is inside our code when the text goes away.
 *  - The hook is global to the head: interfaces we do not own cost one
 *    hash lookup and PFIL_PASS.
 * ether_demux() skips the head for M_PROMISC frames: a VM tap is attached
 * with BSDNET_IOC_F_ROUTER_MAC, its MAC the router MAC while attached.  On
 * the fabric only GRE to the host goes to the core; the rest passes to
 * the host stack, so no vhost0 is needed (kmod/README).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/proc.h>
#include <sys/jail.h>
#include <sys/selinfo.h>
#include <sys/callout.h>
#include <sys/counter.h>
#include <sys/epoch.h>
#include <sys/eventhandler.h>
#include <sys/socket.h>
#include <sys/ck.h>

#include <vm/vm.h>

#include <net/if.h>
#include <net/if_var.h>
#include <net/if_types.h>
#include <net/ethernet.h>
#include <net/pfil.h>
#include <net/vnet.h>

#include "bsdnet_kern.h"

#define	BSDNET_KERN_ETHERTYPE_IP	0x0800
#define	BSDNET_KERN_IPPROTO_GRE	47

static inline u_int
bsdnet_kern_hash(if_t ifp)
{

	return ((u_int)if_getindex(ifp) & (BSDNET_KERN_PORT_HASH - 1));
}

/* Network epoch reader. */
static struct bsdnet_kern_port *
bsdnet_kern_port_find(struct bsdnet_kern_softc *sc, if_t ifp)
{
	struct bsdnet_kern_port *fp;

	CK_SLIST_FOREACH(fp, &sc->sc_hash[bsdnet_kern_hash(ifp)], fp_link) {
		if (fp->fp_ifp == ifp)
			return (fp);
	}
	return (NULL);
}

/* Network epoch reader: the interface a vif transmits on, or NULL. */
if_t
bsdnet_kern_vif_ifp(struct bsdnet_kern_softc *sc, uint32_t vif)
{
	struct bsdnet_kern_port **byvif, *fp;
	struct bsdnet_kern_region *r;

	NET_EPOCH_ASSERT();
	/* Both are cleared, then freed after an epoch wait, on destroy. */
	r = atomic_load_ptr(&sc->sc_region);
	byvif = atomic_load_ptr(&sc->sc_byvif);
	if (r == NULL || byvif == NULL || vif >= r->r_geom.g_nvifs)
		return (NULL);
	fp = atomic_load_ptr(&byvif[vif]);
	return (fp == NULL ? NULL : fp->fp_ifp);
}

/*
 * On the fabric only MPLS-over-GRE is ours; the host stack keeps the
 * rest.  Looks without pulling up: the mbuf is not ours to change yet.
 */
static bool
bsdnet_kern_is_overlay(struct mbuf *m)
{
	uint8_t h[ETHER_HDR_LEN + 10];

	if (m->m_pkthdr.len < (int)sizeof(h))
		return (false);
	m_copydata(m, 0, sizeof(h), (caddr_t)h);
	return (((h[12] << 8) | h[13]) == BSDNET_KERN_ETHERTYPE_IP &&
	    h[ETHER_HDR_LEN + 9] == BSDNET_KERN_IPPROTO_GRE);
}

static pfil_return_t
bsdnet_kern_pfil_in(struct mbuf **mp, struct ifnet *ifp, int flags __unused,
    void *ruleset, struct inpcb *inp __unused)
{
	struct bsdnet_kern_softc *sc = ruleset;
	struct bsdnet_kern_port *fp;
	struct mbuf *m = *mp;

	NET_EPOCH_ASSERT();
	fp = bsdnet_kern_port_find(sc, ifp);
	if (fp == NULL)
		return (PFIL_PASS);
	/* Hardware-stripped 802.1Q tag: vifs are untagged (vif_vlan 0). */
	if ((m->m_flags & M_VLANTAG) != 0)
		return (PFIL_PASS);
	if (fp->fp_type == BSDNET_VIF_FABRIC && !bsdnet_kern_is_overlay(m))
		return (PFIL_PASS);
	*mp = NULL;
	bsdnet_kern_input(sc, fp->fp_vif, m);
	return (PFIL_CONSUMED);
}

/*
 * pfil_add_hook(), pfil_link() and pfil_remove_hook() work on per-VNET
 * lists, and neither ioctl(2) nor kldunload(8) runs with a current
 * vnet: every call is made inside CURVNET_SET(sc_vnet), as pf and
 * dummymbuf do.
 */
int
bsdnet_kern_hook_link(struct bsdnet_kern_softc *sc)
{
	struct pfil_hook_args ha;
	struct pfil_link_args la;
	int error;

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	if (sc->sc_hook != NULL)
		return (0);
	memset(&ha, 0, sizeof(ha));
	ha.pa_version = PFIL_VERSION;
	ha.pa_flags = PFIL_IN;
	ha.pa_type = PFIL_TYPE_ETHERNET;
	ha.pa_mbuf_chk = bsdnet_kern_pfil_in;
	ha.pa_ruleset = sc;
	ha.pa_modname = "bsdnet";
	ha.pa_rulname = "datapath";
	memset(&la, 0, sizeof(la));
	la.pa_version = PFIL_VERSION;
	la.pa_flags = PFIL_IN | PFIL_HEADPTR | PFIL_HOOKPTR;

	/* The head of the vnet that created the region (the host's). */
	sc->sc_vnet = TD_TO_VNET(curthread);
	CURVNET_SET(sc->sc_vnet);
	sc->sc_hook = pfil_add_hook(&ha);
	if (sc->sc_hook == NULL) {
		error = EEXIST;		/* another "bsdnet" hook in this vnet */
	} else {
		la.pa_head = V_link_pfil_head;
		la.pa_hook = sc->sc_hook;
		error = pfil_link(&la);
		if (error != 0) {
			pfil_remove_hook(sc->sc_hook);
			sc->sc_hook = NULL;
		}
	}
	CURVNET_RESTORE();
	return (error);
}

void
bsdnet_kern_hook_unlink(struct bsdnet_kern_softc *sc)
{

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	if (sc->sc_hook == NULL)
		return;
	CURVNET_SET(sc->sc_vnet);
	pfil_remove_hook(sc->sc_hook);
	CURVNET_RESTORE();
	sc->sc_hook = NULL;
	/* No CPU may still be running bsdnet_kern_pfil_in() after this. */
	NET_EPOCH_WAIT();
}

static void
bsdnet_kern_set_os_index(struct bsdnet_kern_softc *sc, uint32_t vif,
    uint32_t idx)
{

	bsdnet_store_rel(&sc->sc_region->r_vifs[vif].vif_os_index, idx);
}

static uint16_t
bsdnet_kern_vif_type(struct bsdnet_kern_softc *sc, uint32_t vif)
{

	return (bsdnet_load_acq(&sc->sc_region->r_vifs[vif].vif_type));
}

static int
bsdnet_kern_set_router_mac(struct bsdnet_kern_softc *sc,
    struct bsdnet_kern_port *fp)
{
	struct bsdnet_region_hdr *rh = bsdnet_kern_region_base(sc);
	uint8_t mac[ETHER_ADDR_LEN];
	int error;

	/* Agent-written: copy once, refuse what no interface may carry. */
	memcpy(mac, rh->rh_router_mac, sizeof(mac));
	if ((mac[0] & 0x01) != 0 || (mac[0] | mac[1] | mac[2] | mac[3] |
	    mac[4] | mac[5]) == 0)
		return (EINVAL);
	memcpy(fp->fp_lladdr_old, if_getlladdr(fp->fp_ifp),
	    sizeof(fp->fp_lladdr_old));
	error = if_setlladdr(fp->fp_ifp, mac, sizeof(mac));
	if (error == 0)
		fp->fp_lladdr_set = true;
	return (error);
}

/*
 * A VM's port is its tap (IFT_ETHER).  The fabric may also be a vlan(4)
 * or lagg(4) interface: both are Ethernet to the pfil head, and frames
 * reach it untagged (vlan_input() strips the tag before if_input()).
 */
static bool
bsdnet_kern_type_ok(uint16_t vif_type, int if_type)
{

	if (if_type == IFT_ETHER)
		return (true);
	return (vif_type == BSDNET_VIF_FABRIC && (if_type == IFT_L2VLAN ||
	    if_type == IFT_IEEE8023ADLAG));
}

int
bsdnet_kern_attach(struct bsdnet_kern_softc *sc,
    const struct bsdnet_ioc_attach *ia)
{
	struct bsdnet_kern_port *fp;
	if_t ifp;
	uint16_t type;
	int error;

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	if (sc->sc_region == NULL)
		return (ENXIO);
	if (strnlen(ia->ia_ifname, sizeof(ia->ia_ifname)) ==
	    sizeof(ia->ia_ifname) || ia->ia_ifname[0] == '\0')
		return (EINVAL);
	if ((ia->ia_flags & ~BSDNET_IOC_F_ROUTER_MAC) != 0)
		return (EINVAL);
	if (ia->ia_vif >= sc->sc_region->r_geom.g_nvifs)
		return (EINVAL);
	if (sc->sc_byvif[ia->ia_vif] != NULL)
		return (EEXIST);
	type = bsdnet_kern_vif_type(sc, ia->ia_vif);
	if (type != BSDNET_VIF_VIRTUAL && type != BSDNET_VIF_FABRIC)
		return (EINVAL);

	ifp = ifunit_ref(ia->ia_ifname);
	if (ifp == NULL)
		return (ENOENT);
	if (!bsdnet_kern_type_ok(type, if_gettype(ifp))) {
		error = EPFNOSUPPORT;
		goto fail;
	}
	if (if_getvnet(ifp) != sc->sc_vnet) {
		error = EXDEV;
		goto fail;
	}
	if (bsdnet_kern_port_find(sc, ifp) != NULL) {
		error = EBUSY;
		goto fail;
	}
	fp = malloc(sizeof(*fp), M_BSDNET, M_WAITOK | M_ZERO);
	fp->fp_ifp = ifp;
	fp->fp_vif = ia->ia_vif;
	fp->fp_type = type;
	if ((ia->ia_flags & BSDNET_IOC_F_ROUTER_MAC) != 0) {
		error = bsdnet_kern_set_router_mac(sc, fp);
		if (error != 0) {
			free(fp, M_BSDNET);
			goto fail;
		}
	}
	/* Publish: the hook may see this port from the next frame on. */
	CK_SLIST_INSERT_HEAD(&sc->sc_hash[bsdnet_kern_hash(ifp)], fp, fp_link);
	atomic_store_rel_ptr((volatile uintptr_t *)&sc->sc_byvif[fp->fp_vif],
	    (uintptr_t)fp);
	sc->sc_nports++;
	bsdnet_kern_set_os_index(sc, fp->fp_vif, (uint32_t)if_getindex(ifp));
	return (0);
fail:
	if_rele(ifp);
	return (error);
}

/* Unlink, wait out the readers, undo what attach did. */
static void
bsdnet_kern_port_free(struct bsdnet_kern_softc *sc, struct bsdnet_kern_port *fp,
    bool gone)
{

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	CK_SLIST_REMOVE(&sc->sc_hash[bsdnet_kern_hash(fp->fp_ifp)], fp,
	    bsdnet_kern_port, fp_link);
	atomic_store_rel_ptr((volatile uintptr_t *)&sc->sc_byvif[fp->fp_vif],
	    (uintptr_t)NULL);
	sc->sc_nports--;
	bsdnet_kern_set_os_index(sc, fp->fp_vif, 0);
	NET_EPOCH_WAIT();
	if (fp->fp_lladdr_set && !gone)
		(void)if_setlladdr(fp->fp_ifp, fp->fp_lladdr_old,
		    sizeof(fp->fp_lladdr_old));
	if_rele(fp->fp_ifp);
	free(fp, M_BSDNET);
}

int
bsdnet_kern_detach(struct bsdnet_kern_softc *sc,
    const struct bsdnet_ioc_attach *ia)
{
	struct bsdnet_kern_port *fp;

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	if (sc->sc_region == NULL)
		return (ENXIO);
	if (ia->ia_vif >= sc->sc_region->r_geom.g_nvifs)
		return (EINVAL);
	fp = sc->sc_byvif[ia->ia_vif];
	if (fp == NULL)
		return (ENOENT);
	/* A name, when given, must be the attached one: catches stale
	 * agents detaching a vif slot that was reused. */
	if (ia->ia_ifname[0] != '\0' &&
	    strncmp(ia->ia_ifname, if_name(fp->fp_ifp),
	    sizeof(ia->ia_ifname)) != 0)
		return (ESRCH);
	bsdnet_kern_port_free(sc, fp, false);
	return (0);
}

/*
 * An attached interface is leaving (destroyed: tap closed, VM gone; or
 * moved to another vnet).  if_rename() sends the departure event too,
 * with IFF_RENAMING set, and the interface stays: so does the port, as
 * bridge, vlan, lagg and tuntap keep theirs.
 */
static void
bsdnet_kern_departure(void *arg, if_t ifp)
{
	struct bsdnet_kern_softc *sc = arg;
	struct bsdnet_kern_port *fp;

	if ((if_getflags(ifp) & IFF_RENAMING) != 0)
		return;
	sx_xlock(&sc->sc_lock);
	if (sc->sc_region != NULL && (fp = bsdnet_kern_port_find(sc, ifp)) !=
	    NULL)
		bsdnet_kern_port_free(sc, fp, true);
	sx_xunlock(&sc->sc_lock);
}

int
bsdnet_kern_port_init(struct bsdnet_kern_softc *sc)
{
	u_int i;

	for (i = 0; i < BSDNET_KERN_PORT_HASH; i++)
		CK_SLIST_INIT(&sc->sc_hash[i]);
	sc->sc_departure = EVENTHANDLER_REGISTER(ifnet_departure_event,
	    bsdnet_kern_departure, sc, EVENTHANDLER_PRI_ANY);
	return (sc->sc_departure == NULL ? ENOMEM : 0);
}

void
bsdnet_kern_port_fini(struct bsdnet_kern_softc *sc)
{

	if (sc->sc_departure != NULL)
		EVENTHANDLER_DEREGISTER(ifnet_departure_event,
		    sc->sc_departure);
	sc->sc_departure = NULL;
}
