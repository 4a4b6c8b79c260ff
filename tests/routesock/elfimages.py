"""Compile C for a FreeBSD target with zig and read symbols' bytes back out.

A minimal ELF64 little-endian reader: section headers, .symtab, .strtab.
Enough for relocatable objects whose data has no pointers (nothing to
relocate), which is what the message images are.
"""
from __future__ import annotations

import runpy
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).parent
_CF = runpy.run_path(str(HERE.parents[1] / "kmod" / "cflags.py"))["CFLAGS"]
ARCHES = {"amd64": "x86_64-freebsd", "arm64": "aarch64-freebsd"}


def have_zig() -> bool:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return False
    return True


def zig_cc(target: str, source: Path, out: Path,
           includes: Sequence[Path] = ()) -> subprocess.CompletedProcess:
    """``python -m ziglang cc -target <target> [-I dir]... -c``; returns the
    finished process."""
    if not have_zig():
        pytest.skip("ziglang is not installed")
    argv = [sys.executable, "-m", "ziglang", "cc", "-target", target,
            *_CF["CSTD"], *_CF["CWARN"]]
    for d in includes:
        argv += ["-I", str(d)]
    argv += ["-c", str(source), "-o", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def elf_symbols(path: Path) -> dict[str, bytes]:
    """Every defined data symbol of an ELF64 LE relocatable object -> its bytes."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not an ELF64 little-endian object")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, _e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = []
    for i in range(e_shnum):
        (_name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, _info,
         _align, sh_entsize) = struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
    out: dict[str, bytes] = {}
    for sh_type, off, size, link, entsize in sections:
        if sh_type != 2:   # SHT_SYMTAB
            continue
        stroff = sections[link][1]
        for j in range(size // entsize):
            st_name, st_info, _other, st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", data, off + j * entsize)
            if st_info & 0xF != 1 or st_shndx == 0 or st_shndx >= 0xFF00:
                continue    # STT_OBJECT in a real section only
            end = data.index(b"\0", stroff + st_name)
            name = data[stroff + st_name:end].decode()
            sec_type, sec_off = sections[st_shndx][0], sections[st_shndx][1]
            if sec_type == 8:   # SHT_NOBITS (.bss): all zero
                out[name] = bytes(st_size)
            else:
                out[name] = data[sec_off + st_value:sec_off + st_value + st_size]
    return out


def images(arch: str, workdir: Path) -> dict[str, bytes]:
    """The message images of c/images.c, compiled for FreeBSD ``arch``."""
    obj = workdir / f"images-{arch}.o"
    res = zig_cc(ARCHES[arch], HERE / "c" / "images.c", obj)
    if res.returncode != 0:
        raise AssertionError(f"images.c does not compile for {arch}:\n{res.stderr}")
    syms = elf_symbols(obj)
    if shutil.which("llvm-objcopy"):
        # Cross-check the reader against LLVM's view of the section.
        raw = workdir / f"rodata-{arch}.bin"
        subprocess.run(["llvm-objcopy", "-O", "binary", "--only-section=.rodata",
                        str(obj), str(raw)], check=True, timeout=60)
        blob = raw.read_bytes()
        assert all(v in blob for v in syms.values())
    return {k.removeprefix("bsdnet_img_"): v for k, v in syms.items() if k.startswith("bsdnet_img_")}
