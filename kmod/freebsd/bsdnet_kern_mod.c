/*-
 * bsdnet.ko: load and unload, sysctls under net.bsdnet, the per-CPU
 * datapath contexts and the 100 ms tick.  See bsdnet_kern.h for the roadmap
 * and the locking rules.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/module.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/conf.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/smp.h>
#include <sys/pcpu.h>
#include <sys/selinfo.h>
#include <sys/callout.h>
#include <sys/counter.h>
#include <sys/epoch.h>
#include <sys/eventhandler.h>
#include <sys/sysctl.h>
#include <sys/socket.h>
#include <sys/ck.h>

#include <vm/vm.h>

#include <net/if.h>
#include <net/if_var.h>
#include <net/pfil.h>

#include "bsdnet_kern.h"

MALLOC_DEFINE(M_BSDNET, "bsdnet", "bsdnet overlay datapath");

struct bsdnet_kern_softc bsdnet_kern_sc;
counter_u64_t bsdnet_kern_counters[BSDNET_KERN_C_MAX];

SYSCTL_NODE(_net, OID_AUTO, bsdnet, CTLFLAG_RW | CTLFLAG_MPSAFE, 0,
    "bsdnet overlay datapath");
SYSCTL_INT(_net_bsdnet, OID_AUTO, debug, CTLFLAG_RWTUN,
    &bsdnet_kern_sc.sc_debug, 0,
    "Log level of the datapath: 0 errors, 1 warnings, 2 info, 3 debug");

static u_int bsdnet_kern_hold_slots = 256;
SYSCTL_UINT(_net_bsdnet, OID_AUTO, hold_slots, CTLFLAG_RDTUN,
    &bsdnet_kern_hold_slots, 0,
    "Packets each CPU can park on undecided flows (2 KB each)");

u_int bsdnet_kern_trapq_max = 4096;
SYSCTL_UINT(_net_bsdnet, OID_AUTO, trapq_max, CTLFLAG_RDTUN,
    &bsdnet_kern_trapq_max, 0, "Traps queued for the agent before dropping");

SYSCTL_UINT(_net_bsdnet, OID_AUTO, nports, CTLFLAG_RD,
    &bsdnet_kern_sc.sc_nports, 0, "Interfaces attached to vifs");

/* Table sizes of the current region, zero when there is none. */
struct bsdnet_geometry bsdnet_kern_geo;
uint64_t bsdnet_kern_region_size;
SYSCTL_NODE(_net_bsdnet, OID_AUTO, tables, CTLFLAG_RD | CTLFLAG_MPSAFE, 0,
    "Geometry of the shared tables");
SYSCTL_U64(_net_bsdnet_tables, OID_AUTO, size, CTLFLAG_RD,
    &bsdnet_kern_region_size, 0, "Bytes in the region");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, vifs, CTLFLAG_RD,
    &bsdnet_kern_geo.g_nvifs, 0, "Entries in the vif table");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, nexthops, CTLFLAG_RD,
    &bsdnet_kern_geo.g_nnexthops, 0, "Entries in the nexthop table");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, labels, CTLFLAG_RD,
    &bsdnet_kern_geo.g_nlabels, 0, "Entries in the MPLS label table");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, vrfs, CTLFLAG_RD,
    &bsdnet_kern_geo.g_nvrfs, 0, "VRFs");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, rtbuckets, CTLFLAG_RD,
    &bsdnet_kern_geo.g_nrtbuckets, 0, "Route mtrie buckets");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, flowbuckets, CTLFLAG_RD,
    &bsdnet_kern_geo.g_nflowbuckets, 0, "Flow buckets (4 entries each)");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, ovfbuckets, CTLFLAG_RD,
    &bsdnet_kern_geo.g_novfbuckets, 0, "Flow overflow buckets");
SYSCTL_U32(_net_bsdnet_tables, OID_AUTO, maxhold, CTLFLAG_RD,
    &bsdnet_kern_geo.g_maxhold, 0, "Cap on HOLD flow entries");

/* Per-CPU counters: every packet bumps one, so no shared cache line. */
SYSCTL_NODE(_net_bsdnet, OID_AUTO, stats, CTLFLAG_RD | CTLFLAG_MPSAFE, 0,
    "Counters of the kernel home (the core counts in the tables)");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, rx_pkts, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_RX], "Frames handed to the core");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, tx_pkts, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_TX], "Frames given to if_transmit");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, tx_errors, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_TX_ERR],
    "Transmits that failed or had no interface");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, traps, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_TRAPS], "Traps queued for the agent");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, trap_drops, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_TRAP_DROPS],
    "Traps dropped: queue full or no mbufs");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, copies, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_COPIES],
    "Frames whose headers were copied: short first mbuf or shared buffer");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, prepends, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_PREPENDS],
    "Encapsulations that prepended an mbuf for want of headroom");
