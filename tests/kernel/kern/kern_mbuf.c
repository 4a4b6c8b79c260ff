/*
 * mbuf(9): the zones behind m_get()/m_getcl() (inline in <sys/mbuf.h>),
 * the out-of-line m_*() functions the module and the drivers use, and a
 * tracker of every mbuf.
 *
 * Each mbuf and cluster is a host allocation of its own, so ASan catches
 * a use after free and an overrun of m_dat or a cluster.  The tracker
 * keeps, for every mbuf, its state (live or freed), where it was
 * allocated and freed, and who holds it when it is not the code at hand
 * ("if_transmit(tap0)" once a driver took it): freeing an mbuf twice,
 * freeing one a driver owns, handing a chain on twice (kh_mbuf_check)
 * are panics naming both places.  Every mbuf still live when the kernel
 * shuts down (module unloaded, drivers drained) is a leak.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/uio.h>
#include <vm/uma.h>

#include "kh_kern.h"

/* Zone handles: only their addresses matter. */
static int kh_z_mbuf, kh_z_clust, kh_z_pack, kh_z_jumbop, kh_z_j9, kh_z_j16;
uma_zone_t zone_mbuf = (uma_zone_t)&kh_z_mbuf;
uma_zone_t zone_clust = (uma_zone_t)&kh_z_clust;
uma_zone_t zone_pack = (uma_zone_t)&kh_z_pack;
uma_zone_t zone_jumbop = (uma_zone_t)&kh_z_jumbop;
uma_zone_t zone_jumbo9 = (uma_zone_t)&kh_z_j9;
uma_zone_t zone_jumbo16 = (uma_zone_t)&kh_z_j16;

#define	KH_MBTAB	(1 << 16)
struct kh_mbrec {
	const struct mbuf *r_m;
	bool		 r_live;
	const void	*r_alloc_pc;
	const void	*r_free_pc;
	const char	*r_owner;	/* NULL: the code holding it */
};
static struct kh_mbrec *kh_mbtab;
static struct kh_hmtx *kh_mbmtx;
static int kh_mblive;

void
kh_mbuf_init(void)
{
	kh_mbtab = kh_h_calloc(sizeof(*kh_mbtab) * KH_MBTAB);
	kh_mbmtx = kh_h_mtx_new();
}

/* The slot of m (its own, or the empty one it would take). */
static struct kh_mbrec *
kh_mbslot(const struct mbuf *m, bool take)
{
	size_t i = ((uintptr_t)m >> 8) & (KH_MBTAB - 1);
	struct kh_mbrec *free = NULL;
	size_t n;

	for (n = 0; n < KH_MBTAB; n++, i = (i + 1) & (KH_MBTAB - 1)) {
		if (kh_mbtab[i].r_m == m)
			return (&kh_mbtab[i]);
		if (free == NULL && (kh_mbtab[i].r_m == NULL ||
		    !kh_mbtab[i].r_live))
			free = &kh_mbtab[i];
		if (kh_mbtab[i].r_m == NULL)
			break;
	}
	if (!take)
		return (NULL);
	if (free == NULL)
		kh_panic("kh: mbuf tracker full");
	return (free);
}

static const char *
kh_pc(const void *pc, char *buf, size_t len)
{
	return (pc == NULL ? "?" : kh_caller(pc, buf, len));
}

static void
kh_mbuf_track(struct mbuf *m, const void *pc)
{
	struct kh_mbrec *r;

	kh_h_lock(kh_mbmtx);
	r = kh_mbslot(m, true);
	r->r_m = m;
	r->r_live = true;
	r->r_alloc_pc = pc;
	r->r_free_pc = NULL;
	r->r_owner = NULL;
	kh_mblive++;
	kh_h_unlock(kh_mbmtx);
}

