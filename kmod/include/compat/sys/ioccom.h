/*
 * FreeBSD's ioctl command encoding (sys/ioccom.h), for building
 * bsdnet_ioctl.h where the C library is not FreeBSD's: the agent's cffi
 * module and the kernel harness's userland on Linux, whose own _IOWR
 * encodes differently.  tests/agent/freebsd and the kernel harness
 * compare every BSDNET_IOC_* made with it against FreeBSD's real header.
 */
#ifndef BSDNET_COMPAT_SYS_IOCCOM_H
#define BSDNET_COMPAT_SYS_IOCCOM_H

#define	IOCPARM_SHIFT	13
#define	IOCPARM_MASK	((1 << IOCPARM_SHIFT) - 1)
#define	IOCPARM_LEN(x)	(((x) >> 16) & IOCPARM_MASK)
#define	IOC_VOID	0x20000000UL
#define	IOC_OUT		0x40000000UL
#define	IOC_IN		0x80000000UL
#define	IOC_INOUT	(IOC_IN | IOC_OUT)
#define	IOC_DIRMASK	(IOC_VOID | IOC_OUT | IOC_IN)

#define	_IOC(inout, group, num, len)	((unsigned long)		\
	((inout) | (((len) & IOCPARM_MASK) << 16) | ((group) << 8) | (num)))
#define	_IO(g, n)	_IOC(IOC_VOID, (g), (n), 0)
#define	_IOR(g, n, t)	_IOC(IOC_OUT, (g), (n), sizeof(t))
#define	_IOW(g, n, t)	_IOC(IOC_IN, (g), (n), sizeof(t))
#define	_IOWR(g, n, t)	_IOC(IOC_INOUT, (g), (n), sizeof(t))

#endif
