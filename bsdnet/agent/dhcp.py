"""DHCP server for trapped frames: Ethernet frame in, Ethernet frame out.

The datapath traps a VM's DHCP frames to the agent (struct bsdnet_trap_hdr
then the frame); the agent calls handle(frame, port, network) and, when it
returns bytes, sends them back on the trap vif with BSDNET_CTL_XMIT.  The
server is stateless about addresses: a port has one IPv4 address, set
through the port API, and that is the only one ever offered or acked to
its MAC.  What it keeps (DhcpServer.leases) is for introspection and for
RELEASE/DECLINE logging only.

Roadmap:
  parse_frame()     Ethernet (one 802.1Q tag allowed), IPv4, UDP, BOOTP,
                    options; anything malformed -> DhcpParseError
  DhcpServer.handle()  message type -> _discover/_request/_inform/...
  _reply()          BOOTP reply + options, destination per RFC 2131 4.1
  build_frame()     UDP/IPv4/Ethernet with checksums

Options sent: 53 type, 54 server identifier, 51 lease, 58/59 T1/T2, 1 mask,
28 broadcast, 3 router, 6 DNS, 15 domain, 12 host name, 26 MTU, and 121
(RFC 3442) when the subnet has host routes; 121 then carries the default
route as well, since a client that gets 121 ignores option 3.  Options
longer than 255 bytes are split as RFC 3396 says.

Errors never escape: a malformed or unexpected packet logs and returns
None.
"""
from __future__ import annotations

import ipaddress
import logging
import re
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

# Message types (option 53).
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
MSG_NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE",
             5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}

# Option codes.
OPT_PAD, OPT_END = 0, 255
OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN = 1, 3, 6, 12, 15
OPT_MTU, OPT_BROADCAST = 26, 28
OPT_REQUESTED_IP, OPT_LEASE, OPT_OVERLOAD, OPT_MSG_TYPE = 50, 51, 52, 53
OPT_SERVER_ID, OPT_PRL, OPT_MESSAGE, OPT_MAX_SIZE = 54, 55, 56, 57
OPT_T1, OPT_T2, OPT_CLIENT_ID = 58, 59, 61
OPT_CLASSLESS_ROUTES = 121

MAGIC = b"\x63\x82\x53\x63"
BOOTREQUEST, BOOTREPLY = 1, 2
FLAG_BROADCAST = 0x8000
SERVER_PORT, CLIENT_PORT = 67, 68
ETH_P_IP, ETH_P_8021Q = 0x0800, 0x8100
BROADCAST_MAC = b"\xff" * 6
# vRouter answers from this MAC too (the VRRP-style virtual router MAC).
DEFAULT_SERVER_MAC = "00:00:5e:00:01:00"
DEFAULT_LEASE = 86400
MIN_MESSAGE = 576       # RFC 2131: every client accepts this much

_BOOTP = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")   # 236 bytes


class DhcpParseError(ValueError):
    pass


@dataclass
class Request:
    """A parsed client message and what is needed to answer it."""
    src_mac: bytes
    vlan: int | None
    op: int
    xid: int
    secs: int
    flags: int
    ciaddr: bytes
    giaddr: bytes
    chaddr: bytes           # 6 bytes
    chaddr16: bytes         # as sent, to echo back
    options: dict[int, bytes]

    @property
    def msg_type(self) -> int:
        v = self.options.get(OPT_MSG_TYPE, b"")
        return v[0] if len(v) == 1 else 0


def parse_options(data: bytes) -> dict[int, bytes]:
    """Options as code -> value; repeated codes concatenate (RFC 3396)."""
    opts: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            return opts
        if i + 1 >= len(data):
            raise DhcpParseError("option header cut short")
        n = data[i + 1]
        if i + 2 + n > len(data):
            raise DhcpParseError(f"option {code} runs past the packet")
        opts[code] = opts.get(code, b"") + data[i + 2:i + 2 + n]
        i += 2 + n
    raise DhcpParseError("options without an END option")


