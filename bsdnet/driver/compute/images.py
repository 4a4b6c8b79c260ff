"""Images for bhyve: raw only.  Glance images in qcow2 (or vmdk, vdi, ...)
are converted once with ``qemu-img convert -O raw`` into a per-image cache,
then copied into the instance directory and grown to the flavor's root size.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bsdnet.common.progress import Progress
from bsdnet.driver.compute.errors import ImageError

LOG = logging.getLogger(__name__)

# fetch(context, image_id, target_path): writes the image's bytes to
# target_path (Nova's nova.virt.images.fetch, or a local copy for the CLI
# and tests).  The context is Nova's request context, None elsewhere.
Fetcher = Callable[[Any, str, str], None]
# Formats converted to raw (qemu-img's names); Glance calls 'vpc' 'vhd'.
QEMU_FORMATS = frozenset({"raw", "qcow2", "vmdk", "vdi", "vpc", "vhdx", "qed"})
GLANCE_TO_QEMU = {"vhd": "vpc"}


def qemu_img_info(path: str, qemu_img: str = "qemu-img") -> dict:
    """``qemu-img info --output=json`` of ``path``."""
    try:
        out = subprocess.run([qemu_img, "info", "--output=json", "--", path], check=True,
                             capture_output=True, text=True).stdout
    except FileNotFoundError as exc:
        raise ImageError(f"{qemu_img} not found: install qemu-utils (qemu-tools on FreeBSD)") from exc
    except subprocess.CalledProcessError as exc:
        raise ImageError(f"qemu-img cannot read {path}: {exc.stderr.strip()}") from exc
    return json.loads(out)


def check_image_safe(info: dict, claimed: str | None = None) -> str:
    """The image's format, once it cannot make qemu-img read host files.

    An uploaded image is hostile input: a qcow2 backing file or external data
    file, or a VMDK whose extents are other files, would have qemu-img copy
    host files (say /etc/master.passwd) into the guest's disk (Nova's
    CVE-2022-47951 is the VMDK case).  A format other than the one Glance
    claims is refused too.
    """
    fmt = info.get("format", "")
    claimed = GLANCE_TO_QEMU.get(claimed or "", claimed)
    if claimed in QEMU_FORMATS and claimed != fmt:
        raise ImageError(f"image claims {claimed!r} but its content is {fmt!r}")
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise ImageError("image has a backing file: refused")
    data = (info.get("format-specific") or {}).get("data") or {}
    if fmt == "qcow2" and data.get("data-file"):
        raise ImageError("qcow2 image with an external data file: refused")
    if fmt == "vmdk" and data.get("create-type") not in ("monolithicSparse", "streamOptimized"):
        raise ImageError(f"VMDK of type {data.get('create-type')!r} (extents in other files): refused")
    if fmt not in QEMU_FORMATS:
        raise ImageError(f"image format {fmt!r} not accepted")
    return fmt


def qemu_convert(src: str, dst: str, src_fmt: str, dst_fmt: str, qemu_img: str = "qemu-img") -> None:
    """``qemu-img convert`` with both formats named (never guessed); its
    progress shown on a terminal (-p), as a line that counts up."""
    argv = [qemu_img, "convert", "-f", src_fmt, "-O", dst_fmt, "--", src, dst]
    progress = Progress(f"converting {os.path.basename(src)} to {dst_fmt}, %", 100)
    try:
        if not progress.on:
            subprocess.run(argv, check=True, capture_output=True, text=True)
            return
        proc = subprocess.Popen(argv[:2] + ["-p"] + argv[2:], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        buf = ""
        while chunk := proc.stdout.read(64):
            buf += chunk
            *done, buf = buf.replace("\r", "\n").split("\n")
            for line in done:
                m = re.search(r"\(([0-9.]+)/100%\)", line)
                if m:
                    progress.update(int(float(m.group(1))))
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise subprocess.CalledProcessError(proc.returncode, argv, stderr=err)
    except FileNotFoundError as exc:
        raise ImageError(f"{qemu_img} not found: install qemu-utils (qemu-tools on FreeBSD)") from exc
    except subprocess.CalledProcessError as exc:
        raise ImageError(f"qemu-img convert {src}: {exc.stderr.strip()}") from exc
    finally:
        progress.close()


def convert_to_raw(src: str, dst: str, qemu_img: str = "qemu-img", claimed: str | None = None) -> None:
    """Convert any format qemu-img reads into a raw file at ``dst``."""
    # -f is given explicitly, from a checked probe: letting qemu-img guess
    # again at convert time would undo the check.
    qemu_convert(src, dst, check_image_safe(qemu_img_info(src, qemu_img), claimed), "raw", qemu_img)


_CHUNK = 1 << 20


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """(start, end) of the data in a file, holes left out (SEEK_DATA and
    SEEK_HOLE, FreeBSD's and Linux's); the whole file where unsupported."""
    out, pos = [], 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end))
            pos = end
    except (AttributeError, OSError):
        return [(0, size)]
    return out


def sparse_copy(src: str, dst: str) -> None:
    """Copy ``src`` into ``dst``, reading only its data (not its holes) and
    skipping runs of zeros, so the target stays thin.  An existing ``dst``
    (a device, a fresh ZFS volume) reads as zeros already and keeps its size;
    a new file gets ``src``'s length."""
    zero = bytes(_CHUNK)
    exists = os.path.exists(dst)
    with open(src, "rb") as fin, open(dst, "r+b" if exists else "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        for start, end in data_extents(fin.fileno(), size):
            fin.seek(start)
            pos = start
            while pos < end:
                chunk = fin.read(min(_CHUNK, end - pos))
                if not chunk:
                    break
                if chunk != zero[:len(chunk)]:
                    fout.seek(pos)
                    fout.write(chunk)
                pos += len(chunk)
        if not exists:
            fout.truncate(size)


class ImageCache:
    """Raw copies of Glance images, one file per image id."""

    def __init__(self, path: str, fetch: Fetcher, qemu_img: str = "qemu-img") -> None:
        self.path = path
        self.fetch = fetch
        self.qemu_img = qemu_img

    def cached_path(self, image_id: str) -> str:
        # Hash the id: it comes from Glance and must not steer the file name.
        return os.path.join(self.path, hashlib.sha256(image_id.encode()).hexdigest()[:40] + ".raw")

    def get_raw(self, image_id: str, disk_format: str | None = None, context: Any = None) -> str:
        """Path of the raw image in the cache, fetching and converting on first use."""
        final = self.cached_path(image_id)
        if os.path.exists(final):
            return final
        os.makedirs(self.path, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.path, prefix=".fetch-") as tmp:
            download = os.path.join(tmp, "image")
            try:
                self.fetch(context, image_id, download)
            except FileNotFoundError as exc:
                raise ImageError(f"image {image_id} not found: {exc}") from exc
            if not os.path.exists(download):
                raise ImageError(f"image {image_id}: fetch produced nothing")
            raw = os.path.join(tmp, "image.raw")
            fmt = check_image_safe(qemu_img_info(download, self.qemu_img), disk_format)
            if fmt == "raw":
                os.replace(download, raw)
            else:
                LOG.info("converting image %s from %s to raw", image_id, fmt)
                convert_to_raw(download, raw, self.qemu_img, fmt)
            os.replace(raw, final)  # atomic: a half-converted file is never cached
        return final

    def create_root_disk(self, image_id: str, target: str, size_gb: int = 0,
                         disk_format: str | None = None, context: Any = None) -> str:
        """Copy the cached raw image to ``target`` and grow it to ``size_gb``."""
        src = self.get_raw(image_id, disk_format, context)
        os.utime(src)  # last used now: the cache keeps what is used (prune)
        sparse_copy(src, target)
        want = size_gb * 1024 ** 3
        if want and os.path.getsize(target) < want:
            os.truncate(target, want)  # sparse: raw files grow without writing zeros
        return target


    def prune(self, keep: set[str], max_age: float) -> list[str]:
        """Remove cached images not in ``keep`` and not used (copied from)
        for ``max_age`` seconds, as Nova's remove_unused_base_images does."""
        removed = []
        now = time.time()
        for entry in os.scandir(self.path):
            if not entry.name.endswith(".raw") or not entry.is_file() or entry.path in keep:
                continue
            idle = now - entry.stat().st_mtime
            if idle < max_age:
                continue
            os.unlink(entry.path)
            removed.append(entry.path)
            LOG.info("image cache: removed %s (unused for %d s)", entry.name, idle)
        return removed


def local_fetcher(directory: str) -> Fetcher:
    """Fetch images from ``directory/<image_id>`` (CLI and tests)."""
    def fetch(context: Any, image_id: str, target: str) -> None:
        if "/" in image_id or image_id in ("", ".", ".."):
            raise ImageError(f"bad image id {image_id!r}")
        shutil.copyfile(os.path.join(directory, image_id), target)
    return fetch
