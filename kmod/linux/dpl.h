/*-
 * bsdnet-datapath: the Linux userspace home of the forwarding core.
 *
 * Roadmap to the code:
 *   dpl_main.c    options, start-up and shutdown order
 *   dpl_region.c  the POSIX shared-memory region: create, validate, reuse
 *   dpl_port.c    one AF_PACKET socket + TPACKET_V3 RX ring per vif
 *   dpl_vif.c     vif table scans: attach, detach, re-attach
 *   dpl_trap.c    the trap channel (pkt0 stand-in): traps out, control in
 *   dpl_loop.c    the epoll event loop: rings, control, timer, signals
 *   dpl_os.c      the bsdnet_os_*() functions the core calls
 *   dpl_csum.c    finishing TCP/UDP checksums a local sender left undone
 *   dpl_gso.c     cutting TCP super-frames (GSO) from local senders
 *   dpl_burst.c   received frames gathered into bursts for the core
 *   dpl_steal.c   BPF programs that keep the datapath's frames from the
 *                 host stack (tcx links, or tc filters: dpl_tc.c)
 *   dpl_tc.c      a tc clsact ingress filter through rtnetlink
 *
 * Threading: one thread.  Everything below is owned by it; the only
 * memory shared with another process is the region, which is read as
 * untrusted input (see bsdnet_abi.h).
 */
#ifndef _BSDNET_DPL_H_
#define _BSDNET_DPL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "bsdnet_core.h"
#include "bsdnet_layout.h"

/* Largest frame we take off a ring or the control socket. */
#define DPL_MAX_FRAME		65536
/* RX ring geometry of one port (TPACKET_V3, block based).  A block is
 * handed over full or DPL_RING_RETIRE_MS old, so the number of blocks is
 * how long the daemon may wait for a CPU before frames are lost; a block
 * must hold a 64 KiB GSO frame.  The fabric port carries every VM's
 * traffic and gets the deeper ring. */
#define DPL_RING_BLOCK_SIZE	(1u << 17)
#define DPL_RING_NBLOCKS_FABRIC	32u
#define DPL_RING_NBLOCKS_VM	16u
#define DPL_RING_FRAME_SIZE	2048u
#define DPL_RING_RETIRE_MS	1u
/* TX batch of one port: this many frames of at most DPL_TX_FRAME_SIZE
 * bytes per sendmmsg(); bigger frames go through send(). */
#define DPL_TX_BATCH		64u
#define DPL_TX_FRAME_SIZE	2048u
/* Largest frame a burst slot holds (a jumbo frame); bigger ones, and GSO
 * super-frames, go to the core one by one. */
#define DPL_BURST_FRAME		9216u
/* Blocks handled per wake-up of one port, so one busy vif cannot starve
 * the others or the timer. */
#define DPL_RING_BUDGET		4u
/* Period of bsdnet_dp_tick() and of the vif table scan. */
#define DPL_TICK_MS		100

enum dpl_log_level {
	DPL_LOG_ERR = 0,
	DPL_LOG_WARN = 1,
	DPL_LOG_INFO = 2,
	DPL_LOG_DEBUG = 3,
};

/* How the host stack is kept from the datapath's frames (--steal). */
enum dpl_steal_mode {
	DPL_STEAL_AUTO,		/* a tcx link, else a tc filter */
	DPL_STEAL_TCX,
	DPL_STEAL_TC,
	DPL_STEAL_OFF,
};

/* Everything the command line sets. */
struct dpl_opts {
	const char		*o_shm;		/* shm name without the slash */
	const char		*o_trap_socket;	/* we bind: control comes in */
	const char		*o_agent_socket; /* we send traps to */
	const char		*o_pidfile;
	struct bsdnet_geometry	 o_geom;	/* used only when creating */
	uint32_t		 o_hold_slots;	/* hold queue storage */
	int			 o_log_level;
	bool			 o_reformat;
	bool			 o_no_tx_batch;	/* send() every frame */
	int			 o_nice;	/* setpriority() at start */
	enum dpl_steal_mode	 o_steal;
};

