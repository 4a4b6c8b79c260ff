/*-
 * SipHash-1-3 (Aumasson and Bernstein's SipHash, one compression and three
 * finalisation rounds) of a 15-byte message: the flow key without its pad
 * byte, which costs five rounds where 16 bytes would cost six.
 * Core-private; inline, as every packet runs it.
 */
#ifndef _BSDNET_SIPHASH_H_
#define _BSDNET_SIPHASH_H_

#include <stdint.h>

#define BSDNET_SIP_ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

#define BSDNET_SIP_ROUND(v0, v1, v2, v3) do {				\
	(v0) += (v1); (v1) = BSDNET_SIP_ROTL((v1), 13); (v1) ^= (v0);	\
	(v0) = BSDNET_SIP_ROTL((v0), 32);				\
	(v2) += (v3); (v3) = BSDNET_SIP_ROTL((v3), 16); (v3) ^= (v2);	\
	(v0) += (v3); (v3) = BSDNET_SIP_ROTL((v3), 21); (v3) ^= (v0);	\
	(v2) += (v1); (v1) = BSDNET_SIP_ROTL((v1), 17); (v1) ^= (v2);	\
	(v2) = BSDNET_SIP_ROTL((v2), 32);				\
} while (0)

/*
 * SipHash-1-3 under the key (k0, k1) of the 15 bytes m0 (bytes 0-7,
 * little-endian, as the reference reads them) and the low 56 bits of m1
 * (bytes 8-14).  Callers build m0 and m1 from values, not memory, so the
 * result is the same on every host.
 */
static inline uint64_t
bsdnet_siphash15(uint64_t k0, uint64_t k1, uint64_t m0, uint64_t m1)
{
	uint64_t v0, v1, v2, v3, b;

	v0 = k0 ^ 0x736f6d6570736575ULL;
	v1 = k1 ^ 0x646f72616e646f6dULL;
	v2 = k0 ^ 0x6c7967656e657261ULL;
	v3 = k1 ^ 0x7465646279746573ULL;

	v3 ^= m0;
	BSDNET_SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m0;

	/* Last block: bytes 8-14, the length (15) in the top byte. */
	b = (m1 & 0x00ffffffffffffffULL) | (uint64_t)15 << 56;
	v3 ^= b;
	BSDNET_SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	BSDNET_SIP_ROUND(v0, v1, v2, v3);
	BSDNET_SIP_ROUND(v0, v1, v2, v3);
	BSDNET_SIP_ROUND(v0, v1, v2, v3);
	return (v0 ^ v1 ^ v2 ^ v3);
}

#endif /* !_BSDNET_SIPHASH_H_ */
