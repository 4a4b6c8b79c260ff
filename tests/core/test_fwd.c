/*
 * Forwarding: encapsulation bytes, decapsulation, local delivery, LPM,
 * nexthop types, ECMP, ARP, DHCP.
 */
#include "th.h"

static const struct th_l4 UDP = { .proto = 17, .sport = 1000, .dport = 2000,
    .paylen = 32, .mark = 0x40 };

static uint32_t
rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

static uint16_t
rd16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

TEST(encap_bytes_field_by_field)
{
	struct th_frame f;
	uint8_t inner[2048];
	const uint8_t *o;
	uint32_t ilen;

	/* VM B has no POLICY flag: route only. 10.0.1.5 -> TUNNEL NH_T1. */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &UDP);
	ilen = f.len - 14;
	memcpy(inner, f.pkt.p_data + 14, ilen);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_F);
	CHECK_EQ(th_tx[0].r_len, 42 + ilen);
	o = th_tx[0].r_data;
	CHECK(memcmp(o, MAC_PEER, 6) == 0);		/* outer dmac */
	CHECK(memcmp(o + 6, MAC_F, 6) == 0);		/* outer smac */
	CHECK_EQ(rd16(o + 12), 0x0800);
	CHECK_EQ(o[14], 0x45);				/* v4, IHL 5 */
	CHECK_EQ(o[15], 0);				/* TOS */
	CHECK_EQ(rd16(o + 16), 20 + 4 + 4 + ilen);	/* total length */
	CHECK_EQ(rd16(o + 18), 0);			/* id */
	CHECK_EQ(rd16(o + 20), 0x4000);			/* DF, offset 0 */
	CHECK_EQ(o[22], 64);				/* TTL */
	CHECK_EQ(o[23], 47);				/* GRE */
	CHECK_EQ(th_csum(o + 14, 20), 0);		/* header checksum */
	CHECK_EQ(rd32(o + 26), IP(192, 168, 0, 1));
	CHECK_EQ(rd32(o + 30), IP(192, 168, 0, 2));
	CHECK_EQ(rd16(o + 34), 0);			/* GRE flags/version */
	CHECK_EQ(rd16(o + 36), 0x8847);			/* GRE protocol */
	CHECK_EQ(rd32(o + 38) >> 12, 100);		/* label */
	CHECK_EQ((rd32(o + 38) >> 9) & 7, 0);		/* TC */
	CHECK_EQ((rd32(o + 38) >> 8) & 1, 1);		/* S */
	CHECK_EQ(rd32(o + 38) & 0xff, 64);		/* TTL from inner */
	CHECK(memcmp(o + 42, inner, ilen) == 0);	/* inner untouched */
	CHECK_EQ(th_st()->st_encaps, 1);
	CHECK_EQ(th_vs(VIF_F)->vs_tx_pkts, 1);
	CHECK_EQ(th_vs(VIF_F)->vs_tx_bytes, 42 + ilen);
	CHECK_EQ(th_vs(VIF_B)->vs_rx_pkts, 1);
	CHECK_EQ(th_drops_total(), 0);
}

TEST(encap_mpls_ttl_copies_inner_ttl)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;

	l4.ttl = 7;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(rd32(th_tx[0].r_data + 38) & 0xff, 7);
	CHECK_EQ(th_tx[0].r_data[42 + 8], 7);		/* not decremented */
}

TEST(encap_strips_ethernet_padding_and_priority_tag)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2, .paylen = 0 };
	uint8_t *p;

	/* A 60-byte minimum frame with a VID 0 priority tag. */
	memset(&f, 0, sizeof(f));
	f.headroom = 128;
	p = f.buf + f.headroom;
	memcpy(p, MAC_ROUTER, 6);
	memcpy(p + 6, MAC_B, 6);
	p[12] = 0x81; p[13] = 0x00; p[14] = 0x20; p[15] = 0x00;
	p[16] = 0x08; p[17] = 0x00;
	th_ipv4(p + 18, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	f.len = 64;
	th_pkt(&f);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_len, 42 + 28);
	CHECK_EQ(rd16(th_tx[0].r_data + 16), 28 + 28);
}

