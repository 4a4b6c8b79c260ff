/*
 * The trap channel (read, poll, kqueue, a blocking read, a signal) and
 * the control channel (XMIT, RELEASE); then the module taken down while
 * traffic keeps coming.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "kh_user.h"

struct blocked {
	struct agent	*a;
	int		 pid;
	long		 n;
};

static void
blocking_read(void *arg)
{
	struct blocked *b = arg;
	uint8_t *u = kh_umem(b->pid, 4096);

	b->n = kh_read(b->pid, b->a->fd, u, 4096, 0);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

SCENARIO(traps)
{
	const char *ifs[] = { "tap0", "vtnet0" };
	const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };
	struct bsdnet_trap_hdr th;
	struct node me, peer;
	struct agent a;
	struct blocked b;
	uint8_t f[2048], g[2048];
	uint32_t len;
	long data, n;
	void *t;

	node_single(&a, &me, &peer);
	CHECK_EQ(kh_poll(a.pid, a.fd, POLLIN, 0), 0);
	CHECK_EQ(kh_kqueue_read(a.pid, a.fd, &data), 0);
	len = node_dhcp_frame(f, &me);
	CHECK_EQ(kh_if_rx(me.tap, f, len, 2, 0), 0);
	CHECK_EQ(kh_poll(a.pid, a.fd, POLLIN, 1000), POLLIN);
	CHECK_EQ(kh_kqueue_read(a.pid, a.fd, &data), 1);
	CHECK_EQ(data, 1);
	n = ag_read_trap(&a, &th, g, sizeof(g));
	CHECK_EQ(n, len);
	CHECK_EQ(th.th_reason, BSDNET_TRAP_DHCP);
	CHECK_EQ(th.th_vif, KH_VIF_VM);
	CHECK(memcmp(f, g, len) == 0);
	CHECK_EQ(ag_read_trap(&a, &th, g, sizeof(g)), 0);
	CHECK_EQ(ag_stats(&a).is_traps, 1);
	/* A reader sleeping in read(2) is woken by the next trap... */
	b.a = &a;
	b.pid = a.pid;
	t = kh_uthread_start(a.pid, blocking_read, &b);
	sleep_ms(50);
	CHECK_EQ(kh_if_rx(me.tap, f, len, 2, 0), 0);
	kh_uthread_join(t);
	CHECK_EQ(b.n, (long)(sizeof(th) + len));
	/* ... and by a signal (PCATCH). */
	t = kh_uthread_start(a.pid, blocking_read, &b);
	sleep_ms(50);
	kh_proc_signal(a.pid);
	kh_uthread_join(t);
	CHECK_EQ(b.n, -EINTR);
	/* XMIT: the agent's DHCP answer goes out of the VM's tap. */
	memcpy(g, f, len);
	memcpy(g, me.vm_mac, 6);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_XMIT, KH_VIF_VM, 0, 0, g, len), 0);
	CHECK_EQ(kh_if_tx_take(me.tap, f, sizeof(f)), len);
	CHECK(memcmp(f, g, len) == 0);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_XMIT, 7, 0, 0, g, len), ENXIO);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_XMIT, KH_VIF_VM, 0, 0, g, 10), EINVAL);
	/* The core's rules (bsdnet_ctl_check()), then the tap's MTU. */
	memset(g + len, 0, sizeof(g) - len);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_XMIT, KH_VIF_VM, 0, 0, g, 1518), 0);
	CHECK_EQ(kh_if_tx_take(me.tap, f, sizeof(f)), 1518);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_XMIT, KH_VIF_VM, 0, 0, g, 1519),
	    FB_EMSGSIZE);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_XMIT, 16, 0, 0, g, len), EINVAL);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_VIF_SYNC, 0, 0, 0, g, 4), EINVAL);
	CHECK_EQ(ag_ctl(&a, 9, 0, 0, 0, NULL, 0), EINVAL);
	/* RELEASE of a flow that is not held: the core checks, no harm. */
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_RELEASE, 0, 12345, 7, NULL, 0), 0);
	CHECK_EQ(ag_ctl(&a, BSDNET_CTL_VIF_SYNC, 0, 0, 0, NULL, 0), 0);
	ag_teardown(&a, ifs, vifs, 2);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

struct traffic {
	struct node	*me, *peer;
	volatile int	 stop;
	unsigned long	 sent;
};

static void
traffic(void *arg)
{
	struct traffic *tr = arg;
	uint8_t f[2048], g[2048];
	uint32_t lv, lf, la, ld;

	lv = node_vm_frame(f, tr->me, tr->peer, 200, 1);
	lf = node_fabric_frame(g, tr->me, tr->peer, 200);
	while (!tr->stop) {
		(void)kh_if_rx(tr->me->tap, f, lv, 2, 0);
		(void)kh_if_rx(tr->me->fabric, g, lf, 2, 0);
		la = node_arp_request(f + 1024, tr->me, tr->peer->vm_ip);
		(void)kh_if_rx(tr->me->tap, f + 1024, la, 2, 0);
		ld = node_dhcp_frame(g + 1024, tr->me);
		(void)kh_if_rx(tr->me->tap, g + 1024, ld, 2, 0);
		/* The VM and the wire take what was sent to them. */
		while (kh_if_tx_take(tr->me->tap, f + 1100, 900) > 0)
			;
		while (kh_if_tx_take(tr->me->fabric, g + 1100, 900) > 0)
			;
		tr->sent += 4;
	}
}

/*
 * Detach, re-attach, destroy and unload while frames keep arriving on
 * both interfaces from another CPU, the tick runs and traps queue.
 */
SCENARIO(unload_in_flight)
{
	struct node me, peer;
	struct traffic tr;
	struct agent a;
	int pid, i;
	void *t;

	node_single(&a, &me, &peer);
	tr.me = &me;
	tr.peer = &peer;
	tr.stop = 0;
	tr.sent = 0;
	pid = kh_proc_new(0);
	t = kh_uthread_start(pid, traffic, &tr);
	for (i = 0; i < 20; i++) {
		sleep_ms(5);
		kh_callout_run_due();
		CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), 0);
		CHECK_EQ(ag_attach(&a, "tap0", KH_VIF_VM,
		    BSDNET_IOC_F_ROUTER_MAC), 0);
	}
	CHECK(th_st()->st_encaps > 0);
	CHECK(th_st()->st_decaps > 0);
	CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), 0);
	CHECK_EQ(ag_detach(&a, "vtnet0", KH_VIF_FAB), 0);
	ag_unmap(&a);
	CHECK_EQ(ag_destroy(&a), 0);
	ag_stop(&a);			/* queued traps die with the module */
	CHECK_EQ(kh_kldunload(), 0);
	sleep_ms(20);			/* unowned frames reach the stack */
	tr.stop = 1;
	kh_uthread_join(t);
	kh_proc_exit(pid);
	NOTE("%lu frames in flight", tr.sent);
	CHECK(kh_if_stack_count("vtnet0") > 0);
	kh_shutdown();
}
