/*
 * The stand-in kernel's private declarations.
 *
 * Each file of kern/ implements FreeBSD kernel interfaces the module
 * uses, against FreeBSD's own headers (the same ones the module is built
 * with), and asserts the rules an INVARIANTS + WITNESS kernel asserts.
 * A broken rule is a panic: kh_panic() prints what and where, the locks
 * held and a backtrace, and the process exits with KH_EXIT_PANIC.
 *
 * Include after <sys/param.h>, <sys/systm.h>, <sys/lock.h>, <sys/proc.h>.
 */
#ifndef KH_KERN_H
#define KH_KERN_H

#include "kh_host.h"
#include "kh_api.h"

#define	KH_NCPU		8	/* one harness thread per CPU, at most */
#define	KH_MAXHELD	16
#define	KH_MAXEPOCH	8

struct kh_lock;
struct kh_proc;
struct mbuf;
struct ifnet;
struct vm_object;
struct malloc_type;

/* A thread: FreeBSD's struct thread first, so curthread points at it. */
struct kh_thread {
	struct thread	 kt_td;
	int		 kt_cpu;
	struct {
		struct kh_lock	*h_lock;
		const char	*h_file;
		int		 h_line;
		bool		 h_shared;
	}		 kt_held[KH_MAXHELD];
	int		 kt_nheld;
	struct epoch_tracker *kt_et[KH_MAXEPOCH];	/* net epoch, LIFO */
	int		 kt_nepoch;
	uint64_t	 kt_epoch_seq;	/* section number, odd while inside */
	volatile int	 kt_signal;	/* PCATCH sleeps end with EINTR */
	struct kh_proc	*kt_proc;
	void		*kt_host;	/* host thread handle */
	void		(*kt_fn)(void *);
	void		*kt_arg;
};
#define	KH_TD(td)	((struct kh_thread *)(td))
#define	kh_curthread()	KH_TD(curthread)

/* kern_misc.c */
void	kh_panic(const char *fmt, ...) __attribute__((noreturn))
	    __attribute__((format(printf, 1, 2)));
void	kh_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool	kh_fault_hit(const char *what, int *error);
const char *kh_caller(const void *pc, char *buf, size_t len);
extern struct kh_hmtx *kh_giant;	/* guards the stand-in's own tables */

/* kern_thread.c */
void	kh_thread_init(void);
struct kh_thread *kh_thread_new(const char *name);
void	kh_thread_bind(struct kh_thread *kt);
void	kh_thread_run(struct kh_thread *kt, void (*fn)(void *), void *arg);
void	kh_thread_join(struct kh_thread *kt);
void	kh_userret(const char *what);
extern struct ucred *kh_cred0;

/* kern_lock.c */
void	kh_lock_init(void);
void	kh_may_sleep(const char *what, struct lock_object *interlock);
void	kh_locks_print(struct kh_thread *kt);
void	kh_internal_mtx_init(struct mtx *m, const char *name);
void	kh_internal_sx_init(struct sx *sx, const char *name);
int	kh_live_locks(void);
void	kh_lock_checkpoint(void);
void	kh_lock_leaks(const char *when);
void	kh_lock_poke(void);

/* kern_epoch.c */
void	kh_epoch_init(void);
bool	kh_in_net_epoch(void);
void	kh_epoch_check_exit(struct kh_thread *kt, const char *what);

/* kern_malloc.c */
void	kh_malloc_check_type(struct malloc_type *mt, const char *when);
long	kh_live_counters(void);

/* kern_mbuf.c */
void	kh_mbuf_init(void);
void	kh_mbuf_owned(struct mbuf *m, const char *owner);
void	kh_mbuf_check(struct mbuf *m, const char *who);
int	kh_mbuf_live(void);
void	kh_mbuf_leaks(const char *when);
struct mbuf *kh_mbuf_frame(const void *data, u_int len, u_int lead,
	    u_int first);

/* kern_linker.c */
int	kh_live_handlers(void);

/* kern_dev.c */
void	kh_dev_init(void);
int	kh_live_cdevs(void);
int	kh_live_knlists(void);
bool	kh_user_range(const void *p, size_t len);

/* kern_vm.c */
int	kh_live_vm_objects(void);
int	kh_vm_object_map_user(struct vm_object *obj, vm_ooffset_t off, size_t len,
	    void **uaddr);
void	kh_vm_unmap_user(void *uaddr, size_t len);
void	kh_vm_fini(void);

/* kern_callout.c */
void	kh_callout_init(void);
void	kh_callout_stop_all(void);
int	kh_live_callouts(void);

/* net_if.c */
void	kh_net_init(void);
void	kh_drivers_init(void);
void	kh_drivers_fini(void);
void	kh_if_input(struct ifnet *ifp, struct mbuf *m);
struct ifnet *kh_if_find(const char *name);
void	kh_if_stack_input(struct ifnet *ifp, struct mbuf *m);
extern struct vnet *kh_vnet_other;
extern struct vnet *vnet0;
extern const uint8_t etherbroadcastaddr[6];

/* net_pfil.c */
void	kh_pfil_init(void);
void	kh_pfil_vnet_init(void);
int	kh_pfil_live(void);

#endif
