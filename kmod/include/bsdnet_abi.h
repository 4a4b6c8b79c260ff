/*-
 * bsdnet shared-memory ABI: the one place the layout of the region shared
 * by the agent (Python, through cffi: this file preprocessed with
 * -DBSDNET_ABI_CFFI) and the datapath is written down.  Its rules and
 * memory orders: kmod/DESIGN.md, "The shared-memory ABI".
 *
 * Who writes each field:
 *	(c)	the region's creator (the datapath), once, before rh_magic
 *	(a)	the agent
 *	(d)	the datapath
 *	(d,a)	both, only through the atomic operation named beside it
 * The datapath range-checks every index, length and offset it reads here.
 * Moving a field means bumping BSDNET_ABI_VERSION.
 */
#ifndef _BSDNET_ABI_H_
#define _BSDNET_ABI_H_

#ifndef BSDNET_ABI_CFFI
#include <stdint.h>
#endif

enum bsdnet_abi_const {
	BSDNET_MAGIC		= 0x424e4554,	/* "BNET" */
	BSDNET_ABI_VERSION	= 5,
	BSDNET_IFNAMSIZ		= 16,
	BSDNET_ETH_ALEN		= 6,
	BSDNET_ECMP_MAX		= 8,	/* members of one ECMP nexthop */
	BSDNET_RT_STRIDE	= 256,	/* 8-bit strides: 4 reads per lookup */
	BSDNET_FLOW_WAYS	= 4,	/* entries per flow hash bucket */
	BSDNET_DROP_SLOTS	= 64,	/* room in st_drops[] */
	BSDNET_REGION_ALIGN	= 4096,	/* every table starts on a page */
	BSDNET_FLOW_NONE	= -1,	/* "no flow" index (0xffffffff) */
	BSDNET_LABEL_MIN	= 16,	/* labels 0..15 are reserved by MPLS */
	BSDNET_QUEUE_PER_HOLD	= 3,	/* packets queued on one HOLD entry */
	BSDNET_TRAP_VERSION	= 1,
	BSDNET_EP_WAYS		= 8,	/* entries per endpoint bucket */
	BSDNET_EP_BUCKETS	= 2048,	/* x8 = 16384 (endpoint, VRF) pairs */
	BSDNET_EP_VRF_ANY	= 0xffff, /* "a known endpoint", any VRF */
};

/* Defaults fit a real compute node (vRouter: 512K flows, 4096 VRFs). */
enum bsdnet_defaults {
	BSDNET_DEF_VIFS		= 4096,
	BSDNET_DEF_NEXTHOPS	= 65536,
	BSDNET_DEF_LABELS	= 5120,
	BSDNET_DEF_VRFS		= 4096,
	BSDNET_DEF_RTBUCKETS	= 16384,
	BSDNET_DEF_FLOWBUCKETS	= 131072,	/* x4 ways = 512K flows */
	BSDNET_DEF_OVFBUCKETS	= 26216,	/* ~20% overflow */
	BSDNET_DEF_MAXHOLD	= 8192,
	BSDNET_DEF_TRAP_RATE	= 200000,	/* traps per second */
	BSDNET_DEF_HOLD_TIMEOUT_MS = 2000,
	BSDNET_DEF_ICMP_RATE	= 1000,		/* ICMP errors per second */
};

/* rh_dp_flags: what the agent turns on or off in the datapath. */
enum bsdnet_dp_flags {
	BSDNET_DPF_NO_MSS_CLAMP	= 0x0001,	/* leave TCP SYNs' MSS alone */
	/* Take encapsulated packets from any outer source: no tunnel
	 * endpoint check.  Clear, the default, enforces it. */
	BSDNET_DPF_ANY_SOURCE	= 0x0002,
};

enum bsdnet_vif_type {
	BSDNET_VIF_NONE		= 0,	/* slot unused */
	BSDNET_VIF_VIRTUAL	= 1,	/* a VM's interface (tap, veth) */
	BSDNET_VIF_FABRIC	= 2,	/* the physical uplink to other nodes */
	BSDNET_VIF_HOST		= 3,	/* vhost0: the host stack's door */
	BSDNET_VIF_AGENT	= 4,	/* pkt0: the trap channel */
};

