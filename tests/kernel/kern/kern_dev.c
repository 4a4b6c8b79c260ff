/*
 * Character devices (make_dev_s(9), destroy_dev(9), devfs cdevpriv),
 * the system calls a process makes on them (open, close, ioctl, read,
 * write, poll, kevent's EVFILT_READ, mmap, munmap, exit), uio(9) with
 * copyin(9)/copyout(9), select(9) and knlist(9).
 *
 * As the kernel does: a cdevsw must carry D_VERSION; the device's
 * methods run with its thread count raised, and destroy_dev() (which may
 * sleep) waits for them, runs the cdevpriv destructors of every file
 * still open on it, and from then on the files get ENXIO; ioctl
 * arguments are copied in and out per the command's IOC_IN/IOC_OUT and
 * IOCPARM_LEN; copyin/copyout take only addresses the process owns
 * (EFAULT otherwise) and may fault, i.e. sleep; a d_poll that reports
 * nothing must have called selrecord(); knote() with KNF_LISTLOCKED
 * must find the knlist's lock held; a knlist is destroyed empty.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/proc.h>
#include <sys/ucred.h>
#include <sys/jail.h>
#include <sys/conf.h>
#include <sys/stat.h>
#include <sys/fcntl.h>
#include <sys/uio.h>
#include <sys/poll.h>
#include <sys/selinfo.h>
#include <sys/event.h>
#include <sys/ioccom.h>
#include <vm/vm.h>
#include <vm/vm_object.h>
#include <machine/stdarg.h>

#include "kh_kern.h"

#define	KH_NPROC	8
#define	KH_NFILE	32
#define	KH_NRANGE	64

struct kh_file {
	struct cdev	*kf_dev;
	int		 kf_flags;
	void		*kf_priv;
	d_priv_dtor_t	*kf_dtor;
	bool		 kf_priv_set;
};

struct kh_range {
	char		*r_addr;
	size_t		 r_len;
	bool		 r_map;		/* an mmap of a device */
};

struct kh_proc {
	bool		 p_used;
	struct ucred	 p_cred;
	struct kh_file	*p_fd[KH_NFILE];
	struct kh_range	 p_range[KH_NRANGE];
	struct kh_thread *p_threads[KH_NCPU];
};

struct kh_cdev {
	struct cdev	 kc_dev;	/* first: struct cdev * is ours */
	bool		 kc_dying;
	int		 kc_files;	/* open files referencing it */
};

static struct kh_proc kh_procs[KH_NPROC];
static struct kh_cdev *kh_devs[8];
static int kh_ndevs_live, kh_nknlists;
static struct prison kh_jail;
static uint64_t kh_selgen;

void
kh_dev_init(void)
{
	kh_jail.pr_id = 1;
	kh_jail.pr_vnet = prison0.pr_vnet;
}

/* ---- make_dev_s(9) and destroy_dev(9) ---- */
void
make_dev_args_init_impl(struct make_dev_args *args, size_t sz)
{
	memset(args, 0, sz);
	args->mda_size = sz;
}

