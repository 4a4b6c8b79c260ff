"""Shared paths and C flags for the core's tests."""
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "kmod" / "core"
INCLUDE = ROOT / "kmod" / "include"
HERE = Path(__file__).resolve().parent
# kmod/cflags.mk, the one definition of the C flags.
CFLAGS = runpy.run_path(str(ROOT / "kmod" / "cflags.py"))["CFLAGS"]
