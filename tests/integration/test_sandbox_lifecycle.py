"""`bsdnet-sandbox down` removes everything, also after an `up` that failed."""
from __future__ import annotations

import glob
import os
import random
import string

import pytest

from bsdnet.sandbox import netns, orchestrate
from bsdnet.sandbox.plan import make_plan

from .conftest import _can_build_sandbox

pytestmark = pytest.mark.root


@pytest.fixture
def plan(tmp_path):
    why = _can_build_sandbox()
    if why:
        pytest.skip(why)
    prefix = "f" + "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
    p = make_plan(prefix, nodes=2, vms_per_node=1, rundir=str(tmp_path))
    yield p
    orchestrate.down(prefix, str(tmp_path))


def _processes(prefix):
    """Pids whose command line names one of this sandbox's tables."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(f"{prefix}-n".encode()) for a in argv):
            found.append(int(path.split("/")[2]))
    return found


def _leftovers(plan, rundir):
    return (netns.owned_namespaces(plan.prefix),
            glob.glob(f"/dev/shm/{plan.prefix}-n*"),
            os.path.exists(os.path.join(rundir, plan.prefix)),
            _processes(plan.prefix))


def test_failed_up_removes_what_it_made(plan, tmp_path, monkeypatch):
    rundir = str(tmp_path)
    started = []

    def agent_that_fails(p, node):
        started.append(node.name)
        # the datapath of this node is running and its tables exist
        assert os.path.exists(f"/dev/shm/{node.shm}")
        raise orchestrate.SandboxError("agent refused to start (test)")

    monkeypatch.setattr(orchestrate, "start_agent", agent_that_fails)
    with pytest.raises(orchestrate.SandboxError, match="agent refused"):
        orchestrate.up(plan, rundir)
    assert started == ["n1"]
    assert _leftovers(plan, rundir) == ([], [], False, [])


def test_down_after_a_crash_mid_up(plan, tmp_path):
    rundir = str(tmp_path)
    # What a killed `up` leaves: namespaces, links, a datapath and its
    # tables, and no saved plan.
    netns.build(plan)
    os.makedirs(plan.nodes[0].rundir)
    orchestrate.start_datapath(plan, plan.nodes[0])
    made = _leftovers(plan, rundir)
    assert made[0] and made[1] and made[3]
    orchestrate.down(plan.prefix, rundir)
    assert _leftovers(plan, rundir) == ([], [], False, [])
    orchestrate.down(plan.prefix, rundir)      # and again: nothing to do


def test_up_refuses_over_an_existing_sandbox(plan, tmp_path):
    rundir = str(tmp_path)
    netns.build(plan)
    with pytest.raises(orchestrate.SandboxError, match="exists"):
        orchestrate.up(plan, rundir)
    # refusing touched nothing of the existing one
    assert netns.owned_namespaces(plan.prefix)
