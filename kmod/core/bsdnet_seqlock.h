/*-
 * The seqlock of shared vif and nexthop entries, both halves, so their
 * memory orders pair in one place.  One writer (the agent):
 *	odd count (relaxed); release fence; the body; even count (release)
 * Readers (the core, the userspace daemons, the agent's own reads):
 *	count (acquire); copy; acquire fence; count again (relaxed)
 * keep the copy if the count was even and did not move: bsdnet_seq_read()
 * for a byte copy, bsdnet_seq_begin() and _end() around a field copy.
 * A reader gives up after BSDNET_SEQ_RETRIES tries: a writer that died
 * mid-update leaves the count odd, and the entry then reads as invalid
 * instead of spinning.
 */
#ifndef _BSDNET_SEQLOCK_H_
#define _BSDNET_SEQLOCK_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bsdnet_port.h"

enum { BSDNET_SEQ_RETRIES = 4 };

/* A read begins: false while a writer is at work (the count is odd). */
static inline bool
bsdnet_seq_begin(const uint32_t *seq, uint32_t *s)
{

	*s = bsdnet_load_acq(seq);
	return ((*s & 1) == 0);
}

/* A read ends: true if what was copied since bsdnet_seq_begin() is
 * good (the count did not move). */
static inline bool
bsdnet_seq_end(const uint32_t *seq, uint32_t s)
{

	bsdnet_fence_acq();
	return (bsdnet_load_rlx(seq) == s);
}

/* Copy len bytes of an entry whose count is *seq.  False if no clean
 * copy was had in BSDNET_SEQ_RETRIES tries. */
static inline bool
bsdnet_seq_read(const uint32_t *seq, void *dst, const void *src, size_t len)
{
	uint32_t s;
	int i;

	for (i = 0; i < BSDNET_SEQ_RETRIES; i++) {
		if (!bsdnet_seq_begin(seq, &s))
			continue;
		bsdnet_memcpy(dst, src, len);
		if (bsdnet_seq_end(seq, s))
			return (true);
	}
	return (false);
}

/* Make the count odd before the body is written; returns what
 * bsdnet_seq_write_end() stores after it. */
static inline uint32_t
bsdnet_seq_write_begin(uint32_t *seq)
{
	uint32_t s;

	s = bsdnet_load_rlx(seq);
	if ((s & 1) != 0)		/* a writer died mid-update */
		s++;
	bsdnet_store_rlx(seq, s + 1);
	bsdnet_fence_rel();
	return (s + 2);
}

static inline void
bsdnet_seq_write_end(uint32_t *seq, uint32_t next)
{

	bsdnet_store_rel(seq, next);
}

#endif /* !_BSDNET_SEQLOCK_H_ */
