/*
 * Forwarding: two hosts, each with bsdnet.ko, a VM on tap0 and the
 * fabric on one end of an epair whose other end is in the other host.
 * VM 1 and VM 2 (same virtual network) talk over MPLS over GRE.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "kh_user.h"

enum { FWD_FRAMES = 32 };

static const char *
fwd_fabric(int host)
{
	return (host == 1 ? "epair0a" : "epair0b");
}

/* Boot, load, the interfaces, the tables, the attachments. */
static void
fwd_up(int host, int wire, struct agent *a, struct node *me,
    struct node *peer)
{
	unsigned char mac[6];

	kh_boot();
	CHECK_EQ(kh_kldload(), 0);
	node_init(me, host, fwd_fabric(host));
	node_init(peer, 3 - host, fwd_fabric(3 - host));
	CHECK(kh_if_create("epair", me->fabric) > 0);
	CHECK_EQ(kh_if_mac(me->fabric, me->fab_mac, 1), 0);
	CHECK_EQ(kh_if_wire(me->fabric, wire), 0);
	CHECK(kh_if_create("tap", me->tap) > 0);
	ag_start(a);
	CHECK_EQ(ag_create(a), 0);
	CHECK_EQ(ag_map(a), 0);
	node_program(a, me, peer);
	CHECK_EQ(node_attach(a, me), 0);
	CHECK_EQ(ag_stats(a).is_nports, 2);
	CHECK_EQ(th_vif(KH_VIF_VM)->vif_os_index, kh_if_index(me->tap));
	CHECK_EQ(kh_if_mac(me->tap, mac, 0), 0);
	CHECK(memcmp(mac, KH_ROUTER_MAC, 6) == 0);
}

static void
fwd_down(struct agent *a, const struct node *me)
{
	const char *ifs[] = { me->tap, me->fabric };
	const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };
	unsigned char mac[6];

	ag_teardown(a, ifs, vifs, 2);
	CHECK_EQ(kh_if_mac(me->tap, mac, 0), 0);
	CHECK(memcmp(mac, KH_ROUTER_MAC, 6) != 0);	/* restored */
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/* A frame VM me got from VM peer: addresses, TTL, checksum, payload. */
static void
fwd_check_rx(const uint8_t *f, unsigned n, const struct node *me,
    const struct node *peer, int i)
{
	const uint8_t *ip = f + 14, *udp = ip + 20;

	CHECK_EQ(n, 14 + 20 + 8 + 100 + (unsigned)i);
	CHECK(memcmp(f, me->vm_mac, 6) == 0);
	CHECK(memcmp(f + 6, KH_ROUTER_MAC, 6) == 0);
	CHECK_EQ((uint32_t)ip[12] << 24 | ip[13] << 16 | ip[14] << 8 | ip[15],
	    peer->vm_ip);
	CHECK_EQ(ip[8], 63);			/* one hop: the router */
	CHECK_EQ(th_csum(ip, 20), 0);
	CHECK_EQ(udp[8], (uint8_t)i);		/* the payload's mark */
}

/* Frames from the peer VM, in order, until `want` or 10 s. */
static int
fwd_collect(const struct node *me, const struct node *peer, int want)
{
	uint8_t f[2048];
	unsigned n;
	int got = 0, tries;

	for (tries = 0; got < want && tries < 10000; tries++) {
		n = kh_if_tx_take(me->tap, f, sizeof(f));
		if (n == 0) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		fwd_check_rx(f, n, me, peer, got);
		got++;
	}
	return (got);
}

/*
 * A DF frame too big for the overlay (fabric MTU 600: 572 fits) comes
 * back to the VM as ICMP "fragmentation needed", built in the frame's
 * first mbuf and the rest of its chain trimmed off.
 */
