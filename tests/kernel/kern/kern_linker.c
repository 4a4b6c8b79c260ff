/*
 * The kernel linker's part of kldload(8)/kldunload(8): the module's
 * SYSINITs in order, module_register_init() and the module event
 * handler (MOD_LOAD; MOD_UNLOAD after a failed MOD_LOAD, as
 * kern_module.c does; MOD_QUIESCE then MOD_UNLOAD on unload), the
 * module's sysctl(9) OIDs with their loader tunables, SYSUNINITs in
 * reverse order; and eventhandler(9).
 *
 * Only the module uses SYSINIT, SYSCTL_* and MALLOC_DEFINE in this
 * program: the stand-in sets itself up in kh_boot(), so every entry of
 * the linker sets belongs to the module, as in its .ko.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/linker_set.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/proc.h>
#include <sys/module.h>
#include <sys/sysctl.h>
#include <sys/counter.h>
#include <sys/eventhandler.h>

#include "kh_kern.h"

SET_DECLARE(sysinit_set, struct sysinit);
SET_DECLARE(sysuninit_set, struct sysinit);
SET_DECLARE(sysctl_set, struct sysctl_oid);

struct module {
	const char	*m_name;
	modeventhand_t	 m_handler;
	void		*m_priv;
	bool		 m_loaded;
};

static struct module kh_module;
static int kh_load_error;

/*
 * The module's .data and .bss (khbuild.py renames them): a kldload
 * after a kldunload gets the .ko's initial data, as a fresh load does.
 */
extern char __start_kh_module_data[] __attribute__((weak));
extern char __stop_kh_module_data[] __attribute__((weak));
extern char __start_kh_module_bss[] __attribute__((weak));
extern char __stop_kh_module_bss[] __attribute__((weak));
static char *kh_data_image;

/* Byte by byte and uninstrumented: the sections hold ASan's redzones. */
__attribute__((no_sanitize("address"))) static void
kh_copy_raw(volatile char *dst, const volatile char *src, size_t n)
{
	while (n-- > 0)
		*dst++ = src != NULL ? *src++ : 0;
}

static void
kh_module_image(void)
{
	size_t n = (size_t)(__stop_kh_module_data - __start_kh_module_data);

	if (kh_data_image == NULL) {
		kh_data_image = kh_h_calloc(n);
		kh_copy_raw(kh_data_image, __start_kh_module_data, n);
		return;
	}
	kh_copy_raw(__start_kh_module_data, kh_data_image, n);
	kh_copy_raw(__start_kh_module_bss, NULL,
	    (size_t)(__stop_kh_module_bss - __start_kh_module_bss));
}

/* ---- sysctl ---- */
struct sysctl_oid_list sysctl__children;
struct sysctl_oid sysctl___net = {
	.oid_parent = &sysctl__children,
	.oid_number = 4,		/* CTL_NET */
	.oid_kind = CTLTYPE_NODE | CTLFLAG_RW,
	.oid_name = "net",
	.oid_fmt = "N",
};

#define	KH_NENV	16
static struct {
	char	e_name[64];
	char	e_value[64];
} kh_env[KH_NENV];

void
kh_setenv(const char *name, const char *value)
{
	int i;

	for (i = 0; i < KH_NENV; i++)
		if (kh_env[i].e_name[0] == '\0' ||
		    strcmp(kh_env[i].e_name, name) == 0) {
			strlcpy(kh_env[i].e_name, name,
			    sizeof(kh_env[i].e_name));
			strlcpy(kh_env[i].e_value, value,
			    sizeof(kh_env[i].e_value));
			return;
		}
	kh_panic("kh_setenv: too many tunables");
}

static const char *
kh_getenv(const char *name)
{
	int i;

	for (i = 0; i < KH_NENV; i++)
		if (strcmp(kh_env[i].e_name, name) == 0)
			return (kh_env[i].e_value);
	return (NULL);
}

/* "net.bsdnet.stats.rx_pkts" of an OID, from its parents. */
static void
kh_oid_name(const struct sysctl_oid *oid, char *buf, size_t len)
{
	const struct sysctl_oid *p;
	char tail[128];

	strlcpy(buf, oid->oid_name, len);
	while (oid->oid_parent != &sysctl__children) {
		if (oid->oid_parent == NULL)
			kh_panic("sysctl %s: no parent", buf);
		p = __containerof(oid->oid_parent, struct sysctl_oid,
		    oid_children);
		strlcpy(tail, buf, sizeof(tail));
		snprintf(buf, len, "%s.%s", p->oid_name, tail);
		oid = p;
	}
}

