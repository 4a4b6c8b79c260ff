/*-
 * A BPF program at tc ingress through rtnetlink: the clsact qdisc and one
 * direct-action cls_bpf filter of ours.  lnx_steal.c's way on kernels
 * without tcx (before Linux 6.6, e.g. Debian 12's 6.1), as
 *
 *	tc qdisc add dev IF clsact
 *	tc filter replace dev IF ingress prio 189 handle 1 bpf da fd PROG
 *
 * would do it, without tc.  Unlike a tcx link the filter stays when the
 * daemon dies: the host stack keeps not seeing the frames (fail closed)
 * until a restarted daemon replaces the filter or a clean exit removes it.
 * Our filter is known by its priority; other filters on the interface
 * are left alone (one that decides before ours, at a lower priority
 * number, can let frames through).  Its class id, which a direct-action
 * filter does not use, names the region whose datapath put it there, so
 * that a datapath starting after a crash removes what its region left on
 * interfaces that stopped being vifs meanwhile (lnx_tc_sweep), and never
 * another region's.
 */
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "lnx.h"

#define LNX_TC_PRIO		189	/* "bd": ours, whoever else is there */
#define LNX_TC_HANDLE		1
#define LNX_TC_INGRESS		TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
#define LNX_TC_OWNER_MINOR	0xbd	/* minor of our class ids */

struct lnx_tc_req {
	struct nlmsghdr	 r_nh;
	struct tcmsg	 r_tc;
	uint8_t		 r_attrs[256];
};

/* Append attribute type with len bytes of data; false if it does not fit. */
static bool
lnx_tc_attr(struct lnx_tc_req *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a;
	size_t at = NLMSG_ALIGN(r->r_nh.nlmsg_len);

	if (at + RTA_SPACE(len) > sizeof(*r))
		return (false);
	a = (struct rtattr *)(void *)((uint8_t *)r + at);
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len > 0)
		memcpy(RTA_DATA(a), data, len);
	r->r_nh.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
	return (true);
}

static void
lnx_tc_init(struct lnx_tc_req *r, uint16_t type, uint16_t flags,
    uint32_t ifindex)
{

	memset(r, 0, sizeof(*r));
	r->r_nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
	r->r_nh.nlmsg_type = type;
	r->r_nh.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	r->r_nh.nlmsg_seq = 1;
	r->r_tc.tcm_family = AF_UNSPEC;
	r->r_tc.tcm_ifindex = (int)ifindex;
}

/* Send r and wait for its acknowledgement: 0, or -1 with errno set. */
static int
lnx_tc_talk(struct lnx_tc_req *r)
{
	struct sockaddr_nl sa;
	union {
		struct nlmsghdr	 nh;
		uint8_t		 b[512];
	} ans;
	struct nlmsgerr *e;
	ssize_t n;
	int fd, err = EPROTO;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return (-1);
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(fd, r, r->r_nh.nlmsg_len, 0, (struct sockaddr *)&sa,
	    sizeof(sa)) < 0) {
		err = errno;
		goto out;
	}
	n = recv(fd, &ans, sizeof(ans), 0);
	if (n < 0) {
		err = errno;
		goto out;
	}
	if ((size_t)n >= NLMSG_LENGTH(sizeof(*e)) &&
	    ans.nh.nlmsg_type == NLMSG_ERROR) {
		e = NLMSG_DATA(&ans.nh);
		err = -e->error;
	}
out:
	(void)close(fd);
	errno = err;
	return (err == 0 ? 0 : -1);
}

uint32_t
lnx_tc_owner(const char *region)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *region != '\0'; region++) {
		h ^= (uint8_t)*region;
		h *= 16777619u;
	}
	/* A major of our own and a minor clsact does not take for one of
	 * its classes (ingress, egress). */
	if (TC_H_MAJ(h) == 0)
		h = 0xbd0000u;
	return (TC_H_MAKE(TC_H_MAJ(h), LNX_TC_OWNER_MINOR));
}

/* Our filter's place: clsact ingress, our priority, every protocol. */
static void
lnx_tc_filter_place(struct lnx_tc_req *r)
{

	r->r_tc.tcm_parent = LNX_TC_INGRESS;
	r->r_tc.tcm_info = TC_H_MAKE((uint32_t)LNX_TC_PRIO << 16,
	    htons(ETH_P_ALL));
}

