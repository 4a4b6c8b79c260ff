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
