/*
 * The tests' "agent": readers and writers of the tables in the region
 * at th_base (vifs, nexthops, labels, routes as an mtrie, counters).
 * Shared by the core's tests, the fuzzers and the kernel harness, which
 * points th_base at its process's mapping of /dev/bsdnet.
 */
#include <stdio.h>
#include <stdlib.h>

#include "th.h"

uint8_t *th_base;

#define HDR ((struct bsdnet_region_hdr *)(void *)th_base)
struct bsdnet_region_hdr *th_hdr(void) { return (HDR); }
struct bsdnet_vif *th_vif(uint32_t i)
{ return ((struct bsdnet_vif *)(void *)(th_base + HDR->rh_off_vifs) + i); }
struct bsdnet_vif_stats *th_vs(uint32_t i)
{ return ((struct bsdnet_vif_stats *)(void *)(th_base + HDR->rh_off_vifstats) + i); }
struct bsdnet_nh *th_nh(uint32_t i)
{ return ((struct bsdnet_nh *)(void *)(th_base + HDR->rh_off_nexthops) + i); }
struct bsdnet_label *th_lbl(uint32_t i)
{ return ((struct bsdnet_label *)(void *)(th_base + HDR->rh_off_labels) + i); }
struct bsdnet_vrf *th_vrf(uint32_t i)
{ return ((struct bsdnet_vrf *)(void *)(th_base + HDR->rh_off_vrfs) + i); }
struct bsdnet_rtbucket *th_rtb(uint32_t i)
{ return ((struct bsdnet_rtbucket *)(void *)(th_base + HDR->rh_off_rtbuckets) + i); }
struct bsdnet_stats *th_st(void)
{ return ((struct bsdnet_stats *)(void *)(th_base + HDR->rh_off_stats)); }
struct bsdnet_flow *th_flow(uint32_t i)
{ return ((struct bsdnet_flow *)(void *)(th_base + HDR->rh_off_flows) + i); }
struct bsdnet_ep_bucket *th_eps(void)
{ return ((struct bsdnet_ep_bucket *)(void *)(th_base + HDR->rh_off_endpoints)); }

void
th_set_vif(uint32_t i, uint16_t type, uint16_t flags, uint16_t vrf, uint32_t ip,
    const uint8_t *mac, uint32_t nh, uint32_t mtu)
{
	struct bsdnet_vif *v = th_vif(i);

	memset(v, 0, sizeof(*v));
	v->vif_seq = 2;
	v->vif_type = type;
	v->vif_flags = flags;
	v->vif_vrf = vrf;
	v->vif_ip = ip;
	v->vif_nh = nh;
	v->vif_mtu = mtu;
	memcpy(v->vif_mac, mac, 6);
	snprintf(v->vif_name, sizeof(v->vif_name), "vif%u", i);
}

void
th_set_nh(uint32_t i, uint16_t type, uint16_t vrf, uint32_t vif,
    const uint8_t *dmac, const uint8_t *smac)
{
	struct bsdnet_nh *n = th_nh(i);

	memset(n, 0, sizeof(*n));
	n->nh_seq = 4;
	n->nh_type = type;
	n->nh_vrf = vrf;
	n->nh_vif = vif;
	if (dmac)
		memcpy(n->nh_dmac, dmac, 6);
	if (smac)
		memcpy(n->nh_smac, smac, 6);
}

/* ---- routes ---- */
#define TH_MAXRT 128
struct th_route { uint32_t vrf, pfx, nh; int plen; };
static struct th_route th_rt[TH_MAXRT];
static int th_nrt;

void
th_rt_clear(void)
{
	th_nrt = 0;
}

void
th_rt_add(uint32_t vrf, uint32_t pfx, int plen, uint32_t nh)
{
	th_rt[th_nrt].vrf = vrf;
	th_rt[th_nrt].pfx = plen ? pfx & (0xffffffffu << (32 - plen)) : 0;
	th_rt[th_nrt].plen = plen;
	th_rt[th_nrt].nh = nh;
	th_nrt++;
}

static int
rt_cmp(const void *a, const void *b)
{
	const struct th_route *ra = a, *rb = b;

	return (ra->plen - rb->plen);
}

/*
 * Rebuild every VRF's mtrie from the route list, shortest prefixes first
 * so longer ones overwrite the leaves they cover (the agent's expansion).
 */
void
th_rt_build(void)
{
	uint32_t nb = 0, v, i, k, *words, w, leaf, oct, span;
	int r, level;

	for (v = 0; v < HDR->rh_nvrfs; v++)
		memset(th_vrf(v)->vrf_root, 0, sizeof(th_vrf(v)->vrf_root));
	memset(th_rtb(0), 0, (size_t)HDR->rh_nrtbuckets *
	    sizeof(struct bsdnet_rtbucket));
	qsort(th_rt, (size_t)th_nrt, sizeof(th_rt[0]), rt_cmp);
	for (r = 0; r < th_nrt; r++) {
		leaf = (uint32_t)th_rt[r].plen << BSDNET_RT_PLEN_SHIFT | th_rt[r].nh;
		words = th_vrf(th_rt[r].vrf)->vrf_root;
		for (level = 0;; level++) {
			oct = (th_rt[r].pfx >> (24 - 8 * level)) & 0xff;
			if (th_rt[r].plen <= 8 * (level + 1)) {
				span = 1u << (8 * (level + 1) - th_rt[r].plen);
				for (k = 0; k < span; k++)
					words[oct + k] = leaf;
				break;
			}
			w = words[oct];
			if (!(w & BSDNET_RT_BUCKET)) {
				for (i = 0; i < 256; i++)
					th_rtb(nb)->rb_ent[i] = w;
				words[oct] = BSDNET_RT_BUCKET | nb;
				w = words[oct];
				nb++;
			}
			words = th_rtb(w & BSDNET_RT_INDEX_MASK)->rb_ent;
		}
	}
}

uint64_t
th_drops(int reason)
{
	return (th_st()->st_drops[reason]);
}

uint64_t
th_drops_total(void)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < BSDNET_DROP_SLOTS; i++)
		n += th_st()->st_drops[i];
	return (n);
}

