/*
 * bsdnet_dp_input_burst(): the same outcome as bsdnet_dp_input() on each
 * packet in order (its stage 1 runs ahead but acts on nothing; stage 2
 * runs in packet order).
 */
#include "th.h"

#define NB 40	/* more than BSDNET_BURST_MAX: two chunks */

static struct th_frame fr[NB];

/* A mix for vif: flow misses, repeats (queued), ARP, DHCP, bad frames. */
static uint64_t mix_seed;	/* 0: the fixed mix below; else random */

static uint32_t
mix_rnd(void)
{
	mix_seed ^= mix_seed << 13;
	mix_seed ^= mix_seed >> 7;
	mix_seed ^= mix_seed << 17;
	return ((uint32_t)(mix_seed >> 20));
}

/*
 * A random mix from mix_seed: few flows (so misses, queueing, overflowing
 * queues and hits all happen), TCP flags, bad checksums, truncation, TTL
 * 1, DHCP, wrong labels, non-policy destinations.
 */
static void
make_random_mix(uint32_t vif)
{
	struct th_l4 l4;
	uint32_t i, r, dst;

	for (i = 0; i < NB; i++) {
		r = mix_rnd();
		memset(&l4, 0, sizeof(l4));
		l4.proto = (r & 1) ? 6 : 17;
		l4.sport = (uint16_t)(1 + (r >> 1) % 4);
		l4.dport = 80;
		l4.tcp_flags = (uint8_t)(r >> 4);
		l4.paylen = 8 + (r >> 8) % 64;
		l4.mark = (uint8_t)i;
		l4.ttl = (r >> 14) % 9 == 0 ? 1 : 0;
		if (vif == VIF_F) {
			dst = (r >> 16) % 3 == 0 ? IP(10, 0, 0, 2) :
			    IP(10, 0, 0, 1);
			th_frame_fabric(&fr[i], (r >> 18) % 7 == 0 ? LBL_A :
			    dst == IP(10, 0, 0, 2) ? LBL_B : LBL_A, 64,
			    IP(10, 0, 1, 5), dst, &l4);
		} else {
			dst = (r >> 16) % 3 == 0 ? IP(10, 0, 0, 2) :
			    IP(10, 0, 1, 5);
			th_frame_vm(&fr[i], MAC_A, IP(10, 0, 0, 1), dst, &l4);
			if ((r >> 18) % 13 == 0) {
				struct th_l4 d = { .proto = 17, .sport = 68,
				    .dport = 67 };
				th_frame_vm(&fr[i], MAC_A, 0,
				    IP(255, 255, 255, 255), &d);
			}
		}
		if ((r >> 21) % 11 == 0)
			fr[i].pkt.p_data[14 + 11] ^= 1;	/* bad checksum */
		if ((r >> 25) % 17 == 0)
			fr[i].pkt.p_len = fr[i].pkt.p_totlen = 30;
	}
}

static void
make_mix(uint32_t vif)
{
	uint64_t seed = mix_seed;

	if (seed != 0) {
		make_random_mix(vif);
		mix_seed = seed;	/* the same mix again next time */
		return;
	}
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2, .paylen = 8 };
	int i;

	for (i = 0; i < NB; i++) {
		l4.sport = (uint16_t)(1 + i % 7);
		l4.mark = (uint8_t)i;
		if (vif == VIF_F)
			th_frame_fabric(&fr[i], i % 5 == 4 ? LBL_B : LBL_A, 64,
			    IP(10, 0, 1, 5), i % 5 == 4 ? IP(10, 0, 0, 2) :
			    IP(10, 0, 0, 1), &l4);
		else
			th_frame_vm(&fr[i], MAC_A, IP(10, 0, 0, 1),
			    i % 3 ? IP(10, 0, 1, 5) : IP(10, 0, 0, 2), &l4);
		if (i % 11 == 10)
			fr[i].pkt.p_data[14 + 11] ^= 1;	/* bad checksum */
		if (i == 13 && vif != VIF_F) {		/* DHCP */
			struct th_l4 d = { .proto = 17, .sport = 68,
			    .dport = 67 };
			th_frame_vm(&fr[i], MAC_A, 0, IP(255, 255, 255, 255),
			    &d);
		}
	}
}