static void
kh_mbuf_untrack(struct mbuf *m, const void *pc)
{
	char a[160], b[160];
	struct kh_mbrec *r;

	kh_h_lock(kh_mbmtx);
	r = kh_mbslot(m, false);
	if (r == NULL)
		kh_panic("m_free(%p): not an mbuf of this kernel", m);
	if (!r->r_live)
		kh_panic("m_free(%p): mbuf freed twice\n first freed by %s\n "
		    "allocated by %s", m, kh_pc(r->r_free_pc, a, sizeof(a)),
		    kh_pc(r->r_alloc_pc, b, sizeof(b)));
	if (r->r_owner != NULL)
		kh_panic("m_free(%p) by %s: the mbuf belongs to %s", m,
		    kh_pc(pc, a, sizeof(a)), r->r_owner);
	r->r_live = false;
	r->r_free_pc = pc;
	kh_mblive--;
	kh_h_unlock(kh_mbmtx);
}

/* Every mbuf of the chain is live and held by the caller. */
void
kh_mbuf_check(struct mbuf *m, const char *who)
{
	char a[160];
	struct kh_mbrec *r;

	if (m == NULL)
		kh_panic("%s: NULL mbuf", who);
	kh_h_lock(kh_mbmtx);
	for (; m != NULL; m = m->m_next) {
		r = kh_mbslot(m, false);
		if (r == NULL || !r->r_live)
			kh_panic("%s: mbuf %p was freed (by %s)", who, m,
			    r == NULL ? "?" : kh_pc(r->r_free_pc, a,
			    sizeof(a)));
		if (r->r_owner != NULL)
			kh_panic("%s: mbuf %p was already handed to %s", who,
			    m, r->r_owner);
	}
	kh_h_unlock(kh_mbmtx);
}

/* Give the chain to owner (NULL: back to the code at hand). */
void
kh_mbuf_owned(struct mbuf *m, const char *owner)
{
	struct kh_mbrec *r;

	kh_h_lock(kh_mbmtx);
	for (; m != NULL; m = m->m_next)
		if ((r = kh_mbslot(m, false)) != NULL)
			r->r_owner = owner;
	kh_h_unlock(kh_mbmtx);
}

int
kh_mbuf_live(void)
{
	int n;

	kh_h_lock(kh_mbmtx);
	n = kh_mblive;
	kh_h_unlock(kh_mbmtx);
	return (n);
}

void
kh_mbuf_leaks(const char *when)
{
	char a[160];
	size_t i;

	kh_h_lock(kh_mbmtx);
	for (i = 0; i < KH_MBTAB; i++)
		if (kh_mbtab[i].r_m != NULL && kh_mbtab[i].r_live)
			kh_panic("%s: %d mbuf(s) leaked; %p allocated by %s, "
			    "held by %s", when, kh_mblive, kh_mbtab[i].r_m,
			    kh_pc(kh_mbtab[i].r_alloc_pc, a, sizeof(a)),
			    kh_mbtab[i].r_owner != NULL ? kh_mbtab[i].r_owner :
			    "nobody");
	kh_h_unlock(kh_mbmtx);
}

/* ---- zones ---- */
static struct mbuf *
kh_mbuf_raw(const void *pc)
{
	struct mbuf *m = kh_h_calloc(MSIZE);

	kh_mbuf_track(m, pc);
	return (m);
}

static void
kh_clattach(struct mbuf *m, int size, int type)
{
	m->m_ext.ext_buf = kh_h_calloc((unsigned long)size);
	m->m_ext.ext_size = (uint32_t)size;
	m->m_ext.ext_type = type;
	m->m_ext.ext_flags = EXT_FLAG_EMBREF;
	m->m_ext.ext_count = 1;
	m->m_ext.ext_free = NULL;
	m->m_data = m->m_ext.ext_buf;
	m->m_flags |= M_EXT;
}

