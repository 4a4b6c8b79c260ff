/*
 * Network interfaces: vnets, the ifnet list, the if_t accessors the
 * module uses, if_ref/if_rele, renames and departures, ether_input()
 * with its pfil(9) ethernet head, and the drivers: tap, a NIC (vtnet;
 * also vlan and lagg, by interface type), epair ends and bridge.
 *
 * Rules, as in if.c and if_ethersubr.c: ifunit_ref() and the ifnet list
 * need a current vnet; if_input() runs in the network epoch with the
 * interface's vnet set (drivers without IFF_NEEDSEPOCH enter it, as the
 * wire and worker threads here do); if_transmit() is called in the
 * network epoch with a live chain nobody else holds, and the driver owns
 * it from then on; if_setlladdr() may sleep.  if_detach() runs the
 * departure event with ifnet_detach_sxlock held and the vnet set, then
 * the interface transmits into the void (if_dead) and its memory goes
 * when the last reference does.  A rename runs the departure event with
 * IFF_RENAMING set, then the arrival event, as if_rename() does.
 *
 * kh_ether_demux() skips the ethernet head for M_PROMISC frames (unicast
 * not to the interface's MAC); a bridge member hands frames for other
 * MACs to the bridge, which floods copies sharing the clusters
 * (m_copypacket: read-only) to the other members and delivers what is
 * for its own MAC, or broadcast, on the bridge interface.
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
#include <sys/ucred.h>
#include <sys/jail.h>
#include <sys/epoch.h>
#include <sys/eventhandler.h>
#include <sys/socket.h>
#include <sys/ck.h>
#include <net/if.h>
#include <net/if_var.h>
#include <net/if_private.h>
#include <net/if_types.h>
#include <net/ethernet.h>
#include <net/pfil.h>
#include <net/vnet.h>

#include "kh_kern.h"

enum kh_ifkind { KH_TAP, KH_NIC, KH_EPAIR, KH_BRIDGE };

#define	KH_NIF		32
#define	KH_MAXMEMBERS	8

struct kh_ifnet {
	struct ifnet	 ki_if;			/* first */
	enum kh_ifkind	 ki_kind;
	uint8_t		 ki_mac[ETHER_ADDR_LEN];
	struct kh_hmtx	*ki_mtx;		/* ki_txq */
	struct mbufq	 ki_txq;		/* for kh_if_tx_take() */
	char		 ki_owner[48];		/* "if_transmit(tap0)" */
	int		 ki_wirefd;		/* -1: not on a wire */
	struct kh_ifnet	*ki_peer;		/* local epair end */
	struct kh_ifnet	*ki_bridge;		/* the bridge we are in */
	struct kh_ifnet	*ki_members[KH_MAXMEMBERS];
	unsigned long	 ki_stack_rx;
	bool		 ki_gone;		/* detached */
	bool		 ki_freed;
};

VNET_DEFINE(struct ifnethead, ifnet);

struct vnet *vnet0;
struct vnet *kh_vnet_other;
struct sx ifnet_detach_sxlock;
static struct kh_ifnet *kh_ifs[KH_NIF];
static int kh_ifindex = 1;

/* ---- vnets ---- */
static struct vnet *
kh_vnet_alloc(void)
{
	struct vnet *v = kh_h_calloc(sizeof(*v));
	size_t n = VNET_STOP - VNET_START;

	v->vnet_magic_n = VNET_MAGIC_N;
	v->vnet_data_mem = kh_h_calloc(n);
	memcpy(v->vnet_data_mem, (void *)VNET_START, n);
	v->vnet_data_base = (uintptr_t)v->vnet_data_mem - VNET_START;
	CURVNET_SET(v);
	CK_STAILQ_INIT(&V_ifnet);
	kh_pfil_vnet_init();
	CURVNET_RESTORE();
	return (v);
}

void
kh_net_init(void)
{
	kh_internal_sx_init(&ifnet_detach_sxlock, "ifnet_detach_sx");
	vnet0 = kh_vnet_alloc();
	kh_vnet_other = kh_vnet_alloc();
	prison0.pr_vnet = vnet0;
}

