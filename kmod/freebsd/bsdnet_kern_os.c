/*-
 * The bsdnet_os_*() functions for the kernel, and mbufs to packet views
 * and back.
 *
 * The core wants min(totlen, BSDNET_PULLUP) contiguous, writable bytes at
 * p_data.  A frame whose first mbuf holds that much and is writable (not
 * a cluster shared by a bridge's flood or a bpf peer) is used in place,
 * zero copy.  Any other gets its head copied into a fresh cluster, the
 * rest of the chain untouched (net.bsdnet.stats.copies); m_pullup() stops
 * at MHLEN bytes, less than BSDNET_PULLUP.
 *
 * Headroom: a NIC or tap frame has only ETHER_ALIGN in front, so the core
 * calls bsdnet_os_prepend() and the outer headers go into an mbuf put in
 * front with M_PREPEND, as gre(4) does (net.bsdnet.stats.prepends).
 *
 * While the core holds the packet the mbuf is not touched, so the first
 * mbuf's data ending at mtod(m) + m_len locates the bytes past the
 * contiguous part whatever the core did to p_data.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/proc.h>
#include <sys/sched.h>
#include <sys/pcpu.h>
#include <sys/selinfo.h>
#include <sys/callout.h>
#include <sys/counter.h>
#include <sys/epoch.h>
#include <sys/eventhandler.h>
#include <sys/syslog.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/ck.h>
#include <machine/stdarg.h>

#include <vm/vm.h>

#include <net/if.h>
#include <net/if_var.h>
#include <net/pfil.h>
#include <net/vnet.h>

#include "bsdnet_kern.h"

/* Bytes from p_data to the end of the first mbuf's data. */
static uint32_t
bsdnet_kern_first_avail(const struct bsdnet_pkt *pkt)
{
	const struct mbuf *m = pkt->p_os;
	const uint8_t *end = mtod(m, const uint8_t *) + m->m_len;

	return (end > pkt->p_data ? (uint32_t)(end - pkt->p_data) : 0);
}

/*
 * Make m what the core needs (see the top of the file).  Consumes m;
 * returns NULL (frame dropped) when no cluster is available.
 */
static struct mbuf *
bsdnet_kern_prepare(struct mbuf *m)
{
	struct mbuf *n;
	int need, copy, totlen;

	totlen = m->m_pkthdr.len;
	need = imin(totlen, BSDNET_PULLUP);
	if (m->m_len >= need && M_WRITABLE(m))
		return (m);

	n = m_getcl(M_NOWAIT, MT_DATA, M_PKTHDR);
	if (n == NULL) {
		m_freem(m);
		return (NULL);
	}
	m_move_pkthdr(n, m);
	/* Copying anyway: leave the headroom an encapsulation needs. */
	n->m_data += BSDNET_HEADROOM;
	/* As much as fits: a usual 1514-byte frame becomes one mbuf. */
	copy = imin(totlen, (int)M_TRAILINGSPACE(n));
	m_copydata(m, 0, copy, mtod(n, caddr_t));
	n->m_len = copy;
	if (copy == totlen) {
		m_freem(m);
	} else {
		m_adj(m, copy);
		n->m_next = m;
	}
	BSDNET_KERN_COUNT(BSDNET_KERN_C_COPIES, 1);
	return (n);
}

/*
 * Bring the mbuf in line with what the core left in pkt.  False if the
 * view is not one this mbuf can express (the frame is then dropped).
 */
static bool
bsdnet_kern_sync(struct mbuf *m, const struct bsdnet_pkt *pkt)
{
	uint8_t *start = (uint8_t *)M_START(m);
	uint32_t tail;
	int64_t total;

	if (pkt->p_data < start || pkt->p_len > M_SIZE(m) ||
	    pkt->p_data + pkt->p_len > start + M_SIZE(m))
		return (false);
	tail = m->m_next == NULL ? 0 : m_length(m->m_next, NULL);
	m->m_data = (caddr_t)pkt->p_data;
	m->m_len = (int)pkt->p_len;
	total = (int64_t)pkt->p_len + tail;
	if (total < pkt->p_totlen)
		return (false);
	m->m_pkthdr.len = (int)total;
	if (total > pkt->p_totlen)
		m_adj(m, (int)pkt->p_totlen - (int)total);
	/* Rewritten headers: nothing the NIC computed still holds. */
	m->m_pkthdr.csum_flags = 0;
	m->m_flags &= ~(M_VLANTAG | M_PROMISC | M_BCAST | M_MCAST);
	return (true);
}