TEST(encap_no_headroom)
{
	struct th_frame f;

	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &UDP);
	f.pkt.p_headroom = 27;
	th_nprepend = 0;
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_nprepend, 1);	/* asked the home, which refused */
	CHECK_EQ(th_drops(BSDNET_DROP_NO_HEADROOM), 1);
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &UDP);
	f.pkt.p_headroom = 28;
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
}

TEST(encap_mtu_exceeded)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;

	th_vif(VIF_F)->vif_mtu = 100;
	l4.paylen = 100;
	l4.frag = 0x4000;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);			/* the ICMP error, to VM B */
	CHECK_EQ(th_tx[0].r_vif, VIF_B);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 1);
	CHECK_EQ(th_vs(VIF_B)->vs_drops, 1);
	/* Without DF it is not fragmented either (test_pmtu.c). */
	l4.frag = 0;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED_NO_DF), 1);
	CHECK_EQ(th_ntx, 2);
	CHECK_EQ(th_tx[1].r_vif, VIF_B);
	/* Exactly MTU + 14 fits. */
	l4.frag = 0x4000;
	l4.paylen = 100 - 42 - 28 + 14;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 3);
	CHECK_EQ(th_tx[2].r_vif, VIF_F);
	CHECK_EQ(th_tx[2].r_len, 114);
}

TEST(local_delivery_decrements_ttl)
{
	struct th_frame f;
	const uint8_t *d;

	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 2, 9), &UDP);
	/* VM B -> VM A (10.0.0.1), local ENCAP nexthop. */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 0, 1), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_A);
	d = th_tx[0].r_data;
	CHECK(memcmp(d, MAC_A, 6) == 0);
	CHECK(memcmp(d + 6, MAC_ROUTER, 6) == 0);
	CHECK_EQ(rd16(d + 12), 0x0800);
	CHECK_EQ(d[14 + 8], 63);
	CHECK_EQ(th_csum(d + 14, 20), 0);
	CHECK_EQ(th_tx[0].r_len, f.len);
	CHECK_EQ(th_vs(VIF_A)->vs_tx_pkts, 1);
}

TEST(local_delivery_ttl_one_expires)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;

	l4.ttl = 1;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 0, 1), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_TTL_EXPIRED), 1);
	l4.ttl_zero = true;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 1), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_TTL_EXPIRED), 2);
}

TEST(decap_delivers_with_new_ethernet)
{
	struct th_frame f;
	const uint8_t *d;
	uint32_t ilen;

	th_frame_fabric(&f, LBL_B, 64, IP(10, 0, 1, 5), IP(10, 0, 0, 2), &UDP);
	ilen = f.len - 42;
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_B);
	CHECK_EQ(th_tx[0].r_len, 14 + ilen);
	d = th_tx[0].r_data;
	CHECK(memcmp(d, MAC_B, 6) == 0);
	CHECK(memcmp(d + 6, MAC_ROUTER, 6) == 0);
	CHECK_EQ(rd16(d + 12), 0x0800);
	CHECK_EQ(d[14 + 8], 63);			/* TTL - 1 */
	CHECK_EQ(th_csum(d + 14, 20), 0);
	CHECK_EQ(rd32(d + 14 + 16), IP(10, 0, 0, 2));
	CHECK_EQ(d[14 + 28], 0x40);			/* payload */
	CHECK_EQ(th_st()->st_decaps, 1);
	CHECK_EQ(th_drops_total(), 0);
}

