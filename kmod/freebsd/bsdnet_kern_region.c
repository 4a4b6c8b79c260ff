/*-
 * The shared tables.
 *
 * The region (about 70 MB with the default geometry) lives in a VM object
 * of type OBJT_PHYS: its pages are allocated one at a time as they are
 * first touched, zero-filled and never paged out, so no large physically
 * contiguous allocation is ever asked for.  The object is mapped into
 * kernel_map and wired (the same steps as shm_map(9) in uipc_shm.c), which
 * gives the core the flat, virtually contiguous view it indexes, and the
 * same object is handed to mmap(2) through d_mmap_single, so the agent and
 * the core see the same pages.
 *
 * References on r_obj: one is ours, one belongs to the kernel_map entry,
 * and each user mapping holds one more.  "Mapped" is therefore a
 * reference count above two; when a mapping outlives us anyway (it cannot:
 * unload and destroy refuse while mapped) the pages stay valid because the
 * object lives until its last reference goes.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/rwlock.h>
#include <sys/sx.h>
#include <sys/selinfo.h>
#include <sys/callout.h>
#include <sys/counter.h>
#include <sys/epoch.h>
#include <sys/eventhandler.h>
#include <sys/refcount.h>
#include <sys/sysctl.h>
#include <sys/socket.h>
#include <sys/ck.h>

#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/pmap.h>
#include <vm/vm_object.h>
#include <vm/vm_page.h>
#include <vm/vm_pager.h>
#include <vm/vm_map.h>
#include <vm/vm_kern.h>
#include <vm/vm_extern.h>

#include <net/if.h>
#include <net/if_var.h>
#include <net/pfil.h>

#include "bsdnet_kern.h"

SYSCTL_DECL(_net_bsdnet);
static u_int bsdnet_kern_max_region_mb = 1024;
SYSCTL_UINT(_net_bsdnet, OID_AUTO, max_region_mb, CTLFLAG_RWTUN,
    &bsdnet_kern_max_region_mb, 0, "Largest region BSDNET_IOC_CREATE accepts");

/* bsdnet_kern_mod.c exports these read-only under net.bsdnet.tables. */
extern struct bsdnet_geometry bsdnet_kern_geo;
extern uint64_t bsdnet_kern_region_size;

static int
bsdnet_kern_region_map(struct bsdnet_kern_region *r)
{
	vm_offset_t kva;
	int rv;

	r->r_obj = vm_pager_allocate(OBJT_PHYS, NULL, r->r_size,
	    VM_PROT_DEFAULT, 0, NULL);
	if (r->r_obj == NULL)
		return (ENOMEM);
	/* vm_map_find() consumes a reference: the map entry's. */
	vm_object_reference(r->r_obj);
	kva = vm_map_min(kernel_map);
	rv = vm_map_find(kernel_map, r->r_obj, 0, &kva, r->r_size, 0,
	    VMFS_OPTIMAL_SPACE, VM_PROT_READ | VM_PROT_WRITE,
	    VM_PROT_READ | VM_PROT_WRITE, 0);
	if (rv != KERN_SUCCESS) {
		vm_object_deallocate(r->r_obj);
		vm_object_deallocate(r->r_obj);
		r->r_obj = NULL;
		return (ENOMEM);
	}
	/* Fault every page in now: the packet path must never fault. */
	rv = vm_map_wire(kernel_map, kva, kva + r->r_size,
	    VM_MAP_WIRE_SYSTEM | VM_MAP_WIRE_NOHOLES);
	if (rv != KERN_SUCCESS) {
		(void)vm_map_remove(kernel_map, kva, kva + r->r_size);
		vm_object_deallocate(r->r_obj);
		r->r_obj = NULL;
		return (ENOMEM);
	}
	r->r_kva = kva;
	return (0);
}

static void
bsdnet_kern_region_unmap(struct bsdnet_kern_region *r)
{

	if (r->r_obj == NULL)
		return;
	/* Drops the map entry's reference and unwires the pages. */
	(void)vm_map_remove(kernel_map, r->r_kva, r->r_kva + r->r_size);
	vm_object_deallocate(r->r_obj);
	r->r_obj = NULL;
	r->r_kva = 0;
}

