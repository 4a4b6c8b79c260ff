"""CI fails on a lint or type error: ruff and mypy with the configuration
in pyproject.toml, over the whole tree."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed (the test extra has it: pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    r = _run("ruff", "check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_finds_nothing_in_the_typed_packages() -> None:
    r = _run("mypy", "--cache-dir", "/dev/null")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_would_catch_an_undefined_name(tmp_path: Path) -> None:
    # The check is live: an error in a file of the tree is reported.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return undefined_name\n")
    r = _run("ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad))
    assert r.returncode == 1 and "F821" in r.stdout
