/*
 * The agent the scenarios play: a process that opens /dev/bsdnet, makes
 * and maps the tables, writes them (th_tables.c, on its mapping) and
 * binds interfaces, as bsdnet/agent/transport_device.py does.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "kh_user.h"

const uint8_t KH_ROUTER_MAC[6] = { 0x00, 0x00, 0x5e, 0x00, 0x01, 0x00 };
static const uint8_t MAC_BCAST_ADDR[6] = { 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff };

static void *ag_scratch[8];

static void *
ag_buf(struct agent *a)
{
	if (ag_scratch[a->pid] == NULL)
		ag_scratch[a->pid] = kh_umem(a->pid, 4096);
	return (ag_scratch[a->pid]);
}

void
ag_start(struct agent *a)
{
	unsigned long mine[6] = {
		BSDNET_IOC_CREATE, BSDNET_IOC_GEOMETRY, BSDNET_IOC_DESTROY,
		BSDNET_IOC_ATTACH, BSDNET_IOC_DETACH, BSDNET_IOC_STATS,
	}, theirs[6];
	int i;

	kh_abi_ioctls(theirs);
	for (i = 0; i < 6; i++)
		if (mine[i] != theirs[i]) {
			NOTE("ioctl %d: userland %#lx, FreeBSD %#lx", i,
			    mine[i], theirs[i]);
			exit(2);
		}
	memset(a, 0, sizeof(*a));
	a->pid = kh_proc_new(0);
	ag_scratch[a->pid] = NULL;
	a->fd = kh_open(a->pid, "/dev/bsdnet", 0x0002 /* O_RDWR */);
	CHECK(a->fd >= 0);
}

/* An ioctl with its argument in the process's memory, as ioctl(2). */
int
ag_ioctl(struct agent *a, unsigned long cmd, void *arg, size_t len)
{
	void *u = ag_buf(a);
	int error;

	if (len > 0)
		memcpy(u, arg, len);
	error = kh_ioctl(a->pid, a->fd, cmd, len > 0 ? u : NULL);
	if (len > 0)
		memcpy(arg, u, len);
	return (error);
}

int
ag_create(struct agent *a)
{
	struct bsdnet_ioc_geometry g = {
		.ig_nvifs = 16, .ig_nnexthops = 128, .ig_nlabels = 64,
		.ig_nvrfs = 4, .ig_nrtbuckets = 64, .ig_nflowbuckets = 16,
		.ig_novfbuckets = 4, .ig_maxhold = 16,
	};
	int error;

	error = ag_ioctl(a, BSDNET_IOC_CREATE, &g, sizeof(g));
	if (error == 0)
		a->geo = g;
	return (error);
}

int
ag_map(struct agent *a)
{
	int error;

	if (a->geo.ig_size == 0 &&
	    (error = ag_ioctl(a, BSDNET_IOC_GEOMETRY, &a->geo,
	    sizeof(a->geo))) != 0)
		return (error);
	a->size = a->geo.ig_size;
	a->map = kh_mmap(a->pid, a->fd, a->size, 0, &error);
	if (error == 0)
		th_base = a->map;
	return (error);
}

static int
ag_bind(struct agent *a, unsigned long cmd, const char *ifname, uint32_t vif,
    uint32_t flags)
{
	struct bsdnet_ioc_attach ia;

	memset(&ia, 0, sizeof(ia));
	strncpy(ia.ia_ifname, ifname, sizeof(ia.ia_ifname));
	ia.ia_vif = vif;
	ia.ia_flags = flags;
	return (ag_ioctl(a, cmd, &ia, sizeof(ia)));
}

int
ag_attach(struct agent *a, const char *ifname, uint32_t vif, uint32_t flags)
{
	return (ag_bind(a, BSDNET_IOC_ATTACH, ifname, vif, flags));
}

int
ag_detach(struct agent *a, const char *ifname, uint32_t vif)
{
	return (ag_bind(a, BSDNET_IOC_DETACH, ifname, vif, 0));
}

int
ag_destroy(struct agent *a)
{
	return (ag_ioctl(a, BSDNET_IOC_DESTROY, NULL, 0));
}

struct bsdnet_ioc_stats
ag_stats(struct agent *a)
{
	struct bsdnet_ioc_stats st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(ag_ioctl(a, BSDNET_IOC_STATS, &st, sizeof(st)), 0);
	return (st);
}

/* One control message per write(2); 0 or the error. */
int
ag_ctl(struct agent *a, uint16_t type, uint16_t vif, uint32_t flow,
    uint32_t gen, const void *payload, uint32_t len)
{
	struct bsdnet_ctl_hdr ch;
	uint8_t *u = ag_buf(a);
	long n;

	memset(&ch, 0, sizeof(ch));
	ch.ch_type = type;
	ch.ch_vif = vif;
	ch.ch_flow = flow;
	ch.ch_gen = gen;
	ch.ch_len = len;
	memcpy(u, &ch, sizeof(ch));
	if (len > 0)
		memcpy(u + sizeof(ch), payload, len);
	n = kh_write(a->pid, a->fd, u, sizeof(ch) + len);
	return (n < 0 ? (int)-n : 0);
}

