/*-
 * Region geometry: the one place sizes become offsets.  Used by the
 * datapath to format and validate a region and, through cffi, by the agent.
 */
#include "bsdnet_core.h"
#include "bsdnet_port.h"
#include "bsdnet_layout_priv.h"

#define ALIGN_UP(x, a)	(((x) + ((uint64_t)(a) - 1)) & ~((uint64_t)(a) - 1))

void
bsdnet_geometry_default(struct bsdnet_geometry *g)
{
	g->g_nvifs = BSDNET_DEF_VIFS;
	g->g_nnexthops = BSDNET_DEF_NEXTHOPS;
	g->g_nlabels = BSDNET_DEF_LABELS;
	g->g_nvrfs = BSDNET_DEF_VRFS;
	g->g_nrtbuckets = BSDNET_DEF_RTBUCKETS;
	g->g_nflowbuckets = BSDNET_DEF_FLOWBUCKETS;
	g->g_novfbuckets = BSDNET_DEF_OVFBUCKETS;
	g->g_maxhold = BSDNET_DEF_MAXHOLD;
}

static bool
geometry_ok(const struct bsdnet_geometry *g)
{
	/* Index widths: vifs and VRFs are 16-bit in flows and traps, route
	 * words carry 24-bit indices, labels are 20 bits. */
	if (g->g_nvifs < 1 || g->g_nvifs > 65535)
		return (false);
	if (g->g_nvrfs < 1 || g->g_nvrfs > 65535)
		return (false);
	if (g->g_nnexthops < 2 || g->g_nnexthops > BSDNET_RT_INDEX_MASK)
		return (false);
	if (g->g_nrtbuckets < 1 || g->g_nrtbuckets > BSDNET_RT_INDEX_MASK)
		return (false);
	if (g->g_nlabels <= BSDNET_LABEL_MIN || g->g_nlabels > (1u << 20))
		return (false);
	if (g->g_nflowbuckets < 1 || g->g_nflowbuckets > (1u << 26) ||
	    (g->g_nflowbuckets & (g->g_nflowbuckets - 1)) != 0)
		return (false);
	if (g->g_novfbuckets < 1 || g->g_novfbuckets > (1u << 26))
		return (false);
	if (g->g_maxhold < 1 || g->g_maxhold >
	    (g->g_nflowbuckets + g->g_novfbuckets) * (uint32_t)BSDNET_FLOW_WAYS)
		return (false);
	return (true);
}

/* Offsets of every table for a geometry: the one computation of them. */
struct layout_offs {
	uint64_t lo_vifs, lo_vs, lo_nh, lo_lbl, lo_vrf, lo_rtb, lo_fl, lo_ftg;
	uint64_t lo_st;
	uint64_t lo_size;
};

static void
layout_offsets(const struct bsdnet_geometry *g, struct layout_offs *o)
{
	uint64_t off, nflows;

	nflows = ((uint64_t)g->g_nflowbuckets + g->g_novfbuckets) *
	    BSDNET_FLOW_WAYS;
	off = ALIGN_UP(sizeof(struct bsdnet_region_hdr), BSDNET_REGION_ALIGN);
	o->lo_vifs = off;
	off = ALIGN_UP(off + (uint64_t)g->g_nvifs * sizeof(struct bsdnet_vif),
	    BSDNET_REGION_ALIGN);
	o->lo_vs = off;
	off = ALIGN_UP(off + (uint64_t)g->g_nvifs *
	    sizeof(struct bsdnet_vif_stats), BSDNET_REGION_ALIGN);
	o->lo_nh = off;
	off = ALIGN_UP(off + (uint64_t)g->g_nnexthops *
	    sizeof(struct bsdnet_nh), BSDNET_REGION_ALIGN);
	o->lo_lbl = off;
	off = ALIGN_UP(off + (uint64_t)g->g_nlabels *
	    sizeof(struct bsdnet_label), BSDNET_REGION_ALIGN);
	o->lo_vrf = off;
	off = ALIGN_UP(off + (uint64_t)g->g_nvrfs * sizeof(struct bsdnet_vrf),
	    BSDNET_REGION_ALIGN);
	o->lo_rtb = off;
	off = ALIGN_UP(off + (uint64_t)g->g_nrtbuckets *
	    sizeof(struct bsdnet_rtbucket), BSDNET_REGION_ALIGN);
	o->lo_fl = off;
	off = ALIGN_UP(off + nflows * sizeof(struct bsdnet_flow),
	    BSDNET_REGION_ALIGN);
	o->lo_ftg = off;
	off = ALIGN_UP(off + nflows / BSDNET_FLOW_WAYS *
	    sizeof(struct bsdnet_flow_tags), BSDNET_REGION_ALIGN);
	o->lo_st = off;
	off = ALIGN_UP(off + sizeof(struct bsdnet_stats), BSDNET_REGION_ALIGN);
	o->lo_size = off;
}

