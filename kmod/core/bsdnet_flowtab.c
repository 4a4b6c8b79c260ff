/*-
 * The flow table: SipHash-1-3 of the key, two-choice 4-way main buckets
 * and one hashed overflow bucket, each bucket with a line of 16-bit tags.
 * A lookup reads the tags of three buckets, then (almost always) one
 * entry; it never scans.  Shared verbatim by the datapath and the agent
 * (cffi).  Shape, hash, tags, memory orders: kmod/DESIGN.md.
 */
#include "bsdnet_abi.h"
#include "bsdnet_port.h"
#include "bsdnet_flowtab.h"
#include "bsdnet_flowtab_priv.h"
#include "bsdnet_siphash.h"

void
bsdnet_flowtab_bind(struct bsdnet_flowtab *ft,
    const struct bsdnet_region_hdr *hdr, void *base)
{

	bsdnet_flowtab_bind_at(ft, (uint8_t *)base + hdr->rh_off_flows,
	    (uint8_t *)base + hdr->rh_off_flowtags, hdr->rh_nflowbuckets,
	    hdr->rh_novfbuckets, hdr->rh_hash_key);
}

void
bsdnet_flowtab_bind_at(struct bsdnet_flowtab *ft, void *flows, void *tags,
    uint32_t nbuckets, uint32_t novfbuckets, const uint64_t key[2])
{

	ft->ft_flows = flows;
	ft->ft_tags = tags;
	ft->ft_nbuckets = nbuckets;
	ft->ft_novfbuckets = novfbuckets;
	ft->ft_nentries = (nbuckets + novfbuckets) * (uint32_t)BSDNET_FLOW_WAYS;
	ft->ft_pad = 0;
	ft->ft_key[0] = key[0];
	ft->ft_key[1] = key[1];
}

/*
 * The key as the 15 bytes hashed: VRF (2), protocol, source (4),
 * destination (4), source port (2), destination port (2), each
 * little-endian; fk_pad is left out (it is always zero).
 */
uint64_t
bsdnet_flow_hash(const struct bsdnet_flowtab *ft,
    const struct bsdnet_flow_key *k)
{
	uint64_t m0, m1;

	m0 = (uint64_t)k->fk_vrf | (uint64_t)k->fk_proto << 16 |
	    (uint64_t)k->fk_src << 24 | (uint64_t)(k->fk_dst & 0xff) << 56;
	m1 = (uint64_t)(k->fk_dst >> 8) | (uint64_t)k->fk_sport << 24 |
	    (uint64_t)k->fk_dport << 40;
	return (bsdnet_siphash15(ft->ft_key[0], ft->ft_key[1], m0, m1));
}

/* The tag of hash h: its top 16 bits after a multiply, which mixes in
 * every bit, so the tag does not repeat the bits that chose the bucket. */
static inline uint16_t
flow_tag(uint64_t h)
{

	return ((uint16_t)((h * 0x9e3779b97f4a7c15ULL) >> 48));
}

/* The three candidate buckets of hash h, as bucket numbers. */
static inline void
flow_buckets(const struct bsdnet_flowtab *ft, uint64_t h, uint32_t b[3])
{
	uint32_t mask = ft->ft_nbuckets - 1;
	uint64_t x;

	b[0] = (uint32_t)h & mask;
	b[1] = (uint32_t)(h >> 32) & mask;
	if (b[1] == b[0])
		b[1] = b[0] ^ (1u & mask);
	/* Third hash: a splitmix64 finaliser of h, so it is not a function
	 * of b1/b2 alone; multiply-shift maps it onto a non power of two. */
	x = h ^ (h >> 31);
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	b[2] = ft->ft_nbuckets +
	    (uint32_t)(((x >> 32) * (uint64_t)ft->ft_novfbuckets) >> 32);
}

/* A bucket's four tags read as one word (it overlays ftg_tag[]). */
typedef uint64_t flow_tagword __attribute__((__may_alias__));

#define TAG_LANES	0x0001000100010001ULL
#define TAG_LOW15	0x7fff7fff7fff7fffULL

/*
 * Ways of a bucket whose tag is `tag`, as a bit mask, all four compared at
 * once and without a branch (which way matches is as random as the hash).
 * x has a zero 16-bit lane where a way's tag equals tag; z gets the top
 * bit of exactly those lanes (no borrow crosses lanes), and the multiply
 * gathers bits 15, 31, 47 and 63 into bits 48 to 51 (the other partial
 * products land below bit 48 and never overlap, so nothing carries).
 */
