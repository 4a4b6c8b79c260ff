/*-
 * Vifs and nexthops copied out of shared memory under their seqlocks
 * (bsdnet_seqlock.h).  Inline, through bsdnet_priv.h: a packet reads a
 * nexthop and a vif or two.
 */
#ifndef _BSDNET_SEQREAD_H_
#define _BSDNET_SEQREAD_H_

#include "bsdnet_seqlock.h"

static inline bool
bsdnet_vif_read(const struct bsdnet_dp *dp, uint32_t idx,
    struct bsdnet_vif *out)
{
	const struct bsdnet_vif *v;

	if (idx >= dp->dp_nvifs)
		return (false);
	v = &dp->dp_vifs[idx];
	return (bsdnet_seq_read(&v->vif_seq, out, v, sizeof(*out)) &&
	    out->vif_type != BSDNET_VIF_NONE);
}

/* The fields of vif idx the output and decapsulation paths check, field
 * by field (a copy of the entry costs the encapsulation about 1%). */
static inline bool
bsdnet_vif_read_out(const struct bsdnet_dp *dp, uint32_t idx,
    struct bsdnet_vif_out *out)
{
	const struct bsdnet_vif *v;
	uint32_t s;
	int i;

	if (idx >= dp->dp_nvifs)
		return (false);
	v = &dp->dp_vifs[idx];
	for (i = 0; i < BSDNET_SEQ_RETRIES; i++) {
		if (!bsdnet_seq_begin(&v->vif_seq, &s))
			continue;
		out->vo_type = v->vif_type;
		out->vo_flags = v->vif_flags;
		out->vo_ip = v->vif_ip;
		out->vo_mtu = v->vif_mtu;
		if (bsdnet_seq_end(&v->vif_seq, s))
			return (out->vo_type != BSDNET_VIF_NONE);
	}
	return (false);
}

static inline bool
bsdnet_nh_read(const struct bsdnet_dp *dp, uint32_t idx, struct bsdnet_nh *out)
{
	const struct bsdnet_nh *n;

	if (idx == 0 || idx >= dp->dp_nnexthops)
		return (false);
	n = &dp->dp_nhs[idx];
	return (bsdnet_seq_read(&n->nh_seq, out, n, sizeof(*out)) &&
	    out->nh_type != BSDNET_NH_NONE);
}

#endif /* !_BSDNET_SEQREAD_H_ */
