/*-
 * Finishing checksums the kernel left undone.
 *
 * A frame sent by a local stack (a VM namespace on a veth, a tap without
 * checksum offload negotiation) reaches our ring with TP_STATUS_CSUMNOTREADY:
 * its TCP or UDP checksum holds only the pseudo-header sum, because the
 * sending device promised to finish it in "hardware".  The frame leaves
 * through another socket as a plain frame, so we finish it here, before
 * the core sees it (the core may encapsulate it, after which nobody can).
 */
#include <string.h>

#include "lnx.h"

enum {
	LNX_ETH_HLEN = 14,
	LNX_ETHERTYPE_IPV4 = 0x0800,
	LNX_ETHERTYPE_VLAN = 0x8100,
	LNX_PROTO_TCP = 6,
	LNX_PROTO_UDP = 17,
};

static uint32_t
lnx_csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len == 1)
		sum += (uint32_t)p[0] << 8;
	return (sum);
}

static uint16_t
lnx_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~sum);
}

/* Compute and store the TCP/UDP checksum of an IPv4 frame.  Anything we
 * do not understand is left as it is. */
void
lnx_csum_finish(uint8_t *frame, uint32_t len)
{
	uint32_t l3, ihl, totlen, l4len, coff, sum;
	uint16_t etype, csum;
	uint8_t *ip, *l4, proto;

	if (len < LNX_ETH_HLEN + 20)
		return;
	l3 = LNX_ETH_HLEN;
	etype = (uint16_t)(frame[12] << 8 | frame[13]);
	if (etype == LNX_ETHERTYPE_VLAN) {
		l3 += 4;
		etype = (uint16_t)(frame[16] << 8 | frame[17]);
	}
	if (etype != LNX_ETHERTYPE_IPV4 || len < l3 + 20)
		return;
	ip = frame + l3;
	if ((ip[0] >> 4) != 4)
		return;
	ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	totlen = (uint32_t)(ip[2] << 8 | ip[3]);
	if (ihl < 20 || totlen < ihl || totlen > len - l3)
		return;
	if ((ip[6] & 0x3f) != 0 || ip[7] != 0)
		return;		/* a fragment: not ours to finish */
	proto = ip[9];
	l4 = ip + ihl;
	l4len = totlen - ihl;
	if (proto == LNX_PROTO_TCP && l4len >= 20)
		coff = 16;
	else if (proto == LNX_PROTO_UDP && l4len >= 8)
		coff = 6;
	else
		return;
	l4[coff] = 0;
	l4[coff + 1] = 0;
	sum = lnx_csum_add(0, ip + 12, 8);	/* addresses */
	sum += proto;
	sum += l4len;
	sum = lnx_csum_add(sum, l4, l4len);
	csum = lnx_csum_fold(sum);
	if (csum == 0 && proto == LNX_PROTO_UDP)
		csum = 0xffff;		/* 0 means "no checksum" in UDP */
	l4[coff] = (uint8_t)(csum >> 8);
	l4[coff + 1] = (uint8_t)csum;
}
