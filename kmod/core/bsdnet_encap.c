/*-
 * Where a packet is encapsulated (VM -> TUNNEL nexthop: struct
 * bsdnet_encap in front of the inner IPv4 header) and decapsulated
 * (fabric -> label -> the VM).  The format: kmod/DESIGN.md.
 */
#include "bsdnet_priv.h"

/* Write an Ethernet header ending at l3off and make it the frame start;
 * the frame ends with the IP packet (Ethernet padding is dropped). */
static void
eth_prepend(struct bsdnet_pkt *pkt, uint32_t l3off, uint32_t iplen,
    const uint8_t *dmac, const uint8_t *smac)
{
	uint32_t skip = l3off - BSDNET_ETH_HLEN;
	struct bsdnet_ether *e;

	e = (struct bsdnet_ether *)(void *)(pkt->p_data + skip);
	bsdnet_memcpy(e->eth_dst, dmac, BSDNET_ETH_ALEN);
	bsdnet_memcpy(e->eth_src, smac, BSDNET_ETH_ALEN);
	bsdnet_wr16(e->eth_type, BSDNET_ETHERTYPE_IPV4);
	pkt->p_data = (uint8_t *)e;
	pkt->p_headroom += skip;
	pkt->p_len -= skip;
	pkt->p_totlen = BSDNET_ETH_HLEN + iplen;
	if (pkt->p_len > pkt->p_totlen)
		pkt->p_len = pkt->p_totlen;
}

/*
 * Deliver to the local vif of an ENCAP nexthop.  This node delivers into
 * the VM, so it is the one that decrements the TTL (a TTL that would
 * reach zero is expired).
 */
int
bsdnet_deliver_local(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt)
{
	struct bsdnet_vif_out ov;
	struct bsdnet_ipv4 *ip = bsdnet_ipv4_at(pkt, c->c_l3off);
	uint32_t out = c->c_nh.nh_vif;

	/* Decapsulation has just read this vif (bsdnet_decap_check()). */
	if (c->c_out_ok)
		ov = c->c_out;
	else if (!bsdnet_vif_read_out(dp, out, &ov))
		return (BSDNET_DROP_INVALID_NH);
	if (ov.vo_type != BSDNET_VIF_VIRTUAL && ov.vo_type != BSDNET_VIF_HOST)
		return (BSDNET_DROP_INVALID_NH);
	if (ip->ip_ttl <= 1)
		return (BSDNET_DROP_TTL_EXPIRED);
	bsdnet_ipv4_dec_ttl(ip);
	eth_prepend(pkt, c->c_l3off, c->c_iplen, c->c_nh.nh_dmac,
	    c->c_nh.nh_smac);
	return (bsdnet_tx(dp, out, pkt));
}

/*
 * Checksum of the outer IPv4 header bsdnet_encap_tunnel() writes: all of
 * it is constant but the total length and the addresses, so it is summed
 * from those rather than read back (RFC 1071, 16-bit words).
 */
static uint16_t
outer_csum(uint32_t totlen, uint32_t src, uint32_t dst)
{
	uint32_t sum;

	sum = (BSDNET_IP_VHL << 8) + BSDNET_IP_DF +
	    (BSDNET_OUTER_TTL << 8 | BSDNET_IPPROTO_GRE) + totlen +
	    (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~sum);
}

/*
 * What fits the overlay: the fabric's MTU less the outer IPv4, GRE and
 * MPLS headers; 0 if the fabric's MTU is not known (nothing is checked),
 * 1 if it leaves no room (nothing fits).
 */
static uint32_t
overlay_mtu(const struct bsdnet_vif_out *fv)
{
	const uint32_t over = BSDNET_ENCAP_LEN - BSDNET_ETH_HLEN;

	if (fv->vo_mtu == 0)
		return (0);
	return (fv->vo_mtu > over ? fv->vo_mtu - over : 1);
}

