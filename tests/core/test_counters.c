/*
 * Counters summed per call in dp_acc: exact in the shared statistics as
 * soon as bsdnet_dp_input(), bsdnet_dp_input_burst() or
 * bsdnet_dp_release() returns, and never lost when vifs share a slot.
 */
#include "th.h"

/* VM B (no policy) -> VM A: one rx on B, one tx on A per packet. */
static void
frame_b_to_a(struct th_frame *f, uint8_t mark)
{
	struct th_l4 l4 = { .proto = 17, .sport = 5, .dport = 6,
	    .paylen = 8, .mark = mark };

	th_frame_vm(f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 0, 1), &l4);
}

TEST(counters_exact_after_single_input)
{
	struct th_frame f;
	uint32_t len;

	frame_b_to_a(&f, 1);
	len = f.pkt.p_totlen;
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_st()->st_rx_pkts, 1);
	CHECK_EQ(th_st()->st_tx_pkts, 1);
	CHECK_EQ(th_vs(VIF_B)->vs_rx_pkts, 1);
	CHECK_EQ(th_vs(VIF_B)->vs_rx_bytes, len);
	CHECK_EQ(th_vs(VIF_A)->vs_tx_pkts, 1);
	CHECK_EQ(th_vs(VIF_A)->vs_tx_bytes, th_tx[0].r_len);
	CHECK_EQ(th_dp.dp_acc.a_rx_pkts, 0);
	CHECK_EQ(th_dp.dp_acc.a_tx_pkts, 0);
}

TEST(counters_exact_after_burst)
{
	static struct th_frame fs[20];
	struct bsdnet_pkt pk[20];
	uint64_t rxb = 0, txb = 0;
	int i;

	for (i = 0; i < 20; i++) {
		frame_b_to_a(&fs[i], (uint8_t)i);
		pk[i] = fs[i].pkt;
		rxb += pk[i].p_totlen;
	}
	bsdnet_dp_input_burst(&th_dp, VIF_B, pk, 20);
	for (i = 0; i < 20; i++)
		txb += pk[i].p_totlen;		/* as sent */
	CHECK_EQ(th_ntx, 20);
	CHECK_EQ(th_st()->st_rx_pkts, 20);
	CHECK_EQ(th_st()->st_tx_pkts, 20);
	CHECK_EQ(th_vs(VIF_B)->vs_rx_pkts, 20);
	CHECK_EQ(th_vs(VIF_B)->vs_rx_bytes, rxb);
	CHECK_EQ(th_vs(VIF_A)->vs_tx_pkts, 20);
	CHECK_EQ(th_vs(VIF_A)->vs_tx_bytes, txb);
}

TEST(counters_encap_decap_hits_flushed)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2 };
	uint32_t idx, gen;

	/* A's flow: miss, publish, release (replay counts no rx). */
	th_frame_vm(&f, MAC_A, IP(10, 0, 0, 1), IP(10, 0, 1, 5), &l4);
	th_input(VIF_A, &f);
	CHECK_EQ(th_ntrap, 1);
	idx = th_trap[0].r_hdr.th_flow;
	gen = th_trap[0].r_hdr.th_gen;
	CHECK(bsdnet_flow_publish(&th_dp.dp_ft, idx, gen, BSDNET_FA_FORWARD,
	    0, 0xffffffffu));
	bsdnet_dp_release(&th_dp, idx, gen);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_st()->st_encaps, 1);
	CHECK_EQ(th_st()->st_rx_pkts, 1);
	CHECK_EQ(th_st()->st_tx_pkts, 1);
	CHECK_EQ(th_st()->st_flow_hits, 1);
	CHECK_EQ(th_vs(VIF_F)->vs_tx_pkts, 1);
	th_frame_vm(&f, MAC_A, IP(10, 0, 0, 1), IP(10, 0, 1, 5), &l4);
	bsdnet_dp_input_burst(&th_dp, VIF_A, &f.pkt, 1);
	CHECK_EQ(th_st()->st_encaps, 2);
	CHECK_EQ(th_st()->st_flow_hits, 2);
	CHECK_EQ(th_vs(VIF_F)->vs_tx_pkts, 2);
	CHECK_EQ(th_vs(VIF_A)->vs_rx_pkts, 2);
	/* Decap to B (no policy): st_decaps. */
	th_frame_fabric(&f, LBL_B, 64, IP(10, 0, 1, 5), IP(10, 0, 0, 2), &l4);
	bsdnet_dp_input_burst(&th_dp, VIF_F, &f.pkt, 1);
	CHECK_EQ(th_st()->st_decaps, 1);
	CHECK_EQ(th_vs(VIF_F)->vs_rx_pkts, 1);
	CHECK_EQ(th_vs(VIF_B)->vs_tx_pkts, 1);
}

/* Two vifs in one accumulator slot: the first one's sums are added to
 * its own stats when the second takes the slot, none lost or misfiled. */
TEST(counters_slot_shared_by_two_vifs)
{
	struct bsdnet_vif_acc *a;
	uint32_t v1 = VIF_A, v2 = VIF_A + BSDNET_ACC_VIFS;

	a = bsdnet_acc_vif(&th_dp, v1);
	a->va_tx_pkts += 3;
	a->va_tx_bytes += 300;
	a = bsdnet_acc_vif(&th_dp, v2);
	CHECK_EQ(th_vs(v1)->vs_tx_pkts, 3);
	CHECK_EQ(th_vs(v1)->vs_tx_bytes, 300);
	CHECK_EQ(a->va_tx_pkts, 0);
	a->va_rx_pkts += 2;
	a->va_rx_bytes += 20;
	bsdnet_acc_flush(&th_dp);
	CHECK_EQ(th_vs(v2)->vs_rx_pkts, 2);
	CHECK_EQ(th_vs(v2)->vs_rx_bytes, 20);
	CHECK_EQ(th_vs(v1)->vs_rx_pkts, 0);
	CHECK_EQ(th_vs(v2)->vs_tx_pkts, 0);
	bsdnet_acc_flush(&th_dp);	/* nothing twice */
	CHECK_EQ(th_vs(v2)->vs_rx_pkts, 2);
	CHECK_EQ(th_vs(v1)->vs_tx_pkts, 3);
}
