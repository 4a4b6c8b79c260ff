/*-
 * The bsdnet_os_*() functions the forwarding core calls (transmit, copy,
 * clock and log; the trap is in bsdnetd_trap.c beside its channel), and
 * the daemon's log: stderr, each line led by the home's name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bsdnetd.h"

int bsdnetd_log_level = BSDNETD_LOG_INFO;

static const char *const bsdnetd_level_names[] = {
	"error", "warning", "info", "debug",
};

static void
bsdnetd_vlog(int level, const char *fmt, va_list ap)
{
	char msg[512];

	if (level > bsdnetd_log_level)
		return;
	if (level < BSDNETD_LOG_ERR)
		level = BSDNETD_LOG_ERR;
	if (level > BSDNETD_LOG_DEBUG)
		level = BSDNETD_LOG_DEBUG;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line so lines from a crash stay whole. */
	(void)fprintf(stderr, "%s: %s: %s\n", bsdnetd_about.a_name,
	    bsdnetd_level_names[level], msg);
}

void
bsdnetd_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bsdnetd_vlog(level, fmt, ap);
	va_end(ap);
}

void
bsdnet_os_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bsdnetd_vlog(level, fmt, ap);
	va_end(ap);
}

uint64_t
bsdnet_os_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* Frames are whole and contiguous in this home: copy, bounded. */
void
bsdnet_os_copydata(const struct bsdnet_pkt *pkt, uint32_t off, uint32_t len,
    void *dst)
{
	if (off > pkt->p_len || len > pkt->p_len - off) {
		memset(dst, 0, len);
		return;
	}
	memcpy(dst, pkt->p_data + off, len);
}

/* Frames always have their headroom here: never a prepend. */
uint8_t *
bsdnet_os_prepend(struct bsdnet_dp *dp, struct bsdnet_pkt *pkt,
    uint32_t drop, uint32_t len)
{
	(void)dp, (void)pkt, (void)drop, (void)len;
	return (NULL);
}

bool
bsdnet_os_tx(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt)
{
	struct bsdnetd *d = dp->dp_os;

	return (bsdnetd_port_tx(d, vif, pkt->p_data, pkt->p_len));
}