static inline uint32_t
flow_tag_match(const struct bsdnet_flowtab *ft, uint32_t bucket, uint16_t tag)
{
	uint64_t x, z;
	uint32_t m;

	_Static_assert(BSDNET_FLOW_WAYS == 4, "four tags per bucket");
	_Static_assert(sizeof(struct bsdnet_flow_tags) == sizeof(uint64_t),
	    "a bucket's tags are one word");
	x = bsdnet_load_rlx((const flow_tagword *)(const void *)
	    &ft->ft_tags[bucket]) ^ (uint64_t)tag * TAG_LANES;
	z = ~(((x & TAG_LOW15) + TAG_LOW15) | x | TAG_LOW15);
	m = (uint32_t)(((z >> 15) * 0x0001000200040008ULL) >> 48) & 0xf;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* ftg_tag[0] is the top lane: reverse the four bits. */
	m = (m & 1) << 3 | (m & 2) << 1 | (m & 4) >> 1 | (m & 8) >> 3;
#endif
	return (m);
}

void
bsdnet_flow_cand(const struct bsdnet_flowtab *ft, uint64_t h,
    struct bsdnet_flow_cand *fc)
{

	flow_buckets(ft, h, fc->fc_bucket);
	fc->fc_tag = flow_tag(h);
	fc->fc_seen = 0;
}

/* Candidate entries: bit BSDNET_FLOW_WAYS * j + w is way w of bucket j. */
static inline uint32_t
flow_match(const struct bsdnet_flowtab *ft, const struct bsdnet_flow_cand *fc)
{

	return (flow_tag_match(ft, fc->fc_bucket[0], fc->fc_tag) |
	    flow_tag_match(ft, fc->fc_bucket[1], fc->fc_tag) <<
	    BSDNET_FLOW_WAYS |
	    flow_tag_match(ft, fc->fc_bucket[2], fc->fc_tag) <<
	    2 * BSDNET_FLOW_WAYS);
}

/* Entry index of candidate bit i of flow_match(). */
static inline uint32_t
flow_match_index(const struct bsdnet_flow_cand *fc, uint32_t i)
{

	return (fc->fc_bucket[i / (uint32_t)BSDNET_FLOW_WAYS] *
	    (uint32_t)BSDNET_FLOW_WAYS + i % (uint32_t)BSDNET_FLOW_WAYS);
}

/* The overflow bucket's tags too: near 90% load many flows live there,
 * and an unprefetched miss costs more than the line. */
void
bsdnet_flow_prefetch(const struct bsdnet_flowtab *ft,
    const struct bsdnet_flow_cand *fc)
{

	__builtin_prefetch(&ft->ft_tags[fc->fc_bucket[0]]);
	__builtin_prefetch(&ft->ft_tags[fc->fc_bucket[1]]);
	__builtin_prefetch(&ft->ft_tags[fc->fc_bucket[2]]);
	/* A function of prefetches only looks side-effect free to GCC's
	 * interprocedural analysis, which then drops calls to it (seen with
	 * the core built as one unit): the empty volatile asm forbids it. */
	__asm__ __volatile__("");
}

/* The first candidate only (a second is a tag collision, 1 in 5000), and
 * chosen without a branch: with none, the tag line already cached.  The
 * candidates seen are kept for the lookup (fc_seen). */
void
bsdnet_flow_prefetch_ways(const struct bsdnet_flowtab *ft,
    struct bsdnet_flow_cand *fc)
{
	const void *p;
	uint32_t m;

	m = flow_match(ft, fc);
	fc->fc_seen = (uint16_t)m;
	p = m != 0 ? (const void *)&ft->ft_flows[flow_match_index(fc,
	    (uint32_t)__builtin_ctz(m))] :
	    (const void *)&ft->ft_tags[fc->fc_bucket[0]];
	__builtin_prefetch(p);
	__asm__ __volatile__("");
}

void
bsdnet_flow_prefetch_all(const struct bsdnet_flowtab *ft,
    const struct bsdnet_flow_cand *fc)
{
	uint32_t i, w;

	bsdnet_flow_prefetch(ft, fc);
	for (i = 0; i < 2; i++)
		for (w = 0; w < BSDNET_FLOW_WAYS; w++)
			__builtin_prefetch(&ft->ft_flows[fc->fc_bucket[i] *
			    (uint32_t)BSDNET_FLOW_WAYS + w]);
	__asm__ __volatile__("");
}

/* Does entry idx hold key (k0, k1) in HOLD or ACTIVE?  *statep gets its
 * fe_state word if so. */
