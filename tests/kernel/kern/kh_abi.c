/*
 * The ioctl numbers as FreeBSD's <sys/ioccom.h> makes them, for the
 * harness's userland to compare with its own (kmod/include/compat/sys/ioccom.h).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/ioccom.h>

#include "bsdnet_ioctl.h"
#include "kh_host.h"
#include "kh_api.h"

void
kh_abi_ioctls(unsigned long out[6])
{
	out[0] = BSDNET_IOC_CREATE;
	out[1] = BSDNET_IOC_GEOMETRY;
	out[2] = BSDNET_IOC_DESTROY;
	out[3] = BSDNET_IOC_ATTACH;
	out[4] = BSDNET_IOC_DETACH;
	out[5] = BSDNET_IOC_STATS;
}
