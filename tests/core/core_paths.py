"""Shared paths for the core's tests."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "kmod" / "core"
INCLUDE = ROOT / "kmod" / "include"
HERE = Path(__file__).resolve().parent
