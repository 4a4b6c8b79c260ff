/*
 * mutex(9), sx(9), rmlock(9), sleep(9) and a WITNESS.
 *
 * Every lock has a side record (hung on lo_witness, which is WITNESS's
 * own field) and the lock word keeps FreeBSD's encoding, so the inline
 * mtx_owned(), sx_xlocked() and friends of the headers read it right.
 * As witness(4) does, locks are grouped by name into classes, and every
 * acquisition while others are held adds edges to one lock-order graph
 * kept for the whole run.  Panics, as an INVARIANTS + WITNESS kernel
 * would: a reversal of an established order, a sleepable lock taken
 * under a mutex, a duplicate acquisition of a class without DUPOK,
 * recursion on a non-recursive lock, unlocking what the thread does not
 * hold, an assertion that does not hold, destroying a held lock, and
 * sleeping (sleep(9), M_WAITOK, an sx, a wait for the epoch...) while
 * holding a mutex or inside an epoch section.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/rmlock.h>
#include <sys/proc.h>
#include <sys/epoch.h>

#include "kh_kern.h"

enum kh_lkind { KH_MTX, KH_SX, KH_RM };
static const char *kh_lkname[] = { "sleep mutex", "sx", "rm" };

#define	KH_NCLASS	128

struct kh_wclass {
	const char	*wc_name;
	enum kh_lkind	 wc_kind;
};

struct kh_lock {
	struct lock_object *l_lo;
	enum kh_lkind	 l_kind;
	int		 l_class;
	bool		 l_sleepable, l_recursable, l_dupok, l_internal;
	bool		 l_old;		/* initialized before the checkpoint */
	struct kh_thread *l_owner;	/* exclusive owner */
	int		 l_recurse;
	int		 l_shared;	/* shared holders */
	struct kh_hcond	*l_cv;
	char		 l_where[160];	/* who initialized it */
	struct kh_lock	*l_next;
};

/* One host mutex guards every lock's state, the graph and sleepers. */
static struct kh_hmtx *kl_mtx;
static struct kh_wclass kh_class[KH_NCLASS];
static int kh_nclass;
static struct {
	bool	 e_set;
	char	 e_where[96];
} kh_edge[KH_NCLASS][KH_NCLASS];
static struct kh_lock *kh_locks;

/* sleep(9) */
struct kh_sleeper {
	const void		*s_chan;
	struct kh_thread	*s_td;
	bool			 s_woken;
	struct kh_sleeper	*s_next;
};
static struct kh_sleeper *kh_sleepers;
static struct kh_hcond *kh_sleepcv;

void
kh_lock_init(void)
{
	kl_mtx = kh_h_mtx_new();
	kh_sleepcv = kh_h_cond_new();
}

static struct kh_lock *
kh_lk(const struct lock_object *lo, const char *op)
{
	struct kh_lock *l = (struct kh_lock *)lo->lo_witness;

	if ((lo->lo_flags & LO_INITIALIZED) == 0 || l == NULL ||
	    l->l_lo != lo)
		kh_panic("%s: lock %p (\"%s\") is not initialized or was "
		    "destroyed", op, lo, lo->lo_name != NULL ? lo->lo_name :
		    "?");
	return (l);
}

static int
kh_class_of(const char *name, enum kh_lkind kind)
{
	int i;

	for (i = 0; i < kh_nclass; i++)
		if (kh_class[i].wc_kind == kind &&
		    strcmp(kh_class[i].wc_name, name) == 0)
			return (i);
	if (kh_nclass == KH_NCLASS)
		kh_panic("witness: more than %d lock classes", KH_NCLASS);
	kh_class[kh_nclass].wc_name = name;
	kh_class[kh_nclass].wc_kind = kind;
	return (kh_nclass++);
}

static void
kh_lock_new(struct lock_object *lo, const char *name, enum kh_lkind kind,
    bool sleepable, bool recursable, bool dupok, const void *pc)
{
	struct kh_lock *l;
	char where[128];

	if ((lo->lo_flags & LO_INITIALIZED) != 0)
		kh_panic("lock \"%s\" %p already initialized", name, lo);
	l = kh_h_calloc(sizeof(*l));
	l->l_lo = lo;
	l->l_kind = kind;
	l->l_sleepable = sleepable;
	l->l_recursable = recursable;
	l->l_dupok = dupok;
	l->l_cv = kh_h_cond_new();
	snprintf(l->l_where, sizeof(l->l_where), "%s",
	    kh_caller(pc, where, sizeof(where)));
	lo->lo_name = name;
	lo->lo_flags = LO_INITIALIZED | LO_WITNESS |
	    (sleepable ? LO_SLEEPABLE : 0) | (recursable ? LO_RECURSABLE : 0) |
	    (dupok ? LO_DUPOK : 0);
	lo->lo_data = 0;
	lo->lo_witness = (struct witness *)l;
	kh_h_lock(kl_mtx);
	l->l_class = kh_class_of(name, kind);
	l->l_next = kh_locks;
	kh_locks = l;
	kh_h_unlock(kl_mtx);
}

