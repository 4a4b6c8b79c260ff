"""Serial console logging.

bhyve's COM1 is the A end of an nmdm(4) null-modem pair; a thread here holds
the B end open and appends everything the guest writes to ``console.log`` in
the instance directory, so ``get_console_output`` has the boot messages even
when nobody was attached.  The log is capped: when it passes ``max_bytes``
the older half is dropped.  On Linux the same code runs on a pseudo-terminal
pair (the tests do that).
"""

from __future__ import annotations

import logging
import os
import select
import termios
import threading
import tty

LOG = logging.getLogger(__name__)
_CHUNK = 4096


def read_log(path: str, max_bytes: int = 1 << 20) -> bytes:
    """The last ``max_bytes`` of a console log (empty when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read()
    except FileNotFoundError:
        return b""


class ConsoleLogger:
    """Copies a character device into a capped log file, on its own thread."""

    def __init__(self, device: str, log_path: str, max_bytes: int = 1 << 20) -> None:
        self.device = device
        self.log_path = log_path
        self.max_bytes = max_bytes
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None

    def start(self) -> None:
        self._fd = os.open(self.device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        if os.isatty(self._fd):
            # Raw: no line buffering, no echo back into the guest.
            tty.setraw(self._fd, termios.TCSANOW)
        self._thread = threading.Thread(target=self._run, name=f"console:{self.device}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _append(self, data: bytes) -> None:
        with open(self.log_path, "ab") as f:
            f.write(data)
            size = f.tell()
        if size > self.max_bytes:
            keep = read_log(self.log_path, self.max_bytes // 2)
            tmp = self.log_path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(keep)
            os.replace(tmp, self.log_path)

    def _run(self) -> None:
        assert self._fd is not None
        while True:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._wake_r in ready:
                # Drain what is already there before leaving.
                self._drain()
                return
            if not self._drain():
                # Hang-up (guest gone): wait to be stopped rather than spin.
                select.select([self._wake_r], [], [])
                return

    def _drain(self) -> bool:
        assert self._fd is not None
        while True:
            try:
                data = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return True
            except OSError as exc:  # EIO: the other end closed
                LOG.debug("console %s: %s", self.device, exc)
                return False
            if not data:
                return False
            self._append(data)
