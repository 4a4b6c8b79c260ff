/*-
 * Vifs and nexthops: seqlocked copies out of shared memory, resolution of
 * VRF and ECMP nexthops into one that forwards, and the dispatch on its
 * type.
 *
 * Seqlock reader: load x_seq with acquire, copy, acquire fence, reload;
 * the copy is good if the count was even and unchanged.  After
 * BSDNET_SEQ_RETRIES failures the entry counts as invalid: a writer stuck
 * mid-update (or a corrupt odd count) costs drops, not a spin.
 */
#include "bsdnet_priv.h"

/* Copy len bytes of an entry whose sequence count is *seq (the reader
 * described above).  False if no clean copy was had. */
static inline bool
seq_copy(const uint32_t *seq, void *dst, const void *src, size_t len)
{
	uint32_t s1;
	int i;

	for (i = 0; i < BSDNET_SEQ_RETRIES; i++) {
		s1 = bsdnet_load_acq(seq);
		if ((s1 & 1) != 0)
			continue;
		bsdnet_memcpy(dst, src, len);
		bsdnet_fence_acq();
		if (bsdnet_load_rlx(seq) == s1)
			return (true);
	}
	return (false);
}

bool
bsdnet_vif_read(const struct bsdnet_dp *dp, uint32_t idx,
    struct bsdnet_vif *out)
{

	if (idx >= dp->dp_nvifs)
		return (false);
	return (seq_copy(&dp->dp_vifs[idx].vif_seq, out, &dp->dp_vifs[idx],
	    sizeof(*out)) && out->vif_type != BSDNET_VIF_NONE);
}

/*
 * The few fields of vif idx that the output and decapsulation paths
 * check, under the same seqlock, without copying the whole entry.
 */
bool
bsdnet_vif_read_out(const struct bsdnet_dp *dp, uint32_t idx,
    struct bsdnet_vif_out *out)
{
	const struct bsdnet_vif *v;
	uint32_t s1, s2;
	int i;

	if (idx >= dp->dp_nvifs)
		return (false);
	v = &dp->dp_vifs[idx];
	for (i = 0; i < BSDNET_SEQ_RETRIES; i++) {
		s1 = bsdnet_load_acq(&v->vif_seq);
		if ((s1 & 1) != 0)
			continue;
		out->vo_type = v->vif_type;
		out->vo_flags = v->vif_flags;
		out->vo_ip = v->vif_ip;
		out->vo_mtu = v->vif_mtu;
		bsdnet_fence_acq();
		s2 = bsdnet_load_rlx(&v->vif_seq);
		if (s1 == s2)
			return (out->vo_type != BSDNET_VIF_NONE);
	}
	return (false);
}

bool
bsdnet_nh_read(const struct bsdnet_dp *dp, uint32_t idx, struct bsdnet_nh *out)
{

	if (idx == 0 || idx >= dp->dp_nnexthops)
		return (false);
	return (seq_copy(&dp->dp_nhs[idx].nh_seq, out, &dp->dp_nhs[idx],
	    sizeof(*out)) && out->nh_type != BSDNET_NH_NONE);
}

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
