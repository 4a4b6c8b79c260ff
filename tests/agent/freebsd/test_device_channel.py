"""Traps read from /dev/bsdnet and decided, control messages written to it
(one message per read/write, as the module's read and write entry points
take them), through the stand-in module."""
import errno

import pytest

from bsdnet.agent.flows import BATCH, SLOT, FlowManager
from bsdnet.shm.abi import ffi, lib

from .fakedev import KernelFlows

NONE = lib.BSDNET_FLOW_NONE & 0xffffffff
RELEASE = lib.BSDNET_CTL_RELEASE


@pytest.fixture
def kflows(fake, region):
    return KernelFlows(fake.region)


@pytest.fixture
def channel(transport, region):
    ch = transport.open_channel()
    yield ch
    ch.close()


def state(fe):
    return fe.fe_state & lib.BSDNET_FLOW_STATE_MASK


def test_trap_decided_and_released(fake, region, kflows, channel):
    idx, g = kflows.claim(1000)
    fake.trap(idx, g)
    fm = FlowManager(region, channel)
    assert fm.serve() == 1
    assert state(region.flows[idx]) == lib.BSDNET_FLOW_ACTIVE
    assert fm.counters["installed"] == 1
    assert fake.control() == [(RELEASE, 0, idx, g, b"")]


def test_a_burst_is_read_in_batches(fake, region, kflows, channel):
    n = BATCH + 44
    claimed = [kflows.claim(2000 + i) for i in range(n)]
    for idx, g in claimed:
        fake.trap(idx, g)
    assert channel.recv_batch() == BATCH
    # Each read is one trap, lengths as the module wrote them.
    assert all(channel.lens[i] == 24 + 60 for i in range(BATCH))
    fm = FlowManager(region, channel)
    fm.handle(channel.buf, channel.lens, BATCH)
    assert fm.poll() == 44
    got = fake.control()
    while channel.pending:      # the stand-in's queue was full for a while
        channel.flush()
        got += fake.control()
    # Every trap was taken; in these small tables a few reverse entries
    # find no room, and those HOLDs are left to expire, unreleased.
    c = fm.counters
    assert c["traps"] == n
    assert c["installed"] + c["no_reverse"] == n
    assert c["installed"] > n // 2
    assert len(got) == c["installed"]
    assert set((x[2], x[3]) for x in got) <= set(claimed)
    assert all(x[0] == RELEASE for x in got)


def test_nothing_waiting(channel):
    channel.set_timeout(0.0)
    assert channel.recv_batch(wait=True) == 0
    assert channel.recv_batch() == 0


def test_a_policy_sees_the_frame(fake, region, kflows, channel):
    idx, g = kflows.claim(3000)
    frame = bytes(range(64))
    fake.trap(idx, g, frame=frame, vif=2)
    seen = []

    def policy(key, trap):
        seen.append((key.sport, trap.vif, trap.frame))
        return False

    fm = FlowManager(region, channel, policy)
    assert fm.serve() == 1
    assert seen == [(3000, 2, frame)]
    assert region.flows[idx].fe_action == lib.BSDNET_FA_DROP
    assert fake.control() == [(RELEASE, 0, idx, g, b"")]


def test_a_trap_longer_than_a_slot_is_dropped(fake, region, kflows, channel):
    idx, g = kflows.claim(4000)
    fake.trap(idx, g, frame=b"\0" * (SLOT + 100))
    idx2, g2 = kflows.claim(4001)
    fake.trap(idx2, g2)
    assert channel.recv_batch() == 2
    assert channel.lens[0] == SLOT + 1       # cut: said so
    fm = FlowManager(region, channel)
    fm.handle(channel.buf, channel.lens, 2)
    assert fm.counters["bad_trap"] == 1
    assert state(region.flows[idx]) == lib.BSDNET_FLOW_HOLD
    assert fake.control() == [(RELEASE, 0, idx2, g2, b"")]


def test_vif_sync_and_xmit(fake, channel):
    assert channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
    frame = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + b"x" * 50
    assert channel.xmit(5, frame)
    assert fake.control() == [
        (lib.BSDNET_CTL_VIF_SYNC, 0, 0, 0, b""),
        (lib.BSDNET_CTL_XMIT, 5, 0, 0, frame)]


def test_full_queue_keeps_releases_pending(fake, region, channel):
    # The stand-in's queue fills (the real device takes writes at once):
    # what is not taken waits in pending and flush() sends it later.
    n = 5000
    flows = ffi.new("uint32_t[]", list(range(n)))
    gens = ffi.new("uint32_t[]", [7] * n)
    sent = channel.release(flows, gens, n)
    assert 0 < sent < n
    assert len(channel.pending) == n - sent
    got = fake.control()
    while channel.pending:
        channel.flush()
        got += fake.control()
    assert [c[2] for c in got] == list(range(n))
    assert channel.send_errors == 0


def test_refused_release_is_counted_not_kept(fake, region, channel):
    for s in fake.kernel.values():
        s.close()               # writes now fail with EPIPE
    flows = ffi.new("uint32_t[]", [1, 2])
    gens = ffi.new("uint32_t[]", [1, 1])
    assert channel.release(flows, gens, 2) == 2
    assert channel.pending == []
    assert channel.send_errors == 2
    assert not channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
    assert not channel.xmit(1, b"\0" * 60)


def test_interrupted_wait_returns_nothing(channel, monkeypatch):
    class Poll:
        def poll(self, ms):
            raise InterruptedError(errno.EINTR, "signal")

    monkeypatch.setattr(channel, "_poll", Poll())
    assert channel.recv_batch(wait=True) == 0
