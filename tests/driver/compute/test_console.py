"""Console logging, on Linux with a pseudo-terminal pair standing in for nmdm(4)."""

from __future__ import annotations

import os
import time

import pytest

from bsdnet.driver.compute.console import BUSY, ConsoleRelay, read_log
from tests.driver.helpers import make_instance

IMAGE = {"id": "img-raw", "properties": {"os_distro": "freebsd"}}


def wait_for(pred, limit: float = 30.0) -> bool:
    """Poll until pred() holds; the limit only stops a hung test, it is not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def test_logger_copies_guest_output(pty_pair, tmp_path) -> None:
    master, path = pty_pair
    log = tmp_path / "console.log"
    logger = ConsoleRelay(path, str(log))
    logger.start()
    try:
        os.write(master, b"FreeBSD/amd64 (guest) (ttyu0)\r\nlogin: ")
        assert wait_for(lambda: read_log(str(log)).endswith(b"login: "))
        assert read_log(str(log)) == b"FreeBSD/amd64 (guest) (ttyu0)\r\nlogin: "  # raw: no line discipline
    finally:
        logger.stop()
    assert not logger.running


def test_logger_caps_the_log(pty_pair, tmp_path) -> None:
    master, path = pty_pair
    log = tmp_path / "console.log"
    logger = ConsoleRelay(path, str(log), max_bytes=4096)
    logger.start()
    try:
        for i in range(80):  # 8080 bytes through a 4096-byte cap
            os.write(master, (f"line {i:04d} " + "x" * 90 + "\n").encode())
        assert wait_for(lambda: b"line 0079" in read_log(str(log)))
    finally:
        logger.stop()
    data = log.read_bytes()
    assert len(data) <= 4096 and b"line 0000" not in data and data.endswith(b"x\n")


def test_read_log_tail_and_absent(tmp_path) -> None:
    assert read_log(str(tmp_path / "none")) == b""
    (tmp_path / "l").write_bytes(b"0123456789")
    assert read_log(str(tmp_path / "l"), 4) == b"6789"


def test_driver_console_output(driver, pty_pair) -> None:
    master, path = pty_pair
    driver.console_device = lambda uuid: path
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        os.write(master, b"Booting...\r\n")
        assert wait_for(lambda: driver.get_console_output(None, inst).endswith(b"Booting...\r\n"))
        driver.power_off(inst)
        assert inst.uuid not in driver.consoles  # logger stopped with the guest
        assert driver.get_console_output(None, inst).endswith(b"Booting...\r\n")  # log kept
    finally:
        driver.destroy(None, inst, [])


def _recv_until(sock, want: bytes, limit: float = 30.0) -> bytes:
    sock.settimeout(limit)
    got = b""
    while want not in got:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def test_relay_serves_one_tcp_client_both_ways(pty_pair, tmp_path) -> None:
    import socket
    master, path = pty_pair
    log = tmp_path / "console.log"
    relay = ConsoleRelay(path, str(log), listen=("127.0.0.1", 0))
    relay.start()
    try:
        host, port = relay.address
        with socket.create_connection((host, port)) as client:
            assert wait_for(lambda: relay._client is not None)
            os.write(master, b"login: ")
            assert _recv_until(client, b"login: ").endswith(b"login: ")
            client.sendall(b"root\r")
            got = b""
            while not got.endswith(b"root\r"):
                got += os.read(master, 100)  # what the guest's COM1 receives
            with socket.create_connection((host, port)) as second:
                assert _recv_until(second, b"\n") == BUSY  # one client at a time
            os.write(master, b"Password:")
            assert _recv_until(client, b"Password:").endswith(b"Password:")
        assert wait_for(lambda: relay._client is None)  # the client left: the next one may come
        with socket.create_connection((host, port)) as third:
            os.write(master, b"# ")
            assert wait_for(lambda: relay._client is not None)
            os.write(master, b"$ ")
            assert _recv_until(third, b"$ ").endswith(b"$ ")
    finally:
        relay.stop()
    assert read_log(str(log)).startswith(b"login: Password:# ")  # everything logged, client or not


def test_driver_serial_console_over_tcp(driver, pty_pair) -> None:
    import socket
    from bsdnet.driver.compute.errors import ConsoleUnavailable
    master, path = pty_pair
    driver.console_device = lambda uuid: path
    driver.config.serial_tcp = True
    driver.config.serial_port_range = "31000:31999"
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        c = driver.get_serial_console(None, inst)
        assert c.host == "127.0.0.1" and 31000 <= c.port <= 31999
        with socket.create_connection((c.host, c.port)) as client:
            assert wait_for(lambda: driver.consoles[inst.uuid]._client is not None)
            os.write(master, b"FreeBSD/amd64\r\n")
            assert _recv_until(client, b"amd64\r\n").endswith(b"FreeBSD/amd64\r\n")
        driver.power_off(inst)
        with pytest.raises(ConsoleUnavailable, match="not running"):
            driver.get_serial_console(None, inst)
        driver.power_on(None, inst, [])
        assert driver.get_serial_console(None, inst).port == c.port  # the guest keeps its port
    finally:
        driver.destroy(None, inst, [])