void
bsdnet_kern_input(struct bsdnet_kern_softc *sc, uint32_t vif, struct mbuf *m)
{
	struct bsdnet_kern_tx tx[BSDNET_KERN_TXBATCH];
	struct bsdnet_kern_pcpu *pc;
	struct bsdnet_pkt pkt;
	uint32_t ntx;

	m = bsdnet_kern_prepare(m);
	if (m == NULL)
		return;
	BSDNET_KERN_COUNT(BSDNET_KERN_C_RX, 1);
	memset(&pkt, 0, sizeof(pkt));
	pkt.p_data = mtod(m, uint8_t *);
	pkt.p_len = (uint32_t)m->m_len;
	pkt.p_totlen = (uint32_t)m->m_pkthdr.len;
	pkt.p_headroom = (uint32_t)M_LEADINGSPACE(m);
	pkt.p_os = m;

	/* Our CPU's context; see "Locking" in bsdnet_kern.h. */
	sched_pin();
	pc = &sc->sc_pcpu[curcpu];
	mtx_lock(&pc->pc_mtx);
	if (pc->pc_dp.dp_base != NULL)
		bsdnet_dp_input(&pc->pc_dp, vif, &pkt);
	ntx = pc->pc_ntx;
	memcpy(tx, pc->pc_tx, ntx * sizeof(tx[0]));
	pc->pc_ntx = 0;
	mtx_unlock(&pc->pc_mtx);
	sched_unpin();

	if (pkt.p_os != NULL)
		m_freem(pkt.p_os);
	bsdnet_kern_tx_flush(sc, tx, ntx);
}

/* Send what the core queued, with no lock held, inside the epoch. */
void
bsdnet_kern_tx_flush(struct bsdnet_kern_softc *sc, struct bsdnet_kern_tx *tx,
    uint32_t ntx)
{
	struct epoch_tracker et;
	uint32_t i;
	if_t ifp;
	int error;

	if (ntx == 0)
		return;
	NET_EPOCH_ENTER(et);
	for (i = 0; i < ntx; i++) {
		ifp = bsdnet_kern_vif_ifp(sc, tx[i].tx_vif);
		if (ifp == NULL) {
			m_freem(tx[i].tx_m);
			BSDNET_KERN_COUNT(BSDNET_KERN_C_TX_ERR, 1);
			continue;
		}
		CURVNET_SET(if_getvnet(ifp));
		error = if_transmit(ifp, tx[i].tx_m);
		CURVNET_RESTORE();
		BSDNET_KERN_COUNT(error == 0 ? BSDNET_KERN_C_TX :
		    BSDNET_KERN_C_TX_ERR, 1);
	}
	NET_EPOCH_EXIT(et);
}

/*
 * Called with pc_mtx held: park the frame; bsdnet_kern_input() (or the
 * tick, or RELEASE) sends it once the lock is dropped.
 */
bool
bsdnet_os_tx(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt)
{
	struct bsdnet_kern_pcpu *pc = dp->dp_os;
	struct mbuf *m;

	mtx_assert(&pc->pc_mtx, MA_OWNED);
	if (pc->pc_ntx >= BSDNET_KERN_TXBATCH)
		return (false);
	if (pkt->p_os != NULL) {
		m = pkt->p_os;
		if (!bsdnet_kern_sync(m, pkt))
			return (false);
		/* Ours now; a second transmit of the same view copies. */
		pkt->p_os = NULL;
	} else {
		/* Replayed from hold storage, reused at once: copy. */
		if (pkt->p_len != pkt->p_totlen || pkt->p_len == 0)
			return (false);
		m = m_devget((char *)pkt->p_data, (int)pkt->p_len, 0, NULL,
		    NULL);
		if (m == NULL)
			return (false);
	}
	pc->pc_tx[pc->pc_ntx].tx_m = m;
	pc->pc_tx[pc->pc_ntx].tx_vif = vif;
	pc->pc_ntx++;
	return (true);
}