int
make_dev_s(struct make_dev_args *args, struct cdev **cdev, const char *fmt,
    ...)
{
	struct kh_cdev *kc;
	va_list ap;
	int error, i;

	kh_may_sleep("make_dev_s", NULL);
	*cdev = NULL;
	if (args->mda_size != sizeof(*args))
		kh_panic("make_dev_s: mda_size %zu, not %zu", args->mda_size,
		    sizeof(*args));
	if (args->mda_devsw->d_version != D_VERSION)
		kh_panic("make_dev_s: device driver \"%s\" has wrong version",
		    args->mda_devsw->d_name);
	if (kh_fault_hit("make_dev_s", &error))
		return (error);
	kc = kh_h_calloc(sizeof(*kc));
	va_start(ap, fmt);
	vsnprintf(kc->kc_dev.si_name, sizeof(kc->kc_dev.si_name), fmt, ap);
	va_end(ap);
	for (i = 0; i < (int)nitems(kh_devs); i++)
		if (kh_devs[i] != NULL && !kh_devs[i]->kc_dying &&
		    strcmp(kh_devs[i]->kc_dev.si_name,
		    kc->kc_dev.si_name) == 0) {
			kh_h_free(kc);
			return (EEXIST);
		}
	for (i = 0; i < (int)nitems(kh_devs) && kh_devs[i] != NULL; i++)
		;
	if (i == (int)nitems(kh_devs))
		kh_panic("make_dev_s: too many devices");
	kc->kc_dev.si_devsw = args->mda_devsw;
	kc->kc_dev.si_drv1 = args->mda_si_drv1;
	kc->kc_dev.si_drv2 = args->mda_si_drv2;
	kc->kc_dev.si_uid = args->mda_uid;
	kc->kc_dev.si_gid = args->mda_gid;
	kc->kc_dev.si_mode = (mode_t)args->mda_mode;
	kc->kc_dev.si_refcount = 1;
	kh_h_lock(kh_giant);
	kh_devs[i] = kc;
	kh_ndevs_live++;
	kh_h_unlock(kh_giant);
	*cdev = &kc->kc_dev;
	return (0);
}

static void
kh_cdev_rele(struct kh_cdev *kc)
{
	int i;

	kh_h_lock(kh_giant);
	if (--kc->kc_dev.si_refcount > 0) {
		kh_h_unlock(kh_giant);
		return;
	}
	for (i = 0; i < (int)nitems(kh_devs); i++)
		if (kh_devs[i] == kc)
			kh_devs[i] = NULL;
	kh_h_unlock(kh_giant);
	kh_h_free(kc);
}

static void
kh_file_dtor(struct kh_file *kf)
{
	d_priv_dtor_t *dtor = kf->kf_dtor;

	if (!kf->kf_priv_set)
		return;
	kf->kf_priv_set = false;
	kf->kf_dtor = NULL;
	if (dtor != NULL) {
		dtor(kf->kf_priv);
		kh_userret("cdevpriv destructor");
	}
}

void
destroy_dev(struct cdev *dev)
{
	struct kh_cdev *kc = (struct kh_cdev *)dev;
	struct kh_proc *p;
	int i, j;

	kh_may_sleep("destroy_dev", NULL);
	kh_h_lock(kh_giant);
	if (kc->kc_dying)
		kh_panic("destroy_dev(%s): destroyed twice", dev->si_name);
	kc->kc_dying = true;
	kh_ndevs_live--;
	kh_h_unlock(kh_giant);
	while (__atomic_load_n(&dev->si_threadcount, __ATOMIC_SEQ_CST) != 0)
		kh_h_sleep_ns(1000000);
	/* devfs_destroy_cdevpriv() for every file still open on it. */
	for (i = 0; i < KH_NPROC; i++) {
		p = &kh_procs[i];
		for (j = 0; p->p_used && j < KH_NFILE; j++)
			if (p->p_fd[j] != NULL && p->p_fd[j]->kf_dev == dev)
				kh_file_dtor(p->p_fd[j]);
	}
	kh_cdev_rele(kc);
}

int
kh_live_cdevs(void)
{
	return (kh_ndevs_live);
}

/* devfs_set_cdevpriv(9): the file of the method being run. */
int
devfs_set_cdevpriv(void *priv, d_priv_dtor_t *dtor)
{
	struct kh_file *kf = (struct kh_file *)curthread->td_fpop;

	if (kf == NULL)
		kh_panic("devfs_set_cdevpriv outside a device method");
	if (kf->kf_priv_set)
		return (EBUSY);
	kf->kf_priv = priv;
	kf->kf_dtor = dtor;
	kf->kf_priv_set = true;
	return (0);
}

/* ---- processes ---- */
static struct kh_proc *
kh_proc(int pid)
{
	if (pid < 1 || pid > KH_NPROC || !kh_procs[pid - 1].p_used)
		kh_panic("kh: no process %d", pid);
	return (&kh_procs[pid - 1]);
}