static void *
kh_zalloc(uma_zone_t zone, void *arg, int flags, const void *pc)
{
	struct mb_args *args = arg;
	struct mbuf *m;
	int size;

	if ((flags & M_WAITOK) != 0)
		kh_may_sleep("uma_zalloc(M_WAITOK)", NULL);
	else if (kh_fault_hit(zone == zone_pack ? "m_getcl" : "m_get", NULL))
		return (NULL);
	if (zone == zone_mbuf || zone == zone_pack) {
		m = kh_mbuf_raw(pc);
		if (args->type != MT_NOINIT &&
		    m_init(m, flags, args->type, args->flags) != 0)
			kh_panic("m_init failed");
		if (zone == zone_pack)
			kh_clattach(m, MCLBYTES, EXT_PACKET);
		return (m);
	}
	size = zone == zone_clust ? MCLBYTES : zone == zone_jumbop ?
	    MJUMPAGESIZE : zone == zone_jumbo9 ? MJUM9BYTES :
	    zone == zone_jumbo16 ? MJUM16BYTES : 0;
	if (size == 0)
		kh_panic("uma_zalloc_arg: zone %p is not modelled", zone);
	return (kh_h_calloc((unsigned long)size));
}

void *
uma_zalloc_arg(uma_zone_t zone, void *arg, int flags)
{
	return (kh_zalloc(zone, arg, flags, __builtin_return_address(0)));
}

void
uma_zfree_arg(uma_zone_t zone, void *item, void *arg __unused)
{
	if (zone == zone_mbuf) {
		kh_mbuf_untrack(item, __builtin_return_address(0));
		kh_h_free(item);
	} else
		kh_h_free(item);
}

/* Free the external storage of m (m_free() does the mbuf). */
void
mb_free_ext(struct mbuf *m)
{
	volatile u_int *refcnt;
	struct mbuf *mref;
	bool last;

	if ((m->m_ext.ext_flags & EXT_FLAG_EMBREF) != 0) {
		refcnt = &m->m_ext.ext_count;
		mref = m;
	} else {
		refcnt = m->m_ext.ext_cnt;
		mref = __containerof(refcnt, struct mbuf, m_ext.ext_count);
	}
	kh_mbuf_untrack(m, __builtin_return_address(0));
	if (*refcnt == 0)
		kh_panic("mb_free_ext(%p): cluster reference count is 0", m);
	last = __atomic_sub_fetch(refcnt, 1, __ATOMIC_ACQ_REL) == 0;
	if (last) {
		kh_h_free(mref->m_ext.ext_buf);
		if (mref != m)
			kh_h_free(mref);
	}
	/* The holder of the count lives until the last reference goes. */
	if (m != mref || last)
		kh_h_free(m);
}

/* Another reference to n's cluster, in m (m_copypacket()'s way). */
void
mb_dupcl(struct mbuf *n, struct mbuf *m)
{
	volatile u_int *refcnt;

	refcnt = (m->m_ext.ext_flags & EXT_FLAG_EMBREF) != 0 ?
	    &m->m_ext.ext_count : m->m_ext.ext_cnt;
	__atomic_add_fetch(refcnt, 1, __ATOMIC_ACQ_REL);
	n->m_ext = m->m_ext;
	n->m_ext.ext_flags &= ~EXT_FLAG_EMBREF;
	n->m_ext.ext_cnt = refcnt;
	n->m_flags |= M_EXT | (m->m_flags & M_RDONLY);
}

int
m_pkthdr_init(struct mbuf *m, int how __unused)
{
	memset(&m->m_pkthdr, 0, sizeof(m->m_pkthdr));
	m_tag_init(m);
	return (0);
}

/* Before m_free() reads the mbuf: a second free is named, not a UAF. */
static void
kh_mbuf_may_free(struct mbuf *m, const void *pc)
{
	char a[160], b[160];
	struct kh_mbrec *r;

	kh_h_lock(kh_mbmtx);
	r = kh_mbslot(m, false);
	if (r != NULL && !r->r_live)
		kh_panic("m_freem(%p) by %s: mbuf freed twice\n first freed "
		    "by %s", m, kh_pc(pc, a, sizeof(a)),
		    kh_pc(r->r_free_pc, b, sizeof(b)));
	if (r != NULL && r->r_owner != NULL)
		kh_panic("m_freem(%p) by %s: the mbuf belongs to %s", m,
		    kh_pc(pc, a, sizeof(a)), r->r_owner);
	kh_h_unlock(kh_mbmtx);
}

