/*
 * epoch(9), the network epoch: the preemptible epoch the network stack's
 * readers run in.
 *
 * Asserted as INVARIANTS does: sections nest LIFO on one thread with a
 * tracker each (a tracker entered twice, or exited out of order or on
 * another thread, panics); nothing sleeps inside a section (kh_may_sleep);
 * epoch_wait_preempt() inside a section of the same epoch panics; no
 * thread leaves a system call, callout or event handler inside one.
 * epoch_wait_preempt() returns only once every thread that was inside a
 * section when it was called has left it; callbacks of epoch_call() run
 * only after such a wait (or epoch_drain_callbacks()), never sooner.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/pcpu.h>
#include <sys/epoch.h>

#include "kh_kern.h"

struct epoch {
	const char	*e_name;
};

static struct epoch kh_net_epoch = { "net_epoch_preempt" };
epoch_t net_epoch_preempt = &kh_net_epoch;

struct kh_ecall {
	epoch_callback_t	*c_fn;
	epoch_context_t		 c_ctx;
	uint64_t		 c_gen;		/* waits begun when queued */
	struct kh_ecall		*c_next;
};
static struct kh_hmtx *ke_mtx;
static struct kh_ecall *ke_calls;
static uint64_t ke_waits;		/* grace periods begun */

void
kh_epoch_init(void)
{
	ke_mtx = kh_h_mtx_new();
}

static void
kh_epoch_only(epoch_t e, const char *op)
{
	if (e != net_epoch_preempt)
		kh_panic("%s: epoch %p is not the network epoch (the only one "
		    "the stand-in models)", op, e);
}

void
_epoch_enter_preempt(epoch_t e, epoch_tracker_t et)
{
	struct kh_thread *kt = kh_curthread();
	int i;

	kh_epoch_only(e, "epoch_enter_preempt");
	for (i = 0; i < kt->kt_nepoch; i++)
		if (kt->kt_et[i] == et)
			kh_panic("epoch_enter_preempt: tracker %p already in "
			    "use by an outer section", et);
	if (kt->kt_nepoch == KH_MAXEPOCH)
		kh_panic("epoch_enter_preempt: nested more than %d deep",
		    KH_MAXEPOCH);
	et->et_td = curthread;
	kt->kt_et[kt->kt_nepoch++] = et;
	if (kt->kt_nepoch == 1)
		__atomic_add_fetch(&kt->kt_epoch_seq, 1, __ATOMIC_SEQ_CST);
	THREAD_NO_SLEEPING();
}

void
_epoch_exit_preempt(epoch_t e, epoch_tracker_t et)
{
	struct kh_thread *kt = kh_curthread();

	kh_epoch_only(e, "epoch_exit_preempt");
	if (kt->kt_nepoch == 0)
		kh_panic("epoch_exit_preempt: not in an epoch section");
	if (et->et_td != curthread)
		kh_panic("epoch_exit_preempt: tracker %p entered by another "
		    "thread", et);
	if (kt->kt_et[kt->kt_nepoch - 1] != et)
		kh_panic("epoch_exit_preempt: tracker %p is not the innermost "
		    "section's", et);
	THREAD_SLEEPING_OK();
	kt->kt_nepoch--;
	if (kt->kt_nepoch == 0)
		__atomic_add_fetch(&kt->kt_epoch_seq, 1, __ATOMIC_SEQ_CST);
}

int
in_epoch(epoch_t e)
{
	kh_epoch_only(e, "in_epoch");
	return (kh_curthread()->kt_nepoch > 0);
}

int
in_epoch_verbose(epoch_t e, int dump_onfail __unused)
{
	return (in_epoch(e));
}

bool
kh_in_net_epoch(void)
{
	return (kh_curthread()->kt_nepoch > 0);
}

/* Wait for every section open now to close. */
static void
kh_grace(void)
{
	uint64_t seen[KH_NCPU];
	struct kh_thread *kt;
	int i;

	for (i = 0; i < KH_NCPU; i++) {
		kt = (struct kh_thread *)__pcpu[i].pc_curthread;
		seen[i] = kt == NULL ? 0 :
		    __atomic_load_n(&kt->kt_epoch_seq, __ATOMIC_SEQ_CST);
	}
	for (i = 0; i < KH_NCPU; i++) {
		if ((seen[i] & 1) == 0)
			continue;
		kt = (struct kh_thread *)__pcpu[i].pc_curthread;
		while (kt != NULL && __atomic_load_n(&kt->kt_epoch_seq,
		    __ATOMIC_SEQ_CST) == seen[i])
			kh_h_sleep_ns(100000);
	}
}

static void
kh_run_calls(uint64_t upto)
{
	struct kh_ecall *c, **pp, *run = NULL;

	kh_h_lock(ke_mtx);
	for (pp = &ke_calls; (c = *pp) != NULL;) {
		if (c->c_gen < upto) {
			*pp = c->c_next;
			c->c_next = run;
			run = c;
		} else
			pp = &c->c_next;
	}
	kh_h_unlock(ke_mtx);
	while ((c = run) != NULL) {
		run = c->c_next;
		c->c_fn(c->c_ctx);
		kh_h_free(c);
	}
}

void
epoch_wait_preempt(epoch_t e)
{
	uint64_t gen;

	kh_epoch_only(e, "epoch_wait_preempt");
	if (kh_curthread()->kt_nepoch > 0)
		kh_panic("epoch_wait_preempt() called in the middle of an "
		    "epoch section of the same epoch");
	kh_may_sleep("epoch_wait_preempt", NULL);
	/* Callbacks queued before this point run after the grace. */
	kh_h_lock(ke_mtx);
	gen = ++ke_waits;
	kh_h_unlock(ke_mtx);
	kh_grace();
	kh_run_calls(gen);
}

void
epoch_call(epoch_t e, epoch_callback_t cb, epoch_context_t ctx)
{
	struct kh_ecall *c = kh_h_calloc(sizeof(*c));

	kh_epoch_only(e, "epoch_call");
	c->c_fn = cb;
	c->c_ctx = ctx;
	kh_h_lock(ke_mtx);
	c->c_gen = ke_waits;
	c->c_next = ke_calls;
	ke_calls = c;
	kh_h_unlock(ke_mtx);
}

void
epoch_drain_callbacks(epoch_t e)
{
	epoch_wait_preempt(e);
	kh_run_calls(UINT64_MAX);
}

void
kh_epoch_check_exit(struct kh_thread *kt, const char *what)
{
	if (kt->kt_nepoch != 0)
		kh_panic("%s: returning inside %d network epoch section(s) "
		    "(NET_EPOCH_ENTER without NET_EPOCH_EXIT)", what,
		    kt->kt_nepoch);
}
