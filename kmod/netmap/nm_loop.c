/*-
 * The event loop over ppoll(2): netmap ports, the control socket, the
 * 100 ms tick (bsdnet_dp_tick, trap refill, vif scan) as the poll
 * timeout, and SIGTERM/SIGINT (stop) and SIGHUP (rescan vifs), which stay
 * blocked except inside ppoll so none is lost between two polls.
 *
 * netmap's poll() runs rxsync on a port's RX rings before reporting it
 * readable; TX rings written during a pass are synced at the end of it
 * (dpl_port_flush), one ioctl per port rather than one per frame.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nm.h"

/* pfd[0] is the control socket; pfd[i > 0] the port of vifs[i]. */
static struct pollfd *nm_pfd;
static uint32_t *nm_vifs;
static uint32_t nm_npfd, nm_cap;
static sigset_t nm_waitmask;		/* mask inside ppoll */
static volatile sig_atomic_t nm_sig_stop, nm_sig_hup;

static void
nm_signal(int sig)
{
	if (sig == SIGHUP)
		nm_sig_hup = 1;
	else
		nm_sig_stop = sig;
}

static int
nm_loop_grow(void)
{
	struct pollfd *pfd;
	uint32_t *vifs, cap;

	cap = nm_cap == 0 ? 16 : 2 * nm_cap;
	pfd = realloc(nm_pfd, cap * sizeof(*pfd));
	if (pfd == NULL)
		return (-1);
	nm_pfd = pfd;
	vifs = realloc(nm_vifs, cap * sizeof(*vifs));
	if (vifs == NULL)
		return (-1);
	nm_vifs = vifs;
	nm_cap = cap;
	return (0);
}

static int
nm_loop_add(int fd, uint32_t vif)
{
	if (nm_npfd == nm_cap && nm_loop_grow() != 0) {
		errno = ENOMEM;
		return (-1);
	}
	nm_pfd[nm_npfd].fd = fd;
	nm_pfd[nm_npfd].events = POLLIN;
	nm_pfd[nm_npfd].revents = 0;
	nm_vifs[nm_npfd] = vif;
	nm_npfd++;
	return (0);
}

int
dpl_loop_add_port(struct dpl *d, int fd, uint32_t vif)
{
	(void)d;
	return (nm_loop_add(fd, vif));
}

void
dpl_loop_del_fd(struct dpl *d, int fd)
{
	uint32_t i;

	(void)d;
	for (i = 1; i < nm_npfd; i++) {
		if (nm_pfd[i].fd != fd)
			continue;
		nm_npfd--;
		nm_pfd[i] = nm_pfd[nm_npfd];
		nm_vifs[i] = nm_vifs[nm_npfd];
		return;
	}
}

int
dpl_loop_init(struct dpl *d)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nm_signal;
	(void)sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, &nm_waitmask) != 0)
		goto fail;
	sigdelset(&nm_waitmask, SIGTERM);
	sigdelset(&nm_waitmask, SIGINT);
	sigdelset(&nm_waitmask, SIGHUP);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		goto fail;
	(void)signal(SIGPIPE, SIG_IGN);
	nm_npfd = 0;
	/* Slot 0 even without a control socket (fd -1 is ignored). */
	if (nm_loop_add(d->d_ctl_fd, 0) != 0)
		goto fail;
	return (0);
fail:
	dpl_log(DPL_LOG_ERR, "event loop set-up: %s", strerror(errno));
	return (-1);
}

static uint64_t
nm_now_ms(void)
{
	return (bsdnet_os_now_ms());
}

static void
nm_loop_tick(struct dpl *d)
{
	bsdnet_dp_tick(&d->d_dp);
	dpl_trap_tick(d);
	dpl_vif_scan(d);
}

static void
nm_loop_signals(struct dpl *d)
{
	if (nm_sig_hup) {
		nm_sig_hup = 0;
		dpl_log(DPL_LOG_INFO, "SIGHUP: rescanning vifs");
		dpl_vif_scan(d);
	}
	if (nm_sig_stop) {
		dpl_log(DPL_LOG_INFO, "%s: stopping",
		    nm_sig_stop == SIGTERM ? "SIGTERM" : "SIGINT");
		d->d_stop = true;
	}
}

/* One pass over what ppoll reported.  Ports may detach meanwhile (a
 * control message, an error), which reorders nm_pfd: copy first. */
static void
nm_loop_dispatch(struct dpl *d, uint32_t n)
{
	uint32_t i, vif;
	short rev;

	if ((nm_pfd[0].revents & POLLIN) != 0)
		dpl_trap_ctl_input(d);
	for (i = 1; i < n && i < nm_npfd; i++) {
		rev = nm_pfd[i].revents;
		vif = nm_vifs[i];
		if ((rev & (POLLERR | POLLHUP | POLLNVAL)) != 0)
			dpl_vif_error(d, vif);
		else if ((rev & POLLIN) != 0)
			dpl_port_rx(d, vif);
	}
	dpl_port_flush(d);
}

int
dpl_loop_run(struct dpl *d)
{
	struct timespec ts;
	uint64_t now, next;
	int n;

	/* Attach what the table already holds before the first tick. */
	dpl_vif_scan(d);
	next = nm_now_ms() + DPL_TICK_MS;
	while (!d->d_stop) {
		now = nm_now_ms();
		if (now >= next) {
			nm_loop_tick(d);
			dpl_port_flush(d);
			next = now + DPL_TICK_MS;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(next - now > DPL_TICK_MS ? DPL_TICK_MS :
		    next - now) * 1000000L;
		n = ppoll(nm_pfd, nm_npfd, &ts, &nm_waitmask);
		if (n < 0) {
			if (errno == EINTR) {
				nm_loop_signals(d);
				continue;
			}
			dpl_log(DPL_LOG_ERR, "ppoll: %s", strerror(errno));
			return (-1);
		}
		if (n > 0)
			nm_loop_dispatch(d, nm_npfd);
		nm_loop_signals(d);
	}
	return (0);
}

void
dpl_loop_fini(struct dpl *d)
{
	(void)d;
	free(nm_pfd);
	free(nm_vifs);
	nm_pfd = NULL;
	nm_vifs = NULL;
	nm_npfd = nm_cap = 0;
	nm_port_fini();
}
