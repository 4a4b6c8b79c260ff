/*-
 * Region geometry and formatting, shared by every datapath home and by the
 * agent (through cffi, which reads this file preprocessed with
 * -DBSDNET_ABI_CFFI).  Implemented in kmod/core/bsdnet_layout.c.
 */
#ifndef _BSDNET_LAYOUT_H_
#define _BSDNET_LAYOUT_H_

#ifndef BSDNET_ABI_CFFI
#include <stdint.h>
#endif
#include "bsdnet_abi.h"

/* Errors returned by the non-packet functions (negative). */
enum bsdnet_err {
	BSDNET_OK		= 0,
	BSDNET_E_MAGIC		= -1,	/* no region, or not initialised */
	BSDNET_E_VERSION	= -2,	/* ABI version we do not speak */
	BSDNET_E_GEOMETRY	= -3,	/* sizes/offsets do not fit the region */
	BSDNET_E_RANGE		= -4,	/* argument out of range */
};

/* Table sizes of a region. */
struct bsdnet_geometry {
	uint32_t	 g_nvifs, g_nnexthops, g_nlabels, g_nvrfs;
	uint32_t	 g_nrtbuckets, g_nflowbuckets, g_novfbuckets, g_maxhold;
};

/* Fill *g with the defaults of bsdnet_abi.h. */
void	bsdnet_geometry_default(struct bsdnet_geometry *g);
/*
 * Compute the region size for g and, if hdr != NULL, write geometry and
 * offsets into hdr (not rh_magic).  Returns 0 on success or BSDNET_E_RANGE
 * when a size is zero, too large, or nflowbuckets is not a power of two.
 */
int	bsdnet_layout(const struct bsdnet_geometry *g, uint64_t *sizep,
	    struct bsdnet_region_hdr *hdr);
/*
 * Initialise a zeroed region of `size` bytes: layout, router MAC default,
 * hash key and instance from the caller (the home supplies randomness),
 * rh_magic stored last with release.  Returns 0 or a bsdnet_err.
 */
int	bsdnet_region_format(void *base, uint64_t size,
	    const struct bsdnet_geometry *g, const uint64_t hash_key[2],
	    uint64_t instance);

#ifndef BSDNET_ABI_CFFI		/* C only: the agent reads rh_off_* */
/* The tables of a region, in the order they are laid out. */
enum bsdnet_table {
	BSDNET_TBL_VIFS,
	BSDNET_TBL_VIFSTATS,
	BSDNET_TBL_NEXTHOPS,
	BSDNET_TBL_LABELS,
	BSDNET_TBL_VRFS,
	BSDNET_TBL_RTBUCKETS,
	BSDNET_TBL_FLOWS,
	BSDNET_TBL_FLOWTAGS,
	BSDNET_TBL_STATS,
	BSDNET_TBL_ENDPOINTS,
	BSDNET_TBL_MAX
};
/*
 * The byte offset of every table for g (what bsdnet_layout() writes in
 * the rh_off_* fields), for a home that must find a table without
 * reading a header the agent can write.  0 or BSDNET_E_RANGE.
 */
int	bsdnet_layout_offsets(const struct bsdnet_geometry *g,
	    uint64_t off[BSDNET_TBL_MAX]);
#endif
#endif /* !_BSDNET_LAYOUT_H_ */
