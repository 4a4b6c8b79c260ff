"""Write the small seed corpora of the fuzz harnesses (kept in git).

Frames match the topology of tests/core/th_home.c: VM A 10.0.0.1 (vif 1,
POLICY), VM B 10.0.0.2 (vif 2), fabric 192.168.0.1 (vif 3), labels 16-18.
Run: .venv/bin/python tests/fuzz/make_seeds.py
"""
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUTER = bytes.fromhex("00005e000100")
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")
MAC_F = bytes.fromhex("02fa00000001")
MAC_PEER = bytes.fromhex("02fa00000002")
BCAST = b"\xff" * 6


def ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def csum(b: bytes) -> int:
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64,
         frag: int = 0) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag,
                      ttl, proto, 0, ip(src), ip(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def udp(sport: int, dport: int, data: bytes = b"x" * 16) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(sport: int, dport: int, flags: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 1024,
                       0, 0)


def tcp_syn(sport: int, dport: int, opts: bytes) -> bytes:
    """A SYN with TCP options (a multiple of 4 bytes): the MSS clamp's
    parser.  The checksum is left zero: the core does not check it."""
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0,
                       (20 + len(opts)) // 4 << 4, 0x02, 1024, 0, 0) + opts


def eth(dst: bytes, src: bytes, etype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", etype) + payload


def arp(op: int, sha: bytes, spa: str, tpa: str) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ip(spa),
                       b"\0" * 6, ip(tpa))


def fabric(label: int, inner: bytes, mpls_ttl: int = 64,
           src: str = "192.168.0.2") -> bytes:
    """From a known endpoint (th_home.c: 192.168.0.2 in VRFs 1 and 2,
    192.168.0.3 in VRF 1), or any other source."""
    gre = struct.pack("!HHI", 0, 0x8847, label << 12 | 1 << 8 | mpls_ttl)
    return eth(MAC_F, MAC_PEER, 0x0800,
               ipv4(src, "192.168.0.1", 47, gre + inner, frag=0x4000))


def packet_seeds() -> dict[str, bytes]:
    # First byte: vif selector (0 A, 1 B, 2 fabric) and agent moves.
    vm_a = ipv4("10.0.0.1", "10.0.1.5", 17, udp(1000, 2000))
    return {
        "vm_a_tunnel_miss": bytes([0x08, 0]) + eth(ROUTER, MAC_A, 0x0800, vm_a),
        "vm_b_tunnel": bytes([1, 0]) + eth(ROUTER, MAC_B, 0x0800, ipv4(
            "10.0.0.2", "10.0.1.9", 6, tcp(5, 22, 0x02))),
        "vm_b_ecmp": bytes([1, 0]) + eth(ROUTER, MAC_B, 0x0800, ipv4(
            "10.0.0.2", "10.0.2.9", 1, bytes([8, 0, 0, 0, 0, 7, 0, 1]))),
        "vm_b_local": bytes([1, 0]) + eth(ROUTER, MAC_B, 0x0800, ipv4(
            "10.0.0.2", "10.0.0.1", 17, udp(1, 2))),
        "vm_a_arp": bytes([0, 0]) + eth(BCAST, MAC_A, 0x0806, arp(
            1, MAC_A, "10.0.0.1", "10.0.0.2")),
        "vm_a_dhcp": bytes([0, 0]) + eth(BCAST, MAC_A, 0x0800, ipv4(
            "0.0.0.0", "255.255.255.255", 17, udp(68, 67, b"\0" * 240))),
        "fabric_decap": bytes([2, 0]) + fabric(17, ipv4(
            "10.0.1.5", "10.0.0.2", 17, udp(3, 4))),
        "fabric_decap_policy": bytes([0x2a, 0]) + fabric(16, ipv4(
            "10.0.1.5", "10.0.0.1", 6, tcp(3, 4, 0x11))),
        "fabric_vrf_label": bytes([2, 0]) + fabric(18, ipv4(
            "10.0.1.5", "10.1.0.3", 17, udp(3, 4))),
        # Path MTU: a SYN whose MSS the clamp lowers (MSS, SACK permitted,
        # timestamps, NOP, window scale), one whose options are malformed,
        # and packets too big for the overlay (ICMP "fragmentation
        # needed"), DF and not, the second with only the headers
        # contiguous.
        "vm_b_syn_mss": bytes([1, 0]) + eth(ROUTER, MAC_B, 0x0800, ipv4(
            "10.0.0.2", "10.0.1.9", 6, tcp_syn(5, 22, bytes.fromhex(
                "020405b40402080a000000010000000001030307")))),
        "vm_b_syn_bad_opts": bytes([1, 0]) + eth(ROUTER, MAC_B, 0x0800, ipv4(
            "10.0.0.2", "10.0.1.9", 6, tcp_syn(5, 22, bytes.fromhex(
                "0109020405b40000")))),
        "vm_b_too_big_df": bytes([1, 0]) + eth(ROUTER, MAC_B, 0x0800, ipv4(
            "10.0.0.2", "10.0.1.9", 17, udp(7, 8, b"d" * 1500),
            frag=0x4000)),
        "vm_b_too_big_pullup": bytes([1, 0x40]) + eth(ROUTER, MAC_B, 0x0800,
                                                     ipv4("10.0.0.2",
                                                          "10.0.1.9", 6,
                                                          tcp(5, 22, 0x10) +
                                                          b"t" * 1500)),
        "fabric_unknown_endpoint": bytes([2, 0]) + fabric(17, ipv4(
            "10.0.1.5", "10.0.0.2", 17, udp(3, 4)), src="192.168.0.66"),
        "fabric_endpoint_vrf": bytes([2, 0]) + fabric(18, ipv4(
            "10.0.1.5", "10.1.0.3", 17, udp(3, 4)), src="192.168.0.3"),
        "fabric_arp": bytes([2, 0]) + eth(BCAST, MAC_PEER, 0x0806, arp(
            1, MAC_PEER, "192.168.0.2", "192.168.0.1")),
    }


def table_seeds() -> dict[str, bytes]:
    frames = b""
    for i, (name, seed) in enumerate(packet_seeds().items()):
        vif = {0: 1, 1: 2, 2: 3}.get(seed[0] & 7, 1)
        frames += struct.pack("!BH", vif, len(seed) - 2) + seed[2:]
    return {
        "no_patch": struct.pack("!HH", 0, 0) + frames,
        "patch_vifs": struct.pack("!HH", 10, 64) + bytes(range(64)) + frames,
        "patch_routes": struct.pack("!HH", 2000, 128) + b"\x40\xff\xff\xff" * 32
        + frames,
    }


def main() -> None:
    for sub, seeds in (("corpus_packet", packet_seeds()),
                       ("corpus_tables", table_seeds())):
        d = HERE / sub
        d.mkdir(exist_ok=True)
        for name, data in seeds.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    main()
