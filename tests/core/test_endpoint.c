/*
 * Known tunnel endpoints: an encapsulated packet is delivered only from
 * a node the agent listed, and only into a VRF that node may send into;
 * the table's writers (bsdnet_endpoint.h) as the agent uses them.
 * th_setup() lists TH_PEER (th_frame_fabric()'s source) in VRF1 and VRF2,
 * TH_PEER_VRF1 in VRF1.
 */
#include "th.h"

static const struct th_l4 UDP = { .proto = 17, .sport = 1000, .dport = 2000,
    .paylen = 32, .mark = 0x40 };

/* A fabric frame to VM B (label LBL_B, VRF1) from outer source src. */
static void
frame_from(struct th_frame *f, uint32_t label, uint32_t dst, uint32_t src)
{
	uint8_t *o;

	th_frame_fabric(f, label, 64, IP(10, 0, 1, 5), dst, &UDP);
	o = f->pkt.p_data + 14;
	th_wr32(o + 12, src);
	th_ip_fix_csum(o);
}

TEST(endpoint_known_source_delivered)
{
	struct th_frame f;

	frame_from(&f, LBL_B, IP(10, 0, 0, 2), TH_PEER);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_B);
	CHECK_EQ(th_drops_total(), 0);
}

TEST(endpoint_unknown_source_dropped_and_counted)
{
	struct th_frame f;

	frame_from(&f, LBL_B, IP(10, 0, 0, 2), IP(192, 168, 0, 66));
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_UNKNOWN_ENDPOINT), 1);
	CHECK_EQ(th_vs(VIF_F)->vs_drops, 1);
	CHECK_EQ(th_st()->st_decaps, 0);
	/* A valid VRF label is no way in either. */
	frame_from(&f, LBL_VRF2, IP(10, 1, 0, 3), IP(192, 168, 0, 66));
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_UNKNOWN_ENDPOINT), 2);
	CHECK_EQ(th_drops_total(), 2);
}

TEST(endpoint_known_source_wrong_vrf_dropped_and_counted)
{
	struct th_frame f;

	CHECK(bsdnet_ep_del(th_eps(), TH_PEER, VRF2));
	frame_from(&f, LBL_VRF2, IP(10, 1, 0, 3), TH_PEER);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_ENDPOINT_VRF), 1);
	CHECK_EQ(th_vs(VIF_F)->vs_drops, 1);
	/* Its VRF1 label still goes through. */
	frame_from(&f, LBL_B, IP(10, 0, 0, 2), TH_PEER);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_drops_total(), 1);
	/* Back in VRF2: delivered again. */
	CHECK_EQ(bsdnet_ep_add(th_eps(), TH_PEER, VRF2), 0);
	frame_from(&f, LBL_VRF2, IP(10, 1, 0, 3), TH_PEER);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 2);
	CHECK_EQ(th_tx[1].r_vif, VIF_C);
}

TEST(endpoint_node_of_one_network_only)
{
	struct th_frame f;

	frame_from(&f, LBL_VRF2, IP(10, 1, 0, 3), TH_PEER_VRF1);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_ENDPOINT_VRF), 1);
	frame_from(&f, LBL_A, IP(10, 0, 0, 1), TH_PEER_VRF1);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops_total(), 1);
	CHECK(th_ntx + th_ntrap == 1);		/* VM A has policy: trapped */
}

TEST(endpoint_node_gone_unknown)
{
	struct th_frame f;

	CHECK(bsdnet_ep_del(th_eps(), TH_PEER, VRF1));
	CHECK(bsdnet_ep_del(th_eps(), TH_PEER, VRF2));
	CHECK(bsdnet_ep_del(th_eps(), TH_PEER, BSDNET_EP_VRF_ANY));
	CHECK(!bsdnet_ep_del(th_eps(), TH_PEER, VRF1));
	frame_from(&f, LBL_B, IP(10, 0, 0, 2), TH_PEER);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_UNKNOWN_ENDPOINT), 1);
}

