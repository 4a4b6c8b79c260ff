/*-
 * What bsdnet's userspace datapaths share: everything but how frames
 * reach them.  Each home (kmod/linux: AF_PACKET; kmod/netmap) links
 * these files with its own ports and event loop, as netmap's
 * applications link libnetmap, so the agent cannot tell the homes apart.
 *
 * Roadmap to the code:
 *   bsdnetd_main.c    main(): options, manual, start-up and shutdown
 *   bsdnetd_region.c  the POSIX shared-memory region: create, validate, reuse
 *   bsdnetd_vif.c     vif table scans: attach, detach, re-attach
 *   bsdnetd_trap.c    the trap channel: traps out, control messages in
 *   bsdnetd_burst.c   received frames gathered into bursts for the core
 *   bsdnetd_os.c      the bsdnet_os_*() functions the core calls; the log
 * What each home provides is declared at the end of this file.
 *
 * Threading: one thread.  Everything below is owned by it; the only
 * memory shared with another process is the region, which is read as
 * untrusted input (see bsdnet_abi.h).
 */
#ifndef _BSDNETD_H_
#define _BSDNETD_H_

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "bsdnet_core.h"
#include "bsdnet_layout.h"

/* Largest frame taken off a ring, and the one frame buffer's size. */
#define BSDNETD_MAX_FRAME	65536
/* Largest frame a burst slot holds (a jumbo frame); bigger ones go to
 * the core one by one. */
#define BSDNETD_BURST_FRAME	9216u
/* Period of bsdnet_dp_tick() and of the vif table scan. */
#define BSDNETD_TICK_MS		100

enum bsdnetd_log_level {
	BSDNETD_LOG_ERR = 0,
	BSDNETD_LOG_WARN = 1,
	BSDNETD_LOG_INFO = 2,
	BSDNETD_LOG_DEBUG = 3,
};

/* The options every home takes. */
struct bsdnetd_opts {
	const char		*o_shm;		/* shm name without the slash */
	const char		*o_trap_socket;	/* we bind: control comes in */
	const char		*o_agent_socket; /* we send traps to */
	const char		*o_pidfile;
	struct bsdnet_geometry	 o_geom;	/* used only when creating */
	uint32_t		 o_hold_slots;	/* hold queue storage */
	int			 o_log_level;
	bool			 o_reformat;
	int			 o_nice;	/* setpriority() at start */
};

/* The home's port of an attached vif (defined by each home). */
struct bsdnetd_port;
/* The home's own state (defined by each home). */
struct bsdnetd_home;

/* One vif slot, index in the vif table == index here. */
struct bsdnetd_vif {
	struct bsdnetd_port	*v_port;	/* NULL while detached */
	uint32_t		 v_ifindex;	/* OS ifindex while attached */
	uint32_t		 v_seq;		/* vif_seq we attached with */
	uint32_t		 v_mtu;		/* IP MTU frames are cut to */
	uint32_t		 v_ifmtu;	/* the interface's MTU */
	uint16_t		 v_type;
	bool			 v_failed;	/* last attach failed: log once */
	bool			 v_bad;		/* entry ignored: logged once */
	uint32_t		 v_bad_seq;	/* ... at this vif_seq */
	char			 v_name[BSDNET_IFNAMSIZ];
};

/* Counters of the daemon itself (the core counts in the region). */
struct bsdnetd_counters {
	uint64_t	c_ctl_ok;
	uint64_t	c_ctl_bad;	/* malformed control messages */
	uint64_t	c_rx_truncated;	/* frames larger than we take */
	uint64_t	c_tx_errors;
	uint64_t	c_trap_errors;
};

struct bsdnetd {
	struct bsdnetd_opts	 d_opts;
	struct bsdnetd_home	*d_home;
	/* region */
	char			 d_shown[272];	/* its name in messages */
	int			 d_shm_fd;
	uint8_t			*d_base;
	uint64_t		 d_size;
	struct bsdnet_region_hdr *d_hdr;
	struct bsdnet_dp	 d_dp;
	struct bsdnet_vif	*d_vtab;	/* the vif table, validated */
	struct bsdnet_hold_slot	*d_hold;
	/* vifs, one per vif table slot */
	struct bsdnetd_vif	*d_vifs;
	uint32_t		 d_nvifs;
	/* trap channel */
	int			 d_ctl_fd;
	struct sockaddr_un	 d_agent_addr;
	socklen_t		 d_agent_len;	/* 0: no agent configured */
	bool			 d_ctl_bound;
	bool			 d_stop;
	bool			 d_pidfile_written;
	/* one frame buffer, BSDNET_HEADROOM before the frame, for a frame
	 * that goes to the core alone: memory never grows with traffic */
	uint8_t			*d_frame;
	/* frames of one vif waiting for bsdnet_dp_input_burst() */
	uint8_t			*d_burst;	/* BSDNET_BURST_MAX slots */
	struct bsdnet_pkt	 d_bpkt[BSDNET_BURST_MAX];
	uint32_t		 d_bn;		/* slots filled */
	uint32_t		 d_bvif;	/* their vif */
	struct bsdnetd_counters	 d_cnt;
};

