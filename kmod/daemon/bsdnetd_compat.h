/*-
 * What differs between the systems the userspace daemons build on
 * (Linux, FreeBSD), in one place.
 */
#ifndef _BSDNETD_COMPAT_H_
#define _BSDNETD_COMPAT_H_

#ifdef __FreeBSD__
#include <sys/sockio.h>		/* SIOCGIFMTU; Linux has it in ioctl.h */
#endif

/* How a POSIX shared-memory object NAME shows in messages: Linux keeps
 * them in /dev/shm, FreeBSD in no file system. */
#ifdef __linux__
#define BSDNETD_SHM_SHOWN	"/dev/shm/"
#else
#define BSDNETD_SHM_SHOWN	"shm:/"
#endif

#endif /* !_BSDNETD_COMPAT_H_ */
