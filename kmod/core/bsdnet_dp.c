/*-
 * Datapath context: binding to a region, housekeeping, and the counters,
 * drops and traps every pipeline step reports through.
 */
#include "bsdnet_priv.h"
#include "bsdnet_layout_priv.h"

/* Ceiling on a rate so the token arithmetic fits 32 bits. */
#define TB_RATE_MAX	1000000u
/* Tokens are counted in thousandths: one event costs 1000, and one
 * millisecond at rate r/s earns exactly r. */
#define TB_COST		1000u

static void *
region_at(void *base, uint64_t off)
{

	return ((void *)((uint8_t *)base + off));
}

/* A rate the agent wrote (0: the default), capped. */
static uint32_t
rate_of(const uint32_t *field, uint32_t def)
{
	uint32_t rate;

	rate = bsdnet_load_rlx(field);
	if (rate == 0)
		rate = def;
	if (rate > TB_RATE_MAX)
		rate = TB_RATE_MAX;
	return (rate);
}

static uint32_t
trap_rate(const struct bsdnet_dp *dp)
{

	return (rate_of(&dp->dp_hdr->rh_trap_rate, BSDNET_DEF_TRAP_RATE));
}

static uint32_t
icmp_rate(const struct bsdnet_dp *dp)
{

	return (rate_of(&dp->dp_hdr->rh_icmp_rate, BSDNET_DEF_ICMP_RATE));
}

/* Token bucket: rate per second, at most one second's worth banked. */
static void
tb_refill(struct bsdnet_tbucket *tb, uint32_t rate, uint64_t now)
{
	uint64_t elapsed, tokens, cap;

	cap = (uint64_t)rate * TB_COST;
	if (now <= tb->tb_last_ms) {
		if (tb->tb_tokens > cap)
			tb->tb_tokens = (uint32_t)cap;
		return;
	}
	elapsed = now - tb->tb_last_ms;
	if (elapsed > 1000)
		elapsed = 1000;
	tokens = tb->tb_tokens + elapsed * rate;
	tb->tb_tokens = (uint32_t)(tokens > cap ? cap : tokens);
	tb->tb_last_ms = now;
}

static bool
tb_take(struct bsdnet_tbucket *tb, uint32_t rate)
{

	tb_refill(tb, rate, bsdnet_os_now_ms());
	if (tb->tb_tokens < TB_COST)
		return (false);
	tb->tb_tokens -= TB_COST;
	return (true);
}

int
bsdnet_dp_init(struct bsdnet_dp *dp, void *os, void *base, uint64_t size,
    struct bsdnet_hold_slot *hold, uint32_t nhold)
{
	const struct bsdnet_region_hdr *hdr = base;
	struct bsdnet_geometry g;
	uint64_t off[BSDNET_TBL_MAX];
	uint32_t i;
	int error;

	if (dp == NULL)
		return (BSDNET_E_RANGE);
	bsdnet_memset(dp, 0, sizeof(*dp));
	if (base == NULL || size < sizeof(*hdr))
		return (BSDNET_E_GEOMETRY);
	if (bsdnet_load_acq(&hdr->rh_magic) != (uint32_t)BSDNET_MAGIC)
		return (BSDNET_E_MAGIC);
	if (hdr->rh_abi_version != BSDNET_ABI_VERSION)
		return (BSDNET_E_VERSION);
	error = bsdnet_region_check(hdr, size, &g, off);
	if (error != BSDNET_OK)
		return (error);
	if (hold == NULL)
		nhold = 0;