SYSCTL_COUNTER_U64(_net_bsdnet_stats, OID_AUTO, ctl_msgs, CTLFLAG_RD,
    &bsdnet_kern_counters[BSDNET_KERN_C_CTL], "Control messages taken");

static void
bsdnet_kern_pcpu_alloc(struct bsdnet_kern_softc *sc)
{
	struct bsdnet_kern_pcpu *pc;
	u_int i;

	sc->sc_nhold = bsdnet_kern_hold_slots;
	if (sc->sc_nhold > 65536)
		sc->sc_nhold = 65536;
	sc->sc_pcpu = malloc(sizeof(*sc->sc_pcpu) * (mp_maxid + 1), M_BSDNET,
	    M_WAITOK | M_ZERO);
	CPU_FOREACH(i) {
		pc = &sc->sc_pcpu[i];
		mtx_init(&pc->pc_mtx, "bsdnet_pcpu", NULL, MTX_DEF);
		if (sc->sc_nhold > 0)
			pc->pc_hold = malloc(sizeof(*pc->pc_hold) *
			    sc->sc_nhold, M_BSDNET, M_WAITOK | M_ZERO);
	}
}

static void
bsdnet_kern_pcpu_free(struct bsdnet_kern_softc *sc)
{
	struct bsdnet_kern_pcpu *pc;
	u_int i;

	CPU_FOREACH(i) {
		pc = &sc->sc_pcpu[i];
		free(pc->pc_hold, M_BSDNET);
		mtx_destroy(&pc->pc_mtx);
	}
	free(sc->sc_pcpu, M_BSDNET);
	sc->sc_pcpu = NULL;
}

/*
 * Bind every CPU's context to the (new) region.  Called under sc_lock
 * (exclusive) right after the region is formatted, before any port can
 * feed a packet in.
 */
void
bsdnet_kern_pcpu_init(struct bsdnet_kern_softc *sc)
{
	struct bsdnet_kern_pcpu *pc;
	struct bsdnet_kern_region *r = sc->sc_region;
	int error;
	u_int i;

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	CPU_FOREACH(i) {
		pc = &sc->sc_pcpu[i];
		mtx_lock(&pc->pc_mtx);
		memset(&pc->pc_dp, 0, sizeof(pc->pc_dp));
		if (r != NULL) {
			error = bsdnet_dp_init(&pc->pc_dp, pc,
			    (void *)r->r_kva, r->r_size, pc->pc_hold,
			    sc->sc_nhold);
			if (error != 0)
				printf("bsdnet: cpu %u: core refused the "
				    "region (%d)\n", i, error);
		}
		mtx_unlock(&pc->pc_mtx);
	}
}

/* Take the transmits the core parked while pc_mtx was held. */
static uint32_t
bsdnet_kern_take_tx(struct bsdnet_kern_pcpu *pc, struct bsdnet_kern_tx *tx)
{
	uint32_t n;

	mtx_assert(&pc->pc_mtx, MA_OWNED);
	n = pc->pc_ntx;
	memcpy(tx, pc->pc_tx, n * sizeof(*tx));
	pc->pc_ntx = 0;
	return (n);
}

/*
 * BSDNET_CTL_RELEASE: packets of the flow may be parked on any CPU's hold
 * storage, so every context replays its own.
 */
void
bsdnet_kern_pcpu_release(struct bsdnet_kern_softc *sc, uint32_t flow,
    uint32_t gen)
{
	struct bsdnet_kern_tx tx[BSDNET_KERN_TXBATCH];
	struct bsdnet_kern_pcpu *pc;
	uint32_t n;
	u_int i;

	sx_assert(&sc->sc_lock, SA_LOCKED);
	CPU_FOREACH(i) {
		pc = &sc->sc_pcpu[i];
		mtx_lock(&pc->pc_mtx);
		n = 0;
		if (pc->pc_dp.dp_base != NULL) {
			bsdnet_dp_release(&pc->pc_dp, flow, gen);
			n = bsdnet_kern_take_tx(pc, tx);
		}
		mtx_unlock(&pc->pc_mtx);
		bsdnet_kern_tx_flush(sc, tx, n);
	}
}

