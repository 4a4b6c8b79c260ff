/*-
 * ARP answered in the datapath.
 *
 * From a VM (VIRTUAL vif): a request for any address with a route in the
 * vif's VRF is answered with rh_router_mac, as vRouter does, so the
 * router MAC is the L2 next hop for everything the VM sends.  Requests
 * for the VM's own address (duplicate address detection) or gratuitous
 * ones are not answered.
 * On the FABRIC vif: requests for the fabric address are answered with the
 * fabric MAC, so peers can resolve this node.  Peers' MACs come to us in
 * the tunnel nexthops (nh_dmac), so nothing else is needed here.
 */
#include "bsdnet_priv.h"

enum {
	ARP_HTYPE_ETHER	= 1,
	ARP_OP_REQUEST	= 1,
	ARP_OP_REPLY	= 2,
};

/* Is the Ethernet/IPv4 ARP packet at a well formed?  (28 bytes present.) */
static bool
arp_wellformed(const uint8_t *a)
{
	uint16_t op = bsdnet_rd16(a + 6);

	return (bsdnet_rd16(a) == ARP_HTYPE_ETHER &&
	    bsdnet_rd16(a + 2) == BSDNET_ETHERTYPE_IPV4 &&
	    a[4] == BSDNET_ETH_ALEN && a[5] == 4 &&
	    (op == ARP_OP_REQUEST || op == ARP_OP_REPLY));
}

/* Turn the request at a (in frame d) into the reply from mac, in place. */
static void
arp_make_reply(uint8_t *d, uint8_t *a, const uint8_t *mac)
{
	uint32_t spa = bsdnet_rd32(a + 14), tpa = bsdnet_rd32(a + 24);

	bsdnet_memcpy(d, d + 6, BSDNET_ETH_ALEN);
	bsdnet_memcpy(d + 6, mac, BSDNET_ETH_ALEN);
	bsdnet_wr16(a + 6, ARP_OP_REPLY);
	bsdnet_memcpy(a + 18, a + 8, BSDNET_ETH_ALEN);	/* tha = sha */
	bsdnet_wr32(a + 24, spa);			/* tpa = spa */
	bsdnet_memcpy(a + 8, mac, BSDNET_ETH_ALEN);	/* sha = us */
	bsdnet_wr32(a + 14, tpa);			/* spa = target */
}

int
bsdnet_arp_input(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt, uint32_t off)
{
	uint8_t mac[BSDNET_ETH_ALEN], *a;
	uint32_t spa, tpa, nh;
	int r;

	if (pkt->p_len < off || pkt->p_len - off < BSDNET_ARP_LEN)
		return (BSDNET_DROP_ARP_MALFORMED);
	a = pkt->p_data + off;
	if (!arp_wellformed(a))
		return (BSDNET_DROP_ARP_MALFORMED);
	if (bsdnet_rd16(a + 6) != ARP_OP_REQUEST)
		return (BSDNET_DROP_ARP_NOT_ANSWERED);
	spa = bsdnet_rd32(a + 14);
	tpa = bsdnet_rd32(a + 24);
	if (c->c_vif->vif_type == BSDNET_VIF_FABRIC) {
		if (c->c_vif->vif_ip == 0 || tpa != c->c_vif->vif_ip)
			return (BSDNET_DROP_ARP_NOT_ANSWERED);
		bsdnet_memcpy(mac, c->c_vif->vif_mac, BSDNET_ETH_ALEN);
	} else {
		if (tpa == 0 || tpa == spa ||
		    (c->c_vif->vif_ip != 0 && tpa == c->c_vif->vif_ip))
			return (BSDNET_DROP_ARP_NOT_ANSWERED);
		r = bsdnet_route_lookup(dp, c->c_vif->vif_vrf, tpa, &nh);
		if (r != BSDNET_CONT)
			return (BSDNET_DROP_ARP_NOT_ANSWERED);
		bsdnet_memcpy(mac, dp->dp_hdr->rh_router_mac, BSDNET_ETH_ALEN);
	}
	arp_make_reply(pkt->p_data, a, mac);
	r = bsdnet_tx(dp, c->c_vifidx, pkt);
	if (r == BSDNET_DONE)
		bsdnet_add_rlx(&dp->dp_stats->st_arp_replies, (uint64_t)1);
	return (r);
}
