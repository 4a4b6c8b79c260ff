"""Which partition of a Linux BIOS image grub-bhyve should read its grub.cfg from.

grub-bhyve is GRUB running on the host: it needs ``--root`` naming the
partition that holds ``/boot/grub/grub.cfg`` (or ``/grub/grub.cfg`` on a
separate /boot partition).  libvirt's default, ``hd0,msdos1``, fails on GPT
cloud images (Debian, Ubuntu: root is ``gpt1``; Ubuntu 24.04 keeps /boot on
``gpt16``, an XBOOTLDR partition).  The partition table is read here, from
the layouts in the UEFI specification (GPT header at LBA 1, 128-byte
entries) and the classic MBR (four 16-byte entries at offset 446).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

SECTOR = 512
# GPT partition type GUIDs.
LINUX_DATA = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
XBOOTLDR = uuid.UUID("bc13c2ff-59e6-4262-a352-b275fd6f7172")  # a separate /boot
MS_BASIC_DATA = uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")  # older images put Linux here
# MBR partition types GRUB can read a Linux /boot from.
MBR_LINUX = 0x83
MAX_GPT_ENTRIES = 256


@dataclass(frozen=True)
class GrubRoot:
    table: str  # 'gpt' | 'msdos'
    index: int  # 1-based, as GRUB counts
    grub_dir: str = "/boot/grub"

    @property
    def device(self) -> str:
        """GRUB's name for it, e.g. 'hd0,gpt1'."""
        return f"hd0,{self.table}{self.index}"


def _gpt(f, header: bytes) -> GrubRoot | None:
    entries_lba, count, size = struct.unpack_from("<QII", header, 72)
    if size < 128 or count == 0:
        return None
    f.seek(entries_lba * SECTOR)
    table = f.read(min(count, MAX_GPT_ENTRIES) * size)
    linux = None
    for i in range(len(table) // size):
        entry = table[i * size:(i + 1) * size]
        kind = uuid.UUID(bytes_le=entry[:16])
        if kind == XBOOTLDR:
            return GrubRoot("gpt", i + 1, "/grub")
        if linux is None and kind in (LINUX_DATA, MS_BASIC_DATA):
            linux = i + 1
    return GrubRoot("gpt", linux) if linux else None


def _mbr(sector0: bytes) -> GrubRoot | None:
    parts = [struct.unpack_from("<B3xB", sector0, 446 + 16 * i) for i in range(4)]
    linux = [i + 1 for i, (_status, kind) in enumerate(parts) if kind == MBR_LINUX]
    active = [i for i in linux if parts[i - 1][0] & 0x80]
    pick = (active or linux or [None])[0]
    return GrubRoot("msdos", pick) if pick else None


def grub_root(path: str) -> GrubRoot | None:
    """The partition grub-bhyve should boot from, or None when the disk has
    no partition table this recognises (libvirt's default is used then)."""
    with open(path, "rb") as f:
        head = f.read(2 * SECTOR)
        if len(head) < 2 * SECTOR or head[510:512] != b"\x55\xaa":
            return None
        if head[SECTOR:SECTOR + 8] == b"EFI PART":
            return _gpt(f, head[SECTOR:])
        return _mbr(head[:SECTOR])