/* ---- accessors ---- */
static struct kh_ifnet *
KI(if_t ifp)
{
	struct kh_ifnet *ki = (struct kh_ifnet *)ifp;

	if (ki == NULL || ki->ki_freed)
		kh_panic("ifnet %p used after its last if_rele()", ifp);
	return (ki);
}

int
if_getindex(const if_t ifp)
{
	return (KI(ifp)->ki_if.if_index);
}

const char *
if_name(if_t ifp)
{
	return (KI(ifp)->ki_if.if_xname);
}

int
if_gettype(const if_t ifp)
{
	return (KI(ifp)->ki_if.if_type);
}

int
if_getmtu(const if_t ifp)
{
	return ((int)KI(ifp)->ki_if.if_mtu);
}

int
if_getflags(const if_t ifp)
{
	return (KI(ifp)->ki_if.if_flags);
}

char *
if_getlladdr(const if_t ifp)
{
	return ((char *)KI(ifp)->ki_mac);
}

struct vnet *
if_getvnet(const if_t ifp)
{
	return (KI(ifp)->ki_if.if_vnet);
}

void
if_ref(if_t ifp)
{
	struct kh_ifnet *ki = KI(ifp);

	if (__atomic_fetch_add(&ki->ki_if.if_refcount, 1,
	    __ATOMIC_SEQ_CST) == 0)
		kh_panic("if_ref(%s): the interface has no references left",
		    ki->ki_if.if_xname);
}

static void
kh_if_free(epoch_context_t ctx)
{
	struct kh_ifnet *ki = __containerof(ctx, struct kh_ifnet,
	    ki_if.if_epoch_ctx);

	ki->ki_freed = true;
}

void
if_rele(if_t ifp)
{
	struct kh_ifnet *ki = KI(ifp);
	u_int old;

	old = __atomic_fetch_sub(&ki->ki_if.if_refcount, 1, __ATOMIC_SEQ_CST);
	if (old == 0)
		kh_panic("if_rele(%s): reference count underflow",
		    ki->ki_if.if_xname);
	if (old == 1) {
		if (!ki->ki_gone)
			kh_panic("if_rele(%s): last reference dropped while "
			    "attached", ki->ki_if.if_xname);
		NET_EPOCH_CALL(kh_if_free, &ki->ki_if.if_epoch_ctx);
	}
}

if_t
ifunit_ref(const char *name)
{
	struct epoch_tracker et;
	struct ifnet *ifp;

	if (curvnet == NULL)
		kh_panic("ifunit_ref: curvnet is NULL (V_ifnet)");
	NET_EPOCH_ENTER(et);
	CK_STAILQ_FOREACH(ifp, &V_ifnet, if_link)
		if (strncmp(name, ifp->if_xname, IFNAMSIZ) == 0 &&
		    (ifp->if_flags & IFF_DYING) == 0)
			break;
	if (ifp != NULL)
		if_ref(ifp);
	NET_EPOCH_EXIT(et);
	return (ifp);
}

int
if_setlladdr(if_t ifp, const u_char *lladdr, int len)
{
	struct kh_ifnet *ki = KI(ifp);

	kh_may_sleep("if_setlladdr", NULL);
	if (ki->ki_gone)
		return (EINVAL);	/* if_addr is gone */
	if (len != ETHER_ADDR_LEN)
		return (EINVAL);
	memcpy(ki->ki_mac, lladdr, ETHER_ADDR_LEN);
	return (0);
}

int
if_transmit(if_t ifp, struct mbuf *m)
{
	struct kh_ifnet *ki = KI(ifp);

	NET_EPOCH_ASSERT();
	kh_mbuf_check(m, "if_transmit");
	M_ASSERTPKTHDR(m);
	if (m->m_pkthdr.len != (int)m_length(m, NULL))
		kh_panic("if_transmit(%s): m_pkthdr.len %d, chain holds %u",
		    ki->ki_if.if_xname, m->m_pkthdr.len, m_length(m, NULL));
	return (ki->ki_if.if_transmit(ifp, m));
}

