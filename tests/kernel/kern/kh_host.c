/*
 * The host side of the stand-in kernel (see kh_host.h): glibc, pthreads
 * and the sanitizer runtime's reporting.  Nothing here knows FreeBSD.
 */
#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "kh_host.h"

struct kh_hmtx {
	pthread_mutex_t	m;
};

struct kh_hcond {
	pthread_cond_t	c;
};

/* Cache-line aligned: kernel structures (struct vnet...) ask for it. */
void *
kh_h_calloc(unsigned long n)
{
	return (kh_h_aligned(64, n == 0 ? 1 : n));
}

void *
kh_h_aligned(unsigned long align, unsigned long n)
{
	void *p;

	if (posix_memalign(&p, align, n) != 0) {
		fprintf(stderr, "kh: host out of memory (%lu bytes)\n", n);
		abort();
	}
	memset(p, 0, n);
	return (p);
}

void
kh_h_free(void *p)
{
	free(p);
}

struct kh_hmtx *
kh_h_mtx_new(void)
{
	struct kh_hmtx *m = kh_h_calloc(sizeof(*m));

	pthread_mutex_init(&m->m, NULL);
	return (m);
}

void
kh_h_mtx_free(struct kh_hmtx *m)
{
	pthread_mutex_destroy(&m->m);
	free(m);
}

void
kh_h_lock(struct kh_hmtx *m)
{
	pthread_mutex_lock(&m->m);
}

void
kh_h_unlock(struct kh_hmtx *m)
{
	pthread_mutex_unlock(&m->m);
}

struct kh_hcond *
kh_h_cond_new(void)
{
	struct kh_hcond *c = kh_h_calloc(sizeof(*c));
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&c->c, &a);
	pthread_condattr_destroy(&a);
	return (c);
}

void
kh_h_cond_free(struct kh_hcond *c)
{
	pthread_cond_destroy(&c->c);
	free(c);
}

int
kh_h_wait(struct kh_hcond *c, struct kh_hmtx *m, long long timeout_ns)
{
	struct timespec ts;
	long long t;

	if (timeout_ns < 0) {
		pthread_cond_wait(&c->c, &m->m);
		return (0);
	}
	t = kh_h_now_ns() + timeout_ns;
	ts.tv_sec = t / 1000000000LL;
	ts.tv_nsec = t % 1000000000LL;
	return (pthread_cond_timedwait(&c->c, &m->m, &ts) == ETIMEDOUT);
}

void
kh_h_broadcast(struct kh_hcond *c)
{
	pthread_cond_broadcast(&c->c);
}

struct kh_start {
	void	(*fn)(void *);
	void	*arg;
};

static void *
kh_h_trampoline(void *a)
{
	struct kh_start s = *(struct kh_start *)a;

	free(a);
	s.fn(s.arg);
	return (NULL);
}

void *
kh_h_thread_start(void (*fn)(void *), void *arg)
{
	struct kh_start *s = kh_h_calloc(sizeof(*s));
	pthread_t *t = kh_h_calloc(sizeof(*t));

	s->fn = fn;
	s->arg = arg;
	if (pthread_create(t, NULL, kh_h_trampoline, s) != 0)
		abort();
	return (t);
}

void
kh_h_thread_join(void *t)
{
	pthread_join(*(pthread_t *)t, NULL);
	free(t);
}

/*
 * %gs is free in a Linux x86-64 process (glibc's TLS is %fs): pointing it
 * at a struct pcpu lets FreeBSD's own inline curthread, PCPU_GET and
 * counter(9) code run unchanged.
 */
void
kh_h_set_gs(void *base)
{
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)base) != 0) {
		perror("kh: arch_prctl(ARCH_SET_GS)");
		abort();
	}
}

long long
kh_h_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

void
kh_h_sleep_ns(long long ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
kh_h_random(void *buf, unsigned long n)
{
	if (getrandom(buf, n, 0) != (ssize_t)n)
		abort();
}

int
kh_h_memfd(unsigned long size)
{
	int fd = memfd_create("kh-vm-object", MFD_CLOEXEC);

	if (fd < 0)
		return (-errno);
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return (-errno);
	}
	return (fd);
}

void *
kh_h_mmap(int fd, unsigned long size, unsigned long off, unsigned long guard)
{
	void *r, *p;

	r = mmap(NULL, size + guard, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (r == MAP_FAILED)
		return (NULL);
	p = mmap(r, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
	    (off_t)off);
	if (p == MAP_FAILED) {
		munmap(r, size + guard);
		return (NULL);
	}
	return (p);
}

void
kh_h_munmap(void *p, unsigned long size, unsigned long guard)
{
	munmap(p, size + guard);
}

void
kh_h_close(int fd)
{
	close(fd);
}

int
kh_h_send(int fd, const void *buf, unsigned long len)
{
	return (send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno);
}

long
kh_h_recv(int fd, void *buf, unsigned long len, long long timeout_ns)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, (int)(timeout_ns / 1000000)) <= 0)
		return (0);
	n = recv(fd, buf, len, MSG_DONTWAIT);
	return (n < 0 ? (errno == EAGAIN ? 0 : -errno) : n);
}

void
kh_h_vprint(const char *fmt, va_list ap)
{
	vfprintf(stdout, fmt, ap);
	fflush(stdout);
}

void
kh_h_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kh_h_vprint(fmt, ap);
	va_end(ap);
}

int
kh_h_vsnprintf(char *buf, unsigned long len, const char *fmt, va_list ap)
{
	return (vsnprintf(buf, len, fmt, ap));
}

void
kh_h_where(const void *pc, char *buf, unsigned long len)
{
	/* The return address points after the call: look one byte back. */
	__sanitizer_symbolize_pc((void *)((const char *)pc - 1), "%f %s:%l",
	    buf, len);
}

/* The frame-pointer chain (everything is built with frame pointers). */
void
kh_h_backtrace(void)
{
	void **fp = __builtin_frame_address(0), **next;
	char buf[256];
	int i;

	fflush(stdout);
	for (i = 0; i < 40 && fp != NULL; i++) {
		if (fp[1] == NULL)
			break;
		kh_h_where(fp[1], buf, sizeof(buf));
		fprintf(stdout, "    #%d %s\n", i, buf);
		next = fp[0];
		if (next <= fp || (char *)next - (char *)fp > (1 << 24))
			break;
		fp = next;
	}
	fflush(stdout);
}

void
kh_h_exit(int status)
{
	fflush(stdout);
	fflush(stderr);
	_exit(status);
}