int
kh_proc_new(int jailed)
{
	struct kh_proc *p;
	int i;

	for (i = 0; i < KH_NPROC && kh_procs[i].p_used; i++)
		;
	if (i == KH_NPROC)
		kh_panic("kh: too many processes");
	p = &kh_procs[i];
	memset(p, 0, sizeof(*p));
	p->p_used = true;
	p->p_cred.cr_ref = 1;
	p->p_cred.cr_prison = jailed ? &kh_jail : &prison0;
	return (i + 1);
}

void *
kh_umem(int pid, unsigned long len)
{
	struct kh_proc *p = kh_proc(pid);
	int i;

	for (i = 0; i < KH_NRANGE && p->p_range[i].r_addr != NULL; i++)
		;
	if (i == KH_NRANGE)
		kh_panic("kh_umem: too many ranges");
	p->p_range[i].r_addr = kh_h_calloc(len);
	p->p_range[i].r_len = len;
	return (p->p_range[i].r_addr);
}

/* Enter the kernel as a thread of pid (the caller's host thread). */
static struct kh_thread *
kh_syscall_enter(int pid)
{
	struct kh_thread *kt = kh_curthread();
	struct kh_proc *p = kh_proc(pid);

	kt->kt_proc = p;
	kt->kt_td.td_ucred = &p->p_cred;
	return (kt);
}

static void
kh_syscall_exit(struct kh_thread *kt, const char *what)
{
	kt->kt_td.td_fpop = NULL;
	kh_userret(what);
	kt->kt_proc = NULL;
	kt->kt_td.td_ucred = kh_cred0;
}

bool
kh_user_range(const void *a, size_t len)
{
	struct kh_proc *p = kh_curthread()->kt_proc;
	const char *c = a;
	int i;

	if (p == NULL)
		return (false);
	for (i = 0; i < KH_NRANGE; i++)
		if (p->p_range[i].r_addr != NULL &&
		    c >= p->p_range[i].r_addr &&
		    len <= p->p_range[i].r_len &&
		    (size_t)(c - p->p_range[i].r_addr) <=
		    p->p_range[i].r_len - len)
			return (true);
	return (false);
}

int
copyin(const void *uaddr, void *kaddr, size_t len)
{
	kh_may_sleep("copyin", NULL);
	if (!kh_user_range(uaddr, len))
		return (EFAULT);
	memcpy(kaddr, uaddr, len);
	return (0);
}

int
copyout(const void *kaddr, void *uaddr, size_t len)
{
	kh_may_sleep("copyout", NULL);
	if (!kh_user_range(uaddr, len))
		return (EFAULT);
	memcpy(uaddr, kaddr, len);
	return (0);
}

int
uiomove(void *cp, int n, struct uio *uio)
{
	struct iovec *iov;
	size_t cnt;
	int error = 0;

	if (uio->uio_rw != UIO_READ && uio->uio_rw != UIO_WRITE)
		kh_panic("uiomove: mode");
	if (uio->uio_segflg == UIO_USERSPACE && uio->uio_td != curthread)
		kh_panic("uiomove: proc");
	while (n > 0 && uio->uio_resid > 0) {
		iov = uio->uio_iov;
		cnt = iov->iov_len;
		if (cnt == 0) {
			uio->uio_iov++;
			uio->uio_iovcnt--;
			continue;
		}
		if (cnt > (size_t)n)
			cnt = (size_t)n;
		if (uio->uio_segflg == UIO_USERSPACE)
			error = uio->uio_rw == UIO_READ ?
			    copyout(cp, iov->iov_base, cnt) :
			    copyin(iov->iov_base, cp, cnt);
		else if (uio->uio_rw == UIO_READ)
			memcpy(iov->iov_base, cp, cnt);
		else
			memcpy(cp, iov->iov_base, cnt);
		if (error != 0)
			break;
		iov->iov_base = (char *)iov->iov_base + cnt;
		iov->iov_len -= cnt;
		uio->uio_resid -= (ssize_t)cnt;
		uio->uio_offset += (off_t)cnt;
		cp = (char *)cp + cnt;
		n -= (int)cnt;
	}
	return (error);
}