int
bsdnet_kern_region_create(struct bsdnet_kern_softc *sc,
    const struct bsdnet_geometry *g)
{
	struct bsdnet_kern_region *r;
	uint64_t size, key[2], off[BSDNET_TBL_MAX];
	int error;

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	if (sc->sc_region != NULL)
		return (EEXIST);
	if (bsdnet_layout(g, &size, NULL) != BSDNET_OK ||
	    bsdnet_layout_offsets(g, off) != BSDNET_OK)
		return (EINVAL);
	if (size > (uint64_t)bsdnet_kern_max_region_mb * 1024 * 1024)
		return (EFBIG);

	r = malloc(sizeof(*r), M_BSDNET, M_WAITOK | M_ZERO);
	r->r_size = round_page(size);
	r->r_geom = *g;
	error = bsdnet_kern_region_map(r);
	if (error != 0) {
		free(r, M_BSDNET);
		return (error);
	}
	arc4random_buf(key, sizeof(key));
	arc4random_buf(&r->r_instance, sizeof(r->r_instance));
	if (bsdnet_region_format((void *)r->r_kva, r->r_size, g, key,
	    r->r_instance) != BSDNET_OK) {
		bsdnet_kern_region_unmap(r);
		free(r, M_BSDNET);
		return (EINVAL);
	}
	r->r_vifs = (struct bsdnet_vif *)(r->r_kva + off[BSDNET_TBL_VIFS]);
	sc->sc_byvif = malloc(sizeof(*sc->sc_byvif) * g->g_nvifs, M_BSDNET,
	    M_WAITOK | M_ZERO);
	sc->sc_region = r;
	bsdnet_kern_pcpu_init(sc);
	bsdnet_kern_geo = *g;
	bsdnet_kern_region_size = r->r_size;
	return (0);
}

/* Caller checked that no port is attached and nobody maps the region. */
int
bsdnet_kern_region_destroy(struct bsdnet_kern_softc *sc)
{
	struct bsdnet_kern_region *r = sc->sc_region;
	struct bsdnet_kern_port **byvif;

	sx_assert(&sc->sc_lock, SA_XLOCKED);
	if (r == NULL)
		return (ENXIO);
	if (sc->sc_nports > 0 || bsdnet_kern_region_mapped(sc))
		return (EBUSY);
	byvif = sc->sc_byvif;
	atomic_store_rel_ptr((volatile uintptr_t *)&sc->sc_region,
	    (uintptr_t)NULL);
	atomic_store_rel_ptr((volatile uintptr_t *)&sc->sc_byvif,
	    (uintptr_t)NULL);
	/* Unbind every CPU's context under its lock: the tick may run. */
	bsdnet_kern_pcpu_init(sc);
	/* A flush (tick, RELEASE) may still be looking a vif up. */
	NET_EPOCH_WAIT();
	free(byvif, M_BSDNET);
	memset(&bsdnet_kern_geo, 0, sizeof(bsdnet_kern_geo));
	bsdnet_kern_region_size = 0;
	bsdnet_kern_region_unmap(r);
	free(r, M_BSDNET);
	return (0);
}

bool
bsdnet_kern_region_mapped(const struct bsdnet_kern_softc *sc)
{
	const struct bsdnet_kern_region *r = sc->sc_region;

	if (r == NULL || r->r_obj == NULL)
		return (false);
	return (refcount_load(&r->r_obj->ref_count) > 2);
}

void *
bsdnet_kern_region_base(const struct bsdnet_kern_softc *sc)
{

	return (sc->sc_region == NULL ? NULL : (void *)sc->sc_region->r_kva);
}

/* d_mmap_single: the whole region or a page-aligned part of it. */
int
bsdnet_kern_region_mmap(struct bsdnet_kern_softc *sc, vm_ooffset_t *offset,
    vm_size_t size, vm_object_t *objp)
{
	struct bsdnet_kern_region *r;

	sx_assert(&sc->sc_lock, SA_LOCKED);
	r = sc->sc_region;
	if (r == NULL)
		return (ENXIO);
	if (size == 0 || (*offset & PAGE_MASK) != 0 || *offset < 0 ||
	    (uint64_t)*offset > r->r_size ||
	    size > r->r_size - (uint64_t)*offset)
		return (EINVAL);
	vm_object_reference(r->r_obj);
	*objp = r->r_obj;
	return (0);
}
