"""Flow setup: trapped first packets in, decided flows out.

The datapath claims a HOLD entry for a flow it cannot find, fills its key
and traps the packet here (struct bsdnet_trap_hdr + frame, one unix
datagram each).  For each trap the agent reads the key from the flow entry
(never from the packet: the entry is what will be matched), asks the
policy, writes the reverse flow and publishes the forward one through the
datapath's own flow-table code (bsdnet_flowtab.c, compiled into _abi), and
sends BSDNET_CTL_RELEASE so the datapath replays what it queued.

Work is done in batches: one recvmmsg for up to BATCH traps, one C call
for their flow setup, one sendmmsg for the releases.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import struct
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.mtrie import lookup as rt_lookup

LOG = logging.getLogger(__name__)

BATCH = 256
SLOT = 2048 + ffi.sizeof("struct bsdnet_trap_hdr")
TRAP_HDR = ffi.sizeof("struct bsdnet_trap_hdr")
MAX_PENDING = 65536
WAIT_S = 0.1        # longest sleep in serve(): timers and signals run after
FLOW_NONE = lib.BSDNET_FLOW_NONE & 0xffffffff


class FlowKey(NamedTuple):
    vrf: int
    proto: int
    src: int
    dst: int
    sport: int
    dport: int


class Trap(NamedTuple):
    reason: int
    vif: int
    vrf: int
    flow: int
    gen: int
    nh: int
    frame: bytes


class Decision(NamedTuple):
    action: int             # enum bsdnet_flow_action
    drop_reason: int = 0    # enum bsdnet_drop, when action is DROP


# A policy returns a Decision, or anything with a boolean .allow (a
# security-group verdict), or a bool.
Policy = Callable[[FlowKey, Trap], object]

ALLOW = Decision(lib.BSDNET_FA_FORWARD)
DENY = Decision(lib.BSDNET_FA_DROP, lib.BSDNET_DROP_FLOW_ACTION_DROP)


def as_decision(result: object) -> Decision:
    """What a policy returned, as the flow action to write."""
    if isinstance(result, Decision):
        return result
    allow = getattr(result, "allow", result)
    if isinstance(allow, bool):
        return ALLOW if allow else DENY
    raise TypeError(f"policy returned {result!r}")


class VerdictCache:
    """A policy's decisions remembered by everything a security-group
    verdict depends on: the vif the flow came in on, VRF, protocol,
    addresses and destination port (not the source port; ICMP, whose
    verdict reads the packet, is never cached).  New connections between
    the same two ends then skip the rule walk.  Whoever changes what the
    policy reads calls clear()."""

    MAX = 65536

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._memo: dict[tuple[int, ...], Decision] = {}

    def __call__(self, key: FlowKey, trap: Trap) -> Decision:
        if key.proto == 1:
            return as_decision(self.policy(key, trap))
        k = (trap.vif, key.vrf, key.proto, key.src, key.dst, key.dport)
        d = self._memo.get(k)
        if d is None:
            d = as_decision(self.policy(key, trap))
            if len(self._memo) >= self.MAX:
                self._memo.clear()
            self._memo[k] = d
        return d

    def clear(self) -> None:
        self._memo.clear()


def allow_all(key: FlowKey, trap: Trap) -> Decision:
    """Default policy until security groups exist: every flow is within
    one virtual network (keys are per VRF), so forward it."""
    return ALLOW


def flow_key(fe) -> FlowKey:
    k = fe.fe_key
    return FlowKey(k.fk_vrf, k.fk_proto, k.fk_src, k.fk_dst, k.fk_sport,
                   k.fk_dport)


def flow_counts(fe) -> tuple[int, int]:
    """(packets, bytes) of the flow entry fe now holds.  The counts belong
    to the generation in fe_count_gen (the datapath resets them when it
    first counts a new one): any other generation has counted nothing."""
    gen = fe.fe_count_gen
    if gen != fe.fe_state >> lib.BSDNET_FLOW_GEN_SHIFT:
        return 0, 0
    return int(fe.fe_packets), int(fe.fe_bytes)


def parse_frame(frame: bytes) -> dict:
    """Just enough of an Ethernet/IPv4 frame for logging and DHCP: MACs,
    ethertype, IP protocol and addresses, UDP ports."""
    out: dict = {}
    if len(frame) < 14:
        return out
    out["dst_mac"] = frame[0:6].hex(":")
    out["src_mac"] = frame[6:12].hex(":")
    etype = struct.unpack_from("!H", frame, 12)[0]
    out["ethertype"] = etype
    if etype != 0x0800 or len(frame) < 34:
        return out
    ihl = (frame[14] & 0x0f) * 4
    out["proto"] = frame[23]
    out["src"] = socket.inet_ntoa(frame[26:30])
    out["dst"] = socket.inet_ntoa(frame[30:34])
    l4 = 14 + ihl
    if out["proto"] in (6, 17) and len(frame) >= l4 + 4:
        out["sport"], out["dport"] = struct.unpack_from("!HH", frame, l4)
    return out


class TrapChannel:
    """The agent's end of the trap channel: bound at trap_path, sends
    control messages to the datapath's socket at control_path."""

    def __init__(self, trap_path: str, control_path: str) -> None:
        self.trap_path = trap_path
        self.control_path = control_path
        self._cpath = ffi.new("char[]", os.fsencode(control_path))
        try:
            if stat.S_ISSOCK(os.lstat(trap_path).st_mode):
                os.unlink(trap_path)   # a stale socket of a previous agent
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(trap_path)
        os.chmod(trap_path, 0o600)
        # Blocking with a receive timeout: recv_batch(wait=True) is one
        # recvmmsg that sleeps until traps come (or the timeout, or a
        # signal), no select() in front of it.
        self.sock.setblocking(True)
        self.set_timeout(WAIT_S)
        # Deep receive buffer: traps arrive in bursts.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        except OSError:
            pass
        self._init_batch()

    def _init_batch(self) -> None:
        """Receive slots, and RELEASEs waiting to be sent."""
        self.buf = ffi.new("uint8_t[]", SLOT * BATCH)
        self.lens = ffi.new("uint32_t[]", BATCH)
        self.pending: list[tuple[int, int]] = []
        self.send_errors = 0
        self._pf = ffi.new("uint32_t[]", BATCH)
        self._pg = ffi.new("uint32_t[]", BATCH)

    def fileno(self) -> int:
        return self.sock.fileno()

    def set_timeout(self, seconds: float) -> None:
        tv = struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)

    def recv_batch(self, wait: bool = False) -> int:
        """Up to BATCH traps into self.buf/self.lens; with wait, sleep up to
        the receive timeout for the first one."""
        n = lib.bsdnet_agent_recv_batch(self.sock.fileno(), self.buf, SLOT,
                                        BATCH, self.lens, 1 if wait else 0)
        if n < 0:
            raise OSError(-n, os.strerror(-n))
        return n

    def release(self, flows, gens, n: int) -> int:
        """Send RELEASE for n (flow, gen) pairs.  What the datapath's queue
        cannot take now (a unix datagram queue is short:
        net.unix.max_dgram_qlen) waits in self.pending for flush()."""
        if n == 0:
            return 0
        if self.pending:
            self.pending.extend(zip(flows[0:n], gens[0:n]))
            self._trim()
            return self.flush()
        sent = self._send(flows, gens, n)
        if sent < n:
            self.pending.extend(zip(flows[sent:n], gens[sent:n]))
            self._trim()
        return sent

    def send_ctl(self, ctl_type: int, vif: int = 0) -> bool:
        """One control message without payload (e.g. BSDNET_CTL_VIF_SYNC).
        False if the datapath is not there to take it."""
        ch = ffi.new("struct bsdnet_ctl_hdr *")
        ch.ch_type, ch.ch_vif = ctl_type, vif
        try:
            self.sock.sendto(bytes(ffi.buffer(ch)), socket.MSG_DONTWAIT,
                             self.control_path)
        except OSError as e:
            LOG.debug("control message %d to %s: %s", ctl_type,
                      self.control_path, e)
            return False
        return True

    def xmit(self, vif: int, frame: bytes) -> bool:
        """Have the datapath send frame on vif (BSDNET_CTL_XMIT), e.g. a
        DHCP reply.  False if its queue did not take it."""
        ch = ffi.new("struct bsdnet_ctl_hdr *")
        ch.ch_type, ch.ch_vif, ch.ch_len = lib.BSDNET_CTL_XMIT, vif, len(frame)
        try:
            self.sock.sendto(bytes(ffi.buffer(ch)) + frame,
                             socket.MSG_DONTWAIT, self.control_path)
        except OSError as e:
            LOG.debug("XMIT on vif %d: %s", vif, e)
            return False
        return True

    def flush(self) -> int:
        """Send what is pending, as far as the datapath takes it."""
        total = 0
        while self.pending:
            chunk = self.pending[:BATCH]
            m = len(chunk)
            for i, (f, g) in enumerate(chunk):
                self._pf[i] = f
                self._pg[i] = g
            sent = self._send(self._pf, self._pg, m)
            del self.pending[:sent]
            total += sent
            if sent < m:
                break
        return total

    def _send(self, flows, gens, n: int) -> int:
        rc = lib.bsdnet_agent_release_batch(self.sock.fileno(), self._cpath,
                                            flows, gens, n)
        if rc >= 0:
            return rc
        if -rc not in (errno.EAGAIN, errno.EWOULDBLOCK):
            # The datapath is gone: its HOLD entries expire on its side.
            self.send_errors += 1
            if self.send_errors == 1 or self.send_errors % 1000 == 0:
                LOG.warning("RELEASE to %s failed (%d times): %s",
                            self.control_path, self.send_errors,
                            os.strerror(-rc))
            self.pending.clear()
        return 0

    def _trim(self) -> None:
        # Bounded: a RELEASE older than the datapath's HOLD timeout is
        # useless anyway (the entry's queue was dropped).
        if len(self.pending) > MAX_PENDING:
            del self.pending[:len(self.pending) - MAX_PENDING]

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.trap_path)
        except FileNotFoundError:
            pass