/* ---- files ---- */
static struct kh_file *
kh_fget(struct kh_proc *p, int fd)
{
	if (fd < 0 || fd >= KH_NFILE)
		return (NULL);
	return (p->p_fd[fd]);
}

/* dev_refthread(): NULL when the device is being destroyed. */
static struct cdevsw *
kh_refthread(struct kh_thread *kt, struct kh_file *kf)
{
	struct kh_cdev *kc = (struct kh_cdev *)kf->kf_dev;

	__atomic_add_fetch(&kf->kf_dev->si_threadcount, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&kc->kc_dying, __ATOMIC_SEQ_CST)) {
		__atomic_sub_fetch(&kf->kf_dev->si_threadcount, 1,
		    __ATOMIC_SEQ_CST);
		return (NULL);
	}
	kt->kt_td.td_fpop = (struct file *)kf;
	return (kf->kf_dev->si_devsw);
}

static void
kh_relthread(struct kh_file *kf)
{
	__atomic_sub_fetch(&kf->kf_dev->si_threadcount, 1, __ATOMIC_SEQ_CST);
}

static void
kh_file_close(struct kh_file *kf)
{
	kh_file_dtor(kf);
	kh_cdev_rele((struct kh_cdev *)kf->kf_dev);
	kh_h_free(kf);
}

int
kh_open(int pid, const char *path, int flags)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_proc *p = kt->kt_proc;
	struct kh_cdev *kc = NULL;
	struct kh_file *kf;
	struct cdevsw *csw;
	int error, fd, i;

	kh_h_lock(kh_giant);
	for (i = 0; i < (int)nitems(kh_devs); i++)
		if (kh_devs[i] != NULL && !kh_devs[i]->kc_dying &&
		    strncmp(path, "/dev/", 5) == 0 &&
		    strcmp(path + 5, kh_devs[i]->kc_dev.si_name) == 0) {
			kc = kh_devs[i];
			kc->kc_dev.si_refcount++;
		}
	kh_h_unlock(kh_giant);
	if (kc == NULL) {
		kh_syscall_exit(kt, "open");
		return (-ENOENT);
	}
	for (fd = 0; fd < KH_NFILE && p->p_fd[fd] != NULL; fd++)
		;
	kf = kh_h_calloc(sizeof(*kf));
	kf->kf_dev = &kc->kc_dev;
	kf->kf_flags = flags;
	csw = kh_refthread(kt, kf);
	error = csw == NULL ? ENXIO : csw->d_open == NULL ? 0 :
	    csw->d_open(&kc->kc_dev, flags, S_IFCHR, &kt->kt_td);
	if (csw != NULL)
		kh_relthread(kf);
	kh_syscall_exit(kt, "open");
	if (error != 0) {
		kh_file_close(kf);
		return (-error);
	}
	p->p_fd[fd] = kf;
	return (fd);
}

int
kh_close(int pid, int fd)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_file *kf = kh_fget(kt->kt_proc, fd);

	if (kf == NULL) {
		kh_syscall_exit(kt, "close");
		return (EBADF);
	}
	kt->kt_proc->p_fd[fd] = NULL;
	kh_file_close(kf);
	kh_syscall_exit(kt, "close");
	return (0);
}

