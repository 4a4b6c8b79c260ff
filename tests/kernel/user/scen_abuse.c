/*
 * Userland as an attacker: garbage in every ioctl and control message,
 * and the header's offsets overwritten while the module works.  The
 * module may refuse, never crash, leak or touch what is not its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "kh_user.h"

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (rnd_state);
}

static void
rnd_fill(void *p, size_t n)
{
	uint8_t *b = p;

	while (n-- > 0)
		*b++ = (uint8_t)rnd();
}

static void
garbage_geometry(struct agent *a)
{
	struct bsdnet_ioc_geometry g;
	int i, error, ok = 0;

	for (i = 0; i < 300; i++) {
		rnd_fill(&g, sizeof(g));
		if (i % 3 == 0) {		/* plausible sizes, some wrong */
			g.ig_nvifs = (uint32_t)(rnd() % 64);
			g.ig_nnexthops = (uint32_t)(rnd() % 256);
			g.ig_nlabels = (uint32_t)(rnd() % 128);
			g.ig_nvrfs = (uint32_t)(rnd() % 8);
			g.ig_nrtbuckets = (uint32_t)(rnd() % 128);
			g.ig_nflowbuckets = 1u << (rnd() % 8);
			g.ig_novfbuckets = (uint32_t)(rnd() % 16);
			g.ig_maxhold = (uint32_t)(rnd() % 32);
		}
		error = ag_ioctl(a, BSDNET_IOC_CREATE, &g, sizeof(g));
		CHECK(error == 0 || error == EINVAL || error == EFBIG);
		if (error == 0) {
			ok++;
			CHECK_EQ(ag_destroy(a), 0);
		}
	}
	NOTE("%d of 300 random geometries were valid", ok);
}

static void
garbage_attach(struct agent *a)
{
	struct bsdnet_ioc_attach ia;
	int i, error;

	for (i = 0; i < 300; i++) {
		rnd_fill(&ia, sizeof(ia));
		if (i % 2 == 0)
			ia.ia_vif %= 32;
		if (i % 4 == 0) {
			memcpy(ia.ia_ifname, "tap0\0garbage", 12);
			ia.ia_flags &= 1;
		}
		error = ag_ioctl(a, i % 5 == 0 ? BSDNET_IOC_DETACH :
		    BSDNET_IOC_ATTACH, &ia, sizeof(ia));
		CHECK(error == 0 || error == EINVAL || error == ENOENT ||
		    error == EEXIST || error == EBUSY || error == ESRCH ||
		    error == FB_EPFNOSUPPORT);
		if (error == 0 && i % 5 != 0)
			CHECK_EQ(ag_detach(a, "", ia.ia_vif), 0);
	}
}

static void
garbage_control(struct agent *a)
{
	uint8_t *u = kh_umem(a->pid, 12000);
	long n;
	int i;

	for (i = 0; i < 500; i++) {
		size_t len = (size_t)(rnd() % (i % 2 ? 40 : 11000));

		rnd_fill(u, len);
		if (i % 3 == 0 && len >= sizeof(struct bsdnet_ctl_hdr)) {
			struct bsdnet_ctl_hdr *ch = (void *)u;

			ch->ch_type = (uint16_t)(rnd() % 5);
			ch->ch_vif = (uint16_t)(rnd() % 20);
			if (i % 6 == 0)
				ch->ch_len = (uint32_t)(len - sizeof(*ch));
		}
		n = kh_write(a->pid, a->fd, u, len);
		CHECK(n == (long)len || n == -EINVAL || n == -ENXIO ||
		    n == -FB_EMSGSIZE || n == -FB_ENOBUFS);
	}
	/* Short and long reads, an mmap beyond the end. */
	CHECK_EQ(kh_read(a->pid, a->fd, u, 1, 1), -FB_EWOULDBLOCK);
}

