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
 * TX ring.  The kernel module makes the same split (bsdnet_fb_port.c).
 *
 * Each frame is copied out of its netmap buffer into a burst slot
 * (dpl_burst.c), behind BSDNET_HEADROOM bytes, as the AF_PACKET port
 * does: netmap buffers have no headroom for encapsulation, and the copy
 * keeps every frame the core sees in memory that only the daemon writes.
 * A ring's frames go to the core in bursts (bsdnet_dp_input_burst()).
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

#include "nm.h"

#define NM_ETHERTYPE_IP		0x0800
#define NM_IPPROTO_GRE		47
#define NM_ETHER_HDR_LEN	14

struct nm_port {
	void			*np_mem;	/* NULL while closed */
	size_t			 np_memsize;
	struct netmap_if	*np_nifp;
	uint32_t		 np_nrx;	/* hardware rings */
	uint32_t		 np_ntx;
	bool			 np_host;	/* host rings bound (fabric) */
	bool			 np_dirty;	/* TX slots not yet synced */
	struct nm_ifsave	 np_save;	/* nm_ifcfg_enter() undone */
	char			 np_name[IF_NAMESIZE];
};

/*
 * Indexed by vif, like d->d_ports, and sized with it on first use.  The
 * daemon has one thread and one struct dpl.
 */
static struct nm_port *nm_ports;
static uint32_t nm_nports;

static struct nm_port *
nm_port_slot(struct dpl *d, uint32_t vif)
{
	if (nm_ports == NULL) {
		nm_ports = calloc(d->d_nports, sizeof(*nm_ports));
		if (nm_ports == NULL)
			return (NULL);
		nm_nports = d->d_nports;
	}
	return (vif < nm_nports ? &nm_ports[vif] : NULL);
}

static struct nm_port *
nm_port_find(struct dpl *d, uint32_t vif)
{
	if (vif >= d->d_nports || vif >= nm_nports ||
	    !d->d_ports[vif].po_attached || nm_ports[vif].np_mem == NULL)
		return (NULL);
	return (&nm_ports[vif]);
}

/* d->d_ports and nm_ports are parallel arrays indexed by vif. */
static struct nm_port *
nm_port_of(struct dpl *d, struct dpl_port *po)
{
	ptrdiff_t vif = po - d->d_ports;

	if (d->d_ports == NULL || vif < 0 || (uint64_t)vif >= d->d_nports)
		return (NULL);
	return (nm_port_slot(d, (uint32_t)vif));
}

