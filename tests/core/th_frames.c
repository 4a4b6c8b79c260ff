/*
 * Frame builders shared by the core's tests, the fuzzers and the kernel
 * harness (tests/kernel): Ethernet and IPv4 + L4 headers with checksums.
 * No dependency on a home: only th.h's declarations.
 */
#include <string.h>

#include "th.h"

uint16_t
th_csum(const uint8_t *p, uint32_t n)
{
	uint32_t s = 0, i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ((uint16_t)~s);
}

void
th_ip_fix_csum(uint8_t *ip)
{
	uint32_t hl = (uint32_t)(ip[0] & 0xf) * 4;
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = th_csum(ip, hl);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

void
th_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
void
th_wr32(uint8_t *p, uint32_t v) { th_wr16(p, (uint16_t)(v >> 16)); th_wr16(p + 2, (uint16_t)v); }

uint32_t
th_eth(uint8_t *p, const uint8_t *dmac, const uint8_t *smac, uint16_t type)
{
	memcpy(p, dmac, 6);
	memcpy(p + 6, smac, 6);
	th_wr16(p + 12, type);
	return (14);
}

uint32_t
th_ipv4(uint8_t *p, uint32_t src, uint32_t dst, const struct th_l4 *l4)
{
	uint32_t hl = 0, tot, i;
	uint8_t *q = p + 20;

	switch (l4->proto) {
	case 6: hl = 20; break;
	case 17: case 1: hl = 8; break;
	default: hl = 0; break;
	}
	tot = 20 + hl + l4->paylen;
	memset(p, 0, 20 + hl);
	p[0] = 0x45;
	th_wr16(p + 2, (uint16_t)tot);
	th_wr16(p + 4, 0x1234);
	th_wr16(p + 6, l4->frag);
	p[8] = l4->ttl_zero ? 0 : (l4->ttl ? l4->ttl : 64);
	p[9] = l4->proto;
	th_wr32(p + 12, src);
	th_wr32(p + 16, dst);
	th_ip_fix_csum(p);
	if (l4->proto == 17) {
		th_wr16(q, l4->sport);
		th_wr16(q + 2, l4->dport);
		th_wr16(q + 4, (uint16_t)(8 + l4->paylen));
	} else if (l4->proto == 6) {
		th_wr16(q, l4->sport);
		th_wr16(q + 2, l4->dport);
		q[12] = 0x50;
		q[13] = l4->tcp_flags;
	} else if (l4->proto == 1) {
		q[0] = (uint8_t)l4->sport;
		q[1] = (uint8_t)l4->dport;
		th_wr16(q + 4, l4->icmp_id);
	}
	for (i = 0; i < l4->paylen; i++)
		q[hl + i] = (uint8_t)(l4->mark + i);
	return (tot);
}

