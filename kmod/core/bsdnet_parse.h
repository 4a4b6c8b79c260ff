/*-
 * Header parsing: Ethernet, 802.1Q, IPv4 and the L4 ports of the flow key.
 * Every read is preceded by a length check against p_len (the contiguous
 * bytes: the home guarantees all headers up to BSDNET_PULLUP there) and
 * against the lengths the headers themselves claim.
 *
 * Inline, through bsdnet_priv.h: every packet runs these, and a call each
 * (with its register saves) cost more than some of them do.
 */
#ifndef _BSDNET_PARSE_H_
#define _BSDNET_PARSE_H_

static inline int
bsdnet_parse_eth(const struct bsdnet_pkt *pkt, uint16_t vlan,
    uint32_t *l3offp, uint16_t *etypep)
{
	const uint8_t *d = pkt->p_data;
	uint16_t etype, vid;
	uint32_t off = BSDNET_ETH_HLEN;

	if (pkt->p_len < BSDNET_ETH_HLEN)
		return (BSDNET_DROP_TRUNCATED);
	etype = bsdnet_rd16(d + 12);
	if (etype == BSDNET_ETHERTYPE_VLAN) {
		if (pkt->p_len < BSDNET_ETH_HLEN + BSDNET_VLAN_HLEN)
			return (BSDNET_DROP_TRUNCATED);
		/* Priority tags (VID 0) and the port's own VLAN only. */
		vid = bsdnet_rd16(d + 14) & 0x0fff;
		if (vid != 0 && vid != (vlan & 0x0fff))
			return (BSDNET_DROP_UNSUPPORTED_L2);
		etype = bsdnet_rd16(d + 16);
		off += BSDNET_VLAN_HLEN;
		if (etype == BSDNET_ETHERTYPE_VLAN)
			return (BSDNET_DROP_UNSUPPORTED_L2);	/* QinQ */
	}
	*l3offp = off;
	*etypep = etype;
	return (BSDNET_CONT);
}

/*
 * Internet checksum of the header (RFC 1071), 32 bits at a time in host
 * order: the one's complement sum does not depend on byte order (RFC 1071
 * 2(B)), so only the folded result is swapped.  An odd last byte is
 * ignored (IPv4 headers are multiples of four).
 */
static inline uint16_t
bsdnet_ipv4_csum(const uint8_t *ip, uint32_t hlen)
{
	uint64_t sum = 0;
	uint32_t w[5], i;
	uint16_t h;

	/* The usual header, unrolled; options in the loop. */
	if (BSDNET_LIKELY(hlen >= BSDNET_IP_HLEN)) {
		bsdnet_memcpy(w, ip, sizeof(w));
		sum = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
		i = BSDNET_IP_HLEN;
	} else
		i = 0;
	for (; i + 4 <= hlen; i += 4) {
		bsdnet_memcpy(w, ip + i, 4);
		sum += w[0];
	}
	if (i + 2 <= hlen) {
		bsdnet_memcpy(&h, ip + i, 2);
		sum += h;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~bsdnet_ntohs((uint16_t)sum));
}

/* TTL - 1 with the checksum patched incrementally (RFC 1624, eqn. 3). */
static inline void
bsdnet_ipv4_dec_ttl(uint8_t *ip)
{
	uint32_t sum;
	uint16_t old, new;

	old = bsdnet_rd16(ip + 8);
	ip[8]--;
	new = bsdnet_rd16(ip + 8);
	sum = (uint16_t)~bsdnet_rd16(ip + 10);
	sum += (uint16_t)~old;
	sum += new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	bsdnet_wr16(ip + 10, (uint16_t)~sum);
}

/*
 * Validate the IPv4 header at off.  limit: bytes the enclosing layer
 * grants from off (rest of the frame, or the outer IP payload).
 */
static inline int
bsdnet_parse_ipv4(const struct bsdnet_pkt *pkt, uint32_t off,
    uint32_t limit, uint32_t *hlenp, uint32_t *totlenp)
{
	const uint8_t *ip;
	uint32_t hlen, totlen;

	if (limit < BSDNET_IP_HLEN || off > pkt->p_len ||
	    pkt->p_len - off < BSDNET_IP_HLEN)
		return (BSDNET_DROP_TRUNCATED);
	ip = pkt->p_data + off;
	if ((ip[0] >> 4) != 4)
		return (BSDNET_DROP_BAD_IPV4_HDR);
	hlen = (uint32_t)(ip[0] & 0x0f) * 4;
	totlen = bsdnet_rd16(ip + 2);
	if (hlen < BSDNET_IP_HLEN || totlen < hlen || totlen > limit)
		return (BSDNET_DROP_BAD_IPV4_HDR);
	if (pkt->p_len - off < hlen)
		return (BSDNET_DROP_TRUNCATED);
	if (bsdnet_ipv4_csum(ip, hlen) != 0)
		return (BSDNET_DROP_BAD_IPV4_CSUM);
	*hlenp = hlen;
	*totlenp = totlen;
	return (BSDNET_CONT);
}

/*
 * Fill the flow key (protocol, addresses, ports) from the IPv4 packet at
 * off, already validated by bsdnet_parse_ipv4().  c_key.fk_vrf is the
 * caller's.
 *
 * Fragments: a non-first fragment carries no ports, so it cannot be keyed
 * like its flow; rather than a second, port-less key that would bypass
 * the policy of the real flow, non-first fragments are dropped
 * (BSDNET_DROP_FRAGMENT).  First fragments have their L4 header and are
 * keyed normally.  Reassembly is future work.
 */
static inline int
bsdnet_parse_l4(const struct bsdnet_pkt *pkt, uint32_t off,
    struct bsdnet_ctx *c)
{
	const uint8_t *ip = pkt->p_data + off, *l4;
	uint32_t hlen, plen, need;
	uint8_t proto;

	hlen = (uint32_t)(ip[0] & 0x0f) * 4;
	proto = ip[9];
	if ((bsdnet_rd16(ip + 6) & BSDNET_IP_OFFMASK) != 0)
		return (BSDNET_DROP_FRAGMENT);
	c->c_key.fk_proto = proto;
	c->c_key.fk_pad = 0;
	c->c_key.fk_src = bsdnet_rd32(ip + 12);
	c->c_key.fk_dst = bsdnet_rd32(ip + 16);
	c->c_key.fk_sport = 0;
	c->c_key.fk_dport = 0;
	c->c_tcp_flags = 0;
	switch (proto) {
	case BSDNET_IPPROTO_TCP:
		need = 20;
		break;
	case BSDNET_IPPROTO_UDP:
	case BSDNET_IPPROTO_ICMP:
		need = 8;
		break;
	default:
		return (BSDNET_CONT);
	}
	plen = c->c_iplen - hlen;
	if (plen < need || pkt->p_len - off - hlen < need)
		return (BSDNET_DROP_L4_TRUNCATED);
	l4 = ip + hlen;
	if (proto == BSDNET_IPPROTO_ICMP) {
		if (l4[0] == 8 || l4[0] == 0) {	/* echo request / reply */
			c->c_key.fk_sport = bsdnet_rd16(l4 + 4);
		} else {
			c->c_key.fk_sport = l4[0];
			c->c_key.fk_dport = l4[1];
		}
		return (BSDNET_CONT);
	}
	c->c_key.fk_sport = bsdnet_rd16(l4);
	c->c_key.fk_dport = bsdnet_rd16(l4 + 2);
	if (proto == BSDNET_IPPROTO_TCP)
		c->c_tcp_flags = l4[13];
	return (BSDNET_CONT);
}

#endif /* !_BSDNET_PARSE_H_ */
