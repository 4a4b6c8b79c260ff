/*-
 * The event loop over ppoll(2): netmap ports, the control socket, the
 * 100 ms tick (bsdnetd_tick()) as the poll timeout, and SIGTERM/SIGINT
 * (stop) and SIGHUP (rescan vifs), which stay blocked except inside
 * ppoll so none is lost between two polls.
 *
 * netmap's poll() runs rxsync on a port's RX rings before reporting it
 * readable; TX rings written during a pass are synced at the end of it
 * (nmd_port_flush()), one ioctl per port rather than one per frame.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nmd.h"

static sigset_t nmd_waitmask;		/* mask inside ppoll */
static volatile sig_atomic_t nmd_sig_stop, nmd_sig_hup;

static void
nmd_signal(int sig)
{

	if (sig == SIGHUP)
		nmd_sig_hup = 1;
	else
		nmd_sig_stop = sig;
}

static int
nmd_loop_grow(struct bsdnetd_home *h)
{
	struct pollfd *pfd;
	uint32_t *vifs, cap;

	cap = h->h_cap == 0 ? 16 : 2 * h->h_cap;
	pfd = realloc(h->h_pfd, cap * sizeof(*pfd));
	if (pfd == NULL)
		return (-1);
	h->h_pfd = pfd;
	vifs = realloc(h->h_vifs, cap * sizeof(*vifs));
	if (vifs == NULL)
		return (-1);
	h->h_vifs = vifs;
	h->h_cap = cap;
	return (0);
}

int
nmd_loop_add(struct bsdnetd *d, int fd, uint32_t vif)
{
	struct bsdnetd_home *h = d->d_home;

	if (h->h_npfd == h->h_cap && nmd_loop_grow(h) != 0) {
		errno = ENOMEM;
		return (-1);
	}
	h->h_pfd[h->h_npfd].fd = fd;
	h->h_pfd[h->h_npfd].events = POLLIN;
	h->h_pfd[h->h_npfd].revents = 0;
	h->h_vifs[h->h_npfd] = vif;
	h->h_npfd++;
	return (0);
}

void
nmd_loop_del_fd(struct bsdnetd *d, int fd)
{
	struct bsdnetd_home *h = d->d_home;
	uint32_t i;

	for (i = 1; i < h->h_npfd; i++) {
		if (h->h_pfd[i].fd != fd)
			continue;
		h->h_npfd--;
		h->h_pfd[i] = h->h_pfd[h->h_npfd];
		h->h_vifs[i] = h->h_vifs[h->h_npfd];
		return;
	}
}

int
bsdnetd_loop_init(struct bsdnetd *d)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nmd_signal;
	(void)sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, &nmd_waitmask) != 0)
		goto fail;
	sigdelset(&nmd_waitmask, SIGTERM);
	sigdelset(&nmd_waitmask, SIGINT);
	sigdelset(&nmd_waitmask, SIGHUP);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		goto fail;
	(void)signal(SIGPIPE, SIG_IGN);
	d->d_home->h_npfd = 0;
	/* Slot 0 even without a control socket (fd -1 is ignored). */
	if (nmd_loop_add(d, d->d_ctl_fd, 0) != 0)
		goto fail;
	return (0);
fail:
	bsdnetd_log(BSDNETD_LOG_ERR, "event loop set-up: %s",
	    strerror(errno));
	return (-1);
}

static void
nmd_loop_signals(struct bsdnetd *d)
{

	if (nmd_sig_hup) {
		nmd_sig_hup = 0;
		bsdnetd_signal(d, SIGHUP);
	}
	if (nmd_sig_stop)
		bsdnetd_signal(d, nmd_sig_stop);
}

/* One pass over what ppoll reported.  Ports may detach meanwhile (a
 * control message, an error), which reorders h_pfd: each slot is read
 * before it is acted on. */
static void
nmd_loop_dispatch(struct bsdnetd *d, uint32_t n)
{
	struct bsdnetd_home *h = d->d_home;
	uint32_t i, vif;
	short rev;

	if ((h->h_pfd[0].revents & POLLIN) != 0)
		bsdnetd_trap_ctl_input(d);
	for (i = 1; i < n && i < h->h_npfd; i++) {
		rev = h->h_pfd[i].revents;
		vif = h->h_vifs[i];
		if ((rev & (POLLERR | POLLHUP | POLLNVAL)) != 0)
			bsdnetd_vif_error(d, vif, 0);
		else if ((rev & POLLIN) != 0)
			nmd_port_rx(d, vif);
	}
	nmd_port_flush(d);
}

int
bsdnetd_loop_run(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;
	struct timespec ts;
	uint64_t now, next;
	int n;

	/* Attach what the table already holds before the first tick. */
	bsdnetd_vif_scan(d);
	next = bsdnet_os_now_ms() + BSDNETD_TICK_MS;
	while (!d->d_stop) {
		now = bsdnet_os_now_ms();
		if (now >= next) {
			bsdnetd_tick(d);
			nmd_port_flush(d);
			next = now + BSDNETD_TICK_MS;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(next - now > BSDNETD_TICK_MS ?
		    BSDNETD_TICK_MS : next - now) * 1000000L;
		n = ppoll(h->h_pfd, h->h_npfd, &ts, &nmd_waitmask);
		if (n < 0) {
			if (errno == EINTR) {
				nmd_loop_signals(d);
				continue;
			}
			bsdnetd_log(BSDNETD_LOG_ERR, "ppoll: %s",
			    strerror(errno));
			return (-1);
		}
		if (n > 0)
			nmd_loop_dispatch(d, h->h_npfd);
		nmd_loop_signals(d);
	}
	return (0);
}

void
bsdnetd_loop_fini(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;

	free(h->h_pfd);
	free(h->h_vifs);
	h->h_pfd = NULL;
	h->h_vifs = NULL;
	h->h_npfd = h->h_cap = 0;
}