/* One trap (nonblocking): the frame's length, 0 when none, -errno. */
long
ag_read_trap(struct agent *a, struct bsdnet_trap_hdr *th, uint8_t *frame,
    size_t len)
{
	uint8_t *u = ag_buf(a);
	long n;

	n = kh_read(a->pid, a->fd, u, 4096, 1);
	if (n == -FB_EWOULDBLOCK)
		return (0);
	if (n < 0)
		return (n);
	if ((size_t)n < sizeof(*th))
		return (-FB_EMSGSIZE);
	memcpy(th, u, sizeof(*th));
	n -= (long)sizeof(*th);
	memcpy(frame, u + sizeof(*th), (size_t)n < len ? (size_t)n : len);
	return (n);
}

void
ag_unmap(struct agent *a)
{
	if (a->map != NULL)
		CHECK_EQ(kh_munmap(a->pid, a->map, a->size), 0);
	a->map = NULL;
}

void
ag_stop(struct agent *a)
{
	ag_unmap(a);
	if (a->fd >= 0)
		CHECK_EQ(kh_close(a->pid, a->fd), 0);
	a->fd = -1;
	kh_proc_exit(a->pid);
}

/* The rc.d stop order: detach, unmap, destroy, close. */
void
ag_teardown(struct agent *a, const char *const *ifs, const uint32_t *vifs,
    int n)
{
	int i;

	for (i = 0; i < n; i++)
		CHECK_EQ(ag_detach(a, ifs[i], vifs[i]), 0);
	ag_unmap(a);
	CHECK_EQ(ag_destroy(a), 0);
	ag_stop(a);
}

/* ---- a node ---- */
void
node_init(struct node *nd, int n, const char *fabric)
{
	memset(nd, 0, sizeof(*nd));
	nd->n = n;
	nd->fabric = fabric;
	nd->tap = "tap0";
	nd->fab_ip = IP(192, 168, 0, n);
	nd->vm_ip = IP(10, 0, 0, n);
	memcpy(nd->fab_mac, (uint8_t[6]){ 2, 0xfa, 0, 0, 0, (uint8_t)n }, 6);
	memcpy(nd->vm_mac, (uint8_t[6]){ 2, 0, 0, 0, 0, (uint8_t)n }, 6);
}

void
node_program(struct agent *a, const struct node *me, const struct node *peer)
{
	struct bsdnet_nh *nh;

	th_base = a->map;
	memcpy(th_hdr()->rh_router_mac, KH_ROUTER_MAC, 6);
	th_set_vif(KH_VIF_FAB, BSDNET_VIF_FABRIC, BSDNET_VIF_F_UP, 0,
	    me->fab_ip, me->fab_mac, 0, 1500);
	th_set_vif(KH_VIF_VM, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_UP, KH_VRF,
	    me->vm_ip, me->vm_mac, KH_NH_LOCAL, 1500);
	snprintf(th_vif(KH_VIF_FAB)->vif_name, sizeof(th_vif(1)->vif_name),
	    "%s", me->fabric);
	snprintf(th_vif(KH_VIF_VM)->vif_name, sizeof(th_vif(2)->vif_name),
	    "%s", me->tap);
	th_set_nh(KH_NH_LOCAL, BSDNET_NH_ENCAP, KH_VRF, KH_VIF_VM, me->vm_mac,
	    KH_ROUTER_MAC);
	th_set_nh(KH_NH_TUNNEL, BSDNET_NH_TUNNEL, KH_VRF, KH_VIF_FAB,
	    peer->fab_mac, me->fab_mac);
	nh = th_nh(KH_NH_TUNNEL);
	nh->nh_tun_src = me->fab_ip;
	nh->nh_tun_dst = peer->fab_ip;
	nh->nh_label = KH_LABEL_BASE + (uint32_t)peer->n;
	th_lbl(KH_LABEL_BASE + (uint32_t)me->n)->lbl_nh = KH_NH_LOCAL;
	th_vrf(KH_VRF)->vrf_flags = 1;
	th_rt_clear();
	th_rt_add(KH_VRF, me->vm_ip, 32, KH_NH_LOCAL);
	th_rt_add(KH_VRF, peer->vm_ip, 32, KH_NH_TUNNEL);
	th_rt_build();
	/* The peer of the route is the one node that may send into it. */
	(void)bsdnet_ep_add(th_eps(), peer->fab_ip, KH_VRF);
	(void)bsdnet_ep_add(th_eps(), peer->fab_ip, BSDNET_EP_VRF_ANY);
}

