/*-
 * bsdnet.ko: the FreeBSD kernel home of the forwarding core.
 *
 * Roadmap to the code:
 *   bsdnet_kern_mod.c     module load/unload (EBUSY while in use), sysctls
 *                         under net.bsdnet, per-CPU contexts, the tick
 *   bsdnet_kern_region.c  the shared tables: a never-paged VM object of
 *                         single pages, mapped into kernel_map for the
 *                         core, handed to mmap(2) through d_mmap_single
 *   bsdnet_kern_dev.c     /dev/bsdnet: ioctls, mmap, read (traps), write
 *                         (control), poll
 *   bsdnet_kern_port.c    interposition: the pfil(9) "ethernet" head, the
 *                         ifnet -> vif hash, attach/detach, departure
 *   bsdnet_kern_os.c      the bsdnet_os_*() functions; mbufs to packet
 *                         views and back (pull-up, headroom, chains)
 */
#ifndef _BSDNET_KERN_H_
#define _BSDNET_KERN_H_

/*
 * Include after <sys/param.h>, <sys/lock.h>, <sys/mutex.h>, <sys/sx.h>,
 * <sys/mbuf.h>, <sys/selinfo.h>, <sys/callout.h>, <sys/counter.h>,
 * <sys/eventhandler.h>, <sys/ck.h>, <vm/vm.h>, <net/if.h>, <net/if_var.h>
 * and <net/pfil.h> (style(9): headers do not include headers).
 */

#include "bsdnet_core.h"
#include "bsdnet_port.h"
#include "bsdnet_ioctl.h"

MALLOC_DECLARE(M_BSDNET);

/* Transmits one call into the core may produce (a frame plus replays). */
#define	BSDNET_KERN_TXBATCH	16
#define	BSDNET_KERN_PORT_HASH	256	/* power of two */
#define	BSDNET_KERN_TICK_MS	100

struct bsdnet_kern_port {
	CK_SLIST_ENTRY(bsdnet_kern_port) fp_link;
	if_t		 fp_ifp;	/* if_ref()'d while attached */
	uint32_t	 fp_vif;
	uint16_t	 fp_type;	/* enum bsdnet_vif_type at attach */
	bool		 fp_lladdr_set;	/* we changed the MAC: restore it */
	uint8_t		 fp_lladdr_old[6];
};

struct bsdnet_kern_tx {
	struct mbuf	*tx_m;
	uint32_t	 tx_vif;
};

/* One per CPU; see "Locking". */
struct bsdnet_kern_pcpu {
	struct mtx		 pc_mtx;
	struct bsdnet_dp	 pc_dp;
	struct bsdnet_hold_slot	*pc_hold;
	uint32_t		 pc_ntx;
	struct bsdnet_kern_tx	 pc_tx[BSDNET_KERN_TXBATCH];
} __aligned(CACHE_LINE_SIZE);

struct bsdnet_kern_region {
	vm_object_t		 r_obj;		/* our reference */
	vm_offset_t		 r_kva;		/* mapped in kernel_map */
	uint64_t		 r_size;
	struct bsdnet_geometry	 r_geom;
	uint64_t		 r_instance;
	/* The vif table, found from r_geom (bsdnet_layout_offsets()), never
	 * from the header, which the agent maps writable. */
	struct bsdnet_vif	*r_vifs;
};

/*
 * Locking, in acquisition order:
 *   sc_lock (sx)    configuration: region create/destroy, attach/detach,
 *                   the control path (write(2)), unload.  Sleepable.
 *   pc_mtx          one per CPU: its struct bsdnet_dp and hold storage;
 *                   the packet path takes its own CPU's (sched_pin), the
 *                   tick and RELEASE visit every CPU's.
 *   sc_trapmtx      the trap queue.
 * No driver is called (if_transmit) with any held: transmits wait on the
 * context's tx batch until pc_mtx is dropped, so a driver that loops a
 * frame back into ether_input (epair, bridge) cannot recurse on pc_mtx.
 * Lifetime: a port is found under the network epoch (CK_SLIST readers),
 * unlinked under sc_lock and freed after NET_EPOCH_WAIT(); the region
 * outlives every port (destroy refuses while ports are attached).
 */