static void
kh_lock_gone(struct lock_object *lo)
{
	struct kh_lock *l = kh_lk(lo, "destroy"), **pp;

	kh_h_lock(kl_mtx);
	if (l->l_owner != NULL || l->l_shared != 0)
		kh_panic("%s \"%s\" destroyed while held (by %s)",
		    kh_lkname[l->l_kind], lo->lo_name,
		    l->l_owner != NULL ? l->l_owner->kt_td.td_name : "readers");
	for (pp = &kh_locks; *pp != l; pp = &(*pp)->l_next)
		;
	*pp = l->l_next;
	kh_h_unlock(kl_mtx);
	kh_h_cond_free(l->l_cv);
	kh_h_free(l);
	lo->lo_flags &= ~LO_INITIALIZED;
	lo->lo_witness = NULL;
}

/* Is there a path from class a to class b in the order graph? */
static bool
kh_reach(int a, int b, uint8_t *seen)
{
	int i;

	if (a == b)
		return (true);
	seen[a] = 1;
	for (i = 0; i < kh_nclass; i++)
		if (kh_edge[a][i].e_set && !seen[i] && kh_reach(i, b, seen))
			return (true);
	return (false);
}

/* witness_checkorder(): called with kl_mtx held. */
static void
kh_checkorder(struct kh_thread *kt, struct kh_lock *l, const char *file,
    int line)
{
	uint8_t seen[KH_NCLASS];
	struct kh_lock *h;
	int i, a, b;

	for (i = 0; i < kt->kt_nheld; i++) {
		h = kt->kt_held[i].h_lock;
		a = h->l_class;
		b = l->l_class;
		if (a == b) {
			if (l->l_dupok || h == l)
				continue;
			kh_panic("witness: acquiring duplicate lock of same "
			    "type: \"%s\"\n 1st %s @ %s:%d\n 2nd %s @ %s:%d",
			    l->l_lo->lo_name, h->l_lo->lo_name,
			    kt->kt_held[i].h_file, kt->kt_held[i].h_line,
			    l->l_lo->lo_name, file, line);
		}
		if (!h->l_sleepable && l->l_sleepable)
			kh_panic("witness: acquiring sleepable %s \"%s\" @ "
			    "%s:%d while holding non-sleepable %s \"%s\" @ "
			    "%s:%d", kh_lkname[l->l_kind], l->l_lo->lo_name,
			    file, line, kh_lkname[h->l_kind], h->l_lo->lo_name,
			    kt->kt_held[i].h_file, kt->kt_held[i].h_line);
		memset(seen, 0, sizeof(seen));
		if (kh_reach(b, a, seen))
			kh_panic("witness: lock order reversal:\n 1st %s "
			    "(%s) @ %s:%d\n 2nd %s (%s) @ %s:%d\n"
			    " (the reverse order %s -> %s was established"
			    " first)", h->l_lo->lo_name,
			    kh_lkname[h->l_kind], kt->kt_held[i].h_file,
			    kt->kt_held[i].h_line, l->l_lo->lo_name,
			    kh_lkname[l->l_kind], file, line,
			    l->l_lo->lo_name, h->l_lo->lo_name);
		if (!kh_edge[a][b].e_set) {
			kh_edge[a][b].e_set = true;
			snprintf(kh_edge[a][b].e_where,
			    sizeof(kh_edge[a][b].e_where), "%s:%d", file,
			    line);
		}
	}
}

static bool
kh_available(struct kh_lock *l, bool shared)
{
	if (l->l_owner != NULL)
		return (false);
	return (shared || l->l_shared == 0);
}

