/*-
 * Agent-side helpers compiled into bsdnet.shm._abi.
 *
 * Python has no memory model, so every shared-memory access whose ordering
 * matters to the datapath goes through one of these functions: the seqlock
 * writers for vifs and nexthops, release stores of route and label words,
 * and the atomic counters the datapath also touches.  The flow table
 * functions come from kmod/core/bsdnet_flowtab.c itself (its header is
 * part of the cdef), so the agent hashes and CASes exactly as the
 * datapath does.
 *
 * This file is read twice: by the C compiler, and by cffi's cdef after
 * preprocessing with -DBSDNET_ABI_CFFI.
 */
#ifndef _BSDNET_ABI_HELPERS_H_
#define _BSDNET_ABI_HELPERS_H_

#ifndef BSDNET_ABI_CFFI
#include <stdint.h>
#include <stdbool.h>
#endif
#include "bsdnet_abi.h"
#include "bsdnet_flowtab.h"

/* 32-bit words: route entries, labels, counters.  Pair: the datapath's
 * acquire loads (release stores here) and relaxed atomic adds. */
uint32_t bsdnet_agent_load_acq32(const uint32_t *p);
void	 bsdnet_agent_store_rel32(uint32_t *p, uint32_t v);
uint32_t bsdnet_agent_add32(uint32_t *p, uint32_t v);
uint32_t bsdnet_agent_sub32(uint32_t *p, uint32_t v);
/* 0 if *p was not expected (*p unchanged), 1 if it now holds v. */
int	 bsdnet_agent_cas32(uint32_t *p, uint32_t expected, uint32_t v);

/*
 * Seqlock writers, with the datapath's seqlock (kmod/core/
 * bsdnet_seqlock.h): the body of src (everything after the sequence
 * word) is copied; src's sequence is ignored.  The agent is the only
 * writer, so no CAS is needed.
 */
void	 bsdnet_agent_vif_write(struct bsdnet_vif *dst,
	    const struct bsdnet_vif *src);
void	 bsdnet_agent_nh_write(struct bsdnet_nh *dst,
	    const struct bsdnet_nh *src);
/* Seqlock readers (for vrctl and adoption), the datapath's reader: a
 * consistent copy into dst.  Return 0, or -1 when no clean copy was had
 * in BSDNET_SEQ_RETRIES tries (a writer died mid-write). */
int	 bsdnet_agent_vif_read(const struct bsdnet_vif *src,
	    struct bsdnet_vif *dst);
int	 bsdnet_agent_nh_read(const struct bsdnet_nh *src,
	    struct bsdnet_nh *dst);

/*
 * The known tunnel endpoints (kmod/core/bsdnet_endpoint.h, the
 * datapath's own lookup and writers): tab is the region's
 * BSDNET_EP_BUCKETS buckets.  add: 0, or -1 when there is no room;
 * del: 1 if (addr, vrf) was there; known: 1 if it is.
 */
int	 bsdnet_agent_ep_add(struct bsdnet_ep_bucket *tab, uint32_t addr,
	    uint16_t vrf);
int	 bsdnet_agent_ep_del(struct bsdnet_ep_bucket *tab, uint32_t addr,
	    uint16_t vrf);
int	 bsdnet_agent_ep_known(const struct bsdnet_ep_bucket *tab,
	    uint32_t addr, uint16_t vrf);

/*
 * Trap channel batches (abi_trapio.c).  recv: up to n datagrams into
 * consecutive slots of `slot` bytes, lengths in lens[] (slot + 1 marks a
 * datagram cut short); returns the count, 0 if none (or interrupted by a
 * signal), or -errno.  wait: block up to the socket's receive timeout for
 * the first datagram; otherwise do not block at all.
 * release: one BSDNET_CTL_RELEASE per (flows[i], gens[i]) to the unix
 * datagram socket at path; returns how many went, or -errno.
 */
int	 bsdnet_agent_recv_batch(int fd, uint8_t *buf, uint32_t slot,
	    uint32_t n, uint32_t *lens, int wait);
int	 bsdnet_agent_release_batch(int fd, const char *path,
	    const uint32_t *flows, const uint32_t *gens, uint32_t n);

/*
 * The agent's half of flow setup, one call per trapped flow so a batch
 * costs one Python->C crossing per flow: check that forward entry idx is
 * HOLD(gen) with a valid key, claim the reverse key (swapped addresses and
 * ports, same VRF) unless it already exists, publish it ACTIVE with action
 * and fe_rflow = idx, then publish idx with fe_rflow = the reverse, and
 * take one off st_holds for the HOLD published.
 * Returns 0, or a negative bsdnet_agent_flow_err.
 */
enum bsdnet_agent_flow_err {
	BSDNET_AGENT_FLOW_OK		= 0,
	BSDNET_AGENT_FLOW_BAD_INDEX	= -1,	/* idx out of range */
	BSDNET_AGENT_FLOW_STALE		= -2,	/* not HOLD(gen) any more */
	BSDNET_AGENT_FLOW_NO_REVERSE	= -3,	/* no room for the reverse key */
};
int	 bsdnet_agent_flow_setup(struct bsdnet_flowtab *ft,
	    const struct bsdnet_region_hdr *hdr, uint8_t *base, uint32_t idx,
	    uint32_t gen, uint8_t action, uint16_t drop_reason, uint16_t rvif,
	    uint32_t now_ms, uint32_t *rflowp);
