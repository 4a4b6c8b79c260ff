/*-
 * /dev/bsdnet: the agent's door into the kernel home.
 *
 *   ioctl   region create/geometry/destroy, attach/detach, statistics
 *   mmap    the region (bsdnet_kern_region.c)
 *   read    one trap per call: struct bsdnet_trap_hdr + frame.  A buffer
 *           too small gets the head of the message and loses the rest,
 *           as recv(2) on a datagram socket would.
 *   write   one control message per call: struct bsdnet_ctl_hdr + payload
 *   poll/kqueue  readable while traps are queued
 *
 * Root only (mode 0600) and never from a jail: the tables steer every
 * packet of the host.  Every ioctl argument and every control message is
 * checked here before anything else sees it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/conf.h>
#include <sys/fcntl.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/proc.h>
#include <sys/jail.h>
#include <sys/poll.h>
#include <sys/selinfo.h>
#include <sys/event.h>
#include <sys/uio.h>
#include <sys/callout.h>
#include <sys/counter.h>
#include <sys/epoch.h>
#include <sys/eventhandler.h>
#include <sys/socket.h>
#include <sys/ck.h>

#include <vm/vm.h>

#include <net/if.h>
#include <net/if_var.h>
#include <net/ethernet.h>
#include <net/pfil.h>
#include <net/vnet.h>

#include "bsdnet_kern.h"

_Static_assert(BSDNET_CTL_XMIT_MAX == ETHER_MAX_LEN_JUMBO +
    ETHER_VLAN_ENCAP_LEN, "the largest XMIT is a tagged jumbo frame");

extern u_int bsdnet_kern_trapq_max;

static d_open_t		bsdnet_kern_open;
static d_read_t		bsdnet_kern_read;
static d_write_t	bsdnet_kern_write;
static d_ioctl_t	bsdnet_kern_ioctl;
static d_poll_t		bsdnet_kern_poll;
static d_kqfilter_t	bsdnet_kern_kqfilter;
static d_mmap_single_t	bsdnet_kern_mmap_single;

static struct cdevsw bsdnet_kern_cdevsw = {
	.d_version =	D_VERSION,
	.d_name =	BSDNET_DEVNAME,
	.d_open =	bsdnet_kern_open,
	.d_read =	bsdnet_kern_read,
	.d_write =	bsdnet_kern_write,
	.d_ioctl =	bsdnet_kern_ioctl,
	.d_poll =	bsdnet_kern_poll,
	.d_kqfilter =	bsdnet_kern_kqfilter,
	.d_mmap_single = bsdnet_kern_mmap_single,
};

static void	bsdnet_kern_kq_detach(struct knote *kn);
static int	bsdnet_kern_kq_read(struct knote *kn, long hint);

static const struct filterops bsdnet_kern_read_filtops = {
	.f_isfd =	1,
	.f_detach =	bsdnet_kern_kq_detach,
	.f_event =	bsdnet_kern_kq_read,
};

int
bsdnet_kern_dev_init(struct bsdnet_kern_softc *sc)
{
	struct make_dev_args args;
	int error;

	mtx_init(&sc->sc_trapmtx, "bsdnet_trapq", NULL, MTX_DEF);
	mbufq_init(&sc->sc_trapq, (int)imin(bsdnet_kern_trapq_max, 1 << 20));
	knlist_init_mtx(&sc->sc_rsel.si_note, &sc->sc_trapmtx);

	make_dev_args_init(&args);
	args.mda_devsw = &bsdnet_kern_cdevsw;
	args.mda_uid = UID_ROOT;
	args.mda_gid = GID_WHEEL;
	args.mda_mode = 0600;
	args.mda_si_drv1 = sc;
	error = make_dev_s(&args, &sc->sc_cdev, BSDNET_DEVNAME);
	if (error != 0) {
		knlist_destroy(&sc->sc_rsel.si_note);
		mtx_destroy(&sc->sc_trapmtx);
	}
	return (error);
}

void
bsdnet_kern_dev_fini(struct bsdnet_kern_softc *sc)
{

	if (sc->sc_cdev != NULL)
		destroy_dev(sc->sc_cdev);
	sc->sc_cdev = NULL;
	mtx_lock(&sc->sc_trapmtx);
	mbufq_drain(&sc->sc_trapq);
	knlist_clear(&sc->sc_rsel.si_note, 1);
	mtx_unlock(&sc->sc_trapmtx);
	seldrain(&sc->sc_rsel);
	knlist_destroy(&sc->sc_rsel.si_note);
	mtx_destroy(&sc->sc_trapmtx);
}

static void
bsdnet_kern_close_priv(void *arg)
{
	struct bsdnet_kern_softc *sc = arg;

	sx_xlock(&sc->sc_lock);
	sc->sc_opens--;
	sx_xunlock(&sc->sc_lock);
}

static int
bsdnet_kern_open(struct cdev *dev, int oflags __unused, int devtype __unused,
    struct thread *td)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;
	int error;

	if (jailed(td->td_ucred))
		return (EPERM);
	sx_xlock(&sc->sc_lock);
	if (sc->sc_dying) {
		sx_xunlock(&sc->sc_lock);
		return (ENXIO);
	}
	error = devfs_set_cdevpriv(sc, bsdnet_kern_close_priv);
	if (error == 0)
		sc->sc_opens++;
	sx_xunlock(&sc->sc_lock);
	return (error);
}

/* Called by the core's trap path: never sleeps. */
bool
bsdnet_kern_trap_enqueue(struct bsdnet_kern_softc *sc, struct mbuf *m)
{
	int error;

	mtx_lock(&sc->sc_trapmtx);
	error = mbufq_enqueue(&sc->sc_trapq, m);
	if (error == 0)
		KNOTE_LOCKED(&sc->sc_rsel.si_note, 0);
	mtx_unlock(&sc->sc_trapmtx);
	if (error != 0) {
		m_freem(m);
		BSDNET_KERN_COUNT(BSDNET_KERN_C_TRAP_DROPS, 1);
		return (false);
	}
	BSDNET_KERN_COUNT(BSDNET_KERN_C_TRAPS, 1);
	wakeup(&sc->sc_trapq);
	selwakeuppri(&sc->sc_rsel, PZERO + 1);
	return (true);
}