TEST(decap_then_encap_roundtrip)
{
	struct th_frame f, g;

	/* What node 1 encapsulates, node 2 (same tables, label 17) takes. */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &UDP);
	th_nh(NH_T1)->nh_label = LBL_B;
	th_nh(NH_T1)->nh_dmac[0] = MAC_F[0];
	memcpy(th_nh(NH_T1)->nh_dmac, MAC_F, 6);
	th_nh(NH_T1)->nh_tun_dst = IP(192, 168, 0, 1);
	CHECK_EQ(bsdnet_ep_add(th_eps(), IP(192, 168, 0, 1), VRF1), 0);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	memset(&g, 0, sizeof(g));
	g.headroom = 64;
	memcpy(g.buf + 64, th_tx[0].r_data, th_tx[0].r_len);
	g.len = th_tx[0].r_len;
	th_pkt(&g);
	/* The inner destination must be VM B for label 17. */
	th_input(VIF_F, &g);
	CHECK_EQ(th_drops(BSDNET_DROP_LABEL_MISMATCH), 1);
}

TEST(decap_label_to_vrf_nexthop)
{
	struct th_frame f;

	th_frame_fabric(&f, LBL_VRF2, 64, IP(10, 0, 1, 5), IP(10, 1, 0, 3),
	    &UDP);
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_C);
	CHECK(memcmp(th_tx[0].r_data, MAC_C, 6) == 0);
}

TEST(fabric_drop_reasons)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;
	uint8_t *o;

#define FAB(lbl, ttl, dst) th_frame_fabric(&f, (lbl), (ttl), \
	    IP(10, 0, 1, 5), (dst), &l4)
	FAB(LBL_B, 64, IP(10, 0, 0, 1));
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_LABEL_MISMATCH), 1);

	FAB(LBL_B, 1, IP(10, 0, 0, 2));
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_TTL_EXPIRED), 1);
	l4.ttl = 1;
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_TTL_EXPIRED), 2);
	l4.ttl = 0;

	FAB(5, 64, IP(10, 0, 0, 2));			/* reserved label */
	th_input(VIF_F, &f);
	FAB(63, 64, IP(10, 0, 0, 2));			/* no nexthop */
	th_input(VIF_F, &f);
	FAB(64, 64, IP(10, 0, 0, 2));			/* >= nlabels */
	th_input(VIF_F, &f);
	FAB(0xfffff, 64, IP(10, 0, 0, 2));
	th_input(VIF_F, &f);
	th_lbl(20)->lbl_nh = 5000;			/* nh out of range */
	FAB(20, 64, IP(10, 0, 0, 2));
	th_input(VIF_F, &f);
	th_lbl(21)->lbl_nh = NH_T1;			/* not ENCAP/VRF */
	FAB(21, 64, IP(10, 0, 0, 2));
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_LABEL), 6);

	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[34 - 14] = 0x80;				/* GRE C bit */
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_GRE), 1);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	f.pkt.p_data[37] = 0x48;			/* 0x8848 multicast */
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_GRE_PROTO), 1);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	f.pkt.p_data[40] &= ~1;				/* S = 0 */
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_MPLS), 1);
	/* Outer IP payload too short for MPLS. */
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[2] = 0; o[3] = 26;
	th_ip_fix_csum(o);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_MPLS), 2);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[2] = 0; o[3] = 22;
	th_ip_fix_csum(o);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_GRE), 2);

	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	f.pkt.p_data[0] = 0x04;				/* other unicast MAC */
	th_input(VIF_F, &f);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[19] = 9;					/* outer dst .9 */
	th_ip_fix_csum(o);
	th_input(VIF_F, &f);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[9] = 17;					/* not GRE */
	th_ip_fix_csum(o);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_NOT_FOR_FABRIC), 3);

	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[11] ^= 1;
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_IPV4_CSUM), 1);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 42;				/* inner header */
	o[11] ^= 1;
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_IPV4_CSUM), 2);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 42;
	o[3] += 1;					/* inner longer than outer */
	th_ip_fix_csum(o);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_IPV4_HDR), 1);
	FAB(LBL_B, 64, IP(10, 0, 0, 2));
	o = f.pkt.p_data + 14;
	o[6] = 0x20;					/* outer MF */
	th_ip_fix_csum(o);
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_FRAGMENT), 1);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_vs(VIF_F)->vs_drops, th_drops_total());
#undef FAB
}

TEST(vm_drop_reasons)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;
	uint8_t *ip;
	uint64_t before;

