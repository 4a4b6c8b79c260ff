/*-
 * The packet pipeline.  Roadmap to the core:
 *
 *  bsdnet_dp_input() ............ vif lookup, then by vif type
 *    vm_input() ................. VIRTUAL vif: a VM sends
 *      bsdnet_parse_*() ......... bsdnet_parse.h; ARP: bsdnet_arp.c
 *      anti-spoofing, DHCP trap, router MAC, TTL
 *      bsdnet_flow_check() ...... bsdnet_flow.c: hit, HOLD queue, miss trap
 *      bsdnet_route_lookup() .... bsdnet_route.h: mtrie, <= 4 reads
 *      bsdnet_nh_resolve() ...... bsdnet_nexthop.c: VRF, ECMP
 *      bsdnet_nh_forward() ...... ENCAP or TUNNEL (bsdnet_encap.c), ...
 *    fabric_input() ............. FABRIC vif: a peer node sends
 *      bsdnet_decap_check() ..... bsdnet_encap.c: GRE, MPLS, label,
 *                                 endpoint (bsdnet_endpoint.h), inner
 *      bsdnet_flow_check(), bsdnet_deliver_local() to the VM
 *  bsdnet_dp_input_burst() ...... the same, in three passes
 *  bsdnet_dp_release() .......... bsdnet_flow.c: replay a decided flow
 *  bsdnet_dp_tick(), _init() .... bsdnet_dp.c: expiry; binding a region
 * Every step returns BSDNET_CONT, a drop reason or BSDNET_DONE; a drop is
 * counted once, by the entry point.  Design: kmod/DESIGN.md.
 */
#include "bsdnet_priv.h"

static int
vm_ipv4(struct bsdnet_dp *dp, struct bsdnet_ctx *c, struct bsdnet_pkt *pkt,
    uint32_t off, bool antispoof)
{
	uint32_t hlen, iplen;
	bool dhcp;
	int r;

	r = bsdnet_parse_ipv4(pkt, off, pkt->p_totlen - off, &hlen, &iplen);
	if (r != BSDNET_CONT)
		return (r);
	c->c_l3off = off;
	c->c_iplen = iplen;
	c->c_key.fk_vrf = c->c_vif->vif_vrf;
	r = bsdnet_parse_l4(pkt, off, c);
	if (r != BSDNET_CONT)
		return (r);
	dhcp = c->c_key.fk_proto == BSDNET_IPPROTO_UDP &&
	    c->c_key.fk_dport == BSDNET_DHCP_SERVER_PORT;
	if (antispoof && c->c_key.fk_src != c->c_vif->vif_ip &&
	    !(dhcp && c->c_key.fk_src == 0))
		return (BSDNET_DROP_SPOOFED_IP);
	if (dhcp && c->c_peek)
		return (BSDNET_PEEKED);
	if (dhcp)	/* the agent answers DHCP; never forwarded */
		return (bsdnet_trap(dp, c, BSDNET_TRAP_DHCP,
		    c->c_key.fk_vrf, pkt));
	if (!bsdnet_mac_eq(bsdnet_eth(pkt)->eth_dst, dp->dp_hdr->rh_router_mac))
		return (BSDNET_DROP_NOT_ROUTER_MAC);
	if (bsdnet_ipv4_at(pkt, off)->ip_ttl == 0)
		return (BSDNET_DROP_TTL_EXPIRED);
	c->c_policy = (c->c_vif->vif_flags & BSDNET_VIF_F_POLICY) != 0;
	return (BSDNET_CONT);
}

/* From the flow step on: the part of a VM's packet with side effects. */
static int
vm_post(struct bsdnet_dp *dp, struct bsdnet_ctx *c, struct bsdnet_pkt *pkt)
{
	uint32_t nh;
	int r;

	r = bsdnet_flow_check(dp, c, pkt);
	if (r != BSDNET_CONT)
		return (r);
	r = bsdnet_route_lookup(dp, c->c_vif->vif_vrf, c->c_key.fk_dst, &nh);
	if (r != BSDNET_CONT)
		return (r);
	r = bsdnet_nh_resolve(dp, c, nh);
	if (r != BSDNET_CONT)
		return (r);
	return (bsdnet_nh_forward(dp, c, pkt));
}

static int
vm_input(struct bsdnet_dp *dp, struct bsdnet_ctx *c, struct bsdnet_pkt *pkt)
{
	uint32_t off;
	uint16_t etype;
	bool antispoof;
	int r;

	r = bsdnet_parse_eth(pkt, c->c_vif->vif_vlan, &off, &etype);
	if (r != BSDNET_CONT)
		return (r);
	/* Two checks, each on when its field is set: a port with allowed
	 * address pairs has no single source address (vif_ip 0, the agent
	 * checks sources per flow) but still has one MAC. */
	if (!bsdnet_mac_zero(c->c_vif->vif_mac) &&
	    !bsdnet_mac_eq(bsdnet_eth(pkt)->eth_src, c->c_vif->vif_mac))
		return (BSDNET_DROP_SPOOFED_MAC);
	antispoof = c->c_vif->vif_ip != 0;
	if (etype == BSDNET_ETHERTYPE_ARP && c->c_peek)
		return (BSDNET_PEEKED);
	if (etype == BSDNET_ETHERTYPE_ARP)
		return (bsdnet_arp_input(dp, c, pkt, off));
	if (etype != BSDNET_ETHERTYPE_IPV4)
		return (BSDNET_DROP_UNSUPPORTED_L2);
	return (vm_ipv4(dp, c, pkt, off, antispoof));
}