/*
 * Encapsulation without headroom: drop the first `drop` bytes (the inner
 * Ethernet header) and M_PREPEND `len` bytes for the outer headers.
 * Only for the frame as it arrived (the core has not moved p_data).
 */
uint8_t *
bsdnet_os_prepend(struct bsdnet_dp *dp __unused, struct bsdnet_pkt *pkt,
    uint32_t drop, uint32_t len)
{
	struct mbuf *m = pkt->p_os;

	if (m == NULL || pkt->p_data != mtod(m, uint8_t *) ||
	    drop > (uint32_t)m->m_len || len > (uint32_t)MHLEN)
		return (NULL);
	m_adj(m, (int)drop);
	M_PREPEND(m, (int)len, M_NOWAIT);
	pkt->p_os = m;
	if (m == NULL)
		return (NULL);		/* M_PREPEND freed the chain */
	pkt->p_data = mtod(m, uint8_t *);
	pkt->p_len = len;
	pkt->p_totlen = (uint32_t)m->m_pkthdr.len;
	pkt->p_headroom = (uint32_t)M_LEADINGSPACE(m);
	BSDNET_KERN_COUNT(BSDNET_KERN_C_PREPENDS, 1);
	return (pkt->p_data);
}

void
bsdnet_os_copydata(const struct bsdnet_pkt *pkt, uint32_t off, uint32_t len,
    void *dst)
{
	const struct mbuf *m = pkt->p_os;
	uint8_t *d = dst;
	uint32_t first, n;

	if (m == NULL) {
		/* Whole frame contiguous. */
		if (off > pkt->p_len || len > pkt->p_len - off) {
			memset(dst, 0, len);
			return;
		}
		memcpy(dst, pkt->p_data + off, len);
		return;
	}
	if (off > pkt->p_totlen || len > pkt->p_totlen - off) {
		memset(dst, 0, len);
		return;
	}
	first = bsdnet_kern_first_avail(pkt);
	if (off < first) {
		n = min(len, first - off);
		memcpy(d, pkt->p_data + off, n);
		d += n;
		off += n;
		len -= n;
	}
	if (len == 0)
		return;
	if (m->m_next == NULL ||
	    off - first + len > m_length(__DECONST(struct mbuf *, m->m_next),
	    NULL)) {
		memset(d, 0, len);
		return;
	}
	m_copydata(m->m_next, (int)(off - first), (int)len, (caddr_t)d);
}

bool
bsdnet_os_trap(struct bsdnet_dp *dp __unused,
    const struct bsdnet_trap_hdr *hdr, const struct bsdnet_pkt *pkt)
{
	struct mbuf *m;
	uint32_t total;

	if (hdr->th_len > pkt->p_totlen)
		return (false);
	total = (uint32_t)sizeof(*hdr) + hdr->th_len;
	if (total > MJUM16BYTES)
		return (false);
	m = m_get3((int)total, M_NOWAIT, MT_DATA, M_PKTHDR);
	if (m == NULL) {
		BSDNET_KERN_COUNT(BSDNET_KERN_C_TRAP_DROPS, 1);
		return (false);
	}
	memcpy(mtod(m, uint8_t *), hdr, sizeof(*hdr));
	bsdnet_os_copydata(pkt, 0, hdr->th_len,
	    mtod(m, uint8_t *) + sizeof(*hdr));
	m->m_len = m->m_pkthdr.len = (int)total;
	return (bsdnet_kern_trap_enqueue(&bsdnet_kern_sc, m));
}

uint64_t
bsdnet_os_now_ms(void)
{

	return ((uint64_t)(getsbinuptime() / SBT_1MS));
}

void
bsdnet_os_log(int level, const char *fmt, ...)
{
	static struct timeval last;
	static int pps;
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
	    LOG_DEBUG };
	char msg[192];
	va_list ap;

	if (level > bsdnet_kern_sc.sc_debug)
		return;
	/* The packet path may log: at most 50 lines a second. */
	if (!ppsratecheck(&last, &pps, 50))
		return;
	if (level < 0)
		level = 0;
	if (level > 3)
		level = 3;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log(prio[level], "bsdnet: %s\n", msg);
}