/* ---- the host stack's side ---- */
void
kh_if_stack_input(struct ifnet *ifp, struct mbuf *m)
{
	__atomic_add_fetch(&((struct kh_ifnet *)ifp)->ki_stack_rx, 1,
	    __ATOMIC_SEQ_CST);
	m_freem(m);
}

static void kh_bridge_input(struct kh_ifnet *br, struct kh_ifnet *in,
    struct mbuf *m);

static void
kh_ether_demux(struct ifnet *ifp, struct mbuf *m)
{
	int rv;

	if (PFIL_HOOKED_IN(V_link_pfil_head) &&
	    (m->m_flags & M_PROMISC) == 0) {
		rv = pfil_mbuf_in(V_link_pfil_head, &m, ifp, NULL);
		if (rv != PFIL_PASS)
			return;
	}
	if ((m->m_flags & M_PROMISC) != 0) {
		m_freem(m);
		return;
	}
	kh_if_stack_input(ifp, m);
}

/* ether_input(): in the epoch, the interface's vnet current. */
void
kh_if_input(struct ifnet *ifp, struct mbuf *m)
{
	struct kh_ifnet *ki = (struct kh_ifnet *)ifp;
	struct ether_header *eh;

	NET_EPOCH_ASSERT();
	if (curvnet != ifp->if_vnet)
		kh_panic("if_input(%s) outside the interface's vnet",
		    ifp->if_xname);
	kh_mbuf_check(m, "if_input");
	if (m->m_len < ETHER_HDR_LEN) {
		m = m_pullup(m, ETHER_HDR_LEN);
		if (m == NULL)
			return;
	}
	m->m_pkthdr.rcvif = ifp;
	eh = mtod(m, struct ether_header *);
	m->m_flags &= ~(M_PROMISC | M_BCAST | M_MCAST);
	if (ETHER_IS_MULTICAST(eh->ether_dhost)) {
		if (memcmp(eh->ether_dhost, etherbroadcastaddr,
		    ETHER_ADDR_LEN) == 0)
			m->m_flags |= M_BCAST;
		else
			m->m_flags |= M_MCAST;
	} else if (memcmp(eh->ether_dhost, ki->ki_mac, ETHER_ADDR_LEN) != 0)
		m->m_flags |= M_PROMISC;
	if (ki->ki_bridge != NULL) {
		kh_bridge_input(ki->ki_bridge, ki, m);
		return;
	}
	kh_ether_demux(ifp, m);
}

/* ---- drivers ---- */
static int
kh_dead_transmit(struct ifnet *ifp __unused, struct mbuf *m)
{
	m_freem(m);
	return (ENXIO);
}

/* Keep the frame for kh_if_tx_take(): the VM's read, the NIC's wire. */
static int
kh_queue_transmit(struct ifnet *ifp, struct mbuf *m)
{
	struct kh_ifnet *ki = (struct kh_ifnet *)ifp;
	uint8_t buf[ETHER_MAX_LEN_JUMBO + ETHER_VLAN_ENCAP_LEN];
	int len = m->m_pkthdr.len, error;

	if ((ifp->if_flags & IFF_UP) == 0) {
		m_freem(m);
		return (ENETDOWN);
	}
	if (ki->ki_wirefd >= 0) {
		if ((u_int)len > sizeof(buf)) {
			m_freem(m);
			return (EMSGSIZE);
		}
		m_copydata(m, 0, len, (caddr_t)buf);
		m_freem(m);
		error = kh_h_send(ki->ki_wirefd, buf, (u_long)len);
		return (error == 0 ? 0 : ENOBUFS);
	}
	kh_h_lock(ki->ki_mtx);
	error = mbufq_enqueue(&ki->ki_txq, m);
	if (error == 0)
		kh_mbuf_owned(m, ki->ki_owner);
	kh_h_unlock(ki->ki_mtx);
	if (error != 0)
		m_freem(m);
	return (error);
}