SCENARIO(garbage)
{
	struct node me, peer;
	struct agent a;
	int error;

	node_single(&a, &me, &peer);
	/* Commands the device does not have; a kernel address as argument. */
	CHECK_EQ(ag_ioctl(&a, _IOWR('B', 99, struct bsdnet_ioc_geometry),
	    &a.geo, sizeof(a.geo)), ENOTTY);
	CHECK_EQ(ag_ioctl(&a, _IOW('B', 4, int), &error, sizeof(error)),
	    ENOTTY);
	CHECK_EQ(kh_ioctl(a.pid, a.fd, BSDNET_IOC_GEOMETRY, &a.geo), EFAULT);
	CHECK(kh_mmap(a.pid, a.fd, a.size + 4096, 0, &error) == NULL);
	CHECK_EQ(error, EINVAL);
	CHECK(kh_mmap(a.pid, a.fd, 4096, a.size, &error) == NULL);
	CHECK_EQ(error, EINVAL);
	garbage_attach(&a);
	garbage_control(&a);
	/* Garbage may have detached a port by its number: bind again. */
	(void)ag_detach(&a, "", KH_VIF_FAB);
	(void)ag_detach(&a, "", KH_VIF_VM);
	CHECK_EQ(node_attach(&a, &me), 0);
	/* The tables stand and still forward. */
	CHECK_EQ(ag_stats(&a).is_nports, 2);
	{
		uint8_t f[64];

		CHECK_EQ(kh_if_rx(me.tap, f, node_arp_request(f, &me,
		    peer.vm_ip), 2, 0), 0);
		CHECK(node_arp_answered(&me));
	}
	CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), 0);
	CHECK_EQ(ag_detach(&a, "vtnet0", KH_VIF_FAB), 0);
	ag_unmap(&a);
	CHECK_EQ(ag_destroy(&a), 0);
	garbage_geometry(&a);
	ag_stop(&a);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

struct scribble {
	struct bsdnet_region_hdr *hdr;
	volatile int		  stop;
};

static void *
scribble_offsets(void *arg)
{
	struct scribble *s = arg;
	uint64_t *off = &s->hdr->rh_off_vifs;
	size_t i, n = (size_t)(&s->hdr->rh_off_flowtags - off) + 1;

	while (!s->stop)
		for (i = 0; i < n; i++)
			__atomic_store_n(&off[i], rnd() % 3 == 0 ? rnd() :
			    rnd() % (1u << 24), __ATOMIC_RELAXED);
	return (NULL);
}

/*
 * The header's offsets are the kernel's, on a page the agent maps
 * writable: rewritten under the module's feet (finding 2: attach read
 * rh_off_vifs again), nothing may follow them.
 */
SCENARIO(header_overwrite)
{
	struct bsdnet_region_hdr saved;
	struct node me, peer;
	struct scribble s;
	struct agent a;
	pthread_t t;
	uint8_t f[64];
	int i;

	node_single(&a, &me, &peer);
	memcpy(&saved, th_hdr(), sizeof(saved));
	CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), 0);
	/* Past the region's end: where the old code would write. */
	th_hdr()->rh_off_vifs = a.size;
	CHECK_EQ(ag_attach(&a, "tap0", KH_VIF_VM, BSDNET_IOC_F_ROUTER_MAC), 0);
	th_hdr()->rh_off_vifs = saved.rh_off_vifs;
	CHECK_EQ(th_vif(KH_VIF_VM)->vif_os_index, kh_if_index("tap0"));
	s.hdr = th_hdr();
	s.stop = 0;
	pthread_create(&t, NULL, scribble_offsets, &s);
	for (i = 0; i < 200; i++) {
		CHECK_EQ(kh_if_rx(me.tap, f, node_arp_request(f, &me,
		    peer.vm_ip), 2, 0), 0);
		if (i % 50 == 0) {
			CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), 0);
			CHECK_EQ(ag_attach(&a, "tap0", KH_VIF_VM,
			    BSDNET_IOC_F_ROUTER_MAC), 0);
		}
		kh_callout_run_due();
	}
	s.stop = 1;
	pthread_join(t, NULL);
	memcpy(&th_hdr()->rh_off_vifs, &saved.rh_off_vifs,
	    (size_t)((char *)&saved.rh_off_flowtags -
	    (char *)&saved.rh_off_vifs) +
	    sizeof(saved.rh_off_flowtags));
	while (kh_if_tx_take(me.tap, f, sizeof(f)) > 0)
		;
	{
		const char *ifs[] = { "tap0", "vtnet0" };
		const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };

		ag_teardown(&a, ifs, vifs, 2);
	}
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}
