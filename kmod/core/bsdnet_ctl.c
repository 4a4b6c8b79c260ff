/*-
 * The rules of the agent's control messages (struct bsdnet_ctl_hdr and
 * its payload), one set for every home: a home checks a message here
 * before it acts on it, and only then looks at its own state (is the vif
 * attached, does the frame fit the interface).
 */
#include "bsdnet_priv.h"

int
bsdnet_ctl_check(const struct bsdnet_ctl_hdr *ch, size_t len,
    uint32_t nvifs)
{
	size_t payload;

	if (len < sizeof(*ch))
		return (BSDNET_CTL_E_SHORT);
	if (len > sizeof(*ch) + BSDNET_CTL_XMIT_MAX)
		return (BSDNET_CTL_E_LONG);
	payload = len - sizeof(*ch);
	switch (ch->ch_type) {
	case BSDNET_CTL_RELEASE:	/* the core checks flow and generation */
	case BSDNET_CTL_VIF_SYNC:
		return (payload == 0 ? BSDNET_CTL_OK : BSDNET_CTL_E_PAYLOAD);
	case BSDNET_CTL_XMIT:
		if (ch->ch_len != payload)
			return (BSDNET_CTL_E_LEN);
		if (payload < BSDNET_ETH_HLEN)
			return (BSDNET_CTL_E_FRAME);
		if (ch->ch_vif >= nvifs)
			return (BSDNET_CTL_E_VIF);
		return (BSDNET_CTL_OK);
	default:
		return (BSDNET_CTL_E_TYPE);
	}
}

const char *
bsdnet_ctl_strerror(int error)
{

	switch (error) {
	case BSDNET_CTL_OK:
		return ("well formed");
	case BSDNET_CTL_E_SHORT:
		return ("shorter than a header");
	case BSDNET_CTL_E_LONG:
		return ("longer than a header and the largest XMIT frame");
	case BSDNET_CTL_E_TYPE:
		return ("unknown type");
	case BSDNET_CTL_E_PAYLOAD:
		return ("RELEASE or VIF_SYNC with a payload");
	case BSDNET_CTL_E_LEN:
		return ("XMIT length is not the payload's");
	case BSDNET_CTL_E_FRAME:
		return ("XMIT frame shorter than an Ethernet header");
	case BSDNET_CTL_E_VIF:
		return ("XMIT on a vif outside the table");
	default:
		return ("?");
	}
}

bool
bsdnet_ctl_xmit_fits(uint32_t len, uint32_t mtu)
{

	return ((uint64_t)len <= (uint64_t)mtu + BSDNET_ETH_HLEN +
	    BSDNET_VLAN_HLEN);
}
