/*
 * The harness's userland: scenarios, the agent they play, frames.
 *
 * A scenario is a function registered with SCENARIO(name); `khtest
 * NAME` boots the stand-in kernel, runs it and prints "PASS NAME" (exit
 * 0) or the failed checks and "FAIL NAME" (exit 1).  A panic of the
 * stand-in kernel exits with KH_EXIT_PANIC, a sanitizer report with 1;
 * either way no PASS line.  Two-host scenarios fork: each process is
 * one machine with its own kernel and its own bsdnet.ko.
 */
#ifndef KH_USER_H
#define KH_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bsdnet_abi.h"
#include "bsdnet_ioctl.h"
#include "kh_api.h"
#include "th.h"

typedef void (*kh_scen_fn)(void);
void	kh_scen_register(const char *name, kh_scen_fn fn);
#define	SCENARIO(name)							\
	static void scen_##name(void);					\
	__attribute__((constructor)) static void			\
	scen_reg_##name(void)						\
	{ kh_scen_register(#name, scen_##name); }			\
	static void scen_##name(void)

/* CHECK() and CHECK_EQ() are th.h's; they set th_failed. */
#define	NOTE(...) do {							\
	fprintf(stdout, "  ");						\
	fprintf(stdout, __VA_ARGS__);					\
	fprintf(stdout, "\n");						\
	fflush(stdout);							\
} while (0)

/*
 * The stand-in kernel answers with FreeBSD's errno values; where Linux's
 * differ, these are FreeBSD's (sys/errno.h).
 */
enum { FB_EWOULDBLOCK = 35, FB_EMSGSIZE = 40, FB_EPFNOSUPPORT = 46,
	FB_ENOBUFS = 55 };

/* ---- the agent: a process with /dev/bsdnet open ---- */
struct agent {
	int		 pid;
	int		 fd;
	uint8_t		*map;
	unsigned long	 size;
	struct bsdnet_ioc_geometry geo;
};

void	ag_start(struct agent *a);
int	ag_ioctl(struct agent *a, unsigned long cmd, void *arg, size_t len);
int	ag_create(struct agent *a);
int	ag_map(struct agent *a);
int	ag_attach(struct agent *a, const char *ifname, uint32_t vif,
	    uint32_t flags);
int	ag_detach(struct agent *a, const char *ifname, uint32_t vif);
int	ag_destroy(struct agent *a);
struct bsdnet_ioc_stats ag_stats(struct agent *a);
int	ag_ctl(struct agent *a, uint16_t type, uint16_t vif, uint32_t flow,
	    uint32_t gen, const void *payload, uint32_t len);
long	ag_read_trap(struct agent *a, struct bsdnet_trap_hdr *th,
	    uint8_t *frame, size_t len);
void	ag_unmap(struct agent *a);
void	ag_stop(struct agent *a);
void	ag_teardown(struct agent *a, const char *const *ifs,
	    const uint32_t *vifs, int n);

/* ---- a node of the overlay: tap0 (VM, vif 2) and the fabric (vif 1) ---- */
enum { KH_VIF_FAB = 1, KH_VIF_VM = 2, KH_VRF = 1, KH_NH_LOCAL = 10,
	KH_NH_TUNNEL = 20, KH_LABEL_BASE = 16 };
struct node {
	int		 n;		/* 1 or 2 */
	const char	*fabric;	/* its ifnet */
	const char	*tap;
	uint32_t	 fab_ip, vm_ip;
	uint8_t		 fab_mac[6], vm_mac[6];
};
void	node_init(struct node *nd, int n, const char *fabric);
void	node_program(struct agent *a, const struct node *me,
	    const struct node *peer);
int	node_attach(struct agent *a, const struct node *me);
/* VM me sends a UDP datagram to VM peer; the frame's length. */
uint32_t node_vm_frame(uint8_t *buf, const struct node *me,
	    const struct node *peer, uint32_t paylen, uint8_t mark);
uint32_t node_arp_request(uint8_t *buf, const struct node *me,
	    uint32_t target);
bool	node_arp_answered(const struct node *me);
uint32_t node_dhcp_frame(uint8_t *buf, const struct node *me);
uint32_t node_fabric_frame(uint8_t *buf, const struct node *me,
	    const struct node *peer, uint32_t paylen);
void	node_single(struct agent *a, struct node *me, struct node *peer);
extern const uint8_t KH_ROUTER_MAC[6];

/* ---- two machines ---- */
/* Fork: fn(1, fd) here and fn(2, fd) in a child, fd the wire between
 * them; the child's verdict is folded into this process's. */
void	kh_two_hosts(void (*fn)(int host, int wire, int sync));
/* Both sides wait for each other (over the sync socket). */
void	kh_sync(int sync);

unsigned long long kh_stat(const char *name);

#endif
