"""The serial console: logged, and served on TCP for Nova's serial proxy.

bhyve's COM1 is the A end of an nmdm(4) null-modem pair.  A relay thread
here holds the B end open and

  * appends everything the guest writes to ``console.log`` in the instance
    directory (capped: past ``max_bytes`` the older half is dropped), so
    ``get_console_output`` has the boot messages even when nobody watched;
  * when given a TCP address, listens there and copies between one client
    (Nova's serial proxy, or telnet/nc) and the guest, in both directions.

This serves libvirt releases whose bhyve driver has no TCP serial port,
and keeps the log when a client is attached.  A second client while one is
attached is turned away with a line saying so.  Output the client cannot
take fast enough is dropped for it (the log still has it) and counted.
On Linux the same code runs on a pseudo-terminal pair (the tests do that).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import termios
import threading
import tty

from bsdnet.common.files import write_atomic

LOG = logging.getLogger(__name__)
_CHUNK = 4096
# What a slow client may have queued before output is dropped for it.
CLIENT_BACKLOG = 256 * 1024
BUSY = b"bsdnet: this console has a client already\r\n"


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


class ConsoleRelay:
    """Logs a character device and relays it to one TCP client, on its own thread.

    ``listen``: (address, port) to serve, or None for logging only."""

    def __init__(self, device: str, log_path: str, max_bytes: int = 1 << 20,
                 listen: tuple[str, int] | None = None) -> None:
        self.device = device
        self.log_path = log_path
        self.max_bytes = max_bytes
        self.listen = listen
        self.dropped = 0  # bytes of guest output a slow client did not get
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self._pending = b""

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the console is served (the real port when 0 was asked), or None."""
        return self._server.getsockname()[:2] if self._server is not None else None

    def start(self) -> None:
        self._fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if os.isatty(self._fd):
                # Raw: no line buffering, no echo back into the guest.
                tty.setraw(self._fd, termios.TCSANOW)
            if self.listen is not None:
                family = socket.AF_INET6 if ":" in self.listen[0] else socket.AF_INET
                self._server = socket.socket(family, socket.SOCK_STREAM)
                self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self._server.bind(self.listen)
                self._server.listen(4)
                self._server.setblocking(False)
        except BaseException:
            self._close_all()
            raise
        self._thread = threading.Thread(target=self._run, name=f"console:{self.device}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
        self._close_all()

    def _close_all(self) -> None:
        for sock in (self._client, self._server):
            if sock is not None:
                sock.close()
        self._client = self._server = None
        for fd in (self._wake_r, self._wake_w, self._fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = self._fd = None  # type: ignore[assignment]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the thread -------------------------------------------------------
    def _append(self, data: bytes) -> None:
        with open(self.log_path, "ab") as f:
            f.write(data)
            size = f.tell()
        if size > self.max_bytes:
            keep = read_log(self.log_path, self.max_bytes // 2)
            write_atomic(self.log_path, keep, mode=0o644, durable=False)

    def _run(self) -> None:
        assert self._fd is not None
        guest_open = True
        while True:
            rlist = [self._wake_r]
            if guest_open:
                rlist.append(self._fd)
            for sock in (self._server, self._client):
                if sock is not None:
                    rlist.append(sock)
            wlist = [self._client] if self._client is not None and self._pending else []
            ready, writable, _ = select.select(rlist, wlist, [])
            if self._wake_r in ready:
                if guest_open:
                    self._from_guest()  # what is already there goes to the log before leaving
                return
            if self._fd in ready and not self._from_guest():
                # Hang-up (guest gone): keep serving the socket, stop reading the device.
                guest_open = False
            if self._server is not None and self._server in ready:
                self._accept()
            if self._client is not None and self._client in ready:
                self._from_client()
            if self._client is not None and self._client in writable:
                self._flush()

    def _from_guest(self) -> bool:
        """Copy what the guest wrote; False once it hung up.  Reads only what
        select says is there: under eventlet (nova-compute) os.read on an
        empty descriptor waits instead of raising EAGAIN."""
        assert self._fd is not None
        for _ in range(64):  # then back to select: a chatty guest must not starve the client
            if not select.select([self._fd], [], [], 0)[0]:
                break
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
            if self._client is not None:
                room = max(CLIENT_BACKLOG - len(self._pending), 0)
                self._pending += data[:room]
                self.dropped += len(data) - len(data[:room])
                self._flush()
        return True

    def _accept(self) -> None:
        assert self._server is not None
        try:
            conn, peer = self._server.accept()
        except BlockingIOError:
            return
        if self._client is not None:
            try:
                conn.send(BUSY)
            finally:
                conn.close()
            LOG.info("console %s: turned away %s, a client is attached", self.device, peer)
            return
        conn.setblocking(False)
        self._client, self._pending = conn, b""
        LOG.info("console %s: client %s attached", self.device, peer)

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client, self._pending = None, b""

    def _from_client(self) -> None:
        assert self._client is not None and self._fd is not None
        try:
            data = self._client.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        try:
            os.write(self._fd, data)  # keystrokes to the guest
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EIO):
                raise

    def _flush(self) -> None:
        assert self._client is not None
        try:
            sent = self._client.send(self._pending)
        except BlockingIOError:
            return
        except OSError:
            self._drop_client()
            return
        self._pending = self._pending[sent:]