static struct sysctl_oid *
kh_sysctl_find(const char *name)
{
	struct sysctl_oid **oidp;
	char n[128];

	SET_FOREACH(oidp, sysctl_set) {
		kh_oid_name(*oidp, n, sizeof(n));
		if (strcmp(n, name) == 0)
			return (*oidp);
	}
	return (NULL);
}

static void
kh_sysctl_tunable(struct sysctl_oid *oid)
{
	const char *v;
	char n[128];
	long long x;

	if ((oid->oid_kind & CTLFLAG_TUN) == 0)
		return;
	kh_oid_name(oid, n, sizeof(n));
	if ((v = kh_getenv(n)) == NULL)
		return;
	x = strtoq(v, NULL, 0);
	switch (oid->oid_kind & CTLTYPE) {
	case CTLTYPE_INT:
	case CTLTYPE_UINT:
		*(int *)oid->oid_arg1 = (int)x;
		break;
	case CTLTYPE_U32:
		*(uint32_t *)oid->oid_arg1 = (uint32_t)x;
		break;
	case CTLTYPE_U64:
	case CTLTYPE_S64:
		*(uint64_t *)oid->oid_arg1 = (uint64_t)x;
		break;
	default:
		kh_panic("sysctl %s: tunable of type %u", n,
		    oid->oid_kind & CTLTYPE);
	}
}

static void
kh_sysctl_register(void)
{
	struct sysctl_oid **a, **b;
	char na[128], nb[128];

	SET_FOREACH(a, sysctl_set) {
		kh_oid_name(*a, na, sizeof(na));
		for (b = a + 1; b < SET_LIMIT(sysctl_set); b++) {
			kh_oid_name(*b, nb, sizeof(nb));
			if (strcmp(na, nb) == 0)
				kh_panic("sysctl: %s registered twice", na);
		}
		kh_sysctl_tunable(*a);
	}
}

static int
kh_sysctl_old(struct sysctl_req *req, const void *p, size_t l)
{
	if (req->oldidx + l > req->oldlen)
		return (ENOMEM);
	memcpy((char *)req->oldptr + req->oldidx, p, l);
	req->oldidx += l;
	return (0);
}

static int
kh_sysctl_new(struct sysctl_req *req, void *p, size_t l)
{
	if (req->newptr == NULL)
		return (0);
	if (req->newlen - req->newidx < l)
		return (EINVAL);
	memcpy(p, (const char *)req->newptr + req->newidx, l);
	req->newidx += l;
	return (0);
}

static int
kh_sysctl(const char *name, void *old, size_t *oldlen, const void *new,
    size_t newlen)
{
	struct sysctl_req req;
	struct sysctl_oid *oid;
	int error;

	if ((oid = kh_sysctl_find(name)) == NULL)
		return (ENOENT);
	if ((oid->oid_kind & CTLTYPE) == CTLTYPE_NODE)
		return (EISDIR);
	if (new != NULL && (oid->oid_kind & CTLFLAG_WR) == 0)
		return (EPERM);
	memset(&req, 0, sizeof(req));
	req.td = curthread;
	req.oldptr = old;
	req.oldlen = *oldlen;
	req.oldfunc = kh_sysctl_old;
	req.newptr = new;
	req.newlen = newlen;
	req.newfunc = kh_sysctl_new;
	error = oid->oid_handler(oid, oid->oid_arg1, oid->oid_arg2, &req);
	*oldlen = req.oldidx;
	kh_userret(name);
	return (error);
}

unsigned long long
kh_sysctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof(v);

	if (kh_sysctl(name, &v, &len, NULL, 0) != 0)
		return (~0ULL);
	if (len == 4)
		return (*(uint32_t *)&v);
	return (v);
}

int
kh_sysctl_set_int(const char *name, int value)
{
	size_t len = sizeof(int);
	int old;

	return (kh_sysctl(name, &old, &len, &value, sizeof(value)));
}

/* The integer handlers: out the value (arg1's, or arg2), in a new one. */
static int
kh_sysctl_num(void *arg1, intmax_t arg2, struct sysctl_req *req, size_t len)
{
	uint64_t tmp = 0;
	int error;

	if (arg1 != NULL)
		memcpy(&tmp, arg1, len);
	else
		tmp = (uint64_t)arg2;
	error = SYSCTL_OUT(req, &tmp, len);
	if (error != 0 || req->newptr == NULL)
		return (error);
	if (arg1 == NULL)
		return (EPERM);
	error = SYSCTL_IN(req, &tmp, len);
	if (error == 0)
		memcpy(arg1, &tmp, len);
	return (error);
}

