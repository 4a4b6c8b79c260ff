/*-
 * SipHash-1-3 of one 16-byte block (a flow key), core-private.
 * Shared by the flow table (bsdnet_flowtab.c) and ECMP member choice.
 */
#ifndef _BSDNET_SIPHASH_H_
#define _BSDNET_SIPHASH_H_

#include <stdint.h>

/*
 * SipHash-1-3 (Aumasson and Bernstein's SipHash with one compression and
 * three finalisation rounds) of the 16 bytes at msg under the key (k0, k1).  The bytes are read little-endian as the reference does, so the
 * result is the same on every host for the same bytes.
 */
uint64_t	bsdnet_siphash16(uint64_t k0, uint64_t k1, const void *msg);

#endif /* !_BSDNET_SIPHASH_H_ */
