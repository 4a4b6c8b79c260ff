/*-
 * Received frames gathered into bursts for bsdnet_dp_input_burst().
 *
 * The core forwards a burst of frames from one vif several times faster
 * per frame than one frame per call: it parses and hashes a few frames
 * ahead and overlaps the cache misses of their flow lookups.  A home copies
 * each frame it takes off a ring into the next slot (BSDNET_HEADROOM bytes
 * before it, for encapsulation) and the burst runs when it is full, when a
 * frame of another vif comes, before a frame that must go alone (a GSO
 * super-frame, one bigger than a slot), and at the end of each ring's
 * turn, so the frames of a vif keep their order.
 */
#include <stdlib.h>

#include "bsdnetd.h"

#define BSDNETD_BURST_STRIDE	(BSDNET_HEADROOM + BSDNETD_BURST_FRAME)

int
bsdnetd_burst_init(struct bsdnetd *d)
{

	d->d_bn = 0;
	d->d_bvif = 0;
	d->d_burst = malloc((size_t)BSDNET_BURST_MAX * BSDNETD_BURST_STRIDE);
	return (d->d_burst == NULL ? -1 : 0);
}

void
bsdnetd_burst_fini(struct bsdnetd *d)
{

	free(d->d_burst);
	d->d_burst = NULL;
	d->d_bn = 0;
}

uint8_t *
bsdnetd_burst_next(struct bsdnetd *d, uint32_t vif)
{

	if (d->d_bn == BSDNET_BURST_MAX || (d->d_bn != 0 && d->d_bvif != vif))
		bsdnetd_burst_flush(d);
	d->d_bvif = vif;
	return (d->d_burst + (size_t)d->d_bn * BSDNETD_BURST_STRIDE +
	    BSDNET_HEADROOM);
}

/* A whole frame of len bytes at frame, BSDNET_HEADROOM bytes before it. */
static void
bsdnetd_pkt_whole(struct bsdnet_pkt *pkt, uint8_t *frame, uint32_t len)
{

	pkt->p_data = frame;
	pkt->p_len = len;
	pkt->p_totlen = len;
	pkt->p_headroom = BSDNET_HEADROOM;
	pkt->p_pad = 0;
	pkt->p_os = NULL;
}

void
bsdnetd_burst_put(struct bsdnetd *d, uint32_t len)
{

	bsdnetd_pkt_whole(&d->d_bpkt[d->d_bn], d->d_burst +
	    (size_t)d->d_bn * BSDNETD_BURST_STRIDE + BSDNET_HEADROOM, len);
	d->d_bn++;
}

void
bsdnetd_input_one(struct bsdnetd *d, uint32_t vif, uint8_t *frame, uint32_t len)
{
	struct bsdnet_pkt pkt;

	bsdnetd_burst_flush(d);
	bsdnetd_pkt_whole(&pkt, frame, len);
	bsdnet_dp_input(&d->d_dp, vif, &pkt);
}

void
bsdnetd_burst_flush(struct bsdnetd *d)
{
	uint32_t n = d->d_bn;

	if (n == 0)
		return;
	/* Zeroed first: the core may send from here back into a port. */
	d->d_bn = 0;
	bsdnet_dp_input_burst(&d->d_dp, d->d_bvif, d->d_bpkt, n);
}
