/*-
 * bsdnet-netmap: the forwarding core over netmap ports.  The daemon
 * itself (options, region, trap channel, vif scan) is kmod/daemon's, as
 * bsdnet-datapath's is; this home brings the ports and the event loop.
 *
 * Roadmap to the code:
 *   nmd_main.c   its name and manual; set-up and shutdown
 *   nmd_port.c   a port: NIOCCTRL registration (the raw API: no libnetmap
 *                needed), RX rings to the core, TX rings from it
 *   nmd_loop.c   the event loop over ppoll(2)
 *   nmd_ifcfg.c  promiscuous taps and offloads off on the fabric, which
 *                netmap needs and the kernel module does not
 */
#ifndef _BSDNET_NMD_H_
#define _BSDNET_NMD_H_

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "bsdnetd.h"

/* Frames handled per ring per wake-up, so one busy port cannot starve
 * the others or the timer. */
#define NMD_RX_BUDGET	256u

/* What nmd_ifcfg_enter() changed on an interface, to undo it. */
struct nmd_ifsave {
	bool		 is_promisc;		/* was promiscuous */
	bool		 is_set_promisc;	/* we made it so */
	bool		 is_set_caps;		/* we turned offloads off */
	int		 is_caps;		/* capabilities before */
};

struct bsdnetd_home {
	struct pollfd	*h_pfd;		/* [0] control socket, [i] a port */
	uint32_t	*h_vifs;	/* the vif of h_pfd[i] */
	uint32_t	 h_npfd;
	uint32_t	 h_cap;
};

/* nmd_port.c */
int	nmd_port_fd(const struct bsdnetd_port *np);
void	nmd_port_rx(struct bsdnetd *d, uint32_t vif);
void	nmd_port_flush(struct bsdnetd *d);

/* nmd_loop.c */
int	nmd_loop_add(struct bsdnetd *d, int fd, uint32_t vif);
void	nmd_loop_del_fd(struct bsdnetd *d, int fd);

/* nmd_ifcfg.c: what an interface needs under netmap, and undoing it. */
int	nmd_ifcfg_enter(const char *name, uint16_t type,
	    struct nmd_ifsave *save);
void	nmd_ifcfg_leave(const char *name, const struct nmd_ifsave *save);

#endif /* !_BSDNET_NMD_H_ */
