/*-
 * The forwarding core's interface to its homes (bsdnet.ko, the userspace
 * daemons).  The core includes no OS header, never allocates on the
 * packet path, never sleeps and never recurses; what it needs from the OS
 * is the bsdnet_os_*() functions at the end, which each home defines once.
 * One struct bsdnet_dp per thread or CPU that forwards; all of them may
 * share one region.
 */
#ifndef _BSDNET_CORE_H_
#define _BSDNET_CORE_H_

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "bsdnet_abi.h"
#include "bsdnet_layout.h"
#include "bsdnet_flowtab.h"
#include "bsdnet_ctx.h"

/* Bytes the core may need contiguous at p_data (all headers it parses). */
#define BSDNET_PULLUP		192
/* Headroom the home must leave before p_data for encapsulation. */
#define BSDNET_HEADROOM		64
/* Largest frame the core will queue on a HOLD entry. */
#define BSDNET_HOLD_SLOT_BYTES	2048

/*
 * A packet as the core sees it.  The home fills it; the core may move
 * p_data back into the headroom (encapsulation) or forward (decapsulation)
 * and rewrite bytes in place.
 */
struct bsdnet_pkt {
	uint8_t		*p_data;	/* first byte of the Ethernet frame */
	uint32_t	 p_len;		/* bytes contiguous at p_data */
	uint32_t	 p_totlen;	/* whole frame; p_len >= min(p_totlen, BSDNET_PULLUP) */
	uint32_t	 p_headroom;	/* writable bytes before p_data */
	uint32_t	 p_pad;
	void		*p_os;		/* the home's handle (mbuf, ring slot) */
};

/* Hold queue slot: a packet parked on a HOLD flow entry (core-private). */
struct bsdnet_hold_slot {
	uint32_t	 hs_flow;	/* flow index, BSDNET_FLOW_NONE if free */
	uint32_t	 hs_gen;
	uint32_t	 hs_vif;
	uint32_t	 hs_len;
	uint64_t	 hs_time_ms;
	uint8_t		 hs_data[BSDNET_HOLD_SLOT_BYTES];
};

/* Counters summed per entry point call and added to the shared ones
 * before it returns; per-vif sums in a few slots by vif index, a slot
 * taken by another vif flushed first.  Core-private. */
#define BSDNET_ACC_VIFS		4	/* power of two */
struct bsdnet_vif_acc {
	uint32_t		 va_vif;
	uint32_t		 va_pad;
	uint64_t		 va_rx_pkts, va_rx_bytes, va_tx_pkts, va_tx_bytes;
};
struct bsdnet_dp_acc {
	uint64_t		 a_rx_pkts, a_tx_pkts, a_flow_hits;
	uint64_t		 a_encaps, a_decaps;
	struct bsdnet_vif_acc	 a_vif[BSDNET_ACC_VIFS];
};

/* Frames bsdnet_dp_input_burst() takes through each pass together. */
#define BSDNET_BURST_MAX	32

/* A token bucket (traps, ICMP errors): tokens in thousandths, so one
 * millisecond at rate r/s earns exactly r.  Core-private. */
struct bsdnet_tbucket {
	uint64_t		 tb_last_ms;
	uint32_t		 tb_tokens;
	uint32_t		 tb_pad;
};

/* Per-thread datapath context.  Fields are core-private except dp_os. */
struct bsdnet_dp {
	void			*dp_os;		/* the home's context, for bsdnet_os_*() */
	uint8_t			*dp_base;	/* the region, validated */
	uint64_t		 dp_size;
	const struct bsdnet_region_hdr *dp_hdr;
	uint64_t		 dp_instance;	/* rh_instance when validated */
	/* geometry copied out of the header once validated */
	uint32_t		 dp_nvifs, dp_nnexthops, dp_nlabels, dp_nvrfs;
	uint32_t		 dp_nrtbuckets, dp_nflowbuckets, dp_novfbuckets;
	uint32_t		 dp_maxhold;
	uint64_t		 dp_hash_key[2];
	/* rate limits: traps to the agent, ICMP errors to VMs */
	struct bsdnet_tbucket	 dp_trap_tb;
	struct bsdnet_tbucket	 dp_icmp_tb;
	/* hold queue: storage given by the home at init */
	struct bsdnet_hold_slot	*dp_hold;
	uint32_t		 dp_nhold;
	/* the tables, located once at init */
	struct bsdnet_flowtab	 dp_ft;
	struct bsdnet_vif	*dp_vifs;
	struct bsdnet_vif_stats	*dp_vstats;
	struct bsdnet_nh	*dp_nhs;
	struct bsdnet_label	*dp_labels;
	struct bsdnet_vrf	*dp_vrfs;
	struct bsdnet_rtbucket	*dp_rtb;
	struct bsdnet_stats	*dp_stats;
	const struct bsdnet_ep_bucket *dp_eps;	/* BSDNET_EP_BUCKETS */
	uint32_t		 dp_expire_cursor; /* tick's place in the flow table */
	uint32_t		 dp_replaying;	/* inside bsdnet_dp_release() */
	uint32_t		 dp_now_s;	/* seconds clock, set by tick */
	uint32_t		 dp_sole;	/* bsdnet_dp_set_sole() */
	struct bsdnet_dp_acc	 dp_acc;	/* counters not yet flushed */
	/* bsdnet_dp_input_burst(): its frames between passes (here rather
	 * than on the stack, which is small in a kernel) */
	struct bsdnet_ctx	 dp_burst[BSDNET_BURST_MAX];
	int			 dp_burst_r[BSDNET_BURST_MAX];
};


/*
 * Validate a region (magic, version, geometry against size, offsets equal
 * to bsdnet_layout()'s) and bind dp to it.  hold/nhold: storage for the
 * hold queue (may be NULL/0: then nothing is queued, only trapped).
 */
