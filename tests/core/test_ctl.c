/*
 * bsdnet_ctl_check(): the one set of rules for the agent's control
 * messages, which every home applies before it acts.
 */
#include "th.h"

static struct bsdnet_ctl_hdr
ctl(uint16_t type, uint16_t vif, uint32_t len)
{
	struct bsdnet_ctl_hdr ch;

	memset(&ch, 0, sizeof(ch));
	ch.ch_type = type;
	ch.ch_vif = vif;
	ch.ch_len = len;
	return (ch);
}

#define HL	sizeof(struct bsdnet_ctl_hdr)

TEST(ctl_check_accepts_each_type)
{
	struct bsdnet_ctl_hdr ch;

	ch = ctl(BSDNET_CTL_RELEASE, 0, 0);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL, 16), BSDNET_CTL_OK);
	ch = ctl(BSDNET_CTL_VIF_SYNC, 0, 0);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL, 16), BSDNET_CTL_OK);
	ch = ctl(BSDNET_CTL_XMIT, 15, 14);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + 14, 16), BSDNET_CTL_OK);
	ch = ctl(BSDNET_CTL_XMIT, 1, BSDNET_CTL_XMIT_MAX);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + BSDNET_CTL_XMIT_MAX, 16),
	    BSDNET_CTL_OK);
}

TEST(ctl_check_refuses_malformed)
{
	struct bsdnet_ctl_hdr ch;

	ch = ctl(BSDNET_CTL_RELEASE, 0, 0);
	CHECK_EQ(bsdnet_ctl_check(NULL, HL - 1, 16), BSDNET_CTL_E_SHORT);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + 1, 16), BSDNET_CTL_E_PAYLOAD);
	ch = ctl(BSDNET_CTL_VIF_SYNC, 0, 4);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + 4, 16), BSDNET_CTL_E_PAYLOAD);
	ch = ctl(0, 0, 0);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL, 16), BSDNET_CTL_E_TYPE);
	ch = ctl(99, 0, 0);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL, 16), BSDNET_CTL_E_TYPE);
	/* XMIT: length said and carried, an Ethernet header, a vif. */
	ch = ctl(BSDNET_CTL_XMIT, 1, 1000);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + 60, 16), BSDNET_CTL_E_LEN);
	ch = ctl(BSDNET_CTL_XMIT, 1, 0);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL, 16), BSDNET_CTL_E_FRAME);
	ch = ctl(BSDNET_CTL_XMIT, 1, 13);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + 13, 16), BSDNET_CTL_E_FRAME);
	ch = ctl(BSDNET_CTL_XMIT, 16, 60);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + 60, 16), BSDNET_CTL_E_VIF);
	ch = ctl(BSDNET_CTL_XMIT, 1, BSDNET_CTL_XMIT_MAX + 1);
	CHECK_EQ(bsdnet_ctl_check(&ch, HL + BSDNET_CTL_XMIT_MAX + 1, 16),
	    BSDNET_CTL_E_LONG);
	ch = ctl(BSDNET_CTL_RELEASE, 0, 0);
	CHECK_EQ(bsdnet_ctl_check(&ch, (size_t)-1, 16), BSDNET_CTL_E_LONG);
	CHECK(strcmp(bsdnet_ctl_strerror(BSDNET_CTL_E_VIF), "?") != 0);
	CHECK(strcmp(bsdnet_ctl_strerror(-5), "?") == 0);
}

TEST(ctl_xmit_fits_mtu_with_one_tag)
{

	CHECK(bsdnet_ctl_xmit_fits(1518, 1500));
	CHECK(!bsdnet_ctl_xmit_fits(1519, 1500));
	CHECK(bsdnet_ctl_xmit_fits(9022, 9004));
	CHECK(bsdnet_ctl_xmit_fits(0xffffffffu, 0xffffffffu));
}
