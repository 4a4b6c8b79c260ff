/*-
 * Flow table internals the datapath uses beyond bsdnet_flowtab.h: lookups
 * with a hash computed once per packet (the ECMP choice reuses it).
 */
#ifndef _BSDNET_FLOWTAB_PRIV_H_
#define _BSDNET_FLOWTAB_PRIV_H_

#include "bsdnet_flowtab.h"

/* Generation and state of an fe_state word. */
#define BSDNET_FLOW_GEN_MASK	0x00ffffffu
#define BSDNET_FLOW_GEN(w)	(((w) >> BSDNET_FLOW_GEN_SHIFT) & BSDNET_FLOW_GEN_MASK)
#define BSDNET_FLOW_STATE(w)	((w) & BSDNET_FLOW_STATE_MASK)
#define BSDNET_FLOW_WORD(g, s)	((((g) & BSDNET_FLOW_GEN_MASK) << \
				    BSDNET_FLOW_GEN_SHIFT) | (uint32_t)(s))

/*
 * Where a key of hash h may live: its three buckets (two main, one
 * overflow) and its tag.  A pipeline computes it once per packet and
 * hands it to each step below.
 */
struct bsdnet_flow_cand {
	uint32_t	 fc_bucket[3];
	uint16_t	 fc_tag;
	uint16_t	 fc_seen;	/* ways the tag step matched */
};
void	 bsdnet_flow_cand(const struct bsdnet_flowtab *ft, uint64_t h,
	    struct bsdnet_flow_cand *fc);
/* bsdnet_flow_lookup() with the candidates already known. */
uint32_t bsdnet_flow_lookup_c(const struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_key *k, const struct bsdnet_flow_cand *fc,
	    uint32_t *statep);
/*
 * A lookup in two prefetch steps, for a burst: prefetch() starts loading
 * the three buckets' tags; prefetch_ways(), once they have arrived, starts
 * loading the entry whose tag matches and keeps the matching ways in
 * fc_seen for bsdnet_flow_lookup_c().
 */
void	 bsdnet_flow_prefetch(const struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_cand *fc);
void	 bsdnet_flow_prefetch_ways(const struct bsdnet_flowtab *ft,
	    struct bsdnet_flow_cand *fc);
/*
 * For a packet on its own, with nothing to overlap its misses with: the
 * tags and every entry of the two main buckets at once, so the lookup
 * waits for one memory round trip rather than tags, then entry.
 */
void	 bsdnet_flow_prefetch_all(const struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_cand *fc);
/* bsdnet_flowtab_bind() from values the caller validated, not from a
 * header the agent can rewrite meanwhile. */
void	 bsdnet_flowtab_bind_at(struct bsdnet_flowtab *ft, void *flows,
	    void *tags, uint32_t nbuckets, uint32_t novfbuckets,
	    const uint64_t key[2]);
/* bsdnet_flow_claim() with h already known. */
uint32_t bsdnet_flow_claim_h(struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_key *k, uint64_t h, uint16_t src_vif,
	    uint32_t now_ms, uint32_t *genp);

#endif /* !_BSDNET_FLOWTAB_PRIV_H_ */
