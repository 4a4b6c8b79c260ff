/*-
 * ConcurrencyKit's CK_* list macros, as <sys/ck.h> offers them to the
 * kernel: <sys/queue.h>'s shapes, with the ordering CK gives them.  A
 * writer (serialized by its own lock) publishes an element with a
 * release store of the pointer that makes it reachable, after the
 * element's own link is set; readers (under epoch) load each link with
 * acquire.  Unlinking is one release store; the element stays readable
 * until the writer's epoch wait.
 *
 * Written for bsdnet from CK's documented semantics, not CK's code.
 * Used by the cross-compile check (tests/freebsd) and linked into the
 * kernel harness (tests/kernel), which runs the module's readers and
 * writers on real threads; a FreeBSD build uses sys/contrib/ck instead.
 */
#ifndef _BSDNET_XCHECK_CK_QUEUE_H_
#define _BSDNET_XCHECK_CK_QUEUE_H_

#include <sys/queue.h>

#define	CK_PR_LOAD_PTR(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define	CK_PR_STORE_PTR(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Singly-linked lists. */
#define	CK_SLIST_HEAD(name, type)	struct name { struct type *cslh_first; }
#define	CK_SLIST_HEAD_INITIALIZER(head)	{ NULL }
#define	CK_SLIST_ENTRY(type)		struct { struct type *csle_next; }
#define	CK_SLIST_FIRST(head)		CK_PR_LOAD_PTR(&(head)->cslh_first)
#define	CK_SLIST_NEXT(elm, field)	CK_PR_LOAD_PTR(&(elm)->field.csle_next)
#define	CK_SLIST_EMPTY(head)		(CK_SLIST_FIRST(head) == NULL)
#define	CK_SLIST_INIT(head)		CK_PR_STORE_PTR(&(head)->cslh_first, NULL)
#define	CK_SLIST_FOREACH(var, head, field)				\
	for ((var) = CK_SLIST_FIRST(head); (var) != NULL;		\
	    (var) = CK_SLIST_NEXT((var), field))
#define	CK_SLIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = CK_SLIST_FIRST(head);				\
	    (var) != NULL && ((tvar) = CK_SLIST_NEXT((var), field), 1); \
	    (var) = (tvar))
#define	CK_SLIST_INSERT_HEAD(head, elm, field) do {			\
	(elm)->field.csle_next = (head)->cslh_first;			\
	CK_PR_STORE_PTR(&(head)->cslh_first, (elm));			\
} while (0)
#define	CK_SLIST_REMOVE_HEAD(head, field)				\
	CK_PR_STORE_PTR(&(head)->cslh_first,				\
	    (head)->cslh_first->field.csle_next)
#define	CK_SLIST_REMOVE(head, elm, type, field) do {			\
	if ((head)->cslh_first == (elm)) {				\
		CK_SLIST_REMOVE_HEAD((head), field);			\
	} else {							\
		struct type *curelm = (head)->cslh_first;		\
		while (curelm->field.csle_next != (elm))		\
			curelm = curelm->field.csle_next;		\
		CK_PR_STORE_PTR(&curelm->field.csle_next,		\
		    (elm)->field.csle_next);				\
	}								\
} while (0)

/* Singly-linked tail queues. */
#define	CK_STAILQ_HEAD(name, type)					\
	struct name { struct type *cstqh_first; struct type **cstqh_last; }
#define	CK_STAILQ_HEAD_INITIALIZER(head) { NULL, &(head).cstqh_first }
#define	CK_STAILQ_ENTRY(type)		struct { struct type *cstqe_next; }
#define	CK_STAILQ_FIRST(head)		CK_PR_LOAD_PTR(&(head)->cstqh_first)
#define	CK_STAILQ_NEXT(elm, field)	CK_PR_LOAD_PTR(&(elm)->field.cstqe_next)
#define	CK_STAILQ_EMPTY(head)		(CK_STAILQ_FIRST(head) == NULL)
#define	CK_STAILQ_INIT(head) do {					\
	CK_PR_STORE_PTR(&(head)->cstqh_first, NULL);			\
	(head)->cstqh_last = &(head)->cstqh_first;			\
} while (0)
#define	CK_STAILQ_FOREACH(var, head, field)				\
	for ((var) = CK_STAILQ_FIRST(head); (var) != NULL;		\
	    (var) = CK_STAILQ_NEXT((var), field))
