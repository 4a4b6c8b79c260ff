/*
 * Cross-compile check only (see README): what bsd.kmod.mk writes into
 * opt_global.h, and force-includes, when a module is built outside a
 * kernel build directory.
 */
#define SMP 1
#define MAC 1
#define VIMAGE 1