static int
fabric_input(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt)
{
	const struct bsdnet_ipv4 *ip;
	const uint8_t *dst;
	uint32_t off, hlen, iplen;
	uint16_t etype;
	bool bcast;
	int r;

	r = bsdnet_parse_eth(pkt, c->c_vif->vif_vlan, &off, &etype);
	if (r != BSDNET_CONT)
		return (r);
	dst = bsdnet_eth(pkt)->eth_dst;
	bcast = bsdnet_mac_bcast(dst);
	if (!bcast && !bsdnet_mac_eq(dst, c->c_vif->vif_mac))
		return (BSDNET_DROP_NOT_FOR_FABRIC);
	if (etype == BSDNET_ETHERTYPE_ARP && c->c_peek)
		return (BSDNET_PEEKED);
	if (etype == BSDNET_ETHERTYPE_ARP)
		return (bsdnet_arp_input(dp, c, pkt, off));
	if (etype != BSDNET_ETHERTYPE_IPV4)
		return (BSDNET_DROP_UNSUPPORTED_L2);
	if (bcast)
		return (BSDNET_DROP_NOT_FOR_FABRIC);
	r = bsdnet_parse_ipv4(pkt, off, pkt->p_totlen - off, &hlen, &iplen);
	if (r != BSDNET_CONT)
		return (r);
	ip = bsdnet_ipv4_at(pkt, off);
	if (bsdnet_rd32(ip->ip_dst) != c->c_vif->vif_ip ||
	    c->c_vif->vif_ip == 0 || ip->ip_p != BSDNET_IPPROTO_GRE)
		return (BSDNET_DROP_NOT_FOR_FABRIC);
	/* Outer fragments: the encapsulation sets DF, so none is expected. */
	if ((bsdnet_rd16(ip->ip_off) & (BSDNET_IP_MF | BSDNET_IP_OFFMASK)) != 0)
		return (BSDNET_DROP_FRAGMENT);
	return (bsdnet_decap_check(dp, c, pkt, bsdnet_rd32(ip->ip_src),
	    off + hlen, iplen - hlen));
}

/* From the flow step on: deliver a decapsulated packet to its VM. */
static int
fabric_post(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt)
{
	int r;

	r = bsdnet_flow_check(dp, c, pkt);
	if (r != BSDNET_CONT)
		return (r);
	r = bsdnet_deliver_local(dp, c, pkt);
	if (r == BSDNET_DONE)
		dp->dp_acc.a_decaps++;
	return (r);
}

/*
 * Stage 1 of a packet: everything before the flow step (parse, checks,
 * label and vif reads).  Nothing here has a side effect except ARP and
 * DHCP (answered or trapped), which stop at BSDNET_PEEKED in peek mode.
 * BSDNET_CONT: go on with input_post().
 */
static int
input_pre(struct bsdnet_dp *dp, struct bsdnet_ctx *c, struct bsdnet_pkt *pkt)
{

	if (pkt->p_data == NULL || pkt->p_len > pkt->p_totlen)
		return (BSDNET_DROP_TRUNCATED);
	if (c->c_vif->vif_type == BSDNET_VIF_VIRTUAL)
		return (vm_input(dp, c, pkt));
	if (c->c_vif->vif_type == BSDNET_VIF_FABRIC)
		return (fabric_input(dp, c, pkt));
	return (BSDNET_DROP_INVALID_VIF);	/* HOST/AGENT: the home's */
}

/* Stage 2: the flow step and what follows (lookups, counters, output). */
static int
input_post(struct bsdnet_dp *dp, struct bsdnet_ctx *c, struct bsdnet_pkt *pkt)
{

	if (c->c_vif->vif_type == BSDNET_VIF_VIRTUAL)
		return (vm_post(dp, c, pkt));
	return (fabric_post(dp, c, pkt));
}

static void
ctx_init(struct bsdnet_ctx *c, uint32_t vif, bool replay, bool peek)
{

	c->c_vifidx = vif;
	c->c_nhidx = 0;
	c->c_replay = replay;
	c->c_policy = false;
	c->c_hashed = false;
	c->c_cand_ok = false;
	c->c_peek = peek;
	c->c_out_ok = false;
	c->c_tcp_flags = 0;
}

static void
count_rx(struct bsdnet_dp *dp, uint32_t vif, const struct bsdnet_pkt *pkt)
{
	struct bsdnet_vif_acc *a;

	a = bsdnet_acc_vif(dp, vif);
	a->va_rx_pkts++;
	a->va_rx_bytes += pkt->p_totlen;
}