#define VM() th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4)
	VM();
	f.pkt.p_len = f.pkt.p_totlen = 10;
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_TRUNCATED), 1);
	VM();
	f.pkt.p_data[12] = 0x86; f.pkt.p_data[13] = 0xdd;	/* IPv6 */
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_UNSUPPORTED_L2), 1);
	VM();
	ip = f.pkt.p_data + 14;
	ip[0] = 0x65;
	th_ip_fix_csum(ip);
	th_input(VIF_B, &f);
	VM();
	ip = f.pkt.p_data + 14;
	ip[0] = 0x44;
	th_input(VIF_B, &f);
	VM();
	ip = f.pkt.p_data + 14;
	ip[3] += 1;					/* beyond the frame */
	th_ip_fix_csum(ip);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_IPV4_HDR), 3);
	VM();
	f.pkt.p_data[14 + 10] ^= 0x55;
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_BAD_IPV4_CSUM), 1);
	VM();
	f.pkt.p_data[0] = 0x02;				/* not router MAC */
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_NOT_ROUTER_MAC), 1);
	th_frame_vm(&f, MAC_A, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_SPOOFED_MAC), 1);
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 7), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_SPOOFED_IP), 1);
	l4.frag = 0x0010;				/* offset 16*8 */
	VM();
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_FRAGMENT), 1);
	l4.frag = 0x2000;				/* first fragment: ok */
	VM();
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	l4.frag = 0;
	l4.proto = 6;
	l4.paylen = 0;
	VM();
	ip = f.pkt.p_data + 14;
	ip[3] = 20 + 10;				/* TCP cut at 10 bytes */
	th_ip_fix_csum(ip);
	f.pkt.p_len = f.pkt.p_totlen = 14 + 30;
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_L4_TRUNCATED), 1);
	l4 = UDP;
	VM();
	f.pkt.p_data[14] = 0x45;
	f.pkt.p_data[12] = 0x81; f.pkt.p_data[13] = 0x00;	/* VID 0x800 */
	f.pkt.p_data[14] = 0x08;
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_UNSUPPORTED_L2), 2);
	VM();
	th_input(40, &f);				/* no such vif */
	th_input(9, &f);				/* NONE vif */
	th_vif(VIF_B)->vif_seq = 3;			/* writer stuck */
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_VIF), 3);
	th_vif(VIF_B)->vif_seq = 2;
	VM();
	f.pkt.p_len = f.pkt.p_totlen + 1;		/* home's bug */
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_TRUNCATED), 2);
	before = th_drops_total();
	CHECK_EQ(th_vs(VIF_B)->vs_drops, before - 2);	/* 2 had no vif */
	CHECK_EQ(th_ntx, 1);
#undef VM
}

TEST(nexthop_types)
{
	struct th_frame f;

	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 0, 254), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntrap, 1);
	CHECK_EQ(th_trap[0].r_hdr.th_reason, BSDNET_TRAP_RECEIVE);
	CHECK_EQ(th_trap[0].r_hdr.th_nh, NH_RECV);
	CHECK_EQ(th_trap[0].r_hdr.th_vif, VIF_B);
	CHECK_EQ(th_trap[0].r_hdr.th_vrf, VRF1);
	CHECK_EQ(th_trap[0].r_hdr.th_flow, 0xffffffffu);
	CHECK_EQ(th_trap[0].r_hdr.th_len, f.len);
	CHECK_EQ(th_vs(VIF_B)->vs_traps, 1);
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 9, 3, 4), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_DISCARD_NH), 1);
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(11, 0, 0, 1), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_NO_ROUTE), 1);
	/* VRF nexthop: 10.1.0.3 is looked up again in VRF 2. */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 1, 0, 3), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_C);
	/* ... but a VRF nexthop may not lead to another. */
	th_rt_add(VRF2, IP(10, 1, 0, 4), 32, NH_VRF2);
	th_rt_build();
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 1, 0, 4), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_NH), 1);
	/* Bad nexthop contents. */
	th_nh(NH_T1)->nh_vif = VIF_B;			/* TUNNEL to a VM vif */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &UDP);
	th_input(VIF_B, &f);
	th_nh(NH_T1)->nh_vif = 900;
	th_input(VIF_B, &f);
	th_nh(NH_T1)->nh_vif = VIF_F;
	th_nh(NH_T1)->nh_seq = 7;			/* odd: being written */
	th_input(VIF_B, &f);
	th_nh(NH_T1)->nh_seq = 8;
	th_nh(NH_T1)->nh_type = 99;
	th_input(VIF_B, &f);
	th_nh(NH_T1)->nh_type = BSDNET_NH_TUNNEL;
	th_nh(NH_T1)->nh_label = 0x100000;
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_NH), 6);
	th_nh(NH_A)->nh_vif = VIF_F;			/* ENCAP to the fabric */
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 0, 1), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_NH), 7);
	CHECK_EQ(th_ntx, 1);
}

