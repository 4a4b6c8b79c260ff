"""Files replaced whole: whoever reads one, and whatever a crash leaves,
sees the old content or the new, never a part of either."""
from __future__ import annotations

import os
import tempfile

# Temporary files are named so (in the target's directory), so a reader of
# the directory can tell a write a crash interrupted: nothing renamed it.
TMP_PREFIX = ".tmp-"

PathLike = str | os.PathLike[str]


def write_atomic(path: PathLike, data: bytes | str, *, mode: int = 0o600,
                 durable: bool = True, sync_dir: bool | None = None) -> None:
    """Write data (str as UTF-8) to a temporary file beside path, then
    rename it over path.

    durable: fsync the file before the rename and the directory after it,
    so a power cut leaves the old or the new content and, once this
    returns, the new.  durable=False: a process crash still leaves old or
    new; for files a reboot makes void, or that are made again from
    durable state.  sync_dir=False (with durable): the caller syncs the
    directory itself (fsync_dir), once for a batch of files.
    """
    d = os.path.dirname(os.fspath(path)) or "."
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=d, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable and (sync_dir is None or sync_dir):
        fsync_dir(d)


def fsync_dir(path: PathLike) -> None:
    """Make the renames done in directory path durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
