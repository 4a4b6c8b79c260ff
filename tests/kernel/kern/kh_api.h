/*
 * What the stand-in kernel offers its "userland": the scenarios in
 * user/.  Plain C types only (both sides include it).  Every call that
 * enters the kernel runs on the calling thread as its system call would
 * and leaves it as userret() requires (no lock, no epoch, no vnet).
 */
#ifndef KH_API_H
#define KH_API_H

/* ---- the machine ---- */
void	kh_boot(void);
int	kh_kldload(void);		/* MOD_LOAD's error */
int	kh_kldunload(void);		/* MOD_QUIESCE/MOD_UNLOAD's error */
int	kh_module_loaded(void);
/* Leaks and dangling state; panics on any (call after unload). */
void	kh_shutdown(void);
/* A loader tunable (kenv) for the next load. */
void	kh_setenv(const char *name, const char *value);
/* Fail the nth (1 = next) call of `what` (make_dev_s, malloc_nowait,
 * m_getcl, pfil_link, ...) with error. */
void	kh_fault(const char *what, int error, int nth);
/* Read a sysctl as an unsigned integer; -1 (as ull) when absent. */
unsigned long long kh_sysctl_u64(const char *name);
int	kh_sysctl_set_int(const char *name, int value);
/* Run the module's 100 ms tick now (softclock also runs it on time). */
void	kh_callout_run_due(void);

/* ---- processes and their system calls ---- */
int	kh_proc_new(int jailed);
void	kh_proc_exit(int pid);		/* closes files, unmaps, as exit(2) */
void	kh_proc_signal(int pid);	/* interrupts its PCATCH sleeps */
void	*kh_umem(int pid, unsigned long len);	/* the process's memory */
int	kh_open(int pid, const char *path, int flags);	/* fd or -errno */
int	kh_close(int pid, int fd);
int	kh_ioctl(int pid, int fd, unsigned long cmd, void *uarg);
long	kh_read(int pid, int fd, void *ubuf, unsigned long len, int nonblock);
long	kh_write(int pid, int fd, const void *ubuf, unsigned long len);
int	kh_poll(int pid, int fd, int events, int timeout_ms);
int	kh_kqueue_read(int pid, int fd, long *data);	/* EVFILT_READ */
void	*kh_mmap(int pid, int fd, unsigned long len, unsigned long off,
	    int *error);
int	kh_munmap(int pid, void *addr, unsigned long len);
/* A user thread of pid running fn (its system calls run on it). */
void	*kh_uthread_start(int pid, void (*fn)(void *), void *arg);
void	kh_uthread_join(void *t);

/* ---- interfaces (ifconfig and the wire) ---- */
/* kind: tap, vtnet (a NIC), vlan, lagg, bridge, epair (name a/b). */
int	kh_if_create(const char *kind, const char *name);
int	kh_if_destroy(const char *name);
int	kh_if_rename(const char *name, const char *newname);
int	kh_if_mac(const char *name, unsigned char mac[6], int set);
int	kh_if_index(const char *name);
int	kh_if_vnet_move(const char *name);	/* to a second vnet */
int	kh_bridge_add(const char *bridge, const char *member);
/* A frame arriving on the interface (from the wire, or written by the
 * VM into its tap): the driver's input path, as an mbuf chain whose
 * first mbuf has `lead` bytes of leading space and at most `first`
 * bytes of data (0: all), cluster or not. */
int	kh_if_rx(const char *name, const void *frame, unsigned len,
	    unsigned lead, unsigned first);
/* The frame arrives as a copy sharing its cluster with one kept back,
 * which must come out unchanged (EIO if the receiver wrote into it). */
int	kh_if_rx_shared(const char *name, const void *frame, unsigned len);
/* A frame the interface transmitted (to the wire, or for the VM to
 * read); its length, 0 when none waits. */
unsigned kh_if_tx_take(const char *name, void *buf, unsigned len);
/* Frames the host stack received on the interface (passed by pfil). */
unsigned long kh_if_stack_count(const char *name);
/* Join the interface to a wire: its transmits go to fd (a datagram
 * socket), frames read from fd arrive on it, from a wire thread. */
int	kh_if_wire(const char *name, int fd);
void	kh_wire_stop(void);

/* ---- checks the scenarios may call ---- */
void	kh_abi_ioctls(unsigned long out[6]);	/* BSDNET_IOC_*, FreeBSD's */
/* Break one of the stand-in's rules on purpose (kh_selftest.c). */
int	kh_selftest(const char *name);
int	kh_mbufs_live(void);
int	kh_ifnet_refs(const char *name);	/* -1 when no such ifnet */

#endif