TEST(tx_failed_counted)
{
	struct th_frame f;

	th_tx_ok = false;
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &UDP);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_TX_FAILED), 1);
	CHECK_EQ(th_st()->st_encaps, 0);
	CHECK_EQ(th_vs(VIF_F)->vs_tx_pkts, 0);
}

TEST(lpm_overlapping_prefixes)
{
	uint32_t nh = 0;

	th_rt_add(VRF2, IP(0, 0, 0, 0), 0, 60);
	th_rt_add(VRF2, IP(20, 0, 0, 0), 8, 61);
	th_rt_add(VRF2, IP(20, 1, 0, 0), 16, 62);
	th_rt_add(VRF2, IP(20, 1, 2, 0), 24, 63);
	th_rt_add(VRF2, IP(20, 1, 2, 128), 25, 64);
	th_rt_add(VRF2, IP(20, 1, 2, 200), 32, 65);
	th_rt_add(VRF2, IP(20, 1, 2, 201), 31, 66);
	th_rt_add(VRF2, IP(30, 0, 0, 0), 7, 67);
	th_rt_build();
#define LK(a) (nh = 0, bsdnet_route_lookup(&th_dp, VRF2, (a), &nh), nh)
	CHECK_EQ(LK(IP(1, 2, 3, 4)), 60);		/* /0 */
	CHECK_EQ(LK(IP(20, 9, 9, 9)), 61);
	CHECK_EQ(LK(IP(20, 1, 9, 9)), 62);
	CHECK_EQ(LK(IP(20, 1, 2, 5)), 63);
	CHECK_EQ(LK(IP(20, 1, 2, 130)), 64);
	CHECK_EQ(LK(IP(20, 1, 2, 200)), 65);		/* deepest level */
	CHECK_EQ(LK(IP(20, 1, 2, 199)), 64);
	CHECK_EQ(LK(IP(20, 1, 2, 201)), 66);
	CHECK_EQ(LK(IP(20, 1, 2, 127)), 63);
	CHECK_EQ(LK(IP(31, 255, 0, 1)), 67);		/* /7 spans 2 */
	CHECK_EQ(LK(IP(32, 0, 0, 1)), 60);
	CHECK_EQ(LK(IP(10, 1, 0, 3)), NH_C);
	/* VRF 1 has no default: no route. */
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF1, IP(1, 2, 3, 4), &nh),
	    BSDNET_DROP_NO_ROUTE);
	CHECK_EQ(bsdnet_route_lookup(&th_dp, 4, IP(1, 2, 3, 4), &nh),
	    BSDNET_DROP_INVALID_VRF);
	CHECK_EQ(bsdnet_route_lookup(&th_dp, 65535, IP(1, 2, 3, 4), &nh),
	    BSDNET_DROP_INVALID_VRF);
#undef LK
}