static void
kh_word(struct kh_lock *l)
{
	struct lock_object *lo = l->l_lo;
	uintptr_t v;

	if (l->l_kind == KH_MTX) {
		v = l->l_owner == NULL ? MTX_UNOWNED :
		    (uintptr_t)&l->l_owner->kt_td |
		    (l->l_recurse > 0 ? MTX_RECURSED : 0);
		((struct mtx *)lo)->mtx_lock = v;
		lo->lo_data = (u_int)l->l_recurse;
	} else if (l->l_kind == KH_SX) {
		v = l->l_owner != NULL ? (uintptr_t)&l->l_owner->kt_td |
		    (l->l_recurse > 0 ? SX_LOCK_RECURSED : 0) :
		    SX_SHARERS_LOCK((uintptr_t)l->l_shared);
		((struct sx *)lo)->sx_lock = v;
		lo->lo_data = (u_int)l->l_recurse;
	}
}

/* 0, or EBUSY for a trylock that would block. */
static int
kh_acquire(struct lock_object *lo, bool shared, bool try, const char *file,
    int line)
{
	struct kh_thread *kt = kh_curthread();
	struct kh_lock *l = kh_lk(lo, shared ? "slock" : "lock");
	int i;

	kh_h_lock(kl_mtx);
	if (l->l_owner == kt) {
		if (!shared && l->l_recursable) {
			l->l_recurse++;
			kh_word(l);
			kh_h_unlock(kl_mtx);
			return (0);
		}
		kh_panic("%s: recursed on non-recursive %s \"%s\" @ %s:%d",
		    shared ? "slock" : "lock", kh_lkname[l->l_kind],
		    lo->lo_name, file, line);
	}
	for (i = 0; i < kt->kt_nheld; i++)
		if (kt->kt_held[i].h_lock == l)
			kh_panic("%s: %s \"%s\" @ %s:%d already held shared "
			    "by this thread @ %s:%d", shared ? "slock" : "lock",
			    kh_lkname[l->l_kind], lo->lo_name, file, line,
			    kt->kt_held[i].h_file, kt->kt_held[i].h_line);
	if (!try)
		kh_checkorder(kt, l, file, line);
	if (try && !kh_available(l, shared)) {
		kh_h_unlock(kl_mtx);
		return (EBUSY);
	}
	if (!kh_available(l, shared) && kt->kt_td.td_critnest != 0)
		kh_panic("blocking on %s \"%s\" in a critical section",
		    kh_lkname[l->l_kind], lo->lo_name);
	while (!kh_available(l, shared))
		kh_h_wait(l->l_cv, kl_mtx, -1);
	if (shared)
		l->l_shared++;
	else
		l->l_owner = kt;
	kh_word(l);
	if (kt->kt_nheld == KH_MAXHELD)
		kh_panic("witness: more than %d locks held", KH_MAXHELD);
	kt->kt_held[kt->kt_nheld].h_lock = l;
	kt->kt_held[kt->kt_nheld].h_file = file;
	kt->kt_held[kt->kt_nheld].h_line = line;
	kt->kt_held[kt->kt_nheld].h_shared = shared;
	kt->kt_nheld++;
	kt->kt_td.td_locks++;
	kh_h_unlock(kl_mtx);
	return (0);
}

static void
kh_release(struct lock_object *lo, bool shared, const char *file, int line)
{
	struct kh_thread *kt = kh_curthread();
	struct kh_lock *l = kh_lk(lo, shared ? "sunlock" : "unlock");
	int i;

	kh_h_lock(kl_mtx);
	if (!shared && l->l_owner == kt && l->l_recurse > 0) {
		l->l_recurse--;
		kh_word(l);
		kh_h_unlock(kl_mtx);
		return;
	}
	for (i = 0; i < kt->kt_nheld; i++)
		if (kt->kt_held[i].h_lock == l &&
		    kt->kt_held[i].h_shared == shared)
			break;
	if (i == kt->kt_nheld)
		kh_panic("%s: %s \"%s\" not %s by this thread @ %s:%d",
		    shared ? "sunlock" : "unlock", kh_lkname[l->l_kind],
		    lo->lo_name, shared ? "share locked" : "owned", file,
		    line);
	kt->kt_held[i] = kt->kt_held[--kt->kt_nheld];
	kt->kt_td.td_locks--;
	if (shared)
		l->l_shared--;
	else
		l->l_owner = NULL;
	kh_word(l);
	kh_h_broadcast(l->l_cv);
	kh_h_unlock(kl_mtx);
}

static bool
kh_held_shared(struct kh_thread *kt, struct kh_lock *l)
{
	int i;

	for (i = 0; i < kt->kt_nheld; i++)
		if (kt->kt_held[i].h_lock == l && kt->kt_held[i].h_shared)
			return (true);
	return (false);
}

