/*-
 * Path MTU for packets going into the overlay: ICMP "fragmentation
 * needed" (RFC 792, RFC 1191) back to a VM whose packet will not fit
 * after encapsulation, and TCP MSS clamping of the SYNs VMs send into
 * the overlay.  The rules: kmod/DESIGN.md, "Path MTU".
 */
#include "bsdnet_priv.h"

/* Internet checksum (RFC 1071) of n bytes in network order; an odd last
 * byte is padded with zero. */
static uint16_t
csum(const uint8_t *p, uint32_t n)
{
	uint32_t sum = 0, i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~sum);
}

/* May this packet be answered with an ICMP error?  Not an ICMP error
 * itself, nor from an address no one can answer (RFC 1122 3.2.2). */
static bool
icmp_answerable(const struct bsdnet_pkt *pkt, const struct bsdnet_ctx *c,
    uint32_t hlen)
{
	const uint8_t *l4;
	uint32_t src = c->c_key.fk_src;

	if (src == 0 || (src >> 28) >= 0xe)	/* multicast, class E */
		return (false);
	if (c->c_key.fk_proto != BSDNET_IPPROTO_ICMP)
		return (true);
	/* bsdnet_parse_l4() checked an ICMP header is there. */
	l4 = pkt->p_data + c->c_l3off + hlen;
	switch (l4[0]) {
	case BSDNET_ICMP_UNREACH:
	case BSDNET_ICMP_SOURCEQUENCH:
	case BSDNET_ICMP_REDIRECT:
	case BSDNET_ICMP_TIMXCEED:
	case BSDNET_ICMP_PARAMPROB:
		return (false);
	default:
		return (true);
	}
}

/*
 * Turn the VM's packet into the ICMP error, in place, and send it out of
 * the vif it came in on:
 *
 *   | Ethernet 14 | IPv4 20 | ICMP 8 | quoted IPv4 header + 8 bytes |
 *     to the VM,    from vif_gw,  type 3 code 4, next-hop MTU
 *     from the      to the VM
 *     router MAC
 *
 * The quote is moved first (it may overlap the headers written over
 * it); it lies in the contiguous part, which holds BSDNET_PULLUP bytes.
 */
static int
icmp_toobig_send(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt, uint32_t hlen, uint16_t mtu)
{
	struct bsdnet_ether *e;
	struct bsdnet_ipv4 *ip;
	struct bsdnet_icmp_toobig *icmp;
	const struct bsdnet_ipv4 *q;
	uint32_t qlen, len, src;
	uint8_t smac[BSDNET_ETH_ALEN];

	qlen = c->c_iplen - hlen;
	if (qlen > BSDNET_ICMP_QUOTE_DATA)
		qlen = BSDNET_ICMP_QUOTE_DATA;
	qlen += hlen;
	len = BSDNET_ETH_HLEN + BSDNET_IP_HLEN + sizeof(*icmp) + qlen;
	if (c->c_l3off + qlen > pkt->p_len || len > pkt->p_len)
		return (BSDNET_DROP_TRUNCATED);
	e = bsdnet_eth(pkt);
	bsdnet_memcpy(smac, e->eth_src, BSDNET_ETH_ALEN);
	bsdnet_memmove(pkt->p_data + len - qlen, pkt->p_data + c->c_l3off,
	    qlen);
	q = (const struct bsdnet_ipv4 *)(const void *)(pkt->p_data + len -
	    qlen);

	bsdnet_memcpy(e->eth_dst, smac, BSDNET_ETH_ALEN);
	bsdnet_memcpy(e->eth_src, dp->dp_hdr->rh_router_mac, BSDNET_ETH_ALEN);
	bsdnet_wr16(e->eth_type, BSDNET_ETHERTYPE_IPV4);
	ip = bsdnet_ipv4_at(pkt, BSDNET_ETH_HLEN);
	ip->ip_vhl = BSDNET_IP_VHL;
	ip->ip_tos = BSDNET_IPTOS_PREC_INTERNETCONTROL;
	bsdnet_wr16(ip->ip_len, (uint16_t)(len - BSDNET_ETH_HLEN));
	bsdnet_wr16(ip->ip_id, 0);
	bsdnet_wr16(ip->ip_off, 0);
	ip->ip_ttl = BSDNET_OUTER_TTL;
	ip->ip_p = BSDNET_IPPROTO_ICMP;
	/* From the VM's gateway; a VM with none (on-link only) hears it from
	 * the destination it sent to, the only other address it knows. */
	src = c->c_vif->vif_gw != 0 ? c->c_vif->vif_gw : c->c_key.fk_dst;
	bsdnet_wr32(ip->ip_src, src);
	bsdnet_memcpy(ip->ip_dst, q->ip_src, 4);
	bsdnet_wr16(ip->ip_sum, 0);
	bsdnet_wr16(ip->ip_sum, csum((const uint8_t *)ip, BSDNET_IP_HLEN));
	icmp = (struct bsdnet_icmp_toobig *)(void *)(ip + 1);
	icmp->itb_type = BSDNET_ICMP_UNREACH;
	icmp->itb_code = BSDNET_ICMP_UNREACH_NEEDFRAG;
	bsdnet_wr16(icmp->itb_cksum, 0);
	bsdnet_wr16(icmp->itb_unused, 0);
	bsdnet_wr16(icmp->itb_mtu, mtu);
	bsdnet_wr16(icmp->itb_cksum, csum((const uint8_t *)icmp,
	    (uint32_t)sizeof(*icmp) + qlen));
	pkt->p_len = pkt->p_totlen = len;
	return (bsdnet_tx(dp, c->c_vifidx, pkt));
}

