/*-
 * The trap channel, the userspace stand-in for bsdnet.ko's /dev/bsdnet.
 *
 * One unix datagram socket, bound at --trap-socket (mode 0600):
 *  - out: each trap is one datagram, struct bsdnet_trap_hdr then the
 *    frame, sent without blocking to --agent-socket;
 *  - in: each control message is one datagram, struct bsdnet_ctl_hdr then
 *    its payload, checked by bsdnet_ctl_check(); a malformed message is
 *    logged (rate-limited) and counted, never acted on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "bsdnetd.h"

/* Room for the longest well-formed control message, and a byte more. */
#define BSDNETD_CTL_MAX	\
	(sizeof(struct bsdnet_ctl_hdr) + BSDNET_CTL_XMIT_MAX + 1)
/* Log at most this many malformed messages per tick. */
#define BSDNETD_CTL_LOG_BURST	5

static uint8_t bsdnetd_ctl_buf[BSDNETD_CTL_MAX];

static int
bsdnetd_trap_addr(const char *path, struct sockaddr_un *sun,
    socklen_t *lenp)
{
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(sun->sun_path)) {
		bsdnetd_log(BSDNETD_LOG_ERR, "socket path too long or empty: "
		    "%s", path);
		return (-1);
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	*lenp = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return (0);
}

/* Is someone bound at this path?  (A dead process's socket refuses.) */
static bool
bsdnetd_trap_in_use(const struct sockaddr_un *sun, socklen_t len)
{
	bool live;
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (false);
	live = connect(fd, (const struct sockaddr *)sun, len) == 0;
	(void)close(fd);
	return (live);
}

int
bsdnetd_trap_open(struct bsdnetd *d)
{
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	mode_t omask;
	int fd, rc;

	d->d_agent_len = 0;
	if (d->d_opts.o_agent_socket != NULL && bsdnetd_trap_addr(
	    d->d_opts.o_agent_socket, &d->d_agent_addr, &d->d_agent_len) != 0)
		return (-1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "trap socket: %s",
		    strerror(errno));
		return (-1);
	}
	d->d_ctl_fd = fd;
	if (d->d_opts.o_trap_socket == NULL)
		return (0);
	if (bsdnetd_trap_addr(d->d_opts.o_trap_socket, &sun, &len) != 0)
		return (-1);
	/* A socket left by a killed datapath is ours to replace; anything
	 * else at that path is not. */
	if (lstat(sun.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			bsdnetd_log(BSDNETD_LOG_ERR, "%s exists and is not a "
			    "socket", sun.sun_path);
			return (-1);
		}
		if (bsdnetd_trap_in_use(&sun, len)) {
			bsdnetd_log(BSDNETD_LOG_ERR, "%s is in use by a "
			    "running process (another datapath?)",
			    sun.sun_path);
			return (-1);
		}
		(void)unlink(sun.sun_path);
	}
	omask = umask(0077);
	rc = bind(fd, (struct sockaddr *)&sun, len);
	(void)umask(omask);
	if (rc != 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "bind %s: %s", sun.sun_path,
		    strerror(errno));
		return (-1);
	}
	d->d_ctl_bound = true;
	(void)chmod(sun.sun_path, 0600);
	return (0);
}

void
bsdnetd_trap_close(struct bsdnetd *d)
{
	if (d->d_ctl_fd >= 0)
		(void)close(d->d_ctl_fd);
	d->d_ctl_fd = -1;
	if (d->d_ctl_bound)
		(void)unlink(d->d_opts.o_trap_socket);
	d->d_ctl_bound = false;
}

bool
bsdnet_os_trap(struct bsdnet_dp *dp, const struct bsdnet_trap_hdr *hdr,
    const struct bsdnet_pkt *pkt)
{
	struct bsdnetd *d = dp->dp_os;
	struct bsdnet_trap_hdr th;
	struct msghdr msg;
	struct iovec iov[2];
	uint32_t len;

	if (d->d_agent_len == 0 || d->d_ctl_fd < 0)
		return (false);
	/* The datagram carries what we have, and says so. */
	th = *hdr;
	len = th.th_len;
	if (len > pkt->p_len)
		len = pkt->p_len;
	th.th_len = len;
	iov[0].iov_base = &th;
	iov[0].iov_len = sizeof(th);
	iov[1].iov_base = pkt->p_data;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &d->d_agent_addr;
	msg.msg_namelen = d->d_agent_len;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	if (sendmsg(d->d_ctl_fd, &msg, MSG_DONTWAIT) < 0) {
		d->d_cnt.c_trap_errors++;
		return (false);
	}
	return (true);
}

