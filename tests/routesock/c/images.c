/*
 * Byte images of FreeBSD routing-socket messages, written as C initialisers
 * over FreeBSD's own structs and compiled for a FreeBSD target; the tests
 * read the bytes back out of the object file and parse them.  Each image is
 * a packed struct of a header and its sockaddrs, each sockaddr padded to
 * SA_SIZE() explicitly, exactly as rtsock(4) lays them out.
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
#define MAC0 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30

/* RTM_ADD 10.1.0.0/16 via 192.0.2.1, as route(8) echoed back by the kernel */
struct img_rtm_add { struct rt_msghdr h; struct sockaddr_in dst, gw, mask; }
    __attribute__((packed));
const struct img_rtm_add bsdnet_img_rtm_add = {
	.h = { .rtm_msglen = sizeof(struct img_rtm_add),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_ADD, .rtm_index = 1,
	    .rtm_flags = RTF_UP | RTF_GATEWAY | RTF_STATIC | RTF_DONE,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK,
	    .rtm_pid = 4242, .rtm_seq = 7, .rtm_inits = RTV_MTU,
	    .rtm_rmx = { .rmx_mtu = 1500, .rmx_weight = 1 } },
	.dst = SIN(10, 1, 0, 0), .gw = SIN(192, 0, 2, 1),
	.mask = SIN(255, 255, 0, 0),
};

/* RTM_ADD default via 10.0.0.1; the netmask is a zero-length placeholder */
struct img_rtm_default { struct rt_msghdr h; struct sockaddr_in dst, gw;
    char mask[sizeof(long)]; } __attribute__((packed));
const struct img_rtm_default bsdnet_img_rtm_default = {
	.h = { .rtm_msglen = sizeof(struct img_rtm_default),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_ADD, .rtm_index = 2,
	    .rtm_flags = RTF_UP | RTF_GATEWAY | RTF_STATIC,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK, .rtm_pid = 99 },
	.dst = SIN(0, 0, 0, 0), .gw = SIN(10, 0, 0, 1), .mask = { 0 },
};

/* RTM_DELETE 172.16.0.0/12 with a radix-trimmed netmask (sa_len 6) */
struct short_mask { u_char len, family, port[2], addr[2], pad[2]; };
struct img_rtm_delete { struct rt_msghdr h; struct sockaddr_in dst, gw;
    struct short_mask mask; } __attribute__((packed));
const struct img_rtm_delete bsdnet_img_rtm_delete = {
	.h = { .rtm_msglen = sizeof(struct img_rtm_delete),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_DELETE, .rtm_index = 1,
	    .rtm_flags = RTF_UP | RTF_GATEWAY | RTF_DONE,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK, .rtm_pid = 1 },
	.dst = SIN(172, 16, 0, 0), .gw = SIN(192, 0, 2, 1),
	.mask = { .len = 6, .family = 0, .addr = { 255, 240 } },
};

/* RTM_ADD 10.0.0.0/24 on link#2: the gateway is a sockaddr_dl */
struct img_rtm_iface { struct rt_msghdr h; struct sockaddr_in dst;
    struct sockaddr_dl gw; char gwpad[2]; struct sockaddr_in mask; }
    __attribute__((packed));
const struct img_rtm_iface bsdnet_img_rtm_iface = {
	.h = { .rtm_msglen = sizeof(struct img_rtm_iface),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_ADD, .rtm_index = 2,
	    .rtm_flags = RTF_UP | RTF_DONE | RTF_PINNED,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK },
	.dst = SIN(10, 0, 0, 0),
	.gw = { .sdl_len = sizeof(struct sockaddr_dl), .sdl_family = AF_LINK,
	    .sdl_index = 2, .sdl_type = IFT_ETHER },
	.mask = SIN(255, 255, 255, 0),
};

/* RTM_ADD fd00:1::/64 via fe80::1 with the KAME scope embedded (if 2) */
struct img_rtm_inet6 { struct rt_msghdr h; struct sockaddr_in6 dst;
    char p1[4]; struct sockaddr_in6 gw; char p2[4]; struct sockaddr_in6 mask;
    char p3[4]; } __attribute__((packed));
#define SIN6(...) { .sin6_len = sizeof(struct sockaddr_in6), \
	.sin6_family = AF_INET6, .sin6_addr = { .__u6_addr = { \
	.__u6_addr8 = { __VA_ARGS__ } } } }
