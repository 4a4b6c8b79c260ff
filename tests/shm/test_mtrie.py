"""The mtrie route writer against a reference longest-prefix match."""
import ipaddress
import random

import pytest
from hypothesis import given, settings, strategies as st

from bsdnet.shm import mtrie
from bsdnet.shm.mtrie import BUCKET, BucketPool, RouteError, VrfRoutes, \
    lookup, parse_prefix
from bsdnet.shm.region import Region, small_geometry


def ip(s):
    return int(ipaddress.IPv4Address(s))


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def routes(region):
    region.vrfs[1].vrf_flags = 1
    return VrfRoutes(region, 1, BucketPool(len(region.rtbuckets), 0.0))


def add(r, prefix, nh):
    a, p = parse_prefix(prefix)
    return r.add(a, p, nh)


def delete(r, prefix):
    a, p = parse_prefix(prefix)
    return r.delete(a, p)


def L(r, addr):
    return lookup(r.region, r.vrf, ip(addr))


def test_empty_table_has_no_route(routes):
    assert L(routes, "10.0.0.1") is None


def test_default_route(routes):
    add(routes, "0.0.0.0/0", 5)
    assert L(routes, "1.2.3.4") == (5, 0)
    assert L(routes, "255.255.255.255") == (5, 0)


def test_more_specific_wins(routes):
    add(routes, "10.0.0.0/8", 1)
    add(routes, "10.1.0.0/16", 2)
    add(routes, "10.1.2.0/24", 3)
    add(routes, "10.1.2.3/32", 4)
    add(routes, "10.1.2.128/25", 5)
    assert L(routes, "10.9.9.9") == (1, 8)
    assert L(routes, "10.1.9.9") == (2, 16)
    assert L(routes, "10.1.2.4") == (3, 24)
    assert L(routes, "10.1.2.3") == (4, 32)
    assert L(routes, "10.1.2.200") == (5, 25)
    assert L(routes, "11.0.0.0") is None


def test_delete_restores_covering_route(routes):
    add(routes, "10.0.0.0/8", 1)
    add(routes, "10.1.2.3/32", 4)
    assert delete(routes, "10.1.2.3/32")
    assert L(routes, "10.1.2.3") == (1, 8)
    # The buckets went away with the only deeper route.
    assert routes.region.vrfs[1].vrf_root[10] == (8 << 24 | 1)
    assert not delete(routes, "10.1.2.3/32")


def test_delete_covering_keeps_more_specific(routes):
    add(routes, "10.0.0.0/8", 1)
    add(routes, "10.1.2.0/24", 3)
    delete(routes, "10.0.0.0/8")
    assert L(routes, "10.1.2.9") == (3, 24)
    assert L(routes, "10.1.3.9") is None


def test_replace_and_idempotent_add(routes):
    assert add(routes, "10.0.0.0/24", 1)
    assert not add(routes, "10.0.0.0/24", 1)
    assert add(routes, "10.0.0.0/24", 2)
    assert L(routes, "10.0.0.7") == (2, 24)


def test_covering_route_added_after_specific(routes):
    add(routes, "10.1.2.3/32", 4)
    add(routes, "10.0.0.0/8", 1)
    assert L(routes, "10.1.2.4") == (1, 8)      # inherited in the buckets
    assert L(routes, "10.1.2.3") == (4, 32)


def test_short_prefix_spans_root_words(routes):
    add(routes, "128.0.0.0/1", 7)
    assert L(routes, "200.1.1.1") == (7, 1)
    assert L(routes, "127.1.1.1") is None


def test_bad_prefix_and_nexthop(routes):
    with pytest.raises(RouteError):
        routes.add(ip("10.0.0.1"), 24, 1)       # host bits set
    with pytest.raises(RouteError):
        routes.add(0, 0, 0)
    with pytest.raises(ValueError):
        parse_prefix("10.0.0.1/24")


def test_words_never_set_bit_31(routes):
    add(routes, "10.1.2.3/32", (1 << 24) - 1)
    add(routes, "0.0.0.0/0", 1)
    words = list(routes.region.vrfs[1].vrf_root)
    for b in range(len(routes.region.rtbuckets)):
        words += list(routes.region.rtbuckets[b].rb_ent)
    assert all(w < 0x80000000 for w in words)