static unsigned int bsdnetd_ctl_logged;

static void bsdnetd_ctl_bad(struct bsdnetd *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bsdnetd_ctl_bad(struct bsdnetd *d, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	d->d_cnt.c_ctl_bad++;
	if (bsdnetd_ctl_logged >= BSDNETD_CTL_LOG_BURST)
		return;
	bsdnetd_ctl_logged++;
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	bsdnetd_log(BSDNETD_LOG_WARN, "malformed control message dropped (%ju "
	    "so far): %s", (uintmax_t)d->d_cnt.c_ctl_bad, what);
}

static void
bsdnetd_ctl_xmit(struct bsdnetd *d, const struct bsdnet_ctl_hdr *ch,
    const uint8_t *frame)
{
	const struct bsdnetd_vif *v = &d->d_vifs[ch->ch_vif];

	if (v->v_port == NULL) {
		bsdnetd_ctl_bad(d, "XMIT on vif %u, not attached", ch->ch_vif);
		return;
	}
	if (!bsdnet_ctl_xmit_fits(ch->ch_len, v->v_ifmtu)) {
		bsdnetd_ctl_bad(d, "XMIT of %u bytes on vif %u, MTU %u",
		    ch->ch_len, ch->ch_vif, v->v_ifmtu);
		return;
	}
	if (!bsdnetd_port_tx(d, ch->ch_vif, frame, ch->ch_len))
		bsdnetd_log(BSDNETD_LOG_DEBUG, "XMIT on vif %u failed",
		    ch->ch_vif);
	d->d_cnt.c_ctl_ok++;
}

static void
bsdnetd_ctl_one(struct bsdnetd *d, const uint8_t *buf, size_t n)
{
	struct bsdnet_ctl_hdr ch;
	int error;

	memset(&ch, 0, sizeof(ch));
	if (n >= sizeof(ch))
		memcpy(&ch, buf, sizeof(ch));
	error = bsdnet_ctl_check(&ch, n, d->d_nvifs);
	if (error != BSDNET_CTL_OK) {
		bsdnetd_ctl_bad(d, "%s (type %u, vif %u, %zu bytes)",
		    bsdnet_ctl_strerror(error), ch.ch_type, ch.ch_vif, n);
		return;
	}
	switch (ch.ch_type) {
	case BSDNET_CTL_RELEASE:
		bsdnet_dp_release(&d->d_dp, ch.ch_flow, ch.ch_gen);
		break;
	case BSDNET_CTL_XMIT:
		bsdnetd_ctl_xmit(d, &ch, buf + sizeof(ch));
		return;
	case BSDNET_CTL_VIF_SYNC:
		bsdnetd_vif_scan(d);
		break;
	}
	d->d_cnt.c_ctl_ok++;
}

/* Drain the control socket (bounded, so the rings get their turn). */
void
bsdnetd_trap_ctl_input(struct bsdnetd *d)
{
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = recv(d->d_ctl_fd, bsdnetd_ctl_buf, sizeof(bsdnetd_ctl_buf),
		    MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				bsdnetd_log(BSDNETD_LOG_WARN,
				    "control recv: %s", strerror(errno));
			return;
		}
		/* A longer datagram is cut to the buffer (or, on Linux,
		 * MSG_TRUNC gives its length): bsdnet_ctl_check() refuses
		 * it either way. */
		bsdnetd_ctl_one(d, bsdnetd_ctl_buf, (size_t)n);
	}
}

void
bsdnetd_trap_tick(struct bsdnetd *d)
{
	(void)d;
	bsdnetd_ctl_logged = 0;
}