/* Deliveries that in the kernel run from a taskqueue (epair, bridge). */
struct kh_deferred {
	struct kh_ifnet		*d_if;
	struct mbuf		*d_m;
	struct kh_deferred	*d_next;
};
static struct kh_hmtx *kh_dmtx;
static struct kh_hcond *kh_dcv;
static struct kh_deferred *kh_dq, **kh_dqtail = &kh_dq;
static int kh_dbusy;
static bool kh_dstop;
static struct kh_thread *kh_dthread;

static void
kh_defer(struct kh_ifnet *ki, struct mbuf *m)
{
	struct kh_deferred *d = kh_h_calloc(sizeof(*d));

	d->d_if = ki;
	d->d_m = m;
	kh_mbuf_owned(m, "epair/bridge taskqueue");
	if_ref(&ki->ki_if);
	kh_h_lock(kh_dmtx);
	*kh_dqtail = d;
	kh_dqtail = &d->d_next;
	kh_h_broadcast(kh_dcv);
	kh_h_unlock(kh_dmtx);
}

static void
kh_deliver(struct kh_ifnet *ki, struct mbuf *m)
{
	struct epoch_tracker et;

	NET_EPOCH_ENTER(et);
	CURVNET_SET(ki->ki_if.if_vnet);
	if (!ki->ki_gone && (ki->ki_if.if_flags & IFF_UP) != 0)
		kh_if_input(&ki->ki_if, m);
	else
		m_freem(m);
	CURVNET_RESTORE();
	NET_EPOCH_EXIT(et);
}

static void
kh_taskqueue(void *arg __unused)
{
	struct kh_deferred *d;

	kh_h_lock(kh_dmtx);
	while (!kh_dstop || kh_dq != NULL) {
		if ((d = kh_dq) == NULL) {
			kh_h_wait(kh_dcv, kh_dmtx, 50000000LL);
			continue;
		}
		kh_dq = d->d_next;
		if (kh_dq == NULL)
			kh_dqtail = &kh_dq;
		kh_dbusy++;
		kh_h_unlock(kh_dmtx);
		kh_mbuf_owned(d->d_m, NULL);
		kh_deliver(d->d_if, d->d_m);
		if_rele(&d->d_if->ki_if);
		kh_userret("taskqueue");
		kh_h_free(d);
		kh_h_lock(kh_dmtx);
		kh_dbusy--;
		kh_h_broadcast(kh_dcv);
	}
	kh_h_unlock(kh_dmtx);
}

static int
kh_epair_transmit(struct ifnet *ifp, struct mbuf *m)
{
	struct kh_ifnet *ki = (struct kh_ifnet *)ifp;

	if (ki->ki_peer == NULL)
		return (kh_queue_transmit(ifp, m));
	kh_defer(ki->ki_peer, m);
	return (0);
}

static int
kh_bridge_transmit(struct ifnet *ifp, struct mbuf *m)
{
	struct kh_ifnet *br = (struct kh_ifnet *)ifp;
	struct mbuf *mc;
	int i;

	for (i = 0; i < KH_MAXMEMBERS; i++) {
		if (br->ki_members[i] == NULL)
			continue;
		mc = m_copypacket(m, M_NOWAIT);
		if (mc != NULL)
			(void)if_transmit(&br->ki_members[i]->ki_if, mc);
	}
	m_freem(m);
	return (0);
}

/*
 * bridge_input(): a frame for the member's own MAC is the member's (its
 * stack, its pfil head); a broadcast is flooded to the other members as
 * copies sharing the cluster (bridge_broadcast()'s m_copypacket), one
 * more goes up the bridge interface, and the original is the member's;
 * a frame for the bridge's MAC is the bridge's; any other is flooded.
 */
