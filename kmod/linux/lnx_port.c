/*-
 * A port: two AF_PACKET sockets bound to one interface, one to receive,
 * one to send.
 *
 * RX is a TPACKET_V3 ring: the kernel hands over whole blocks of frames,
 * full or LNX_RING_RETIRE_MS old; each frame is copied into a burst slot
 * (bsdnetd_burst.c) and the block given back.
 *
 * TX is a batch on the other socket: each frame is copied into the port's
 * next slot and the loop sends each port's batch with one sendmmsg()
 * after each round of rings; a frame too big for a slot goes alone with
 * send(), after the queued ones.  The qdisc is bypassed.  Not a
 * PACKET_TX_RING: a ring frame's skb that crosses into another network
 * namespace (a veth to a VM) is copied again (skb_copy_ubufs); sendmmsg()
 * copies once.
 *
 * The interface is promiscuous through the socket (PACKET_MR_PROMISC,
 * dropped when it closes): VMs send to the router MAC.  Our own
 * transmissions are not looped back (PACKET_IGNORE_OUTGOING).
 */
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "lnx.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

static int
lnx_setsockopt_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) != 0) {
		bsdnetd_log(BSDNETD_LOG_WARN, "setsockopt %s: %s", what,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

#define LNX_VNET_LEN	sizeof(struct virtio_net_hdr)

static void *
lnx_port_map(int fd, size_t size)
{
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED,
	    fd, 0);
	/* MAP_LOCKED fails under a small RLIMIT_MEMLOCK: not fatal. */
	if (p == MAP_FAILED)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return (p == MAP_FAILED ? NULL : p);
}

static int
lnx_port_rx_ring(struct bsdnetd_port *po, int fd, bool fabric)
{
	struct tpacket_req3 req;
	uint32_t nblocks;

	nblocks = fabric ? LNX_RING_NBLOCKS_FABRIC : LNX_RING_NBLOCKS_VM;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = LNX_RING_BLOCK_SIZE;
	req.tp_block_nr = nblocks;
	req.tp_frame_size = LNX_RING_FRAME_SIZE;
	req.tp_frame_nr = LNX_RING_BLOCK_SIZE / LNX_RING_FRAME_SIZE * nblocks;
	req.tp_retire_blk_tov = LNX_RING_RETIRE_MS;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0)
		return (-1);
	po->po_ring_size = (size_t)LNX_RING_BLOCK_SIZE * nblocks;
	po->po_ring = lnx_port_map(fd, po->po_ring_size);
	if (po->po_ring == NULL)
		return (-1);
	po->po_block = 0;
	po->po_rx_nblocks = nblocks;
	return (0);
}

/* The TX batch: LNX_TX_BATCH slots of LNX_TX_FRAME_SIZE bytes. */
static int
lnx_port_tx_setup(struct bsdnetd_port *po)
{

	po->po_txq_n = 0;
	po->po_txq = malloc((size_t)LNX_TX_BATCH * LNX_TX_FRAME_SIZE);
	return (po->po_txq == NULL ? -1 : 0);
}

/*
 * The receiving socket: vnet headers (before the ring: they tell us the
 * segment size of GSO frames and which checksums are left to finish; an
 * old kernel without them gets frames cut to the MTU instead), RX ring,
 * our own output ignored, bound to all protocols, promiscuous.
 */
static int
lnx_port_open_rx(struct bsdnetd_port *po, uint32_t ifindex, bool fabric)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	int fd;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (-1);
	po->po_fd = fd;
	if (lnx_setsockopt_int(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3,
	    "PACKET_VERSION") != 0)
		return (-1);
	po->po_vnet = lnx_setsockopt_int(fd, SOL_PACKET, PACKET_VNET_HDR, 1,
	    "PACKET_VNET_HDR") == 0;
	if (lnx_port_rx_ring(po, fd, fabric) != 0)
		return (-1);
	/* Not fatal on an old kernel: the core drops our own output as not
	 * addressed to it. */
	(void)lnx_setsockopt_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1,
	    "PACKET_IGNORE_OUTGOING");
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		return (-1);
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	return (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
	    sizeof(mr)));
}

