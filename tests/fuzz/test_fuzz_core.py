"""Run each libFuzzer harness of the core for a bounded short time.

A crash, sanitizer report, leak or timeout makes libFuzzer exit non-zero
and fails the test with the tail of its report.  The seed corpus from git
is copied first so runs never write into the repository.  For longer runs
use tests/fuzz/run-long.sh.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

import fuzz_build

SECONDS = 20


@pytest.mark.parametrize("name", fuzz_build.HARNESSES)
def test_fuzz_harness_runs_clean(name: str, tmp_path: Path) -> None:
    try:
        binary = fuzz_build.build(name, tmp_path / "bin")
    except fuzz_build.FuzzUnavailable as exc:
        pytest.skip(str(exc))
    corpus = tmp_path / "corpus"
    shutil.copytree(fuzz_build.HERE / f"corpus_{name}", corpus)
    seeds = len(list(corpus.iterdir()))
    assert seeds > 0, "the seed corpus is missing from git"
    res = subprocess.run(
        [str(binary), f"-max_total_time={SECONDS}", "-timeout=10",
         "-rss_limit_mb=2048", "-print_final_stats=1",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, check=False, timeout=SECONDS * 10)
    report = res.stderr[-8000:]
    assert res.returncode == 0, f"fuzz_{name} found a problem:\n{report}"
    assert "stat::number_of_executed_units" in res.stderr, report