int
kh_ioctl(int pid, int fd, unsigned long cmd, void *uarg)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_file *kf = kh_fget(kt->kt_proc, fd);
	u_char smalldata[128] __aligned(8);
	struct cdevsw *csw;
	caddr_t data;
	u_int size;
	int error, arg;

	if (kf == NULL) {
		error = EBADF;
		goto out;
	}
	/* sys_ioctl() */
	size = IOCPARM_LEN(cmd);
	if (size > IOCPARM_MAX || (cmd & IOC_DIRMASK) == 0 ||
	    ((cmd & IOC_VOID) != 0 && size > 0 && size != sizeof(int))) {
		error = ENOTTY;
		goto out;
	}
	data = size > sizeof(smalldata) ? malloc(size, M_TEMP, M_WAITOK) :
	    (caddr_t)smalldata;
	memset(data, 0, size);
	error = 0;
	if (size > 0) {
		if ((cmd & IOC_IN) != 0)
			error = copyin(uarg, data, size);
	} else {
		arg = (int)(intptr_t)uarg;
		*(int *)(void *)smalldata = arg;
		data = (caddr_t)smalldata;
	}
	if (error == 0) {
		csw = kh_refthread(kt, kf);
		error = csw == NULL ? ENXIO : csw->d_ioctl == NULL ? ENOTTY :
		    csw->d_ioctl(kf->kf_dev, cmd, data, kf->kf_flags,
		    &kt->kt_td);
		if (csw != NULL)
			kh_relthread(kf);
		kt->kt_td.td_fpop = NULL;
	}
	if (error == 0 && (cmd & IOC_OUT) != 0 && size > 0)
		error = copyout(data, uarg, size);
	if (data != (caddr_t)smalldata)
		free(data, M_TEMP);
out:
	kh_syscall_exit(kt, "ioctl");
	return (error);
}

static long
kh_rw(int pid, int fd, void *ubuf, unsigned long len, enum uio_rw rw,
    int ioflag)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_file *kf = kh_fget(kt->kt_proc, fd);
	struct cdevsw *csw;
	struct iovec iov;
	struct uio uio;
	int error;

	if (kf == NULL) {
		kh_syscall_exit(kt, "read/write");
		return (-EBADF);
	}
	iov.iov_base = ubuf;
	iov.iov_len = len;
	uio.uio_iov = &iov;
	uio.uio_iovcnt = 1;
	uio.uio_offset = 0;
	uio.uio_resid = (ssize_t)len;
	uio.uio_segflg = UIO_USERSPACE;
	uio.uio_rw = rw;
	uio.uio_td = &kt->kt_td;
	csw = kh_refthread(kt, kf);
	if (csw == NULL)
		error = ENXIO;
	else if (rw == UIO_READ)
		error = csw->d_read(kf->kf_dev, &uio, ioflag);
	else
		error = csw->d_write(kf->kf_dev, &uio, ioflag);
	if (csw != NULL)
		kh_relthread(kf);
	kh_syscall_exit(kt, rw == UIO_READ ? "read" : "write");
	if (error != 0)
		return (-error);
	return ((long)(len - (unsigned long)uio.uio_resid));
}

long
kh_read(int pid, int fd, void *ubuf, unsigned long len, int nonblock)
{
	struct kh_file *kf = kh_fget(kh_proc(pid), fd);
	int ioflag = 0;

	if (kf != NULL)
		ioflag = (kf->kf_flags | (nonblock ? O_NONBLOCK : 0)) &
		    O_NONBLOCK;
	return (kh_rw(pid, fd, ubuf, len, UIO_READ, ioflag));
}

long
kh_write(int pid, int fd, const void *ubuf, unsigned long len)
{
	struct kh_file *kf = kh_fget(kh_proc(pid), fd);

	return (kh_rw(pid, fd, (void *)(uintptr_t)ubuf, len, UIO_WRITE,
	    kf != NULL ? kf->kf_flags & O_NONBLOCK : 0));
}

/* ---- select(9) ---- */
static __thread bool kh_selrecorded;

void
selrecord(struct thread *td __unused, struct selinfo *sip __unused)
{
	kh_selrecorded = true;
}

void
selwakeuppri(struct selinfo *sip __unused, int pri __unused)
{
	__atomic_add_fetch(&kh_selgen, 1, __ATOMIC_SEQ_CST);
	wakeup(&kh_selgen);
}

void
selwakeup(struct selinfo *sip)
{
	selwakeuppri(sip, 0);
}