void
m_freem(struct mbuf *m)
{
	while (m != NULL) {
		kh_mbuf_may_free(m, __builtin_return_address(0));
		m = m_free(m);
	}
}

void
m_move_pkthdr(struct mbuf *to, struct mbuf *from)
{
	M_ASSERTPKTHDR(from);
	to->m_flags = (from->m_flags & M_COPYFLAGS) |
	    (to->m_flags & (M_EXT | M_EXTPG));
	if ((to->m_flags & M_EXT) == 0)
		to->m_data = to->m_pktdat;
	to->m_pkthdr = from->m_pkthdr;
	SLIST_INIT(&from->m_pkthdr.tags);
	from->m_flags &= ~M_PKTHDR;
}

int
m_dup_pkthdr(struct mbuf *to, const struct mbuf *from, int how __unused)
{
	to->m_flags = (from->m_flags & M_COPYFLAGS) |
	    (to->m_flags & (M_EXT | M_EXTPG));
	if ((to->m_flags & M_EXT) == 0)
		to->m_data = to->m_pktdat;
	to->m_pkthdr = from->m_pkthdr;
	SLIST_INIT(&to->m_pkthdr.tags);
	return (0);
}

void
m_copydata(const struct mbuf *m, int off, int len, caddr_t cp)
{
	u_int count;

	KASSERT(off >= 0, ("m_copydata, negative off %d", off));
	KASSERT(len >= 0, ("m_copydata, negative len %d", len));
	while (off > 0) {
		KASSERT(m != NULL, ("m_copydata, offset > size of mbuf chain"));
		if (off < m->m_len)
			break;
		off -= m->m_len;
		m = m->m_next;
	}
	while (len > 0) {
		KASSERT(m != NULL, ("m_copydata, length > size of mbuf chain"));
		count = (u_int)min(m->m_len - off, len);
		memcpy(cp, mtod(m, caddr_t) + off, count);
		len -= (int)count;
		cp += count;
		off = 0;
		m = m->m_next;
	}
}

u_int
m_length(struct mbuf *m0, struct mbuf **last)
{
	struct mbuf *m;
	u_int len = 0;

	for (m = m0; m != NULL; m = m->m_next) {
		len += (u_int)m->m_len;
		if (m->m_next == NULL)
			break;
	}
	if (last != NULL)
		*last = m;
	return (len);
}

void
m_adj(struct mbuf *mp, int req_len)
{
	struct mbuf *m;
	int len = req_len, count;

	if ((m = mp) == NULL)
		return;
	if (len >= 0) {
		while (m != NULL && len > 0) {
			if (m->m_len <= len) {
				len -= m->m_len;
				m->m_len = 0;
				m = m->m_next;
			} else {
				m->m_len -= len;
				m->m_data += len;
				len = 0;
			}
		}
		if (mp->m_flags & M_PKTHDR)
			mp->m_pkthdr.len -= (req_len - len);
		return;
	}
	len = -len;
	count = (int)m_length(mp, NULL) - len;
	if (count < 0)
		count = 0;
	if (mp->m_flags & M_PKTHDR)
		mp->m_pkthdr.len = count;
	for (m = mp; m != NULL; m = m->m_next) {
		if (m->m_len >= count) {
			m->m_len = count;
			if (m->m_next != NULL) {
				m_freem(m->m_next);
				m->m_next = NULL;
			}
			break;
		}
		count -= m->m_len;
	}
}

struct mbuf *
m_getjcl(int how, short type, int flags, int size)
{
	struct mb_args args = { .flags = flags, .type = type };
	struct mbuf *m;

	if (size == MCLBYTES)
		return (m_getcl(how, type, flags));
	m = kh_zalloc(zone_mbuf, &args, how, __builtin_return_address(0));
	if (m == NULL)
		return (NULL);
	kh_clattach(m, size, EXT_JUMBOP);
	return (m);
}

