/*
 * The VM pieces a device that shares memory with a process uses:
 * vm_pager_allocate(OBJT_PHYS), object references, mappings in
 * kernel_map (vm_map_find, vm_map_wire, vm_map_remove) and the user
 * mappings mmap(2) makes of what d_mmap_single() returns.
 *
 * An object's pages are a memory file: the kernel's mapping and each
 * process's are separate mappings of the same pages, as in the kernel.
 * Every mapping is followed by a megabyte that is not mapped, so an
 * index or offset past the end faults then and there.
 * References are counted as vm_object(9) does: vm_pager_allocate()
 * returns one, vm_map_find() consumes one for its entry, d_mmap_single()
 * must return one the user mapping then owns, munmap()/exit and
 * vm_map_remove() drop theirs.  Dropping a reference the object does
 * not have, or touching a dead object, panics; objects alive after
 * unload are leaks.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/rwlock.h>
#include <sys/proc.h>
#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/pmap.h>
#include <vm/vm_object.h>
#include <vm/vm_page.h>
#include <vm/vm_pager.h>
#include <vm/vm_map.h>
#include <vm/vm_kern.h>

#include "kh_kern.h"

struct kh_vmobj {
	struct vm_object o_obj;		/* first */
	int		 o_fd;
	size_t		 o_bytes;
	bool		 o_dead;
	struct kh_vmobj	*o_next;	/* all objects, dead ones too */
};

#define	KH_NMAP	16
#define	KH_GUARD	(1UL << 20)	/* unmapped after every mapping */
static struct {
	vm_offset_t	 e_start;
	size_t		 e_len;
	struct kh_vmobj	*e_obj;
	bool		 e_wired;
	bool		 e_user;
} kh_maps[KH_NMAP];

struct vm_map kernel_map_store;
static int kh_nobjs;
static struct kh_vmobj *kh_objs;

vm_offset_t
vm_map_min_KBI(const struct vm_map *map __unused)
{
	return (0);
}

vm_object_t
vm_pager_allocate(objtype_t type, void *handle, vm_ooffset_t size,
    vm_prot_t prot __unused, vm_ooffset_t off __unused,
    struct ucred *cred __unused)
{
	struct kh_vmobj *o;

	if (type != OBJT_PHYS || handle != NULL)
		kh_panic("vm_pager_allocate: only anonymous OBJT_PHYS is "
		    "modelled");
	kh_may_sleep("vm_pager_allocate", NULL);
	if (kh_fault_hit("vm_pager_allocate", NULL))
		return (NULL);
	o = kh_h_calloc(sizeof(*o));
	o->o_bytes = round_page(size);
	o->o_fd = kh_h_memfd(o->o_bytes);
	if (o->o_fd < 0)
		kh_panic("vm_pager_allocate: host memfd: %d", o->o_fd);
	o->o_obj.type = OBJT_PHYS;
	o->o_obj.size = OFF_TO_IDX(o->o_bytes);
	o->o_obj.ref_count = 1;
	kh_h_lock(kh_giant);
	kh_nobjs++;
	o->o_next = kh_objs;
	kh_objs = o;
	kh_h_unlock(kh_giant);
	return (&o->o_obj);
}

static struct kh_vmobj *
kh_obj(vm_object_t obj, const char *op)
{
	struct kh_vmobj *o = (struct kh_vmobj *)obj;

	if (obj == NULL || o->o_dead || obj->ref_count == 0)
		kh_panic("%s: object %p has no references (freed)", op, obj);
	return (o);
}

void
vm_object_reference(vm_object_t obj)
{
	(void)kh_obj(obj, "vm_object_reference");
	__atomic_add_fetch(&obj->ref_count, 1, __ATOMIC_SEQ_CST);
}