enum bsdnet_vif_flags {
	BSDNET_VIF_F_POLICY	= 0x0001,	/* packets need a flow entry */
	BSDNET_VIF_F_UP		= 0x0002,	/* (a) link state from the host */
};

enum bsdnet_nh_type {
	BSDNET_NH_NONE		= 0,	/* invalid; nexthop 0 is never used */
	BSDNET_NH_DISCARD	= 1,
	BSDNET_NH_RECEIVE	= 2,	/* to the host stack / agent */
	BSDNET_NH_ENCAP		= 3,	/* deliver to a local vif, MACs rewritten */
	BSDNET_NH_TUNNEL	= 4,	/* MPLS over GRE to another node */
	BSDNET_NH_ECMP		= 5,	/* one of nh_members by inner 5-tuple hash */
	BSDNET_NH_VRF		= 6,	/* look the inner destination up in nh_vrf */
};

/*
 * Route entry word (vrf_root[] and rb_ent[]):
 *   0                          no route
 *   BUCKET | index             next level is rtbuckets[index]
 *   plen << PLEN_SHIFT | nh    leaf: nexthop nh, installed by a /plen route
 */
enum bsdnet_rt_word {
	BSDNET_RT_BUCKET	= 0x40000000,	/* bit 31 must be zero */
	BSDNET_RT_PLEN_SHIFT	= 24,
	BSDNET_RT_PLEN_MASK	= 0x3f,
	BSDNET_RT_INDEX_MASK	= 0x00ffffff,
};

enum bsdnet_flow_state {
	BSDNET_FLOW_FREE	= 0,
	BSDNET_FLOW_HOLD	= 1,
	BSDNET_FLOW_ACTIVE	= 2,
	BSDNET_FLOW_STATE_MASK	= 0xff,
	BSDNET_FLOW_GEN_SHIFT	= 8,
};

enum bsdnet_flow_action {
	BSDNET_FA_NONE		= 0,
	BSDNET_FA_FORWARD	= 1,
	BSDNET_FA_DROP		= 2,
};

enum bsdnet_flow_flags {
	BSDNET_FE_F_REVERSE	= 0x0001,	/* (a) installed as a reverse flow */
	BSDNET_FE_F_TCP_FIN	= 0x0002,	/* (d) FIN seen */
	BSDNET_FE_F_TCP_RST	= 0x0004,	/* (d) RST seen */
};

enum bsdnet_trap_reason {
	BSDNET_TRAP_FLOW_MISS	= 1,	/* first packet of a flow: decide */
	BSDNET_TRAP_DHCP	= 2,	/* DHCP from a VM */
	BSDNET_TRAP_ARP		= 3,	/* ARP the datapath did not answer */
	BSDNET_TRAP_RECEIVE	= 4,	/* RECEIVE nexthop: for the host */
};

/* Agent -> datapath messages on the trap channel. */
enum bsdnet_ctl_type {
	BSDNET_CTL_RELEASE	= 1,	/* flow decided: replay its queue */
	BSDNET_CTL_XMIT		= 2,	/* send the frame that follows on ch_vif */
	BSDNET_CTL_VIF_SYNC	= 3,	/* vif table changed: (re)attach */
};

/*
 * Drop reasons.  Each has its own counter in st_drops[]; vrctl prints the
 * enum names, so name them for an operator.
 */
