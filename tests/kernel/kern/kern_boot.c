/*
 * Boot and shutdown of the stand-in kernel: thread0 on CPU 0, then each
 * subsystem; at shutdown (the module unloaded) everything is torn down
 * and whatever is left over is reported as the leak it is.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/epoch.h>

#include "kh_kern.h"

struct malloc_type M_TEMP[1] = {{ .ks_shortdesc = "temp" }};
const uint8_t etherbroadcastaddr[6] = { 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff };

void
kh_boot(void)
{
	struct kh_thread *td0;

	kh_giant = kh_h_mtx_new();
	tick_sbt = SBT_1S / hz;
	kh_thread_init();
	td0 = kh_thread_new("thread0");
	kh_thread_bind(td0);
	kh_lock_init();
	kh_epoch_init();
	malloc_init(M_TEMP);
	kh_mbuf_init();
	kh_pfil_init();
	kh_net_init();
	kh_dev_init();
	kh_callout_init();
	kh_drivers_init();
	kh_userret("boot");
}

void
kh_shutdown(void)
{
	if (kh_module_loaded())
		kh_panic("shutdown with the module loaded");
	kh_drivers_fini();
	kh_callout_stop_all();
	epoch_drain_callbacks(net_epoch_preempt);
	kh_mbuf_leaks("shutdown");
	kh_vm_fini();
	kh_malloc_check_type(M_TEMP, "shutdown");
	kh_userret("shutdown");
	kh_note("shutdown clean");
}
