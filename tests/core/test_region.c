/*
 * Region validation and corrupt tables: drops, never a crash.  (Run under
 * AddressSanitizer and UBSan, any out-of-bounds access fails the test.)
 */
#include <stdlib.h>

#include "th.h"

TEST(init_rejects_bad_regions)
{
	struct bsdnet_dp dp;
	struct bsdnet_region_hdr *h = th_hdr();

	CHECK_EQ(bsdnet_dp_init(&dp, NULL, NULL, th_size, NULL, 0),
	    BSDNET_E_GEOMETRY);
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, 100, NULL, 0),
	    BSDNET_E_GEOMETRY);
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size - 1, NULL, 0),
	    BSDNET_E_GEOMETRY);
	h->rh_magic = 0;
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_MAGIC);
	h->rh_magic = BSDNET_MAGIC;
	h->rh_abi_version = BSDNET_ABI_VERSION + 1;
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_VERSION);
	h->rh_abi_version = BSDNET_ABI_VERSION - 1;	/* v1: no flow tags */
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_VERSION);
	h->rh_abi_version = BSDNET_ABI_VERSION;
	h->rh_off_flows += 4096;
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_GEOMETRY);
	h->rh_off_flows -= 4096;
	h->rh_off_flowtags += 4096;
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_GEOMETRY);
	h->rh_off_flowtags -= 4096;
	h->rh_nflowbuckets = 17;			/* not a power of two */
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_GEOMETRY);
	h->rh_nflowbuckets = 1u << 20;			/* beyond the size */
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_E_GEOMETRY);
	h->rh_nflowbuckets = 16;
	CHECK_EQ(bsdnet_dp_init(&dp, NULL, th_base, th_size, NULL, 0),
	    BSDNET_OK);
	CHECK_EQ(dp.dp_nvifs, 16);
	CHECK_EQ(dp.dp_ft.ft_nentries, (16 + 4) * 4);
}

TEST(layout_offsets_are_the_headers)
{
	struct bsdnet_region_hdr *h = th_hdr();
	struct bsdnet_geometry g, dg;
	uint64_t off[BSDNET_TBL_MAX];
	const uint64_t want[BSDNET_TBL_MAX] = {
		[BSDNET_TBL_VIFS] = h->rh_off_vifs,
		[BSDNET_TBL_VIFSTATS] = h->rh_off_vifstats,
		[BSDNET_TBL_NEXTHOPS] = h->rh_off_nexthops,
		[BSDNET_TBL_LABELS] = h->rh_off_labels,
		[BSDNET_TBL_VRFS] = h->rh_off_vrfs,
		[BSDNET_TBL_RTBUCKETS] = h->rh_off_rtbuckets,
		[BSDNET_TBL_FLOWS] = h->rh_off_flows,
		[BSDNET_TBL_FLOWTAGS] = h->rh_off_flowtags,
		[BSDNET_TBL_STATS] = h->rh_off_stats,
		[BSDNET_TBL_ENDPOINTS] = h->rh_off_endpoints,
	};
	int t;

	CHECK_EQ(bsdnet_layout_offsets(&(struct bsdnet_geometry){ 0 }, off),
	    BSDNET_E_RANGE);
	bsdnet_dp_geometry(&th_dp, &g);
	CHECK_EQ(bsdnet_layout_offsets(&g, off), BSDNET_OK);
	for (t = 0; t < BSDNET_TBL_MAX; t++) {
		CHECK_EQ(off[t], want[t]);
		CHECK(t == 0 || off[t] > off[t - 1]);
		CHECK_EQ(off[t] % BSDNET_REGION_ALIGN, 0);
	}
	CHECK_EQ(off[BSDNET_TBL_ENDPOINTS] + BSDNET_EP_BUCKETS *
	    sizeof(struct bsdnet_ep_bucket), h->rh_size);
	/* The geometry a home sees is the one validated at init. */
	h->rh_nvifs = 60000;
	bsdnet_dp_geometry(&th_dp, &dg);
	CHECK_EQ(dg.g_nvifs, g.g_nvifs);
	h->rh_nvifs = g.g_nvifs;
}