static void
fwd_too_big(const struct node *me, const struct node *peer)
{
	struct th_l4 l4 = { .proto = 17, .sport = 1000, .dport = 2000,
	    .frag = 0x4000, .paylen = 1000 };
	uint8_t f[2048], r[2048];
	const uint8_t *ip = r + 14, *icmp = r + 34;
	uint32_t len;
	unsigned n;

	th_vif(KH_VIF_FAB)->vif_mtu = 600;
	len = th_eth(f, KH_ROUTER_MAC, me->vm_mac, 0x0800);
	len += th_ipv4(f + len, me->vm_ip, peer->vm_ip, &l4);
	CHECK_EQ(kh_if_rx(me->tap, f, len, 2, 300), 0);	/* a chain */
	/* Sent at once; the peer's last frame may come before it. */
	do
		n = kh_if_tx_take(me->tap, r, sizeof(r));
	while (n > 23 && r[23] == 17);
	CHECK_EQ(n, 14 + 20 + 8 + 28);
	CHECK(memcmp(r, me->vm_mac, 6) == 0);
	CHECK(memcmp(r + 6, KH_ROUTER_MAC, 6) == 0);
	CHECK_EQ(th_csum(ip, 20), 0);
	CHECK_EQ(ip[9], 1);
	CHECK(memcmp(ip + 16, f + 14 + 12, 4) == 0);	/* to the VM */
	CHECK_EQ(icmp[0], 3);
	CHECK_EQ(icmp[1], 4);
	CHECK_EQ(icmp[6] << 8 | icmp[7], 572);
	CHECK_EQ(th_csum(icmp, 8 + 28), 0);
	CHECK(memcmp(icmp + 8, f + 14, 28) == 0);
	CHECK_EQ(th_st()->st_icmp_too_big, 1);
	CHECK_EQ(th_drops(BSDNET_DROP_MTU_EXCEEDED), 1);
	th_vif(KH_VIF_FAB)->vif_mtu = 1500;
}

static void
fwd_host(int host, int wire, int sync)
{
	struct node me, peer;
	struct agent a;
	uint8_t f[2048];
	uint32_t len;
	int i;

	fwd_up(host, wire, &a, &me, &peer);
	kh_sync(sync);
	/* The VM writes into its tap: ETHER_ALIGN in front, as tunwrite. */
	for (i = 0; i < FWD_FRAMES; i++) {
		len = node_vm_frame(f, &me, &peer, 100 + (uint32_t)i,
		    (uint8_t)i);
		CHECK_EQ(kh_if_rx(me.tap, f, len, 2, 0), 0);
	}
	CHECK_EQ(fwd_collect(&me, &peer, FWD_FRAMES), FWD_FRAMES);
	CHECK_EQ(th_vs(KH_VIF_VM)->vs_rx_pkts, FWD_FRAMES);
	CHECK_EQ(th_vs(KH_VIF_VM)->vs_tx_pkts, FWD_FRAMES);
	CHECK_EQ(th_st()->st_encaps, FWD_FRAMES);
	CHECK_EQ(th_st()->st_decaps, FWD_FRAMES);
	CHECK_EQ(th_drops_total(), 0);
	CHECK_EQ(kh_stat("rx_pkts"), 2 * FWD_FRAMES);
	CHECK_EQ(kh_stat("tx_pkts"), 2 * FWD_FRAMES);
	/* Finding 7: NIC and tap frames (ETHER_ALIGN in front) are used in
	 * place; the outer headers go into a prepended mbuf. */
	CHECK_EQ(kh_stat("copies"), 0);
	CHECK_EQ(kh_stat("prepends"), FWD_FRAMES);
	kh_sync(sync);		/* both counted: frames may cross again */
	/* A frame whose first mbuf is short is pulled up: one copy. */
	len = node_vm_frame(f, &me, &peer, 100, 0);
	CHECK_EQ(kh_if_rx(me.tap, f, len, 2, 20), 0);
	CHECK_EQ(kh_stat("copies"), 1);
	/* The host's own traffic on the fabric passes to its stack. */
	len = th_eth(f, me.fab_mac, peer.fab_mac, 0x0806);
	memset(f + len, 0, 46);
	CHECK_EQ(kh_if_rx(me.fabric, f, len + 46, 2, 0), 0);
	CHECK_EQ(kh_if_stack_count(me.fabric), 1);
	fwd_too_big(&me, &peer);
	kh_sync(sync);
	fwd_down(&a, &me);
}

SCENARIO(forward)
{
	kh_two_hosts(fwd_host);
}
