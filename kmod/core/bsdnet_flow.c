/*-
 * Flows on the packet path: hit accounting, the miss path (HOLD claim,
 * hold queue, trap to the agent), release of a decided flow, and expiry.
 * The hold queue: slot group flow % ngroups, BSDNET_QUEUE_PER_HOLD slots
 * each, no scan (kmod/DESIGN.md, "The slow path").
 */
#include "bsdnet_priv.h"

#define QPH	((uint32_t)BSDNET_QUEUE_PER_HOLD)
#define SLOT_MAX_FRAME	(BSDNET_HOLD_SLOT_BYTES - BSDNET_HEADROOM)

static inline uint32_t
hold_ngroups(const struct bsdnet_dp *dp)
{

	return (dp->dp_nhold / QPH);
}

/* Is the owner of slot s still waiting (HOLD) or decided (ACTIVE)? */
static bool
slot_live(const struct bsdnet_dp *dp, const struct bsdnet_hold_slot *s)
{
	uint32_t st;

	st = bsdnet_load_acq(&dp->dp_ft.ft_flows[s->hs_flow].fe_state);
	return (st == BSDNET_FLOW_WORD(s->hs_gen, BSDNET_FLOW_HOLD) ||
	    st == BSDNET_FLOW_WORD(s->hs_gen, BSDNET_FLOW_ACTIVE));
}

static void
slot_drop(struct bsdnet_dp *dp, struct bsdnet_hold_slot *s)
{

	bsdnet_count_drop(dp, s->hs_vif, BSDNET_DROP_HOLD_EXPIRED);
	s->hs_flow = (uint32_t)BSDNET_FLOW_NONE;
}

/* Park a copy of pkt on flow (idx, gen).  Returns the slot or NULL with
 * *reasonp set. */
static struct bsdnet_hold_slot *
hold_queue(struct bsdnet_dp *dp, const struct bsdnet_ctx *c,
    const struct bsdnet_pkt *pkt, uint32_t idx, uint32_t gen)
{
	struct bsdnet_hold_slot *g, *s, *pick = NULL;
	uint32_t ng, i, own = 0, clen;

	ng = hold_ngroups(dp);
	if (ng == 0 || dp->dp_replaying || pkt->p_totlen > SLOT_MAX_FRAME)
		return (NULL);
	g = &dp->dp_hold[(idx % ng) * QPH];
	for (i = 0; i < QPH; i++) {
		s = &g[i];
		if (s->hs_flow == (uint32_t)BSDNET_FLOW_NONE) {
			if (pick == NULL)
				pick = s;
		} else if (s->hs_flow == idx && s->hs_gen == gen) {
			own++;
		} else if (!slot_live(dp, s)) {
			slot_drop(dp, s);
			if (pick == NULL)
				pick = s;
		}
	}
	if (own >= QPH || pick == NULL)
		return (NULL);
	clen = pkt->p_len < pkt->p_totlen ? pkt->p_len : pkt->p_totlen;
	bsdnet_memcpy(pick->hs_data + BSDNET_HEADROOM, pkt->p_data, clen);
	if (clen < pkt->p_totlen)
		bsdnet_os_copydata(pkt, clen, pkt->p_totlen - clen,
		    pick->hs_data + BSDNET_HEADROOM + clen);
	pick->hs_flow = idx;
	pick->hs_gen = gen;
	pick->hs_vif = c->c_vifidx;
	pick->hs_len = pkt->p_totlen;
	pick->hs_time_ms = bsdnet_os_now_ms();
	return (pick);
}

