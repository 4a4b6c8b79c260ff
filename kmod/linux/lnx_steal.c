/*-
 * Taking the datapath's frames away from the host stack, as bsdnet.ko's
 * pfil hook consumes them: AF_PACKET reads a copy, and the host stack
 * would otherwise answer a VM's frames (IPv6 neighbour discovery on the
 * tap) and GRE to the fabric address (ICMP protocol unreachable).
 *
 * A tcx ingress program (Linux 6.6: a bpf_link, no qdisc) on each
 * attached interface runs after the packet taps (our ring and tcpdump
 * still see the frame) and before the protocol handlers, and returns
 * TCX_DROP: every frame of a VM interface; on the fabric, IPv4 protocol
 * 47 to the fabric address.  The programs (2 and 14 instructions) are
 * assembled here: no compiler, object file or libbpf.  The link lives as
 * long as its fd.  Without tcx the same program goes in a direct-action
 * tc filter at clsact ingress (lnx_tc.c), which outlives the daemon until
 * it is replaced or removed.  What an operator sees of it:
 * kmod/linux/README.md, "What the host must know".
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "lnx.h"

/* Linux 6.6 uapi; the headers this builds against may predate tcx. */
#define LNX_BPF_TCX_INGRESS	46	/* enum bpf_attach_type */
#define LNX_TCX_PASS		0
#define LNX_TCX_DROP		2
#define LNX_ETH_P_IP		0x0800
#define LNX_IPPROTO_GRE		47

#define INSN(c, d, s, o, i)	((struct bpf_insn){ .code = (c),	\
	.dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX(sz, d, s, o)	INSN(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define MOV_IMM(d, i)		INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s)		INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_IMM(d, i)		INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define JGT_REG(d, s, o)	INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
/* 32-bit compare: a 64-bit one would sign-extend an immediate >= 2^31. */
#define JNE32_IMM(d, i, o)	INSN(BPF_JMP32 | BPF_JNE | BPF_K, d, 0, o, i)
#define EXIT()			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static bool lnx_steal_warned;

static long
lnx_bpf(int cmd, union bpf_attr *attr)
{

	return (syscall(__NR_bpf, cmd, attr, sizeof(*attr)));
}

/* A value as a load of these bytes (network order) gives it: the
 * program compares what it loads, on this host's byte order. */
static int32_t
lnx_steal_as_loaded(const uint8_t *bytes, size_t n)
{
	uint32_t v32 = 0;
	uint16_t v16 = 0;

	if (n == 2) {
		memcpy(&v16, bytes, 2);
		return ((int32_t)v16);
	}
	memcpy(&v32, bytes, 4);
	return ((int32_t)v32);
}

/* Program for a fabric interface whose address is ip (host order). */
static size_t
lnx_steal_fabric_prog(struct bpf_insn *p, uint32_t ip)
{
	const uint8_t et[2] = { LNX_ETH_P_IP >> 8, LNX_ETH_P_IP & 0xff };
	const uint8_t a[4] = { (uint8_t)(ip >> 24), (uint8_t)(ip >> 16),
	    (uint8_t)(ip >> 8), (uint8_t)ip };
	size_t n = 0;

	/* r2 = data, r3 = data_end; r0 = pass until proven ours. */
	p[n++] = LDX(BPF_W, 2, 1, offsetof(struct __sk_buff, data));
	p[n++] = LDX(BPF_W, 3, 1, offsetof(struct __sk_buff, data_end));
	p[n++] = MOV_IMM(0, LNX_TCX_PASS);
	/* 34 bytes: Ethernet and the IPv4 header up to the destination. */
	p[n++] = MOV_REG(4, 2);
	p[n++] = ADD_IMM(4, 34);
	p[n++] = JGT_REG(4, 3, 7);			/* -> exit */
	p[n++] = LDX(BPF_H, 5, 2, 12);			/* EtherType */
	p[n++] = JNE32_IMM(5, lnx_steal_as_loaded(et, 2), 5);
	p[n++] = LDX(BPF_B, 5, 2, 23);			/* protocol */
	p[n++] = JNE32_IMM(5, LNX_IPPROTO_GRE, 3);
	p[n++] = LDX(BPF_W, 5, 2, 30);			/* destination */
	p[n++] = JNE32_IMM(5, lnx_steal_as_loaded(a, 4), 1);
	p[n++] = MOV_IMM(0, LNX_TCX_DROP);
	p[n++] = EXIT();
	return (n);
}

static size_t
lnx_steal_vm_prog(struct bpf_insn *p)
{

	p[0] = MOV_IMM(0, LNX_TCX_DROP);
	p[1] = EXIT();
	return (2);
}

/* Load a program: its fd, or -1. */
static int
lnx_steal_load(const struct bpf_insn *insns, size_t n)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = (uint32_t)n;
	attr.license = (uint64_t)(uintptr_t)"Dual BSD/GPL";
	memcpy(attr.prog_name, "bsdnet_steal", sizeof("bsdnet_steal"));
	return ((int)lnx_bpf(BPF_PROG_LOAD, &attr));
}

