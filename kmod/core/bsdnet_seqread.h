/*-
 * Vifs and nexthops copied out of shared memory under their seqlocks.
 *
 * Seqlock reader: load x_seq with acquire, copy, acquire fence, reload;
 * the copy is good if the count was even and unchanged.  After
 * BSDNET_SEQ_RETRIES failures the entry counts as invalid: a writer stuck
 * mid-update (or a corrupt odd count) costs drops, not a spin.
 *
 * Inline, through bsdnet_priv.h: a packet reads a nexthop and a vif or
 * two, and each is a few loads.
 */
#ifndef _BSDNET_SEQREAD_H_
#define _BSDNET_SEQREAD_H_

/* Copy len bytes of an entry whose sequence count is *seq (the reader
 * described above).  False if no clean copy was had. */
static inline bool
bsdnet_seq_copy(const uint32_t *seq, void *dst, const void *src, size_t len)
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

static inline bool
bsdnet_vif_read(const struct bsdnet_dp *dp, uint32_t idx,
    struct bsdnet_vif *out)
{

	if (idx >= dp->dp_nvifs)
		return (false);
	return (bsdnet_seq_copy(&dp->dp_vifs[idx].vif_seq, out, &dp->dp_vifs[idx],
	    sizeof(*out)) && out->vif_type != BSDNET_VIF_NONE);
}

/*
 * The few fields of vif idx that the output and decapsulation paths
 * check, under the same seqlock, without copying the whole entry.
 */
static inline bool
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

static inline bool
bsdnet_nh_read(const struct bsdnet_dp *dp, uint32_t idx, struct bsdnet_nh *out)
{

	if (idx == 0 || idx >= dp->dp_nnexthops)
		return (false);
	return (bsdnet_seq_copy(&dp->dp_nhs[idx].nh_seq, out, &dp->dp_nhs[idx],
	    sizeof(*out)) && out->nh_type != BSDNET_NH_NONE);
}

#endif /* !_BSDNET_SEQREAD_H_ */