/* First packet of a flow: claim HOLD, queue, trap. */
static int
flow_miss(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    const struct bsdnet_pkt *pkt)
{
	struct bsdnet_hold_slot *slot;
	uint32_t idx, gen = 0, quota, vrf = c->c_key.fk_vrf;
	int r;

	/* A replayed packet whose flow vanished is not trapped again. */
	if (c->c_replay)
		return (BSDNET_DROP_HOLD_EXPIRED);
	bsdnet_add_rlx(&dp->dp_stats->st_flow_misses, (uint64_t)1);
	if (bsdnet_load_rlx(&dp->dp_stats->st_holds) >= dp->dp_maxhold)
		return (BSDNET_DROP_FLOW_HOLD_LIMIT);
	quota = c->c_vif->vif_flow_quota;
	if (quota != 0 &&
	    bsdnet_load_rlx(&dp->dp_vstats[c->c_vifidx].vs_flows) >= quota)
		return (BSDNET_DROP_FLOW_QUOTA);
	if (vrf < dp->dp_nvrfs) {
		quota = bsdnet_load_rlx(&dp->dp_vrfs[vrf].vrf_flow_quota);
		if (quota != 0 &&
		    bsdnet_load_rlx(&dp->dp_vrfs[vrf].vrf_nflows) >= quota)
			return (BSDNET_DROP_FLOW_QUOTA);
	}
	/* Token first: a HOLD the agent never hears of helps no one. */
	if (!bsdnet_trap_token(dp))
		return (BSDNET_DROP_TRAP_RATE);
	idx = bsdnet_flow_claim_h(&dp->dp_ft, &c->c_key, c->c_hash,
	    (uint16_t)c->c_vifidx, (uint32_t)bsdnet_os_now_ms(), &gen);
	if (idx == (uint32_t)BSDNET_FLOW_NONE) {
		bsdnet_trap_refund(dp);
		return (BSDNET_DROP_FLOW_TABLE_FULL);
	}
	bsdnet_add_rlx(&dp->dp_stats->st_holds, (uint32_t)1);
	slot = hold_queue(dp, c, pkt, idx, gen);
	r = bsdnet_trap_send(dp, c, BSDNET_TRAP_FLOW_MISS, (uint16_t)vrf, idx,
	    gen, pkt);
	if (r != BSDNET_DONE) {
		if (slot != NULL)
			slot->hs_flow = (uint32_t)BSDNET_FLOW_NONE;
		if (bsdnet_flow_free(&dp->dp_ft, idx, gen, NULL))
			bsdnet_holds_dec(dp);
	}
	return (r);
}

/*
 * Count one packet of len bytes on entry fe, looked up in generation gen:
 * the counts are of generation fe_count_gen, reset by its first packet
 * (kmod/DESIGN.md, "Who changes what").  Plain stores for a sole
 * forwarder; CAS and atomic adds when forwarders share the region.
 */
static inline void
flow_count(const struct bsdnet_dp *dp, struct bsdnet_flow *fe, uint32_t gen,
    uint64_t len)
{
	uint32_t cg;

	cg = bsdnet_load_rlx(&fe->fe_count_gen);
	if (dp->dp_sole) {
		if (BSDNET_UNLIKELY(cg != gen)) {
			bsdnet_store_rlx(&fe->fe_packets, (uint64_t)1);
			bsdnet_store_rlx(&fe->fe_bytes, len);
			bsdnet_store_rel(&fe->fe_count_gen, gen);
			return;
		}
		bsdnet_store_rlx(&fe->fe_packets,
		    bsdnet_load_rlx(&fe->fe_packets) + 1);
		bsdnet_store_rlx(&fe->fe_bytes,
		    bsdnet_load_rlx(&fe->fe_bytes) + len);
		return;
	}
	if (BSDNET_UNLIKELY(cg != gen) && bsdnet_cas(&fe->fe_count_gen, &cg,
	    gen)) {
		bsdnet_store_rlx(&fe->fe_packets, (uint64_t)0);
		bsdnet_store_rlx(&fe->fe_bytes, (uint64_t)0);
	}
	bsdnet_add_rlx(&fe->fe_packets, (uint64_t)1);
	bsdnet_add_rlx(&fe->fe_bytes, len);
}

