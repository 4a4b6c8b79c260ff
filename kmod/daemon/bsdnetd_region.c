/*-
 * The region: a POSIX shared-memory object the agent maps too.
 *
 * Start-up rule: an object that exists and validates (bsdnet_dp_init) is
 * reused as it is, so a datapath restarted after a crash keeps forwarding
 * with no action from the agent.  An object that exists but does not
 * validate is refused unless --reformat, because formatting it would wipe
 * tables some agent may still be writing.  A new object is formatted with
 * a fresh random hash key and instance.
 *
 * Only one datapath may drive a region: we hold flock(LOCK_EX) on the
 * object for our whole life; the kernel drops it if we are killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bsdnetd.h"
#include "bsdnetd_compat.h"
#include "bsdnet_port.h"

static const char *
bsdnetd_region_strerror(int error)
{
	switch (error) {
	case BSDNET_E_MAGIC:
		return ("no bsdnet magic (not a region, or never formatted)");
	case BSDNET_E_VERSION:
		return ("another ABI version");
	case BSDNET_E_GEOMETRY:
		return ("sizes or offsets do not fit the object");
	case BSDNET_E_RANGE:
		return ("geometry out of range");
	default:
		return ("invalid");
	}
}

static int
bsdnetd_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

static int
bsdnetd_region_map(struct bsdnetd *d, uint64_t size)
{
	void *p;

	if (size == 0 || size > (uint64_t)SIZE_MAX)
		return (-1);
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    d->d_shm_fd, 0);
	if (p == MAP_FAILED) {
		bsdnetd_log(BSDNETD_LOG_ERR, "mmap of %s (%ju bytes): %s",
		    d->d_shown, (uintmax_t)size, strerror(errno));
		return (-1);
	}
#ifdef MADV_HUGEPAGE
	/* A million flows span ~70 MB: with 4 KiB pages nearly every flow
	 * lookup also misses the TLB.  Taken where the host allows huge
	 * pages in shared memory (transparent_hugepage/shmem_enabled set to
	 * advise or always); a no-op where it does not. */
	(void)madvise(p, (size_t)size, MADV_HUGEPAGE);
#endif
	d->d_base = p;
	d->d_size = size;
	d->d_hdr = p;
	return (0);
}

static void
bsdnetd_region_unmap(struct bsdnetd *d)
{
	if (d->d_base != NULL)
		(void)munmap(d->d_base, (size_t)d->d_size);
	d->d_base = NULL;
	d->d_hdr = NULL;
	d->d_size = 0;
}

/*
 * Validate and bind the core, then take the vif table geometry from the
 * core's validated copy (never again from the header, which the agent
 * could rewrite under us).
 */
static int
bsdnetd_region_bind(struct bsdnetd *d)
{
	struct bsdnet_geometry g;
	uint64_t off[BSDNET_TBL_MAX];
	int error;

	error = bsdnet_dp_init(&d->d_dp, d, d->d_base, d->d_size, d->d_hold,
	    d->d_opts.o_hold_slots);
	if (error != BSDNET_OK)
		return (error);
	/* One thread forwards for this region (the flock keeps a second
	 * daemon out): the flow counters need no atomic adds. */
	bsdnet_dp_set_sole(&d->d_dp, true);
	bsdnet_dp_geometry(&d->d_dp, &g);
	error = bsdnet_layout_offsets(&g, off);
	if (error != BSDNET_OK)
		return (error);
	d->d_nvifs = g.g_nvifs;
	d->d_vtab = (struct bsdnet_vif *)(void *)(d->d_base +
	    off[BSDNET_TBL_VIFS]);
	return (BSDNET_OK);
}

/* Zero the object, size it for our geometry and format it. */
static int
bsdnetd_region_format(struct bsdnetd *d)
{
	uint64_t size, key[2], instance;
	int error;

	error = bsdnet_layout(&d->d_opts.o_geom, &size, NULL);
	if (error != BSDNET_OK) {
		bsdnetd_log(BSDNETD_LOG_ERR, "region geometry: %s",
		    bsdnetd_region_strerror(error));
		return (-1);
	}
	/* Truncating to 0 first zeroes every byte a previous life left. */
	if (ftruncate(d->d_shm_fd, 0) != 0 ||
	    ftruncate(d->d_shm_fd, (off_t)size) != 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "sizing %s to %ju bytes: %s",
		    d->d_shown, (uintmax_t)size, strerror(errno));
		return (-1);
	}
	if (bsdnetd_region_map(d, size) != 0)
		return (-1);
	do {
		if (bsdnetd_random(key, sizeof(key)) != 0 ||
		    bsdnetd_random(&instance, sizeof(instance)) != 0) {
			bsdnetd_log(BSDNETD_LOG_ERR, "getrandom: %s",
			    strerror(errno));
			return (-1);
		}
	} while (instance == 0);
	error = bsdnet_region_format(d->d_base, size, &d->d_opts.o_geom, key,
	    instance);
	if (error != BSDNET_OK) {
		bsdnetd_log(BSDNETD_LOG_ERR, "formatting region: %s",
		    bsdnetd_region_strerror(error));
		return (-1);
	}
	error = bsdnetd_region_bind(d);
	if (error != BSDNET_OK) {
		bsdnetd_log(BSDNETD_LOG_ERR, "freshly formatted region does "
		    "not validate: %s", bsdnetd_region_strerror(error));
		return (-1);
	}
	bsdnetd_log(BSDNETD_LOG_INFO, "formatted region %s: %ju bytes, "
	    "instance %016jx, %u vifs, %u nexthops, %u labels, %u vrfs, "
	    "%u route buckets, %u+%u flow buckets, max hold %u",
	    d->d_shown, (uintmax_t)size, (uintmax_t)instance,
	    d->d_hdr->rh_nvifs, d->d_hdr->rh_nnexthops, d->d_hdr->rh_nlabels,
	    d->d_hdr->rh_nvrfs, d->d_hdr->rh_nrtbuckets,
	    d->d_hdr->rh_nflowbuckets, d->d_hdr->rh_novfbuckets,
	    d->d_hdr->rh_maxhold);
	return (0);
}