struct bsdnet_kern_softc {
	struct sx		 sc_lock;
	struct cdev		*sc_cdev;
	struct bsdnet_kern_region *sc_region;	/* NULL until CREATE */
	struct vnet		*sc_vnet;	/* the one we hooked */
	pfil_hook_t		 sc_hook;
	eventhandler_tag	 sc_departure;
	struct callout		 sc_tick;
	struct bsdnet_kern_pcpu	*sc_pcpu;	/* mp_maxid + 1 */
	uint32_t		 sc_nhold;	/* hold slots per CPU */
	/* ports: hash by ifnet for input, array by vif for output */
	CK_SLIST_HEAD(, bsdnet_kern_port) sc_hash[BSDNET_KERN_PORT_HASH];
	struct bsdnet_kern_port	**sc_byvif;	/* r_geom.g_nvifs entries */
	uint32_t		 sc_nports;
	u_int			 sc_opens;	/* open file descriptors */
	bool			 sc_dying;	/* unloading: open(2) fails */
	bool			 sc_loaded;	/* MOD_LOAD succeeded */
	/* trap channel */
	struct mtx		 sc_trapmtx;
	struct mbufq		 sc_trapq;
	struct selinfo		 sc_rsel;
	int			 sc_debug;
};

extern struct bsdnet_kern_softc bsdnet_kern_sc;

/* Per-CPU counters of the home, exported under net.bsdnet.stats. */
enum bsdnet_kern_counter {
	BSDNET_KERN_C_RX,
	BSDNET_KERN_C_TX,
	BSDNET_KERN_C_TX_ERR,
	BSDNET_KERN_C_TRAPS,
	BSDNET_KERN_C_TRAP_DROPS,
	BSDNET_KERN_C_COPIES,
	BSDNET_KERN_C_CTL,
	BSDNET_KERN_C_PREPENDS,
	BSDNET_KERN_C_MAX
};
extern counter_u64_t bsdnet_kern_counters[BSDNET_KERN_C_MAX];
#define	BSDNET_KERN_COUNT(c, n)	\
	counter_u64_add(bsdnet_kern_counters[(c)], (n))

/* bsdnet_kern_mod.c */
void	bsdnet_kern_pcpu_init(struct bsdnet_kern_softc *sc);
void	bsdnet_kern_pcpu_release(struct bsdnet_kern_softc *sc,
	    uint32_t flow, uint32_t gen);

/* bsdnet_kern_region.c */
int	bsdnet_kern_region_create(struct bsdnet_kern_softc *sc,
	    const struct bsdnet_geometry *g);
int	bsdnet_kern_region_destroy(struct bsdnet_kern_softc *sc);
bool	bsdnet_kern_region_mapped(const struct bsdnet_kern_softc *sc);
int	bsdnet_kern_region_mmap(struct bsdnet_kern_softc *sc,
	    vm_ooffset_t *offset, vm_size_t size, vm_object_t *objp);
void	*bsdnet_kern_region_base(const struct bsdnet_kern_softc *sc);

/* bsdnet_kern_dev.c */
int	bsdnet_kern_dev_init(struct bsdnet_kern_softc *sc);
void	bsdnet_kern_dev_fini(struct bsdnet_kern_softc *sc);
bool	bsdnet_kern_trap_enqueue(struct bsdnet_kern_softc *sc,
	    struct mbuf *m);

/* bsdnet_kern_port.c */
int	bsdnet_kern_port_init(struct bsdnet_kern_softc *sc);
void	bsdnet_kern_port_fini(struct bsdnet_kern_softc *sc);
int	bsdnet_kern_hook_link(struct bsdnet_kern_softc *sc);
void	bsdnet_kern_hook_unlink(struct bsdnet_kern_softc *sc);
int	bsdnet_kern_attach(struct bsdnet_kern_softc *sc,
	    const struct bsdnet_ioc_attach *ia);
int	bsdnet_kern_detach(struct bsdnet_kern_softc *sc,
	    const struct bsdnet_ioc_attach *ia);
if_t	bsdnet_kern_vif_ifp(struct bsdnet_kern_softc *sc, uint32_t vif);

/* bsdnet_kern_os.c */
void	bsdnet_kern_input(struct bsdnet_kern_softc *sc, uint32_t vif,
	    struct mbuf *m);
void	bsdnet_kern_tx_flush(struct bsdnet_kern_softc *sc,
	    struct bsdnet_kern_tx *tx, uint32_t ntx);

#endif /* !_BSDNET_KERN_H_ */
