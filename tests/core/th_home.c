/*
 * The test home: bsdnet_os_*() that record, a region with a fixed
 * topology, a route installer (the agent's job, done simply), frame
 * builders and the test runner.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "th.h"

/* ---- registry and runner ---- */
#define TH_MAXTESTS 256
static struct { const char *name; th_fn fn; } th_tests[TH_MAXTESTS];
static int th_ntests;
int th_failed;

void
th_register(const char *name, th_fn fn)
{
	if (th_ntests < TH_MAXTESTS) {
		th_tests[th_ntests].name = name;
		th_tests[th_ntests].fn = fn;
		th_ntests++;
	}
}

#ifndef TH_NO_MAIN
int
main(int argc, char **argv)
{
	int i, nfail = 0, nrun = 0;

	for (i = 0; i < th_ntests; i++) {
		if (argc > 1 && strcmp(argv[1], th_tests[i].name) != 0)
			continue;
		th_failed = 0;
		th_setup();
		th_tests[i].fn();
		nrun++;
		printf("%s %s\n", th_failed ? "FAIL" : "PASS", th_tests[i].name);
		fflush(stdout);
		nfail += th_failed;
	}
	printf("SUMMARY %d run, %d failed\n", nrun, nfail);
	free(th_base);
	th_base = NULL;
	return (nfail != 0 || nrun == 0);
}
#endif /* !TH_NO_MAIN: the fuzzers bring their own */

/* ---- home ---- */
struct th_rec th_tx[TH_MAXREC], th_trap[TH_MAXREC];
int th_ntx, th_ntrap;
bool th_tx_ok = true, th_trap_ok = true;
uint64_t th_now = 1000000;

static void
rec(struct th_rec *r, uint32_t vif, const struct bsdnet_pkt *pkt)
{
	uint32_t n = pkt->p_totlen;

	if (n > sizeof(r->r_data))
		n = sizeof(r->r_data);
	r->r_vif = vif;
	r->r_len = pkt->p_totlen;
	r->r_os_null = pkt->p_os == NULL;
	memcpy(r->r_data, pkt->p_data, n);
}

/* Counted, and refused: the core must then drop for want of headroom. */
int th_nprepend;
uint8_t *
bsdnet_os_prepend(struct bsdnet_dp *dp, struct bsdnet_pkt *pkt,
    uint32_t drop, uint32_t len)
{
	(void)dp;
	(void)pkt;
	th_nprepend += drop == BSDNET_ETH_HLEN && len == BSDNET_ENCAP_LEN;
	return (NULL);
}

bool
bsdnet_os_tx(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt)
{
	(void)dp;
	if (!th_tx_ok)
		return (false);
	if (th_ntx < TH_MAXREC)
		rec(&th_tx[th_ntx], vif, pkt);
	th_ntx++;
	return (true);
}

bool
bsdnet_os_trap(struct bsdnet_dp *dp, const struct bsdnet_trap_hdr *hdr,
    const struct bsdnet_pkt *pkt)
{
	(void)dp;
	if (!th_trap_ok)
		return (false);
	if (th_ntrap < TH_MAXREC) {
		rec(&th_trap[th_ntrap], hdr->th_vif, pkt);
		th_trap[th_ntrap].r_hdr = *hdr;
	}
	th_ntrap++;
	return (true);
}

void
bsdnet_os_copydata(const struct bsdnet_pkt *pkt, uint32_t off, uint32_t len,
    void *dst)
{
	memcpy(dst, pkt->p_data + off, len);
}

uint64_t
bsdnet_os_now_ms(void)
{
	return (th_now);
}

void
bsdnet_os_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

/* ---- region ---- */
const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 0xa };
const uint8_t MAC_B[6] = { 2, 0, 0, 0, 0, 0xb };
const uint8_t MAC_C[6] = { 2, 0, 0, 0, 0, 0xc };
const uint8_t MAC_F[6] = { 2, 0xfa, 0, 0, 0, 1 };
const uint8_t MAC_PEER[6] = { 2, 0xfa, 0, 0, 0, 2 };
const uint8_t MAC_PEER2[6] = { 2, 0xfa, 0, 0, 0, 3 };
const uint8_t MAC_ROUTER[6] = { 0, 0, 0x5e, 0, 1, 0 };
const uint8_t MAC_BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct bsdnet_dp th_dp;
uint64_t th_size;
struct bsdnet_hold_slot th_hold[TH_NHOLD];