static void
kh_bridge_input(struct kh_ifnet *br, struct kh_ifnet *in, struct mbuf *m)
{
	struct ether_header *eh = mtod(m, struct ether_header *);
	bool bcast = (m->m_flags & (M_BCAST | M_MCAST)) != 0, mine;
	struct mbuf *mc;
	int i;

	if ((m->m_flags & (M_BCAST | M_MCAST | M_PROMISC)) == 0) {
		kh_ether_demux(&in->ki_if, m);
		return;
	}
	mine = memcmp(eh->ether_dhost, br->ki_mac, ETHER_ADDR_LEN) == 0;
	if (!mine)
		for (i = 0; i < KH_MAXMEMBERS; i++) {
			if (br->ki_members[i] == NULL ||
			    br->ki_members[i] == in)
				continue;
			mc = m_copypacket(m, M_NOWAIT);
			if (mc != NULL)
				(void)if_transmit(&br->ki_members[i]->ki_if,
				    mc);
		}
	if (bcast && (mc = m_copypacket(m, M_NOWAIT)) != NULL) {
		mc->m_pkthdr.rcvif = &br->ki_if;
		kh_ether_demux(&br->ki_if, mc);
	}
	if (bcast)
		kh_ether_demux(&in->ki_if, m);
	else if (mine) {
		m->m_flags &= ~M_PROMISC;
		m->m_pkthdr.rcvif = &br->ki_if;
		kh_ether_demux(&br->ki_if, m);
	} else
		m_freem(m);
}

/* ---- ifconfig ---- */
struct kh_ifnet *
kh_if_byname(const char *name)
{
	int i;

	for (i = 0; i < KH_NIF; i++)
		if (kh_ifs[i] != NULL && !kh_ifs[i]->ki_gone &&
		    strcmp(kh_ifs[i]->ki_if.if_xname, name) == 0)
			return (kh_ifs[i]);
	return (NULL);
}

struct ifnet *
kh_if_find(const char *name)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	return (ki == NULL ? NULL : &ki->ki_if);
}

static struct kh_ifnet *
kh_if_new(const char *name, enum kh_ifkind kind, u_char type,
    if_transmit_fn_t transmit)
{
	struct kh_ifnet *ki = kh_h_calloc(sizeof(*ki));
	int i;

	for (i = 0; i < KH_NIF && kh_ifs[i] != NULL; i++)
		;
	if (i == KH_NIF)
		kh_panic("kh: too many interfaces");
	strlcpy(ki->ki_if.if_xname, name, sizeof(ki->ki_if.if_xname));
	ki->ki_if.if_index = (u_short)kh_ifindex++;
	ki->ki_if.if_type = type;
	ki->ki_if.if_addrlen = ETHER_ADDR_LEN;
	ki->ki_if.if_mtu = ETHERMTU;
	ki->ki_if.if_flags = IFF_UP | IFF_BROADCAST | IFF_SIMPLEX |
	    IFF_MULTICAST;
	ki->ki_if.if_refcount = 1;		/* if_alloc()'s */
	ki->ki_if.if_vnet = ki->ki_if.if_home_vnet = vnet0;
	ki->ki_if.if_transmit = transmit;
	ki->ki_kind = kind;
	ki->ki_wirefd = -1;
	ki->ki_mtx = kh_h_mtx_new();
	mbufq_init(&ki->ki_txq, 1024);
	snprintf(ki->ki_owner, sizeof(ki->ki_owner), "if_transmit(%s)", name);
	ki->ki_mac[0] = 0x02;
	ki->ki_mac[4] = (uint8_t)(ki->ki_if.if_index >> 8);
	ki->ki_mac[5] = (uint8_t)ki->ki_if.if_index;
	kh_ifs[i] = ki;
	/* if_attach(): on the list of its vnet, then the arrival event. */
	CURVNET_SET(vnet0);
	CK_STAILQ_INSERT_TAIL(&V_ifnet, &ki->ki_if, if_link);
	EVENTHANDLER_INVOKE(ifnet_arrival_event, &ki->ki_if);
	CURVNET_RESTORE();
	return (ki);
}

