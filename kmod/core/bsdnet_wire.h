/*-
 * The wire formats the core parses and writes.  Fields are byte arrays,
 * read and written only through bsdnet_rd16/32() and bsdnet_wr16/32()
 * (network order), so a header may sit at any alignment.
 */
#ifndef _BSDNET_WIRE_H_
#define _BSDNET_WIRE_H_

#include <stdint.h>

#include "bsdnet_abi.h"

enum bsdnet_wire {
	BSDNET_ETH_HLEN		= 14,
	BSDNET_VLAN_HLEN	= 4,
	BSDNET_VLAN_VID_MASK	= 0x0fff,
	BSDNET_ETHERTYPE_IPV4	= 0x0800,
	BSDNET_ETHERTYPE_ARP	= 0x0806,
	BSDNET_ETHERTYPE_VLAN	= 0x8100,
	BSDNET_ETHERTYPE_MPLS	= 0x8847,
	BSDNET_IP_VHL		= 0x45,		/* version 4, 20-byte header */
	BSDNET_IP_HLEN		= 20,
	BSDNET_IP_DF		= 0x4000,
	BSDNET_IP_MF		= 0x2000,
	BSDNET_IP_OFFMASK	= 0x1fff,
	BSDNET_IPPROTO_ICMP	= 1,
	BSDNET_IPPROTO_TCP	= 6,
	BSDNET_IPPROTO_UDP	= 17,
	BSDNET_IPPROTO_GRE	= 47,
	BSDNET_ICMP_ECHOREPLY	= 0,
	BSDNET_ICMP_ECHO	= 8,
	BSDNET_ICMP_UNREACH	= 3,
	BSDNET_ICMP_UNREACH_NEEDFRAG = 4,	/* code: fragmentation needed */
	BSDNET_ICMP_SOURCEQUENCH = 4,
	BSDNET_ICMP_REDIRECT	= 5,
	BSDNET_ICMP_TIMXCEED	= 11,
	BSDNET_ICMP_PARAMPROB	= 12,
	BSDNET_ICMP_QUOTE_DATA	= 8,	/* payload bytes an error quotes */
	BSDNET_IPTOS_PREC_INTERNETCONTROL = 0xc0,
	BSDNET_TH_FIN		= 0x01,
	BSDNET_TH_SYN		= 0x02,
	BSDNET_TH_RST		= 0x04,
	BSDNET_TCP_HLEN		= 20,
	BSDNET_TCPOPT_EOL	= 0,
	BSDNET_TCPOPT_NOP	= 1,
	BSDNET_TCPOPT_MSS	= 2,
	BSDNET_TCPOLEN_MSS	= 4,
	BSDNET_GRE_HLEN		= 4,
	BSDNET_MPLS_HLEN	= 4,
	BSDNET_MPLS_LABEL_SHIFT	= 12,
	BSDNET_MPLS_BOS		= 0x100,	/* bottom of stack */
	BSDNET_MPLS_LABEL_MAX	= 0xfffff,
	BSDNET_ARP_LEN		= 28,
	BSDNET_ARP_HRD_ETHER	= 1,
	BSDNET_ARP_OP_REQUEST	= 1,
	BSDNET_ARP_OP_REPLY	= 2,
	BSDNET_ENCAP_LEN	= 14 + 20 + 4 + 4,	/* outer eth+ip+gre+mpls */
	BSDNET_OUTER_TTL	= 64,
	BSDNET_DHCP_SERVER_PORT	= 67,
};

struct bsdnet_ether {
	uint8_t	eth_dst[BSDNET_ETH_ALEN];
	uint8_t	eth_src[BSDNET_ETH_ALEN];
	uint8_t	eth_type[2];
};

/* An Ethernet header with one 802.1Q tag. */
struct bsdnet_ether_vlan {
	uint8_t	evl_dst[BSDNET_ETH_ALEN];
	uint8_t	evl_src[BSDNET_ETH_ALEN];
	uint8_t	evl_tpid[2];		/* BSDNET_ETHERTYPE_VLAN */
	uint8_t	evl_tci[2];		/* priority, DEI, VLAN id */
	uint8_t	evl_type[2];
};