void
seldrain(struct selinfo *sip)
{
	selwakeuppri(sip, 0);
}

int
kh_poll(int pid, int fd, int events, int timeout_ms)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_file *kf = kh_fget(kt->kt_proc, fd);
	long long deadline = kh_h_now_ns() + (long long)timeout_ms * 1000000;
	struct cdevsw *csw;
	uint64_t gen;
	int revents = 0;

	if (kf == NULL) {
		kh_syscall_exit(kt, "poll");
		return (-EBADF);
	}
	for (;;) {
		gen = __atomic_load_n(&kh_selgen, __ATOMIC_SEQ_CST);
		csw = kh_refthread(kt, kf);
		if (csw == NULL) {
			revents = POLLNVAL;
			break;
		}
		kh_selrecorded = false;
		revents = csw->d_poll(kf->kf_dev, events, &kt->kt_td);
		kh_relthread(kf);
		kt->kt_td.td_fpop = NULL;
		kh_userret("d_poll");
		if (revents != 0 || kh_h_now_ns() >= deadline)
			break;
		if (!kh_selrecorded)
			kh_panic("d_poll returned no events without calling "
			    "selrecord(): the poller would never be woken");
		while (__atomic_load_n(&kh_selgen, __ATOMIC_SEQ_CST) == gen &&
		    kh_h_now_ns() < deadline)
			(void)tsleep(&kh_selgen, 0, "select",
			    max(1, (int)((deadline - kh_h_now_ns()) /
			    1000000)));
	}
	kh_syscall_exit(kt, "poll");
	return (revents);
}

/* ---- knlist(9) ---- */
static void
kh_knl_mtx_lock(void *arg)
{
	mtx_lock((struct mtx *)arg);
}

static void
kh_knl_mtx_unlock(void *arg)
{
	mtx_unlock((struct mtx *)arg);
}

static void
kh_knl_mtx_assert(void *arg, int what)
{
	if (what == LA_LOCKED)
		mtx_assert((struct mtx *)arg, MA_OWNED);
	else
		mtx_assert((struct mtx *)arg, MA_NOTOWNED);
}

void
knlist_init_mtx(struct knlist *knl, struct mtx *lock)
{
	if (lock == NULL)
		kh_panic("knlist_init_mtx: the stand-in needs a mutex");
	knl->kl_lockarg = lock;
	knl->kl_lock = kh_knl_mtx_lock;
	knl->kl_unlock = kh_knl_mtx_unlock;
	knl->kl_assert_lock = kh_knl_mtx_assert;
	knl->kl_autodestroy = 0;
	SLIST_INIT(&knl->kl_list);
	kh_h_lock(kh_giant);
	kh_nknlists++;
	kh_h_unlock(kh_giant);
}

void
knlist_add(struct knlist *knl, struct knote *kn, int islocked)
{
	if (islocked)
		knl->kl_assert_lock(knl->kl_lockarg, LA_LOCKED);
	else
		knl->kl_lock(knl->kl_lockarg);
	SLIST_INSERT_HEAD(&knl->kl_list, kn, kn_selnext);
	kn->kn_knlist = knl;
	if (!islocked)
		knl->kl_unlock(knl->kl_lockarg);
}

void
knlist_remove(struct knlist *knl, struct knote *kn, int islocked)
{
	if (islocked)
		knl->kl_assert_lock(knl->kl_lockarg, LA_LOCKED);
	else
		knl->kl_lock(knl->kl_lockarg);
	if (kn->kn_knlist != knl)
		kh_panic("knlist_remove: knote %p is not on this list", kn);
	SLIST_REMOVE(&knl->kl_list, kn, knote, kn_selnext);
	kn->kn_knlist = NULL;
	if (!islocked)
		knl->kl_unlock(knl->kl_lockarg);
}