/*
 * Aging, mark and sweep over the whole table: an entry is busy when its
 * state word, packet count or fe_last_used moved since the previous call;
 * ACTIVE entries not busy for their timeout (idle[], by enum
 * bsdnet_agent_age) in seconds of the agent's clock (now_s)
 * are freed, a flow and its reverse together, and uncharged.
 * sst/spkts/stime are the caller's shadow arrays of ft_nentries elements,
 * zeroed before the first call.  Returns the number of entries freed.
 */
/*
 * n flows at once: results[i] gets bsdnet_agent_flow_setup()'s return and
 * rflows[i] the reverse index.  Returns how many succeeded.
 */
uint32_t bsdnet_agent_flow_setup_batch(struct bsdnet_flowtab *ft,
	    const struct bsdnet_region_hdr *hdr, uint8_t *base,
	    const uint32_t *idx, const uint32_t *gen,
	    const uint8_t *action, const uint16_t *drop_reason,
	    const uint16_t *rvif, uint32_t n, uint32_t now_ms,
	    int32_t *results, uint32_t *rflows);
/*
 * The whole default-allow path for a batch of trap datagrams, in C: n
 * datagrams in slots of `slot` bytes at buf with lengths lens[].  Each
 * well-formed FLOW_MISS trap is set up FORWARD (reverse flow's vif from a
 * route lookup of the forward source in the key's VRF: the ENCAP
 * nexthop's vif, else fabric_vif) and its (flow, gen) appended to
 * rel_flows/rel_gens.  Slots of other trap reasons are listed in other[]
 * for the caller.  counts[]: see enum bsdnet_agent_batch_count.
 * Returns the number of flows to release.
 */
enum bsdnet_agent_batch_count {
	BSDNET_AGENT_CNT_BAD		= 0,	/* malformed datagram or index */
	BSDNET_AGENT_CNT_STALE		= 1,	/* entry not HOLD(gen) any more */
	BSDNET_AGENT_CNT_NO_REVERSE	= 2,	/* no room for the reverse */
	BSDNET_AGENT_CNT_OTHER		= 3,	/* entries used in other[] */
	BSDNET_AGENT_CNT_MAX		= 4,
};
uint32_t bsdnet_agent_traps_allow(struct bsdnet_flowtab *ft,
	    const struct bsdnet_region_hdr *hdr, uint8_t *base,
	    const uint8_t *buf, uint32_t slot, const uint32_t *lens,
	    uint32_t n, uint16_t fabric_vif, uint32_t now_ms,
	    uint32_t *rel_flows, uint32_t *rel_gens, uint32_t *other,
	    uint32_t *counts);
/* Longest-prefix match in VRF vrf, as the datapath does it, every index
 * checked: the nexthop index, or 0 for no route. */
uint32_t bsdnet_agent_rt_lookup(const struct bsdnet_region_hdr *hdr,
	    const uint8_t *base, uint32_t vrf, uint32_t addr);
/* Idle timeouts (seconds) by kind of flow: the idle[] of flow_age. */
enum bsdnet_agent_age {
	BSDNET_AGENT_AGE_TCP		= 0,
	BSDNET_AGENT_AGE_TCP_CLOSED	= 1,	/* RST seen, or FIN both ways */
	BSDNET_AGENT_AGE_UDP		= 2,
	BSDNET_AGENT_AGE_ICMP		= 3,
	BSDNET_AGENT_AGE_OTHER		= 4,
	BSDNET_AGENT_AGE_DROP		= 5,	/* action DROP, any protocol */
	BSDNET_AGENT_AGE_MAX		= 6,
};
uint32_t bsdnet_agent_flow_age(struct bsdnet_flowtab *ft,
	    const struct bsdnet_region_hdr *hdr, uint8_t *base, uint32_t *sst,
	    uint64_t *spkts, uint32_t *stime, uint32_t now_s,
	    const uint32_t *idle);
/* Up to max ACTIVE forward (not reverse) entries: index and generation.
 * Returns how many. */
uint32_t bsdnet_agent_flow_list(const struct bsdnet_flowtab *ft,
	    uint32_t *idx, uint32_t *gen, uint32_t max);
/* Re-decide a live flow: set the action (and drop reason) of entry idx if
 * it is still ACTIVE(gen), and of its reverse.  0 or a negative
 * bsdnet_agent_flow_err. */
int	 bsdnet_agent_flow_set_action(struct bsdnet_flowtab *ft,
	    uint32_t idx, uint32_t gen, uint8_t action, uint16_t reason);
/* Free entry idx if still ACTIVE(gen), and its reverse, uncharging the
 * quotas: its next packet is trapped and decided afresh. */
int	 bsdnet_agent_flow_evict_pair(struct bsdnet_flowtab *ft,
	    const struct bsdnet_region_hdr *hdr, uint8_t *base, uint32_t idx,
	    uint32_t gen);

#endif /* !_BSDNET_ABI_HELPERS_H_ */
