/*-
 * Segmenting TCP super-frames from local senders.
 *
 * A VM that is a network namespace on a veth (the Linux sandbox) hands the
 * kernel TCP segments of up to 64 KiB with GSO, and AF_PACKET shows them to
 * us whole, with the segment size the sender chose in the virtio_net_hdr
 * in front (PACKET_VNET_HDR).  The core forwards frames that fit the MTU
 * only, so such frames are cut here into segments of that size, exactly
 * as the kernel would have on a real wire: same
 * headers, IP id counting up, sequence numbers advanced, FIN/PSH on the
 * last segment only, CWR on the first only, checksums computed.  Anything
 * else too long goes to the core as it is, which counts it as
 * MTU_EXCEEDED.  (A bhyve tap never hands us such frames.)
 */
#include <string.h>

#include "lnx.h"

enum {
	LNX_TCP_FIN = 0x01,
	LNX_TCP_PSH = 0x08,
	LNX_TCP_CWR = 0x80,
	LNX_MIN_MSS = 64,
};

static uint16_t
lnx_rd16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

static void
lnx_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
lnx_ip_csum(uint8_t *ip, uint32_t ihl)
{
	uint32_t sum = 0, i;

	ip[10] = ip[11] = 0;
	for (i = 0; i < ihl; i += 2)
		sum += (uint32_t)lnx_rd16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	lnx_wr16(ip + 10, (uint16_t)~sum);
}

/*
 * Feed frame (len bytes) to the core as TCP segments of at most mss bytes
 * of payload.  False if it is not TCP over IPv4 we can cut (the caller
 * then hands it over as it is).
 */
bool
lnx_gso_tcp4(struct bsdnetd *d, uint32_t vif, const uint8_t *frame,
    uint32_t len, uint32_t mss)
{
	const uint8_t *ip, *tcp;
	uint32_t l3, ihl, thl, hdrs, payload, off, n, seq, i;
	uint16_t id;
	uint8_t flags, *out, *oip, *otcp;

	l3 = 14;
	if (len < l3 + 40)
		return (false);
	if (lnx_rd16(frame + 12) == 0x8100) {
		l3 += 4;
		if (lnx_rd16(frame + 16) != 0x0800)
			return (false);
	} else if (lnx_rd16(frame + 12) != 0x0800)
		return (false);
	ip = frame + l3;
	ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 6 ||
	    lnx_rd16(ip + 2) != len - l3 || len < l3 + ihl + 20)
		return (false);
	if ((lnx_rd16(ip + 6) & 0x3fff) != 0)
		return (false);		/* fragment */
	tcp = ip + ihl;
	thl = (uint32_t)(tcp[12] >> 4) * 4;
	hdrs = l3 + ihl + thl;
	if (thl < 20 || hdrs > len || mss < LNX_MIN_MSS)
		return (false);
	payload = len - hdrs;
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 |
	    (uint32_t)tcp[6] << 8 | tcp[7];
	id = lnx_rd16(ip + 4);
	flags = tcp[13];
	out = d->d_home->h_seg + BSDNET_HEADROOM;
	for (off = 0, i = 0; off < payload; off += n, i++) {
		n = payload - off < mss ? payload - off : mss;
		memcpy(out, frame, hdrs);
		memcpy(out + hdrs, frame + hdrs + off, n);
		oip = out + l3;
		otcp = oip + ihl;
		lnx_wr16(oip + 2, (uint16_t)(ihl + thl + n));
		lnx_wr16(oip + 4, (uint16_t)(id + i));
		lnx_ip_csum(oip, ihl);
		otcp[4] = (uint8_t)((seq + off) >> 24);
		otcp[5] = (uint8_t)((seq + off) >> 16);
		otcp[6] = (uint8_t)((seq + off) >> 8);
		otcp[7] = (uint8_t)(seq + off);
		otcp[13] = flags;
		if (off + n < payload)
			otcp[13] &= (uint8_t)~(LNX_TCP_FIN | LNX_TCP_PSH);
		if (i > 0)
			otcp[13] &= (uint8_t)~LNX_TCP_CWR;
		lnx_csum_finish(out, hdrs + n);
		bsdnetd_input_one(d, vif, out, hdrs + n);
	}
	d->d_home->h_gso_frames++;
	return (true);
}