static void
bsdnet_kern_tick(void *arg)
{
	struct bsdnet_kern_tx tx[BSDNET_KERN_TXBATCH];
	struct bsdnet_kern_softc *sc = arg;
	struct bsdnet_kern_pcpu *pc;
	uint32_t n;
	u_int i;

	CPU_FOREACH(i) {
		pc = &sc->sc_pcpu[i];
		mtx_lock(&pc->pc_mtx);
		n = 0;
		if (pc->pc_dp.dp_base != NULL) {
			bsdnet_dp_tick(&pc->pc_dp);
			n = bsdnet_kern_take_tx(pc, tx);
		}
		mtx_unlock(&pc->pc_mtx);
		bsdnet_kern_tx_flush(sc, tx, n);
	}
	callout_schedule(&sc->sc_tick,
	    imax(1, hz * BSDNET_KERN_TICK_MS / 1000));
}

/*
 * Busy: a descriptor is open, an interface is attached or a process
 * still maps the tables.  Unload then fails with EBUSY and nothing has
 * been torn down.
 */
static bool
bsdnet_kern_busy(struct bsdnet_kern_softc *sc)
{

	sx_assert(&sc->sc_lock, SA_LOCKED);
	return (sc->sc_opens > 0 || sc->sc_nports > 0 ||
	    bsdnet_kern_region_mapped(sc));
}

static int
bsdnet_kern_load(struct bsdnet_kern_softc *sc)
{
	int error, i;

	sx_init(&sc->sc_lock, "bsdnet");
	for (i = 0; i < BSDNET_KERN_C_MAX; i++)
		bsdnet_kern_counters[i] = counter_u64_alloc(M_WAITOK);
	bsdnet_kern_pcpu_alloc(sc);
	callout_init(&sc->sc_tick, 1);
	error = bsdnet_kern_port_init(sc);
	if (error == 0)
		error = bsdnet_kern_dev_init(sc);
	if (error != 0) {
		bsdnet_kern_port_fini(sc);
		bsdnet_kern_pcpu_free(sc);
		for (i = 0; i < BSDNET_KERN_C_MAX; i++)
			counter_u64_free(bsdnet_kern_counters[i]);
		sx_destroy(&sc->sc_lock);
		return (error);
	}
	callout_reset(&sc->sc_tick, imax(1, hz * BSDNET_KERN_TICK_MS / 1000),
	    bsdnet_kern_tick, sc);
	sc->sc_loaded = true;
	return (0);
}

static int
bsdnet_kern_unload(struct bsdnet_kern_softc *sc)
{
	int i;

	sx_xlock(&sc->sc_lock);
	if (bsdnet_kern_busy(sc)) {
		sx_xunlock(&sc->sc_lock);
		return (EBUSY);
	}
	/*
	 * From here open(2) fails, so nobody can become busy again.  The
	 * device goes away without sc_lock held: destroy_dev() waits for
	 * threads inside the device's methods, and an open(2) racing with
	 * us sleeps on sc_lock before it sees sc_dying.
	 */
	sc->sc_dying = true;
	sx_xunlock(&sc->sc_lock);
	bsdnet_kern_dev_fini(sc);

	callout_drain(&sc->sc_tick);
	sx_xlock(&sc->sc_lock);
	bsdnet_kern_hook_unlink(sc);	/* waits out the network epoch */
	(void)bsdnet_kern_region_destroy(sc);
	sx_xunlock(&sc->sc_lock);
	bsdnet_kern_port_fini(sc);
	bsdnet_kern_pcpu_free(sc);
	for (i = 0; i < BSDNET_KERN_C_MAX; i++)
		counter_u64_free(bsdnet_kern_counters[i]);
	sx_destroy(&sc->sc_lock);
	return (0);
}

static int
bsdnet_kern_modevent(module_t mod __unused, int type, void *data __unused)
{
	struct bsdnet_kern_softc *sc = &bsdnet_kern_sc;
	int error;

	switch (type) {
	case MOD_LOAD:
		return (bsdnet_kern_load(sc));
	case MOD_QUIESCE:
		/* kern_module.c sends MOD_UNLOAD after a failed MOD_LOAD. */
		if (!sc->sc_loaded)
			return (0);
		sx_slock(&sc->sc_lock);
		error = bsdnet_kern_busy(sc) ? EBUSY : 0;
		sx_sunlock(&sc->sc_lock);
		return (error);
	case MOD_UNLOAD:
		if (!sc->sc_loaded)
			return (0);
		error = bsdnet_kern_unload(sc);
		if (error == 0)
			sc->sc_loaded = false;
		return (error);
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t bsdnet_kern_mod = {
	"bsdnet",
	bsdnet_kern_modevent,
	NULL
};
DECLARE_MODULE(bsdnet, bsdnet_kern_mod, SI_SUB_PROTO_IFATTACHDOMAIN,
    SI_ORDER_ANY);
MODULE_VERSION(bsdnet, 1);
