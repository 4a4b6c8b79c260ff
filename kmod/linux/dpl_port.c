/*-
 * A port: one AF_PACKET socket bound to one interface.
 *
 * RX is a TPACKET_V3 ring: the kernel fills whole blocks of frames and
 * hands a block over when it is full or DPL_RING_RETIRE_MS old; we walk
 * every frame of a ready block, then give the block back.  Each frame is
 * copied into the one frame buffer (BSDNET_HEADROOM bytes of headroom for
 * encapsulation) and handed to bsdnet_dp_input().
 *
 * TX is a TPACKET_V3 TX ring on the same socket: bsdnet_os_tx() copies the
 * frame into the next free slot (a full ring is a TX failure, as the core
 * expects) and the loop kicks the kernel with one send() per port after
 * each batch, so a burst costs one system call, not one per frame.  A
 * frame too big for a slot goes out with its own send(), after the queued
 * ones.  The qdisc is bypassed.
 *
 * The interface is put in promiscuous mode through the socket
 * (PACKET_MR_PROMISC, dropped by the kernel when the socket closes): VMs
 * send to the router MAC, which is not the interface's address.  Our own
 * transmissions are not looped back (PACKET_IGNORE_OUTGOING).
 */
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "dpl.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

static int
dpl_setsockopt_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) != 0) {
		dpl_log(DPL_LOG_WARN, "setsockopt %s: %s", what,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* Where the kernel reads a TX frame: right after the aligned header. */
#define DPL_TX_DATA_OFF	TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define DPL_TX_MAX	(DPL_TX_FRAME_SIZE - DPL_TX_DATA_OFF - DPL_VNET_LEN)
#define DPL_VNET_LEN	sizeof(struct virtio_net_hdr)

/* In front of every frame we send on a vnet socket: no offload asked. */
static const struct virtio_net_hdr dpl_vnet_none;

static int
dpl_port_ring(struct dpl *d, struct dpl_port *po, int fd, bool fabric)
{
	struct tpacket_req3 req;
	size_t rxsize, size;
	uint32_t rxblocks, txblocks;
	bool tx;
	void *p;

	rxblocks = fabric ? DPL_RING_NBLOCKS_FABRIC : DPL_RING_NBLOCKS_VM;
	txblocks = fabric ? DPL_TX_NBLOCKS_FABRIC : DPL_TX_NBLOCKS_VM;

	memset(&req, 0, sizeof(req));
	req.tp_block_size = DPL_RING_BLOCK_SIZE;
	req.tp_block_nr = rxblocks;
	req.tp_frame_size = DPL_RING_FRAME_SIZE;
	req.tp_frame_nr = DPL_RING_BLOCK_SIZE / DPL_RING_FRAME_SIZE * rxblocks;
	req.tp_retire_blk_tov = DPL_RING_RETIRE_MS;
	req.tp_feature_req_word = 0;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0)
		return (-1);
	rxsize = (size_t)DPL_RING_BLOCK_SIZE * rxblocks;
	/* A TX ring needs a kernel with TPACKET_V3 TX (4.11); without one,
	 * every frame goes through send(). */
	memset(&req, 0, sizeof(req));
	req.tp_block_size = DPL_TX_BLOCK_SIZE;
	req.tp_block_nr = txblocks;
	req.tp_frame_size = DPL_TX_FRAME_SIZE;
	req.tp_frame_nr = DPL_TX_BLOCK_SIZE / DPL_TX_FRAME_SIZE * txblocks;
	tx = !d->d_opts.o_no_tx_ring &&
	    dpl_setsockopt_int(fd, SOL_PACKET, PACKET_LOSS, 1,
	    "PACKET_LOSS") == 0 &&
	    setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) == 0;
	size = rxsize + (tx ? (size_t)DPL_TX_BLOCK_SIZE * txblocks : 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED,
	    fd, 0);
	if (p == MAP_FAILED) {
		/* MAP_LOCKED fails under a small RLIMIT_MEMLOCK: not fatal. */
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
		if (p == MAP_FAILED)
			return (-1);
	}
	po->po_ring = p;
	po->po_ring_size = size;
	po->po_block = 0;
	po->po_rx_nblocks = rxblocks;
	po->po_tx = tx ? (uint8_t *)p + rxsize : NULL;
	po->po_tx_head = 0;
	po->po_tx_nframes = DPL_TX_BLOCK_SIZE / DPL_TX_FRAME_SIZE * txblocks;
	po->po_tx_pending = 0;
	return (0);
}