static int
bsdnet_kern_read(struct cdev *dev, struct uio *uio, int ioflag)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;
	struct mbuf *m;
	int error, len;

	mtx_lock(&sc->sc_trapmtx);
	while ((m = mbufq_dequeue(&sc->sc_trapq)) == NULL) {
		if ((ioflag & O_NONBLOCK) != 0) {
			mtx_unlock(&sc->sc_trapmtx);
			return (EWOULDBLOCK);
		}
		error = mtx_sleep(&sc->sc_trapq, &sc->sc_trapmtx, PCATCH,
		    "bsdnrd", 0);
		if (error != 0) {
			mtx_unlock(&sc->sc_trapmtx);
			return (error);
		}
	}
	mtx_unlock(&sc->sc_trapmtx);
	len = (int)imin(uio->uio_resid, m->m_pkthdr.len);
	error = m_mbuftouio(uio, m, len);
	m_freem(m);
	return (error);
}

/* A well-formed XMIT (bsdnet_ctl_check()): send it if the vif is
 * attached and the frame fits. */
static int
bsdnet_kern_ctl_xmit(struct bsdnet_kern_softc *sc,
    const struct bsdnet_ctl_hdr *ch, struct uio *uio)
{
	struct epoch_tracker et;
	struct mbuf *m;
	if_t ifp;
	int error;

	m = m_uiotombuf(uio, M_WAITOK, ch->ch_len, 0, M_PKTHDR);
	if (m == NULL)
		return (ENOBUFS);
	NET_EPOCH_ENTER(et);
	ifp = bsdnet_kern_vif_ifp(sc, ch->ch_vif);
	if (ifp == NULL) {
		error = ENXIO;
	} else if (!bsdnet_ctl_xmit_fits(ch->ch_len,
	    (uint32_t)if_getmtu(ifp))) {
		error = EMSGSIZE;
	} else {
		CURVNET_SET(if_getvnet(ifp));
		error = if_transmit(ifp, m);
		CURVNET_RESTORE();
		m = NULL;	/* if_transmit() consumed it either way */
	}
	NET_EPOCH_EXIT(et);
	if (m != NULL)
		m_freem(m);
	BSDNET_KERN_COUNT(error == 0 ? BSDNET_KERN_C_TX :
	    BSDNET_KERN_C_TX_ERR, 1);
	return (error);
}