def test_bucket_quarantine(region):
    clock = Clock()
    pool = BucketPool(len(region.rtbuckets), grace=5.0, clock=clock)
    r = VrfRoutes(region, 1, pool)
    add(r, "10.1.2.3/32", 4)                    # 3 buckets
    used = {region.vrfs[1].vrf_root[10] & mtrie.INDEX_MASK}
    delete(r, "10.1.2.3/32")
    assert len(pool.quarantine) == 3 and pool.in_use() == 0
    # Within the grace period the unlinked buckets are not reused...
    add(r, "10.1.2.4/32", 4)
    new = region.vrfs[1].vrf_root[10] & mtrie.INDEX_MASK
    assert new not in used
    delete(r, "10.1.2.4/32")
    # ... and after it they are.
    clock.t = 10.0
    pool.alloc()
    assert pool.quarantine == []


def test_bucket_filled_before_published(region, monkeypatch):
    """When the word pointing at a new bucket is stored, every word of the
    bucket (and below) already holds its final value."""
    r = VrfRoutes(region, 1, BucketPool(len(region.rtbuckets), 0.0))
    add(r, "10.0.0.0/8", 1)
    seen = []
    real = VrfRoutes._store

    def spy(words, i, value):
        if value & BUCKET:
            b = value & mtrie.INDEX_MASK
            seen.append(list(region.rtbuckets[b].rb_ent))
        real(words, i, value)

    monkeypatch.setattr(VrfRoutes, "_store", staticmethod(spy))
    add(r, "10.1.2.3/32", 4)
    assert seen, "no bucket was published"
    for ent in seen:
        assert 0 not in ent                       # all inherit 10/8 or deeper


def test_buckets_exhausted(tmp_path):
    reg = Region.create(str(tmp_path / "r"), small_geometry())
    r = VrfRoutes(reg, 1, BucketPool(2, 0.0))
    with pytest.raises(RouteError, match="exhausted"):
        add(r, "10.1.2.3/32", 1)
    reg.close()


def test_walk_reads_prefixes_back(routes):
    want = {("10.0.0.0", 8, 1), ("10.1.2.3", 32, 4), ("192.168.0.0", 16, 2),
            ("0.0.0.0", 0, 9)}
    for a, p, n in want:
        add(routes, f"{a}/{p}", n)
    got = {(str(ipaddress.IPv4Address(a)), p, n)
           for a, p, n, _ in mtrie.walk(routes.region, 1) if a is not None}
    assert got == want


def reference(prefixes, addr):
    best = None
    for (a, p), nh in prefixes.items():
        m = (0xffffffff << (32 - p)) & 0xffffffff if p else 0
        if addr & m == a and (best is None or p > best[1]):
            best = (nh, p)
    return best


ops = st.lists(st.tuples(
    st.booleans(),
    st.integers(0, 32),
    st.sampled_from([ip("10.1.2.3"), ip("10.1.200.7"), ip("10.9.0.0"),
                     ip("192.168.1.1"), ip("10.1.2.130")]),
    st.integers(1, 50)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_matches_reference_lpm(tmp_path_factory, ops):
    reg = Region.create(str(tmp_path_factory.mktemp("m") / "r"),
                        small_geometry())
    r = VrfRoutes(reg, 1, BucketPool(len(reg.rtbuckets), 0.0))
    model = {}
    for is_add, plen, addr, nh in ops:
        m = (0xffffffff << (32 - plen)) & 0xffffffff if plen else 0
        a = addr & m
        if is_add:
            r.add(a, plen, nh)
            model[(a, plen)] = nh
        else:
            r.delete(a, plen)
            model.pop((a, plen), None)
    probes = [ip("10.1.2.3"), ip("10.1.2.4"), ip("10.1.200.7"),
              ip("10.9.0.0"), ip("192.168.1.1"), ip("10.1.2.130"), 0,
              0xffffffff] + [random.getrandbits(32) for _ in range(5)]
    for p in probes:
        assert lookup(reg, 1, p) == reference(model, p)
    # Deleting everything frees every bucket.
    r.clear()
    assert r.pool.in_use() == 0
    assert all(w == 0 for w in reg.vrfs[1].vrf_root)
    reg.close()


def test_recycled_bucket_starts_empty(routes):
    # Found by the property test: a bucket reused after quarantine still
    # held BUCKET words of its previous life.
    add(routes, "10.1.0.0/17", 1)
    delete(routes, "10.1.0.0/17")
    add(routes, "10.1.0.0/25", 1)
    assert L(routes, "10.1.0.3") == (1, 25)
    assert L(routes, "10.1.0.200") is None
    delete(routes, "10.1.0.0/25")
    assert routes.pool.in_use() == 0