static int
flow_hit(struct bsdnet_dp *dp, struct bsdnet_ctx *c, uint32_t idx,
    uint32_t gen)
{
	struct bsdnet_flow *fe = &dp->dp_ft.ft_flows[idx];
	uint8_t action, tf = c->c_tcp_flags;
	uint16_t reason;

	/* The frame as the VM sends or gets it (IPv4 plus an Ethernet
	 * header, no padding or tag): the same on both nodes of a flow, not
	 * the fabric frame a decapsulating node received. */
	flow_count(dp, fe, gen, (uint64_t)BSDNET_ETH_HLEN + c->c_iplen);
	if (bsdnet_load_rlx(&fe->fe_last_used) != dp->dp_now_s)
		bsdnet_store_rlx(&fe->fe_last_used, dp->dp_now_s);
	if (tf != 0 && c->c_key.fk_proto == BSDNET_IPPROTO_TCP) {
		if ((bsdnet_load_rlx(&fe->fe_tcp_flags) & tf) != tf)
			bsdnet_or_rlx(&fe->fe_tcp_flags, tf);
		if ((tf & BSDNET_TH_FIN) != 0)
			bsdnet_or_rlx(&fe->fe_flags,
			    (uint16_t)BSDNET_FE_F_TCP_FIN);
		if ((tf & BSDNET_TH_RST) != 0)
			bsdnet_or_rlx(&fe->fe_flags,
			    (uint16_t)BSDNET_FE_F_TCP_RST);
	}
	/* The acquire load of fe_state in the lookup orders this read. */
	action = fe->fe_action;
	if (action == BSDNET_FA_FORWARD) {
		dp->dp_acc.a_flow_hits++;
		return (BSDNET_CONT);
	}
	if (action == BSDNET_FA_DROP) {
		/* Counted under the reason the agent recorded (a spoofed
		 * source, a quota), if it names one; else as policy. */
		reason = fe->fe_drop_reason;
		if (reason > BSDNET_DROP_NONE && reason < BSDNET_DROP_MAX)
			return ((int)reason);
		return (BSDNET_DROP_FLOW_ACTION_DROP);
	}
	return (BSDNET_DROP_FLOW_INVALID);
}

/*
 * The flow step of the pipeline: BSDNET_CONT to route and forward, or a
 * drop reason, or BSDNET_DONE (queued and/or trapped).
 */
int
bsdnet_flow_check(struct bsdnet_dp *dp, struct bsdnet_ctx *c,
    struct bsdnet_pkt *pkt)
{
	uint32_t idx, st;

	if (!c->c_policy)
		return (BSDNET_CONT);
	/* A burst prepared the candidates in its first stage; a packet on
	 * its own has nothing to overlap its misses with. */
	if (bsdnet_ctx_cand(dp, c))
		bsdnet_flow_prefetch_all(&dp->dp_ft, &c->c_cand);
	idx = bsdnet_flow_lookup_c(&dp->dp_ft, &c->c_key, &c->c_cand, &st);
	if (idx == (uint32_t)BSDNET_FLOW_NONE)
		return (flow_miss(dp, c, pkt));
	if (BSDNET_FLOW_STATE(st) == BSDNET_FLOW_ACTIVE)
		return (flow_hit(dp, c, idx, BSDNET_FLOW_GEN(st)));
	/* HOLD: wait with the others for the agent's decision. */
	if (c->c_replay)
		return (BSDNET_DROP_HOLD_EXPIRED);
	if (hold_queue(dp, c, pkt, idx, BSDNET_FLOW_GEN(st)) == NULL)
		return (BSDNET_DROP_FLOW_QUEUE_FULL);
	return (BSDNET_DONE);
}