int
node_attach(struct agent *a, const struct node *me)
{
	int error;

	error = ag_attach(a, me->fabric, KH_VIF_FAB, 0);
	if (error == 0)
		error = ag_attach(a, me->tap, KH_VIF_VM,
		    BSDNET_IOC_F_ROUTER_MAC);
	return (error);
}

uint32_t
node_vm_frame(uint8_t *buf, const struct node *me, const struct node *peer,
    uint32_t paylen, uint8_t mark)
{
	struct th_l4 l4 = { .proto = 17, .sport = 1000, .dport = 2000,
	    .paylen = paylen, .mark = mark };
	uint32_t n;

	n = th_eth(buf, KH_ROUTER_MAC, me->vm_mac, 0x0800);
	return (n + th_ipv4(buf + n, me->vm_ip, peer->vm_ip, &l4));
}

unsigned long long
kh_stat(const char *name)
{
	char n[96];

	snprintf(n, sizeof(n), "net.bsdnet.stats.%s", name);
	return (kh_sysctl_u64(n));
}

/* A broadcast ARP request of VM me for target (60 bytes). */
uint32_t
node_arp_request(uint8_t *buf, const struct node *me, uint32_t target)
{
	uint8_t *a = buf + 14;

	memset(buf, 0, 60);
	th_eth(buf, MAC_BCAST_ADDR, me->vm_mac, 0x0806);
	th_wr16(a, 1);			/* Ethernet */
	th_wr16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	th_wr16(a + 6, 1);		/* request */
	memcpy(a + 8, me->vm_mac, 6);
	th_wr32(a + 14, me->vm_ip);
	th_wr32(a + 24, target);
	return (60);
}

/* The router answered VM me's ARP on its tap (within a second). */
bool
node_arp_answered(const struct node *me)
{
	struct timespec ts = { 0, 1000000 };
	uint8_t f[2048];
	unsigned n;
	int i;

	for (i = 0; i < 1000; i++) {
		n = kh_if_tx_take(me->tap, f, sizeof(f));
		if (n >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2)
			return (memcmp(f + 22, KH_ROUTER_MAC, 6) == 0 &&
			    memcmp(f, me->vm_mac, 6) == 0);
		nanosleep(&ts, NULL);
	}
	return (false);
}

/* One host: tables, fabric vtnet0 and tap0 attached. */
void
node_single(struct agent *a, struct node *me, struct node *peer)
{
	kh_boot();
	CHECK_EQ(kh_kldload(), 0);
	node_init(me, 1, "vtnet0");
	node_init(peer, 2, "vtnet0");
	CHECK(kh_if_create("vtnet", "vtnet0") > 0);
	CHECK_EQ(kh_if_mac("vtnet0", me->fab_mac, 1), 0);
	CHECK(kh_if_create("tap", "tap0") > 0);
	ag_start(a);
	CHECK_EQ(ag_create(a), 0);
	CHECK_EQ(ag_map(a), 0);
	node_program(a, me, peer);
	CHECK_EQ(node_attach(a, me), 0);
}

/* A DHCP discover of VM me (trapped to the agent). */
uint32_t
node_dhcp_frame(uint8_t *buf, const struct node *me)
{
	struct th_l4 l4 = { .proto = 17, .sport = 68, .dport = 67,
	    .paylen = 240 };
	uint32_t n;

	n = th_eth(buf, MAC_BCAST_ADDR, me->vm_mac, 0x0800);
	return (n + th_ipv4(buf + n, 0, IP(255, 255, 255, 255), &l4));
}

/* What the peer host's module sends me: VM peer to VM me, over GRE. */
uint32_t
node_fabric_frame(uint8_t *buf, const struct node *me,
    const struct node *peer, uint32_t paylen)
{
	struct th_l4 l4 = { .proto = 17, .sport = 2000, .dport = 1000,
	    .paylen = paylen };
	uint32_t inner;
	uint8_t *o = buf + 14;

	th_eth(buf, me->fab_mac, peer->fab_mac, 0x0800);
	inner = th_ipv4(o + 28, peer->vm_ip, me->vm_ip, &l4);
	memset(o, 0, 28);
	o[0] = 0x45;
	th_wr16(o + 2, (uint16_t)(28 + inner));
	th_wr16(o + 6, 0x4000);
	o[8] = 64;
	o[9] = 47;
	th_wr32(o + 12, peer->fab_ip);
	th_wr32(o + 16, me->fab_ip);
	th_ip_fix_csum(o);
	th_wr16(o + 22, 0x8847);
	th_wr32(o + 24, (KH_LABEL_BASE + (uint32_t)me->n) << 12 | 1u << 8 |
	    64);
	return (14 + 28 + inner);
}
