/*-
 * Ports over netmap.
 *
 * Each vif is a netmap port opened with NIOCCTRL/NETMAP_REQ_REGISTER on
 * the interface's name.  Netmap picks native mode where the driver has it
 * (the fabric NIC) and its emulated ("generic") adapter where it does not
 * (if_tap, the VMs' interfaces), so one code path serves both.
 *
 * The fabric is opened with its host rings too (NR_REG_NIC_SW): netmap
 * cuts a NIC off the host stack, and the host must keep its own traffic
 * (ARP, SSH, the agent's control plane).  A frame from the wire that is
 * not MPLS-over-GRE is put on the host TX ring, i.e. handed to the stack;
 * a frame the stack sends arrives on the host RX ring and leaves on a NIC
 * TX ring.  The kernel module makes the same split (bsdnet_kern_port.c).
 *
 * Each frame is copied out of its netmap buffer into a burst slot
 * (bsdnetd_burst.c), behind BSDNET_HEADROOM bytes: netmap buffers have
 * no headroom for encapsulation, and the copy keeps every frame the core
 * sees in memory that only the daemon writes.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <net/netmap.h>
#include <net/netmap_user.h>

#include "nmd.h"

#define NMD_ETHERTYPE_IP	0x0800
#define NMD_IPPROTO_GRE		47
#define NMD_ETHER_HDR_LEN	14

struct bsdnetd_port {
	int			 np_fd;		/* /dev/netmap */
	void			*np_mem;
	size_t			 np_memsize;
	struct netmap_if	*np_nifp;
	uint32_t		 np_nrx;	/* hardware rings */
	uint32_t		 np_ntx;
	bool			 np_host;	/* host rings bound (fabric) */
	bool			 np_dirty;	/* TX slots not yet synced */
	struct nmd_ifsave	 np_save;	/* nmd_ifcfg_enter() undone */
	char			 np_name[IF_NAMESIZE];
};

int
nmd_port_fd(const struct bsdnetd_port *np)
{

	return (np->np_fd);
}

/* Register np_name with netmap and map its rings.  0, or -1 with errno. */
static int
nmd_port_register(struct bsdnetd_port *np, uint16_t type)
{
	struct nmreq_register reg;
	struct nmreq_header hdr;
	void *mem;

	np->np_fd = open("/dev/netmap", O_RDWR | O_CLOEXEC);
	if (np->np_fd < 0)
		return (-1);
	memset(&hdr, 0, sizeof(hdr));
	memset(&reg, 0, sizeof(reg));
	hdr.nr_version = NETMAP_API;
	hdr.nr_reqtype = NETMAP_REQ_REGISTER;
	memcpy(hdr.nr_name, np->np_name, strnlen(np->np_name,
	    sizeof(np->np_name)));
	hdr.nr_body = (uintptr_t)&reg;
	np->np_host = type == BSDNET_VIF_FABRIC;
	reg.nr_mode = np->np_host ? NR_REG_NIC_SW : NR_REG_ALL_NIC;
	if (ioctl(np->np_fd, NIOCCTRL, &hdr) != 0)
		return (-1);
	mem = mmap(NULL, (size_t)reg.nr_memsize, PROT_READ | PROT_WRITE,
	    MAP_SHARED, np->np_fd, 0);
	if (mem == MAP_FAILED)
		return (-1);
	np->np_mem = mem;
	np->np_memsize = (size_t)reg.nr_memsize;
	np->np_nifp = NETMAP_IF(mem, reg.nr_offset);
	np->np_nrx = np->np_nifp->ni_rx_rings;
	np->np_ntx = np->np_nifp->ni_tx_rings;
	return (0);
}

static void
nmd_port_free(struct bsdnetd_port *np, bool entered)
{

	if (np->np_mem != NULL)
		(void)munmap(np->np_mem, np->np_memsize);
	if (np->np_fd >= 0)
		(void)close(np->np_fd);
	if (entered)
		nmd_ifcfg_leave(np->np_name, &np->np_save);
	free(np);
}

struct bsdnetd_port *
bsdnetd_port_open(struct bsdnetd *d, uint32_t vif, uint16_t type,
    uint32_t ifindex)
{
	struct bsdnetd_port *np;
	int saved;

	np = calloc(1, sizeof(*np));
	if (np == NULL)
		return (NULL);
	np->np_fd = -1;
	if (if_indextoname(ifindex, np->np_name) == NULL) {
		saved = errno;
		nmd_port_free(np, false);
		errno = saved;
		return (NULL);
	}
	if (nmd_ifcfg_enter(np->np_name, type, &np->np_save) != 0) {
		saved = errno;
		nmd_port_free(np, false);
		errno = saved;
		return (NULL);
	}
	if (nmd_port_register(np, type) != 0 ||
	    nmd_loop_add(d, np->np_fd, vif) != 0) {
		saved = errno;
		nmd_port_free(np, true);
		errno = saved;
		return (NULL);
	}
	return (np);
}

/* Nothing to do: a port in netmap mode already keeps its frames from
 * the host stack (the fabric's host rings carry what the host sends and
 * is sent). */
void
bsdnetd_port_update(struct bsdnetd *d, struct bsdnetd_port *np,
    const struct bsdnet_vif *v)
{

	(void)d, (void)np, (void)v;
}

void
bsdnetd_port_close(struct bsdnetd *d, struct bsdnetd_port *np)
{

	nmd_loop_del_fd(d, np->np_fd);
	nmd_port_free(np, true);
}