int
sysctl_handle_int(SYSCTL_HANDLER_ARGS)
{
	(void)oidp;
	return (kh_sysctl_num(arg1, arg2, req, sizeof(int)));
}

int
sysctl_handle_32(SYSCTL_HANDLER_ARGS)
{
	(void)oidp;
	return (kh_sysctl_num(arg1, arg2, req, sizeof(uint32_t)));
}

int
sysctl_handle_64(SYSCTL_HANDLER_ARGS)
{
	(void)oidp;
	return (kh_sysctl_num(arg1, arg2, req, sizeof(uint64_t)));
}

int
sysctl_handle_counter_u64(SYSCTL_HANDLER_ARGS)
{
	uint64_t out;

	(void)oidp;
	(void)arg2;

	out = counter_u64_fetch(*(counter_u64_t *)arg1);
	return (SYSCTL_OUT(req, &out, sizeof(out)));
}

/* ---- modules ---- */
void
module_register_init(const void *arg)
{
	const moduledata_t *data = arg;
	int error;

	kh_module.m_name = data->name;
	kh_module.m_handler = data->evhand;
	kh_module.m_priv = data->priv;
	error = data->evhand(&kh_module, MOD_LOAD, data->priv);
	kh_userret("MOD_LOAD");
	if (error != 0) {
		/* kern_module.c: a failed MOD_LOAD is followed by MOD_UNLOAD. */
		(void)data->evhand(&kh_module, MOD_UNLOAD, data->priv);
		kh_userret("MOD_UNLOAD after a failed MOD_LOAD");
		printf("module_register_init: MOD_LOAD (%s, %p, %p) error %d\n",
		    data->name, (void *)data->evhand, data->priv, error);
	}
	kh_load_error = error;
	kh_module.m_loaded = error == 0;
}

static int
kh_sysinit_cmp(const void *a, const void *b)
{
	const struct sysinit *x = *(struct sysinit * const *)a;
	const struct sysinit *y = *(struct sysinit * const *)b;

	if (x->subsystem != y->subsystem)
		return (x->subsystem < y->subsystem ? -1 : 1);
	return (x->order < y->order ? -1 : x->order > y->order);
}

static void
kh_run_set(struct sysinit **begin, struct sysinit **end, bool reverse)
{
	struct sysinit **v;
	size_t n = (size_t)(end - begin), i;

	v = kh_h_calloc(sizeof(*v) * (n + 1));
	memcpy(v, begin, sizeof(*v) * n);
	qsort(v, n, sizeof(*v), kh_sysinit_cmp);
	for (i = 0; i < n; i++) {
		struct sysinit *si = v[reverse ? n - 1 - i : i];

		si->func(si->udata);
		kh_userret("SYSINIT");
	}
	kh_h_free(v);
}

/* What kldunload and a failed kldload leave behind: nothing. */
static void
kh_unlinked_checks(const char *when)
{
	kh_lock_leaks(when);
	if (kh_live_cdevs() != 0)
		kh_panic("%s: %d device(s) of the module not destroyed", when,
		    kh_live_cdevs());
	if (kh_live_knlists() != 0)
		kh_panic("%s: %d knlist(s) not destroyed", when,
		    kh_live_knlists());
	if (kh_pfil_live() != 0)
		kh_panic("%s: %d pfil hook(s) still point into the module",
		    when, kh_pfil_live());
	if (kh_live_vm_objects() != 0)
		kh_panic("%s: %d vm object(s) still referenced", when,
		    kh_live_vm_objects());
	if (kh_live_counters() != 0)
		kh_panic("%s: %ld counter(9)s not freed", when,
		    kh_live_counters());
	if (kh_live_handlers() != 0)
		kh_panic("%s: %d event handler(s) still registered", when,
		    kh_live_handlers());
	if (kh_live_callouts() != 0)
		kh_panic("%s: %d callout(s) still pending", when,
		    kh_live_callouts());
}

int
kh_kldload(void)
{
	if (kh_module.m_loaded)
		return (EEXIST);
	kh_module_image();
	kh_lock_checkpoint();
	kh_sysctl_register();
	kh_load_error = ENOENT;
	kh_run_set(SET_BEGIN(sysinit_set), SET_LIMIT(sysinit_set), false);
	if (kh_load_error != 0) {
		kh_run_set(SET_BEGIN(sysuninit_set), SET_LIMIT(sysuninit_set),
		    true);
		kh_unlinked_checks("kldload (failed)");
	}
	return (kh_load_error);
}

