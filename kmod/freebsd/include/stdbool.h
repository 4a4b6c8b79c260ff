/*-
 * <stdbool.h> for the freestanding core inside the kernel: <sys/types.h>
 * defines bool, true and false under _KERNEL (see stdint.h).
 */
#ifndef _BSDNET_KERN_STDBOOL_H_
#define _BSDNET_KERN_STDBOOL_H_
#include <sys/types.h>
#endif