enum bsdnet_drop {
	BSDNET_DROP_NONE = 0,
	BSDNET_DROP_INVALID_VIF,	/* packet on a vif the table does not know */
	BSDNET_DROP_TRUNCATED,		/* frame shorter than its headers */
	BSDNET_DROP_UNSUPPORTED_L2,	/* ethertype / VLAN we do not forward */
	BSDNET_DROP_BAD_IPV4_HDR,	/* version, IHL or total length wrong */
	BSDNET_DROP_BAD_IPV4_CSUM,
	BSDNET_DROP_TTL_EXPIRED,
	BSDNET_DROP_NOT_ROUTER_MAC,	/* unicast IP not sent to the router MAC */
	BSDNET_DROP_BAD_GRE,		/* flags, version or truncated GRE */
	BSDNET_DROP_GRE_PROTO,		/* GRE payload is not MPLS unicast */
	BSDNET_DROP_BAD_MPLS,		/* truncated, or not bottom of stack */
	BSDNET_DROP_INVALID_LABEL,	/* label not allocated on this node */
	BSDNET_DROP_LABEL_MISMATCH,	/* inner packet not for the label's VM */
	BSDNET_DROP_NOT_FOR_FABRIC,	/* fabric packet not addressed to us */
	BSDNET_DROP_NO_ROUTE,
	BSDNET_DROP_INVALID_NH,		/* nexthop index or content is bad */
	BSDNET_DROP_DISCARD_NH,
	BSDNET_DROP_INVALID_VRF,
	BSDNET_DROP_FLOW_TABLE_FULL,
	BSDNET_DROP_FLOW_HOLD_LIMIT,	/* too many HOLD entries */
	BSDNET_DROP_FLOW_QUEUE_FULL,	/* a HOLD entry already has its 3 */
	BSDNET_DROP_FLOW_ACTION_DROP,	/* policy said drop */
	BSDNET_DROP_FLOW_INVALID,	/* corrupt flow entry or index */
	BSDNET_DROP_FLOW_QUOTA,		/* vif or VRF flow quota reached */
	BSDNET_DROP_TRAP_RATE,		/* trap rate limit reached */
	BSDNET_DROP_TRAP_FAILED,	/* agent channel absent or full */
	BSDNET_DROP_ARP_MALFORMED,
	BSDNET_DROP_ARP_NOT_ANSWERED,	/* ARP for an address we do not own */
	BSDNET_DROP_SPOOFED_MAC,
	BSDNET_DROP_SPOOFED_IP,
	BSDNET_DROP_MTU_EXCEEDED,	/* encapsulated frame too big, DF set */
	BSDNET_DROP_NO_HEADROOM,
	BSDNET_DROP_TX_FAILED,
	BSDNET_DROP_VIF_DOWN,
	BSDNET_DROP_FRAGMENT,		/* IPv4 fragment we cannot key */
	BSDNET_DROP_L4_TRUNCATED,	/* TCP/UDP/ICMP header cut short */
	BSDNET_DROP_HOLD_EXPIRED,	/* queued packet of a flow never decided */
	BSDNET_DROP_MTU_EXCEEDED_NO_DF,	/* encapsulated frame too big, DF clear:
					 * not fragmented (kmod/DESIGN.md) */
	BSDNET_DROP_UNKNOWN_ENDPOINT,	/* tunnel from a source not a known node */
	BSDNET_DROP_ENDPOINT_VRF,	/* known node, label of a VRF not its */
	BSDNET_DROP_MAX			/* keep last; <= BSDNET_DROP_SLOTS */
};