struct mbuf *
m_get3(int size, int how, short type, int flags)
{
	struct mb_args args = { .flags = flags, .type = type };
	const void *pc = __builtin_return_address(0);
	struct mbuf *m;

	if (size <= ((flags & M_PKTHDR) ? MHLEN : MLEN))
		return (kh_zalloc(zone_mbuf, &args, how, pc));
	if (size > MJUM16BYTES)
		return (NULL);
	if (size <= MCLBYTES) {
		m = kh_zalloc(zone_pack, &args, how, pc);
		return (m);
	}
	m = kh_zalloc(zone_mbuf, &args, how, pc);
	if (m != NULL)
		kh_clattach(m, size <= MJUMPAGESIZE ? MJUMPAGESIZE :
		    size <= MJUM9BYTES ? MJUM9BYTES : MJUM16BYTES, EXT_JUMBOP);
	return (m);
}

struct mbuf *
m_get2(int size, int how, short type, int flags)
{
	return (m_get3(size, how, type, flags));
}

/* Copy a frame into a new chain; off bytes of leading space. */
struct mbuf *
m_devget(char *buf, int totlen, int off, struct ifnet *ifp,
    void (*copy)(char *, caddr_t, u_int) __unused)
{
	struct mbuf *m;

	if (off < 0 || off > MHLEN || totlen + off > MJUM16BYTES)
		return (NULL);
	m = m_get3(totlen + off, M_NOWAIT, MT_DATA, M_PKTHDR);
	if (m == NULL)
		return (NULL);
	m->m_data += off;
	memcpy(mtod(m, caddr_t), buf, (size_t)totlen);
	m->m_len = m->m_pkthdr.len = totlen;
	m->m_pkthdr.rcvif = ifp;
	return (m);
}

struct mbuf *
m_prepend(struct mbuf *m, int len, int how)
{
	struct mbuf *mn;

	if (m->m_flags & M_PKTHDR)
		mn = m_gethdr(how, m->m_type);
	else
		mn = m_get(how, m->m_type);
	if (mn == NULL) {
		m_freem(m);
		return (NULL);
	}
	if (m->m_flags & M_PKTHDR)
		m_move_pkthdr(mn, m);
	mn->m_next = m;
	m = mn;
	if (len < (int)M_SIZE(m))
		M_ALIGN(m, len);
	m->m_len = len;
	return (m);
}

struct mbuf *
m_pullup(struct mbuf *n, int len)
{
	struct mbuf *m;
	int count, space;

	if (len > MHLEN)
		goto bad;
	m = m_get(M_NOWAIT, n->m_type);
	if (m == NULL)
		goto bad;
	if (n->m_flags & M_PKTHDR)
		m_move_pkthdr(m, n);
	space = (int)(&m->m_dat[MLEN] - (m->m_data + m->m_len));
	do {
		count = min(min(max(len, max_protohdr), space), n->m_len);
		memcpy(mtod(m, caddr_t) + m->m_len, mtod(n, caddr_t),
		    (u_int)count);
		len -= count;
		m->m_len += count;
		n->m_len -= count;
		space -= count;
		if (n->m_len)
			n->m_data += count;
		else
			n = m_free(n);
	} while (len > 0 && n);
	if (len > 0) {
		(void)m_free(m);
		goto bad;
	}
	m->m_next = n;
	return (m);
bad:
	m_freem(n);
	return (NULL);
}

/* A copy sharing the clusters (read-only: M_WRITABLE() is false). */
struct mbuf *
m_copypacket(struct mbuf *m, int how)
{
	struct mbuf *top = NULL, *n, **np = &top;

	for (; m != NULL; m = m->m_next) {
		n = (m->m_flags & M_PKTHDR) ? m_gethdr(how, m->m_type) :
		    m_get(how, m->m_type);
		if (n == NULL) {
			m_freem(top);
			return (NULL);
		}
		if (m->m_flags & M_PKTHDR)
			(void)m_dup_pkthdr(n, m, how);
		if (m->m_flags & M_EXT) {
			mb_dupcl(n, m);
			n->m_data = m->m_data;
		} else
			memcpy(mtod(n, caddr_t), mtod(m, caddr_t),
			    (u_int)m->m_len);
		n->m_len = m->m_len;
		*np = n;
		np = &n->m_next;
	}
	return (top);
}