struct outcome {
	int ntx, ntrap;
	uint64_t drops[BSDNET_DROP_SLOTS], rx, tx, hits, misses, holds;
	uint64_t fpkts, fbytes;		/* flow counts of each live generation */
	uint32_t txlen[TH_MAXREC], traplen[TH_MAXREC];
	uint8_t txmark[TH_MAXREC];
};

static void
snap(struct outcome *o)
{
	const struct bsdnet_flow *fe;
	uint32_t f;
	int i;

	memset(o, 0, sizeof(*o));
	o->ntx = th_ntx;
	o->ntrap = th_ntrap;
	memcpy(o->drops, th_st()->st_drops, sizeof(o->drops));
	o->rx = th_st()->st_rx_pkts;
	o->tx = th_st()->st_tx_pkts;
	o->hits = th_st()->st_flow_hits;
	o->misses = th_st()->st_flow_misses;
	o->holds = th_st()->st_holds;
	for (f = 0; f < th_dp.dp_ft.ft_nentries; f++) {
		fe = th_flow(f);
		if (fe->fe_count_gen == fe->fe_state >> 8) {
			o->fpkts += fe->fe_packets;
			o->fbytes += fe->fe_bytes;
		}
	}
	for (i = 0; i < TH_MAXREC && i < th_ntx; i++) {
		o->txlen[i] = th_tx[i].r_len;
		o->txmark[i] = th_tx[i].r_data[th_tx[i].r_len - 8];
	}
	for (i = 0; i < TH_MAXREC && i < th_ntrap; i++)
		o->traplen[i] = th_trap[i].r_len;
}

static void
publish_all_holds(void)
{
	uint32_t i, st;

	for (i = 0; i < th_dp.dp_ft.ft_nentries; i++) {
		st = th_flow(i)->fe_state;
		if ((st & 0xff) == BSDNET_FLOW_HOLD &&
		    bsdnet_flow_publish(&th_dp.dp_ft, i, st >> 8,
		    BSDNET_FA_FORWARD, 0, 0xffffffffu))
			bsdnet_dp_release(&th_dp, i, st >> 8);
	}
}

/* Run compare() with the dp declared its region's sole forwarder. */
static bool cmp_sole;

static void
cmp_setup(void)
{

	th_setup();
	bsdnet_dp_set_sole(&th_dp, cmp_sole);
	th_hdr()->rh_trap_rate = 1000;
}

static void
compare(uint32_t vif)
{
	struct bsdnet_pkt pk[NB];
	struct outcome a, b;
	int i, round;

	for (round = 0; round < 2; round++) {
		cmp_setup();
		if (round)
			publish_all_holds();
		make_mix(vif);
		for (i = 0; i < NB; i++)
			th_input(vif, &fr[i]);
		publish_all_holds();
		make_mix(vif);
		for (i = 0; i < NB; i++)
			th_input(vif, &fr[i]);
		snap(&a);

		cmp_setup();
		make_mix(vif);
		for (i = 0; i < NB; i++)
			pk[i] = fr[i].pkt;
		bsdnet_dp_input_burst(&th_dp, vif, pk, NB);
		publish_all_holds();
		make_mix(vif);
		for (i = 0; i < NB; i++)
			pk[i] = fr[i].pkt;
		bsdnet_dp_input_burst(&th_dp, vif, pk, NB);
		snap(&b);

		CHECK_EQ(a.ntx, b.ntx);
		CHECK_EQ(a.ntrap, b.ntrap);
		CHECK_EQ(a.rx, b.rx);
		CHECK_EQ(a.tx, b.tx);
		CHECK_EQ(a.hits, b.hits);
		CHECK_EQ(a.misses, b.misses);
		CHECK_EQ(a.holds, b.holds);
		CHECK_EQ(a.fpkts, b.fpkts);
		CHECK_EQ(a.fbytes, b.fbytes);
		CHECK(memcmp(a.drops, b.drops, sizeof(a.drops)) == 0);
		CHECK(memcmp(a.txlen, b.txlen, sizeof(a.txlen)) == 0);
		CHECK(memcmp(a.txmark, b.txmark, sizeof(a.txmark)) == 0);
		CHECK(memcmp(a.traplen, b.traplen, sizeof(a.traplen)) == 0);
	}
	CHECK(a.ntx > 0);
	CHECK(a.ntrap > 0);
	CHECK(a.hits > 0);
	CHECK(a.fpkts > 0);
}