/* bsdnetd_os.c */
extern int bsdnetd_log_level;
void	bsdnetd_log(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* bsdnetd_burst.c */
int	bsdnetd_burst_init(struct bsdnetd *d);
void	bsdnetd_burst_fini(struct bsdnetd *d);
/* The buffer of the next slot for a frame of vif (BSDNETD_BURST_FRAME
 * bytes, headroom before it); runs the pending burst first if it is full
 * or of another vif.  bsdnetd_burst_put() then adds the frame. */
uint8_t	*bsdnetd_burst_next(struct bsdnetd *d, uint32_t vif);
void	bsdnetd_burst_put(struct bsdnetd *d, uint32_t len);
/* Run the pending burst through the core. */
void	bsdnetd_burst_flush(struct bsdnetd *d);
/* One frame to the core on its own (BSDNET_HEADROOM bytes before it),
 * after the pending burst, so the frames of a vif keep their order. */
void	bsdnetd_input_one(struct bsdnetd *d, uint32_t vif, uint8_t *frame,
	    uint32_t len);

/* bsdnetd_region.c */
int	bsdnetd_region_open(struct bsdnetd *d);
void	bsdnetd_region_close(struct bsdnetd *d);
void	bsdnetd_region_publish_pid(struct bsdnetd *d);

/* bsdnetd_vif.c */
int	bsdnetd_vif_init(struct bsdnetd *d);
void	bsdnetd_vif_scan(struct bsdnetd *d);
/* The port of vif reported error err (0 if unknown): detach it if its
 * interface went, keep it if it is only down. */
void	bsdnetd_vif_error(struct bsdnetd *d, uint32_t vif, int err);
void	bsdnetd_vif_detach_all(struct bsdnetd *d);
void	bsdnetd_vif_fini(struct bsdnetd *d);
/* The port of vif, or NULL when it is not attached. */
static inline struct bsdnetd_port *
bsdnetd_vif_port(const struct bsdnetd *d, uint32_t vif)
{

	return (vif < d->d_nvifs ? d->d_vifs[vif].v_port : NULL);
}

/* bsdnetd_trap.c */
int	bsdnetd_trap_open(struct bsdnetd *d);
void	bsdnetd_trap_close(struct bsdnetd *d);
void	bsdnetd_trap_ctl_input(struct bsdnetd *d);
/* Every tick: lets the next burst of bad messages be logged. */
void	bsdnetd_trap_tick(struct bsdnetd *d);

/* bsdnetd_main.c: what a home's loop calls */
/* Every BSDNETD_TICK_MS: the core's tick, the trap channel's, the vif
 * scan. */
void	bsdnetd_tick(struct bsdnetd *d);
/* SIGHUP rescans the vifs; SIGTERM and SIGINT stop the loop. */
void	bsdnetd_signal(struct bsdnetd *d, int sig);

/* ---- what each home provides ---- */

/* Its name (messages, the log prefix) and its part of the manual. */
struct bsdnetd_about {
	const char	*a_name;	/* e.g. "bsdnet-datapath" */
	const char	*a_summary;	/* the NAME line, after the dash */
	const char	*a_synopsis;	/* its own options, for SYNOPSIS */
	const char	*a_description;	/* how it reaches frames */
	const char	*a_options;	/* its own options, described */
};
extern const struct bsdnetd_about bsdnetd_about;
/* Its state, reached through d_home. */
extern struct bsdnetd_home bsdnetd_home;
/* Its own long options (a zeroed entry last), with values from
 * BSDNETD_OPT_HOME up; bsdnetd_home_option() takes each one seen (arg is
 * NULL for a flag): 0, or -1 after saying why on stderr. */
enum { BSDNETD_OPT_HOME = 512 };
extern const struct option bsdnetd_home_options[];
int	bsdnetd_home_option(struct bsdnetd_home *h, int opt,
	    const char *arg);
/* Set up before the region is opened; undone (and its counters logged)
 * at shutdown.  0 or -1. */
int	bsdnetd_home_init(struct bsdnetd *d);
void	bsdnetd_home_fini(struct bsdnetd *d);

/*
 * Ports.  open: take interface ifindex for vif (a vif entry of the given
 * type) and put it in the event loop; NULL with errno set on failure.
 * update: the vif entry of an open port changed (the MTU, the fabric
 * address).  close: take it out of the loop and let the interface go.
 * tx: send a frame on vif; false if it could not (the home counts it).
 */
struct bsdnetd_port *bsdnetd_port_open(struct bsdnetd *d, uint32_t vif,
	    uint16_t type, uint32_t ifindex);
void	bsdnetd_port_update(struct bsdnetd *d, struct bsdnetd_port *p,
	    const struct bsdnet_vif *v);
void	bsdnetd_port_close(struct bsdnetd *d, struct bsdnetd_port *p);
bool	bsdnetd_port_tx(struct bsdnetd *d, uint32_t vif,
	    const uint8_t *frame, uint32_t len);

/* The event loop: ports, the control socket, the tick, the signals. */
int	bsdnetd_loop_init(struct bsdnetd *d);
int	bsdnetd_loop_run(struct bsdnetd *d);
void	bsdnetd_loop_fini(struct bsdnetd *d);

#endif /* !_BSDNETD_H_ */