void
vm_object_deallocate(vm_object_t obj)
{
	struct kh_vmobj *o = kh_obj(obj, "vm_object_deallocate");

	if (__atomic_sub_fetch(&obj->ref_count, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	o->o_dead = true;
	kh_h_close(o->o_fd);
	kh_h_lock(kh_giant);
	kh_nobjs--;
	kh_h_unlock(kh_giant);
	/* The struct stays (poisoned as dead) so a late use is a panic. */
}

int
kh_live_vm_objects(void)
{
	return (kh_nobjs);
}

/* Shutdown: the dead objects kept to catch late uses go now. */
void
kh_vm_fini(void)
{
	struct kh_vmobj *o;

	while ((o = kh_objs) != NULL) {
		if (!o->o_dead)
			kh_panic("shutdown: vm object %p still has %u "
			    "reference(s)", o, o->o_obj.ref_count);
		kh_objs = o->o_next;
		kh_h_free(o);
	}
}

static int
kh_map_add(struct kh_vmobj *o, vm_ooffset_t off, size_t len, bool user,
    vm_offset_t *addr)
{
	void *p;
	int i;

	if ((off & PAGE_MASK) != 0 || off > (vm_ooffset_t)o->o_bytes ||
	    len > o->o_bytes - (size_t)off)
		return (EINVAL);
	p = kh_h_mmap(o->o_fd, len, (unsigned long)off, KH_GUARD);
	if (p == NULL)
		return (ENOMEM);
	kh_h_lock(kh_giant);
	for (i = 0; i < KH_NMAP && kh_maps[i].e_obj != NULL; i++)
		;
	if (i == KH_NMAP)
		kh_panic("kh: too many mappings");
	kh_maps[i].e_start = (vm_offset_t)p;
	kh_maps[i].e_len = len;
	kh_maps[i].e_obj = o;
	kh_maps[i].e_wired = false;
	kh_maps[i].e_user = user;
	kh_h_unlock(kh_giant);
	*addr = (vm_offset_t)p;
	return (0);
}

static int
kh_map_find(vm_offset_t start, size_t len, bool user)
{
	int i;

	for (i = 0; i < KH_NMAP; i++)
		if (kh_maps[i].e_obj != NULL && kh_maps[i].e_user == user &&
		    kh_maps[i].e_start == start && kh_maps[i].e_len == len)
			return (i);
	return (-1);
}

static void
kh_map_del(int i)
{
	struct kh_vmobj *o = kh_maps[i].e_obj;

	kh_h_munmap((void *)kh_maps[i].e_start, kh_maps[i].e_len, KH_GUARD);
	kh_maps[i].e_obj = NULL;
	vm_object_deallocate(&o->o_obj);
}

int
vm_map_find(vm_map_t map, vm_object_t obj, vm_ooffset_t off,
    vm_offset_t *addr, vm_size_t len, vm_offset_t max __unused,
    int find_space __unused, vm_prot_t prot __unused,
    vm_prot_t maxprot __unused, int cow __unused)
{
	struct kh_vmobj *o = kh_obj(obj, "vm_map_find");

	if (map != kernel_map)
		kh_panic("vm_map_find: only kernel_map is modelled");
	kh_may_sleep("vm_map_find", NULL);
	if (kh_fault_hit("vm_map_find", NULL))
		return (KERN_NO_SPACE);
	return (kh_map_add(o, off, len, false, addr) == 0 ? KERN_SUCCESS :
	    KERN_NO_SPACE);
}

int
vm_map_wire(vm_map_t map __unused, vm_offset_t start, vm_offset_t end,
    int flags __unused)
{
	int i;

	kh_may_sleep("vm_map_wire", NULL);
	kh_h_lock(kh_giant);
	i = kh_map_find(start, end - start, false);
	if (i >= 0)
		kh_maps[i].e_wired = true;
	kh_h_unlock(kh_giant);
	return (i >= 0 ? KERN_SUCCESS : KERN_INVALID_ADDRESS);
}

int
vm_map_remove(vm_map_t map __unused, vm_offset_t start, vm_offset_t end)
{
	int i;

	kh_may_sleep("vm_map_remove", NULL);
	kh_h_lock(kh_giant);
	i = kh_map_find(start, end - start, false);
	kh_h_unlock(kh_giant);
	if (i < 0)
		kh_panic("vm_map_remove: no kernel_map entry [%#lx, %#lx)",
		    (u_long)start, (u_long)end);
	kh_map_del(i);
	return (KERN_SUCCESS);
}

/* The user mapping takes over the reference d_mmap_single() returned. */
int
kh_vm_object_map_user(vm_object_t obj, vm_ooffset_t off, size_t len,
    void **uaddr)
{
	vm_offset_t a;
	int error;

	error = kh_map_add(kh_obj(obj, "mmap"), off, len, true, &a);
	*uaddr = (void *)a;
	return (error);
}

void
kh_vm_unmap_user(void *uaddr, size_t len)
{
	int i;

	kh_h_lock(kh_giant);
	i = kh_map_find((vm_offset_t)uaddr, len, true);
	kh_h_unlock(kh_giant);
	if (i < 0)
		kh_panic("munmap: no user mapping at %p", uaddr);
	kh_map_del(i);
}