/*
 * The VM's IPv4 packet does not fit the overlay, whose MTU is mtu: tell
 * the VM, if the rate limit allows.  The packet is consumed either way
 * (the caller counts it as a drop).
 */
void
bsdnet_icmp_toobig(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt, uint32_t mtu)
{
	uint32_t hlen;

	if (c->c_vif->vif_type != BSDNET_VIF_VIRTUAL)
		return;
	hlen = bsdnet_ipv4_hlen(bsdnet_ipv4_at(pkt, c->c_l3off));
	if (!icmp_answerable(pkt, c, hlen))
		return;
	if (!bsdnet_icmp_token(dp)) {
		bsdnet_add_rlx(&dp->dp_stats->st_icmp_rate_limited,
		    (uint64_t)1);
		return;
	}
	if (icmp_toobig_send(dp, c, pkt, hlen,
	    (uint16_t)(mtu > 0xffff ? 0xffff : mtu)) == BSDNET_DONE)
		bsdnet_add_rlx(&dp->dp_stats->st_icmp_too_big, (uint64_t)1);
}

/* One's complement sum patched for a 16-bit field changed from old to
 * new (RFC 1624, eqn. 3), the field at an even (odd) offset from the
 * start of what the checksum covers. */
static void
csum_patch16(uint8_t *sump, uint16_t old, uint16_t new, bool odd)
{
	uint32_t sum;

	if (odd) {
		/* Its bytes fall in two words, low then high: the sum sees
		 * the value byte-swapped (RFC 1071, 2(B)). */
		old = bsdnet_bswap16(old);
		new = bsdnet_bswap16(new);
	}
	sum = (uint16_t)~bsdnet_rd16(sump);
	sum += (uint16_t)~old;
	sum += new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	bsdnet_wr16(sump, (uint16_t)~sum);
}

/*
 * A TCP SYN (or SYN-ACK) going into the overlay: lower its MSS option to
 * mss if it is above.  The options are walked as RFC 9293 3.2 lays them
 * out; a malformed list is left alone from the first bad option on (the
 * receiver will judge it).  A SYN without the option is left alone too:
 * its sender assumes 536.
 */
void
bsdnet_mss_clamp(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt, uint32_t mss)
{
	const struct bsdnet_ipv4 *ip = bsdnet_ipv4_at(pkt, c->c_l3off);
	struct bsdnet_tcp *th;
	uint8_t *opt;
	uint32_t hlen, doff, i, olen;
	uint16_t old;

	hlen = bsdnet_ipv4_hlen(ip);
	if (pkt->p_len - c->c_l3off - hlen < BSDNET_TCP_HLEN)
		return;
	th = (struct bsdnet_tcp *)(void *)(pkt->p_data + c->c_l3off + hlen);
	doff = (uint32_t)(th->th_off >> 4) * 4;
	if (doff <= BSDNET_TCP_HLEN || doff > c->c_iplen - hlen ||
	    doff > pkt->p_len - c->c_l3off - hlen)
		return;
	opt = (uint8_t *)th;
	for (i = BSDNET_TCP_HLEN; i < doff; i += olen) {
		if (opt[i] == BSDNET_TCPOPT_EOL)
			return;
		if (opt[i] == BSDNET_TCPOPT_NOP) {
			olen = 1;
			continue;
		}
		if (doff - i < 2)
			return;
		olen = opt[i + 1];
		if (olen < 2 || olen > doff - i)
			return;
		if (opt[i] != BSDNET_TCPOPT_MSS)
			continue;
		if (olen != BSDNET_TCPOLEN_MSS)
			return;
		old = bsdnet_rd16(opt + i + 2);
		if (old <= mss)
			return;
		bsdnet_wr16(opt + i + 2, (uint16_t)mss);
		csum_patch16(th->th_sum, old, (uint16_t)mss, (i & 1) != 0);
		bsdnet_add_rlx(&dp->dp_stats->st_mss_clamped, (uint64_t)1);
		return;
	}
}