class FlowManager:
    """Decides trapped flows and ages idle ones."""

    def __init__(self, region, channel: TrapChannel | None,
                 policy: Policy = allow_all, fabric_vif: int = 0) -> None:
        self.region = region
        self.channel = channel
        self.policy = policy
        self.fabric_vif = fabric_vif
        self.ft = ffi.new("struct bsdnet_flowtab *")
        lib.bsdnet_flowtab_bind(self.ft, region.hdr, region.base)
        self.counters: Counter[str] = Counter()
        # Held while a batch is decided: the daemon shares it with the
        # threads that change tables and policy (the port API).
        self.lock: AbstractContextManager = nullcontext()
        # enum bsdnet_trap_reason -> callable(Trap), for DHCP and the like.
        self.handlers: dict[int, Callable[[Trap], None]] = {}
        self._rvif_cache: dict[tuple[int, int], int] = {}
        # Batch arrays, allocated once.
        self._idx = ffi.new("uint32_t[]", BATCH)
        self._gen = ffi.new("uint32_t[]", BATCH)
        self._act = ffi.new("uint8_t[]", BATCH)
        self._rsn = ffi.new("uint16_t[]", BATCH)
        self._rvif = ffi.new("uint16_t[]", BATCH)
        self._res = ffi.new("int32_t[]", BATCH)
        self._rfl = ffi.new("uint32_t[]", BATCH)
        self._relf = ffi.new("uint32_t[]", BATCH)
        self._relg = ffi.new("uint32_t[]", BATCH)
        self._other = ffi.new("uint32_t[]", BATCH)
        self._counts = ffi.new("uint32_t[]", lib.BSDNET_AGENT_CNT_MAX)
        self._age_state = None

    # ---- routes -> the reverse flow's vif ---------------------------------

    def routes_changed(self) -> None:
        self._rvif_cache.clear()

    def _reverse_vif(self, vrf: int, src: int) -> int:
        """The vif the reverse flow's packets arrive on: the local vif the
        forward source is delivered to, or the fabric."""
        k = (vrf, src)
        v = self._rvif_cache.get(k)
        if v is not None:
            return v
        v = self.fabric_vif
        if vrf < len(self.region.vrfs):
            r = rt_lookup(self.region, vrf, src)
            if r is not None and r[0] < len(self.region.nexthops):
                nh = self.region.nexthops[r[0]]
                if nh.nh_type == lib.BSDNET_NH_ENCAP and nh.nh_vif <= 0xffff:
                    v = nh.nh_vif
        if len(self._rvif_cache) > 65536:
            self._rvif_cache.clear()
        self._rvif_cache[k] = v
        return v

    # ---- traps ------------------------------------------------------------

    def serve(self) -> int:
        """One turn of the agent's loop: retry pending RELEASEs, then take a
        batch of traps (sleeping up to WAIT_S for it, unless RELEASEs are
        still pending) and decide it.  Returns the traps handled."""
        ch = self.channel
        if ch.pending:
            ch.flush()
        n = ch.recv_batch(wait=not ch.pending)
        if n:
            with self.lock:
                self.handle(ch.buf, ch.lens, n)
        elif ch.pending:
            time.sleep(0.0005)      # the datapath's queue is full
        return n

    def poll(self) -> int:
        """Handle every trap waiting, in batches.  Returns how many."""
        total = 0
        while True:
            n = self.channel.recv_batch()
            if n == 0:
                return total
            self.handle(self.channel.buf, self.channel.lens, n)
            total += n

    def handle(self, buf, lens, n: int) -> int:
        """Decide a batch of n trap datagrams in slots of buf.  Returns the
        number of flows published."""
        if self.policy is allow_all:
            return self._handle_allow(buf, lens, n)
        return self._handle_policy(buf, lens, n)

    def _handle_allow(self, buf, lens, n: int) -> int:
        """The default policy needs nothing from Python per flow: the whole
        batch is checked and set up in one C call."""
        counts = self._counts
        for i in range(lib.BSDNET_AGENT_CNT_MAX):
            counts[i] = 0
        now_ms = int(time.monotonic() * 1000) & 0xffffffff
        r = lib.bsdnet_agent_traps_allow(
            self.ft, self.region.hdr, self.region.base, buf, SLOT, lens, n,
            self.fabric_vif, now_ms, self._relf, self._relg, self._other,
            counts)
        c = self.counters
        c["traps"] += n
        c["installed"] += r
        if counts[lib.BSDNET_AGENT_CNT_BAD]:
            c["bad_trap"] += counts[lib.BSDNET_AGENT_CNT_BAD]
        if counts[lib.BSDNET_AGENT_CNT_STALE]:
            c["stale"] += counts[lib.BSDNET_AGENT_CNT_STALE]
        if counts[lib.BSDNET_AGENT_CNT_NO_REVERSE]:
            c["no_reverse"] += counts[lib.BSDNET_AGENT_CNT_NO_REVERSE]
        for j in range(counts[lib.BSDNET_AGENT_CNT_OTHER]):
            i = self._other[j]
            th = ffi.cast("struct bsdnet_trap_hdr *", buf + i * SLOT)
            self._other_trap(th, buf + i * SLOT + TRAP_HDR)
        if self.channel is not None:
            self.channel.release(self._relf, self._relg, r)
        return r

    def _handle_policy(self, buf, lens, n: int) -> int:
        """A pluggable policy: each flow's key and frame go through Python."""
        flows = self.region.flows
        nflows = self.region.nflows
        policy = self.policy
        m = 0
        for i in range(n):
            ln = lens[i]
            if ln < TRAP_HDR or ln > SLOT:
                self.counters["bad_trap"] += 1
                continue
            th = ffi.cast("struct bsdnet_trap_hdr *", buf + i * SLOT)
            if th.th_version != lib.BSDNET_TRAP_VERSION or \
                    th.th_len > ln - TRAP_HDR:
                self.counters["bad_trap"] += 1
                continue
            reason = th.th_reason
            if reason != lib.BSDNET_TRAP_FLOW_MISS:
                self._other_trap(th, buf + i * SLOT + TRAP_HDR)
                continue
            idx = th.th_flow
            if idx >= nflows:
                self.counters["bad_trap"] += 1
                continue
            fe = flows[idx]
            key = fe.fe_key
            frame = bytes(ffi.buffer(buf + i * SLOT + TRAP_HDR, th.th_len))
            trap = Trap(reason, th.th_vif, th.th_vrf, idx, th.th_gen,
                        th.th_nh, frame)
            try:
                d = as_decision(policy(flow_key(fe), trap))
            except Exception:
                LOG.exception("policy failed for flow %d: dropping", idx)
                d = DENY
            self._idx[m] = idx
            self._gen[m] = th.th_gen
            self._act[m] = d.action
            self._rsn[m] = d.drop_reason
            self._rvif[m] = self._reverse_vif(key.fk_vrf, key.fk_src)
            m += 1
        self.counters["traps"] += n
        return self._install(m)

    def _install(self, m: int) -> int:
        if m == 0:
            return 0
        now_ms = int(time.monotonic() * 1000) & 0xffffffff
        lib.bsdnet_agent_flow_setup_batch(
            self.ft, self.region.hdr, self.region.base, self._idx, self._gen,
            self._act,
            self._rsn, self._rvif, m, now_ms, self._res, self._rfl)
        r = 0
        for i in range(m):
            res = self._res[i]
            if res == lib.BSDNET_AGENT_FLOW_OK:
                self._relf[r] = self._idx[i]
                self._relg[r] = self._gen[i]
                r += 1
            elif res == lib.BSDNET_AGENT_FLOW_STALE:
                self.counters["stale"] += 1
            elif res == lib.BSDNET_AGENT_FLOW_NO_REVERSE:
                # No room for the reverse: leave the HOLD to expire in the
                # datapath (it counts the drop) rather than half a flow.
                self.counters["no_reverse"] += 1
            else:
                self.counters["bad_trap"] += 1
        self.counters["installed"] += r
        if self.channel is not None:
            self.channel.release(self._relf, self._relg, r)
        return r

    def _other_trap(self, th, frame_ptr) -> None:
        """Traps that are not flow misses: counted, and given to the
        handler registered for their reason (self.handlers), if any."""
        reason = th.th_reason
        frame = bytes(ffi.buffer(frame_ptr, th.th_len))
        name = {lib.BSDNET_TRAP_DHCP: "dhcp", lib.BSDNET_TRAP_ARP: "arp",
                lib.BSDNET_TRAP_RECEIVE: "receive"}.get(reason)
        if name is None:
            self.counters["bad_trap"] += 1
            return
        self.counters[name] += 1
        handler = self.handlers.get(reason)
        if handler is not None:
            trap = Trap(reason, th.th_vif, th.th_vrf, th.th_flow, th.th_gen,
                        th.th_nh, frame)
            try:
                handler(trap)
            except Exception:
                LOG.exception("%s trap handler failed", name)
        elif reason == lib.BSDNET_TRAP_DHCP:
            LOG.info("DHCP from %s on vif %d (no DHCP server yet)",
                     parse_frame(frame).get("src_mac", "?"), th.th_vif)
        else:
            LOG.debug("%s trap on vif %d", name, th.th_vif)

    # ---- re-decision of live flows --------------------------------------

    def live_flows(self) -> list[tuple[int, int]]:
        """(index, generation) of every ACTIVE forward entry."""
        n = self.region.nflows
        idx = ffi.new("uint32_t[]", n)
        gen = ffi.new("uint32_t[]", n)
        m = lib.bsdnet_agent_flow_list(self.ft, idx, gen, n)
        return [(idx[i], gen[i]) for i in range(m)]

    def redecide(self, wanted: Callable[[int], bool] | None = None) -> int:
        """Ask the policy again about live flows (after security groups
        changed) and flip those whose verdict changed, both directions.
        wanted(src_vif) limits the work to flows of some vifs.  A flow the
        policy now denies becomes a DROP flow (both directions) and ages as
        one; a drop flow now allowed is freed, so that its next packet
        sets it up with its reverse.  Returns
        the number of flows flipped."""
        if self.policy is allow_all:
            return 0
        flows = self.region.flows
        flipped = 0
        for idx, gen in self.live_flows():
            fe = flows[idx]
            if wanted is not None and not wanted(fe.fe_src_vif):
                continue
            trap = Trap(lib.BSDNET_TRAP_FLOW_MISS, fe.fe_src_vif,
                        fe.fe_key.fk_vrf, idx, gen, 0, b"")
            try:
                d = as_decision(self.policy(flow_key(fe), trap))
            except Exception:
                LOG.exception("policy failed for flow %d: dropping", idx)
                d = DENY
            if d.action == fe.fe_action:
                continue
            if d.action == lib.BSDNET_FA_FORWARD and \
                    fe.fe_rflow == FLOW_NONE:
                # A drop flow has no reverse: free it, and its next packet
                # is trapped and set up in both directions.
                rc = lib.bsdnet_agent_flow_evict_pair(
                    self.ft, self.region.hdr, self.region.base, idx, gen)
            else:
                rc = lib.bsdnet_agent_flow_set_action(
                    self.ft, idx, gen, d.action, d.drop_reason)
            if rc == lib.BSDNET_AGENT_FLOW_OK:
                flipped += 1
        self.counters["redecided"] += flipped
        return flipped

    # ---- aging ------------------------------------------------------------

    def age(self, idle: "int | AgeTimeouts",
            now_s: int | None = None) -> int:
        """Free ACTIVE flows (both directions) not used for their idle
        timeout (one for all, or AgeTimeouts by kind of flow) in seconds
        of the agent's clock.  The first call only takes the baseline."""
        n = self.region.nflows
        if self._age_state is None:
            self._age_state = (ffi.new("uint32_t[]", n),
                               ffi.new("uint64_t[]", n),
                               ffi.new("uint32_t[]", n),
                               ffi.new("uint32_t[]",
                                       lib.BSDNET_AGENT_AGE_MAX))
        if isinstance(idle, int):
            idle = AgeTimeouts.all(idle)
        now = int(time.monotonic()) if now_s is None else now_s
        sst, spk, stm, tmo = self._age_state
        for i, v in enumerate(idle):
            tmo[i] = v
        freed = lib.bsdnet_agent_flow_age(self.ft, self.region.hdr,
                                          self.region.base, sst, spk, stm,
                                          now & 0xffffffff, tmo)
        self.counters["aged"] += freed
        return freed


class AgeTimeouts(NamedTuple):
    """Idle timeouts in seconds, in the order of enum bsdnet_agent_age."""
    tcp: int
    tcp_closed: int     # RST seen, or FIN in both directions
    udp: int
    icmp: int
    other: int
    drop: int           # DROP flows of any protocol

    @classmethod
    def all(cls, s: int) -> "AgeTimeouts":
        return cls(s, s, s, s, s, s)

    def shortest(self) -> int:
        return min(self)
