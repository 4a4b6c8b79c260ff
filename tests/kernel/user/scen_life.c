/*
 * Scenarios of the module's life: load, tables, unload; a load that
 * fails half way; an agent that dies with the tables mapped.
 */
#include <errno.h>

#include "kh_user.h"

static void
boot_load(void)
{
	kh_boot();
	CHECK_EQ(kh_kldload(), 0);
}

static void
unload_shutdown(void)
{
	CHECK_EQ(kh_kldunload(), 0);
	kh_shutdown();
}

/*
 * kldload, bsdnetctl create (the first pfil_add_hook: the VNET panic of
 * the review), geometry, mmap, the EBUSY refusals, destroy, kldunload.
 */
SCENARIO(lifecycle)
{
	struct bsdnet_ioc_geometry g;
	struct agent a;

	boot_load();
	CHECK(kh_sysctl_u64("net.bsdnet.debug") == 0);
	CHECK(kh_sysctl_u64("net.bsdnet.hold_slots") == 256);
	ag_start(&a);
	CHECK_EQ(kh_kldunload(), EBUSY);		/* open */
	memset(&g, 0, sizeof(g));
	CHECK_EQ(ag_ioctl(&a, BSDNET_IOC_GEOMETRY, &g, sizeof(g)), ENXIO);
	CHECK_EQ(ag_create(&a), 0);
	CHECK(a.geo.ig_size > 0);
	CHECK_EQ(ag_create(&a), EEXIST);
	CHECK_EQ(kh_sysctl_u64("net.bsdnet.tables.vifs"), 16);
	CHECK_EQ(ag_map(&a), 0);
	CHECK_EQ(th_hdr()->rh_magic, BSDNET_MAGIC);
	CHECK_EQ(th_hdr()->rh_instance, a.geo.ig_instance);
	CHECK_EQ(ag_stats(&a).is_mapped, 1);
	CHECK_EQ(ag_destroy(&a), EBUSY);		/* mapped */
	ag_unmap(&a);
	CHECK_EQ(ag_stats(&a).is_mapped, 0);
	CHECK_EQ(kh_kldunload(), EBUSY);		/* still open */
	CHECK_EQ(ag_destroy(&a), 0);
	CHECK_EQ(ag_destroy(&a), ENXIO);
	/* Tables again, then unload with them (kldunload destroys them). */
	CHECK_EQ(ag_create(&a), 0);
	ag_stop(&a);
	unload_shutdown();
}

/*
 * make_dev_s() fails: MOD_LOAD fails, the kernel sends MOD_UNLOAD, and
 * nothing the module set up may be left (finding 8: the trap mutex and
 * its knlist were).  Then the failures of BSDNET_IOC_CREATE's steps.
 */
SCENARIO(load_failure)
{
	struct agent a;

	kh_boot();
	kh_fault("make_dev_s", EEXIST, 1);
	CHECK_EQ(kh_kldload(), EEXIST);
	CHECK(!kh_module_loaded());
	/* A later kldload works, from the module's initial image. */
	CHECK_EQ(kh_kldload(), 0);
	ag_start(&a);
	kh_fault("pfil_link", ENOMEM, 1);
	CHECK_EQ(ag_create(&a), ENOMEM);
	kh_fault("vm_pager_allocate", ENOMEM, 1);
	CHECK_EQ(ag_create(&a), ENOMEM);
	kh_fault("vm_map_find", ENOMEM, 1);
	CHECK_EQ(ag_create(&a), ENOMEM);
	CHECK_EQ(ag_create(&a), 0);
	ag_stop(&a);
	CHECK_EQ(kh_kldunload(), 0);
	/* And once more after an unload: a fresh module. */
	CHECK_EQ(kh_kldload(), 0);
	ag_start(&a);
	CHECK_EQ(ag_create(&a), 0);
	ag_stop(&a);
	unload_shutdown();
}

/*
 * The agent dies with the tables mapped and the interfaces attached:
 * forwarding goes on, the module stays (EBUSY), and a new agent finds
 * the same tables and ports.
 */
SCENARIO(agent_gone)
{
	struct node me, peer;
	struct agent a, b;
	uint8_t f[64];
	uint64_t instance;

	node_single(&a, &me, &peer);
	instance = a.geo.ig_instance;
	kh_proc_exit(a.pid);			/* no munmap, no close */
	CHECK_EQ(kh_kldunload(), EBUSY);
	CHECK_EQ(kh_if_rx(me.tap, f, node_arp_request(f, &me, peer.vm_ip),
	    2, 0), 0);
	CHECK(node_arp_answered(&me));
	ag_start(&b);
	CHECK_EQ(ag_map(&b), 0);
	CHECK_EQ(b.geo.ig_instance, instance);
	CHECK_EQ(th_vif(KH_VIF_VM)->vif_os_index, kh_if_index("tap0"));
	CHECK_EQ(ag_stats(&b).is_nports, 2);
	CHECK_EQ(ag_attach(&b, "tap0", KH_VIF_VM, 0), EEXIST);
	{
		const char *ifs[] = { "tap0", "vtnet0" };
		const uint32_t vifs[] = { KH_VIF_VM, KH_VIF_FAB };

		ag_teardown(&b, ifs, vifs, 2);
	}
	unload_shutdown();
}

/* A jailed process may not open the device. */
SCENARIO(jailed)
{
	int pid;

	boot_load();
	pid = kh_proc_new(1);
	CHECK_EQ(kh_open(pid, "/dev/bsdnet", 2), -EPERM);
	kh_proc_exit(pid);
	unload_shutdown();
}