/* The LA_* assertions shared by mtx_assert, sx_assert and rm_assert. */
static void
kh_assert(const struct lock_object *lo, int what, const char *file, int line)
{
	struct kh_thread *kt = kh_curthread();
	struct kh_lock *l = kh_lk(lo, "assert");
	bool x, s;

	kh_h_lock(kl_mtx);
	x = l->l_owner == kt;
	s = kh_held_shared(kt, l);
	kh_h_unlock(kl_mtx);
	switch (what & ~(LA_RECURSED | LA_NOTRECURSED)) {
	case LA_LOCKED:
		if (!x && !s)
			goto fail;
		break;
	case LA_SLOCKED:
		if (!s)
			goto fail;
		break;
	case LA_XLOCKED:
		if (!x)
			goto fail;
		break;
	case LA_UNLOCKED:
		if (x || s)
			goto fail;
		break;
	}
	if ((what & LA_RECURSED) != 0 && !(x && l->l_recurse > 0))
		goto fail;
	if ((what & LA_NOTRECURSED) != 0 && x && l->l_recurse > 0)
		goto fail;
	return;
fail:
	kh_panic("lock assertion 0x%x failed on %s \"%s\" @ %s:%d (held "
	    "%s)", what, kh_lkname[l->l_kind], lo->lo_name, file, line,
	    x ? "exclusive" : s ? "shared" : "not at all");
}

/* ---- mutex(9) ---- */
#define	KH_MTX(c)	__containerof((c), struct mtx, mtx_lock)
#define	KH_MTX_LO(c)	(&KH_MTX(c)->lock_object)

void
_mtx_init(volatile uintptr_t *c, const char *name, const char *type __unused,
    int opts)
{
	struct lock_object *lo = KH_MTX_LO(c);

	if ((opts & MTX_SPIN) != 0)
		kh_panic("mtx_init(\"%s\"): spin mutexes are not modelled",
		    name);
	if ((opts & MTX_NEW) != 0)
		lo->lo_flags = 0;
	kh_lock_new(lo, name, KH_MTX, false, (opts & MTX_RECURSE) != 0,
	    (opts & MTX_DUPOK) != 0, __builtin_return_address(0));
	*c = MTX_UNOWNED;
}

void
kh_internal_mtx_init(struct mtx *m, const char *name)
{
	mtx_init(m, name, NULL, MTX_DEF);
	((struct kh_lock *)m->lock_object.lo_witness)->l_internal = true;
}

void
_mtx_destroy(volatile uintptr_t *c)
{
	struct lock_object *lo = KH_MTX_LO(c);
	struct kh_lock *l = kh_lk(lo, "mtx_destroy");

	/* The owner may destroy a mutex it holds (mutex(9)). */
	if (l->l_owner == kh_curthread())
		kh_release(lo, false, __FILE__, __LINE__);
	kh_lock_gone(lo);
	*c = MTX_DESTROYED;
}

void
__mtx_lock_flags(volatile uintptr_t *c, int opts __unused, const char *file,
    int line)
{
	(void)kh_acquire(KH_MTX_LO(c), false, false, file, line);
}

int
_mtx_trylock_flags_(volatile uintptr_t *c, int opts __unused,
    const char *file, int line)
{
	return (kh_acquire(KH_MTX_LO(c), false, true, file, line) == 0);
}

void
__mtx_unlock_flags(volatile uintptr_t *c, int opts __unused,
    const char *file, int line)
{
	kh_release(KH_MTX_LO(c), false, file, line);
}

void
__mtx_assert(const volatile uintptr_t *c, int what, const char *file,
    int line)
{
	kh_assert(&KH_MTX(c)->lock_object, what, file, line);
}

/* ---- sx(9) ---- */
void
sx_init_flags(struct sx *sx, const char *name, int opts)
{
	if ((opts & SX_NEW) != 0)
		sx->lock_object.lo_flags = 0;
	kh_lock_new(&sx->lock_object, name, KH_SX, true,
	    (opts & SX_RECURSE) != 0, (opts & SX_DUPOK) != 0,
	    __builtin_return_address(0));
	sx->sx_lock = SX_LOCK_UNLOCKED;
}

void
kh_internal_sx_init(struct sx *sx, const char *name)
{
	sx_init(sx, name);
	((struct kh_lock *)sx->lock_object.lo_witness)->l_internal = true;
}

