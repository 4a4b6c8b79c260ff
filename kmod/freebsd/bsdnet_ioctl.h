/*-
 * /dev/bsdnet: what cannot go through the shared tables.
 *
 * Shared by the kernel module and the agent (userland: compiled into
 * bsdnet.shm._abi, and read by cffi's cdef after preprocessing with
 * -DBSDNET_ABI_CFFI, as bsdnet_abi.h is), so fixed-width types only and
 * sizes pinned below; the ABI identity check (tests/freebsd) compares
 * them across amd64 and arm64.
 *
 * The device, in one paragraph: BSDNET_IOC_CREATE allocates and formats
 * the region with the given geometry; mmap(2) of the device at offset 0
 * maps it (MAP_SHARED, the size BSDNET_IOC_GEOMETRY reports);
 * BSDNET_IOC_ATTACH / _DETACH bind an interface to a vif of the table;
 * read(2) returns one trap per call (struct bsdnet_trap_hdr + frame) and
 * write(2) takes one control message per call (struct bsdnet_ctl_hdr +
 * payload), the same framing as the userspace homes' datagram sockets.
 */
#ifndef _BSDNET_IOCTL_H_
#define _BSDNET_IOCTL_H_

#ifndef BSDNET_ABI_CFFI
#include <sys/types.h>
#include <sys/ioccom.h>
#endif

#define	BSDNET_DEVNAME		"bsdnet"

/* Region geometry in, size and instance out. */
struct bsdnet_ioc_geometry {
	uint32_t	ig_nvifs;
	uint32_t	ig_nnexthops;
	uint32_t	ig_nlabels;
	uint32_t	ig_nvrfs;
	uint32_t	ig_nrtbuckets;
	uint32_t	ig_nflowbuckets;
	uint32_t	ig_novfbuckets;
	uint32_t	ig_maxhold;
	uint64_t	ig_size;	/* out: bytes to mmap */
	uint64_t	ig_instance;	/* out: rh_instance */
};

enum bsdnet_ioc_attach_flags {
	/*
	 * Set the interface's MAC to the region's router MAC while attached
	 * (VM taps; see bsdnet_kern_port.c for why), restored on detach.
	 */
	BSDNET_IOC_F_ROUTER_MAC	= 0x0001,
};

struct bsdnet_ioc_attach {
	char		ia_ifname[16];	/* NUL-terminated, IFNAMSIZ */
	uint32_t	ia_vif;		/* index in the vif table */
	uint32_t	ia_flags;	/* enum bsdnet_ioc_attach_flags */
};

/* Counters of the kernel home itself; the core counts in the region. */
struct bsdnet_ioc_stats {
	uint64_t	is_rx_pkts;	/* frames handed to the core */
	uint64_t	is_tx_pkts;	/* frames given to if_transmit */
	uint64_t	is_tx_errors;	/* if_transmit failed or no port */
	uint64_t	is_traps;	/* queued on the trap channel */
	uint64_t	is_trap_drops;	/* trap queue full or no memory */
	uint64_t	is_copies;	/* frames whose head was copied */
	uint64_t	is_ctl_msgs;	/* control messages taken */
	uint32_t	is_nports;	/* interfaces attached */
	uint32_t	is_mapped;	/* 1 while a process maps the region */
};

#define	BSDNET_IOC_CREATE	_IOWR('B', 1, struct bsdnet_ioc_geometry)
#define	BSDNET_IOC_GEOMETRY	_IOR('B', 2, struct bsdnet_ioc_geometry)
#define	BSDNET_IOC_DESTROY	_IO('B', 3)
#define	BSDNET_IOC_ATTACH	_IOW('B', 4, struct bsdnet_ioc_attach)
#define	BSDNET_IOC_DETACH	_IOW('B', 5, struct bsdnet_ioc_attach)
#define	BSDNET_IOC_STATS	_IOR('B', 6, struct bsdnet_ioc_stats)

#ifndef BSDNET_ABI_CFFI
_Static_assert(sizeof(struct bsdnet_ioc_geometry) == 48, "ioctl ABI");
_Static_assert(sizeof(struct bsdnet_ioc_attach) == 24, "ioctl ABI");
_Static_assert(sizeof(struct bsdnet_ioc_stats) == 64, "ioctl ABI");
#endif

#endif /* !_BSDNET_IOCTL_H_ */