int
bsdnet_layout(const struct bsdnet_geometry *g, uint64_t *sizep,
    struct bsdnet_region_hdr *hdr)
{
	struct layout_offs o;

	if (!geometry_ok(g))
		return (BSDNET_E_RANGE);
	layout_offsets(g, &o);
	if (sizep != NULL)
		*sizep = o.lo_size;
	if (hdr != NULL) {
		hdr->rh_abi_version = BSDNET_ABI_VERSION;
		hdr->rh_size = o.lo_size;
		hdr->rh_nvifs = g->g_nvifs;
		hdr->rh_nnexthops = g->g_nnexthops;
		hdr->rh_nlabels = g->g_nlabels;
		hdr->rh_nvrfs = g->g_nvrfs;
		hdr->rh_nrtbuckets = g->g_nrtbuckets;
		hdr->rh_nflowbuckets = g->g_nflowbuckets;
		hdr->rh_novfbuckets = g->g_novfbuckets;
		hdr->rh_maxhold = g->g_maxhold;
		hdr->rh_off_vifs = o.lo_vifs;
		hdr->rh_off_vifstats = o.lo_vs;
		hdr->rh_off_nexthops = o.lo_nh;
		hdr->rh_off_labels = o.lo_lbl;
		hdr->rh_off_vrfs = o.lo_vrf;
		hdr->rh_off_rtbuckets = o.lo_rtb;
		hdr->rh_off_flows = o.lo_fl;
		hdr->rh_off_flowtags = o.lo_ftg;
		hdr->rh_off_stats = o.lo_st;
	}
	return (BSDNET_OK);
}

/*
 * Check a header read from shared memory against a mapping of `size`
 * bytes: geometry in range and every offset exactly what bsdnet_layout()
 * computes for it, so that a table can never reach past the mapping.
 * Fills *g with the geometry seen.  Core-private (bsdnet_layout_priv.h).
 */
int
bsdnet_region_check(const struct bsdnet_region_hdr *hdr, uint64_t size,
    struct bsdnet_geometry *g)
{
	struct layout_offs o;

	g->g_nvifs = hdr->rh_nvifs;
	g->g_nnexthops = hdr->rh_nnexthops;
	g->g_nlabels = hdr->rh_nlabels;
	g->g_nvrfs = hdr->rh_nvrfs;
	g->g_nrtbuckets = hdr->rh_nrtbuckets;
	g->g_nflowbuckets = hdr->rh_nflowbuckets;
	g->g_novfbuckets = hdr->rh_novfbuckets;
	g->g_maxhold = hdr->rh_maxhold;
	if (!geometry_ok(g))
		return (BSDNET_E_GEOMETRY);
	layout_offsets(g, &o);
	if (o.lo_size > size || hdr->rh_size != o.lo_size ||
	    hdr->rh_off_vifs != o.lo_vifs || hdr->rh_off_vifstats != o.lo_vs ||
	    hdr->rh_off_nexthops != o.lo_nh || hdr->rh_off_labels != o.lo_lbl ||
	    hdr->rh_off_vrfs != o.lo_vrf || hdr->rh_off_rtbuckets != o.lo_rtb ||
	    hdr->rh_off_flows != o.lo_fl || hdr->rh_off_flowtags != o.lo_ftg ||
	    hdr->rh_off_stats != o.lo_st)
		return (BSDNET_E_GEOMETRY);
	return (BSDNET_OK);
}

int
bsdnet_region_format(void *base, uint64_t size,
    const struct bsdnet_geometry *g, const uint64_t hash_key[2],
    uint64_t instance)
{
	struct bsdnet_region_hdr *hdr = base;
	uint64_t need;
	int error;

	error = bsdnet_layout(g, &need, NULL);
	if (error != BSDNET_OK)
		return (error);
	if (base == NULL || size < need)
		return (BSDNET_E_GEOMETRY);
	(void)bsdnet_layout(g, NULL, hdr);
	hdr->rh_instance = instance;
	hdr->rh_hash_key[0] = hash_key[0];
	hdr->rh_hash_key[1] = hash_key[1];
	/* 00:00:5e:00:01:00, the MAC vRouter answers ARP with. */
	hdr->rh_router_mac[0] = 0x00;
	hdr->rh_router_mac[1] = 0x00;
	hdr->rh_router_mac[2] = 0x5e;
	hdr->rh_router_mac[3] = 0x00;
	hdr->rh_router_mac[4] = 0x01;
	hdr->rh_router_mac[5] = 0x00;
	hdr->rh_trap_rate = BSDNET_DEF_TRAP_RATE;
	hdr->rh_hold_timeout_ms = BSDNET_DEF_HOLD_TIMEOUT_MS;
	bsdnet_store_rel(&hdr->rh_magic, (uint32_t)BSDNET_MAGIC);
	return (BSDNET_OK);
}
