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
uint8_t *th_base;
uint64_t th_size;
struct bsdnet_hold_slot th_hold[TH_NHOLD];

#define HDR ((struct bsdnet_region_hdr *)(void *)th_base)
struct bsdnet_region_hdr *th_hdr(void) { return (HDR); }
struct bsdnet_vif *th_vif(uint32_t i)
{ return ((struct bsdnet_vif *)(void *)(th_base + HDR->rh_off_vifs) + i); }
struct bsdnet_vif_stats *th_vs(uint32_t i)
{ return ((struct bsdnet_vif_stats *)(void *)(th_base + HDR->rh_off_vifstats) + i); }
struct bsdnet_nh *th_nh(uint32_t i)
{ return ((struct bsdnet_nh *)(void *)(th_base + HDR->rh_off_nexthops) + i); }
struct bsdnet_label *th_lbl(uint32_t i)
{ return ((struct bsdnet_label *)(void *)(th_base + HDR->rh_off_labels) + i); }
struct bsdnet_vrf *th_vrf(uint32_t i)
{ return ((struct bsdnet_vrf *)(void *)(th_base + HDR->rh_off_vrfs) + i); }
struct bsdnet_rtbucket *th_rtb(uint32_t i)
{ return ((struct bsdnet_rtbucket *)(void *)(th_base + HDR->rh_off_rtbuckets) + i); }
struct bsdnet_stats *th_st(void)
{ return ((struct bsdnet_stats *)(void *)(th_base + HDR->rh_off_stats)); }
struct bsdnet_flow *th_flow(uint32_t i)
{ return ((struct bsdnet_flow *)(void *)(th_base + HDR->rh_off_flows) + i); }

static void
set_vif(uint32_t i, uint16_t type, uint16_t flags, uint16_t vrf, uint32_t ip,
    const uint8_t *mac, uint32_t nh, uint32_t mtu)
{
	struct bsdnet_vif *v = th_vif(i);

	memset(v, 0, sizeof(*v));
	v->vif_seq = 2;
	v->vif_type = type;
	v->vif_flags = flags;
	v->vif_vrf = vrf;
	v->vif_ip = ip;
	v->vif_nh = nh;
	v->vif_mtu = mtu;
	memcpy(v->vif_mac, mac, 6);
	snprintf(v->vif_name, sizeof(v->vif_name), "vif%u", i);
}

static void
set_nh(uint32_t i, uint16_t type, uint16_t vrf, uint32_t vif,
    const uint8_t *dmac, const uint8_t *smac)
{
	struct bsdnet_nh *n = th_nh(i);

	memset(n, 0, sizeof(*n));
	n->nh_seq = 4;
	n->nh_type = type;
	n->nh_vrf = vrf;
	n->nh_vif = vif;
	if (dmac)
		memcpy(n->nh_dmac, dmac, 6);
	if (smac)
		memcpy(n->nh_smac, smac, 6);
}

/* ---- routes ---- */
#define TH_MAXRT 128
struct th_route { uint32_t vrf, pfx, nh; int plen; };
static struct th_route th_rt[TH_MAXRT];
static int th_nrt;

void
th_rt_add(uint32_t vrf, uint32_t pfx, int plen, uint32_t nh)
{
	th_rt[th_nrt].vrf = vrf;
	th_rt[th_nrt].pfx = plen ? pfx & (0xffffffffu << (32 - plen)) : 0;
	th_rt[th_nrt].plen = plen;
	th_rt[th_nrt].nh = nh;
	th_nrt++;
}

static int
rt_cmp(const void *a, const void *b)
{
	const struct th_route *ra = a, *rb = b;

	return (ra->plen - rb->plen);
}

/*
 * Rebuild every VRF's mtrie from the route list, shortest prefixes first
 * so longer ones overwrite the leaves they cover (the agent's expansion).
 */