void
th_reset_rec(void)
{
	th_ntx = th_ntrap = 0;
	memset(th_tx, 0, sizeof(th_tx));
	memset(th_trap, 0, sizeof(th_trap));
	th_tx_ok = th_trap_ok = true;
}

void
th_setup_geom(const struct bsdnet_geometry *g)
{
	uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	int rc;

	free(th_base);
	rc = bsdnet_layout(g, &th_size, NULL);
	if (rc != 0)
		abort();
	th_base = aligned_alloc(4096, th_size);
	memset(th_base, 0, th_size);
	if (bsdnet_region_format(th_base, th_size, g, key, 42) != 0)
		abort();
	th_now = 1000000;
	th_reset_rec();
	th_rt_clear();

	th_set_vif(VIF_A, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_POLICY | BSDNET_VIF_F_UP,
	    VRF1, IP(10, 0, 0, 1), MAC_A, NH_A, 1500);
	th_set_vif(VIF_B, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_UP, VRF1,
	    IP(10, 0, 0, 2), MAC_B, NH_B, 1500);
	th_vif(VIF_B)->vif_gw = IP(10, 0, 0, 254);	/* VM A has none */
	th_set_vif(VIF_F, BSDNET_VIF_FABRIC, BSDNET_VIF_F_UP, 0,
	    IP(192, 168, 0, 1), MAC_F, 0, 1500);
	th_set_vif(VIF_C, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_UP, VRF2,
	    IP(10, 1, 0, 3), MAC_C, NH_C, 1500);
	th_set_nh(NH_A, BSDNET_NH_ENCAP, VRF1, VIF_A, MAC_A, MAC_ROUTER);
	th_set_nh(NH_B, BSDNET_NH_ENCAP, VRF1, VIF_B, MAC_B, MAC_ROUTER);
	th_set_nh(NH_C, BSDNET_NH_ENCAP, VRF2, VIF_C, MAC_C, MAC_ROUTER);
	th_set_nh(NH_T1, BSDNET_NH_TUNNEL, VRF1, VIF_F, MAC_PEER, MAC_F);
	th_nh(NH_T1)->nh_tun_src = IP(192, 168, 0, 1);
	th_nh(NH_T1)->nh_tun_dst = IP(192, 168, 0, 2);
	th_nh(NH_T1)->nh_label = 100;
	th_set_nh(NH_T2, BSDNET_NH_TUNNEL, VRF1, VIF_F, MAC_PEER2, MAC_F);
	th_nh(NH_T2)->nh_tun_src = IP(192, 168, 0, 1);
	th_nh(NH_T2)->nh_tun_dst = IP(192, 168, 0, 3);
	th_nh(NH_T2)->nh_label = 200;
	th_set_nh(NH_ECMP, BSDNET_NH_ECMP, VRF1, 0, NULL, NULL);
	th_nh(NH_ECMP)->nh_nmembers = 2;
	th_nh(NH_ECMP)->nh_members[0] = NH_T1;
	th_nh(NH_ECMP)->nh_members[1] = NH_T2;
	th_set_nh(NH_RECV, BSDNET_NH_RECEIVE, VRF1, 0, NULL, NULL);
	th_set_nh(NH_DISC, BSDNET_NH_DISCARD, VRF1, 0, NULL, NULL);
	th_set_nh(NH_VRF2, BSDNET_NH_VRF, VRF2, 0, NULL, NULL);
	th_lbl(LBL_A)->lbl_nh = NH_A;
	th_lbl(LBL_B)->lbl_nh = NH_B;
	th_lbl(LBL_VRF2)->lbl_nh = NH_VRF2;
	th_vrf(VRF1)->vrf_flags = 1;
	th_vrf(VRF2)->vrf_flags = 1;
	th_rt_add(VRF1, IP(10, 0, 0, 1), 32, NH_A);
	th_rt_add(VRF1, IP(10, 0, 0, 2), 32, NH_B);
	th_rt_add(VRF1, IP(10, 0, 0, 254), 32, NH_RECV);
	th_rt_add(VRF1, IP(10, 0, 1, 0), 24, NH_T1);
	th_rt_add(VRF1, IP(10, 0, 2, 0), 24, NH_ECMP);
	th_rt_add(VRF1, IP(10, 9, 0, 0), 16, NH_DISC);
	th_rt_add(VRF1, IP(10, 1, 0, 0), 16, NH_VRF2);
	th_rt_add(VRF2, IP(10, 1, 0, 3), 32, NH_C);
	th_rt_build();
	(void)bsdnet_ep_add(th_eps(), TH_PEER, BSDNET_EP_VRF_ANY);
	(void)bsdnet_ep_add(th_eps(), TH_PEER, VRF1);
	(void)bsdnet_ep_add(th_eps(), TH_PEER, VRF2);
	(void)bsdnet_ep_add(th_eps(), TH_PEER_VRF1, BSDNET_EP_VRF_ANY);
	(void)bsdnet_ep_add(th_eps(), TH_PEER_VRF1, VRF1);
	if (bsdnet_dp_init(&th_dp, NULL, th_base, th_size, th_hold,
	    TH_NHOLD) != 0)
		abort();
}