	dp->dp_os = os;
	dp->dp_base = base;
	dp->dp_size = size;
	dp->dp_hdr = hdr;
	dp->dp_instance = hdr->rh_instance;
	/* The geometry is copied once: later writes to the header cannot
	 * widen a table under us. */
	dp->dp_nvifs = g.g_nvifs;
	dp->dp_nnexthops = g.g_nnexthops;
	dp->dp_nlabels = g.g_nlabels;
	dp->dp_nvrfs = g.g_nvrfs;
	dp->dp_nrtbuckets = g.g_nrtbuckets;
	dp->dp_nflowbuckets = g.g_nflowbuckets;
	dp->dp_novfbuckets = g.g_novfbuckets;
	dp->dp_maxhold = g.g_maxhold;
	dp->dp_hash_key[0] = hdr->rh_hash_key[0];
	dp->dp_hash_key[1] = hdr->rh_hash_key[1];
	dp->dp_hold = hold;
	dp->dp_nhold = nhold;
	for (i = 0; i < nhold; i++) {
		hold[i].hs_flow = (uint32_t)BSDNET_FLOW_NONE;
		hold[i].hs_len = 0;
	}
	bsdnet_flowtab_bind_at(&dp->dp_ft, region_at(base,
	    off[BSDNET_TBL_FLOWS]), region_at(base, off[BSDNET_TBL_FLOWTAGS]),
	    g.g_nflowbuckets, g.g_novfbuckets, dp->dp_hash_key);
	dp->dp_vifs = region_at(base, off[BSDNET_TBL_VIFS]);
	dp->dp_vstats = region_at(base, off[BSDNET_TBL_VIFSTATS]);
	dp->dp_nhs = region_at(base, off[BSDNET_TBL_NEXTHOPS]);
	dp->dp_labels = region_at(base, off[BSDNET_TBL_LABELS]);
	dp->dp_vrfs = region_at(base, off[BSDNET_TBL_VRFS]);
	dp->dp_rtb = region_at(base, off[BSDNET_TBL_RTBUCKETS]);
	dp->dp_stats = region_at(base, off[BSDNET_TBL_STATS]);
	dp->dp_eps = region_at(base, off[BSDNET_TBL_ENDPOINTS]);
	dp->dp_trap_tb.tb_last_ms = bsdnet_os_now_ms();
	dp->dp_now_s = (uint32_t)(dp->dp_trap_tb.tb_last_ms / 1000);
	/* Start with full buckets: one second's worth. */
	dp->dp_trap_tb.tb_tokens = trap_rate(dp) * TB_COST;
	dp->dp_icmp_tb.tb_last_ms = dp->dp_trap_tb.tb_last_ms;
	dp->dp_icmp_tb.tb_tokens = icmp_rate(dp) * TB_COST;
	dp->dp_expire_cursor = 0;
	return (BSDNET_OK);
}

void
bsdnet_dp_geometry(const struct bsdnet_dp *dp, struct bsdnet_geometry *g)
{

	g->g_nvifs = dp->dp_nvifs;
	g->g_nnexthops = dp->dp_nnexthops;
	g->g_nlabels = dp->dp_nlabels;
	g->g_nvrfs = dp->dp_nvrfs;
	g->g_nrtbuckets = dp->dp_nrtbuckets;
	g->g_nflowbuckets = dp->dp_nflowbuckets;
	g->g_novfbuckets = dp->dp_novfbuckets;
	g->g_maxhold = dp->dp_maxhold;
}

void
bsdnet_dp_set_sole(struct bsdnet_dp *dp, bool sole)
{

	if (dp != NULL)
		dp->dp_sole = sole ? 1 : 0;
}

bool
bsdnet_trap_token(struct bsdnet_dp *dp)
{

	return (tb_take(&dp->dp_trap_tb, trap_rate(dp)));
}

void
bsdnet_trap_refund(struct bsdnet_dp *dp)
{

	dp->dp_trap_tb.tb_tokens += TB_COST;
}

bool
bsdnet_icmp_token(struct bsdnet_dp *dp)
{

	return (tb_take(&dp->dp_icmp_tb, icmp_rate(dp)));
}

void
bsdnet_count_drop(struct bsdnet_dp *dp, uint32_t vif, int reason)
{

	if (reason <= BSDNET_DROP_NONE || reason >= BSDNET_DROP_MAX)
		reason = BSDNET_DROP_NONE;	/* a bug: still counted */
	bsdnet_add_rlx(&dp->dp_stats->st_drops[reason], (uint64_t)1);
	if (vif < dp->dp_nvifs)
		bsdnet_add_rlx(&dp->dp_vstats[vif].vs_drops, (uint64_t)1);
}