void
bsdnet_input_frame(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt,
    bool replay)
{
	struct bsdnet_vif v;
	struct bsdnet_ctx c;
	int r;

	ctx_init(&c, vif, replay, false);
	if (!replay)
		dp->dp_acc.a_rx_pkts++;
	c.c_vif = &v;
	if (!bsdnet_vif_read(dp, vif, &v)) {
		bsdnet_count_drop(dp, vif, BSDNET_DROP_INVALID_VIF);
		return;
	}
	if (!replay)
		count_rx(dp, vif, pkt);
	r = input_pre(dp, &c, pkt);
	if (r == BSDNET_CONT)
		r = input_post(dp, &c, pkt);
	if (r > 0)
		bsdnet_count_drop(dp, vif, r);
}

void
bsdnet_dp_input(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt)
{

	if (dp == NULL || dp->dp_hdr == NULL || pkt == NULL)
		return;
	bsdnet_input_frame(dp, vif, pkt, false);
	bsdnet_acc_flush(dp);
}

/*
 * Burst stage 1 of one packet into slot c: stage 1 of the pipeline in
 * peek mode, then the flow key's hash and a prefetch of its buckets' tags
 * (and of the first route word an encapsulated packet will read).  Returns what
 * stage 2 must do: BSDNET_CONT (resume at the flow step), BSDNET_PEEKED
 * (ARP or DHCP: run the whole pipeline then), BSDNET_NOVIF, or a drop.
 */
static int
burst_stage1(struct bsdnet_dp *dp, uint32_t vif, const struct bsdnet_vif *v,
    struct bsdnet_pkt *pkt, struct bsdnet_ctx *c)
{
	int r;

	ctx_init(c, vif, false, true);
	if (v == NULL)
		return (BSDNET_NOVIF);
	c->c_vif = v;
	r = input_pre(dp, c, pkt);
	if (r != BSDNET_CONT)
		return (r);
	c->c_peek = false;
	if (c->c_policy) {
		(void)bsdnet_ctx_cand(dp, c);
		bsdnet_flow_prefetch(&dp->dp_ft, &c->c_cand);
	}
	if (c->c_vif->vif_type == BSDNET_VIF_VIRTUAL &&
	    c->c_vif->vif_vrf < dp->dp_nvrfs)
		__builtin_prefetch(&dp->dp_vrfs[c->c_vif->vif_vrf].vrf_root[
		    c->c_key.fk_dst >> 24]);
	return (BSDNET_CONT);
}

/* Between the stages: the tags have arrived; fetch the entry they name. */
static inline void
burst_stage_ways(struct bsdnet_dp *dp, struct bsdnet_ctx *c, int r)
{

	if (r == BSDNET_CONT && c->c_cand_ok)
		bsdnet_flow_prefetch_ways(&dp->dp_ft, &c->c_cand);
}

/* Burst stage 2 of the packet stage 1 left in slot c with outcome r. */
static void
burst_stage2(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt,
    struct bsdnet_ctx *c, int r)
{

	if (r == BSDNET_PEEKED) {
		bsdnet_input_frame(dp, vif, pkt, false);
		return;
	}
	dp->dp_acc.a_rx_pkts++;
	if (r == BSDNET_NOVIF) {
		bsdnet_count_drop(dp, vif, BSDNET_DROP_INVALID_VIF);
		return;
	}
	count_rx(dp, vif, pkt);
	if (r == BSDNET_CONT)
		r = input_post(dp, c, pkt);
	if (r > 0)
		bsdnet_count_drop(dp, vif, r);
}

/*
 * Up to BSDNET_BURST_MAX frames at a time, in three passes: stage 1 of
 * each (no side effect), the tag step of each, stage 2 of each in frame
 * order.  The outcome is bsdnet_dp_input()'s on each frame in order
 * (kmod/DESIGN.md, "The pipeline").  The input vif is read once per call.
 */
void
bsdnet_dp_input_burst(struct bsdnet_dp *dp, uint32_t vif,
    struct bsdnet_pkt *pkts, uint32_t n)
{
	struct bsdnet_ctx *ring;
	struct bsdnet_vif v;
	const struct bsdnet_vif *vp;
	int *rr;
	uint32_t i, k, m;

	if (dp == NULL || dp->dp_hdr == NULL || pkts == NULL || n == 0)
		return;
	ring = dp->dp_burst;
	rr = dp->dp_burst_r;
	vp = bsdnet_vif_read(dp, vif, &v) ? &v : NULL;
	for (k = 0; k < n; k += m) {
		m = n - k < BSDNET_BURST_MAX ? n - k : BSDNET_BURST_MAX;
		for (i = 0; i < m; i++)
			rr[i] = burst_stage1(dp, vif, vp, &pkts[k + i],
			    &ring[i]);
		for (i = 0; i < m; i++)
			burst_stage_ways(dp, &ring[i], rr[i]);
		for (i = 0; i < m; i++)
			burst_stage2(dp, vif, &pkts[k + i], &ring[i], rr[i]);
	}
	bsdnet_acc_flush(dp);
}