/* The first page of the region. */
struct bsdnet_region_hdr {
	uint32_t rh_magic;		/* (c) BSDNET_MAGIC, stored last */
	uint32_t rh_abi_version;	/* (c) BSDNET_ABI_VERSION */
	uint64_t rh_size;		/* (c) bytes in the region */
	uint64_t rh_instance;		/* (c) random id of these tables */
	uint32_t rh_nvifs;		/* (c) geometry ... */
	uint32_t rh_nnexthops;
	uint32_t rh_nlabels;
	uint32_t rh_nvrfs;
	uint32_t rh_nrtbuckets;
	uint32_t rh_nflowbuckets;	/* main area: buckets of 4 */
	uint32_t rh_novfbuckets;	/* overflow area: buckets of 4 */
	uint32_t rh_maxhold;		/* (c) cap on HOLD entries */
	uint64_t rh_off_vifs;		/* (c) byte offsets from region start */
	uint64_t rh_off_vifstats;
	uint64_t rh_off_nexthops;
	uint64_t rh_off_labels;
	uint64_t rh_off_vrfs;
	uint64_t rh_off_rtbuckets;
	uint64_t rh_off_flows;		/* main area then overflow area */
	uint64_t rh_off_stats;
	uint64_t rh_off_flowtags;	/* one struct bsdnet_flow_tags per bucket */
	uint64_t rh_hash_key[2];	/* (c) SipHash-1-3 key of the flow hash */
	uint8_t  rh_router_mac[BSDNET_ETH_ALEN]; /* (a) MAC ARP answers with */
	uint16_t rh_pad0;
	uint32_t rh_trap_rate;		/* (a) traps per second, 0 = default */
	uint32_t rh_hold_timeout_ms;	/* (a) HOLD entries older are freed */
	uint32_t rh_dp_pid;		/* (d) process (or 0 in the kernel) */
	uint32_t rh_dp_heartbeat;	/* (d) seconds, bumped while alive */
	uint32_t rh_agent_pid;		/* (a) */
	uint32_t rh_agent_heartbeat;	/* (a) */
	uint32_t rh_dp_flags;		/* (a) enum bsdnet_dp_flags */
	uint32_t rh_icmp_rate;		/* (a) ICMP errors per second, 0 = default */
	uint64_t rh_off_endpoints;	/* (c) BSDNET_EP_BUCKETS buckets */
	uint32_t rh_reserved[976];	/* zero; pads the header to a page */
};

struct bsdnet_vif {
	uint32_t vif_seq;		/* (a) seqlock, odd while writing */
	uint16_t vif_type;		/* (a) enum bsdnet_vif_type */
	uint16_t vif_flags;		/* (a) enum bsdnet_vif_flags */
	uint16_t vif_vrf;		/* (a) VRF of packets from this vif */
	uint16_t vif_vlan;		/* (a) reserved for tagged ports, 0 */
	uint32_t vif_ip;		/* (a) VM or fabric address, host order */
	uint32_t vif_nh;		/* (a) nexthop delivering to this vif */
	uint32_t vif_mtu;		/* (a) */
	uint8_t  vif_mac[BSDNET_ETH_ALEN]; /* (a) VM's MAC, or fabric's own */
	uint16_t vif_pad0;
	char     vif_name[BSDNET_IFNAMSIZ]; /* (a) OS name, NUL-terminated */
	uint32_t vif_os_index;		/* (d) OS ifindex while attached, 0 if not */
	uint32_t vif_flow_quota;	/* (a) max flows from this vif, 0 = none */
	uint32_t vif_gw;		/* (a) VM's gateway: source of the ICMP
					 * errors the datapath sends it, host order */
	uint32_t vif_reserved[9];
};

struct bsdnet_vif_stats {		/* all (d) except where marked */
	uint64_t vs_rx_pkts;
	uint64_t vs_rx_bytes;
	uint64_t vs_tx_pkts;
	uint64_t vs_tx_bytes;
	uint64_t vs_drops;
	uint64_t vs_traps;
	uint32_t vs_flows;		/* (d,a) atomic add: flows charged here */
	uint32_t vs_pad;
	uint64_t vs_reserved;
};

struct bsdnet_nh {
	uint32_t nh_seq;		/* (a) seqlock, odd while writing */
	uint16_t nh_type;		/* (a) enum bsdnet_nh_type */
	uint16_t nh_flags;		/* (a) zero for now */
	uint16_t nh_vrf;		/* (a) VRF of the destination */
	uint16_t nh_nmembers;		/* (a) ECMP: members used */
	uint32_t nh_vif;		/* (a) ENCAP: VM vif; TUNNEL: fabric vif */
	uint8_t  nh_dmac[BSDNET_ETH_ALEN]; /* (a) destination MAC on output */
	uint8_t  nh_smac[BSDNET_ETH_ALEN]; /* (a) source MAC on output */
	uint32_t nh_tun_src;		/* (a) TUNNEL: outer source, host order */
	uint32_t nh_tun_dst;		/* (a) TUNNEL: outer destination */
	uint32_t nh_label;		/* (a) TUNNEL: label to push (20 bits) */
	uint32_t nh_members[BSDNET_ECMP_MAX]; /* (a) ENCAP or TUNNEL nexthops */
	uint32_t nh_reserved[6];
};