TEST(lpm_corrupt_words)
{
	uint32_t nh = 0;
	struct bsdnet_vrf *v = th_vrf(VRF2);

	v->vrf_root[50] = BSDNET_RT_BUCKET | 64;	/* bucket out of range */
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(50, 0, 0, 1), &nh),
	    BSDNET_DROP_NO_ROUTE);
	v->vrf_root[50] = BSDNET_RT_BUCKET | 0xffffff;
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(50, 0, 0, 1), &nh),
	    BSDNET_DROP_NO_ROUTE);
	v->vrf_root[50] = 0x80000000u | 5;		/* bit 31 */
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(50, 0, 0, 1), &nh),
	    BSDNET_DROP_NO_ROUTE);
	v->vrf_root[50] = 128;				/* nh >= nnexthops */
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(50, 0, 0, 1), &nh),
	    BSDNET_DROP_INVALID_NH);
	v->vrf_root[50] = 24u << 24;			/* nh 0 */
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(50, 0, 0, 1), &nh),
	    BSDNET_DROP_INVALID_NH);
	/* A chain of buckets deeper than four octets. */
	v->vrf_root[51] = BSDNET_RT_BUCKET | 60;
	memset(th_rtb(60), 0, sizeof(*th_rtb(60)));
	th_rtb(60)->rb_ent[0] = BSDNET_RT_BUCKET | 61;
	th_rtb(61)->rb_ent[0] = BSDNET_RT_BUCKET | 62;
	th_rtb(62)->rb_ent[1] = BSDNET_RT_BUCKET | 60;
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(51, 0, 0, 1), &nh),
	    BSDNET_DROP_NO_ROUTE);
	th_rtb(62)->rb_ent[1] = 32u << 24 | 70;
	nh = 0;
	CHECK_EQ(bsdnet_route_lookup(&th_dp, VRF2, IP(51, 0, 0, 1), &nh), 0);
	CHECK_EQ(nh, 70);
}

TEST(ecmp_spreads_by_five_tuple)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;
	int i, n1 = 0, n2 = 0, again;
	uint32_t first;

	for (i = 0; i < 64; i++) {
		th_reset_rec();
		l4.sport = (uint16_t)(1000 + i);
		th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 2, 7), &l4);
		th_input(VIF_B, &f);
		CHECK_EQ(th_ntx, 1);
		first = rd32(th_tx[0].r_data + 38) >> 12;
		if (first == 100)
			n1++;
		else if (first == 200)
			n2++;
		/* The same flow always takes the same member. */
		for (again = 0; again < 3; again++) {
			th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 2, 7),
			    &l4);
			th_input(VIF_B, &f);
			CHECK_EQ(rd32(th_tx[again + 1].r_data + 38) >> 12,
			    first);
		}
	}
	CHECK_EQ(n1 + n2, 64);
	CHECK(n1 >= 16 && n2 >= 16);
}

TEST(ecmp_invalid_members)
{
	struct th_frame f;

	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 2, 7), &UDP);
	th_nh(NH_ECMP)->nh_nmembers = 0;
	th_input(VIF_B, &f);
	th_nh(NH_ECMP)->nh_nmembers = 9;
	th_input(VIF_B, &f);
	th_nh(NH_ECMP)->nh_nmembers = 1;
	th_nh(NH_ECMP)->nh_members[0] = NH_ECMP;	/* nesting */
	th_input(VIF_B, &f);
	th_nh(NH_ECMP)->nh_members[0] = NH_RECV;
	th_input(VIF_B, &f);
	th_nh(NH_ECMP)->nh_members[0] = 0xffffffffu;
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_INVALID_NH), 5);
	th_nh(NH_ECMP)->nh_members[0] = NH_B;		/* ENCAP member ok */
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_B);
}

static void
arp_frame(struct th_frame *f, const uint8_t *smac, const uint8_t *dmac,
    uint16_t op, uint32_t spa, uint32_t tpa)
{
	uint8_t *p, *a;

	memset(f, 0, sizeof(*f));
	f->headroom = 64;
	p = f->buf + 64;
	th_eth(p, dmac, smac, 0x0806);
	a = p + 14;
	a[0] = 0; a[1] = 1; a[2] = 8; a[3] = 0; a[4] = 6; a[5] = 4;
	a[6] = 0; a[7] = (uint8_t)op;
	memcpy(a + 8, smac, 6);
	a[14] = (uint8_t)(spa >> 24); a[15] = (uint8_t)(spa >> 16);
	a[16] = (uint8_t)(spa >> 8); a[17] = (uint8_t)spa;
	a[24] = (uint8_t)(tpa >> 24); a[25] = (uint8_t)(tpa >> 16);
	a[26] = (uint8_t)(tpa >> 8); a[27] = (uint8_t)tpa;
	f->len = 60;
	th_pkt(f);
}