/*
 * The sending socket, bound with protocol 0 so it receives nothing: the
 * kernel's completion wake-ups of sent frames land on a socket nobody
 * polls, not on the ring socket the loop sleeps on.
 */
static int
lnx_port_open_tx(struct bsdnetd_port *po, uint32_t ifindex)
{
	struct sockaddr_ll sll;
	int fd;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (-1);
	po->po_txfd = fd;
	if (lnx_port_tx_setup(po) != 0)
		return (-1);
	/* Not fatal: only speed is lost. */
	(void)lnx_setsockopt_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1,
	    "PACKET_QDISC_BYPASS");
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = (int)ifindex;
	return (bind(fd, (struct sockaddr *)&sll, sizeof(sll)));
}

static void lnx_port_free(struct bsdnetd *d, struct bsdnetd_port *po);
static void lnx_port_send_batch(struct bsdnetd *d, struct bsdnetd_port *po);

/*
 * Open, configure and bind the sockets for interface ifindex and put the
 * receiving one in the loop.  NULL with errno set (ENODEV, ENXIO when the
 * interface has gone) on failure.
 */
struct bsdnetd_port *
bsdnetd_port_open(struct bsdnetd *d, uint32_t vif, uint16_t type,
    uint32_t ifindex)
{
	struct bsdnetd_port *po;
	int saved;

	po = calloc(1, sizeof(*po));
	if (po == NULL)
		return (NULL);
	po->po_vif = vif;
	po->po_ifindex = ifindex;
	po->po_fd = po->po_txfd = po->po_steal_fd = -1;
	if (lnx_port_open_rx(po, ifindex, type == BSDNET_VIF_FABRIC) != 0 ||
	    lnx_port_open_tx(po, ifindex) != 0 ||
	    lnx_loop_add_port(d, po->po_fd, vif) != 0) {
		saved = errno;
		lnx_port_free(d, po);
		errno = saved;
		return (NULL);
	}
	return (po);
}

void
bsdnetd_port_update(struct bsdnetd *d, struct bsdnetd_port *po,
    const struct bsdnet_vif *v)
{

	lnx_steal_update(d, po, v);
}

void
bsdnetd_port_close(struct bsdnetd *d, struct bsdnetd_port *po)
{

	lnx_loop_del_fd(d, po->po_fd);
	lnx_port_free(d, po);
}

static void
lnx_port_free(struct bsdnetd *d, struct bsdnetd_port *po)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	if (po->po_fd >= 0 && po->po_ring != NULL && getsockopt(po->po_fd,
	    SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
		d->d_home->h_ring_packets += st.tp_packets;
		d->d_home->h_ring_drops += st.tp_drops;
	}
	if (po->po_ring != NULL)
		(void)munmap(po->po_ring, po->po_ring_size);
	po->po_ring = NULL;
	po->po_ring_size = 0;
	/* Queued frames go out first.  The flush list names the vif, not
	 * the port: a detached vif is skipped there. */
	lnx_port_send_batch(d, po);
	free(po->po_txq);
	lnx_steal_release(po);
	if (po->po_fd >= 0)
		(void)close(po->po_fd);
	if (po->po_txfd >= 0)
		(void)close(po->po_txfd);
	free(po);
}

/* Copy a frame of snap bytes whose VLAN tag the kernel holds aside,
 * with the tag back in place (dst has room for snap + 4). */