void
knlist_cleardel(struct knlist *knl, struct thread *td __unused, int islocked,
    int killkn __unused)
{
	struct knote *kn;

	if (islocked)
		knl->kl_assert_lock(knl->kl_lockarg, LA_LOCKED);
	else
		knl->kl_lock(knl->kl_lockarg);
	while ((kn = SLIST_FIRST(&knl->kl_list)) != NULL) {
		SLIST_REMOVE_HEAD(&knl->kl_list, kn_selnext);
		kn->kn_knlist = NULL;
		kn->kn_flags |= EV_EOF | EV_ONESHOT;
	}
	if (!islocked)
		knl->kl_unlock(knl->kl_lockarg);
}

void
knlist_destroy(struct knlist *knl)
{
	if (!SLIST_EMPTY(&knl->kl_list))
		kh_panic("knlist_destroy: destroying a knlist with knotes "
		    "on it");
	knl->kl_lockarg = NULL;
	kh_h_lock(kh_giant);
	kh_nknlists--;
	kh_h_unlock(kh_giant);
}

int
kh_live_knlists(void)
{
	return (kh_nknlists);
}

void
knote(struct knlist *list, long hint, int lockflags)
{
	struct knote *kn;

	if (list == NULL)
		return;
	if ((lockflags & KNF_LISTLOCKED) != 0)
		list->kl_assert_lock(list->kl_lockarg, LA_LOCKED);
	else
		list->kl_lock(list->kl_lockarg);
	SLIST_FOREACH(kn, &list->kl_list, kn_selnext)
		if (kn->kn_fop->f_event(kn, hint))
			kn->kn_status |= KN_ACTIVE;
	if ((lockflags & KNF_LISTLOCKED) == 0)
		list->kl_unlock(list->kl_lockarg);
}

/* kevent(EV_ADD), a scan, kevent(EV_DELETE): returns whether readable. */
int
kh_kqueue_read(int pid, int fd, long *data)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_file *kf = kh_fget(kt->kt_proc, fd);
	struct cdevsw *csw;
	struct knote kn;
	int error, ready = 0;

	memset(&kn, 0, sizeof(kn));
	kn.kn_filter = EVFILT_READ;
	if (kf == NULL || (csw = kh_refthread(kt, kf)) == NULL) {
		kh_syscall_exit(kt, "kevent");
		return (-EBADF);
	}
	error = csw->d_kqfilter(kf->kf_dev, &kn);
	if (error == 0) {
		if (kn.kn_fop == NULL || kn.kn_fop->f_event == NULL ||
		    kn.kn_knlist == NULL)
			kh_panic("d_kqfilter: knote not attached to a knlist");
		kn.kn_knlist->kl_lock(kn.kn_knlist->kl_lockarg);
		ready = kn.kn_fop->f_event(&kn, 0);
		kn.kn_knlist->kl_unlock(kn.kn_knlist->kl_lockarg);
		*data = (long)kn.kn_data;
		kn.kn_fop->f_detach(&kn);
		if (kn.kn_knlist != NULL)
			kh_panic("f_detach left the knote on its knlist");
	}
	kh_relthread(kf);
	kh_syscall_exit(kt, "kevent");
	return (error != 0 ? -error : ready);
}

/* ---- mmap(2) of a device ---- */
void *
kh_mmap(int pid, int fd, unsigned long len, unsigned long off, int *error)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_proc *p = kt->kt_proc;
	struct kh_file *kf = kh_fget(p, fd);
	vm_ooffset_t foff = (vm_ooffset_t)off;
	vm_object_t obj = NULL;
	struct cdevsw *csw;
	void *uaddr = NULL;
	int i;

	*error = 0;
	if (kf == NULL || (csw = kh_refthread(kt, kf)) == NULL) {
		*error = kf == NULL ? EBADF : ENXIO;
		goto out;
	}
	if (len == 0 || (off & PAGE_MASK) != 0) {
		kh_relthread(kf);
		*error = EINVAL;
		goto out;
	}
	*error = csw->d_mmap_single(kf->kf_dev, &foff, round_page(len), &obj,
	    VM_PROT_READ | VM_PROT_WRITE);
	kh_relthread(kf);
	kt->kt_td.td_fpop = NULL;
	if (*error != 0) {
		if (obj != NULL)
			kh_panic("d_mmap_single failed (%d) but returned an "
			    "object", *error);
		goto out;
	}
	if (obj == NULL)
		kh_panic("d_mmap_single returned 0 without an object");
	*error = kh_vm_object_map_user(obj, foff, round_page(len), &uaddr);
	if (*error != 0) {
		vm_object_deallocate(obj);
		goto out;
	}
	for (i = 0; i < KH_NRANGE && p->p_range[i].r_addr != NULL; i++)
		;
	if (i == KH_NRANGE)
		kh_panic("kh_mmap: too many ranges");
	p->p_range[i].r_addr = uaddr;
	p->p_range[i].r_len = round_page(len);
	p->p_range[i].r_map = true;