/* Link program prog at tcx ingress of ifindex: the link's fd, or -1. */
static int
lnx_steal_tcx(uint32_t ifindex, int prog)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = (uint32_t)prog;
	attr.link_create.target_ifindex = ifindex;
	attr.link_create.attach_type = LNX_BPF_TCX_INGRESS;
	return ((int)lnx_bpf(BPF_LINK_CREATE, &attr));
}

static const char *const lnx_steal_how[] = {
	[LNX_STEAL_TCX] = "tcx ingress program",
	[LNX_STEAL_TC] = "tc ingress filter",
};

/*
 * Put program prog on po's interface the way mode allows: a tcx link, or
 * our tc filter (replaced in place if there is one).  The way used, or
 * LNX_STEAL_OFF with errno set.
 */
static enum lnx_steal_mode
lnx_steal_attach(struct bsdnetd_port *po, int prog,
    enum lnx_steal_mode mode, uint32_t owner)
{
	int fd;

	if (mode == LNX_STEAL_AUTO || mode == LNX_STEAL_TCX) {
		fd = lnx_steal_tcx(po->po_ifindex, prog);
		if (fd >= 0) {
			/* The link is in place: drop a filter of ours from
			 * before, or one a crashed daemon left (usually
			 * none: ENOENT). */
			(void)lnx_tc_filter_del(po->po_ifindex);
			po->po_steal_tc = false;
			if (po->po_steal_fd >= 0)
				(void)close(po->po_steal_fd);
			po->po_steal_fd = fd;
			return (LNX_STEAL_TCX);
		}
		if (mode == LNX_STEAL_TCX)
			return (LNX_STEAL_OFF);
	}
	if (lnx_tc_filter_set(po->po_ifindex, prog, owner) != 0)
		return (LNX_STEAL_OFF);
	po->po_steal_tc = true;
	if (po->po_steal_fd >= 0)
		(void)close(po->po_steal_fd);
	po->po_steal_fd = -1;
	return (LNX_STEAL_TC);
}

/*
 * Steal what the datapath takes on po's interface (vif v), or re-steal if
 * the fabric address changed.  Failure is not fatal: the host stack keeps
 * seeing the frames, as it did before this existed.  The new program is
 * in place before the old one goes: no gap.
 */
void
lnx_steal_update(struct bsdnetd *d, struct bsdnetd_port *po,
    const struct bsdnet_vif *v)
{
	enum lnx_steal_mode mode = d->d_home->h_steal;
	struct bpf_insn insns[16];
	enum lnx_steal_mode how;
	size_t n;
	int prog, saved;

	if (mode == LNX_STEAL_OFF)
		return;
	if ((po->po_steal_fd >= 0 || po->po_steal_tc) &&
	    (v->vif_type != BSDNET_VIF_FABRIC || po->po_steal_ip == v->vif_ip))
		return;
	if (v->vif_type == BSDNET_VIF_FABRIC && v->vif_ip == 0) {
		/* No address yet: nothing of the host's to take. */
		lnx_steal_release(po);
		return;
	}
	n = v->vif_type == BSDNET_VIF_FABRIC ?
	    lnx_steal_fabric_prog(insns, v->vif_ip) : lnx_steal_vm_prog(insns);
	prog = lnx_steal_load(insns, n);
	how = prog >= 0 ? lnx_steal_attach(po, prog, mode,
	    d->d_home->h_tc_owner) : LNX_STEAL_OFF;
	saved = errno;
	/* The link or filter holds the program. */
	if (prog >= 0)
		(void)close(prog);
	if (how == LNX_STEAL_OFF) {
		if (!lnx_steal_warned)
			/* Named after the last way tried, whose errno this is
			 * (auto tries tcx, then tc). */
			bsdnetd_log(BSDNETD_LOG_INFO, "%s on %s: %s; the host "
			    "stack will also see the frames of attached "
			    "interfaces",
			    lnx_steal_how[mode == LNX_STEAL_TCX ?
			    LNX_STEAL_TCX : LNX_STEAL_TC], v->vif_name,
			    strerror(saved));
		lnx_steal_warned = true;
		return;
	}
	po->po_steal_ip = v->vif_ip;
	bsdnetd_log(BSDNETD_LOG_INFO, "%s: the host stack no longer sees %s "
	    "(%s)", v->vif_name, v->vif_type == BSDNET_VIF_FABRIC ?
	    "MPLS-over-GRE frames to the fabric address" : "its frames",
	    lnx_steal_how[how]);
}

void
lnx_steal_release(struct bsdnetd_port *po)
{

	if (po->po_steal_fd >= 0)
		(void)close(po->po_steal_fd);
	/* The interface may be gone already, and the filter with it. */
	if (po->po_steal_tc)
		(void)lnx_tc_filter_del(po->po_ifindex);
	po->po_steal_fd = -1;
	po->po_steal_tc = false;
	po->po_steal_ip = 0;
}
