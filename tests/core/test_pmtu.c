/*
 * Path MTU: ICMP "fragmentation needed" back to a VM whose packet does not
 * fit the overlay (bytes, rate limit, when not to send), and TCP MSS
 * clamping of SYNs going into the overlay (rewritten, checksum still
 * valid, malformed options left alone).
 */
#include "th.h"

/* Fabric MTU 1478: the overlay carries 1450, TCP segments of 1410. */
enum { FAB_MTU = 1478, OVL_MTU = 1450, OVL_MSS = 1410 };

static uint16_t
rd16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

static uint32_t
rd32(const uint8_t *p)
{
	return ((uint32_t)rd16(p) << 16 | rd16(p + 2));
}

static void
pmtu_setup(void)
{
	th_vif(VIF_F)->vif_mtu = FAB_MTU;
	th_vif(VIF_B)->vif_gw = IP(10, 0, 0, 254);
}

/* VM B -> 10.0.1.5 (TUNNEL NH_T1), an IPv4 packet of iplen bytes. */
static void
big_frame(struct th_frame *f, uint8_t proto, uint16_t frag, uint32_t iplen)
{
	struct th_l4 l4 = { .proto = proto, .sport = 1000, .dport = 2000,
	    .frag = frag, .mark = 0x40 };

	l4.paylen = iplen - 20 - (proto == 6 ? 20 : 8);
	if (proto == 1) {	/* an echo request, id 77 */
		l4.sport = 8;
		l4.dport = 0;
		l4.icmp_id = 77;
	}
	th_frame_vm(f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
}

/* Check tx record r is the ICMP "fragmentation needed" for the frame
 * whose IPv4 packet was `orig` (quoted: header + 8 bytes). */
static void
check_toobig(const struct th_rec *r, const uint8_t *orig, uint32_t src,
    uint16_t mtu)
{
	const uint8_t *d = r->r_data, *ip = d + 14, *icmp = d + 34;

	CHECK_EQ(r->r_vif, VIF_B);
	CHECK_EQ(r->r_len, 14 + 20 + 8 + 28);
	CHECK(memcmp(d, MAC_B, 6) == 0);
	CHECK(memcmp(d + 6, MAC_ROUTER, 6) == 0);
	CHECK_EQ(rd16(d + 12), 0x0800);
	CHECK_EQ(ip[0], 0x45);
	CHECK_EQ(rd16(ip + 2), 20 + 8 + 28);
	CHECK_EQ(rd16(ip + 6) & 0x3fff, 0);	/* not a fragment */
	CHECK(ip[8] > 1);
	CHECK_EQ(ip[9], 1);
	CHECK_EQ(th_csum(ip, 20), 0);
	CHECK_EQ(rd32(ip + 12), src);
	CHECK_EQ(rd32(ip + 16), IP(10, 0, 0, 2));
	CHECK_EQ(icmp[0], 3);
	CHECK_EQ(icmp[1], 4);
	CHECK_EQ(rd16(icmp + 4), 0);
	CHECK_EQ(rd16(icmp + 6), mtu);
	CHECK_EQ(th_csum(icmp, 8 + 28), 0);
	CHECK(memcmp(icmp + 8, orig, 28) == 0);
}

TEST(pmtu_df_too_big_gets_frag_needed)
{
	struct th_frame f;
	uint8_t orig[28];

	pmtu_setup();
	big_frame(&f, 17, 0x4000, 1500);
	memcpy(orig, f.pkt.p_data + 14, sizeof(orig));
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	check_toobig(&th_tx[0], orig, IP(10, 0, 0, 254), OVL_MTU);
	/* The packet itself is still a drop under its reason. */
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 1);
	CHECK_EQ(th_drops_total(), 1);
	CHECK_EQ(th_vs(VIF_B)->vs_drops, 1);
	CHECK_EQ(th_vs(VIF_B)->vs_tx_pkts, 1);
	CHECK_EQ(th_vs(VIF_F)->vs_tx_pkts, 0);
	CHECK_EQ(th_st()->st_icmp_too_big, 1);
	CHECK_EQ(th_st()->st_icmp_rate_limited, 0);
	CHECK_EQ(th_st()->st_encaps, 0);
}

TEST(pmtu_frag_needed_from_a_tagged_frame_only_headers_contiguous)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 6, .sport = 1000, .dport = 2000,
	    .frag = 0x4000, .tcp_flags = 0x10, .paylen = 1500 - 40 };
	uint8_t orig[28], *p;

	/* A VID 0 priority tag (IPv4 at 18), and only BSDNET_PULLUP bytes
	 * contiguous, as a home with chained buffers gives. */
	pmtu_setup();
	memset(&f, 0, sizeof(f));
	f.headroom = 128;
	p = f.buf + f.headroom;
	memcpy(p, MAC_ROUTER, 6);
	memcpy(p + 6, MAC_B, 6);
	p[12] = 0x81; p[13] = 0x00; p[14] = 0x00; p[15] = 0x00;
	p[16] = 0x08; p[17] = 0x00;
	f.len = 18 + th_ipv4(p + 18, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	memcpy(orig, p + 18, sizeof(orig));
	th_pkt(&f);
	f.pkt.p_len = BSDNET_PULLUP;
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	check_toobig(&th_tx[0], orig, IP(10, 0, 0, 254), OVL_MTU);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 1);
}