/* One attached (or attachable) vif: index in the vif table == index here. */
struct dpl_port {
	int		 po_fd;		/* receives; -1 when detached */
	int		 po_txfd;	/* sends */
	uint32_t	 po_ifindex;	/* OS ifindex while attached */
	uint32_t	 po_seq;	/* vif_seq we attached with */
	uint16_t	 po_type;
	uint32_t	 po_mtu;	/* IP MTU frames are cut to */
	uint32_t	 po_ifmtu;	/* the interface's MTU */
	bool		 po_attached;
	bool		 po_failed;	/* last attach failed: log once */
	uint32_t	 po_bad_seq;	/* vif_seq of an entry already warned */
	bool		 po_bad;
	char		 po_name[BSDNET_IFNAMSIZ];
	uint8_t		*po_ring;	/* mmap'd RX ring */
	size_t		 po_ring_size;
	uint32_t	 po_block;	/* next RX block to look at */
	uint32_t	 po_rx_nblocks;
	uint8_t		*po_txq;	/* TX batch slots, or NULL */
	uint32_t	 po_txq_len[DPL_TX_BATCH];
	uint32_t	 po_txq_n;	/* frames queued since the last send */
	bool		 po_tx_listed;	/* in d_flush (cleared by the flush) */
	bool		 po_vnet;	/* frames carry a virtio_net_hdr */
	int		 po_steal_fd;	/* tcx link (dpl_steal.c), or -1 */
	bool		 po_steal_tc;	/* or our tc filter is on po_ifindex */
	uint32_t	 po_steal_ip;	/* fabric address it matches */
};

/* Counters of the Linux home itself (the core counts in the region). */
struct dpl_counters {
	uint64_t	c_ctl_ok;
	uint64_t	c_ctl_bad;	/* malformed control messages */
	uint64_t	c_rx_truncated;	/* frame larger than the ring slot */
	uint64_t	c_gso_frames;	/* TCP super-frames cut to the MTU */
	uint64_t	c_tx_errors;
	uint64_t	c_trap_errors;
	/* kernel ring statistics of closed ports */
	uint64_t	c_ring_packets;	/* frames the ring took */
	uint64_t	c_ring_drops;	/* frames it had no room for */
};

struct dpl {
	struct dpl_opts		 d_opts;
	/* region */
	int			 d_shm_fd;
	uint8_t			*d_base;
	uint64_t		 d_size;
	struct bsdnet_region_hdr *d_hdr;
	struct bsdnet_dp	 d_dp;
	uint32_t		 d_nvifs;	/* validated geometry */
	uint64_t		 d_off_vifs;
	struct bsdnet_hold_slot	*d_hold;
	/* ports, one per vif slot */
	struct dpl_port		*d_ports;
	uint32_t		 d_nports;
	/* trap channel */
	int			 d_ctl_fd;
	struct sockaddr_un	 d_agent_addr;
	socklen_t		 d_agent_len;	/* 0: no agent configured */
	bool			 d_ctl_bound;
	/* loop */
	int			 d_epfd;
	int			 d_timerfd;
	int			 d_sigfd;
	bool			 d_stop;
	bool			 d_pidfile_written;
	/* one frame buffer, BSDNET_HEADROOM before the frame: every packet
	 * goes through it, so memory never grows with traffic */
	uint8_t			*d_frame;
	uint8_t			*d_seg;		/* one segment of a cut frame */
	/* frames of one vif waiting for bsdnet_dp_input_burst() */
	uint8_t			*d_burst;	/* BSDNET_BURST_MAX slots */
	struct bsdnet_pkt	 d_bpkt[BSDNET_BURST_MAX];
	uint32_t		 d_bn;		/* slots filled */
	uint32_t		 d_bvif;	/* their vif */
	/* ports with frames in their TX batch, sent at the end of a round */
	uint32_t		*d_flush;
	uint32_t		 d_nflush;
	struct dpl_counters	 d_cnt;
};

