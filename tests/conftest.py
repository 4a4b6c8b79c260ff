"""Fixtures every folder may use: a small region in a temporary file and
its tables (no datapath needed)."""
from __future__ import annotations

import pytest

from bsdnet.shm.region import Region, small_geometry
from bsdnet.shm.tables import Tables


@pytest.fixture
def region(tmp_path):
    r = Region.create(str(tmp_path / "region"), small_geometry())
    yield r
    r.close()


@pytest.fixture
def tables(region):
    # No grace period: tests of quarantine make their own pool.
    return Tables(region, grace=0.0)