static int
bsdnet_kern_write(struct cdev *dev, struct uio *uio, int ioflag __unused)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;
	struct bsdnet_ctl_hdr ch;
	size_t len;
	int error;

	len = (size_t)uio->uio_resid;
	if (len < sizeof(ch))		/* no header to read */
		return (EINVAL);
	error = uiomove(&ch, sizeof(ch), uio);
	if (error != 0)
		return (error);
	sx_slock(&sc->sc_lock);
	if (sc->sc_region == NULL) {
		error = ENXIO;
		goto out;
	}
	if (bsdnet_ctl_check(&ch, len, sc->sc_region->r_geom.g_nvifs) !=
	    BSDNET_CTL_OK) {
		error = EINVAL;
		goto out;
	}
	switch (ch.ch_type) {
	case BSDNET_CTL_RELEASE:
		bsdnet_kern_pcpu_release(sc, ch.ch_flow, ch.ch_gen);
		break;
	case BSDNET_CTL_XMIT:
		error = bsdnet_kern_ctl_xmit(sc, &ch, uio);
		break;
	case BSDNET_CTL_VIF_SYNC:
		/* Interfaces are bound by BSDNET_IOC_ATTACH here. */
		break;
	}
out:
	sx_sunlock(&sc->sc_lock);
	if (error == 0)
		BSDNET_KERN_COUNT(BSDNET_KERN_C_CTL, 1);
	return (error);
}

static void
bsdnet_kern_geom_out(const struct bsdnet_kern_region *r,
    struct bsdnet_ioc_geometry *ig)
{

	ig->ig_nvifs = r->r_geom.g_nvifs;
	ig->ig_nnexthops = r->r_geom.g_nnexthops;
	ig->ig_nlabels = r->r_geom.g_nlabels;
	ig->ig_nvrfs = r->r_geom.g_nvrfs;
	ig->ig_nrtbuckets = r->r_geom.g_nrtbuckets;
	ig->ig_nflowbuckets = r->r_geom.g_nflowbuckets;
	ig->ig_novfbuckets = r->r_geom.g_novfbuckets;
	ig->ig_maxhold = r->r_geom.g_maxhold;
	ig->ig_size = r->r_size;
	ig->ig_instance = r->r_instance;
}

static int
bsdnet_kern_ioc_create(struct bsdnet_kern_softc *sc,
    struct bsdnet_ioc_geometry *ig)
{
	struct bsdnet_geometry g;
	int error;

	g.g_nvifs = ig->ig_nvifs;
	g.g_nnexthops = ig->ig_nnexthops;
	g.g_nlabels = ig->ig_nlabels;
	g.g_nvrfs = ig->ig_nvrfs;
	g.g_nrtbuckets = ig->ig_nrtbuckets;
	g.g_nflowbuckets = ig->ig_nflowbuckets;
	g.g_novfbuckets = ig->ig_novfbuckets;
	g.g_maxhold = ig->ig_maxhold;
	/* bsdnet_layout() range-checks every size. */
	error = bsdnet_kern_region_create(sc, &g);
	if (error != 0)
		return (error);
	error = bsdnet_kern_hook_link(sc);
	if (error != 0) {
		(void)bsdnet_kern_region_destroy(sc);
		return (error);
	}
	bsdnet_kern_geom_out(sc->sc_region, ig);
	return (0);
}

static void
bsdnet_kern_ioc_stats(struct bsdnet_kern_softc *sc,
    struct bsdnet_ioc_stats *is)
{

#define	FETCH(c)	counter_u64_fetch(bsdnet_kern_counters[(c)])
	memset(is, 0, sizeof(*is));
	is->is_rx_pkts = FETCH(BSDNET_KERN_C_RX);
	is->is_tx_pkts = FETCH(BSDNET_KERN_C_TX);
	is->is_tx_errors = FETCH(BSDNET_KERN_C_TX_ERR);
	is->is_traps = FETCH(BSDNET_KERN_C_TRAPS);
	is->is_trap_drops = FETCH(BSDNET_KERN_C_TRAP_DROPS);
	is->is_copies = FETCH(BSDNET_KERN_C_COPIES);
	is->is_ctl_msgs = FETCH(BSDNET_KERN_C_CTL);
#undef	FETCH
	is->is_nports = sc->sc_nports;
	is->is_mapped = bsdnet_kern_region_mapped(sc) ? 1 : 0;
}