static inline bool
flow_entry_is(const struct bsdnet_flowtab *ft, uint32_t idx, uint64_t k0,
    uint64_t k1, uint32_t *statep)
{
	const struct bsdnet_flow *fe = &ft->ft_flows[idx];
	uint64_t e0, e1;
	uint32_t st, s;

	st = bsdnet_load_acq(&fe->fe_state);
	s = BSDNET_FLOW_STATE(st);
	if (s != BSDNET_FLOW_HOLD && s != BSDNET_FLOW_ACTIVE)
		return (false);
	bsdnet_memcpy(&e0, &fe->fe_key, 8);
	bsdnet_memcpy(&e1, (const uint8_t *)&fe->fe_key + 8, 8);
	if (((e0 ^ k0) | (e1 ^ k1)) != 0)
		return (false);
	bsdnet_fence_acq();
	if (bsdnet_load_rlx(&fe->fe_state) != st)
		return (false);
	*statep = st;
	return (true);
}

/* The first of candidates m (bucket order: main buckets, then overflow)
 * that holds key (k0, k1). */
static inline uint32_t
flow_find(const struct bsdnet_flowtab *ft, const struct bsdnet_flow_cand *fc,
    uint32_t m, uint64_t k0, uint64_t k1, uint32_t *statep)
{
	uint32_t i;

	for (; m != 0; m &= m - 1) {
		i = flow_match_index(fc, (uint32_t)__builtin_ctz(m));
		if (flow_entry_is(ft, i, k0, k1, statep))
			return (i);
	}
	return ((uint32_t)BSDNET_FLOW_NONE);
}

/*
 * The candidates the tag step saw first: a hit there is as good as any,
 * since the key and state checks decide.  A miss reads the tags afresh,
 * so an entry claimed since then is not missed.
 */
uint32_t
bsdnet_flow_lookup_c(const struct bsdnet_flowtab *ft,
    const struct bsdnet_flow_key *k, const struct bsdnet_flow_cand *fc,
    uint32_t *statep)
{
	uint32_t i, st = BSDNET_FLOW_FREE;
	uint64_t k0, k1;

	bsdnet_memcpy(&k0, k, 8);
	bsdnet_memcpy(&k1, (const uint8_t *)k + 8, 8);
	i = flow_find(ft, fc, fc->fc_seen, k0, k1, &st);
	if (i == (uint32_t)BSDNET_FLOW_NONE)
		i = flow_find(ft, fc, flow_match(ft, fc) & ~(uint32_t)fc->fc_seen,
		    k0, k1, &st);
	if (statep != NULL)
		*statep = i == (uint32_t)BSDNET_FLOW_NONE ? BSDNET_FLOW_FREE : st;
	return (i);
}

uint32_t
bsdnet_flow_lookup(const struct bsdnet_flowtab *ft,
    const struct bsdnet_flow_key *k, uint32_t *statep)
{
	struct bsdnet_flow_cand fc;

	bsdnet_flow_cand(ft, bsdnet_flow_hash(ft, k), &fc);
	return (bsdnet_flow_lookup_c(ft, k, &fc, statep));
}

static uint32_t
flow_bucket_free(const struct bsdnet_flowtab *ft, uint32_t bucket)
{
	uint32_t w, n = 0, st;

	for (w = 0; w < BSDNET_FLOW_WAYS; w++) {
		st = bsdnet_load_rlx(&ft->ft_flows[bucket *
		    (uint32_t)BSDNET_FLOW_WAYS + w].fe_state);
		if (BSDNET_FLOW_STATE(st) == BSDNET_FLOW_FREE)
			n++;
	}
	return (n);
}

/* Try to take a FREE way of one bucket.  BSDNET_FLOW_NONE if none. */
static uint32_t
flow_claim_bucket(struct bsdnet_flowtab *ft, uint32_t bucket,
    uint32_t *genp)
{
	struct bsdnet_flow *fe;
	uint32_t w, idx, st;

	idx = bucket * (uint32_t)BSDNET_FLOW_WAYS;
	for (w = 0; w < BSDNET_FLOW_WAYS; w++, idx++) {
		fe = &ft->ft_flows[idx];
		st = bsdnet_load_acq(&fe->fe_state);
		if (BSDNET_FLOW_STATE(st) != BSDNET_FLOW_FREE)
			continue;
		if (!bsdnet_cas(&fe->fe_state, &st, BSDNET_FLOW_WORD(
		    BSDNET_FLOW_GEN(st), BSDNET_FLOW_HOLD)))
			continue;
		*genp = BSDNET_FLOW_GEN(st);
		return (idx);
	}
	return ((uint32_t)BSDNET_FLOW_NONE);
}

