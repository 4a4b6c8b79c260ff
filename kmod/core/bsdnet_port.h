/*-
 * Portability for the freestanding core: memory, atomics, byte order.
 * Compiler builtins only (gcc and clang, userland and kernel alike), so the
 * core needs no OS header.  Logging and time are bsdnet_os_*() functions
 * declared in bsdnet_core.h.
 */
#ifndef _BSDNET_PORT_H_
#define _BSDNET_PORT_H_

#include <stdint.h>
#include <stddef.h>

#define bsdnet_memcpy(d, s, n)	__builtin_memcpy((d), (s), (n))
#define bsdnet_memmove(d, s, n)	__builtin_memmove((d), (s), (n))
#define bsdnet_memset(d, c, n)	__builtin_memset((d), (c), (n))
#define bsdnet_memcmp(a, b, n)	__builtin_memcmp((a), (b), (n))

/* C11 memory orders through the __atomic builtins, on plain integers, so
 * the shared structs stay readable by cffi. */
#define bsdnet_load_acq(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define bsdnet_load_rlx(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define bsdnet_store_rel(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define bsdnet_store_rlx(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define bsdnet_add_rlx(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define bsdnet_sub_rlx(p, v)	__atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define bsdnet_or_rlx(p, v)	__atomic_fetch_or((p), (v), __ATOMIC_RELAXED)
#define bsdnet_cas(p, expp, v)	__atomic_compare_exchange_n((p), (expp), (v), \
				    0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define bsdnet_fence_acq()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define bsdnet_fence_rel()	__atomic_thread_fence(__ATOMIC_RELEASE)

#define bsdnet_bswap16(x)	__builtin_bswap16(x)
#define bsdnet_bswap32(x)	__builtin_bswap32(x)
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define bsdnet_ntohs(x)		((uint16_t)(x))
#define bsdnet_ntohl(x)		((uint32_t)(x))
#else
#define bsdnet_ntohs(x)		bsdnet_bswap16(x)
#define bsdnet_ntohl(x)		bsdnet_bswap32(x)
#endif
#define bsdnet_htons(x)		bsdnet_ntohs(x)
#define bsdnet_htonl(x)		bsdnet_ntohl(x)

#define BSDNET_LIKELY(x)	__builtin_expect(!!(x), 1)
#define BSDNET_UNLIKELY(x)	__builtin_expect(!!(x), 0)

#endif /* !_BSDNET_PORT_H_ */
