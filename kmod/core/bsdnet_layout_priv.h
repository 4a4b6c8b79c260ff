/*-
 * Region validation, core-private: used by bsdnet_dp_init().
 */
#ifndef _BSDNET_LAYOUT_PRIV_H_
#define _BSDNET_LAYOUT_PRIV_H_

#include "bsdnet_layout.h"

int	bsdnet_region_check(const struct bsdnet_region_hdr *hdr,
	    uint64_t size, struct bsdnet_geometry *g,
	    uint64_t off[BSDNET_TBL_MAX]);

#endif /* !_BSDNET_LAYOUT_PRIV_H_ */
