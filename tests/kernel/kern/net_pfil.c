/*
 * pfil(9), version 2 (FreeBSD 13 and later): heads, hooks, links, and
 * the ethernet head ether_demux() runs.
 *
 * Per-VNET as in the kernel: V_pfil_hook_list and V_pfil_head_list are
 * reached through curvnet, so pfil_add_hook() and pfil_remove_hook()
 * (and pfil_link() by name) need a current vnet; the real ones
 * dereference it, these panic saying so.  pfil_remove_hook() must run
 * in the vnet the hook was added in (it only unlinks from that vnet's
 * heads).  Links are freed through epoch_call(): a hook's code may run
 * until the next epoch wait.
 *
 * Every run of a hook is checked against the contract: entered in the
 * network epoch with a live chain; PFIL_DROPPED/PFIL_CONSUMED leave *mp
 * NULL, PFIL_PASS leaves a live chain nobody else was given,
 * PFIL_REALLOCED a new one; the hook returns holding the locks and vnet
 * it was called with.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/lock.h>
#include <sys/proc.h>
#include <sys/epoch.h>
#include <sys/socket.h>
#include <sys/ck.h>
#include <net/if.h>
#include <net/if_var.h>
#include <net/ethernet.h>
#include <net/pfil.h>
#include <net/vnet.h>

#include "kh_kern.h"

struct pfil_hook {
	LIST_ENTRY(pfil_hook)	 hook_list;
	pfil_mbuf_chk_t		 hook_mbuf_chk;
	void			*hook_ruleset;
	int			 hook_flags;
	int			 hook_links;
	enum pfil_types		 hook_type;
	const char		*hook_modname;
	const char		*hook_rulname;
	struct vnet		*hook_vnet;
};

struct pfil_link {
	CK_STAILQ_ENTRY(pfil_link) link_chain;
	pfil_mbuf_chk_t		 link_mbuf_chk;
	void			*link_ruleset;
	struct pfil_hook	*link_hook;
	struct epoch_context	 link_epoch_ctx;
};

struct pfil_head {
	int			 head_nhooksin;	/* _pfil_head's layout */
	int			 head_nhooksout;
	CK_STAILQ_HEAD(, pfil_link) head_in;
	LIST_ENTRY(pfil_head)	 head_list;
	enum pfil_types		 head_type;
	int			 head_flags;
	const char		*head_name;
};

LIST_HEAD(pfil_hooklist, pfil_hook);
LIST_HEAD(pfil_headlist, pfil_head);
VNET_DEFINE_STATIC(struct pfil_hooklist, pfil_hook_list);
#define	V_pfil_hook_list	VNET(pfil_hook_list)
VNET_DEFINE_STATIC(struct pfil_headlist, pfil_head_list);
#define	V_pfil_head_list	VNET(pfil_head_list)
VNET_DEFINE(struct pfil_head *, link_pfil_head);

static struct mtx pfil_lock;
static struct malloc_type kh_m_pfil[1] = {{ .ks_shortdesc = "pfil" }};
static int kh_nhooks, kh_nlinks;

#define	KH_NEED_VNET(what)						\
	do {								\
		if (curvnet == NULL)					\
			kh_panic("%s: curvnet is NULL (no CURVNET_SET): "	\
			    "the real one dereferences it for %s", __func__, \
			    (what));					\
	} while (0)

void
kh_pfil_init(void)
{
	kh_internal_mtx_init(&pfil_lock, "pfil");
	malloc_init(kh_m_pfil);
}

/* Per vnet, at its creation (curvnet set): the ethernet head. */
void
kh_pfil_vnet_init(void)
{
	struct pfil_head *h;

	LIST_INIT(&V_pfil_hook_list);
	LIST_INIT(&V_pfil_head_list);
	h = malloc(sizeof(*h), kh_m_pfil, M_WAITOK | M_ZERO);
	CK_STAILQ_INIT(&h->head_in);
	h->head_type = PFIL_TYPE_ETHERNET;
	h->head_flags = PFIL_IN | PFIL_OUT;
	h->head_name = "ethernet";
	LIST_INSERT_HEAD(&V_pfil_head_list, h, head_list);
	V_link_pfil_head = h;
}