/*
 * A packet that fits the overlay goes on.  One that does not is dropped
 * and its sender told the overlay's MTU (bsdnet_icmp_toobig()), DF or
 * not: nothing is fragmented (kmod/DESIGN.md, "Path MTU").
 */
static int
encap_fits(struct bsdnet_dp *dp, struct bsdnet_ctx *c, struct bsdnet_pkt *pkt,
    uint32_t mtu)
{
	const struct bsdnet_ipv4 *ip = bsdnet_ipv4_at(pkt, c->c_l3off);
	bool df;

	if (BSDNET_LIKELY(mtu == 0 || c->c_iplen <= mtu))
		return (BSDNET_CONT);
	df = (bsdnet_rd16(ip->ip_off) & BSDNET_IP_DF) != 0;
	bsdnet_icmp_toobig(dp, c, pkt, mtu);
	return (df ? BSDNET_DROP_MTU_EXCEEDED : BSDNET_DROP_MTU_EXCEEDED_NO_DF);
}

int
bsdnet_encap_tunnel(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt)
{
	struct bsdnet_vif_out fv;
	const struct bsdnet_nh *nh = &c->c_nh;
	struct bsdnet_ipv4 *ip;
	struct bsdnet_encap *o;
	uint32_t out = nh->nh_vif, framelen, otot, mtu;
	bool inplace;
	int r;

	if (!bsdnet_vif_read_out(dp, out, &fv) ||
	    fv.vo_type != BSDNET_VIF_FABRIC ||
	    nh->nh_label > BSDNET_MPLS_LABEL_MAX)
		return (BSDNET_DROP_INVALID_NH);
	mtu = overlay_mtu(&fv);
	r = encap_fits(dp, c, pkt, mtu);
	if (r != BSDNET_CONT)
		return (r);
	/* SYNs only: one test of a byte already in hand for the rest. */
	if (BSDNET_UNLIKELY((c->c_tcp_flags & BSDNET_TH_SYN) != 0) &&
	    c->c_key.fk_proto == BSDNET_IPPROTO_TCP &&
	    mtu > BSDNET_IP_HLEN + BSDNET_TCP_HLEN &&
	    (bsdnet_load_rlx(&dp->dp_hdr->rh_dp_flags) &
	    BSDNET_DPF_NO_MSS_CLAMP) == 0)
		bsdnet_mss_clamp(dp, c, pkt, mtu - BSDNET_IP_HLEN -
		    BSDNET_TCP_HLEN);
	ip = bsdnet_ipv4_at(pkt, c->c_l3off);
	framelen = BSDNET_ENCAP_LEN + c->c_iplen;
	inplace = (uint64_t)pkt->p_headroom + c->c_l3off >= BSDNET_ENCAP_LEN;
	if (inplace)
		o = (struct bsdnet_encap *)(void *)((uint8_t *)ip -
		    BSDNET_ENCAP_LEN);
	else if ((o = (struct bsdnet_encap *)(void *)bsdnet_os_prepend(dp,
	    pkt, c->c_l3off, BSDNET_ENCAP_LEN)) == NULL)
		return (BSDNET_DROP_NO_HEADROOM);
	bsdnet_memcpy(o->en_eth.eth_dst, nh->nh_dmac, BSDNET_ETH_ALEN);
	bsdnet_memcpy(o->en_eth.eth_src, nh->nh_smac, BSDNET_ETH_ALEN);
	bsdnet_wr16(o->en_eth.eth_type, BSDNET_ETHERTYPE_IPV4);
	o->en_ip.ip_vhl = BSDNET_IP_VHL;
	o->en_ip.ip_tos = 0;
	otot = BSDNET_IP_HLEN + BSDNET_GRE_HLEN + BSDNET_MPLS_HLEN + c->c_iplen;
	bsdnet_wr16(o->en_ip.ip_len, (uint16_t)otot);
	bsdnet_wr16(o->en_ip.ip_id, 0);		/* DF set, never fragmented */
	bsdnet_wr16(o->en_ip.ip_off, BSDNET_IP_DF);
	o->en_ip.ip_ttl = BSDNET_OUTER_TTL;
	o->en_ip.ip_p = BSDNET_IPPROTO_GRE;
	bsdnet_wr32(o->en_ip.ip_src, nh->nh_tun_src);
	bsdnet_wr32(o->en_ip.ip_dst, nh->nh_tun_dst);
	bsdnet_wr16(o->en_ip.ip_sum, outer_csum(otot & 0xffff, nh->nh_tun_src,
	    nh->nh_tun_dst));
	bsdnet_wr16(o->en_gre.gre_flags, 0);
	bsdnet_wr16(o->en_gre.gre_proto, BSDNET_ETHERTYPE_MPLS);
	bsdnet_wr32(o->en_mpls.mpls_lse, nh->nh_label <<
	    BSDNET_MPLS_LABEL_SHIFT | BSDNET_MPLS_BOS | ip->ip_ttl);

	if (inplace) {
		/* p_data moves back by ENCAP_LEN - l3off (l3off >= 14). */
		pkt->p_headroom = (uint32_t)(pkt->p_headroom + c->c_l3off -
		    BSDNET_ENCAP_LEN);
		pkt->p_len = pkt->p_len - c->c_l3off + BSDNET_ENCAP_LEN;
		pkt->p_data = (uint8_t *)o;
	}
	pkt->p_totlen = framelen;
	if (pkt->p_len > pkt->p_totlen)
		pkt->p_len = pkt->p_totlen;
	r = bsdnet_tx(dp, out, pkt);
	if (r == BSDNET_DONE)
		dp->dp_acc.a_encaps++;
	return (r);
}

