/*-
 * The flow table, one code for both writers: compiled into every datapath
 * home and, through cffi, into the agent, so both sides hash and
 * compare-and-swap alike.  OS-free.  The entries' state machine is
 * bsdnet_abi.h's; the table's design is kmod/DESIGN.md's.
 */
#ifndef _BSDNET_FLOWTAB_H_
#define _BSDNET_FLOWTAB_H_

#ifndef BSDNET_ABI_CFFI		/* cffi reads this header preprocessed */
#include <stdint.h>
#include <stdbool.h>
#endif
#include "bsdnet_abi.h"

struct bsdnet_flowtab {
	struct bsdnet_flow	*ft_flows;	/* main area, then overflow */
	struct bsdnet_flow_tags	*ft_tags;	/* one per bucket, same order */
	uint32_t		 ft_nbuckets;	/* main buckets, power of two */
	uint32_t		 ft_novfbuckets;
	uint32_t		 ft_nentries;	/* (nbuckets + novf) * ways */
	uint32_t		 ft_pad;
	uint64_t		 ft_key[2];
};

/* Bind ft to the flow area of a region already validated by the caller
 * (bsdnet_dp_init, or the agent's open). */
void	 bsdnet_flowtab_bind(struct bsdnet_flowtab *ft,
	    const struct bsdnet_region_hdr *hdr, void *base);

/* SipHash-1-3 of the key under ft_key: 64 bits. */
uint64_t bsdnet_flow_hash(const struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_key *k);

/*
 * Find the entry holding key k in state HOLD or ACTIVE.  Returns its index
 * or BSDNET_FLOW_NONE; *statep (may be NULL) gets the fe_state word seen.
 */
uint32_t bsdnet_flow_lookup(const struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_key *k, uint32_t *statep);

/*
 * Claim a FREE entry for k (FREE(g) -> HOLD(g) by CAS), write the key,
 * fe_src_vif and fe_hold_time; not the counts, which the datapath resets
 * when it first counts generation g (fe_count_gen).  Returns the index,
 * with the generation in *genp, or BSDNET_FLOW_NONE if all candidate
 * slots are taken (the table is full for this key).
 */
uint32_t bsdnet_flow_claim(struct bsdnet_flowtab *ft,
	    const struct bsdnet_flow_key *k, uint16_t src_vif,
	    uint32_t now_ms, uint32_t *genp);

/*
 * HOLD(gen) -> ACTIVE(gen) after writing action, drop reason and reverse
 * index.  False if the entry is not HOLD(gen) any more (expired, reused).
 */
bool	 bsdnet_flow_publish(struct bsdnet_flowtab *ft, uint32_t idx,
	    uint32_t gen, uint8_t action, uint16_t drop_reason, uint32_t rflow);

/*
 * HOLD(gen) or ACTIVE(gen) -> FREE(gen + 1).  False if the entry is not in
 * that state with that generation.  *was (may be NULL) gets the state left.
 */
bool	 bsdnet_flow_free(struct bsdnet_flowtab *ft, uint32_t idx,
	    uint32_t gen, uint32_t *was);

#ifndef BSDNET_ABI_CFFI
/* Index checks for values read from shared memory or the trap channel. */
static inline bool
bsdnet_flow_index_ok(const struct bsdnet_flowtab *ft, uint32_t idx)
{
	return (idx < ft->ft_nentries);
}
#endif

#endif /* !_BSDNET_FLOWTAB_H_ */