static int
bsdnet_kern_ioctl(struct cdev *dev, u_long cmd, caddr_t data,
    int fflag __unused, struct thread *td __unused /* !VIMAGE */)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;
	int error = 0;

	switch (cmd) {
	case BSDNET_IOC_CREATE:
		sx_xlock(&sc->sc_lock);
		error = bsdnet_kern_ioc_create(sc,
		    (struct bsdnet_ioc_geometry *)data);
		sx_xunlock(&sc->sc_lock);
		break;
	case BSDNET_IOC_GEOMETRY:
		sx_slock(&sc->sc_lock);
		if (sc->sc_region == NULL)
			error = ENXIO;
		else
			bsdnet_kern_geom_out(sc->sc_region,
			    (struct bsdnet_ioc_geometry *)data);
		sx_sunlock(&sc->sc_lock);
		break;
	case BSDNET_IOC_DESTROY:
		sx_xlock(&sc->sc_lock);
		if (sc->sc_region == NULL)
			error = ENXIO;
		else if (sc->sc_nports > 0 || bsdnet_kern_region_mapped(sc))
			error = EBUSY;
		else {
			bsdnet_kern_hook_unlink(sc);
			error = bsdnet_kern_region_destroy(sc);
		}
		sx_xunlock(&sc->sc_lock);
		break;
	case BSDNET_IOC_ATTACH:
	case BSDNET_IOC_DETACH:
		/* Interface names resolve in the caller's vnet (V_ifnet). */
		CURVNET_SET(TD_TO_VNET(td));
		sx_xlock(&sc->sc_lock);
		if (cmd == BSDNET_IOC_ATTACH)
			error = bsdnet_kern_attach(sc,
			    (struct bsdnet_ioc_attach *)data);
		else
			error = bsdnet_kern_detach(sc,
			    (struct bsdnet_ioc_attach *)data);
		sx_xunlock(&sc->sc_lock);
		CURVNET_RESTORE();
		break;
	case BSDNET_IOC_STATS:
		sx_slock(&sc->sc_lock);
		bsdnet_kern_ioc_stats(sc, (struct bsdnet_ioc_stats *)data);
		sx_sunlock(&sc->sc_lock);
		break;
	default:
		error = ENOTTY;
		break;
	}
	return (error);
}

static int
bsdnet_kern_poll(struct cdev *dev, int events, struct thread *td)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;
	int revents;

	/* Control messages are taken synchronously: always writable. */
	revents = events & (POLLOUT | POLLWRNORM);
	if ((events & (POLLIN | POLLRDNORM)) != 0) {
		mtx_lock(&sc->sc_trapmtx);
		if (mbufq_len(&sc->sc_trapq) > 0)
			revents |= events & (POLLIN | POLLRDNORM);
		else
			selrecord(td, &sc->sc_rsel);
		mtx_unlock(&sc->sc_trapmtx);
	}
	return (revents);
}

static int
bsdnet_kern_kqfilter(struct cdev *dev, struct knote *kn)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;

	if (kn->kn_filter != EVFILT_READ)
		return (EINVAL);
	kn->kn_fop = &bsdnet_kern_read_filtops;
	kn->kn_hook = sc;
	knlist_add(&sc->sc_rsel.si_note, kn, 0);
	return (0);
}

static void
bsdnet_kern_kq_detach(struct knote *kn)
{
	struct bsdnet_kern_softc *sc = kn->kn_hook;

	knlist_remove(&sc->sc_rsel.si_note, kn, 0);
}

/* Called with sc_trapmtx held (knlist_init_mtx). */
static int
bsdnet_kern_kq_read(struct knote *kn, long hint __unused)
{
	struct bsdnet_kern_softc *sc = kn->kn_hook;

	kn->kn_data = mbufq_len(&sc->sc_trapq);
	return (kn->kn_data > 0);
}

static int
bsdnet_kern_mmap_single(struct cdev *dev, vm_ooffset_t *offset,
    vm_size_t size, struct vm_object **objp, int nprot __unused)
{
	struct bsdnet_kern_softc *sc = dev->si_drv1;
	int error;

	sx_slock(&sc->sc_lock);
	error = bsdnet_kern_region_mmap(sc, offset, size, objp);
	sx_sunlock(&sc->sc_lock);
	return (error);
}