TEST(pmtu_without_gateway_the_destination_answers)
{
	struct th_frame f;
	uint8_t orig[28];

	pmtu_setup();
	th_vif(VIF_B)->vif_gw = 0;
	big_frame(&f, 1, 0x4000, 1451);
	memcpy(orig, f.pkt.p_data + 14, sizeof(orig));
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	check_toobig(&th_tx[0], orig, IP(10, 0, 1, 5), OVL_MTU);
}

TEST(pmtu_exactly_the_overlay_mtu_fits)
{
	struct th_frame f;

	pmtu_setup();
	big_frame(&f, 17, 0x4000, OVL_MTU);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_F);
	CHECK_EQ(th_tx[0].r_len, FAB_MTU + 14);
	CHECK_EQ(th_drops_total(), 0);
	CHECK_EQ(th_st()->st_icmp_too_big, 0);
}

TEST(pmtu_no_df_is_dropped_and_told_too)
{
	struct th_frame f;
	uint8_t orig[28];

	pmtu_setup();
	big_frame(&f, 17, 0, 1451);
	memcpy(orig, f.pkt.p_data + 14, sizeof(orig));
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	check_toobig(&th_tx[0], orig, IP(10, 0, 0, 254), OVL_MTU);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED_NO_DF), 1);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 0);
}

TEST(pmtu_icmp_errors_are_rate_limited)
{
	struct th_frame f;
	int i;

	pmtu_setup();
	th_hdr()->rh_icmp_rate = 2;	/* a full bucket holds 2 */
	for (i = 0; i < 5; i++) {
		big_frame(&f, 17, 0x4000, 1500);
		th_input(VIF_B, &f);
	}
	CHECK_EQ(th_ntx, 2);
	CHECK_EQ(th_st()->st_icmp_too_big, 2);
	CHECK_EQ(th_st()->st_icmp_rate_limited, 3);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 5);
	/* Half a second at 2/s earns one. */
	th_now += 500;
	for (i = 0; i < 2; i++) {
		big_frame(&f, 17, 0x4000, 1500);
		th_input(VIF_B, &f);
	}
	CHECK_EQ(th_ntx, 3);
	CHECK_EQ(th_st()->st_icmp_too_big, 3);
	CHECK_EQ(th_st()->st_icmp_rate_limited, 4);
}

TEST(pmtu_no_icmp_error_about_an_icmp_error)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 1, .sport = 3, .dport = 1,
	    .frag = 0x4000, .paylen = 1500 - 28 };

	pmtu_setup();
	th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 0);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 1);
	CHECK_EQ(th_st()->st_icmp_too_big, 0);
	CHECK_EQ(th_st()->st_icmp_rate_limited, 0);
}

/* ---- MSS clamping ---- */

/* TCP checksum of the segment at tcp (len bytes) with its pseudo-header:
 * 0 when valid. */
static uint16_t
tcp_csum(const uint8_t *ip, const uint8_t *tcp, uint32_t len)
{
	uint8_t buf[2048];

	memcpy(buf, ip + 12, 8);
	buf[8] = 0;
	buf[9] = 6;
	th_wr16(buf + 10, (uint16_t)len);
	memcpy(buf + 12, tcp, len);
	return (th_csum(buf, 12 + len));
}

/* VM B -> 10.0.1.5, TCP with flags and options opts (olen bytes, a
 * multiple of 4), then 8 bytes of data; checksums valid. */
