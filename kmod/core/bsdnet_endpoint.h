/*-
 * The known tunnel endpoints (struct bsdnet_ep_bucket): which outer
 * source may send into which VRF.  Both halves, so the hash and the
 * memory orders are one code: the datapath's lookup
 * (bsdnet_ep_known(), two buckets, a 64-byte line each) and the agent's
 * writers (bsdnet_ep_add(), bsdnet_ep_del()), compiled into the agent
 * through cffi.  One writer, the agent: it stores whole words with
 * release; a reader loads each word relaxed, since the word is all
 * there is to see.  Design and limits: kmod/DESIGN.md, "Tunnel endpoints".
 */
#ifndef _BSDNET_ENDPOINT_H_
#define _BSDNET_ENDPOINT_H_

#include <stdbool.h>
#include <stdint.h>

#include "bsdnet_abi.h"
#include "bsdnet_port.h"

_Static_assert(BSDNET_EP_BUCKETS == 1 << 11,
    "bsdnet_ep_buckets() takes 11 bits of the hash per bucket");

/* The entry word of (addr, vrf): never 0, the free word. */
static inline uint64_t
bsdnet_ep_word(uint32_t addr, uint16_t vrf)
{

	return ((uint64_t)addr << 32 | (uint64_t)vrf << 16 | 1);
}

/*
 * The two buckets word w may live in: two 11-bit slices of the high
 * half of one multiply (Fibonacci hashing: bits that depend on the whole
 * address and VRF; one multiply on the packet path).
 * Unkeyed: only the agent places entries, from addresses and VRFs the
 * cloud chose, and a lookup reads two buckets whatever the source, so
 * there is nothing for a sender to flood.
 */
static inline void
bsdnet_ep_buckets(uint64_t w, uint32_t b[2])
{
	uint64_t h = w * 0x9e3779b97f4a7c15ULL;

	b[0] = (uint32_t)(h >> 53);
	b[1] = (uint32_t)(h >> 42) & (BSDNET_EP_BUCKETS - 1);
	if (b[1] == b[0])
		b[1] = b[0] ^ 1;
}

/* The way of bucket b holding w, or -1. */
static inline int
bsdnet_ep_way(const struct bsdnet_ep_bucket *b, uint64_t w)
{
	int i;

	for (i = 0; i < BSDNET_EP_WAYS; i++)
		if (bsdnet_load_rlx(&b->epb_ent[i]) == w)
			return (i);
	return (-1);
}

/* May addr send into vrf?  tab has BSDNET_EP_BUCKETS buckets. */
static inline bool
bsdnet_ep_known(const struct bsdnet_ep_bucket *tab, uint32_t addr,
    uint16_t vrf)
{
	uint64_t w = bsdnet_ep_word(addr, vrf);
	uint32_t b[2];

	bsdnet_ep_buckets(w, b);
	return (bsdnet_ep_way(&tab[b[0]], w) >= 0 ||
	    bsdnet_ep_way(&tab[b[1]], w) >= 0);
}

/* Agent: free ways of bucket b. */
static inline int
bsdnet_ep_free(const struct bsdnet_ep_bucket *b)
{
	int i, n = 0;

	for (i = 0; i < BSDNET_EP_WAYS; i++)
		n += bsdnet_load_rlx(&b->epb_ent[i]) == 0;
	return (n);
}

/* The other bucket entry w of bucket b may live in. */
static inline uint32_t
bsdnet_ep_alt(uint64_t w, uint32_t b)
{
	uint32_t bb[2];

	bsdnet_ep_buckets(w, bb);
	return (bb[0] == b ? bb[1] : bb[0]);
}

/* Moves bsdnet_ep_add() may chain for room: 8 + 64 + 512 bucket reads. */
#define BSDNET_EP_DEPTH	3

/*
 * Agent: free a way of bucket b by moving one of its entries to its other
 * bucket, making room there first up to depth moves deep (cuckoo style),
 * never through a bucket already on the path (path[0..npath), which a
 * move could otherwise undo).  An entry is stored in its new place before
 * its old one is cleared, so a reader sees it in one or both, never in
 * neither.  The way, or -1.
 */
static inline int
bsdnet_ep_room(struct bsdnet_ep_bucket *tab, uint32_t b, int depth,
    uint32_t *path, int npath)
{
	uint64_t w;
	uint32_t alt;
	int i, j, k;

	for (i = 0; i < BSDNET_EP_WAYS; i++)
		if (bsdnet_load_rlx(&tab[b].epb_ent[i]) == 0)
			return (i);
	if (depth == 0)
		return (-1);
	path[npath++] = b;
	for (i = 0; i < BSDNET_EP_WAYS; i++) {
		w = bsdnet_load_rlx(&tab[b].epb_ent[i]);
		alt = bsdnet_ep_alt(w, b);
		for (k = 0; k < npath && path[k] != alt; k++)
			;
		if (k < npath ||
		    (j = bsdnet_ep_room(tab, alt, depth - 1, path, npath)) < 0)
			continue;
		bsdnet_store_rel(&tab[alt].epb_ent[j], w);
		bsdnet_store_rel(&tab[b].epb_ent[i], (uint64_t)0);
		return (i);
	}
	return (-1);
}

/* Agent: add (addr, vrf) to the emptier of its buckets, moving others
 * if both are full.  0 if added or already there, -1 if no room. */
static inline int
bsdnet_ep_add(struct bsdnet_ep_bucket *tab, uint32_t addr, uint16_t vrf)
{
	uint64_t w = bsdnet_ep_word(addr, vrf);
	uint32_t bb[2], b, path[BSDNET_EP_DEPTH + 1];
	int i, k;

	if (bsdnet_ep_known(tab, addr, vrf))
		return (0);
	bsdnet_ep_buckets(w, bb);
	b = bsdnet_ep_free(&tab[bb[1]]) > bsdnet_ep_free(&tab[bb[0]]) ?
	    bb[1] : bb[0];
	for (k = 0; k < 2; k++, b = b == bb[0] ? bb[1] : bb[0])
		if ((i = bsdnet_ep_room(tab, b, k == 0 ? 0 :
		    BSDNET_EP_DEPTH, path, 0)) >= 0) {
			bsdnet_store_rel(&tab[b].epb_ent[i], w);
			return (0);
		}
	return (-1);
}

/* Agent: remove (addr, vrf).  True if it was there. */
static inline bool
bsdnet_ep_del(struct bsdnet_ep_bucket *tab, uint32_t addr, uint16_t vrf)
{
	uint64_t w = bsdnet_ep_word(addr, vrf);
	uint32_t b[2];
	int i, k;

	bsdnet_ep_buckets(w, b);
	for (k = 0; k < 2; k++)
		if ((i = bsdnet_ep_way(&tab[b[k]], w)) >= 0) {
			bsdnet_store_rel(&tab[b[k]].epb_ent[i], (uint64_t)0);
			return (true);
		}
	return (false);
}

#endif /* !_BSDNET_ENDPOINT_H_ */