TEST(endpoint_any_source_switch)
{
	struct th_frame f;

	th_hdr()->rh_dp_flags = BSDNET_DPF_ANY_SOURCE;
	frame_from(&f, LBL_B, IP(10, 0, 0, 2), IP(192, 168, 0, 66));
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_drops_total(), 0);
	th_hdr()->rh_dp_flags = 0;
	frame_from(&f, LBL_B, IP(10, 0, 0, 2), IP(192, 168, 0, 66));
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_drops(BSDNET_DROP_UNKNOWN_ENDPOINT), 1);
}

/* The burst path decides exactly as the single one. */
TEST(endpoint_burst)
{
	static struct th_frame fr[3];
	struct bsdnet_pkt pk[3];
	int i;

	frame_from(&fr[0], LBL_B, IP(10, 0, 0, 2), TH_PEER);
	frame_from(&fr[1], LBL_B, IP(10, 0, 0, 2), IP(10, 20, 30, 40));
	frame_from(&fr[2], LBL_VRF2, IP(10, 1, 0, 3), TH_PEER);
	for (i = 0; i < 3; i++)
		pk[i] = fr[i].pkt;
	bsdnet_dp_input_burst(&th_dp, VIF_F, pk, 3);
	CHECK_EQ(th_ntx, 2);
	CHECK_EQ(th_tx[0].r_vif, VIF_B);
	CHECK_EQ(th_tx[1].r_vif, VIF_C);
	CHECK_EQ(th_drops(BSDNET_DROP_UNKNOWN_ENDPOINT), 1);
}

/* Two choices of 8 ways and cuckoo moves: 97% of the table fills without
 * a failure, every entry is found, none that was not added is, and
 * deletes undo adds. */
TEST(endpoint_table_fill)
{
	struct bsdnet_ep_bucket *t = th_eps();
	const uint32_t n = BSDNET_EP_BUCKETS * BSDNET_EP_WAYS * 97 / 100;
	uint32_t i, fails = 0, b[2];
	int w;

	memset(t, 0, sizeof(*t) * BSDNET_EP_BUCKETS);
	for (i = 0; i < n; i++)
		fails += bsdnet_ep_add(t, IP(10, 0, 0, 0) + i / 64,
		    (uint16_t)(i % 64)) != 0;
	CHECK_EQ(fails, 0);
	for (i = 0; i < n; i++)
		CHECK(bsdnet_ep_known(t, IP(10, 0, 0, 0) + i / 64,
		    (uint16_t)(i % 64)));
	CHECK(!bsdnet_ep_known(t, IP(10, 0, 0, 0) + n / 64 + 1, 0));
	CHECK(!bsdnet_ep_known(t, IP(10, 0, 0, 0), 64));
	CHECK_EQ(bsdnet_ep_add(t, IP(10, 0, 0, 0), 0), 0);	/* no twin */
	bsdnet_ep_buckets(bsdnet_ep_word(IP(10, 0, 0, 0), 0), b);
	w = bsdnet_ep_way(&t[b[0]], bsdnet_ep_word(IP(10, 0, 0, 0), 0));
	if (w < 0)
		w = bsdnet_ep_way(&t[b[1]], bsdnet_ep_word(IP(10, 0, 0, 0), 0));
	CHECK(w >= 0);
	for (i = 0; i < n; i++)
		CHECK(bsdnet_ep_del(t, IP(10, 0, 0, 0) + i / 64,
		    (uint16_t)(i % 64)));
	for (i = 0; i < BSDNET_EP_BUCKETS; i++)
		CHECK_EQ(bsdnet_ep_free(&t[i]), BSDNET_EP_WAYS);
}

/* No room anywhere: the add fails and says so. */
TEST(endpoint_table_full)
{
	struct bsdnet_ep_bucket *t = th_eps();
	uint32_t i;
	int w;

	for (i = 0; i < BSDNET_EP_BUCKETS; i++)
		for (w = 0; w < BSDNET_EP_WAYS; w++)
			t[i].epb_ent[w] = bsdnet_ep_word(IP(9, 0, 0, 0) + i,
			    (uint16_t)w);
	CHECK_EQ(bsdnet_ep_add(t, IP(1, 2, 3, 4), 7), -1);
	CHECK(!bsdnet_ep_known(t, IP(1, 2, 3, 4), 7));
}