void
sx_destroy(struct sx *sx)
{
	kh_lock_gone(&sx->lock_object);
	sx->sx_lock = SX_LOCK_DESTROYED;
}

int
_sx_xlock(struct sx *sx, int opts __unused, const char *file, int line)
{
	kh_may_sleep("sx_xlock", NULL);
	return (kh_acquire(&sx->lock_object, false, false, file, line));
}

int
_sx_slock(struct sx *sx, int opts __unused, const char *file, int line)
{
	kh_may_sleep("sx_slock", NULL);
	return (kh_acquire(&sx->lock_object, true, false, file, line));
}

int
sx_try_xlock_(struct sx *sx, const char *file, int line)
{
	return (kh_acquire(&sx->lock_object, false, true, file, line) == 0);
}

void
_sx_xunlock(struct sx *sx, const char *file, int line)
{
	kh_release(&sx->lock_object, false, file, line);
}

void
_sx_sunlock(struct sx *sx, const char *file, int line)
{
	kh_release(&sx->lock_object, true, file, line);
}

void
_sx_assert(const struct sx *sx, int what, const char *file, int line)
{
	kh_assert(&sx->lock_object, what, file, line);
}

/* ---- rmlock(9) ---- */
void
rm_init_flags(struct rmlock *rm, const char *name, int opts)
{
	if ((opts & RM_NEW) != 0)
		rm->lock_object.lo_flags = 0;
	kh_lock_new(&rm->lock_object, name, KH_RM, (opts & RM_SLEEPABLE) != 0,
	    (opts & RM_RECURSE) != 0, (opts & RM_DUPOK) != 0,
	    __builtin_return_address(0));
}

void
rm_init(struct rmlock *rm, const char *name)
{
	rm_init_flags(rm, name, 0);
}

void
rm_destroy(struct rmlock *rm)
{
	kh_lock_gone(&rm->lock_object);
}

int
rm_wowned(const struct rmlock *rm)
{
	return (kh_lk(&rm->lock_object, "rm_wowned")->l_owner ==
	    kh_curthread());
}

void
_rm_wlock_debug(struct rmlock *rm, const char *file, int line)
{
	if (kh_lk(&rm->lock_object, "rm_wlock")->l_sleepable)
		kh_may_sleep("rm_wlock", NULL);
	(void)kh_acquire(&rm->lock_object, false, false, file, line);
}

void
_rm_wunlock_debug(struct rmlock *rm, const char *file, int line)
{
	kh_release(&rm->lock_object, false, file, line);
}

int
_rm_rlock_debug(struct rmlock *rm, struct rm_priotracker *tracker __unused,
    int trylock, const char *file, int line)
{
	return (kh_acquire(&rm->lock_object, true, trylock != 0, file,
	    line) == 0);
}

void
_rm_runlock_debug(struct rmlock *rm, struct rm_priotracker *tracker __unused,
    const char *file, int line)
{
	kh_release(&rm->lock_object, true, file, line);
}

void
_rm_assert(const struct rmlock *rm, int what, const char *file, int line)
{
	kh_assert(&rm->lock_object, what, file, line);
}

/* ---- sleeping ---- */

/*
 * WITNESS_WARN(WARN_SLEEPOK) and the epoch's THREAD_NO_SLEEPING: the
 * caller is about to sleep (or may).  Only `interlock` may be held
 * among the non-sleepable locks.
 */
void
kh_may_sleep(const char *what, struct lock_object *interlock)
{
	struct kh_thread *kt = kh_curthread();
	struct kh_lock *l;
	int i;

	for (i = 0; i < kt->kt_nheld; i++) {
		l = kt->kt_held[i].h_lock;
		if (l->l_sleepable || l->l_lo == interlock)
			continue;
		kh_panic("%s may sleep with non-sleepable %s \"%s\" held "
		    "(locked @ %s:%d)", what, kh_lkname[l->l_kind],
		    l->l_lo->lo_name, kt->kt_held[i].h_file,
		    kt->kt_held[i].h_line);
	}
	if (kt->kt_td.td_no_sleeping != 0 || kt->kt_nepoch != 0)
		kh_panic("%s may sleep inside a network epoch section", what);
	if (kt->kt_td.td_critnest != 0)
		kh_panic("%s may sleep in a critical section", what);
}

