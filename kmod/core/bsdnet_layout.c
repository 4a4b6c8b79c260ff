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

/*
 * The one list of the tables: where the header keeps each one's offset,
 * and the size of its entries (bytes per entry; the number of entries is
 * layout_entries()).
 */
#define HDR_OFF(f)	offsetof(struct bsdnet_region_hdr, f)
static const struct layout_table {
	size_t	lt_hdr;
	size_t	lt_size;
} layout_tables[BSDNET_TBL_MAX] = {
	[BSDNET_TBL_VIFS] =	 { HDR_OFF(rh_off_vifs),
	    sizeof(struct bsdnet_vif) },
	[BSDNET_TBL_VIFSTATS] =	 { HDR_OFF(rh_off_vifstats),
	    sizeof(struct bsdnet_vif_stats) },
	[BSDNET_TBL_NEXTHOPS] =	 { HDR_OFF(rh_off_nexthops),
	    sizeof(struct bsdnet_nh) },
	[BSDNET_TBL_LABELS] =	 { HDR_OFF(rh_off_labels),
	    sizeof(struct bsdnet_label) },
	[BSDNET_TBL_VRFS] =	 { HDR_OFF(rh_off_vrfs),
	    sizeof(struct bsdnet_vrf) },
	[BSDNET_TBL_RTBUCKETS] = { HDR_OFF(rh_off_rtbuckets),
	    sizeof(struct bsdnet_rtbucket) },
	[BSDNET_TBL_FLOWS] =	 { HDR_OFF(rh_off_flows),
	    sizeof(struct bsdnet_flow) },
	[BSDNET_TBL_FLOWTAGS] =	 { HDR_OFF(rh_off_flowtags),
	    sizeof(struct bsdnet_flow_tags) },
	[BSDNET_TBL_STATS] =	 { HDR_OFF(rh_off_stats),
	    sizeof(struct bsdnet_stats) },
	[BSDNET_TBL_ENDPOINTS] = { HDR_OFF(rh_off_endpoints),
	    sizeof(struct bsdnet_ep_bucket) },
};

static uint64_t
layout_entries(const struct bsdnet_geometry *g, enum bsdnet_table t)
{
	uint64_t buckets = (uint64_t)g->g_nflowbuckets + g->g_novfbuckets;

	switch (t) {
	case BSDNET_TBL_VIFS:
	case BSDNET_TBL_VIFSTATS:
		return (g->g_nvifs);
	case BSDNET_TBL_NEXTHOPS:
		return (g->g_nnexthops);
	case BSDNET_TBL_LABELS:
		return (g->g_nlabels);
	case BSDNET_TBL_VRFS:
		return (g->g_nvrfs);
	case BSDNET_TBL_RTBUCKETS:
		return (g->g_nrtbuckets);
	case BSDNET_TBL_FLOWS:		/* main area, then overflow */
		return (buckets * BSDNET_FLOW_WAYS);
	case BSDNET_TBL_FLOWTAGS:
		return (buckets);
	case BSDNET_TBL_ENDPOINTS:	/* fixed: not (yet) a geometry knob */
		return (BSDNET_EP_BUCKETS);
	default:
		return (1);
	}
}

/* The header's rh_off_* field of table t. */
static uint64_t *
layout_field(struct bsdnet_region_hdr *hdr, int t)
{

	return ((uint64_t *)(void *)((uint8_t *)hdr + layout_tables[t].lt_hdr));
}

static uint64_t
layout_field_get(const struct bsdnet_region_hdr *hdr, int t)
{

	return (*(const uint64_t *)(const void *)((const uint8_t *)hdr +
	    layout_tables[t].lt_hdr));
}

/* Each table on its own page, after the header's; returns the size. */
static uint64_t
layout_compute(const struct bsdnet_geometry *g, uint64_t off[BSDNET_TBL_MAX])
{
	uint64_t at;
	int t;

	at = ALIGN_UP(sizeof(struct bsdnet_region_hdr), BSDNET_REGION_ALIGN);
	for (t = 0; t < BSDNET_TBL_MAX; t++) {
		off[t] = at;
		at = ALIGN_UP(at + layout_entries(g, (enum bsdnet_table)t) *
		    layout_tables[t].lt_size, BSDNET_REGION_ALIGN);
	}
	return (at);
}

int
bsdnet_layout_offsets(const struct bsdnet_geometry *g,
    uint64_t off[BSDNET_TBL_MAX])
{

	if (!geometry_ok(g))
		return (BSDNET_E_RANGE);
	(void)layout_compute(g, off);
	return (BSDNET_OK);
}

int
bsdnet_layout(const struct bsdnet_geometry *g, uint64_t *sizep,
    struct bsdnet_region_hdr *hdr)
{
	uint64_t off[BSDNET_TBL_MAX], size;
	int t;

	if (!geometry_ok(g))
		return (BSDNET_E_RANGE);
	size = layout_compute(g, off);
	if (sizep != NULL)
		*sizep = size;
	if (hdr != NULL) {
		hdr->rh_abi_version = BSDNET_ABI_VERSION;
		hdr->rh_size = size;
		hdr->rh_nvifs = g->g_nvifs;
		hdr->rh_nnexthops = g->g_nnexthops;
		hdr->rh_nlabels = g->g_nlabels;
		hdr->rh_nvrfs = g->g_nvrfs;
		hdr->rh_nrtbuckets = g->g_nrtbuckets;
		hdr->rh_nflowbuckets = g->g_nflowbuckets;
		hdr->rh_novfbuckets = g->g_novfbuckets;
		hdr->rh_maxhold = g->g_maxhold;
		for (t = 0; t < BSDNET_TBL_MAX; t++)
			*layout_field(hdr, t) = off[t];
	}
	return (BSDNET_OK);
}

/*
 * Check a header read from shared memory against a mapping of `size`
 * bytes: geometry in range and every offset exactly what bsdnet_layout()
 * computes for it, so that no table reaches past the mapping.  Fills *g
 * with the geometry seen and off[] with the offsets.
 */
int
bsdnet_region_check(const struct bsdnet_region_hdr *hdr, uint64_t size,
    struct bsdnet_geometry *g, uint64_t off[BSDNET_TBL_MAX])
{
	uint64_t need;
	int t;

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
	need = layout_compute(g, off);
	if (need > size || hdr->rh_size != need)
		return (BSDNET_E_GEOMETRY);
	for (t = 0; t < BSDNET_TBL_MAX; t++)
		if (layout_field_get(hdr, t) != off[t])
			return (BSDNET_E_GEOMETRY);
	return (BSDNET_OK);
}

/* The MAC vRouter answers ARP with. */
static const uint8_t router_mac[BSDNET_ETH_ALEN] = {
	0x00, 0x00, 0x5e, 0x00, 0x01, 0x00
};

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
	bsdnet_memcpy(hdr->rh_router_mac, router_mac, sizeof(router_mac));
	hdr->rh_trap_rate = BSDNET_DEF_TRAP_RATE;
	hdr->rh_icmp_rate = BSDNET_DEF_ICMP_RATE;
	hdr->rh_hold_timeout_ms = BSDNET_DEF_HOLD_TIMEOUT_MS;
	bsdnet_store_rel(&hdr->rh_magic, (uint32_t)BSDNET_MAGIC);
	return (BSDNET_OK);
}