int	bsdnet_dp_init(struct bsdnet_dp *dp, void *os, void *base,
	    uint64_t size, struct bsdnet_hold_slot *hold, uint32_t nhold);

/* The geometry bsdnet_dp_init() validated. */
void	bsdnet_dp_geometry(const struct bsdnet_dp *dp,
	    struct bsdnet_geometry *g);

/*
 * The home promises (sole true) that dp is the only forwarder on its
 * region, as a userspace daemon's one thread is: flow counts then take
 * plain stores, not atomic adds.  Off after bsdnet_dp_init().  Broken, the
 * promise costs lost counts, nothing else.
 */
void	bsdnet_dp_set_sole(struct bsdnet_dp *dp, bool sole);

/*
 * Process one frame received on vif `vif`.  Every outcome goes through a
 * bsdnet_os_*() call (tx, trap) or a drop counter; on return the home
 * frees the packet unless bsdnet_os_tx() took it.
 */
void	bsdnet_dp_input(struct bsdnet_dp *dp, uint32_t vif,
	    struct bsdnet_pkt *pkt);
/*
 * Process n frames received on one vif, with the outcome of
 * bsdnet_dp_input() on each in order, faster: their cache misses
 * overlap.  Any n; the homes pass up to BSDNET_BURST_MAX.
 */
void	bsdnet_dp_input_burst(struct bsdnet_dp *dp, uint32_t vif,
	    struct bsdnet_pkt *pkts, uint32_t n);

/*
 * The agent decided flow `flow` (BSDNET_CTL_RELEASE): replay the packets
 * queued on it through the pipeline.  Replayed frames live in the hold
 * storage: bsdnet_os_tx() sees them with p_os == NULL and must copy the
 * frame before returning (it is reused at once).
 */
void	bsdnet_dp_release(struct bsdnet_dp *dp, uint32_t flow, uint32_t gen);
/*
 * Housekeeping, called by the home about every 100 ms: expire HOLD
 * entries and queued packets older than rh_hold_timeout_ms, refill the trap
 * bucket, bump rh_dp_heartbeat.
 */
void	bsdnet_dp_tick(struct bsdnet_dp *dp);

/*
 * The agent's control messages (bsdnet_ctl.c).  bsdnet_ctl_check()
 * checks one of len bytes, header included, whose header is *ch (not
 * read when len is shorter than a header) against a vif table of nvifs
 * entries: BSDNET_CTL_OK or an enum bsdnet_ctl_err.  A well-formed XMIT
 * is sent only if the vif is attached and bsdnet_ctl_xmit_fits() the
 * interface's MTU (room for an Ethernet header and one 802.1Q tag).
 */
enum bsdnet_ctl_err {
	BSDNET_CTL_OK = 0,
	BSDNET_CTL_E_SHORT,		/* shorter than the header */
	BSDNET_CTL_E_LONG,		/* longer than header + XMIT_MAX */
	BSDNET_CTL_E_TYPE,		/* unknown ch_type */
	BSDNET_CTL_E_PAYLOAD,		/* RELEASE or VIF_SYNC with a payload */
	BSDNET_CTL_E_LEN,		/* XMIT: ch_len is not the payload's */
	BSDNET_CTL_E_FRAME,		/* XMIT: shorter than Ethernet's header */
	BSDNET_CTL_E_VIF,		/* XMIT: ch_vif outside the table */
};
/* Largest XMIT frame: a jumbo frame (9018 bytes) with an 802.1Q tag. */
enum { BSDNET_CTL_XMIT_MAX = 9022 };
int	bsdnet_ctl_check(const struct bsdnet_ctl_hdr *ch, size_t len,
	    uint32_t nvifs);
const char *bsdnet_ctl_strerror(int error);
bool	bsdnet_ctl_xmit_fits(uint32_t len, uint32_t mtu);

/* ---- what each home provides ---- */

/* Send pkt on vif.  Returns true if the home took the packet. */
bool	bsdnet_os_tx(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt);
/* Send hdr followed by the frame to the agent.  Returns false if the
 * channel is absent or full (the core counts BSDNET_DROP_TRAP_FAILED). */
bool	bsdnet_os_trap(struct bsdnet_dp *dp, const struct bsdnet_trap_hdr *hdr,
	    const struct bsdnet_pkt *pkt);
/* Copy len bytes at offset off of the whole frame into dst (for bytes
 * beyond p_len; a home with whole frames contiguous just copies). */
void	bsdnet_os_copydata(const struct bsdnet_pkt *pkt, uint32_t off,
	    uint32_t len, void *dst);
/*
 * The frame lacks the headroom for `len` bytes of new headers that
 * replace its first `drop` bytes (encapsulation).  A home whose buffers
 * can be chained (the kernel's mbufs) prepends a buffer instead of
 * copying the frame: it returns `len` writable bytes that precede the
 * byte at p_data + drop in the frame it will send, and sets p_data to
 * them, p_len to len, p_totlen and p_headroom to match.  NULL: no way
 * (the core drops the frame as BSDNET_DROP_NO_HEADROOM).
 */
uint8_t	*bsdnet_os_prepend(struct bsdnet_dp *dp, struct bsdnet_pkt *pkt,
	    uint32_t drop, uint32_t len);
/* A monotonic millisecond clock. */
uint64_t bsdnet_os_now_ms(void);
/* Log a message; level 0 error, 1 warning, 2 info, 3 debug.  __printf__:
 * kern.mk's -D__printf__=__freebsd_kprintf__ checks it against printf(9). */
void	bsdnet_os_log(int level, const char *fmt, ...)
	    __attribute__((__format__(__printf__, 2, 3)));

#endif /* !_BSDNET_CORE_H_ */