static void
lnx_port_untag(uint8_t *dst, const uint8_t *src, uint32_t snap,
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

/*
 * One frame of a block: bounds-checked against the block, then copied into
 * the next burst slot, or, for a frame that must go alone (a GSO
 * super-frame to cut, one bigger than a slot), into the one frame buffer,
 * for bsdnetd_input_one() (which runs the pending burst first).
 */
static void
lnx_port_frame(struct bsdnetd *d, uint32_t vif, const uint8_t *block,
    uint32_t off)
{
	const struct tpacket3_hdr *th;
	struct virtio_net_hdr vh;
	struct bsdnetd_port *po = d->d_vifs[vif].v_port;
	uint32_t mac, snap, mss = 0, mtu = d->d_vifs[vif].v_mtu;
	uint8_t *buf;
	bool csum, vlan, gso = false, alone;

	th = (const struct tpacket3_hdr *)(const void *)(block + off);
	csum = (th->tp_status & TP_STATUS_CSUMNOTREADY) != 0;
	vlan = (th->tp_status & TP_STATUS_VLAN_VALID) != 0;
	mac = th->tp_mac;
	snap = th->tp_snaplen;
	if (mac > LNX_RING_BLOCK_SIZE - off ||
	    snap > LNX_RING_BLOCK_SIZE - off - mac || snap > BSDNETD_MAX_FRAME)
		return;
	if (snap < th->tp_len) {
		d->d_cnt.c_rx_truncated++;
		return;
	}
	/* The kernel took an 802.1Q tag off (VLAN offload): it goes back,
	 * so the core judges the frame as it was sent. */
	if (vlan && (snap < 12 || snap > BSDNETD_MAX_FRAME - 4))
		return;
	if (po->po_vnet && mac >= LNX_VNET_LEN) {
		memcpy(&vh, block + off + mac - LNX_VNET_LEN, sizeof(vh));
		if ((vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) ==
		    VIRTIO_NET_HDR_GSO_TCPV4 && vh.gso_size != 0) {
			gso = true;
			mss = vh.gso_size;
		}
		csum = (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
	} else if (!po->po_vnet && snap > mtu + 18 && snap > 60) {
		/* Longer than the MTU allows (18: Ethernet and one VLAN
		 * tag): a GSO frame; cut it to the MTU. */
		gso = true;
		mss = mtu > 60 ? mtu - 60 : 0;
	}
	alone = gso || snap + (vlan ? 4 : 0) > BSDNETD_BURST_FRAME;
	buf = alone ? d->d_frame + BSDNET_HEADROOM :
	    bsdnetd_burst_next(d, vif);
	if (vlan) {
		lnx_port_untag(buf, block + off + mac, snap, th);
		snap += 4;
	} else
		memcpy(buf, block + off + mac, snap);
	if (gso && lnx_gso_tcp4(d, vif, buf, snap, mss))
		return;
	if (csum)
		lnx_csum_finish(buf, snap);
	if (alone)
		bsdnetd_input_one(d, vif, buf, snap);
	else
		bsdnetd_burst_put(d, snap);
}

/* Process the ready blocks of vif's ring, at most LNX_RING_BUDGET. */
void
lnx_port_rx(struct bsdnetd *d, uint32_t vif)
{
	struct tpacket_block_desc *bd;
	struct bsdnetd_port *po;
	uint32_t n, i, nframes, off;
	uint8_t *block;

	for (n = 0; n < LNX_RING_BUDGET; n++) {
		/* Re-read each time: a packet may have detached the port. */
		po = bsdnetd_vif_port(d, vif);
		if (po == NULL || po->po_ring == NULL)
			return;
		block = po->po_ring + (size_t)po->po_block *
		    LNX_RING_BLOCK_SIZE;
		bd = (struct tpacket_block_desc *)(void *)block;
		if ((__atomic_load_n(&bd->hdr.bh1.block_status,
		    __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0)
			return;
		nframes = bd->hdr.bh1.num_pkts;
		off = bd->hdr.bh1.offset_to_first_pkt;
		for (i = 0; i < nframes; i++) {
			const struct tpacket3_hdr *th;

			if (off < sizeof(*bd) || off >= LNX_RING_BLOCK_SIZE -
			    sizeof(struct tpacket3_hdr))
				break;
			th = (const struct tpacket3_hdr *)(const void *)
			    (block + off);
			lnx_port_frame(d, vif, block, off);
			if (th->tp_next_offset == 0)
				break;
			off += th->tp_next_offset;
		}
		/* The burst holds copies: the block can go back first. */
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
		    __ATOMIC_RELEASE);
		po->po_block = (po->po_block + 1) % po->po_rx_nblocks;
		bsdnetd_burst_flush(d);
	}
}

/*
 * Hand po's batch to the kernel.  Frames it refuses (a full socket buffer,
 * the interface gone) are counted as TX errors: the core counted them
 * sent when they were queued.
 */
static void
lnx_port_send_batch(struct bsdnetd *d, struct bsdnetd_port *po)
{
	struct mmsghdr m[LNX_TX_BATCH];
	struct iovec iov[LNX_TX_BATCH];
	uint32_t i, sent = 0;
	int n;

	if (po->po_txq_n == 0)
		return;
	if (po->po_txfd < 0 || po->po_txq == NULL) {
		d->d_cnt.c_tx_errors += po->po_txq_n;
		po->po_txq_n = 0;
		return;
	}
	memset(m, 0, sizeof(m[0]) * po->po_txq_n);
	for (i = 0; i < po->po_txq_n; i++) {
		iov[i].iov_base = po->po_txq + (size_t)i * LNX_TX_FRAME_SIZE;
		iov[i].iov_len = po->po_txq_len[i];
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < po->po_txq_n) {
		n = sendmmsg(po->po_txfd, m + sent, po->po_txq_n - sent,
		    MSG_DONTWAIT);
		if (n <= 0)
			break;
		sent += (uint32_t)n;
	}
	d->d_cnt.c_tx_errors += po->po_txq_n - sent;
	po->po_txq_n = 0;
}

int
lnx_port_error(struct bsdnetd *d, uint32_t vif)
{
	struct bsdnetd_port *po = bsdnetd_vif_port(d, vif);
	socklen_t len;
	int err = 0;

	len = sizeof(err);
	if (po != NULL)
		(void)getsockopt(po->po_fd, SOL_SOCKET, SO_ERROR, &err, &len);
	return (err);
}

/* Send every port's batch (end of a round). */
void
lnx_port_flush(struct bsdnetd *d)
{
	struct bsdnetd_home *h = d->d_home;
	struct bsdnetd_port *po;
	uint32_t i;

	for (i = 0; i < h->h_nflush; i++) {
		po = bsdnetd_vif_port(d, h->h_flush[i]);
		if (po == NULL)
			continue;
		lnx_port_send_batch(d, po);
		po->po_tx_listed = false;
	}
	h->h_nflush = 0;
}

bool
bsdnetd_port_tx(struct bsdnetd *d, uint32_t vif, const uint8_t *frame,
    uint32_t len)
{
	struct bsdnetd_home *h = d->d_home;
	struct bsdnetd_port *po;
	ssize_t n;

	po = bsdnetd_vif_port(d, vif);
	if (po == NULL || po->po_txfd < 0)
		return (false);
	if (po->po_txq != NULL && !h->h_no_tx_batch &&
	    len <= LNX_TX_FRAME_SIZE) {
		memcpy(po->po_txq + (size_t)po->po_txq_n * LNX_TX_FRAME_SIZE,
		    frame, len);
		po->po_txq_len[po->po_txq_n++] = len;
		if (!po->po_tx_listed && h->h_nflush < d->d_nvifs) {
			h->h_flush[h->h_nflush++] = vif;
			po->po_tx_listed = true;
		}
		if (po->po_txq_n == LNX_TX_BATCH)
			lnx_port_send_batch(d, po);
		return (true);
	}
	/* Too big for a slot: after the frames queued before it. */
	lnx_port_send_batch(d, po);
	n = send(po->po_txfd, frame, len, MSG_DONTWAIT);
	if (n == (ssize_t)len)
		return (true);
	/* ENXIO/ENETDOWN: the interface went away or down; the socket
	 * reports it on the ring too and bsdnetd_vif_error() detaches it. */
	d->d_cnt.c_tx_errors++;
	return (false);
}