struct bsdnet_ipv4 {
	uint8_t	ip_vhl;			/* version << 4 | header length / 4 */
	uint8_t	ip_tos;
	uint8_t	ip_len[2];
	uint8_t	ip_id[2];
	uint8_t	ip_off[2];		/* DF, MF, fragment offset */
	uint8_t	ip_ttl;
	uint8_t	ip_p;
	uint8_t	ip_sum[2];
	uint8_t	ip_src[4];
	uint8_t	ip_dst[4];
};

/* What the flow key takes of TCP, UDP and ICMP headers.  TCP and UDP
 * both begin with the ports. */
struct bsdnet_l4ports {
	uint8_t	l4_sport[2];
	uint8_t	l4_dport[2];
};

struct bsdnet_tcp {
	uint8_t	th_sport[2];
	uint8_t	th_dport[2];
	uint8_t	th_seq[4];
	uint8_t	th_ack[4];
	uint8_t	th_off;
	uint8_t	th_flags;
	uint8_t	th_win[2];
	uint8_t	th_sum[2];
	uint8_t	th_urp[2];
};

struct bsdnet_udp {
	uint8_t	uh_sport[2];
	uint8_t	uh_dport[2];
	uint8_t	uh_ulen[2];
	uint8_t	uh_sum[2];
};

struct bsdnet_icmp {
	uint8_t	icmp_type;
	uint8_t	icmp_code;
	uint8_t	icmp_cksum[2];
	uint8_t	icmp_id[2];		/* echo */
	uint8_t	icmp_seq[2];
};

/* ICMP "fragmentation needed" (RFC 1191): the next hop's MTU where an
 * echo has its identifier and sequence number. */
struct bsdnet_icmp_toobig {
	uint8_t	itb_type;		/* BSDNET_ICMP_UNREACH */
	uint8_t	itb_code;		/* BSDNET_ICMP_UNREACH_NEEDFRAG */
	uint8_t	itb_cksum[2];
	uint8_t	itb_unused[2];		/* zero */
	uint8_t	itb_mtu[2];
};

struct bsdnet_gre {
	uint8_t	gre_flags[2];		/* C, K, S bits and version: all 0 */
	uint8_t	gre_proto[2];
};

struct bsdnet_mpls {
	uint8_t	mpls_lse[4];		/* label << 12 | TC << 9 | S << 8 | TTL */
};

/* What bsdnet_encap_tunnel() writes in front of the inner IPv4 packet. */
struct bsdnet_encap {
	struct bsdnet_ether	en_eth;
	struct bsdnet_ipv4	en_ip;
	struct bsdnet_gre	en_gre;
	struct bsdnet_mpls	en_mpls;
};

struct bsdnet_arp {			/* Ethernet and IPv4 only */
	uint8_t	ar_hrd[2];
	uint8_t	ar_pro[2];
	uint8_t	ar_hln;
	uint8_t	ar_pln;
	uint8_t	ar_op[2];
	uint8_t	ar_sha[BSDNET_ETH_ALEN];
	uint8_t	ar_spa[4];
	uint8_t	ar_tha[BSDNET_ETH_ALEN];
	uint8_t	ar_tpa[4];
};

_Static_assert(sizeof(struct bsdnet_ether) == BSDNET_ETH_HLEN, "ether");
_Static_assert(sizeof(struct bsdnet_ether_vlan) ==
    BSDNET_ETH_HLEN + BSDNET_VLAN_HLEN, "ether_vlan");
_Static_assert(sizeof(struct bsdnet_ipv4) == BSDNET_IP_HLEN, "ipv4");
_Static_assert(sizeof(struct bsdnet_l4ports) == 4, "l4ports");
_Static_assert(sizeof(struct bsdnet_tcp) == 20, "tcp");
_Static_assert(sizeof(struct bsdnet_udp) == 8, "udp");
_Static_assert(sizeof(struct bsdnet_icmp) == 8, "icmp");
_Static_assert(sizeof(struct bsdnet_icmp_toobig) == 8, "icmp_toobig");
_Static_assert(sizeof(struct bsdnet_gre) == BSDNET_GRE_HLEN, "gre");
_Static_assert(sizeof(struct bsdnet_mpls) == BSDNET_MPLS_HLEN, "mpls");
_Static_assert(sizeof(struct bsdnet_encap) == BSDNET_ENCAP_LEN, "encap");
_Static_assert(sizeof(struct bsdnet_arp) == BSDNET_ARP_LEN, "arp");

#endif /* !_BSDNET_WIRE_H_ */