struct mbuf *
m_dup(const struct mbuf *m, int how)
{
	struct mbuf *n;
	int len;

	M_ASSERTPKTHDR(m);
	len = m->m_pkthdr.len;
	n = m_get3(len, how, m->m_type, M_PKTHDR);
	if (n == NULL)
		return (NULL);
	(void)m_dup_pkthdr(n, m, how);
	m_copydata(m, 0, len, mtod(n, caddr_t));
	n->m_len = len;
	return (n);
}

struct mbuf *
m_uiotombuf(struct uio *uio, int how, int len, int lspace, int flags)
{
	struct mbuf *m;
	int total, error;

	total = len > 0 ? min((int)uio->uio_resid, len) :
	    (int)uio->uio_resid;
	if (lspace < 0 || total + lspace > MJUM16BYTES)
		return (NULL);
	m = m_get3(total + lspace, how, MT_DATA, flags);
	if (m == NULL)
		return (NULL);
	m->m_data += lspace;
	error = uiomove(mtod(m, void *), total, uio);
	if (error != 0) {
		m_freem(m);
		return (NULL);
	}
	m->m_len = total;
	if (flags & M_PKTHDR)
		m->m_pkthdr.len = total;
	return (m);
}

int
m_mbuftouio(struct uio *uio, const struct mbuf *m, int len)
{
	int error, length, total;

	total = len == 0 ? (int)uio->uio_resid :
	    min(len, (int)uio->uio_resid);
	for (; m != NULL && total > 0; m = m->m_next) {
		length = min(m->m_len, total);
		error = uiomove(mtod(m, void *), length, uio);
		if (error != 0)
			return (error);
		total -= length;
	}
	return (0);
}

/*
 * A frame as a NIC or tap would hand it up: a chain whose first mbuf
 * keeps `lead` bytes of leading space and holds at most `first` bytes
 * (0: as much as fits), in clusters or plain mbufs.
 */
struct mbuf *
kh_mbuf_frame(const void *data, u_int len, u_int lead, u_int first)
{
	struct mbuf *top = NULL, *m, **mp = &top;
	const uint8_t *p = data;
	u_int n, room;

	while (len > 0 || top == NULL) {
		m = top == NULL ? m_getcl(M_NOWAIT, MT_DATA, M_PKTHDR) :
		    m_getcl(M_NOWAIT, MT_DATA, 0);
		if (m == NULL) {
			m_freem(top);
			return (NULL);
		}
		if (top == NULL)
			m->m_data += lead;
		room = (u_int)M_TRAILINGSPACE(m);
		n = min(len, room);
		if (top == NULL && first != 0)
			n = min(n, first);
		memcpy(mtod(m, void *), p, n);
		m->m_len = (int)n;
		p += n;
		len -= n;
		*mp = m;
		mp = &m->m_next;
		if (top == m)
			m->m_pkthdr.len = (int)(n + len);
	}
	return (top);
}

u_int max_protohdr = 40 + 20;	/* TCP/IPv6 without options, and more */

/* Packet tags, send tags and unmapped mbufs are not modelled. */
void
m_tag_delete_chain(struct mbuf *m, struct m_tag *t __unused)
{
	if (!SLIST_EMPTY(&m->m_pkthdr.tags))
		kh_panic("m_tag_delete_chain: packet tags are not modelled");
}

void
m_snd_tag_destroy(struct m_snd_tag *mst __unused)
{
	kh_panic("send tags are not modelled");
}

void
mb_free_extpg(struct mbuf *m __unused)
{
	kh_panic("unmapped (M_EXTPG) mbufs are not modelled");
}