pfil_hook_t
pfil_add_hook(struct pfil_hook_args *pa)
{
	struct pfil_hook *hook, *list;

	MPASS(pa->pa_version == PFIL_VERSION);
	kh_may_sleep("pfil_add_hook", NULL);
	hook = malloc(sizeof(*hook), kh_m_pfil, M_WAITOK | M_ZERO);
	hook->hook_mbuf_chk = pa->pa_mbuf_chk;
	hook->hook_ruleset = pa->pa_ruleset;
	hook->hook_flags = pa->pa_flags;
	hook->hook_type = pa->pa_type;
	hook->hook_modname = pa->pa_modname;
	hook->hook_rulname = pa->pa_rulname;
	mtx_lock(&pfil_lock);
	KH_NEED_VNET("V_pfil_hook_list");
	hook->hook_vnet = curvnet;
	LIST_FOREACH(list, &V_pfil_hook_list, hook_list)
		if (strcmp(pa->pa_modname, list->hook_modname) == 0 &&
		    strcmp(pa->pa_rulname, list->hook_rulname) == 0) {
			mtx_unlock(&pfil_lock);
			free(hook, kh_m_pfil);
			return (NULL);
		}
	LIST_INSERT_HEAD(&V_pfil_hook_list, hook, hook_list);
	kh_nhooks++;
	mtx_unlock(&pfil_lock);
	return (hook);
}

static void
pfil_link_free(epoch_context_t ctx)
{
	struct pfil_link *link;

	link = __containerof(ctx, struct pfil_link, link_epoch_ctx);
	free(link, kh_m_pfil);
	kh_h_lock(kh_giant);
	kh_nlinks--;
	kh_h_unlock(kh_giant);
}

int
pfil_link(struct pfil_link_args *pa)
{
	struct pfil_link *in = NULL, *link;
	struct pfil_head *head;
	struct pfil_hook *hook;
	int error;

	MPASS(pa->pa_version == PFIL_VERSION);
	if ((pa->pa_flags & PFIL_OUT) != 0 || (pa->pa_flags & PFIL_UNLINK))
		kh_panic("pfil_link: only linking inbound is modelled");
	if (kh_fault_hit("pfil_link", &error))
		return (error);
	if ((pa->pa_flags & PFIL_IN) != 0)
		in = malloc(sizeof(*in), kh_m_pfil, M_WAITOK | M_ZERO);
	mtx_lock(&pfil_lock);
	if ((pa->pa_flags & PFIL_HEADPTR) != 0)
		head = pa->pa_head;
	else {
		KH_NEED_VNET("V_pfil_head_list");
		LIST_FOREACH(head, &V_pfil_head_list, head_list)
			if (strcmp(pa->pa_headname, head->head_name) == 0)
				break;
	}
	if ((pa->pa_flags & PFIL_HOOKPTR) != 0)
		hook = pa->pa_hook;
	else {
		KH_NEED_VNET("V_pfil_hook_list");
		LIST_FOREACH(hook, &V_pfil_hook_list, hook_list)
			if (strcmp(pa->pa_modname, hook->hook_modname) == 0 &&
			    strcmp(pa->pa_rulname, hook->hook_rulname) == 0)
				break;
	}
	if (head == NULL || hook == NULL) {
		error = ENOENT;
		goto fail;
	}
	if (head->head_type != hook->hook_type ||
	    ((hook->hook_flags & pa->pa_flags) & ~head->head_flags) != 0) {
		error = EINVAL;
		goto fail;
	}
	CK_STAILQ_FOREACH(link, &head->head_in, link_chain)
		if (link->link_hook == hook) {
			error = EEXIST;
			goto fail;
		}
	if (in != NULL) {
		in->link_hook = hook;
		in->link_mbuf_chk = hook->hook_mbuf_chk;
		in->link_ruleset = hook->hook_ruleset;
		CK_STAILQ_INSERT_HEAD(&head->head_in, in, link_chain);
		hook->hook_links++;
		head->head_nhooksin++;
		kh_h_lock(kh_giant);
		kh_nlinks++;
		kh_h_unlock(kh_giant);
	}
	mtx_unlock(&pfil_lock);
	return (0);
fail:
	mtx_unlock(&pfil_lock);
	free(in, kh_m_pfil);
	return (error);
}