/*
 * Open, configure and bind a socket for interface ifindex.  Returns 0, or
 * -1 with errno set (ENODEV, ENXIO when the interface has gone).
 */
int
dpl_port_open(struct dpl *d, struct dpl_port *po, uint16_t type,
    uint32_t ifindex)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	int fd, saved;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (-1);
	if (dpl_setsockopt_int(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3,
	    "PACKET_VERSION") != 0)
		goto fail;
	/* Before the rings: tells us the segment size of GSO frames and where
	 * a checksum is left to finish.  Without it (old kernel), frames too
	 * long for the MTU are cut to the MTU instead. */
	po->po_vnet = dpl_setsockopt_int(fd, SOL_PACKET, PACKET_VNET_HDR, 1,
	    "PACKET_VNET_HDR") == 0;
	if (dpl_port_ring(d, po, fd, type == BSDNET_VIF_FABRIC) != 0)
		goto fail;
	/* Not fatal: older kernels lack them; we only lose speed, or see our
	 * own transmissions (which the core drops as not for it). */
	(void)dpl_setsockopt_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1,
	    "PACKET_IGNORE_OUTGOING");
	(void)dpl_setsockopt_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1,
	    "PACKET_QDISC_BYPASS");
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		goto fail;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
	    sizeof(mr)) != 0)
		goto fail;
	po->po_fd = fd;
	po->po_ifindex = ifindex;
	return (0);
fail:
	saved = errno;
	if (po->po_ring != NULL)
		(void)munmap(po->po_ring, po->po_ring_size);
	po->po_ring = NULL;
	po->po_tx = NULL;
	(void)close(fd);
	errno = saved;
	return (-1);
}

void
dpl_port_close(struct dpl *d, struct dpl_port *po)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	if (po->po_fd >= 0 && getsockopt(po->po_fd, SOL_PACKET,
	    PACKET_STATISTICS, &st, &len) == 0) {
		d->d_cnt.c_ring_packets += st.tp_packets;
		d->d_cnt.c_ring_drops += st.tp_drops;
	}
	if (po->po_ring != NULL)
		(void)munmap(po->po_ring, po->po_ring_size);
	po->po_ring = NULL;
	po->po_ring_size = 0;
	/* Queued frames are dropped with the ring; po_tx_listed stays, as
	 * the port may still be on the flush list. */
	po->po_tx = NULL;
	po->po_tx_pending = 0;
	if (po->po_fd >= 0)
		(void)close(po->po_fd);
	po->po_fd = -1;
	po->po_ifindex = 0;
}

/*
 * The MTU frames from this port are cut to: the vif's (the agent knows
 * the network's) when set and smaller, else the interface's.
 */
uint32_t
dpl_port_mtu(const char *name, uint32_t vif_mtu)
{
	struct ifreq ifr;
	uint32_t mtu = 1500;
	size_t n;
	int fd;

	n = strnlen(name, IFNAMSIZ - 1);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, n);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu >= 576)
			mtu = (uint32_t)ifr.ifr_mtu;
		(void)close(fd);
	}
	if (vif_mtu >= 576 && vif_mtu < mtu)
		mtu = vif_mtu;
	return (mtu);
}

/* Copy a frame of snap bytes whose VLAN tag the kernel holds aside,
 * with the tag back in place (dst has room for snap + 4). */
static void
dpl_port_untag(uint8_t *dst, const uint8_t *src, uint32_t snap,
    const struct tpacket3_hdr *th)
{
	uint16_t tpid = ETH_P_8021Q, tci = (uint16_t)th->hv1.tp_vlan_tci;

	if ((th->tp_status & TP_STATUS_VLAN_TPID_VALID) != 0)
		tpid = (uint16_t)th->hv1.tp_vlan_tpid;
	memcpy(dst, src, 12);
	dst[12] = (uint8_t)(tpid >> 8);
	dst[13] = (uint8_t)tpid;
	dst[14] = (uint8_t)(tci >> 8);
	dst[15] = (uint8_t)tci;
	memcpy(dst + 16, src + 12, snap - 12);
}

