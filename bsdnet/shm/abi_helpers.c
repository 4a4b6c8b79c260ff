/*-
 * Agent-side helpers compiled into bsdnet.shm._abi: see abi_helpers.h.
 *
 * Roadmap:
 *   word access ........ bsdnet_agent_{load_acq,store_rel,add,sub,cas}32
 *   seqlocked entries .. bsdnet_agent_{vif,nh}_{write,read}
 *   tunnel endpoints ... bsdnet_agent_ep_{add,del,known}
 *   flow setup ......... bsdnet_agent_flow_setup (one trapped flow)
 *   aging .............. bsdnet_agent_flow_age (mark and sweep)
 */
#include <stddef.h>
#include <string.h>

#include "abi_helpers.h"
#include "bsdnet_endpoint.h"
#include "bsdnet_seqlock.h"

uint32_t
bsdnet_agent_load_acq32(const uint32_t *p)
{
	return (__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

void
bsdnet_agent_store_rel32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

uint32_t
bsdnet_agent_add32(uint32_t *p, uint32_t v)
{
	return (__atomic_add_fetch(p, v, __ATOMIC_RELAXED));
}

uint32_t
bsdnet_agent_sub32(uint32_t *p, uint32_t v)
{
	return (__atomic_sub_fetch(p, v, __ATOMIC_RELAXED));
}

int
bsdnet_agent_cas32(uint32_t *p, uint32_t expected, uint32_t v)
{
	return (__atomic_compare_exchange_n(p, &expected, v, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ? 1 : 0);
}

int
bsdnet_agent_ep_add(struct bsdnet_ep_bucket *tab, uint32_t addr, uint16_t vrf)
{
	return (bsdnet_ep_add(tab, addr, vrf));
}

int
bsdnet_agent_ep_del(struct bsdnet_ep_bucket *tab, uint32_t addr, uint16_t vrf)
{
	return (bsdnet_ep_del(tab, addr, vrf) ? 1 : 0);
}

int
bsdnet_agent_ep_known(const struct bsdnet_ep_bucket *tab, uint32_t addr,
    uint16_t vrf)
{
	return (bsdnet_ep_known(tab, addr, vrf) ? 1 : 0);
}

/* The entry after its sequence word (the seqlock: bsdnet_seqlock.h). */
#define BODY(p, seqf)	((uint8_t *)(p) + sizeof((p)->seqf))
#define CBODY(p, seqf)	((const uint8_t *)(p) + sizeof((p)->seqf))

/*
 * vif_os_index is the datapath's (it stores it with release while the
 * entry is even): the agent writes the bytes before and after it only, so
 * an attach that lands while the agent rewrites the entry is not undone.
 */
void
bsdnet_agent_vif_write(struct bsdnet_vif *dst, const struct bsdnet_vif *src)
{
	const size_t os = offsetof(struct bsdnet_vif, vif_os_index);
	const size_t after = os + sizeof(dst->vif_os_index);
	uint32_t next;

	next = bsdnet_seq_write_begin(&dst->vif_seq);
	memcpy(BODY(dst, vif_seq), CBODY(src, vif_seq),
	    os - sizeof(dst->vif_seq));
	memcpy((uint8_t *)dst + after, (const uint8_t *)src + after,
	    sizeof(*dst) - after);
	bsdnet_seq_write_end(&dst->vif_seq, next);
}

void
bsdnet_agent_nh_write(struct bsdnet_nh *dst, const struct bsdnet_nh *src)
{
	uint32_t next;

	next = bsdnet_seq_write_begin(&dst->nh_seq);
	memcpy(BODY(dst, nh_seq), CBODY(src, nh_seq),
	    sizeof(*dst) - sizeof(dst->nh_seq));
	bsdnet_seq_write_end(&dst->nh_seq, next);
}

int
bsdnet_agent_vif_read(const struct bsdnet_vif *src, struct bsdnet_vif *dst)
{
	return (bsdnet_seq_read(&src->vif_seq, dst, src, sizeof(*dst)) ? 0 :
	    -1);
}

int
bsdnet_agent_nh_read(const struct bsdnet_nh *src, struct bsdnet_nh *dst)
{
	return (bsdnet_seq_read(&src->nh_seq, dst, src, sizeof(*dst)) ? 0 :
	    -1);
}


#define FLOW_ST(w)	((w) & BSDNET_FLOW_STATE_MASK)
#define FLOW_GEN(w)	((w) >> BSDNET_FLOW_GEN_SHIFT)

static struct bsdnet_stats *
region_stats(const struct bsdnet_region_hdr *hdr, uint8_t *base)
{
	return ((struct bsdnet_stats *)(void *)(base + hdr->rh_off_stats));
}

/* *p -= 1, never below zero (the datapath's bsdnet_holds_dec() does the
 * same: whoever frees an entry uncharges it, and only once). */
static void
dec_sat(uint32_t *p)
{
	uint32_t v;
	int tries;

	v = __atomic_load_n(p, __ATOMIC_RELAXED);
	for (tries = 0; tries < 8 && v != 0; tries++)
		if (__atomic_compare_exchange_n(p, &v, v - 1, 0,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return;
}

/*
 * Flow quotas count installed flows: the forward entry of each pair is
 * charged to its source vif (vs_flows) and its VRF (vrf_nflows) when the
 * agent publishes it, and uncharged when the agent evicts it.  Reverse
 * entries (BSDNET_FE_F_REVERSE) are not charged.
 */
static void
flow_charge(const struct bsdnet_region_hdr *hdr, uint8_t *base,
    uint32_t vif, uint32_t vrf, bool add)
{
	struct bsdnet_vif_stats *vs;
	struct bsdnet_vrf *v;

	if (vif < hdr->rh_nvifs) {
		vs = (struct bsdnet_vif_stats *)(void *)(base +
		    hdr->rh_off_vifstats) + vif;
		if (add)
			__atomic_add_fetch(&vs->vs_flows, 1, __ATOMIC_RELAXED);
		else
			dec_sat(&vs->vs_flows);
	}
	if (vrf < hdr->rh_nvrfs) {
		v = (struct bsdnet_vrf *)(void *)(base + hdr->rh_off_vrfs) + vrf;
		if (add)
			__atomic_add_fetch(&v->vrf_nflows, 1, __ATOMIC_RELAXED);
		else
			dec_sat(&v->vrf_nflows);
	}
}

static void
flow_reverse_key(const struct bsdnet_flow_key *k, struct bsdnet_flow_key *r)
{
	memset(r, 0, sizeof(*r));
	r->fk_vrf = k->fk_vrf;
	r->fk_proto = k->fk_proto;
	r->fk_src = k->fk_dst;
	r->fk_dst = k->fk_src;
	if (k->fk_proto == 1) {
		/* ICMP echo: the reply carries the same identifier. */
		r->fk_sport = k->fk_sport;
		r->fk_dport = k->fk_dport;
	} else {
		r->fk_sport = k->fk_dport;
		r->fk_dport = k->fk_sport;
	}
}

int
bsdnet_agent_flow_setup(struct bsdnet_flowtab *ft,
    const struct bsdnet_region_hdr *hdr, uint8_t *base, uint32_t idx,
    uint32_t gen, uint8_t action, uint16_t drop_reason, uint16_t rvif,
    uint32_t now_ms, uint32_t *rflowp)
{
	struct bsdnet_flow *fe;
	struct bsdnet_flow_key key, rkey;
	uint32_t w, ridx, rgen, rstate;
	bool fresh;

	*rflowp = (uint32_t)BSDNET_FLOW_NONE;
	if (idx >= ft->ft_nentries)
		return (BSDNET_AGENT_FLOW_BAD_INDEX);
	fe = &ft->ft_flows[idx];
	w = __atomic_load_n(&fe->fe_state, __ATOMIC_ACQUIRE);
	if (FLOW_ST(w) != BSDNET_FLOW_HOLD || FLOW_GEN(w) != gen)
		return (BSDNET_AGENT_FLOW_STALE);
	memcpy(&key, &fe->fe_key, sizeof(key));

	ridx = (uint32_t)BSDNET_FLOW_NONE;
	fresh = false;
	if (action == BSDNET_FA_FORWARD) {
		flow_reverse_key(&key, &rkey);
		ridx = bsdnet_flow_lookup(ft, &rkey, &rstate);
		if (ridx != (uint32_t)BSDNET_FLOW_NONE &&
		    FLOW_ST(rstate) != BSDNET_FLOW_ACTIVE) {
			/* The other direction is trapped too (HOLD): its own
			 * trap decides it; do not link to an entry we do not
			 * own. */
			ridx = (uint32_t)BSDNET_FLOW_NONE;
		} else if (ridx == (uint32_t)BSDNET_FLOW_NONE) {
			ridx = bsdnet_flow_claim(ft, &rkey, rvif, now_ms,
			    &rgen);
			if (ridx == (uint32_t)BSDNET_FLOW_NONE)
				return (BSDNET_AGENT_FLOW_NO_REVERSE);
			fresh = true;
			__atomic_fetch_or(&ft->ft_flows[ridx].fe_flags,
			    (uint16_t)BSDNET_FE_F_REVERSE, __ATOMIC_RELAXED);
			if (!bsdnet_flow_publish(ft, ridx, rgen, action, 0,
			    idx)) {
				/* Only a datapath HOLD expiry can take an
				 * entry from us; give up on the reverse. */
				ridx = (uint32_t)BSDNET_FLOW_NONE;
				fresh = false;
			}
		}
	}
	if (!bsdnet_flow_publish(ft, idx, gen, action, drop_reason, ridx)) {
		if (fresh)
			(void)bsdnet_flow_free(ft, ridx, rgen, NULL);
		return (BSDNET_AGENT_FLOW_STALE);
	}
	/* The datapath counted this HOLD when it claimed it. */
	dec_sat(&region_stats(hdr, base)->st_holds);
	flow_charge(hdr, base, ft->ft_flows[idx].fe_src_vif, key.fk_vrf, true);
	*rflowp = ridx;
	return (BSDNET_AGENT_FLOW_OK);
}

uint32_t
bsdnet_agent_flow_setup_batch(struct bsdnet_flowtab *ft,
    const struct bsdnet_region_hdr *hdr, uint8_t *base,
    const uint32_t *idx, const uint32_t *gen,
    const uint8_t *action, const uint16_t *drop_reason, const uint16_t *rvif,
    uint32_t n, uint32_t now_ms, int32_t *results, uint32_t *rflows)
{
	uint32_t i, ok = 0;

	for (i = 0; i < n; i++) {
		results[i] = bsdnet_agent_flow_setup(ft, hdr, base, idx[i], gen[i],
		    action[i], drop_reason[i], rvif[i], now_ms, &rflows[i]);
		if (results[i] == BSDNET_AGENT_FLOW_OK)
			ok++;
	}
	return (ok);
}

uint32_t
bsdnet_agent_rt_lookup(const struct bsdnet_region_hdr *hdr,
    const uint8_t *base, uint32_t vrf, uint32_t addr)
{
	const struct bsdnet_vrf *v;
	const struct bsdnet_rtbucket *rb;
	uint32_t w, b;
	int level;

	if (vrf >= hdr->rh_nvrfs)
		return (0);
	v = (const struct bsdnet_vrf *)(const void *)(base + hdr->rh_off_vrfs) +
	    vrf;
	w = __atomic_load_n(&v->vrf_root[addr >> 24], __ATOMIC_ACQUIRE);
	for (level = 1; level < 4 && (w & BSDNET_RT_BUCKET); level++) {
		b = w & BSDNET_RT_INDEX_MASK;
		if (b >= hdr->rh_nrtbuckets)
			return (0);
		rb = (const struct bsdnet_rtbucket *)(const void *)(base +
		    hdr->rh_off_rtbuckets) + b;
		w = __atomic_load_n(&rb->rb_ent[(addr >> (24 - 8 * level)) &
		    0xff], __ATOMIC_ACQUIRE);
	}
	if (w & BSDNET_RT_BUCKET)
		return (0);
	return (w & BSDNET_RT_INDEX_MASK);
}

static uint16_t
reverse_vif(const struct bsdnet_region_hdr *hdr, const uint8_t *base,
    const struct bsdnet_flow_key *k, uint16_t fabric_vif)
{
	const struct bsdnet_nh *nh;
	uint32_t i;

	i = bsdnet_agent_rt_lookup(hdr, base, k->fk_vrf, k->fk_src);
	if (i == 0 || i >= hdr->rh_nnexthops)
		return (fabric_vif);
	/* The agent writes nexthops, and this is the agent: no seqlock. */
	nh = (const struct bsdnet_nh *)(const void *)(base +
	    hdr->rh_off_nexthops) + i;
	if (nh->nh_type == BSDNET_NH_ENCAP && nh->nh_vif <= 0xffff)
		return ((uint16_t)nh->nh_vif);
	return (fabric_vif);
}

uint32_t
bsdnet_agent_traps_allow(struct bsdnet_flowtab *ft,
    const struct bsdnet_region_hdr *hdr, uint8_t *base,
    const uint8_t *buf, uint32_t slot, const uint32_t *lens, uint32_t n,
    uint16_t fabric_vif, uint32_t now_ms, uint32_t *rel_flows,
    uint32_t *rel_gens, uint32_t *other, uint32_t *counts)
{
	struct bsdnet_trap_hdr th;
	struct bsdnet_flow_key k;
	uint32_t i, r = 0, rflow;
	int rc;

	for (i = 0; i < n; i++) {
		if (lens[i] < sizeof(th) || lens[i] > slot) {
			counts[BSDNET_AGENT_CNT_BAD]++;
			continue;
		}
		memcpy(&th, buf + (size_t)i * slot, sizeof(th));
		if (th.th_version != BSDNET_TRAP_VERSION ||
		    th.th_len > lens[i] - sizeof(th)) {
			counts[BSDNET_AGENT_CNT_BAD]++;
			continue;
		}
		if (th.th_reason != BSDNET_TRAP_FLOW_MISS) {
			other[counts[BSDNET_AGENT_CNT_OTHER]++] = i;
			continue;
		}
		if (th.th_flow >= ft->ft_nentries) {
			counts[BSDNET_AGENT_CNT_BAD]++;
			continue;
		}
		/* The key is read from the entry, never from the packet. */
		memcpy(&k, &ft->ft_flows[th.th_flow].fe_key, sizeof(k));
		rc = bsdnet_agent_flow_setup(ft, hdr, base, th.th_flow,
		    th.th_gen, BSDNET_FA_FORWARD, 0,
		    reverse_vif(hdr, base, &k, fabric_vif), now_ms, &rflow);
		if (rc == BSDNET_AGENT_FLOW_OK) {
			rel_flows[r] = th.th_flow;
			rel_gens[r] = th.th_gen;
			r++;
		} else if (rc == BSDNET_AGENT_FLOW_STALE)
			counts[BSDNET_AGENT_CNT_STALE]++;
		else if (rc == BSDNET_AGENT_FLOW_NO_REVERSE)
			counts[BSDNET_AGENT_CNT_NO_REVERSE]++;
		else
			counts[BSDNET_AGENT_CNT_BAD]++;
	}
	return (r);
}

/* True if the entry is ACTIVE with state word w and idle long enough. */
static bool
flow_idle(const struct bsdnet_flowtab *ft, uint32_t i, const uint32_t *sst,
    const uint32_t *stime, uint32_t now_s, uint32_t idle_s)
{
	uint32_t w;

	w = __atomic_load_n(&ft->ft_flows[i].fe_state, __ATOMIC_ACQUIRE);
	return (FLOW_ST(w) == BSDNET_FLOW_ACTIVE && sst[i] == w &&
	    now_s - stime[i] >= idle_s);
}

/* Evict an ACTIVE entry the agent installed, uncharging its quota. */
static bool
flow_evict(struct bsdnet_flowtab *ft, const struct bsdnet_region_hdr *hdr,
    uint8_t *base, uint32_t i, uint32_t gen)
{
	struct bsdnet_flow *fe = &ft->ft_flows[i];
	uint32_t vif = fe->fe_src_vif, vrf = fe->fe_key.fk_vrf;
	bool fwd = !(__atomic_load_n(&fe->fe_flags, __ATOMIC_RELAXED) &
	    BSDNET_FE_F_REVERSE);

	if (!bsdnet_flow_free(ft, i, gen, NULL))
		return (false);
	if (fwd)
		flow_charge(hdr, base, vif, vrf, false);
	return (true);
}

/*
 * The idle timeout of entry i (and of its reverse r, if r is its pair):
 * drop flows have their own; a TCP connection that saw RST in either
 * direction, or FIN in both, is closed and gets the short one.
 */
static uint32_t
flow_timeout(const struct bsdnet_flowtab *ft, uint32_t i, uint32_t r,
    const uint32_t *idle)
{
	const struct bsdnet_flow *fe = &ft->ft_flows[i];
	uint16_t f, rf = 0;

	if (__atomic_load_n(&fe->fe_action, __ATOMIC_RELAXED) ==
	    BSDNET_FA_DROP)
		return (idle[BSDNET_AGENT_AGE_DROP]);
	switch (fe->fe_key.fk_proto) {
	case 6:
		f = __atomic_load_n(&fe->fe_flags, __ATOMIC_RELAXED);
		if (r != i && r < ft->ft_nentries)
			rf = __atomic_load_n(&ft->ft_flows[r].fe_flags,
			    __ATOMIC_RELAXED);
		if (((f | rf) & BSDNET_FE_F_TCP_RST) ||
		    ((f & rf) & BSDNET_FE_F_TCP_FIN))
			return (idle[BSDNET_AGENT_AGE_TCP_CLOSED]);
		return (idle[BSDNET_AGENT_AGE_TCP]);
	case 17:
		return (idle[BSDNET_AGENT_AGE_UDP]);
	case 1:
		return (idle[BSDNET_AGENT_AGE_ICMP]);
	default:
		return (idle[BSDNET_AGENT_AGE_OTHER]);
	}
}

uint32_t
bsdnet_agent_flow_age(struct bsdnet_flowtab *ft,
    const struct bsdnet_region_hdr *hdr, uint8_t *base, uint32_t *sst,
    uint64_t *spkts, uint32_t *stime, uint32_t now_s, const uint32_t *idle)
{
	struct bsdnet_flow *fe;
	uint32_t i, w, r, n, used, t;
	uint64_t pk;
	bool pair;

	/* Mark: an entry is busy at now_s if its state word, packet count or
	 * last-used stamp moved since the last sweep.  Only the agent's own
	 * clock is compared, so the datapath's clock base does not matter. */
	for (i = 0; i < ft->ft_nentries; i++) {
		fe = &ft->ft_flows[i];
		w = __atomic_load_n(&fe->fe_state, __ATOMIC_ACQUIRE);
		pk = __atomic_load_n(&fe->fe_packets, __ATOMIC_RELAXED);
		used = __atomic_load_n(&fe->fe_last_used, __ATOMIC_RELAXED);
		pk += (uint64_t)used << 40;	/* either moving marks busy */
		if (w != sst[i] || pk != spkts[i]) {
			sst[i] = w;
			spkts[i] = pk;
			stime[i] = now_s;
		}
	}
	/* Sweep: free idle ACTIVE entries; a pair goes only when both halves
	 * are idle, and together. */
	n = 0;
	for (i = 0; i < ft->ft_nentries; i++) {
		fe = &ft->ft_flows[i];
		r = fe->fe_rflow;
		pair = r < ft->ft_nentries && r != i &&
		    ft->ft_flows[r].fe_rflow == i;
		t = flow_timeout(ft, i, pair ? r : i, idle);
		if (!flow_idle(ft, i, sst, stime, now_s, t))
			continue;
		if (pair) {
			if (!flow_idle(ft, r, sst, stime, now_s, t))
				continue;
			if (flow_evict(ft, hdr, base, r, FLOW_GEN(sst[r])))
				n++;
		}
		if (flow_evict(ft, hdr, base, i, FLOW_GEN(sst[i])))
			n++;
	}
	return (n);
}

uint32_t
bsdnet_agent_flow_list(const struct bsdnet_flowtab *ft, uint32_t *idx,
    uint32_t *gen, uint32_t max)
{
	const struct bsdnet_flow *fe;
	uint32_t i, w, n = 0;

	for (i = 0; i < ft->ft_nentries && n < max; i++) {
		fe = &ft->ft_flows[i];
		w = __atomic_load_n(&fe->fe_state, __ATOMIC_ACQUIRE);
		if (FLOW_ST(w) != BSDNET_FLOW_ACTIVE ||
		    (__atomic_load_n(&fe->fe_flags, __ATOMIC_RELAXED) &
		    BSDNET_FE_F_REVERSE))
			continue;
		idx[n] = i;
		gen[n] = FLOW_GEN(w);
		n++;
	}
	return (n);
}

/* The action of one entry, if it is still ACTIVE(gen); reason first, so
 * the datapath never counts a drop under a stale reason. */
static bool
flow_set_action(struct bsdnet_flow *fe, uint32_t gen, uint8_t action,
    uint16_t reason)
{
	uint32_t w;

	w = __atomic_load_n(&fe->fe_state, __ATOMIC_ACQUIRE);
	if (FLOW_ST(w) != BSDNET_FLOW_ACTIVE || FLOW_GEN(w) != gen)
		return (false);
	__atomic_store_n(&fe->fe_drop_reason, reason, __ATOMIC_RELAXED);
	__atomic_store_n(&fe->fe_action, action, __ATOMIC_RELEASE);
	return (true);
}

int
bsdnet_agent_flow_set_action(struct bsdnet_flowtab *ft, uint32_t idx,
    uint32_t gen, uint8_t action, uint16_t reason)
{
	struct bsdnet_flow *fe;
	uint32_t r, w;

	if (idx >= ft->ft_nentries)
		return (BSDNET_AGENT_FLOW_BAD_INDEX);
	fe = &ft->ft_flows[idx];
	if (!flow_set_action(fe, gen, action, reason))
		return (BSDNET_AGENT_FLOW_STALE);
	r = fe->fe_rflow;
	if (r < ft->ft_nentries && r != idx &&
	    ft->ft_flows[r].fe_rflow == idx) {
		w = __atomic_load_n(&ft->ft_flows[r].fe_state,
		    __ATOMIC_ACQUIRE);
		(void)flow_set_action(&ft->ft_flows[r], FLOW_GEN(w), action,
		    reason);
	}
	return (BSDNET_AGENT_FLOW_OK);
}

int
bsdnet_agent_flow_evict_pair(struct bsdnet_flowtab *ft,
    const struct bsdnet_region_hdr *hdr, uint8_t *base, uint32_t idx,
    uint32_t gen)
{
	struct bsdnet_flow *fe;
	uint32_t r, w;

	if (idx >= ft->ft_nentries)
		return (BSDNET_AGENT_FLOW_BAD_INDEX);
	fe = &ft->ft_flows[idx];
	w = __atomic_load_n(&fe->fe_state, __ATOMIC_ACQUIRE);
	if (FLOW_ST(w) != BSDNET_FLOW_ACTIVE || FLOW_GEN(w) != gen)
		return (BSDNET_AGENT_FLOW_STALE);
	r = fe->fe_rflow;
	if (r < ft->ft_nentries && r != idx &&
	    ft->ft_flows[r].fe_rflow == idx) {
		w = __atomic_load_n(&ft->ft_flows[r].fe_state,
		    __ATOMIC_ACQUIRE);
		if (FLOW_ST(w) == BSDNET_FLOW_ACTIVE)
			(void)flow_evict(ft, hdr, base, r, FLOW_GEN(w));
	}
	if (!flow_evict(ft, hdr, base, idx, gen))
		return (BSDNET_AGENT_FLOW_STALE);
	return (BSDNET_AGENT_FLOW_OK);
}