void
pfil_remove_hook(pfil_hook_t hook)
{
	struct pfil_head *head;
	struct pfil_link *link, *tmp;

	mtx_lock(&pfil_lock);
	KH_NEED_VNET("V_pfil_head_list");
	if (hook->hook_vnet != curvnet)
		kh_panic("pfil_remove_hook: hook \"%s\" was added in vnet %p, "
		    "removed in %p: its links there would stay", hook->hook_modname,
		    hook->hook_vnet, curvnet);
	LIST_FOREACH(head, &V_pfil_head_list, head_list)
		CK_STAILQ_FOREACH_SAFE(link, &head->head_in, link_chain, tmp)
			if (link->link_hook == hook) {
				CK_STAILQ_REMOVE(&head->head_in, link,
				    pfil_link, link_chain);
				head->head_nhooksin--;
				hook->hook_links--;
				NET_EPOCH_CALL(pfil_link_free,
				    &link->link_epoch_ctx);
			}
	LIST_REMOVE(hook, hook_list);
	MPASS(hook->hook_links == 0);
	kh_nhooks--;
	mtx_unlock(&pfil_lock);
	free(hook, kh_m_pfil);
}

int
kh_pfil_live(void)
{
	int n;

	kh_h_lock(kh_giant);
	n = kh_nlinks;
	kh_h_unlock(kh_giant);
	return (n + kh_nhooks);
}

static void
kh_pfil_check(struct pfil_link *link, pfil_return_t rv, struct mbuf *orig,
    struct mbuf *m, int nheld, struct vnet *vnet)
{
	const char *name = link->link_hook->hook_modname;
	struct kh_thread *kt = kh_curthread();

	if (kt->kt_nheld != nheld)
		kh_panic("pfil hook %s returned holding %d lock(s), called "
		    "with %d", name, kt->kt_nheld, nheld);
	if (curvnet != vnet)
		kh_panic("pfil hook %s changed curvnet", name);
	if (!kh_in_net_epoch())
		kh_panic("pfil hook %s left the network epoch", name);
	switch (rv) {
	case PFIL_DROPPED:
	case PFIL_CONSUMED:
		if (m != NULL)
			kh_panic("pfil hook %s returned %s but left *mp "
			    "set", name, rv == PFIL_DROPPED ? "PFIL_DROPPED" :
			    "PFIL_CONSUMED");
		break;
	case PFIL_PASS:
		if (m == NULL)
			kh_panic("pfil hook %s returned PFIL_PASS with *mp "
			    "NULL", name);
		kh_mbuf_check(m, "pfil hook returned PFIL_PASS");
		if (m != orig)
			kh_panic("pfil hook %s replaced the mbuf but returned "
			    "PFIL_PASS, not PFIL_REALLOCED", name);
		break;
	case PFIL_REALLOCED:
		if (m == NULL || m == orig)
			kh_panic("pfil hook %s returned PFIL_REALLOCED "
			    "without a new mbuf", name);
		kh_mbuf_check(m, "pfil hook returned PFIL_REALLOCED");
		break;
	default:
		kh_panic("pfil hook %s returned %d", name, (int)rv);
	}
}

int
pfil_mbuf_in(struct pfil_head *head, struct mbuf **mp, struct ifnet *ifp,
    struct inpcb *inp)
{
	struct kh_thread *kt = kh_curthread();
	struct pfil_link *link;
	pfil_return_t rv = PFIL_PASS;
	struct vnet *vnet = curvnet;
	int nheld = kt->kt_nheld;
	struct mbuf *orig;

	NET_EPOCH_ASSERT();
	CK_STAILQ_FOREACH(link, &head->head_in, link_chain) {
		orig = *mp;
		kh_mbuf_check(orig, "pfil_mbuf_in");
		rv = link->link_mbuf_chk(mp, ifp, PFIL_IN, link->link_ruleset,
		    inp);
		kh_pfil_check(link, rv, orig, *mp, nheld, vnet);
		if (rv == PFIL_DROPPED || rv == PFIL_CONSUMED)
			break;
	}
	return (rv == PFIL_REALLOCED ? PFIL_PASS : rv);
}