/* The label's nexthop: ENCAP (one VM) or VRF (look the inner address up). */
static int
decap_label(struct bsdnet_dp *dp, struct bsdnet_ctx *c, uint32_t label)
{
	uint32_t lnh;

	if (label < BSDNET_LABEL_MIN || label >= dp->dp_nlabels)
		return (BSDNET_DROP_INVALID_LABEL);
	lnh = bsdnet_load_acq(&dp->dp_labels[label].lbl_nh);
	if (lnh == 0 || lnh >= dp->dp_nnexthops)
		return (BSDNET_DROP_INVALID_LABEL);
	if (!bsdnet_nh_read(dp, lnh, &c->c_nh))
		return (BSDNET_DROP_INVALID_NH);
	if (c->c_nh.nh_type != BSDNET_NH_ENCAP &&
	    c->c_nh.nh_type != BSDNET_NH_VRF)
		return (BSDNET_DROP_INVALID_LABEL);
	c->c_lblnh = lnh;
	c->c_nhidx = lnh;
	return (BSDNET_CONT);
}

/*
 * May outer source osrc send into the VRF of the label's nexthop?  Only a
 * node the agent was told about, and only into its networks
 * (kmod/DESIGN.md, "Tunnel endpoints"); the second lookup runs only on
 * the way to a drop, to name it.
 */
static int
decap_endpoint(const struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    uint32_t osrc)
{

	if (BSDNET_LIKELY(bsdnet_ep_known(dp->dp_eps, osrc, c->c_nh.nh_vrf)))
		return (BSDNET_CONT);
	if ((bsdnet_load_rlx(&dp->dp_hdr->rh_dp_flags) &
	    BSDNET_DPF_ANY_SOURCE) != 0)
		return (BSDNET_CONT);
	if (!bsdnet_ep_known(dp->dp_eps, osrc, BSDNET_EP_VRF_ANY))
		return (BSDNET_DROP_UNKNOWN_ENDPOINT);
	return (BSDNET_DROP_ENDPOINT_VRF);
}