TEST(arp_from_vm_answered_with_router_mac)
{
	struct th_frame f;
	const uint8_t *d, *a;

	arp_frame(&f, MAC_A, MAC_BCAST, 1, IP(10, 0, 0, 1), IP(10, 0, 1, 77));
	th_input(VIF_A, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_A);
	d = th_tx[0].r_data;
	a = d + 14;
	CHECK(memcmp(d, MAC_A, 6) == 0);
	CHECK(memcmp(d + 6, MAC_ROUTER, 6) == 0);
	CHECK_EQ(rd16(d + 12), 0x0806);
	CHECK_EQ(rd16(a + 6), 2);
	CHECK(memcmp(a + 8, MAC_ROUTER, 6) == 0);
	CHECK_EQ(rd32(a + 14), IP(10, 0, 1, 77));
	CHECK(memcmp(a + 18, MAC_A, 6) == 0);
	CHECK_EQ(rd32(a + 24), IP(10, 0, 0, 1));
	CHECK_EQ(th_st()->st_arp_replies, 1);
	/* The router MAC the agent set is the one used. */
	th_hdr()->rh_router_mac[5] = 0x77;
	arp_frame(&f, MAC_A, MAC_BCAST, 1, IP(10, 0, 0, 1), IP(10, 0, 0, 2));
	th_input(VIF_A, &f);
	CHECK_EQ(th_ntx, 2);
	CHECK_EQ(th_tx[1].r_data[14 + 8 + 5], 0x77);
}

TEST(arp_not_answered_or_malformed)
{
	struct th_frame f;

	arp_frame(&f, MAC_A, MAC_BCAST, 1, IP(10, 0, 0, 1), IP(11, 0, 0, 1));
	th_input(VIF_A, &f);				/* no route */
	arp_frame(&f, MAC_A, MAC_BCAST, 1, 0, IP(10, 0, 0, 1));
	th_input(VIF_A, &f);				/* DAD probe */
	arp_frame(&f, MAC_A, MAC_BCAST, 1, IP(10, 0, 1, 1), IP(10, 0, 1, 1));
	th_vif(VIF_A)->vif_ip = 0;			/* no anti-spoofing */
	th_input(VIF_A, &f);				/* gratuitous */
	th_vif(VIF_A)->vif_ip = IP(10, 0, 0, 1);
	arp_frame(&f, MAC_A, MAC_ROUTER, 2, IP(10, 0, 0, 1), IP(10, 0, 1, 1));
	th_input(VIF_A, &f);				/* a reply */
	CHECK_EQ(th_drops(BSDNET_DROP_ARP_NOT_ANSWERED), 4);
	arp_frame(&f, MAC_A, MAC_BCAST, 1, IP(10, 0, 0, 1), IP(10, 0, 1, 1));
	f.pkt.p_data[14 + 4] = 5;			/* hlen 5 */
	th_input(VIF_A, &f);
	arp_frame(&f, MAC_A, MAC_BCAST, 3, IP(10, 0, 0, 1), IP(10, 0, 1, 1));
	th_input(VIF_A, &f);				/* op 3 */
	arp_frame(&f, MAC_A, MAC_BCAST, 1, IP(10, 0, 0, 1), IP(10, 0, 1, 1));
	f.pkt.p_len = f.pkt.p_totlen = 14 + 27;
	th_input(VIF_A, &f);				/* short */
	CHECK_EQ(th_drops(BSDNET_DROP_ARP_MALFORMED), 3);
	arp_frame(&f, MAC_B, MAC_BCAST, 1, IP(10, 0, 0, 1), IP(10, 0, 1, 1));
	th_input(VIF_A, &f);				/* wrong MAC */
	CHECK_EQ(th_drops(BSDNET_DROP_SPOOFED_MAC), 1);
	CHECK_EQ(th_ntx, 0);
}