uint32_t
bsdnet_flow_claim_h(struct bsdnet_flowtab *ft,
    const struct bsdnet_flow_key *k, uint64_t h, uint16_t src_vif,
    uint32_t now_ms, uint32_t *genp)
{
	struct bsdnet_flow *fe;
	uint32_t b[3], order[3], i, idx, gen = 0;

	flow_buckets(ft, h, b);
	if (flow_bucket_free(ft, b[1]) > flow_bucket_free(ft, b[0])) {
		order[0] = b[1];
		order[1] = b[0];
	} else {
		order[0] = b[0];
		order[1] = b[1];
	}
	order[2] = b[2];
	idx = (uint32_t)BSDNET_FLOW_NONE;
	for (i = 0; i < 3 && idx == (uint32_t)BSDNET_FLOW_NONE; i++)
		idx = flow_claim_bucket(ft, order[i], &gen);
	if (idx == (uint32_t)BSDNET_FLOW_NONE)
		return (idx);

	/* We own the entry in HOLD: plain stores, made visible to other
	 * readers by the release CAS that publishes it. */
	fe = &ft->ft_flows[idx];
	fe->fe_action = BSDNET_FA_NONE;
	fe->fe_tcp_flags = 0;
	fe->fe_drop_reason = 0;
	fe->fe_key = *k;
	fe->fe_key.fk_pad = 0;
	fe->fe_rflow = (uint32_t)BSDNET_FLOW_NONE;
	fe->fe_src_vif = src_vif;
	bsdnet_store_rlx(&fe->fe_flags, (uint16_t)0);
	fe->fe_hold_time = now_ms;
	fe->fe_last_used = 0;
	fe->fe_nh = 0;
	/* Not the counts: they are the datapath's (see fe_count_gen). */
	/* After the key: a reader that matches the tag then checks it. */
	bsdnet_store_rlx(&ft->ft_tags[idx / (uint32_t)BSDNET_FLOW_WAYS].ftg_tag[
	    idx % (uint32_t)BSDNET_FLOW_WAYS], flow_tag(h));
	/* Readers looking the key up pair their acquire with this. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (genp != NULL)
		*genp = gen;
	return (idx);
}

uint32_t
bsdnet_flow_claim(struct bsdnet_flowtab *ft, const struct bsdnet_flow_key *k,
    uint16_t src_vif, uint32_t now_ms, uint32_t *genp)
{

	return (bsdnet_flow_claim_h(ft, k, bsdnet_flow_hash(ft, k), src_vif,
	    now_ms, genp));
}

bool
bsdnet_flow_publish(struct bsdnet_flowtab *ft, uint32_t idx, uint32_t gen,
    uint8_t action, uint16_t drop_reason, uint32_t rflow)
{
	struct bsdnet_flow *fe;
	uint32_t st;

	if (!bsdnet_flow_index_ok(ft, idx))
		return (false);
	fe = &ft->ft_flows[idx];
	st = BSDNET_FLOW_WORD(gen, BSDNET_FLOW_HOLD);
	if (bsdnet_load_acq(&fe->fe_state) != st)
		return (false);
	fe->fe_action = action;
	fe->fe_drop_reason = drop_reason;
	fe->fe_rflow = rflow;
	/* Release (in the CAS) publishes the key and action together. */
	return (bsdnet_cas(&fe->fe_state, &st,
	    BSDNET_FLOW_WORD(gen, BSDNET_FLOW_ACTIVE)));
}

bool
bsdnet_flow_free(struct bsdnet_flowtab *ft, uint32_t idx, uint32_t gen,
    uint32_t *was)
{
	struct bsdnet_flow *fe;
	uint32_t st, s;
	int tries;

	if (!bsdnet_flow_index_ok(ft, idx))
		return (false);
	fe = &ft->ft_flows[idx];
	st = bsdnet_load_acq(&fe->fe_state);
	/* Two tries: the entry may go HOLD -> ACTIVE under us once. */
	for (tries = 0; tries < 2; tries++) {
		s = BSDNET_FLOW_STATE(st);
		if (was != NULL)
			*was = s;
		if (BSDNET_FLOW_GEN(st) != (gen & BSDNET_FLOW_GEN_MASK) ||
		    (s != BSDNET_FLOW_HOLD && s != BSDNET_FLOW_ACTIVE))
			return (false);
		if (bsdnet_cas(&fe->fe_state, &st,
		    BSDNET_FLOW_WORD(gen + 1, BSDNET_FLOW_FREE)))
			return (true);
	}
	return (false);
}