int
kh_if_create(const char *kind, const char *name)
{
	struct kh_ifnet *ki;
	char n[IFNAMSIZ];
	u_char type = IFT_ETHER;

	if (strlen(name) >= IFNAMSIZ - 1 || kh_if_byname(name) != NULL)
		return (-EEXIST);
	if (strcmp(kind, "tap") == 0)
		ki = kh_if_new(name, KH_TAP, IFT_ETHER, kh_queue_transmit);
	else if (strcmp(kind, "vtnet") == 0 || strcmp(kind, "vlan") == 0 ||
	    strcmp(kind, "lagg") == 0) {
		if (strcmp(kind, "vlan") == 0)
			type = IFT_L2VLAN;
		else if (strcmp(kind, "lagg") == 0)
			type = IFT_IEEE8023ADLAG;
		ki = kh_if_new(name, KH_NIC, type, kh_queue_transmit);
	} else if (strcmp(kind, "bridge") == 0)
		ki = kh_if_new(name, KH_BRIDGE, IFT_BRIDGE, kh_bridge_transmit);
	else if (strcmp(kind, "epair") == 0) {
		/* "epair0": both ends here; "epair0a": one end, for a wire. */
		if (name[strlen(name) - 1] == 'a' ||
		    name[strlen(name) - 1] == 'b')
			ki = kh_if_new(name, KH_EPAIR, IFT_ETHER,
			    kh_epair_transmit);
		else {
			snprintf(n, sizeof(n), "%sa", name);
			ki = kh_if_new(n, KH_EPAIR, IFT_ETHER,
			    kh_epair_transmit);
			snprintf(n, sizeof(n), "%sb", name);
			ki->ki_peer = kh_if_new(n, KH_EPAIR, IFT_ETHER,
			    kh_epair_transmit);
			ki->ki_peer->ki_peer = ki;
		}
	} else
		return (-EINVAL);
	kh_userret("ifconfig create");
	return (ki->ki_if.if_index);
}

/* Frames a NIC or tap still holds when it goes: the driver frees them. */
static void
kh_if_drain(struct kh_ifnet *ki)
{
	struct mbuf *m;

	kh_h_lock(ki->ki_mtx);
	while ((m = mbufq_dequeue(&ki->ki_txq)) != NULL) {
		kh_mbuf_owned(m, NULL);
		m_freem(m);
	}
	kh_h_unlock(ki->ki_mtx);
}

static void
kh_if_detach(struct kh_ifnet *ki)
{
	int i;

	/* if_detach(): off the list, the departure event, if_dead. */
	CURVNET_SET_QUIET(ki->ki_if.if_vnet);
	sx_xlock(&ifnet_detach_sxlock);
	CK_STAILQ_REMOVE(&V_ifnet, &ki->ki_if, ifnet, if_link);
	EVENTHANDLER_INVOKE(ifnet_departure_event, &ki->ki_if);
	ki->ki_gone = true;
	ki->ki_if.if_transmit = kh_dead_transmit;
	sx_xunlock(&ifnet_detach_sxlock);
	CURVNET_RESTORE();
	if (ki->ki_peer != NULL)
		ki->ki_peer->ki_peer = NULL;
	if (ki->ki_bridge != NULL)
		for (i = 0; i < KH_MAXMEMBERS; i++)
			if (ki->ki_bridge->ki_members[i] == ki)
				ki->ki_bridge->ki_members[i] = NULL;
	/* Wait for a deferred delivery to this interface to finish. */
	kh_h_lock(kh_dmtx);
	while (kh_dq != NULL || kh_dbusy > 0)
		kh_h_wait(kh_dcv, kh_dmtx, 10000000LL);
	kh_h_unlock(kh_dmtx);
	kh_if_drain(ki);
	/* if_free(): IFF_DYING, and if_alloc()'s reference goes. */
	ki->ki_if.if_flags |= IFF_DYING;
	if_rele(&ki->ki_if);
}

int
kh_if_destroy(const char *name)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	if (ki == NULL)
		return (ENXIO);
	if (ki->ki_wirefd >= 0)
		return (EBUSY);
	kh_if_detach(ki);
	kh_userret("ifconfig destroy");
	return (0);
}

