/*
 * Forwarding-core micro-benchmark: ns per packet on one core, no I/O.
 *
 * The flow table is sized so that 1M flows fill 90% of it (2^18 main
 * buckets plus an overflow area, 4 ways each) and holds 1M ACTIVE FORWARD
 * flows: half VM -> remote (encap path), half remote -> VM (decap path).
 * Every packet picks a random flow, so flow lookups miss the CPU caches as
 * they would with a million live flows.
 *
 *   encap: VM frame on a POLICY vif -> flow hit -> route -> TUNNEL encap
 *   decap: fabric frame -> GRE/MPLS -> label -> endpoint -> flow hit ->
 *          deliver to VM
 *
 * The home's part is reduced to what any home does per frame: the headers
 * of the received frame are (re)written into the buffer (the core rewrites
 * them in place) and the UDP ports select the flow.  The core never reads
 * the payload, so frame size only changes the bytes counted.
 *
 * Each case runs three ways: one bsdnet_dp_input() per packet ("single",
 * the kernel module's path today), with the flow counters shared between
 * forwarders (atomic adds); bsdnet_dp_input_burst() with bursts of 32
 * ("burst32", the userspace daemons' path), which passes over the burst
 * three times so cache misses overlap, by a sole forwarder (plain counter
 * stores, bsdnet_dp_set_sole()); and bursts with shared counters
 * ("burst32-shared", a kernel that batched).
 * Time is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other load
 * on the machine inflates it less than wall time would.  The runs are
 * taken round-robin over the cases, each after a short warm-up, and each
 * case reports its median run.
 *
 * With "huge" as third argument the region is asked for transparent huge
 * pages (Linux MADV_HUGEPAGE): 1M flows span ~70 MB, so with 4 KiB pages
 * nearly every flow lookup also misses the TLB.  A home that maps the
 * region with huge/super pages sees the "huge" figures.
 *
 * Prints one JSON object.  Usage: bench_core [packets-per-run] [runs] [huge]
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "bsdnet_core.h"
#include "bsdnet_endpoint.h"
#include "bsdnet_flowtab.h"

enum {
	VRF = 1, VIF_VM = 1, VIF_FAB = 2, VIF_VM2 = 3,
	NH_VM2 = 10, NH_TUN = 20, LABEL = 16,
	NFLOWS = 1000000,
};
#define IP(a, b, c, d)	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | \
			    (uint32_t)(c) << 8 | (uint32_t)(d))
static const uint8_t MAC_VM[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t MAC_VM2[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t MAC_FAB[6] = { 2, 0xfa, 0, 0, 0, 1 };
static const uint8_t MAC_PEER[6] = { 2, 0xfa, 0, 0, 0, 2 };
static const uint8_t MAC_ROUTER[6] = { 0, 0, 0x5e, 0, 1, 0 };

static uint64_t ntx;

/* Frames always have their headroom here: never a prepend. */
uint8_t *
bsdnet_os_prepend(struct bsdnet_dp *dp, struct bsdnet_pkt *pkt,
    uint32_t drop, uint32_t len)
{
	(void)dp, (void)pkt, (void)drop, (void)len;
	return (NULL);
}

bool
bsdnet_os_tx(struct bsdnet_dp *dp, uint32_t vif, struct bsdnet_pkt *pkt)
{
	(void)dp; (void)vif; (void)pkt;
	ntx++;
	return (true);
}

bool
bsdnet_os_trap(struct bsdnet_dp *dp, const struct bsdnet_trap_hdr *hdr,
    const struct bsdnet_pkt *pkt)
{
	(void)dp; (void)hdr; (void)pkt;
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
	return (1000000);
}

void
bsdnet_os_log(int level, const char *fmt, ...)
{
	(void)level; (void)fmt;
}

static uint8_t *base;
static struct bsdnet_region_hdr *hdr;

#define TBL(type, off)	((type *)(void *)(base + hdr->off))

static void
w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void
w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)(v >> 16)); w16(p + 2, (uint16_t)v); }

static void
ip_csum(uint8_t *ip)
{
	uint32_t s = 0;
	int i;

	ip[10] = ip[11] = 0;
	for (i = 0; i < 20; i += 2)
		s += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	w16(ip + 10, (uint16_t)~s);
}