struct bsdnet_label {
	uint32_t lbl_nh;		/* (a) nexthop for this label, 0 = none */
};

struct bsdnet_vrf {
	uint32_t vrf_flags;		/* (a) 1 = in use */
	uint32_t vrf_flow_quota;	/* (a) max flows in this VRF, 0 = none */
	uint32_t vrf_nflows;		/* (d,a) atomic add: flows charged here */
	uint32_t vrf_reserved[13];
	uint32_t vrf_root[BSDNET_RT_STRIDE]; /* (a) first octet of the mtrie */
};

struct bsdnet_rtbucket {
	uint32_t rb_ent[BSDNET_RT_STRIDE];	/* (a) next octet */
};

struct bsdnet_flow_key {
	uint16_t fk_vrf;
	uint8_t  fk_proto;
	uint8_t  fk_pad;		/* zero */
	uint32_t fk_src;		/* host order */
	uint32_t fk_dst;
	uint16_t fk_sport;		/* ICMP echo: identifier */
	uint16_t fk_dport;		/* ICMP echo: 0 */
};

struct bsdnet_flow {
	uint32_t fe_state;		/* (d,a) CAS: gen << 8 | state */
	uint8_t  fe_action;		/* (owner) enum bsdnet_flow_action */
	uint8_t  fe_tcp_flags;		/* (d) OR of TCP flags seen */
	uint16_t fe_drop_reason;	/* (owner) counted when action is DROP */
	struct bsdnet_flow_key fe_key;	/* (owner) */
	uint32_t fe_rflow;		/* (a) reverse flow, or BSDNET_FLOW_NONE */
	uint16_t fe_src_vif;		/* (owner) vif of the first packet */
	uint16_t fe_flags;		/* (d,a) enum bsdnet_flow_flags, atomic or */
	uint32_t fe_hold_time;		/* (d) ms clock when HOLD was claimed */
	uint32_t fe_last_used;		/* (d) seconds clock of the last packet */
	uint64_t fe_packets;		/* (d) of generation fe_count_gen */
	uint64_t fe_bytes;		/* (d) of generation fe_count_gen: IPv4
					 * length + 14 per packet, as the VM
					 * sends or gets it */
	uint32_t fe_nh;			/* (a) reserved: pinned nexthop, 0 */
	uint32_t fe_count_gen;		/* (d) generation the counts are of */
};

/* Tags of one flow bucket, way by way: 16 bits of the key's hash, stored
 * after the key by whoever claims the way.  Hints: a wrong one costs a
 * miss, never a wrong match. */
struct bsdnet_flow_tags {
	uint16_t ftg_tag[BSDNET_FLOW_WAYS]; /* (d,a) atomic store after claim */
};

struct bsdnet_stats {			/* all (d) except where marked */
	uint64_t st_drops[BSDNET_DROP_SLOTS];	/* by enum bsdnet_drop */
	uint64_t st_rx_pkts;
	uint64_t st_tx_pkts;
	uint64_t st_traps;
	uint64_t st_flow_hits;
	uint64_t st_flow_misses;
	uint64_t st_encaps;
	uint64_t st_decaps;
	uint64_t st_arp_replies;
	uint32_t st_holds;		/* (d,a) atomic add: HOLD entries now */
	uint32_t st_pad;
	uint64_t st_icmp_too_big;	/* ICMP "fragmentation needed" sent */
	uint64_t st_icmp_rate_limited;	/* ... not sent: rh_icmp_rate reached */
	uint64_t st_mss_clamped;	/* TCP SYNs whose MSS was lowered */
	uint64_t st_reserved[20];
};