/* An object that already exists: reuse it if it validates. */
static int
bsdnetd_region_reuse(struct bsdnetd *d, uint64_t size)
{
	int error;

	if (size < sizeof(struct bsdnet_region_hdr)) {
		error = BSDNET_E_MAGIC;
	} else {
		if (bsdnetd_region_map(d, size) != 0)
			return (-1);
		error = bsdnetd_region_bind(d);
	}
	if (error == BSDNET_OK) {
		bsdnetd_log(BSDNETD_LOG_INFO, "reusing region %s: %ju bytes, "
		    "instance %016jx, %u vifs (geometry options ignored)",
		    d->d_shown, (uintmax_t)size,
		    (uintmax_t)d->d_hdr->rh_instance, d->d_hdr->rh_nvifs);
		return (0);
	}
	bsdnetd_region_unmap(d);
	if (!d->d_opts.o_reformat) {
		bsdnetd_log(BSDNETD_LOG_ERR, "%s exists but is not a usable "
		    "bsdnet region (ABI version %d): %s; refusing to touch it "
		    "(start with --reformat to replace it, which discards its "
		    "tables)", d->d_shown, (int)BSDNET_ABI_VERSION,
		    bsdnetd_region_strerror(error));
		return (-1);
	}
	bsdnetd_log(BSDNETD_LOG_WARN, "%s is not a usable region (%s): "
	    "reformatting as asked", d->d_shown,
	    bsdnetd_region_strerror(error));
	return (bsdnetd_region_format(d));
}

int
bsdnetd_region_open(struct bsdnetd *d)
{
	char path[NAME_MAX + 2];
	struct stat st;
	bool created;
	int fd;

	(void)snprintf(path, sizeof(path), "/%s", d->d_opts.o_shm);
	(void)snprintf(d->d_shown, sizeof(d->d_shown), BSDNETD_SHM_SHOWN "%s",
	    d->d_opts.o_shm);
	d->d_hold = calloc(d->d_opts.o_hold_slots == 0 ? 1 :
	    d->d_opts.o_hold_slots, sizeof(*d->d_hold));
	if (d->d_hold == NULL) {
		bsdnetd_log(BSDNETD_LOG_ERR, "hold queue: out of memory");
		return (-1);
	}
	created = true;
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = shm_open(path, O_RDWR | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "shm_open %s: %s",
		    d->d_shown, strerror(errno));
		return (-1);
	}
	d->d_shm_fd = fd;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "%s is in use by another "
		    "datapath (%s)", d->d_shown,
		    errno == EWOULDBLOCK ? "locked" : strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) != 0) {
		bsdnetd_log(BSDNETD_LOG_ERR, "fstat %s: %s", d->d_shown,
		    strerror(errno));
		return (-1);
	}
	/* Someone created it and died before sizing it: treat as new. */
	if (created || st.st_size == 0) {
		if (!created)
			bsdnetd_log(BSDNETD_LOG_WARN, "%s is empty: "
			    "formatting it", d->d_shown);
		if (bsdnetd_region_format(d) != 0)
			return (-1);
	} else if (bsdnetd_region_reuse(d, (uint64_t)st.st_size) != 0) {
		return (-1);
	}
	return (0);
}

/* Say who drives the region; the last step of start-up, so a supervisor
 * that sees its pid here finds sockets and pid file in place. */
void
bsdnetd_region_publish_pid(struct bsdnetd *d)
{
	bsdnet_store_rel(&d->d_hdr->rh_dp_pid, (uint32_t)getpid());
}

void
bsdnetd_region_close(struct bsdnetd *d)
{
	if (d->d_hdr != NULL) {
		uint32_t pid = (uint32_t)getpid();

		/* Say we are gone, unless another datapath took over. */
		(void)__atomic_compare_exchange_n(&d->d_hdr->rh_dp_pid, &pid,
		    0u, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	}
	bsdnetd_region_unmap(d);
	if (d->d_shm_fd >= 0)
		(void)close(d->d_shm_fd);
	d->d_shm_fd = -1;
	free(d->d_hold);
	d->d_hold = NULL;
}