static uint32_t
mk_ip_udp(uint8_t *p, uint32_t src, uint32_t dst, uint32_t paylen)
{
	memset(p, 0, 28);
	p[0] = 0x45;
	w16(p + 2, (uint16_t)(28 + paylen));
	p[8] = 64;
	p[9] = 17;
	w32(p + 12, src);
	w32(p + 16, dst);
	ip_csum(p);
	w16(p + 24, (uint16_t)(8 + paylen));
	return (28 + paylen);
}

/* Flow i's ports: both halves of the table use the same scheme. */
static inline uint16_t sport_of(uint32_t i) { return ((uint16_t)(1024 + (i >> 10))); }
static inline uint16_t dport_of(uint32_t i) { return ((uint16_t)(i & 1023)); }

#define HUGE_SZ	(2u << 20)

/* kB of this process's memory in transparent huge pages (0 if unknown). */
static unsigned long
huge_kb(void)
{
	char line[256];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (f == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return (kb);
}

static void
setup_region(int huge)
{
	struct bsdnet_geometry g;
	struct bsdnet_vif *v;
	struct bsdnet_nh *n;
	uint64_t size, key[2] = { 0x1234567890abcdefULL, 0xfedcba0987654321ULL };
	uint32_t total = (NFLOWS * 10 + 8) / 9;		/* 1M is 90% */

	bsdnet_geometry_default(&g);
	g.g_nvifs = 16;
	g.g_nnexthops = 64;
	g.g_nlabels = 64;
	g.g_nvrfs = 4;
	g.g_nrtbuckets = 16;
	g.g_nflowbuckets = 1u << 18;
	g.g_novfbuckets = (total + 3) / 4 - g.g_nflowbuckets;
	if (bsdnet_layout(&g, &size, NULL) != 0)
		abort();
	if (huge) {
		size_t len = (size + HUGE_SZ - 1) & ~(uint64_t)(HUGE_SZ - 1);

		base = aligned_alloc(HUGE_SZ, len);
#ifdef MADV_HUGEPAGE
		if (base != NULL)
			(void)madvise(base, len, MADV_HUGEPAGE);
#endif
	} else
		base = aligned_alloc(4096, (size + 4095) & ~4095ULL);
	if (base == NULL)
		abort();
	memset(base, 0, size);
	if (bsdnet_region_format(base, size, &g, key, 1) != 0)
		abort();
	hdr = (struct bsdnet_region_hdr *)(void *)base;
	hdr->rh_maxhold = 8192;

	v = TBL(struct bsdnet_vif, rh_off_vifs);
	v[VIF_VM].vif_type = BSDNET_VIF_VIRTUAL;
	v[VIF_VM].vif_flags = BSDNET_VIF_F_POLICY | BSDNET_VIF_F_UP;
	v[VIF_VM].vif_vrf = VRF;
	v[VIF_VM].vif_ip = IP(10, 0, 0, 1);
	memcpy(v[VIF_VM].vif_mac, MAC_VM, 6);
	v[VIF_VM2] = v[VIF_VM];
	v[VIF_VM2].vif_ip = IP(10, 0, 0, 2);
	memcpy(v[VIF_VM2].vif_mac, MAC_VM2, 6);
	v[VIF_FAB].vif_type = BSDNET_VIF_FABRIC;
	v[VIF_FAB].vif_ip = IP(192, 168, 0, 1);
	v[VIF_FAB].vif_mtu = 9000;
	memcpy(v[VIF_FAB].vif_mac, MAC_FAB, 6);

	n = TBL(struct bsdnet_nh, rh_off_nexthops);
	n[NH_VM2].nh_type = BSDNET_NH_ENCAP;
	n[NH_VM2].nh_vrf = VRF;
	n[NH_VM2].nh_vif = VIF_VM2;
	memcpy(n[NH_VM2].nh_dmac, MAC_VM2, 6);
	memcpy(n[NH_VM2].nh_smac, MAC_ROUTER, 6);
	n[NH_TUN].nh_type = BSDNET_NH_TUNNEL;
	n[NH_TUN].nh_vrf = VRF;
	n[NH_TUN].nh_vif = VIF_FAB;
	n[NH_TUN].nh_tun_src = IP(192, 168, 0, 1);
	n[NH_TUN].nh_tun_dst = IP(192, 168, 0, 2);
	n[NH_TUN].nh_label = 100;
	memcpy(n[NH_TUN].nh_dmac, MAC_PEER, 6);
	memcpy(n[NH_TUN].nh_smac, MAC_FAB, 6);
	TBL(struct bsdnet_label, rh_off_labels)[LABEL].lbl_nh = NH_VM2;

	/* 10.1.0.0/16 -> tunnel (two levels: root + 1 bucket), and
	 * 10.0.0.2/32 -> VM 2 (root + 3 buckets: the deepest lookup). */
	{
		struct bsdnet_vrf *vr = TBL(struct bsdnet_vrf, rh_off_vrfs) + VRF;
		struct bsdnet_rtbucket *rb = TBL(struct bsdnet_rtbucket,
		    rh_off_rtbuckets);

		vr->vrf_root[10] = BSDNET_RT_BUCKET | 0;
		rb[0].rb_ent[1] = 16u << 24 | NH_TUN;
		rb[0].rb_ent[0] = BSDNET_RT_BUCKET | 1;
		rb[1].rb_ent[0] = BSDNET_RT_BUCKET | 2;
		rb[2].rb_ent[2] = 32u << 24 | NH_VM2;
	}
	/* The decap frames' source is a known node of the VRF, among a
	 * thousand others (the agent's table of tunnel endpoints). */
	{
		struct bsdnet_ep_bucket *ep = TBL(struct bsdnet_ep_bucket,
		    rh_off_endpoints);
		uint32_t i;

		for (i = 0; i < 1000; i++)
			(void)bsdnet_ep_add(ep, IP(172, 16, 0, 0) + i, VRF);
		(void)bsdnet_ep_add(ep, IP(192, 168, 0, 2), BSDNET_EP_VRF_ANY);
		(void)bsdnet_ep_add(ep, IP(192, 168, 0, 2), VRF);
	}
}

/* 1M flows: even i VM 1 -> 10.1.0.5 (encap), odd i 10.1.0.5 -> VM 2. */
static uint32_t
fill_flows(struct bsdnet_flowtab *ft, uint8_t *ok)
{
	struct bsdnet_flow_key k;
	uint32_t i, idx, gen, n = 0;

	for (i = 0; i < NFLOWS; i++) {
		memset(&k, 0, sizeof(k));
		k.fk_vrf = VRF;
		k.fk_proto = 17;
		k.fk_src = (i & 1) ? IP(10, 1, 0, 5) : IP(10, 0, 0, 1);
		k.fk_dst = (i & 1) ? IP(10, 0, 0, 2) : IP(10, 1, 0, 5);
		k.fk_sport = sport_of(i);
		k.fk_dport = dport_of(i);
		idx = bsdnet_flow_claim(ft, &k, VIF_VM, 0, &gen);
		ok[i] = idx != 0xffffffffu;
		if (!ok[i])
			continue;
		if (!bsdnet_flow_publish(ft, idx, gen, BSDNET_FA_FORWARD, 0,
		    0xffffffffu))
			abort();
		n++;
	}
	return (n);
}

#define BURST	32

struct frame {
	uint8_t		 buf[BURST][64 + 1600];
	uint8_t		 tmpl[128];	/* headers as received */
	uint32_t	 hlen, len, udp_off;
};

static void
mk_encap_frame(struct frame *f, uint32_t size)
{
	uint8_t *p = f->buf[0] + 64;

	memcpy(p, MAC_ROUTER, 6);
	memcpy(p + 6, MAC_VM, 6);
	w16(p + 12, 0x0800);
	f->len = 14 + mk_ip_udp(p + 14, IP(10, 0, 0, 1), IP(10, 1, 0, 5),
	    size - 42);
	f->udp_off = 14 + 20;
	f->hlen = 14 + 28;
	memcpy(f->tmpl, p, f->hlen);
}

static void
mk_decap_frame(struct frame *f, uint32_t size)
{
	uint8_t *p = f->buf[0] + 64, *o = p + 14;
	uint32_t inner;

	memcpy(p, MAC_FAB, 6);
	memcpy(p + 6, MAC_PEER, 6);
	w16(p + 12, 0x0800);
	inner = mk_ip_udp(p + 42, IP(10, 1, 0, 5), IP(10, 0, 0, 2), size - 42);
	memset(o, 0, 20);
	o[0] = 0x45;
	w16(o + 2, (uint16_t)(28 + inner));
	w16(o + 6, 0x4000);
	o[8] = 64;
	o[9] = 47;
	w32(o + 12, IP(192, 168, 0, 2));
	w32(o + 16, IP(192, 168, 0, 1));
	ip_csum(o);
	w16(o + 22, 0x8847);
	w32(o + 24, (uint32_t)LABEL << 12 | 1u << 8 | 64);
	f->len = 42 + inner;
	f->udp_off = 42 + 20;
	f->hlen = 42 + 28;
	memcpy(f->tmpl, p, f->hlen);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec);
}

