"""Build the C unit tests of the forwarding core with ASan and UBSan and run them.

The C runner prints one "PASS name" / "FAIL name" line per test and a
SUMMARY line; this test fails, naming the failed C tests, if any fails, if
the sanitizers abort the run, or if the summary is missing.
"""
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core_paths import CFLAGS as CF
from core_paths import CORE, HERE, INCLUDE

log = logging.getLogger(__name__)

SANITIZE = CF["CSAN"]
CFLAGS = CF["CSTD"] + CF["CDEBUG"] + CF["CWARN"]


def find_cc() -> str | None:
    """gcc or clang, whichever is installed (both ship the sanitizers)."""
    for cc in ("gcc", "clang", "cc"):
        path = shutil.which(cc)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def core_tests_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = find_cc()
    if cc is None:
        pytest.skip("no C compiler (gcc or clang) on this machine")
    out = tmp_path_factory.mktemp("core") / "core_tests"
    sources = sorted(str(p) for p in CORE.glob("*.c")) + \
        sorted(str(p) for p in HERE.glob("*.c"))
    argv = [cc, *CFLAGS, *SANITIZE, "-I", str(INCLUDE), "-I", str(CORE),
            "-I", str(HERE), "-o", str(out), *sources]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0 and "sanitizer" in res.stderr.lower() and \
            "cannot find" in res.stderr.lower():
        pytest.skip(f"sanitizer runtime missing: {res.stderr[:200]}")
    assert res.returncode == 0, f"build failed:\n{res.stderr}"
    return out


def parse_results(stdout: str) -> tuple[list[str], list[str], str | None]:
    passed = re.findall(r"^PASS (\S+)$", stdout, re.M)
    failed = re.findall(r"^FAIL (\S+)$", stdout, re.M)
    summary = re.search(r"^SUMMARY (\d+) run, (\d+) failed$", stdout, re.M)
    return passed, failed, summary.group(0) if summary else None


def test_parse_results_reports_failures() -> None:
    passed, failed, summary = parse_results(
        "PASS a\n  check failed x.c:1\nFAIL b\nSUMMARY 2 run, 1 failed\n")
    assert passed == ["a"] and failed == ["b"]
    assert summary == "SUMMARY 2 run, 1 failed"


def test_core_c_unit_tests(core_tests_binary: Path) -> None:
    res = subprocess.run([str(core_tests_binary)], capture_output=True,
                         text=True, check=False, timeout=600)
    passed, failed, summary = parse_results(res.stdout)
    log.info("core C tests: %d passed, %d failed", len(passed), len(failed))
    detail = f"\nstdout:\n{res.stdout[-6000:]}\nstderr:\n{res.stderr[-6000:]}"
    assert not failed, f"C tests failed: {', '.join(failed)}{detail}"
    assert summary is not None, \
        f"C test run aborted (sanitizer?) after {passed[-1:]}{detail}"
    assert res.returncode == 0, f"exit status {res.returncode}{detail}"
    assert len(passed) >= 40, f"only {len(passed)} C tests ran{detail}"
