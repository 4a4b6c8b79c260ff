/*-
 * <stddef.h> for the freestanding core inside the kernel (see stdint.h).
 */
#ifndef _BSDNET_KERN_STDDEF_H_
#define _BSDNET_KERN_STDDEF_H_
#include <sys/stddef.h>
#endif
