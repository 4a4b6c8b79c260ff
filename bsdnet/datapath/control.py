"""The trap channel's wire formats, seen from the agent's side.

Control messages (agent -> datapath, to the datapath's --trap-socket) are
one datagram each: struct bsdnet_ctl_hdr, then the payload.  Traps
(datapath -> agent, to --agent-socket) are struct bsdnet_trap_hdr, then
the frame.  Both structs are in kmod/include/bsdnet_abi.h; the formats
below are checked against cffi's view of them in the tests.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# struct bsdnet_ctl_hdr { u16 ch_type; u16 ch_vif; u32 ch_flow;
#                         u32 ch_gen; u32 ch_len; }
CTL_HDR = struct.Struct("=HHIII")
# struct bsdnet_trap_hdr { u16 th_version; u16 th_reason; u16 th_vif;
#                          u16 th_vrf; u32 th_flow; u32 th_gen;
#                          u32 th_len; u32 th_nh; }
TRAP_HDR = struct.Struct("=HHHHIIII")

CTL_RELEASE = 1
CTL_XMIT = 2
CTL_VIF_SYNC = 3


@dataclass(frozen=True)
class Trap:
    """One trapped frame with its header."""
    version: int
    reason: int
    vif: int
    vrf: int
    flow: int
    gen: int
    length: int
    nh: int
    frame: bytes


def ctl_message(ctype: int, vif: int = 0, flow: int = 0, gen: int = 0,
                payload: bytes = b"", length: int | None = None) -> bytes:
    """Encode one control datagram (length defaults to len(payload))."""
    n = len(payload) if length is None else length
    return CTL_HDR.pack(ctype, vif, flow, gen, n) + payload


def parse_trap(data: bytes) -> Trap:
    """Decode one trap datagram; ValueError if it is shorter than its
    header or its length field disagrees with the datagram."""
    if len(data) < TRAP_HDR.size:
        raise ValueError(f"trap of {len(data)} bytes: shorter than header")
    version, reason, vif, vrf, flow, gen, length, nh = TRAP_HDR.unpack_from(data)
    frame = data[TRAP_HDR.size:]
    if length != len(frame):
        raise ValueError(f"trap says {length} bytes, carries {len(frame)}")
    return Trap(version, reason, vif, vrf, flow, gen, length, nh, frame)


class ControlClient:
    """Send control messages to a datapath's trap socket."""

    def __init__(self, trap_socket: str) -> None:
        self.path = trap_socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.path)

    def vif_sync(self) -> None:
        self.send_raw(ctl_message(CTL_VIF_SYNC))

    def release(self, flow: int, gen: int) -> None:
        self.send_raw(ctl_message(CTL_RELEASE, flow=flow, gen=gen))

    def xmit(self, vif: int, frame: bytes) -> None:
        self.send_raw(ctl_message(CTL_XMIT, vif=vif, payload=frame))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