int
_sleep(const void *chan, struct lock_object *lock, int pri,
    const char *wmesg, sbintime_t sbt, sbintime_t pr __unused,
    int flags __unused)
{
	struct kh_thread *kt = kh_curthread();
	struct kh_sleeper s, **pp;
	struct kh_lock *l = NULL;
	int error = 0, timedout = 0, recurse = 0;
	bool shared = false;
	long long deadline;

	kh_may_sleep(wmesg, lock);
	if (lock != NULL) {
		l = kh_lk(lock, wmesg);
		kh_h_lock(kl_mtx);
		shared = kh_held_shared(kt, l);
		if (l->l_owner != kt && !shared)
			kh_panic("sleep \"%s\": interlock \"%s\" not held",
			    wmesg, lock->lo_name);
		recurse = l->l_recurse;
		l->l_recurse = 0;
		kh_h_unlock(kl_mtx);
		kh_release(lock, shared, __FILE__, __LINE__);
	}
	s.s_chan = chan;
	s.s_td = kt;
	s.s_woken = false;
	deadline = sbt > 0 ? kh_h_now_ns() + sbttons(sbt) : -1;
	kh_h_lock(kl_mtx);
	s.s_next = kh_sleepers;
	kh_sleepers = &s;
	while (!s.s_woken) {
		if ((pri & PCATCH) != 0 && kt->kt_signal) {
			error = EINTR;
			break;
		}
		if (deadline >= 0 && kh_h_now_ns() >= deadline) {
			timedout = 1;
			break;
		}
		kh_h_wait(kh_sleepcv, kl_mtx, deadline >= 0 ?
		    deadline - kh_h_now_ns() : 20000000LL);
	}
	for (pp = &kh_sleepers; *pp != &s; pp = &(*pp)->s_next)
		;
	*pp = s.s_next;
	kh_h_unlock(kl_mtx);
	if (lock != NULL && (pri & PDROP) == 0) {
		(void)kh_acquire(lock, shared, false, wmesg, 0);
		l->l_recurse = recurse;
		kh_word(l);
	}
	return (error != 0 ? error : timedout ? EWOULDBLOCK : 0);
}

void
wakeup(const void *chan)
{
	struct kh_sleeper *s;

	kh_h_lock(kl_mtx);
	for (s = kh_sleepers; s != NULL; s = s->s_next)
		if (s->s_chan == chan)
			s->s_woken = true;
	kh_h_broadcast(kh_sleepcv);
	kh_h_unlock(kl_mtx);
}

void
wakeup_one(const void *chan)
{
	wakeup(chan);
}

/* A signal for a process's sleeping threads (PCATCH). */
void
kh_lock_poke(void)
{
	kh_h_lock(kl_mtx);
	kh_h_broadcast(kh_sleepcv);
	kh_h_unlock(kl_mtx);
}

/* ---- reports ---- */
void
kh_locks_print(struct kh_thread *kt)
{
	int i;

	for (i = 0; i < kt->kt_nheld; i++)
		kh_h_print(" held: %s \"%s\" (%s) @ %s:%d\n",
		    kh_lkname[kt->kt_held[i].h_lock->l_kind],
		    kt->kt_held[i].h_lock->l_lo->lo_name,
		    kt->kt_held[i].h_shared ? "shared" : "exclusive",
		    kt->kt_held[i].h_file, kt->kt_held[i].h_line);
	if (kt->kt_nepoch > 0)
		kh_h_print(" in %d network epoch section(s)\n", kt->kt_nepoch);
}

int
kh_live_locks(void)
{
	struct kh_lock *l;
	int n = 0;

	kh_h_lock(kl_mtx);
	for (l = kh_locks; l != NULL; l = l->l_next)
		n += !l->l_internal && !l->l_old;
	kh_h_unlock(kl_mtx);
	return (n);
}

/* Locks that exist now belong to the kernel, not to the module. */
void
kh_lock_checkpoint(void)
{
	struct kh_lock *l;

	kh_h_lock(kl_mtx);
	for (l = kh_locks; l != NULL; l = l->l_next)
		l->l_old = true;
	kh_h_unlock(kl_mtx);
}

void
kh_lock_leaks(const char *when)
{
	struct kh_lock *l;

	kh_h_lock(kl_mtx);
	for (l = kh_locks; l != NULL; l = l->l_next)
		if (!l->l_internal && !l->l_old)
			kh_panic("%s: %s \"%s\" initialized at %s was never "
			    "destroyed", when, kh_lkname[l->l_kind],
			    l->l_lo->lo_name, l->l_where);
	kh_h_unlock(kl_mtx);
}