int
lnx_tc_filter_set(uint32_t ifindex, int prog_fd, uint32_t owner)
{
	struct lnx_tc_req r;
	struct rtattr *opts;
	uint32_t fd = (uint32_t)prog_fd, flags = TCA_BPF_FLAG_ACT_DIRECT;
	size_t at;

	lnx_tc_init(&r, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex);
	r.r_tc.tcm_parent = TC_H_CLSACT;
	r.r_tc.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
	(void)lnx_tc_attr(&r, TCA_KIND, "clsact", sizeof("clsact"));
	if (lnx_tc_talk(&r) != 0 && errno != EEXIST)
		return (-1);

	/* Replace: a program of ours already there is swapped atomically. */
	lnx_tc_init(&r, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, ifindex);
	lnx_tc_filter_place(&r);
	r.r_tc.tcm_handle = LNX_TC_HANDLE;
	(void)lnx_tc_attr(&r, TCA_KIND, "bpf", sizeof("bpf"));
	at = NLMSG_ALIGN(r.r_nh.nlmsg_len);
	if (!lnx_tc_attr(&r, TCA_OPTIONS, NULL, 0) ||
	    !lnx_tc_attr(&r, TCA_BPF_FD, &fd, sizeof(fd)) ||
	    !lnx_tc_attr(&r, TCA_BPF_NAME, "bsdnet_steal",
	    sizeof("bsdnet_steal")) ||
	    !lnx_tc_attr(&r, TCA_BPF_FLAGS, &flags, sizeof(flags)) ||
	    !lnx_tc_attr(&r, TCA_BPF_CLASSID, &owner, sizeof(owner))) {
		errno = EMSGSIZE;
		return (-1);
	}
	opts = (struct rtattr *)(void *)((uint8_t *)&r + at);
	opts->rta_type |= NLA_F_NESTED;
	opts->rta_len = (unsigned short)(r.r_nh.nlmsg_len - at);
	return (lnx_tc_talk(&r));
}

int
lnx_tc_filter_del(uint32_t ifindex)
{
	struct lnx_tc_req r;

	lnx_tc_init(&r, RTM_DELTFILTER, 0, ifindex);
	lnx_tc_filter_place(&r);
	(void)lnx_tc_attr(&r, TCA_KIND, "bpf", sizeof("bpf"));
	return (lnx_tc_talk(&r));
}

/* The class id in a filter message's options, or 0. */
static uint32_t
lnx_tc_msg_classid(const struct nlmsghdr *nh)
{
	const struct tcmsg *tc = NLMSG_DATA(nh);
	const struct rtattr *a, *o;
	bool bpf = false;
	uint32_t classid = 0;
	int len, olen;

	len = (int)nh->nlmsg_len - NLMSG_LENGTH(sizeof(*tc));
	a = (const struct rtattr *)(const void *)((const uint8_t *)tc +
	    NLMSG_ALIGN(sizeof(*tc)));
	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == TCA_KIND)
			bpf = RTA_PAYLOAD(a) == sizeof("bpf") &&
			    memcmp(RTA_DATA(a), "bpf", sizeof("bpf")) == 0;
		if ((a->rta_type & NLA_TYPE_MASK) != TCA_OPTIONS)
			continue;
		olen = (int)RTA_PAYLOAD(a);
		for (o = RTA_DATA(a); RTA_OK(o, olen); o = RTA_NEXT(o, olen))
			if (o->rta_type == TCA_BPF_CLASSID &&
			    RTA_PAYLOAD(o) == sizeof(classid))
				memcpy(&classid, RTA_DATA(o), sizeof(classid));
	}
	return (bpf ? classid : 0);
}

/*
 * Is owner's filter on ifindex?  A dump of our place (clsact ingress, our
 * priority): no clsact qdisc, or no filter there, is a no.
 */
static bool
lnx_tc_filter_ours(int fd, uint32_t ifindex, uint32_t owner)
{
	struct lnx_tc_req r;
	struct sockaddr_nl sa;
	union {
		struct nlmsghdr	 nh;
		uint8_t		 b[16384];
	} ans;
	struct nlmsghdr *nh;
	const struct tcmsg *tc;
	bool ours = false;
	ssize_t n;
	int len;

	lnx_tc_init(&r, RTM_GETTFILTER, NLM_F_DUMP, ifindex);
	r.r_nh.nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	lnx_tc_filter_place(&r);
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(fd, &r, r.r_nh.nlmsg_len, 0, (struct sockaddr *)&sa,
	    sizeof(sa)) < 0)
		return (false);
	for (;;) {
		n = recv(fd, &ans, sizeof(ans), 0);
		if (n <= 0)
			return (ours);
		len = (int)n;
		for (nh = &ans.nh; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE ||
			    nh->nlmsg_type == NLMSG_ERROR)
				return (ours);
			if (nh->nlmsg_type != RTM_NEWTFILTER ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*tc)))
				continue;
			tc = NLMSG_DATA(nh);
			if (tc->tcm_handle == LNX_TC_HANDLE &&
			    lnx_tc_msg_classid(nh) == owner)
				ours = true;
		}
	}
}

int
lnx_tc_sweep(uint32_t owner, bool (*keep)(void *, uint32_t), void *arg,
    void (*removed)(void *, const char *))
{
	struct if_nameindex *ifs, *i;
	int fd, n = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return (-1);
	ifs = if_nameindex();
	if (ifs == NULL) {
		(void)close(fd);
		return (-1);
	}
	for (i = ifs; i->if_index != 0; i++) {
		if (keep(arg, i->if_index) ||
		    !lnx_tc_filter_ours(fd, i->if_index, owner) ||
		    lnx_tc_filter_del(i->if_index) != 0)
			continue;
		removed(arg, i->if_name);
		n++;
	}
	if_freenameindex(ifs);
	(void)close(fd);
	return (n);
}
