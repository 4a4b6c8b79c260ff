/*
 * callout(9) and its softclock thread.
 *
 * Handlers run on the softclock thread as in the kernel: no lock held
 * (MPSAFE callouts), no vnet set, outside any epoch section, and they
 * must return the same way.  callout_drain() may sleep and waits for a
 * running handler; draining a callout from its own handler deadlocks in
 * the kernel and panics here.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/callout.h>

#include "kh_kern.h"

#define	KH_NCALLOUT	16

static struct kh_hmtx *kc_mtx;
static struct kh_hcond *kc_cv;
static struct callout *kc_pending[KH_NCALLOUT];
static struct callout *kc_running;
static struct kh_thread *kc_thread;
static bool kc_stop;
static uint64_t kc_rounds;

static int
kh_pending_index(struct callout *c)
{
	int i;

	for (i = 0; i < KH_NCALLOUT; i++)
		if (kc_pending[i] == c)
			return (i);
	return (-1);
}

static void
kh_softclock(void *arg __unused)
{
	struct callout *c;
	long long now, next;
	int i, due;

	kh_h_lock(kc_mtx);
	while (!kc_stop) {
		now = kh_h_now_ns();
		next = now + 50000000LL;
		due = -1;
		for (i = 0; i < KH_NCALLOUT; i++) {
			if ((c = kc_pending[i]) == NULL)
				continue;
			if (c->c_time <= now) {
				due = i;
				break;
			}
			if (c->c_time < next)
				next = c->c_time;
		}
		if (due < 0) {
			kc_rounds++;
			kh_h_broadcast(kc_cv);
			kh_h_wait(kc_cv, kc_mtx, next - now);
			continue;
		}
		c = kc_pending[due];
		kc_pending[due] = NULL;
		c->c_flags &= ~CALLOUT_PENDING;
		kc_running = c;
		kh_h_unlock(kc_mtx);
		c->c_func(c->c_arg);
		kh_userret("callout handler");
		kh_h_lock(kc_mtx);
		kc_running = NULL;
		kh_h_broadcast(kc_cv);
	}
	kh_h_unlock(kc_mtx);
}

void
kh_callout_init(void)
{
	kc_mtx = kh_h_mtx_new();
	kc_cv = kh_h_cond_new();
	kc_thread = kh_thread_new("clock");
	kh_thread_run(kc_thread, kh_softclock, NULL);
}

void
kh_callout_stop_all(void)
{
	kh_h_lock(kc_mtx);
	kc_stop = true;
	kh_h_broadcast(kc_cv);
	kh_h_unlock(kc_mtx);
	kh_thread_join(kc_thread);
}

void
callout_init(struct callout *c, int mpsafe)
{
	if (!mpsafe)
		kh_panic("callout_init: only MPSAFE callouts are modelled");
	memset(c, 0, sizeof(*c));
	c->c_cpu = 0;
}

int
callout_reset_sbt_on(struct callout *c, sbintime_t sbt,
    sbintime_t prec __unused, callout_func_t *fn, void *arg, int cpu,
    int flags)
{
	int i, was;

	if (fn == NULL)
		kh_panic("callout_reset: no function");
	kh_h_lock(kc_mtx);
	i = kh_pending_index(c);
	was = i >= 0;
	if (i < 0)
		for (i = 0; i < KH_NCALLOUT && kc_pending[i] != NULL; i++)
			;
	if (i == KH_NCALLOUT)
		kh_panic("callout_reset: too many callouts");
	c->c_func = fn;
	c->c_arg = arg;
	c->c_cpu = cpu < 0 ? 0 : cpu;
	c->c_time = (flags & C_ABSOLUTE) != 0 ? sbttons(sbt) :
	    kh_h_now_ns() + sbttons(sbt);
	c->c_flags |= CALLOUT_ACTIVE | CALLOUT_PENDING;
	kc_pending[i] = c;
	kh_h_broadcast(kc_cv);
	kh_h_unlock(kc_mtx);
	return (was);
}

int
callout_schedule(struct callout *c, int to_ticks)
{
	return (callout_reset_sbt_on(c, tick_sbt * to_ticks, 0, c->c_func,
	    c->c_arg, c->c_cpu, C_HARDCLOCK));
}

int
_callout_stop_safe(struct callout *c, int flags)
{
	int i, was;

	if ((flags & CS_DRAIN) != 0)
		kh_may_sleep("callout_drain", NULL);
	kh_h_lock(kc_mtx);
	i = kh_pending_index(c);
	was = i >= 0;
	if (was)
		kc_pending[i] = NULL;
	c->c_flags &= ~(CALLOUT_ACTIVE | CALLOUT_PENDING);
	if ((flags & CS_DRAIN) != 0) {
		if (kc_running == c && kh_curthread() == kc_thread)
			kh_panic("callout_drain from the callout's own "
			    "handler: deadlock");
		while (kc_running == c)
			kh_h_wait(kc_cv, kc_mtx, -1);
	}
	kh_h_unlock(kc_mtx);
	return (was);
}

int
kh_live_callouts(void)
{
	int i, n = 0;

	kh_h_lock(kc_mtx);
	for (i = 0; i < KH_NCALLOUT; i++)
		n += kc_pending[i] != NULL;
	kh_h_unlock(kc_mtx);
	return (n);
}

/* Make every pending callout due and wait for a softclock round. */
void
kh_callout_run_due(void)
{
	uint64_t r;
	int i;

	kh_h_lock(kc_mtx);
	for (i = 0; i < KH_NCALLOUT; i++)
		if (kc_pending[i] != NULL)
			kc_pending[i]->c_time = 0;
	r = kc_rounds;
	kh_h_broadcast(kc_cv);
	while (kc_rounds < r + 2)
		kh_h_wait(kc_cv, kc_mtx, -1);
	kh_h_unlock(kc_mtx);
}
