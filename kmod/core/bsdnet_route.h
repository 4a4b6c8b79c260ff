/*-
 * Per-VRF IPv4 longest-prefix match in the mtrie of bsdnet_abi.h: the
 * first octet indexes vrf_root[], each further octet a route bucket, at
 * most four dependent reads.  The agent expands every prefix into the
 * leaves it covers, so the walk stops at the first leaf.  Words are
 * loaded with acquire (the agent publishes with release).  Inline.
 */
#ifndef _BSDNET_ROUTE_H_
#define _BSDNET_ROUTE_H_

#define BSDNET_RT_BIT31	0x80000000u

static inline int
bsdnet_route_lookup(const struct bsdnet_dp *dp, uint32_t vrf, uint32_t addr,
    uint32_t *nhp)
{
	uint32_t w, b, nh;
	int shift;

	if (vrf >= dp->dp_nvrfs)
		return (BSDNET_DROP_INVALID_VRF);
	w = bsdnet_load_acq(&dp->dp_vrfs[vrf].vrf_root[addr >> 24]);
	for (shift = 16; shift >= 0 && (w & BSDNET_RT_BUCKET) != 0;
	    shift -= 8) {
		b = w & BSDNET_RT_INDEX_MASK;
		/* A corrupt word costs this packet its route, nothing more. */
		if ((w & BSDNET_RT_BIT31) != 0 || b >= dp->dp_nrtbuckets)
			return (BSDNET_DROP_NO_ROUTE);
		w = bsdnet_load_acq(&dp->dp_rtb[b].rb_ent[(addr >> shift) &
		    0xff]);
	}
	/* Still a bucket after the fourth octet, or bit 31: corrupt. */
	if (w == 0 || (w & (BSDNET_RT_BUCKET | BSDNET_RT_BIT31)) != 0)
		return (BSDNET_DROP_NO_ROUTE);
	nh = w & BSDNET_RT_INDEX_MASK;
	if (nh == 0 || nh >= dp->dp_nnexthops)
		return (BSDNET_DROP_INVALID_NH);
	*nhp = nh;
	return (BSDNET_CONT);
}

#endif /* !_BSDNET_ROUTE_H_ */