/*
 * Known tunnel endpoints: which outer source may send into which VRF
 * (kmod/DESIGN.md, "Tunnel endpoints").  An entry is one word,
 * addr << 32 | vrf << 16 | 1 (0 = free); (addr, BSDNET_EP_VRF_ANY) says
 * addr is a node at all.  Entry e lives in one of two buckets chosen by
 * bsdnet_ep_buckets() (kmod/core/bsdnet_endpoint.h); the agent, sole
 * writer, stores whole words with release.
 */
struct bsdnet_ep_bucket {
	uint64_t epb_ent[BSDNET_EP_WAYS];	/* (a) */
};

/* Datapath -> agent: precedes each trapped frame. */
struct bsdnet_trap_hdr {
	uint16_t th_version;		/* BSDNET_TRAP_VERSION */
	uint16_t th_reason;		/* enum bsdnet_trap_reason */
	uint16_t th_vif;		/* vif the frame came in on */
	uint16_t th_vrf;
	uint32_t th_flow;		/* flow index, or BSDNET_FLOW_NONE */
	uint32_t th_gen;		/* generation of that flow entry */
	uint32_t th_len;		/* bytes of frame that follow */
	uint32_t th_nh;			/* nexthop that delivered it, or 0 */
};

/* Agent -> datapath: precedes each control message. */
struct bsdnet_ctl_hdr {
	uint16_t ch_type;		/* enum bsdnet_ctl_type */
	uint16_t ch_vif;		/* XMIT: vif to send on */
	uint32_t ch_flow;		/* RELEASE: flow index */
	uint32_t ch_gen;		/* RELEASE: its generation */
	uint32_t ch_len;		/* XMIT: bytes of frame that follow */
};

#ifndef BSDNET_ABI_CFFI
#include <stddef.h>
#define BSDNET_ABI_ASSERT_SIZE(t, n) \
	_Static_assert(sizeof(struct t) == (n), #t " size is ABI")
BSDNET_ABI_ASSERT_SIZE(bsdnet_region_hdr, 4096);
BSDNET_ABI_ASSERT_SIZE(bsdnet_vif, 96);
BSDNET_ABI_ASSERT_SIZE(bsdnet_vif_stats, 64);
BSDNET_ABI_ASSERT_SIZE(bsdnet_nh, 96);
BSDNET_ABI_ASSERT_SIZE(bsdnet_label, 4);
BSDNET_ABI_ASSERT_SIZE(bsdnet_vrf, 1088);
BSDNET_ABI_ASSERT_SIZE(bsdnet_rtbucket, 1024);
BSDNET_ABI_ASSERT_SIZE(bsdnet_flow_key, 16);
BSDNET_ABI_ASSERT_SIZE(bsdnet_flow, 64);
BSDNET_ABI_ASSERT_SIZE(bsdnet_flow_tags, 8);
BSDNET_ABI_ASSERT_SIZE(bsdnet_stats, 768);
BSDNET_ABI_ASSERT_SIZE(bsdnet_ep_bucket, 64);
BSDNET_ABI_ASSERT_SIZE(bsdnet_trap_hdr, 24);
BSDNET_ABI_ASSERT_SIZE(bsdnet_ctl_hdr, 16);
_Static_assert(offsetof(struct bsdnet_region_hdr, rh_hash_key) == 128,
    "hash key offset is ABI");
_Static_assert(offsetof(struct bsdnet_region_hdr, rh_off_endpoints) == 184,
    "endpoint table offset is ABI");
_Static_assert(offsetof(struct bsdnet_flow, fe_packets) == 40,
    "flow counters offset is ABI");
_Static_assert(offsetof(struct bsdnet_vrf, vrf_root) == 64,
    "mtrie root offset is ABI");
_Static_assert((int)BSDNET_DROP_MAX <= (int)BSDNET_DROP_SLOTS, "room for drop reasons");
#endif

#endif /* !_BSDNET_ABI_H_ */
