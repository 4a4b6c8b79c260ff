/*-
 * bsdnet-netmap: the forwarding core over netmap ports.
 *
 * Roadmap: this daemon IS the Linux userspace home with two files
 * swapped.  Options and start-up (dpl_main.c), the shared-memory region
 * (dpl_region.c: the same POSIX shm, the same --shm NAME), the trap
 * channel (dpl_trap.c: the same unix datagram sockets, --trap-socket and
 * --agent-socket), the vif table scan (dpl_vif.c), the bursts handed to
 * the core (dpl_burst.c) and the bsdnet_os_*() functions (dpl_os.c) are
 * kmod/linux's files, linked unchanged, so the
 * agent cannot tell the homes apart.  Only these differ:
 *   nm_port.c   dpl_port_*() over netmap rings (NIOCCTRL, the raw API:
 *               no libnetmap needed), instead of AF_PACKET
 *   nm_loop.c   dpl_loop_*() over ppoll(2), instead of epoll, timerfd
 *               and signalfd
 *   nm_ifcfg.c  promiscuous taps and offloads off on the fabric, which
 *               netmap needs and the kernel module does not
 */
#ifndef _BSDNET_NM_H_
#define _BSDNET_NM_H_

#include "dpl.h"

/* Frames handled per ring per wake-up, so one busy port cannot starve
 * the others or the timer. */
#define NM_RX_BUDGET	256u

/* nm_port.c: the port table goes with the loop (dpl_loop_fini). */
void	nm_port_fini(void);

/* nm_ifcfg.c: what an interface needs under netmap, and undoing it. */
struct nm_ifsave {
	bool		 is_promisc;		/* was promiscuous */
	bool		 is_set_promisc;	/* we made it so */
	bool		 is_set_caps;		/* we turned offloads off */
	int		 is_caps;		/* capabilities before */
};
int	nm_ifcfg_enter(const char *name, uint16_t type,
	    struct nm_ifsave *save);
void	nm_ifcfg_leave(const char *name, const struct nm_ifsave *save);

#endif /* !_BSDNET_NM_H_ */
