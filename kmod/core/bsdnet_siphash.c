/*-
 * SipHash-1-3 specialised for one 16-byte message: the flow key.  A fixed
 * length lets the compiler unroll everything; the hash is keyed by
 * rh_hash_key so that a tenant cannot aim flows at one bucket.
 */
#include "bsdnet_siphash.h"

#define SIP_ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

#define SIP_ROUND(v0, v1, v2, v3) do {					\
	(v0) += (v1); (v1) = SIP_ROTL((v1), 13); (v1) ^= (v0);		\
	(v0) = SIP_ROTL((v0), 32);					\
	(v2) += (v3); (v3) = SIP_ROTL((v3), 16); (v3) ^= (v2);		\
	(v0) += (v3); (v3) = SIP_ROTL((v3), 21); (v3) ^= (v0);		\
	(v2) += (v1); (v1) = SIP_ROTL((v1), 17); (v1) ^= (v2);		\
	(v2) = SIP_ROTL((v2), 32);					\
} while (0)

static inline uint64_t
sip_le64(const uint8_t *p)
{

	return ((uint64_t)p[0] | (uint64_t)p[1] << 8 |
	    (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	    (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56);
}

uint64_t
bsdnet_siphash16(uint64_t k0, uint64_t k1, const void *msg)
{
	const uint8_t *p = msg;
	uint64_t v0, v1, v2, v3, m, b;

	v0 = k0 ^ 0x736f6d6570736575ULL;
	v1 = k1 ^ 0x646f72616e646f6dULL;
	v2 = k0 ^ 0x6c7967656e657261ULL;
	v3 = k1 ^ 0x7465646279746573ULL;

	m = sip_le64(p);
	v3 ^= m;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m;
	m = sip_le64(p + 8);
	v3 ^= m;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m;

	/* Final block: the length (16) in the top byte, no tail bytes. */
	b = (uint64_t)16 << 56;
	v3 ^= b;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	return (v0 ^ v1 ^ v2 ^ v3);
}