static void
syn_frame(struct th_frame *f, uint8_t flags, const uint8_t *opts,
    uint32_t olen)
{
	struct th_l4 l4 = { .proto = 6, .sport = 40000, .dport = 5001,
	    .tcp_flags = flags, .paylen = olen + 8, .mark = 0x61 };
	uint8_t *ip, *tcp;
	uint16_t c;

	th_frame_vm(f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
	ip = f->pkt.p_data + 14;
	tcp = ip + 20;
	tcp[12] = (uint8_t)((20 + olen) / 4 << 4);
	memcpy(tcp + 20, opts, olen);
	c = tcp_csum(ip, tcp, 20 + olen + 8);
	th_wr16(tcp + 16, c);
}

/* Send a SYN-like frame through; the encapsulated inner TCP header of the
 * one frame sent.  Checks the inner checksum is valid. */
static const uint8_t *
clamp_through(uint8_t flags, const uint8_t *opts, uint32_t olen)
{
	struct th_frame f;
	const uint8_t *ip;

	syn_frame(&f, flags, opts, olen);
	th_reset_rec();
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(th_tx[0].r_vif, VIF_F);
	ip = th_tx[0].r_data + 42;
	CHECK_EQ(tcp_csum(ip, ip + 20, 20 + olen + 8), 0);
	return (ip + 20);
}

/* MSS 1460, SACK permitted, timestamps, NOP, window scale: Linux's SYN. */
static const uint8_t LINUX_SYN[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10,
    0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7 };

TEST(mss_clamped_in_a_syn_into_the_overlay)
{
	const uint8_t *tcp;

	pmtu_setup();
	tcp = clamp_through(0x02, LINUX_SYN, sizeof(LINUX_SYN));
	CHECK_EQ(rd16(tcp + 22), OVL_MSS);
	CHECK(memcmp(tcp + 24, LINUX_SYN + 4, 16) == 0);  /* rest intact */
	CHECK_EQ(th_st()->st_mss_clamped, 1);
	/* The SYN-ACK too. */
	tcp = clamp_through(0x12, LINUX_SYN, sizeof(LINUX_SYN));
	CHECK_EQ(rd16(tcp + 22), OVL_MSS);
	CHECK_EQ(th_st()->st_mss_clamped, 2);
}

TEST(mss_clamped_at_an_odd_offset)
{
	/* NOP, then MSS: its value sits at an odd offset of the header. */
	static const uint8_t opts[8] = { 1, 2, 4, 0x23, 0x28, 1, 1, 0 };
	const uint8_t *tcp;

	pmtu_setup();
	tcp = clamp_through(0x02, opts, sizeof(opts));
	CHECK_EQ(rd16(tcp + 23), OVL_MSS);
	CHECK_EQ(th_st()->st_mss_clamped, 1);
}

TEST(mss_left_alone_when_it_need_not_change)
{
	static const uint8_t small[4] = { 2, 4, 0x04, 0xb0 };	/* 1200 */
	const uint8_t *tcp;

	pmtu_setup();
	/* Already small enough. */
	tcp = clamp_through(0x02, small, sizeof(small));
	CHECK_EQ(rd16(tcp + 22), 1200);
	/* Not a SYN: options of other segments are not MSS's business. */
	tcp = clamp_through(0x10, LINUX_SYN, sizeof(LINUX_SYN));
	CHECK_EQ(rd16(tcp + 22), 1460);
	/* Turned off by the agent. */
	th_hdr()->rh_dp_flags = BSDNET_DPF_NO_MSS_CLAMP;
	tcp = clamp_through(0x02, LINUX_SYN, sizeof(LINUX_SYN));
	CHECK_EQ(rd16(tcp + 22), 1460);
	CHECK_EQ(th_st()->st_mss_clamped, 0);
	/* Clamping needs the fabric's MTU. */
	th_hdr()->rh_dp_flags = 0;
	th_vif(VIF_F)->vif_mtu = 0;
	tcp = clamp_through(0x02, LINUX_SYN, sizeof(LINUX_SYN));
	CHECK_EQ(rd16(tcp + 22), 1460);
	CHECK_EQ(th_st()->st_mss_clamped, 0);
}

TEST(mss_malformed_options_are_left_alone)
{
	/* Each: the MSS option follows (or is) a malformed one. */
	static const uint8_t bad[][8] = {
		{ 8, 0, 2, 4, 0x05, 0xb4, 0, 0 },	/* length 0 */
		{ 8, 1, 2, 4, 0x05, 0xb4, 0, 0 },	/* length 1 */
		{ 8, 9, 2, 4, 0x05, 0xb4, 0, 0 },	/* past the header */
		{ 2, 3, 0x05, 0xb4, 0, 0, 0, 0 },	/* MSS of length 3 */
		{ 0, 2, 4, 0x05, 0xb4, 0, 0, 0 },	/* after end of list */
		{ 1, 1, 1, 1, 1, 1, 1, 2 },		/* kind, no length */
	};
	const uint8_t *tcp;
	uint32_t i;

	pmtu_setup();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tcp = clamp_through(0x02, bad[i], 8);
		CHECK(memcmp(tcp + 20, bad[i], 8) == 0);
	}
	CHECK_EQ(th_st()->st_mss_clamped, 0);
	CHECK_EQ(th_drops_total(), 0);
}

TEST(mss_data_offset_past_the_packet_is_left_alone)
{
	struct th_frame f;
	uint8_t *tcp;

	pmtu_setup();
	syn_frame(&f, 0x02, LINUX_SYN, sizeof(LINUX_SYN));
	tcp = f.pkt.p_data + 34;
	tcp[12] = 0xf0;		/* 60 bytes of header in a 48-byte segment */
	th_input(VIF_B, &f);
	CHECK_EQ(th_ntx, 1);
	CHECK_EQ(rd16(th_tx[0].r_data + 42 + 20 + 22), 1460);
	CHECK_EQ(th_st()->st_mss_clamped, 0);
}