void
bsdnet_dp_release(struct bsdnet_dp *dp, uint32_t flow, uint32_t gen)
{
	struct bsdnet_hold_slot *g, *s;
	struct bsdnet_pkt pkt;
	uint32_t ng, i, n, st;
	uint64_t oldest;

	if (dp == NULL || dp->dp_hdr == NULL || dp->dp_replaying ||
	    !bsdnet_flow_index_ok(&dp->dp_ft, flow))
		return;
	ng = hold_ngroups(dp);
	if (ng == 0)
		return;
	st = bsdnet_load_acq(&dp->dp_ft.ft_flows[flow].fe_state);
	if (st != BSDNET_FLOW_WORD(gen, BSDNET_FLOW_ACTIVE))
		return;	/* not decided (yet): the tick expires its queue */
	g = &dp->dp_hold[(flow % ng) * QPH];
	dp->dp_replaying = 1;
	/* Oldest first, so the flow's packets keep their order. */
	for (n = 0; n < QPH; n++) {
		s = NULL;
		oldest = 0;
		for (i = 0; i < QPH; i++) {
			if (g[i].hs_flow != flow ||
			    g[i].hs_gen != (gen & BSDNET_FLOW_GEN_MASK))
				continue;
			if (s == NULL || g[i].hs_time_ms < oldest) {
				s = &g[i];
				oldest = g[i].hs_time_ms;
			}
		}
		if (s == NULL)
			break;
		/* Free the slot first; with dp_replaying set nothing can
		 * queue into it while its bytes are in flight. */
		s->hs_flow = (uint32_t)BSDNET_FLOW_NONE;
		pkt.p_data = s->hs_data + BSDNET_HEADROOM;
		pkt.p_len = s->hs_len;
		pkt.p_totlen = s->hs_len;
		pkt.p_headroom = BSDNET_HEADROOM;
		pkt.p_pad = 0;
		pkt.p_os = NULL;
		bsdnet_input_frame(dp, s->hs_vif, &pkt, true);
	}
	dp->dp_replaying = 0;
	bsdnet_acc_flush(dp);
}

/* Queued packets older than the timeout, or whose flow went away. */
void
bsdnet_hold_expire(struct bsdnet_dp *dp, uint64_t now_ms, uint32_t timeout_ms)
{
	struct bsdnet_hold_slot *s;
	uint32_t i, n;

	n = hold_ngroups(dp) * QPH;
	for (i = 0; i < n; i++) {
		s = &dp->dp_hold[i];
		if (s->hs_flow == (uint32_t)BSDNET_FLOW_NONE)
			continue;
		if (now_ms - s->hs_time_ms >= timeout_ms || !slot_live(dp, s))
			slot_drop(dp, s);
	}
}

/*
 * HOLD entries older than the timeout go back to FREE (gen + 1),
 * BSDNET_EXPIRE_CHUNK entries per tick.  A HOLD a few nanoseconds old can
 * be freed by a tick that reads fe_hold_time before its claimer wrote it:
 * see kmod/DESIGN.md, "The slow path".
 */
void
bsdnet_flow_expire(struct bsdnet_dp *dp, uint32_t now_ms, uint32_t timeout_ms)
{
	struct bsdnet_flow *fe;
	uint32_t n, i, idx, st, nent = dp->dp_ft.ft_nentries;

	n = nent < BSDNET_EXPIRE_CHUNK ? nent : BSDNET_EXPIRE_CHUNK;
	idx = dp->dp_expire_cursor;
	for (i = 0; i < n; i++) {
		if (idx >= nent)
			idx = 0;
		fe = &dp->dp_ft.ft_flows[idx];
		st = bsdnet_load_acq(&fe->fe_state);
		if (BSDNET_FLOW_STATE(st) == BSDNET_FLOW_HOLD &&
		    now_ms - bsdnet_load_rlx(&fe->fe_hold_time) >= timeout_ms &&
		    bsdnet_flow_free(&dp->dp_ft, idx, BSDNET_FLOW_GEN(st), NULL))
			bsdnet_holds_dec(dp);
		idx++;
	}
	dp->dp_expire_cursor = idx;
}