const struct img_rtm_inet6 bsdnet_img_rtm_inet6 = {
	.h = { .rtm_msglen = sizeof(struct img_rtm_inet6),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_ADD, .rtm_index = 2,
	    .rtm_flags = RTF_UP | RTF_GATEWAY | RTF_STATIC,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK },
	.dst = SIN6(0xfd, 0x00, 0x00, 0x01),
	.gw = SIN6(0xfe, 0x80, 0x00, 0x02, [15] = 1),
	.mask = SIN6(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
};

/* RTM_IFINFO: vtnet0 up, running, carrier up, MTU 9000 */
const struct if_msghdr bsdnet_img_ifinfo = {
	.ifm_msglen = sizeof(struct if_msghdr), .ifm_version = RTM_VERSION,
	.ifm_type = RTM_IFINFO, .ifm_index = 2,
	.ifm_flags = IFF_UP | IFF_BROADCAST | IFF_DRV_RUNNING | IFF_SIMPLEX |
	    IFF_MULTICAST,
	.ifm_data = { .ifi_type = IFT_ETHER, .ifi_addrlen = 6,
	    .ifi_hdrlen = 14, .ifi_link_state = LINK_STATE_UP,
	    .ifi_datalen = sizeof(struct if_data), .ifi_mtu = 9000,
	    .ifi_baudrate = 10000000000ULL, .ifi_ipackets = 123456789 },
};

/* RTM_IFANNOUNCE: tap7 arrives, and tap7 departs */
const struct if_announcemsghdr bsdnet_img_arrival = {
	.ifan_msglen = sizeof(struct if_announcemsghdr),
	.ifan_version = RTM_VERSION, .ifan_type = RTM_IFANNOUNCE,
	.ifan_index = 7, .ifan_name = "tap7", .ifan_what = IFAN_ARRIVAL,
};
const struct if_announcemsghdr bsdnet_img_departure = {
	.ifan_msglen = sizeof(struct if_announcemsghdr),
	.ifan_version = RTM_VERSION, .ifan_type = RTM_IFANNOUNCE,
	.ifan_index = 7, .ifan_name = "tap7", .ifan_what = IFAN_DEPARTURE,
};

/* RTM_NEWADDR 10.0.0.5/24 brd 10.0.0.255 on vtnet0: the 20-byte header
 * is followed directly by the sockaddrs, which are therefore not 8-aligned */
#define SDL_VTNET0 { .sdl_len = sizeof(struct sockaddr_dl), \
	.sdl_family = AF_LINK, .sdl_index = 2, .sdl_type = IFT_ETHER, \
	.sdl_nlen = 6, .sdl_alen = 6, \
	.sdl_data = { 'v', 't', 'n', 'e', 't', '0', MAC0 } }
struct img_newaddr { struct ifa_msghdr h; struct sockaddr_in mask;
    struct sockaddr_dl ifp; char ifppad[2]; struct sockaddr_in ifa, brd; }
    __attribute__((packed));
const struct img_newaddr bsdnet_img_newaddr = {
	.h = { .ifam_msglen = sizeof(struct img_newaddr),
	    .ifam_version = RTM_VERSION, .ifam_type = RTM_NEWADDR,
	    .ifam_addrs = RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD,
	    .ifam_index = 2, .ifam_metric = 0 },
	.mask = SIN(255, 255, 255, 0), .ifp = SDL_VTNET0,
	.ifa = SIN(10, 0, 0, 5), .brd = SIN(10, 0, 0, 255),
};

/* RTM_NEWMADDR 224.0.0.1 on vtnet0 (RTAX order: IFP before IFA) */
struct img_newmaddr { struct ifma_msghdr h; struct sockaddr_dl ifp;
    char ifppad[2]; struct sockaddr_in ifa; } __attribute__((packed));
const struct img_newmaddr bsdnet_img_newmaddr = {
	.h = { .ifmam_msglen = sizeof(struct img_newmaddr),
	    .ifmam_version = RTM_VERSION, .ifmam_type = RTM_NEWMADDR,
	    .ifmam_addrs = RTA_IFA | RTA_IFP, .ifmam_index = 2 },
	.ifp = SDL_VTNET0, .ifa = SIN(224, 0, 0, 1),
};

/*
 * A NET_RT_IFLIST dump: lo0 and vtnet0, each an if_msghdr with its
 * sockaddr_dl, then an ifa_msghdr per address; every message's length is
 * rounded up to 8 (the ifa messages carry 4 bytes of tail padding).
 */
struct dump_if { struct if_msghdr h; struct sockaddr_dl ifp; char pad[2]; }
    __attribute__((packed));
struct dump_ifa4 { struct ifa_msghdr h; struct sockaddr_in mask;
    struct sockaddr_dl ifp; char ifppad[2]; struct sockaddr_in ifa, brd;
    char tail[4]; } __attribute__((packed));
struct dump_ifa6 { struct ifa_msghdr h; struct sockaddr_in6 mask; char p1[4];
    struct sockaddr_dl ifp; char ifppad[2]; struct sockaddr_in6 ifa;
    char p2[4]; char tail[4]; } __attribute__((packed));
struct img_iflist { struct dump_if lo; struct dump_ifa4 lo_a;
    struct dump_if vt; struct dump_ifa4 vt_a; struct dump_ifa6 vt_a6; }
    __attribute__((packed));