/* Flow indices to use, in a random order, read sequentially while timing;
 * a power of two of them, so the timed loop masks instead of dividing.
 * seq/nseq: the current case's, one of seqs[] (made once, by case c). */
static uint32_t *seq, *seqs[4];
static uint32_t nseq;

static uint32_t
seq_len(int c)
{

	return (c < 2 ? 1u << 20 : 1024);
}

static uint32_t *
make_seq(const uint8_t *ok, uint32_t parity, uint32_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ parity;
	uint32_t i = 0, c, *s;

	if (n == 0 || (n & (n - 1)) != 0 || (s = malloc(sizeof(*s) * n)) == NULL)
		abort();
	while (i < n) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		c = (uint32_t)(x % (NFLOWS / 2)) * 2 + parity;
		if (ok[c])
			s[i++] = c;
	}
	return (s);
}

/* The frame arrives: headers written into buffer b, ports select flow fl. */
static inline void
arrive(struct frame *f, int b, uint32_t fl, struct bsdnet_pkt *pkt)
{
	uint8_t *p = f->buf[b] + 64;

	memcpy(p, f->tmpl, f->hlen);
	w16(p + f->udp_off, sport_of(fl));
	w16(p + f->udp_off + 2, dport_of(fl));
	pkt->p_data = p;
	pkt->p_len = f->len < 192 ? f->len : 192;
	pkt->p_totlen = f->len;
	pkt->p_headroom = 64;
	pkt->p_pad = 0;
	pkt->p_os = f;
}