def parse_frame(frame: bytes) -> Request:
    """Parse an Ethernet frame carrying a BOOTP request to port 67."""
    if len(frame) < 14:
        raise DhcpParseError("frame shorter than an Ethernet header")
    src_mac = frame[6:12]
    etype, off, vlan = struct.unpack_from("!H", frame, 12)[0], 14, None
    if etype == ETH_P_8021Q:
        if len(frame) < 18:
            raise DhcpParseError("VLAN tag cut short")
        vlan = struct.unpack_from("!H", frame, 14)[0] & 0x0fff
        etype = struct.unpack_from("!H", frame, 16)[0]
        off = 18
    if etype != ETH_P_IP:
        raise DhcpParseError(f"ethertype {etype:#06x} is not IPv4")
    if len(frame) < off + 20:
        raise DhcpParseError("IPv4 header cut short")
    vihl = frame[off]
    ihl = (vihl & 0x0f) * 4
    if vihl >> 4 != 4 or ihl < 20:
        raise DhcpParseError("not a valid IPv4 header")
    total = struct.unpack_from("!H", frame, off + 2)[0]
    frag = struct.unpack_from("!H", frame, off + 6)[0]
    if frag & 0x3fff:
        raise DhcpParseError("fragmented IPv4")
    if frame[off + 9] != 17:
        raise DhcpParseError("not UDP")
    if total < ihl + 8 or off + total > len(frame):
        raise DhcpParseError("IPv4 total length inconsistent with frame")
    udp = off + ihl
    sport, dport, ulen = struct.unpack_from("!HHH", frame, udp)
    if dport != SERVER_PORT:
        raise DhcpParseError(f"UDP port {dport} is not 67")
    if ulen < 8 or udp + ulen > off + total:
        raise DhcpParseError("UDP length inconsistent")
    payload = frame[udp + 8:udp + ulen]
    if len(payload) < _BOOTP.size + 4:
        raise DhcpParseError("BOOTP message too short")
    (op, htype, hlen, _hops, xid, secs, flags, ciaddr, _yiaddr, _siaddr,
     giaddr, chaddr, _sname, _file) = _BOOTP.unpack_from(payload)
    if op != BOOTREQUEST:
        raise DhcpParseError(f"BOOTP op {op} is not a request")
    if htype != 1 or hlen != 6:
        raise DhcpParseError(f"hardware type {htype}/{hlen} not Ethernet")
    if payload[_BOOTP.size:_BOOTP.size + 4] != MAGIC:
        raise DhcpParseError("no DHCP magic cookie (plain BOOTP)")
    opts = parse_options(payload[_BOOTP.size + 4:])
    if OPT_OVERLOAD in opts:
        # Clients do not overload requests in practice; refuse, not guess.
        raise DhcpParseError("option overload (52) in a request")
    return Request(src_mac=src_mac, vlan=vlan, op=op, xid=xid, secs=secs,
                   flags=flags, ciaddr=ciaddr, giaddr=giaddr,
                   chaddr=chaddr[:6], chaddr16=chaddr, options=opts)


# -- building ----------------------------------------------------------------

def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def build_frame(dst_mac: bytes, src_mac: bytes, src_ip: bytes,
                dst_ip: bytes, payload: bytes, vlan: int | None = None,
                sport: int = SERVER_PORT, dport: int = CLIENT_PORT) -> bytes:
    """Ethernet + IPv4 + UDP around payload, checksums filled."""
    ulen = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = _csum(pseudo + udp) or 0xffff       # 0 means "no checksum"
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + ulen, 0, 0, 64, 17,
                     0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    eth = dst_mac + src_mac
    if vlan is not None:
        eth += struct.pack("!HH", ETH_P_8021Q, vlan)
    return eth + struct.pack("!H", ETH_P_IP) + ip + udp


def encode_option(code: int, value: bytes) -> bytes:
    """One option, split into 255-byte pieces if longer (RFC 3396)."""
    out = b""
    for i in range(0, max(len(value), 1), 255):
        chunk = value[i:i + 255]
        out += bytes((code, len(chunk))) + chunk
    return out


