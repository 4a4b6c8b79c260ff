/*-
 * The event loop: one epoll set over the port sockets, the control
 * socket, a 100 ms timerfd (bsdnet_dp_tick and the vif scan) and a
 * signalfd (SIGTERM/SIGINT stop the loop; SIGHUP forces a vif scan).
 *
 * An epoll tag is kind << 32 | vif index.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dpl.h"

#define DPL_TAG(kind, idx)	((uint64_t)(kind) << 32 | (uint32_t)(idx))
#define DPL_MAX_EVENTS		64

static int
dpl_loop_add(struct dpl *d, int fd, uint64_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = tag;
	return (epoll_ctl(d->d_epfd, EPOLL_CTL_ADD, fd, &ev));
}

int
dpl_loop_add_port(struct dpl *d, int fd, uint32_t vif)
{
	return (dpl_loop_add(d, fd, DPL_TAG(DPL_TAG_PORT, vif)));
}

void
dpl_loop_del_fd(struct dpl *d, int fd)
{
	(void)epoll_ctl(d->d_epfd, EPOLL_CTL_DEL, fd, NULL);
}

int
dpl_loop_init(struct dpl *d)
{
	struct itimerspec its;
	sigset_t mask;

	d->d_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->d_epfd < 0)
		goto fail;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked, so they are only seen through the signalfd. */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		goto fail;
	(void)signal(SIGPIPE, SIG_IGN);
	d->d_sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->d_sigfd < 0)
		goto fail;
	d->d_timerfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->d_timerfd < 0)
		goto fail;
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_nsec = DPL_TICK_MS * 1000000L;
	its.it_value.tv_nsec = DPL_TICK_MS * 1000000L;
	if (timerfd_settime(d->d_timerfd, 0, &its, NULL) != 0)
		goto fail;
	if (dpl_loop_add(d, d->d_sigfd, DPL_TAG(DPL_TAG_SIGNAL, 0)) != 0 ||
	    dpl_loop_add(d, d->d_timerfd, DPL_TAG(DPL_TAG_TIMER, 0)) != 0 ||
	    dpl_loop_add(d, d->d_ctl_fd, DPL_TAG(DPL_TAG_CTL, 0)) != 0)
		goto fail;
	return (0);
fail:
	dpl_log(DPL_LOG_ERR, "event loop set-up: %s", strerror(errno));
	return (-1);
}

static void
dpl_loop_timer(struct dpl *d)
{
	uint64_t expirations;

	if (read(d->d_timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	bsdnet_dp_tick(&d->d_dp);
	dpl_trap_tick(d);
	dpl_vif_scan(d);
}

static void
dpl_loop_signal(struct dpl *d)
{
	struct signalfd_siginfo si;

	while (read(d->d_sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			dpl_log(DPL_LOG_INFO, "SIGHUP: rescanning vifs");
			dpl_vif_scan(d);
			continue;
		}
		dpl_log(DPL_LOG_INFO, "%s: stopping",
		    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		d->d_stop = true;
	}
}

int
dpl_loop_run(struct dpl *d)
{
	struct epoll_event ev[DPL_MAX_EVENTS];
	uint32_t kind, idx;
	int i, n;

	/* Attach what the table already holds before the first tick. */
	dpl_vif_scan(d);
	while (!d->d_stop) {
		n = epoll_wait(d->d_epfd, ev, DPL_MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dpl_log(DPL_LOG_ERR, "epoll_wait: %s", strerror(errno));
			return (-1);
		}
		for (i = 0; i < n; i++) {
			kind = (uint32_t)(ev[i].data.u64 >> 32);
			idx = (uint32_t)ev[i].data.u64;
			switch (kind) {
			case DPL_TAG_PORT:
				if ((ev[i].events & EPOLLERR) != 0)
					dpl_vif_error(d, idx);
				if ((ev[i].events & EPOLLIN) != 0)
					dpl_port_rx(d, idx);
				break;
			case DPL_TAG_CTL:
				dpl_trap_ctl_input(d);
				break;
			case DPL_TAG_TIMER:
				dpl_loop_timer(d);
				break;
			case DPL_TAG_SIGNAL:
				dpl_loop_signal(d);
				break;
			default:
				break;
			}
		}
		/* One kick per port for everything this batch queued. */
		dpl_port_flush(d);
	}
	return (0);
}

void
dpl_loop_fini(struct dpl *d)
{
	if (d->d_timerfd >= 0)
		(void)close(d->d_timerfd);
	if (d->d_sigfd >= 0)
		(void)close(d->d_sigfd);
	if (d->d_epfd >= 0)
		(void)close(d->d_epfd);
	d->d_timerfd = d->d_sigfd = d->d_epfd = -1;
}
