"""The per-VRF IPv4 route table: an mtrie writer over vrf_root/rtbuckets.

Shape (bsdnet_abi.h): 8-bit strides, so a lookup reads at most four words:
vrf_root[a0], then rtbuckets[..][a1], [a2], [a3].  A word is 0 (no route),
BUCKET|index (descend) or plen<<24|nh (leaf, installed by a /plen route).

The writer keeps the prefixes of each VRF in Python and derives every word
from them: a word whose range holds a route longer than its level needs a
bucket; otherwise it is a leaf of the longest prefix covering it.  A change
touches only the words whose range meets the changed prefix.  Ordering:
a new bucket is filled completely before the word pointing at it is stored
with release; a bucket that stops being referenced is quarantined for a
grace period (a datapath lookup may still be reading it) before reuse.
"""
from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .abi import ffi, lib

if TYPE_CHECKING:
    from .region import Region

BUCKET = lib.BSDNET_RT_BUCKET
PLEN_SHIFT = lib.BSDNET_RT_PLEN_SHIFT
PLEN_MASK = lib.BSDNET_RT_PLEN_MASK
INDEX_MASK = lib.BSDNET_RT_INDEX_MASK
STRIDE = lib.BSDNET_RT_STRIDE
LEVELS = 4


class RouteError(Exception):
    pass


def _mask(plen: int) -> int:
    return (0xffffffff << (32 - plen)) & 0xffffffff if plen else 0


def parse_prefix(prefix: str) -> tuple[int, int]:
    """"10.0.0.0/24" -> (address as int, 24); host bits must be zero."""
    net = ipaddress.IPv4Network(prefix, strict=True)
    return int(net.network_address), net.prefixlen


def format_prefix(addr: int, plen: int) -> str:
    return f"{ipaddress.IPv4Address(addr)}/{plen}"


