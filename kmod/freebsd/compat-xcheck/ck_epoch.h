/*-
 * Cross-compile check only (see README): the ConcurrencyKit epoch types
 * <sys/epoch.h> names.  Not CK's code; never linked.
 */
#ifndef _BSDNET_XCHECK_CK_EPOCH_H_
#define _BSDNET_XCHECK_CK_EPOCH_H_

struct ck_epoch_section {
	unsigned int	bucket;
};
typedef struct ck_epoch_section ck_epoch_section_t;

struct ck_epoch_entry;
typedef void ck_epoch_cb_t(struct ck_epoch_entry *);
struct ck_epoch_entry {
	ck_epoch_cb_t		*function;
	struct ck_epoch_entry	*next;
};
typedef struct ck_epoch_entry ck_epoch_entry_t;

#endif
