/*-
 * Nexthops: resolution of VRF and ECMP nexthops into one that forwards,
 * and the dispatch on its type.  Reading a nexthop or vif out of shared
 * memory: bsdnet_seqread.h.
 */
#include "bsdnet_priv.h"

/*
 * Resolve nexthop nh into c_nh/c_nhidx: a VRF nexthop looks the inner
 * destination up once in nh_vrf (the result may not be another VRF
 * nexthop), then an ECMP nexthop picks one member by the flow hash (the
 * member must be ENCAP or TUNNEL).  No nesting beyond that: bounded work.
 */
int
bsdnet_nh_resolve(struct bsdnet_dp *dp, struct bsdnet_ctx *c, uint32_t nh)
{
	uint32_t n, m;
	int r;

	if (!bsdnet_nh_read(dp, nh, &c->c_nh))
		return (BSDNET_DROP_INVALID_NH);
	if (c->c_nh.nh_type == BSDNET_NH_VRF) {
		r = bsdnet_route_lookup(dp, c->c_nh.nh_vrf, c->c_key.fk_dst,
		    &nh);
		if (r != BSDNET_CONT)
			return (r);
		if (!bsdnet_nh_read(dp, nh, &c->c_nh) ||
		    c->c_nh.nh_type == BSDNET_NH_VRF)
			return (BSDNET_DROP_INVALID_NH);
	}
	if (c->c_nh.nh_type == BSDNET_NH_ECMP) {
		n = c->c_nh.nh_nmembers;
		if (n == 0 || n > BSDNET_ECMP_MAX)
			return (BSDNET_DROP_INVALID_NH);
		/* High bits: the low ones chose the flow bucket. */
		m = c->c_nh.nh_members[(uint32_t)(bsdnet_ctx_hash(dp, c) >>
		    40) % n];
		nh = m;
		if (!bsdnet_nh_read(dp, nh, &c->c_nh) ||
		    (c->c_nh.nh_type != BSDNET_NH_ENCAP &&
		    c->c_nh.nh_type != BSDNET_NH_TUNNEL))
			return (BSDNET_DROP_INVALID_NH);
	}
	c->c_nhidx = nh;
	return (BSDNET_CONT);
}

/* Act on the resolved nexthop of a packet from a VM. */
int
bsdnet_nh_forward(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt)
{

	switch (c->c_nh.nh_type) {
	case BSDNET_NH_ENCAP:
		return (bsdnet_deliver_local(dp, c, pkt));
	case BSDNET_NH_TUNNEL:
		return (bsdnet_encap_tunnel(dp, c, pkt));
	case BSDNET_NH_RECEIVE:
		return (bsdnet_trap(dp, c, BSDNET_TRAP_RECEIVE,
		    c->c_key.fk_vrf, pkt));
	case BSDNET_NH_DISCARD:
		return (BSDNET_DROP_DISCARD_NH);
	default:
		return (BSDNET_DROP_INVALID_NH);
	}
}
