/*
 * CPUs and threads.  Each harness thread is one FreeBSD thread on a CPU
 * of its own: its %gs points at that CPU's struct pcpu, whose
 * pc_curthread is the thread, so curthread, curcpu, PCPU_GET(), counter(9)
 * and sched_pin() are FreeBSD's inline code, unchanged.  A thread never
 * migrates (sched_pin() holds trivially); two threads never share a CPU.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/proc.h>
#include <sys/pcpu.h>
#include <sys/smp.h>
#include <sys/ucred.h>
#include <sys/jail.h>
#include <sys/epoch.h>
#include <net/vnet.h>

#include "kh_kern.h"

struct pcpu *__pcpu;
u_int mp_maxid = KH_NCPU - 1;
int mp_ncpus = KH_NCPU;
cpuset_t all_cpus;
struct prison prison0;
struct ucred *kh_cred0;
static bool kh_cpu_used[KH_NCPU];

void
kh_thread_init(void)
{
	int i;

	__pcpu = kh_h_aligned(PAGE_SIZE, sizeof(struct pcpu) * KH_NCPU);
	for (i = 0; i < KH_NCPU; i++) {
		__pcpu[i].pc_cpuid = i;
		__pcpu[i].pc_prvspace = &__pcpu[i];
		CPU_SET(i, &all_cpus);
	}
	kh_cred0 = kh_h_calloc(sizeof(*kh_cred0));
	kh_cred0->cr_prison = &prison0;
	kh_cred0->cr_ref = 1;
}

struct kh_thread *
kh_thread_new(const char *name)
{
	struct kh_thread *kt;
	int cpu;

	kh_h_lock(kh_giant);
	for (cpu = 0; cpu < KH_NCPU && kh_cpu_used[cpu]; cpu++)
		;
	if (cpu < KH_NCPU)
		kh_cpu_used[cpu] = true;
	kh_h_unlock(kh_giant);
	if (cpu == KH_NCPU)
		kh_panic("kh: more than %d threads", KH_NCPU);
	kt = kh_h_calloc(sizeof(*kt));
	kt->kt_cpu = cpu;
	kt->kt_td.td_ucred = kh_cred0;
	strlcpy(kt->kt_td.td_name, name, sizeof(kt->kt_td.td_name));
	return (kt);
}

/* Make kt the current thread of the calling host thread. */
void
kh_thread_bind(struct kh_thread *kt)
{
	struct pcpu *pc = &__pcpu[kt->kt_cpu];

	pc->pc_curthread = &kt->kt_td;
	kh_h_set_gs(pc);
}

static void
kh_thread_main(void *arg)
{
	struct kh_thread *kt = arg;

	kh_thread_bind(kt);
	kt->kt_fn(kt->kt_arg);
	kh_userret(kt->kt_td.td_name);
}

void
kh_thread_run(struct kh_thread *kt, void (*fn)(void *), void *arg)
{
	kt->kt_fn = fn;
	kt->kt_arg = arg;
	kt->kt_host = kh_h_thread_start(kh_thread_main, kt);
}

void
kh_thread_join(struct kh_thread *kt)
{
	kh_h_thread_join(kt->kt_host);
	kh_h_lock(kh_giant);
	kh_cpu_used[kt->kt_cpu] = false;
	kh_h_unlock(kh_giant);
	__pcpu[kt->kt_cpu].pc_curthread = NULL;
	kh_h_free(kt);
}

/*
 * What userret() and the end of every callout, event handler call and
 * kernel thread iteration require: nothing left held or set.
 */
void
kh_userret(const char *what)
{
	struct kh_thread *kt = kh_curthread();

	if (kt->kt_nheld != 0)
		kh_panic("%s: returning with %d lock(s) held", what,
		    kt->kt_nheld);
	kh_epoch_check_exit(kt, what);
	if (kt->kt_td.td_pinned != 0)
		kh_panic("%s: returning pinned (td_pinned %d)", what,
		    kt->kt_td.td_pinned);
	if (kt->kt_td.td_critnest != 0)
		kh_panic("%s: returning in a critical section", what);
	if (kt->kt_td.td_vnet != NULL)
		kh_panic("%s: returning with curvnet %p set (CURVNET_SET "
		    "without CURVNET_RESTORE)", what, kt->kt_td.td_vnet);
	if (kt->kt_td.td_no_sleeping != 0)
		kh_panic("%s: returning with sleeping disabled", what);
}

void
critical_enter_KBI(void)
{
	curthread->td_critnest++;
}

void
critical_exit_KBI(void)
{
	if (curthread->td_critnest == 0)
		kh_panic("critical_exit: not in a critical section");
	curthread->td_critnest--;
}