#define	CK_STAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = CK_STAILQ_FIRST(head);				\
	    (var) != NULL && ((tvar) = CK_STAILQ_NEXT((var), field), 1); \
	    (var) = (tvar))
#define	CK_STAILQ_INSERT_HEAD(head, elm, field) do {			\
	(elm)->field.cstqe_next = (head)->cstqh_first;			\
	if ((elm)->field.cstqe_next == NULL)				\
		(head)->cstqh_last = &(elm)->field.cstqe_next;		\
	CK_PR_STORE_PTR(&(head)->cstqh_first, (elm));			\
} while (0)
#define	CK_STAILQ_INSERT_TAIL(head, elm, field) do {			\
	(elm)->field.cstqe_next = NULL;					\
	CK_PR_STORE_PTR((head)->cstqh_last, (elm));			\
	(head)->cstqh_last = &(elm)->field.cstqe_next;			\
} while (0)
#define	CK_STAILQ_REMOVE_HEAD(head, field) do {				\
	CK_PR_STORE_PTR(&(head)->cstqh_first,				\
	    (head)->cstqh_first->field.cstqe_next);			\
	if ((head)->cstqh_first == NULL)				\
		(head)->cstqh_last = &(head)->cstqh_first;		\
} while (0)
#define	CK_STAILQ_REMOVE(head, elm, type, field) do {			\
	if ((head)->cstqh_first == (elm)) {				\
		CK_STAILQ_REMOVE_HEAD((head), field);			\
	} else {							\
		struct type *curelm = (head)->cstqh_first;		\
		while (curelm->field.cstqe_next != (elm))		\
			curelm = curelm->field.cstqe_next;		\
		CK_PR_STORE_PTR(&curelm->field.cstqe_next,		\
		    (elm)->field.cstqe_next);				\
		if (curelm->field.cstqe_next == NULL)			\
			(head)->cstqh_last = &curelm->field.cstqe_next;	\
	}								\
} while (0)

/* Doubly-linked lists (readers go forward only). */
#define	CK_LIST_HEAD(name, type)	struct name { struct type *clh_first; }
#define	CK_LIST_HEAD_INITIALIZER(head)	{ NULL }
#define	CK_LIST_ENTRY(type)						\
	struct { struct type *cle_next; struct type **cle_prev; }
#define	CK_LIST_FIRST(head)		CK_PR_LOAD_PTR(&(head)->clh_first)
#define	CK_LIST_NEXT(elm, field)	CK_PR_LOAD_PTR(&(elm)->field.cle_next)
#define	CK_LIST_EMPTY(head)		(CK_LIST_FIRST(head) == NULL)
#define	CK_LIST_INIT(head)		CK_PR_STORE_PTR(&(head)->clh_first, NULL)
#define	CK_LIST_FOREACH(var, head, field)				\
	for ((var) = CK_LIST_FIRST(head); (var) != NULL;		\
	    (var) = CK_LIST_NEXT((var), field))
#define	CK_LIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = CK_LIST_FIRST(head);				\
	    (var) != NULL && ((tvar) = CK_LIST_NEXT((var), field), 1);	\
	    (var) = (tvar))
#define	CK_LIST_INSERT_HEAD(head, elm, field) do {			\
	(elm)->field.cle_next = (head)->clh_first;			\
	if ((elm)->field.cle_next != NULL)				\
		(head)->clh_first->field.cle_prev =			\
		    &(elm)->field.cle_next;				\
	(elm)->field.cle_prev = &(head)->clh_first;			\
	CK_PR_STORE_PTR(&(head)->clh_first, (elm));			\
} while (0)
#define	CK_LIST_REMOVE(elm, field) do {					\
	CK_PR_STORE_PTR((elm)->field.cle_prev, (elm)->field.cle_next);	\
	if ((elm)->field.cle_next != NULL)				\
		(elm)->field.cle_next->field.cle_prev =			\
		    (elm)->field.cle_prev;				\
} while (0)

#endif