int
kh_kldunload(void)
{
	int error;

	if (!kh_module.m_loaded)
		return (ENOENT);
	error = kh_module.m_handler(&kh_module, MOD_QUIESCE,
	    kh_module.m_priv);
	kh_userret("MOD_QUIESCE");
	if (error != 0)
		return (error);
	error = kh_module.m_handler(&kh_module, MOD_UNLOAD, kh_module.m_priv);
	kh_userret("MOD_UNLOAD");
	if (error != 0)
		return (error);
	kh_module.m_loaded = false;
	kh_run_set(SET_BEGIN(sysuninit_set), SET_LIMIT(sysuninit_set), true);
	kh_unlinked_checks("kldunload");
	return (0);
}

int
kh_module_loaded(void)
{
	return (kh_module.m_loaded);
}

/* ---- eventhandler(9) ---- */
struct kh_eh_generic {
	struct eventhandler_entry	ee;
	void				(*func)(void);
};

static TAILQ_HEAD(, eventhandler_list) kh_eh_lists =
    TAILQ_HEAD_INITIALIZER(kh_eh_lists);
static int kh_eh_live;

static struct eventhandler_list *
kh_eh_list(const char *name, bool create)
{
	struct eventhandler_list *l;

	TAILQ_FOREACH(l, &kh_eh_lists, el_link)
		if (strcmp(l->el_name, name) == 0)
			return (l);
	if (!create)
		return (NULL);
	l = kh_h_calloc(sizeof(*l));
	l->el_name = kh_h_calloc(strlen(name) + 1);
	strcpy(l->el_name, name);
	TAILQ_INIT(&l->el_entries);
	kh_internal_mtx_init(&l->el_lock, "eventhandler list");
	TAILQ_INSERT_TAIL(&kh_eh_lists, l, el_link);
	return (l);
}

eventhandler_tag
eventhandler_register(struct eventhandler_list *list, const char *name,
    void *func, void *arg, int priority)
{
	struct kh_eh_generic *eg;
	struct eventhandler_entry *ep;

	kh_may_sleep("eventhandler_register", NULL);
	if (list == NULL) {
		kh_h_lock(kh_giant);
		list = kh_eh_list(name, true);
		kh_h_unlock(kh_giant);
	}
	eg = kh_h_calloc(sizeof(*eg));
	eg->func = func;
	eg->ee.ee_arg = arg;
	eg->ee.ee_priority = priority;
	EHL_LOCK(list);
	TAILQ_FOREACH(ep, &list->el_entries, ee_link)
		if (ep->ee_priority != EHE_DEAD_PRIORITY &&
		    priority < ep->ee_priority)
			break;
	if (ep == NULL)
		TAILQ_INSERT_TAIL(&list->el_entries, &eg->ee, ee_link);
	else
		TAILQ_INSERT_BEFORE(ep, &eg->ee, ee_link);
	kh_eh_live++;
	EHL_UNLOCK(list);
	return (&eg->ee);
}

/* Returned locked, as the EVENTHANDLER_INVOKE() macro expects. */
struct eventhandler_list *
eventhandler_find_list(const char *name)
{
	struct eventhandler_list *l;

	kh_h_lock(kh_giant);
	l = kh_eh_list(name, false);
	kh_h_unlock(kh_giant);
	if (l != NULL)
		EHL_LOCK(l);
	return (l);
}

void
eventhandler_prune_list(struct eventhandler_list *list)
{
	struct eventhandler_entry *ep, *en;
	bool pruned = false;

	EHL_LOCK_ASSERT(list, MA_OWNED);
	TAILQ_FOREACH_SAFE(ep, &list->el_entries, ee_link, en)
		if (ep->ee_priority == EHE_DEAD_PRIORITY) {
			TAILQ_REMOVE(&list->el_entries, ep, ee_link);
			kh_h_free(ep);
			pruned = true;
		}
	if (pruned)
		wakeup(list);
}

/*
 * Called with the list locked (EVENTHANDLER_DEREGISTER() found it with
 * eventhandler_find_list()); waits for running handlers and unlocks.
 */
void
eventhandler_deregister(struct eventhandler_list *list, eventhandler_tag tag)
{
	EHL_LOCK_ASSERT(list, MA_OWNED);
	tag->ee_priority = EHE_DEAD_PRIORITY;
	kh_eh_live--;
	if (list->el_runcount == 0)
		eventhandler_prune_list(list);
	else
		while (list->el_runcount > 0)
			mtx_sleep(list, &list->el_lock, 0, "evhrm", 0);
	EHL_UNLOCK(list);
}

int
kh_live_handlers(void)
{
	return (kh_eh_live);
}