/* dpl_os.c */
extern int dpl_log_level;
void	dpl_log(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* dpl_burst.c */
int	dpl_burst_init(struct dpl *d);
void	dpl_burst_fini(struct dpl *d);
/* The buffer of the next slot for a frame of vif (DPL_BURST_FRAME bytes,
 * headroom before it); runs the pending burst first if it is full or of
 * another vif.  dpl_burst_put() then adds the frame, len bytes. */
uint8_t	*dpl_burst_next(struct dpl *d, uint32_t vif);
void	dpl_burst_put(struct dpl *d, uint32_t len);
/* Run the pending burst through the core. */
void	dpl_burst_flush(struct dpl *d);
/* One frame to the core on its own (a GSO segment, a frame bigger than a
 * slot; BSDNET_HEADROOM bytes before it), after the pending burst, so the
 * frames of a vif keep their order. */
void	dpl_input_one(struct dpl *d, uint32_t vif, uint8_t *frame,
	    uint32_t len);

/* dpl_csum.c */
void	dpl_csum_finish(uint8_t *frame, uint32_t len);

/* dpl_gso.c */
bool	dpl_gso_tcp4(struct dpl *d, uint32_t vif, const uint8_t *frame,
	    uint32_t len, uint32_t mss);

/* dpl_region.c */
int	dpl_region_open(struct dpl *d);
void	dpl_region_close(struct dpl *d);
void	dpl_region_publish_pid(struct dpl *d);
struct bsdnet_vif *dpl_region_vif(struct dpl *d, uint32_t idx);

/* dpl_port.c */
int	dpl_port_open(struct dpl *d, struct dpl_port *po, uint16_t type,
	    uint32_t ifindex);
void	dpl_port_close(struct dpl *d, struct dpl_port *po);
/* The vif entry of an open port was read (attach) or changed. */
void	dpl_port_update(struct dpl *d, struct dpl_port *po,
	    const struct bsdnet_vif *v);
void	dpl_port_rx(struct dpl *d, uint32_t vif);
bool	dpl_port_tx(struct dpl *d, uint32_t vif, const uint8_t *frame,
	    uint32_t len);
void	dpl_port_flush(struct dpl *d);
uint32_t dpl_port_mtu(const char *name, uint32_t vif_mtu);

/* dpl_steal.c */
void	dpl_steal_update(struct dpl_port *po, const struct bsdnet_vif *v,
	    enum dpl_steal_mode mode);
void	dpl_steal_release(struct dpl_port *po);

/* dpl_tc.c: 0, or -1 with errno set */
int	dpl_tc_filter_set(uint32_t ifindex, int prog_fd);
int	dpl_tc_filter_del(uint32_t ifindex);

/* dpl_vif.c */
int	dpl_vif_init(struct dpl *d);
void	dpl_vif_scan(struct dpl *d);
void	dpl_vif_error(struct dpl *d, uint32_t vif);
void	dpl_vif_detach_all(struct dpl *d);
void	dpl_vif_fini(struct dpl *d);

/* dpl_trap.c */
int	dpl_trap_open(struct dpl *d);
void	dpl_trap_close(struct dpl *d);
void	dpl_trap_ctl_input(struct dpl *d);
void	dpl_trap_tick(struct dpl *d);

/* dpl_loop.c: epoll tags */
enum dpl_tag {
	DPL_TAG_PORT = 1,
	DPL_TAG_CTL = 2,
	DPL_TAG_TIMER = 3,
	DPL_TAG_SIGNAL = 4,
};
int	dpl_loop_init(struct dpl *d);
int	dpl_loop_add_port(struct dpl *d, int fd, uint32_t vif);
void	dpl_loop_del_fd(struct dpl *d, int fd);
int	dpl_loop_run(struct dpl *d);
void	dpl_loop_fini(struct dpl *d);

#endif /* !_BSDNET_DPL_H_ */
