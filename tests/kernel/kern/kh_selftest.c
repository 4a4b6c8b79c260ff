/*
 * The stand-in's own rules, broken on purpose: each case must end in the
 * panic test_kernel.py expects (a check that cannot fire proves
 * nothing).  "epoch_call_deferred" is the one that must return.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/rwlock.h>
#include <sys/proc.h>
#include <sys/epoch.h>
#include <sys/socket.h>
#include <sys/ck.h>
#include <net/if.h>
#include <net/if_var.h>
#include <net/pfil.h>
#include <net/vnet.h>
#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/pmap.h>
#include <vm/vm_object.h>
#include <vm/vm_page.h>
#include <vm/vm_pager.h>

#include "kh_kern.h"

static struct mtx st_a, st_b;
static struct sx st_sx;
static int st_called;

static pfil_return_t
st_bad_hook(struct mbuf **mp __unused, struct ifnet *ifp __unused,
    int flags __unused, void *rs __unused, struct inpcb *inp __unused)
{
	return (PFIL_CONSUMED);		/* and *mp left set */
}

static void
st_cb(epoch_context_t ctx __unused)
{
	st_called++;
}

static int
st_pfil(void)
{
	struct pfil_hook_args ha = { .pa_version = PFIL_VERSION,
	    .pa_flags = PFIL_IN, .pa_type = PFIL_TYPE_ETHERNET,
	    .pa_mbuf_chk = st_bad_hook, .pa_modname = "selftest",
	    .pa_rulname = "bad" };
	struct pfil_link_args la = { .pa_version = PFIL_VERSION,
	    .pa_flags = PFIL_IN | PFIL_HEADPTR | PFIL_HOOKPTR };
	uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	CURVNET_SET(vnet0);
	la.pa_hook = pfil_add_hook(&ha);
	la.pa_head = V_link_pfil_head;
	(void)pfil_link(&la);
	CURVNET_RESTORE();
	(void)kh_if_create("vtnet", "st0");
	return (kh_if_rx("st0", frame, sizeof(frame), 2, 0));
}

int
kh_selftest(const char *name)
{
	struct epoch_context ctx;
	struct epoch_tracker et;
	struct mbuf *m;
	vm_object_t obj;

	mtx_init(&st_a, "selftest A", NULL, MTX_DEF);
	mtx_init(&st_b, "selftest B", NULL, MTX_DEF);
	sx_init(&st_sx, "selftest sx");
	if (strcmp(name, "lor") == 0) {
		mtx_lock(&st_a);
		mtx_lock(&st_b);
		mtx_unlock(&st_b);
		mtx_unlock(&st_a);
		mtx_lock(&st_b);
		mtx_lock(&st_a);
	} else if (strcmp(name, "sleep_with_mutex") == 0) {
		mtx_lock(&st_a);
		free(malloc(16, M_TEMP, M_WAITOK), M_TEMP);
	} else if (strcmp(name, "sx_under_mutex") == 0) {
		mtx_lock(&st_a);
		sx_xlock(&st_sx);
	} else if (strcmp(name, "recurse") == 0) {
		mtx_lock(&st_a);
		mtx_lock(&st_a);
	} else if (strcmp(name, "wait_in_epoch") == 0) {
		NET_EPOCH_ENTER(et);
		NET_EPOCH_WAIT();
	} else if (strcmp(name, "sleep_in_epoch") == 0) {
		NET_EPOCH_ENTER(et);
		sx_xlock(&st_sx);
	} else if (strcmp(name, "epoch_left_open") == 0) {
		NET_EPOCH_ENTER(et);
		kh_userret("selftest");
	} else if (strcmp(name, "mbuf_double_free") == 0) {
		m = m_gethdr(M_WAITOK, MT_DATA);
		m_freem(m);
		m_freem(m);
	} else if (strcmp(name, "transmit_twice") == 0) {
		(void)kh_if_create("vtnet", "st0");
		m = m_gethdr(M_WAITOK, MT_DATA);
		m->m_len = m->m_pkthdr.len = 60;
		NET_EPOCH_ENTER(et);
		(void)if_transmit(kh_if_find("st0"), m);
		(void)if_transmit(kh_if_find("st0"), m);
	} else if (strcmp(name, "pfil_contract") == 0) {
		return (st_pfil());
	} else if (strcmp(name, "vnet_unset") == 0) {
		(void)ifunit_ref("lo0");
	} else if (strcmp(name, "vm_object_unref") == 0) {
		obj = vm_pager_allocate(OBJT_PHYS, NULL, PAGE_SIZE,
		    VM_PROT_DEFAULT, 0, NULL);
		vm_object_deallocate(obj);
		vm_object_deallocate(obj);
	} else if (strcmp(name, "lock_leaked") == 0) {
		mtx_lock(&st_a);
		kh_userret("selftest");
	} else if (strcmp(name, "epoch_call_deferred") == 0) {
		NET_EPOCH_ENTER(et);
		NET_EPOCH_CALL(st_cb, &ctx);
		NET_EPOCH_EXIT(et);
		if (st_called != 0)
			kh_panic("epoch_call ran before an epoch wait");
		NET_EPOCH_WAIT();
		if (st_called != 1)
			kh_panic("epoch_call did not run after the wait");
		kh_note("selftest %s: ok", name);
		return (0);
	} else
		return (ENOENT);
	kh_note("selftest %s: no panic", name);
	return (EDOOFUS);
}
