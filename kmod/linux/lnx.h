/*-
 * bsdnet-datapath: the Linux userspace home of the forwarding core, over
 * AF_PACKET.  The daemon itself (options, region, trap channel, vif scan)
 * is kmod/daemon's; this home brings the ports and the event loop.
 *
 * Roadmap to the code:
 *   lnx_main.c    its name, manual and options; set-up and shutdown
 *   lnx_port.c    a port: AF_PACKET sockets, TPACKET_V3 RX ring, TX batch
 *   lnx_loop.c    the epoll event loop: rings, control, timer, signals
 *   lnx_csum.c    finishing TCP/UDP checksums a local sender left undone
 *   lnx_gso.c     cutting TCP super-frames (GSO) from local senders
 *   lnx_steal.c   BPF programs that keep the datapath's frames from the
 *                 host stack (tcx links, or tc filters: lnx_tc.c)
 *   lnx_tc.c      a tc clsact ingress filter through rtnetlink
 */
#ifndef _BSDNET_LNX_H_
#define _BSDNET_LNX_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bsdnetd.h"

/* RX ring geometry of one port (TPACKET_V3, block based).  A block is
 * handed over full or LNX_RING_RETIRE_MS old, so the number of blocks is
 * how long the daemon may wait for a CPU before frames are lost; a block
 * must hold a 64 KiB GSO frame.  The fabric port carries every VM's
 * traffic and gets the deeper ring. */
#define LNX_RING_BLOCK_SIZE	(1u << 17)
#define LNX_RING_NBLOCKS_FABRIC	32u
#define LNX_RING_NBLOCKS_VM	16u
#define LNX_RING_FRAME_SIZE	2048u
#define LNX_RING_RETIRE_MS	1u
/* TX batch of one port: this many frames of at most LNX_TX_FRAME_SIZE
 * bytes per sendmmsg(); bigger frames go through send(). */
#define LNX_TX_BATCH		64u
#define LNX_TX_FRAME_SIZE	2048u
/* Blocks handled per wake-up of one port, so one busy vif cannot starve
 * the others or the timer. */
#define LNX_RING_BUDGET		4u

/* How the host stack is kept from the datapath's frames (--steal). */
enum lnx_steal_mode {
	LNX_STEAL_AUTO,		/* a tcx link, else a tc filter */
	LNX_STEAL_TCX,
	LNX_STEAL_TC,
	LNX_STEAL_OFF,
};

/* One attached vif's interface. */
struct bsdnetd_port {
	uint32_t	 po_vif;
	uint32_t	 po_ifindex;
	int		 po_fd;		/* receives */
	int		 po_txfd;	/* sends */
	uint8_t		*po_ring;	/* mmap'd RX ring */
	size_t		 po_ring_size;
	uint32_t	 po_block;	/* next RX block to look at */
	uint32_t	 po_rx_nblocks;
	bool		 po_vnet;	/* frames carry a virtio_net_hdr */
	uint8_t		*po_txq;	/* TX batch slots, or NULL */
	uint32_t	 po_txq_len[LNX_TX_BATCH];
	uint32_t	 po_txq_n;	/* frames queued since the last send */
	bool		 po_tx_listed;	/* on h_flush (cleared by the flush) */
	int		 po_steal_fd;	/* tcx link (lnx_steal.c), or -1 */
	bool		 po_steal_tc;	/* or our tc filter is on po_ifindex */
	uint32_t	 po_steal_ip;	/* fabric address it matches */
};

struct bsdnetd_home {
	/* options */
	bool			 h_no_tx_batch;	/* send() every frame */
	enum lnx_steal_mode	 h_steal;
	uint32_t		 h_tc_owner;	/* lnx_tc_owner() of the region */
	/* the loop */
	int			 h_epfd;
	int			 h_timerfd;
	int			 h_sigfd;
	/* ports with frames in their TX batch, sent at the end of a round */
	uint32_t		*h_flush;
	uint32_t		 h_nflush;
	/* one segment of a frame cut by lnx_gso.c */
	uint8_t			*h_seg;
	/* counters of this home */
	uint64_t		 h_gso_frames;	/* TCP super-frames cut */
	uint64_t		 h_ring_packets; /* frames closed rings took */
	uint64_t		 h_ring_drops;	/* ... and had no room for */
};

/* lnx_csum.c */
void	lnx_csum_finish(uint8_t *frame, uint32_t len);

/* lnx_gso.c */
bool	lnx_gso_tcp4(struct bsdnetd *d, uint32_t vif, const uint8_t *frame,
	    uint32_t len, uint32_t mss);

/* lnx_port.c */
void	lnx_port_rx(struct bsdnetd *d, uint32_t vif);
void	lnx_port_flush(struct bsdnetd *d);
/* The port of vif reported an error: SO_ERROR, or 0. */
int	lnx_port_error(struct bsdnetd *d, uint32_t vif);

/* lnx_steal.c */
void	lnx_steal_update(struct bsdnetd *d, struct bsdnetd_port *po,
	    const struct bsdnet_vif *v);
void	lnx_steal_release(struct bsdnetd_port *po);

/* lnx_tc.c: 0, or -1 with errno set */
/* The class id that marks the filters of the datapath of region. */
uint32_t lnx_tc_owner(const char *region);
int	lnx_tc_filter_set(uint32_t ifindex, int prog_fd, uint32_t owner);
int	lnx_tc_filter_del(uint32_t ifindex);
/* Remove owner's filters from every interface keep() declines, calling
 * removed() for each; the number removed, or -1 with errno set. */
int	lnx_tc_sweep(uint32_t owner, bool (*keep)(void *, uint32_t),
	    void *arg, void (*removed)(void *, const char *));

/* lnx_loop.c */
int	lnx_loop_add_port(struct bsdnetd *d, int fd, uint32_t vif);
void	lnx_loop_del_fd(struct bsdnetd *d, int fd);

#endif /* !_BSDNET_LNX_H_ */
