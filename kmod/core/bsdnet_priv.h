/*-
 * Core-private declarations shared by the files of the forwarding core.
 * Nothing here is seen by a home.
 */
#ifndef _BSDNET_PRIV_H_
#define _BSDNET_PRIV_H_

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "bsdnet_abi.h"
#include "bsdnet_core.h"
#include "bsdnet_flowtab.h"
#include "bsdnet_flowtab_priv.h"
#include "bsdnet_port.h"
#include "bsdnet_wire.h"

/*
 * Outcome of a pipeline step: 0 = go on, a positive enum bsdnet_drop = drop
 * for that reason (counted once by the caller), BSDNET_DONE = the packet
 * was sent, trapped or queued and every counter is already bumped.
 */
#define BSDNET_CONT	0
#define BSDNET_DONE	(-1)
#define BSDNET_PEEKED	(-2)	/* burst stage 1 stopped before acting */
#define BSDNET_NOVIF	(-3)	/* burst stage 1: the input vif is invalid */

enum { BSDNET_EXPIRE_CHUNK = 65536 };	/* flow entries expired per tick */


/* Big-endian field access; every caller has checked the length. */
static inline uint16_t
bsdnet_rd16(const uint8_t *p)
{
	return ((uint16_t)((uint16_t)p[0] << 8 | p[1]));
}

static inline uint32_t
bsdnet_rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

static inline void
bsdnet_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
bsdnet_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline bool
bsdnet_mac_zero(const uint8_t *m)
{
	return ((m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0);
}

static inline bool
bsdnet_mac_eq(const uint8_t *a, const uint8_t *b)
{
	return (bsdnet_memcmp(a, b, BSDNET_ETH_ALEN) == 0);
}

static inline bool
bsdnet_mac_bcast(const uint8_t *m)
{
	return ((m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xff);
}

/* bsdnet_dp.c: counters, drops, traps. */
void	bsdnet_acc_flush(struct bsdnet_dp *dp);
void	bsdnet_acc_evict(struct bsdnet_dp *dp, struct bsdnet_vif_acc *a);

/* The per-vif counter slot of vif (valid index), flushing a previous
 * owner of the slot first. */
static inline struct bsdnet_vif_acc *
bsdnet_acc_vif(struct bsdnet_dp *dp, uint32_t vif)
{
	struct bsdnet_vif_acc *a;

	a = &dp->dp_acc.a_vif[vif & (BSDNET_ACC_VIFS - 1)];
	if (BSDNET_UNLIKELY(a->va_vif != vif)) {
		bsdnet_acc_evict(dp, a);
		a->va_vif = vif;
	}
	return (a);
}

void	bsdnet_count_drop(struct bsdnet_dp *dp, uint32_t vif, int reason);

/* Hand pkt to the home for output on vif and count it. */
static inline int
bsdnet_tx(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt)
{
	struct bsdnet_vif_acc *a;
	uint32_t len = pkt->p_totlen;

	if (!bsdnet_os_tx(dp, vif, pkt))
		return (BSDNET_DROP_TX_FAILED);
	dp->dp_acc.a_tx_pkts++;
	a = bsdnet_acc_vif(dp, vif);
	a->va_tx_pkts++;
	a->va_tx_bytes += len;
	return (BSDNET_DONE);
}
bool	bsdnet_trap_token(struct bsdnet_dp *dp);
bool	bsdnet_icmp_token(struct bsdnet_dp *dp);
void	bsdnet_trap_refund(struct bsdnet_dp *dp);
int	bsdnet_trap_send(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
	    uint16_t reason, uint16_t vrf, uint32_t flow, uint32_t gen,
	    const struct bsdnet_pkt *pkt);
int	bsdnet_trap(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
	    uint16_t reason, uint16_t vrf, const struct bsdnet_pkt *pkt);
void	bsdnet_holds_dec(struct bsdnet_dp *dp);

/* Inline: header parsing and the route lookup, which every packet runs. */
#include "bsdnet_parse.h"
#include "bsdnet_route.h"

/* Inline: the seqlocked vif and nexthop reads; the endpoint check. */
#include "bsdnet_seqread.h"
#include "bsdnet_endpoint.h"

/* bsdnet_nexthop.c */
int	bsdnet_nh_resolve(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    uint32_t nh);
int	bsdnet_nh_forward(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt);

/* bsdnet_encap.c */
int	bsdnet_encap_tunnel(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt);
int	bsdnet_deliver_local(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt);
int	bsdnet_decap_check(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt, uint32_t osrc, uint32_t gre_off,
	    uint32_t limit);

/* The flow key's hash, computed once per packet (the flow step and the
 * ECMP choice both use it). */
static inline uint64_t
bsdnet_ctx_hash(const struct bsdnet_dp *dp, struct bsdnet_ctx *c)
{

	if (!c->c_hashed) {
		c->c_hash = bsdnet_flow_hash(&dp->dp_ft, &c->c_key);
		c->c_hashed = true;
	}
	return (c->c_hash);
}

/* Its candidate buckets and tag, computed once per packet.  True if this
 * call computed them (no burst stage had). */
static inline bool
bsdnet_ctx_cand(const struct bsdnet_dp *dp, struct bsdnet_ctx *c)
{

	if (c->c_cand_ok)
		return (false);
	bsdnet_flow_cand(&dp->dp_ft, bsdnet_ctx_hash(dp, c), &c->c_cand);
	c->c_cand_ok = true;
	return (true);
}

/* bsdnet_flow.c */
int	bsdnet_flow_check(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt);
void	bsdnet_hold_expire(struct bsdnet_dp *dp, uint64_t now_ms,
	    uint32_t timeout_ms);
void	bsdnet_flow_expire(struct bsdnet_dp *dp, uint32_t now_ms,
	    uint32_t timeout_ms);

/* bsdnet_pmtu.c */
void	bsdnet_icmp_toobig(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt, uint32_t mtu);
void	bsdnet_mss_clamp(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt, uint32_t mss);

/* bsdnet_arp.c */
int	bsdnet_arp_input(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
	    struct bsdnet_pkt *pkt, uint32_t off);

/* bsdnet_input.c */
void	bsdnet_input_frame(struct bsdnet_dp *dp, uint32_t vif,
	    struct bsdnet_pkt *pkt, bool replay);

#endif /* !_BSDNET_PRIV_H_ */
