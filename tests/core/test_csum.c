/*
 * bsdnet_ipv4_csum() sums 32 bits at a time in host order: it must give
 * exactly the 16-bit big-endian reference result, including the
 * representation of zero, on any even length.
 */
#include "th.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint8_t
rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((uint8_t)(rng >> 32));
}

/* The RFC 1071 reference, 16 bits at a time, big-endian. */
static uint16_t
ref_csum(const uint8_t *p, uint32_t n)
{
	uint32_t s = 0, i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ((uint16_t)~s);
}

TEST(ipv4_csum_matches_reference)
{
	uint8_t b[64 + 3];
	uint32_t n, t, off, i;

	for (t = 0; t < 2000; t++) {
		n = 2 * (1 + t % 32);			/* 2 .. 64 */
		off = t % 4;				/* unaligned too */
		for (i = 0; i < n; i++)
			b[off + i] = t % 7 == 0 ? 0xff : t % 7 == 1 ? 0 :
			    rnd8();
		CHECK_EQ(bsdnet_ipv4_csum(b + off, n), ref_csum(b + off, n));
	}
	/* A header with its checksum filled in sums to zero. */
	for (t = 0; t < 200; t++) {
		for (i = 0; i < 20; i++)
			b[i] = rnd8();
		b[10] = b[11] = 0;
		n = ref_csum(b, 20);
		b[10] = (uint8_t)(n >> 8);
		b[11] = (uint8_t)n;
		CHECK_EQ(bsdnet_ipv4_csum(b, 20), 0);
	}
}

/* The encapsulation sums its outer header from the fields it varies: the
 * result must check out for any tunnel addresses and inner length. */
TEST(encap_outer_csum_any_addresses)
{
	struct th_frame f;
	struct th_l4 l4 = { .proto = 17, .sport = 1, .dport = 2 };
	uint32_t t, src, dst;

	for (t = 0; t < 40; t++) {
		src = (uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 16 |
		    (uint32_t)rnd8() << 8 | rnd8();
		dst = t % 5 == 0 ? 0xffffffffu : t % 5 == 1 ? 0 :
		    (uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 8 | rnd8();
		th_nh(NH_T1)->nh_tun_src = src;
		th_nh(NH_T1)->nh_tun_dst = dst;
		l4.paylen = t * 37;
		th_frame_vm(&f, MAC_B, IP(10, 0, 0, 2), IP(10, 0, 1, 5), &l4);
		th_reset_rec();
		th_input(VIF_B, &f);
		CHECK_EQ(th_ntx, 1);
		CHECK_EQ(th_csum(th_tx[0].r_data + 14, 20), 0);
		CHECK_EQ(ref_csum(th_tx[0].r_data + 14, 20), 0);
	}
}