int
kh_if_rename(const char *name, const char *newname)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	if (ki == NULL)
		return (ENXIO);
	if (strlen(newname) >= IFNAMSIZ || kh_if_byname(newname) != NULL)
		return (EEXIST);
	/* if_rename() */
	CURVNET_SET(ki->ki_if.if_vnet);
	ki->ki_if.if_flags |= IFF_RENAMING;
	EVENTHANDLER_INVOKE(ifnet_departure_event, &ki->ki_if);
	strlcpy(ki->ki_if.if_xname, newname, sizeof(ki->ki_if.if_xname));
	snprintf(ki->ki_owner, sizeof(ki->ki_owner), "if_transmit(%s)",
	    newname);
	EVENTHANDLER_INVOKE(ifnet_arrival_event, &ki->ki_if);
	ki->ki_if.if_flags &= ~IFF_RENAMING;
	CURVNET_RESTORE();
	kh_userret("ifconfig name");
	return (0);
}

int
kh_if_mac(const char *name, unsigned char mac[6], int set)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	if (ki == NULL)
		return (ENXIO);
	if (set)
		memcpy(ki->ki_mac, mac, ETHER_ADDR_LEN);
	else
		memcpy(mac, ki->ki_mac, ETHER_ADDR_LEN);
	return (0);
}

int
kh_if_index(const char *name)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	return (ki == NULL ? 0 : ki->ki_if.if_index);
}

/* ifconfig NAME vnet JAIL: leaves this vnet (a departure here). */
int
kh_if_vnet_move(const char *name)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	if (ki == NULL)
		return (ENXIO);
	{
		CURVNET_SET(ki->ki_if.if_vnet);
		sx_xlock(&ifnet_detach_sxlock);
		CK_STAILQ_REMOVE(&V_ifnet, &ki->ki_if, ifnet, if_link);
		EVENTHANDLER_INVOKE(ifnet_departure_event, &ki->ki_if);
		sx_xunlock(&ifnet_detach_sxlock);
		CURVNET_RESTORE();
	}
	ki->ki_if.if_vnet = kh_vnet_other;
	{
		CURVNET_SET(kh_vnet_other);
		CK_STAILQ_INSERT_TAIL(&V_ifnet, &ki->ki_if, if_link);
		EVENTHANDLER_INVOKE(ifnet_arrival_event, &ki->ki_if);
		CURVNET_RESTORE();
	}
	kh_userret("ifconfig vnet");
	return (0);
}

int
kh_bridge_add(const char *bridge, const char *member)
{
	struct kh_ifnet *br = kh_if_byname(bridge), *m = kh_if_byname(member);
	int i;

	if (br == NULL || m == NULL || br->ki_kind != KH_BRIDGE)
		return (ENXIO);
	for (i = 0; i < KH_MAXMEMBERS && br->ki_members[i] != NULL; i++)
		;
	if (i == KH_MAXMEMBERS)
		return (ENOSPC);
	br->ki_members[i] = m;
	m->ki_bridge = br;
	return (0);
}

/* The driver's receive path: a frame arrives on the interface. */
int
kh_if_rx(const char *name, const void *frame, unsigned len, unsigned lead,
    unsigned first)
{
	struct kh_ifnet *ki = kh_if_byname(name);
	struct mbuf *m;

	if (ki == NULL)
		return (ENXIO);
	m = kh_mbuf_frame(frame, len, lead, first);
	if (m == NULL)
		return (ENOBUFS);
	kh_deliver(ki, m);
	kh_userret("if_input");
	return (0);
}

/*
 * A frame whose cluster another holder shares (m_copypacket(), as a
 * bridge's flood or a bpf peer leaves it): the copy arrives on the
 * interface, and the original must come out unchanged (EIO if not).
 */
int
kh_if_rx_shared(const char *name, const void *frame, unsigned len)
{
	struct kh_ifnet *ki = kh_if_byname(name);
	struct mbuf *m, *mc;
	uint8_t *buf;
	int error;

	if (ki == NULL)
		return (ENXIO);
	m = kh_mbuf_frame(frame, len, 64, 0);
	if (m == NULL || (mc = m_copypacket(m, M_NOWAIT)) == NULL) {
		m_freem(m);
		return (ENOBUFS);
	}
	kh_deliver(ki, mc);
	buf = malloc(len, M_TEMP, M_WAITOK);
	m_copydata(m, 0, (int)len, (caddr_t)buf);
	error = memcmp(buf, frame, len) == 0 ? 0 : EIO;
	free(buf, M_TEMP);
	m_freem(m);
	kh_userret("if_input");
	return (error);
}

