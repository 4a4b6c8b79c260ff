/*-
 * What the forwarding core carries along with a packet between the steps
 * of its pipeline.  Core-private: bsdnet_core.h includes it only so that
 * struct bsdnet_dp can hold a burst's worth of these.
 */
#ifndef _BSDNET_CTX_H_
#define _BSDNET_CTX_H_

#include <stdint.h>
#include <stdbool.h>

#include "bsdnet_abi.h"
#include "bsdnet_flowtab_priv.h"

/* The fields of a vif the output and decapsulation paths check. */
struct bsdnet_vif_out {
	uint16_t		 vo_type;
	uint16_t		 vo_flags;
	uint32_t		 vo_ip;
	uint32_t		 vo_mtu;
};

/*
 * What the pipeline knows about the packet in hand: on the stack for a
 * packet on its own, in dp_burst[] between the passes of a burst.
 */
struct bsdnet_ctx {
	const struct bsdnet_vif	*c_vif;		/* the input vif, copied once */
	struct bsdnet_nh	 c_nh;		/* copy of the resolved nexthop */
	struct bsdnet_flow_key	 c_key;		/* flow key (host order) */
	uint64_t		 c_hash;	/* SipHash of c_key */
	struct bsdnet_flow_cand	 c_cand;	/* its buckets and tag */
	uint32_t		 c_vifidx;	/* input vif */
	uint32_t		 c_nhidx;	/* resolved nexthop index */
	uint32_t		 c_l3off;	/* (inner) IPv4 header offset */
	uint32_t		 c_iplen;	/* its total length */
	uint32_t		 c_lblnh;	/* fabric: nexthop the label named */
	uint8_t			 c_tcp_flags;
	uint8_t			 c_mpls_ttl;
	bool			 c_replay;	/* from the hold queue */
	bool			 c_policy;	/* flows apply */
	bool			 c_hashed;	/* c_hash is valid */
	bool			 c_cand_ok;	/* c_cand is valid */
	bool			 c_peek;	/* burst stage 1: no side effects */
	bool			 c_out_ok;	/* c_out read (decap): no re-read */
	struct bsdnet_vif_out	 c_out;		/* vif of c_nh.nh_vif */
};

#endif /* !_BSDNET_CTX_H_ */
