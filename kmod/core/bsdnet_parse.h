/*-
 * Header parsing: Ethernet, 802.1Q, IPv4 and the L4 ports of the flow key.
 * Every read is checked against p_len (the home puts all headers up to
 * BSDNET_PULLUP there) and against the lengths the headers claim.  Inline:
 * every packet runs these, and a call costs more than some of them.
 */
#ifndef _BSDNET_PARSE_H_
#define _BSDNET_PARSE_H_

/* The frame's Ethernet header (the caller checked the length). */
static inline struct bsdnet_ether *
bsdnet_eth(const struct bsdnet_pkt *pkt)
{

	return ((struct bsdnet_ether *)(void *)pkt->p_data);
}

static inline int
bsdnet_parse_eth(const struct bsdnet_pkt *pkt, uint16_t vlan,
    uint32_t *l3offp, uint16_t *etypep)
{
	const struct bsdnet_ether_vlan *evl;
	uint16_t etype, vid;
	uint32_t off = BSDNET_ETH_HLEN;

	if (pkt->p_len < BSDNET_ETH_HLEN)
		return (BSDNET_DROP_TRUNCATED);
	evl = (const struct bsdnet_ether_vlan *)(const void *)pkt->p_data;
	etype = bsdnet_rd16(evl->evl_tpid);
	if (etype == BSDNET_ETHERTYPE_VLAN) {
		if (pkt->p_len < sizeof(*evl))
			return (BSDNET_DROP_TRUNCATED);
		/* Priority tags (VID 0) and the port's own VLAN only. */
		vid = bsdnet_rd16(evl->evl_tci) & BSDNET_VLAN_VID_MASK;
		if (vid != 0 && vid != (vlan & BSDNET_VLAN_VID_MASK))
			return (BSDNET_DROP_UNSUPPORTED_L2);
		etype = bsdnet_rd16(evl->evl_type);
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
bsdnet_ipv4_csum(const void *ip, uint32_t hlen)
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
		bsdnet_memcpy(w, (const uint8_t *)ip + i, 4);
		sum += w[0];
	}
	if (i + 2 <= hlen) {
		bsdnet_memcpy(&h, (const uint8_t *)ip + i, 2);
		sum += h;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~bsdnet_ntohs((uint16_t)sum));
}

/* TTL - 1 with the checksum patched incrementally (RFC 1624, eqn. 3):
 * TTL and protocol are one 16-bit word of the sum. */
static inline void
bsdnet_ipv4_dec_ttl(struct bsdnet_ipv4 *ip)
{
	uint32_t sum;
	uint16_t old, new;

	old = (uint16_t)(ip->ip_ttl << 8 | ip->ip_p);
	ip->ip_ttl--;
	new = (uint16_t)(ip->ip_ttl << 8 | ip->ip_p);
	sum = (uint16_t)~bsdnet_rd16(ip->ip_sum);
	sum += (uint16_t)~old;
	sum += new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	bsdnet_wr16(ip->ip_sum, (uint16_t)~sum);
}

/* The IPv4 header at off of a frame (the caller checked the length). */
static inline struct bsdnet_ipv4 *
bsdnet_ipv4_at(const struct bsdnet_pkt *pkt, uint32_t off)
{

	return ((struct bsdnet_ipv4 *)(void *)(pkt->p_data + off));
}

static inline uint32_t
bsdnet_ipv4_hlen(const struct bsdnet_ipv4 *ip)
{

	return ((uint32_t)(ip->ip_vhl & 0x0f) * 4);
}

/*
 * Validate the IPv4 header at off.  limit: bytes the enclosing layer
 * grants from off (rest of the frame, or the outer IP payload).
 */
static inline int
bsdnet_parse_ipv4(const struct bsdnet_pkt *pkt, uint32_t off,
    uint32_t limit, uint32_t *hlenp, uint32_t *totlenp)
{
	const struct bsdnet_ipv4 *ip;
	uint32_t hlen, totlen;

	if (limit < BSDNET_IP_HLEN || off > pkt->p_len ||
	    pkt->p_len - off < BSDNET_IP_HLEN)
		return (BSDNET_DROP_TRUNCATED);
	ip = bsdnet_ipv4_at(pkt, off);
	if ((ip->ip_vhl >> 4) != 4)
		return (BSDNET_DROP_BAD_IPV4_HDR);
	hlen = bsdnet_ipv4_hlen(ip);
	totlen = bsdnet_rd16(ip->ip_len);
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
 * off, already validated by bsdnet_parse_ipv4(); c_key.fk_vrf is the
 * caller's.  A non-first fragment has no ports to key: it is dropped.
 */
static inline int
bsdnet_parse_l4(const struct bsdnet_pkt *pkt, uint32_t off,
    struct bsdnet_ctx *c)
{
	const struct bsdnet_ipv4 *ip = bsdnet_ipv4_at(pkt, off);
	const struct bsdnet_icmp *icmp;
	const struct bsdnet_l4ports *ports;
	const void *l4;
	uint32_t hlen, plen, need;
	uint8_t proto;

	hlen = bsdnet_ipv4_hlen(ip);
	proto = ip->ip_p;
	if ((bsdnet_rd16(ip->ip_off) & BSDNET_IP_OFFMASK) != 0)
		return (BSDNET_DROP_FRAGMENT);
	c->c_key.fk_proto = proto;
	c->c_key.fk_pad = 0;
	c->c_key.fk_src = bsdnet_rd32(ip->ip_src);
	c->c_key.fk_dst = bsdnet_rd32(ip->ip_dst);
	c->c_key.fk_sport = 0;
	c->c_key.fk_dport = 0;
	c->c_tcp_flags = 0;
	switch (proto) {
	case BSDNET_IPPROTO_TCP:
		need = sizeof(struct bsdnet_tcp);
		break;
	case BSDNET_IPPROTO_UDP:
		need = sizeof(struct bsdnet_udp);
		break;
	case BSDNET_IPPROTO_ICMP:
		need = sizeof(struct bsdnet_icmp);
		break;
	default:
		return (BSDNET_CONT);
	}
	plen = c->c_iplen - hlen;
	if (plen < need || pkt->p_len - off - hlen < need)
		return (BSDNET_DROP_L4_TRUNCATED);
	l4 = (const uint8_t *)ip + hlen;
	if (proto == BSDNET_IPPROTO_ICMP) {
		icmp = l4;
		if (icmp->icmp_type == BSDNET_ICMP_ECHO ||
		    icmp->icmp_type == BSDNET_ICMP_ECHOREPLY) {
			c->c_key.fk_sport = bsdnet_rd16(icmp->icmp_id);
		} else {
			c->c_key.fk_sport = icmp->icmp_type;
			c->c_key.fk_dport = icmp->icmp_code;
		}
		return (BSDNET_CONT);
	}
	ports = l4;
	c->c_key.fk_sport = bsdnet_rd16(ports->l4_sport);
	c->c_key.fk_dport = bsdnet_rd16(ports->l4_dport);
	if (proto == BSDNET_IPPROTO_TCP)
		c->c_tcp_flags = ((const struct bsdnet_tcp *)l4)->th_flags;
	return (BSDNET_CONT);
}

#endif /* !_BSDNET_PARSE_H_ */