static double
run(struct bsdnet_dp *dp, struct frame *f, uint32_t vif, uint32_t npkts,
    bool burst)
{
	struct bsdnet_pkt pkts[BURST];
	uint32_t i, j;
	double t0, t1;
	uint64_t tx0 = ntx;

	npkts -= npkts % BURST;
	t0 = now_ns();
	if (burst) {
		for (i = 0; i < npkts; i += BURST) {
			for (j = 0; j < BURST; j++)
				arrive(f, (int)j, seq[(i + j) & (nseq - 1)], &pkts[j]);
			bsdnet_dp_input_burst(dp, vif, pkts, BURST);
		}
	} else {
		for (i = 0; i < npkts; i++) {
			arrive(f, 0, seq[i & (nseq - 1)], &pkts[0]);
			bsdnet_dp_input(dp, vif, &pkts[0]);
		}
	}
	t1 = now_ns();
	if (ntx - tx0 != npkts) {
		fprintf(stderr, "only %llu of %u packets sent\n",
		    (unsigned long long)(ntx - tx0), npkts);
		exit(1);
	}
	return ((t1 - t0) / npkts);
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

/* One measured case: a path, a frame size, an api, a set of flows. */
struct bcase {
	int		 c;		/* 0 encap, 1 decap; +2: 1024 flows */
	uint32_t	 size;		/* frame bytes */
	int		 api;		/* index into api[] */
	double		 ns[32];	/* one per round */
	uint32_t	 wire;
};

static const char *const api[3] = { "single", "burst32", "burst32-shared" };

/* Set dp, f and seq up for case k, warm its caches, time one run. */
static double
run_case(struct bsdnet_dp *dp, struct frame *f, struct bcase *k,
    uint32_t npkts)
{
	uint32_t vif = (k->c & 1) == 0 ? VIF_VM : VIF_FAB;
	int i;

	seq = seqs[k->c];
	nseq = seq_len(k->c);
	memset(f, 0, sizeof(*f));
	if ((k->c & 1) == 0)
		mk_encap_frame(f, k->size);
	else
		mk_decap_frame(f, k->size);
	for (i = 1; i < BURST; i++)
		memcpy(f->buf[i], f->buf[0], sizeof(f->buf[0]));
	k->wire = f->len;
	bsdnet_dp_set_sole(dp, k->api == 1);
	(void)run(dp, f, vif, npkts / 4, k->api != 0);	/* warm-up */
	return (run(dp, f, vif, npkts, k->api != 0));
}

int
main(int argc, char **argv)
{
	static struct frame f;
	static struct bsdnet_dp dp;
	static struct bcase cases[18];
	uint32_t npkts = argc > 1 ? (uint32_t)atoi(argv[1]) : 2000000;
	int runs = argc > 2 ? atoi(argv[2]) : 5, r, c, z, a, i, n = 0;
	int huge = argc > 3 && strcmp(argv[3], "huge") == 0;
	uint32_t sizes[2] = { 64, 1400 }, nok;
	uint8_t *ok;
	double sorted[32];
	const char *sep = "";

	if (runs < 1 || runs > 32 || npkts < 1000)
		return (2);
	setup_region(huge);
	if (bsdnet_dp_init(&dp, NULL, base, hdr->rh_size, NULL, 0) != 0)
		return (1);
	ok = calloc(NFLOWS, 1);
	nok = fill_flows(&dp.dp_ft, ok);
	for (c = 0; c < 4; c++)
		seqs[c] = make_seq(ok, (uint32_t)c & 1, seq_len(c));
	/* c: 0 encap, 1 decap, over all 1M flows; 2, 3: the same over 1024
	 * flows only (cache-resident: the compute cost without DRAM). */
	for (c = 0; c < 4; c++)
		for (z = 0; z < (c < 2 ? 2 : 1); z++)
			for (a = 0; a < 3; a++) {
				cases[n].c = c;
				cases[n].size = sizes[z];
				cases[n].api = a;
				n++;
			}
	/* Round-robin: run r of every case, then run r + 1, so a noisy
	 * stretch of the machine lands on one run of many cases, not on
	 * every run of one, and the medians stay honest. */
	for (r = 0; r < runs; r++)
		for (i = 0; i < n; i++)
			cases[i].ns[r] = run_case(&dp, &f, &cases[i], npkts);
	printf("{\"flows_requested\": %d, \"flows_inserted\": %u, "
	    "\"flow_entries\": %u, \"load\": %.4f, \"packets_per_run\": %u, "
	    "\"runs\": %d, \"hugepages_requested\": %s, "
	    "\"hugepages_kb\": %lu, \"results\": [",
	    NFLOWS, nok, dp.dp_ft.ft_nentries,
	    (double)nok / dp.dp_ft.ft_nentries, npkts, runs,
	    huge ? "true" : "false", huge_kb());
	for (i = 0; i < n; i++) {
		memcpy(sorted, cases[i].ns, sizeof(double) * (size_t)runs);
		qsort(sorted, (size_t)runs, sizeof(double), cmpd);
		printf("%s{\"path\": \"%s\", \"frame_bytes\": %u, "
		    "\"wire_bytes\": %u, \"api\": \"%s\", "
		    "\"flows_touched\": %u, \"ns_per_pkt_median\": %.1f, "
		    "\"ns_per_pkt_runs\": [", sep,
		    (cases[i].c & 1) == 0 ? "encap" : "decap", cases[i].size,
		    cases[i].wire, api[cases[i].api],
		    cases[i].c < 2 ? nok / 2 : 1024, sorted[runs / 2]);
		for (r = 0; r < runs; r++)
			printf("%s%.1f", r ? ", " : "", cases[i].ns[r]);
		printf("]}");
		sep = ", ";
	}
	printf("]}\n");
	for (c = 0; c < 4; c++)
		free(seqs[c]);
	free(ok);
	free(base);
	return (0);
}