void
th_setup(void)
{
	struct bsdnet_geometry g = {
		.g_nvifs = 16, .g_nnexthops = 128, .g_nlabels = 64,
		.g_nvrfs = 4, .g_nrtbuckets = 64, .g_nflowbuckets = 16,
		.g_novfbuckets = 4, .g_maxhold = 16,
	};

	th_setup_geom(&g);
}

/* ---- frames (th_csum, th_eth, th_ipv4: th_frames.c) ---- */
void
th_pkt(struct th_frame *f)
{
	f->pkt.p_data = f->buf + f->headroom;
	f->pkt.p_len = f->len;
	f->pkt.p_totlen = f->len;
	f->pkt.p_headroom = f->headroom;
	f->pkt.p_pad = 0;
	f->pkt.p_os = f;
}

void
th_frame_vm(struct th_frame *f, const uint8_t *smac, uint32_t src,
    uint32_t dst, const struct th_l4 *l4)
{
	uint8_t *p;

	memset(f, 0, sizeof(*f));
	f->headroom = 128;
	p = f->buf + f->headroom;
	f->len = th_eth(p, MAC_ROUTER, smac, 0x0800);
	f->len += th_ipv4(p + 14, src, dst, l4);
	th_pkt(f);
}

void
th_frame_fabric(struct th_frame *f, uint32_t label, uint8_t mpls_ttl,
    uint32_t src, uint32_t dst, const struct th_l4 *l4)
{
	struct th_l4 outer = { .proto = 47 };
	uint8_t *p, *o;
	uint32_t inner;

	memset(f, 0, sizeof(*f));
	f->headroom = 64;
	p = f->buf + f->headroom;
	th_eth(p, MAC_F, MAC_PEER, 0x0800);
	inner = th_ipv4(p + 14 + 28, src, dst, l4);
	o = p + 14;
	memset(o, 0, 20);
	o[0] = 0x45;
	th_wr16(o + 2, (uint16_t)(28 + inner));
	th_wr16(o + 6, 0x4000);
	o[8] = 64;
	o[9] = 47;
	th_wr32(o + 12, TH_PEER);
	th_wr32(o + 16, IP(192, 168, 0, 1));
	th_ip_fix_csum(o);
	th_wr16(o + 20, 0);
	th_wr16(o + 22, 0x8847);
	th_wr32(o + 24, label << 12 | 1u << 8 | mpls_ttl);
	f->len = 14 + 28 + inner;
	(void)outer;
	th_pkt(f);
}

void
th_input(uint32_t vif, struct th_frame *f)
{
	bsdnet_dp_input(&th_dp, vif, &f->pkt);
}