const struct img_iflist bsdnet_img_iflist = {
	.lo = { .h = { .ifm_msglen = sizeof(struct dump_if),
	    .ifm_version = RTM_VERSION, .ifm_type = RTM_IFINFO,
	    .ifm_addrs = RTA_IFP, .ifm_index = 1,
	    .ifm_flags = IFF_UP | IFF_LOOPBACK | IFF_DRV_RUNNING | IFF_MULTICAST,
	    .ifm_data = { .ifi_type = IFT_LOOP, .ifi_mtu = 16384,
	    .ifi_datalen = sizeof(struct if_data) } },
	    .ifp = { .sdl_len = sizeof(struct sockaddr_dl),
	    .sdl_family = AF_LINK, .sdl_index = 1, .sdl_type = IFT_LOOP,
	    .sdl_nlen = 3, .sdl_data = "lo0" } },
	.lo_a = { .h = { .ifam_msglen = sizeof(struct dump_ifa4),
	    .ifam_version = RTM_VERSION, .ifam_type = RTM_NEWADDR,
	    .ifam_addrs = RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD,
	    .ifam_index = 1 },
	    .mask = SIN(255, 0, 0, 0),
	    .ifp = { .sdl_len = sizeof(struct sockaddr_dl),
	    .sdl_family = AF_LINK, .sdl_index = 1, .sdl_type = IFT_LOOP,
	    .sdl_nlen = 3, .sdl_data = "lo0" },
	    .ifa = SIN(127, 0, 0, 1), .brd = SIN(127, 0, 0, 1) },
	.vt = { .h = { .ifm_msglen = sizeof(struct dump_if),
	    .ifm_version = RTM_VERSION, .ifm_type = RTM_IFINFO,
	    .ifm_addrs = RTA_IFP, .ifm_index = 2,
	    .ifm_flags = IFF_UP | IFF_BROADCAST | IFF_MULTICAST,
	    .ifm_data = { .ifi_type = IFT_ETHER, .ifi_mtu = 1500,
	    .ifi_link_state = LINK_STATE_DOWN,
	    .ifi_datalen = sizeof(struct if_data) } },
	    .ifp = SDL_VTNET0 },
	.vt_a = { .h = { .ifam_msglen = sizeof(struct dump_ifa4),
	    .ifam_version = RTM_VERSION, .ifam_type = RTM_NEWADDR,
	    .ifam_addrs = RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD,
	    .ifam_index = 2 },
	    .mask = SIN(255, 255, 255, 0), .ifp = SDL_VTNET0,
	    .ifa = SIN(10, 0, 0, 5), .brd = SIN(10, 0, 0, 255) },
	.vt_a6 = { .h = { .ifam_msglen = sizeof(struct dump_ifa6),
	    .ifam_version = RTM_VERSION, .ifam_type = RTM_NEWADDR,
	    .ifam_addrs = RTA_NETMASK | RTA_IFP | RTA_IFA, .ifam_index = 2 },
	    .mask = SIN6(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	    .ifp = SDL_VTNET0,
	    .ifa = { .sin6_len = sizeof(struct sockaddr_in6),
	    .sin6_family = AF_INET6, .sin6_scope_id = 2,
	    .sin6_addr = { .__u6_addr = { .__u6_addr8 = { 0xfe, 0x80,
	    [8] = 0x00, 0x00, 0x5e, 0xff, 0xfe, 0x10, 0x20, 0x30 } } } } },
};

/* A NET_RT_DUMP: RTM_GET messages for the default route and the subnet */
struct dump_rt { struct rt_msghdr h; struct sockaddr_in dst, gw, mask; }
    __attribute__((packed));
struct dump_rt_if { struct rt_msghdr h; struct sockaddr_in dst;
    struct sockaddr_dl gw; char gwpad[2]; struct sockaddr_in mask; }
    __attribute__((packed));
struct img_rtdump { struct dump_rt dflt; struct dump_rt_if net; }
    __attribute__((packed));
const struct img_rtdump bsdnet_img_rtdump = {
	.dflt = { .h = { .rtm_msglen = sizeof(struct dump_rt),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_GET, .rtm_index = 2,
	    .rtm_flags = RTF_UP | RTF_GATEWAY | RTF_STATIC | RTF_DONE,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK },
	    .dst = SIN(0, 0, 0, 0), .gw = SIN(10, 0, 0, 1),
	    .mask = SIN(0, 0, 0, 0) },
	.net = { .h = { .rtm_msglen = sizeof(struct dump_rt_if),
	    .rtm_version = RTM_VERSION, .rtm_type = RTM_GET, .rtm_index = 2,
	    .rtm_flags = RTF_UP | RTF_DONE | RTF_PINNED,
	    .rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK },
	    .dst = SIN(10, 0, 0, 0),
	    .gw = { .sdl_len = sizeof(struct sockaddr_dl),
	    .sdl_family = AF_LINK, .sdl_index = 2, .sdl_type = IFT_ETHER },
	    .mask = SIN(255, 255, 255, 0) },
};

/* rtsock's layout rules, checked where the images are made */
_Static_assert(sizeof(struct img_newaddr) == 20 + 16 + 56 + 16 + 16, "ifa");
_Static_assert(sizeof(struct dump_ifa4) % 8 == 0, "dump rounding");
_Static_assert(sizeof(struct dump_ifa6) % 8 == 0, "dump rounding");
_Static_assert(sizeof(struct dump_if) % 8 == 0, "dump rounding");
_Static_assert(sizeof(struct img_rtm_inet6) == 152 + 3 * 32, "SA_SIZE in6");