unsigned
kh_if_tx_take(const char *name, void *buf, unsigned len)
{
	struct kh_ifnet *ki = kh_if_byname(name);
	struct mbuf *m;
	u_int n;

	if (ki == NULL)
		return (0);
	kh_h_lock(ki->ki_mtx);
	m = mbufq_dequeue(&ki->ki_txq);
	kh_h_unlock(ki->ki_mtx);
	if (m == NULL)
		return (0);
	kh_mbuf_owned(m, NULL);
	n = min((u_int)m->m_pkthdr.len, len);
	m_copydata(m, 0, (int)n, buf);
	m_freem(m);
	return (n);
}

unsigned long
kh_if_stack_count(const char *name)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	return (ki == NULL ? 0 :
	    __atomic_load_n(&ki->ki_stack_rx, __ATOMIC_SEQ_CST));
}

int
kh_ifnet_refs(const char *name)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	return (ki == NULL ? -1 : (int)ki->ki_if.if_refcount);
}

/* ---- the wire between two harness hosts ---- */
static struct kh_thread *kh_wthread;
static struct kh_ifnet *kh_wif;
static volatile bool kh_wstop;

static void
kh_wire_rx(void *arg __unused)
{
	uint8_t buf[ETHER_MAX_LEN_JUMBO + ETHER_VLAN_ENCAP_LEN];
	struct mbuf *m;
	long n;

	while (!kh_wstop) {
		n = kh_h_recv(kh_wif->ki_wirefd, buf, sizeof(buf),
		    20000000LL);
		if (n <= 0)
			continue;
		/* A NIC's buffer: a cluster with ETHER_ALIGN in front. */
		m = kh_mbuf_frame(buf, (u_int)n, ETHER_ALIGN, 0);
		if (m != NULL)
			kh_deliver(kh_wif, m);
		kh_userret("wire rx");
	}
}

int
kh_if_wire(const char *name, int fd)
{
	struct kh_ifnet *ki = kh_if_byname(name);

	if (ki == NULL || kh_wif != NULL)
		return (ENXIO);
	ki->ki_wirefd = fd;
	kh_wif = ki;
	kh_wstop = false;
	kh_wthread = kh_thread_new("wire");
	kh_thread_run(kh_wthread, kh_wire_rx, NULL);
	return (0);
}

void
kh_wire_stop(void)
{
	if (kh_wif == NULL)
		return;
	kh_wstop = true;
	kh_thread_join(kh_wthread);
	kh_wif->ki_wirefd = -1;
	kh_wif = NULL;
}

void
kh_drivers_init(void)
{
	kh_dmtx = kh_h_mtx_new();
	kh_dcv = kh_h_cond_new();
	kh_dthread = kh_thread_new("taskq");
	kh_thread_run(kh_dthread, kh_taskqueue, NULL);
}

/* Shutdown: every interface destroyed, every reference back. */
void
kh_drivers_fini(void)
{
	int i;

	kh_wire_stop();
	for (i = 0; i < KH_NIF; i++)
		if (kh_ifs[i] != NULL && !kh_ifs[i]->ki_gone)
			kh_if_detach(kh_ifs[i]);
	kh_h_lock(kh_dmtx);
	kh_dstop = true;
	kh_h_broadcast(kh_dcv);
	kh_h_unlock(kh_dmtx);
	kh_thread_join(kh_dthread);
	epoch_drain_callbacks(net_epoch_preempt);
	for (i = 0; i < KH_NIF; i++)
		if (kh_ifs[i] != NULL && !kh_ifs[i]->ki_freed)
			kh_panic("shutdown: %s still has %u reference(s) "
			    "(if_ref without if_rele)",
			    kh_ifs[i]->ki_if.if_xname,
			    kh_ifs[i]->ki_if.if_refcount);
}