/* Put one frame on the first TX ring (of [first, last)) with room. */
static bool
nmd_ring_put(struct bsdnetd_port *np, uint32_t first, uint32_t last,
    const uint8_t *frame, uint32_t len)
{
	struct netmap_ring *ring;
	struct netmap_slot *slot;
	uint32_t r;

	for (r = first; r < last; r++) {
		ring = NETMAP_TXRING(np->np_nifp, r);
		if (nm_ring_space(ring) == 0 || len > ring->nr_buf_size)
			continue;
		slot = &ring->slot[ring->head];
		memcpy(NETMAP_BUF(ring, slot->buf_idx), frame, len);
		slot->len = (uint16_t)len;
		slot->flags = 0;
		ring->head = ring->cur = nm_ring_next(ring, ring->head);
		np->np_dirty = true;
		return (true);
	}
	return (false);
}

bool
bsdnetd_port_tx(struct bsdnetd *d, uint32_t vif, const uint8_t *frame,
    uint32_t len)
{
	struct bsdnetd_port *np = bsdnetd_vif_port(d, vif);

	if (np != NULL && len > 0 && len <= UINT16_MAX) {
		if (nmd_ring_put(np, 0, np->np_ntx, frame, len))
			return (true);
		/* Full: reclaim what the NIC has sent, then try once more. */
		(void)ioctl(np->np_fd, NIOCTXSYNC, NULL);
		if (nmd_ring_put(np, 0, np->np_ntx, frame, len))
			return (true);
	}
	d->d_cnt.c_tx_errors++;
	return (false);
}

/* Fabric frames the host stack should have: everything but our GRE. */
static bool
nmd_is_overlay(const uint8_t *f, uint32_t len)
{

	if (len < NMD_ETHER_HDR_LEN + 10)
		return (false);
	return (((f[12] << 8) | f[13]) == NMD_ETHERTYPE_IP &&
	    f[NMD_ETHER_HDR_LEN + 9] == NMD_IPPROTO_GRE);
}

static void
nmd_frame(struct bsdnetd *d, uint32_t vif, struct bsdnetd_port *np,
    bool from_host, const uint8_t *frame, uint32_t len)
{

	if (from_host) {
		/* The host stack transmitting on the fabric: to the wire. */
		if (!nmd_ring_put(np, 0, np->np_ntx, frame, len))
			d->d_cnt.c_tx_errors++;
		return;
	}
	if (np->np_host && !nmd_is_overlay(frame, len)) {
		if (!nmd_ring_put(np, np->np_ntx, np->np_ntx + 1, frame, len))
			d->d_cnt.c_tx_errors++;
		return;
	}
	if (len <= BSDNETD_BURST_FRAME) {
		memcpy(bsdnetd_burst_next(d, vif), frame, len);
		bsdnetd_burst_put(d, len);
		return;
	}
	/* Bigger than a slot (a netmap buffer size above a jumbo frame):
	 * alone, after the frames before it. */
	memcpy(d->d_frame + BSDNET_HEADROOM, frame, len);
	bsdnetd_input_one(d, vif, d->d_frame + BSDNET_HEADROOM, len);
}

/* Drain one RX ring, at most NMD_RX_BUDGET frames. */
static void
nmd_ring_rx(struct bsdnetd *d, uint32_t vif, uint32_t r, bool from_host)
{
	struct netmap_ring *ring;
	struct netmap_slot *slot;
	struct bsdnetd_port *np;
	uint32_t n, len;

	for (n = 0; n < NMD_RX_BUDGET; n++) {
		/* Looked up again each time: a packet may detach the port. */
		np = bsdnetd_vif_port(d, vif);
		if (np == NULL)
			return;
		ring = NETMAP_RXRING(np->np_nifp, r);
		if (nm_ring_empty(ring))
			return;
		slot = &ring->slot[ring->head];
		len = slot->len;
		/* Multi-slot frames (jumbo) are not reassembled: dropped. */
		if ((slot->flags & NS_MOREFRAG) != 0 ||
		    len > ring->nr_buf_size || len > BSDNETD_MAX_FRAME)
			d->d_cnt.c_rx_truncated++;
		else
			nmd_frame(d, vif, np, from_host,
			    (const uint8_t *)NETMAP_BUF(ring, slot->buf_idx),
			    len);
		ring->head = ring->cur = nm_ring_next(ring, ring->head);
	}
	bsdnetd_burst_flush(d);
}

/* poll(2) said vif is readable: it also ran rxsync on its rings. */
void
nmd_port_rx(struct bsdnetd *d, uint32_t vif)
{
	struct bsdnetd_port *np = bsdnetd_vif_port(d, vif);
	uint32_t r, nrx;
	bool host;

	if (np == NULL)
		return;
	nrx = np->np_nrx;
	host = np->np_host;
	for (r = 0; r < nrx; r++)
		nmd_ring_rx(d, vif, r, false);
	if (host)
		nmd_ring_rx(d, vif, nrx, true);
}

void
nmd_port_flush(struct bsdnetd *d)
{
	struct bsdnetd_port *np;
	uint32_t i;

	for (i = 0; i < d->d_nvifs; i++) {
		np = d->d_vifs[i].v_port;
		if (np == NULL || !np->np_dirty)
			continue;
		np->np_dirty = false;
		(void)ioctl(np->np_fd, NIOCTXSYNC, NULL);
	}
}