/*
 * Validate GRE, MPLS and the inner IPv4 packet of a fabric frame from
 * outer source osrc whose outer IPv4 payload (limit bytes) starts at
 * gre_off; resolve the label to the ENCAP nexthop that delivers it and
 * check osrc may send into its VRF.  Sets the flow key (in the VRF
 * of the label's nexthop), c_policy from the destination vif, c_l3off
 * and c_iplen of the inner packet.
 */
int
bsdnet_decap_check(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt, uint32_t osrc, uint32_t gre_off, uint32_t limit)
{
	struct bsdnet_vif_out *dv = &c->c_out;
	const struct bsdnet_gre *g;
	const struct bsdnet_mpls *m;
	uint32_t mpls, hlen, iplen, off;
	uint16_t vrf;
	int r;

	if (limit < BSDNET_GRE_HLEN || pkt->p_len - gre_off < BSDNET_GRE_HLEN)
		return (BSDNET_DROP_BAD_GRE);
	g = (const struct bsdnet_gre *)(const void *)(pkt->p_data + gre_off);
	if (bsdnet_rd16(g->gre_flags) != 0)
		return (BSDNET_DROP_BAD_GRE);
	if (bsdnet_rd16(g->gre_proto) != BSDNET_ETHERTYPE_MPLS)
		return (BSDNET_DROP_GRE_PROTO);
	if (limit < BSDNET_GRE_HLEN + BSDNET_MPLS_HLEN ||
	    pkt->p_len - gre_off < BSDNET_GRE_HLEN + BSDNET_MPLS_HLEN)
		return (BSDNET_DROP_BAD_MPLS);
	m = (const struct bsdnet_mpls *)(const void *)(g + 1);
	mpls = bsdnet_rd32(m->mpls_lse);
	if ((mpls & BSDNET_MPLS_BOS) == 0)	/* one label only */
		return (BSDNET_DROP_BAD_MPLS);
	c->c_mpls_ttl = (uint8_t)mpls;
	r = decap_label(dp, c, mpls >> BSDNET_MPLS_LABEL_SHIFT);
	if (r != BSDNET_CONT)
		return (r);
	r = decap_endpoint(dp, c, osrc);
	if (r != BSDNET_CONT)
		return (r);

	off = gre_off + BSDNET_GRE_HLEN + BSDNET_MPLS_HLEN;
	r = bsdnet_parse_ipv4(pkt, off, limit - BSDNET_GRE_HLEN -
	    BSDNET_MPLS_HLEN, &hlen, &iplen);
	if (r != BSDNET_CONT)
		return (r);
	c->c_l3off = off;
	c->c_iplen = iplen;
	if (c->c_mpls_ttl <= 1 || bsdnet_ipv4_at(pkt, off)->ip_ttl <= 1)
		return (BSDNET_DROP_TTL_EXPIRED);
	r = bsdnet_parse_l4(pkt, off, c);
	if (r != BSDNET_CONT)
		return (r);
	vrf = c->c_nh.nh_vrf;
	c->c_key.fk_vrf = vrf;

	if (c->c_nh.nh_type == BSDNET_NH_ENCAP) {
		if (!bsdnet_vif_read_out(dp, c->c_nh.nh_vif, dv))
			return (BSDNET_DROP_INVALID_NH);
		/* A label only ever delivers to its own VM. */
		if (c->c_key.fk_dst != dv->vo_ip)
			return (BSDNET_DROP_LABEL_MISMATCH);
	} else {
		r = bsdnet_nh_resolve(dp, c, c->c_lblnh);
		if (r != BSDNET_CONT)
			return (r);
		if (c->c_nh.nh_type != BSDNET_NH_ENCAP)
			return (BSDNET_DROP_INVALID_NH);
		if (!bsdnet_vif_read_out(dp, c->c_nh.nh_vif, dv))
			return (BSDNET_DROP_INVALID_NH);
	}
	c->c_out_ok = true;
	c->c_policy = (dv->vo_flags & BSDNET_VIF_F_POLICY) != 0;
	return (BSDNET_CONT);
}
