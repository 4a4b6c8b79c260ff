"""Small programs run inside VM namespaces by the overlay tests."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

from bsdnet.sandbox.netns import ns_exec

# Receives one TCP stream, prints "<bytes> <sha256>".
TCP_SINK = """
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""

# Sends argv[3] random bytes (seeded) to argv[1]:argv[2], prints the sha256.
TCP_SOURCE = """
import hashlib, random, socket, sys
data = random.Random(7).randbytes(int(sys.argv[3]))
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
c.sendall(data); c.close()
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""

# Echoes UDP datagrams; prints each one received.
UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    b, a = s.recvfrom(2048)
    print(b.decode(errors="replace"), flush=True)
    s.sendto(b, a)
"""

# One UDP request from a fixed source port; exit 0 if the echo comes back.
UDP_ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[3]))); s.settimeout(float(sys.argv[5]))
s.sendto(sys.argv[4].encode(), (sys.argv[1], int(sys.argv[2])))
try:
    b, _ = s.recvfrom(2048)
except socket.timeout:
    sys.exit(1)
sys.exit(0 if b.decode() == sys.argv[4] else 2)
"""

# Writes one raw frame (hex) out of an interface.
INJECT = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
"""


def spawn(namespace: str, script: str, *args: str) -> subprocess.Popen:
    p = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c", script, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p


def wait_ready(p: subprocess.Popen) -> None:
    line = p.stdout.readline()
    assert line.strip() == "ready", (line, p.stderr.read() if p.poll() is not None else "")


def run(namespace: str, script: str, *args: str, timeout: float = 120):
    return ns_exec(namespace, [sys.executable, "-c", script, *args], check=False,
                   timeout=timeout)


def udp_ask(namespace: str, dst: str, dport: int, sport: int, msg: str, timeout=1.0) -> bool:
    return run(namespace, UDP_ASK, dst, str(dport), str(sport), msg, str(timeout)).returncode == 0


def retry(fn, attempts: int = 20, pause: float = 0.25) -> bool:
    for _ in range(attempts):
        if fn():
            return True
        time.sleep(pause)
    return False


def rx_packets(namespace: str, ifname: str) -> int:
    r = ns_exec(namespace, ["cat", f"/sys/class/net/{ifname}/statistics/rx_packets"])
    return int(r.stdout)


def inject(namespace: str, ifname: str, frames: list[bytes]) -> None:
    r = run(namespace, INJECT, ifname, *[f.hex() for f in frames], timeout=30)
    assert r.returncode == 0, r.stderr


def kill_tree(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)
    for f in (p.stdout, p.stderr):
        if f:
            f.close()


@contextlib.contextmanager
def capture(namespace: str, ifname: str, pcap: str, bpf: str):
    """tcpdump into pcap while the block runs (started and listening
    first, stopped after a moment for the last packets)."""
    cap = subprocess.Popen(["ip", "netns", "exec", namespace, "tcpdump", "-n", "-U", "-i",
                            ifname, "-w", pcap, bpf],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on" in cap.stderr.readline()
        yield
        time.sleep(0.5)
    finally:
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=10)
        cap.stderr.close()


def tshark_rows(pcap: str, fields: list[str]) -> list[dict[str, str]]:
    """The fields of each packet tshark decodes (repeated fields, as of
    outer and inner headers, joined with commas)."""
    r = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "aggregator=,",
                        "-E", "separator=;", *sum([["-e", f] for f in fields], [])],
                       capture_output=True, text=True, check=True)
    return [dict(zip(fields, line.split(";"))) for line in r.stdout.splitlines() if line]