TEST(geometry_copied_at_init)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2 };

	/* Widening a table in the header after init changes nothing. */
	th_hdr()->rh_nvifs = 60000;
	th_hdr()->rh_nlabels = 1u << 20;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(50000, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_VIF), 1);
	th_frame_fabric(&f, 5000, 64, IP(10, 0, 1, 5), IP(10, 0, 0, 2), &l4);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_LABEL), 1);
}

static uint64_t rng = 88172645463325252ULL;

static uint32_t
xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((uint32_t)rng);
}

static void
scribble(void *p, size_t n, int density)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if ((int)(xr() % 100) < density)
			b[i] = (uint8_t)xr();
}

static void
packets(int n)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2, .paylen = 8 };
	uint32_t vif, i;

	for (i = 0; i < (uint32_t)n; i++) {
		l4.proto = (uint8_t[]){ 1, 6, 17, 47 }[xr() % 4];
		l4.sport = (uint16_t)xr();
		vif = xr() % 20;
		if (xr() % 2)
			th_frame_vm(&f, MAC_A, IP(10, 0, 0, 1), xr(), &l4);
		else
			th_frame_fabric(&f, xr() % 70, (uint8_t)xr(), xr(),
			    IP(10, 0, 0, 1 + xr() % 3), &l4);
		if (xr() % 4 == 0)
			f.pkt.p_data[xr() % f.len] = (uint8_t)xr();
		th_input(vif, &f);
		if (xr() % 8 == 0)
			bsdnet_dp_release(&th_dp, xr() % 100, xr() % 3);
		if (xr() % 16 == 0) {
			th_now += xr() % 3000;
			bsdnet_dp_tick(&th_dp);
		}
	}
}

TEST(corrupt_tables_cost_drops_not_crashes)
{
	struct bsdnet_region_hdr *h;
	uint64_t rx;
	int round;

	for (round = 0; round < 30; round++) {
		th_setup();
		h = th_hdr();
		/* Garbage over every table the agent writes, and flows. */
		scribble(th_base + h->rh_off_vifs, h->rh_off_stats -
		    h->rh_off_vifs, round * 3 + 1);
		packets(300);
		th_reset_rec();
	}
	rx = th_st()->st_rx_pkts;
	CHECK_EQ(rx, 300);
}

TEST(random_bucket_and_nh_indices)
{
	uint32_t v, i, nh;

	for (v = 0; v < 4; v++)
		for (i = 0; i < 256; i++)
			th_vrf(v)->vrf_root[i] = xr();
	for (i = 0; i < 64; i++)
		scribble(th_rtb(i), sizeof(struct bsdnet_rtbucket), 100);
	for (i = 0; i < 20000; i++)
		(void)bsdnet_route_lookup(&th_dp, xr() % 6, xr(), &nh);
	for (i = 1; i < 128; i++) {
		th_nh(i)->nh_seq = xr() & ~1u;
		th_nh(i)->nh_type = (uint16_t)(xr() % 8);
		th_nh(i)->nh_vif = xr() % 24;
		th_nh(i)->nh_nmembers = (uint16_t)(xr() % 10);
		th_nh(i)->nh_vrf = (uint16_t)(xr() % 6);
		th_nh(i)->nh_members[xr() % 8] = xr() % 140;
	}
	for (i = 0; i < 64; i++)
		th_lbl(i)->lbl_nh = xr() % 140;
	packets(3000);
	CHECK(th_st()->st_rx_pkts == 3000);
}

TEST(drop_accounting_each_drop_once)
{
	uint64_t rx, tx, traps, drops;
	uint32_t i, q = 0;

	th_hdr()->rh_hold_timeout_ms = 1000000;
	packets(2000);
	rx = th_st()->st_rx_pkts;
	tx = th_st()->st_tx_pkts;
	traps = th_st()->st_traps;
	drops = th_drops_total();
	for (i = 0; i < TH_NHOLD; i++)
		q += th_hold[i].hs_flow != 0xffffffffu;
	/* Replayed packets count tx/drops but not rx; none here are. */
	CHECK_EQ(rx, 2000);
	CHECK(tx + traps + drops + q >= rx);
	CHECK_EQ(th_drops(BSDNET_DROP_NONE), 0);
}