/* Add a slot's sums to vif stats and zero them. */
void
bsdnet_acc_evict(struct bsdnet_dp *dp, struct bsdnet_vif_acc *a)
{
	struct bsdnet_vif_stats *vs;

	if ((a->va_rx_pkts | a->va_tx_pkts) == 0)
		return;
	vs = &dp->dp_vstats[a->va_vif];
	if (a->va_rx_pkts != 0) {
		bsdnet_add_rlx(&vs->vs_rx_pkts, a->va_rx_pkts);
		bsdnet_add_rlx(&vs->vs_rx_bytes, a->va_rx_bytes);
	}
	if (a->va_tx_pkts != 0) {
		bsdnet_add_rlx(&vs->vs_tx_pkts, a->va_tx_pkts);
		bsdnet_add_rlx(&vs->vs_tx_bytes, a->va_tx_bytes);
	}
	a->va_rx_pkts = a->va_rx_bytes = 0;
	a->va_tx_pkts = a->va_tx_bytes = 0;
}

static void
acc_add(uint64_t *dst, uint64_t *sum)
{

	if (*sum != 0) {
		bsdnet_add_rlx(dst, *sum);
		*sum = 0;
	}
}

/*
 * Publish what dp_acc summed: every entry point that processes frames
 * calls this before it returns.  Only this thread writes dp_acc.
 */
void
bsdnet_acc_flush(struct bsdnet_dp *dp)
{
	struct bsdnet_dp_acc *a = &dp->dp_acc;
	struct bsdnet_stats *st = dp->dp_stats;
	int i;

	acc_add(&st->st_rx_pkts, &a->a_rx_pkts);
	acc_add(&st->st_tx_pkts, &a->a_tx_pkts);
	acc_add(&st->st_flow_hits, &a->a_flow_hits);
	acc_add(&st->st_encaps, &a->a_encaps);
	acc_add(&st->st_decaps, &a->a_decaps);
	for (i = 0; i < BSDNET_ACC_VIFS; i++)
		bsdnet_acc_evict(dp, &a->a_vif[i]);
}

int
bsdnet_trap_send(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    uint16_t reason, uint16_t vrf, uint32_t flow, uint32_t gen,
    const struct bsdnet_pkt *pkt)
{
	struct bsdnet_trap_hdr th;

	th.th_version = BSDNET_TRAP_VERSION;
	th.th_reason = reason;
	th.th_vif = (uint16_t)c->c_vifidx;
	th.th_vrf = vrf;
	th.th_flow = flow;
	th.th_gen = gen;
	th.th_len = pkt->p_totlen;
	th.th_nh = c->c_nhidx;
	if (!bsdnet_os_trap(dp, &th, pkt))
		return (BSDNET_DROP_TRAP_FAILED);
	bsdnet_add_rlx(&dp->dp_stats->st_traps, (uint64_t)1);
	bsdnet_add_rlx(&dp->dp_vstats[c->c_vifidx].vs_traps, (uint64_t)1);
	return (BSDNET_DONE);
}

int
bsdnet_trap(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    uint16_t reason, uint16_t vrf, const struct bsdnet_pkt *pkt)
{

	if (!bsdnet_trap_token(dp))
		return (BSDNET_DROP_TRAP_RATE);
	return (bsdnet_trap_send(dp, c, reason, vrf,
	    (uint32_t)BSDNET_FLOW_NONE, 0, pkt));
}

/* st_holds -= 1, never below zero (the agent may have freed it too). */
void
bsdnet_holds_dec(struct bsdnet_dp *dp)
{
	uint32_t *p = &dp->dp_stats->st_holds;
	uint32_t v;
	int tries;

	v = bsdnet_load_rlx(p);
	for (tries = 0; tries < 8 && v != 0; tries++)
		if (__atomic_compare_exchange_n(p, &v, v - 1, 0,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return;
}

void
bsdnet_dp_tick(struct bsdnet_dp *dp)
{
	struct bsdnet_region_hdr *hdr;
	uint64_t now;
	uint32_t timeout;

	if (dp == NULL || dp->dp_hdr == NULL)
		return;
	hdr = (struct bsdnet_region_hdr *)(uintptr_t)dp->dp_hdr;
	now = bsdnet_os_now_ms();
	dp->dp_now_s = (uint32_t)(now / 1000);
	bsdnet_store_rlx(&hdr->rh_dp_heartbeat, dp->dp_now_s);
	tb_refill(&dp->dp_trap_tb, trap_rate(dp), now);
	timeout = bsdnet_load_rlx(&hdr->rh_hold_timeout_ms);
	if (timeout == 0)
		timeout = BSDNET_DEF_HOLD_TIMEOUT_MS;
	bsdnet_flow_expire(dp, (uint32_t)now, timeout);
	bsdnet_hold_expire(dp, now, timeout);
}
