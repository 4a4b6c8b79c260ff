"""Fixtures for the datapath tests: root, the built daemon, a region name,
socket paths and namespaces, each cleaned up even when a test fails."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bsdnet.datapath.process import binary_path
from bsdnet.datapath.process import DatapathConfig, DatapathProcess

from .nsutil import Namespaces, suffix

# Small tables: the tests need a handful of entries, not a node's worth.
SMALL_GEOMETRY = {"nvifs": 16, "nnexthops": 64, "nlabels": 64, "nvrfs": 8,
                  "nrtbuckets": 64, "nflowbuckets": 64, "novfbuckets": 16,
                  "maxhold": 32}


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (AF_PACKET, network namespaces)"
    if not os.access(binary_path(), os.X_OK):
        return (f"{binary_path()} not built (setup.py build_ext "
                "--inplace)")
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


@pytest.fixture(autouse=True)
def _requirements(request: pytest.FixtureRequest) -> None:
    """Tests marked root run the daemon: skip them, with the reason, where
    that cannot work."""
    if request.node.get_closest_marker("root") is None:
        return
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def shm_name() -> Iterator[str]:
    name = f"bsdnet-t{suffix()}"
    yield name
    Path("/dev/shm", name).unlink(missing_ok=True)


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # Not tmp_path: unix socket paths must stay under 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="bdp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    nss = Namespaces()
    yield nss
    nss.cleanup()


@pytest.fixture
def datapath(shm_name: str, sockdir: Path
             ) -> Iterator[Callable[..., DatapathProcess]]:
    """A factory: datapath(netns=..., agent=True, **config) starts one and
    it is stopped at the end of the test.  Its files are sockdir/TAG.sock,
    .pid and .log (tag "dp" unless given)."""
    started: list[DatapathProcess] = []

    def start(netns: str | None = None, agent: bool = False,
              shm: str | None = None, tag: str = "dp",
              **kw: object) -> DatapathProcess:
        cfg = DatapathConfig(
            shm=shm or shm_name,
            trap_socket=str(sockdir / f"{tag}.sock"),
            agent_socket=str(sockdir / "agent.sock") if agent else None,
            pidfile=str(sockdir / f"{tag}.pid"),
            netns=netns,
            geometry=dict(SMALL_GEOMETRY), **kw)  # type: ignore[arg-type]
        dp = DatapathProcess(cfg, log_path=str(sockdir / f"{tag}.log"))
        started.append(dp)
        return dp.start()

    yield start
    for dp in started:
        if dp.alive():
            dp.kill()


def read_log(sockdir: Path) -> str:
    try:
        return (sockdir / "dp.log").read_text(errors="replace")
    except OSError:
        return ""