out:
	kh_syscall_exit(kt, "mmap");
	return (uaddr);
}

int
kh_munmap(int pid, void *addr, unsigned long len)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_proc *p = kt->kt_proc;
	int i;

	for (i = 0; i < KH_NRANGE; i++)
		if (p->p_range[i].r_addr == addr && p->p_range[i].r_map &&
		    p->p_range[i].r_len == round_page(len))
			break;
	if (i == KH_NRANGE) {
		kh_syscall_exit(kt, "munmap");
		return (EINVAL);
	}
	kh_vm_unmap_user(addr, p->p_range[i].r_len);
	memset(&p->p_range[i], 0, sizeof(p->p_range[i]));
	kh_syscall_exit(kt, "munmap");
	return (0);
}

/* exit(2): every file closed, every mapping gone. */
void
kh_proc_exit(int pid)
{
	struct kh_thread *kt = kh_syscall_enter(pid);
	struct kh_proc *p = kt->kt_proc;
	int i;

	for (i = 0; i < KH_NFILE; i++)
		if (p->p_fd[i] != NULL) {
			kh_file_close(p->p_fd[i]);
			p->p_fd[i] = NULL;
		}
	for (i = 0; i < KH_NRANGE; i++) {
		if (p->p_range[i].r_map)
			kh_vm_unmap_user(p->p_range[i].r_addr,
			    p->p_range[i].r_len);
		else if (p->p_range[i].r_addr != NULL)
			kh_h_free(p->p_range[i].r_addr);
	}
	kh_syscall_exit(kt, "exit");
	p->p_used = false;
}

void
kh_proc_signal(int pid)
{
	struct kh_proc *p = kh_proc(pid);
	int i;

	for (i = 0; i < KH_NCPU; i++)
		if (p->p_threads[i] != NULL)
			p->p_threads[i]->kt_signal = 1;
	kh_lock_poke();
}

/* ---- user threads ---- */
struct kh_ustart {
	int		 u_pid;
	void		(*u_fn)(void *);
	void		*u_arg;
	struct kh_thread *u_kt;
};

static void
kh_uthread_main(void *arg)
{
	struct kh_ustart *u = arg;

	u->u_fn(u->u_arg);
}

void *
kh_uthread_start(int pid, void (*fn)(void *), void *arg)
{
	struct kh_proc *p = kh_proc(pid);
	struct kh_ustart *u = kh_h_calloc(sizeof(*u));
	int i;

	u->u_pid = pid;
	u->u_fn = fn;
	u->u_arg = arg;
	u->u_kt = kh_thread_new("user");
	for (i = 0; i < KH_NCPU && p->p_threads[i] != NULL; i++)
		;
	p->p_threads[i] = u->u_kt;
	kh_thread_run(u->u_kt, kh_uthread_main, u);
	return (u);
}

void
kh_uthread_join(void *t)
{
	struct kh_ustart *u = t;
	struct kh_proc *p = kh_proc(u->u_pid);
	int i;

	for (i = 0; i < KH_NCPU; i++)
		if (p->p_threads[i] == u->u_kt)
			p->p_threads[i] = NULL;
	kh_thread_join(u->u_kt);
	kh_h_free(u);
}
