/*-
 * Batched trap channel I/O for the agent (see abi_helpers.h): one
 * recvmmsg() for up to n trap datagrams, one sendmmsg() for a batch of
 * RELEASE messages, so a batch of flows costs a few system calls instead
 * of two per flow.  Userland only (Linux and FreeBSD both have *mmsg).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "abi_helpers.h"

#define TRAPIO_MAX_BATCH	256

int
bsdnet_agent_recv_batch(int fd, uint8_t *buf, uint32_t slot, uint32_t n,
    uint32_t *lens, int wait)
{
	struct mmsghdr mm[TRAPIO_MAX_BATCH];
	struct iovec iov[TRAPIO_MAX_BATCH];
	uint32_t i;
	int got;

	if (n > TRAPIO_MAX_BATCH)
		n = TRAPIO_MAX_BATCH;
	memset(mm, 0, sizeof(mm[0]) * n);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = buf + (size_t)i * slot;
		iov[i].iov_len = slot;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	/* wait: block (up to the socket's SO_RCVTIMEO) for the first
	 * datagram, then take what else is queued without waiting. */
	got = recvmmsg(fd, mm, n, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
	if (got < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 0 : -errno);
	for (i = 0; i < (uint32_t)got; i++)
		/* A datagram larger than a slot is cut: say so with the
		 * slot size plus one, so the caller can drop it. */
		lens[i] = (mm[i].msg_hdr.msg_flags & MSG_TRUNC) ? slot + 1 :
		    mm[i].msg_len;
	return (got);
}

int
bsdnet_agent_release_batch(int fd, const char *path, const uint32_t *flows,
    const uint32_t *gens, uint32_t n)
{
	struct mmsghdr mm[TRAPIO_MAX_BATCH];
	struct iovec iov[TRAPIO_MAX_BATCH];
	struct bsdnet_ctl_hdr ch[TRAPIO_MAX_BATCH];
	struct sockaddr_un sun;
	socklen_t slen;
	size_t plen;
	uint32_t i, sent;
	int rc;

	plen = strlen(path);
	if (plen == 0 || plen >= sizeof(sun.sun_path))
		return (-ENAMETOOLONG);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
	for (sent = 0; sent < n; sent += (uint32_t)rc) {
		uint32_t m = n - sent;

		if (m > TRAPIO_MAX_BATCH)
			m = TRAPIO_MAX_BATCH;
		memset(mm, 0, sizeof(mm[0]) * m);
		for (i = 0; i < m; i++) {
			memset(&ch[i], 0, sizeof(ch[i]));
			ch[i].ch_type = BSDNET_CTL_RELEASE;
			ch[i].ch_flow = flows[sent + i];
			ch[i].ch_gen = gens[sent + i];
			iov[i].iov_base = &ch[i];
			iov[i].iov_len = sizeof(ch[i]);
			mm[i].msg_hdr.msg_name = &sun;
			mm[i].msg_hdr.msg_namelen = slen;
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		rc = sendmmsg(fd, mm, m, MSG_DONTWAIT);
		if (rc <= 0)
			return (sent > 0 ? (int)sent : -errno);
	}
	return ((int)sent);
}
