/*-
 * The event loop: one epoll set over the port sockets, the control
 * socket, a 100 ms timerfd (bsdnetd_tick()) and a signalfd (SIGTERM and
 * SIGINT stop the loop; SIGHUP forces a vif scan).
 *
 * An epoll tag is kind << 32 | vif index.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lnx.h"

enum lnx_tag {
	LNX_TAG_PORT = 1,
	LNX_TAG_CTL = 2,
	LNX_TAG_TIMER = 3,
	LNX_TAG_SIGNAL = 4,
};
#define LNX_TAG(kind, idx)	((uint64_t)(kind) << 32 | (uint32_t)(idx))
#define LNX_MAX_EVENTS		64

static int
lnx_loop_add(struct bsdnetd *d, int fd, uint64_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = tag;
	return (epoll_ctl(d->d_home->h_epfd, EPOLL_CTL_ADD, fd, &ev));
}

int
lnx_loop_add_port(struct bsdnetd *d, int fd, uint32_t vif)
{

	return (lnx_loop_add(d, fd, LNX_TAG(LNX_TAG_PORT, vif)));
}

void
lnx_loop_del_fd(struct bsdnetd *d, int fd)
{

	(void)epoll_ctl(d->d_home->h_epfd, EPOLL_CTL_DEL, fd, NULL);
}

int
bsdnetd_loop_init(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;
	struct itimerspec its;
	sigset_t mask;

	h->h_flush = calloc(d->d_nvifs, sizeof(*h->h_flush));
	if (h->h_flush == NULL)
		goto fail;
	h->h_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->h_epfd < 0)
		goto fail;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked, so they are only seen through the signalfd. */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		goto fail;
	(void)signal(SIGPIPE, SIG_IGN);
	h->h_sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (h->h_sigfd < 0)
		goto fail;
	h->h_timerfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->h_timerfd < 0)
		goto fail;
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_nsec = BSDNETD_TICK_MS * 1000000L;
	its.it_value.tv_nsec = BSDNETD_TICK_MS * 1000000L;
	if (timerfd_settime(h->h_timerfd, 0, &its, NULL) != 0)
		goto fail;
	if (lnx_loop_add(d, h->h_sigfd, LNX_TAG(LNX_TAG_SIGNAL, 0)) != 0 ||
	    lnx_loop_add(d, h->h_timerfd, LNX_TAG(LNX_TAG_TIMER, 0)) != 0 ||
	    lnx_loop_add(d, d->d_ctl_fd, LNX_TAG(LNX_TAG_CTL, 0)) != 0)
		goto fail;
	return (0);
fail:
	bsdnetd_log(BSDNETD_LOG_ERR, "event loop set-up: %s",
	    strerror(errno));
	return (-1);
}

static void
lnx_loop_timer(struct bsdnetd *d)
{
	uint64_t expirations;

	if (read(d->d_home->h_timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	bsdnetd_tick(d);
}

static void
lnx_loop_signal(struct bsdnetd *d)
{
	struct signalfd_siginfo si;

	while (read(d->d_home->h_sigfd, &si, sizeof(si)) ==
	    (ssize_t)sizeof(si))
		bsdnetd_signal(d, (int)si.ssi_signo);
}

/* An attached port's interface keeps its filter (if stealing). */
static bool
lnx_loop_keeps_filter(void *arg, uint32_t ifindex)
{
	struct bsdnetd *d = arg;
	struct bsdnetd_port *po;
	uint32_t i;

	if (d->d_home->h_steal == LNX_STEAL_OFF)
		return (false);
	for (i = 0; i < d->d_nvifs; i++)
		if ((po = bsdnetd_vif_port(d, i)) != NULL &&
		    po->po_ifindex == ifindex)
			return (true);
	return (false);
}

static void
lnx_loop_swept(void *arg, const char *ifname)
{

	(void)arg;
	bsdnetd_log(BSDNETD_LOG_INFO, "%s: removed the tc filter an earlier "
	    "datapath left (no longer a vif): the host stack sees its "
	    "frames again", ifname);
}

int
bsdnetd_loop_run(struct bsdnetd *d)
{
	struct epoll_event ev[LNX_MAX_EVENTS];
	uint32_t kind, idx;
	int i, n;

	/* Attach what the table already holds before the first tick, then
	 * take away the filters a crashed datapath of this region left on
	 * interfaces that are no longer vifs. */
	bsdnetd_vif_scan(d);
	if (lnx_tc_sweep(d->d_home->h_tc_owner, lnx_loop_keeps_filter, d,
	    lnx_loop_swept) < 0)
		bsdnetd_log(BSDNETD_LOG_INFO, "tc filters of an earlier "
		    "datapath not looked for: %s", strerror(errno));
	while (!d->d_stop) {
		n = epoll_wait(d->d_home->h_epfd, ev, LNX_MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bsdnetd_log(BSDNETD_LOG_ERR, "epoll_wait: %s",
			    strerror(errno));
			return (-1);
		}
		for (i = 0; i < n; i++) {
			kind = (uint32_t)(ev[i].data.u64 >> 32);
			idx = (uint32_t)ev[i].data.u64;
			switch (kind) {
			case LNX_TAG_PORT:
				if ((ev[i].events & EPOLLERR) != 0)
					bsdnetd_vif_error(d, idx,
					    lnx_port_error(d, idx));
				if ((ev[i].events & EPOLLIN) != 0)
					lnx_port_rx(d, idx);
				break;
			case LNX_TAG_CTL:
				bsdnetd_trap_ctl_input(d);
				break;
			case LNX_TAG_TIMER:
				lnx_loop_timer(d);
				break;
			case LNX_TAG_SIGNAL:
				lnx_loop_signal(d);
				break;
			default:
				break;
			}
		}
		/* One kick per port for everything this batch queued. */
		lnx_port_flush(d);
	}
	return (0);
}

void
bsdnetd_loop_fini(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;

	if (h->h_timerfd >= 0)
		(void)close(h->h_timerfd);
	if (h->h_sigfd >= 0)
		(void)close(h->h_sigfd);
	if (h->h_epfd >= 0)
		(void)close(h->h_epfd);
	h->h_timerfd = h->h_sigfd = h->h_epfd = -1;
}