class BucketPool:
    """Route buckets: free list plus a quarantine of recently unlinked ones."""

    def __init__(self, n: int, grace: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.n = n
        self.grace = grace
        self.clock = clock
        self.free = list(range(n - 1, -1, -1))
        self.quarantine: list[tuple[float, int]] = []

    def take(self, indices: Iterable[int]) -> None:
        """Mark buckets used (adoption of an existing table)."""
        gone = set(indices)
        self.free = [i for i in self.free if i not in gone]

    def alloc(self) -> int:
        self._expire()
        if not self.free:
            raise RouteError("route buckets exhausted")
        return self.free.pop()

    def retire(self, idx: int) -> None:
        self.quarantine.append((self.clock() + self.grace, idx))

    def _expire(self) -> None:
        now = self.clock()
        keep = []
        for due, idx in self.quarantine:
            (self.free.append(idx) if due <= now else keep.append((due, idx)))
        self.quarantine = keep

    def in_use(self) -> int:
        return self.n - len(self.free) - len(self.quarantine)


class VrfRoutes:
    """The prefixes of one VRF and the trie words derived from them."""

    def __init__(self, region: Region, vrf: int, pool: BucketPool) -> None:
        self.region = region
        self.vrf = vrf
        self.pool = pool
        self.root = region.vrfs[vrf].vrf_root
        self.by_len: list[dict[int, int]] = [dict() for _ in range(33)]
        # (level plen, masked addr) -> routes longer than plen inside it
        self.deeper: dict[tuple[int, int], int] = {}

    # ---- public -----------------------------------------------------------

    def add(self, addr: int, plen: int, nh: int) -> bool:
        """Add or replace addr/plen -> nh.  False if it was already so."""
        if not 0 <= plen <= 32 or addr & ~_mask(plen) & 0xffffffff:
            raise RouteError(f"bad prefix {addr:#x}/{plen}")
        if not 0 < nh <= INDEX_MASK:
            raise RouteError(f"bad nexthop {nh}")
        table = self.by_len[plen]
        if table.get(addr) == nh:
            return False
        if addr not in table:
            self._count(addr, plen, 1)
        table[addr] = nh
        self._update(addr, plen)
        return True

    def delete(self, addr: int, plen: int) -> bool:
        """Remove addr/plen; the covering route shows through again."""
        if self.by_len[plen].pop(addr, None) is None:
            return False
        self._count(addr, plen, -1)
        self._update(addr, plen)
        return True

    def clear(self) -> None:
        for plen in range(33):
            for addr in list(self.by_len[plen]):
                self.delete(addr, plen)

    def routes(self) -> Iterator[tuple[int, int, int]]:
        """(addr, plen, nh) of every prefix this writer holds."""
        for plen in range(33):
            for addr, nh in sorted(self.by_len[plen].items()):
                yield addr, plen, nh

    def lookup(self, addr: int) -> tuple[int, int] | None:
        return lookup(self.region, self.vrf, addr)

    def adopt(self) -> None:
        """Take the prefixes and buckets of the live table as ours."""
        for addr, plen, nh, buckets in walk(self.region, self.vrf):
            if addr is None:
                self.pool.take(buckets)
                continue
            if addr not in self.by_len[plen]:
                self._count(addr, plen, 1)
            self.by_len[plen][addr] = nh

    # ---- derivation -------------------------------------------------------

    def _count(self, addr: int, plen: int, d: int) -> None:
        for lv in (8, 16, 24):
            if lv < plen:
                k = (lv, addr & _mask(lv))
                n = self.deeper.get(k, 0) + d
                if n:
                    self.deeper[k] = n
                else:
                    self.deeper.pop(k, None)

    def _best(self, addr: int, maxlen: int) -> int:
        for plen in range(maxlen, -1, -1):
            nh = self.by_len[plen].get(addr & _mask(plen))
            if nh is not None:
                return plen << PLEN_SHIFT | nh
        return 0

    def _update(self, addr: int, plen: int) -> None:
        lo, hi = addr, addr | (~_mask(plen) & 0xffffffff)
        self._sync_words(self.root, 0, 0, lo, hi)

    def _sync_words(self, words: Any, level: int, base: int, lo: int,
                    hi: int) -> None:
        """Recompute words[i] of a table at `level` (covering base..) whose
        range meets [lo, hi]."""
        shift = 24 - 8 * level
        span = 1 << shift
        first = max(0, (lo - base) >> shift) if lo > base else 0
        last = min(STRIDE - 1, (hi - base) >> shift)
        for i in range(first, last + 1):
            wlo = base + (i << shift)
            self._sync_word(words, i, level, wlo, max(lo, wlo),
                            min(hi, wlo + span - 1))

    def _sync_word(self, words: Any, i: int, level: int, wlo: int, lo: int,
                   hi: int) -> None:
        wlen = 8 * (level + 1)
        old = words[i]
        if level < LEVELS - 1 and (wlen, wlo) in self.deeper:
            if old & BUCKET:
                b = old & INDEX_MASK
                self._sync_words(self.region.rtbuckets[b].rb_ent, level + 1,
                                 wlo, lo, hi)
                return
            b = self.pool.alloc()
            # A recycled bucket still holds its old words (maybe BUCKET
            # words of buckets long reused): clear it while unreachable,
            # then fill the whole of it before it becomes reachable.
            ffi.memmove(self.region.rtbuckets[b].rb_ent, bytes(4 * STRIDE),
                        4 * STRIDE)
            self._sync_words(self.region.rtbuckets[b].rb_ent, level + 1, wlo,
                             wlo, wlo | (~_mask(wlen) & 0xffffffff))
            self._store(words, i, BUCKET | b)
            return
        new = self._best(wlo, wlen)
        if new != old:
            self._store(words, i, new)
        if old & BUCKET:
            self._retire(old & INDEX_MASK, level + 1)

    def _retire(self, b: int, level: int) -> None:
        if level < LEVELS - 1:
            for w in self.region.rtbuckets[b].rb_ent:
                if w & BUCKET:
                    self._retire(w & INDEX_MASK, level + 1)
        self.pool.retire(b)

    @staticmethod
    def _store(words: Any, i: int, value: int) -> None:
        lib.bsdnet_agent_store_rel32(ffi.addressof(words, i), value)


def lookup(region: Region, vrf: int, addr: int) -> tuple[int, int] | None:
    """Longest-prefix match as the datapath does it: (nh, plen) or None."""
    w = region.vrfs[vrf].vrf_root[addr >> 24]
    for level in range(1, LEVELS):
        if not w & BUCKET:
            break
        b = w & INDEX_MASK
        if b >= len(region.rtbuckets):
            return None
        w = region.rtbuckets[b].rb_ent[(addr >> (24 - 8 * level)) & 0xff]
    if w == 0 or w & BUCKET:
        return None
    return w & INDEX_MASK, (w >> PLEN_SHIFT) & PLEN_MASK


def walk(region: Region, vrf: int) -> Iterator[tuple[Any, Any, Any, Any]]:
    """Read a VRF's trie back into prefixes.

    Yields (addr, plen, nh, ()) once per distinct prefix found in leaves,
    then (None, None, None, buckets) with every bucket index reached.
    Malformed words (bad index, depth) are skipped, never followed."""
    seen: dict[tuple[int, int], int] = {}
    buckets: list[int] = []
    reached: set[int] = set()
    nb = len(region.rtbuckets)

    def visit(words: Any, level: int, base: int) -> None:
        shift = 24 - 8 * level
        prev = None
        for i in range(STRIDE):
            w = words[i]
            if w == prev and not w & BUCKET:
                continue        # runs of one leaf: the common case
            prev = w
            if w == 0:
                continue
            wlo = base + (i << shift)
            if w & BUCKET:
                b = w & INDEX_MASK
                if level < LEVELS - 1 and b < nb and b not in reached:
                    reached.add(b)
                    buckets.append(b)
                    visit(region.rtbuckets[b].rb_ent, level + 1, wlo)
                continue
            plen = (w >> PLEN_SHIFT) & PLEN_MASK
            if plen > 32:
                continue
            seen.setdefault((wlo & _mask(plen), plen), w & INDEX_MASK)

    visit(region.vrfs[vrf].vrf_root, 0, 0)
    for (addr, plen), nh in sorted(seen.items()):
        yield addr, plen, nh, ()
    yield None, None, None, buckets
