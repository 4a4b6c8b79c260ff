/*
 * Byte images of FreeBSD's link-layer (ARP) entries as the routing socket
 * carries them, written as C initialisers over FreeBSD's own structs and
 * compiled for a FreeBSD target (see tests/routesock/c/images.c).
 *
 * The ARP dump (sysctl {CTL_NET, PF_ROUTE, 0, AF_INET, NET_RT_FLAGS,
 * RTF_LLINFO}) is one struct per entry, exactly in_lltable_dump_entry()'s:
 * rt_msghdr, sockaddr_in, sockaddr_dl, unpadded, msglen = sizeof (with
 * the struct's tail padding).  lltable events on the socket are built by
 * rt_missmsg_fib(): DST and GATEWAY padded to SA_SIZE(), rtm_index 0 (the
 * interface is the sockaddr_dl's), RTF_LLDATA set.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_dl.h>
#include <net/if_types.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stddef.h>

#define IN4(a, b, c, d) { .s_addr = __builtin_bswap32( \
	((a) << 24) | ((b) << 16) | ((c) << 8) | (d)) }
#define SIN(a, b, c, d) { .sin_len = sizeof(struct sockaddr_in), \
	.sin_family = AF_INET, .sin_addr = IN4(a, b, c, d) }
#define SDL(idx, alen, ...) { .sdl_len = sizeof(struct sockaddr_dl), \
	.sdl_family = AF_LINK, .sdl_index = (idx), .sdl_type = IFT_ETHER, \
	.sdl_alen = (alen), .sdl_data = { __VA_ARGS__ } }

/* in_lltable_dump_entry()'s message */
struct arpc { struct rt_msghdr rtm; struct sockaddr_in sin;
    struct sockaddr_dl sdl; };
#define ARPC(flags, ...) { .rtm = { .rtm_msglen = sizeof(struct arpc), \
	.rtm_version = RTM_VERSION, .rtm_type = RTM_GET, .rtm_index = 2, \
	.rtm_flags = RTF_UP | RTF_HOST | RTF_LLDATA | (flags), \
	.rtm_addrs = RTA_DST | RTA_GATEWAY }, __VA_ARGS__ }

/* The ARP table of vtnet0 (index 2): the gateway 10.0.0.1, resolved; a
 * peer 10.0.0.9 being resolved (no LLE_VALID: sdl_alen 0); a static entry
 * for 10.0.0.7 (arp -s) */
const struct arpc bsdnet_img_arpdump[3] = {
	ARPC(0, .sin = SIN(10, 0, 0, 1),
	    .sdl = SDL(2, 6, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01)),
	ARPC(0, .sin = SIN(10, 0, 0, 9), .sdl = SDL(2, 0)),
	ARPC(RTF_STATIC, .sin = SIN(10, 0, 0, 7),
	    .sdl = SDL(2, 6, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x07)),
};

/* rt_missmsg_fib()'s lltable event */
struct lle_msg { struct rt_msghdr h; struct sockaddr_in dst;
    struct sockaddr_dl gw; char gwpad[2]; } __attribute__((packed));

/* LLENTRY_RESOLVED: 10.0.0.1 now at 02:00:5e:00:00:02 */
const struct lle_msg bsdnet_img_lle_add = {
	.h = { .rtm_msglen = sizeof(struct lle_msg),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_ADD,
	    .rtm_flags = RTF_DONE | RTF_HOST | RTF_LLDATA | RTF_UP,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY },
	.dst = SIN(10, 0, 0, 1),
	.gw = SDL(2, 6, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x02),
};

/* LLENTRY_EXPIRED: 10.0.0.1 gone (sdl_alen set, no address copied) */
const struct lle_msg bsdnet_img_lle_delete = {
	.h = { .rtm_msglen = sizeof(struct lle_msg),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_DELETE,
	    .rtm_flags = RTF_DONE | RTF_HOST | RTF_LLDATA,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY },
	.dst = SIN(10, 0, 0, 1), .gw = SDL(2, 6),
};

_Static_assert(sizeof(struct arpc) % sizeof(long) == 0, "dump rounding");
_Static_assert(sizeof(struct lle_msg) == sizeof(struct rt_msghdr) + 16 +
    56, "SA_SIZE(sockaddr_dl)");
_Static_assert(RTF_LLINFO == RTF_LLDATA, "one bit, two names");
