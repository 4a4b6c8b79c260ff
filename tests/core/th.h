/*
 * Test harness for the forwarding core: a "home" that records what the
 * core sends and traps, a small region with a known topology, frame
 * builders and a minimal test registry.
 */
#ifndef TH_H
#define TH_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bsdnet_priv.h"
#include "bsdnet_siphash.h"

/* ---- registry ---- */
typedef void (*th_fn)(void);
void th_register(const char *name, th_fn fn);
extern int th_failed;
#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void reg_##name(void)	\
	{ th_register(#name, test_##name); }				\
	static void test_##name(void)
#define CHECK(cond) do {						\
	if (!(cond)) {							\
		printf("  check failed %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		th_failed = 1;						\
	}								\
} while (0)
#define CHECK_EQ(a, b) do {						\
	unsigned long long _a = (unsigned long long)(a);		\
	unsigned long long _b = (unsigned long long)(b);		\
	if (_a != _b) {							\
		printf("  check failed %s:%d: %s == %s (0x%llx != 0x%llx)\n", \
		    __FILE__, __LINE__, #a, #b, _a, _b);		\
		th_failed = 1;						\
	}								\
} while (0)

/* ---- recorded home calls ---- */
#define TH_MAXREC	16
struct th_rec {
	uint32_t		 r_vif;
	uint32_t		 r_len;
	bool			 r_os_null;	/* p_os was NULL (replayed) */
	struct bsdnet_trap_hdr	 r_hdr;
	uint8_t			 r_data[4096];
};
extern struct th_rec th_tx[TH_MAXREC], th_trap[TH_MAXREC];
extern int th_ntx, th_ntrap;
extern bool th_tx_ok, th_trap_ok;
extern uint64_t th_now;
extern int th_nprepend;	/* bsdnet_os_prepend() calls */

/* ---- the test region ---- */
enum {
	VRF1 = 1, VRF2 = 2,
	VIF_A = 1,	/* VM A, 10.0.0.1, POLICY */
	VIF_B = 2,	/* VM B, 10.0.0.2, no policy */
	VIF_F = 3,	/* fabric, 192.168.0.1 */
	VIF_C = 4,	/* VM C in VRF 2, 10.1.0.3, no policy */
	NH_A = 10, NH_B = 11, NH_C = 12,
	NH_T1 = 20, NH_T2 = 21, NH_ECMP = 30, NH_RECV = 40, NH_DISC = 41,
	NH_VRF2 = 50,
	LBL_A = 16, LBL_B = 17, LBL_VRF2 = 18,
	/* th_frame_fabric()'s outer source: a known node in VRF1 and 2 */
	TH_PEER = 0xc0a80002,		/* 192.168.0.2 */
	TH_PEER_VRF1 = 0xc0a80003,	/* 192.168.0.3: a node in VRF1 only */
	TH_NHOLD = 12,
};
#define IP(a, b, c, d)	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | \
			    (uint32_t)(c) << 8 | (uint32_t)(d))
extern const uint8_t MAC_A[6], MAC_B[6], MAC_C[6], MAC_F[6], MAC_PEER[6],
    MAC_PEER2[6], MAC_ROUTER[6], MAC_BCAST[6];

extern struct bsdnet_dp th_dp;
extern uint8_t *th_base;
extern uint64_t th_size;
extern struct bsdnet_hold_slot th_hold[TH_NHOLD];

struct bsdnet_region_hdr *th_hdr(void);
struct bsdnet_vif *th_vif(uint32_t i);
struct bsdnet_vif_stats *th_vs(uint32_t i);
struct bsdnet_nh *th_nh(uint32_t i);
struct bsdnet_label *th_lbl(uint32_t i);
struct bsdnet_vrf *th_vrf(uint32_t i);
struct bsdnet_rtbucket *th_rtb(uint32_t i);
struct bsdnet_stats *th_st(void);
struct bsdnet_flow *th_flow(uint32_t i);
struct bsdnet_ep_bucket *th_eps(void);

void th_set_vif(uint32_t i, uint16_t type, uint16_t flags, uint16_t vrf,
    uint32_t ip, const uint8_t *mac, uint32_t nh, uint32_t mtu);
void th_set_nh(uint32_t i, uint16_t type, uint16_t vrf, uint32_t vif,
    const uint8_t *dmac, const uint8_t *smac);
/* Fresh region and dp, standard topology; rebuilds routes. */
void th_setup(void);
void th_setup_geom(const struct bsdnet_geometry *g);
/* Route table kept by the test "agent": add, then th_rt_build(). */
void th_rt_clear(void);
void th_rt_add(uint32_t vrf, uint32_t pfx, int plen, uint32_t nh);
void th_rt_build(void);
void th_reset_rec(void);
uint64_t th_drops(int reason);
uint64_t th_drops_total(void);

/* ---- frames ---- */
struct th_frame {
	uint8_t		 buf[4096];
	uint32_t	 headroom;
	uint32_t	 len;
	struct bsdnet_pkt pkt;
};
/* Build Ethernet + IPv4 + L4 (UDP/TCP/ICMP or bare) with checksums. */
struct th_l4 {
	uint8_t		 proto;
	uint16_t	 sport, dport;	/* ICMP: type, code */
	uint16_t	 icmp_id;
	uint8_t		 tcp_flags;
	uint8_t		 ttl;		/* 0 means 64 */
	bool		 ttl_zero;
	uint16_t	 frag;		/* flags+offset word */
	uint32_t	 paylen;	/* bytes after the L4 header */
	uint8_t		 mark;		/* first payload byte */
};
uint32_t th_ipv4(uint8_t *p, uint32_t src, uint32_t dst,
    const struct th_l4 *l4);
uint32_t th_eth(uint8_t *p, const uint8_t *dmac, const uint8_t *smac,
    uint16_t type);
void th_frame_vm(struct th_frame *f, const uint8_t *smac, uint32_t src,
    uint32_t dst, const struct th_l4 *l4);
/* Fabric frame: outer to 192.168.0.1 from 192.168.0.2, label, inner. */
void th_frame_fabric(struct th_frame *f, uint32_t label, uint8_t mpls_ttl,
    uint32_t src, uint32_t dst, const struct th_l4 *l4);
void th_pkt(struct th_frame *f);
void th_input(uint32_t vif, struct th_frame *f);
uint16_t th_csum(const uint8_t *p, uint32_t n);
void th_wr16(uint8_t *p, uint16_t v);
void th_wr32(uint8_t *p, uint32_t v);
void th_ip_fix_csum(uint8_t *ip);

#endif