TEST(burst_same_outcome_as_single_vm)
{
	compare(VIF_A);
}

TEST(burst_same_outcome_as_single_fabric)
{
	compare(VIF_F);
}

TEST(burst_same_outcome_as_single_sole_forwarder)
{
	cmp_sole = true;
	compare(VIF_A);
	compare(VIF_F);
	cmp_sole = false;
}

TEST(burst_same_outcome_as_single_random_mixes)
{
	uint64_t seed;

	for (seed = 1; seed <= 12; seed++) {
		mix_seed = seed * 0x9e3779b97f4a7c15ULL;
		compare(seed & 1 ? VIF_A : VIF_F);
	}
	mix_seed = 0;
}

/* Edge cases of the pipelined burst: 1 packet, none, NULL, a bad vif. */
TEST(burst_edges)
{
	struct th_frame f;
	struct bsdnet_pkt pk[3];
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2 };

	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	bsdnet_dp_input_burst(&th_dp, VIF_B, &f.pkt, 1);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_st()->st_rx_pkts, 1);
	CHECK_EQ(th_vs(VIF_B)->vs_rx_pkts, 1);
	bsdnet_dp_input_burst(&th_dp, VIF_B, NULL, 1);
	bsdnet_dp_input_burst(&th_dp, VIF_B, &f.pkt, 0);
	bsdnet_dp_input_burst(NULL, VIF_B, &f.pkt, 1);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_st()->st_rx_pkts, 1);
	/* A vif that does not exist: every packet counted in and dropped. */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	pk[0] = pk[1] = pk[2] = f.pkt;
	bsdnet_dp_input_burst(&th_dp, 9999, pk, 3);
	CHECK_EQ(th_st()->st_rx_pkts, 4);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_VIF), 3);
	CHECK_EQ(th_ntx, 1);
}

/*
 * One flow over three chunks of a burst: the first packet claims HOLD and
 * traps, the rest queue on it (or overflow the queue) in order, exactly as
 * one call each would.
 */
TEST(burst_one_new_flow_over_three_chunks)
{
	static struct th_frame fs[3 * BSDNET_BURST_MAX];
	struct bsdnet_pkt pk[3 * BSDNET_BURST_MAX];
	struct th_l4 l4 = { .proto = 17, .sport = 7, .dport = 9,
	    .paylen = 8 };
	uint32_t i, n = 3 * BSDNET_BURST_MAX, idx;

	for (i = 0; i < n; i++) {
		l4.mark = (uint8_t)i;
		th_frame_vm(&fs[i], MAC_A, IP(10, 0, 0, 1), IP(10, 0, 1, 5),
		    &l4);
		pk[i] = fs[i].pkt;
	}
	bsdnet_dp_input_burst(&th_dp, VIF_A, pk, n);
	CHECK_EQ(th_ntrap, 1);
	CHECK_EQ(th_st()->st_flow_misses, 1);
	CHECK_EQ(th_st()->st_rx_pkts, n);
	CHECK_EQ(th_vs(VIF_A)->vs_rx_pkts, n);
	CHECK_EQ(th_drops(BSDNET_DROP_FLOW_QUEUE_FULL),
	    n - BSDNET_QUEUE_PER_HOLD);
	idx = th_trap[0].r_hdr.th_flow;
	CHECK(bsdnet_flow_publish(&th_dp.dp_ft, idx, th_trap[0].r_hdr.th_gen,
	    BSDNET_FA_FORWARD, 0, 0xffffffffu));
	bsdnet_dp_release(&th_dp, idx, th_trap[0].r_hdr.th_gen);
	CHECK_EQ(th_ntx, BSDNET_QUEUE_PER_HOLD);
	for (i = 0; i < (uint32_t)th_ntx; i++)	/* queued in order */
		CHECK_EQ(th_tx[i].r_data[th_tx[i].r_len - 8], i);
}