def encode_classless_routes(routes: list[tuple[str, str]]) -> bytes:
    """RFC 3442: per route, width, significant octets, router."""
    out = b""
    for dst, gw in routes:
        net = ipaddress.IPv4Network(dst)
        n = (net.prefixlen + 7) // 8
        out += bytes((net.prefixlen,)) + net.network_address.packed[:n] + \
            ipaddress.IPv4Address(gw).packed
    return out


def hostname_for(port: Any) -> str:
    """A valid host name (RFC 1123 label) from the port's display name,
    or host-a-b-c-d from its address, as Neutron's DHCP does."""
    name = re.sub(r"[^a-z0-9-]+", "-", str(port.display_name).lower())
    name = name.strip("-")[:63].strip("-")
    return name or "host-" + port.ip_address.replace(".", "-")


def _ip(s: str) -> bytes:
    return ipaddress.IPv4Address(s).packed


@dataclass
class Lease:
    mac: str
    ip: str
    expires: float
    state: str              # offered, bound, released, declined


class DhcpServer:
    """Answers one node's VMs.  Thread-safe; holds only a lease log."""

    def __init__(self, server_mac: str | bytes = DEFAULT_SERVER_MAC,
                 lease_time: int = DEFAULT_LEASE) -> None:
        # The daemon passes the region's rh_router_mac, so DHCP answers
        # come from the MAC the datapath's ARP proxy gives the gateway.
        if isinstance(server_mac, str):
            server_mac = bytes.fromhex(server_mac.replace(":", ""))
        if len(server_mac) != 6:
            raise ValueError("server_mac must be 6 bytes")
        self.server_mac = bytes(server_mac)
        if not 60 <= lease_time <= 0x7fffffff:
            raise ValueError("lease_time must be at least 60 seconds")
        self.lease_time = lease_time
        self.leases: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {}

    def _count(self, what: str) -> None:
        with self._lock:
            self.counters[what] = self.counters.get(what, 0) + 1

    def _note(self, port: Any, state: str, lease: int) -> None:
        with self._lock:
            self.leases[port.id] = Lease(port.mac_address, port.ip_address,
                                         time.time() + lease, state)

    # -- entry point -------------------------------------------------------
    def handle(self, frame: bytes, port: Any, network: Any) -> bytes | None:
        """The reply frame to send back to port, or None."""
        try:
            req = parse_frame(frame)
        except (DhcpParseError, struct.error) as e:
            self._count("malformed")
            LOG.info("DHCP from port %s dropped: %s",
                     getattr(port, "id", "?"), e)
            return None
        try:
            return self._dispatch(req, port, network)
        except Exception:      # never let a packet take the agent down
            self._count("errors")
            LOG.exception("DHCP %s from port %s failed",
                          MSG_NAMES.get(req.msg_type, "?"),
                          getattr(port, "id", "?"))
            return None

    def _dispatch(self, req: Request, port: Any, network: Any
                  ) -> bytes | None:
        mt = req.msg_type
        name = MSG_NAMES.get(mt)
        if name is None or mt in (OFFER, ACK, NAK):
            self._count("malformed")
            LOG.info("DHCP message type %d from port %s ignored", mt,
                     port.id)
            return None
        self._count(name.lower())
        mac = bytes.fromhex(port.mac_address.replace(":", ""))
        if req.chaddr != mac:
            # Answering for another MAC would help a VM spoof its way to
            # someone else's address.
            LOG.warning("DHCP %s from port %s for chaddr %s, not its MAC %s",
                        name, port.id, req.chaddr.hex(":"), port.mac_address)
            return None
        if req.giaddr != bytes(4):
            LOG.info("DHCP %s from port %s through relay %s ignored: "
                     "the server answers its own ports only", name, port.id,
                     ipaddress.IPv4Address(req.giaddr))
            return None
        subnet = None
        if getattr(port, "has_ip", True) and port.ip_address != "0.0.0.0":
            subnet = network.subnet_of(port.ip_address)
        if subnet is None or not subnet.dhcp:
            LOG.info("DHCP %s from port %s: no DHCP-enabled subnet holds "
                     "%s", name, port.id, port.ip_address)
            return None
        handler = {DISCOVER: self._discover, REQUEST: self._request,
                   INFORM: self._inform, RELEASE: self._release,
                   DECLINE: self._decline}[mt]
        return handler(req, port, network, subnet)

    # -- message handlers --------------------------------------------------
    def server_id(self, subnet: Any) -> str:
        """The gateway (the address VMs already send to), else the
        subnet's first host address."""
        if subnet.gateway:
            return subnet.gateway
        return str(next(subnet.network.hosts()))

    def _discover(self, req: Request, port: Any, network: Any,
                  subnet: Any) -> bytes:
        self._note(port, "offered", self.lease_time)
        return self._reply(req, OFFER, port, network, subnet)

    def _request(self, req: Request, port: Any, network: Any,
                 subnet: Any) -> bytes | None:
        sid = req.options.get(OPT_SERVER_ID)
        want = req.options.get(OPT_REQUESTED_IP)
        mine = _ip(port.ip_address)
        if sid is not None:
            # SELECTING: the client picked a server; if not us, stand down.
            if sid != _ip(self.server_id(subnet)):
                LOG.info("port %s chose server %s", port.id,
                         ipaddress.IPv4Address(sid[:4]) if len(sid) == 4
                         else sid.hex())
                return None
            if want != mine:
                return self._nak(req, port, subnet, "requested address is "
                                 "not this port's")
        elif want is not None:
            # INIT-REBOOT: the client checks a remembered address.
            if want != mine:
                return self._nak(req, port, subnet,
                                 "address not valid for this port")
        else:
            # RENEWING (unicast) or REBINDING (broadcast): ciaddr is it.
            if req.ciaddr != mine:
                return self._nak(req, port, subnet,
                                 "address not valid for this port")
        self._note(port, "bound", self.lease_time)
        return self._reply(req, ACK, port, network, subnet)

    def _inform(self, req: Request, port: Any, network: Any,
                subnet: Any) -> bytes | None:
        if req.ciaddr == bytes(4):
            LOG.info("DHCPINFORM from port %s without ciaddr", port.id)
            return None
        return self._reply(req, ACK, port, network, subnet, inform=True)

    def _release(self, req: Request, port: Any, network: Any,
                 subnet: Any) -> None:
        LOG.info("port %s released %s", port.id,
                 ipaddress.IPv4Address(req.ciaddr))
        self._note(port, "released", 0)
        return None

    def _decline(self, req: Request, port: Any, network: Any,
                 subnet: Any) -> None:
        # The address is the port's by configuration: something else on
        # the network is using it.  Nothing to hand out instead; tell the
        # operator.
        LOG.warning("port %s declined %s: address in use by another host?",
                    port.id, port.ip_address)
        self._note(port, "declined", 0)
        return None

    def _nak(self, req: Request, port: Any, subnet: Any,
             why: str) -> bytes:
        LOG.info("DHCPNAK to port %s: %s", port.id, why)
        self._count("nak_sent")
        opts = (encode_option(OPT_MSG_TYPE, bytes((NAK,))) +
                encode_option(OPT_SERVER_ID, _ip(self.server_id(subnet))) +
                encode_option(OPT_MESSAGE, why.encode()))
        bootp = self._bootp(req, b"\0" * 4, b"\0" * 4, opts)
        # RFC 2131 4.1: with giaddr 0 a NAK is always broadcast.
        return build_frame(BROADCAST_MAC, self.server_mac,
                           _ip(self.server_id(subnet)), b"\xff" * 4, bootp,
                           req.vlan)

    # -- replies -----------------------------------------------------------
    def _bootp(self, req: Request, ciaddr: bytes, yiaddr: bytes,
               opts: bytes) -> bytes:
        hdr = _BOOTP.pack(BOOTREPLY, 1, 6, 0, req.xid, 0, req.flags, ciaddr,
                          yiaddr, b"\0" * 4, req.giaddr, req.chaddr16,
                          b"\0" * 64, b"\0" * 128)
        body = hdr + MAGIC + opts + bytes((OPT_END,))
        # Some clients (old BOOTP stacks) expect at least 300 bytes.
        return body + b"\0" * max(0, 300 - len(body))

    def options_for(self, msg: int, port: Any, network: Any, subnet: Any,
                    inform: bool = False) -> list[tuple[int, bytes]]:
        net = subnet.network
        sid = self.server_id(subnet)
        opts: list[tuple[int, bytes]] = [
            (OPT_MSG_TYPE, bytes((msg,))),
            (OPT_SERVER_ID, _ip(sid)),
        ]
        if not inform:   # RFC 2131: no lease time in an ACK to INFORM
            lt = self.lease_time
            opts += [(OPT_LEASE, struct.pack("!I", lt)),
                     (OPT_T1, struct.pack("!I", lt // 2)),
                     (OPT_T2, struct.pack("!I", lt * 7 // 8))]
        opts += [(OPT_MASK, net.netmask.packed),
                 (OPT_BROADCAST, net.broadcast_address.packed)]
        if subnet.gateway:
            opts.append((OPT_ROUTER, _ip(subnet.gateway)))
        if subnet.dns_servers:
            opts.append((OPT_DNS, b"".join(_ip(d)
                                           for d in subnet.dns_servers)))
        if getattr(network, "dns_domain", ""):
            opts.append((OPT_DOMAIN, network.dns_domain.encode()))
        opts.append((OPT_HOSTNAME, hostname_for(port).encode()))
        opts.append((OPT_MTU, struct.pack("!H", network.mtu)))
        if subnet.host_routes:
            routes = [(r.destination, r.nexthop) for r in subnet.host_routes]
            if subnet.gateway and not any(
                    ipaddress.IPv4Network(d).prefixlen == 0
                    for d, _ in routes):
                routes.append(("0.0.0.0/0", subnet.gateway))
            opts.append((OPT_CLASSLESS_ROUTES,
                         encode_classless_routes(routes)))
        return opts

    def _reply(self, req: Request, msg: int, port: Any, network: Any,
               subnet: Any, inform: bool = False) -> bytes:
        opts = self.options_for(msg, port, network, subnet, inform)
        raw = b"".join(encode_option(c, v) for c, v in opts)
        limit = MIN_MESSAGE
        ms = req.options.get(OPT_MAX_SIZE, b"")
        if len(ms) == 2:
            limit = max(MIN_MESSAGE, struct.unpack("!H", ms)[0])
        # Message size is counted from the IP header (RFC 2132 9.10).
        if 20 + 8 + _BOOTP.size + 4 + len(raw) + 1 > limit:
            LOG.warning("DHCP reply to port %s over the client's %d bytes: "
                        "leaving out the classless routes", port.id, limit)
            raw = b"".join(encode_option(c, v) for c, v in opts
                           if c != OPT_CLASSLESS_ROUTES)
        yiaddr = b"\0" * 4 if inform else _ip(port.ip_address)
        ciaddr = req.ciaddr if msg == ACK else b"\0" * 4
        bootp = self._bootp(req, ciaddr, yiaddr, raw)
        dst_mac, dst_ip = self._destination(req, port, inform)
        self._count(MSG_NAMES[msg].lower() + "_sent")
        return build_frame(dst_mac, self.server_mac,
                           _ip(self.server_id(subnet)), dst_ip, bootp,
                           req.vlan)

    @staticmethod
    def _destination(req: Request, port: Any,
                     inform: bool) -> tuple[bytes, bytes]:
        """RFC 2131 4.1 (giaddr is 0 here): ciaddr set -> unicast there;
        else BROADCAST flag -> broadcast; else unicast to chaddr/yiaddr."""
        if req.ciaddr != bytes(4):
            return req.chaddr, req.ciaddr
        if req.flags & FLAG_BROADCAST or inform:
            return BROADCAST_MAC, b"\xff" * 4
        return req.chaddr, _ip(port.ip_address)


_default = DhcpServer()


def handle(frame: bytes, port: Any, network: Any) -> bytes | None:
    """Answer one trapped DHCP frame with the module's default server."""
    return _default.handle(frame, port, network)
