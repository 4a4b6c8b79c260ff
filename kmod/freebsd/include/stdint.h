/*-
 * The freestanding core includes <stdint.h>; a kernel build has no libc
 * headers on its path (-nostdinc), so map it to the kernel's own.  Part
 * of the real build (see ../Makefile), not a cross-compile stand-in.
 */
#ifndef _BSDNET_KERN_STDINT_H_
#define _BSDNET_KERN_STDINT_H_
#include <sys/stdint.h>
#endif