int
dpl_port_open(struct dpl *d, struct dpl_port *po, uint16_t type,
    uint32_t ifindex)
{
	struct nmreq_register reg;
	struct nmreq_header hdr;
	struct nm_port *np;
	char name[IF_NAMESIZE];
	void *mem;
	int fd, saved;

	np = nm_port_of(d, po);
	if (np == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if (if_indextoname(ifindex, name) == NULL)
		return (-1);
	if (nm_ifcfg_enter(name, type, &np->np_save) != 0)
		return (-1);
	memcpy(np->np_name, name, sizeof(np->np_name));
	fd = open("/dev/netmap", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		nm_ifcfg_leave(name, &np->np_save);
		errno = saved;
		return (-1);
	}
	memset(&hdr, 0, sizeof(hdr));
	memset(&reg, 0, sizeof(reg));
	hdr.nr_version = NETMAP_API;
	hdr.nr_reqtype = NETMAP_REQ_REGISTER;
	memcpy(hdr.nr_name, name, strnlen(name, sizeof(name)));
	hdr.nr_body = (uintptr_t)&reg;
	np->np_host = type == BSDNET_VIF_FABRIC;
	reg.nr_mode = np->np_host ? NR_REG_NIC_SW : NR_REG_ALL_NIC;
	if (ioctl(fd, NIOCCTRL, &hdr) != 0)
		goto fail;
	mem = mmap(NULL, (size_t)reg.nr_memsize, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		goto fail;
	np->np_mem = mem;
	np->np_memsize = (size_t)reg.nr_memsize;
	np->np_nifp = NETMAP_IF(mem, reg.nr_offset);
	np->np_nrx = np->np_nifp->ni_rx_rings;
	np->np_ntx = np->np_nifp->ni_tx_rings;
	np->np_dirty = false;
	po->po_fd = fd;
	po->po_ifindex = ifindex;
	return (0);
fail:
	saved = errno;
	(void)close(fd);
	nm_ifcfg_leave(name, &np->np_save);
	errno = saved;
	return (-1);
}

/* Nothing to do: a port in netmap mode already keeps its frames from
 * the host stack (the fabric's host rings carry what the host sends and
 * is sent). */
void
dpl_port_update(struct dpl *d, struct dpl_port *po,
    const struct bsdnet_vif *v)
{

	(void)d;
	(void)po;
	(void)v;
}

void
dpl_port_close(struct dpl *d, struct dpl_port *po)
{
	struct nm_port *np = nm_port_of(d, po);

	if (np != NULL && np->np_mem != NULL) {
		(void)munmap(np->np_mem, np->np_memsize);
		nm_ifcfg_leave(np->np_name, &np->np_save);
		memset(np, 0, sizeof(*np));
	}
	if (po->po_fd >= 0)
		(void)close(po->po_fd);
	po->po_fd = -1;
	po->po_ifindex = 0;
}

/* Put one frame on the first TX ring (of [first, last)) with room. */
static bool
nm_ring_put(struct nm_port *np, uint32_t first, uint32_t last,
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
dpl_port_tx(struct dpl *d, uint32_t vif, const uint8_t *frame, uint32_t len)
{
	struct nm_port *np = nm_port_find(d, vif);

	if (np != NULL && len > 0 && len <= UINT16_MAX) {
		if (nm_ring_put(np, 0, np->np_ntx, frame, len))
			return (true);
		/* Full: reclaim what the NIC has sent, then try once more. */
		(void)ioctl(d->d_ports[vif].po_fd, NIOCTXSYNC, NULL);
		if (nm_ring_put(np, 0, np->np_ntx, frame, len))
			return (true);
	}
	d->d_cnt.c_tx_errors++;
	return (false);
}

/* Fabric frames the host stack should have: everything but our GRE. */
static bool
nm_is_overlay(const uint8_t *f, uint32_t len)
{
	if (len < NM_ETHER_HDR_LEN + 10)
		return (false);
	return (((f[12] << 8) | f[13]) == NM_ETHERTYPE_IP &&
	    f[NM_ETHER_HDR_LEN + 9] == NM_IPPROTO_GRE);
}

static void
nm_frame(struct dpl *d, uint32_t vif, struct nm_port *np, bool from_host,
    const uint8_t *frame, uint32_t len)
{

	if (from_host) {
		/* The host stack transmitting on the fabric: to the wire. */
		if (!nm_ring_put(np, 0, np->np_ntx, frame, len))
			d->d_cnt.c_tx_errors++;
		return;
	}
	if (np->np_host && !nm_is_overlay(frame, len)) {
		if (!nm_ring_put(np, np->np_ntx, np->np_ntx + 1, frame, len))
			d->d_cnt.c_tx_errors++;
		return;
	}
	if (len <= DPL_BURST_FRAME) {
		memcpy(dpl_burst_next(d, vif), frame, len);
		dpl_burst_put(d, len);
		return;
	}
	/* Bigger than a slot (a netmap buffer size above a jumbo frame):
	 * alone, after the frames before it. */
	memcpy(d->d_frame + BSDNET_HEADROOM, frame, len);
	dpl_input_one(d, vif, d->d_frame + BSDNET_HEADROOM, len);
}

/* Drain one RX ring, at most NM_RX_BUDGET frames. */
static void
nm_ring_rx(struct dpl *d, uint32_t vif, uint32_t r, bool from_host)
{
	struct netmap_ring *ring;
	struct netmap_slot *slot;
	struct nm_port *np;
	uint32_t n, len;

	for (n = 0; n < NM_RX_BUDGET; n++) {
		/* Re-looked up each time: a packet may detach the port. */
		np = nm_port_find(d, vif);
		if (np == NULL)
			return;
		ring = NETMAP_RXRING(np->np_nifp, r);
		if (nm_ring_empty(ring))
			return;
		slot = &ring->slot[ring->head];
		len = slot->len;
		/* Multi-slot frames (jumbo) are not reassembled: dropped. */
		if ((slot->flags & NS_MOREFRAG) != 0 ||
		    len > ring->nr_buf_size || len > DPL_MAX_FRAME)
			d->d_cnt.c_rx_truncated++;
		else
			nm_frame(d, vif, np, from_host,
			    (const uint8_t *)NETMAP_BUF(ring, slot->buf_idx),
			    len);
		ring->head = ring->cur = nm_ring_next(ring, ring->head);
	}
	dpl_burst_flush(d);
}

/* poll(2) said vif is readable: it also ran rxsync on its rings. */
void
dpl_port_rx(struct dpl *d, uint32_t vif)
{
	struct nm_port *np = nm_port_find(d, vif);
	uint32_t r, nrx;

	if (np == NULL)
		return;
	nrx = np->np_nrx;
	for (r = 0; r < nrx; r++)
		nm_ring_rx(d, vif, r, false);
	if (np->np_host)
		nm_ring_rx(d, vif, nrx, true);
}

void
dpl_port_flush(struct dpl *d)
{
	uint32_t i;

	for (i = 0; i < nm_nports; i++) {
		if (!nm_ports[i].np_dirty || nm_port_find(d, i) == NULL)
			continue;
		nm_ports[i].np_dirty = false;
		(void)ioctl(d->d_ports[i].po_fd, NIOCTXSYNC, NULL);
	}
}

void
nm_port_fini(void)
{
	free(nm_ports);
	nm_ports = NULL;
	nm_nports = 0;
}
