/*
 * The host under the stand-in kernel: threads, host locks, time, memory
 * files and output, from glibc.  Both sides include this header, the
 * stand-in kernel (built against FreeBSD's headers) and kh_host.c (built
 * against glibc's), so it names no type of either: plain C only.
 */
#ifndef KH_HOST_H
#define KH_HOST_H

/* Exit status of a run that panicked (ASan/UBSan exit 1, a pass 0). */
#define	KH_EXIT_PANIC	3

struct kh_hmtx;
struct kh_hcond;

void	*kh_h_calloc(unsigned long n);
void	*kh_h_aligned(unsigned long align, unsigned long n);
void	 kh_h_free(void *p);

struct kh_hmtx	*kh_h_mtx_new(void);
void	 kh_h_mtx_free(struct kh_hmtx *m);
void	 kh_h_lock(struct kh_hmtx *m);
void	 kh_h_unlock(struct kh_hmtx *m);
struct kh_hcond	*kh_h_cond_new(void);
void	 kh_h_cond_free(struct kh_hcond *c);
/* 0 when woken, 1 when timeout_ns (>= 0) passed; < 0 waits for ever. */
int	 kh_h_wait(struct kh_hcond *c, struct kh_hmtx *m, long long timeout_ns);
void	 kh_h_broadcast(struct kh_hcond *c);

void	*kh_h_thread_start(void (*fn)(void *), void *arg);
void	 kh_h_thread_join(void *t);
/* The calling thread's %gs base: the stand-in's struct pcpu. */
void	 kh_h_set_gs(void *base);

long long kh_h_now_ns(void);
void	 kh_h_sleep_ns(long long ns);
void	 kh_h_random(void *buf, unsigned long n);

/* An anonymous memory file of size bytes (-errno on failure). */
int	 kh_h_memfd(unsigned long size);
/* Followed by guard bytes of PROT_NONE: an overrun faults at once. */
void	*kh_h_mmap(int fd, unsigned long size, unsigned long off,
	    unsigned long guard);
void	 kh_h_munmap(void *p, unsigned long size, unsigned long guard);
void	 kh_h_close(int fd);

/* One datagram; recv waits up to timeout_ns, 0 when none came. */
int	 kh_h_send(int fd, const void *buf, unsigned long len);
long	 kh_h_recv(int fd, void *buf, unsigned long len, long long timeout_ns);

void	 kh_h_vprint(const char *fmt, __builtin_va_list ap);
void	 kh_h_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int	 kh_h_vsnprintf(char *buf, unsigned long len, const char *fmt,
	    __builtin_va_list ap);
/* "function file:line" of a code address. */
void	 kh_h_where(const void *pc, char *buf, unsigned long len);
void	 kh_h_backtrace(void);
__attribute__((noreturn)) void kh_h_exit(int status);

#endif
