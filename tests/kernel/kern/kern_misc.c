/*
 * panic(9), printf(9)/log(9), time, randomness and fault injection.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/syslog.h>
#include <sys/time.h>
#include <machine/stdarg.h>

#include "kh_kern.h"

struct kh_hmtx *kh_giant;
int hz = 1000;
sbintime_t tick_sbt;

static void __attribute__((noreturn))
kh_vpanic(const char *fmt, va_list ap)
{
	struct kh_thread *kt = kh_curthread();

	kh_h_print("panic: ");
	kh_h_vprint(fmt, ap);
	kh_h_print("\n");
	if (kt != NULL) {
		kh_h_print("cpuid = %d; thread %s\n", kt->kt_cpu,
		    kt->kt_td.td_name);
		kh_locks_print(kt);
	}
	kh_h_backtrace();
	kh_h_exit(KH_EXIT_PANIC);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kh_vpanic(fmt, ap);
}

void
kh_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kh_vpanic(fmt, ap);
}

/* A line the scenarios' tests may look for; never a failure by itself. */
void
kh_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kh_h_print("kh: ");
	kh_h_vprint(fmt, ap);
	kh_h_print("\n");
	va_end(ap);
}

const char *
kh_caller(const void *pc, char *buf, size_t len)
{
	kh_h_where(pc, buf, len);
	return (buf);
}

int
vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	return (kh_h_vsnprintf(buf, len, fmt, ap));
}

int
snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kh_h_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n);
}

int
printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kh_h_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	kh_h_print("kernel: %s", line);
	return (n);
}

void
log(int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	kh_h_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	kh_h_print("syslog<%d>: %s", level, line);
}

void
arc4random_buf(void *buf, size_t len)
{
	kh_h_random(buf, len);
}

void
getbinuptime(struct bintime *bt)
{
	long long ns = kh_h_now_ns();

	bt->sec = ns / 1000000000LL;
	/* 2^64 / 10^9 units of frac per nanosecond. */
	bt->frac = (uint64_t)(ns % 1000000000LL) * 18446744073ULL;
}

void
getmicrouptime(struct timeval *tv)
{
	long long ns = kh_h_now_ns();

	tv->tv_sec = ns / 1000000000LL;
	tv->tv_usec = (ns % 1000000000LL) / 1000;
}

/* ppsratecheck(9): at most maxeps events a second. */
int
eventratecheck(struct timeval *last, int *cur, int maxeps)
{
	struct timeval now;

	getmicrouptime(&now);
	if (now.tv_sec != last->tv_sec) {
		*last = now;
		*cur = 0;
	}
	if (maxeps < 0 || *cur < maxeps) {
		(*cur)++;
		return (1);
	}
	return (0);
}

/* ---- fault injection ---- */
#define	KH_NFAULT	8
static struct {
	const char	*f_what;
	int		 f_error;
	int		 f_left;
} kh_faults[KH_NFAULT];

void
kh_fault(const char *what, int error, int nth)
{
	int i;

	kh_h_lock(kh_giant);
	for (i = 0; i < KH_NFAULT; i++)
		if (kh_faults[i].f_what == NULL) {
			kh_faults[i].f_what = what;
			kh_faults[i].f_error = error;
			kh_faults[i].f_left = nth;
			break;
		}
	kh_h_unlock(kh_giant);
	if (i == KH_NFAULT)
		kh_panic("kh_fault: too many faults armed");
}

/* True (and *error set) if this call of `what` is to fail. */
bool
kh_fault_hit(const char *what, int *error)
{
	bool hit = false;
	int i;

	kh_h_lock(kh_giant);
	for (i = 0; i < KH_NFAULT; i++) {
		if (kh_faults[i].f_what == NULL ||
		    strcmp(kh_faults[i].f_what, what) != 0)
			continue;
		if (--kh_faults[i].f_left == 0) {
			hit = true;
			if (error != NULL)
				*error = kh_faults[i].f_error;
			kh_faults[i].f_what = NULL;
			kh_note("fault injected: %s fails with %d", what,
			    kh_faults[i].f_error);
		}
		break;
	}
	kh_h_unlock(kh_giant);
	return (hit);
}

/* libkern's strlcpy(3) (glibc before 2.38 has none). */
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return (n);
}