/* One frame of a block: bounds-checked against the block, then copied. */
static void
dpl_port_frame(struct dpl *d, uint32_t vif, const uint8_t *block,
    uint32_t off)
{
	const struct tpacket3_hdr *th;
	struct virtio_net_hdr vh;
	struct bsdnet_pkt pkt;
	struct dpl_port *po;
	uint32_t mac, snap;
	bool csum;

	th = (const struct tpacket3_hdr *)(const void *)(block + off);
	csum = (th->tp_status & TP_STATUS_CSUMNOTREADY) != 0;
	mac = th->tp_mac;
	snap = th->tp_snaplen;
	if (mac > DPL_RING_BLOCK_SIZE - off ||
	    snap > DPL_RING_BLOCK_SIZE - off - mac || snap > DPL_MAX_FRAME)
		return;
	if (snap < th->tp_len) {
		d->d_cnt.c_rx_truncated++;
		return;
	}
	if ((th->tp_status & TP_STATUS_VLAN_VALID) != 0) {
		/* The kernel took the 802.1Q tag off (VLAN offload): put it
		 * back, so the core judges the frame as it was sent. */
		if (snap < 12 || snap > DPL_MAX_FRAME - 4)
			return;
		dpl_port_untag(d->d_frame + BSDNET_HEADROOM, block + off + mac,
		    snap, th);
		snap += 4;
	} else
		memcpy(d->d_frame + BSDNET_HEADROOM, block + off + mac, snap);
	po = &d->d_ports[vif];
	if (po->po_vnet && mac >= DPL_VNET_LEN) {
		memcpy(&vh, block + off + mac - DPL_VNET_LEN, sizeof(vh));
		if ((vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) ==
		    VIRTIO_NET_HDR_GSO_TCPV4 && vh.gso_size != 0 &&
		    dpl_gso_tcp4(d, vif, d->d_frame + BSDNET_HEADROOM, snap,
		    vh.gso_size))
			return;
		csum = (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
	} else if (!po->po_vnet && snap > po->po_mtu + 18) {
		/* Longer than the MTU allows (18: Ethernet and one VLAN
		 * tag): a GSO frame; cut it to the MTU. */
		if (snap > 60 && dpl_gso_tcp4(d, vif,
		    d->d_frame + BSDNET_HEADROOM, snap, po->po_mtu > 60 ?
		    po->po_mtu - 60 : 0))
			return;
	}
	if (csum)
		dpl_csum_finish(d->d_frame + BSDNET_HEADROOM, snap);
	memset(&pkt, 0, sizeof(pkt));
	pkt.p_data = d->d_frame + BSDNET_HEADROOM;
	pkt.p_len = snap;
	pkt.p_totlen = snap;
	pkt.p_headroom = BSDNET_HEADROOM;
	bsdnet_dp_input(&d->d_dp, vif, &pkt);
}

/* Process the ready blocks of vif's ring, at most DPL_RING_BUDGET. */
void
dpl_port_rx(struct dpl *d, uint32_t vif)
{
	struct tpacket_block_desc *bd;
	struct dpl_port *po;
	uint32_t n, i, nframes, off;
	uint8_t *block;

	for (n = 0; n < DPL_RING_BUDGET; n++) {
		/* Re-read each time: a packet may have detached the port. */
		if (vif >= d->d_nports)
			return;
		po = &d->d_ports[vif];
		if (!po->po_attached || po->po_ring == NULL)
			return;
		block = po->po_ring + (size_t)po->po_block *
		    DPL_RING_BLOCK_SIZE;
		bd = (struct tpacket_block_desc *)(void *)block;
		if ((__atomic_load_n(&bd->hdr.bh1.block_status,
		    __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0)
			return;
		nframes = bd->hdr.bh1.num_pkts;
		off = bd->hdr.bh1.offset_to_first_pkt;
		for (i = 0; i < nframes; i++) {
			const struct tpacket3_hdr *th;

			if (off < sizeof(*bd) || off >= DPL_RING_BLOCK_SIZE -
			    sizeof(struct tpacket3_hdr))
				break;
			th = (const struct tpacket3_hdr *)(const void *)
			    (block + off);
			dpl_port_frame(d, vif, block, off);
			if (th->tp_next_offset == 0)
				break;
			off += th->tp_next_offset;
		}
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
		    __ATOMIC_RELEASE);
		po->po_block = (po->po_block + 1) % po->po_rx_nblocks;
	}
}

static void
dpl_port_kick(struct dpl_port *po)
{
	if (po->po_fd >= 0 && po->po_tx_pending != 0)
		(void)send(po->po_fd, NULL, 0, MSG_DONTWAIT);
	po->po_tx_pending = 0;
}

/* Kick every port with queued frames (end of a batch). */
void
dpl_port_flush(struct dpl *d)
{
	struct dpl_port *po;
	uint32_t i;

	for (i = 0; i < d->d_nflush; i++) {
		if (d->d_flush[i] >= d->d_nports)
			continue;
		po = &d->d_ports[d->d_flush[i]];
		dpl_port_kick(po);
		po->po_tx_listed = false;
	}
	d->d_nflush = 0;
}

/* Queue a frame on the TX ring.  False if the ring is full. */
static bool
dpl_port_tx_ring(struct dpl *d, uint32_t vif, struct dpl_port *po,
    const uint8_t *frame, uint32_t len)
{
	struct tpacket3_hdr *th;
	uint8_t *slot;
	uint32_t status;

	slot = po->po_tx + (size_t)po->po_tx_head * DPL_TX_FRAME_SIZE;
	th = (struct tpacket3_hdr *)(void *)slot;
	status = __atomic_load_n(&th->tp_status, __ATOMIC_ACQUIRE);
	if (status != TP_STATUS_AVAILABLE) {
		/* The kernel may just not have been told yet. */
		dpl_port_kick(po);
		status = __atomic_load_n(&th->tp_status, __ATOMIC_ACQUIRE);
		if (status != TP_STATUS_AVAILABLE &&
		    status != TP_STATUS_WRONG_FORMAT)
			return (false);
	}
	if (po->po_vnet) {
		memcpy(slot + DPL_TX_DATA_OFF, &dpl_vnet_none, DPL_VNET_LEN);
		memcpy(slot + DPL_TX_DATA_OFF + DPL_VNET_LEN, frame, len);
		len += DPL_VNET_LEN;
	} else
		memcpy(slot + DPL_TX_DATA_OFF, frame, len);
	th->tp_len = len;
	th->tp_snaplen = len;
	th->tp_next_offset = 0;
	__atomic_store_n(&th->tp_status, TP_STATUS_SEND_REQUEST,
	    __ATOMIC_RELEASE);
	po->po_tx_head = (po->po_tx_head + 1) % po->po_tx_nframes;
	if (!po->po_tx_listed && d->d_nflush < d->d_nports) {
		d->d_flush[d->d_nflush++] = vif;
		po->po_tx_listed = true;
	}
	if (++po->po_tx_pending >= DPL_TX_BATCH)
		dpl_port_kick(po);
	return (true);
}

bool
dpl_port_tx(struct dpl *d, uint32_t vif, const uint8_t *frame, uint32_t len)
{
	struct dpl_port *po;
	ssize_t n;

	if (vif >= d->d_nports)
		return (false);
	po = &d->d_ports[vif];
	if (!po->po_attached || po->po_fd < 0)
		return (false);
	if (po->po_tx != NULL && len <= DPL_TX_MAX) {
		if (dpl_port_tx_ring(d, vif, po, frame, len))
			return (true);
		d->d_cnt.c_tx_errors++;
		return (false);
	}
	dpl_port_kick(po);		/* keep the order of the queued ones */
	if (po->po_vnet) {
		struct iovec iov[2];
		struct msghdr msg;

		iov[0].iov_base = (void *)(uintptr_t)&dpl_vnet_none;
		iov[0].iov_len = DPL_VNET_LEN;
		iov[1].iov_base = (void *)(uintptr_t)frame;
		iov[1].iov_len = len;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 2;
		n = sendmsg(po->po_fd, &msg, MSG_DONTWAIT);
		if (n >= (ssize_t)DPL_VNET_LEN)
			n -= (ssize_t)DPL_VNET_LEN;
	} else
		n = send(po->po_fd, frame, len, MSG_DONTWAIT);
	if (n == (ssize_t)len)
		return (true);
	/* ENXIO/ENETDOWN: the interface went away or down; the socket
	 * reports it on the ring too and dpl_vif_error() detaches it. */
	d->d_cnt.c_tx_errors++;
	return (false);
}
