/*
 * malloc(9) and counter(9).
 *
 * Every allocation is a host allocation (so ASan sees overruns and uses
 * after free) behind a header naming its type, size and caller.  As
 * malloc(9) requires: exactly one of M_WAITOK and M_NOWAIT; M_WAITOK
 * may sleep (checked: no mutex, no epoch); the type must be initialized
 * (MALLOC_DEFINE's SYSINIT ran) and free() must name the type the
 * memory was allocated with.  A type that still has allocations when its
 * SYSUNINIT runs (module unload) is a leak: a panic here, where the
 * kernel prints "leaked memory on destroy".  Memory allocated without
 * M_ZERO is filled with 0xdeadc0de, as INVARIANTS' trash does.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/pcpu.h>
#include <sys/smp.h>
#include <sys/counter.h>

#include "kh_kern.h"

#define	KH_MTYPES	16
#define	KH_MAGIC	0x6b686d616c6c6f63ULL

/*
 * A cache line, so the memory after it keeps the alignment malloc(9)
 * gives (its power-of-two UMA zones align items to their size).
 */
struct kh_mhdr {
	uint64_t		 h_magic;
	struct malloc_type	*h_type;
	size_t			 h_size;
	const void		*h_pc;
} __aligned(CACHE_LINE_SIZE);

static struct {
	struct malloc_type	*t_type;
	long			 t_count;
	long			 t_bytes;
	const void		*t_last_pc;
} kh_mtypes[KH_MTYPES];
static long kh_counters;

static int
kh_mtype(struct malloc_type *mt, const char *op)
{
	int i;

	for (i = 0; i < KH_MTYPES; i++)
		if (kh_mtypes[i].t_type == mt)
			return (i);
	kh_panic("%s: malloc type %p (%s) is not initialized", op, mt,
	    mt != NULL && mt->ks_shortdesc != NULL ? mt->ks_shortdesc : "?");
}

void
malloc_init(void *arg)
{
	struct malloc_type *mt = arg;
	int i;

	kh_h_lock(kh_giant);
	for (i = 0; i < KH_MTYPES && kh_mtypes[i].t_type != NULL; i++)
		if (kh_mtypes[i].t_type == mt)
			kh_panic("malloc_init: %s initialized twice",
			    mt->ks_shortdesc);
	if (i == KH_MTYPES)
		kh_panic("malloc_init: too many malloc types");
	kh_mtypes[i].t_type = mt;
	kh_mtypes[i].t_count = kh_mtypes[i].t_bytes = 0;
	kh_h_unlock(kh_giant);
}

void
kh_malloc_check_type(struct malloc_type *mt, const char *when)
{
	char where[128];
	int i;

	kh_h_lock(kh_giant);
	i = kh_mtype(mt, when);
	if (kh_mtypes[i].t_count != 0)
		kh_panic("%s: memory type %s leaked memory on destroy (%ld "
		    "allocations, %ld bytes leaked; last allocated by %s)",
		    when, mt->ks_shortdesc, kh_mtypes[i].t_count,
		    kh_mtypes[i].t_bytes, kh_caller(kh_mtypes[i].t_last_pc,
		    where, sizeof(where)));
	kh_h_unlock(kh_giant);
}

void
malloc_uninit(void *arg)
{
	struct malloc_type *mt = arg;
	int i;

	kh_malloc_check_type(mt, "malloc_uninit");
	kh_h_lock(kh_giant);
	i = kh_mtype(mt, "malloc_uninit");
	kh_mtypes[i].t_type = NULL;
	kh_h_unlock(kh_giant);
}

static void *
kh_malloc(size_t size, struct malloc_type *mt, int flags, const void *pc)
{
	struct kh_mhdr *h;
	uint32_t *w;
	size_t i;
	int t;

	if (((flags & M_WAITOK) != 0) == ((flags & M_NOWAIT) != 0))
		kh_panic("malloc(%zu, %s): exactly one of M_WAITOK and "
		    "M_NOWAIT must be given (flags 0x%x)", size,
		    mt->ks_shortdesc, flags);
	if ((flags & M_WAITOK) != 0)
		kh_may_sleep("malloc(M_WAITOK)", NULL);
	else if (kh_fault_hit("malloc_nowait", NULL))
		return (NULL);
	h = kh_h_calloc(sizeof(*h) + size);
	h->h_magic = KH_MAGIC;
	h->h_type = mt;
	h->h_size = size;
	h->h_pc = pc;
	if ((flags & M_ZERO) == 0)
		for (i = 0, w = (uint32_t *)(h + 1); i < size / 4; i++)
			w[i] = 0xdeadc0de;
	kh_h_lock(kh_giant);
	t = kh_mtype(mt, "malloc");
	kh_mtypes[t].t_count++;
	kh_mtypes[t].t_bytes += (long)size;
	kh_mtypes[t].t_last_pc = pc;
	kh_h_unlock(kh_giant);
	return (h + 1);
}

void *
(malloc)(size_t size, struct malloc_type *mt, int flags)
{
	return (kh_malloc(size, mt, flags, __builtin_return_address(0)));
}

void
free(void *p, struct malloc_type *mt)
{
	struct kh_mhdr *h;
	int t;

	if (p == NULL)
		return;
	h = (struct kh_mhdr *)p - 1;
	if (h->h_magic != KH_MAGIC)
		kh_panic("free(%p, %s): not an address malloc(9) returned, or "
		    "freed twice", p, mt->ks_shortdesc);
	if (h->h_type != mt)
		kh_panic("free(%p, %s): allocated as %s", p, mt->ks_shortdesc,
		    h->h_type->ks_shortdesc);
	kh_h_lock(kh_giant);
	t = kh_mtype(mt, "free");
	kh_mtypes[t].t_count--;
	kh_mtypes[t].t_bytes -= (long)h->h_size;
	kh_h_unlock(kh_giant);
	h->h_magic = 0;
	kh_h_free(h);
}

/* ---- counter(9): per-CPU slots UMA_PCPU_ALLOC_SIZE apart ---- */
counter_u64_t
counter_u64_alloc(int flags)
{
	char *mem;

	if ((flags & M_WAITOK) != 0)
		kh_may_sleep("counter_u64_alloc(M_WAITOK)", NULL);
	mem = kh_h_aligned(UMA_PCPU_ALLOC_SIZE,
	    (unsigned long)UMA_PCPU_ALLOC_SIZE * KH_NCPU);
	kh_h_lock(kh_giant);
	kh_counters++;
	kh_h_unlock(kh_giant);
	/* amd64's zpcpu_add() adds at %gs:(c): c is relative to __pcpu. */
	return (zpcpu_base_to_offset((counter_u64_t)(void *)mem));
}

void
counter_u64_free(counter_u64_t c)
{
	if (c == NULL)
		return;
	kh_h_lock(kh_giant);
	kh_counters--;
	kh_h_unlock(kh_giant);
	kh_h_free(zpcpu_offset_to_base(c));
}

uint64_t
counter_u64_fetch(counter_u64_t c)
{
	uint64_t sum = 0;
	u_int cpu;

	CPU_FOREACH(cpu)
		sum += *zpcpu_get_cpu(c, cpu);
	return (sum);
}

void
counter_u64_zero(counter_u64_t c)
{
	u_int cpu;

	CPU_FOREACH(cpu)
		*zpcpu_get_cpu(c, cpu) = 0;
}

long
kh_live_counters(void)
{
	return (kh_counters);
}