void
th_rt_build(void)
{
	uint32_t nb = 0, v, i, k, *words, w, leaf, oct, span;
	int r, level;

	for (v = 0; v < HDR->rh_nvrfs; v++)
		memset(th_vrf(v)->vrf_root, 0, sizeof(th_vrf(v)->vrf_root));
	memset(th_rtb(0), 0, (size_t)HDR->rh_nrtbuckets *
	    sizeof(struct bsdnet_rtbucket));
	qsort(th_rt, (size_t)th_nrt, sizeof(th_rt[0]), rt_cmp);
	for (r = 0; r < th_nrt; r++) {
		leaf = (uint32_t)th_rt[r].plen << BSDNET_RT_PLEN_SHIFT | th_rt[r].nh;
		words = th_vrf(th_rt[r].vrf)->vrf_root;
		for (level = 0;; level++) {
			oct = (th_rt[r].pfx >> (24 - 8 * level)) & 0xff;
			if (th_rt[r].plen <= 8 * (level + 1)) {
				span = 1u << (8 * (level + 1) - th_rt[r].plen);
				for (k = 0; k < span; k++)
					words[oct + k] = leaf;
				break;
			}
			w = words[oct];
			if (!(w & BSDNET_RT_BUCKET)) {
				for (i = 0; i < 256; i++)
					th_rtb(nb)->rb_ent[i] = w;
				words[oct] = BSDNET_RT_BUCKET | nb;
				w = words[oct];
				nb++;
			}
			words = th_rtb(w & BSDNET_RT_INDEX_MASK)->rb_ent;
		}
	}
}

void
th_reset_rec(void)
{
	th_ntx = th_ntrap = 0;
	memset(th_tx, 0, sizeof(th_tx));
	memset(th_trap, 0, sizeof(th_trap));
	th_tx_ok = th_trap_ok = true;
}

uint64_t
th_drops(int reason)
{
	return (th_st()->st_drops[reason]);
}

uint64_t
th_drops_total(void)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < BSDNET_DROP_SLOTS; i++)
		n += th_st()->st_drops[i];
	return (n);
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
	th_nrt = 0;

	set_vif(VIF_A, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_POLICY | BSDNET_VIF_F_UP,
	    VRF1, IP(10, 0, 0, 1), MAC_A, NH_A, 1500);
	set_vif(VIF_B, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_UP, VRF1,
	    IP(10, 0, 0, 2), MAC_B, NH_B, 1500);
	set_vif(VIF_F, BSDNET_VIF_FABRIC, BSDNET_VIF_F_UP, 0,
	    IP(192, 168, 0, 1), MAC_F, 0, 1500);
	set_vif(VIF_C, BSDNET_VIF_VIRTUAL, BSDNET_VIF_F_UP, VRF2,
	    IP(10, 1, 0, 3), MAC_C, NH_C, 1500);
	set_nh(NH_A, BSDNET_NH_ENCAP, VRF1, VIF_A, MAC_A, MAC_ROUTER);
	set_nh(NH_B, BSDNET_NH_ENCAP, VRF1, VIF_B, MAC_B, MAC_ROUTER);
	set_nh(NH_C, BSDNET_NH_ENCAP, VRF2, VIF_C, MAC_C, MAC_ROUTER);
	set_nh(NH_T1, BSDNET_NH_TUNNEL, VRF1, VIF_F, MAC_PEER, MAC_F);
	th_nh(NH_T1)->nh_tun_src = IP(192, 168, 0, 1);
	th_nh(NH_T1)->nh_tun_dst = IP(192, 168, 0, 2);
	th_nh(NH_T1)->nh_label = 100;
	set_nh(NH_T2, BSDNET_NH_TUNNEL, VRF1, VIF_F, MAC_PEER2, MAC_F);
	th_nh(NH_T2)->nh_tun_src = IP(192, 168, 0, 1);
	th_nh(NH_T2)->nh_tun_dst = IP(192, 168, 0, 3);
	th_nh(NH_T2)->nh_label = 200;
	set_nh(NH_ECMP, BSDNET_NH_ECMP, VRF1, 0, NULL, NULL);
	th_nh(NH_ECMP)->nh_nmembers = 2;
	th_nh(NH_ECMP)->nh_members[0] = NH_T1;
	th_nh(NH_ECMP)->nh_members[1] = NH_T2;
	set_nh(NH_RECV, BSDNET_NH_RECEIVE, VRF1, 0, NULL, NULL);
	set_nh(NH_DISC, BSDNET_NH_DISCARD, VRF1, 0, NULL, NULL);
	set_nh(NH_VRF2, BSDNET_NH_VRF, VRF2, 0, NULL, NULL);
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
	th_wr32(o + 12, IP(192, 168, 0, 2));
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
