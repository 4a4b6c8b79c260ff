/*-
 * ARP answered in the datapath: a VM's request for an address with a
 * route in its VRF gets the router MAC; a request on the fabric for the
 * fabric address gets the fabric MAC.  Nothing else is answered.
 */
#include "bsdnet_priv.h"

/* Is the Ethernet/IPv4 ARP packet a well formed? */
static bool
arp_wellformed(const struct bsdnet_arp *a)
{
	uint16_t op = bsdnet_rd16(a->ar_op);

	return (bsdnet_rd16(a->ar_hrd) == BSDNET_ARP_HRD_ETHER &&
	    bsdnet_rd16(a->ar_pro) == BSDNET_ETHERTYPE_IPV4 &&
	    a->ar_hln == BSDNET_ETH_ALEN && a->ar_pln == 4 &&
	    (op == BSDNET_ARP_OP_REQUEST || op == BSDNET_ARP_OP_REPLY));
}

/* Turn the request a (in frame eh) into the reply from mac, in place. */
static void
arp_make_reply(struct bsdnet_ether *eh, struct bsdnet_arp *a,
    const uint8_t *mac)
{
	uint32_t spa = bsdnet_rd32(a->ar_spa), tpa = bsdnet_rd32(a->ar_tpa);

	bsdnet_memcpy(eh->eth_dst, eh->eth_src, BSDNET_ETH_ALEN);
	bsdnet_memcpy(eh->eth_src, mac, BSDNET_ETH_ALEN);
	bsdnet_wr16(a->ar_op, BSDNET_ARP_OP_REPLY);
	bsdnet_memcpy(a->ar_tha, a->ar_sha, BSDNET_ETH_ALEN);
	bsdnet_wr32(a->ar_tpa, spa);
	bsdnet_memcpy(a->ar_sha, mac, BSDNET_ETH_ALEN);
	bsdnet_wr32(a->ar_spa, tpa);
}

int
bsdnet_arp_input(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt, uint32_t off)
{
	uint8_t mac[BSDNET_ETH_ALEN];
	struct bsdnet_arp *a;
	uint32_t spa, tpa, nh;
	int r;

	if (pkt->p_len < off || pkt->p_len - off < BSDNET_ARP_LEN)
		return (BSDNET_DROP_ARP_MALFORMED);
	a = (struct bsdnet_arp *)(void *)(pkt->p_data + off);
	if (!arp_wellformed(a))
		return (BSDNET_DROP_ARP_MALFORMED);
	if (bsdnet_rd16(a->ar_op) != BSDNET_ARP_OP_REQUEST)
		return (BSDNET_DROP_ARP_NOT_ANSWERED);
	spa = bsdnet_rd32(a->ar_spa);
	tpa = bsdnet_rd32(a->ar_tpa);
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
	arp_make_reply(bsdnet_eth(pkt), a, mac);
	r = bsdnet_tx(dp, c->c_vifidx, pkt);
	if (r == BSDNET_DONE)
		bsdnet_add_rlx(&dp->dp_stats->st_arp_replies, (uint64_t)1);
	return (r);
}