TEST(arp_on_fabric)
{
	struct th_frame f;
	const uint8_t *a;

	arp_frame(&f, MAC_PEER, MAC_BCAST, 1, IP(192, 168, 0, 2),
	    IP(192, 168, 0, 1));
	th_input(VIF_F, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_F);
	a = th_tx[0].r_data + 14;
	CHECK(memcmp(th_tx[0].r_data, MAC_PEER, 6) == 0);
	CHECK(memcmp(th_tx[0].r_data + 6, MAC_F, 6) == 0);
	CHECK(memcmp(a + 8, MAC_F, 6) == 0);
	CHECK_EQ(rd32(a + 14), IP(192, 168, 0, 1));
	CHECK_EQ(rd32(a + 24), IP(192, 168, 0, 2));
	arp_frame(&f, MAC_PEER, MAC_BCAST, 1, IP(192, 168, 0, 2),
	    IP(192, 168, 0, 9));
	th_input(VIF_F, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_ARP_NOT_ANSWERED), 1);
	CHECK_EQ(th_ntx, 1);
}

TEST(dhcp_trapped_never_forwarded)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 68, .dport = 67,
	    .paylen = 240 };
	uint8_t *p;

	th_frame_vm(&f, MAC_A, 0, IP(255, 255, 255, 255), &l4);
	p = f.pkt.p_data;
	memcpy(p, MAC_BCAST, 6);
	th_input(VIF_A, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_ntrap, 1);
	CHECK_EQ(th_trap[0].r_hdr.th_reason, BSDNET_TRAP_DHCP);
	CHECK_EQ(th_trap[0].r_hdr.th_vif, VIF_A);
	CHECK_EQ(th_trap[0].r_hdr.th_vrf, VRF1);
	CHECK_EQ(th_trap[0].r_len, f.len);
	CHECK(memcmp(th_trap[0].r_data, f.pkt.p_data, f.len) == 0);
	/* Renewal from the VM's own address, unicast to the router. */
	th_frame_vm(&f, MAC_A, IP(10, 0, 0, 1), IP(10, 0, 0, 254), &l4);
	th_input(VIF_A, &f);
	CHECK_EQ(th_ntrap, 2);
	/* From someone else's address: spoofed. */
	th_frame_vm(&f, MAC_A, IP(10, 0, 0, 9), IP(10, 0, 0, 254), &l4);
	th_input(VIF_A, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_SPOOFED_IP), 1);
	/* No flow was made for DHCP. */
	CHECK_EQ(th_st()->st_holds, 0);
	CHECK_EQ(th_st()->st_traps, 2);
}

TEST(dhcp_trap_rate_limited)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 68, .dport = 67 };
	int i;

	th_hdr()->rh_trap_rate = 2;
	bsdnet_dp_init(&th_dp, NULL, th_base, th_size, th_hold, TH_NHOLD);
	for (i = 0; i < 4; i++) {
		th_frame_vm(&f, MAC_A, 0, IP(255, 255, 255, 255), &l4);
		th_input(VIF_A, &f);
	}
	CHECK_EQ(th_ntrap, 2);
	CHECK_EQ(th_drops(BSDNET_DROP_TRAP_RATE), 2);
	th_trap_ok = false;
	th_now += 1000;
	th_input(VIF_A, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_TRAP_FAILED), 1);
}

TEST(antispoof_mac_checked_without_a_single_source_address)
{
	struct th_frame f;
	struct th_l4 l4 = UDP;

	/* A port with allowed address pairs: no vif_ip (the agent checks
	 * sources per flow), but its one MAC is still enforced. */
	th_vif(VIF_B)->vif_ip = 0;
	th_frame_vm(&f, MAC_A, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_SPOOFED_MAC), 1);
	CHECK_EQ(th_ntx, 0);
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 7), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_drops(BSDNET_DROP_SPOOFED_IP), 0);
	CHECK_EQ(th_ntx, 1);
}
