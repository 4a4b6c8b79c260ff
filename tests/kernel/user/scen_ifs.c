/*
 * Interfaces that change under an attached port: destroyed, renamed,
 * moved to another vnet; and the interface types a fabric may be.
 */
#include <errno.h>

#include "kh_user.h"

/* ARP through the port: the router answers on tap0. */
static void
arp_through(const struct node *me, const struct node *peer)
{
	uint8_t f[64];

	CHECK_EQ(kh_if_rx(me->tap, f, node_arp_request(f, me, peer->vm_ip),
	    2, 0), 0);
	CHECK(node_arp_answered(me));
}

/* tap0 destroyed (its VM exited): the port goes, its reference too. */
SCENARIO(if_destroyed)
{
	struct node me, peer;
	struct agent a;
	uint8_t f[64];

	node_single(&a, &me, &peer);
	arp_through(&me, &peer);
	CHECK_EQ(kh_ifnet_refs("tap0"), 2);	/* if_alloc's + the port's */
	CHECK_EQ(kh_if_destroy("tap0"), 0);
	CHECK_EQ(ag_stats(&a).is_nports, 1);
	CHECK_EQ(th_vif(KH_VIF_VM)->vif_os_index, 0);
	CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), ENOENT);
	/* A new tap of the same name is a new interface: attach again. */
	CHECK(kh_if_create("tap", "tap0") > 0);
	CHECK_EQ(ag_attach(&a, "tap0", KH_VIF_VM, BSDNET_IOC_F_ROUTER_MAC),
	    0);
	CHECK_EQ(kh_if_rx(me.tap, f, node_arp_request(f, &me, peer.vm_ip),
	    2, 0), 0);
	CHECK(node_arp_answered(&me));
	/* Destroyed again, with the agent gone this time. */
	ag_unmap(&a);
	CHECK_EQ(kh_if_destroy("tap0"), 0);
	CHECK_EQ(ag_detach(&a, "vtnet0", KH_VIF_FAB), 0);
	CHECK_EQ(ag_destroy(&a), 0);
	ag_stop(&a);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/*
 * ifconfig tap0 name vm0: if_rename() runs the departure event with
 * IFF_RENAMING; the port must stay (finding 3), as bridge, vlan, lagg
 * and tuntap keep theirs.
 */
SCENARIO(if_renamed)
{
	const char *ifs[] = { "vm0", "vtnet0" };
	const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };
	struct node me, peer;
	struct agent a;
	unsigned char mac[6];

	node_single(&a, &me, &peer);
	CHECK_EQ(kh_if_rename("tap0", "vm0"), 0);
	CHECK_EQ(ag_stats(&a).is_nports, 2);
	CHECK_EQ(th_vif(KH_VIF_VM)->vif_os_index, kh_if_index("vm0"));
	me.tap = "vm0";
	arp_through(&me, &peer);
	CHECK_EQ(kh_if_mac("vm0", mac, 0), 0);
	CHECK(memcmp(mac, KH_ROUTER_MAC, 6) == 0);
	/* The detach names the interface as it is called now. */
	CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), ESRCH);
	ag_teardown(&a, ifs, vifs, 2);
	CHECK_EQ(kh_if_mac("vm0", mac, 0), 0);
	CHECK(memcmp(mac, KH_ROUTER_MAC, 6) != 0);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/* Moved to another vnet: gone from ours, the port goes. */
SCENARIO(if_vnet_moved)
{
	struct node me, peer;
	struct agent a;

	node_single(&a, &me, &peer);
	CHECK_EQ(kh_if_vnet_move("tap0"), 0);
	CHECK_EQ(ag_stats(&a).is_nports, 1);
	CHECK_EQ(ag_attach(&a, "tap0", KH_VIF_VM, 0), ENOENT);
	ag_unmap(&a);
	CHECK_EQ(ag_detach(&a, "vtnet0", KH_VIF_FAB), 0);
	CHECK_EQ(ag_destroy(&a), 0);
	ag_stop(&a);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/*
 * A fabric may be a NIC, a vlan(4) or a lagg(4) (finding 4); a VM's
 * port is a tap; a bridge is neither.
 */
SCENARIO(fabric_types)
{
	struct node me, peer;
	struct agent a;

	node_single(&a, &me, &peer);
	CHECK_EQ(ag_detach(&a, "vtnet0", KH_VIF_FAB), 0);
	CHECK(kh_if_create("vlan", "vlan100") > 0);
	CHECK(kh_if_create("lagg", "lagg0") > 0);
	CHECK(kh_if_create("bridge", "bridge0") > 0);
	CHECK_EQ(ag_attach(&a, "bridge0", KH_VIF_FAB, 0), FB_EPFNOSUPPORT);
	CHECK_EQ(ag_attach(&a, "vlan100", KH_VIF_FAB, 0), 0);
	CHECK_EQ(ag_detach(&a, "vlan100", KH_VIF_FAB), 0);
	CHECK_EQ(ag_attach(&a, "lagg0", KH_VIF_FAB, 0), 0);
	CHECK_EQ(ag_detach(&a, "lagg0", KH_VIF_FAB), 0);
	/* A VM vif on a vlan is not a VM's tap. */
	CHECK_EQ(ag_detach(&a, "tap0", KH_VIF_VM), 0);
	CHECK_EQ(ag_attach(&a, "vlan100", KH_VIF_VM, 0), FB_EPFNOSUPPORT);
	ag_unmap(&a);
	CHECK_EQ(ag_destroy(&a), 0);
	ag_stop(&a);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/*
 * The core answers ARP by rewriting the request in place: into a
 * cluster another holder shares, that would change the holder's frame.
 */
SCENARIO(shared_cluster)
{
	const char *ifs[] = { "tap0", "vtnet0" };
	const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };
	struct node me, peer;
	struct agent a;
	uint8_t f[64];

	node_single(&a, &me, &peer);
	CHECK_EQ(kh_if_rx_shared(me.tap, f, node_arp_request(f, &me,
	    peer.vm_ip)), 0);
	CHECK(node_arp_answered(&me));
	CHECK_EQ(kh_stat("copies"), 1);
	ag_teardown(&a, ifs, vifs, 2);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/*
 * A VM's tap in a bridge (bridge0: tap0, attached, and tap1, another
 * VM's): tap0's broadcast ARP is the router's to answer on tap0, and the
 * copy the bridge floods to tap1 (sharing the cluster) stays a request.
 */
SCENARIO(bridge_member)
{
	const char *ifs[] = { "tap0", "vtnet0" };
	const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };
	struct node me, peer;
	struct agent a;
	uint8_t f[64], g[2048];
	uint32_t len;

	node_single(&a, &me, &peer);
	CHECK(kh_if_create("tap", "tap1") > 0);
	CHECK(kh_if_create("bridge", "bridge0") > 0);
	CHECK_EQ(kh_bridge_add("bridge0", "tap0"), 0);
	CHECK_EQ(kh_bridge_add("bridge0", "tap1"), 0);
	len = node_arp_request(f, &me, peer.vm_ip);
	CHECK_EQ(kh_if_rx(me.tap, f, len, 2, 0), 0);
	CHECK(node_arp_answered(&me));
	CHECK_EQ(kh_if_tx_take("tap1", g, sizeof(g)), len);
	CHECK(memcmp(f, g, len) == 0);
	CHECK_EQ(kh_if_stack_count("bridge0"), 1);
	ag_teardown(&a, ifs, vifs, 2);
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}
