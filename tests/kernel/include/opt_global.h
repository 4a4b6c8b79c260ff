/*
 * The kernel harness's options: those of the cross-compile check (what
 * bsd.kmod.mk generates: SMP, MAC, VIMAGE) plus a debugging kernel's,
 * as a module built with such a kernel gets them.
 */
#include "../../../kmod/freebsd/compat-xcheck/opt_global.h"
#define	INVARIANTS 1
#define	INVARIANT_SUPPORT 1
#define	WITNESS 1
